//! Many machines working one batch: a NATS JetStream work queue (feature `nats`).
//!
//! When one machine is not enough, `riptide submit` publishes one [`Job`] per page to a
//! JetStream stream with work-queue retention, and `riptide worker`s on any number of machines
//! pull them from one shared durable consumer, each running them on its own warm executor
//! (its own browser pool and compile cache). Delivery, redelivery, deduplication and retry
//! limits are JetStream's, not riptide's:
//!
//! - a job's id is derived from its URL and options ([`Job::id`]) and sent as `Nats-Msg-Id`, so
//!   the same page submitted twice is stored once;
//! - a worker publishes the result under the job's id and waits for it to be stored before it
//!   acks the job, so a worker that dies loses nothing (the job is delivered again after
//!   `ack_wait`) and a job run twice still has one result;
//! - a long page sends progress acks; a host whose circuit is open or that limits our rate is
//!   `Nak`ed with a delay; after `max_deliver` deliveries a job goes to the dead letters (moved
//!   there by the worker that ran it last, or, when that worker died, by any worker that hears
//!   JetStream's `MAX_DELIVERIES` advisory).
//!
//! | part | what it is |
//! |---|---|
//! | [`Queue`] | the connection, and the streams and consumer (created when missing) |
//! | [`Job`], [`JobId`] | one page to extract, as JSON, and its id |
//! | [`Worker`] | the loop that pulls jobs and runs them on one executor |
//! | [`Results`] | a batch's results as they arrive (`riptide submit --wait`) |
//! | [`QueueStatus`] | pending, in flight, redelivered, dead letters, per worker |
//!
//! Names and limits are `[queue]` in the configuration ([`QueueConfig`](crate::config::QueueConfig));
//! every machine of a cluster must use the same.

mod abandoned;
mod connection;
pub mod crawl;
mod job;
mod results;
mod status;
mod worker;

pub use connection::{Queue, Submitted, WORKER_HEADER};
pub use job::{JOB_VERSION, Job, JobId, JobOptions};
pub use results::Results;
pub use status::QueueStatus;
pub use worker::{Worker, WorkerCounts, WorkerOptions};
