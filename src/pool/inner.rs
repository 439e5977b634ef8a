//! [`PoolInner`]: what every clone of a pool, every handle and every maintenance task share.
//!
//! It owns the provider, the options, the metrics and the [`Internals`] behind one
//! `std::sync::Mutex`, which is held for exactly one transition at a time ([`PoolInner::with`])
//! and never across a launch, probe, close or `.await`. The async steps here (launch, place,
//! close, fill) run the provider's blocking calls on blocking threads between transitions.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use super::internals::{Counted, Goal, Internals, Slot};
use super::metrics::{Metrics, PoolStatus};
use super::options::PoolOptions;
use super::recycle::RecycleReason;
use crate::error::Result;
use crate::sync::lock;
use crate::traits::{BrowserProvider, RenderedPage};

/// A browser on its way back to the pool, whether it misbehaved while out, and the fetch still
/// running on it if its caller gave up (cancelled; the pool waits for it before anything else).
pub(crate) struct Returned<B> {
    pub(crate) slot: Slot<B>,
    pub(crate) suspect: bool,
    pub(crate) in_flight: Option<JoinHandle<Result<RenderedPage>>>,
}

/// The state of one pool.
pub(crate) struct PoolInner<P: BrowserProvider> {
    pub(crate) provider: Arc<P>,
    pub(crate) options: PoolOptions,
    pub(crate) metrics: Metrics,
    internals: Mutex<Internals<P::Browser>>,
    next_id: AtomicU64,
    /// Returned browsers go to the return task over this channel: `send` never blocks and
    /// needs no runtime, so a handle can be dropped anywhere.
    returns: mpsc::UnboundedSender<Returned<P::Browser>>,
    /// Woken after every transition, for `settled` to re-check.
    settled: Notify,
}

/// Holds off [`PoolInner::settled`] until dropped (see the `busy` count in `internals`).
pub(crate) struct Busy<'a, P: BrowserProvider>(&'a PoolInner<P>);

impl<P: BrowserProvider> Drop for Busy<'_, P> {
    fn drop(&mut self) {
        self.0.with(Internals::busy_end);
    }
}

impl<P: BrowserProvider> PoolInner<P> {
    /// A pool's state, and the receiving end of its returns for the return task.
    pub(crate) fn new(provider: P, options: PoolOptions) -> (Arc<Self>, mpsc::UnboundedReceiver<Returned<P::Browser>>) {
        let (returns, returned) = mpsc::unbounded_channel();
        let inner = Arc::new(Self {
            provider: Arc::new(provider),
            options,
            metrics: Metrics::default(),
            internals: Mutex::new(Internals::default()),
            next_id: AtomicU64::new(1),
            returns,
            settled: Notify::new(),
        });
        (inner, returned)
    }

    /// Runs one transition under the lock, then wakes whoever waits for the pool to settle.
    pub(crate) fn with<R>(&self, transition: impl FnOnce(&mut Internals<P::Browser>) -> R) -> R {
        let result = transition(&mut lock(&self.internals));
        self.settled.notify_waiters();
        result
    }

    /// Holds off [`settled`](Self::settled) until the returned guard drops.
    pub(crate) fn busy(&self) -> Busy<'_, P> {
        self.with(Internals::busy_begin);
        Busy(self)
    }

    /// Waits until no launch, check or close is under way.
    pub(crate) async fn settled(&self) {
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            if lock(&self.internals).is_settled() {
                return;
            }
            settled.await;
        }
    }

    /// The single call a dropped handle makes: in use → under maintenance, and off to the
    /// return task. With the return task gone (its runtime ended) the browser is uncounted and
    /// closes as it drops here.
    pub(crate) fn put_back(&self, returned: Returned<P::Browser>) {
        self.with(|st| st.put_back(returned.slot.id));
        if let Err(unsent) = self.returns.send(returned) {
            self.with(|st| st.closed_one(Counted::Maintenance));
            drop(unsent);
        }
    }

    /// Launches one browser on a blocking thread. The caller has counted it as launching.
    pub(crate) async fn launch(&self) -> Result<Slot<P::Browser>> {
        let provider = self.provider.clone();
        let launched = crate::error::join_blocking(
            tokio::task::spawn_blocking(move || provider.launch()).await,
            "launch a browser",
        );
        match launched {
            Ok(browser) => {
                Metrics::inc(&self.metrics.created);
                Ok(Slot::new(self.next_id.fetch_add(1, Ordering::Relaxed), browser))
            }
            Err(e) => {
                Metrics::inc(&self.metrics.launch_failures);
                Err(e)
            }
        }
    }

    /// Hands `slot` to the first caller still waiting, else makes it idle; closes it if the pool
    /// is closed. `from` says where it was counted until now.
    pub(crate) async fn place(&self, slot: Slot<P::Browser>, from: Counted) {
        if let Some(slot) = self.with(|st| st.place(slot, from)) {
            self.close(slot, RecycleReason::Shutdown, Counted::Maintenance).await;
        }
    }

    /// Closes `slot`'s browser on a blocking thread. `from` says where it was counted.
    pub(crate) async fn close(&self, slot: Slot<P::Browser>, reason: RecycleReason, from: Counted) {
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
        self.with(|st| st.closed_one(from));
    }

    /// Launches browsers, in parallel, to meet `goal`, never above `max_instances`. Returns the
    /// first launch error, if any.
    ///
    /// `target_available` is the warm-up size, not a floor maintenance restores: a pool reaped
    /// for idleness stays at `min_instances` until demand (checkouts launch below
    /// `max_instances`) brings it back up.
    pub(crate) async fn fill(self: &Arc<Self>, goal: Goal) -> Result<()> {
        let wanted = self.with(|st| st.plan_launches(goal, &self.options));
        // Spawned, not a JoinSet: if the caller stops waiting, the launches still finish and
        // are placed and counted; aborting them would strand their browsers and counts.
        let launches: Vec<_> = (0..wanted)
            .map(|_| {
                let inner = self.clone();
                tokio::spawn(async move {
                    match inner.launch().await {
                        Ok(slot) => {
                            inner.place(slot, Counted::Launching).await;
                            Ok(())
                        }
                        Err(e) => {
                            inner.with(Internals::launch_failed);
                            Err(e)
                        }
                    }
                })
            })
            .collect();
        let mut first_error = None;
        for launch in launches {
            if let Ok(Err(e)) = launch.await {
                tracing::warn!(error = %e, "browser launch failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Reports handles held past `max_checkout_duration`, once each.
    pub(crate) fn report_overdue(&self) {
        for (id, held) in self.with(|st| st.overdue(self.options.max_checkout_duration)) {
            Metrics::inc(&self.metrics.overdue_checkouts);
            tracing::warn!(
                browser = id,
                held_secs = held.as_secs(),
                "browser checked out longer than max_checkout_duration; drop the handle when done"
            );
        }
    }

    /// Browsers alive or launching.
    pub(crate) fn total(&self) -> usize {
        lock(&self.internals).total()
    }

    pub(crate) fn status(&self) -> PoolStatus {
        let (total, (available, in_use, launching, maintaining, waiting), browsers) = {
            let st = lock(&self.internals);
            (st.total(), st.counts(), st.browsers())
        };
        let m = &self.metrics;
        PoolStatus {
            provider: self.provider.name(),
            tabs_per_process: self.provider.tabs_per_process(),
            total,
            in_use,
            available,
            launching,
            maintaining,
            waiting,
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
