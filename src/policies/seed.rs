//! [`SeedAdaptive`]: the original specification's adaptive timeout, exactly, as a named policy to
//! compare against.
//!
//! Per target: the default timeout until `min_samples` latencies were seen; then
//! `clamp(ceil(p95 of the last 100 latencies, in seconds) * 1.5, min, max)`. Success rate is an
//! exponential moving average with `alpha = learning_rate`. Time-outs and failures count against
//! the success rate but are not latency samples.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use super::stats::Counters;
use crate::config::AdaptiveTimeoutConfig;
use crate::traits::timeout::{Outcome, Target, TimeoutPolicy, TimeoutStats};

const WINDOW: usize = 100;
const MULTIPLIER: f64 = 1.5;

/// The specification's algorithm.
#[derive(Debug)]
pub struct SeedAdaptive {
    config: AdaptiveTimeoutConfig,
    profiles: Mutex<HashMap<Target, SeedProfile>>,
    counters: Mutex<Counters>,
}

#[derive(Debug, Clone, Default)]
struct SeedProfile {
    latencies_secs: VecDeque<f64>,
    success_rate: Option<f64>,
}

impl SeedAdaptive {
    /// The policy with the `[optimizations.adaptive_timeout]` settings.
    pub fn new(config: AdaptiveTimeoutConfig) -> Self {
        Self {
            config,
            profiles: Mutex::new(HashMap::new()),
            counters: Mutex::new(Counters::default()),
        }
    }

    /// The success-rate EMA of `target`, if it was observed.
    pub fn success_rate(&self, target: &Target) -> Option<f64> {
        crate::sync::lock(&self.profiles).get(target)?.success_rate
    }
}

/// The 95th percentile by nearest rank of an unsorted sample.
fn p95(samples: &VecDeque<f64>) -> f64 {
    let mut sorted: Vec<f64> = samples.iter().copied().collect();
    sorted.sort_by(f64::total_cmp);
    let rank = ((0.95 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

impl TimeoutPolicy for SeedAdaptive {
    fn timeout_for(&self, target: &Target) -> Duration {
        let c = &self.config;
        let profiles = crate::sync::lock(&self.profiles);
        let samples = profiles.get(target).map(|p| &p.latencies_secs);
        match samples {
            Some(s) if s.len() >= c.min_samples.max(1) as usize => {
                let secs = (p95(s).ceil() * MULTIPLIER).clamp(c.min_timeout_secs as f64, c.max_timeout_secs as f64);
                Duration::from_secs_f64(secs)
            }
            _ => Duration::from_secs(c.default_timeout_secs),
        }
    }

    fn observe(&self, target: &Target, outcome: &Outcome) {
        let default = Duration::from_secs(self.config.default_timeout_secs);
        (crate::sync::lock(&self.counters)).record(target.engine, outcome, default);
        let alpha = self.config.learning_rate;
        let mut profiles = crate::sync::lock(&self.profiles);
        let profile = profiles.entry(target.clone()).or_default();
        let success = matches!(outcome, Outcome::Succeeded(_));
        let x = if success { 1.0 } else { 0.0 };
        profile.success_rate = Some(profile.success_rate.map_or(x, |rate| alpha * x + (1.0 - alpha) * rate));
        if let Outcome::Succeeded(latency) = outcome {
            if profile.latencies_secs.len() == WINDOW {
                profile.latencies_secs.pop_front();
            }
            profile.latencies_secs.push_back(latency.as_secs_f64());
        }
    }

    fn stats(&self) -> Option<TimeoutStats> {
        let min = self.config.min_samples.max(1) as usize;
        let learned = (crate::sync::lock(&self.profiles))
            .values()
            .filter(|p| p.latencies_secs.len() >= min)
            .count();
        Some((crate::sync::lock(&self.counters)).stats(learned))
    }
}
