//! Headless renders against pages that misbehave (issue 15's fault-injection findings), on real
//! Chromium and real local servers: pages that never yield, dialogs, bodies sent a byte at a
//! time, runaway memory, self-signed certificates, and redirects.
//!
//! Each test would hang, or pass wrongly, on the code before its fix. A hang fails the test at
//! `HANG_GUARD` instead of stalling the run; that bound is a guard, not a timing assertion.
#![cfg(all(feature = "chrome", feature = "wasmtime"))]

use crate::{common, support};

use std::sync::Arc;
use std::time::Duration;

use riptide::backends::chrome::ChromiumSettings;
use riptide::backends::no_browser::NoBrowser;
use riptide::error::{ErrorKind, FetchError, LastAttempt, RetryError};
use riptide::policies::AdaptiveTimeout;
use riptide::traits::{BrowserProvider, FailureClass, PageRequest};
use riptide::{BrowserPool, EngineChoice, Executor, PoolOptions, RiptideConfig, WaitUntil};
use support::local_server::{LocalServer, Reply};
use support::{TestedBrowser, TestedProvider, pid_stopped, provider_or_skip};

/// Far beyond any deadline these tests set: reaching it means the call hung.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn options() -> PoolOptions {
    PoolOptions {
        min_instances: 1,
        target_available: 1,
        max_instances: 1,
        health_check_interval: Duration::from_secs(3600),
        probe_deadline: Duration::from_secs(2),
        ..PoolOptions::default()
    }
}

/// Pages that misbehave, and one that does not. Pages are matched by path: `/away-forever`
/// comes back with a query string each time.
fn faulty_server() -> LocalServer {
    LocalServer::start(|target| match target.split('?').next().unwrap_or_default() {
        "/spin" => Reply::Html("<!doctype html><title>spin</title><p>before</p><script>while (true) {}</script>".into()),
        "/alert" => Reply::Html(
            "<!doctype html><title>alert</title><script>alert('hello'); confirm('sure?'); document.title = 'after dialogs';</script>".into(),
        ),
        "/trickle" => Reply::Trickle {
            head: "<!doctype html><title>trickle</title><p>".into(),
            every: Duration::from_secs(1),
        },
        // Allocates 16 MiB at a time outside the JavaScript heap (where V8's heap limit does
        // not reach), touching every page, up to 4 GiB.
        "/hog" => Reply::Html(
            "<!doctype html><title>hog</title><script>const keep = []; for (let i = 0; i < 256; i++) { keep.push(new Uint8Array(16 << 20).fill(1)); }</script>".into(),
        ),
        // JavaScript objects without end: the renderer dies at its heap cap.
        "/heap-hog" => Reply::Html(
            "<!doctype html><title>heap hog</title><script>const keep = []; for (;;) { keep.push(new Array(1 << 16).fill(0.5)); }</script>".into(),
        ),
        "/ok" => Reply::Html("<!doctype html><title>ok</title><p>fine</p>".into()),
        // An article whose image never arrives: `load` never fires.
        "/stuck-image" => Reply::Html(format!(
            "<!doctype html><title>stuck</title><article><h1>Stuck</h1><p>{}</p><img src=\"/never.png\"></article>",
            "An article whose picture never arrives. ".repeat(20)
        )),
        "/never.png" => Reply::Hang,
        // After `load`, a script waits, fetches, and only then adds the text.
        "/late-fetch" => Reply::Html(
            "<!doctype html><title>late</title><p id=\"out\">waiting</p><script>addEventListener('load', () => setTimeout(() => fetch('/ok').then(() => { document.getElementById('out').textContent = 'fetched after load'; }), 200));</script>".into(),
        ),
        "/to-ok" => Reply::Redirect("/ok"),
        // Leave by script as they load (a JavaScript redirect), or by `<meta refresh>`.
        "/away" => Reply::Html("<!doctype html><title>leaving</title><script>location.replace('/ok');</script><p>leaving</p>".into()),
        "/refresh" => Reply::Html(
            "<!doctype html><title>leaving</title><meta http-equiv=\"refresh\" content=\"0; url=/ok\"><p>leaving</p>".into(),
        ),
        // Refreshes in a minute: a page that reloads now and then, taken as it is.
        "/refresh-later" => Reply::Html(
            "<!doctype html><title>news</title><meta http-equiv=\"refresh\" content=\"60; url=/ok\"><p>news of the hour</p>".into(),
        ),
        // Navigates to itself again and again, never staying long enough to be taken.
        "/away-forever" => Reply::Html(
            "<!doctype html><title>restless</title><p>restless</p><script>setTimeout(() => { location.href = '/away-forever?' + Date.now(); }, 20);</script>".into(),
        ),
        _ => Reply::NotFound,
    })
    .expect("bind 127.0.0.1")
}

