//! Issue 30: the console at `GET /` of `riptide serve`, driven in real headless Chromium over
//! DevTools (chromiumoxide as a plain client): the real server on an ephemeral port, real
//! pages on 127.0.0.1, a real executor (reqwest, wasmtime, and Chromium for renders).
//!
//! Every wait polls a condition in the page until a deadline; nothing sleeps to synchronize.
//! Without Chromium the tests are skipped with a message, and fail under CI (`CI` set).
//!
//! `RIPTIDE_CONSOLE_SCREENSHOT=docs/console.png` makes the first test also save a screenshot
//! of the console there (how the README's picture is made).
#![cfg(all(feature = "server", feature = "wasmtime", feature = "chromiumoxide"))]

use crate::{common, support};

use std::time::{Duration, Instant};

use chromiumoxide::Page;
use chromiumoxide::handler::HandlerConfig;
use chromiumoxide::handler::viewport::Viewport;
use futures_util::StreamExt;
use riptide::backends::chromiumoxide::ChromiumoxideProvider;
use riptide::backends::no_browser::NoBrowser;
use riptide::server::{Server, ServerOptions};
use riptide::traits::BrowserProvider;
use riptide::{BoxExecutor, RiptideConfig};
use support::local_server::{LocalServer, Reply};

/// How long any one thing the console shows may take to appear (a cold render included).
const DEADLINE: Duration = Duration::from_secs(60);

/// The server's address policy (no files, no private addresses) but for the test pages' host;
/// a pool of one browser when `pool`.
fn config(pool: bool) -> RiptideConfig {
    let mut c = RiptideConfig::default();
    c.network.allow_file_urls = false;
    c.network.allow_private_addresses = false;
    c.network.allowed_hosts = vec!["127.0.0.1".into()];
    let p = &mut c.optimizations.browser_pool;
    (p.enabled, p.min_instances, p.max_instances, p.target_available) = (pool, 1, 1, 1);
    c
}

fn executor<B: BrowserProvider>(provider: B, pool: bool) -> BoxExecutor {
    common::executor_builder(provider, config(pool))
        .build()
        .expect("executor")
        .boxed()
}

/// The server, running until dropped.
struct Running {
    base: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn serve(executor: BoxExecutor, token: Option<&str>) -> Running {
    let mut options = ServerOptions::listen("127.0.0.1:0".parse().expect("address"));
    options.token = token.map(str::to_string);
    let server = Server::bind(executor, options).await.expect("binds");
    let base = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    Running { base, _stop: stop }
}

/// A Chromium of the test's own, and a DevTools connection to it.
struct Browser {
    browser: chromiumoxide::Browser,
    _chromium: support::RemoteChromium,
}

impl Browser {
    /// `None` (skip) without Chromium outside CI.
    async fn start() -> Option<Self> {
        let (provider, _) = support::provider_or_skip::<riptide::backends::chromiumoxide::ChromiumoxideProvider>()?;
        let executable = provider.executable().expect("a local Chromium").to_path_buf();
        let chromium = support::RemoteChromium::start_with(&executable, &["--window-size=1280,1000"]);
        let config = HandlerConfig {
            viewport: Some(Viewport {
                width: 1280,
                height: 1000,
                ..Viewport::default()
            }),
            ..HandlerConfig::default()
        };
        let (browser, mut handler) = chromiumoxide::Browser::connect_with_config(chromium.ws_url.clone(), config)
            .await
            .expect("DevTools connects");
        tokio::spawn(async move { while handler.next().await.is_some() {} });
        Some(Self {
            browser,
            _chromium: chromium,
        })
    }

