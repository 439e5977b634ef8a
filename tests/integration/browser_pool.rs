//! The browser pool on real Chromium against pages served on 127.0.0.1, once for each browser
//! provider built: `chrome::*` (headless_chrome) and, with the `chromiumoxide` feature,
//! `chromiumoxide::*`.
//!
//! Without Chromium these tests fail under CI (`CI` set) and are skipped with a message
//! elsewhere.
#![cfg(feature = "chrome")]

use crate::support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use riptide::backends::chrome::{ChromeBrowser, ChromeProvider, ChromiumSettings};
use riptide::error::{BrowserError, ErrorKind, FetchError, PoolError};
use riptide::traits::{BrowserProvider, PageRequest};
use riptide::{BrowserPool, Error, PoolOptions};
use support::{Recording, Server, TestedBrowser, TestedProvider, pid_gone, provider_or_skip, send_signal, title_of};

fn options(min: usize, target: usize, max: usize) -> PoolOptions {
    PoolOptions {
        min_instances: min,
        target_available: target,
        max_instances: max,
        // Tests drive maintenance themselves with `run_maintenance`.
        health_check_interval: Duration::from_secs(3600),
        probe_deadline: Duration::from_secs(2),
        max_checkout_duration: Duration::from_secs(30),
        ..PoolOptions::default()
    }
}

async fn pool_of<P: TestedProvider>(provider: P, options: PoolOptions) -> BrowserPool<Recording<P>> {
    BrowserPool::new(Recording::new(provider), options)
        .await
        .expect("pool starts")
}

async fn warm_up_launches_the_target_in_parallel<P: TestedProvider>() {
    let Some((provider, runtime_dir)) = provider_or_skip::<P>() else {
        return;
    };
    let pool = pool_of(provider, options(1, 2, 4)).await;
    let s = pool.status();
    assert_eq!((s.total, s.available, s.created, s.in_use), (2, 2, 2, 0), "{s:?}");
    let spans = pool.provider().launch_spans();
    assert_eq!(spans.len(), 2);
    let last_start = spans.iter().map(|s| s.0).max().expect("two");
    let first_end = spans.iter().map(|s| s.1).min().expect("two");
    assert!(
        last_start < first_end,
        "launches overlapped (ran in parallel): {spans:?}"
    );
    pool.shutdown().await;
    assert_eq!(pool.provider().alive(), 0);
    support::assert_empty_dir(&runtime_dir);
}

async fn fifty_concurrent_checkouts_never_launch_a_third_browser<P: TestedProvider>() {
    let Some((provider, runtime_dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = Server::start();
    let pool = pool_of(
        provider,
        PoolOptions {
            max_checkout_duration: Duration::from_secs(20),
            ..options(1, 1, 2)
        },
    )
    .await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (pool, url) = (pool.clone(), server.url(&format!("/page/{i}")));
        tasks.spawn(async move {
            let mut browser = pool.checkout().await?;
            let html = browser
                .fetch(PageRequest::new(url).deadline(Duration::from_secs(10)))
                .await?;
            assert_eq!(title_of(&html), format!("page {i}"));
            Ok::<_, Error>(())
        });
    }
    let (mut ok, mut timed_out) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        match done.expect("task ran") {
            Ok(()) => ok += 1,
            Err(e) if matches!(e.kind(), ErrorKind::Pool(PoolError::Exhausted { .. })) => timed_out += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(ok + timed_out, 50);
    let s = pool.status();
    assert!(s.created <= 2, "never more than max_instances launched: {s:?}");
    assert!(pool.provider().max_alive() <= 2, "at most 2 browsers alive at once");
    assert_eq!(
        s.checkouts.direct + s.checkouts.launched + s.checkouts.waited,
        ok as u64
    );
    assert_eq!(s.checkouts.timed_out, timed_out as u64);
    pool.shutdown().await;
    assert_eq!(pool.provider().alive(), 0);
    support::assert_empty_dir(&runtime_dir);
}

async fn browser_killed_while_checked_out_is_replaced<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = Server::start();
    let pool = pool_of(provider, options(1, 1, 1)).await;
    let mut browser = pool.checkout().await.expect("checkout");
    let pid = browser.pid().expect("local browser");
    send_signal(pid, libc::SIGKILL);
    let err = browser
        .fetch(PageRequest::new(server.url("/page/1")).deadline(Duration::from_secs(5)))
        .await
        .expect_err("dead browser");
    // Noticed as a death, not waited out as a page that never answered.
    assert!(
        matches!(err.kind(), ErrorKind::Browser(BrowserError::Dead { .. })),
        "{err:?}"
    );
    drop(browser);

    // max_instances = 1: this waits for the dead browser to be probed, closed and replaced.
    let mut browser = pool.checkout().await.expect("replacement");
    assert_ne!(browser.pid(), Some(pid));
    let html = browser
        .fetch(PageRequest::new(server.url("/page/2")))
        .await
        .expect("replacement works");
    assert_eq!(title_of(&html), "page 2");
    drop(browser);
    let s = pool.status();
    assert_eq!((s.health_failures, s.recycled.unhealthy, s.created), (1, 1, 2), "{s:?}");
    assert!(pid_gone(pid), "the killed browser was reaped");
    pool.shutdown().await;
}

async fn frozen_browser_fails_its_probe_and_is_replaced<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let pool = pool_of(provider, options(1, 1, 1)).await;
    let pid = {
        let browser = pool.checkout().await.expect("checkout");
        browser.pid().expect("local")
    };
    pool.settled().await;
    send_signal(pid, libc::SIGSTOP);
    pool.run_maintenance().await;
    let s = pool.status();
    assert_eq!(
        (s.health_failures, s.recycled.unhealthy, s.created, s.total),
        (1, 1, 2, 1),
        "{s:?}"
    );
    assert!(pid_gone(pid), "the frozen browser's process was stopped and reaped");
    let browser = pool.checkout().await.expect("replacement");
    assert_ne!(browser.pid(), Some(pid));
    drop(browser);
    pool.shutdown().await;
}

