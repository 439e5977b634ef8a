//! [`RetryError`]: a request the retry helper gave up on, or would not start.

use std::fmt;
use std::time::Duration;

use super::fetch::network_hint;
use crate::traits::FailureClass;

/// Why the retry helper ended a request without a result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetryError {
    /// An attempt failed in a way retrying cannot fix (no such host, a 4xx answer, a
    /// certificate that is not accepted, a redirect loop).
    #[error("{target}: {class:?} after {attempts} attempt(s), which retrying cannot fix")]
    AttemptFailed {
        /// The target.
        target: String,
        /// What failed.
        class: FailureClass,
        /// Attempts made.
        attempts: u32,
        /// The error the attempt reported, if it reported one.
        #[source]
        source: Option<crate::Error>,
    },

    /// Every allowed attempt failed or timed out, or the overall deadline ran out.
    #[error("{target}: gave up after {attempts} attempt(s) in {elapsed:?} (last: {last}; {why})")]
    Exhausted {
        /// The target.
        target: String,
        /// Attempts made.
        attempts: u32,
        /// Time spent in all.
        elapsed: Duration,
        /// How the last attempt ended.
        last: LastAttempt,
        /// The error the last attempt reported, if it reported one.
        #[source]
        last_error: Option<crate::Error>,
        /// Why no further attempt was made.
        why: &'static str,
    },

    /// The retry budget is spent: too many retries lately compared to requests, so the failed
    /// attempt was not retried.
    #[error("{target}: not retried because the retry budget is spent (too many recent failures)")]
    BudgetExhausted {
        /// The target.
        target: String,
        /// The error the failed attempt reported, if it reported one.
        #[source]
        last_error: Option<crate::Error>,
    },

    /// The circuit breaker of an origin (scheme + host + port; a host for `Retrier::run`) is
    /// open after repeated connection failures.
    #[error("{origin} failed repeatedly to connect, so requests to it fail fast for another {retry_after:?}")]
    CircuitOpen {
        /// The origin (`http://127.0.0.1:8080`), or the host.
        origin: String,
        /// Until the next trial request.
        retry_after: Duration,
    },
}

/// How a request's last attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LastAttempt {
    /// It ran out of its timeout.
    TimedOut(Duration),
    /// It failed, saying this about the host.
    Failed(FailureClass),
}

impl fmt::Display for LastAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LastAttempt::TimedOut(after) => write!(f, "timed out after {after:?}"),
            LastAttempt::Failed(class) => write!(f, "{class:?}"),
        }
    }
}

impl RetryError {
    pub(crate) fn hint(&self) -> &'static str {
        match self {
            RetryError::AttemptFailed {
                source: Some(source), ..
            } => source.hint(),
            RetryError::AttemptFailed { class, .. } => network_hint(*class),
            RetryError::Exhausted {
                last: LastAttempt::TimedOut(_),
                ..
            } => {
                "the host may be down or slow; a longer max_timeout_secs (and request_timeout_secs, `--timeout`) gives it more time"
            }
            RetryError::Exhausted {
                last: LastAttempt::Failed(FailureClass::ConnectionRefused),
                ..
            } => "nothing accepts connections there: check the host and port, and that the server runs",
            RetryError::Exhausted {
                last: LastAttempt::Failed(FailureClass::ConnectionReset),
                ..
            } => "the server closes connections before answering: check that it is healthy",
            RetryError::Exhausted {
                last: LastAttempt::Failed(FailureClass::HttpStatus(_)),
                ..
            } => "the server keeps failing; try again later",
            RetryError::Exhausted {
                last: LastAttempt::Failed(class),
                ..
            } => network_hint(*class),
            RetryError::BudgetExhausted { .. } => {
                "many requests failed lately; the failure is returned as is (lower the request rate or fix the failing host)"
            }
            RetryError::CircuitOpen { .. } => "check that the host is up; requests resume after the cool-down",
        }
    }

    pub(crate) fn code(&self) -> &'static str {
        match self {
            RetryError::AttemptFailed { .. } => "retry.attempt_failed",
            RetryError::Exhausted { .. } => "retry.exhausted",
            RetryError::BudgetExhausted { .. } => "retry.budget_exhausted",
            RetryError::CircuitOpen { .. } => "retry.circuit_open",
        }
    }
}
