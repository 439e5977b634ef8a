//! [`QueueError`]: the NATS JetStream work queue (feature `nats`) failed.

use super::BoxError;

/// The work queue could not reach NATS, JetStream refused an operation, or a job message is not
/// one riptide can run. The client library's error is the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// No connection to the NATS server could be made.
    #[error("could not connect to NATS at {url}")]
    Connect {
        /// The server's URL as given.
        url: String,
        /// The client's error.
        #[source]
        source: BoxError,
    },

    /// A JetStream request (creating a stream or consumer, publishing, fetching, acking,
    /// reading a bucket) failed.
    #[error("JetStream could not {action}")]
    JetStream {
        /// What riptide asked JetStream to do.
        action: String,
        /// The client's error.
        #[source]
        source: BoxError,
    },

    /// A job was delivered `max_deliver` times and never acked: the workers running it died or
    /// lost their connection every time.
    #[error(
        "the job was delivered {deliveries} times and no worker finished it (each died or lost its connection while running it)"
    )]
    Abandoned {
        /// Deliveries made.
        deliveries: i64,
    },

    /// The key-value bucket where workers share what they learn (`NatsLearningStore`) could
    /// not be read or written, or gave no answer in time. Never fails a page: what was learned
    /// is kept in memory and saved when the bucket can be reached again.
    #[error("the learning bucket {bucket:?} could not {action}")]
    Bucket {
        /// The bucket (`queue.learning_bucket`).
        bucket: String,
        /// What riptide was doing.
        action: &'static str,
        /// The client's error, or what did not answer.
        #[source]
        source: BoxError,
    },

    /// A name given to a crawl across machines (`riptide crawl --nats --name`) that cannot name
    /// its streams and buckets.
    #[error("`{name}` cannot name a crawl across machines")]
    CrawlName {
        /// The name as given.
        name: String,
    },

    /// There is no crawl of that name on the server (it ended and was cancelled, or never ran).
    #[error("there is no crawl named `{name}` on the server")]
    NoSuchCrawl {
        /// The name as given.
        name: String,
    },

    /// A message on the jobs subject is not a job this version of riptide can run.
    #[error("the job message is not a riptide job: {reason}")]
    BadJob {
        /// What is wrong with it.
        reason: String,
    },
}

impl QueueError {
    /// A [`QueueError::JetStream`] for `action`.
    pub fn jetstream(action: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::JetStream {
            action: action.into(),
            source: source.into(),
        }
    }

    pub(crate) fn hint(&self) -> &'static str {
        match self {
            QueueError::Connect { .. } => {
                "check that nats-server runs there with JetStream on (`nats-server -js`) and that the URL is right (`--nats`, `queue.url`)"
            }
            QueueError::JetStream { .. } => {
                "check that the server runs with JetStream (`-js`), has room for the streams, and that every machine uses the same `[queue]` settings; `riptide queue status` shows the streams"
            }
            QueueError::Bucket { .. } => {
                "check that nats-server runs at `queue.url` with JetStream on (`-js`) and has room for the bucket; meanwhile riptide keeps learning locally and saves to the bucket once it answers (`queue.share_learning = false` turns sharing off)"
            }
            QueueError::Abandoned { .. } => {
                "look for what makes workers crash or hang on this page (their logs); submit it again once fixed (it was moved to the dead letters)"
            }
            QueueError::CrawlName { .. } => {
                "give `--name` up to 64 letters, digits, `-` and `_` (it names the crawl's streams and buckets)"
            }
            QueueError::NoSuchCrawl { .. } => {
                "`riptide queue status` lists the crawls; start one with `riptide crawl --nats URL --name NAME SEED`"
            }
            QueueError::BadJob { .. } => {
                "submit jobs with `riptide submit` (or publish the same JSON, with its `version`); the message was moved to the dead letters"
            }
        }
    }

    pub(crate) fn code(&self) -> &'static str {
        match self {
            QueueError::Connect { .. } => "queue.connect",
            QueueError::JetStream { .. } => "queue.jetstream",
            QueueError::Bucket { .. } => "queue.bucket",
            QueueError::Abandoned { .. } => "queue.abandoned",
            QueueError::CrawlName { .. } => "queue.crawl_name",
            QueueError::NoSuchCrawl { .. } => "queue.no_such_crawl",
            QueueError::BadJob { .. } => "queue.bad_job",
        }
    }
}