async fn page_that_never_answers_times_out_and_the_browser_survives<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = Server::start();
    let pool = pool_of(provider, options(1, 1, 1)).await;
    let mut browser = pool.checkout().await.expect("checkout");
    let deadline = Duration::from_secs(2);
    let started = Instant::now();
    let err = browser
        .fetch(PageRequest::new(server.url("/hang")).deadline(deadline))
        .await
        .expect_err("hangs");
    let took = started.elapsed();
    assert!(
        matches!(err.kind(), ErrorKind::Fetch(FetchError::Timeout { .. })),
        "{err:?}"
    );
    // Only the lower bound is a fact; how late past it depends on the machine's load.
    assert!(took >= deadline, "gave up before its deadline: {took:?}");
    let html = browser
        .fetch(PageRequest::new(server.url("/page/7")))
        .await
        .expect("same browser serves the next page");
    assert_eq!(title_of(&html), "page 7");
    drop(browser);
    pool.shutdown().await;
}

/// Regression: a caller that gave up while its checkout was launching a browser (a timeout
/// dropping the future) once left the launch counted forever, so `settled` and `shutdown` hung,
/// and the browser was never closed.
async fn a_checkout_abandoned_mid_launch_strands_nothing<P: TestedProvider>() {
    let Some((provider, runtime_dir)) = provider_or_skip::<P>() else {
        return;
    };
    let pool = pool_of(provider, options(0, 0, 1)).await;
    let abandoned = tokio::time::timeout(Duration::from_millis(1), pool.checkout()).await;
    assert!(abandoned.is_err(), "gave up while the browser launched");
    pool.settled().await;
    let s = pool.status();
    assert_eq!(
        (s.total, s.available, s.in_use),
        (1, 1, 0),
        "the launched browser is kept: {s:?}"
    );
    let mut browser = pool.checkout().await.expect("the kept browser serves");
    let server = Server::start();
    let html = browser
        .fetch(PageRequest::new(server.url("/page/2")))
        .await
        .expect("fetch");
    assert_eq!(title_of(&html), "page 2");
    drop(browser);
    pool.shutdown().await;
    assert_eq!(pool.provider().alive(), 0);
    support::assert_empty_dir(&runtime_dir);
}