/// Checks out the pool's next browser and loads a good page with it; returns the browser's pid.
async fn next_page_loads<P: TestedProvider>(pool: &BrowserPool<P>, server: &LocalServer) -> Option<u32> {
    let mut browser = guarded("the next checkout", pool.checkout()).await.expect("checkout");
    let page = guarded("the next page", browser.fetch(PageRequest::new(server.url("/ok"))))
        .await
        .expect("the next page loads");
    assert!(page.html.contains("fine"), "{}", page.html);
    browser.pid()
}

async fn guarded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG_GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("{what} hung for {HANG_GUARD:?}"))
}

/// Item 1: a page whose script never yields used to hold the render (and the process) for the
/// crate's idle timeout, 7 days. Now it times out at its deadline, its browser is killed, and
/// the pool serves the next page with a new one.
async fn a_page_that_never_yields_times_out_and_its_browser_is_replaced<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = faulty_server();
    let pool = BrowserPool::new(provider, options()).await.expect("pool");
    let mut browser = pool.checkout().await.expect("checkout");
    let pid = browser.pid().expect("local");
    let err = guarded(
        "a spinning page",
        browser.fetch(PageRequest::new(server.url("/spin")).deadline(Duration::from_secs(2))),
    )
    .await
    .expect_err("never ready");
    assert!(
        matches!(err.kind(), ErrorKind::Fetch(FetchError::Timeout { .. })),
        "{err:?}"
    );
    assert!(pid_stopped(pid), "the stuck browser {pid} was killed");
    drop(browser);
    assert_ne!(next_page_loads(&pool, &server).await, Some(pid), "a new browser serves");
    pool.shutdown().await;
}

/// Item 1: `alert()` and `confirm()` used to block the renderer until someone answered. Pages
/// now load with dialogs switched off, and the browser is not killed for it.
async fn dialogs_do_not_block_a_render<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = faulty_server();
    let pool = BrowserPool::new(provider, options()).await.expect("pool");
    let mut browser = pool.checkout().await.expect("checkout");
    let pid = browser.pid();
    let page = guarded(
        "a page with dialogs",
        browser.fetch(PageRequest::new(server.url("/alert")).deadline(Duration::from_secs(10))),
    )
    .await
    .expect("loads past its dialogs");
    assert!(page.html.contains("<title>after dialogs</title>"), "{}", page.html);
    drop(browser);
    let browser = pool.checkout().await.expect("checkout");
    assert_eq!(browser.pid(), pid, "the same browser serves on");
    drop(browser);
    pool.shutdown().await;
}

/// Item 1: a body sent a byte a second never finishes loading; the render gives up at its
/// deadline and the next page loads. (Issue 10: what had arrived by then is returned, marked
/// partial, instead of nothing.)
async fn a_body_sent_a_byte_a_second_is_taken_as_it_stands_at_the_deadline<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = faulty_server();
    let pool = BrowserPool::new(provider, options()).await.expect("pool");
    let mut browser = pool.checkout().await.expect("checkout");
    let page = guarded(
        "a trickled page",
        browser.fetch(PageRequest::new(server.url("/trickle")).deadline(Duration::from_secs(2))),
    )
    .await
    .expect("the DOM as it stands");
    assert!(page.partial, "never complete");
    assert!(page.html.contains("<title>trickle</title>"), "{}", page.html);
    drop(browser);
    next_page_loads(&pool, &server).await;
    pool.shutdown().await;
}

