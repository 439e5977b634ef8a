//! `GET /metrics`: what the executor measured and what the server saw, in the Prometheus text
//! format, with the Prometheus project's own client (`prometheus-client`).
//!
//! The executor keeps its numbers itself (pool, cache, timeouts, pages: the
//! [`PerformanceReport`]); they are read at each scrape into a registry made for it, so there is
//! one source for `/v1/report` and `/metrics`, never two counts of the same thing. What only
//! the server sees (requests by route and status, extraction latency by engine) lives here, in
//! metrics the scrape registries share.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::crawl::CrawlReport;
use crate::metrics::PerformanceReport;

/// Labels as written: a few, short, and known where they are set.
type Labels = Vec<(&'static str, String)>;

/// Extraction latency buckets: 5 ms to about 41 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// The server's own metrics.
#[derive(Debug)]
pub(super) struct ServerMetrics {
    requests: Family<Labels, Counter>,
    extraction: Family<Labels, Histogram, fn() -> Histogram>,
}

impl ServerMetrics {
    pub(super) fn new() -> Self {
        Self {
            requests: Family::default(),
            extraction: Family::new_with_constructor(latency_histogram),
        }
    }

    /// One answered request.
    pub(super) fn request(&self, route: &str, status: u16) {
        self.requests
            .get_or_create(&vec![("route", route.to_string()), ("status", status.to_string())])
            .inc();
    }

    /// One page extracted by `engine` in `seconds`, from its request's arrival.
    pub(super) fn extracted(&self, engine: &str, seconds: f64) {
        self.extraction
            .get_or_create(&vec![("engine", engine.to_string())])
            .observe(seconds);
    }

    /// The text exposition: the server's metrics, `report`'s numbers and the crawls' totals
    /// (with how many run now).
    pub(super) fn render(&self, report: &PerformanceReport, crawls: &(CrawlReport, usize)) -> String {
        let mut registry = Registry::with_prefix("riptide");
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            self.requests.clone(),
        );
        registry.register_with_unit(
            "extraction_duration",
            "Time from a request's arrival to its page's record, by engine",
            Unit::Seconds,
            self.extraction.clone(),
        );
        register_report(&mut registry, report);
        register_crawls(&mut registry, &crawls.0, crawls.1);
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &registry);
        text
    }
}

/// A counter family holding `values` (labels, count), made for one scrape.
fn counters(values: impl IntoIterator<Item = (Labels, u64)>) -> Family<Labels, Counter> {
    let family = Family::<Labels, Counter>::default();
    for (labels, value) in values {
        family.get_or_create(&labels).inc_by(value);
    }
    family
}

/// A gauge family holding `values` (labels, value), made for one scrape.
fn gauges(values: impl IntoIterator<Item = (Labels, f64)>) -> Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>> {
    let family = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    for (labels, value) in values {
        family.get_or_create(&labels).set(value);
    }
    family
}

/// A counter holding `value`, made for one scrape.
fn counter(value: u64) -> Counter {
    let counter = Counter::default();
    counter.inc_by(value);
    counter
}

/// A gauge holding `value`, made for one scrape.
fn gauge(value: f64) -> Gauge<f64, std::sync::atomic::AtomicU64> {
    let gauge = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    gauge.set(value);
    gauge
}

fn label(name: &'static str, value: impl ToString) -> Labels {
    vec![(name, value.to_string())]
}

fn count<T: TryInto<u64>>(n: T) -> u64 {
    n.try_into().unwrap_or(u64::MAX)
}

