//! [`AdaptiveTimeout`]: per-target timeouts learned from latencies, built to beat the
//! specification's seed algorithm on wasted waiting without cutting off slow pages.
//!
//! Ingredients, and why:
//! - **Time-decayed quantile** on a log-bucketed histogram (buckets 10% apart, 10 ms to ~10 min):
//!   O(buckets) per observation, no sorting, and old behaviour fades (a tenth of
//!   `learning_rate` per sample: an effective window of ~100 observations).
//! - **Censoring**: a time-out at `d` says the latency was *at least* `d`, so it is never a
//!   latency sample. Measured with the simulator: putting time-outs into the quantile instead
//!   (as samples at `2d`) let pages that never answer drag timeouts to the maximum.
//! - **Reading time-outs**: a time-out is either an answer the timeout cut off (waiting longer
//!   helps) or a page that never answers (waiting longer only costs). Each further time-out
//!   raises the timeout (x1.5, up to the larger of the default timeout and what successes
//!   justify) only when more than [`TIMEOUT_PRESSURE`] of recent attempts time out *and* there
//!   is evidence of cut-off answers: at least [`EDGE_EVIDENCE`] of recent successes came near
//!   the timeout, or [`STREAK`] attempts in a row timed out (the host slowed down, or nothing
//!   gets through). A host where a fifth of the attempts hang but the answers come well inside
//!   the timeout keeps its timeout; raising it there was the largest single source of wasted
//!   wait against `SeedAdaptive`. A time-out never lowers a timeout.
//! - **Margins**: the p95 times 2 while time-outs are rare, times 1.5 once more than 5% of
//!   recent attempts time out (each extra second is then paid by every hanging attempt); and
//!   `SRTT + 4 * RTTVAR` in the spirit of RFC 6298, with a floor. The largest wins.
//! - **Cold targets**: a target that has never answered waits the default timeout, as
//!   `SeedAdaptive` does; once it answers, until `min_samples`, the slowest answer times a margin
//!   that shrinks as answers come in (5.5x after one, 2.5x after four). A prior pooled over all
//!   targets of an engine was tried and dropped: it was too short for slow hosts (their first
//!   attempts timed out, and unanswered time-outs open the circuit breaker) and too long for
//!   hosts that never answer (the pooled p95 sits near the maximum).
//! - **Hosts that never answer**: after [`UNRESPONSIVE_STREAK`] time-outs without a single
//!   answer, a target's attempts (in practice, the circuit breaker's trials) get the minimum
//!   timeout, except every [`PROBE_EVERY`]th, which gets the default again, so a host that comes
//!   back slow is still found.
//! - **Poisoning guard**: one observation moves a learned timeout by at most x1.5 up or x0.8
//!   down, so a freak sample can neither halve nor triple it.
//! - Clamped to `[min_timeout_secs, max_timeout_secs]`.
//!
//! With a [`LearningStore`] ([`AdaptiveTimeout::with_store`]) what was learned survives restarts:
//! profiles older than `profile_ttl_days` are dropped on load, and changes are written by one
//! background writer every few seconds, never on the request path. With a store other processes
//! write while this one runs (`NatsLearningStore`), the same writer takes in what they learn
//! within a second of its arrival, merged with what this process learned meanwhile.

mod profile;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use self::profile::Profile;
use super::profile_writer::{PolicyHooks, ProfileWriter};
use super::stats::Counters;
use crate::config::AdaptiveTimeoutConfig;
use crate::error::Result;
use crate::sync::unix_secs;
use crate::traits::{LearningStore, Outcome, ProfileView, StoredProfile, Target, TimeoutPolicy, TimeoutStats};

