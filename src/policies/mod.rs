//! [`TimeoutPolicy`](crate::traits::TimeoutPolicy) implementations.
//!
//! - [`FixedTimeout`]: one timeout for everything, the baseline.
//! - [`SeedAdaptive`]: the original specification's per-domain algorithm, kept to compare
//!   against.
//!
//! The learned default policy, the retry helper (escalation, budget, circuit breaker),
//! persistence and the simulator follow (issue 4 is in progress).

mod fixed;
mod seed;

pub use fixed::FixedTimeout;
pub use seed::SeedAdaptive;
