//! `riptide::server` (issue 11): the real server on an ephemeral port, a real HTTP client
//! (reqwest), real pages on 127.0.0.1, a real executor (reqwest, wasmtime). These tests use the
//! static engine; the headless one is the executor's, tested in `tests/integration/executor.rs`.
#![cfg(all(feature = "server", feature = "wasmtime"))]

use crate::{common, support};

use std::time::Duration;

use riptide::backends::no_browser::NoBrowser;
use riptide::server::{Server, ServerOptions};
use riptide::{BoxExecutor, RiptideConfig};
use support::Server as Pages;

/// A static-only executor whose address policy is the server's (no files, no private
/// addresses) except for the test pages' host, `127.0.0.1`; `localhost` stays refused.
fn executor(request_timeout_secs: u64) -> BoxExecutor {
    executor_with_cache(request_timeout_secs, common::shared_module_cache())
}

/// [`executor`] with its own module cache, for a test that counts compilations.
fn executor_with_cache(request_timeout_secs: u64, cache: common::SharedModuleCache) -> BoxExecutor {
    let mut c = RiptideConfig::default();
    c.network.allow_file_urls = false;
    c.network.allow_private_addresses = false;
    c.network.allowed_hosts = vec!["127.0.0.1".into()];
    let t = &mut c.optimizations.adaptive_timeout;
    (t.default_timeout_secs, t.max_timeout_secs, t.max_retries) = (request_timeout_secs, request_timeout_secs, 0);
    c.optimizations.browser_pool.enabled = false;
    common::executor_builder_with_cache(NoBrowser, c, cache)
        .build()
        .expect("executor")
        .boxed()
}

struct Running {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<riptide::Result<()>>,
    client: reqwest::Client,
}

impl Running {
    async fn start(executor: BoxExecutor, options: ServerOptions) -> Self {
        let server = Server::bind(executor, options).await.expect("binds");
        let base = format!("http://{}", server.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            stop: Some(stop),
            task,
            client: reqwest::Client::new(),
        }
    }