/// Item 4: a page allocating in a loop used to take the machine's memory. Over the render
/// memory limit, the render stops, the browser is killed, and the page fails saying why.
async fn a_page_over_the_render_memory_limit_is_stopped<P: TestedProvider>() {
    let Some((_, dir)) = provider_or_skip::<P>() else {
        return;
    };
    let limit = 400 << 20;
    let provider = P::new(ChromiumSettings {
        runtime_dir: Some(dir),
        render_memory_limit: Some(limit),
        ..ChromiumSettings::default()
    })
    .expect("provider");
    let server = faulty_server();
    let pool = BrowserPool::new(provider, options()).await.expect("pool");
    let mut browser = pool.checkout().await.expect("checkout");
    let pid = browser.pid().expect("local");
    let err = guarded(
        "a memory hog",
        browser.fetch(PageRequest::new(server.url("/hog")).deadline(Duration::from_secs(30))),
    )
    .await
    .expect_err("over the limit");
    let ErrorKind::Fetch(FetchError::RenderMemoryExceeded {
        used_bytes,
        limit_bytes,
        ..
    }) = *err.kind()
    else {
        panic!("expected RenderMemoryExceeded, got {err:?}");
    };
    assert_eq!(limit_bytes, limit);
    assert!(used_bytes > limit, "{used_bytes} is over {limit}");
    assert!(pid_stopped(pid), "the browser {pid} was killed");
    drop(browser);
    assert_ne!(next_page_loads(&pool, &server).await, Some(pid), "a new browser serves");
    pool.shutdown().await;
}

/// Issue 28, item 6: a page that fills its JavaScript heap kills its renderer at the heap cap
/// (half the render memory limit, so before the browser's memory reaches the limit itself).
/// The render used to wait out its whole deadline for a renderer that was gone, and the
/// executor retried it as a time-out, running the hog again each time. The renderer's death is
/// noticed at once: the page fails as over its memory (which is not retried), and its browser
/// is replaced.
async fn a_page_that_fills_its_javascript_heap_fails_as_over_memory<P: TestedProvider>() {
    let Some((_, dir)) = provider_or_skip::<P>() else {
        return;
    };
    let provider = P::new(ChromiumSettings {
        runtime_dir: Some(dir),
        ..ChromiumSettings::default()
    })
    .expect("provider");
    let heap_cap = provider.settings().render_memory_limit.expect("a limit by default") / 2;
    let server = faulty_server();
    let pool = BrowserPool::new(provider, options()).await.expect("pool");
    let mut browser = pool.checkout().await.expect("checkout");
    let pid = browser.pid().expect("local");
    let err = guarded(
        "a heap hog",
        browser.fetch(PageRequest::new(server.url("/heap-hog")).deadline(Duration::from_secs(45))),
    )
    .await
    .expect_err("the renderer died");
    let ErrorKind::Fetch(FetchError::RenderMemoryExceeded { limit_bytes, .. }) = *err.kind() else {
        panic!("expected RenderMemoryExceeded, got {err:?}");
    };
    assert_eq!(limit_bytes, heap_cap);
    assert_eq!(err.code(), "fetch.render_memory_exceeded");
    assert!(pid_stopped(pid), "the browser {pid} was given up");
    drop(browser);
    assert_ne!(next_page_loads(&pool, &server).await, Some(pid), "a new browser serves");
    pool.shutdown().await;

    // Through the executor: one attempt, not a retried time-out.
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let provider = support::Recording::new(provider);
    let fetches = provider.settles();
    let ex = executor(provider, RiptideConfig::default());
    let err = guarded(
        "a heap hog through the executor",
        ex.extract_with(&server.url("/heap-hog"), EngineChoice::Headless),
    )
    .await
    .expect_err("the renderer died");
    assert_eq!(err.code(), "fetch.render_memory_exceeded", "{err:?}");
    assert_eq!(fetches.lock().expect("lock").len(), 1, "rendered once, not retried");
    ex.shutdown().await.expect("shutdown");
}

/// Item 8: after a redirect, the render reports the URL the page ended on.
async fn a_render_reports_the_url_after_redirects<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = faulty_server();
    let browser = provider.launch().expect("launch");
    let page = provider
        .fetch(&browser, &PageRequest::new(server.url("/to-ok")))
        .expect("loads");
    assert_eq!(page.final_url, server.url("/ok"));
    provider.close(browser);
}

