//! Several pooled browsers as tabs of one Chromium process
//! (`ChromiumoxideProvider::tabs_per_browser`), on real Chromium against pages served on
//! 127.0.0.1: tabs share a process and render side by side, a closed tab closes its process to
//! new tabs and the process ends with its last tab, and a render stuck in a page gives up the
//! whole process.
//!
//! Without Chromium these tests fail under CI (`CI` set) and are skipped with a message
//! elsewhere.
#![cfg(feature = "chromiumoxide")]

use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use riptide::backends::chromiumoxide::{ChromiumSettings, ChromiumoxideBrowser, ChromiumoxideProvider};
use riptide::error::{ErrorKind, FetchError};
use riptide::traits::{BrowserProvider, PageRequest, RenderedPage};
use riptide::{BrowserPool, PoolOptions};
use support::local_server::{LocalServer, Reply};
use support::{assert_empty_dir, pid_gone, pid_stopped, provider_with_or_skip, title_of};

fn pages() -> LocalServer {
    LocalServer::start(|target| match target {
        "/spin" => Reply::Html("<!doctype html><title>spin</title><script>while (true) {}</script>".into()),
        path => match path.strip_prefix("/page/") {
            Some(n) => Reply::Html(format!("<!doctype html><title>page {n}</title><p>page {n}</p>")),
            None => Reply::NotFound,
        },
    })
    .expect("local server")
}

fn tabbed(tabs: usize) -> Option<(ChromiumoxideProvider, std::path::PathBuf)> {
    provider_with_or_skip::<ChromiumoxideProvider>(ChromiumSettings {
        tabs_per_browser: tabs,
        ..ChromiumSettings::default()
    })
}

fn fetch(
    provider: &ChromiumoxideProvider,
    browser: &ChromiumoxideBrowser,
    url: String,
) -> riptide::Result<RenderedPage> {
    provider.fetch(browser, &PageRequest::new(url).deadline(Duration::from_secs(10)))
}

/// The PSS of these processes together, from `/proc/<pid>/smaps_rollup`.
fn tree_pss_kib(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
        .filter_map(|rollup| {
            rollup
                .lines()
                .find_map(|line| line.strip_prefix("Pss:"))
                .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .sum()
}

/// Three pooled browsers with two tabs per process: the warm-up's two share one process, the
/// third starts another, and all three render their own page at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_browsers_share_processes_and_render_side_by_side() {
    let Some((provider, runtime_dir)) = tabbed(2) else {
        return;
    };
    let server = pages();
    let options = PoolOptions {
        min_instances: 1,
        target_available: 2,
        max_instances: 3,
        health_check_interval: Duration::from_secs(3600),
        ..PoolOptions::default()
    };
    let pool = BrowserPool::new(provider, options).await.expect("pool starts");
    let mut browsers = Vec::new();
    for _ in 0..3 {
        browsers.push(pool.checkout().await.expect("checkout"));
    }
    let pids: Vec<u32> = browsers.iter().map(|b| b.pid().expect("local")).collect();
    assert_eq!(
        pids[0], pids[1],
        "the warm-up's two browsers are tabs of one process: {pids:?}"
    );
    assert_ne!(pids[2], pids[0], "a third tab needs a second process: {pids:?}");
    let [a, b, c] = &mut browsers[..] else { unreachable!() };
    let (ra, rb, rc) = tokio::join!(
        a.fetch(PageRequest::new(server.url("/page/1")).deadline(Duration::from_secs(10))),
        b.fetch(PageRequest::new(server.url("/page/2")).deadline(Duration::from_secs(10))),
        c.fetch(PageRequest::new(server.url("/page/3")).deadline(Duration::from_secs(10))),
    );
    let titles: Vec<String> = [ra, rb, rc]
        .into_iter()
        .map(|r| title_of(&r.expect("renders")).to_string())
        .collect();
    assert_eq!(titles, ["page 1", "page 2", "page 3"]);
    drop(browsers);
    pool.shutdown().await;
    for pid in pids.into_iter().collect::<BTreeSet<_>>() {
        assert!(pid_gone(pid), "browser {pid} was stopped at shutdown");
    }
    assert_empty_dir(&runtime_dir);
}

/// Closing one tab leaves its process rendering in the others, but a new browser goes to a new
/// process; the old one ends, directory and all, with its last tab.
#[test]
fn a_closed_tab_closes_its_process_to_new_tabs() {
    let Some((provider, runtime_dir)) = tabbed(2) else {
        return;
    };
    let server = pages();
    let a = provider.launch().expect("launch");
    let b = provider.launch().expect("second tab");
    let pid = a.pid().expect("local");
    assert_eq!(b.pid(), Some(pid), "two tabs of one process");
    let dir = a.dir().expect("local").to_path_buf();
    // The pool's memory limit is per pooled browser: each tab counts half its process.
    let before = tree_pss_kib(&a.process_tree());
    let share = provider.memory_bytes(&a).expect("local") / 1024;
    let after = tree_pss_kib(&a.process_tree());
    let (low, high) = (before.min(after), before.max(after));
    assert!(
        share * 2 >= low * 8 / 10 && share * 2 <= high * 12 / 10,
        "one of two tabs counts {share} KiB of a {low}..{high} KiB process"
    );
    provider.close(a);
    let page = fetch(&provider, &b, server.url("/page/1")).expect("the other tab still renders");
    assert_eq!(title_of(&page), "page 1");
    let c = provider.launch().expect("launch");
    assert_ne!(c.pid(), Some(pid), "a process that lost a tab takes no new one");
    provider.close(b);
    assert!(pid_gone(pid), "the process ended with its last tab");
    assert!(!dir.exists(), "its directory was removed");
    provider.close(c);
    assert_empty_dir(&runtime_dir);
}

/// A page that never yields in one tab gives up the whole process: the renderer it is stuck in
/// may be the one the other tabs share. The other tab then fails its probe and is replaced.
#[test]
fn a_stuck_tab_gives_up_its_whole_process() {
    let Some((provider, _runtime_dir)) = tabbed(2) else {
        return;
    };
    let server = pages();
    let a = provider.launch().expect("launch");
    let b = provider.launch().expect("second tab");
    let pid = a.pid().expect("local");
    assert_eq!(b.pid(), Some(pid));
    let err = provider
        .fetch(
            &a,
            &PageRequest::new(server.url("/spin")).deadline(Duration::from_secs(2)),
        )
        .expect_err("never ready");
    assert!(
        matches!(err.kind(), ErrorKind::Fetch(FetchError::Timeout { .. })),
        "{err:?}"
    );
    assert!(pid_stopped(pid), "the stuck process {pid} was killed");
    assert!(
        provider.probe(&b, Duration::from_secs(2)).is_err(),
        "its other tab is dead too"
    );
    provider.close(a);
    provider.close(b);
    let c = provider.launch().expect("launch");
    assert_ne!(c.pid(), Some(pid), "a new process serves");
    assert_eq!(
        title_of(&fetch(&provider, &c, server.url("/page/2")).expect("renders")),
        "page 2"
    );
}
