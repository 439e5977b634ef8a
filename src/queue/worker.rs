//! [`Worker`]: pulls jobs from the shared consumer and runs them on one local executor.
//!
//! Many workers on many machines share one durable pull consumer; JetStream hands each job to
//! one of them and delivers it again when it is not acked within `ack_wait` (the worker died,
//! or lost its connection). A worker therefore publishes a job's result, with the job's id as
//! its message id, and waits for JetStream to store it *before* it acks the job: a job is never
//! lost, and a job run twice still leaves one result. While a page runs the worker sends
//! progress acks, so a long render is not mistaken for a dead worker.
//!
//! What happens to a job that fails depends on what the error says about the host, never on
//! its text: a host whose circuit is open or that limits our rate is `Nak`ed with a delay (the
//! job waits on the server, not in a spinning worker); a transient failure (a time-out, a dead
//! browser) is `Nak`ed to be tried again, perhaps by another worker; on the last delivery
//! (`max_deliver`) both go to the dead letters with their last error. Any other failure (a 404,
//! a page the address policy refuses) is the job's result.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::connection::Queue;
use super::job::{Job, JobId};
use crate::error::{Error, ErrorKind, LastAttempt, QueueError, Result, RetryError};
use crate::executor::BoxExecutor;
use crate::traits::FailureClass;

/// How a [`Worker`] runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WorkerOptions {
    /// Its name: the NATS connection's, the last token of its counts' subject, the
    /// `Riptide-Worker` header of its results. Default `<host name>-<process id>`.
    pub name: String,
    /// Pages run at once.
    pub concurrency: usize,
    /// How long pages in progress get to finish once shutdown starts; the rest are handed back
    /// (`Nak`) to be run by another worker.
    pub shutdown_grace: Duration,
    /// How long a job waits before it is delivered again when its host's circuit is open or
    /// the host limits our rate (unless the error says how long).
    pub defer: Duration,
}

impl WorkerOptions {
    /// The options `[queue]` describes, with the default name.
    pub fn from_config(c: &crate::config::QueueConfig) -> Self {
        Self {
            name: default_name(),
            concurrency: c.concurrency.max(1) as usize,
            shutdown_grace: Duration::from_secs(c.shutdown_grace_secs),
            defer: Duration::from_secs(c.defer_secs),
        }
    }
}

/// `<host name>-<process id>`, in the characters a subject token allows.
fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "worker".into());
    sanitize(&format!("{}-{}", host.trim(), std::process::id()))
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// What a worker has done, as `riptide queue status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkerCounts {
    /// Jobs whose page was extracted.
    pub extracted: u64,
    /// Jobs whose result is an error (a 404, a refused address, ...).
    pub failed: u64,
    /// Jobs handed back to be delivered again: transient failures, deferred hosts, shutdown.
    pub handed_back: u64,
    /// Jobs sent to the dead letters.
    pub dead_lettered: u64,
    /// Jobs running now.
    pub in_flight: u64,
    /// Whether the worker is still running.
    pub running: bool,
}

#[derive(Default)]
struct Counters {
    extracted: AtomicU64,
    failed: AtomicU64,
    handed_back: AtomicU64,
    dead_lettered: AtomicU64,
    in_flight: AtomicU64,
}

impl Counters {
    fn snapshot(&self, running: bool) -> WorkerCounts {
        WorkerCounts {
            extracted: self.extracted.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            handed_back: self.handed_back.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            running,
        }
    }
}

/// What becomes of a job that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Deliver it again after this delay: the host asked us to wait.
    Defer(Duration),
    /// Deliver it again: another try (or another worker) may succeed.
    Retry,
    /// The error is the job's result.
    Final,
}

