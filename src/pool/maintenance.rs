//! Keeping the pool healthy: returned browsers are checked before reuse, and a periodic round
//! probes idle browsers, recycles old, heavy or overused ones, reaps idle ones above
//! `min_instances`, reports handles held too long, and launches replacements.
//!
//! Probes, memory readings, launches and closes all run on blocking threads and outside the
//! pool's lock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::handle::Returned;
use super::metrics::{Metrics, RecycleReason};
use super::shared::{Counted, Goal, Shared, Slot};
use crate::traits::BrowserProvider;

/// A returned browser's memory is read again only after this long. `smaps_rollup` makes the
/// kernel walk every page table of a ~400 MiB process tree: measured, reading it every 2 s cut
/// one browser's throughput from 5.7 to 3.8 pages/s. Maintenance rounds read it too, and a
/// browser's first return always does.
const MEMORY_RECHECK: Duration = Duration::from_secs(30);

/// Receives returned browsers for as long as the pool lives.
pub(crate) async fn take_returns<P: BrowserProvider>(
    shared: Arc<Shared<P>>,
    mut returned: mpsc::UnboundedReceiver<Returned<P::Browser>>,
) {
    // The handle already moved the browser from in-use to maintenance.
    while let Some(Returned {
        slot,
        suspect,
        in_flight,
    }) = returned.recv().await
    {
        let shared = shared.clone();
        tokio::spawn(async move {
            // A fetch whose caller gave up was cancelled and ends within moments; until it
            // does it holds the browser, which can be neither probed nor closed.
            if let Some(fetch) = in_flight {
                let _ = fetch.await;
            }
            check_returned(&shared, slot, suspect).await
        });
    }
}

async fn check_returned<P: BrowserProvider>(shared: &Arc<Shared<P>>, mut slot: Slot<P::Browser>, suspect: bool) {
    // Covers the gap between closing a recycled browser and counting its replacement.
    let _busy = shared.busy();
    slot.requests += 1;
    slot.last_used = Instant::now();
    let mut reason = worn_out(&shared.options, &slot);
    if reason.is_none() && suspect && !probe(shared, &slot).await {
        reason = Some(RecycleReason::Unhealthy);
    }
    if reason.is_none() && slot.memory_checked.is_none_or(|t| t.elapsed() >= MEMORY_RECHECK) {
        reason = measure_memory(shared, &mut slot).await;
    }
    let replace = settle(shared, slot, reason).await;
    if replace > 0
        && let Err(e) = shared.ensure_capacity(Goal::Replace(replace)).await
    {
        tracing::warn!(error = %e, "could not replace a recycled browser");
    }
}

/// Re-places one browser counted under maintenance, or closes it for `reason`. Returns how many
/// browsers to launch in its place: recycled ones are replaced one for one, reaped idle ones are
/// not, unhealthy ones only with `auto_restart`.
async fn settle<P: BrowserProvider>(
    shared: &Arc<Shared<P>>,
    slot: Slot<P::Browser>,
    reason: Option<RecycleReason>,
) -> usize {
    let Some(reason) = reason else {
        shared.place(slot, Counted::Maintenance).await;
        return 0;
    };
    tracing::debug!(browser = slot.id, ?reason, "recycling browser");
    shared.close(slot, reason, Counted::Maintenance).await;
    let replaced = match reason {
        RecycleReason::Idle | RecycleReason::Shutdown => false,
        RecycleReason::Unhealthy => shared.options.auto_restart,
        RecycleReason::Requests | RecycleReason::Age | RecycleReason::Memory => true,
    };
    usize::from(replaced)
}

fn worn_out<B>(options: &super::PoolOptions, slot: &Slot<B>) -> Option<RecycleReason> {
    if slot.requests >= options.max_requests_per_instance {
        return Some(RecycleReason::Requests);
    }
    if options.max_age.is_some_and(|max| slot.created.elapsed() >= max) {
        return Some(RecycleReason::Age);
    }
    None
}

async fn probe<P: BrowserProvider>(shared: &Arc<Shared<P>>, slot: &Slot<P::Browser>) -> bool {
    let (provider, browser, deadline) = (
        shared.provider.clone(),
        slot.browser.clone(),
        shared.options.probe_deadline,
    );
    let healthy = tokio::task::spawn_blocking(move || provider.probe(&browser, deadline))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    match healthy {
        Ok(()) => true,
        Err(reason) => {
            Metrics::inc(&shared.metrics.health_failures);
            tracing::warn!(browser = slot.id, %reason, "browser failed its health probe");
            false
        }
    }
}

async fn measure_memory<P: BrowserProvider>(
    shared: &Arc<Shared<P>>,
    slot: &mut Slot<P::Browser>,
) -> Option<RecycleReason> {
    let (provider, browser) = (shared.provider.clone(), slot.browser.clone());
    slot.memory = tokio::task::spawn_blocking(move || provider.memory_bytes(&browser))
        .await
        .ok()
        .flatten();
    slot.memory_checked = Some(Instant::now());
    match slot.memory {
        Some(bytes) if bytes > shared.options.memory_limit_bytes => {
            tracing::info!(
                browser = slot.id,
                mb = bytes >> 20,
                limit_mb = shared.options.memory_limit_bytes >> 20,
                "browser over its memory limit"
            );
            Some(RecycleReason::Memory)
        }
        _ => None,
    }
}

/// Runs a round every `health_check_interval` for as long as the pool lives.
pub(crate) async fn periodic<P: BrowserProvider>(shared: Arc<Shared<P>>) {
    let mut tick = tokio::time::interval(shared.options.health_check_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate; the pool was just warmed
    loop {
        tick.tick().await;
        round(&shared).await;
    }
}

/// One maintenance round.
pub(crate) async fn round<P: BrowserProvider>(shared: &Arc<Shared<P>>) {
    let _busy = shared.busy();
    shared.report_overdue();
    let idle = shared.take_idle();
    // Reaping must never take the pool below min_instances; count what stays as we go.
    let mut reapable = shared.lock().total().saturating_sub(shared.options.min_instances);
    let mut checks = JoinSet::new();
    for mut slot in idle {
        let mut reason = worn_out(&shared.options, &slot);
        if reason.is_none() && reapable > 0 && slot.last_used.elapsed() >= shared.options.idle_timeout {
            reapable -= 1;
            reason = Some(RecycleReason::Idle);
        }
        let shared = shared.clone();
        checks.spawn(async move {
            if reason.is_none() && !probe(&shared, &slot).await {
                reason = Some(RecycleReason::Unhealthy);
            }
            if reason.is_none() {
                reason = measure_memory(&shared, &mut slot).await;
            }
            (slot, reason)
        });
    }
    let mut replace = 0;
    while let Some(Ok((slot, reason))) = checks.join_next().await {
        replace += settle(shared, slot, reason).await;
    }
    // Reaped idle browsers are not replaced; recycled ones are, one for one.
    if let Err(e) = shared.ensure_capacity(Goal::Replace(replace)).await {
        tracing::warn!(error = %e, "could not replenish the browser pool");
    }
}