/// Item 8, end to end: links on a page reached by a redirect to another host resolve against
/// that host, not the one asked for.
async fn headless_links_resolve_against_the_final_host<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let target = LocalServer::start_on([127, 0, 0, 2].into(), |target| match target {
        "/article" => Reply::Html(
            "<!doctype html><title>moved</title><article><h1>Moved</h1><p>A paragraph long enough to be the article's content, with <a href=\"/next\">a relative link</a> in it.</p></article>".into(),
        ),
        _ => Reply::NotFound,
    })
    .expect("bind 127.0.0.2");
    let location: &'static str = Box::leak(target.url("/article").into_boxed_str());
    let origin = LocalServer::start(move |_| Reply::Redirect(location)).expect("bind");
    let ex = executor(provider, RiptideConfig::default());
    let content = guarded(
        "a redirected render",
        ex.extract_with(&origin.url("/start"), EngineChoice::Headless),
    )
    .await
    .expect("renders");
    assert_eq!(content.final_url, target.url("/article"));
    assert!(
        content.extracted.links.contains(&target.url("/next")),
        "links resolve against the final host: {:?}",
        content.extracted.links
    );
    ex.shutdown().await.expect("shutdown");
}

fn executor<B: BrowserProvider>(
    provider: B,
    config: RiptideConfig,
) -> Executor<B, common::WasmtimeRuntime, common::SharedModuleCache, AdaptiveTimeout> {
    common::executor_builder(provider, config).build().expect("executor")
}

/// A server with a certificate no client trusts (self-signed, made now).
fn self_signed_server() -> LocalServer {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("a self-signed certificate");
    let key = tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
    let tls = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![made.cert.der().clone()], key)
    .expect("TLS config");
    LocalServer::start_tls(Arc::new(tls), |target| match target {
        "/secret" => Reply::Html(
            "<!doctype html><title>secret</title><article><p>Served over TLS with a certificate nobody signed.</p></article>".into(),
        ),
        _ => Reply::NotFound,
    })
    .expect("bind 127.0.0.1")
}

/// Item 3: headless renders used to accept any certificate (headless_chrome's default) while
/// the static engine refused them. Both refuse by default, without retrying, and both accept
/// with `network.accept_invalid_certs`.
async fn both_engines_refuse_an_unverified_certificate_unless_told<P: TestedProvider>() {
    let server = self_signed_server();
    let url = server.url("/secret");

    let static_ex = executor(NoBrowser, RiptideConfig::default());
    let err = static_ex
        .extract_with(&url, EngineChoice::Static)
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Fetch(FetchError::Network {
                class: FailureClass::Tls,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(err.hint().contains("accept_invalid_certs"), "{}", err.hint());
    let mut trusting = RiptideConfig::default();
    trusting.network.accept_invalid_certs = true;
    let static_ex = executor(NoBrowser, trusting.clone());
    let page = static_ex
        .extract_with(&url, EngineChoice::Static)
        .await
        .expect("accepted");
    assert!(page.extracted.text.contains("certificate nobody signed"));

    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let headless = executor(provider, RiptideConfig::default());
    let err = guarded("a refused render", headless.extract_with(&url, EngineChoice::Headless))
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Fetch(FetchError::Network {
                class: FailureClass::Tls,
                ..
            })
        ),
        "{err:?}"
    );
    headless.shutdown().await.expect("shutdown");

    let Some((_, dir)) = provider_or_skip::<P>() else {
        return;
    };
    let provider = P::new(ChromiumSettings {
        runtime_dir: Some(dir),
        accept_invalid_certs: true,
        ..ChromiumSettings::default()
    })
    .expect("provider");
    let headless = executor(provider, trusting);
    let page = guarded(
        "an accepted render",
        headless.extract_with(&url, EngineChoice::Headless),
    )
    .await
    .expect("accepted");
    assert!(page.extracted.text.contains("certificate nobody signed"));
    headless.shutdown().await.expect("shutdown");
}

/// Item 3 for remote browsers: riptide tells each connected browser whether to accept
/// certificates that do not verify (a browser started with `--ignore-certificate-errors` keeps
/// accepting them whatever it is told; the README says not to start fleet browsers so).
async fn a_remote_browser_verifies_certificates_as_configured<P: TestedProvider>() {
    let Some((local, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let executable = local.executable().expect("local").to_path_buf();
    let remote = support::RemoteChromium::start(&executable);
    let server = self_signed_server();
    let request = PageRequest::new(server.url("/secret")).deadline(Duration::from_secs(10));

    let provider = P::new(ChromiumSettings::remote(vec![remote.ws_url.clone()])).expect("remote");
    let browser = provider.launch().expect("connect");
    let err = provider.fetch(&browser, &request).expect_err("refused");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Fetch(FetchError::Network {
                class: FailureClass::Tls,
                ..
            })
        ),
        "{err:?}"
    );
    provider.close(browser);

    let provider = P::new(ChromiumSettings {
        accept_invalid_certs: true,
        ..ChromiumSettings::remote(vec![remote.ws_url.clone()])
    })
    .expect("remote");
    let browser = provider.launch().expect("connect");
    let page = provider.fetch(&browser, &request).expect("accepted");
    assert!(page.html.contains("certificate nobody signed"));
    provider.close(browser);
}

