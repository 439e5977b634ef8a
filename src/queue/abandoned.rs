//! Jobs no worker ever finished: delivered `max_deliver` times and never acked, because the
//! worker running them died (or lost its connection) every time.
//!
//! A worker sends a job that failed on its last delivery to the dead letters itself; a job that
//! kills its workers leaves nobody to do that. JetStream then stops delivering it and says so
//! with a `MAX_DELIVERIES` advisory naming the job's sequence in the stream. Every running
//! worker listens for it and moves the job to the dead letters (publishing under the job's id,
//! so several workers doing it store it once), deletes it from the jobs stream, and only then
//! publishes its result.

use futures_util::StreamExt;
use serde::Deserialize;

use super::connection::Queue;
use super::job::{Job, JobId};
use crate::error::{Error, QueueError, Result};

/// The fields of JetStream's `io.nats.jetstream.advisory.v1.max_deliver` advisory riptide
/// reads.
#[derive(Deserialize)]
struct MaxDeliveries {
    stream_seq: u64,
    deliveries: i64,
}

/// Listens for the jobs stream's `MAX_DELIVERIES` advisories and dead-letters those jobs, for
/// as long as the connection lives.
pub(super) async fn dead_letter_abandoned(queue: Queue, worker: String) -> Result<()> {
    let c = queue.config();
    let subject = format!(
        "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{}.{}",
        c.jobs_stream, c.consumer
    );
    let mut advisories = queue
        .client()
        .subscribe(subject)
        .await
        .map_err(|e| QueueError::jetstream("listen for jobs delivered max_deliver times", e))?;
    while let Some(advisory) = advisories.next().await {
        let Ok(advisory) = serde_json::from_slice::<MaxDeliveries>(&advisory.payload) else {
            continue;
        };
        if let Err(e) = dead_letter_one(&queue, &worker, &advisory).await {
            tracing::warn!(error = %e, sequence = advisory.stream_seq, "could not dead-letter an abandoned job");
        }
    }
    Ok(())
}

async fn dead_letter_one(queue: &Queue, worker: &str, advisory: &MaxDeliveries) -> Result<()> {
    let jobs = queue.jobs_stream().await?;
    let Ok(message) = jobs.get_raw_message(advisory.stream_seq).await else {
        // Already moved by another worker (or acked after all).
        return Ok(());
    };
    let (id, url) = match Job::from_json(&message.payload) {
        Ok(job) => (job.id(), job.url),
        Err(_) => {
            let id = message
                .headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .and_then(|id| JobId::parse(id.as_str()))
                .unwrap_or_else(|| Job::new(String::from_utf8_lossy(&message.payload), Default::default()).id());
            (id, String::new())
        }
    };
    let error = Error::from(QueueError::Abandoned {
        deliveries: advisory.deliveries,
    })
    .with_url(url.as_str());
    let mut record = error.to_record(&url);
    if let Some(fields) = record.as_object_mut() {
        fields.insert("job_id".into(), id.as_str().into());
        fields.insert("deliveries".into(), advisory.deliveries.into());
        fields.insert("dead_letter".into(), true.into());
        fields.insert(
            "job".into(),
            String::from_utf8_lossy(&message.payload).into_owned().into(),
        );
    }
    tracing::warn!(job = %id, deliveries = advisory.deliveries, "job abandoned by its workers: sent to the dead letters");
    queue
        .publish_record(queue.dead_letter_subject(&id), &id, worker, &record)
        .await?;
    // Deleted before its result is published: whoever sees the result (`submit --wait`) finds
    // the job gone, and the dead letter already holds it if the result cannot be stored.
    jobs.delete_message(advisory.stream_seq)
        .await
        .map_err(|e| QueueError::jetstream("delete an abandoned job", e))?;
    queue
        .publish_record(queue.result_subject(&id), &id, worker, &record)
        .await?;
    Ok(())
}
