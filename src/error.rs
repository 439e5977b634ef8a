//! The crate's error: one [`Error`] type over one error per subsystem.
//!
//! Modelled on reqwest and redb. Each subsystem reports its own `#[non_exhaustive]` enum
//! ([`FetchError`], [`BrowserError`], [`PoolError`], [`RetryError`], [`WasmError`],
//! [`StoreError`], [`ConfigError`], [`QueueError`], [`CrawlError`]) that keeps the underlying error (reqwest's, redb's, the
//! engine's, the browser's) as its `source` instead of flattening it to text. As in reqwest,
//! a message does not repeat its source; `format!("{e:#}")` prints the whole chain. They convert into
//! [`Error`], which adds the page's URL when the error is about one ([`Error::url`]), tells what
//! to do about it ([`Error::hint`]), and names its kind in a stable, machine-readable form
//! ([`Error::code`], used by the CLI's JSON output).
//!
//! ```
//! use riptide::error::{ErrorKind, PoolError};
//!
//! let e = riptide::Error::from(PoolError::Closed).with_url("https://example.com/");
//! assert!(matches!(e.kind(), ErrorKind::Pool(PoolError::Closed)));
//! assert_eq!(e.url(), Some("https://example.com/"));
//! assert_eq!(e.code(), "pool.closed");
//! assert_eq!(e.to_string(), "https://example.com/: the browser pool is shut down");
//! ```

mod browser;
mod config;
mod crawl;
mod fetch;
mod pool;
mod queue;
mod retry;
mod store;
mod wasm;

use std::fmt;
use std::path::PathBuf;

pub use browser::BrowserError;
pub use config::ConfigError;
pub use crawl::CrawlError;
pub use fetch::FetchError;
pub use pool::PoolError;
pub use queue::QueueError;
pub use retry::{LastAttempt, RetryError};
pub use store::StoreError;
pub use wasm::WasmError;

use crate::traits::FailureClass;

/// The result type of every fallible riptide call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An underlying error kept as a source: any error a backend's library reports.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in riptide: what went wrong ([`kind`](Error::kind)) and, for an
/// error about a page, which page ([`url`](Error::url)).
///
/// `Display` says what was wrong (prefixed by the URL when there is one); [`hint`](Error::hint)
/// says what to do about it; [`source`](std::error::Error::source) leads to the underlying
/// error (reqwest's, redb's, the engine's) for callers that downcast.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    url: Option<String>,
}

