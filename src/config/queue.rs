//! `[queue]`: the NATS JetStream work queue of `riptide submit`, `riptide worker` and
//! `riptide queue status` (feature `nats`).
//!
//! Its own section because every machine of a cluster must agree on it: the stream and consumer
//! names, and the delivery limits the consumer is created with. The section is read (and
//! checked) in every build, so a configuration file shared by machines built with and
//! without the feature is valid on all of them.

use serde::{Deserialize, Serialize};

/// `[queue]`: the JetStream streams and consumer the work queue uses, and its limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// The NATS server (or cluster, comma-separated) when `--nats` is not given.
    pub url: String,
    /// The first token of every subject: jobs go to `<prefix>.jobs`, results to
    /// `<prefix>.results.<job id>`, dead letters to `<prefix>.dead.<job id>`.
    pub subject_prefix: String,
    /// The jobs stream (work-queue retention: a job is gone once a worker acks it).
    pub jobs_stream: String,
    /// The results stream (one result per job id).
    pub results_stream: String,
    /// The dead-letter stream (jobs that failed on every delivery).
    pub dead_letter_stream: String,
    /// The durable pull consumer the workers share.
    pub consumer: String,
    /// The stream where each worker keeps its latest counts, on `<prefix>.workers.<name>`
    /// (`riptide queue status`).
    pub workers_stream: String,
    /// Seconds a worker has to ack a job before it is delivered again; a worker sends progress
    /// acks while a page runs longer.
    pub ack_wait_secs: u64,
    /// Deliveries of one job before it goes to the dead letters.
    pub max_deliver: u32,
    /// Jobs handed to the workers and not acked yet, at most (all workers together).
    pub max_ack_pending: u32,
    /// Seconds during which the same job (same URL and options) submitted again is dropped.
    pub duplicate_window_secs: u64,
    /// Seconds results and dead letters are kept.
    pub results_max_age_secs: u64,
    /// Seconds a job waits before it is delivered again when its host's circuit is open or the
    /// host limits our rate (unless the error says how long).
    pub defer_secs: u64,
    /// Pages a worker runs at once (`riptide worker --concurrency`).
    pub concurrency: u32,
    /// Seconds a stopping worker lets its pages finish before it hands them back.
    pub shutdown_grace_secs: u64,
    /// Keep the streams on disk (`file`) or in memory (`memory`).
    pub storage: QueueStorage,
    /// Workers keep what they learn about hosts (timeout profiles, which hosts need a browser)
    /// in `learning_bucket` on the queue's server, shared with every worker within seconds,
    /// instead of each in its own home's `timeouts.redb`. Either way nothing is kept when
    /// `optimizations.adaptive_timeout.persist_profiles` is off.
    pub share_learning: bool,
    /// The key-value bucket where workers share what they learn about hosts (timeout profiles
    /// and rendering evidence; `riptide::backends::nats_kv::NatsLearningStore`), kept as
    /// `storage` says.
    pub learning_bucket: String,
}

/// Where the queue's streams are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum QueueStorage {
    /// On the server's disk: survives a server restart.
    #[default]
    File,
    /// In the server's memory: faster, lost when the server stops.
    Memory,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            subject_prefix: "riptide".into(),
            jobs_stream: "RIPTIDE_JOBS".into(),
            results_stream: "RIPTIDE_RESULTS".into(),
            dead_letter_stream: "RIPTIDE_DEAD".into(),
            consumer: "riptide-workers".into(),
            workers_stream: "RIPTIDE_WORKERS".into(),
            ack_wait_secs: 30,
            max_deliver: 5,
            max_ack_pending: 1000,
            duplicate_window_secs: 600,
            results_max_age_secs: 7 * 24 * 3600,
            defer_secs: 10,
            concurrency: 4,
            shutdown_grace_secs: 10,
            storage: QueueStorage::File,
            share_learning: true,
            learning_bucket: "RIPTIDE_LEARNING".into(),
        }
    }
}

impl QueueConfig {
    /// The first key that is out of range, and why.
    pub(crate) fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        for (key, v) in [
            ("ack_wait_secs", self.ack_wait_secs),
            ("max_deliver", u64::from(self.max_deliver)),
            ("max_ack_pending", u64::from(self.max_ack_pending)),
            ("duplicate_window_secs", self.duplicate_window_secs),
            ("results_max_age_secs", self.results_max_age_secs),
            ("concurrency", u64::from(self.concurrency)),
        ] {
            if v == 0 {
                return Err((key, "must be at least 1".into()));
            }
        }
        for (key, name) in [
            ("subject_prefix", &self.subject_prefix),
            ("jobs_stream", &self.jobs_stream),
            ("results_stream", &self.results_stream),
            ("dead_letter_stream", &self.dead_letter_stream),
            ("consumer", &self.consumer),
            ("workers_stream", &self.workers_stream),
            ("learning_bucket", &self.learning_bucket),
        ] {
            let bad = |c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if name.is_empty() || name.contains(bad) {
                return Err((
                    key,
                    format!("{name:?} must be letters, digits, `_` and `-` only (NATS names and subject tokens)"),
                ));
            }
        }
        if self.duplicate_window_secs > self.results_max_age_secs {
            return Err((
                "duplicate_window_secs",
                format!(
                    "{} is more than results_max_age_secs ({}): a job dropped as a duplicate must still find its result",
                    self.duplicate_window_secs, self.results_max_age_secs
                ),
            ));
        }
        Ok(())
    }
}
