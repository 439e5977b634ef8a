//! The plain words every layer shares about one request: what it is aimed at ([`Target`]: a
//! host and an [`Engine`]) and, when it failed, what the failure says about the host
//! ([`FailureClass`]).
//!
//! They sit on the ground floor, below the contracts that use them (the timeout policies, the
//! retrier, the profile stores, the executor, the browser providers), so that none of those
//! has to import another to name them. `riptide::traits` re-exports them where they were.

use std::fmt;

/// How a page is fetched; static fetches and headless renders of one host learn separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// A plain HTTP fetch.
    Static,
    /// A render in a headless browser.
    Headless,
}

impl Engine {
    /// The engine's name as in JSON: `"static"` or `"headless"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Static => "static",
            Engine::Headless => "headless",
        }
    }
}

/// What a timeout is chosen for: a host and how it is fetched.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Target {
    /// The host, lower-case, without port (`example.com`).
    pub host: String,
    /// Static fetch or headless render.
    pub engine: Engine,
}

impl Target {
    /// A target for `host` (lower-cased) fetched with `engine`.
    pub fn new(host: impl AsRef<str>, engine: Engine) -> Self {
        Self {
            host: host.as_ref().to_ascii_lowercase(),
            engine,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let engine = match self.engine {
            Engine::Static => "static",
            Engine::Headless => "headless",
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
    /// TLS failed (a certificate the client does not accept, a failed handshake).
    Tls,
    /// Too many redirects (a loop), or a redirect to a scheme the client refuses (`file:`).
    Redirect,
    /// The server answered with this status.
    HttpStatus(u16),
    /// The page needed more than a configured limit allows (a render's memory).
    ResourceLimit,
    /// The address policy refused the page: its scheme, or an address its host (or a
    /// redirect's) resolves to.
    Blocked,
    /// Anything else.
    Other,
}
