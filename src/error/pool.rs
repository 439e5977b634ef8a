//! [`PoolError`]: the browser pool could not hand out a browser.

use std::sync::Arc;
use std::time::Duration;

/// Why the pool could not hand out a browser.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// Every browser stayed busy for the whole checkout wait (or `max_waiters` already waited).
    #[error("all {max_instances} browsers stayed busy for {waited:?}")]
    Exhausted {
        /// How long the caller waited.
        waited: Duration,
        /// The pool's ceiling.
        max_instances: usize,
    },

    /// The pool was shut down.
    #[error("the browser pool is shut down")]
    Closed,

    /// The browser pool could not be started, so nothing can be rendered headless.
    #[error("the browser pool could not start")]
    Unavailable {
        /// Why it could not start (shared by every render that asks).
        #[source]
        source: Arc<crate::Error>,
    },

    /// [`PoolOptions`](crate::PoolOptions) that cannot work together.
    #[error("invalid browser pool options: {message}")]
    InvalidOptions {
        /// What is wrong, naming the fields.
        message: String,
    },
}

impl PoolError {
    pub(crate) fn hint(&self) -> &'static str {
        match self {
            PoolError::Exhausted { .. } => {
                "raise optimizations.browser_pool.max_instances or max_checkout_duration_secs, or send fewer requests at once"
            }
            PoolError::Closed => "create a new pool (or executor)",
            // What would have made the pool start (install Chromium, ...).
            PoolError::Unavailable { source } => source.hint(),
            PoolError::InvalidOptions { .. } => {
                "fix the PoolOptions (or optimizations.browser_pool in the configuration)"
            }
        }
    }

    pub(crate) fn code(&self) -> &'static str {
        match self {
            PoolError::Exhausted { .. } => "pool.exhausted",
            PoolError::Closed => "pool.closed",
            PoolError::Unavailable { .. } => "pool.unavailable",
            PoolError::InvalidOptions { .. } => "pool.invalid_options",
        }
    }
}