/// A fetch dropped by its caller's timeout leaves the browser suspect: probed before reuse.
async fn a_fetch_abandoned_by_its_caller_gets_the_browser_probed<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = Server::start();
    let pool = pool_of(provider, options(1, 1, 1)).await;
    let mut browser = pool.checkout().await.expect("checkout");
    browser
        .fetch(PageRequest::new(server.url("/page/1")))
        .await
        .expect("a clean fetch");
    drop(browser);
    pool.settled().await;
    let clean = pool.provider().probes();

    let mut browser = pool.checkout().await.expect("checkout");
    let request = PageRequest::new(server.url("/hang")).deadline(Duration::from_secs(2));
    let gave_up = tokio::time::timeout(Duration::from_millis(300), browser.fetch(request)).await;
    assert!(gave_up.is_err());
    drop(browser);
    pool.settled().await;
    assert_eq!(pool.provider().probes(), clean + 1, "probed before reuse");
    let s = pool.status();
    assert_eq!(s.total, 1, "{s:?}");
    let mut browser = pool.checkout().await.expect("checkout after the probe");
    let html = browser
        .fetch(PageRequest::new(server.url("/page/4")))
        .await
        .expect("serves again");
    assert_eq!(title_of(&html), "page 4");
    drop(browser);
    pool.shutdown().await;
}

/// Regression: a fetch still running for a caller that gave up once shared the tab with the
/// next fetch, and its watchdog, firing at its own deadline, stopped the next page mid-load.
/// Fetches on one browser now take turns.
fn fetches_on_one_browser_take_turns<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = Server::start();
    let browser = Arc::new(provider.launch().expect("launch"));
    let provider = Arc::new(provider);
    let abandoned = {
        let (provider, browser) = (provider.clone(), browser.clone());
        let request = PageRequest::new(server.url("/hang")).deadline(Duration::from_secs(2));
        std::thread::spawn(move || provider.fetch(&browser, &request))
    };
    server.wait_for_hangs(1);
    let html = provider
        .fetch(
            &browser,
            &PageRequest::new(server.url("/page/5")).deadline(Duration::from_secs(30)),
        )
        .expect("the next page loads in full");
    assert_eq!(title_of(&html), "page 5");
    let first = abandoned.join().expect("no panic");
    assert!(
        first
            .as_ref()
            .is_err_and(|e| matches!(e.kind(), ErrorKind::Fetch(FetchError::Timeout { .. }))),
        "the first ran to its own deadline: {first:?}"
    );
}

async fn javascript_page_with_selector_wait<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = Server::start();
    let pool = pool_of(provider, options(1, 1, 1)).await;
    let mut browser = pool.checkout().await.expect("checkout");
    let page = browser
        .fetch(PageRequest::new(server.url("/js")).wait_for("#ready"))
        .await
        .expect("renders");
    assert!(
        page.html.contains("<p id=\"ready\">built by script</p>"),
        "{}",
        page.html
    );
    assert_eq!(page.final_url, server.url("/js"));
    assert!(!page.partial);
    // The render's profile: stages timed around the calls, marks read in the page in order.
    // The page builds its content 50 ms after it runs, so it is ready no sooner than that.
    let p = page.profile;
    assert!(!p.navigate.is_zero() && !p.wait_and_read.is_zero(), "{p:?}");
    let (loaded, ready, taken) = (
        p.loaded_at.expect("loaded"),
        p.ready_at.expect("ready"),
        p.taken_at.expect("taken"),
    );
    assert!(loaded <= ready && ready <= taken, "{p:?}");
    assert!(ready >= Duration::from_millis(50), "{p:?}");
    // A selector that never matches: the page is taken as it stands at the deadline.
    let page = browser
        .fetch(
            PageRequest::new(server.url("/js"))
                .wait_for("#never")
                .deadline(Duration::from_secs(1)),
        )
        .await
        .expect("the DOM as it stands");
    assert!(page.partial, "the selector never matched");
    assert!(page.html.contains("built by script"), "{}", page.html);
    assert!(page.profile.ready_at.is_none(), "never ready: {:?}", page.profile);
    assert_eq!(page.profile.settle_pause, None, "no settle asked for");
    // With a settle, the page reports the longest quiet spell after it was ready that a change
    // ended: what the executor learns a host's settle from. A page finished at load has none.
    let settle = Duration::from_millis(400);
    let late = browser
        .fetch(PageRequest::new(server.url("/late")).settle(settle))
        .await
        .expect("renders");
    assert!(late.html.contains("changed after load"), "{}", late.html);
    assert!(
        late.profile.settle_pause.is_some_and(|pause| !pause.is_zero()),
        "{:?}",
        late.profile
    );
    let still = browser
        .fetch(PageRequest::new(server.url("/page/1")).settle(settle))
        .await
        .expect("renders");
    assert_eq!(still.profile.settle_pause, Some(Duration::ZERO), "{:?}", still.profile);
    drop(browser);
    pool.shutdown().await;
}

