//! Retrying with any [`TimeoutPolicy`]: escalating timeouts, one overall deadline, jittered
//! pauses, a retry budget and a per-host circuit breaker.
//!
//! [`Retrier::run`] asks the policy for a timeout, runs the attempt under it, reports the outcome
//! back to the policy, and decides whether to try again. Three guards keep a failing host from
//! multiplying load, in the spirit of Finagle's and gRPC's retry throttling:
//! - the **retry budget** allows retries worth a fraction of first attempts (plus a small reserve);
//! - the **circuit breaker** fails fast, with a clear error, for a cool-down after repeated
//!   connection-level failures of one host, then lets one trial through (half-open);
//! - **non-retryable** failures (DNS: no such host; HTTP 4xx other than 408 and 429) are returned
//!   at once.
//!
//! All waiting uses tokio's clock, so tests run it on a paused clock without real sleeps.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::AdaptiveTimeoutConfig;
use crate::error::{Error, LastAttempt, Result, RetryError};
use crate::traits::timeout::{FailureClass, Outcome, Target, TimeoutPolicy};

/// How retries escalate; [`RetrySettings::from_config`] maps `[optimizations.adaptive_timeout]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySettings {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Each retry's timeout is the previous one times this (at least 1).
    pub backoff_multiplier: f64,
    /// No attempt gets a longer timeout than this.
    pub max_timeout: Duration,
    /// All attempts and pauses together end by this deadline.
    pub overall_deadline: Duration,
    /// Pause before the first retry; later pauses grow by `backoff_multiplier`.
    pub base_pause: Duration,
    /// Each pause is scaled by a random factor in `[1 - jitter, 1 + jitter]`.
    pub jitter: f64,
    /// Retries allowed per first attempt, on top of `budget_reserve` (Finagle's default: 0.2).
    pub budget_ratio: f64,
    /// Retries always available, so a quiet client can still retry (Finagle: 10).
    pub budget_reserve: f64,
    /// Consecutive connection-level failures of a host that open its circuit.
    pub breaker_threshold: u32,
    /// How long an open circuit fails fast before letting one trial through (doubled after each
    /// failed trial, up to 15 minutes).
    pub breaker_cooldown: Duration,
    /// A time-out counts towards the circuit breaker only for an attempt given at least this
    /// long: the host missed a generous wait, not merely a tight learned timeout.
    pub breaker_timeout: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self::from_config(&AdaptiveTimeoutConfig::default())
    }
}

impl RetrySettings {
    /// Settings from `[optimizations.adaptive_timeout]` (`max_retries`, `backoff_multiplier`,
    /// `max_timeout_secs`); the overall deadline is `request_timeout_secs`, else twice the
    /// maximum timeout.
    pub fn from_config(c: &AdaptiveTimeoutConfig) -> Self {
        let twice_the_maximum = Duration::from_secs(c.max_timeout_secs.saturating_mul(2));
        Self {
            max_retries: c.max_retries,
            backoff_multiplier: c.backoff_multiplier.max(1.0),
            max_timeout: Duration::from_secs(c.max_timeout_secs),
            overall_deadline: c
                .request_timeout_secs
                .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                .unwrap_or(twice_the_maximum),
            base_pause: Duration::from_millis(100),
            jitter: 0.2,
            budget_ratio: 0.2,
            budget_reserve: 10.0,
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
            breaker_timeout: Duration::from_secs(c.default_timeout_secs),
        }
    }
}

/// Why an attempt failed, as the caller's attempt function reports it: what the failure says
/// about the host, and optionally the error itself, kept as the source of the
/// [`RetryError`] the request ends with if it gives up after it.
#[derive(Debug)]
pub struct AttemptFailure {
    /// What the failure says about the host (retryable or not, trips the breaker or not).
    pub class: FailureClass,
    /// The attempt's error, if it has one.
    pub error: Option<Error>,
}

