//! The running totals behind [`TimeoutStats`], shared by riptide's learning policies so they
//! count attempts, wasted wait and the seed's `time_saved` the same way.

use std::time::Duration;

use crate::traits::timeout::{Outcome, TimeoutStats};

/// The running totals behind [`TimeoutStats`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    successes: u64,
    timeouts: u64,
    failures: u64,
    wasted_wait: Duration,
    time_saved: Duration,
}

impl Counters {
    /// Counts one attempt; `default` is the configured default timeout.
    pub(crate) fn record(&mut self, outcome: &Outcome, default: Duration) {
        match outcome {
            Outcome::Succeeded(_) => self.successes += 1,
            Outcome::TimedOut(after) => {
                self.timeouts += 1;
                self.wasted_wait = self.wasted_wait.saturating_add(*after);
                self.time_saved = self.time_saved.saturating_add(default.saturating_sub(*after));
            }
            Outcome::Failed(_) => self.failures += 1,
        }
    }

    /// The totals, with `learned_domains` filled in by the policy.
    pub(crate) fn stats(&self, learned_domains: usize) -> TimeoutStats {
        let total = self.successes + self.timeouts + self.failures;
        let rate = |n: u64| (total > 0).then(|| n as f64 / total as f64);
        TimeoutStats {
            total_requests: total,
            successes: self.successes,
            timeouts: self.timeouts,
            failures: self.failures,
            success_rate: rate(self.successes),
            timeout_rate: rate(self.timeouts),
            wasted_wait_secs: self.wasted_wait.as_secs_f64(),
            time_saved_secs: self.time_saved.as_secs_f64(),
            learned_domains,
        }
    }
}
