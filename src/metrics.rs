//! The executor's counters and the performance report that gathers every optimization's
//! numbers in one JSON document (`riptide performance report`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cache::CacheStats;
use crate::extract::StageTimings;
use crate::pool::PoolStatus;
use crate::traits::{Engine, TimeoutStats};

/// Everything riptide measured, in one serializable document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PerformanceReport {
    /// When the report was made, in seconds since the Unix epoch.
    pub generated_at_unix_secs: u64,
    /// `optimizations.enabled`: `false` means the baseline (no pool, no cache, fixed timeouts).
    pub optimizations_enabled: bool,
    /// Pages extracted and where their time went.
    pub extraction: ExtractionStats,
    /// The browser pool (`None` if no page needed one, or the pool is off).
    pub browser_pool: Option<PoolStatus>,
    /// The WASM module cache, across processes sharing its directory.
    pub wasm_cache: Option<CacheStats>,
    /// The timeout policy's totals (`None` for a policy that keeps none).
    pub adaptive_timeout: Option<TimeoutStats>,
}

/// Pages extracted by one executor.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ExtractionStats {
    /// Calls to `extract` (and pages of `extract_many`).
    pub pages: u64,
    /// Pages extracted.
    pub succeeded: u64,
    /// Pages that failed.
    pub failed: u64,
    /// Pages extracted from static HTML.
    pub static_pages: u64,
    /// Pages rendered headless.
    pub headless_pages: u64,
    /// Pages first fetched statically, then found to need JavaScript.
    pub escalated: u64,
    /// Hosts `EngineChoice::Auto` renders directly now (rendering kept adding content).
    pub hosts_rendered_directly: u64,
    /// Seconds since the executor was built.
    pub uptime_secs: f64,
    /// `succeeded / uptime_secs`.
    pub pages_per_sec: f64,
    /// Mean fetch (or render) time of extracted pages, milliseconds; `None` (`null` in JSON)
    /// before the first page extracted, as are the other means.
    pub mean_fetch_ms: Option<f64>,
    /// Mean time to get the compiled extractor, milliseconds.
    pub mean_module_load_ms: Option<f64>,
    /// Mean extractor run time, milliseconds.
    pub mean_extraction_ms: Option<f64>,
    /// Mean time per extracted page, milliseconds.
    pub mean_total_ms: Option<f64>,
}

/// Lock-free running totals, bumped once per page.
#[derive(Debug)]
pub(crate) struct ExtractionCounters {
    started: Instant,
    pages: AtomicU64,
    succeeded: AtomicU64,
    static_pages: AtomicU64,
    headless_pages: AtomicU64,
    escalated: AtomicU64,
    fetch_micros: AtomicU64,
    module_load_micros: AtomicU64,
    extraction_micros: AtomicU64,
    total_micros: AtomicU64,
}

impl Default for ExtractionCounters {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            pages: AtomicU64::new(0),
            succeeded: AtomicU64::new(0),
            static_pages: AtomicU64::new(0),
            headless_pages: AtomicU64::new(0),
            escalated: AtomicU64::new(0),
            fetch_micros: AtomicU64::new(0),
            module_load_micros: AtomicU64::new(0),
            extraction_micros: AtomicU64::new(0),
            total_micros: AtomicU64::new(0),
        }
    }
}

fn add(counter: &AtomicU64, d: Duration) {
    counter.fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

impl ExtractionCounters {
    pub(crate) fn failed(&self) {
        self.pages.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn succeeded(&self, engine: Engine, escalated: bool, t: &StageTimings) {
        self.pages.fetch_add(1, Ordering::Relaxed);
        self.succeeded.fetch_add(1, Ordering::Relaxed);
        let by_engine = match engine {
            Engine::Static => &self.static_pages,
            Engine::Headless => &self.headless_pages,
        };
        by_engine.fetch_add(1, Ordering::Relaxed);
        if escalated {
            self.escalated.fetch_add(1, Ordering::Relaxed);
        }
        add(&self.fetch_micros, t.fetch);
        add(&self.module_load_micros, t.module_load);
        add(&self.extraction_micros, t.extraction);
        add(&self.total_micros, t.total);
    }

    pub(crate) fn stats(&self) -> ExtractionStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (pages, ok) = (get(&self.pages), get(&self.succeeded));
        let mean = |c: &AtomicU64| (ok > 0).then(|| get(c) as f64 / ok as f64 / 1000.0);
        let uptime = self.started.elapsed().as_secs_f64();
        ExtractionStats {
            pages,
            succeeded: ok,
            failed: pages.saturating_sub(ok),
            static_pages: get(&self.static_pages),
            headless_pages: get(&self.headless_pages),
            escalated: get(&self.escalated),
            hosts_rendered_directly: 0,
            uptime_secs: uptime,
            pages_per_sec: if uptime > 0.0 { ok as f64 / uptime } else { 0.0 },
            mean_fetch_ms: mean(&self.fetch_micros),
            mean_module_load_ms: mean(&self.module_load_micros),
            mean_extraction_ms: mean(&self.extraction_micros),
            mean_total_ms: mean(&self.total_micros),
        }
    }
}
