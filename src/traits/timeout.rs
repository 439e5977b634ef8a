//! The timeout contract: how long to wait for a target, and what happened when we did.
//!
//! Small on purpose, so users write their own policies: [`TimeoutPolicy::timeout_for`] before an
//! attempt, [`TimeoutPolicy::observe`] after it. riptide's policies live in
//! [`crate::policies`]; the retry helper and the executor work with any implementation.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

pub use crate::target::{Engine, FailureClass, Target};

/// A shared policy is a policy: pass an `Arc` of yours to an executor to keep reading its
/// profiles (or to share it between executors) while they run.
impl<P: TimeoutPolicy + ?Sized> TimeoutPolicy for std::sync::Arc<P> {
    fn timeout_for(&self, target: &Target) -> Duration {
        (**self).timeout_for(target)
    }

    fn observe(&self, target: &Target, outcome: &Outcome) {
        (**self).observe(target, outcome);
    }

    fn stats(&self) -> Option<TimeoutStats> {
        (**self).stats()
    }

    fn profiles(&self) -> Vec<ProfileView> {
        (**self).profiles()
    }

    fn flush(&self) -> crate::Result<()> {
        (**self).flush()
    }
}

/// What one attempt observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered after this long: a latency sample.
    Succeeded(Duration),
    /// Gave up after this long: a censored sample (the latency was at least this).
    TimedOut(Duration),
    /// Failed for a reason unrelated to latency.
    Failed(FailureClass),
}

/// Chooses timeouts and learns from what happened.
///
/// Implementations must be cheap (`observe` runs after every attempt) and never block on I/O.
pub trait TimeoutPolicy: Send + Sync {
    /// The timeout for the next attempt at `target`.
    fn timeout_for(&self, target: &Target) -> Duration;

    /// Records the outcome of an attempt that was given `timeout_for(target)`.
    fn observe(&self, target: &Target, outcome: &Outcome);

    /// Totals over what was observed, if the policy keeps them (default: `None`).
    fn stats(&self) -> Option<TimeoutStats> {
        None
    }

    /// What was learned per target, if anything (default: nothing), sorted by target.
    fn profiles(&self) -> Vec<ProfileView> {
        Vec::new()
    }

    /// Writes learned state to the policy's store now, if it has one (default: nothing to do).
    ///
    /// Policies that persist write in the background anyway; call this before exiting so the
    /// last few seconds of learning are kept.
    fn flush(&self) -> crate::Result<()> {
        Ok(())
    }
}

/// Totals over every attempt a policy observed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TimeoutStats {
    /// Attempts observed (successes, time-outs and failures).
    pub total_requests: u64,
    /// Attempts that succeeded.
    pub successes: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Attempts that failed for a reason unrelated to latency (DNS, refused, HTTP status...).
    pub failures: u64,
    /// `successes / total_requests`; `None` (`null` in JSON) when nothing was observed.
    pub success_rate: Option<f64>,
    /// `timeouts / total_requests`; `None` when nothing was observed.
    pub timeout_rate: Option<f64>,
    /// Seconds spent in attempts that timed out: waiting that produced nothing.
    pub wasted_wait_secs: f64,
    /// The seed specification's `time_saved`: for every time-out, how much sooner it gave up
    /// than `default_timeout_secs` would have. Optimistic by construction (a longer wait might
    /// have succeeded); `wasted_wait_secs` and the success rate are the honest pair.
    pub time_saved_secs: f64,
    /// Targets whose timeout is learned (at least `min_samples` latencies).
    pub learned_domains: usize,
    /// The same attempts split by engine; both engines are present, and their numbers add up
    /// to the totals above. In JSON: `{"static": {...}, "headless": {...}}`.
    pub by_engine: BTreeMap<Engine, EngineTimeoutStats>,
}

/// One engine's share of [`TimeoutStats`]: static fetches and headless renders time out for
/// different reasons and cost different waits, so a dashboard needs them apart.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EngineTimeoutStats {
    /// Attempts observed (successes, time-outs and failures).
    pub attempts: u64,
    /// Attempts that succeeded.
    pub successes: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Attempts that failed for a reason unrelated to latency.
    pub failures: u64,
    /// Seconds spent in attempts that timed out.
    pub wasted_wait_secs: f64,
}

/// One target's learned profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileView {
    /// The host.
    pub host: String,
    /// Static fetch or headless render.
    pub engine: Engine,
    /// The timeout the next attempt gets, in seconds.
    pub timeout_secs: f64,
    /// Latency samples (successes) seen.
    pub samples: u64,
    /// Median latency estimate, in seconds (`None` before any sample).
    pub p50_secs: Option<f64>,
    /// 95th percentile estimate, in seconds.
    pub p95_secs: Option<f64>,
    /// 99th percentile estimate, in seconds.
    pub p99_secs: Option<f64>,
    /// Success rate as an exponential moving average (`alpha = learning_rate`).
    pub success_rate: Option<f64>,
    /// When an attempt was last observed, in seconds since the Unix epoch.
    pub last_updated_unix_secs: u64,
}
