//! [`TimeoutPolicy`](crate::traits::TimeoutPolicy) implementations.
//!
//! - [`FixedTimeout`]: one timeout for everything, the baseline.
//! - [`SeedAdaptive`]: the original specification's per-domain algorithm, kept to compare
//!   against.
//! - [`AdaptiveTimeout`]: the learned policy (decayed quantile with censoring, variance margin,
//!   time-outs read for evidence of cut-off answers, small-sample bounds for young targets,
//!   cheap probes for targets that never answer, poisoning guard).
//! - [`Retrier`]: retries for any policy (escalation, overall deadline, jitter, retry budget,
//!   per-host circuit breaker).
//!
//!
//! [`simulate`] plays workloads against policies on a virtual clock, to compare them.
//!
//! [`AdaptiveTimeout::with_store`] persists what it learns through a
//! [`LearningStore`](crate::traits::LearningStore); the learning policies report
//! [`TimeoutStats`](crate::traits::TimeoutStats) and per-target
//! [`ProfileView`](crate::traits::ProfileView)s through the trait.

mod adaptive;
mod fixed;
mod profile_writer;
mod retry;
mod seed;
pub mod simulate;
mod stats;

pub use adaptive::AdaptiveTimeout;
pub use fixed::FixedTimeout;
pub(crate) use profile_writer::{CHANGES_INTERVAL, FLUSH_INTERVAL};
pub use retry::{AttemptFailure, Retrier, RetrySettings};
pub use seed::SeedAdaptive;
