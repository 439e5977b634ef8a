//! One target's learned state for [`AdaptiveTimeout`](super::AdaptiveTimeout): a decayed
//! log-latency histogram, RFC 6298 smoothing, the current timeout and a success-rate average, the
//! evidence that reads time-outs (how close successes come to the timeout, how many time-outs in a
//! row), plus its persisted encoding.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

const BUCKETS: usize = 96;
const MIN_SECS: f64 = 0.01;
const GROWTH: f64 = 1.1;
const QUANTILE: f64 = 0.95;
const QUANTILE_MARGIN: f64 = 1.5;
/// The margin while time-outs are rare (below [`CALM_TIMEOUT_RATE`] of recent attempts): a wider
/// margin then costs little, since few attempts ever wait it out, and it keeps the slow answers
/// that a tight one cuts off. Where many attempts time out (pages that never answer), every one
/// of them pays each extra second, so the tighter [`QUANTILE_MARGIN`] applies. Measured on the
/// simulator's generated workloads: 92% of workloads won against `SeedAdaptive` instead of 90%.
const CALM_MARGIN: f64 = 2.0;
const CALM_TIMEOUT_RATE: f64 = 0.05;
/// The small-sample bound: the slowest of `n` successes times `SMALL_SAMPLE_MARGIN +
/// SMALL_SAMPLE_SPREAD / n`, a margin that shrinks as samples grow (5.5x after one success,
/// 2.5x after four): a few samples say little about the tail.
const SMALL_SAMPLE_MARGIN: f64 = 1.5;
const SMALL_SAMPLE_SPREAD: f64 = 4.0;
/// A success that took more than this share of the timeout in force came "near the edge": had the
/// timeout been a third shorter, it would have been cut off.
const EDGE_SHARE: f64 = 0.67;
const RTTVAR_K: f64 = 4.0;
const FLOOR_SECS: f64 = 0.5;
/// The histogram decays at a tenth of the learning rate: with the default 0.1 its effective
/// window is ~100 observations, so a single sample holds ~1% of the weight and cannot move the
/// 95th percentile on its own.
const HISTOGRAM_DECAY_SHARE: f64 = 0.1;
/// Bumped when the encoding changes; older records are dropped and relearned.
const ENCODING_VERSION: u32 = 2;

#[derive(Debug, Clone)]
pub(super) struct Profile {
    weights: [f64; BUCKETS],
    /// Latency samples (successes) seen.
    pub(super) samples: u64,
    srtt: Option<f64>,
    rttvar: f64,
    /// The timeout learned from successes, in seconds, once one was computed.
    pub(super) timeout: Option<f64>,
    /// A floor raised by runs of time-outs while the target has too few successes to be learned.
    pub(super) raised: Option<f64>,
    /// Decayed counts of recent time-outs and of all latency-bearing attempts (successes and
    /// time-outs), decaying like the histogram: their ratio is the recent time-out rate.
    timeouts_weight: f64,
    attempts_weight: f64,
    /// Decayed count of successes that came near the edge ([`EDGE_SHARE`] of the timeout in force
    /// or more), decaying like the histogram: its share of recent successes says whether the
    /// timeout cuts off answers, or the time-outs are pages that never answer.
    edge_weight: f64,
    /// Time-outs since the last success.
    pub(super) streak: u32,
    pub(super) success_rate: Option<f64>,
    pub(super) updated_at: SystemTime,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            weights: [0.0; BUCKETS],
            samples: 0,
            srtt: None,
            rttvar: 0.0,
            timeout: None,
            raised: None,
            timeouts_weight: 0.0,
            attempts_weight: 0.0,
            edge_weight: 0.0,
            streak: 0,
            success_rate: None,
            updated_at: SystemTime::UNIX_EPOCH,
        }
    }
}

