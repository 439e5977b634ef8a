//! Workload files for the simulator: hosts with latency distributions and misbehaviours, how
//! many requests each gets and in what order, and the seed that makes a run reproducible.
//!
//! The format (TOML or JSON, same fields) is documented in README.md under "Workload files".

use std::path::Path;
use std::time::Duration;

use figment::providers::{Format, Toml};
use serde::Deserialize;

use crate::config::AdaptiveTimeoutConfig;
use crate::error::{ConfigError, Error, Result};
use crate::traits::{Engine, FailureClass};

/// More than this many requests in one workload is refused (a typo, not a workload).
const MAX_REQUESTS: u64 = 10_000_000;

/// A simulated crawl.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Shown in reports.
    #[serde(default)]
    pub name: String,
    /// What the workload models.
    #[serde(default)]
    pub description: String,
    /// Seeds every random draw: the same workload and seed give the same report.
    #[serde(default)]
    pub seed: u64,
    /// How requests to different hosts interleave.
    #[serde(default)]
    pub order: Order,
    /// Timeout and retry settings, with the keys of `[optimizations.adaptive_timeout]`.
    #[serde(default)]
    pub timeouts: AdaptiveTimeoutConfig,
    /// The hosts.
    pub hosts: Vec<HostSpec>,
}

/// The order requests are issued in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// All requests shuffled (with the workload's seed).
    #[default]
    Shuffled,
    /// One request per host in turn.
    RoundRobin,
    /// All of the first host's requests, then the next host's.
    Grouped,
}

/// One host (or `replicas` alike hosts) and how it answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// The host name; replicas are named `name-1`, `name-2`, ...
    pub name: String,
    /// How many hosts behave like this one (default 1).
    #[serde(default = "one")]
    pub replicas: u32,
    /// Requests per host.
    pub requests: u32,
    /// `static` (default) or `headless`.
    #[serde(default = "static_engine")]
    pub engine: Engine,
    /// Median latency in milliseconds (log-normal); for a dead host, how long a refusal takes.
    pub median_ms: f64,
    /// Log-normal sigma (0: always the median).
    #[serde(default)]
    pub sigma: f64,
    /// A heavy tail: a share of answers drawn from a Pareto distribution instead.
    #[serde(default)]
    pub tail: Option<Tail>,
    /// Share of attempts that never answer.
    #[serde(default)]
    pub never_answer: f64,
    /// Share of attempts that fail with a connection reset (a flaky host).
    #[serde(default)]
    pub failure_share: f64,
    /// The host refuses every connection.
    #[serde(default)]
    pub dead: bool,
    /// The host slows down part-way through its requests.
    #[serde(default)]
    pub slowdown: Option<Slowdown>,
}

/// A Pareto tail.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tail {
    /// Share of answers from the tail, in [0, 1].
    pub share: f64,
    /// The tail's minimum, in milliseconds.
    pub scale_ms: f64,
    /// The Pareto shape (smaller: heavier; 1.0 to 3.0 is typical).
    pub alpha: f64,
}

/// Latencies multiply by `factor` from a point in the host's requests on.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slowdown {
    /// From this fraction of the host's requests on (0.5: half-way).
    pub after: f64,
    /// The latency multiplier (3.0: triples).
    pub factor: f64,
}

fn one() -> u32 {
    1
}

fn static_engine() -> Engine {
    Engine::Static
}

/// How one simulated attempt ends, if it is given long enough.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Answer {
    /// The page arrives after this long.
    After(Duration),
    /// The attempt fails after this long.
    Fails(Duration, FailureClass),
    /// Nothing ever arrives.
    Never,
}

