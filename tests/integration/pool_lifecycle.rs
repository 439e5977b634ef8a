//! The browser pool's lifecycle, counting and fault handling, without a browser.
//!
//! `FakeProvider` is an in-memory `BrowserProvider` (deadpool's tests do the same with a
//! ten-line manager): launches, probes, fetches and closes are counted, and faults are switched
//! on per test (failing launches, failing probes, memory readings, fetches that hang until
//! cancelled, launches held at a gate). Every test here runs in milliseconds; what needs a real
//! browser (a killed process, a frozen renderer, real memory) stays in `browser_pool.rs`.

#[cfg(feature = "wasmtime")]
use crate::common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use riptide::error::{BrowserError, ErrorKind, FetchError, PoolError};
use riptide::traits::{BrowserProvider, PageRequest, RenderedPage};
use riptide::{BrowserPool, PoolOptions};

/// What the fake saw, and the faults it is told to inject.
#[derive(Default)]
struct Log {
    launched: AtomicUsize,
    closed: AtomicUsize,
    dropped_unclosed: AtomicUsize,
    probes: AtomicUsize,
    cancels: AtomicUsize,
    max_alive: AtomicUsize,
    alive: Mutex<HashSet<u64>>,
    next_id: AtomicU64,
    /// Launches still to fail.
    failing_launches: AtomicUsize,
    /// Browsers whose probe fails.
    unhealthy: Mutex<HashSet<u64>>,
    /// What `memory_bytes` reports for every browser.
    memory: AtomicU64,
    /// While true, launches wait (to abandon a checkout mid-launch).
    gate: Gate,
    /// While true, probes wait (to abandon a maintenance round mid-probe).
    probe_gate: Gate,
    /// Set by `cancel`; a fetch of `hang` waits for it.
    cancelled: Gate,
}

/// A flag threads can wait on.
#[derive(Default)]
struct Gate(Mutex<bool>, Condvar);

impl Gate {
    fn set(&self, value: bool) {
        *self.0.lock().unwrap() = value;
        self.1.notify_all();
    }

    fn wait_while(&self, value: bool) {
        let guard = self.0.lock().unwrap();
        drop(self.1.wait_while(guard, |v| *v == value).unwrap());
    }
}

#[derive(Clone, Default)]
struct FakeProvider(Arc<Log>);

struct FakeBrowser {
    id: u64,
    log: Arc<Log>,
    closed: bool,
}

impl Drop for FakeBrowser {
    fn drop(&mut self) {
        self.log.alive.lock().unwrap().remove(&self.id);
        if !self.closed {
            self.log.dropped_unclosed.fetch_add(1, SeqCst);
        }
    }
}

impl BrowserProvider for FakeProvider {
    type Browser = FakeBrowser;

    fn name(&self) -> &'static str {
        "fake"
    }

    fn launch(&self) -> riptide::Result<FakeBrowser> {
        self.0.gate.wait_while(true);
        let fail = self
            .0
            .failing_launches
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1));
        if fail.is_ok() {
            return Err(BrowserError::dead("injected launch failure").into());
        }
        let id = self.0.next_id.fetch_add(1, SeqCst);
        self.0.launched.fetch_add(1, SeqCst);
        let mut alive = self.0.alive.lock().unwrap();
        alive.insert(id);
        self.0.max_alive.fetch_max(alive.len(), SeqCst);
        Ok(FakeBrowser {
            id,
            log: self.0.clone(),
            closed: false,
        })
    }

    fn probe(&self, browser: &FakeBrowser, deadline: Duration) -> riptide::Result<()> {
        self.0.probe_gate.wait_while(true);
        self.0.probes.fetch_add(1, SeqCst);
        if self.0.unhealthy.lock().unwrap().contains(&browser.id) {
            return Err(BrowserError::Unresponsive { deadline }.into());
        }
        Ok(())
    }

    fn fetch(&self, browser: &FakeBrowser, request: &PageRequest) -> riptide::Result<RenderedPage> {
        if request.url == "hang" {
            self.0.cancelled.wait_while(false);
            return Err(FetchError::Cancelled.into());
        }
        Ok(RenderedPage::new(
            format!("{} by {}", request.url, browser.id),
            request.url.clone(),
        ))
    }

    fn cancel(&self, _browser: &FakeBrowser) {
        self.0.cancels.fetch_add(1, SeqCst);
        self.0.cancelled.set(true);
    }

    fn memory_bytes(&self, _browser: &FakeBrowser) -> Option<u64> {
        Some(self.0.memory.load(SeqCst))
    }

    fn close(&self, mut browser: FakeBrowser) {
        browser.closed = true;
        self.0.closed.fetch_add(1, SeqCst);
    }
}

