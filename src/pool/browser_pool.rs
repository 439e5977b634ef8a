//! [`BrowserPool`]: the public face of the pool (start, check out, status, shut down).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::handle::PooledBrowser;
use super::inner::{PoolInner, Returned};
use super::internals::{Checkout, Counted, Goal, Internals, Slot};
use super::maintenance;
use super::metrics::{Metrics, PoolStatus};
use super::options::PoolOptions;
use super::recycle::RecycleReason;
use crate::error::{Error, PoolError, Result};
use crate::sync::lock;
use crate::traits::BrowserProvider;

/// A pool of warm browsers from provider `P`.
///
/// Cheap to clone (clones share the pool). Dropping the last clone without
/// [`shutdown`](BrowserPool::shutdown) stops the pool's tasks and closes idle browsers; browsers
/// still checked out close when their handles drop.
pub struct BrowserPool<P: BrowserProvider> {
    inner: Arc<PoolInner<P>>,
    tasks: Arc<Tasks>,
}

impl<P: BrowserProvider> Clone for BrowserPool<P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            tasks: self.tasks.clone(),
        }
    }
}

impl<P: BrowserProvider> std::fmt::Debug for BrowserPool<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserPool")
            .field("provider", &self.inner.provider.name())
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// A caller's place in the waiting line. Leaving it (a time-out, or the checkout's future
/// dropped by its caller's own time-out) closes the receiver first, so a browser placed at that
/// very moment is not lost with it but goes back to the pool.
struct InLine<'a, P: BrowserProvider> {
    rx: Option<oneshot::Receiver<Slot<P::Browser>>>,
    inner: &'a Arc<PoolInner<P>>,
}

impl<P: BrowserProvider> InLine<'_, P> {
    async fn receiver(&mut self) -> std::result::Result<Slot<P::Browser>, oneshot::error::RecvError> {
        match self.rx.as_mut() {
            Some(rx) => rx.await,
            None => std::future::pending().await,
        }
    }

    /// Leaves the line, with the browser placed just before, if one was.
    fn leave(&mut self) -> Option<Slot<P::Browser>> {
        let mut rx = self.rx.take()?;
        rx.close();
        rx.try_recv().ok()
    }
}

impl<P: BrowserProvider> Drop for InLine<'_, P> {
    fn drop(&mut self) {
        // Counted in use for a caller who is gone: returned like a dropped handle.
        if let Some(slot) = self.leave() {
            self.inner.put_back(Returned {
                slot,
                suspect: false,
                in_flight: None,
            });
        }
    }
}