const MAX_RISE: f64 = 1.5;
const MAX_FALL: f64 = 0.8;
/// Above this share of recent attempts timing out, time-outs may raise the timeout (given
/// evidence of cut-off answers).
pub(super) const TIMEOUT_PRESSURE: f64 = 0.1;
/// Evidence of cut-off answers: this share of recent successes came near the timeout.
const EDGE_EVIDENCE: f64 = 0.05;
/// Evidence of cut-off answers: this many time-outs in a row. A host where 30% of the attempts
/// hang sees three in a row 2.7% of the time.
const STREAK: u32 = 3;
/// Time-outs without a single answer after which a target is probed with the minimum timeout:
/// a first request's attempts (three or four) and two more. A slow API with a 30 s median
/// answers one of five waits of 30 s or more all but always.
const UNRESPONSIVE_STREAK: u32 = 5;
/// Every this many time-outs, an unresponsive target is probed with the default timeout again.
const PROBE_EVERY: u32 = 8;
/// The host under which earlier versions persisted an engine-wide prior; such records are
/// dropped on load.
const PRIOR_HOST: &str = "*";

/// The learned policy; riptide's default.
#[derive(Debug)]
pub struct AdaptiveTimeout {
    config: AdaptiveTimeoutConfig,
    state: Arc<Mutex<State>>,
    writer: Option<ProfileWriter>,
}

#[derive(Debug, Default)]
struct State {
    targets: HashMap<Target, Profile>,
    counters: Counters,
    /// Changed since the writer last collected (only tracked with a store).
    dirty: Option<HashSet<Target>>,
}

impl AdaptiveTimeout {
    /// The policy with the `[optimizations.adaptive_timeout]` settings, learning in memory only.
    pub fn new(config: AdaptiveTimeoutConfig) -> Self {
        Self {
            config,
            state: Arc::new(Mutex::new(State::default())),
            writer: None,
        }
    }

    /// The policy, starting from the profiles in `store` and persisting what it learns there.
    ///
    /// Never fails: a store that cannot be read (damaged, held by another program) is logged and
    /// the policy starts unlearned; saves that fail are logged and retried. Profiles not updated
    /// for `profile_ttl_days` are dropped (and deleted from the store).
    ///
    /// A store shared with running processes ([`LearningStore::take_changed_profiles`]) keeps
    /// the policy up to date with what they learn: each record another process writes is
    /// merged in (its learning plus what this process learned since it last loaded or saved
    /// that profile) within about a second.
    pub fn with_store(config: AdaptiveTimeoutConfig, store: impl LearningStore + 'static) -> Self {
        let store: Arc<dyn LearningStore> = Arc::new(store);
        let mut policy = Self::new(config);
        let loaded = policy.load(&*store);
        let state = Arc::clone(&policy.state);
        let collect = Box::new(move || lock(&state).take_dirty());
        let (state, ttl) = (Arc::clone(&policy.state), policy.ttl());
        let absorb = Box::new(
            move |theirs: &StoredProfile, base: Option<&StoredProfile>, unsaved: bool| {
                // Decoded before the lock is taken: requests wait for none of it.
                let Some(remote) = usable(theirs, ttl) else {
                    return false;
                };
                let base = base.and_then(|b| Profile::decode(&b.data, b.updated_at));
                lock(&state).absorb(&theirs.target, remote, base.as_ref(), unsaved);
                true
            },
        );
        let hooks = PolicyHooks {
            collect,
            merge: Box::new(merge_stored),
            absorb,
        };
        match ProfileWriter::spawn(store, hooks, loaded) {
            Ok(writer) => {
                lock(&policy.state).dirty = Some(HashSet::new());
                policy.writer = Some(writer);
            }
            Err(e) => tracing::warn!(error = %e, "timeout profiles will not be saved"),
        }
        policy
    }

