//! [`BrowserPool`]: the state every checkout, return and maintenance round works on.
//!
//! One `std::sync::Mutex` guards the counts and queues; it is held only for bookkeeping, never
//! across a launch, probe, close or `.await`. A browser is always counted exactly once: as
//! launching, idle, in use, or under maintenance (being checked on return or by a round), which is
//! what makes "never more than `max_instances`" hold. A separate `busy` count, not of browsers,
//! keeps [`BrowserPool::settled`] waiting through the steps between those states (see [`Busy`]).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use super::handle::{PooledBrowser, Returned};
use super::maintenance;
use super::metrics::{BrowserStatus, Metrics, PoolStatus, RecycleReason};
use super::options::PoolOptions;
use crate::error::{Error, Result};
use crate::traits::BrowserProvider;

/// One browser and what the pool knows about it.
pub(crate) struct Slot<B> {
    pub id: u64,
    pub browser: Arc<B>,
    pub created: Instant,
    pub last_used: Instant,
    pub requests: u32,
    pub memory: Option<u64>,
    pub memory_checked: Option<Instant>,
}

/// How far [`Shared::ensure_capacity`] fills the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Goal {
    /// `min_instances` alive, and `n` more launched to replace browsers just closed.
    Replace(usize),
    /// `min_instances` alive and `target_available` ready or launching (warm-up).
    Target,
}

/// Where a browser being placed was counted until now.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Counted {
    Launching,
    Maintenance,
}

struct InUse {
    since: Instant,
    created: Instant,
    requests: u32,
    memory: Option<u64>,
    reported: bool,
}

pub(crate) struct State<B> {
    /// Ready browsers; the last is the most recently used (handed out first, so the others can
    /// age into idle reaping when load drops).
    pub idle: Vec<Slot<B>>,
    in_use: HashMap<u64, InUse>,
    pub launching: usize,
    pub maintaining: usize,
    /// Steps under way that hold no counted browser but still decide one's fate (see [`Busy`]).
    busy: usize,
    waiters: VecDeque<oneshot::Sender<Slot<B>>>,
    pub closed: bool,
}

impl<B> State<B> {
    pub fn total(&self) -> usize {
        self.idle.len() + self.in_use.len() + self.launching + self.maintaining
    }

    fn mark_in_use(&mut self, slot: &Slot<B>) {
        let info = InUse {
            since: Instant::now(),
            created: slot.created,
            requests: slot.requests,
            memory: slot.memory,
            reported: false,
        };
        self.in_use.insert(slot.id, info);
    }
}

pub(crate) struct Shared<P: BrowserProvider> {
    pub provider: Arc<P>,
    pub options: PoolOptions,
    state: Mutex<State<P::Browser>>,
    pub metrics: Metrics,
    next_id: AtomicU64,
    returns: mpsc::UnboundedSender<Returned<P::Browser>>,
    /// Woken whenever a launch or a maintenance step ends, for `shutdown` to wait on.
    settled: Notify,
}

/// A pool of warm browsers from provider `P`.
///
/// Cheap to clone (clones share the pool). Dropping the last clone without
/// [`shutdown`](BrowserPool::shutdown) stops the pool's tasks and closes idle browsers; browsers
/// still checked out close when their handles drop.
pub struct BrowserPool<P: BrowserProvider> {
    shared: Arc<Shared<P>>,
    tasks: Arc<Tasks>,
}

impl<P: BrowserProvider> Clone for BrowserPool<P> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            tasks: self.tasks.clone(),
        }
    }
}

impl<P: BrowserProvider> std::fmt::Debug for BrowserPool<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserPool")
            .field("provider", &self.shared.provider.name())
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

/// The pool's background tasks, aborted when the last pool clone goes.
struct Tasks(Mutex<Vec<JoinHandle<()>>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in self.0.get_mut().unwrap_or_else(PoisonError::into_inner).drain(..) {
            task.abort();
        }
    }
}

