//! The static engine's fetch: one HTTP GET with a bounded body, or a bounded file read.
//!
//! One attempt only; the executor runs it under the retry helper. Failures are classified for the
//! timeout policy and the circuit breaker (DNS, refused, reset, TLS, HTTP status), so a host that
//! does not exist is never retried and a refused connection never counts as a latency. The class
//! comes from the types in reqwest's chain of causes (riptide's own resolver error, the OS error's
//! kind, reqwest's own predicates), never from an error message.

use std::path::Path;

use reqwest::header::{CONTENT_LANGUAGE, CONTENT_LENGTH, CONTENT_TYPE};
use url::Url;

use crate::charset::decode_html;
use crate::error::FetchError;
use crate::network::GivenCookies;
use crate::policies::AttemptFailure;
use crate::traits::FailureClass;

/// The static engine's HTTP client: `[network] headers` and `cookies` on every request (the
/// cookies matched to each URL; none a server sets are kept), through `[network] proxy` when
/// one is set, certificates verified unless `[network] accept_invalid_certs` says otherwise,
/// connections given up after `connect_timeout`, and `addresses` enforced on every resolution
/// and redirect.
///
/// Behind a proxy the client resolves only the proxy's name (the user named it, so the address
/// policy lets it through); the proxy resolves the pages'. The executor then checks each page's
/// host itself ([`Executor`](crate::Executor)), and redirects are checked by resolving their
/// hosts here.
pub(crate) fn http_client(
    user_agent: &str,
    connect_timeout: std::time::Duration,
    network: &crate::config::NetworkConfig,
    addresses: crate::network::AddressPolicy,
) -> crate::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in &network.headers {
        let bad = |why: String| crate::Error::config("network.headers", "the configuration", why);
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| bad(format!("`{name}` is not a valid header name")))?;
        let value = reqwest::header::HeaderValue::from_str(value)
            .map_err(|_| bad(format!("the value of `{name}` is not a valid header value")))?;
        headers.insert(name, value);
    }
    let proxy = network.proxy_server()?;
    let mut resolving = addresses.clone();
    if let Some(proxy) = &proxy {
        resolving.allowed_hosts.push(proxy.host().to_string());
    }
    let mut builder = reqwest::Client::builder()
        .user_agent(user_agent)
        .default_headers(headers)
        .connect_timeout(connect_timeout)
        .dns_resolver(crate::network::address_guard::GuardedResolver(resolving));
    if let Some(cookies) = GivenCookies::new(&network.request_cookies()?) {
        builder = builder.cookie_provider(std::sync::Arc::new(cookies));
    }
    if let Some(proxy) = &proxy {
        builder = builder.proxy(proxy.for_reqwest()?);
    }
    if addresses.restricts() {
        builder = builder.redirect(crate::network::address_guard::redirect_policy(
            addresses,
            proxy.is_some(),
        ));
    }
    // Without a TLS backend there is no certificate to accept.
    #[cfg(feature = "rustls")]
    let builder = builder.tls_danger_accept_invalid_certs(network.accept_invalid_certs);
    builder
        .build()
        .map_err(|e| FetchError::ClientBuild { source: Box::new(e) }.into())
}

/// The `User-Agent` static fetches send: `[network] user_agent`, else `riptide/<version>`.
pub(crate) fn configured_user_agent(config: &crate::config::RiptideConfig) -> String {
    config
        .network
        .user_agent
        .clone()
        .unwrap_or_else(|| format!("riptide/{}", env!("CARGO_PKG_VERSION")))
}

/// What one fetch attempt produced (failures that merit a retry are `AttemptFailure`s).
#[derive(Debug)]
pub(crate) enum HttpReply {
    /// An HTML page, where it finally came from, and its `Content-Language` header (the first
    /// language named, when it names several).
    Page {
        html: String,
        final_url: Url,
        content_language: Option<String>,
        /// The `X-Robots-Tag` headers, one per line.
        x_robots_tag: Option<String>,
        /// The `ETag` and `Last-Modified` headers.
        validators: Option<super::page_options::Validators>,
    },
    /// `304 Not Modified` to a conditional request.
    NotModified,
    /// The server answered with this non-HTML content type.
    NotHtml(String),
    /// The body is larger than the limit.
    TooLarge,
}