/// How a failed page is handled: decided by the error's kind, not its text.
fn classify(e: &Error, defer: Duration) -> Failure {
    match e.kind() {
        ErrorKind::Retry(RetryError::CircuitOpen { retry_after, .. }) => {
            Failure::Defer((*retry_after).max(Duration::from_secs(1)))
        }
        ErrorKind::Retry(RetryError::BudgetExhausted { .. }) => Failure::Defer(defer),
        ErrorKind::Retry(RetryError::Exhausted {
            last: LastAttempt::Failed(FailureClass::HttpStatus(429)),
            ..
        }) => Failure::Defer(defer),
        ErrorKind::Retry(RetryError::Exhausted { .. }) => Failure::Retry,
        _ if e.failure_class() == FailureClass::HttpStatus(429) => Failure::Defer(defer),
        _ if e.is_transient() => Failure::Retry,
        ErrorKind::Pool(_) | ErrorKind::Browser(_) | ErrorKind::Task { .. } => Failure::Retry,
        _ => Failure::Final,
    }
}

/// Pulls jobs from the queue's consumer and runs them on one executor until told to stop.
pub struct Worker {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.shared.options.name)
            .finish_non_exhaustive()
    }
}

struct Shared {
    queue: Queue,
    executor: BoxExecutor,
    options: WorkerOptions,
    counters: Counters,
}

impl Worker {
    /// A worker running `queue`'s jobs on `executor`.
    pub fn new(queue: Queue, executor: BoxExecutor, options: WorkerOptions) -> Self {
        Self {
            shared: Arc::new(Shared {
                queue,
                executor,
                options,
                counters: Counters::default(),
            }),
        }
    }

    /// What it has done so far.
    pub fn counts(&self) -> WorkerCounts {
        self.shared.counters.snapshot(true)
    }

    /// Runs jobs until `shutdown` completes; then stops pulling, gives the pages in progress
    /// [`WorkerOptions::shutdown_grace`] to finish and hands the rest back. The executor is
    /// left running: shut it down after this returns (that saves what it learned).
    ///
    /// Fails only if the consumer cannot be found at the start; once running, a lost
    /// connection is waited out (the client reconnects), and jobs it could not finish are
    /// delivered again by JetStream.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<WorkerCounts> {
        let shared = &self.shared;
        let consumer = shared.queue.consumer().await?;
        let concurrency = shared.options.concurrency.max(1);
        let slots = Arc::new(Semaphore::new(concurrency));
        let (hand_back, handing_back) = watch::channel(false);
        let mut jobs = JoinSet::new();
        let reporter = tokio::spawn(report_counts(shared.clone()));
        let abandoned = tokio::spawn(super::abandoned::dead_letter_abandoned(
            shared.queue.clone(),
            shared.options.name.clone(),
        ));
        tokio::pin!(shutdown);
        tracing::info!(worker = %shared.options.name, concurrency, "worker pulling jobs");
        'pulling: loop {
            let first = tokio::select! {
                _ = &mut shutdown => break 'pulling,
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break 'pulling,
                },
            };
            let wanted = 1 + slots.available_permits();
            let batch = consumer
                .batch()
                .max_messages(wanted)
                .expires(Duration::from_secs(1))
                .messages()
                .await;
            let mut batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "could not ask for jobs; trying again");
                    tokio::select! {
                        _ = &mut shutdown => break 'pulling,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue 'pulling,
                    }
                }
            };
            let mut first = Some(first);
            let mut stopping = false;
            loop {
                let next = tokio::select! {
                    _ = &mut shutdown, if !stopping => { stopping = true; continue; }
                    next = batch.next() => next,
                };
                let Some(message) = next else { break };
                let message = match message {
                    Ok(message) => message,
                    Err(e) => {
                        tracing::debug!(error = %e, "pull ended early");
                        break;
                    }
                };
                if stopping {
                    // Pulled as the worker stopped: straight back for another worker.
                    let _ = message.ack_with(AckKind::Nak(None)).await;
                    continue;
                }
                let Some(slot) = take_slot(&mut first, &slots) else {
                    let _ = message.ack_with(AckKind::Nak(None)).await;
                    continue;
                };
                let shared = shared.clone();
                let handing_back = handing_back.clone();
                jobs.spawn(async move {
                    shared.counters.in_flight.fetch_add(1, Ordering::Relaxed);
                    run_job(&shared, message, handing_back).await;
                    shared.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
                    drop(slot);
                });
            }
            while jobs.try_join_next().is_some() {}
            if stopping {
                break 'pulling;
            }
        }
        let in_flight = jobs.len();
        tracing::info!(in_flight, "worker stopping: no new jobs");
        let finished = tokio::time::timeout(shared.options.shutdown_grace, async {
            while jobs.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            hand_back.send_replace(true);
            while jobs.join_next().await.is_some() {}
        }
        reporter.abort();
        abandoned.abort();
        let counts = shared.counters.snapshot(false);
        put_counts(shared, &counts).await;
        Ok(counts)
    }
}