impl<P: BrowserProvider> BrowserPool<P> {
    /// Starts a pool and warms it up: `max(target_available, min_instances)` browsers launched in
    /// parallel before this returns (unless `background_warmup`). Must be called inside a tokio
    /// runtime; the pool's tasks run on it.
    ///
    /// Fails if the options are inconsistent, or if warm-up was asked for and not a single
    /// browser could be launched (the launch error says why: no browser installed, ...).
    pub async fn new(provider: P, options: PoolOptions) -> Result<Self> {
        if options.max_instances == 0 || options.min_instances > options.max_instances {
            return Err(Error::Config {
                key: "optimizations.browser_pool.min_instances".into(),
                origin: "PoolOptions".into(),
                message: format!(
                    "min_instances {} and max_instances {} must satisfy 1 <= max and min <= max",
                    options.min_instances, options.max_instances
                ),
            });
        }
        let (returns, returned) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            provider: Arc::new(provider),
            options,
            state: Mutex::new(State {
                idle: Vec::new(),
                in_use: HashMap::new(),
                launching: 0,
                maintaining: 0,
                busy: 0,
                waiters: VecDeque::new(),
                closed: false,
            }),
            metrics: Metrics::default(),
            next_id: AtomicU64::new(1),
            returns,
            settled: Notify::new(),
        });
        let mut tasks = vec![
            tokio::spawn(maintenance::take_returns(shared.clone(), returned)),
            tokio::spawn(maintenance::periodic(shared.clone())),
        ];
        if shared.options.background_warmup {
            let warm = shared.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = warm.ensure_capacity(Goal::Target).await {
                    tracing::warn!(error = %e, "browser pool warm-up failed");
                }
            }));
        } else if let Err(e) = shared.ensure_capacity(Goal::Target).await {
            let launched = shared.lock().total();
            if launched == 0 {
                for task in &tasks {
                    task.abort();
                }
                return Err(e);
            }
            tracing::warn!(error = %e, launched, "browser pool warmed up partially");
        }
        Ok(Self {
            shared,
            tasks: Arc::new(Tasks(Mutex::new(tasks))),
        })
    }

    /// A healthy browser: an idle one at once, else a new one while below `max_instances`, else
    /// the next one returned (first come, first served). Fails with [`Error::PoolExhausted`]
    /// after `max_checkout_duration`, or at once when `max_waiters` callers already wait.
    pub async fn checkout(&self) -> Result<PooledBrowser<P>> {
        let started = Instant::now();
        let shared = &self.shared;
        enum Next<B> {
            Ready(Slot<B>),
            Launch,
            Wait(oneshot::Receiver<Slot<B>>),
        }
        let next = {
            let mut st = shared.lock();
            if st.closed {
                return Err(Error::PoolClosed);
            }
            if let Some(slot) = st.idle.pop() {
                st.mark_in_use(&slot);
                Next::Ready(slot)
            } else if st.total() < shared.options.max_instances {
                st.launching += 1;
                Next::Launch
            } else if st.waiters.len() >= shared.options.max_waiters {
                Metrics::inc(&shared.metrics.checkouts_timed_out);
                return Err(shared.exhausted(Duration::ZERO));
            } else {
                let (tx, rx) = oneshot::channel();
                st.waiters.push_back(tx);
                Next::Wait(rx)
            }
        };
        let slot = match next {
            Next::Ready(slot) => {
                Metrics::inc(&shared.metrics.checkouts_direct);
                slot
            }
            Next::Launch => {
                // The launch runs in its own task and hands over a finished handle, so a caller
                // that gives up (a timeout drops this future) leaves neither an uncounted launch
                // nor a stray browser: an unclaimed handle returns itself to the pool on drop.
                let (tx, rx) = oneshot::channel();
                let launcher = shared.clone();
                tokio::spawn(async move {
                    // Between uncounting the launch and the handle dropping unclaimed, the
                    // browser is only "in use"; `settled` must not return in that gap.
                    let _busy = launcher.busy();
                    let launched = launcher.launch().await;
                    let handle = {
                        let mut st = launcher.lock();
                        launcher.uncount(&mut st, Counted::Launching);
                        launched.inspect(|slot| st.mark_in_use(slot))
                    }
                    .map(|slot| {
                        Metrics::inc(&launcher.metrics.checkouts_launched);
                        PooledBrowser::new(slot, &launcher)
                    });
                    let _ = tx.send(handle);
                });
                let handle = rx.await.map_err(|_| Error::PoolClosed)??;
                shared.metrics.record_wait(started.elapsed());
                return Ok(handle);
            }
            Next::Wait(mut rx) => {
                let limit = shared.options.max_checkout_duration.saturating_sub(started.elapsed());
                let served = tokio::select! {
                    served = &mut rx => served.ok(),
                    () = tokio::time::sleep(limit) => {
                        // Closing first means a browser sent at this very moment is received
                        // here rather than lost with the receiver.
                        rx.close();
                        rx.try_recv().ok()
                    }
                };
                match served {
                    Some(slot) => {
                        Metrics::inc(&shared.metrics.checkouts_waited);
                        slot
                    }
                    None if shared.lock().closed => return Err(Error::PoolClosed),
                    None => {
                        Metrics::inc(&shared.metrics.checkouts_timed_out);
                        return Err(shared.exhausted(started.elapsed()));
                    }
                }
            }
        };
        shared.metrics.record_wait(started.elapsed());
        Ok(PooledBrowser::new(slot, shared))
    }

    /// The pool's counts, metrics and browsers now. Cheap: it probes nothing.
    pub fn status(&self) -> PoolStatus {
        self.shared.status()
    }

    /// The provider browsers come from.
    pub fn provider(&self) -> &P {
        &self.shared.provider
    }

    /// The options in force.
    pub fn options(&self) -> &PoolOptions {
        &self.shared.options
    }

    /// Runs one maintenance round now (probes, recycling, idle reaping, replenishing) instead
    /// of waiting for the next `health_check_interval`.
    pub async fn run_maintenance(&self) {
        maintenance::round(&self.shared).await;
    }

    /// Closes every browser and stops the pool: waiting callers get [`Error::PoolClosed`], idle
    /// browsers are closed now (whole process trees, reaped, directories removed), browsers still
    /// checked out are closed when returned. Later checkouts fail with `PoolClosed`.
    pub async fn shutdown(&self) {
        let (idle, waiters) = {
            let mut st = self.shared.lock();
            st.closed = true;
            st.maintaining += st.idle.len();
            (std::mem::take(&mut st.idle), std::mem::take(&mut st.waiters))
        };
        drop(waiters);
        let mut closing = JoinSet::new();
        for slot in idle {
            let shared = self.shared.clone();
            closing.spawn(async move { shared.close(slot, RecycleReason::Shutdown, Counted::Maintenance).await });
        }
        while closing.join_next().await.is_some() {}
        // Browsers still launching, or returned and being checked, close themselves when done
        // (the pool is closed); wait for them.
        self.settled().await;
    }

    /// Waits until no browser is launching or being checked after its return: every handle
    /// dropped (and every checkout abandoned) before this call has been dealt with (made idle,
    /// handed on, or closed), and recycled browsers' replacements have launched.
    pub async fn settled(&self) {
        loop {
            let settled = self.shared.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            {
                let st = self.shared.lock();
                if st.launching == 0 && st.maintaining == 0 && st.busy == 0 {
                    return;
                }
            }
            settled.await;
        }
    }
}

