//! Isolation between renders (issue 10, item 4) on real Chromium: what a page stores (a cookie,
//! `localStorage`) is seen by later pages only as `Isolation` allows.
#![cfg(feature = "chrome")]

use crate::support;

use riptide::Isolation;
use riptide::traits::PageRequest;
use support::local_server::{LocalServer, Reply};
use support::{TestedProvider, provider_or_skip};

/// Counts its own visits in a cookie and in `localStorage`, and shows both counts.
const COUNTER: &str = r#"<!doctype html><title>counter</title><p id="visits"></p><script>
const cookie = Number((document.cookie.match(/visits=(\d+)/) || [0, 0])[1]) + 1;
document.cookie = `visits=${cookie}; path=/; max-age=3600`;
const stored = Number(localStorage.getItem('visits') || 0) + 1;
localStorage.setItem('visits', String(stored));
const out = document.getElementById('visits');
out.textContent = `cookie ${cookie} storage ${stored}`;
out.dataset.done = '1';
</script>"#;

fn server() -> LocalServer {
    LocalServer::start(|_| Reply::Html(COUNTER.into())).expect("local server")
}

/// The counts the counter page shows when rendered at `url` under `isolation`.
fn visit<P: TestedProvider>(provider: &P, browser: &P::Browser, url: &str, isolation: Isolation) -> String {
    let request = PageRequest::new(url)
        .wait_for("#visits[data-done]")
        .isolation(isolation);
    let html = provider.fetch(browser, &request).expect("renders").html;
    let start = html.find("cookie ").expect("counts shown");
    html[start..start + html[start..].find('<').expect("end")].to_string()
}

fn each_isolation_shares_exactly_what_it_says<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = server();
    // Two sites on one server: 127.0.0.1 and localhost are different hosts.
    let a = server.url("/a");
    let b = a.replace("127.0.0.1", "localhost");
    let browser = provider.launch().expect("launch");

    // Site (the default): one site's pages share; another site in between starts afresh.
    assert_eq!(visit(&provider, &browser, &a, Isolation::Site), "cookie 1 storage 1");
    assert_eq!(visit(&provider, &browser, &a, Isolation::Site), "cookie 2 storage 2");
    assert_eq!(visit(&provider, &browser, &b, Isolation::Site), "cookie 1 storage 1");
    assert_eq!(
        visit(&provider, &browser, &a, Isolation::Site),
        "cookie 1 storage 1",
        "a site is not seen again after another"
    );

    // Page: nothing survives from one render to the next, even on one site.
    assert_eq!(visit(&provider, &browser, &a, Isolation::Page), "cookie 1 storage 1");
    assert_eq!(visit(&provider, &browser, &a, Isolation::Page), "cookie 1 storage 1");

    // Shared: a session, across sites and back.
    assert_eq!(visit(&provider, &browser, &a, Isolation::Shared), "cookie 2 storage 2");
    assert_eq!(visit(&provider, &browser, &b, Isolation::Shared), "cookie 1 storage 1");
    assert_eq!(visit(&provider, &browser, &a, Isolation::Shared), "cookie 3 storage 3");
    provider.close(browser);
}

/// Runs every browser test above once per provider: `chrome::NAME` and `chromiumoxide::NAME`.
macro_rules! for_each_provider {
    ($module:ident, $provider:ty) => {
        mod $module {
            type P = $provider;

            #[test]
            fn each_isolation_shares_exactly_what_it_says() {
                super::each_isolation_shares_exactly_what_it_says::<P>()
            }
        }
    };
}

for_each_provider!(chrome, riptide::backends::chrome::ChromeProvider);
#[cfg(feature = "chromiumoxide")]
for_each_provider!(chromiumoxide, riptide::backends::chromiumoxide::ChromiumoxideProvider);

/// The default layout (chromiumoxide, several pooled browsers as tabs of one process): each
/// pooled browser keeps to itself what it rendered, as a browser of its own would, though its
/// process is shared; and each runs the isolations as above.
#[cfg(feature = "chromiumoxide")]
#[test]
fn pooled_browsers_sharing_a_process_share_nothing_else() {
    use riptide::RiptideConfig;
    use riptide::backends::chromiumoxide::{ChromiumSettings, ChromiumoxideProvider};
    use riptide::config::BrowserProviderKind;
    use riptide::traits::BrowserProvider;
    use support::provider_with_or_skip;

    let pool = RiptideConfig::default().optimizations.browser_pool;
    assert_eq!(
        pool.provider,
        BrowserProviderKind::Chromiumoxide,
        "the default provider"
    );
    assert!(pool.tabs_per_browser() > 1, "the default layout shares processes");
    let Some((provider, _dir)) = provider_with_or_skip::<ChromiumoxideProvider>(ChromiumSettings {
        tabs_per_browser: pool.tabs_per_browser() as usize,
        ..ChromiumSettings::default()
    }) else {
        return;
    };
    let server = server();
    let a = server.url("/a");
    let b = a.replace("127.0.0.1", "localhost");
    let first = provider.launch().expect("launch");
    let second = provider.launch().expect("launch");
    assert_eq!(first.pid(), second.pid(), "two tabs of one process");

    // A session in the first pooled browser...
    assert_eq!(visit(&provider, &first, &a, Isolation::Shared), "cookie 1 storage 1");
    assert_eq!(visit(&provider, &first, &a, Isolation::Shared), "cookie 2 storage 2");
    // ...is not seen by the second, whatever its isolation; nor the second's by the first.
    assert_eq!(visit(&provider, &second, &a, Isolation::Shared), "cookie 1 storage 1");
    assert_eq!(visit(&provider, &second, &a, Isolation::Site), "cookie 2 storage 2");
    assert_eq!(visit(&provider, &first, &a, Isolation::Shared), "cookie 3 storage 3");
    // Site and page isolation hold in a shared process as in a process of one's own.
    assert_eq!(visit(&provider, &second, &b, Isolation::Site), "cookie 1 storage 1");
    assert_eq!(visit(&provider, &second, &a, Isolation::Site), "cookie 1 storage 1");
    assert_eq!(visit(&provider, &first, &a, Isolation::Page), "cookie 1 storage 1");
    assert_eq!(visit(&provider, &first, &a, Isolation::Page), "cookie 1 storage 1");
    provider.close(first);
    provider.close(second);
}