/// Publishes the worker's counts to the workers' stream every two seconds.
async fn report_counts(shared: Arc<Shared>) {
    let mut every = tokio::time::interval(Duration::from_secs(2));
    loop {
        every.tick().await;
        put_counts(&shared, &shared.counters.snapshot(true)).await;
    }
}

async fn put_counts(shared: &Shared, counts: &WorkerCounts) {
    let Ok(value) = serde_json::to_vec(counts) else { return };
    let subject = shared.queue.worker_subject(&shared.options.name);
    let put = async {
        shared
            .queue
            .jetstream()
            .publish(subject, value.into())
            .await
            .map_err(|e| QueueError::jetstream("publish the worker's counts", e))?
            .await
            .map_err(|e| QueueError::jetstream("store the worker's counts", e))
    };
    if let Err(e) = put.await {
        tracing::debug!(error = %e, "could not write the worker's counts");
    }
}

/// Runs one job to its end: result published and job acked, handed back, or dead-lettered.
async fn run_job(shared: &Shared, message: jetstream::Message, mut handing_back: watch::Receiver<bool>) {
    let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
    let last_delivery = delivered >= i64::from(shared.queue.config().max_deliver);
    let job = match Job::from_json(&message.payload) {
        Ok(job) => job,
        Err(e) => {
            // Not a job: no delivery will make it one.
            let id = message
                .headers
                .as_ref()
                .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                .and_then(|id| JobId::parse(id.as_str()))
                .unwrap_or_else(|| Job::new(String::from_utf8_lossy(&message.payload), Default::default()).id());
            let record = e.to_record("");
            dead_letter(shared, &message, &id, record, delivered).await;
            return;
        }
    };
    let id = job.id();
    let url = job.url.as_str();
    let ack_wait = Duration::from_secs(shared.queue.config().ack_wait_secs);
    let mut progress = tokio::time::interval_at(tokio::time::Instant::now() + ack_wait / 3, ack_wait / 3);
    let work = shared.executor.extract_page(url, job.options.page_options());
    tokio::pin!(work);
    let stopped = async move {
        // The guard `wait_for` returns is not `Send`: drop it here, not across an await.
        let _ = handing_back.wait_for(|stop| *stop).await.map(|_| ());
    };
    tokio::pin!(stopped);
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = progress.tick() => {
                if let Err(e) = message.ack_with(AckKind::Progress).await {
                    tracing::debug!(error = %e, job = %id, "could not send a progress ack");
                }
            }
            _ = &mut stopped => {
                hand_back(shared, &message, None, &id, "the worker stopped").await;
                return;
            }
        }
    };
    match result {
        Ok(content) => {
            let mut record = serde_json::to_value(&content).unwrap_or_default();
            if let Some(fields) = record.as_object_mut() {
                fields.insert("job_id".into(), id.as_str().into());
            }
            if publish_result(shared, &message, &id, &record).await {
                shared.counters.extracted.fetch_add(1, Ordering::Relaxed);
                ack(&message, &id).await;
            }
        }
        Err(e) => match classify(&e, shared.options.defer) {
            Failure::Final => {
                let mut record = e.to_record(url);
                if let Some(fields) = record.as_object_mut() {
                    fields.insert("job_id".into(), id.as_str().into());
                }
                if publish_result(shared, &message, &id, &record).await {
                    shared.counters.failed.fetch_add(1, Ordering::Relaxed);
                    ack(&message, &id).await;
                }
            }
            Failure::Defer(_) | Failure::Retry if last_delivery => {
                let record = e.to_record(url);
                dead_letter(shared, &message, &id, record, delivered).await;
            }
            Failure::Defer(delay) => hand_back(shared, &message, Some(delay), &id, &format!("{e:#}")).await,
            Failure::Retry => hand_back(shared, &message, None, &id, &format!("{e:#}")).await,
        },
    }
}