    async fn open(&self, url: &str) -> Page {
        let page = self.browser.new_page(url).await.expect("a tab");
        page.wait_for_navigation().await.expect("the console loads");
        page
    }
}

/// The value of `expression` in `page` (JSON; `null` for what is not).
async fn eval(page: &Page, expression: &str) -> serde_json::Value {
    page.evaluate(expression)
        .await
        .unwrap_or_else(|e| panic!("{expression}: {e}"))
        .into_value()
        .unwrap_or(serde_json::Value::Null)
}

/// Polls `expression` until it is truthy (not `null`, `false`, `0` or `""`), or fails saying
/// `what` did not happen by [`DEADLINE`].
async fn until(page: &Page, what: &str, expression: &str) -> serde_json::Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let value = eval(page, expression).await;
        let truthy = match &value {
            serde_json::Value::Null => false,
            serde_json::Value::Bool(b) => *b,
            serde_json::Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
            serde_json::Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if truthy {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {DEADLINE:?} (last: {value})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Types `url` into the form, chooses `engine`, submits, and waits for the answer.
async fn try_url(page: &Page, url: &str, engine: &str) {
    eval(
        page,
        &format!(
            "document.querySelector('#try-url').value = ''; document.querySelector('#try-engine').value = {engine:?}; delete document.querySelector('#result').dataset.state; true"
        ),
    )
    .await;
    page.find_element("#try-url")
        .await
        .expect("the URL field")
        .click()
        .await
        .expect("focus")
        .type_str(url)
        .await
        .expect("typed");
    page.find_element("#try-submit")
        .await
        .expect("the button")
        .click()
        .await
        .expect("clicked");
    let state = until(
        page,
        &format!("the answer for {url}"),
        "['done', 'failed'].includes(document.querySelector('#result').dataset.state) && document.querySelector('#result').dataset.state",
    )
    .await;
    assert_eq!(
        state,
        "done",
        "{url}: {}",
        eval(page, "document.querySelector('#result').innerText").await
    );
}

const ARTICLE: &str = "<!doctype html><html lang=\"en\"><head><title>Harbour tides</title>\
    <meta name=\"description\" content=\"When the tide turns.\"><meta name=\"author\" content=\"Grace Hopper\"></head>\
    <body><article><h1>Harbour tides</h1><p>The tide turns <strong>twice</strong> a day, and the harbour \
    empties with it. Boats wait for the <a href=\"/tables\">tide tables</a> before they leave.</p>\
    <h2>Two tides a day</h2><ul><li>high water</li><li>low water</li></ul><p>A second paragraph, long enough for the extractor \
    to read this page as an article about tides and harbours.</p></article></body></html>";

/// A page whose content, as text, is markup that runs script if a console renders it as
/// HTML; and whose own scripts and handlers would tell if they ran anywhere.
fn hostile(marker: &str) -> String {
    let payload = format!("window.pwned = 1; document.title = 'pwned'; fetch('{marker}')");
    format!(
        "<!doctype html><html><head><title>&lt;img src=x onerror=\"{p}\"&gt; tides</title>\
        <script>{payload}</script></head><body><article>\
        <h1>&lt;script&gt;{p}&lt;/script&gt;</h1>\
        <p>&lt;img src=x onerror=\"{p}\"&gt; is text here, and so is &lt;script&gt;{p}&lt;/script&gt;.</p>\
        <p>[a link](javascript:{p}) and ![an image](x\" onerror=\"{p}) written as Markdown, \
        and <a href=\"javascript:{p}\">a javascript: link</a>.</p>\
        <img src=\"x\" onerror=\"{payload}\"><svg><script>{payload}</script></svg>\
        <p>Another paragraph, so that the extractor reads this page as an article of its own.</p>\
        </article></body></html>",
        p = payload.replace('\'', "&#39;"),
    )
}

/// The console shows a page extracted through its form (title, metadata, Markdown, links,
/// timings; a rendered page's screenshot), draws the chart from the server's activity, and
/// nothing of a page's content runs in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_a_page_its_chart_and_runs_nothing_of_it() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let Some((provider, _dir)) = support::provider_or_skip::<ChromiumoxideProvider>() else {
        return;
    };
    let marker = LocalServer::start(|_| Reply::Html("<p>marker</p>".into())).expect("bind");
    let marker_url = marker.url("/ran");
    let pages = LocalServer::start(move |target| match target {
        "/article" => Reply::Html(ARTICLE.into()),
        "/hostile" => Reply::Html(hostile(&marker_url)),
        _ => Reply::NotFound,
    })
    .expect("bind");
    let executor = executor(provider, true);
    let server = serve(executor.clone(), None).await;
    let page = browser.open(&format!("{}/", server.base)).await;
    // Anything the page's policy blocks is recorded: a payload that tried to run would be.
    eval(
        &page,
        "window.__violations = []; document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI)); true",
    )
    .await;
    until(
        &page,
        "the server's report",
        "document.querySelector('#summary').textContent",
    )
    .await;

    try_url(&page, &pages.url("/article"), "static").await;
    assert_eq!(
        eval(&page, "document.querySelector('#result-title').textContent").await,
        "Harbour tides"
    );
    let markdown = eval(
        &page,
        "({ h2: [...document.querySelectorAll('#result-markdown h2')].map(e => e.textContent), \
           strong: [...document.querySelectorAll('#result-markdown strong')].map(e => e.textContent), \
           items: [...document.querySelectorAll('#result-markdown li')].map(e => e.textContent), \
           link: document.querySelector('#result-markdown a')?.href, \
           raw: document.querySelector('#result-raw').textContent })",
    )
    .await;
    assert_eq!(markdown["h2"], serde_json::json!(["Two tides a day"]), "{markdown}");
    assert_eq!(markdown["strong"], serde_json::json!(["twice"]), "{markdown}");
    assert_eq!(
        markdown["items"],
        serde_json::json!(["high water", "low water"]),
        "{markdown}"
    );
    assert_eq!(markdown["link"], pages.url("/tables"), "{markdown}");
    assert!(
        markdown["raw"].as_str().is_some_and(|raw| raw.contains("**twice**")),
        "the raw Markdown: {markdown}"
    );
    let shown = eval(&page, "document.querySelector('#result').innerText").await;
    let shown = shown.as_str().unwrap_or_default();
    for expected in [
        "Grace Hopper",
        "When the tide turns.",
        "static",
        "fetch",
        "extraction",
        "total",
    ] {
        assert!(shown.contains(expected), "{expected:?} missing from:\n{shown}");
    }
    assert_eq!(eval(&page, "document.querySelector('#result-shot').hidden").await, true);

    try_url(&page, &pages.url("/hostile"), "static").await;
    // Whatever the result queued (an image's error handler, a script) has run by the time the
    // console has polled the server once more.
    let polled = eval(&page, "Number(document.body.dataset.refreshes)").await;
    until(
        &page,
        "the next poll",
        &format!("Number(document.body.dataset.refreshes) > {polled}"),
    )
    .await;
    assert_eq!(eval(&page, "window.pwned === undefined").await, true);
    assert_eq!(eval(&page, "document.title").await, "riptide console");
    assert_eq!(eval(&page, "window.__violations").await, serde_json::json!([]));
    assert!(
        marker.received().is_empty(),
        "a payload ran: {:?}",
        marker.received().len()
    );
    let title = eval(&page, "document.querySelector('#result-title').textContent").await;
    assert!(
        title.as_str().is_some_and(|t| t.starts_with("<img src=x onerror=")),
        "the title is shown as the text it is: {title}"
    );
    let text = eval(&page, "document.querySelector('#result-markdown').textContent").await;
    assert!(
        text.as_str().is_some_and(|t| t.contains("<script>window.pwned")),
        "the markup is shown as text: {text}"
    );
    let elements = eval(
        &page,
        "[...document.querySelectorAll('#result *')].map(e => e.tagName.toLowerCase()).filter(t => ['script', 'iframe', 'object', 'embed', 'svg', 'style', 'link', 'meta'].includes(t))",
    )
    .await;
    assert_eq!(
        elements,
        serde_json::json!([]),
        "no element of the page's own in the console"
    );
    let images = eval(
        &page,
        "document.querySelectorAll('#result img:not(#result-screenshot)').length",
    )
    .await;
    assert_eq!(images, 0);
    let links = eval(
        &page,
        "[...document.querySelectorAll('#result a')].map(a => a.protocol).filter(p => p !== 'http:' && p !== 'https:')",
    )
    .await;
    assert_eq!(links, serde_json::json!([]), "only http(s) links are links");
    let handlers = eval(
        &page,
        "[...document.querySelectorAll('#result *')].flatMap(e => [...e.attributes].map(a => a.name)).filter(n => n.startsWith('on') || n === 'style')",
    )
    .await;
    assert_eq!(handlers, serde_json::json!([]), "no handler or style attribute");

    // A rendered page's screenshot is an image, from the record's base64.
    try_url(&page, &pages.url("/article"), "headless").await;
    assert_eq!(
        eval(&page, "document.querySelector('#result-title').textContent").await,
        "Harbour tides"
    );
    until(
        &page,
        "the screenshot",
        "!document.querySelector('#result-shot').hidden && document.querySelector('#result-screenshot').src.startsWith('data:image/png;base64,') && document.querySelector('#result-screenshot').complete && document.querySelector('#result-screenshot').naturalWidth",
    )
    .await;
    assert!(
        eval(&page, "document.querySelector('#result').innerText")
            .await
            .as_str()
            .is_some_and(|t| t.contains("headless")),
        "the engine that fetched it"
    );

    // The chart: the three pages are in the last minutes' buckets.
    until(
        &page,
        "the chart's bars and lines",
        "Number(document.querySelector('#rate-chart').dataset.pages) >= 3 && document.querySelectorAll('#rate-chart rect.bar').length > 0 && document.querySelectorAll('#latency-chart path.series').length === 3 && document.querySelectorAll('#latency-chart circle').length >= 3",
    )
    .await;
    // The panels polled from the report and the learned timeouts.
    until(
        &page,
        "the pool, the module cache and the learned timeouts",
        "/idle\\s+1/.test(document.querySelector('#pool').innerText) && /hits\\s+\\d/.test(document.querySelector('#cache').innerText) && document.querySelector('#timeouts tbody').innerText.includes('127.0.0.1')",
    )
    .await;
    assert_eq!(eval(&page, "window.__violations").await, serde_json::json!([]));

    if let Some(path) = std::env::var_os("RIPTIDE_CONSOLE_SCREENSHOT") {
        let png = page
            .screenshot(chromiumoxide::page::ScreenshotParams::builder().build())
            .await
            .expect("a screenshot");
        std::fs::write(&path, png).expect("the screenshot is written");
    }
    drop(server);
    executor.shutdown().await.expect("the executor shuts down");
}

/// A site for crawls: `/k` links to `/2k+1` and `/2k+2` below `n`.
fn crawl_site(n: u64) -> LocalServer {
    LocalServer::start(move |target| {
        let Ok(k) = target.trim_start_matches('/').parse::<u64>() else {
            return Reply::NotFound;
        };
        let links: String = [2 * k + 1, 2 * k + 2]
            .iter()
            .filter(|c| **c < n)
            .map(|c| format!("<a href=\"/{c}\">page {c}</a> "))
            .collect();
        Reply::Html(format!(
            "<html><head><title>Node {k}</title></head><body><article><p>Node {k} has a paragraph of \
             its own, long enough to be its content.</p></article>{links}</body></html>"
        ))
    })
    .expect("bind 127.0.0.1")
}

/// With a token, the console asks for it once and keeps it in the tab only; it lists a
/// running crawl and its cancel button stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_asks_for_the_token_and_cancels_a_crawl() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = serve(executor(NoBrowser, false), Some("s3cret")).await;
    let page = browser.open(&format!("{}/", server.base)).await;
    until(&page, "the token form", "!document.querySelector('#token-form').hidden").await;
    page.find_element("#token-input")
        .await
        .expect("the token field")
        .click()
        .await
        .expect("focus")
        .type_str("s3cret")
        .await
        .expect("typed");
    page.find_element("#token-form button")
        .await
        .expect("the button")
        .click()
        .await
        .expect("clicked");
    until(
        &page,
        "the report, with the token",
        "document.querySelector('#summary').textContent",
    )
    .await;
    let kept = eval(
        &page,
        "({ session: sessionStorage.getItem('riptide-token'), local: localStorage.length, cookie: document.cookie, form: document.querySelector('#token-form').hidden })",
    )
    .await;
    assert_eq!(
        kept,
        serde_json::json!({ "session": "s3cret", "local": 0, "cookie": "", "form": true })
    );

