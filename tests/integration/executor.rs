//! The executor end to end against a local HTTP server: real reqwest, real wasmtime, real
//! Chromium (tests that render need it: they fail in CI without it and skip locally with a
//! message), real redb files for persistence.
#![cfg(all(feature = "wasmtime", feature = "chrome", feature = "redb"))]

use crate::{common, support};

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt;
use riptide::backends::memory::MemoryModuleCache;
use riptide::backends::no_browser::NoBrowser;
use riptide::error::{ErrorKind, FetchError, LastAttempt, PoolError, RetryError};
use riptide::policies::AdaptiveTimeout;
use riptide::traits::{BrowserProvider, Engine, FailureClass, TimeoutPolicy};
use riptide::{CacheOptions, CompileCache, EngineChoice, Executor, RiptideConfig};
use support::{Server, chrome_or_skip};

/// Defaults with a small pool, and timeouts generous enough for a loaded machine: nothing that
/// uses them is meant to time out.
fn config() -> RiptideConfig {
    let mut c = RiptideConfig::default();
    let t = &mut c.optimizations.adaptive_timeout;
    (t.default_timeout_secs, t.max_timeout_secs, t.max_retries) = (10, 30, 1);
    c.optimizations.browser_pool.max_instances = 2;
    c.optimizations.browser_pool.target_available = 1;
    c
}

/// Timeouts short enough for a hanging page to fail in seconds: 1 s, one retry at 1.5 s.
fn quick_to_give_up() -> RiptideConfig {
    let mut c = config();
    let t = &mut c.optimizations.adaptive_timeout;
    (t.min_timeout_secs, t.default_timeout_secs, t.max_timeout_secs) = (1, 1, 2);
    c
}

fn executor<B: BrowserProvider>(
    provider: B,
    config: RiptideConfig,
) -> Executor<B, common::WasmtimeRuntime, common::SharedModuleCache, AdaptiveTimeout> {
    common::executor_builder(provider, config).build().expect("executor")
}