    /// Loads the fresh profiles from `store` and returns them as they were stored.
    fn load(&mut self, store: &dyn LearningStore) -> Vec<StoredProfile> {
        let stored = match store.load() {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(error = %e, "timeout profiles could not be loaded; starting unlearned");
                return Vec::new();
            }
        };
        let mut loaded = Vec::new();
        let ttl = self.ttl();
        let mut state = lock(&self.state);
        let mut stale = Vec::new();
        for s in stored {
            match usable(&s, ttl) {
                Some(p) => {
                    state.targets.insert(s.target.clone(), p);
                    loaded.push(s);
                }
                None => stale.push(s.target),
            }
        }
        tracing::debug!(
            loaded = state.targets.len(),
            dropped = stale.len(),
            "timeout profiles loaded"
        );
        if !stale.is_empty()
            && let Err(e) = store.remove(&stale)
        {
            tracing::warn!(error = %e, "expired timeout profiles could not be deleted");
        }
        loaded
    }

    /// How long a profile not updated stays usable (`profile_ttl_days`).
    fn ttl(&self) -> Duration {
        Duration::from_secs(self.config.profile_ttl_days.saturating_mul(86_400))
    }

    fn clamp(&self, secs: f64) -> f64 {
        secs.clamp(self.config.min_timeout_secs as f64, self.config.max_timeout_secs as f64)
    }

    fn min_samples(&self) -> u64 {
        u64::from(self.config.min_samples.max(1))
    }

    fn timeout_in(&self, state: &State, target: &Target) -> f64 {
        let default = self.config.default_timeout_secs as f64;
        let Some(profile) = state.targets.get(target) else {
            return self.clamp(default);
        };
        if profile.samples >= self.min_samples()
            && let Some(learned) = profile.timeout
        {
            return self.clamp(learned);
        }
        match profile.small_sample_bound() {
            Some(bound) => self.clamp(bound.max(profile.raised.unwrap_or(0.0))),
            // Never answered. Nothing says a longer wait would help, so a long silence is probed
            // cheaply, with a full wait now and then.
            None if profile.streak >= UNRESPONSIVE_STREAK && profile.streak % PROBE_EVERY != 0 => {
                self.clamp(self.config.min_timeout_secs as f64)
            }
            None => self.clamp(default),
        }
    }
}

/// `stored`'s profile if this version reads it, it was updated within `ttl` and it is not an
/// earlier version's engine-wide prior.
fn usable(stored: &StoredProfile, ttl: Duration) -> Option<Profile> {
    let fresh = SystemTime::now()
        .duration_since(stored.updated_at)
        .map_or(true, |age| age <= ttl);
    let current = stored.target.host != PRIOR_HOST;
    Profile::decode(&stored.data, stored.updated_at).filter(|_| fresh && current)
}