impl FakeProvider {
    fn alive(&self) -> usize {
        self.0.alive.lock().unwrap().len()
    }
}

fn options(min: usize, target: usize, max: usize) -> PoolOptions {
    PoolOptions {
        min_instances: min,
        target_available: target,
        max_instances: max,
        // Tests run maintenance themselves.
        health_check_interval: Duration::from_secs(3600),
        max_checkout_duration: Duration::from_secs(30),
        ..PoolOptions::default()
    }
}

async fn pool(options: PoolOptions) -> (BrowserPool<FakeProvider>, Arc<Log>) {
    let provider = FakeProvider::default();
    let log = provider.0.clone();
    let pool = BrowserPool::new(provider, options).await.expect("pool starts");
    (pool, log)
}

/// Once settled, the pool's counts agree with the fake's: every browser launched is alive in
/// exactly one state, or closed.
async fn assert_counted(pool: &BrowserPool<FakeProvider>, log: &Log) {
    pool.settled().await;
    let s = pool.status();
    assert_eq!(s.total, s.available + s.in_use + s.launching + s.maintaining, "{s:?}");
    assert_eq!(s.maintaining, 0, "settled: nothing is being looked after: {s:?}");
    assert_eq!(
        s.total,
        pool.provider().alive(),
        "the pool counts every live browser once: {s:?}"
    );
    assert_eq!(s.created as usize, log.launched.load(SeqCst));
}