    let site = crawl_site(63);
    let mut crawl = reqwest::Client::new()
        .post(format!("{}/v1/crawl", server.base))
        .bearer_auth("s3cret")
        .header("content-type", "application/json")
        .body(
            serde_json::json!({ "seeds": [site.url("/0")], "engine": "static", "per_host": 1, "delay_ms": 100 })
                .to_string(),
        )
        .send()
        .await
        .expect("the crawl starts");
    assert_eq!(crawl.status().as_u16(), 200);
    let _first = crawl.chunk().await.expect("a chunk");
    until(
        &page,
        "the running crawl",
        &format!(
            "document.querySelector('#crawls tbody').innerText.includes({:?}) && document.querySelector('#crawls button.cancel')",
            site.url("/0")
        ),
    )
    .await;
    page.find_element("#crawls button.cancel")
        .await
        .expect("the cancel button")
        .click()
        .await
        .expect("clicked");
    let rest = tokio::time::timeout(DEADLINE, crawl.bytes())
        .await
        .expect("the crawl's stream ends")
        .expect("its lines");
    let last = String::from_utf8_lossy(&rest)
        .lines()
        .last()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON"))
        .expect("a report line");
    assert_eq!(last["report"]["ended"], "cancelled", "{last}");
    until(
        &page,
        "the crawl gone from the list",
        "!document.querySelector('#crawls .empty').hidden",
    )
    .await;
}
