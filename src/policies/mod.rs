//! [`TimeoutPolicy`](crate::traits::TimeoutPolicy) implementations.
//!
//! - [`FixedTimeout`]: one timeout for everything, the baseline.
//! - [`SeedAdaptive`]: the original specification's per-domain algorithm, kept to compare
//!   against.
//! - [`Retrier`]: retries for any policy (escalation, overall deadline, jitter, retry budget,
//!   per-host circuit breaker).
//!
//! The learned default policy, persistence and the simulator follow (issue 4 is in progress).

mod fixed;
mod retry;
mod seed;

pub use fixed::FixedTimeout;
pub use retry::{AttemptFailure, Retrier, RetrySettings};
pub use seed::SeedAdaptive;