/// The pool's background tasks. They hold the pool weakly and end when it is gone; aborting
/// them when the last clone drops only saves the periodic task's last tick.
struct Tasks(Mutex<Vec<JoinHandle<()>>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in lock(&self.0).drain(..) {
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
        options.validate()?;
        let (inner, returned) = PoolInner::new(provider, options);
        let weak = Arc::downgrade(&inner);
        let mut tasks = vec![
            tokio::spawn(maintenance::take_returns(weak.clone(), returned)),
            tokio::spawn(maintenance::periodic(weak, inner.options.health_check_interval)),
        ];
        if inner.options.background_warmup {
            let warm = inner.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = warm.fill(Goal::Target).await {
                    tracing::warn!(error = %e, "browser pool warm-up failed");
                }
            }));
        } else if let Err(e) = inner.fill(Goal::Target).await {
            let launched = inner.total();
            if launched == 0 {
                for task in &tasks {
                    task.abort();
                }
                return Err(e);
            }
            tracing::warn!(error = %e, launched, "browser pool warmed up partially");
        }
        Ok(Self {
            inner,
            tasks: Arc::new(Tasks(Mutex::new(tasks))),
        })
    }

    /// A healthy browser: an idle one at once, else a new one while below `max_instances`, else
    /// the next one returned (first come, first served). Fails with [`PoolError::Exhausted`]
    /// after `max_checkout_duration`, or at once when `max_waiters` callers already wait.
    pub async fn checkout(&self) -> Result<PooledBrowser<P>> {
        let started = Instant::now();
        let inner = &self.inner;
        let slot = match inner.with(|st| st.checkout(&inner.options)) {
            Checkout::Closed => return Err(PoolError::Closed.into()),
            Checkout::LineFull => {
                Metrics::inc(&inner.metrics.checkouts_timed_out);
                return Err(self.exhausted(Duration::ZERO));
            }
            Checkout::Ready(slot) => {
                Metrics::inc(&inner.metrics.checkouts_direct);
                slot
            }
            Checkout::Launch => {
                let handle = self.launch_for_caller().await?;
                inner.metrics.record_wait(started.elapsed());
                return Ok(handle);
            }
            Checkout::Wait(rx) => {
                let slot = self.wait_in_line(rx, started).await?;
                Metrics::inc(&inner.metrics.checkouts_waited);
                slot
            }
        };
        inner.metrics.record_wait(started.elapsed());
        Ok(PooledBrowser::new(slot, inner))
    }

    /// Launches the browser a checkout was counted for. The launch runs in its own task and
    /// hands over a finished handle, so a caller that gives up (a timeout drops this future)
    /// leaves neither an uncounted launch nor a stray browser: an unclaimed handle returns
    /// itself to the pool on drop.
    async fn launch_for_caller(&self) -> Result<PooledBrowser<P>> {
        let (tx, rx) = oneshot::channel();
        let inner = self.inner.clone();
        tokio::spawn(async move {
            // Between the launch ending and an unclaimed handle dropping, the browser is only
            // "in use"; `settled` must not return in that gap.
            let _busy = inner.busy();
            let handle = match inner.launch().await {
                Ok(slot) => {
                    inner.with(|st| st.launched_for_caller(&slot));
                    Metrics::inc(&inner.metrics.checkouts_launched);
                    Ok(PooledBrowser::new(slot, &inner))
                }
                Err(e) => {
                    inner.with(Internals::launch_failed);
                    Err(e)
                }
            };
            let _ = tx.send(handle);
        });
        rx.await.map_err(|_| Error::from(PoolError::Closed))?
    }

    /// Waits for a browser placed by a return, up to `max_checkout_duration` since `started`.
    async fn wait_in_line(
        &self,
        rx: oneshot::Receiver<Slot<P::Browser>>,
        started: Instant,
    ) -> Result<Slot<P::Browser>> {
        let limit = self
            .inner
            .options
            .max_checkout_duration
            .saturating_sub(started.elapsed());
        let mut line = InLine {
            rx: Some(rx),
            inner: &self.inner,
        };
        let served = tokio::select! {
            served = line.receiver() => served.ok(),
            () = tokio::time::sleep(limit) => line.leave(),
        };
        // Served, or left: nothing is left in the line for the guard to return.
        line.rx = None;
        match served {
            Some(slot) => Ok(slot),
            None if self.inner.with(|st| st.is_closed()) => Err(PoolError::Closed.into()),
            None => {
                Metrics::inc(&self.inner.metrics.checkouts_timed_out);
                Err(self.exhausted(started.elapsed()))
            }
        }
    }

    fn exhausted(&self, waited: Duration) -> Error {
        PoolError::Exhausted {
            waited,
            max_instances: self.inner.options.max_instances,
        }
        .into()
    }

    /// The pool's counts, metrics and browsers now. Cheap: it probes nothing.
    pub fn status(&self) -> PoolStatus {
        self.inner.status()
    }

    /// The provider browsers come from.
    pub fn provider(&self) -> &P {
        &self.inner.provider
    }

    /// The options in force.
    pub fn options(&self) -> &PoolOptions {
        &self.inner.options
    }

    /// Runs one maintenance round now (probes, recycling, idle reaping, replenishing) instead
    /// of waiting for the next `health_check_interval`.
    pub async fn run_maintenance(&self) {
        // A task of its own: a caller that stops waiting (a time-out) must not abort the round
        // half-way, with browsers taken out for checking and never put back.
        let inner = self.inner.clone();
        let _ = tokio::spawn(async move { maintenance::round(&inner).await }).await;
    }

    /// Closes every browser and stops the pool: waiting callers get [`PoolError::Closed`], idle
    /// browsers are closed now (whole process trees, reaped, directories removed), browsers still
    /// checked out are closed when returned. Later checkouts fail with `PoolError::Closed`.
    pub async fn shutdown(&self) {
        let idle = self.inner.with(Internals::close);
        // Spawned, not a JoinSet: a caller that stops waiting must not abort the closes (the
        // browsers would stay counted, and `settled` would wait for them for ever).
        let closing: Vec<_> = idle
            .into_iter()
            .map(|slot| {
                let inner = self.inner.clone();
                tokio::spawn(async move { inner.close(slot, RecycleReason::Shutdown, Counted::Maintenance).await })
            })
            .collect();
        for close in closing {
            let _ = close.await;
        }
        // Browsers still launching, or returned and being checked, close themselves when done
        // (the pool is closed); wait for them.
        self.settled().await;
    }

    /// Waits until no browser is launching or being checked after its return: every handle
    /// dropped (and every checkout abandoned) before this call has been dealt with (made idle,
    /// handed on, or closed), and recycled browsers' replacements have launched.
    pub async fn settled(&self) {
        self.inner.settled().await;
    }
}