async fn recycles_after_max_requests<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let pool = pool_of(
        provider,
        PoolOptions {
            max_requests_per_instance: 2,
            ..options(1, 1, 1)
        },
    )
    .await;
    let first = pool.checkout().await.expect("1").pid();
    let second = pool.checkout().await.expect("2").pid();
    assert_eq!(first, second, "reused while under the limit");
    let third = pool.checkout().await.expect("3 waits for the replacement");
    assert_ne!(third.pid(), first, "recycled after 2 requests");
    drop(third);
    let s = pool.status();
    assert_eq!((s.recycled.requests, s.created), (1, 2), "{s:?}");
    pool.shutdown().await;
}

async fn recycles_over_the_memory_limit<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let pool = pool_of(
        provider,
        PoolOptions {
            memory_limit_bytes: 1 << 20,
            ..options(1, 1, 1)
        },
    )
    .await;
    let first = pool.checkout().await.expect("1").pid();
    let second = pool.checkout().await.expect("2 waits for the replacement");
    assert_ne!(
        second.pid(),
        first,
        "a browser over 1 MiB (all of them) is recycled on return"
    );
    drop(second);
    let s = pool.status();
    assert!(s.recycled.memory >= 1, "{s:?}");
    pool.shutdown().await;
}

async fn idle_reaping_keeps_min_instances<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let pool = pool_of(
        provider,
        PoolOptions {
            idle_timeout: Duration::ZERO,
            ..options(1, 3, 3)
        },
    )
    .await;
    assert_eq!(pool.status().total, 3);
    pool.run_maintenance().await;
    let s = pool.status();
    assert_eq!((s.total, s.available, s.recycled.idle), (1, 1, 2), "{s:?}");
    pool.run_maintenance().await;
    assert_eq!(pool.status().total, 1, "never below min_instances");
    pool.shutdown().await;
}

async fn status_reports_memory_and_waits<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let pool = pool_of(provider, options(1, 1, 1)).await;
    drop(pool.checkout().await.expect("checkout"));
    pool.settled().await;
    let s = pool.status();
    assert_eq!(s.browsers.len(), 1);
    let mb = s.browsers[0].memory_mb.expect("memory measured");
    assert!(mb > 10.0, "a browser's PSS is tens of MiB at least: {mb}");
    assert_eq!(s.checkout_wait.samples, 1);
    let json = serde_json::to_value(&s).expect("serializable");
    assert_eq!(json["provider"], pool.provider().name());
    pool.shutdown().await;
}

fn shutdown_and_drop_leave_no_process_or_directory<P: TestedProvider>() {
    let Some((provider, runtime_dir)) = provider_or_skip::<P>() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // shutdown
    let (trees, dirs) = rt.block_on(async {
        let pool = pool_of(provider, options(2, 2, 2)).await;
        let (trees, dirs) = support::browsers_of(&pool).await;
        pool.shutdown().await;
        let closed = pool.checkout().await.expect_err("shut down");
        assert!(matches!(closed.kind(), ErrorKind::Pool(PoolError::Closed)), "{closed}");
        (trees, dirs)
    });
    support::assert_all_gone(&trees, &dirs);

    // drop without shutdown: the runtime's end drops the pool's tasks and with them the browsers
    let provider = P::new(ChromiumSettings {
        runtime_dir: Some(runtime_dir.clone()),
        ..Default::default()
    })
    .expect("provider");
    let (trees, dirs, handle) = rt.block_on(async {
        let pool = pool_of(provider, options(2, 2, 2)).await;
        let (trees, dirs) = support::browsers_of(&pool).await;
        // A handle that outlives the runtime must still be droppable.
        let handle = pool.checkout().await.expect("checkout");
        (trees, dirs, handle)
    });
    drop(rt);
    drop(handle);
    support::assert_all_gone(&trees, &dirs);
    support::assert_empty_dir(&runtime_dir);
}

