//! [`CrawlReport`]: a crawl's figures, live while it runs and final when it ends.
//!
//! Every URL the crawl cut on purpose is counted here by reason (robots.txt, scope, each trap,
//! depth, duplicates, `noindex`), so a user can tell a site that ended from a crawl that was
//! stopped, and which guard stopped it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A crawl's counts. `riptide crawl` prints it at the end and keeps it for `performance
/// report`; the server's `/metrics` adds up its crawls'.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CrawlReport {
    /// The crawl's name: what its state is kept under.
    pub name: String,
    /// Pages the executor was asked for (each attempt of a page the host deferred counts once).
    pub fetched: u64,
    /// Pages emitted: fetched, extracted, in scope, new and indexable.
    pub emitted: u64,
    /// URLs reported as failures (unreachable, an HTTP error, not HTML, ...).
    pub failed: u64,
    /// Pages a recrawl found unchanged (`304 Not Modified`) and did not extract again.
    pub unchanged: u64,
    /// Whether this run is a recrawl: the crawl had finished before, so every page is asked
    /// for again, conditionally.
    pub recrawl: bool,
    /// URLs waiting to be fetched.
    pub queued: u64,
    /// URLs being fetched now.
    pub in_flight: u64,
    /// Entries in the crawl's seen-set, earlier runs included: every distinct URL queued,
    /// fetched or cut, plus two marks per emitted page (its URL as emitted and its content's
    /// digest, which keep a redirect's target and a copy from being emitted twice).
    pub seen: u64,
    /// Hosts the crawl has queued work for or fetched from.
    pub hosts: u64,
    /// URLs and pages cut on purpose, by reason: `robots`; out of scope: `scheme`, `host`,
    /// `domain`, `prefix`, `excluded`, `not_included`; `depth`; traps: `url_too_long`,
    /// `query_variants`, `repeated_segments`; `nofollow`, `noindex`, `duplicate_content`,
    /// `canonical`, `redirect_seen`, `redirect_out_of_scope`, `max_pages`, `not_http`.
    pub skipped: BTreeMap<String, u64>,
    /// robots.txt files fetched (one per host per run).
    pub robots_fetches: u64,
    /// Sitemaps fetched (indexes included).
    pub sitemaps_fetched: u64,
    /// URLs the sitemaps listed (before scope and the seen-check).
    pub sitemap_urls: u64,
    /// Times a fetch waited for its host's minimum delay (`Crawl-delay`, `--delay-ms`, or the
    /// slow-down after a host's latency climbed).
    pub delays_applied: u64,
    /// Times a host asked the crawl to back off (`429`, `503`, an open circuit) and its URL was
    /// put back to try later.
    pub backoffs: u64,
    /// URLs a previous run left in flight and this run fetched again (after a crash or a kill).
    pub resumed_in_flight: u64,
    /// Whether this run continued an earlier one's state.
    pub resumed: bool,
    /// Why the crawl ended: `done` (nothing left), `max_pages`, `max_duration`, `cancelled`,
    /// `state_failed` (its state file could not be written), `stalled` (queued URLs no host
    /// could take; a bug), or `interrupted` (set by `riptide crawl` on Ctrl-C).
    pub ended: Option<String>,
    /// Seconds since this run started.
    pub elapsed_secs: f64,
}

impl CrawlReport {
    /// Adds `other`'s counts to these: totals over several crawls (the server's `/metrics`).
    pub fn accumulate(&mut self, other: &CrawlReport) {
        self.fetched += other.fetched;
        self.emitted += other.emitted;
        self.failed += other.failed;
        self.unchanged += other.unchanged;
        self.robots_fetches += other.robots_fetches;
        self.sitemaps_fetched += other.sitemaps_fetched;
        self.sitemap_urls += other.sitemap_urls;
        self.delays_applied += other.delays_applied;
        self.backoffs += other.backoffs;
        for (reason, n) in &other.skipped {
            *self.skipped.entry(reason.clone()).or_default() += n;
        }
    }

    /// URLs cut for any reason.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Emitted pages per second of this run.
    pub fn pages_per_sec(&self) -> f64 {
        self.emitted as f64 / self.elapsed_secs.max(1e-9)
    }
}
