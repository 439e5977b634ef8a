//! The server's routes, and the checks in front of them: the same-site check
//! ([`guard`](super::guard)) and the token. What they share is in [`shared`](super::shared).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde::Deserialize;

use super::SCHEMA_VERSION;
use super::problem::{problem, read_json};
use super::shared::{Shared, WarmUp, busy};
use crate::error::{Error, FetchError};
use crate::executor::{EngineChoice, PageOptions};
use crate::traits::RenderOptions;

impl Shared {
    /// Extracts one page within the request's deadline (counted from `arrived`): its record,
    /// and the status a one-page request answers with.
    async fn page(&self, url: String, options: PageOptions, arrived: Instant) -> (StatusCode, serde_json::Value) {
        let mut stopped = self.stopped.subscribe();
        let work = async {
            let Some(_running) = self.admission.run().await else {
                return Err(Error::from(FetchError::Cancelled).with_url(url.as_str()));
            };
            self.executor.extract_page(&url, options).await
        };
        let left = self.deadline.saturating_sub(arrived.elapsed());
        let result = tokio::select! {
            result = tokio::time::timeout(left, work) => result.unwrap_or_else(|_| {
                Err(Error::from(FetchError::Timeout { deadline: self.deadline }).with_url(url.as_str()))
            }),
            _ = stopped.wait_for(|stopped| *stopped) => Err(Error::from(FetchError::Cancelled).with_url(url.as_str())),
        };
        let (status, mut record) = match result {
            Ok(content) => {
                if let Some(metrics) = &self.metrics {
                    metrics.extracted(content.engine.as_str(), arrived.elapsed().as_secs_f64());
                }
                self.activity.page(Some(arrived.elapsed()));
                let mut record = serde_json::to_value(&content).unwrap_or_default();
                if let (Some(png), Some(fields)) = (&content.screenshot, record.as_object_mut()) {
                    fields.insert("screenshot_png_base64".into(), base64(png).into());
                }
                (StatusCode::OK, record)
            }
            Err(e) => {
                self.activity.page(None);
                (status_of(&e), e.to_record(&url))
            }
        };
        if let Some(fields) = record.as_object_mut() {
            fields.insert("schema_version".into(), SCHEMA_VERSION.into());
        }
        (status, record)
    }
}

/// The status a failed one-page request answers with: whose fault it was. Retries that all
/// ran out of time are a time-out (`504`), as the docs say, whatever the retrier calls them.
fn status_of(e: &Error) -> StatusCode {
    if matches!(
        e.kind(),
        crate::error::ErrorKind::Retry(crate::error::RetryError::Exhausted {
            last: crate::error::LastAttempt::TimedOut(_),
            ..
        })
    ) {
        return StatusCode::GATEWAY_TIMEOUT;
    }
    match e.code() {
        "fetch.invalid_url" | "fetch.unsupported_scheme" => StatusCode::BAD_REQUEST,
        "fetch.address_not_allowed" => StatusCode::FORBIDDEN,
        "fetch.timeout" => StatusCode::GATEWAY_TIMEOUT,
        "fetch.cancelled" | "retry.circuit_open" | "retry.budget_exhausted" => StatusCode::SERVICE_UNAVAILABLE,
        code if code.starts_with("fetch.") || code.starts_with("retry.") => StatusCode::BAD_GATEWAY,
        code if code.starts_with("pool.") || code.starts_with("browser.") => StatusCode::SERVICE_UNAVAILABLE,
        code if code.starts_with("wasm.") => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The routes, the same-site checks ([`guard`](super::guard)) and the token check in front of
/// all but the health checks.
pub(super) fn router(shared: Arc<Shared>) -> axum::Router {
    let guarded = axum::Router::new()
        .route("/v1/extract", post(extract))
        .route("/v1/crawl", post(super::crawl::crawl))
        .route("/v1/crawls", get(super::crawl::list))
        .route("/v1/crawls/{id}", axum::routing::delete(super::crawl::cancel))
        .route("/v1/report", get(report))
        .route("/v1/timeouts", get(timeouts))
        .route("/v1/activity", get(activity))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(shared.clone(), require_token))
        // The console's files need no token: its script asks for one when a route wants it.
        .merge(super::console::routes())
        // Outside the token's check: a page from another site is refused whether or not it
        // knows the token.
        .route_layer(middleware::from_fn_with_state(shared.clone(), same_site));
    axum::Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({ "status": "alive" })) }),
        )
        .route("/readyz", get(ready))
        .merge(guarded)
        .fallback(|| async {
            problem(
                StatusCode::NOT_FOUND,
                "server.not_found",
                "no such route",
                "see `riptide serve --help` for the routes",
            )
        })
        .layer(middleware::from_fn_with_state(shared.clone(), count_request))
        .with_state(shared)
}