async fn connects_to_a_running_chromium_and_never_kills_it<P: TestedProvider>() {
    let Some((local, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = Server::start();
    let remote = support::RemoteChromium::start(local.executable().expect("local binary"));
    let pool = BrowserPool::new(
        P::new(ChromiumSettings::remote(vec![remote.ws_url.clone()])).expect("remote"),
        options(1, 1, 1),
    )
    .await
    .expect("pool connects");
    let mut browser = pool.checkout().await.expect("checkout");
    assert_eq!(browser.endpoint(), Some(remote.ws_url.as_str()));
    let html = browser
        .fetch(PageRequest::new(server.url("/page/3")))
        .await
        .expect("fetches");
    assert_eq!(title_of(&html), "page 3");
    drop(browser);
    pool.shutdown().await;
    assert!(
        !pid_gone(remote.pid()),
        "riptide disconnects from a remote browser, never kills it"
    );
}

/// Two providers sharing one runtime directory must not hand two browsers the same profile
/// directory (the second Chromium would exit and its launch hang until the crate's timeout).
fn providers_sharing_a_runtime_dir_launch_side_by_side<P: TestedProvider>() {
    let Some((first, runtime_dir)) = provider_or_skip::<P>() else {
        return;
    };
    let second = P::new(ChromiumSettings {
        runtime_dir: Some(runtime_dir.clone()),
        ..Default::default()
    })
    .expect("provider");
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| first.launch());
        let b = s.spawn(|| second.launch());
        (a.join().expect("thread"), b.join().expect("thread"))
    });
    let (a, b) = (a.expect("first launches"), b.expect("second launches"));
    assert_ne!(a.dir(), b.dir());
    first.close(a);
    second.close(b);
    support::assert_empty_dir(&runtime_dir);
}

fn missing_browser_is_a_clear_error<P: TestedProvider>() {
    let err = P::new(ChromiumSettings {
        executable: Some("/nonexistent/chromium".into()),
        ..Default::default()
    })
    .expect_err("no such binary");
    assert!(
        matches!(err.kind(), ErrorKind::Browser(BrowserError::NotFound { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("/nonexistent/chromium"), "{err}");
    assert!(err.hint().contains("apt-get install -y chromium"), "{}", err.hint());
    assert_eq!(err.code(), "browser.not_found");
}

/// A type check more than a test: the pool and handles are usable across tasks.
#[allow(dead_code)]
fn pool_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<BrowserPool<ChromeProvider>>();
    check::<Arc<ChromeBrowser>>();
    fn check_send<T: Send>() {}
    check_send::<riptide::PooledBrowser<ChromeProvider>>();
    let _ = <ChromeProvider as BrowserProvider>::name;
    #[cfg(feature = "chromiumoxide")]
    {
        use riptide::backends::chromiumoxide::{ChromiumoxideBrowser, ChromiumoxideProvider};
        check::<BrowserPool<ChromiumoxideProvider>>();
        check::<Arc<ChromiumoxideBrowser>>();
        check_send::<riptide::PooledBrowser<ChromiumoxideProvider>>();
    }
}

/// Issue 16, item 4: a browser is started without what it never uses, each a renderer
/// process: Chromium's first tab, and the omnibox popups (disabled in the one
/// `--disable-features` Chromium reads: the defaults', the caller's and riptide's together).
/// It used to run four renderers idle; now one for its tab, and at most a spare one Chromium
/// keeps ready for the next site.
fn a_browser_starts_without_tabs_or_ui_it_never_uses<P: TestedProvider>() {
    let Some((provider, runtime_dir)) = provider_or_skip::<P>() else {
        return;
    };
    drop(provider);
    let provider = P::new(ChromiumSettings {
        runtime_dir: Some(runtime_dir),
        extra_args: vec!["--disable-features=Translate".into()],
        ..Default::default()
    })
    .expect("provider");
    let browser = provider.launch().expect("launch");
    let pid = browser.pid().expect("a local browser has a pid");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("the browser's command line");
    let flags: Vec<String> = String::from_utf8_lossy(&cmdline)
        .split('\0')
        .filter(|arg| arg.starts_with("--disable-features="))
        .map(String::from)
        .collect();
    let renderers: Vec<u32> = browser
        .process_tree()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains("--type=renderer"))
        })
        .collect();
    provider.close(browser);
    assert!(renderers.len() <= 2, "renderers of an idle browser: {renderers:?}");
    assert_eq!(flags.len(), 1, "{flags:?}");
    for feature in [
        "TranslateUI",
        "Translate",
        "WebUIOmniboxPopup",
        "WebUIOmniboxAimPopup",
        "BackForwardCache",
    ] {
        assert!(
            flags[0].split([',', '=']).any(|f| f == feature),
            "{feature} missing: {flags:?}"
        );
    }
}