/// Each engine classifies its own failures (issue 13): the static fetch from the types in
/// reqwest's chain of causes (riptide's resolver error, the OS error's kind), the browser from
/// Chrome's network error code. The executor only reads the class: a name that does not resolve
/// is not retried, a refused connection is.
async fn both_engines_classify_dns_and_refused_connections_themselves<P: TestedProvider>() {
    // Bound, then closed: nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let refused_url = format!("http://127.0.0.1:{}/", closed.local_addr().expect("addr").port());
    drop(closed);
    let unresolvable = "http://no-such-host.invalid/";
    let mut config = RiptideConfig::default();
    config.optimizations.adaptive_timeout.max_retries = 1;
    config.optimizations.adaptive_timeout.max_timeout_secs = 10;

    let check = |err: &riptide::Error, engine: &str| {
        assert_eq!(err.failure_class(), FailureClass::Dns, "{engine}: {err:?}");
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Fetch(FetchError::Network {
                    class: FailureClass::Dns,
                    ..
                })
            ),
            "{engine}: not retried, reported as what it is: {err:?}"
        );
        assert_eq!(err.code(), "fetch.network");
        assert!(err.hint().contains("does not resolve"), "{engine}: {}", err.hint());
    };
    let refused = |err: &riptide::Error, engine: &str| match err.kind() {
        ErrorKind::Retry(RetryError::Exhausted { attempts, last, .. }) => {
            assert_eq!(*attempts, 2, "{engine}: a refused connection is retried");
            assert_eq!(*last, LastAttempt::Failed(FailureClass::ConnectionRefused), "{engine}");
        }
        other => panic!("{engine}: expected the retries to run out, got {other:?}"),
    };

    let static_ex = executor(NoBrowser, config.clone());
    let err = static_ex
        .extract_with(unresolvable, EngineChoice::Static)
        .await
        .expect_err("no such host");
    check(&err, "static");
    let err = static_ex
        .extract_with(&refused_url, EngineChoice::Static)
        .await
        .expect_err("refused");
    refused(&err, "static");

    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let headless = executor(provider, config);
    let err = guarded(
        "an unresolvable render",
        headless.extract_with(unresolvable, EngineChoice::Headless),
    )
    .await
    .expect_err("no such host");
    check(&err, "headless");
    let err = guarded(
        "a refused render",
        headless.extract_with(&refused_url, EngineChoice::Headless),
    )
    .await
    .expect_err("refused");
    refused(&err, "headless");
    headless.shutdown().await.expect("shutdown");
}

/// Issue 10, item 2: a page whose subresource never arrives used to cost every attempt and
/// return nothing; its DOM is now returned at the deadline, marked partial. Waiting only for
/// `DOMContentLoaded` takes it at once, complete.
async fn a_page_that_never_finishes_loading_is_returned_partial<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = faulty_server();
    let mut config = RiptideConfig::default();
    let t = &mut config.optimizations.adaptive_timeout;
    (t.default_timeout_secs, t.max_retries) = (3, 1);
    config.optimizations.browser_pool.target_available = 1;
    let ex = executor(provider, config);
    let url = server.url("/stuck-image");
    let page = guarded("a stuck page", ex.extract_with(&url, EngineChoice::Headless))
        .await
        .expect("the DOM as it stands");
    assert!(page.partial);
    assert_eq!(page.timings.attempts, 1, "taken, not retried");
    assert!(
        page.extracted.text.contains("picture never arrives"),
        "{}",
        page.extracted.text
    );
    ex.shutdown().await.expect("shutdown");

    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let ex = common::executor_builder(provider, RiptideConfig::default())
        .wait_until(WaitUntil::DomContentLoaded)
        .build()
        .expect("executor");
    let page = guarded("a stuck page", ex.extract_with(&url, EngineChoice::Headless))
        .await
        .expect("parsed is enough");
    assert!(!page.partial, "complete by its own rule");
    assert!(page.extracted.text.contains("picture never arrives"));
    ex.shutdown().await.expect("shutdown");
}