/// The writer's merge for [`AdaptiveTimeout`]'s profiles (see [`Profile::merged`]). A record
/// this version cannot read on either side gives way to the other.
fn merge_stored(ours: &StoredProfile, base: Option<&StoredProfile>, stored: Option<&StoredProfile>) -> StoredProfile {
    let decode = |p: &StoredProfile| Profile::decode(&p.data, p.updated_at);
    let (Some(mine), Some(theirs)) = (decode(ours), stored.and_then(decode)) else {
        return ours.clone();
    };
    let merged = mine.merged(base.and_then(decode).as_ref(), &theirs);
    StoredProfile {
        target: ours.target.clone(),
        updated_at: merged.updated_at,
        data: merged.encode(),
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Every update leaves the maps consistent, so a poisoned lock is still safe to use.
    crate::sync::lock(state)
}

impl State {
    fn take_dirty(&mut self) -> Vec<StoredProfile> {
        let Some(dirty) = self.dirty.as_mut() else {
            return Vec::new();
        };
        let dirty = std::mem::take(dirty);
        dirty
            .into_iter()
            .filter_map(|target| {
                let profile = self.targets.get(&target)?;
                Some(StoredProfile {
                    data: profile.encode(),
                    updated_at: profile.updated_at,
                    target,
                })
            })
            .collect()
    }

    /// Takes in `theirs`, another process's profile of `target`: ours becomes it plus what was
    /// learned here since `base` (see [`Profile::merged`]). `unsaved`: collect it again.
    fn absorb(&mut self, target: &Target, theirs: Profile, base: Option<&Profile>, unsaved: bool) {
        let merged = match self.targets.get(target) {
            Some(ours) => ours.merged(base, &theirs),
            None => theirs,
        };
        self.targets.insert(target.clone(), merged);
        if unsaved {
            self.mark(target);
        }
    }

    fn mark(&mut self, target: &Target) {
        if let Some(dirty) = self.dirty.as_mut()
            && !dirty.contains(target)
        {
            dirty.insert(target.clone());
        }
    }
}

impl TimeoutPolicy for AdaptiveTimeout {
    fn timeout_for(&self, target: &Target) -> Duration {
        let state = lock(&self.state);
        Duration::from_secs_f64(self.timeout_in(&state, target))
    }

    fn observe(&self, target: &Target, outcome: &Outcome) {
        let alpha = self.config.learning_rate;
        let now = SystemTime::now();
        let default = Duration::from_secs(self.config.default_timeout_secs);
        let mut state = lock(&self.state);
        state.counters.record(target.engine, outcome, default);
        state.mark(target);
        // The timeout this attempt had (a retry's was longer): what a success is compared with,
        // and what a time-out raises from.
        let given = self.timeout_in(&state, target);
        let min_samples = self.min_samples();
        let profile = state.targets.entry(target.clone()).or_default();
        match outcome {
            Outcome::Succeeded(latency) => {
                profile.success(latency.as_secs_f64(), given, alpha, now);
                let Some(candidate) = profile.candidate() else { return };
                let next = match profile.timeout {
                    // Until the target is established its estimate moves freely.
                    Some(previous) if profile.samples > min_samples => {
                        candidate.clamp(previous * MAX_FALL, previous * MAX_RISE)
                    }
                    _ => candidate,
                };
                profile.timeout = Some(self.clamp(next));
            }
            Outcome::TimedOut(_) => {
                profile.timed_out(alpha, now);
                let cut_off = profile.edge_rate() >= EDGE_EVIDENCE || profile.streak >= STREAK;
                if profile.timeout_rate() <= TIMEOUT_PRESSURE || !cut_off {
                    return;
                }
                // Time-outs alone justify waiting up to the default; longer needs successes.
                let ceiling = profile.candidate().unwrap_or(0.0).max(default.as_secs_f64());
                let raised = self.clamp((given * MAX_RISE).min(ceiling).max(given));
                if profile.samples >= min_samples && profile.timeout.is_some() {
                    profile.timeout = Some(raised);
                } else {
                    profile.raised = Some(raised);
                }
            }
            Outcome::Failed(_) => {
                profile.failed(alpha, now);
            }
        }
    }

    fn stats(&self) -> Option<TimeoutStats> {
        let state = lock(&self.state);
        let learned = state
            .targets
            .values()
            .filter(|p| p.samples >= self.min_samples())
            .count();
        Some(state.counters.stats(learned))
    }

    fn profiles(&self) -> Vec<ProfileView> {
        let state = lock(&self.state);
        let mut views: Vec<ProfileView> = state
            .targets
            .iter()
            .map(|(target, p)| ProfileView {
                host: target.host.clone(),
                engine: target.engine,
                timeout_secs: self.timeout_in(&state, target),
                samples: p.samples,
                p50_secs: p.quantile(0.5),
                p95_secs: p.quantile(0.95),
                p99_secs: p.quantile(0.99),
                success_rate: p.success_rate,
                last_updated_unix_secs: unix_secs(p.updated_at),
            })
            .collect();
        views.sort_by(|a, b| (&a.host, a.engine).cmp(&(&b.host, b.engine)));
        views
    }

    fn flush(&self) -> Result<()> {
        self.writer.as_ref().map_or(Ok(()), ProfileWriter::flush)
    }
}
