//! [`StoreError`]: the persistent store (redb) failed.

use std::path::PathBuf;

use super::BoxError;

/// The persistent store (redb) failed; its own error is the source.
#[derive(Debug, thiserror::Error)]
#[error("the store at {} failed to {action}", path.display())]
#[non_exhaustive]
pub struct StoreError {
    /// The database file.
    pub path: PathBuf,
    /// What riptide was doing.
    pub action: &'static str,
    /// redb's error.
    #[source]
    pub source: BoxError,
}

impl StoreError {
    /// A store error for `action` on `path`.
    pub fn new(path: impl Into<PathBuf>, action: &'static str, source: impl Into<BoxError>) -> Self {
        Self {
            path: path.into(),
            action,
            source: source.into(),
        }
    }

    pub(crate) fn hint(&self) -> &'static str {
        "delete the file to start afresh (riptide rebuilds what it held: compiled artifacts, learned timeouts)"
    }
}