/// `WaitUntil::NetworkIdle` waits for requests a script starts after `load`; `Load` does not.
async fn network_idle_waits_for_requests_started_after_load<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = faulty_server();
    let pool = BrowserPool::new(provider, options()).await.expect("pool");
    let mut browser = pool.checkout().await.expect("checkout");
    let url = server.url("/late-fetch");
    let at_load = guarded("at load", browser.fetch(PageRequest::new(url.clone())))
        .await
        .expect("loads");
    assert!(at_load.html.contains("waiting"), "taken at load: {}", at_load.html);
    let idle = guarded(
        "at network idle",
        browser.fetch(PageRequest::new(url).wait_until(WaitUntil::NetworkIdle)),
    )
    .await
    .expect("loads");
    assert!(!idle.partial);
    assert!(idle.html.contains("fetched after load"), "{}", idle.html);
    drop(browser);
    pool.shutdown().await;
}

/// A page served with an error status fails in both engines alike. A render used to return the
/// error page's own text as the page (a proxy's "401 Unauthorized" among them).
async fn both_engines_fail_a_page_served_with_an_error_status<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = LocalServer::start(|_| Reply::NotFound).expect("local server");
    let executor = executor(provider, RiptideConfig::default());
    for engine in [EngineChoice::Static, EngineChoice::Headless] {
        let e = guarded("an error page", executor.extract_with(&server.url("/missing"), engine))
            .await
            .expect_err("a 404 is not a page");
        assert_eq!(e.code(), "fetch.http_status", "{engine:?}: {e:#}");
        assert!(e.to_string().contains("404"), "{engine:?}: {e:#}");
    }
    executor.shutdown().await.expect("shutdown");
}

/// A page that leaves as it loads (a script setting `location`, a `<meta refresh>`) is followed:
/// the render returns the page it went to; one that refreshes in a minute is taken as it is. A
/// page that keeps navigating is taken as it stands, or fails as a time-out; it never takes the
/// browser down with it, and once taken it cannot navigate the tab away from the next page.
async fn pages_that_navigate_away_are_followed<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = faulty_server();
    let pool = BrowserPool::new(provider, options()).await.expect("pool");
    let mut browser = pool.checkout().await.expect("checkout");
    let pid = browser.pid();
    for path in ["/away", "/refresh"] {
        let page = guarded(
            "a page leaving as it loads",
            browser.fetch(PageRequest::new(server.url(path)).deadline(Duration::from_secs(10))),
        )
        .await
        .expect("follows the page away");
        assert!(page.html.contains("fine"), "{path}: the page it went to: {}", page.html);
        assert!(page.final_url.ends_with("/ok"), "{path}: {}", page.final_url);
    }
    let later = guarded(
        "a page that refreshes in a minute",
        browser.fetch(PageRequest::new(server.url("/refresh-later")).deadline(Duration::from_secs(10))),
    )
    .await
    .expect("a page that refreshes later is taken");
    assert!(
        later.html.contains("news of the hour") && !later.partial,
        "{}",
        later.html
    );
    let restless = guarded(
        "a page that never stays",
        browser.fetch(PageRequest::new(server.url("/away-forever")).deadline(Duration::from_secs(3))),
    )
    .await;
    match &restless {
        Ok(page) => assert!(page.partial || page.html.contains("restless"), "{}", page.html),
        Err(e) => assert!(
            matches!(e.kind(), ErrorKind::Fetch(FetchError::Timeout { .. })),
            "a time-out, not {e:#}"
        ),
    }
    drop(browser);
    assert_eq!(next_page_loads(&pool, &server).await, pid, "the same browser serves on");
    pool.shutdown().await;
}

