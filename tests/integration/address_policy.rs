//! The address policy (issue 15, item 11): redirects used to be followed to any address and
//! library users could not turn off `file://` inputs. Refused pages now fail before anything is
//! fetched from them, in both engines: by scheme and literal address on the input, after DNS
//! (a name that resolves to a private address), and on every redirect.
//!
//! Every server here is on loopback, which is exactly what a public-only policy refuses: the
//! tests check that no request reaches it.
#![cfg(all(feature = "chrome", feature = "wasmtime"))]

use crate::{common, support};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use riptide::backends::chrome::ChromiumSettings;
use riptide::backends::no_browser::NoBrowser;
use riptide::error::{ErrorKind, FetchError};
use riptide::network::AddressPolicy;
use riptide::policies::AdaptiveTimeout;
use riptide::traits::{BrowserProvider, FailureClass};
use riptide::{EngineChoice, Error, Executor, RiptideConfig};
use support::local_server::{LocalServer, Reply};
use support::{TestedProvider, provider_or_skip};

/// A server that counts the requests it gets.
fn counting_server() -> (LocalServer, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let server = LocalServer::start(move |target| {
        counted.fetch_add(1, Ordering::SeqCst);
        match target {
            "/to-file" => Reply::Redirect("file:///etc/hostname"),
            _ => Reply::Html("<!doctype html><title>inside</title><article><p>Something only the local network should see.</p></article>".into()),
        }
    })
    .expect("bind 127.0.0.1");
    (server, hits)
}

fn executor<B: BrowserProvider>(
    provider: B,
    policy: AddressPolicy,
) -> Executor<B, common::WasmtimeRuntime, common::SharedModuleCache, AdaptiveTimeout> {
    common::executor_builder(provider, RiptideConfig::default())
        .address_policy(policy)
        .build()
        .expect("executor")
}