/// `Nak`s the job so that JetStream delivers it again (after `delay`).
async fn hand_back(shared: &Shared, message: &jetstream::Message, delay: Option<Duration>, id: &JobId, why: &str) {
    tracing::info!(job = %id, ?delay, why, "handing the job back");
    shared.counters.handed_back.fetch_add(1, Ordering::Relaxed);
    if let Err(e) = message.ack_with(AckKind::Nak(delay)).await {
        tracing::warn!(error = %e, job = %id, "could not hand the job back; it is delivered again after ack_wait");
    }
}

async fn ack(message: &jetstream::Message, id: &JobId) {
    if let Err(e) = message.double_ack().await {
        // The result is stored: a second delivery only publishes the same result again, which
        // JetStream drops by its message id.
        tracing::warn!(error = %e, job = %id, "could not ack the job; it may run again");
    }
}

/// Publishes the job's result; on failure hands the job back (it runs again) and says false.
async fn publish_result(shared: &Shared, message: &jetstream::Message, id: &JobId, record: &serde_json::Value) -> bool {
    match shared
        .queue
        .publish_record(shared.queue.result_subject(id), id, &shared.options.name, record)
        .await
    {
        Ok(()) => true,
        Err(e) => {
            hand_back(shared, message, None, id, &format!("could not store its result: {e:#}")).await;
            false
        }
    }
}

/// Sends the job to the dead letters (and its last error as its result), then ends its
/// deliveries (`Term`).
async fn dead_letter(
    shared: &Shared,
    message: &jetstream::Message,
    id: &JobId,
    mut record: serde_json::Value,
    deliveries: i64,
) {
    if let Some(fields) = record.as_object_mut() {
        fields.insert("job_id".into(), id.as_str().into());
        fields.insert("deliveries".into(), deliveries.into());
        fields.insert("dead_letter".into(), true.into());
        fields.insert(
            "job".into(),
            String::from_utf8_lossy(&message.payload).into_owned().into(),
        );
    }
    tracing::warn!(job = %id, deliveries, "job failed on every delivery: sent to the dead letters");
    let queue = &shared.queue;
    let name = &shared.options.name;
    let stored = match queue
        .publish_record(queue.dead_letter_subject(id), id, name, &record)
        .await
    {
        Ok(()) => queue.publish_record(queue.result_subject(id), id, name, &record).await,
        Err(e) => Err(e),
    };
    match stored {
        Ok(()) => {
            shared.counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = message.ack_with(AckKind::Term).await {
                tracing::warn!(error = %e, job = %id, "could not end the job's deliveries");
            }
        }
        Err(e) => {
            hand_back(
                shared,
                message,
                None,
                id,
                &format!("could not store its dead letter: {e:#}"),
            )
            .await
        }
    }
}

/// A run slot for a message just pulled: the one the pull waited for (`first`), else a free
/// one, else `None` (the message goes back, nacked, for a worker with room).
pub(crate) fn take_slot(
    first: &mut Option<tokio::sync::OwnedSemaphorePermit>,
    slots: &Arc<tokio::sync::Semaphore>,
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    first.take().or_else(|| slots.clone().try_acquire_owned().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FetchError;

    #[test]
    fn failures_are_handled_by_their_kind() {
        let defer = Duration::from_secs(7);
        let open = Error::from(RetryError::CircuitOpen {
            origin: "http://a".into(),
            retry_after: Duration::from_secs(3),
        });
        assert_eq!(classify(&open, defer), Failure::Defer(Duration::from_secs(3)));
        let timeout = Error::from(FetchError::Timeout {
            deadline: Duration::from_secs(1),
        });
        assert_eq!(classify(&timeout, defer), Failure::Retry);
        let bad = Error::from(QueueError::BadJob { reason: "x".into() });
        assert_eq!(classify(&bad, defer), Failure::Final);
        assert_eq!(sanitize("a.b c-1"), "a_b_c-1");
    }
}
