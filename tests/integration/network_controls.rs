//! Cookies, a proxy with credentials (never given to an origin that asks for a password) and a
//! per-request timeout (issue 10, item 5; issue 26), in both engines and both providers through
//! the executor: real Chromium, a real proxy (Debian's tinyproxy) and local
//! servers that record every request they receive.
#![cfg(all(feature = "chrome", feature = "wasmtime"))]

use crate::{common, support};

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use riptide::backends::chrome::ChromiumSettings;
use riptide::error::{ErrorKind, LastAttempt, RetryError};
use riptide::{EngineChoice, RiptideConfig};
use support::local_server::{LocalServer, Reply};
use support::tinyproxy::{self, Tinyproxy};
use support::{TestedProvider, provider_or_skip};

const PAGE: &str = r#"<!doctype html><title>controls</title><article><h1>Request controls</h1>
<p>A page long enough to be an article: the request controls of both engines are checked on what
the server received for it, its picture included when a browser renders it. Nothing here needs a
script, so the static engine and the browser see the same text.</p><img src="/pic.png"></article>"#;

/// A server on `ip` with the page at every path, `/pic.png` a picture, `/hang` never answered
/// and `/stuck` a page whose picture never comes.
fn server_on(ip: IpAddr) -> LocalServer {
    LocalServer::start_on(ip, |target| match target {
        "/pic.png" => Reply::Data {
            content_type: "image/png",
            body: Vec::new(),
        },
        "/hang" | "/never.png" => Reply::Hang,
        "/stuck" => Reply::Html(PAGE.replace("/pic.png", "/never.png")),
        _ => Reply::Html(PAGE.into()),
    })
    .expect("local server")
}

/// The provider `config` describes, local, with its own runtime directory.
fn provider<P: TestedProvider>(executable: &Path, config: &RiptideConfig) -> P {
    P::new(ChromiumSettings {
        executable: Some(executable.to_path_buf()),
        runtime_dir: Some(tempfile::tempdir().expect("dir").keep()),
        cookies: config.network.request_cookies().expect("cookies"),
        proxy: config.network.proxy_server().expect("proxy"),
        ..ChromiumSettings::default()
    })
    .expect("provider")
}