fn bucket_of(secs: f64) -> usize {
    if secs.is_nan() || secs <= MIN_SECS {
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
    fn add(&mut self, secs: f64, alpha: f64) {
        let decay = alpha * HISTOGRAM_DECAY_SHARE;
        for w in &mut self.weights {
            *w *= 1.0 - decay;
        }
        self.weights[bucket_of(secs)] += 1.0;
    }

    fn count_attempt(&mut self, timed_out: bool, alpha: f64) {
        let keep = 1.0 - alpha * HISTOGRAM_DECAY_SHARE;
        self.attempts_weight = self.attempts_weight * keep + 1.0;
        self.timeouts_weight = self.timeouts_weight * keep + if timed_out { 1.0 } else { 0.0 };
    }

    /// The share of recent successes and time-outs that were time-outs (0 before any).
    pub(super) fn timeout_rate(&self) -> f64 {
        if self.attempts_weight > 0.0 {
            self.timeouts_weight / self.attempts_weight
        } else {
            0.0
        }
    }

    /// The share of recent successes that came near the edge of the timeout in force (0 before
    /// any success).
    pub(super) fn edge_rate(&self) -> f64 {
        let successes = self.attempts_weight - self.timeouts_weight;
        if successes > 1e-9 {
            (self.edge_weight / successes).min(1.0)
        } else {
            0.0
        }
    }

    fn count(&mut self, success: bool, alpha: f64, now: SystemTime) {
        let x = if success { 1.0 } else { 0.0 };
        self.success_rate = Some(self.success_rate.map_or(x, |r| alpha * x + (1.0 - alpha) * r));
        self.updated_at = now;
    }

    /// The latency quantile `q` in seconds (`None` while the histogram is empty).
    pub(super) fn quantile(&self, q: f64) -> Option<f64> {
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

    /// A success after `secs`, under a timeout of `given` seconds.
    pub(super) fn success(&mut self, secs: f64, given: f64, alpha: f64, now: SystemTime) {
        self.add(secs, alpha);
        self.samples += 1;
        self.streak = 0;
        self.count(true, alpha, now);
        self.count_attempt(false, alpha);
        let keep = 1.0 - alpha * HISTOGRAM_DECAY_SHARE;
        self.edge_weight = self.edge_weight * keep + if secs > given * EDGE_SHARE { 1.0 } else { 0.0 };
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

    /// A time-out: censored, so not a latency sample; it feeds the time-out rate, which the
    /// policy reads as pressure to raise the timeout.
    pub(super) fn timed_out(&mut self, alpha: f64, now: SystemTime) {
        self.streak = self.streak.saturating_add(1);
        self.count(false, alpha, now);
        self.count_attempt(true, alpha);
    }

    /// A failure unrelated to latency: only the success rate moves.
    pub(super) fn failed(&mut self, alpha: f64, now: SystemTime) {
        self.count(false, alpha, now);
    }

    /// The timeout this profile suggests before clamping and the poisoning guard.
    pub(super) fn candidate(&self) -> Option<f64> {
        let margin = if self.timeout_rate() < CALM_TIMEOUT_RATE {
            CALM_MARGIN
        } else {
            QUANTILE_MARGIN
        };
        let from_quantile = self.quantile(QUANTILE)? * margin;
        let from_variance = self.srtt.map_or(0.0, |s| s + (RTTVAR_K * self.rttvar).max(FLOOR_SECS));
        Some(from_quantile.max(from_variance))
    }

    /// The timeout a target with only a few successes gets: the slowest of them (the upper edge
    /// of the highest non-empty histogram bucket) times a margin that shrinks as they grow
    /// (`None` before any success).
    pub(super) fn small_sample_bound(&self) -> Option<f64> {
        if self.samples == 0 {
            return None;
        }
        let slowest = (0..BUCKETS).rev().find(|&i| self.weights[i] > 0.0).map(bucket_upper)?;
        Some(slowest * (SMALL_SAMPLE_MARGIN + SMALL_SAMPLE_SPREAD / self.samples as f64))
    }

    /// `stored` plus what this profile learned since `base` (this profile as its process last
    /// loaded or saved it; `None`: learned from nothing): what several processes sharing a store
    /// learn adds up, instead of the last writer's overwriting the others.
    ///
    /// Counts and histogram weights add their increments (decay since `base` can make an
    /// increment slightly negative; it is clamped at zero). Smoothed values (SRTT, variance,
    /// the learned timeout, the success rate) are averaged, weighted by the samples each side
    /// contributes.
    pub(super) fn merged(&self, base: Option<&Profile>, stored: &Profile) -> Profile {
        let empty = Profile::default();
        let base = base.unwrap_or(&empty);
        let added = |stored: f64, ours: f64, base: f64| (stored + ours - base).max(0.0);
        let new_samples = self.samples.saturating_sub(base.samples);
        let (w_stored, w_ours) = (stored.samples as f64, new_samples as f64);
        let mix = |theirs: Option<f64>, ours: Option<f64>| match (theirs, ours) {
            (Some(t), Some(o)) if w_stored + w_ours > 0.0 => Some((t * w_stored + o * w_ours) / (w_stored + w_ours)),
            (Some(t), Some(_)) => Some(t),
            (t, o) => t.or(o),
        };
        let mut weights = [0.0; BUCKETS];
        for (i, w) in weights.iter_mut().enumerate() {
            *w = added(stored.weights[i], self.weights[i], base.weights[i]);
        }
        let attempts_weight = added(stored.attempts_weight, self.attempts_weight, base.attempts_weight);
        let timeouts_weight =
            added(stored.timeouts_weight, self.timeouts_weight, base.timeouts_weight).min(attempts_weight);
        // Time-outs in a row: a success on either side since `base` ended the run there.
        let streak = match (self.samples > base.samples, stored.samples > base.samples) {
            (false, false) => stored.streak.saturating_add(self.streak.saturating_sub(base.streak)),
            (true, false) => self.streak,
            (false, true) => stored.streak,
            (true, true) => self.streak.min(stored.streak),
        };
        Profile {
            weights,
            samples: stored.samples.saturating_add(new_samples),
            srtt: mix(stored.srtt, self.srtt),
            rttvar: mix(Some(stored.rttvar), Some(self.rttvar)).unwrap_or(self.rttvar),
            timeout: mix(stored.timeout, self.timeout),
            raised: match (stored.raised, self.raised) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            timeouts_weight,
            attempts_weight,
            edge_weight: added(stored.edge_weight, self.edge_weight, base.edge_weight)
                .min(attempts_weight - timeouts_weight),
            streak,
            success_rate: mix(stored.success_rate, self.success_rate),
            updated_at: stored.updated_at.max(self.updated_at),
        }
    }

    /// The persisted form (JSON; small, and readable when debugging a store).
    pub(super) fn encode(&self) -> Vec<u8> {
        let snapshot = Snapshot {
            version: ENCODING_VERSION,
            buckets: (0..BUCKETS)
                .filter(|&i| self.weights[i] > 1e-9)
                .map(|i| (i as u8, self.weights[i]))
                .collect(),
            samples: self.samples,
            srtt: self.srtt,
            rttvar: self.rttvar,
            timeout: self.timeout,
            raised: self.raised,
            timeouts_weight: self.timeouts_weight,
            attempts_weight: self.attempts_weight,
            edge_weight: self.edge_weight,
            streak: self.streak,
            success_rate: self.success_rate,
        };
        serde_json::to_vec(&snapshot).unwrap_or_default()
    }

    /// Reads [`Profile::encode`]'s output; `None` for anything else (relearned, never trusted).
    pub(super) fn decode(data: &[u8], updated_at: SystemTime) -> Option<Self> {
        let s: Snapshot = serde_json::from_slice(data).ok()?;
        let finite = |x: f64| x.is_finite() && x >= 0.0;
        let valid = s.version == ENCODING_VERSION
            && s.buckets.iter().all(|&(i, w)| usize::from(i) < BUCKETS && finite(w))
            && s.srtt.is_none_or(finite)
            && finite(s.rttvar)
            && s.timeout.is_none_or(finite)
            && s.raised.is_none_or(finite)
            && finite(s.timeouts_weight)
            && finite(s.attempts_weight)
            && s.timeouts_weight <= s.attempts_weight
            && finite(s.edge_weight)
            && s.edge_weight <= s.attempts_weight
            && s.success_rate.is_none_or(|r| (0.0..=1.0).contains(&r));
        if !valid {
            return None;
        }
        let mut weights = [0.0; BUCKETS];
        for (i, w) in s.buckets {
            weights[usize::from(i)] = w;
        }
        Some(Self {
            weights,
            samples: s.samples,
            srtt: s.srtt,
            rttvar: s.rttvar,
            timeout: s.timeout,
            raised: s.raised,
            timeouts_weight: s.timeouts_weight,
            attempts_weight: s.attempts_weight,
            edge_weight: s.edge_weight,
            streak: s.streak,
            success_rate: s.success_rate,
            updated_at,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    /// Non-empty buckets as (index, weight).
    buckets: Vec<(u8, f64)>,
    samples: u64,
    srtt: Option<f64>,
    rttvar: f64,
    timeout: Option<f64>,
    raised: Option<f64>,
    timeouts_weight: f64,
    attempts_weight: f64,
    /// Added after version 2 was first written; records without it read as 0 (no evidence yet).
    #[serde(default)]
    edge_weight: f64,
    /// Likewise.
    #[serde(default)]
    streak: u32,
    success_rate: Option<f64>,
}
