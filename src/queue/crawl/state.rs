//! [`NatsCrawl`]: one crawl's state on the NATS server: its streams, its buckets, and the few
//! operations every worker and the attached command perform on them.
//!
//! Everything a crawl across machines must agree on lives here, in JetStream objects named
//! after the crawl, so that nothing is kept on a worker that dies with it:
//!
//! | object | what |
//! |---|---|
//! | bucket `RIPTIDE_CRAWLS` | the registry: crawl name → [`CrawlSpec`] (workers poll it) |
//! | stream `RIPTIDE_CRAWL_<name>` | the frontier: URLs to fetch on `<prefix>.crawl.<name>.frontier.<shard>`, work-queue retention, one durable pull consumer `workers` shared by every worker |
//! | stream `RIPTIDE_CRAWL_<name>_RESULTS` | emitted pages and failure rows on `<prefix>.crawl.<name>.results`, read by the durable consumer `attached` |
//! | bucket `RIPTIDE_CRAWL_<name>` | the seen-set (`seen.<hash>`, `emitted.<hash>`, `content.<hash>`), robots.txt per host (`robots.<host>`), each host's next allowed time (`next.<host>`), the query budgets (`trap.<key>`), the page count (`count.emitted`), `seeded`, `ended`, and each worker's counts (`stats.<worker>`) |
//! | bucket `RIPTIDE_CRAWL_<name>_LEASES` | per-host fetch slots (`slot.<host>.<i>`) and robots.txt fetch locks (`robots.<host>`), which expire with the bucket's `max_age` when their worker dies |
//!
//! Keys name hosts and URLs by hex digests, so any URL makes a valid key.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::kv::{self, CreateErrorKind};
use async_nats::jetstream::{consumer, stream};
use serde::{Deserialize, Serialize};

use super::spec::CrawlSpec;
use crate::backends::nats_kv::bucket_stream;
use crate::config::QueueStorage;
use crate::crawl::CrawlReport;
use crate::error::{Error, QueueError, Result};
use crate::queue::Queue;

/// The registry bucket: crawl name → spec.
pub const REGISTRY_BUCKET: &str = "RIPTIDE_CRAWLS";
/// The frontier's consumer, shared by every worker.
pub const WORKERS_CONSUMER: &str = "workers";
/// The results' consumer of the attached `riptide crawl --nats`.
pub const ATTACHED_CONSUMER: &str = "attached";
/// Frontier subjects are sharded by host into this many tokens.
pub const SHARDS: u64 = 16;
/// Compare-and-set attempts before a counter update gives up.
const CAS_ATTEMPTS: u32 = 50;

/// Whether a claim on a key made it this worker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Created now: nobody had it.
    New,
    /// It was there, with this claimant's token: an earlier delivery of the same page made it.
    Ours,
    /// Someone else's.
    Taken,
}

/// What a page answered last time: for a recrawl's conditional request, and the links to follow
/// when the page is unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct PageMemo {
    pub(crate) etag: Option<String>,
    pub(crate) last_modified: Option<String>,
    pub(crate) links: Vec<String>,
}

/// One crawl's objects on the server.
#[derive(Clone)]
pub struct NatsCrawl {
    queue: Queue,
    name: String,
    /// What its objects are named by: the name and the start's generation
    /// ([`CrawlSpec::generation`]).
    id: String,
    pub(crate) bucket: kv::Store,
    pub(crate) leases: kv::Store,
    memo: kv::Store,
    lease_ttl: Duration,
}

impl std::fmt::Debug for NatsCrawl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsCrawl")
            .field("name", &self.name)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A crawl's name across machines: letters, digits, `-` and `_` (it is part of stream, bucket
/// and subject names), at most 64.
pub fn check_name(name: &str) -> Result<()> {
    let ok =
        !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(QueueError::CrawlName { name: name.to_string() }.into())
    }
}

/// A name for a crawl across machines made from a local crawl's name (dots become `_`).
pub fn nats_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .take(64)
        .collect()
}

