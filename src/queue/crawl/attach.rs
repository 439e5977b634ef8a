//! [`CrawlResults`]: the attached `riptide crawl --nats` reading a crawl's emitted pages back.
//!
//! The results stream has one durable consumer, `attached`: a command that stops (Ctrl-C, a
//! crash) and is run again with the same `--name` goes on where it left off, because a record
//! is acked only when the next one is asked for, that is once the caller has written it. The
//! crawl is over when nothing is left on its frontier or in flight on any worker; then every
//! record was published (a worker acks a URL only after its record is stored), and once those
//! are read the stream ends.
//!
//! A record can come twice: a worker that died after storing it and before acking its URL
//! makes the next one store it again (JetStream drops that copy only within its duplicate
//! window), and a NATS server killed before it wrote the consumer's acks down delivers again
//! what was acked. Within one run the command passes each page's URL on once.

use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;

use super::state::NatsCrawl;
use crate::error::{QueueError, Result};

/// Records read from the server at most at once.
const BATCH: usize = 256;

/// A crawl's records as they arrive, for the attached command.
pub struct CrawlResults {
    crawl: NatsCrawl,
    results: consumer::PullConsumer,
    frontier: consumer::PullConsumer,
    buffered: VecDeque<jetstream::Message>,
    /// The record last returned, acked when the next is asked for.
    unacked: Option<jetstream::Message>,
    ended: Option<String>,
    /// The URLs of the records returned in this run (hashed), so a record delivered again is
    /// passed over.
    returned: HashSet<u64>,
}

impl std::fmt::Debug for CrawlResults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrawlResults")
            .field("crawl", &self.crawl.name())
            .finish_non_exhaustive()
    }
}

impl CrawlResults {
    /// Attaches to `crawl`'s results (where the last attached command left off).
    pub async fn attach(crawl: &NatsCrawl) -> Result<Self> {
        Ok(Self {
            results: crawl.results_consumer().await?,
            frontier: crawl.frontier_consumer().await?,
            crawl: crawl.clone(),
            buffered: VecDeque::new(),
            unacked: None,
            ended: None,
            returned: HashSet::new(),
        })
    }

    /// The next record (a page as `riptide crawl` prints it, or a failure row), or `None` once
    /// the crawl has ended and every record was read. Acks the record returned before.
    pub async fn next(&mut self) -> Result<Option<serde_json::Value>> {
        self.ack_last().await;
        loop {
            if let Some(message) = self.buffered.pop_front() {
                let record: serde_json::Value = serde_json::from_slice(&message.payload).unwrap_or_else(|e| {
                    serde_json::json!({ "error": format!("a crawl record is not JSON: {e}"), "error_kind": "queue.bad_result" })
                });
                if let Some(url) = record.get("url").and_then(serde_json::Value::as_str) {
                    let mut hasher = std::hash::DefaultHasher::new();
                    url.hash(&mut hasher);
                    if !self.returned.insert(hasher.finish()) {
                        self.unacked = Some(message);
                        self.ack_last().await;
                        continue;
                    }
                }
                self.unacked = Some(message);
                return Ok(Some(record));
            }
            let mut batch = self
                .results
                .batch()
                .max_messages(BATCH)
                .expires(Duration::from_millis(500))
                .messages()
                .await
                .map_err(|e| QueueError::jetstream("read a crawl's results", e))?;
            while let Some(message) = batch.next().await {
                match message {
                    Ok(message) => self.buffered.push_back(message),
                    Err(e) => {
                        tracing::debug!(error = %e, "a pull of results ended early");
                        break;
                    }
                }
            }
            if self.buffered.is_empty() && self.over().await? {
                return Ok(None);
            }
        }
    }

    /// Acks the record returned last: call it before stopping.
    ///
    /// The record is forgotten only once its ack is confirmed: [`next`](Self::next) acks the
    /// previous record first, and a caller that drops `next` there (Ctrl-C won a `select!`)
    /// must still find it here, or a record already written would come again on re-attach.
    pub async fn ack_last(&mut self) {
        if let Some(message) = &self.unacked
            && let Err(e) = message.double_ack().await
        {
            tracing::debug!(error = %e, "could not ack a crawl record; it comes again on re-attach");
        }
        self.unacked = None;
    }

    /// Why the crawl ended (`done`, `max_pages`), once [`next`](Self::next) said it had.
    pub fn ended(&self) -> Option<&str> {
        self.ended.as_deref()
    }

    /// Whether the crawl is over and its records are all read.
    async fn over(&mut self) -> Result<bool> {
        let mut ended = self.crawl.ended().await?;
        if ended.is_none() && self.crawl.get("seeded").await?.is_some() {
            let frontier = self
                .frontier
                .info()
                .await
                .map_err(|e| QueueError::jetstream("read a crawl's frontier", e))?;
            if frontier.num_pending == 0 && frontier.num_ack_pending == 0 {
                self.crawl.end("done").await?;
                ended = Some("done".into());
            }
        }
        let Some(reason) = ended else { return Ok(false) };
        let results = self
            .results
            .info()
            .await
            .map_err(|e| QueueError::jetstream("read a crawl's results", e))?;
        let drained = results.num_pending == 0 && results.num_ack_pending == 0;
        if drained {
            self.ended = Some(reason);
        }
        Ok(drained)
    }
}