/// Counts every answered request by its route (the pattern, not the path) and status.
async fn count_request(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |path| path.as_str())
        .to_string();
    let response = next.run(request).await;
    if let Some(metrics) = &shared.metrics {
        metrics.request(&route, response.status().as_u16());
    }
    response
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let Some(metrics) = &shared.metrics else {
        return problem(
            StatusCode::NOT_FOUND,
            "server.metrics_off",
            "metrics are not exported",
            "this server was started with metrics off (`riptide serve --no-metrics` or `[performance] export_metrics = false`); start it without",
        );
    };
    let text = metrics.render(&shared.executor.report().await, &shared.crawls.totals());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The middleware: `421`, `403` or `415` for what a web page could have sent, else the route.
async fn same_site(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    if let Err(refused) = super::guard::check(&shared.site, request.method(), request.headers()) {
        return refused;
    }
    next.run(request).await
}

async fn require_token(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let Some(token) = &shared.token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|given| same_secret(given.as_bytes(), token.as_bytes())) {
        return next.run(request).await;
    }
    let mut response = problem(
        StatusCode::UNAUTHORIZED,
        "server.unauthorized",
        "a bearer token is required",
        "send `Authorization: Bearer <token>` with the server's token",
    );
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Compares two secrets in time that depends on their lengths only, not on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

async fn ready(State(shared): State<Arc<Shared>>) -> Response {
    let (status, body) = match &*crate::sync::lock(&shared.warm_up) {
        WarmUp::Done => (StatusCode::OK, serde_json::json!({ "status": "ready" })),
        WarmUp::Running => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "status": "warming" }),
        ),
        WarmUp::Failed(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "status": "failed", "error": error }),
        ),
    };
    (status, Json(body)).into_response()
}

async fn report(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.executor.report().await).into_response()
}

async fn timeouts(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.executor.timeout_profiles()).into_response()
}

async fn activity(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.activity.report()).into_response()
}