async fn until_waiting(pool: &BrowserPool<FakeProvider>, n: usize) {
    while pool.status().waiting < n {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn warm_up_launches_the_target_and_shutdown_closes_every_browser() {
    let (pool, log) = pool(options(1, 3, 4)).await;
    let s = pool.status();
    assert_eq!((s.total, s.available, s.created), (3, 3, 3), "{s:?}");
    assert_counted(&pool, &log).await;
    pool.shutdown().await;
    assert_eq!((log.closed.load(SeqCst), pool.provider().alive()), (3, 0));
    assert_eq!(pool.status().recycled.shutdown, 3);
    let closed = pool.checkout().await.expect_err("closed");
    assert!(matches!(closed.kind(), ErrorKind::Pool(PoolError::Closed)), "{closed}");
}

#[tokio::test]
async fn inconsistent_options_are_refused() {
    let err = BrowserPool::new(FakeProvider::default(), options(3, 1, 2))
        .await
        .expect_err("min above max");
    assert!(
        matches!(err.kind(), ErrorKind::Pool(PoolError::InvalidOptions { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("min_instances 3"), "{err}");
}

#[tokio::test]
async fn a_returned_browser_is_reused_and_counts_its_requests() {
    let (pool, log) = pool(options(1, 1, 2)).await;
    let mut first = pool.checkout().await.expect("checkout");
    let id = first.id();
    let page = first.fetch(PageRequest::new("a")).await.expect("fetch");
    assert_eq!(page.html, format!("a by {}", id - 1));
    drop(first);
    pool.settled().await;
    let second = pool.checkout().await.expect("checkout");
    assert_eq!((second.id(), second.requests()), (id, 1), "the same browser, once used");
    assert_eq!(pool.status().checkouts.direct, 2);
    drop(second);
    pool.settled().await;
    assert_counted(&pool, &log).await;
    assert_eq!(log.probes.load(SeqCst), 0, "a clean return is not probed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_checkouts_never_pass_max_instances() {
    let (pool, log) = pool(options(0, 1, 3)).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let pool = pool.clone();
        tasks.spawn(async move {
            let mut browser = pool.checkout().await?;
            browser.fetch(PageRequest::new(format!("page {i}"))).await
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task").expect("every checkout is served");
    }
    pool.settled().await;
    assert!(log.max_alive.load(SeqCst) <= 3, "at most 3 browsers at once");
    let c = pool.status().checkouts;
    assert_eq!(c.direct + c.launched + c.waited, 50, "{c:?}");
    assert_counted(&pool, &log).await;
    pool.shutdown().await;
    assert_eq!(pool.provider().alive(), 0);
    assert_eq!(
        log.dropped_unclosed.load(SeqCst),
        0,
        "every browser was closed, none just dropped"
    );
}

#[tokio::test]
async fn waiting_callers_are_served_first_come_first_served() {
    let (pool, _log) = pool(options(1, 1, 1)).await;
    let held = pool.checkout().await.expect("checkout");
    let id = held.id();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut waiters = Vec::new();
    for name in ["first", "second", "third"] {
        let (waiter_pool, order) = (pool.clone(), order.clone());
        waiters.push(tokio::spawn(async move {
            let browser = waiter_pool.checkout().await.expect("served");
            order.lock().unwrap().push(name);
            drop(browser);
        }));
        until_waiting(&pool, waiters.len()).await;
    }
    drop(held);
    for waiter in waiters {
        waiter.await.expect("waiter");
    }
    assert_eq!(*order.lock().unwrap(), ["first", "second", "third"]);
    pool.settled().await;
    assert_eq!(pool.status().checkouts.waited, 3);
    assert_eq!(
        pool.checkout().await.expect("checkout").id(),
        id,
        "one browser served all"
    );
}

#[tokio::test(start_paused = true)]
async fn a_caller_waits_max_checkout_duration_then_gets_pool_exhausted() {
    let mut o = options(1, 1, 1);
    o.max_checkout_duration = Duration::from_secs(5);
    let (pool, _log) = pool(o).await;
    let _held = pool.checkout().await.expect("checkout");
    let err = pool.checkout().await.expect_err("nothing comes back");
    match err.kind() {
        ErrorKind::Pool(PoolError::Exhausted { waited, max_instances }) => {
            assert!(*waited >= Duration::from_secs(5), "{waited:?}");
            assert_eq!(*max_instances, 1);
        }
        other => panic!("expected PoolError::Exhausted, got {other}"),
    }
    assert_eq!(pool.status().checkouts.timed_out, 1);
}

#[tokio::test]
async fn a_full_waiting_line_fails_at_once() {
    let mut o = options(1, 1, 1);
    o.max_waiters = 1;
    let (pool, _log) = pool(o).await;
    let _held = pool.checkout().await.expect("checkout");
    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.checkout().await.map(|b| b.id()) }
    });
    until_waiting(&pool, 1).await;
    let err = pool.checkout().await.expect_err("the line is full");
    assert!(
        matches!(err.kind(), ErrorKind::Pool(PoolError::Exhausted { waited, .. }) if *waited == Duration::ZERO),
        "{err}"
    );
    waiter.abort();
}

#[tokio::test]
async fn shutdown_lets_waiting_callers_go_with_pool_closed() {
    let (pool, log) = pool(options(1, 1, 1)).await;
    let held = pool.checkout().await.expect("checkout");
    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.checkout().await.map(|b| b.id()) }
    });
    until_waiting(&pool, 1).await;
    let shutdown = tokio::spawn({
        let pool = pool.clone();
        async move { pool.shutdown().await }
    });
    let closed = waiter.await.expect("waiter").expect_err("let go");
    assert!(matches!(closed.kind(), ErrorKind::Pool(PoolError::Closed)), "{closed}");
    shutdown.await.expect("shutdown");
    assert_eq!(
        pool.provider().alive(),
        1,
        "the browser still out is not taken from its holder"
    );
    drop(held);
    pool.settled().await;
    assert_eq!((pool.provider().alive(), log.closed.load(SeqCst)), (0, 1));
}

#[tokio::test]
async fn warm_up_fails_when_no_browser_launches_and_survives_a_partial_failure() {
    let provider = FakeProvider::default();
    provider.0.failing_launches.store(2, SeqCst);
    let err = BrowserPool::new(provider, options(0, 2, 2))
        .await
        .expect_err("no browser at all");
    assert!(format!("{err:#}").contains("injected launch failure"), "{err:#}");

    let provider = FakeProvider::default();
    provider.0.failing_launches.store(1, SeqCst);
    let pool = BrowserPool::new(provider, options(0, 2, 2)).await.expect("one of two");
    let s = pool.status();
    assert_eq!((s.total, s.launch_failures), (1, 1), "{s:?}");
    pool.shutdown().await;
}

#[tokio::test]
async fn a_failed_launch_for_a_checkout_is_uncounted() {
    let (pool, log) = pool(options(0, 0, 1)).await;
    log.failing_launches.store(1, SeqCst);
    let err = pool.checkout().await.expect_err("the launch fails");
    assert!(format!("{err:#}").contains("injected"), "{err:#}");
    pool.settled().await;
    assert_eq!(pool.status().total, 0, "the failed launch holds no room");
    pool.checkout().await.expect("the next launch works");
}

#[tokio::test]
async fn a_suspect_browser_failing_its_probe_is_replaced() {
    let (pool, log) = pool(options(1, 1, 1)).await;
    let mut browser = pool.checkout().await.expect("checkout");
    let id = browser.id();
    log.unhealthy.lock().unwrap().insert(id - 1);
    browser.mark_suspect();
    drop(browser);
    pool.settled().await;
    let s = pool.status();
    assert_eq!(
        (s.recycled.unhealthy, s.health_failures, s.created, s.total),
        (1, 1, 2, 1),
        "{s:?}"
    );
    assert_ne!(pool.checkout().await.expect("replacement").id(), id);
    assert_counted(&pool, &log).await;
}

#[tokio::test]
async fn without_auto_restart_an_unhealthy_browser_is_not_replaced_above_min() {
    let mut o = options(0, 1, 1);
    o.auto_restart = false;
    let (pool, log) = pool(o).await;
    let mut browser = pool.checkout().await.expect("checkout");
    log.unhealthy.lock().unwrap().insert(browser.id() - 1);
    browser.mark_suspect();
    drop(browser);
    pool.settled().await;
    let s = pool.status();
    assert_eq!((s.recycled.unhealthy, s.total), (1, 0), "{s:?}");
}

#[tokio::test]
async fn a_browser_is_recycled_after_max_requests() {
    let mut o = options(1, 1, 1);
    o.max_requests_per_instance = 2;
    let (pool, log) = pool(o).await;
    let first = pool.checkout().await.expect("1").id();
    pool.settled().await;
    assert_eq!(pool.checkout().await.expect("2").id(), first);
    pool.settled().await;
    let third = pool.checkout().await.expect("3").id();
    assert_ne!(third, first, "worn out after two checkouts");
    let s = pool.status();
    assert_eq!((s.recycled.requests, s.created), (1, 2), "{s:?}");
    assert_eq!(log.closed.load(SeqCst), 1);
}

#[tokio::test]
async fn a_browser_over_the_memory_limit_is_recycled_on_return_and_in_a_round() {
    let mut o = options(1, 1, 1);
    o.memory_limit_bytes = 1000;
    let (pool, log) = pool(o).await;
    log.memory.store(2000, SeqCst);
    drop(pool.checkout().await.expect("checkout"));
    pool.settled().await;
    assert_eq!(pool.status().recycled.memory, 1, "read on its first return");
    pool.run_maintenance().await;
    let s = pool.status();
    assert_eq!((s.recycled.memory, s.total, s.created), (2, 1, 3), "{s:?}");
    log.memory.store(10, SeqCst);
    pool.run_maintenance().await;
    assert_eq!(pool.status().recycled.memory, 2, "under the limit: kept");
    assert_eq!(pool.status().browsers[0].memory_mb, Some(10.0 / 1048576.0));
}

#[tokio::test(start_paused = true)]
async fn idle_browsers_above_min_are_reaped_and_not_replaced() {
    let mut o = options(1, 3, 3);
    o.idle_timeout = Duration::from_secs(60);
    let (pool, log) = pool(o).await;
    pool.run_maintenance().await;
    assert_eq!(pool.status().total, 3, "not idle long enough");
    tokio::time::advance(Duration::from_secs(61)).await;
    pool.run_maintenance().await;
    let s = pool.status();
    assert_eq!(
        (s.total, s.recycled.idle, s.created),
        (1, 2, 3),
        "down to min_instances: {s:?}"
    );
    assert_eq!(log.probes.load(SeqCst), 3 + 1, "a round probes what it keeps");
}

#[tokio::test]
async fn a_checkout_abandoned_mid_launch_strands_nothing() {
    let (pool, log) = pool(options(0, 0, 1)).await;
    log.gate.set(true);
    let checkout = tokio::spawn({
        let pool = pool.clone();
        async move { pool.checkout().await.map(|b| b.id()) }
    });
    while pool.status().launching == 0 {
        tokio::task::yield_now().await;
    }
    checkout.abort();
    assert!(checkout.await.expect_err("aborted").is_cancelled());
    log.gate.set(false);
    pool.settled().await;
    let s = pool.status();
    assert_eq!(
        (s.total, s.available, s.in_use, s.launching),
        (1, 1, 0, 0),
        "kept, idle: {s:?}"
    );
    pool.checkout().await.expect("the kept browser serves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_dropped_by_its_caller_is_cancelled_and_the_browser_probed() {
    let (pool, log) = pool(options(1, 1, 1)).await;
    let mut browser = pool.checkout().await.expect("checkout");
    let gave_up = tokio::time::timeout(Duration::from_millis(50), browser.fetch(PageRequest::new("hang"))).await;
    assert!(gave_up.is_err());
    assert_eq!(log.cancels.load(SeqCst), 1, "the provider was told to stop");
    drop(browser);
    pool.settled().await;
    assert_eq!(log.probes.load(SeqCst), 1, "probed before reuse");
    let s = pool.status();
    assert_eq!((s.total, s.available), (1, 1), "{s:?}");
}

#[tokio::test]
async fn a_handle_outliving_its_pool_closes_its_browser_by_drop() {
    let (pool, log) = pool(options(2, 2, 2)).await;
    let browser = pool.checkout().await.expect("checkout");
    drop(pool);
    // The idle browser went with the pool's state; the checked-out one goes with its handle.
    while log.alive.lock().unwrap().len() > 1 {
        tokio::task::yield_now().await;
    }
    drop(browser);
    assert_eq!(log.alive.lock().unwrap().len(), 0);
    assert_eq!(log.dropped_unclosed.load(SeqCst), 2);
}

#[test]
fn a_handle_dropped_after_its_runtime_ended_is_not_lost() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (pool, log, browser) = runtime.block_on(async {
        let (pool, log) = pool(options(1, 1, 1)).await;
        let browser = pool.checkout().await.expect("checkout");
        (pool, log, browser)
    });
    drop(runtime);
    // No task will check it: the handle uncounts it and it closes as it drops.
    drop(browser);
    let s = pool.status();
    assert_eq!((s.total, s.in_use), (0, 0), "{s:?}");
    assert_eq!(log.alive.lock().unwrap().len(), 0);
    drop(pool);
}

/// Regression: a browser handed to a waiting caller whose checkout was dropped before it read
/// the handover (a caller's own time-out) stayed counted in use for ever, and was lost.
#[tokio::test]
async fn a_browser_handed_to_a_caller_who_left_goes_back_to_the_pool() {
    use futures_util::FutureExt;
    let (pool, log) = pool(options(1, 1, 1)).await;
    let held = pool.checkout().await.expect("checkout");
    let mut waiting = Box::pin(pool.checkout());
    assert!((&mut waiting).now_or_never().is_none(), "waits in line");
    drop(held);
    // The return hands the browser to the waiting checkout, which is never polled again.
    pool.settled().await;
    drop(waiting);
    pool.settled().await;
    let s = pool.status();
    assert_eq!((s.total, s.available, s.in_use), (1, 1, 0), "{s:?}");
    assert_counted(&pool, &log).await;
    pool.checkout().await.expect("the browser serves again");
}

/// Regression: callers who stopped waiting still counted against `max_waiters`.
#[tokio::test]
async fn callers_who_stopped_waiting_do_not_fill_the_line() {
    use futures_util::FutureExt;
    let mut o = options(1, 1, 1);
    o.max_waiters = 1;
    let (pool, _log) = pool(o).await;
    let _held = pool.checkout().await.expect("checkout");
    let mut gave_up = Box::pin(pool.checkout());
    assert!((&mut gave_up).now_or_never().is_none(), "waits in line");
    drop(gave_up);
    let mut next = Box::pin(pool.checkout());
    assert!(
        (&mut next).now_or_never().is_none(),
        "the line has room again: the next caller waits instead of failing"
    );
}

/// Regression: a maintenance round whose caller stopped waiting (a time-out) was aborted with
/// its browsers taken out for checking, so they stayed counted and `settled` never returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintenance_round_abandoned_by_its_caller_still_finishes() {
    let (pool, log) = pool(options(2, 2, 2)).await;
    log.probe_gate.set(true);
    let gave_up = tokio::time::timeout(Duration::from_millis(20), pool.run_maintenance()).await;
    assert!(gave_up.is_err(), "the round was waiting on its probes");
    // Browsers being probed are neither available nor in use, and still add up to the total.
    let s = pool.status();
    assert_eq!((s.total, s.maintaining, s.available, s.in_use), (2, 2, 0, 0), "{s:?}");
    log.probe_gate.set(false);
    tokio::time::timeout(Duration::from_secs(30), pool.settled())
        .await
        .expect("the round finished on its own");
    let s = pool.status();
    assert_eq!((s.total, s.available), (2, 2), "{s:?}");
    assert_eq!(log.probes.load(SeqCst), 2);
}