    async fn post(&self, body: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let response = self
            .client
            .post(format!("{}/v1/extract", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("the server answers");
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (status, headers, response.bytes().await.expect("a body").to_vec())
    }

    async fn get_text(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("a body"))
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("a body");
        (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let ended = tokio::time::timeout(Duration::from_secs(30), self.task).await;
        ended
            .expect("the server stops")
            .expect("task")
            .expect("serve ends cleanly");
    }
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("JSON ({e}): {}", String::from_utf8_lossy(body)))
}

fn options() -> ServerOptions {
    ServerOptions::listen("127.0.0.1:0".parse().expect("address"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_page_is_answered_as_the_cli_prints_it() {
    let pages = Pages::start();
    let server = Running::start(executor(10), options()).await;
    let (status, _, body) = server
        .post(&format!(r#"{{"url": "{}", "engine": "static"}}"#, pages.url("/page/1")))
        .await;
    let record = json(&body);
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["schema_version"], 1);
    assert_eq!(record["engine"], "static");
    assert_eq!(record["title"], "page 1", "{record}");
    assert!(
        record["text"].as_str().is_some_and(|t| t.contains("Text of page 1")),
        "{record}"
    );
    server.stop().await;
}

/// The per-page settings of a request apply to its pages, and to no other request's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_page_settings_apply_to_their_request_only() {
    let pages = Pages::start();
    let server = Running::start(executor(10), options()).await;
    let url = pages.url("/page/1");
    let (status, _, body) = server
        .post(&serde_json::json!({ "url": url, "markdown": false, "html": true }).to_string())
        .await;
    let record = json(&body);
    assert_eq!(status, 200, "{record}");
    assert!(record["markdown"].is_null(), "{record}");
    assert!(
        record["content_html"]
            .as_str()
            .is_some_and(|h| h.contains("Text of page 1")),
        "{record}"
    );
    let (_, _, body) = server.post(&serde_json::json!({ "url": url }).to_string()).await;
    let record = json(&body);
    assert!(record["markdown"].is_string(), "the server's own settings: {record}");
    assert!(record["content_html"].is_null(), "{record}");

    // The server gives a hanging page 10 s; this request gives it half a second.
    let (_, _, body) = server
        .post(&serde_json::json!({ "url": pages.url("/hang"), "timeout_secs": 0.5 }).to_string())
        .await;
    let record = json(&body);
    let message = record["error"].as_str().unwrap_or_default();
    let waited = message
        .split("timed out after ")
        .nth(1)
        .and_then(|rest| rest.split("ms").next())
        .and_then(|ms| ms.parse::<f64>().ok());
    assert!(
        waited.is_some_and(|ms| ms <= 500.0),
        "the attempt was cut to the request's limit: {record}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_streams_one_line_per_page_failures_included() {
    let pages = Pages::start();
    let server = Running::start(executor(10), options()).await;
    let urls = [pages.url("/page/1"), pages.url("/page/2"), pages.url("/missing")];
    let (status, headers, body) = server.post(&serde_json::json!({ "urls": urls }).to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/x-ndjson");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&body)
        .lines()
        .map(|l| json(l.as_bytes()))
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let mut answered: Vec<&str> = lines.iter().filter_map(|l| l["url"].as_str()).collect();
    answered.sort_unstable();
    let mut asked: Vec<&str> = urls.iter().map(String::as_str).collect();
    asked.sort_unstable();
    assert_eq!(answered, asked, "each page once");
    let failed = lines
        .iter()
        .find(|l| l["url"] == urls[2].as_str())
        .expect("the missing page");
    assert_eq!(failed["error_kind"], "fetch.http_status", "{failed}");
    assert!(failed["hint"].as_str().is_some_and(|h| !h.is_empty()), "{failed}");
    assert!(lines.iter().all(|l| l["schema_version"] == 1));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_and_refused_pages_say_what_was_wrong() {
    let pages = Pages::start();
    let server = Running::start(executor(10), options()).await;
    for (body, status, kind) in [
        ("{not json".to_string(), 400, "server.invalid_request"),
        (
            r#"{"url": "http://a/", "colour": "red"}"#.to_string(),
            422,
            "server.invalid_request",
        ),
        (
            r#"{"url": "http://a/", "urls": ["http://b/"]}"#.to_string(),
            422,
            "server.invalid_request",
        ),
        (r#"{}"#.to_string(), 422, "server.invalid_request"),
        (
            r#"{"url": "http://a/", "timeout_secs": -1}"#.to_string(),
            422,
            "server.invalid_request",
        ),
        (
            r#"{"url": "http://a/", "wait_for": " "}"#.to_string(),
            422,
            "server.invalid_request",
        ),
        (
            r#"{"url": "http://a/", "wait_until": "whenever"}"#.to_string(),
            422,
            "server.invalid_request",
        ),
        (
            r#"{"url": "ftp://example.com/"}"#.to_string(),
            400,
            "fetch.unsupported_scheme",
        ),
        (
            r#"{"url": "file:///etc/passwd"}"#.to_string(),
            403,
            "fetch.address_not_allowed",
        ),
        (
            format!(
                r#"{{"url": "{}"}}"#,
                pages.url("/page/1").replace("127.0.0.1", "localhost")
            ),
            403,
            "fetch.address_not_allowed",
        ),
        (
            format!(r#"{{"url": "{}"}}"#, pages.url("/missing")),
            502,
            "fetch.http_status",
        ),
    ] {
        let (got, _, answer) = server.post(&body).await;
        let answer = json(&answer);
        assert_eq!(
            (got, answer["error_kind"].as_str()),
            (status, Some(kind)),
            "{body}: {answer}"
        );
        assert!(answer["hint"].as_str().is_some_and(|h| !h.is_empty()), "{answer}");
    }
    let (status, _) = server.get("/no/such/route", None).await;
    assert_eq!(status, 404);
    server.stop().await;
}

/// Past `max_in_flight + max_queued`, a request is answered at once with `429` and
/// `Retry-After`; the one in flight still gets its answer (a time-out, at its deadline).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_queue_a_request_gets_429_with_retry_after() {
    let pages = std::sync::Arc::new(Pages::start());
    let mut o = options();
    (o.max_in_flight, o.max_queued, o.request_deadline) = (1, 0, Duration::from_secs(3));
    // With the extractor compiled first, the last page's 3 s cover its fetch alone.
    let warm = executor(30);
    warm.warm_up().await.expect("the extractor compiles");
    let server = std::sync::Arc::new(Running::start(warm, o).await);
    let hanging = {
        let (server, url) = (server.clone(), pages.url("/hang"));
        tokio::spawn(async move { server.post(&format!(r#"{{"url": "{url}"}}"#)).await })
    };
    let waiter = pages.clone();
    tokio::task::spawn_blocking(move || waiter.wait_for_hangs(1))
        .await
        .expect("the first request runs");
    let (status, headers, body) = server.post(&format!(r#"{{"url": "{}"}}"#, pages.url("/page/1"))).await;
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(json(&body)["error_kind"], "server.busy");
    let (status, _, body) = hanging.await.expect("task");
    assert_eq!(status, 504, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["error_kind"], "fetch.timeout");
    // The slot is free again.
    let (status, _, body) = server.post(&format!(r#"{{"url": "{}"}}"#, pages.url("/page/2"))).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

/// A client that goes away takes its work with it: the slot it held is free long before the
/// page's deadline, and the request queued behind it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_frees_its_slot() {
    let pages = std::sync::Arc::new(Pages::start());
    let mut o = options();
    (o.max_in_flight, o.max_queued, o.request_deadline) = (1, 1, Duration::from_secs(60));
    let server = Running::start(executor(60), o).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let gave_up = impatient
        .post(format!("{}/v1/extract", server.base))
        .header("content-type", "application/json")
        .body(format!(r#"{{"url": "{}"}}"#, pages.url("/hang")))
        .send()
        .await;
    assert!(gave_up.is_err(), "the client timed out");
    // Queued behind the only slot: answered only once the slot is free, which the page that
    // was left would hold for 60 s.
    let body = format!(r#"{{"url": "{}"}}"#, pages.url("/page/1"));
    let (status, _, body) = tokio::time::timeout(Duration::from_secs(20), server.post(&body))
        .await
        .expect("the slot was freed long before the page's deadline");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_everything_but_the_health_checks() {
    let mut o = options();
    o.token = Some("s3cret".into());
    let server = Running::start(executor(10), o).await;
    let (status, body) = server.get("/v1/report", None).await;
    assert_eq!(
        (status, body["error_kind"].as_str()),
        (401, Some("server.unauthorized")),
        "{body}"
    );
    let (status, _) = server.get("/v1/report", Some("wrong")).await;
    assert_eq!(status, 401);
    let (status, body) = server.get("/v1/report", Some("s3cret")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("extraction").is_some(), "{body}");
    let (status, body) = server.get("/healthz", None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("alive")));
    server.stop().await;
}

#[tokio::test]
async fn listening_beyond_loopback_needs_a_token() {
    let e = Server::bind(
        executor(10),
        ServerOptions::listen("0.0.0.0:0".parse().expect("address")),
    )
    .await
    .expect_err("refused");
    assert_eq!(e.code(), "config.invalid", "{e:#}");
    assert!(e.to_string().contains("server.token"), "{e:#}");
    let taken = Running::start(executor(10), options()).await;
    let port: std::net::SocketAddr = taken.base.trim_start_matches("http://").parse().expect("address");
    let e = Server::bind(executor(10), ServerOptions::listen(port))
        .await
        .expect_err("in use");
    assert_eq!(e.code(), "server.listen", "{e:#}");
    taken.stop().await;
}

/// `/readyz` says when the warm-up is done; `/v1/report` and `/v1/timeouts` report what was
/// learned from the pages served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_report_and_timeouts() {
    let pages = Pages::start();
    let executor = executor(10);
    let server = Running::start(executor.clone(), options()).await;
    let (status, body) = server.get("/readyz", None).await;
    assert!(
        (status, body["status"].as_str()) == (503, Some("warming"))
            || (status, body["status"].as_str()) == (200, Some("ready")),
        "{status} {body}"
    );
    // The server's warm-up and this one share the compile (single-flight): once this one is
    // done, the server's finishes at its next turn.
    executor.warm_up().await.expect("warms up");
    let started = std::time::Instant::now();
    loop {
        let (status, body) = server.get("/readyz", None).await;
        if status == 200 {
            assert_eq!(body["status"], "ready");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not ready after warming: {body}"
        );
        tokio::task::yield_now().await;
    }
    for n in 1..=3 {
        let (status, _, _) = server
            .post(&format!(r#"{{"url": "{}"}}"#, pages.url(&format!("/page/{n}"))))
            .await;
        assert_eq!(status, 200);
    }
    let (status, report) = server.get("/v1/report", None).await;
    assert_eq!(status, 200);
    assert_eq!(report["extraction"]["succeeded"], 3, "{report}");
    let (status, profiles) = server.get("/v1/timeouts", None).await;
    assert_eq!(status, 200);
    assert_eq!(profiles[0]["host"], "127.0.0.1", "{profiles}");
    assert_eq!(profiles[0]["samples"], 3, "{profiles}");
    // The console's chart: the last five minutes in 5 s buckets, these three pages in them.
    let (status, activity) = server.get("/v1/activity", None).await;
    assert_eq!(status, 200, "{activity}");
    assert_eq!(activity["bucket_secs"], 5, "{activity}");
    let buckets = activity["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 60, "{activity}");
    let pages: u64 = buckets.iter().filter_map(|b| b["pages"].as_u64()).sum();
    assert_eq!(pages, 3, "{activity}");
    assert!(
        buckets
            .iter()
            .filter(|b| b["pages"] != 0)
            .all(|b| b["p50_ms"].as_f64().is_some_and(|ms| ms > 0.0) && b["pages_per_sec"].as_f64() > Some(0.0)),
        "{activity}"
    );
    server.stop().await;
}

/// `GET /metrics` in the Prometheus text format, on by default and off when turned off
/// (`[performance] export_metrics`): the server's requests and latencies, and the executor's
/// report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_exported_unless_turned_off() {
    assert!(ServerOptions::default().metrics, "on by default (issue 27, item 5)");
    assert!(riptide::RiptideConfig::default().performance.export_metrics);
    let pages = Pages::start();
    let mut o = options();
    o.metrics = false;
    let off = Running::start(executor(10), o).await;
    let (status, body) = off.get("/metrics", None).await;
    assert_eq!(
        (status, body["error_kind"].as_str()),
        (404, Some("server.metrics_off")),
        "{body}"
    );
    off.stop().await;

    let server = Running::start(executor_with_cache(10, Default::default()), options()).await;
    let (status, _, _) = server.post(&format!(r#"{{"url": "{}"}}"#, pages.url("/page/1"))).await;
    assert_eq!(status, 200);
    let (status, _, _) = server.post(&format!(r#"{{"url": "{}"}}"#, pages.url("/missing"))).await;
    assert_eq!(status, 502);
    let response = server
        .client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("application/openmetrics-text")),
        "{:?}",
        response.headers()
    );
    let text = response.text().await.expect("text");
    for line in [
        r#"riptide_http_requests_total{route="/v1/extract",status="200"} 1"#,
        r#"riptide_http_requests_total{route="/v1/extract",status="502"} 1"#,
        r#"riptide_extraction_duration_seconds_count{engine="static"} 1"#,
        r#"riptide_pages_total{result="succeeded"} 1"#,
        r#"riptide_pages_total{result="failed"} 1"#,
        r#"riptide_timeout_attempts_total{engine="static",outcome="success"} 1"#,
        r#"riptide_timeout_attempts_total{engine="headless",outcome="success"} 0"#,
        r#"riptide_timeout_wasted_wait_seconds{engine="static"} 0.0"#,
        r#"riptide_wasm_cache_compilations_total 1"#,
        "# EOF",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
    }
    server.stop().await;
}

/// A site for crawls: `/k` links to `/2k+1` and `/2k+2` below `n`, `/leak` redirects to `elsewhere`.
fn crawl_site(n: u64, elsewhere: String) -> support::local_server::LocalServer {
    use support::local_server::{LocalServer, Reply};
    let elsewhere: &'static str = Box::leak(elsewhere.into_boxed_str());
    LocalServer::start(move |target| {
        if target == "/leak" {
            return Reply::Redirect(elsewhere);
        }
        let Ok(k) = target.trim_start_matches('/').parse::<u64>() else {
            return Reply::NotFound;
        };
        let mut links: String = [2 * k + 1, 2 * k + 2]
            .iter()
            .filter(|c| **c < n)
            .map(|c| format!("<a href=\"/{c}\">page {c}</a> "))
            .collect();
        if k == 0 {
            links.push_str("<a href=\"/leak\">leak</a>");
        }
        Reply::Html(format!(
            "<html><head><title>Node {k}</title></head><body><article><p>Node {k} has a paragraph of \
             its own, long enough to be its content.</p></article>{links}</body></html>"
        ))
    })
    .expect("bind 127.0.0.1")
}

impl Running {
    /// `POST /v1/crawl` with `body`: the status and the response, to read line by line.
    async fn crawl(&self, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/crawl", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("the server answers")
    }
}

fn ndjson(body: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(body)
        .lines()
        .map(|l| json(l.as_bytes()))
        .collect()
}

/// Issue 25, item 12: a crawl through the server streams NDJSON, the server's address policy
/// refuses a redirect to another address, and the server's page cap holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawl_streams_its_pages_within_the_servers_policy_and_cap() {
    use support::local_server::{LocalServer, Reply};
    let secret = LocalServer::start_on([127, 0, 0, 2].into(), |_| Reply::Html("<p>secret</p>".into())).expect("bind");
    let site = crawl_site(15, secret.url("/secret"));
    let mut o = options();
    o.max_crawl_pages = 5;
    let server = Running::start(executor(10), o).await;
    let response = server
        .crawl(serde_json::json!({ "seeds": [site.url("/0")], "engine": "static", "max_pages": 100, "concurrency": 1 }))
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/x-ndjson")
    );
    let lines = ndjson(&response.bytes().await.expect("body"));
    let (report, rows) = lines.split_last().expect("lines");
    assert_eq!(report["report"]["emitted"], 5, "{report}");
    assert_eq!(report["report"]["ended"], "max_pages");
    let pages: Vec<&serde_json::Value> = rows.iter().filter(|r| r.get("error").is_none()).collect();
    assert_eq!(pages.len(), 5);
    assert!(
        pages
            .iter()
            .all(|p| p["schema_version"] == 1 && p.get("found_via").is_some())
    );
    let refused = rows
        .iter()
        .find(|r| r["url"].as_str().is_some_and(|u| u.ends_with("/leak")))
        .expect("the redirect to another address is a row");
    assert_eq!(refused["error_kind"], "fetch.address_not_allowed", "{refused}");
    assert!(secret.received().is_empty(), "nothing reached the refused address");
    let (_, metrics) = server.get_text("/metrics").await;
    assert!(
        metrics.contains("riptide_crawl_pages_total{result=\"emitted\"} 5"),
        "{metrics}"
    );
    server.stop().await;
}

/// A crawl ends when its client goes away, and can be listed and cancelled while it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_crawl_is_listed_cancelled_and_ends_with_its_client() {
    let site = crawl_site(63, "/0".into());
    let server = Running::start(executor(10), options()).await;
    let slow = serde_json::json!({ "seeds": [site.url("/0")], "engine": "static", "per_host": 1, "delay_ms": 100 });

    // Cancelled through DELETE: its stream ends with its report.
    let mut response = server.crawl(slow.clone()).await;
    let first = response.chunk().await.expect("a chunk").expect("a line");
    assert!(json(first.trim_ascii()).get("url").is_some());
    let (status, list) = server.get("/v1/crawls", None).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["seeds"][0], site.url("/0"));
    let id = list[0]["id"].as_u64().expect("an id");
    let deleted = server
        .client
        .delete(format!("{}/v1/crawls/{id}", server.base))
        .send()
        .await
        .expect("answers");
    assert_eq!(deleted.status().as_u16(), 202);
    let rest = ndjson(&response.bytes().await.expect("the rest"));
    let last = rest.last().expect("a report line");
    assert_eq!(last["report"]["ended"], "cancelled", "{last}");
    let (status, _) = server.get(&format!("/v1/crawls/{id}"), None).await;
    assert_eq!(status, 405, "listing one crawl is not a route; DELETE is");

    // Abandoned by its client: gone from the list, and the site stops being asked.
    let mut response = server.crawl(slow).await;
    let _ = response.chunk().await.expect("a chunk");
    drop(response);
    let guard = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.get("/v1/crawls", None).await.1 != serde_json::json!([]) {
        assert!(tokio::time::Instant::now() < guard, "the abandoned crawl still runs");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Its crawl is gone with it (so are its fetch tasks): it never got through the site, which
    // takes 63 pages at 100 ms apart.
    assert!(
        site.received().len() < 63,
        "the abandoned crawl went on: {} requests",
        site.received().len()
    );
    server.stop().await;
}

/// Issue 28: a batch of any size was taken (20,000 URLs in one request); now it is capped by
/// `[server] max_batch_urls` with a clear `413`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_beyond_the_servers_cap_is_refused_clearly() {
    let mut o = options();
    o.max_batch_urls = 3;
    let server = Running::start(executor(10), o).await;
    let urls: Vec<String> = (0..4).map(|i| format!("http://127.0.0.1:1/{i}")).collect();
    let (status, _, body) = server.post(&serde_json::json!({ "urls": urls }).to_string()).await;
    let answer = json(&body);
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["error_kind"], "server.batch_too_large");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("4 URLs") && e.contains("at most 3")),
        "{answer}"
    );
    assert!(
        answer["hint"].as_str().is_some_and(|h| h.contains("max_batch_urls")),
        "{answer}"
    );
    assert_eq!(riptide::RiptideConfig::default().server.max_batch_urls, 1_000);
    server.stop().await;
}

/// Issue 28: 200 connections sending a byte a second were never closed. A client that has not
/// sent its headers within `header_read_timeout` is disconnected, however it trickles them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_trickles_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut o = options();
    o.header_read_timeout = Duration::from_secs(1);
    let server = Running::start(executor(10), o).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr).await.expect("connects");
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("writes");
    // A header byte every 200 ms, never the blank line that ends them.
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.write_all(b"X").await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(15), reader.read_to_end(&mut answer)).await;
    trickle.abort();
    assert!(closed.is_ok(), "the trickling client was still connected after 15 s");
    assert!(
        !String::from_utf8_lossy(&answer).contains("alive"),
        "no request was served: {}",
        String::from_utf8_lossy(&answer)
    );
    // The server still serves whoever sends a whole request.
    let (status, body) = server.get("/healthz", None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("alive")));
    server.stop().await;
}

impl Running {
    /// A request to `path` with `headers` (a `Host` among them replaces the real one): its
    /// status and JSON answer.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, serde_json::Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.body(body.to_string()).send().await.expect("the server answers");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("a body");
        (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
    }
}

/// Issue 28, item 2: a web page could drive the server. Its "simple" requests (a form's
/// `text/plain` or `x-www-form-urlencoded` body, no preflight) were parsed as JSON and run, and
/// any `Host` and `Origin` were answered, so a page whose name was rebound to 127.0.0.1 could
/// read the answers. Each is now refused with its own status and `error_kind`; the server's own
/// origin, programs (no `Origin`) and the names in `allowed_hosts` still pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_pages_cannot_drive_the_server() {
    let pages = Pages::start();
    let mut o = options();
    o.allowed_hosts = vec!["Riptide.Internal".into()];
    let server = Running::start(executor(10), o).await;
    let page = serde_json::json!({ "url": pages.url("/page/1"), "engine": "static" }).to_string();
    let own_host = server.base.trim_start_matches("http://").to_string();
    let own_origin = server.base.clone();
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;
    let json = ("content-type", "application/json");
    for (method, path, headers, status, kind) in [
        // What a page's form or a preflight-free fetch can send.
        (
            post.clone(),
            "/v1/extract",
            vec![("content-type", "text/plain")],
            415,
            "server.unsupported_media_type",
        ),
        (
            post.clone(),
            "/v1/extract",
            vec![("content-type", "application/x-www-form-urlencoded")],
            415,
            "server.unsupported_media_type",
        ),
        (
            post.clone(),
            "/v1/extract",
            vec![("content-type", "multipart/form-data; boundary=x")],
            415,
            "server.unsupported_media_type",
        ),
        (
            post.clone(),
            "/v1/extract",
            vec![],
            415,
            "server.unsupported_media_type",
        ),
        (
            post.clone(),
            "/v1/crawl",
            vec![("content-type", "text/plain")],
            415,
            "server.unsupported_media_type",
        ),
        // A page on another site, or in a sandboxed frame.
        (
            post.clone(),
            "/v1/extract",
            vec![json, ("origin", "http://evil.example")],
            403,
            "server.cross_origin",
        ),
        (
            post.clone(),
            "/v1/extract",
            vec![json, ("origin", "http://127.0.0.1:1")],
            403,
            "server.cross_origin",
        ),
        (
            get.clone(),
            "/v1/report",
            vec![("origin", "null")],
            403,
            "server.cross_origin",
        ),
        // DNS rebinding: the page's own name, resolved to the server.
        (
            get.clone(),
            "/v1/timeouts",
            vec![("host", "rebound.example")],
            421,
            "server.host_not_allowed",
        ),
        (
            get.clone(),
            "/v1/report",
            vec![("host", "rebound.example:80")],
            421,
            "server.host_not_allowed",
        ),
        (
            post.clone(),
            "/v1/extract",
            vec![json, ("host", "rebound.example")],
            421,
            "server.host_not_allowed",
        ),
    ] {
        let (got, answer) = server.send(method.clone(), path, &headers, &page).await;
        assert_eq!(
            (got, answer["error_kind"].as_str()),
            (status, Some(kind)),
            "{method} {path} {headers:?}: {answer}"
        );
        assert!(answer["hint"].as_str().is_some_and(|h| !h.is_empty()), "{answer}");
    }
    let (status, answer) = server
        .send(post.clone(), "/v1/extract", &[("content-type", "text/plain")], &page)
        .await;
    assert!(
        answer["hint"].as_str().is_some_and(|h| h.contains("application/json")),
        "{status}: {answer}"
    );
    let (_, answer) = server
        .send(get.clone(), "/v1/report", &[("host", "rebound.example")], "")
        .await;
    assert!(
        answer["hint"].as_str().is_some_and(|h| h.contains("allowed_hosts")),
        "{answer}"
    );
    let (_, report) = server.get("/v1/report", None).await;
    assert_eq!(report["extraction"]["pages"], 0, "none of those ran a page: {report}");

    // What still passes: a program, the server's own origin, the names it answers to.
    for headers in [
        vec![json],
        vec![("content-type", "Application/JSON; charset=utf-8")],
        vec![json, ("origin", own_origin.as_str())],
        vec![json, ("host", own_host.as_str()), ("origin", own_origin.as_str())],
        vec![
            json,
            ("host", "riptide.internal:8443"),
            ("origin", "https://riptide.internal"),
        ],
        vec![json, ("host", "localhost")],
    ] {
        let (status, record) = server.send(post.clone(), "/v1/extract", &headers, &page).await;
        assert_eq!(
            (status, record["title"].as_str()),
            (200, Some("page 1")),
            "{headers:?}: {record}"
        );
    }
    // The health checks answer whatever the name: a load balancer probes by its own.
    let (status, _) = server.send(get, "/healthz", &[("host", "pod.example")], "").await;
    assert_eq!(status, 200);
    server.stop().await;
}

/// Issue 30: the console's three files are served without a token (they hold nothing), with a
/// policy that allows only them, and never assign HTML or load anything from elsewhere; the
/// `Host` and `Origin` checks guard them as they guard the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_under_a_strict_policy() {
    let mut o = options();
    o.token = Some("s3cret".into());
    let server = Running::start(executor(10), o).await;
    let mut files = Vec::new();
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/console.js", "text/javascript; charset=utf-8"),
        ("/console.css", "text/css; charset=utf-8"),
    ] {
        let response = server
            .client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(header("content-type"), content_type, "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        let policy = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{path}: {directive} missing from {policy}");
        }
        assert!(!policy.contains("unsafe"), "{policy}");
        files.push((path, response.text().await.expect("text")));
    }
    let (_, page) = &files[0];
    assert!(page.contains(r#"<script src="/console.js" defer></script>"#));
    assert_eq!(page.matches("<script").count(), 1, "no inline script");
    let (_, script) = &files[1];
    for (path, text) in &files {
        assert!(!text.contains(" style=\""), "{path}: an inline style");
        let elsewhere: Vec<&str> = text
            .split(['"', '\'', '(', ' '])
            .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
            // The SVG namespace and the URL field's placeholder name, but load, nothing.
            .filter(|w| !w.starts_with("http://www.w3.org/2000/svg") && *w != "https://example.com/")
            .collect();
        assert!(elsewhere.is_empty(), "{path} names other origins: {elsewhere:?}");
    }
    for unsafe_sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "localStorage",
    ] {
        assert!(!script.contains(unsafe_sink), "the console's script uses {unsafe_sink}");
    }
    // The API it polls still wants the token.
    let (status, _) = server.get("/v1/activity", None).await;
    assert_eq!(status, 401);
    let (status, _) = server.get("/v1/activity", Some("s3cret")).await;
    assert_eq!(status, 200);
    // A page elsewhere cannot frame or fetch it, nor reach it by a rebound name.
    let (status, _) = server
        .send(reqwest::Method::GET, "/", &[("origin", "http://evil.example")], "")
        .await;
    assert_eq!(status, 403);
    let (status, _) = server
        .send(reqwest::Method::GET, "/", &[("host", "rebound.example")], "")
        .await;
    assert_eq!(status, 421);
    server.stop().await;
}
