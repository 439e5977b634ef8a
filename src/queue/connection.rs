//! [`Queue`]: a connection to NATS and the JetStream streams and consumer of the work
//! queue, created on first use with the limits `[queue]` sets.
//!
//! Every face of the queue (submitter, worker, status) starts here, so all of them agree on the
//! names and create what is missing the same way; whoever comes first creates, the others find.
//! Nothing here is a protocol of riptide's own: delivery, redelivery, deduplication and retries
//! are JetStream's (a work-queue stream, a durable pull consumer with `ack_wait` and
//! `max_deliver`, `Nats-Msg-Id` deduplication).

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};

use super::job::{Job, JobId};
use crate::config::{QueueConfig, QueueStorage};
use crate::error::{Error, QueueError, Result};

/// The header naming the worker that published a result (`riptide queue status` counts them).
pub const WORKER_HEADER: &str = "Riptide-Worker";

/// A connection to the work queue's NATS server, its streams and its consumer.
#[derive(Clone)]
pub struct Queue {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    config: QueueConfig,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("jobs_stream", &self.config.jobs_stream)
            .finish_non_exhaustive()
    }
}

/// What [`Queue::submit`] did with a job.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Submitted {
    /// The job's id.
    pub id: JobId,
    /// The same job was already submitted within the duplicate window: this copy was dropped.
    pub duplicate: bool,
}

impl Queue {
    /// Connects to `url` (one server, or several comma-separated) as `name` and creates the
    /// streams and consumer `config` names where they are missing. Once connected, the
    /// client reconnects by itself for as long as the process runs.
    pub async fn connect(url: &str, name: &str, config: &QueueConfig) -> Result<Self> {
        let connect_error = |source: async_nats::ConnectError| {
            Error::from(QueueError::Connect {
                url: url.to_string(),
                source: source.into(),
            })
        };
        let client = async_nats::ConnectOptions::new()
            .name(name)
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(connect_error)?;
        let queue = Self {
            jetstream: jetstream::new(client.clone()),
            client,
            config: config.clone(),
        };
        queue.create().await?;
        Ok(queue)
    }

    /// The `[queue]` settings it runs with.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// The JetStream context, for what this module does not wrap.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// The NATS client.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// `<prefix>.jobs`.
    pub fn jobs_subject(&self) -> String {
        format!("{}.jobs", self.config.subject_prefix)
    }

    /// `<prefix>.results.<id>`.
    pub fn result_subject(&self, id: &JobId) -> String {
        format!("{}.results.{id}", self.config.subject_prefix)
    }

    /// `<prefix>.workers.<name>`.
    pub fn worker_subject(&self, name: &str) -> String {
        format!("{}.workers.{name}", self.config.subject_prefix)
    }

    /// `<prefix>.dead.<id>`.
    pub fn dead_letter_subject(&self, id: &JobId) -> String {
        format!("{}.dead.{id}", self.config.subject_prefix)
    }

    fn storage(&self) -> stream::StorageType {
        match self.config.storage {
            QueueStorage::File => stream::StorageType::File,
            QueueStorage::Memory => stream::StorageType::Memory,
        }
    }