/// Refused by the policy, as the engine that saw it classified it (and so never retried).
fn blocked(err: &Error) -> bool {
    err.failure_class() == FailureClass::Blocked
        && matches!(err.kind(), ErrorKind::Fetch(FetchError::AddressNotAllowed { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_static_engine_refuses_private_addresses_by_literal_and_by_name() {
    let (server, hits) = counting_server();
    let port = server.addr().port();
    let ex = executor(NoBrowser, AddressPolicy::PUBLIC_ONLY);

    let err = ex
        .extract_with(&format!("http://127.0.0.1:{port}/"), EngineChoice::Static)
        .await
        .expect_err("a literal loopback address");
    assert!(
        matches!(err.kind(), ErrorKind::Fetch(FetchError::AddressNotAllowed { .. })),
        "{err:?}"
    );

    let err = ex
        .extract_with(&format!("http://localhost:{port}/"), EngineChoice::Static)
        .await
        .expect_err("a name that resolves to loopback");
    assert!(blocked(&err), "{err:?}");
    assert!(err.to_string().contains("localhost resolves only to"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no request reached the server");

    // The permissive default still loads it.
    let page = executor(NoBrowser, AddressPolicy::PERMISSIVE)
        .extract_with(&format!("http://localhost:{port}/"), EngineChoice::Static)
        .await
        .expect("allowed");
    assert!(page.extracted.text.contains("only the local network"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_can_be_refused_as_inputs() {
    let no_files = AddressPolicy {
        allow_files: false,
        ..AddressPolicy::PERMISSIVE
    };
    let ex = executor(NoBrowser, no_files);
    let err = ex.extract("/etc/hostname").await.expect_err("a local path");
    assert!(
        matches!(err.kind(), ErrorKind::Fetch(FetchError::AddressNotAllowed { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("allow_file_urls"), "{err}");
    let err = ex.extract("file:///etc/hostname").await.expect_err("a file URL");
    assert!(
        matches!(err.kind(), ErrorKind::Fetch(FetchError::AddressNotAllowed { .. })),
        "{err:?}"
    );
}

/// An allowed host (on the allow list) that redirects to a refused one: the first hop loads,
/// the redirect is refused before any request reaches its target.
struct Hop {
    first: LocalServer,
    target_hits: Arc<AtomicUsize>,
    _target: LocalServer,
    policy: AddressPolicy,
}

fn allowed_host_redirecting_to_a_refused_one() -> Hop {
    let (target, target_hits) = {
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let server = LocalServer::start_on([127, 0, 0, 2].into(), move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            Reply::Html("<title>inside</title><p>private</p>".into())
        })
        .expect("bind 127.0.0.2");
        (server, hits)
    };
    let location: &'static str = Box::leak(target.url("/").into_boxed_str());
    let first = LocalServer::start(move |path| match path {
        "/hop" => Reply::Redirect(location),
        _ => Reply::Html(
            "<!doctype html><title>allowed</title><article><p>The allow-listed intranet page.</p></article>".into(),
        ),
    })
    .expect("bind 127.0.0.1");
    Hop {
        first,
        target_hits,
        _target: target,
        policy: AddressPolicy {
            allowed_hosts: vec!["127.0.0.1".into()],
            ..AddressPolicy::PUBLIC_ONLY
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_static_redirect_is_checked() {
    let hop = allowed_host_redirecting_to_a_refused_one();
    let ex = executor(NoBrowser, hop.policy.clone());
    let page = ex
        .extract_with(&hop.first.url("/"), EngineChoice::Static)
        .await
        .expect("allow-listed");
    assert!(page.extracted.text.contains("allow-listed intranet page"));
    let err = ex
        .extract_with(&hop.first.url("/hop"), EngineChoice::Static)
        .await
        .expect_err("the redirect goes to a refused address");
    assert!(blocked(&err), "{err:?}");
    assert!(err.to_string().contains("a redirect to http://127.0.0.2"), "{err}");
    assert_eq!(
        hop.target_hits.load(Ordering::SeqCst),
        0,
        "no request reached the target"
    );
}

async fn every_headless_redirect_is_checked<P: TestedProvider>() {
    let Some((_, dir)) = provider_or_skip::<P>() else {
        return;
    };
    let hop = allowed_host_redirecting_to_a_refused_one();
    let provider = P::new(ChromiumSettings {
        runtime_dir: Some(dir),
        address_policy: hop.policy.clone(),
        ..ChromiumSettings::default()
    })
    .expect("provider");
    let ex = executor(provider, hop.policy.clone());
    let page = ex
        .extract_with(&hop.first.url("/"), EngineChoice::Headless)
        .await
        .expect("allow-listed");
    assert!(page.extracted.text.contains("allow-listed intranet page"));
    let err = ex
        .extract_with(&hop.first.url("/hop"), EngineChoice::Headless)
        .await
        .expect_err("the redirect goes to a refused address");
    assert!(blocked(&err), "{err:?}");
    assert!(err.to_string().contains("127.0.0.2 is not a public address"), "{err}");
    assert_eq!(
        hop.target_hits.load(Ordering::SeqCst),
        0,
        "no request reached the target"
    );
    ex.shutdown().await.expect("shutdown");
}

async fn headless_renders_refuse_private_addresses_too<P: TestedProvider>() {
    let Some((_, dir)) = provider_or_skip::<P>() else {
        return;
    };
    let provider = P::new(ChromiumSettings {
        runtime_dir: Some(dir),
        address_policy: AddressPolicy::PUBLIC_ONLY,
        ..ChromiumSettings::default()
    })
    .expect("provider");
    let (server, hits) = counting_server();
    let port = server.addr().port();
    let ex = executor(provider, AddressPolicy::PUBLIC_ONLY);

    let err = ex
        .extract_with(&format!("http://127.0.0.1:{port}/"), EngineChoice::Headless)
        .await
        .expect_err("a literal loopback address");
    assert!(
        matches!(err.kind(), ErrorKind::Fetch(FetchError::AddressNotAllowed { .. })),
        "{err:?}"
    );

    // The browser resolves names itself: its document requests are checked as it makes them.
    let err = ex
        .extract_with(&format!("http://localhost:{port}/"), EngineChoice::Headless)
        .await
        .expect_err("a name that resolves to loopback");
    assert!(blocked(&err), "{err:?}");
    assert!(err.to_string().contains("localhost resolves to"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no request reached the server");
    ex.shutdown().await.expect("shutdown");
}

/// Runs every browser test above once per provider: `chrome::NAME` and `chromiumoxide::NAME`.
macro_rules! for_each_provider {
    ($module:ident, $provider:ty) => {
        mod $module {
            type P = $provider;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn every_headless_redirect_is_checked() {
                super::every_headless_redirect_is_checked::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn headless_renders_refuse_private_addresses_too() {
                super::headless_renders_refuse_private_addresses_too::<P>().await
            }
        }
    };
}

for_each_provider!(chrome, riptide::backends::chrome::ChromeProvider);
#[cfg(feature = "chromiumoxide")]
for_each_provider!(chromiumoxide, riptide::backends::chromiumoxide::ChromiumoxideProvider);
