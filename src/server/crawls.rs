//! The crawls a server runs, and what the ended ones added up to: the registry behind
//! `GET /v1/crawls`, `DELETE /v1/crawls/{id}` and the crawl figures of `/metrics`. The routes
//! that start and stop crawls are in [`crawl`](super::crawl); this file knows nothing of them.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::crawl::{CrawlHandle, CrawlReport};

/// The crawls a server runs now, and what the ended ones added up to.
#[derive(Default)]
pub(super) struct Crawls {
    next_id: AtomicU64,
    running: Mutex<BTreeMap<u64, RunningCrawl>>,
    ended: Mutex<CrawlReport>,
}

struct RunningCrawl {
    seeds: Vec<String>,
    started_unix_secs: u64,
    handle: CrawlHandle,
}

/// One running crawl, as `GET /v1/crawls` lists it.
#[derive(Debug, Serialize)]
pub(super) struct CrawlStatus {
    id: u64,
    seeds: Vec<String>,
    started_unix_secs: u64,
    report: CrawlReport,
}

impl Crawls {
    /// The ended crawls' figures plus the running ones', for `/metrics`.
    pub(super) fn totals(&self) -> (CrawlReport, usize) {
        let mut totals = crate::sync::lock(&self.ended).clone();
        let running = crate::sync::lock(&self.running);
        for crawl in running.values() {
            totals.accumulate(&crawl.handle.report());
        }
        (totals, running.len())
    }

    pub(super) fn start(&self, seeds: Vec<String>, handle: CrawlHandle) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let started_unix_secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        crate::sync::lock(&self.running).insert(
            id,
            RunningCrawl {
                seeds,
                started_unix_secs,
                handle,
            },
        );
        id
    }

    pub(super) fn end(&self, id: u64) {
        if let Some(crawl) = crate::sync::lock(&self.running).remove(&id) {
            crate::sync::lock(&self.ended).accumulate(&crawl.handle.report());
        }
    }

    /// The crawls running now, each with its live report (`GET /v1/crawls`).
    pub(super) fn list(&self) -> Vec<CrawlStatus> {
        crate::sync::lock(&self.running)
            .iter()
            .map(|(id, crawl)| CrawlStatus {
                id: *id,
                seeds: crawl.seeds.clone(),
                started_unix_secs: crawl.started_unix_secs,
                report: crawl.handle.report(),
            })
            .collect()
    }

    /// The handle of running crawl `id`, to cancel it.
    pub(super) fn handle(&self, id: u64) -> Option<CrawlHandle> {
        crate::sync::lock(&self.running).get(&id).map(|c| c.handle.clone())
    }
}