    /// Creates what is missing: the jobs stream and its consumer, the results, dead-letter and
    /// workers' streams.
    async fn create(&self) -> Result<()> {
        let c = &self.config;
        let prefix = &c.subject_prefix;
        let jobs = self
            .stream(stream::Config {
                name: c.jobs_stream.clone(),
                subjects: vec![self.jobs_subject()],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: self.storage(),
                duplicate_window: Duration::from_secs(c.duplicate_window_secs),
                ..Default::default()
            })
            .await?;
        let max_age = Duration::from_secs(c.results_max_age_secs);
        // One record per job in each: a second one (a job run twice) replaces nothing, it is
        // dropped by its message id within the window, and only the last is kept after it.
        for (name, kind) in [(&c.results_stream, "results"), (&c.dead_letter_stream, "dead")] {
            self.stream(stream::Config {
                name: name.clone(),
                subjects: vec![format!("{prefix}.{kind}.*")],
                storage: self.storage(),
                max_messages_per_subject: 1,
                duplicate_window: Duration::from_secs(c.duplicate_window_secs),
                max_age,
                ..Default::default()
            })
            .await?;
        }
        jobs.get_or_create_consumer::<consumer::pull::Config>(
            &c.consumer,
            consumer::pull::Config {
                durable_name: Some(c.consumer.clone()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(c.ack_wait_secs),
                max_deliver: i64::from(c.max_deliver),
                max_ack_pending: i64::from(c.max_ack_pending),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| QueueError::jetstream(format!("create the consumer {:?}", c.consumer), e))?;
        self.stream(stream::Config {
            name: c.workers_stream.clone(),
            subjects: vec![format!("{prefix}.workers.*")],
            storage: self.storage(),
            // A worker's latest counts replace its earlier ones.
            max_messages_per_subject: 1,
            max_age,
            ..Default::default()
        })
        .await?;
        Ok(())
    }

    async fn stream(&self, config: stream::Config) -> Result<stream::Stream> {
        let name = config.name.clone();
        self.jetstream
            .get_or_create_stream(config)
            .await
            .map_err(|e| QueueError::jetstream(format!("create the stream {name:?}"), e).into())
    }

    /// The jobs stream.
    pub async fn jobs_stream(&self) -> Result<stream::Stream> {
        self.get_stream(&self.config.jobs_stream).await
    }

    /// The results stream.
    pub async fn results_stream(&self) -> Result<stream::Stream> {
        self.get_stream(&self.config.results_stream).await
    }

    /// The dead-letter stream.
    pub async fn dead_letter_stream(&self) -> Result<stream::Stream> {
        self.get_stream(&self.config.dead_letter_stream).await
    }

    async fn get_stream(&self, name: &str) -> Result<stream::Stream> {
        self.jetstream
            .get_stream(name)
            .await
            .map_err(|e| QueueError::jetstream(format!("find the stream {name:?}"), e).into())
    }

    /// The workers' durable pull consumer.
    pub async fn consumer(&self) -> Result<consumer::PullConsumer> {
        let name = &self.config.consumer;
        self.jobs_stream()
            .await?
            .get_consumer(name)
            .await
            .map_err(|e| QueueError::jetstream(format!("find the consumer {name:?}"), e).into())
    }

    /// The stream each worker keeps its latest counts in.
    pub async fn workers_stream(&self) -> Result<stream::Stream> {
        self.get_stream(&self.config.workers_stream).await
    }

    /// Publishes a job's `record` (its result, or its dead letter) to `subject` with the job's
    /// id as message id and `worker` in [`WORKER_HEADER`], and waits until JetStream stored it,
    /// trying a few times across a reconnect.
    pub(crate) async fn publish_record(
        &self,
        subject: String,
        id: &JobId,
        worker: &str,
        record: &serde_json::Value,
    ) -> Result<()> {
        let payload = serde_json::to_vec(record).unwrap_or_default();
        self.publish_stored(subject, id.as_str(), payload, Some(worker)).await
    }

    /// Publishes `payload` to `subject` with `id` as message id (and `worker` in
    /// [`WORKER_HEADER`]) and waits until JetStream stored it, trying a few times across a
    /// reconnect. A copy within the duplicate window is dropped by JetStream.
    pub(crate) async fn publish_stored(
        &self,
        subject: String,
        id: &str,
        payload: Vec<u8>,
        worker: Option<&str>,
    ) -> Result<()> {
        let mut last = None;
        for attempt in 0..5u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500) * attempt).await;
            }
            let mut message = jetstream::message::PublishMessage::build()
                .payload(payload.clone().into())
                .message_id(id);
            if let Some(worker) = worker {
                message = message.header(WORKER_HEADER, worker);
            }
            let stored = async {
                self.jetstream
                    .send_publish(subject.clone(), message)
                    .await
                    .map_err(|e| QueueError::jetstream(format!("publish to {subject}"), e))?
                    .await
                    .map_err(|e| QueueError::jetstream(format!("store the message on {subject}"), e))
            };
            match stored.await {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or_else(
            || QueueError::jetstream("publish", "no attempt made").into(),
            Error::from,
        ))
    }

    /// Publishes `job` with its id as `Nats-Msg-Id` and waits for JetStream to store it (or to
    /// report it a duplicate).
    pub async fn submit(&self, job: &Job) -> Result<Submitted> {
        let id = job.id();
        let publish = jetstream::message::PublishMessage::build()
            .payload(job.to_json().into())
            .message_id(id.as_str());
        let ack = self
            .jetstream
            .send_publish(self.jobs_subject(), publish)
            .await
            .map_err(|e| QueueError::jetstream("publish a job", e))?
            .await
            .map_err(|e| QueueError::jetstream("store a job", e))?;
        Ok(Submitted {
            id,
            duplicate: ack.duplicate,
        })
    }
}