/// What went wrong, by subsystem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Configuration or a workload file.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Fetching or rendering a page.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A browser.
    #[error(transparent)]
    Browser(#[from] BrowserError),
    /// The browser pool.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// The retry helper.
    #[error(transparent)]
    Retry(#[from] RetryError),
    /// A WebAssembly engine or the extractor guest.
    #[error(transparent)]
    Wasm(#[from] WasmError),
    /// The persistent store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The NATS JetStream work queue (feature `nats`).
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A crawl that cannot start or keep its state.
    #[error(transparent)]
    Crawl(#[from] CrawlError),

    /// A file system operation failed.
    #[error("could not {action} {}", path.display())]
    Io {
        /// What riptide was doing.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A directory riptide would keep state in is not safely its user's.
    #[error("refusing to use {}: {reason}", path.display())]
    UnsafeDirectory {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// `riptide serve` could not listen on the address it was given.
    #[error("could not listen on {addr}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A task riptide runs its blocking work on panicked, or was cancelled by its runtime
    /// shutting down. A panic is a bug in riptide or in a backend.
    #[error("riptide's task to {action} did not finish")]
    Task {
        /// What the task was doing.
        action: &'static str,
        /// Why it did not finish.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// Takes what went wrong out of the error.
    pub fn into_kind(self) -> ErrorKind {
        self.inner.kind
    }

    /// The page the error is about, if it is about one.
    pub fn url(&self) -> Option<&str> {
        self.inner.url.as_deref()
    }

    /// The same error, about the page `url` (kept if it already names one: the innermost call
    /// knows best, e.g. the page a redirect led to).
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        if self.inner.url.is_none() {
            self.inner.url = Some(url.into());
        }
        self
    }

    /// The record of a page that failed, as `riptide extract --format jsonl` prints it and
    /// `riptide serve` answers it: `{"url", "error", "error_kind", "hint"}`, where `error` is
    /// what went wrong with every cause (without the URL, which has its own field) and
    /// `error_kind` is [`Error::code`].
    pub fn to_record(&self, url: &str) -> serde_json::Value {
        let mut error = self.inner.kind.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            error.push_str(": ");
            error.push_str(&c.to_string());
            cause = c.source();
        }
        serde_json::json!({
            "url": url,
            "error": error,
            "error_kind": self.code(),
            "hint": self.hint(),
        })
    }

    /// What to do about it, in one sentence (the CLI prints it under the error).
    pub fn hint(&self) -> &'static str {
        match self.kind() {
            ErrorKind::Config(e) => e.hint(),
            ErrorKind::Fetch(e) => e.hint(),
            ErrorKind::Browser(e) => e.hint(),
            ErrorKind::Pool(e) => e.hint(),
            ErrorKind::Retry(e) => e.hint(),
            ErrorKind::Wasm(e) => e.hint(),
            ErrorKind::Store(e) => e.hint(),
            ErrorKind::Queue(e) => e.hint(),
            ErrorKind::Crawl(e) => e.hint(),
            ErrorKind::Io { .. } => "check that the path exists and is writable by this user",
            ErrorKind::UnsafeDirectory { .. } => {
                "use a directory you own that others cannot write to (or remove this one so riptide can create it)"
            }
            ErrorKind::Listen { .. } => {
                "pick another port or address (`riptide serve --listen`), or stop what holds this one"
            }
            ErrorKind::Task { .. } => "if it panicked, report it with the page that caused it",
        }
    }

    /// The kind as a stable, machine-readable `subsystem.kind` string (`"fetch.http_status"`,
    /// `"pool.exhausted"`, ...), for logs and JSON output.
    pub fn code(&self) -> &'static str {
        match self.kind() {
            ErrorKind::Config(e) => e.code(),
            ErrorKind::Fetch(e) => e.code(),
            ErrorKind::Browser(e) => e.code(),
            ErrorKind::Pool(e) => e.code(),
            ErrorKind::Retry(e) => e.code(),
            ErrorKind::Wasm(e) => e.code(),
            ErrorKind::Store(_) => "store.failed",
            ErrorKind::Queue(e) => e.code(),
            ErrorKind::Crawl(e) => e.code(),
            ErrorKind::Io { .. } => "io",
            ErrorKind::UnsafeDirectory { .. } => "unsafe_directory",
            ErrorKind::Listen { .. } => "server.listen",
            ErrorKind::Task { .. } => "task",
        }
    }

    /// What the failure says about the host it concerns, for timeout policies and circuit
    /// breakers: decided by the backend that saw it, never by reading its message.
    pub fn failure_class(&self) -> FailureClass {
        match self.kind() {
            ErrorKind::Fetch(e) => e.failure_class(),
            ErrorKind::Retry(RetryError::AttemptFailed { class, .. }) => *class,
            _ => FailureClass::Other,
        }
    }

    /// Whether retrying the same call elsewhere (another browser, later) may succeed: time-outs,
    /// dead or frozen browsers, an exhausted pool.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Fetch(FetchError::Timeout { .. })
                | ErrorKind::Browser(
                    BrowserError::Dead { .. } | BrowserError::Unresponsive { .. } | BrowserError::Protocol { .. }
                )
                | ErrorKind::Pool(PoolError::Exhausted { .. })
        )
    }

    /// An [`ErrorKind::Io`] for `action` on `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ErrorKind::Io {
            action,
            path: path.into(),
            source,
        }
        .into()
    }

    /// An [`ErrorKind::UnsafeDirectory`].
    #[cfg(any(feature = "redb", feature = "chrome", feature = "chromiumoxide"))]
    pub(crate) fn unsafe_directory(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        ErrorKind::UnsafeDirectory {
            path: path.into(),
            reason: reason.into(),
        }
        .into()
    }

    /// A [`ConfigError::Invalid`].
    pub(crate) fn config(key: impl Into<String>, origin: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            origin: origin.into(),
            message: message.into(),
        }
        .into()
    }
}

