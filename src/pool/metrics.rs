//! Pool counters and the serializable status the CLI's `pool status` prints.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;

use super::recycle::RecycleReason;

/// How many recent checkout waits the percentiles are computed over.
const WAIT_WINDOW: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub created: AtomicU64,
    pub launch_failures: AtomicU64,
    pub recycled_requests: AtomicU64,
    pub recycled_idle: AtomicU64,
    pub recycled_age: AtomicU64,
    pub recycled_memory: AtomicU64,
    pub recycled_unhealthy: AtomicU64,
    pub closed_at_shutdown: AtomicU64,
    pub checkouts_direct: AtomicU64,
    pub checkouts_waited: AtomicU64,
    pub checkouts_timed_out: AtomicU64,
    pub checkouts_launched: AtomicU64,
    pub health_failures: AtomicU64,
    pub overdue_checkouts: AtomicU64,
    waits_micros: Mutex<VecDeque<u64>>,
}

impl Metrics {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn recycled(&self, reason: RecycleReason) {
        Self::inc(match reason {
            RecycleReason::Requests => &self.recycled_requests,
            RecycleReason::Idle => &self.recycled_idle,
            RecycleReason::Age => &self.recycled_age,
            RecycleReason::Memory => &self.recycled_memory,
            RecycleReason::Unhealthy => &self.recycled_unhealthy,
            RecycleReason::Shutdown => &self.closed_at_shutdown,
        });
    }

    pub(crate) fn record_wait(&self, wait: Duration) {
        let mut waits = crate::sync::lock(&self.waits_micros);
        if waits.len() == WAIT_WINDOW {
            waits.pop_front();
        }
        waits.push_back(u64::try_from(wait.as_micros()).unwrap_or(u64::MAX));
    }

    pub(crate) fn wait_percentiles(&self) -> WaitPercentiles {
        let mut waits: Vec<u64> = crate::sync::lock(&self.waits_micros).iter().copied().collect();
        waits.sort_unstable();
        let at = |q: f64| -> Option<f64> {
            let last = waits.len().checked_sub(1)?;
            let idx = (last as f64 * q).round() as usize;
            Some(waits[idx.min(last)] as f64 / 1000.0)
        };
        WaitPercentiles {
            samples: waits.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
        }
    }

    pub(crate) fn recycle_counts(&self) -> RecycleCounts {
        RecycleCounts {
            requests: self.recycled_requests.load(Relaxed),
            idle: self.recycled_idle.load(Relaxed),
            age: self.recycled_age.load(Relaxed),
            memory: self.recycled_memory.load(Relaxed),
            unhealthy: self.recycled_unhealthy.load(Relaxed),
            shutdown: self.closed_at_shutdown.load(Relaxed),
        }
    }

    pub(crate) fn checkout_counts(&self) -> CheckoutCounts {
        CheckoutCounts {
            direct: self.checkouts_direct.load(Relaxed),
            launched: self.checkouts_launched.load(Relaxed),
            waited: self.checkouts_waited.load(Relaxed),
            timed_out: self.checkouts_timed_out.load(Relaxed),
        }
    }
}

/// Browsers closed, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RecycleCounts {
    /// Reached `max_requests_per_instance`.
    pub requests: u64,
    /// Idle past `idle_timeout` above `min_instances`.
    pub idle: u64,
    /// Older than `max_age`.
    pub age: u64,
    /// Over `memory_limit_mb`.
    pub memory: u64,
    /// Failed a probe or died.
    pub unhealthy: u64,
    /// Closed by `shutdown`.
    pub shutdown: u64,
}

/// Checkouts by how they were served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CheckoutCounts {
    /// An idle browser was ready.
    pub direct: u64,
    /// A browser was launched for it (below `max_instances`).
    pub launched: u64,
    /// Waited in the queue, then served.
    pub waited: u64,
    /// Waited past `max_checkout_duration` and failed.
    pub timed_out: u64,
}

/// Checkout wait time percentiles over recent checkouts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct WaitPercentiles {
    /// How many checkouts they cover.
    pub samples: usize,
    /// Median, milliseconds; `None` (`null` in JSON) before the first checkout, as are the
    /// others.
    pub p50_ms: Option<f64>,
    /// 95th percentile, milliseconds.
    pub p95_ms: Option<f64>,
    /// 99th percentile, milliseconds.
    pub p99_ms: Option<f64>,
}

/// One browser in [`PoolStatus`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct BrowserStatus {
    /// The pool's id for it.
    pub id: u64,
    /// `"idle"` or `"in_use"`.
    pub state: &'static str,
    /// Checkouts served.
    pub requests: u32,
    /// Seconds since launch.
    pub age_secs: f64,
    /// Memory (PSS of its process tree) at the last measurement, MiB.
    pub memory_mb: Option<f64>,
}

/// A snapshot of the pool.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PoolStatus {
    /// The provider (`"chromiumoxide"`).
    pub provider: &'static str,
    /// Pooled browsers per local Chromium process, each in a tab of its own.
    pub tabs_per_process: usize,
    /// Browsers alive or launching: always `in_use + available + launching + maintaining`.
    pub total: usize,
    /// Checked out now.
    pub in_use: usize,
    /// Idle and ready.
    pub available: usize,
    /// Being launched.
    pub launching: usize,
    /// Being looked after by the pool: probed or measured after a return, or closed (recycled,
    /// reaped). Neither available nor in use, and not listed in `browsers`.
    pub maintaining: usize,
    /// Callers waiting for a browser.
    pub waiting: usize,
    /// Browsers launched since the pool started.
    pub created: u64,
    /// Launches that failed.
    pub launch_failures: u64,
    /// Browsers closed, by reason.
    pub recycled: RecycleCounts,
    /// Checkouts by how they were served.
    pub checkouts: CheckoutCounts,
    /// Checkout wait percentiles.
    pub checkout_wait: WaitPercentiles,
    /// Probes that failed.
    pub health_failures: u64,
    /// Handles held past `max_checkout_duration`.
    pub overdue_checkouts: u64,
    /// Every browser.
    pub browsers: Vec<BrowserStatus>,
}