async fn cookies_reach_their_own_site_and_no_other_in_both_engines<P: TestedProvider>() {
    let Some((plain, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let executable = plain.executable().expect("local").to_path_buf();
    let mut config = RiptideConfig::default();
    config.network.cookies = vec![
        "session=abc; Domain=127.0.0.1".into(),
        "elsewhere=x; Domain=example.com".into(),
    ];
    let executor = common::executor_builder(provider::<P>(&executable, &config), config)
        .build()
        .expect("executor");
    for engine in [EngineChoice::Static, EngineChoice::Headless] {
        let site = server_on(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let other = server_on(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
        for server in [&site, &other] {
            let page = executor.extract_with(&server.url("/"), engine).await.expect("extracts");
            assert!(
                page.extracted.text.contains("request controls"),
                "{engine:?}: {}",
                page.extracted.text
            );
        }
        let received = site.received();
        if engine == EngineChoice::Headless {
            assert!(received.iter().any(|r| r.target == "/pic.png"), "{received:?}");
        }
        for request in &received {
            assert_eq!(request.header("cookie"), Some("session=abc"), "{engine:?}: {request:?}");
        }
        for request in other.received() {
            assert_eq!(
                request.header("cookie"),
                None,
                "{engine:?}: another site's: {request:?}"
            );
        }
    }
    executor.shutdown().await.expect("shutdown");
}

type ProxiedExecutor<P> = riptide::Executor<
    P,
    riptide::backends::wasmtime::WasmtimeRuntime,
    common::SharedModuleCache,
    riptide::policies::AdaptiveTimeout,
>;

/// An executor whose browser and static fetches go through a real tinyproxy that asks for
/// credentials, given `password` for it (and 10 s per page); `None` (skip) without Chromium or
/// tinyproxy outside CI. The proxy lives as long as the tuple.
fn proxied_executor<P: TestedProvider>(password: &str) -> Option<(ProxiedExecutor<P>, Tinyproxy, std::path::PathBuf)> {
    let (plain, dir) = provider_or_skip::<P>()?;
    let proxy = Tinyproxy::start_or_skip()?;
    let executable = plain.executable().expect("local").to_path_buf();
    let mut config = RiptideConfig::default();
    config.network.proxy = Some(proxy.url_with_credentials(tinyproxy::USER, password));
    config.optimizations.adaptive_timeout.request_timeout_secs = Some(10.0);
    let executor = common::executor_builder(provider::<P>(&executable, &config), config)
        .build()
        .expect("executor");
    Some((executor, proxy, dir))
}

async fn both_engines_go_through_the_proxy_with_its_credentials<P: TestedProvider>() {
    let Some((executor, _proxy, _dir)) = proxied_executor::<P>(tinyproxy::PASSWORD) else {
        return;
    };
    for engine in [EngineChoice::Static, EngineChoice::Headless] {
        let site = server_on(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let page = executor.extract_with(&site.url("/"), engine).await.expect("extracts");
        assert!(page.extracted.text.contains("request controls"), "{engine:?}");
        let received = site.received();
        assert!(!received.is_empty());
        if engine == EngineChoice::Headless {
            assert!(received.iter().any(|r| r.target == "/pic.png"), "{received:?}");
        }
        for request in &received {
            let via = request.header("via").unwrap_or_default();
            assert!(
                via.contains("tinyproxy"),
                "{engine:?}: not through the proxy: {request:?}"
            );
        }
    }
    executor.shutdown().await.expect("shutdown");
}

async fn a_proxy_that_refuses_the_credentials_lets_nothing_through<P: TestedProvider>() {
    let Some((executor, _proxy, _dir)) = proxied_executor::<P>("wrong") else {
        return;
    };
    for engine in [EngineChoice::Static, EngineChoice::Headless] {
        let site = server_on(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let e = executor
            .extract_with(&site.url("/"), engine)
            .await
            .expect_err("the proxy refuses");
        // tinyproxy answers wrong credentials with 401 (407 asks for missing ones).
        let said = e.to_string();
        assert!(said.contains("401") || said.contains("407"), "{engine:?}: {e:#}");
        assert!(site.received().is_empty(), "{engine:?}: {:?}", site.received());
    }
    executor.shutdown().await.expect("shutdown");
}

/// A page whose origin asks for a password (401 with `WWW-Authenticate: Basic`), rendered
/// through a proxy that asks for its own: the proxy's challenge gets the proxy's credentials,
/// the origin's is cancelled, and no request that reaches the origin carries a password.
async fn an_origin_that_asks_for_a_password_never_gets_the_proxys<P: TestedProvider>() {
    let Some((executor, _proxy, _dir)) = proxied_executor::<P>(tinyproxy::PASSWORD) else {
        return;
    };
    let site = LocalServer::start(|target| match target {
        "/locked" => Reply::Status {
            status: 401,
            content_type: "text/html",
            headers: vec![("www-authenticate", "Basic realm=\"origin\"")],
            body: b"<!doctype html><title>locked</title><p>A password is needed here.</p>".to_vec(),
        },
        _ => Reply::Html(PAGE.into()),
    })
    .expect("local server");
    // A first page, so the proxy's credentials are in the browser's cache when the origin asks.
    let page = executor
        .extract_with(&site.url("/"), EngineChoice::Headless)
        .await
        .expect("through the proxy");
    assert!(page.extracted.text.contains("request controls"));
    let e = executor
        .extract_with(&site.url("/locked"), EngineChoice::Headless)
        .await
        .expect_err("the origin's challenge is cancelled");
    assert!(e.to_string().contains("401"), "{e:#}");
    let received = site.received();
    assert!(received.iter().any(|r| r.target == "/locked"), "{received:?}");
    for request in &received {
        assert!(
            request.header("via").unwrap_or_default().contains("tinyproxy"),
            "not through the proxy: {request:?}"
        );
        assert_eq!(request.header("authorization"), None, "{request:?}");
        assert_eq!(request.header("proxy-authorization"), None, "{request:?}");
        assert!(
            !request.headers.iter().any(|(_, v)| v.contains("YWxpY2U")),
            "the proxy's credentials (base64 of `alice:`) reached the origin: {request:?}"
        );
    }
    executor.shutdown().await.expect("shutdown");
}

async fn the_request_timeout_bounds_every_attempt_of_a_page<P: TestedProvider>() {
    let Some((plain, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let executable = plain.executable().expect("local").to_path_buf();
    let config = RiptideConfig::default();
    // The learned timeout would be 30 s with three retries; the page gets 2 s in all.
    let executor = common::executor_builder(provider::<P>(&executable, &config), config)
        .request_timeout(std::time::Duration::from_secs(2))
        .build()
        .expect("executor");
    let site = server_on(IpAddr::V4(Ipv4Addr::LOCALHOST));
    for engine in [EngineChoice::Static, EngineChoice::Headless] {
        let e = executor
            .extract_with(&site.url("/hang"), engine)
            .await
            .expect_err("never answers");
        match e.kind() {
            ErrorKind::Retry(RetryError::Exhausted {
                attempts: 1,
                last: LastAttempt::TimedOut(after),
                ..
            }) => assert!(after.as_secs_f64() <= 2.0, "{engine:?}: an attempt of {after:?}"),
            _ => panic!("{engine:?}: one attempt cut to the request's 2 s, got {e:#}"),
        }
    }
    // A page whose picture never comes is taken as it stands within its 2 s.
    let page = executor
        .extract_with(&site.url("/stuck"), EngineChoice::Headless)
        .await
        .expect("partial");
    assert!(page.partial, "taken at the request's deadline");
    executor.shutdown().await.expect("shutdown");
}

/// Runs every browser test above once per provider: `chrome::NAME` and `chromiumoxide::NAME`.
macro_rules! for_each_provider {
    ($module:ident, $provider:ty) => {
        mod $module {
            type P = $provider;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cookies_reach_their_own_site_and_no_other_in_both_engines() {
                super::cookies_reach_their_own_site_and_no_other_in_both_engines::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn the_request_timeout_bounds_every_attempt_of_a_page() {
                super::the_request_timeout_bounds_every_attempt_of_a_page::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn both_engines_go_through_the_proxy_with_its_credentials() {
                super::both_engines_go_through_the_proxy_with_its_credentials::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_proxy_that_refuses_the_credentials_lets_nothing_through() {
                super::a_proxy_that_refuses_the_credentials_lets_nothing_through::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_origin_that_asks_for_a_password_never_gets_the_proxys() {
                super::an_origin_that_asks_for_a_password_never_gets_the_proxys::<P>().await
            }
        }
    };
}

for_each_provider!(chrome, riptide::backends::chrome::ChromeProvider);
#[cfg(feature = "chromiumoxide")]
for_each_provider!(chromiumoxide, riptide::backends::chromiumoxide::ChromiumoxideProvider);