/// Issue 28, item 5: a page that sends itself (a `<meta refresh>`, a script's `location`) to a
/// URL nothing answers used to come back as a page: Chromium's "This site can't be reached",
/// at `chrome-error://chromewebdata/`. It is a failure, with Chromium's network error and the
/// URL that failed.
async fn a_page_that_sends_itself_to_a_failing_url_fails<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    // Bound, then closed: nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let refused = format!("http://127.0.0.1:{}/gone", closed.local_addr().expect("addr").port());
    drop(closed);
    let to = refused.clone();
    let server = LocalServer::start(move |target| match target {
        "/refresh" => Reply::Html(format!(
            "<!doctype html><title>leaving</title><meta http-equiv=refresh content=\"0; url={to}\"><p>leaving</p>"
        )),
        "/script" => Reply::Html(format!(
            "<!doctype html><title>leaving</title><p>leaving</p><script>location.href = {to:?};</script>"
        )),
        _ => Reply::NotFound,
    })
    .expect("local server");
    let pool = BrowserPool::new(provider, options()).await.expect("pool");
    for path in ["/refresh", "/script"] {
        let mut browser = pool.checkout().await.expect("checkout");
        let err = guarded(
            "a page sent on to a refused URL",
            browser.fetch(PageRequest::new(server.url(path)).deadline(Duration::from_secs(10))),
        )
        .await
        .expect_err("Chromium's error page is not a page");
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Fetch(FetchError::Network {
                    class: FailureClass::ConnectionRefused,
                    ..
                })
            ),
            "{path}: {err:#}"
        );
        let said = format!("{err:#}");
        assert!(said.contains("net::ERR_CONNECTION_REFUSED"), "{path}: {said}");
        assert!(said.contains(&refused), "{path}: the URL that failed: {said}");
    }
    pool.shutdown().await;
}

/// Issue 28, item 12: a PDF (or plain text) rendered headless used to be a successful page with
/// next to no text, and a binary body (which the browser downloads) failed as
/// `net::ERR_ABORTED` and was tried four times, where the static engine says `fetch.not_html`.
/// Both engines now fail them alike, at once, without retrying.
async fn a_document_that_is_not_html_fails_in_both_engines<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
    let server = LocalServer::start(|target| match target {
        "/paper.pdf" => Reply::Data {
            content_type: "application/pdf",
            body: PDF.to_vec(),
        },
        "/notes.txt" => Reply::Data {
            content_type: "text/plain; charset=utf-8",
            body: b"Plain notes, not a page.".to_vec(),
        },
        // What a browser downloads instead of showing it.
        "/blob" => Reply::Data {
            content_type: "application/octet-stream",
            body: (0..=255u8).cycle().take(4096).collect(),
        },
        _ => Reply::NotFound,
    })
    .expect("local server");
    let executor = executor(provider, RiptideConfig::default());
    for path in ["/paper.pdf", "/notes.txt", "/blob"] {
        for engine in [EngineChoice::Static, EngineChoice::Headless] {
            let err = guarded(
                "a document that is not HTML",
                executor.extract_with(&server.url(path), engine),
            )
            .await
            .expect_err("not a page riptide extracts");
            assert_eq!(err.code(), "fetch.not_html", "{path}, {engine:?}: {err:#}");
        }
        let asked = server.received().iter().filter(|r| r.target == path).count();
        assert_eq!(asked, 2, "{path}: once per engine, never retried");
    }
    executor.shutdown().await.expect("shutdown");
}

/// The main processes of the browsers under `runtime_dir` (a browser's helpers carry `--type=`).
fn browsers_under(runtime_dir: &std::path::Path) -> Vec<u32> {
    let marker = runtime_dir.display().to_string();
    support::processes_mentioning(&marker)
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| !String::from_utf8_lossy(&cmdline).contains("--type="))
        })
        .collect()
}