impl Workload {
    /// Reads a workload from a `.toml` or `.json` file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Workload {
            origin: origin.clone(),
            message: format!("cannot be read ({e})"),
        })?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Self::from_json_str(&text, &origin),
            Some("toml") => Self::from_toml_str(&text, &origin),
            _ => Err(ConfigError::Workload {
                origin,
                message: "has neither a .toml nor a .json extension".into(),
            }
            .into()),
        }
    }

    /// Parses a TOML workload; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        let w: Self = Toml::from_str(text).map_err(|e| ConfigError::Workload {
            origin: origin.into(),
            message: e.to_string(),
        })?;
        w.validated(origin)
    }

    /// Parses a JSON workload; `origin` names it in errors.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self> {
        let w: Self = serde_json::from_str(text).map_err(|e| ConfigError::Workload {
            origin: origin.into(),
            message: e.to_string(),
        })?;
        w.validated(origin)
    }

    /// Requests in the whole workload.
    pub fn total_requests(&self) -> u64 {
        self.hosts
            .iter()
            .map(|h| u64::from(h.replicas) * u64::from(h.requests))
            .sum()
    }

    pub(crate) fn validated(self, origin: &str) -> Result<Self> {
        let fail = |message: String| -> Error {
            ConfigError::Workload {
                origin: origin.into(),
                message,
            }
            .into()
        };
        if let Err((key, message)) = self.timeouts.check() {
            return Err(fail(format!("timeouts.{key}: {message}")));
        }
        if self.hosts.is_empty() {
            return Err(fail("`hosts` is empty; add at least one [[hosts]] entry".into()));
        }
        let share = |v: f64| (0.0..=1.0).contains(&v);
        let positive = |v: f64| v.is_finite() && v > 0.0;
        for h in &self.hosts {
            let bad = |field: &str, why: &str| fail(format!("host `{}`: `{field}` {why}", h.name));
            if h.name.is_empty() || h.name.contains(['/', ' ']) || h.name == "*" {
                return Err(fail(format!("host name `{}` is not a host name", h.name)));
            }
            if h.replicas == 0 {
                return Err(bad("replicas", "must be at least 1"));
            }
            if !positive(h.median_ms) {
                return Err(bad("median_ms", "must be a positive number of milliseconds"));
            }
            if !(h.sigma.is_finite() && (0.0..=5.0).contains(&h.sigma)) {
                return Err(bad("sigma", "must be in [0, 5]"));
            }
            if !share(h.never_answer) {
                return Err(bad("never_answer", "is a share and must be in [0, 1]"));
            }
            if !share(h.failure_share) {
                return Err(bad("failure_share", "is a share and must be in [0, 1]"));
            }
            if let Some(t) = h.tail
                && !(share(t.share) && positive(t.scale_ms) && positive(t.alpha))
            {
                return Err(bad("tail", "needs share in [0, 1] and positive scale_ms and alpha"));
            }
            if let Some(s) = h.slowdown
                && !(share(s.after) && positive(s.factor))
            {
                return Err(bad("slowdown", "needs `after` in [0, 1] and a positive `factor`"));
            }
        }
        if self.total_requests() == 0 {
            return Err(fail("no requests: every host has `requests = 0`".into()));
        }
        if self.total_requests() > MAX_REQUESTS {
            return Err(fail(format!(
                "{} requests is more than the simulator takes ({MAX_REQUESTS})",
                self.total_requests()
            )));
        }
        Ok(self)
    }
}

impl HostSpec {
    /// Draws one attempt's answer. Always consumes the same number of draws, so the i-th attempt
    /// of a request sees the same answer under every policy. `progress` is how far through its
    /// requests the host is, in [0, 1).
    pub(crate) fn answer(&self, rng: &mut fastrand::Rng, progress: f64) -> Answer {
        let (never, fails, tail_pick, u1, u2, u3) = (rng.f64(), rng.f64(), rng.f64(), rng.f64(), rng.f64(), rng.f64());
        let ms = |v: f64| Duration::from_secs_f64(v / 1000.0);
        if self.dead {
            return Answer::Fails(ms(self.median_ms), FailureClass::ConnectionRefused);
        }
        if never < self.never_answer {
            return Answer::Never;
        }
        // Log-normal by Box-Muller; 1 - u keeps the logarithm finite.
        let normal = (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let mut latency = match self.tail {
            Some(t) if tail_pick < t.share => t.scale_ms / (1.0 - u3).powf(1.0 / t.alpha),
            _ => self.median_ms * (self.sigma * normal).exp(),
        };
        if let Some(s) = self.slowdown
            && progress >= s.after
        {
            latency *= s.factor;
        }
        // Far beyond any timeout; keeps Duration arithmetic finite.
        let latency = ms(latency.min(1e9));
        if fails < self.failure_share {
            Answer::Fails(latency / 2, FailureClass::ConnectionReset)
        } else {
            Answer::After(latency)
        }
    }
}
