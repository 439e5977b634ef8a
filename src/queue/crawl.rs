//! Crawls across machines: `riptide crawl --nats` run by `riptide worker`s on NATS JetStream.
//!
//! A crawl that outgrows one machine needs more than a work queue: every worker must agree on
//! what was seen, on each host's robots.txt, and on how hard each host may be hit. This module
//! keeps all of that in JetStream objects named after the crawl ([`NatsCrawl`]), so no worker
//! holds anything that is lost with it, and uses nothing but JetStream's own guarantees:
//!
//! - **the frontier** is a work-queue stream with host-sharded subjects and one durable pull
//!   consumer that every worker shares; its `max_ack_pending` is the crawl's `--concurrency`,
//!   and a URL is acked only after its page was emitted and its links published, so a worker
//!   killed with `-9` loses nothing (the URL is delivered again after `ack_wait`);
//! - **the seen-set** is a key-value bucket: a URL is queued by the one worker whose `create`
//!   of its key succeeds, so two workers finding it at once queue it once;
//! - **crawl-wide limits** (pages emitted, each path's query budget) are counters in the bucket
//!   updated with compare-and-set on their revision;
//! - **politeness**: each host has `per_host` slot keys in a second bucket whose `max_age`
//!   makes them leases (a dead worker's expire), and a next-allowed time updated with
//!   compare-and-set; robots.txt is fetched once per host by whoever takes its lock, and stored
//!   for all;
//! - **results** go to a stream the attached command reads with a durable consumer, so it can
//!   stop and re-attach ([`CrawlResults`]).
//!
//! Every decision about a URL or a page is the single-machine crawler's, through the same
//! functions (`crawl::page_rules`, `normalize`, `scope`, `traps`, `robots`, `sitemap`,
//! `discover`).

mod attach;
mod runner;
mod spec;
mod state;

pub use attach::CrawlResults;
pub use runner::run_crawls;
pub use spec::{CRAWL_SPEC_VERSION, CrawlSpec};
pub use state::{
    ATTACHED_CONSUMER, CrawlStatus, NatsCrawl, REGISTRY_BUCKET, SHARDS, WORKERS_CONSUMER, check_name, crawl_names,
    nats_name,
};

use crate::crawl::CrawlFailure;
use crate::error::Result;
use crate::queue::Queue;

/// Starts the crawl `name` of `spec` on the server, or finds it when it runs already, and
/// queues its seeds the first time. Returns the crawl, the spec it runs with (a running crawl
/// keeps its own), whether it was created now, and the seeds that are not URLs.
pub async fn start_crawl(
    queue: &Queue,
    name: &str,
    spec: &CrawlSpec,
) -> Result<(NatsCrawl, CrawlSpec, bool, Vec<CrawlFailure>)> {
    let (mut crawl, mut spec, created) = NatsCrawl::create(queue, name, spec).await?;
    // A finished crawl run again is a recrawl, as on one machine; but only once every record
    // it made was read (a command that detached before the end re-attaches to read the rest).
    if !created && crawl.ended().await?.as_deref() == Some("done") && crawl.all_read().await? {
        (crawl, spec) = NatsCrawl::recrawl(queue, name, &spec).await?;
    }
    // Attaching is what resumes a crawl a run's `--max-duration` paused.
    crawl.resume().await?;
    let mut failures = Vec::new();
    if crawl.get("seeded").await?.is_none() {
        failures = runner::offer_seeds(&crawl, &spec).await?;
        crawl.put("seeded", b"1".to_vec()).await?;
    }
    Ok((crawl, spec, created, failures))
}
