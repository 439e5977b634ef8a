//! `POST /v1/crawl` and `GET /v1/crawls`: the crawler behind the server's executor.
//!
//! A crawl streams its pages back as NDJSON while it runs, on the same warm executor as
//! `/v1/extract`, under the same address policy (every discovered URL and every redirect is
//! checked when it is fetched, robots.txt and sitemaps included), with its pages capped by
//! `[server] max_crawl_pages`. The client going away drops the response stream, and with it the
//! crawl and its fetches. A service crawl keeps its state in memory: it is not resumed.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;

use super::SCHEMA_VERSION;
use super::problem::{problem, read_json};
use super::shared::{Shared, busy};
use crate::crawl::{CrawlEvent, CrawlOptions, Crawler, Scope};
use crate::executor::{EngineChoice, PageOptions};

/// Ends a crawl's entry when its response stream goes, however it goes.
struct Registered {
    crawls: Arc<Shared>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.crawls.crawls.end(self.id);
    }
}

/// The body of `POST /v1/crawl`. robots.txt is always obeyed by a service's crawls.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CrawlRequest {
    seeds: Vec<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    max_depth: Option<u32>,
    max_pages: Option<u64>,
    max_duration_secs: Option<f64>,
    concurrency: Option<usize>,
    per_host: Option<u32>,
    delay_ms: Option<u64>,
    #[serde(default)]
    engine: EngineChoice,
    sitemaps: Option<bool>,
    markdown: Option<bool>,
    html: Option<bool>,
}

const SHAPE: &str = r#"send JSON: {"seeds": ["https://..."]}, optionally with "scope" ("host", "domain", "prefix"), "include" and "exclude" (regular expressions), "max_depth", "max_pages", "max_duration_secs", "concurrency", "per_host", "delay_ms", "engine" ("auto", "static", "headless"), "sitemaps", "markdown" and "html""#;

impl CrawlRequest {
    /// The crawl's options within the server's limits, or what is wrong with the request.
    fn options(&self, max_pages: u64, max_concurrency: usize) -> Result<CrawlOptions, String> {
        if self.seeds.is_empty() {
            return Err("seeds must name at least one URL".into());
        }
        let scope = match self.scope.as_deref() {
            None => Scope::Host,
            Some(name) => name.parse::<Scope>().map_err(|e| e.to_string())?,
        };
        let mut options = CrawlOptions::new()
            .name("service")
            .scope(scope)
            .engine(self.engine)
            .max_pages(self.max_pages.unwrap_or(max_pages).min(max_pages))
            .concurrency(self.concurrency.unwrap_or(8).min(max_concurrency))
            .per_host(self.per_host.unwrap_or(2))
            .delay(Duration::from_millis(self.delay_ms.unwrap_or(0)))
            .sitemaps(self.sitemaps.unwrap_or(true))
            .page(PageOptions {
                markdown: self.markdown,
                content_html: self.html,
                ..PageOptions::default()
            });
        options.include.clone_from(&self.include);
        options.exclude.clone_from(&self.exclude);
        if let Some(depth) = self.max_depth {
            options = options.max_depth(depth);
        }
        if let Some(secs) = self.max_duration_secs {
            match Duration::try_from_secs_f64(secs) {
                Ok(limit) if !limit.is_zero() => options = options.max_duration(limit),
                _ => {
                    return Err(format!(
                        "max_duration_secs must be a number of seconds above zero, not {secs}"
                    ));
                }
            }
        }
        Ok(options)
    }
}

/// `POST /v1/crawl`: one NDJSON line per emitted page or failed URL, as they come, then a last
/// line `{"report": {...}}`.
pub(super) async fn crawl(State(shared): State<Arc<Shared>>, body: Result<Bytes, BytesRejection>) -> Response {
    let request: CrawlRequest = match read_json(body, SHAPE) {
        Ok(request) => request,
        Err(answer) => return answer,
    };
    let options = match request.options(shared.max_crawl_pages, shared.admission.in_flight()) {
        Ok(options) => options,
        Err(wrong) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "server.invalid_request",
                &format!("the request is not valid: {wrong}"),
                SHAPE,
            );
        }
    };
    let Some(admitted) = shared.admission.admit() else {
        return busy(&shared);
    };
    let crawl = match Crawler::new(shared.executor.clone(), options).start(request.seeds.clone()) {
        Ok(crawl) => crawl,
        Err(e) => {
            return problem(StatusCode::UNPROCESSABLE_ENTITY, e.code(), &format!("{e:#}"), e.hint());
        }
    };
    let handle = crawl.handle();
    let registered = Registered {
        id: shared.crawls.start(request.seeds, handle.clone()),
        crawls: shared.clone(),
    };
    let mut stopped = shared.stopped.subscribe();
    let stop = async move {
        let _ = stopped.wait_for(|stopped| *stopped).await;
    };
    let lines = crawl
        .take_until(Box::pin(stop))
        .map({
            let shared = shared.clone();
            move |event| match event {
                CrawlEvent::Page(page) => {
                    shared.activity.page(Some(page.content.timings.total));
                    page.to_record()
                }
                CrawlEvent::Failed(failure) => {
                    shared.activity.page(None);
                    failure.to_record()
                }
                CrawlEvent::Unchanged(page) => page.to_record(),
            }
        })
        .chain(futures_util::stream::once(async move {
            serde_json::json!({ "report": handle.report() })
        }))
        .map(move |mut record| {
            // The stream owns the admission permit and the crawl's entry: both last until
            // its last line, or until the client goes away and the stream is dropped.
            let _held = (&admitted, &registered);
            if let Some(fields) = record.as_object_mut() {
                fields.insert("schema_version".into(), SCHEMA_VERSION.into());
            }
            let mut line = serde_json::to_vec(&record).unwrap_or_default();
            line.push(b'\n');
            Ok::<_, std::convert::Infallible>(Bytes::from(line))
        });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from_stream(lines))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `GET /v1/crawls`: the crawls running now, each with its live report.
pub(super) async fn list(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.crawls.list()).into_response()
}

/// `DELETE /v1/crawls/{id}`: stops a running crawl; its stream ends with its report.
pub(super) async fn cancel(State(shared): State<Arc<Shared>>, Path(id): Path<u64>) -> Response {
    match shared.crawls.handle(id) {
        Some(handle) => {
            handle.cancel();
            (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({ "id": id, "status": "cancelling" })),
            )
                .into_response()
        }
        None => problem(
            StatusCode::NOT_FOUND,
            "server.no_such_crawl",
            &format!("no crawl {id} is running"),
            "GET /v1/crawls lists the running crawls",
        ),
    }
}
