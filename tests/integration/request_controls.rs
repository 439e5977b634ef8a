//! Request controls (issue 10, item 5) on real Chromium. Blocking: a page's pictures, style
//! sheet and an "ad" script are requested from a local server that counts what it serves;
//! blocked ones never reach it. User agent and extra headers: the server records what every
//! request of a render carried.
#![cfg(feature = "chrome")]

use crate::support;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use riptide::ResourceKind;
use riptide::backends::chrome::ChromiumSettings;
use riptide::traits::PageRequest;
use support::local_server::{LocalServer, Reply};
use support::{TestedProvider, provider_or_skip};

const PAGE: &str = r#"<!doctype html><title>assets</title><link rel="stylesheet" href="/style.css">
<p>text</p><img src="/pic.png"><img src="/pic.png?size=2"><script src="/ads/track.js"></script>"#;

/// Requests served so far: pictures, style sheets, ad scripts.
#[derive(Default)]
struct Served {
    pictures: AtomicUsize,
    styles: AtomicUsize,
    ads: AtomicUsize,
}

fn server(served: Arc<Served>) -> LocalServer {
    LocalServer::start(move |target| {
        let count = |n: &AtomicUsize| n.fetch_add(1, Ordering::SeqCst);
        match target {
            t if t.starts_with("/pic.png") => {
                count(&served.pictures);
                Reply::Data {
                    content_type: "image/png",
                    body: Vec::new(),
                }
            }
            "/style.css" => {
                count(&served.styles);
                Reply::Data {
                    content_type: "text/css",
                    body: b"p { color: black }".to_vec(),
                }
            }
            "/ads/track.js" => {
                count(&served.ads);
                Reply::Data {
                    content_type: "text/javascript",
                    body: b"1".to_vec(),
                }
            }
            _ => Reply::Html(PAGE.into()),
        }
    })
    .expect("local server")
}

fn provider<P: TestedProvider>(executable: PathBuf, kinds: Vec<ResourceKind>, urls: Vec<String>) -> P {
    P::new(ChromiumSettings {
        executable: Some(executable),
        runtime_dir: Some(tempfile::tempdir().expect("dir").keep()),
        block_resources: kinds,
        block_urls: urls,
        ..ChromiumSettings::default()
    })
    .expect("provider")
}

/// Renders the page once on a fresh browser of `provider`; what the server served for it.
fn render<P: TestedProvider>(provider: &P) -> (usize, usize, usize) {
    let served = Arc::new(Served::default());
    let server = server(served.clone());
    let browser = provider.launch().expect("launch");
    let page = provider
        .fetch(&browser, &PageRequest::new(server.url("/")))
        .expect("renders");
    assert!(page.html.contains("<p>text</p>"), "{}", page.html);
    provider.close(browser);
    let n = |c: &AtomicUsize| c.load(Ordering::SeqCst);
    (n(&served.pictures), n(&served.styles), n(&served.ads))
}

fn blocked_kinds_and_patterns_are_never_requested<P: TestedProvider>() {
    let Some((plain, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let executable = plain.executable().expect("local").to_path_buf();
    assert_eq!(render(&plain), (2, 1, 1), "without blocking, everything loads");

    let images = provider::<P>(executable.clone(), vec![ResourceKind::Image], Vec::new());
    assert_eq!(
        render(&images),
        (0, 1, 1),
        "pictures, with and without a query string, blocked"
    );

    let styles_and_ads = provider::<P>(executable, vec![ResourceKind::Stylesheet], vec!["*/ads/*".to_string()]);
    assert_eq!(
        render(&styles_and_ads),
        (2, 0, 0),
        "style sheet by kind, script by pattern"
    );
}

fn the_user_agent_and_extra_headers_reach_the_server_on_every_request<P: TestedProvider>() {
    let Some((plain, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let executable = plain.executable().expect("local").to_path_buf();
    for stealth in [false, true] {
        let served = Arc::new(Served::default());
        let server = server(served);
        let provider = P::new(ChromiumSettings {
            executable: Some(executable.clone()),
            runtime_dir: Some(tempfile::tempdir().expect("dir").keep()),
            user_agent: Some("riptide-test/1.0".into()),
            headers: vec![("X-Riptide-Test".into(), "yes".into())],
            stealth,
            ..ChromiumSettings::default()
        })
        .expect("provider");
        let browser = provider.launch().expect("launch");
        provider
            .fetch(&browser, &PageRequest::new(server.url("/")))
            .expect("renders");
        provider.close(browser);
        // Chromium asks for `/favicon.ico` itself after `load` (the new headless mode does what
        // a desktop browser does), from the browser process, which no tab setting reaches; it
        // is not a request of the page, and whether it arrives before this read is a race.
        let received: Vec<_> = server
            .received()
            .into_iter()
            .filter(|request| request.target != "/favicon.ico")
            .collect();
        assert!(received.len() >= 4, "the page and its subresources: {received:?}");
        for request in &received {
            assert_eq!(
                request.header("user-agent"),
                Some("riptide-test/1.0"),
                "stealth {stealth}: {request:?}"
            );
            assert_eq!(
                request.header("x-riptide-test"),
                Some("yes"),
                "stealth {stealth}: {request:?}"
            );
        }
    }

    // Without them, neither is sent.
    let served = Arc::new(Served::default());
    let server = server(served);
    render_with(&plain, &server);
    let page = &server.received()[0];
    assert!(
        page.header("user-agent")
            .is_some_and(|ua| ua.contains("HeadlessChrome")),
        "{page:?}"
    );
    assert_eq!(page.header("x-riptide-test"), None);
}

fn render_with<P: TestedProvider>(provider: &P, server: &LocalServer) {
    let browser = provider.launch().expect("launch");
    provider
        .fetch(&browser, &PageRequest::new(server.url("/")))
        .expect("renders");
    provider.close(browser);
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

fn a_screenshot_is_taken_only_when_asked_for<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = server(Arc::new(Served::default()));
    let browser = provider.launch().expect("launch");
    let plain = provider
        .fetch(&browser, &PageRequest::new(server.url("/")))
        .expect("renders");
    assert_eq!(plain.screenshot, None);
    let shot = provider
        .fetch(&browser, &PageRequest::new(server.url("/")).screenshot(true))
        .expect("renders");
    provider.close(browser);
    let png = shot.screenshot.expect("a screenshot");
    assert!(
        png.starts_with(PNG_SIGNATURE) && png.len() > 1000,
        "{} bytes",
        png.len()
    );
    assert_eq!(shot.html, plain.html, "the screenshot does not change the page");
}

/// Runs every browser test above once per provider: `chrome::NAME` and `chromiumoxide::NAME`.
macro_rules! for_each_provider {
    ($module:ident, $provider:ty) => {
        mod $module {
            type P = $provider;

            #[test]
            fn blocked_kinds_and_patterns_are_never_requested() {
                super::blocked_kinds_and_patterns_are_never_requested::<P>()
            }
            #[test]
            fn the_user_agent_and_extra_headers_reach_the_server_on_every_request() {
                super::the_user_agent_and_extra_headers_reach_the_server_on_every_request::<P>()
            }
            #[test]
            fn a_screenshot_is_taken_only_when_asked_for() {
                super::a_screenshot_is_taken_only_when_asked_for::<P>()
            }
        }
    };
}

for_each_provider!(chrome, riptide::backends::chrome::ChromeProvider);
#[cfg(feature = "chromiumoxide")]
for_each_provider!(chromiumoxide, riptide::backends::chromiumoxide::ChromiumoxideProvider);
