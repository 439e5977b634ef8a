//! The running totals behind [`TimeoutStats`], shared by riptide's learning policies so they
//! count attempts, wasted wait and the seed's `time_saved` the same way, in total and per engine.

use std::time::Duration;

use crate::traits::timeout::{Engine, EngineTimeoutStats, Outcome, TimeoutStats};

/// The running totals behind [`TimeoutStats`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    /// Static, then headless: the totals are their sums, so nothing is counted twice.
    engines: [EngineCounters; 2],
    time_saved: Duration,
}

/// One engine's attempts.
#[derive(Debug, Clone, Copy, Default)]
struct EngineCounters {
    successes: u64,
    timeouts: u64,
    failures: u64,
    wasted_wait: Duration,
}

impl EngineCounters {
    fn attempts(&self) -> u64 {
        self.successes + self.timeouts + self.failures
    }

    fn add(self, other: Self) -> Self {
        Self {
            successes: self.successes + other.successes,
            timeouts: self.timeouts + other.timeouts,
            failures: self.failures + other.failures,
            wasted_wait: self.wasted_wait.saturating_add(other.wasted_wait),
        }
    }
}

const ENGINES: [Engine; 2] = [Engine::Static, Engine::Headless];

fn slot(engine: Engine) -> usize {
    match engine {
        Engine::Static => 0,
        Engine::Headless => 1,
    }
}

impl Counters {
    /// Counts one attempt by `engine`; `default` is the configured default timeout.
    pub(crate) fn record(&mut self, engine: Engine, outcome: &Outcome, default: Duration) {
        let counters = &mut self.engines[slot(engine)];
        match outcome {
            Outcome::Succeeded(_) => counters.successes += 1,
            Outcome::TimedOut(after) => {
                counters.timeouts += 1;
                counters.wasted_wait = counters.wasted_wait.saturating_add(*after);
                self.time_saved = self.time_saved.saturating_add(default.saturating_sub(*after));
            }
            Outcome::Failed(_) => counters.failures += 1,
        }
    }

    /// The totals, with `learned_domains` filled in by the policy.
    pub(crate) fn stats(&self, learned_domains: usize) -> TimeoutStats {
        let all = self.engines[0].add(self.engines[1]);
        let total = all.attempts();
        let rate = |n: u64| (total > 0).then(|| n as f64 / total as f64);
        let by_engine = ENGINES
            .into_iter()
            .map(|engine| {
                let c = self.engines[slot(engine)];
                let stats = EngineTimeoutStats {
                    attempts: c.attempts(),
                    successes: c.successes,
                    timeouts: c.timeouts,
                    failures: c.failures,
                    wasted_wait_secs: c.wasted_wait.as_secs_f64(),
                };
                (engine, stats)
            })
            .collect();
        TimeoutStats {
            total_requests: total,
            successes: all.successes,
            timeouts: all.timeouts,
            failures: all.failures,
            success_rate: rate(all.successes),
            timeout_rate: rate(all.timeouts),
            wasted_wait_secs: all.wasted_wait.as_secs_f64(),
            time_saved_secs: self.time_saved.as_secs_f64(),
            learned_domains,
            by_engine,
        }
    }
}