/// Lower-case hex of the first 16 bytes of the BLAKE3 digest of `s`: a key token for any
/// string.
pub(crate) fn digest(s: &str) -> String {
    blake3::hash(s.as_bytes()).as_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Milliseconds since the Unix epoch (hosts' next allowed times are wall-clock: every machine
/// must keep its clock in time, as NTP does).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn js_error(action: impl Into<String>) -> impl FnOnce(async_nats::Error) -> Error {
    let action = action.into();
    move |e| QueueError::jetstream(action, e).into()
}

fn storage(queue: &Queue) -> stream::StorageType {
    match queue.config().storage {
        QueueStorage::File => stream::StorageType::File,
        QueueStorage::Memory => stream::StorageType::Memory,
    }
}

/// The registry bucket, created where it is missing.
pub(crate) async fn registry(queue: &Queue) -> Result<kv::Store> {
    bucket(queue, REGISTRY_BUCKET, None, "riptide: the crawls across machines").await
}

async fn bucket(queue: &Queue, name: &str, max_age: Option<Duration>, description: &str) -> Result<kv::Store> {
    let mut config = bucket_stream(name, queue.config().storage, description);
    if let Some(max_age) = max_age {
        config.max_age = max_age;
    }
    let js = queue.jetstream();
    js.get_or_create_stream(config)
        .await
        .map_err(|e| js_error(format!("create the bucket {name:?}"))(e.into()))?;
    js.get_key_value(name)
        .await
        .map_err(|e| js_error(format!("open the bucket {name:?}"))(e.into()))
}

/// What a crawl's objects are named by: `name` and its start's `generation` (the bare name for
/// a crawl registered before generations).
fn crawl_id(name: &str, generation: u64) -> String {
    if generation == 0 {
        name.to_string()
    } else {
        format!("{name}_g{generation:x}")
    }
}

/// The crawls in the registry, by name, each with the generation of its start (a spec that
/// cannot be read is left out: `open` says why).
pub(crate) async fn registered(queue: &Queue) -> Result<HashMap<String, u64>> {
    let registry = registry(queue).await?;
    let mut crawls = HashMap::new();
    for name in crawl_names(queue).await? {
        if let Some(spec) = registry
            .get(&name)
            .await
            .map_err(|e| js_error("read a crawl's spec")(e.into()))?
            .and_then(|b| CrawlSpec::from_json(&b).ok())
        {
            crawls.insert(name, spec.generation);
        }
    }
    Ok(crawls)
}

/// The crawls in the registry, by name.
pub async fn crawl_names(queue: &Queue) -> Result<Vec<String>> {
    use futures_util::TryStreamExt;
    let registry = registry(queue).await?;
    let keys = registry
        .keys()
        .await
        .map_err(|e| js_error("list the crawls")(e.into()))?;
    keys.try_collect()
        .await
        .map_err(|e| js_error("list the crawls")(e.into()))
}

impl NatsCrawl {
    fn frontier_stream(name: &str) -> String {
        format!("RIPTIDE_CRAWL_{name}")
    }

    fn results_stream_name(name: &str) -> String {
        format!("RIPTIDE_CRAWL_{name}_RESULTS")
    }

    fn bucket_name(name: &str) -> String {
        format!("RIPTIDE_CRAWL_{name}")
    }

    fn leases_name(name: &str) -> String {
        format!("RIPTIDE_CRAWL_{name}_LEASES")
    }

    /// What each page answered last time (validators and links), kept by the crawl's *name*
    /// across its starts, so a finished crawl run again asks conditionally.
    fn memo_name(name: &str) -> String {
        format!("RIPTIDE_CRAWL_{name}_MEMO")
    }

    /// How long a lease lives without being renewed: a dead worker's slots free themselves
    /// after it (`[queue] ack_wait_secs`, at least 2 s).
    fn lease_ttl(queue: &Queue) -> Duration {
        Duration::from_secs(queue.config().ack_wait_secs.max(2))
    }

    /// Creates the crawl `name` with `spec` where it does not exist, or finds it. Returns the
    /// crawl, the spec it runs with (an existing crawl keeps its own), and whether it was
    /// created now.
    pub async fn create(queue: &Queue, name: &str, spec: &CrawlSpec) -> Result<(Self, CrawlSpec, bool)> {
        check_name(name)?;
        let registry = registry(queue).await?;
        let mut fresh = spec.clone();
        fresh.generation = now_ms().max(1);
        // Registered first: the spec decides the generation, and so the objects' names. A
        // worker that reads it before the streams below exist finds no crawl yet (`open`).
        let (running, created) = match registry.create(name, fresh.to_json().into()).await {
            Ok(_) => (fresh, true),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {
                let stored = registry
                    .get(name)
                    .await
                    .map_err(|e| js_error("read a crawl's spec")(e.into()))?
                    .map(|b| CrawlSpec::from_json(&b))
                    .transpose()?;
                match stored {
                    Some(stored) => (stored, false),
                    // Cancelled in between: this start registers it.
                    None => {
                        registry
                            .put(name, fresh.to_json().into())
                            .await
                            .map_err(|e| js_error("register the crawl")(e.into()))?;
                        (fresh, true)
                    }
                }
            }
            Err(e) => return Err(js_error("register the crawl")(e.into())),
        };
        let id = crawl_id(name, running.generation);
        let c = queue.config();
        let prefix = &c.subject_prefix;
        let js = queue.jetstream();
        let frontier = js
            .get_or_create_stream(stream::Config {
                name: Self::frontier_stream(&id),
                subjects: vec![format!("{prefix}.crawl.{id}.frontier.*")],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: storage(queue),
                duplicate_window: Duration::from_secs(c.duplicate_window_secs),
                ..Default::default()
            })
            .await
            .map_err(|e| js_error("create a crawl's frontier stream")(e.into()))?;
        // A URL is put back for its host's sake as often as the crawl allows (the worker decides
        // when it has failed); the crawl's --concurrency holds over all workers together.
        durable(
            &frontier,
            WORKERS_CONSUMER,
            -1,
            i64::from(running.concurrency.max(1)),
            c.ack_wait_secs,
        )
        .await?;
        let results = js
            .get_or_create_stream(stream::Config {
                name: Self::results_stream_name(&id),
                subjects: vec![format!("{prefix}.crawl.{id}.results")],
                storage: storage(queue),
                duplicate_window: Duration::from_secs(c.duplicate_window_secs),
                ..Default::default()
            })
            .await
            .map_err(|e| js_error("create a crawl's results stream")(e.into()))?;
        durable(&results, ATTACHED_CONSUMER, -1, 1000, c.ack_wait_secs).await?;
        let crawl = Self::objects(queue, name, id).await?;
        Ok((crawl, running, created))
    }

    async fn objects(queue: &Queue, name: &str, id: String) -> Result<Self> {
        let lease_ttl = Self::lease_ttl(queue);
        let state = bucket(queue, &Self::bucket_name(&id), None, "riptide: a crawl's shared state").await?;
        let leases = bucket(
            queue,
            &Self::leases_name(&id),
            Some(lease_ttl),
            "riptide: a crawl's per-host fetch slots",
        )
        .await?;
        let memo = bucket(
            queue,
            &Self::memo_name(name),
            None,
            "riptide: what a crawl's pages answered last time",
        )
        .await?;
        Ok(Self {
            queue: queue.clone(),
            name: name.to_string(),
            id,
            memo,
            bucket: state,
            leases,
            lease_ttl,
        })
    }

    /// The registered crawl `name` and its spec, or `None` when there is no such crawl.
    pub async fn open(queue: &Queue, name: &str) -> Result<Option<(Self, CrawlSpec)>> {
        check_name(name)?;
        let registry = registry(queue).await?;
        let Some(spec) = registry
            .get(name)
            .await
            .map_err(|e| js_error("read a crawl's spec")(e.into()))?
        else {
            return Ok(None);
        };
        let spec = CrawlSpec::from_json(&spec)?;
        let id = crawl_id(name, spec.generation);
        let js = queue.jetstream();
        if js.get_stream(Self::frontier_stream(&id)).await.is_err() {
            return Ok(None);
        }
        Ok(Some((Self::objects(queue, name, id).await?, spec)))
    }

    /// Stops the crawl `name` and removes everything it kept: its registry entry, streams and
    /// buckets. Whether there was anything to remove.
    pub async fn cancel(queue: &Queue, name: &str) -> Result<bool> {
        Self::remove(queue, name, false).await
    }

    /// Removes the crawl `name`'s registry entry, streams and buckets; its pages' memos too
    /// unless `keep_memo` (a recrawl reads them).
    async fn remove(queue: &Queue, name: &str, keep_memo: bool) -> Result<bool> {
        check_name(name)?;
        let registry = registry(queue).await?;
        let registered = registry
            .get(name)
            .await
            .map_err(|e| js_error("read a crawl's spec")(e.into()))?;
        // The objects of the start registered, and those a crawl from before generations
        // (or a start whose registration was lost) left under the bare name.
        let mut ids = vec![name.to_string()];
        if let Some(spec) = registered.as_deref().and_then(|b| CrawlSpec::from_json(b).ok()) {
            ids.push(crawl_id(name, spec.generation));
        }
        // First out of the registry, so workers stop taking its URLs.
        registry
            .purge(name)
            .await
            .map_err(|e| js_error("remove the crawl from the registry")(e.into()))?;
        let js = queue.jetstream();
        let mut removed = registered.is_some();
        if !keep_memo {
            removed |= js.delete_stream(format!("KV_{}", Self::memo_name(name))).await.is_ok();
        }
        for id in ids {
            for stream in [
                Self::frontier_stream(&id),
                Self::results_stream_name(&id),
                format!("KV_{}", Self::bucket_name(&id)),
                format!("KV_{}", Self::leases_name(&id)),
            ] {
                removed |= js.delete_stream(&stream).await.is_ok();
            }
        }
        Ok(removed)
    }

    /// The crawl's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The queue (connection) it lives on.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    pub(crate) fn lease_ttl_of(&self) -> Duration {
        self.lease_ttl
    }

    /// The frontier's shared consumer.
    pub(crate) async fn frontier_consumer(&self) -> Result<consumer::PullConsumer> {
        self.pull_consumer(
            Self::frontier_stream(&self.id),
            WORKERS_CONSUMER,
            "find a crawl's frontier",
        )
        .await
    }

    /// Whether the attached command has read (and acked) every record of the crawl.
    pub(crate) async fn all_read(&self) -> Result<bool> {
        let mut results = self.results_consumer().await?;
        let info = results
            .info()
            .await
            .map_err(|e| js_error("read a crawl's results")(e.into()))?;
        Ok(info.num_pending == 0 && info.num_ack_pending == 0)
    }

    /// The attached command's consumer of the results.
    pub(crate) async fn results_consumer(&self) -> Result<consumer::PullConsumer> {
        self.pull_consumer(
            Self::results_stream_name(&self.id),
            ATTACHED_CONSUMER,
            "find a crawl's results",
        )
        .await
    }

    /// The durable consumer `name` of `stream`.
    async fn pull_consumer(&self, stream: String, name: &str, action: &'static str) -> Result<consumer::PullConsumer> {
        self.queue
            .jetstream()
            .get_stream(stream)
            .await
            .map_err(|e| js_error(action)(e.into()))?
            .get_consumer(name)
            .await
            .map_err(js_error(action))
    }

    /// Publishes a URL to the frontier (its host's shard), with the URL's digest as message
    /// id, and waits until it is stored: a second publication within the duplicate window (a
    /// page handled again after its worker died) is dropped by JetStream.
    pub(crate) async fn publish_url(&self, host_key: &str, url_digest: &str, entry: &FrontierEntry) -> Result<()> {
        let shard = u64::from_le_bytes(
            blake3::hash(host_key.as_bytes()).as_bytes()[..8]
                .try_into()
                .unwrap_or([0; 8]),
        ) % SHARDS;
        let subject = format!(
            "{}.crawl.{}.frontier.{shard}",
            self.queue.config().subject_prefix,
            self.id
        );
        self.publish(subject, url_digest, serde_json::to_vec(entry).unwrap_or_default())
            .await
    }

    /// Publishes a page or failure record to the results, with `id` as message id.
    pub(crate) async fn publish_result(&self, id: &str, record: &serde_json::Value) -> Result<()> {
        let subject = format!("{}.crawl.{}.results", self.queue.config().subject_prefix, self.id);
        self.publish(subject, id, serde_json::to_vec(record).unwrap_or_default())
            .await
    }

    async fn publish(&self, subject: String, id: &str, payload: Vec<u8>) -> Result<()> {
        self.queue.publish_stored(subject, id, payload, None).await
    }

    /// Claims `key` in the crawl's bucket for `token` (see [`Claim`]).
    pub(crate) async fn claim(&self, key: &str, token: &str) -> Result<Claim> {
        match self.bucket.create(key, token.to_string().into()).await {
            Ok(_) => Ok(Claim::New),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {
                let value = self
                    .bucket
                    .get(key)
                    .await
                    .map_err(|e| js_error("read the seen-set")(e.into()))?;
                Ok(if value.as_deref() == Some(token.as_bytes()) {
                    Claim::Ours
                } else {
                    Claim::Taken
                })
            }
            Err(e) => Err(js_error("write the seen-set")(e.into())),
        }
    }

    /// A key's value, if it has one.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .bucket
            .get(key)
            .await
            .map_err(|e| js_error("read a crawl's bucket")(e.into()))?
            .map(|b| b.to_vec()))
    }

    /// Sets a key.
    pub(crate) async fn put(&self, key: &str, value: Vec<u8>) -> Result<()> {
        self.bucket
            .put(key, value.into())
            .await
            .map(|_| ())
            .map_err(|e| js_error("write a crawl's bucket")(e.into()))
    }

    /// Adds one to the counter `key` unless it has reached `max`, with compare-and-set on its
    /// revision (workers adding at once each count). Whether it was added.
    pub(crate) async fn count_up_to(&self, key: &str, max: Option<u64>) -> Result<bool> {
        for _ in 0..CAS_ATTEMPTS {
            let entry = self
                .bucket
                .entry(key)
                .await
                .map_err(|e| js_error("read a crawl's counter")(e.into()))?;
            let (count, revision) = match &entry {
                Some(e) if e.operation == kv::Operation::Put => (parse_u64(&e.value), Some(e.revision)),
                _ => (0, None),
            };
            if max.is_some_and(|max| count >= max) {
                return Ok(false);
            }
            let next = (count + 1).to_string().into_bytes().into();
            let written = match revision {
                Some(revision) => self.bucket.update(key, next, revision).await.is_ok(),
                None => self.bucket.create(key, next).await.is_ok(),
            };
            if written {
                return Ok(true);
            }
        }
        Err(QueueError::jetstream(
            "count in a crawl's bucket",
            "too many workers wrote the counter at once",
        )
        .into())
    }

    /// A counter's value.
    pub(crate) async fn count(&self, key: &str) -> Result<u64> {
        Ok(self.get(key).await?.map_or(0, |v| parse_u64(&v)))
    }

    /// Why the crawl ended (`done`, `max_pages`), once it has.
    pub async fn ended(&self) -> Result<Option<String>> {
        Ok(self
            .get("ended")
            .await?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Says the crawl ended, and why.
    pub(crate) async fn end(&self, reason: &str) -> Result<()> {
        self.put("ended", reason.as_bytes().to_vec()).await
    }

    /// Starts a finished crawl again as a recrawl: a new start of it (its frontier and seen-set
    /// begin empty) that keeps what each page answered last time, so every page is asked for
    /// conditionally and an unchanged one is reported as such, its remembered links followed.
    pub async fn recrawl(queue: &Queue, name: &str, spec: &CrawlSpec) -> Result<(Self, CrawlSpec)> {
        Self::remove(queue, name, true).await?;
        let mut again = spec.clone();
        again.recrawl = true;
        let (crawl, running, _) = Self::create(queue, name, &again).await?;
        Ok((crawl, running))
    }

    /// Remembers what `url` answered: its validators and the links followed from it.
    pub(crate) async fn remember(&self, url: &str, memo: &PageMemo) -> Result<()> {
        self.memo
            .put(
                format!("m.{}", digest(url)),
                serde_json::to_vec(memo).unwrap_or_default().into(),
            )
            .await
            .map(|_| ())
            .map_err(|e| js_error("remember a page's answer")(e.into()))
    }

    /// What `url` answered last time, if it was remembered.
    pub(crate) async fn recall(&self, url: &str) -> Result<Option<PageMemo>> {
        let value = self
            .memo
            .get(format!("m.{}", digest(url)))
            .await
            .map_err(|e| js_error("read a page's last answer")(e.into()))?;
        Ok(value.and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// Why the crawl is paused (`max_duration`: the attached run's time was up), if it is:
    /// workers take none of its URLs until a command attaches again.
    pub async fn paused(&self) -> Result<Option<String>> {
        Ok(self
            .get("paused")
            .await?
            .filter(|v| !v.is_empty())
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Pauses the crawl, for `reason`: the pages in progress finish, and nothing more is taken.
    pub async fn pause(&self, reason: &str) -> Result<()> {
        self.put("paused", reason.as_bytes().to_vec()).await
    }

    /// Resolves once the crawl is not paused: at once if it is not, else at the change that
    /// resumes it (a watch on the key, no polling). Also when the watch cannot be kept (the
    /// crawl was cancelled, the server is away): the caller looks again.
    pub(crate) async fn unpaused(&self) {
        use futures_util::StreamExt;
        // Watch first, then read: a resume between the two is not missed.
        let Ok(mut changes) = self.bucket.watch("paused").await else {
            return;
        };
        if !matches!(self.paused().await, Ok(Some(_))) {
            return;
        }
        while let Some(Ok(entry)) = changes.next().await {
            if entry.operation != kv::Operation::Put || entry.value.is_empty() {
                return;
            }
        }
    }

    /// Lets workers take the crawl's URLs again.
    pub async fn resume(&self) -> Result<()> {
        if self.get("paused").await?.is_some_and(|v| !v.is_empty()) {
            self.put("paused", Vec::new()).await?;
        }
        Ok(())
    }

    /// Takes a fetch slot of the host whose key digest is `host`: one of `per_host` keys that
    /// expire after the lease time unless renewed. Its key and revision, or `None` when every
    /// slot is taken.
    pub(crate) async fn try_slot(&self, host: &str, per_host: u32, token: &str) -> Result<Option<(String, u64)>> {
        for i in 0..per_host {
            let key = format!("slot.{host}.{i}");
            match self.leases.create(&key, token.to_string().into()).await {
                Ok(revision) => return Ok(Some((key, revision))),
                Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {}
                Err(e) => return Err(js_error("take a host's fetch slot")(e.into())),
            }
        }
        Ok(None)
    }

    /// Tries to take the lock on fetching `host`'s robots.txt: its key and revision when taken
    /// (a lease to renew and give back, as a slot's), `None` when another worker holds it.
    pub(crate) async fn try_robots_lock(&self, host: &str, token: &str) -> Result<Option<(String, u64)>> {
        let key = format!("robots.{host}");
        match self.leases.create(&key, token.to_string().into()).await {
            Ok(revision) => Ok(Some((key, revision))),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(js_error("lock a host's robots.txt")(e.into())),
        }
    }

    /// Renews a lease still at `revision` (its age starts again): its new revision, or `None`
    /// when it is no longer this worker's (it expired, and someone may hold it now).
    pub(crate) async fn renew(&self, key: &str, token: &str, revision: u64) -> Option<u64> {
        match self.leases.update(key, token.to_string().into(), revision).await {
            Ok(revision) => Some(revision),
            Err(e) => {
                tracing::debug!(error = %e, key, "a lease could not be renewed; it is no longer held");
                None
            }
        }
    }

    /// Gives a lease back, if it is still at `revision` (never one another worker took since).
    pub(crate) async fn release(&self, key: &str, revision: u64) {
        if let Err(e) = self.leases.delete_expect_revision(key, Some(revision)).await {
            tracing::debug!(error = %e, key, "a lease was not given back; it expires on its own");
        }
    }

    /// Waits for the host's turn by its next allowed time (`next.<host>`, milliseconds since
    /// the epoch), then moves it `delay` on with compare-and-set. Whether it had to wait.
    pub(crate) async fn wait_turn(&self, host: &str, delay: Duration) -> Result<bool> {
        let key = format!("next.{host}");
        let mut waited = false;
        for _ in 0..CAS_ATTEMPTS * 4 {
            let entry = self
                .bucket
                .entry(key.as_str())
                .await
                .map_err(|e| js_error("read a host's next turn")(e.into()))?;
            let (next, revision) = match &entry {
                Some(e) if e.operation == kv::Operation::Put => (parse_u64(&e.value), Some(e.revision)),
                _ => (0, None),
            };
            let now = now_ms();
            if next > now {
                waited = true;
                tokio::time::sleep(Duration::from_millis(next - now)).await;
                continue;
            }
            let after = (now + u64::try_from(delay.as_millis()).unwrap_or(u64::MAX))
                .to_string()
                .into_bytes()
                .into();
            let written = match revision {
                Some(revision) => self.bucket.update(key.as_str(), after, revision).await.is_ok(),
                None => self.bucket.create(key.as_str(), after).await.is_ok(),
            };
            if written {
                return Ok(waited);
            }
        }
        Err(QueueError::jetstream("take a host's turn", "too many workers wrote its next turn at once").into())
    }

    /// Puts the host's next allowed time at least `wait` from now (it asked to back off).
    pub(crate) async fn back_off(&self, host: &str, wait: Duration) -> Result<()> {
        let key = format!("next.{host}");
        let at = now_ms() + u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        let current = self.count(&key).await?;
        if at > current {
            self.put(&key, at.to_string().into_bytes()).await?;
        }
        Ok(())
    }

    /// Each worker's counts for this crawl, by worker name.
    pub async fn worker_stats(&self) -> Result<BTreeMap<String, CrawlReport>> {
        let stream = self
            .queue
            .jetstream()
            .get_stream(format!("KV_{}", Self::bucket_name(&self.id)))
            .await
            .map_err(|e| js_error("find a crawl's bucket")(e.into()))?;
        let prefix = format!("$KV.{}.stats.", Self::bucket_name(&self.id));
        let subjects = subjects_under(&stream, &format!("{prefix}*")).await?;
        let mut stats = BTreeMap::new();
        for subject in subjects {
            let Some(worker) = subject.strip_prefix(&prefix) else {
                continue;
            };
            if let Some(value) = self.get(&format!("stats.{worker}")).await?
                && let Ok(s) = serde_json::from_slice(&value)
            {
                stats.insert(worker.to_string(), s);
            }
        }
        Ok(stats)
    }

    /// Hosts the crawl has met (one robots.txt record each).
    pub async fn hosts(&self) -> Result<u64> {
        let stream = self
            .queue
            .jetstream()
            .get_stream(format!("KV_{}", Self::bucket_name(&self.id)))
            .await
            .map_err(|e| js_error("find a crawl's bucket")(e.into()))?;
        let pattern = format!("$KV.{}.robots.*", Self::bucket_name(&self.id));
        Ok(subjects_under(&stream, &pattern).await?.len() as u64)
    }
}

/// Creates the durable pull consumer `name` on `stream` where it is missing.
async fn durable(
    stream: &stream::Stream,
    name: &str,
    max_deliver: i64,
    max_ack_pending: i64,
    ack_wait_secs: u64,
) -> Result<()> {
    stream
        .get_or_create_consumer::<consumer::pull::Config>(
            name,
            consumer::pull::Config {
                durable_name: Some(name.into()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(ack_wait_secs),
                max_deliver,
                max_ack_pending,
                ..Default::default()
            },
        )
        .await
        .map(|_| ())
        .map_err(|e| js_error(format!("create the consumer {name:?}"))(e.into()))
}

async fn subjects_under(stream: &stream::Stream, pattern: &str) -> Result<Vec<String>> {
    use futures_util::StreamExt;
    let info = stream.clone();
    Ok(info
        .info_with_subjects(pattern)
        .await
        .map_err(|e| js_error("list a crawl's keys")(e.into()))?
        .filter_map(|s| async move { s.ok().map(|(subject, _)| subject) })
        .collect()
        .await)
}

fn parse_u64(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// A URL on the frontier, as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FrontierEntry {
    /// The normalized URL.
    pub(crate) url: String,
    /// Links followed from a seed.
    pub(crate) depth: u32,
    /// The page, sitemap or redirect that led here.
    pub(crate) parent: Option<String>,
    /// `seed`, `link`, `sitemap` or `redirect`.
    pub(crate) found_via: String,
}

/// One crawl as `riptide queue status` shows it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CrawlStatus {
    /// Why it ended, once it has (`done`, `max_pages`); `null` while it runs.
    pub ended: Option<String>,
    /// Why it is paused (`max_duration`), when it is; `null` while it runs.
    pub paused: Option<String>,
    /// Pages emitted, all workers together.
    pub emitted: u64,
    /// Records (pages and failures) in its results stream.
    pub results: u64,
    /// Records the attached command has not read yet.
    pub unread: u64,
    /// URLs waiting on the frontier.
    pub queued: u64,
    /// URLs taken by a worker and not finished (a dead worker's until `ack_wait` passes).
    pub in_flight: u64,
    /// Hosts the crawl has met.
    pub hosts: u64,
    /// Every worker's counts added up: `fetched`, `emitted`, `failed`, `skipped` by reason,
    /// `robots_fetches`, `sitemaps_fetched`, `sitemap_urls`, `delays_applied`, `backoffs` (the
    /// fields of a local crawl's report that a worker counts).
    pub totals: CrawlReport,
    /// Each worker's counts (the same fields).
    pub workers: BTreeMap<String, CrawlReport>,
}

impl CrawlStatus {
    /// Reads the status of `crawl`.
    pub async fn read(crawl: &NatsCrawl) -> Result<Self> {
        let mut frontier = crawl.frontier_consumer().await?;
        let frontier = frontier
            .info()
            .await
            .map_err(|e| js_error("read a crawl's frontier")(e.into()))?
            .clone();
        let mut results = crawl.results_consumer().await?;
        let results = results
            .info()
            .await
            .map_err(|e| js_error("read a crawl's results")(e.into()))?
            .clone();
        let workers = crawl.worker_stats().await?;
        let mut totals = CrawlReport::default();
        for stats in workers.values() {
            totals.accumulate(stats);
        }
        Ok(Self {
            ended: crawl.ended().await?,
            paused: crawl.paused().await?,
            emitted: crawl.count("count.emitted").await?,
            results: results.delivered.stream_sequence.max(results.ack_floor.stream_sequence) + results.num_pending,
            unread: results.num_pending + results.num_ack_pending as u64,
            queued: frontier.num_pending,
            in_flight: frontier.num_ack_pending as u64,
            hosts: crawl.hosts().await?,
            totals,
            workers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_made() {
        assert!(check_name("docs-1_a").is_ok());
        for bad in ["", "a.b", "a b", "a*", &"x".repeat(65)] {
            assert_eq!(
                check_name(bad).map_err(|e| e.code()).err(),
                Some("queue.crawl_name"),
                "{bad}"
            );
        }
        assert_eq!(nats_name("docs.example.com_guide-1a2b"), "docs_example_com_guide-1a2b");
        assert!(check_name(&nats_name(&"a.".repeat(80))).is_ok());
        assert_eq!(digest("x").len(), 32);
    }
}