/// Issue 28, item 1: a local browser's DevTools are reachable by no other user of the machine.
/// Chromium used to listen on a `--remote-debugging-port` of 127.0.0.1, where anyone could read
/// `/json/list` and take the browser over. Now it talks over a pipe and listens on nothing, and
/// the bridge riptide serves it to its own clients on answers nothing but a secret path: no
/// listening socket of the browser or of this process lists a DevTools target. Two pages render
/// through the pipe.
fn a_local_browser_listens_on_no_devtools_port<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = Server::start();
    let browser = provider.launch().expect("launch");
    for n in [1, 2] {
        let page = provider
            .fetch(&browser, &PageRequest::new(server.url(&format!("/page/{n}"))))
            .expect("a render over the pipe");
        assert_eq!(title_of(&page), format!("page {n}"));
    }
    let tree = browser.process_tree();
    assert!(!tree.is_empty());
    let browsers_ports = support::listening_ports(&tree);
    let ours = support::listening_ports(&[std::process::id()]);
    let listings: Vec<(u16, String)> = ours
        .iter()
        .chain(&browsers_ports)
        .filter_map(|port| {
            let listing = support::http_get(*port, "/json/list")?;
            listing.contains("webSocketDebuggerUrl").then_some((*port, listing))
        })
        .collect();
    provider.close(browser);
    assert!(browsers_ports.is_empty(), "the browser listens on {browsers_ports:?}");
    assert!(listings.is_empty(), "DevTools targets listed to anyone: {listings:?}");
}

/// Runs every test above once per provider: `chrome::NAME` and `chromiumoxide::NAME`.
macro_rules! for_each_provider {
    ($module:ident, $provider:ty) => {
        mod $module {
            type P = $provider;
            #[test]
            fn a_local_browser_listens_on_no_devtools_port() {
                super::a_local_browser_listens_on_no_devtools_port::<P>()
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn warm_up_launches_the_target_in_parallel() {
                super::warm_up_launches_the_target_in_parallel::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn fifty_concurrent_checkouts_never_launch_a_third_browser() {
                super::fifty_concurrent_checkouts_never_launch_a_third_browser::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn browser_killed_while_checked_out_is_replaced() {
                super::browser_killed_while_checked_out_is_replaced::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn frozen_browser_fails_its_probe_and_is_replaced() {
                super::frozen_browser_fails_its_probe_and_is_replaced::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn page_that_never_answers_times_out_and_the_browser_survives() {
                super::page_that_never_answers_times_out_and_the_browser_survives::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_checkout_abandoned_mid_launch_strands_nothing() {
                super::a_checkout_abandoned_mid_launch_strands_nothing::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_fetch_abandoned_by_its_caller_gets_the_browser_probed() {
                super::a_fetch_abandoned_by_its_caller_gets_the_browser_probed::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn javascript_page_with_selector_wait() {
                super::javascript_page_with_selector_wait::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn recycles_after_max_requests() {
                super::recycles_after_max_requests::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn recycles_over_the_memory_limit() {
                super::recycles_over_the_memory_limit::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn idle_reaping_keeps_min_instances() {
                super::idle_reaping_keeps_min_instances::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn status_reports_memory_and_waits() {
                super::status_reports_memory_and_waits::<P>().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn connects_to_a_running_chromium_and_never_kills_it() {
                super::connects_to_a_running_chromium_and_never_kills_it::<P>().await
            }
            #[test]
            fn fetches_on_one_browser_take_turns() {
                super::fetches_on_one_browser_take_turns::<P>()
            }
            #[test]
            fn shutdown_and_drop_leave_no_process_or_directory() {
                super::shutdown_and_drop_leave_no_process_or_directory::<P>()
            }
            #[test]
            fn providers_sharing_a_runtime_dir_launch_side_by_side() {
                super::providers_sharing_a_runtime_dir_launch_side_by_side::<P>()
            }
            #[test]
            fn missing_browser_is_a_clear_error() {
                super::missing_browser_is_a_clear_error::<P>()
            }
            #[test]
            fn a_browser_starts_without_tabs_or_ui_it_never_uses() {
                super::a_browser_starts_without_tabs_or_ui_it_never_uses::<P>()
            }
        }
    };
}

for_each_provider!(chrome, riptide::backends::chrome::ChromeProvider);
#[cfg(feature = "chromiumoxide")]
for_each_provider!(chromiumoxide, riptide::backends::chromiumoxide::ChromiumoxideProvider);