/// GETs `url`, reading at most `limit` bytes of body; conditionally when `validators` are
/// given.
pub(crate) async fn fetch_http(
    client: &reqwest::Client,
    url: &Url,
    limit: usize,
    validators: Option<&super::page_options::Validators>,
) -> Result<HttpReply, AttemptFailure> {
    let mut request = client.get(url.clone());
    if let Some(v) = validators {
        if let Some(etag) = &v.etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        if let Some(date) = &v.last_modified {
            request = request.header(reqwest::header::IF_MODIFIED_SINCE, date);
        }
    }
    let mut response = request.send().await.map_err(classify)?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_MODIFIED && validators.is_some() {
        return Ok(HttpReply::NotModified);
    }
    if status.is_redirection() {
        // A redirect the client did not follow: to a scheme it refuses (`file:`), or with no
        // usable Location. Another attempt gets the same answer.
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(no Location)");
        let why = format!("HTTP {} to {location}, not followed", status.as_u16());
        let class = FailureClass::Redirect;
        return Err(AttemptFailure::new(class).with_error(FetchError::Network {
            class,
            source: why.into(),
        }));
    }
    if !status.is_success() {
        return Err(FetchError::HttpStatus {
            status: status.as_u16(),
            retry_after: retry_after(response.headers()),
        }
        .into());
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(ct) = &content_type
        && !is_html(ct)
    {
        return Ok(HttpReply::NotHtml(ct.clone()));
    }
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Ok(HttpReply::TooLarge);
    }
    let final_url = response.url().clone();
    let content_language = response
        .headers()
        .get(CONTENT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    // One line per header: each may name its own crawler (`googlebot: noindex`).
    let x_robots_tag = joined_header(response.headers(), "x-robots-tag", "\n");
    let validators = super::page_options::Validators::new(
        joined_header(response.headers(), "etag", ", "),
        joined_header(response.headers(), "last-modified", ", "),
    );
    let mut body = Vec::with_capacity(declared.map_or(64 << 10, |n| n as usize));
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > limit {
            return Ok(HttpReply::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(HttpReply::Page {
        html: decode_html(&body, content_type.as_deref()),
        final_url,
        content_language,
        x_robots_tag,
        validators,
    })
}

/// The `Retry-After` header as a wait: seconds, or an HTTP date from now (one in the past is
/// no wait). `None` when there is none or it cannot be read.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<std::time::Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(std::time::Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(std::time::SystemTime::now()).unwrap_or_default())
}

/// Every value of header `name`, joined with `separator`; `None` when there is none.
fn joined_header(headers: &reqwest::header::HeaderMap, name: &str, separator: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    (!values.is_empty()).then(|| values.join(separator))
}

/// Reads a local file of at most `limit` bytes.
pub(crate) fn read_file(path: &Path, limit: usize) -> std::io::Result<Option<String>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut body = Vec::new();
    file.take(limit as u64 + 1).read_to_end(&mut body)?;
    if body.len() > limit {
        return Ok(None);
    }
    Ok(Some(decode_html(&body, None)))
}

fn is_html(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    matches!(mime.as_str(), "text/html" | "application/xhtml+xml" | "")
}

/// Maps a reqwest failure to what it says about the host, keeping the error as the source.
fn classify(e: reqwest::Error) -> AttemptFailure {
    use crate::network::address_guard::{Refused, ResolveFailed, causes, find_in_chain};
    use std::io::ErrorKind;
    if let Some(refused) = find_in_chain::<Refused>(&e) {
        return FetchError::AddressNotAllowed {
            reason: refused.to_string(),
        }
        .into();
    }
    let io_kinds: Vec<ErrorKind> = causes(&e)
        .into_iter()
        .filter_map(|c| c.downcast_ref::<std::io::Error>().map(std::io::Error::kind))
        .collect();
    let io_kind = |kind: ErrorKind| io_kinds.contains(&kind);
    let class = if e.is_redirect() {
        FailureClass::Redirect
    } else if find_in_chain::<ResolveFailed>(&e).is_some() {
        FailureClass::Dns
    } else if io_kind(ErrorKind::ConnectionRefused) {
        FailureClass::ConnectionRefused
    } else if io_kind(ErrorKind::ConnectionReset) || io_kind(ErrorKind::ConnectionAborted) {
        FailureClass::ConnectionReset
    } else if e.is_connect() && io_kind(ErrorKind::InvalidData) {
        // rustls reports a refused certificate or a failed handshake as invalid data while
        // connecting (tokio-rustls wraps every rustls::Error so).
        FailureClass::Tls
    } else if e.is_connect() {
        FailureClass::ConnectionRefused
    } else if e.is_body() || e.is_decode() || e.is_request() {
        FailureClass::ConnectionReset
    } else {
        FailureClass::Other
    };
    AttemptFailure::new(class).with_error(FetchError::Network {
        class,
        source: Box::new(e),
    })
}

#[cfg(test)]
mod tests {
    use super::retry_after;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
    use std::time::Duration;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).expect("a header value"));
        headers
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(retry_after(&with("120")), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after(&with("Sun, 06 Nov 1994 08:49:37 GMT")),
            Some(Duration::ZERO),
            "past"
        );
        let later = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3600));
        let wait = retry_after(&with(&later)).expect("a date");
        assert!(
            wait > Duration::from_secs(3500) && wait <= Duration::from_secs(3600),
            "{wait:?}"
        );
        assert_eq!(retry_after(&with("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }
}