/// `bytes` in standard base64 (RFC 4648, padded): a screenshot inside a JSON record.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let at = |i: usize| *chunk.get(i).unwrap_or(&0);
        let b = [at(0), at(1), at(2)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The body of `POST /v1/extract`: the page (or pages), and the per-page settings
/// ([`PageOptions`]) that apply to each of them. The render settings are [`RenderOptions`]'s
/// fields, read from the same object, so one added there is accepted here as it is.
#[derive(Debug, Deserialize)]
struct ExtractRequest {
    url: Option<String>,
    urls: Option<Vec<String>>,
    #[serde(default)]
    engine: EngineChoice,
    /// When a rendered page counts as loaded, a selector it waits for, its isolation, a
    /// screenshot.
    #[serde(flatten)]
    render: RenderOptions,
    /// What is none of the above: refused, as `deny_unknown_fields` would (which serde does not
    /// offer beside `flatten`). Declared after `render`, which takes its own fields first.
    #[serde(flatten)]
    unknown: serde_json::Map<String, serde_json::Value>,
    /// Also the Markdown (`markdown`) of the main content.
    markdown: Option<bool>,
    /// Also the cleaned article HTML (`content_html`).
    html: Option<bool>,
    /// The page's time limit in seconds; it can only shorten the server's own.
    timeout_secs: Option<f64>,
}

impl ExtractRequest {
    /// The per-page settings, or what is wrong with them.
    fn options(&self) -> Result<PageOptions, String> {
        if let Some(field) = self.unknown.keys().next() {
            return Err(format!("unknown field `{field}`"));
        }
        let mut options = PageOptions::new().engine(self.engine).render(self.render.clone());
        options.markdown = self.markdown;
        options.content_html = self.html;
        if let Some(secs) = self.timeout_secs {
            match Duration::try_from_secs_f64(secs) {
                Ok(limit) if !limit.is_zero() => options.time_limit = Some(limit),
                _ => {
                    return Err(format!(
                        "timeout_secs must be a number of seconds above zero, not {secs}"
                    ));
                }
            }
        }
        if let Some(selector) = &self.render.wait_for
            && selector.trim().is_empty()
        {
            return Err("wait_for must be a CSS selector, not an empty string".into());
        }
        Ok(options)
    }
}

/// `POST /v1/extract`.
async fn extract(State(shared): State<Arc<Shared>>, body: Result<Bytes, BytesRejection>) -> Response {
    let arrived = Instant::now();
    let shape = format!(
        r#"send JSON: {{"url": "https://..."}} or {{"urls": [...]}}, optionally with "engine" ("auto", "static" or "headless"), {}, "markdown", "html" and "timeout_secs""#,
        RenderOptions::WIRE_FIELDS
    );
    let request: ExtractRequest = match read_json(body, &shape) {
        Ok(request) => request,
        Err(answer) => return answer,
    };
    let options = match request.options() {
        Ok(options) => options,
        Err(wrong) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "server.invalid_request",
                &format!("the request is not valid: {wrong}"),
                &shape,
            );
        }
    };
    if let Some(urls) = &request.urls
        && urls.len() > shared.max_batch_urls
    {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "server.batch_too_large",
            &format!(
                "the batch names {} URLs; this server takes at most {} per request",
                urls.len(),
                shared.max_batch_urls
            ),
            "split the batch, or raise `[server] max_batch_urls` on the server",
        );
    }
    let Some(admitted) = shared.admission.admit() else {
        return busy(&shared);
    };
    match (request.url, request.urls) {
        (Some(url), None) => {
            let (status, record) = shared.page(url, options, arrived).await;
            drop(admitted);
            (status, Json(record)).into_response()
        }
        (None, Some(urls)) => {
            // One line per page as it finishes. The stream owns the admission permit: the
            // request counts until its last line, and dropping the stream (the client left)
            // drops the pages still running.
            let in_flight = shared.admission.in_flight();
            let lines = futures_util::stream::iter(urls)
                .map(move |url| {
                    let (shared, options) = (shared.clone(), options.clone());
                    async move { shared.page(url, options, arrived).await.1 }
                })
                .buffer_unordered(in_flight)
                .map(move |record| {
                    let _held = &admitted;
                    let mut line = serde_json::to_vec(&record).unwrap_or_default();
                    line.push(b'\n');
                    Ok::<_, std::convert::Infallible>(Bytes::from(line))
                });
            Response::builder()
                .header(header::CONTENT_TYPE, "application/x-ndjson")
                .body(Body::from_stream(lines))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        _ => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "server.invalid_request",
            "give either `url` or `urls`",
            r#"send {"url": "https://..."} for one page, {"urls": [...]} for several"#,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::{base64, same_secret, status_of};

    #[test]
    fn base64_is_rfc_4648() {
        for (bytes, encoded) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
            (&[0xff, 0xfe, 0x00], "//4A"),
        ] {
            assert_eq!(base64(bytes), encoded);
        }
    }
    use crate::error::{Error, LastAttempt, RetryError};

    /// Issue 28, item 10: pages whose every attempt timed out were answered `502`.
    #[test]
    fn retries_that_all_timed_out_answer_504() {
        let timed_out = Error::from(RetryError::Exhausted {
            target: "example.com (static)".into(),
            attempts: 2,
            elapsed: std::time::Duration::from_secs(3),
            last: LastAttempt::TimedOut(std::time::Duration::from_secs(2)),
            last_error: None,
            why: "no time left",
        });
        assert_eq!(status_of(&timed_out).as_u16(), 504);
        let failed = Error::from(RetryError::Exhausted {
            target: "example.com (static)".into(),
            attempts: 2,
            elapsed: std::time::Duration::from_secs(3),
            last: LastAttempt::Failed(crate::traits::FailureClass::HttpStatus(503)),
            last_error: None,
            why: "no time left",
        });
        assert_eq!(status_of(&failed).as_u16(), 502);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cret", b"s3creT"));
        assert!(!same_secret(b"s3cret", b"s3cre"));
        assert!(!same_secret(b"", b"x"));
    }
}