#[tokio::test]
async fn options_that_would_panic_or_thrash_are_refused() {
    for (what, change) in [
        (
            "interval",
            (|o: &mut PoolOptions| o.health_check_interval = Duration::ZERO) as fn(&mut PoolOptions),
        ),
        ("probe", |o: &mut PoolOptions| o.probe_deadline = Duration::ZERO),
        ("requests", |o: &mut PoolOptions| o.max_requests_per_instance = 0),
    ] {
        let mut o = options(1, 1, 1);
        change(&mut o);
        let err = BrowserPool::new(FakeProvider::default(), o).await.expect_err(what);
        assert!(
            matches!(err.kind(), ErrorKind::Pool(PoolError::InvalidOptions { .. })),
            "{what}: {err}"
        );
    }
}

/// Regression: an executor whose first render was cancelled while the pool warmed up (a
/// caller's time-out, Ctrl-C) lost its browser provider, and every later render failed with
/// `PoolError::Closed`.
#[cfg(feature = "wasmtime")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_whose_first_render_was_abandoned_still_renders() {
    let provider = FakeProvider::default();
    let log = provider.0.clone();
    log.gate.set(true);
    let executor = common::executor_builder(provider, riptide::RiptideConfig::default())
        .build()
        .expect("executor");
    let url = "http://fake.test/page";
    let gave_up = tokio::time::timeout(
        Duration::from_millis(50),
        executor.extract_with(url, riptide::EngineChoice::Headless),
    )
    .await;
    assert!(gave_up.is_err(), "the pool was still warming up");
    log.gate.set(false);
    let page = executor
        .extract_with(url, riptide::EngineChoice::Headless)
        .await
        .expect("the pool started after all");
    assert_eq!(page.engine, riptide::traits::Engine::Headless);
    executor.shutdown().await.expect("shutdown");
    assert_eq!(log.alive.lock().unwrap().len(), 0);
}
