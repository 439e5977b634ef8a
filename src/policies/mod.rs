//! [`TimeoutPolicy`](crate::traits::TimeoutPolicy) implementations.
//!
//! - [`FixedTimeout`]: one timeout for everything, the baseline.
//! - [`SeedAdaptive`]: the original specification's per-domain algorithm, kept to compare
//!   against.
//! - [`AdaptiveTimeout`]: the learned policy (decayed quantile with censoring, variance margin,
//!   cross-target prior, poisoning guard).
//! - [`Retrier`]: retries for any policy (escalation, overall deadline, jitter, retry budget,
//!   per-host circuit breaker).
//!
//! Persistence of learned profiles and the simulator follow (issue 4 is in progress).

mod adaptive;
mod fixed;
mod retry;
mod seed;

pub use adaptive::AdaptiveTimeout;
pub use fixed::FixedTimeout;
pub use retry::{AttemptFailure, Retrier, RetrySettings};
pub use seed::SeedAdaptive;
