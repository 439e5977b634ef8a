//! [`AdaptiveTimeout`]: per-target timeouts learned from latencies, built to beat the
//! specification's seed algorithm on wasted waiting without cutting off slow pages.
//!
//! Ingredients, and why:
//! - **Time-decayed quantile** on a log-bucketed histogram (buckets 10% apart, 10 ms to ~10 min):
//!   O(buckets) per observation, no sorting, and old behaviour fades (a tenth of
//!   `learning_rate` per sample: an effective window of ~100 observations).
//! - **Censoring**: a time-out at `d` says the latency was *at least* `d`; it adds weight above
//!   `d` (at `2d`), so a run of time-outs can only raise the timeout.
//! - **Variance margin** in the spirit of RFC 6298: `SRTT + 4 * RTTVAR`, with a floor, next to the
//!   p95 with a 1.5x margin; the larger wins.
//! - **Prior for cold targets**: until a target has `min_samples`, its timeout comes from all
//!   targets of the same engine kind (then the configured default).
//! - **Poisoning guard**: one observation moves a target's timeout by at most x1.5 up or x0.8
//!   down, so a freak sample can neither halve nor triple it.
//! - Clamped to `[min_timeout_secs, max_timeout_secs]`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::config::AdaptiveTimeoutConfig;
use crate::traits::timeout::{EngineKind, Outcome, Target, TimeoutPolicy};

const BUCKETS: usize = 96;
const MIN_SECS: f64 = 0.01;
const GROWTH: f64 = 1.1;
const QUANTILE: f64 = 0.95;
const QUANTILE_MARGIN: f64 = 1.5;
const RTTVAR_K: f64 = 4.0;
const FLOOR_SECS: f64 = 0.5;
const MAX_RISE: f64 = 1.5;
const MAX_FALL: f64 = 0.8;
/// The histogram decays at a tenth of the learning rate: with the default 0.1 its effective
/// window is ~100 observations, so a single sample holds ~1% of the weight and cannot move the
/// 95th percentile on its own.
const HISTOGRAM_DECAY_SHARE: f64 = 0.1;

/// A decayed log-latency histogram with RFC 6298 smoothing.
#[derive(Debug, Clone)]
struct Profile {
    weights: [f64; BUCKETS],
    samples: u64,
    srtt: Option<f64>,
    rttvar: f64,
    timeout: Option<f64>,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            weights: [0.0; BUCKETS],
            samples: 0,
            srtt: None,
            rttvar: 0.0,
            timeout: None,
        }
    }
}

fn bucket_of(secs: f64) -> usize {
    if secs <= MIN_SECS {
        return 0;
    }
    ((secs / MIN_SECS).ln() / GROWTH.ln())
        .ceil()
        .clamp(0.0, (BUCKETS - 1) as f64) as usize
}

fn bucket_upper(i: usize) -> f64 {
    MIN_SECS * GROWTH.powi(i as i32)
}

impl Profile {
    fn add(&mut self, secs: f64, decay: f64) {
        for w in &mut self.weights {
            *w *= 1.0 - decay;
        }
        self.weights[bucket_of(secs)] += 1.0;
    }

    fn quantile(&self, q: f64) -> Option<f64> {
        let total: f64 = self.weights.iter().sum();
        if total <= 0.0 {
            return None;
        }
        let mut seen = 0.0;
        for (i, w) in self.weights.iter().enumerate() {
            seen += w;
            if seen >= q * total {
                return Some(bucket_upper(i));
            }
        }
        Some(bucket_upper(BUCKETS - 1))
    }

    fn success(&mut self, secs: f64, alpha: f64) {
        self.add(secs, alpha * HISTOGRAM_DECAY_SHARE);
        self.samples += 1;
        // A freak sample counts as "somewhat slow" for the smoothed estimates, so one outlier
        // cannot inflate the variance margin for dozens of observations.
        let r = self.timeout.map_or(secs, |t| secs.min(2.0 * t));
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2.0;
            }
            Some(srtt) => {
                self.rttvar = (1.0 - alpha) * self.rttvar + alpha * (srtt - r).abs();
                self.srtt = Some((1.0 - alpha) * srtt + alpha * r);
            }
        }
    }

    fn candidate(&self) -> Option<f64> {
        let from_quantile = self.quantile(QUANTILE)? * QUANTILE_MARGIN;
        let from_variance = self.srtt.map_or(0.0, |s| s + (RTTVAR_K * self.rttvar).max(FLOOR_SECS));
        Some(from_quantile.max(from_variance))
    }
}

/// The learned policy; riptide's default.
#[derive(Debug)]
pub struct AdaptiveTimeout {
    config: AdaptiveTimeoutConfig,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    targets: HashMap<Target, Profile>,
    engines: HashMap<EngineKind, Profile>,
}

impl AdaptiveTimeout {
    /// The policy with the `[optimizations.adaptive_timeout]` settings.
    pub fn new(config: AdaptiveTimeoutConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State::default()),
        }
    }

    fn clamp(&self, secs: f64) -> f64 {
        secs.clamp(self.config.min_timeout_secs as f64, self.config.max_timeout_secs as f64)
    }
}

impl TimeoutPolicy for AdaptiveTimeout {
    fn timeout_for(&self, target: &Target) -> Duration {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let min_samples = u64::from(self.config.min_samples.max(1));
        let learned = state
            .targets
            .get(target)
            .filter(|p| p.samples >= min_samples)
            .and_then(|p| p.timeout);
        let secs = learned
            .or_else(|| {
                let prior = state.engines.get(&target.engine).filter(|p| p.samples >= min_samples)?;
                prior.candidate().map(|c| self.clamp(c))
            })
            .unwrap_or(self.config.default_timeout_secs as f64);
        Duration::from_secs_f64(self.clamp(secs))
    }

    fn observe(&self, target: &Target, outcome: &Outcome) {
        let alpha = self.config.learning_rate;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let default = self.config.default_timeout_secs as f64;
        match outcome {
            Outcome::Succeeded(latency) => {
                let secs = latency.as_secs_f64();
                state.engines.entry(target.engine).or_default().success(secs, alpha);
                state.targets.entry(target.clone()).or_default().success(secs, alpha);
            }
            Outcome::TimedOut(after) => {
                // Censored: the latency was at least `after`; weigh it above, never below.
                let secs = after.as_secs_f64() * 2.0;
                state
                    .engines
                    .entry(target.engine)
                    .or_default()
                    .add(secs, alpha * HISTOGRAM_DECAY_SHARE);
                state
                    .targets
                    .entry(target.clone())
                    .or_default()
                    .add(secs, alpha * HISTOGRAM_DECAY_SHARE);
            }
            Outcome::Failed(_) => return,
        }
        let min_samples = u64::from(self.config.min_samples.max(1));
        let Some(profile) = state.targets.get_mut(target) else {
            return;
        };
        let Some(candidate) = profile.candidate() else { return };
        let next = match profile.timeout {
            // Until the target is established its estimate moves freely.
            Some(previous) if profile.samples > min_samples => {
                let bounded = candidate.clamp(previous * MAX_FALL, previous * MAX_RISE);
                // A time-out is evidence of slowness: it may raise the timeout, never lower it.
                if matches!(outcome, Outcome::TimedOut(_)) {
                    bounded.max(previous)
                } else {
                    bounded
                }
            }
            previous => candidate.max(if matches!(outcome, Outcome::TimedOut(_)) {
                previous.unwrap_or(default)
            } else {
                0.0
            }),
        };
        profile.timeout = Some(self.clamp(next));
    }
}
