//! The timeout contract: how long to wait for a target, and what happened when we did.
//!
//! Small on purpose, so users write their own policies: [`TimeoutPolicy::timeout_for`] before an
//! attempt, [`TimeoutPolicy::observe`] after it. riptide's policies live in
//! [`crate::policies`]; the retry helper and the executor work with any implementation.

use std::fmt;
use std::time::Duration;

/// How a page is fetched; static fetches and headless renders of one host learn separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// A plain HTTP fetch.
    Static,
    /// A render in a headless browser.
    Headless,
}

/// What a timeout is chosen for: a host and how it is fetched.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Target {
    /// The host, lower-case, without port (`example.com`).
    pub host: String,
    /// Static fetch or headless render.
    pub engine: EngineKind,
}

impl Target {
    /// A target for `host` (lower-cased) fetched with `engine`.
    pub fn new(host: impl AsRef<str>, engine: EngineKind) -> Self {
        Self {
            host: host.as_ref().to_ascii_lowercase(),
            engine,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let engine = match self.engine {
            EngineKind::Static => "static",
            EngineKind::Headless => "headless",
        };
        write!(f, "{} ({engine})", self.host)
    }
}

/// A class of failure that says nothing about latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum FailureClass {
    /// The name did not resolve.
    Dns,
    /// The connection was refused.
    ConnectionRefused,
    /// The connection was reset.
    ConnectionReset,
    /// TLS failed.
    Tls,
    /// The server answered with this status.
    HttpStatus(u16),
    /// Anything else.
    Other,
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
}