/// Issue 10's fault target: one batch meets every fault at once (a page that never yields,
/// dialogs, a picture that never comes, a body that trickles, pages that leave as they load and
/// one that never stops leaving), while one browser is killed with SIGKILL and another stopped
/// with SIGSTOP. Every page gets an answer, and once the executor has shut down, no browser
/// process and no browser directory is left.
async fn a_batch_through_every_fault_leaves_no_browser_or_directory_behind<P: TestedProvider>() {
    use futures_util::StreamExt;
    let Some((provider, runtime_dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = faulty_server();
    let mut config = RiptideConfig::default();
    config.optimizations.browser_pool.max_instances = 2;
    config.optimizations.browser_pool.min_instances = 2;
    config.optimizations.adaptive_timeout.request_timeout_secs = Some(6.0);
    let executor = executor(provider, config);
    executor.warm_up().await.expect("two browsers");
    let browsers = browsers_under(&runtime_dir);
    assert_eq!(browsers.len(), 2, "two browsers warmed: {browsers:?}");
    let pages = [
        "/spin",
        "/ok",
        "/alert",
        "/stuck-image",
        "/away",
        "/trickle",
        "/refresh",
        "/away-forever",
        "/late-fetch",
        "/ok",
    ];
    let urls: Vec<String> = pages.iter().map(|p| server.url(p)).collect();
    let batch = executor.extract_many_with(urls.clone(), EngineChoice::Headless, 4);
    // The faults on the browsers land as the batch starts: the first page to finish is the signal.
    let mut batch = std::pin::pin!(batch);
    let first = guarded("the first page", batch.next()).await.expect("a first answer");
    let targets = browsers_under(&runtime_dir);
    assert!(!targets.is_empty(), "browsers at work");
    // SAFETY: kill(2) has no memory-safety preconditions; a browser that exited meanwhile
    // (the pool replaces one that failed) makes it fail with ESRCH, which is fine here.
    unsafe {
        libc::kill(targets[0] as libc::pid_t, libc::SIGKILL);
        if let Some(&second) = targets.get(1) {
            libc::kill(second as libc::pid_t, libc::SIGSTOP);
        }
    }
    let mut answered = vec![first];
    while let Some(answer) = guarded("the rest of the batch", batch.next()).await {
        answered.push(answer);
    }
    assert_eq!(answered.len(), pages.len(), "every page answered once");
    let ok = answered.iter().filter(|(_, r)| r.is_ok()).count();
    assert!(ok >= 1, "some pages extract: {answered:?}");
    guarded("shutdown", executor.shutdown()).await.expect("shutdown");
    let left = support::processes_mentioning(&runtime_dir.display().to_string());
    assert!(left.is_empty(), "browser processes outlived shutdown: {left:?}");
    support::assert_empty_dir(&runtime_dir);
}

/// Runs every test above once per provider: `chrome::NAME` and `chromiumoxide::NAME`.
macro_rules! for_each_provider {
    ($module:ident, $provider:ty) => {
        mod $module {
            type P = $provider;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_page_that_never_yields_times_out_and_its_browser_is_replaced() {
                super::a_page_that_never_yields_times_out_and_its_browser_is_replaced::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dialogs_do_not_block_a_render() {
                super::dialogs_do_not_block_a_render::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_body_sent_a_byte_a_second_is_taken_as_it_stands_at_the_deadline() {
                super::a_body_sent_a_byte_a_second_is_taken_as_it_stands_at_the_deadline::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_page_over_the_render_memory_limit_is_stopped() {
                super::a_page_over_the_render_memory_limit_is_stopped::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_page_that_fills_its_javascript_heap_fails_as_over_memory() {
                super::a_page_that_fills_its_javascript_heap_fails_as_over_memory::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_render_reports_the_url_after_redirects() {
                super::a_render_reports_the_url_after_redirects::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn headless_links_resolve_against_the_final_host() {
                super::headless_links_resolve_against_the_final_host::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn both_engines_refuse_an_unverified_certificate_unless_told() {
                super::both_engines_refuse_an_unverified_certificate_unless_told::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_remote_browser_verifies_certificates_as_configured() {
                super::a_remote_browser_verifies_certificates_as_configured::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn both_engines_classify_dns_and_refused_connections_themselves() {
                super::both_engines_classify_dns_and_refused_connections_themselves::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_page_that_never_finishes_loading_is_returned_partial() {
                super::a_page_that_never_finishes_loading_is_returned_partial::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn network_idle_waits_for_requests_started_after_load() {
                super::network_idle_waits_for_requests_started_after_load::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn both_engines_fail_a_page_served_with_an_error_status() {
                super::both_engines_fail_a_page_served_with_an_error_status::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn pages_that_navigate_away_are_followed() {
                super::pages_that_navigate_away_are_followed::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_page_that_sends_itself_to_a_failing_url_fails() {
                super::a_page_that_sends_itself_to_a_failing_url_fails::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_document_that_is_not_html_fails_in_both_engines() {
                super::a_document_that_is_not_html_fails_in_both_engines::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_batch_through_every_fault_leaves_no_browser_or_directory_behind() {
                super::a_batch_through_every_fault_leaves_no_browser_or_directory_behind::<P>().await
            }
        }
    };
}

for_each_provider!(chrome, riptide::backends::chrome::ChromeProvider);
#[cfg(feature = "chromiumoxide")]
for_each_provider!(chromiumoxide, riptide::backends::chromiumoxide::ChromiumoxideProvider);
