//! [`Results`]: the results of a set of jobs, read back from the results stream as they arrive.
//!
//! `riptide submit --wait` submits a batch and then streams its results. A result is the last
//! (and only) message on its job's subject. Results stored before the reader started (a job
//! submitted earlier, dropped now as a duplicate) are looked up by subject, one request per job;
//! results still to come are read from the stream starting just after its last message at that
//! moment, so each is seen once. The stream keeps every batch's results for
//! `results_max_age_secs` (a week by default), and reading all of them to find a few would cost
//! a busy queue's reader minutes.

use std::collections::{HashSet, VecDeque};

use async_nats::jetstream::consumer;
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use futures_util::{StreamExt, TryStreamExt};

use super::connection::Queue;
use super::job::JobId;
use crate::error::{QueueError, Result};

/// How many stored results are looked up at once.
const LOOKUPS_IN_FLIGHT: usize = 32;

/// A reader of the results of the jobs it was given, in arrival order.
pub struct Results {
    waiting: HashSet<JobId>,
    /// Results stored before the reader started, not yet returned.
    stored: VecDeque<(JobId, Vec<u8>)>,
    messages: consumer::pull::Ordered,
    prefix: String,
}

impl std::fmt::Debug for Results {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Results")
            .field("waiting", &self.waiting.len())
            .finish_non_exhaustive()
    }
}

impl Results {
    /// Starts reading the results of `jobs` (their ids).
    pub async fn of(queue: &Queue, jobs: impl IntoIterator<Item = JobId>) -> Result<Self> {
        let prefix = format!("{}.results.", queue.config().subject_prefix);
        let stream = queue.results_stream().await?;
        // Taken before the lookups: a result stored after this point is read from the stream,
        // one stored before it is found by its subject.
        let last = stream
            .get_info()
            .await
            .map_err(|e| QueueError::jetstream("read the results stream", e))?
            .state
            .last_sequence;
        let waiting: HashSet<JobId> = jobs.into_iter().collect();
        let stored: VecDeque<(JobId, Vec<u8>)> = futures_util::stream::iter(waiting.iter().cloned())
            .map(|id| {
                let (stream, subject) = (&stream, format!("{prefix}{}", id.as_str()));
                async move {
                    match stream.get_last_raw_message_by_subject(&subject).await {
                        Ok(message) => Ok(Some((id, message.payload.to_vec()))),
                        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
                        Err(e) => Err(QueueError::jetstream("look up a stored result", e)),
                    }
                }
            })
            .buffer_unordered(LOOKUPS_IN_FLIGHT)
            .try_filter_map(|found| async move { Ok(found) })
            .try_collect()
            .await?;
        let messages = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: format!("{prefix}*"),
                deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: last + 1,
                },
                ..Default::default()
            })
            .await
            .map_err(|e| QueueError::jetstream("read the results stream", e))?
            .messages()
            .await
            .map_err(|e| QueueError::jetstream("read the results stream", e))?;
        Ok(Self {
            waiting,
            stored,
            messages,
            prefix,
        })
    }

    /// Results not yet read.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// The next result of one of the jobs (the record a worker published: the page as
    /// `riptide extract` prints it, or its error, with `job_id`), or `None` when every job has
    /// its result.
    pub async fn next(&mut self) -> Result<Option<(JobId, serde_json::Value)>> {
        while let Some((id, payload)) = self.stored.pop_front() {
            if self.waiting.remove(&id) {
                return Ok(Some(record(id, &payload)));
            }
        }
        while !self.waiting.is_empty() {
            let Some(message) = self.messages.next().await else {
                return Err(QueueError::jetstream("read the results stream", "the stream of results ended").into());
            };
            let message = message.map_err(|e| QueueError::jetstream("read a result", e))?;
            let Some(id) = message
                .subject
                .strip_prefix(self.prefix.as_str())
                .and_then(JobId::parse)
            else {
                continue;
            };
            if self.waiting.remove(&id) {
                return Ok(Some(record(id, &message.payload)));
            }
        }
        Ok(None)
    }
}

/// A result's record, or one that says it could not be read.
fn record(id: JobId, payload: &[u8]) -> (JobId, serde_json::Value) {
    let record = serde_json::from_slice(payload).unwrap_or_else(|e| {
        serde_json::json!({ "job_id": id.as_str(), "error": format!("the result is not JSON: {e}"), "error_kind": "queue.bad_result" })
    });
    (id, record)
}