impl AttemptFailure {
    /// A failure of `class`, without an error.
    pub fn new(class: FailureClass) -> Self {
        Self { class, error: None }
    }

    /// Adds the attempt's error.
    pub fn with_error(mut self, error: impl Into<Error>) -> Self {
        self.error = Some(error.into());
        self
    }
}

impl<E: Into<Error>> From<E> for AttemptFailure {
    /// The error, classified by [`Error::failure_class`].
    fn from(error: E) -> Self {
        let error = error.into();
        Self {
            class: error.failure_class(),
            error: Some(error),
        }
    }
}

impl From<FailureClass> for AttemptFailure {
    fn from(class: FailureClass) -> Self {
        Self::new(class)
    }
}

impl FailureClass {
    /// Whether another attempt may succeed: not for a host that does not exist, a certificate
    /// that is not accepted, a redirect loop or a redirect to a refused scheme, a page over a
    /// resource limit, a page the address policy refuses, nor for a request
    /// the server rejected as such (4xx other than 408 Request Timeout and 429).
    pub fn is_retryable(self) -> bool {
        match self {
            FailureClass::Dns
            | FailureClass::Tls
            | FailureClass::Redirect
            | FailureClass::ResourceLimit
            | FailureClass::Blocked => false,
            FailureClass::HttpStatus(s) => !(400..500).contains(&s) || s == 408 || s == 429,
            _ => true,
        }
    }

    /// Whether it says the host itself is unreachable (what trips a circuit breaker).
    fn is_connection_level(self) -> bool {
        matches!(
            self,
            FailureClass::ConnectionRefused | FailureClass::ConnectionReset | FailureClass::Tls
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Circuit {
    Closed {
        failures: u32,
    },
    /// Failing fast until `until`; the trial after it that fails opens the circuit for
    /// `cooldown`, twice the last, up to [`MAX_COOLDOWN`].
    Open {
        until: Instant,
        cooldown: Duration,
    },
    HalfOpen {
        cooldown: Duration,
    },
}

/// One origin's circuit breaker.
#[derive(Debug, Clone, Copy)]
struct Breaker {
    circuit: Circuit,
    /// The origin has answered at least once: only then are its short time-outs forgiven.
    answered: bool,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            circuit: Circuit::Closed { failures: 0 },
            answered: false,
        }
    }
}

/// How an attempt ended, as the circuit breaker sees it.
#[derive(Debug, Clone, Copy)]
enum AttemptEnd {
    /// The host answered (a page, or an error status: it is alive).
    Answered,
    /// The connection failed (refused, reset, TLS).
    Refused,
    /// Nothing came back within this long.
    TimedOut(Duration),
}

/// The longest an origin's circuit stays open between two trials: a host down for good costs
/// one trial every this long, not one every `breaker_cooldown`.
const MAX_COOLDOWN: Duration = Duration::from_secs(15 * 60);

/// Runs attempts with retries for any policy. Share one per client: it holds the retry budget
/// and the circuit breakers.
#[derive(Debug)]
pub struct Retrier {
    settings: RetrySettings,
    budget: Mutex<f64>,
    circuits: Mutex<HashMap<String, Breaker>>,
    rng: Mutex<fastrand::Rng>,
    /// Circuits opened so far (each opening, reopenings after a failed trial included).
    circuits_opened: std::sync::atomic::AtomicU64,
    /// Whether an opening is logged (a warning naming the origin).
    log_circuits: bool,
}

impl Retrier {
    /// A retrier with `settings`, a full budget reserve, and all circuits closed.
    pub fn new(settings: RetrySettings) -> Self {
        Self::with_seed(settings, fastrand::u64(..))
    }

    /// The same with a fixed jitter seed (reproducible runs, the simulator, tests).
    pub fn with_seed(settings: RetrySettings, seed: u64) -> Self {
        let budget = settings.budget_reserve;
        Self {
            settings,
            budget: Mutex::new(budget),
            circuits: Mutex::new(HashMap::new()),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            circuits_opened: std::sync::atomic::AtomicU64::new(0),
            log_circuits: true,
        }
    }

