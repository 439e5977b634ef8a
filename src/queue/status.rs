//! [`QueueStatus`]: how far the work queue has got, from JetStream's own numbers.
//!
//! Pending, in-flight and redelivered jobs are the consumer's counts; results and dead letters
//! are the messages in their streams; per-worker counts are what each worker last published to
//! the workers' stream. Nothing is counted twice by riptide: the numbers are the server's.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use serde::Serialize;

use super::connection::Queue;
use super::worker::WorkerCounts;
use crate::error::{QueueError, Result};

/// The state of the work queue (`riptide queue status` prints it as JSON).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct QueueStatus {
    /// Jobs not yet delivered to any worker.
    pub pending: u64,
    /// Jobs delivered and not acked yet: being run, or held by a worker that died (until
    /// `ack_wait` runs out).
    pub in_flight: u64,
    /// Jobs delivered more than once and not acked yet.
    pub redelivered: u64,
    /// Jobs in the jobs stream (pending and in flight).
    pub jobs: u64,
    /// Results stored.
    pub results: u64,
    /// Jobs in the dead letters.
    pub dead_letters: u64,
    /// Each worker's counts, by name, as it last published them.
    pub workers: BTreeMap<String, WorkerCounts>,
    /// Each crawl across machines (`riptide crawl --nats`), by name.
    pub crawls: BTreeMap<String, super::crawl::CrawlStatus>,
}

impl QueueStatus {
    /// Reads the status of `queue`.
    pub async fn read(queue: &Queue) -> Result<Self> {
        let mut consumer = queue.consumer().await?;
        let info = consumer
            .info()
            .await
            .map_err(|e| QueueError::jetstream(NUMBERS, e))?
            .clone();
        let jobs = messages_in(queue.jobs_stream().await?).await?;
        let results = messages_in(queue.results_stream().await?).await?;
        let dead_letters = messages_in(queue.dead_letter_stream().await?).await?;
        let mut workers = BTreeMap::new();
        let stream = queue.workers_stream().await?;
        let subjects = format!("{}.workers.*", queue.config().subject_prefix);
        let names: Vec<String> = stream
            .info_with_subjects(&subjects)
            .await
            .map_err(|e| QueueError::jetstream("list the workers", e))?
            .filter_map(|s| async move { s.ok().map(|(subject, _)| subject) })
            .collect()
            .await;
        for subject in names {
            let message = stream
                .get_last_raw_message_by_subject(&subject)
                .await
                .map_err(|e| QueueError::jetstream("read a worker's counts", e))?;
            let name = subject.rsplit('.').next().unwrap_or_default().to_string();
            if let Ok(counts) = serde_json::from_slice(&message.payload) {
                workers.insert(name, counts);
            }
        }
        let mut crawls = BTreeMap::new();
        for name in super::crawl::crawl_names(queue).await? {
            if let Some((crawl, _)) = super::crawl::NatsCrawl::open(queue, &name).await? {
                crawls.insert(name, super::crawl::CrawlStatus::read(&crawl).await?);
            }
        }
        Ok(Self {
            crawls,
            pending: info.num_pending,
            in_flight: info.num_ack_pending as u64,
            redelivered: info.num_redelivered as u64,
            jobs,
            results,
            dead_letters,
            workers,
        })
    }
}

const NUMBERS: &str = "read the stream and consumer numbers";

/// How many messages `stream` holds now.
async fn messages_in(stream: async_nats::jetstream::stream::Stream) -> Result<u64> {
    let info = stream.get_info().await.map_err(|e| QueueError::jetstream(NUMBERS, e))?;
    Ok(info.state.messages)
}