/// `{}` says what went wrong (after the URL, if any); `{:#}` adds every cause, anyhow-style:
/// `http://x/: could not load the page (Dns): error sending request: x does not resolve`.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(url) = &self.inner.url {
            write!(f, "{url}: ")?;
        }
        fmt::Display::fmt(&self.inner.kind, f)?;
        if f.alternate() {
            let mut cause = std::error::Error::source(self);
            while let Some(c) = cause {
                write!(f, ": {c}")?;
                cause = c.source();
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        if let Some(url) = &self.inner.url {
            d.field("url", url);
        }
        d.field("kind", &self.inner.kind).finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.inner.kind)
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Self {
            inner: Box::new(Inner { kind, url: None }),
        }
    }
}

macro_rules! from_subsystem {
    ($($error:ty),*) => {$(
        impl From<$error> for Error {
            fn from(e: $error) -> Self {
                ErrorKind::from(e).into()
            }
        }
    )*};
}

from_subsystem!(
    ConfigError,
    FetchError,
    BrowserError,
    PoolError,
    RetryError,
    WasmError,
    StoreError,
    QueueError,
    CrawlError
);

/// The result of a blocking task, its join error reported as [`ErrorKind::Task`].
pub(crate) fn join_blocking<T>(
    joined: std::result::Result<Result<T>, tokio::task::JoinError>,
    action: &'static str,
) -> Result<T> {
    joined.map_err(|source| Error::from(ErrorKind::Task { action, source }))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_prefixes_the_message_and_the_innermost_url_wins() {
        let e = Error::from(FetchError::HttpStatus {
            status: 404,
            retry_after: None,
        })
        .with_url("https://a.example/x")
        .with_url("https://ignored.example/");
        assert_eq!(e.to_string(), "https://a.example/x: the server answered HTTP 404");
        assert_eq!(e.code(), "fetch.http_status");
        assert_eq!(e.hint(), "check the URL");
        assert_eq!(e.failure_class(), FailureClass::HttpStatus(404));
    }

    #[test]
    fn sources_are_kept_for_downcasting() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let e = Error::io("write", "/x", io);
        let source = std::error::Error::source(&e).expect("a source");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
        let boxed = Error::from(BrowserError::dead(std::io::Error::other("gone")));
        assert!(std::error::Error::source(&boxed).is_some());
        assert!(boxed.is_transient());
    }

    #[test]
    fn a_pool_that_could_not_start_passes_on_the_reason_and_its_hint() {
        let cause = Error::from(BrowserError::NotFound { tried: vec![] });
        let e = Error::from(PoolError::Unavailable {
            source: std::sync::Arc::new(cause),
        });
        assert!(e.hint().contains("apt-get install -y chromium"), "{}", e.hint());
        assert_eq!(e.to_string(), "the browser pool could not start");
        assert!(format!("{e:#}").ends_with(": no Chromium found (tried )"), "{e:#}");
    }

    #[test]
    fn the_advice_of_a_request_out_of_retries_fits_its_last_attempt() {
        let exhausted = |last| {
            Error::from(RetryError::Exhausted {
                target: "a.example (static)".into(),
                attempts: 4,
                elapsed: std::time::Duration::from_secs(3),
                last,
                last_error: None,
                why: "no retries left",
            })
        };
        let timed_out = exhausted(LastAttempt::TimedOut(std::time::Duration::from_secs(1)));
        assert!(timed_out.hint().contains("max_timeout_secs"), "{}", timed_out.hint());
        let refused = exhausted(LastAttempt::Failed(FailureClass::ConnectionRefused));
        assert!(
            refused.hint().contains("nothing accepts connections"),
            "{}",
            refused.hint()
        );
        assert!(!refused.hint().contains("max_timeout_secs"));
    }

    #[test]
    fn error_is_small_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }
}
