//! What the redb stores do with a file redb cannot read.
//!
//! redb returns errors for the damage it checks for, but some (a flipped byte in a b-tree page)
//! trips an assertion inside it instead: it panics, on that run and on every later one that
//! opens the file. A store problem must never fail an extraction, so every call into redb runs
//! through [`contained`], which turns such a panic into an error message; the store then sets
//! the file aside with [`set_aside`] and carries on without it (timeouts unlearned, modules
//! compiled), and the next run starts a new file.
//!
//! A database handle that panicked is never used or dropped again (its drop could run into the
//! same damage): the stores forget it.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// Runs `f`, turning a panic inside it into `Err` with the panic's message.
///
/// `AssertUnwindSafe` is sound here in the sense that matters: the only state a panic can leave
/// half-updated is the redb handle itself, and the callers never touch that handle again.
pub(super) fn contained<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| format!("redb panicked: {}", message(&*payload)))
}

fn message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Where a damaged file goes: `<name>.damaged` beside it.
pub(super) fn aside_path(path: &Path) -> PathBuf {
    path.with_extension("redb.damaged")
}

/// Moves the damaged file at `path` aside, logging what happened and what riptide does
/// instead (`fallback`). True if it was moved (or was already gone).
pub(super) fn set_aside(path: &Path, what: &str, fallback: &str, reason: &dyn std::fmt::Display) -> bool {
    let aside = aside_path(path);
    match std::fs::rename(path, &aside) {
        Ok(()) => {
            tracing::warn!(file = %path.display(), error = %reason, "{what} was unreadable; moved it to {} ({fallback} until a new one is written)", aside.display());
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(move_err) => {
            tracing::warn!(file = %path.display(), error = %reason, move_error = %move_err, "{what} is unreadable and could not be moved aside; {fallback}");
            false
        }
    }
}
