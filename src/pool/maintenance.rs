//! Keeping the pool healthy: returned browsers are checked before reuse, and a periodic round
//! probes idle browsers, recycles old, heavy or overused ones, reaps idle ones above
//! `min_instances`, reports handles held too long, and launches replacements.
//!
//! The rules themselves are pure functions in `recycle`; this file runs them. Both tasks hold
//! only a `Weak` reference, so a pool whose last clone and handles are gone is freed and its
//! tasks end on their own. Probes, memory readings, launches and closes all run on blocking
//! threads, outside the pool's lock.

use std::sync::{Arc, Weak};
use tokio::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::inner::{PoolInner, Returned};
use super::internals::{Counted, Goal, Slot};
use super::metrics::Metrics;
use super::recycle::{self, RecycleReason};
use crate::traits::BrowserProvider;

/// Receives returned browsers until the pool is gone (its sender drops with it).
pub(crate) async fn take_returns<P: BrowserProvider>(
    pool: Weak<PoolInner<P>>,
    mut returned: mpsc::UnboundedReceiver<Returned<P::Browser>>,
) {
    while let Some(Returned {
        slot,
        suspect,
        in_flight,
    }) = returned.recv().await
    {
        // The pool may be going while this one was in the channel: the slot then drops
        // here and its browser closes itself.
        let Some(pool) = pool.upgrade() else { return };
        tokio::spawn(async move {
            // A fetch whose caller gave up was cancelled and ends within moments; until it
            // does it holds the browser, which can be neither probed nor closed.
            if let Some(fetch) = in_flight {
                let _ = fetch.await;
            }
            check_returned(&pool, slot, suspect).await;
        });
    }
}

/// Runs a round every `health_check_interval` until the pool is gone.
pub(crate) async fn periodic<P: BrowserProvider>(pool: Weak<PoolInner<P>>, interval: std::time::Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate; the pool was just warmed
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        round(&pool).await;
    }
}

/// A returned browser (counted under maintenance by its handle) is checked before reuse.
async fn check_returned<P: BrowserProvider>(pool: &Arc<PoolInner<P>>, mut slot: Slot<P::Browser>, suspect: bool) {
    // Covers the gap between closing a recycled browser and counting its replacement.
    let _busy = pool.busy();
    slot.requests += 1;
    slot.last_used = Instant::now();
    let mut reason = recycle::worn_out(&pool.options, slot.wear());
    if reason.is_none() && suspect && !probe(pool, &slot).await {
        reason = Some(RecycleReason::Unhealthy);
    }
    if reason.is_none() && recycle::memory_due(slot.memory_checked.map(|t| t.elapsed())) {
        reason = measure_memory(pool, &mut slot).await;
    }
    let replace = settle(pool, slot, reason).await;
    if replace > 0
        && let Err(e) = pool.fill(Goal::Replace(replace)).await
    {
        tracing::warn!(error = %e, "could not replace a recycled browser");
    }
}

/// One maintenance round. Runs in a task of its own (the periodic task, or the one
/// `run_maintenance` spawns), never in a caller's future that could be dropped half-way.
pub(crate) async fn round<P: BrowserProvider>(pool: &Arc<PoolInner<P>>) {
    let _busy = pool.busy();
    pool.report_overdue();
    let idle = pool.with(|st| st.take_idle());
    let mut reapable = pool.total().saturating_sub(pool.options.min_instances);
    let mut checks = JoinSet::new();
    for mut slot in idle {
        let wear = slot.wear();
        let mut reason =
            recycle::worn_out(&pool.options, wear).or_else(|| recycle::reap_idle(&pool.options, wear, &mut reapable));
        let pool = pool.clone();
        checks.spawn(async move {
            if reason.is_none() && !probe(&pool, &slot).await {
                reason = Some(RecycleReason::Unhealthy);
            }
            if reason.is_none() {
                reason = measure_memory(&pool, &mut slot).await;
            }
            (slot, reason)
        });
    }
    let mut replace = 0;
    while let Some(checked) = checks.join_next().await {
        match checked {
            Ok((slot, reason)) => replace += settle(pool, slot, reason).await,
            // A check that panicked took its browser with it (dropped, so closed): uncount it.
            Err(_) => pool.with(|st| st.closed_one(Counted::Maintenance)),
        }
    }
    if let Err(e) = pool.fill(Goal::Replace(replace)).await {
        tracing::warn!(error = %e, "could not replenish the browser pool");
    }
}

/// Re-places one browser counted under maintenance, or closes it for `reason`. Returns how many
/// browsers to launch in its place.
async fn settle<P: BrowserProvider>(
    pool: &Arc<PoolInner<P>>,
    slot: Slot<P::Browser>,
    reason: Option<RecycleReason>,
) -> usize {
    let Some(reason) = reason else {
        pool.place(slot, Counted::Maintenance).await;
        return 0;
    };
    tracing::debug!(browser = slot.id, ?reason, "recycling browser");
    pool.close(slot, reason, Counted::Maintenance).await;
    usize::from(reason.replaced(&pool.options))
}

async fn probe<P: BrowserProvider>(pool: &Arc<PoolInner<P>>, slot: &Slot<P::Browser>) -> bool {
    let (provider, browser, deadline) = (pool.provider.clone(), slot.browser.clone(), pool.options.probe_deadline);
    let probed = crate::error::join_blocking(
        tokio::task::spawn_blocking(move || provider.probe(&browser, deadline)).await,
        "probe a browser",
    );
    match probed {
        Ok(()) => true,
        Err(error) => {
            Metrics::inc(&pool.metrics.health_failures);
            tracing::warn!(browser = slot.id, %error, "browser failed its health probe");
            false
        }
    }
}

async fn measure_memory<P: BrowserProvider>(
    pool: &Arc<PoolInner<P>>,
    slot: &mut Slot<P::Browser>,
) -> Option<RecycleReason> {
    let (provider, browser) = (pool.provider.clone(), slot.browser.clone());
    slot.memory = tokio::task::spawn_blocking(move || provider.memory_bytes(&browser))
        .await
        .ok()
        .flatten();
    slot.memory_checked = Some(Instant::now());
    let reason = recycle::over_memory(&pool.options, slot.memory);
    if reason.is_some() {
        tracing::info!(
            browser = slot.id,
            mb = slot.memory.unwrap_or(0) >> 20,
            limit_mb = pool.options.memory_limit_bytes >> 20,
            "browser over its memory limit"
        );
    }
    reason
}
