//! [`FetchError`]: a page's HTML could not be had, by either engine.
//!
//! The URL is not repeated here: it is on the [`Error`](crate::Error) that carries this
//! ([`Error::url`](crate::Error::url)).

use std::time::Duration;

use super::BoxError;
use crate::traits::FailureClass;

/// Why a page could not be fetched or rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// What was given as a page is neither a URL nor an existing file.
    #[error("not a page riptide can fetch: {reason}")]
    InvalidUrl {
        /// What was given.
        input: String,
        /// Why it is not usable.
        reason: String,
    },

    /// The URL's scheme is not one riptide fetches.
    #[error("the `{scheme}` scheme is not supported")]
    UnsupportedScheme {
        /// Its scheme.
        scheme: String,
        /// What to do instead.
        advice: &'static str,
    },

    /// The address policy refuses the page before anything is fetched (see
    /// [`AddressPolicy`](crate::network::AddressPolicy)).
    #[error("refused by the address policy: {reason}")]
    AddressNotAllowed {
        /// Why.
        reason: String,
    },

    /// The server answered with an error status.
    #[error("the server answered HTTP {status}")]
    HttpStatus {
        /// The status code.
        status: u16,
        /// How long the server asked to be left alone (`Retry-After`, in seconds or as a
        /// date), if it said; a crawl waits at least that long before asking its host again.
        retry_after: Option<std::time::Duration>,
    },

    /// The server answered with something that is not an HTML page.
    #[error("served as `{content_type}`, not HTML")]
    NotHtml {
        /// The `Content-Type` it was served with.
        content_type: String,
    },

    /// The page is larger than the body limit.
    #[error("larger than the {limit}-byte limit")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },

    /// The page did not arrive (or a render did not get ready) before its deadline.
    #[error("did not load within {deadline:?}")]
    Timeout {
        /// The deadline it had.
        deadline: Duration,
    },

    /// The connection or the navigation failed: `class` says how (DNS, refused, reset, TLS,
    /// redirects), as the engine that saw it classified it; `source` is that engine's error.
    #[error("could not load the page ({class:?})")]
    Network {
        /// What the failure says about the host.
        class: FailureClass,
        /// The engine's own error (reqwest's, or the browser's network error code).
        #[source]
        source: BoxError,
    },

    /// A render made its browser use more memory than the render memory limit allows, or filled
    /// its page's JavaScript heap (capped at half that limit) so that its renderer died; then
    /// both numbers are the heap cap. The render was stopped and the browser killed (the pool
    /// replaces it). Not retried: another attempt would run the same page again.
    #[error(
        "stopped after its browser used {} MB, over the render memory limit of {} MB; the page is not extracted",
        used_bytes >> 20,
        limit_bytes >> 20
    )]
    RenderMemoryExceeded {
        /// The memory the browser was seen using.
        used_bytes: u64,
        /// The limit.
        limit_bytes: u64,
    },

    /// The page's script context failed or returned something unreadable.
    #[error("the rendered page could not be read: {reason}")]
    Script {
        /// What the browser reported.
        reason: String,
    },

    /// The static engine's HTTP client could not be built (its TLS backend failed to start).
    #[error("the HTTP client could not be built")]
    ClientBuild {
        /// reqwest's error.
        #[source]
        source: BoxError,
    },

    /// The request was cancelled: its caller went away (a dropped future, Ctrl-C).
    #[error("cancelled before it finished")]
    Cancelled,

    /// A conditional request ([`PageOptions::validators`](crate::PageOptions::validators)) was
    /// answered `304 Not Modified`: the page is as it was, so it was not extracted again.
    #[error("not modified since it was last fetched (HTTP 304)")]
    NotModified,
}

impl FetchError {
    /// What the failure says about the host, for the timeout policy and the circuit breaker.
    pub fn failure_class(&self) -> FailureClass {
        match self {
            FetchError::Network { class, .. } => *class,
            FetchError::HttpStatus { status, .. } => FailureClass::HttpStatus(*status),
            FetchError::AddressNotAllowed { .. } => FailureClass::Blocked,
            FetchError::RenderMemoryExceeded { .. } => FailureClass::ResourceLimit,
            _ => FailureClass::Other,
        }
    }

    pub(crate) fn hint(&self) -> &'static str {
        match self {
            FetchError::InvalidUrl { .. } => "pass an http(s):// or file:// URL, or the path of a local file",
            FetchError::UnsupportedScheme { advice, .. } => advice,
            FetchError::AddressNotAllowed { .. } => {
                "set network.allow_private_addresses (or allow_file_urls) = true if it is intended"
            }
            FetchError::HttpStatus { status, .. } if (400..500).contains(status) => "check the URL",
            FetchError::HttpStatus { .. } => "the server failed; try again later",
            FetchError::NotHtml { .. } => "riptide extracts HTML pages only",
            FetchError::BodyTooLarge { .. } => "raise the executor's max_body_bytes if it must be read",
            FetchError::Timeout { .. } => "retry with a longer deadline, or check that the server answers",
            FetchError::Network { class, .. } => network_hint(*class),
            FetchError::RenderMemoryExceeded { .. } => {
                "raise optimizations.browser_pool.render_memory_limit_mb if the page is legitimate"
            }
            FetchError::Script { .. } => "the page's scripts broke the render; try the static engine",
            FetchError::ClientBuild { .. } => "check the [network] settings and that the system's TLS roots load",
            FetchError::Cancelled => "nothing to do: the caller gave up",
            FetchError::NotModified => "nothing to do: use the copy kept from the last fetch",
        }
    }

    pub(crate) fn code(&self) -> &'static str {
        match self {
            FetchError::InvalidUrl { .. } => "fetch.invalid_url",
            FetchError::UnsupportedScheme { .. } => "fetch.unsupported_scheme",
            FetchError::AddressNotAllowed { .. } => "fetch.address_not_allowed",
            FetchError::HttpStatus { .. } => "fetch.http_status",
            FetchError::NotHtml { .. } => "fetch.not_html",
            FetchError::BodyTooLarge { .. } => "fetch.body_too_large",
            FetchError::Timeout { .. } => "fetch.timeout",
            FetchError::Network { .. } => "fetch.network",
            FetchError::RenderMemoryExceeded { .. } => "fetch.render_memory_exceeded",
            FetchError::Script { .. } => "fetch.script",
            FetchError::ClientBuild { .. } => "fetch.client_build",
            FetchError::Cancelled => "fetch.cancelled",
            FetchError::NotModified => "fetch.not_modified",
        }
    }
}

/// What to do about a network failure of `class`.
pub(crate) fn network_hint(class: FailureClass) -> &'static str {
    match class {
        FailureClass::Dns => "the name does not resolve; check the URL",
        FailureClass::Tls => {
            "the server's certificate is not accepted; check the URL and the server's certificate, or set network.accept_invalid_certs = true for a server you trust"
        }
        FailureClass::Redirect => {
            "the server redirects in a loop or to a scheme riptide does not follow; check the URL"
        }
        FailureClass::ConnectionRefused | FailureClass::ConnectionReset => {
            "check that the server is up and reachable from this machine"
        }
        FailureClass::ResourceLimit => "the page needs more than riptide allows it; raise the limit the message names",
        FailureClass::Blocked => {
            "the address policy refuses it; set network.allow_private_addresses (or allow_file_urls) = true if it is intended"
        }
        FailureClass::HttpStatus(_) | FailureClass::Other => "check the URL and that the server is reachable",
    }
}