    /// Stops logging a warning each time a circuit opens: for callers that count openings
    /// themselves ([`circuits_opened`](Self::circuits_opened)), such as the simulator, whose
    /// hosts are not real.
    pub fn without_circuit_warnings(mut self) -> Self {
        self.log_circuits = false;
        self
    }

    /// How many times a circuit has opened (a reopening after a failed trial counts again).
    pub fn circuits_opened(&self) -> u64 {
        self.circuits_opened.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The settings in force.
    pub fn settings(&self) -> &RetrySettings {
        &self.settings
    }

    /// Runs `attempt` (given each attempt's timeout) until it succeeds, a failure is not
    /// retryable, retries or the overall deadline run out, the retry budget is empty, or the
    /// host's circuit is open. Every attempt is reported to `policy`. The circuit is the
    /// target's host's; [`run_at_origin`](Self::run_at_origin) names a narrower one.
    pub async fn run<T, F, Fut>(&self, policy: &dyn TimeoutPolicy, target: &Target, attempt: F) -> Result<T>
    where
        F: FnMut(Duration) -> Fut,
        Fut: Future<Output = std::result::Result<T, AttemptFailure>>,
    {
        self.run_at_origin(policy, target, &target.host, attempt).await
    }

    /// [`run`](Self::run) with the circuit breaker keyed on `origin` (such as
    /// `http://127.0.0.1:8080`) instead of the host: a dead port must not fail fast the pages
    /// of a live one on the same host. Timeouts are still learned per target.
    pub async fn run_at_origin<T, F, Fut>(
        &self,
        policy: &dyn TimeoutPolicy,
        target: &Target,
        origin: &str,
        attempt: F,
    ) -> Result<T>
    where
        F: FnMut(Duration) -> Fut,
        Fut: Future<Output = std::result::Result<T, AttemptFailure>>,
    {
        self.run_at_origin_within(policy, target, origin, None, attempt).await
    }

    /// [`run_at_origin`](Self::run_at_origin) with this request's own time limit, when it is
    /// shorter than the overall deadline (a caller's per-page limit): attempts are cut to it as
    /// they are to the overall deadline.
    pub async fn run_at_origin_within<T, F, Fut>(
        &self,
        policy: &dyn TimeoutPolicy,
        target: &Target,
        origin: &str,
        limit: Option<Duration>,
        mut attempt: F,
    ) -> Result<T>
    where
        F: FnMut(Duration) -> Fut,
        Fut: Future<Output = std::result::Result<T, AttemptFailure>>,
    {
        let mut plan = RetryPlan::begin(self, policy, target, origin, Instant::now())?.within(limit);
        loop {
            let timeout = plan.next_timeout(Instant::now());
            let attempt_started = Instant::now();
            let result = tokio::time::timeout(timeout, attempt(timeout)).await;
            let step = match result {
                Ok(Ok(value)) => {
                    plan.after(Outcome::Succeeded(attempt_started.elapsed()), None, Instant::now())?;
                    return Ok(value);
                }
                Ok(Err(failure)) => plan.after(Outcome::Failed(failure.class), failure.error, Instant::now())?,
                Err(_) => plan.after(Outcome::TimedOut(timeout), None, Instant::now())?,
            };
            if let Step::Pause(pause) = step {
                tokio::time::sleep(pause).await;
            }
        }
    }

    /// Retries the budget holds now.
    pub fn budget(&self) -> f64 {
        *crate::sync::lock(&self.budget)
    }

    fn deposit(&self) {
        let s = &self.settings;
        let mut budget = crate::sync::lock(&self.budget);
        // Capped, so a long quiet spell cannot bank an unbounded burst of retries.
        *budget = (*budget + s.budget_ratio).min(s.budget_reserve + 100.0 * s.budget_ratio);
    }

    fn withdraw(&self) -> bool {
        let mut budget = crate::sync::lock(&self.budget);
        if *budget >= 1.0 {
            *budget -= 1.0;
            true
        } else {
            false
        }
    }

    fn jittered(&self, pause: Duration) -> Duration {
        let j = self.settings.jitter.clamp(0.0, 1.0);
        let factor = 1.0 - j + 2.0 * j * crate::sync::lock(&self.rng).f64();
        Duration::from_secs_f64(pause.as_secs_f64() * factor)
    }

    /// Fails fast while `origin` has an open circuit; moves an expired one to half-open.
    fn admit(&self, origin: &str, now: Instant) -> Result<()> {
        let mut circuits = crate::sync::lock(&self.circuits);
        let circuit = &mut circuits.entry(origin.to_string()).or_default().circuit;
        if let Circuit::Open { until, cooldown } = *circuit {
            if now < until {
                return Err(RetryError::CircuitOpen {
                    origin: origin.to_string(),
                    retry_after: until - now,
                }
                .into());
            }
            *circuit = Circuit::HalfOpen { cooldown };
        }
        Ok(())
    }

    /// Updates `origin`'s circuit after an attempt. What counts towards opening it is an
    /// attempt the host gave nothing back to: a connection-level failure, or a time-out, unless
    /// the host has answered before and the attempt was given less than `breaker_timeout` (for a
    /// live host, a short time-out says more about the learned timeout than about the host).
    /// Anything the host answered closes the circuit again. So a host that never answers (a
    /// black hole) stops costing a time-out per request once it has missed `breaker_threshold`
    /// attempts in a row; each failed half-open trial doubles the cool-down, so a host gone for
    /// good costs one trial every [`MAX_COOLDOWN`] at most.
    fn record(&self, origin: &str, attempt: AttemptEnd, now: Instant) {
        let s = &self.settings;
        let mut circuits = crate::sync::lock(&self.circuits);
        let breaker = circuits.entry(origin.to_string()).or_default();
        let unanswered = match attempt {
            AttemptEnd::Answered => {
                breaker.answered = true;
                false
            }
            AttemptEnd::Refused => true,
            AttemptEnd::TimedOut(after) => after >= s.breaker_timeout || !breaker.answered,
        };
        let circuit = &mut breaker.circuit;
        let opened = |cooldown: Duration| {
            self.circuits_opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Circuit::Open {
                until: now + cooldown,
                cooldown,
            }
        };
        *circuit = match (*circuit, unanswered) {
            (_, false) => Circuit::Closed { failures: 0 },
            (Circuit::HalfOpen { cooldown }, true) => opened((cooldown * 2).min(MAX_COOLDOWN.max(s.breaker_cooldown))),
            (Circuit::Closed { failures }, true) if failures + 1 >= s.breaker_threshold => {
                if self.log_circuits {
                    tracing::warn!(origin, failures = failures + 1, "circuit opened");
                }
                opened(s.breaker_cooldown)
            }
            (Circuit::Closed { failures }, true) => Circuit::Closed { failures: failures + 1 },
            (open @ Circuit::Open { .. }, true) => open,
        };
    }

    /// Whether the circuit of `origin` (the host, for [`run`](Self::run)) is open now.
    pub fn circuit_open(&self, host: &str) -> bool {
        let circuits = crate::sync::lock(&self.circuits);
        matches!(circuits.get(host), Some(Breaker { circuit: Circuit::Open { until, .. }, .. }) if Instant::now() < *until)
    }
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The attempt succeeded.
    Done,
    /// Pause this long, then make the next attempt.
    Pause(Duration),
}

/// One request's retries as a state machine over explicit instants, with no I/O and no waiting:
/// [`Retrier::run`] drives it on tokio's clock, the simulator on a virtual one, so both follow
/// exactly the same rules.
pub(crate) struct RetryPlan<'a> {
    retrier: &'a Retrier,
    policy: &'a dyn TimeoutPolicy,
    target: &'a Target,
    origin: &'a str,
    started: Instant,
    deadline: Instant,
    timeout: Duration,
    pause: Duration,
    attempts: u32,
}

impl<'a> RetryPlan<'a> {
    /// Admits a request at `now` (or fails fast on an open circuit) and funds the retry budget.
    pub(crate) fn begin(
        retrier: &'a Retrier,
        policy: &'a dyn TimeoutPolicy,
        target: &'a Target,
        origin: &'a str,
        now: Instant,
    ) -> Result<Self> {
        let s = &retrier.settings;
        retrier.admit(origin, now)?;
        retrier.deposit();
        Ok(Self {
            retrier,
            policy,
            target,
            origin,
            started: now,
            deadline: now + s.overall_deadline,
            timeout: policy.timeout_for(target).min(s.max_timeout),
            pause: s.base_pause,
            attempts: 0,
        })
    }