fn static_executor() -> Executor<NoBrowser, common::WasmtimeRuntime, common::SharedModuleCache, AdaptiveTimeout> {
    executor(NoBrowser, config())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_declaring_a_legacy_charset_only_in_meta_are_decoded() {
    let server = Server::start();
    let ex = static_executor();
    let page = ex.extract(&server.url("/cp1251")).await.expect("extracts");
    assert_eq!(page.extracted.raw_title.as_deref(), Some("Новости"));
    assert!(
        page.extracted
            .text
            .contains("Съешь же ещё этих мягких французских булок"),
        "{:?}",
        page.extracted.text
    );
    let page = ex.extract(&server.url("/sjis")).await.expect("extracts");
    assert_eq!(page.extracted.raw_title.as_deref(), Some("日本語"));
    assert!(
        page.extracted.text.contains("いろはにほへと"),
        "{:?}",
        page.extracted.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_port_does_not_fail_fast_a_live_port_on_the_same_host() {
    let server = Server::start();
    let ex = static_executor();
    // Port 1 on 127.0.0.1 refuses connections: enough failures open its circuit.
    let dead = "http://127.0.0.1:1/page";
    let mut opened = false;
    for _ in 0..4 {
        if let Err(e) = ex.extract(dead).await
            && matches!(e.kind(), ErrorKind::Retry(RetryError::CircuitOpen { .. }))
        {
            assert!(e.to_string().contains("http://127.0.0.1:1"), "names the origin: {e}");
            opened = true;
            break;
        }
    }
    assert!(opened, "repeated refusals open the dead port's circuit");
    let page = ex
        .extract(&server.url("/page/7"))
        .await
        .expect("the live port on the same host is not failed fast");
    assert_eq!(page.extracted.raw_title.as_deref(), Some("page 7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_loops_and_redirects_to_file_urls_are_not_retried() {
    let server = Server::start();
    let ex = static_executor();
    for path in ["/loop", "/to-file"] {
        let err = ex
            .extract(&server.url(path))
            .await
            .expect_err("a hopeless redirect fails");
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Fetch(FetchError::Network {
                    class: FailureClass::Redirect,
                    ..
                })
            ),
            "{path}: {err:?}"
        );
        assert!(err.hint().contains("redirects in a loop"), "{path}: {}", err.hint());
        assert!(!err.to_string().contains("may be down"), "{path}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_content_language_header_names_a_language_the_markup_does_not() {
    let server = Server::start();
    let ex = static_executor();
    let page = ex.extract(&server.url("/content-language")).await.expect("extracts");
    assert_eq!(page.extracted.language.as_deref(), Some("de-CH"));
    let page = ex.extract(&server.url("/cp1251")).await.expect("extracts");
    assert_eq!(page.extracted.language, None, "no header, no lang attribute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_page_is_extracted_with_its_timings() {
    let server = Server::start();
    // Its own module cache: it counts compilations.
    let ex = common::executor_builder_with_cache(NoBrowser, config(), Default::default())
        .build()
        .expect("executor");
    let page = ex.extract(&server.url("/static")).await.expect("extracts");
    assert_eq!(page.engine, Engine::Static);
    assert_eq!(page.extracted.title.as_deref(), Some("static"));
    assert!(page.extracted.text.contains("Paragraph 0 of a static page"));
    assert_eq!(
        page.extracted.links.first(),
        Some(&server.url("/page/0")),
        "links are absolute"
    );
    let t = page.timings;
    assert_eq!(t.attempts, 1);
    assert_eq!(t.engine_choice, Duration::ZERO);
    assert!(t.fetch + t.module_load + t.extraction <= t.total, "{t:?}");
    // The first page compiled the extractor while it was fetched. Compiling takes far longer
    // than fetching a small page from loopback, and the wait shows as the module's stage, not
    // as the fetch's.
    assert!(
        t.module_load > t.fetch,
        "the compile is the first page's module_load: {t:?}"
    );
    let json = serde_json::to_value(&page).expect("serializable");
    assert_eq!(json["engine"], "static");
    assert!(json["timings"]["total_ms"].as_f64().is_some());

    // The second page finds the extractor loaded.
    let again = ex.extract(&server.url("/page/1")).await.expect("extracts");
    assert_eq!(again.extracted.title.as_deref(), Some("page 1"));
    assert!(again.timings.module_load < t.module_load, "{:?}", again.timings);
    let cache = ex.compile_cache().stats().expect("stats");
    assert_eq!((cache.compilations, cache.hits), (1, 1), "{cache:?}");
}

#[tokio::test]
async fn local_files_work_by_path_and_file_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("page.html");
    std::fs::write(&path, common::ARTICLE).expect("write");
    let ex = static_executor();
    // The article is short and has scripts, so `Auto` would want a browser; files are the
    // static engine's.
    let by_path = ex
        .extract_with(path.to_str().expect("utf-8"), EngineChoice::Static)
        .await
        .expect("path");
    let url = format!("file://{}", path.display());
    let by_url = ex.extract_with(&url, EngineChoice::Static).await.expect("file url");
    assert_eq!(by_path.extracted, by_url.extracted);
    assert_eq!(
        by_path.extracted.raw_title.as_deref(),
        Some("Warm caches, fast extractors")
    );
    assert!(by_path.final_url.starts_with("file:///"));
}

#[tokio::test]
async fn a_hanging_page_times_out_retries_once_and_says_so() {
    let server = Server::start();
    let ex = executor(NoBrowser, quick_to_give_up());
    let url = server.url("/hang");
    let err = ex.extract(&url).await.expect_err("never answers");
    assert_eq!(err.url(), Some(url.as_str()), "{err}");
    match err.kind() {
        ErrorKind::Retry(RetryError::Exhausted { attempts, last, .. }) => {
            assert_eq!(*attempts, 2, "one retry");
            assert!(matches!(last, LastAttempt::TimedOut(_)), "{last}");
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    assert!(err.to_string().contains(&url), "the message names the URL: {err}");
    let stats = ex.timeout_policy().stats().expect("stats");
    assert_eq!(stats.timeouts, 2, "both attempts were censored observations: {stats:?}");
    assert_eq!(ex.report().await.extraction.failed, 1);
}

#[tokio::test]
async fn http_errors_non_html_and_oversized_bodies_are_clear_and_not_retried() {
    let server = Server::start();
    let ex = Executor::builder(
        NoBrowser,
        CompileCache::new(
            common::wasmtime(),
            common::shared_module_cache(),
            CacheOptions::default(),
        ),
        AdaptiveTimeout::new(config().optimizations.adaptive_timeout),
    )
    .config(config())
    .max_body_bytes(1 << 20)
    .build()
    .expect("executor");

    let missing = server.url("/missing");
    let err = ex.extract(&missing).await.expect_err("404");
    assert!(
        matches!(err.kind(), ErrorKind::Fetch(FetchError::HttpStatus { status: 404, .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains(&missing));

    let err = ex.extract(&server.url("/image")).await.expect_err("not html");
    assert!(
        matches!(err.kind(), ErrorKind::Fetch(FetchError::NotHtml { content_type, .. }) if content_type == "image/png"),
        "{err:?}"
    );

    let err = ex.extract(&server.url("/huge")).await.expect_err("too large");
    assert!(
        matches!(err.kind(), ErrorKind::Fetch(FetchError::BodyTooLarge { limit, .. }) if *limit == 1 << 20),
        "{err:?}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let big = dir.path().join("big.html");
    std::fs::write(&big, vec![b'a'; (1 << 20) + 1]).expect("write");
    let err = ex
        .extract(big.to_str().expect("utf-8"))
        .await
        .expect_err("file too large");
    assert!(
        matches!(err.kind(), ErrorKind::Fetch(FetchError::BodyTooLarge { .. })),
        "{err:?}"
    );

    let stats = ex.timeout_policy().stats().expect("stats");
    assert_eq!(stats.total_requests, 3, "one attempt each, no retries: {stats:?}");
}

#[tokio::test]
async fn bad_urls_are_refused_before_any_fetch() {
    let ex = static_executor();
    for (input, expected) in [
        ("", "is empty"),
        ("no-such-file.html", "not a readable file"),
        ("http://", "empty host"),
        ("ftp://example.com/page", "`ftp` scheme is not supported"),
        ("mailto:someone@example.com", "`mailto` scheme"),
    ] {
        let err = ex.extract(input).await.expect_err(input);
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Fetch(FetchError::InvalidUrl { .. })
                    | ErrorKind::Fetch(FetchError::UnsupportedScheme { .. })
            ),
            "{input}: {err:?}"
        );
        assert!(err.to_string().contains(expected), "{input}: {err}");
    }
    assert_eq!(ex.timeout_policy().stats().expect("stats").total_requests, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extract_many_returns_every_result_with_its_url() {
    let server = Server::start();
    let ex = static_executor();
    let mut urls: Vec<String> = (0..100).map(|i| server.url(&format!("/page/{i}"))).collect();
    urls.push(server.url("/missing"));
    let results: Vec<_> = ex.extract_many(urls.clone(), 8).collect().await;
    assert_eq!(results.len(), 101);
    let seen: HashSet<&str> = results.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(seen.len(), 101, "each URL once");
    for (url, result) in &results {
        match result {
            Ok(page) => {
                let n = url.rsplit('/').next().expect("number");
                assert_eq!(page.extracted.title.as_deref(), Some(format!("page {n}").as_str()));
            }
            Err(e) => assert_eq!(
                (url.as_str(), e.url()),
                (server.url("/missing").as_str(), Some(url.as_str()))
            ),
        }
    }
    let report = ex.report().await;
    assert_eq!((report.extraction.succeeded, report.extraction.failed), (100, 1));
}

/// Issue 10: a page that looks script-built is escalated on its own; a host is rendered
/// directly only after rendering kept adding content (3 of its last 4 escalations), never after
/// one thin page, and never for local files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_choice_escalates_pages_and_remembers_hosts_only_on_evidence() {
    use support::local_server::{LocalServer, Reply};
    let Some((provider, _dir)) = chrome_or_skip() else {
        return;
    };
    let server = LocalServer::start(|target| {
        if target.starts_with("/thin") {
            // Short, with a script: escalated, but rendering adds nothing.
            Reply::Html("<!doctype html><title>thin</title><p>A short note.</p><script>var seen = 1;</script>".into())
        } else if target.starts_with("/app") {
            // An empty app root that a script fills: rendering adds the whole article.
            Reply::Html(
                "<!doctype html><title>app</title><div id=\"root\"></div><script>document.getElementById('root').innerHTML = '<article><h1>Built</h1><p>' + 'built by script and long enough to matter. '.repeat(40) + '</p></article>';</script>".into(),
            )
        } else {
            Reply::NotFound
        }
    })
    .expect("bind");
    // Two hosts on one server: 127.0.0.1 and localhost.
    let thin = |n: u32| server.url(&format!("/thin/{n}"));
    let app = |n: u32| server.url(&format!("/app/{n}")).replace("127.0.0.1", "localhost");
    let store = std::sync::Arc::new(riptide::backends::memory::MemoryLearningStore::new());
    let ex = common::executor_builder(provider, config())
        .rendering_evidence_store(store.clone())
        .build()
        .expect("executor");

    for n in 0..5 {
        let page = ex.extract(&thin(n)).await.expect("thin page");
        assert_eq!(page.engine, Engine::Headless, "each thin page is escalated on its own");
        assert!(
            page.timings.engine_choice > Duration::ZERO,
            "static first, every time: page {n}"
        );
    }
    assert_eq!(
        ex.report().await.extraction.hosts_rendered_directly,
        0,
        "no gain, no memory"
    );

    for n in 0..3 {
        let page = ex.extract(&app(n)).await.expect("app page");
        assert_eq!(page.engine, Engine::Headless);
        assert!(
            page.extracted.text.contains("built by script"),
            "{:?}",
            page.extracted.text
        );
        assert!(
            page.timings.engine_choice > Duration::ZERO,
            "not remembered yet: page {n}"
        );
    }
    let direct = ex.extract(&app(3)).await.expect("app page");
    assert_eq!(direct.engine, Engine::Headless);
    assert_eq!(
        direct.timings.engine_choice,
        Duration::ZERO,
        "rendered directly after 3 gains"
    );
    let report = ex.report().await;
    assert_eq!(report.extraction.hosts_rendered_directly, 1);
    assert_eq!((report.extraction.escalated, report.extraction.headless_pages), (8, 9));

    let forced = ex.extract_with(&app(4), EngineChoice::Static).await.expect("static");
    assert_eq!(forced.engine, Engine::Static);
    assert!(!forced.extracted.text.contains("built by script"));

    // A local file is never rendered by Auto, whatever it contains.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("app.html");
    std::fs::write(
        &file,
        "<title>app</title><div id=\"root\"></div><script>var x;</script>",
    )
    .expect("write");
    let local = ex.extract(file.to_str().expect("utf-8 path")).await.expect("file");
    assert_eq!(local.engine, Engine::Static);
    ex.shutdown().await.expect("shutdown");
    let err = ex
        .extract_with(&app(5), EngineChoice::Headless)
        .await
        .expect_err("closed");
    assert!(matches!(err.kind(), ErrorKind::Pool(PoolError::Closed)), "{err:?}");

    // The evidence outlives the executor: the next one renders the host directly at once.
    let Some((provider, _dir)) = chrome_or_skip() else {
        return;
    };
    let next = common::executor_builder(provider, config())
        .rendering_evidence_store(store)
        .build()
        .expect("executor");
    let page = next.extract(&app(6)).await.expect("app page");
    assert_eq!(
        page.timings.engine_choice,
        Duration::ZERO,
        "remembered across executors"
    );
    next.shutdown().await.expect("shutdown");

    // Turned off, every page is fetched statically first.
    let Some((provider, _dir)) = chrome_or_skip() else {
        return;
    };
    let mut off = config();
    off.engine_choice.remember_hosts = false;
    let ex = executor(provider, off);
    for n in 0..4 {
        let page = ex.extract(&app(10 + n)).await.expect("app page");
        assert!(page.timings.engine_choice > Duration::ZERO, "page {n}");
    }
    assert_eq!(ex.report().await.extraction.hosts_rendered_directly, 0);
    ex.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_optimization_off_it_still_extracts() {
    let Some((provider, runtime_dir)) = chrome_or_skip() else {
        return;
    };
    let server = Server::start();
    let mut c = config();
    c.optimizations.enabled = false;
    // Without a pool every render includes a browser launch (and its close), so the fixed
    // timeout must hold a cold launch on a loaded machine.
    c.optimizations.adaptive_timeout.default_timeout_secs = 20;
    let ex = Executor::builder(
        provider,
        CompileCache::new(
            common::wasmtime(),
            MemoryModuleCache::new(),
            CacheOptions {
                enabled: false,
                ..CacheOptions::default()
            },
        ),
        AdaptiveTimeout::new(c.optimizations.adaptive_timeout.clone()),
    )
    .config(c)
    .build()
    .expect("executor");
    let page = ex.extract(&server.url("/page/3")).await.expect("static");
    assert_eq!(page.extracted.title.as_deref(), Some("page 3"));
    let rendered = ex
        .extract_with(&server.url("/js"), EngineChoice::Headless)
        .await
        .expect("rendered");
    assert!(rendered.extracted.text.contains("built by script"));
    // The render's browser closes after the page is answered; shutdown waits for it.
    ex.shutdown().await.expect("shutdown");
    support::assert_empty_dir(&runtime_dir);
    let report = ex.report().await;
    assert!(report.browser_pool.is_none(), "a browser per page, no pool");
    assert_eq!(report.adaptive_timeout, None, "fixed timeouts report nothing");
    let learned = ex.timeout_policy().stats().expect("stats");
    assert_eq!(learned.total_requests, 0, "the adaptive policy was bypassed");
    assert!(!report.optimizations_enabled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_keeps_what_was_learned() {
    let Some(_) = chrome_or_skip() else { return };
    let server = Server::start();
    let home = tempfile::tempdir().expect("home");
    let config = config();
    let ex = riptide::Stack::from_config(&config)
        .home(home.path())
        .build()
        .expect("default stack");
    for i in 0..6 {
        ex.extract(&server.url(&format!("/page/{i}"))).await.expect("extracts");
    }
    ex.shutdown().await.expect("shutdown");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.path().join(riptide::LAST_RUN_REPORT)).expect("report written"))
            .expect("json");
    assert_eq!(report["extraction"]["succeeded"], 6);
    assert_eq!(report["wasm_cache"]["compilations"], 1);
    drop(ex);

    let again = riptide::Stack::from_config(&config)
        .home(home.path())
        .build()
        .expect("default stack");
    let profiles = again.timeout_profiles();
    assert_eq!(profiles.len(), 1, "{profiles:?}");
    assert_eq!((profiles[0].host.as_str(), profiles[0].samples), ("127.0.0.1", 6));
    again.extract(&server.url("/page/9")).await.expect("extracts");
    // The report counts the store's whole life: still the first executor's one compilation,
    // and now one load from disk.
    let cache = again.report().await.wasm_cache.expect("cache stats");
    assert_eq!((cache.loads, cache.compilations), (1, 1), "loaded from disk: {cache:?}");
}

/// Code that only extracts pages takes any executor without naming its parts: `&dyn
/// AnyExecutor`, or one `BoxExecutor` type for any stack.
#[tokio::test]
async fn a_boxed_executor_extracts_like_the_typed_one() {
    async fn titles(executor: &dyn riptide::AnyExecutor, urls: Vec<String>) -> Vec<String> {
        let mut titles: Vec<String> = executor
            .extract_many_with(urls, EngineChoice::Static, 2)
            .map(|(_, page)| page.expect("extracts").extracted.title.unwrap_or_default())
            .collect()
            .await;
        titles.sort();
        titles
    }
    let server = Server::start();
    let boxed: riptide::BoxExecutor = executor(NoBrowser, config()).boxed();
    let urls = vec![server.url("/page/1"), server.url("/page/2")];
    assert_eq!(titles(&*boxed, urls).await, ["page 1", "page 2"]);
    let err = boxed.extract(&server.url("/missing")).await.expect_err("404");
    assert_eq!(err.code(), "fetch.http_status");
    assert_eq!(boxed.report().await.extraction.failed, 1);
    assert!(boxed.config().optimizations.enabled);
    boxed.shutdown().await.expect("shutdown");
}

/// Issue 11: one page's settings (`PageOptions`) change that page only. The extraction's
/// outputs and the time limit here; the render settings in the next test.
#[tokio::test]
async fn page_options_change_one_page_not_the_executor() {
    use riptide::PageOptions;
    let server = Server::start();
    let ex = static_executor();
    let url = server.url("/page/1");
    let asked = ex
        .extract_page(&url, PageOptions::new().markdown(false).content_html(true))
        .await
        .expect("extracts");
    assert!(asked.extracted.markdown.is_none(), "no Markdown asked for");
    assert!(
        asked
            .extracted
            .content_html
            .as_deref()
            .is_some_and(|h| h.contains("Text of page 1")),
        "{:?}",
        asked.extracted.content_html
    );
    let plain = ex.extract(&url).await.expect("extracts");
    assert!(plain.extracted.markdown.is_some(), "the executor's own settings stay");
    assert!(plain.extracted.content_html.is_none());

    // The configuration gives a hanging page 10 s an attempt; this page's limit is 800 ms.
    let limit = Duration::from_millis(800);
    let err = ex
        .extract_page(&server.url("/hang"), PageOptions::new().time_limit(limit))
        .await
        .expect_err("never answers");
    match err.kind() {
        ErrorKind::Retry(RetryError::Exhausted {
            last: LastAttempt::TimedOut(after),
            ..
        }) => assert!(*after <= limit, "an attempt waited {after:?}, past the page's limit"),
        other => panic!("expected time-outs, got {other:?}"),
    }
}

/// Issue 11: a render waits for the selector its page asked for, though the executor has none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_waits_for_its_own_selector() {
    use riptide::PageOptions;
    use support::local_server::{LocalServer, Reply};
    let Some((provider, _dir)) = chrome_or_skip() else {
        return;
    };
    // The article arrives 3 s after `load`, long after the DOM has gone quiet.
    let server = LocalServer::start(|_| {
        Reply::Html(
            "<!doctype html><title>late</title><div id=\"root\"><p>Loading.</p></div><script>addEventListener('load', () => setTimeout(() => { document.getElementById('root').innerHTML = '<article id=\"late\"><h1>Late</h1><p>' + 'The article arrived late but complete. '.repeat(20) + '</p></article>'; }, 3000));</script>".into(),
        )
    })
    .expect("bind");
    let ex = executor(provider, config());
    let url = server.url("/late");
    let early = ex.extract_with(&url, EngineChoice::Headless).await.expect("renders");
    assert!(
        !early.extracted.text.contains("arrived late"),
        "taken once quiet: {}",
        early.extracted.text
    );
    let waited = ex
        .extract_page(
            &url,
            PageOptions::new().engine(EngineChoice::Headless).wait_for("#late"),
        )
        .await
        .expect("renders");
    assert!(
        waited.extracted.text.contains("arrived late"),
        "{}",
        waited.extracted.text
    );
    ex.shutdown().await.expect("shutdown");
}

/// Issue 16: a host whose pages are finished at `load` is given a shorter settle, learned from
/// its renders, with the whole settle again every tenth render; without learning, every render
/// waits the whole settle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosts_settle_is_learned_from_its_renders() {
    let Some((provider, _dir)) = chrome_or_skip() else {
        return;
    };
    let (full, floor) = (riptide::executor::DEFAULT_SETTLE, Duration::from_millis(40));
    let server = Server::start();
    let provider = support::Recording::new(provider);
    let settles = provider.settles();
    let ex = executor(provider, config());
    for n in 1..=11 {
        ex.extract_with(&server.url(&format!("/page/{n}")), EngineChoice::Headless)
            .await
            .expect("renders");
    }
    ex.shutdown().await.expect("shutdown");
    let asked: Vec<Option<Duration>> = settles.lock().expect("lock").clone();
    let mut expected = vec![Some(full); 4];
    expected.extend([Some(floor); 6]);
    expected.push(Some(full));
    assert_eq!(
        asked, expected,
        "four to learn, then the floor, and a probe on the 11th"
    );

    let Some((provider, _dir)) = chrome_or_skip() else {
        return;
    };
    let provider = support::Recording::new(provider);
    let settles = provider.settles();
    let mut off = config();
    off.optimizations.browser_pool.adaptive_settle = false;
    let ex = executor(provider, off);
    for n in 1..=5 {
        ex.extract_with(&server.url(&format!("/page/{n}")), EngineChoice::Headless)
            .await
            .expect("renders");
    }
    ex.shutdown().await.expect("shutdown");
    assert_eq!(*settles.lock().expect("lock"), vec![Some(full); 5], "not learned");
}