/// A step that `settled` waits for although it holds no counted browser: a launch handing its
/// browser to a caller who may have gone (the handle then counts itself under maintenance as it
/// drops), or a recycled browser's replacement between the close and the launch being counted.
/// Not part of [`State::total`], so it never takes room from launches.
pub(crate) struct Busy<'a, P: BrowserProvider>(&'a Shared<P>);

impl<P: BrowserProvider> Drop for Busy<'_, P> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.busy -= 1;
        self.0.settled.notify_waiters();
    }
}

impl<P: BrowserProvider> Shared<P> {
    pub fn lock(&self) -> MutexGuard<'_, State<P::Browser>> {
        // Every critical section leaves the state consistent before any call that could panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds off [`BrowserPool::settled`] until the returned guard drops.
    pub fn busy(&self) -> Busy<'_, P> {
        self.lock().busy += 1;
        Busy(self)
    }

    /// Ends counting a browser as launching or under maintenance.
    fn uncount(&self, st: &mut State<P::Browser>, from: Counted) {
        match from {
            Counted::Launching => st.launching -= 1,
            Counted::Maintenance => st.maintaining -= 1,
        }
        self.settled.notify_waiters();
    }

    fn exhausted(&self, waited: Duration) -> Error {
        Error::PoolExhausted {
            waited,
            max_instances: self.options.max_instances,
        }
    }

    /// Launches one browser on a blocking thread. The caller has counted it as launching.
    pub async fn launch(&self) -> Result<Slot<P::Browser>> {
        let provider = self.provider.clone();
        let launched = tokio::task::spawn_blocking(move || provider.launch())
            .await
            .map_err(|e| Error::BrowserLaunch {
                executable: Default::default(),
                reason: format!("launch task failed: {e}"),
            })
            .and_then(|r| r);
        match launched {
            Ok(browser) => {
                Metrics::inc(&self.metrics.created);
                let now = Instant::now();
                Ok(Slot {
                    id: self.next_id.fetch_add(1, Ordering::Relaxed),
                    browser: Arc::new(browser),
                    created: now,
                    last_used: now,
                    requests: 0,
                    memory: None,
                    memory_checked: None,
                })
            }
            Err(e) => {
                Metrics::inc(&self.metrics.launch_failures);
                Err(e)
            }
        }
    }

    /// Hands `slot` to the first caller still waiting, else makes it idle; closes it if the pool
    /// is closed. `from` says where it was counted until now.
    pub async fn place(&self, slot: Slot<P::Browser>, from: Counted) {
        let mut slot = slot;
        {
            let mut st = self.lock();
            self.uncount(&mut st, from);
            if !st.closed {
                while let Some(waiter) = st.waiters.pop_front() {
                    st.mark_in_use(&slot);
                    match waiter.send(slot) {
                        Ok(()) => return,
                        Err(back) => {
                            st.in_use.remove(&back.id);
                            slot = back;
                        }
                    }
                }
                st.idle.push(slot);
                return;
            }
            st.maintaining += 1;
        }
        self.close(slot, RecycleReason::Shutdown, Counted::Maintenance).await;
    }

    /// Closes `slot`'s browser on a blocking thread. `from` says where it was counted.
    pub async fn close(&self, slot: Slot<P::Browser>, reason: RecycleReason, from: Counted) {
        self.metrics.recycled(reason);
        let provider = self.provider.clone();
        let browser = slot.browser;
        let _ = tokio::task::spawn_blocking(move || match Arc::try_unwrap(browser) {
            Ok(browser) => provider.close(browser),
            // Returns wait for a cancelled fetch to end first; a holder outside the pool (a
            // caller keeping a clone) ends it with its last drop.
            Err(shared) => drop(shared),
        })
        .await;
        let mut st = self.lock();
        self.uncount(&mut st, from);
    }

    /// Launches browsers, in parallel, to meet `goal`, never above `max_instances`. Returns the
    /// first launch error, if any.
    ///
    /// `target_available` is the warm-up size, not a floor maintenance restores: a pool reaped
    /// for idleness stays at `min_instances` until demand (checkouts launch below
    /// `max_instances`) brings it back up.
    pub async fn ensure_capacity(self: &Arc<Self>, goal: Goal) -> Result<()> {
        let wanted = {
            let mut st = self.lock();
            if st.closed {
                return Ok(());
            }
            let total = st.total();
            let below_min = self.options.min_instances.saturating_sub(total);
            let below_target = match goal {
                Goal::Replace(n) => n,
                Goal::Target => self.options.warm_target().saturating_sub(st.idle.len() + st.launching),
            };
            let room = self.options.max_instances.saturating_sub(total);
            let n = below_min.max(below_target).min(room);
            st.launching += n;
            n
        };
        // Spawned, not a JoinSet: if the caller stops waiting, the launches still finish and
        // are placed and counted; aborting them would strand their browsers and counts.
        let mut launches = Vec::with_capacity(wanted);
        for _ in 0..wanted {
            let shared = self.clone();
            launches.push(tokio::spawn(async move {
                match shared.launch().await {
                    Ok(slot) => {
                        shared.place(slot, Counted::Launching).await;
                        Ok(())
                    }
                    Err(e) => {
                        let mut st = shared.lock();
                        shared.uncount(&mut st, Counted::Launching);
                        Err(e)
                    }
                }
            }));
        }
        let mut first_error = None;
        for launch in launches {
            if let Ok(Err(e)) = launch.await {
                tracing::warn!(error = %e, "browser launch failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Takes a returned browser off the in-use list and counts it under maintenance.
    pub fn returned(&self, id: u64) {
        let mut st = self.lock();
        st.in_use.remove(&id);
        st.maintaining += 1;
    }

    /// Queues a returned browser for the return task.
    pub fn send_back(
        &self,
        returned: Returned<P::Browser>,
    ) -> std::result::Result<(), mpsc::error::SendError<Returned<P::Browser>>> {
        self.returns.send(returned)
    }

    /// Stops counting a returned browser that no task will check (it closes as it drops).
    pub fn abandon(&self) {
        let mut st = self.lock();
        self.uncount(&mut st, Counted::Maintenance);
    }

    /// Reports handles held past `max_checkout_duration`, once each.
    pub fn report_overdue(&self) {
        let limit = self.options.max_checkout_duration;
        let mut st = self.lock();
        for (id, info) in st
            .in_use
            .iter_mut()
            .filter(|(_, i)| !i.reported && i.since.elapsed() > limit)
        {
            info.reported = true;
            Metrics::inc(&self.metrics.overdue_checkouts);
            tracing::warn!(
                browser = id,
                held_secs = info.since.elapsed().as_secs(),
                "browser checked out longer than max_checkout_duration; drop the handle when done"
            );
        }
    }

    /// Takes every idle browser out for a maintenance round.
    pub fn take_idle(&self) -> Vec<Slot<P::Browser>> {
        let mut st = self.lock();
        let idle = std::mem::take(&mut st.idle);
        st.maintaining += idle.len();
        idle
    }

    fn status(&self) -> PoolStatus {
        let st = self.lock();
        let mb = |b: Option<u64>| b.map(|b| b as f64 / (1024.0 * 1024.0));
        let mut browsers: Vec<BrowserStatus> = st
            .idle
            .iter()
            .map(|s| BrowserStatus {
                id: s.id,
                state: "idle",
                requests: s.requests,
                age_secs: s.created.elapsed().as_secs_f64(),
                memory_mb: mb(s.memory),
            })
            .chain(st.in_use.iter().map(|(id, i)| BrowserStatus {
                id: *id,
                state: "in_use",
                requests: i.requests,
                age_secs: i.created.elapsed().as_secs_f64(),
                memory_mb: mb(i.memory),
            }))
            .collect();
        browsers.sort_by_key(|b| b.id);
        let m = &self.metrics;
        PoolStatus {
            provider: self.provider.name(),
            total: st.total(),
            in_use: st.in_use.len(),
            available: st.idle.len(),
            launching: st.launching,
            waiting: st.waiters.iter().filter(|w| !w.is_closed()).count(),
            created: m.created.load(Ordering::Relaxed),
            launch_failures: m.launch_failures.load(Ordering::Relaxed),
            recycled: m.recycle_counts(),
            checkouts: m.checkout_counts(),
            checkout_wait: m.wait_percentiles(),
            health_failures: m.health_failures.load(Ordering::Relaxed),
            overdue_checkouts: m.overdue_checkouts.load(Ordering::Relaxed),
            browsers,
        }
    }
}