    /// Ends the request by `limit` after it began, if that is sooner than the overall deadline.
    pub(crate) fn within(mut self, limit: Option<Duration>) -> Self {
        if let Some(limit) = limit {
            self.deadline = self.deadline.min(self.started + limit);
        }
        self
    }

    /// The timeout of the attempt starting at `now`: the escalated timeout, cut to the deadline.
    pub(crate) fn next_timeout(&mut self, now: Instant) -> Duration {
        self.attempts += 1;
        self.timeout.min(self.deadline.saturating_duration_since(now))
    }

    /// Reports the attempt's `outcome` (to the policy and the circuit breaker) at `now`, and
    /// decides: done, pause and retry, or the error that ends the request (with `error`, the
    /// attempt's own error, as its source).
    pub(crate) fn after(&mut self, outcome: Outcome, error: Option<Error>, now: Instant) -> Result<Step> {
        let (retrier, target, origin, attempts) = (self.retrier, self.target, self.origin, self.attempts);
        self.policy.observe(target, &outcome);
        let last = match outcome {
            Outcome::Succeeded(_) => {
                retrier.record(origin, AttemptEnd::Answered, now);
                return Ok(Step::Done);
            }
            Outcome::Failed(class) => {
                let end = if class.is_connection_level() {
                    AttemptEnd::Refused
                } else {
                    AttemptEnd::Answered
                };
                retrier.record(origin, end, now);
                if !class.is_retryable() {
                    return Err(RetryError::AttemptFailed {
                        target: target.to_string(),
                        class,
                        attempts,
                        source: error,
                    }
                    .into());
                }
                LastAttempt::Failed(class)
            }
            Outcome::TimedOut(after) => {
                retrier.record(origin, AttemptEnd::TimedOut(after), now);
                LastAttempt::TimedOut(after)
            }
        };
        let started = self.started;
        let exhausted = |why: &'static str, last_error: Option<Error>| -> Error {
            RetryError::Exhausted {
                target: target.to_string(),
                attempts,
                elapsed: now.saturating_duration_since(started),
                last,
                last_error,
                why,
            }
            .into()
        };
        let s = &retrier.settings;
        if attempts > s.max_retries {
            return Err(exhausted("no retries left", error));
        }
        let pause = retrier.jittered(self.pause);
        if now + pause >= self.deadline {
            return Err(exhausted(
                "the overall deadline leaves no time for another attempt",
                error,
            ));
        }
        if !retrier.withdraw() {
            return Err(RetryError::BudgetExhausted {
                target: target.to_string(),
                last_error: error,
            }
            .into());
        }
        retrier.admit(origin, now + pause)?;
        self.timeout = Duration::from_secs_f64(self.timeout.as_secs_f64() * s.backoff_multiplier).min(s.max_timeout);
        self.pause = Duration::from_secs_f64(self.pause.as_secs_f64() * s.backoff_multiplier);
        Ok(Step::Pause(pause))
    }
}