fn register_report(registry: &mut Registry, report: &PerformanceReport) {
    let e = &report.extraction;
    registry.register(
        "pages",
        "Pages asked for since the server started, by result",
        counters([
            (label("result", "succeeded"), e.succeeded),
            (label("result", "failed"), e.failed),
        ]),
    );
    registry.register(
        "pages_by_engine",
        "Pages extracted, by the engine that fetched them",
        counters([
            (label("engine", "static"), e.static_pages),
            (label("engine", "headless"), e.headless_pages),
        ]),
    );
    registry.register(
        "pages_escalated",
        "Pages fetched statically first, then rendered",
        counter(e.escalated),
    );
    if let Some(pool) = &report.browser_pool {
        registry.register(
            "pool_browsers",
            "Browsers in the pool, by state (they add up to the pool's total)",
            gauges([
                (label("state", "available"), pool.available as f64),
                (label("state", "in_use"), pool.in_use as f64),
                (label("state", "launching"), pool.launching as f64),
                (label("state", "maintaining"), pool.maintaining as f64),
            ]),
        );
        registry.register(
            "pool_waiting",
            "Callers waiting for a browser",
            gauge(pool.waiting as f64),
        );
        registry.register("pool_browsers_created", "Browsers launched", counter(pool.created));
        registry.register(
            "pool_launch_failures",
            "Browser launches that failed",
            counter(pool.launch_failures),
        );
        let r = &pool.recycled;
        registry.register(
            "pool_browsers_recycled",
            "Browsers closed by the pool, by reason",
            counters([
                (label("reason", "requests"), r.requests),
                (label("reason", "idle"), r.idle),
                (label("reason", "age"), r.age),
                (label("reason", "memory"), r.memory),
                (label("reason", "unhealthy"), r.unhealthy),
                (label("reason", "shutdown"), r.shutdown),
            ]),
        );
        let w = &pool.checkout_wait;
        let quantiles = [("0.5", w.p50_ms), ("0.95", w.p95_ms), ("0.99", w.p99_ms)]
            .into_iter()
            .filter_map(|(q, ms)| ms.map(|ms| (label("quantile", q), ms / 1000.0)));
        registry.register_with_unit(
            "pool_checkout_wait",
            "Checkout wait over the latest checkouts, by quantile (absent before the first)",
            Unit::Seconds,
            gauges(quantiles),
        );
    }
    if let Some(cache) = &report.wasm_cache {
        registry.register(
            "wasm_cache_lookups",
            "Extractor lookups, by result",
            counters([
                (label("result", "hit"), cache.hits),
                (label("result", "miss"), cache.misses),
            ]),
        );
        registry.register(
            "wasm_cache_compilations",
            "Extractor compilations",
            counter(cache.compilations),
        );
        registry.register(
            "wasm_cache_loads",
            "Compiled extractors loaded from the store",
            counter(cache.loads),
        );
        let means = [("compile", cache.avg_compile_ms), ("load", cache.avg_load_ms)]
            .into_iter()
            .filter_map(|(what, ms)| ms.map(|ms| (label("operation", what), ms / 1000.0)));
        registry.register_with_unit(
            "wasm_cache_mean_duration",
            "Mean compile and load time (absent before the first)",
            Unit::Seconds,
            gauges(means),
        );
        registry.register_with_unit(
            "wasm_cache_size",
            "Bytes of compiled extractors stored",
            Unit::Bytes,
            gauge(cache.bytes as f64),
        );
    }
    if let Some(t) = &report.adaptive_timeout {
        let by = |engine: &crate::traits::Engine, outcome: &'static str| {
            vec![
                ("engine", engine.as_str().to_string()),
                ("outcome", outcome.to_string()),
            ]
        };
        registry.register(
            "timeout_attempts",
            "Attempts the timeout policy observed, by engine and outcome",
            counters(t.by_engine.iter().flat_map(|(engine, e)| {
                [
                    (by(engine, "success"), e.successes),
                    (by(engine, "timeout"), e.timeouts),
                    (by(engine, "failure"), e.failures),
                ]
            })),
        );
        registry.register_with_unit(
            "timeout_wasted_wait",
            "Time spent in attempts that timed out, by engine",
            Unit::Seconds,
            gauges(
                t.by_engine
                    .iter()
                    .map(|(engine, e)| (label("engine", engine.as_str()), e.wasted_wait_secs)),
            ),
        );
        registry.register(
            "timeout_learned_targets",
            "Targets whose timeout is learned",
            gauge(count(t.learned_domains) as f64),
        );
    }
}

/// The crawls' figures: the ended ones' and the running ones' together.
fn register_crawls(registry: &mut Registry, c: &CrawlReport, running: usize) {
    registry.register("crawls_running", "Crawls running now", gauge(running as f64));
    registry.register(
        "crawl_pages",
        "Pages of crawls, by what became of them",
        counters([
            (label("result", "fetched"), c.fetched),
            (label("result", "emitted"), c.emitted),
            (label("result", "failed"), c.failed),
        ]),
    );
    registry.register(
        "crawl_skipped",
        "URLs and pages crawls cut on purpose, by reason",
        counters(c.skipped.iter().map(|(reason, n)| (label("reason", reason), *n))),
    );
    registry.register(
        "crawl_robots_fetches",
        "robots.txt files fetched",
        counter(c.robots_fetches),
    );
    registry.register(
        "crawl_sitemaps_fetched",
        "Sitemaps fetched",
        counter(c.sitemaps_fetched),
    );
    registry.register(
        "crawl_delays_applied",
        "Fetches that waited for their host's minimum delay",
        counter(c.delays_applied),
    );
    registry.register(
        "crawl_backoffs",
        "URLs put back because their host asked the crawl to slow down",
        counter(c.backoffs),
    );
}
