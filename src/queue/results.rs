//! [`Results`]: the results of a set of jobs, read back from the results stream as they arrive.
//!
//! `riptide submit --wait` submits a batch and then streams its results. A result is the last
//! (and only) message on its job's subject, so reading the stream's last message per subject
//! finds results stored before the reader started (a job submitted earlier, dropped now as a
//! duplicate) as well as those still to come, each once.

use std::collections::HashSet;

use async_nats::jetstream::consumer;
use futures_util::StreamExt;

use super::connection::Queue;
use super::job::JobId;
use crate::error::{QueueError, Result};

/// A reader of the results of the jobs it was given, in arrival order.
pub struct Results {
    waiting: HashSet<JobId>,
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
        let messages = queue
            .results_stream()
            .await?
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: format!("{prefix}*"),
                deliver_policy: consumer::DeliverPolicy::LastPerSubject,
                ..Default::default()
            })
            .await
            .map_err(|e| QueueError::jetstream("read the results stream", e))?
            .messages()
            .await
            .map_err(|e| QueueError::jetstream("read the results stream", e))?;
        Ok(Self {
            waiting: jobs.into_iter().collect(),
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
            if !self.waiting.remove(&id) {
                continue;
            }
            let record = serde_json::from_slice(&message.payload).unwrap_or_else(|e| {
                serde_json::json!({ "job_id": id.as_str(), "error": format!("the result is not JSON: {e}"), "error_kind": "queue.bad_result" })
            });
            return Ok(Some((id, record)));
        }
        Ok(None)
    }
}
