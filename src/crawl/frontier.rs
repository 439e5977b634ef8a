//! The crawl frontier: the URLs still to fetch, per host, and every URL the crawl has seen.
//!
//! It exists so that a crawl survives being killed. A crawl of a large site runs for hours; if
//! the process dies (`kill -9`, OOM, a reboot) it must resume where it stopped, fetching again
//! at most the pages that were in flight, and it must do so in bounded memory however many URLs
//! it has discovered. Both come from one redb file:
//!
//! - **Seen-set in memory, as hashes.** Deduplication runs on every link of every page (~12 per
//!   page, mostly already seen), so it must be a hash and a set lookup: the set holds the 64-bit
//!   hash of each URL (first 8 bytes of its BLAKE3 digest), ~16–32 MB per million URLs. It is
//!   persisted as a log, one row per commit holding that commit's new hashes, and rebuilt from
//!   it on open. (A `hash -> ()` table would scatter every commit's inserts over the whole
//!   b-tree: with a million hashes, a commit of a thousand new URLs would rewrite ~900 leaf
//!   pages, where the log appends one row.)
//! - **Queue on disk, a small buffer per host in memory.** Each host's queue is a key range
//!   `(host, seq)` in redb; memory holds at most [`BUFFER_PER_HOST`] entries of it (the head),
//!   plus a count. When the head runs out, the next batch is read from the range.
//! - **Staged writes, one group commit.** Every mutation is applied to the in-memory state at once
//!   (so reads see it) and staged; [`Frontier::commit`] writes everything staged in one write
//!   transaction with [`Durability::Immediate`] (one fsync). The crawler commits after a batch of
//!   pages was emitted, so what a crash loses is exactly what was staged since: work the crawler
//!   will redo, never work it reported done but forgot to do.
//!
//! # Tables
//!
//! ```text
//! seen_log   u64 commit no.    -> [u64 LE; n]   the hashes first seen in that commit
//! queue      (&str host, u64)  -> entry row     queued URLs, FIFO per host by sequence number
//! in_flight  u64 hash          -> in-flight row taken but not completed (row carries the host)
//! meta       &str              -> &[u8]         the crawler's own state (set_meta)
//! counters   &str              -> u64           next sequence numbers, done count, format
//! ```
//!
//! Row layouts are in `codec`. Sequence numbers come from two persisted counters that split the
//! `u64` space: URLs appended at the back of a queue count up from 2⁶³, URLs put back at the
//! front (a [`Frontier::requeue`], or in-flight URLs recovered on open) count down from 2⁶³−1,
//! so a range scan of one host yields the front-requeued URLs (most recent first) and then the
//! rest in discovery order, without renumbering anything.
//!
//! # Staging and the per-host buffer
//!
//! Per host the frontier keeps `buf`, the head of the queue in order, and `spilled`, the number of
//! queued URLs after it that are not in memory (rows committed, or staged for the next commit).
//! An offer goes to the buffer only while nothing is spilled and the buffer has room; otherwise it
//! is spilled, so the buffer stays a prefix of the queue and FIFO holds. Every queued URL has a
//! row (committed or staged) from the moment it is offered, whether or not it is also buffered.
//! When the buffer runs dry, the next batch comes from the committed rows of the host's range and
//! then from the staged rows (spilled offers not committed yet), so the frontier reads its own
//! writes before they are committed. A `cursor` per host (one past the last sequence number that
//! entered the buffer) is where that range read starts.
//!
//! # Crash consistency
//!
//! A taken URL moves from `queue` to `in_flight` in the same commit; completing it deletes the
//! in-flight row and counts it done. On open, every in-flight row goes back to the front of its
//! host's queue (in the order the URLs were originally queued) before anything else happens, in
//! one committed transaction. A file is therefore always in a state some sequence of commits
//! produced, and the worst a crash costs is the uncommitted batch plus a refetch of what was in
//! flight.
//!
//! The file is opened with redb's integrity check (every page checksum verified): opening reads
//! the whole file anyway to rebuild the seen-set, and it turns a damaged file into an error
//! instead of a later panic. Any damage — a bad checksum, a row that does not decode, a count
//! that does not match, even a panic inside redb — is [`FrontierError::Corrupt`], whose message
//! names the file and says to start over with `--fresh`; a handle redb panicked in is never used
//! or dropped again.
//!
//! [`Frontier::memory`] keeps everything in memory, stages nothing, and its commit is a no-op.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::ErrorKind;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use redb::{Builder, Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, TableDefinition};

mod codec;
#[cfg(test)]
mod tests;

use codec::{decode_entry, decode_in_flight, encode_entry, encode_in_flight, url_hash};

/// How many queued URLs of one host are kept in memory (the head of its queue); the rest stay
/// on disk until the head runs out. 64 is far more than a polite crawler takes from one host
/// between two commits, and 10 000 hosts × 64 short entries is still only tens of megabytes.
pub const BUFFER_PER_HOST: usize = 64;

/// redb's page cache. The frontier reads each row about once (a batch of a host's queue), so a
/// big cache buys nothing; redb's default (1 GiB) would let the cache grow with the file.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// The first sequence number at the back of a queue; front insertions count down from one less.
const BACK_START: u64 = 1 << 63;

/// The layout version this code writes, in `counters` under `format`.
const FORMAT_VERSION: u64 = 1;

const SEEN_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("seen_log");
const QUEUE: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("queue");
const IN_FLIGHT: TableDefinition<u64, &[u8]> = TableDefinition::new("in_flight");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");

const NEXT_BACK: &str = "next_back";
const NEXT_FRONT: &str = "next_front";
const DONE: &str = "done";
const FORMAT: &str = "format";

/// How a URL came to be queued (kept with it, for the crawler's output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FoundVia {
    /// A start URL the user gave.
    Seed,
    /// A link on a fetched page.
    Link,
    /// A sitemap entry.
    Sitemap,
    /// The target of a redirect.
    Redirect,
}

impl FoundVia {
    /// The lowercase name used in the crawler's output: `seed`, `link`, `sitemap`, `redirect`.
    pub fn as_str(self) -> &'static str {
        match self {
            FoundVia::Seed => "seed",
            FoundVia::Link => "link",
            FoundVia::Sitemap => "sitemap",
            FoundVia::Redirect => "redirect",
        }
    }
}

/// A URL waiting to be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedUrl {
    /// The URL, already normalized (the frontier hashes exactly these bytes).
    pub url: String,
    /// The politeness key the URL is queued under: `host[:port]`.
    pub host: String,
    /// Links followed from a seed to reach it (seeds are 0).
    pub depth: u32,
    /// The page it was found on, if any.
    pub parent: Option<String>,
    /// How it was found.
    pub found_via: FoundVia,
}

/// What [`Frontier::open`] found in an existing file (all zero for a new one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resumed {
    /// URLs queued, including those requeued from in flight.
    pub queued: u64,
    /// URLs seen (queued, in flight, done, or marked seen).
    pub seen: u64,
    /// URLs completed in earlier runs.
    pub done: u64,
    /// URLs that were in flight when the previous run stopped, now back at the front of their
    /// hosts' queues (they will be fetched again).
    pub requeued_in_flight: u64,
}

/// The sizes of a frontier, in URLs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrontierCounts {
    /// Waiting in a queue.
    pub queued: u64,
    /// Taken by [`Frontier::next_for`] and neither completed nor requeued.
    pub in_flight: u64,
    /// Ever seen.
    pub seen: u64,
    /// Completed (over every run of this crawl).
    pub done: u64,
}

/// Why the frontier could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrontierError {
    /// Another process (most likely another crawl) has the file open.
    #[error("the crawl frontier {} is in use by another process", path.display())]
    InUse {
        /// The frontier file.
        path: PathBuf,
    },
    /// The file is damaged, or is not a frontier of this version. Nothing in it can be trusted;
    /// the crawl has to start over.
    #[error("the crawl frontier {} is damaged ({detail}); run with --fresh to start over", path.display())]
    Corrupt {
        /// The frontier file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// redb failed for another reason (I/O, disk full, permissions).
    #[error("could not {action} the crawl frontier {}: {source}", path.display())]
    Store {
        /// The frontier file.
        path: PathBuf,
        /// What was being done, e.g. "commit to".
        action: &'static str,
        /// redb's error (boxed: it is large, and errors are rare).
        #[source]
        source: Box<redb::Error>,
    },
    /// [`Frontier::remove`] could not delete the file.
    #[error("could not remove the crawl frontier {}: {source}", path.display())]
    Remove {
        /// The frontier file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The crawl's queue of URLs to fetch and its seen-set, optionally durable (see the module docs).
///
/// Single-threaded by design (the crawler drives it from one task); every method but
/// [`Frontier::commit`] and [`Frontier::open`] works in memory, apart from
/// [`Frontier::next_for`] reading the next batch of a host's queue from disk now and then.
#[derive(Debug)]
pub struct Frontier {
    /// `None`: the memory frontier.
    store: Option<Store>,
    seen: HashSet<u64, PreHashed>,
    hosts: HashMap<String, HostQueue>,
    queued_total: u64,
    /// URL hash -> the in-flight URL's queue sequence number (kept for its row).
    in_flight: HashMap<u64, u64, PreHashed>,
    done: u64,
    next_back: u64,
    next_front: u64,
    /// The key of the next `seen_log` row (one past the last, found on open).
    next_seen_row: u64,
    meta: HashMap<String, Vec<u8>>,
    staged: Staged,
}

/// One host's queue: its head in memory, the rest counted.
#[derive(Debug, Default)]
struct HostQueue {
    /// The head of the queue, in order: (sequence number, URL).
    buf: VecDeque<(u64, QueuedUrl)>,
    /// Queued URLs after `buf`, only on disk or staged.
    spilled: u64,
    /// One past the highest sequence number that entered `buf`: every row of this host at or
    /// above it is a spilled URL.
    cursor: u64,
}

impl HostQueue {
    fn len(&self) -> u64 {
        self.buf.len() as u64 + self.spilled
    }
}

/// Writes waiting for the next commit. Each set holds the net effect of the operations since the
/// last commit, so a URL offered and taken in the same batch costs no queue row at all.
#[derive(Debug, Default)]
struct Staged {
    seen: Vec<u64>,
    /// Ordered, so spilled-but-uncommitted rows of a host can be read back as a range.
    queue_put: BTreeMap<(String, u64), Vec<u8>>,
    queue_del: Vec<(String, u64)>,
    in_flight_put: HashMap<u64, Vec<u8>, PreHashed>,
    in_flight_del: HashSet<u64, PreHashed>,
    meta: HashSet<String>,
    counters: bool,
}

impl Staged {
    fn is_empty(&self) -> bool {
        self.seen.is_empty()
            && self.queue_put.is_empty()
            && self.queue_del.is_empty()
            && self.in_flight_put.is_empty()
            && self.in_flight_del.is_empty()
            && self.meta.is_empty()
            && !self.counters
    }
}

#[derive(Debug)]
struct Store {
    path: PathBuf,
    /// `None` once redb panicked on the file: the handle is forgotten, never used or dropped
    /// again (its drop could run into the same damage), and every later call fails.
    db: Option<Database>,
}

impl Store {
    fn db(&self) -> Result<&Database, FrontierError> {
        self.db.as_ref().ok_or_else(|| FrontierError::Corrupt {
            path: self.path.clone(),
            detail: "redb failed on it earlier in this run".into(),
        })
    }

    /// Runs `f` against the database, turning a redb panic into [`FrontierError::Corrupt`] (and
    /// retiring the handle) and a redb error into the matching [`FrontierError`].
    fn guarded<T>(
        &mut self,
        action: &'static str,
        f: impl FnOnce(&Database) -> Result<T, Failure>,
    ) -> Result<T, FrontierError> {
        let db = self.db()?;
        match catch_unwind(AssertUnwindSafe(|| f(db))) {
            Ok(result) => result.map_err(|failure| failure.into_error(&self.path, action)),
            Err(payload) => {
                std::mem::forget(self.db.take());
                Err(FrontierError::Corrupt {
                    path: self.path.clone(),
                    detail: format!("redb panicked: {}", panic_message(&*payload)),
                })
            }
        }
    }
}

/// What went wrong inside a redb call: redb's error, or a row or count the frontier rejected.
enum Failure {
    Redb(Box<redb::Error>),
    Damaged(String),
}

impl<E: Into<redb::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Redb(Box::new(e.into()))
    }
}

impl Failure {
    fn into_error(self, path: &Path, action: &'static str) -> FrontierError {
        let path = path.to_path_buf();
        match self {
            Failure::Damaged(detail) => FrontierError::Corrupt { path, detail },
            Failure::Redb(e) if matches!(*e, redb::Error::DatabaseAlreadyOpen) => FrontierError::InUse { path },
            Failure::Redb(e) if is_damage(&e) => FrontierError::Corrupt {
                path,
                detail: e.to_string(),
            },
            Failure::Redb(source) => FrontierError::Store { path, action, source },
        }
    }
}

/// Whether a redb error says the file's bytes are bad (or are not a frontier), rather than that
/// it could not be reached.
fn is_damage(e: &redb::Error) -> bool {
    match e {
        redb::Error::Corrupted(_)
        | redb::Error::TableTypeMismatch { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TableIsNotMultimap(_)
        | redb::Error::TypeDefinitionChanged { .. } => true,
        redb::Error::Io(io) => matches!(
            io.kind(),
            ErrorKind::InvalidData | ErrorKind::UnexpectedEof | ErrorKind::InvalidInput
        ),
        _ => false,
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Hashes a `u64` key to itself: the keys are already BLAKE3 bits, so SipHash would only cost
/// time on the hottest path (every discovered link).
#[derive(Debug, Default, Clone, Copy)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; this keeps any other key type correct (FNV-1a), if slow.
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type PreHashed = BuildHasherDefault<IdentityHasher>;

impl Frontier {
    /// A frontier with no file: nothing survives the process, and [`Frontier::commit`] does
    /// nothing. Every queue is held in memory in full.
    pub fn memory() -> Frontier {
        Frontier::empty(None)
    }

    fn empty(store: Option<Store>) -> Frontier {
        Frontier {
            store,
            seen: HashSet::default(),
            hosts: HashMap::new(),
            queued_total: 0,
            in_flight: HashMap::default(),
            done: 0,
            next_back: BACK_START,
            next_front: BACK_START - 1,
            next_seen_row: 0,
            meta: HashMap::new(),
            staged: Staged::default(),
        }
    }

    /// Opens the frontier file at `path`, creating it if it does not exist.
    ///
    /// Reopening a file resumes its crawl: the seen-set is rebuilt, queues are counted (their
    /// URLs stay on disk until taken), and every URL that was in flight when the last run
    /// stopped goes back to the front of its host's queue (committed before this returns).
    ///
    /// The whole file is read and its checksums verified, so this takes time proportional to
    /// its size (see the README for numbers). A damaged file is [`FrontierError::Corrupt`];
    /// one another process holds is [`FrontierError::InUse`].
    pub fn open(path: &Path) -> Result<(Frontier, Resumed), FrontierError> {
        let open = || {
            Builder::new()
                .set_cache_size(CACHE_BYTES)
                .set_check_integrity_on_open(true)
                .create(path)
        };
        let db = match catch_unwind(AssertUnwindSafe(open)) {
            Ok(Ok(db)) => db,
            Ok(Err(DatabaseError::DatabaseAlreadyOpen)) => {
                return Err(FrontierError::InUse { path: path.into() });
            }
            Ok(Err(e)) => return Err(Failure::from(e).into_error(path, "open")),
            Err(payload) => {
                return Err(FrontierError::Corrupt {
                    path: path.into(),
                    detail: format!("redb panicked: {}", panic_message(&*payload)),
                });
            }
        };
        let mut frontier = Frontier::empty(Some(Store {
            path: path.into(),
            db: Some(db),
        }));
        let resumed = frontier.recover()?;
        Ok((frontier, resumed))
    }

    /// Reads the file into memory, requeueing what was in flight, in one write transaction.
    fn recover(&mut self) -> Result<Resumed, FrontierError> {
        let Some(store) = self.store.as_mut() else {
            return Ok(Resumed::default());
        };
        let loaded = store.guarded("open", |db| {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            let loaded = {
                let mut counters = txn.open_table(COUNTERS)?;
                let mut loaded = Loaded::default();
                match counters.get(FORMAT)?.map(|v| v.value()) {
                    None | Some(FORMAT_VERSION) => {}
                    Some(other) => {
                        return Err(Failure::Damaged(format!(
                            "it was written by another version of riptide (format {other}, this one reads {FORMAT_VERSION})"
                        )));
                    }
                }
                loaded.next_back = counters.get(NEXT_BACK)?.map_or(BACK_START, |v| v.value());
                loaded.next_front = counters.get(NEXT_FRONT)?.map_or(BACK_START - 1, |v| v.value());
                loaded.done = counters.get(DONE)?.map_or(0, |v| v.value());

                // In-flight rows go back to the front, the earliest queued ending up first: each
                // front insertion lands before the previous one, so insert the latest first.
                let mut in_flight_table = txn.open_table(IN_FLIGHT)?;
                let mut requeue = Vec::new();
                for row in in_flight_table.iter()? {
                    let (_, value) = row?;
                    let value = value.value();
                    let (seq, host, entry) = decode_in_flight(value)
                        .ok_or_else(|| Failure::Damaged("an in-flight row does not decode".into()))?;
                    requeue.push((seq, host.to_owned(), encode_entry(&entry.to_queued(host))));
                }
                requeue.sort_unstable_by_key(|(seq, ..)| std::cmp::Reverse(*seq));
                let mut queue = txn.open_table(QUEUE)?;
                for (_, host, row) in &requeue {
                    queue.insert((host.as_str(), loaded.next_front), row.as_slice())?;
                    loaded.next_front = loaded.next_front.wrapping_sub(1);
                }
                in_flight_table.retain(|_, _| false)?;
                loaded.requeued = requeue.len() as u64;

                for row in queue.iter()? {
                    let (key, value) = row?;
                    let (host, seq) = key.value();
                    if decode_entry(value.value()).is_none() {
                        return Err(Failure::Damaged(format!("a queue row of {host} does not decode")));
                    }
                    // Defensive: counters behind the rows would reuse a sequence number.
                    if seq >= BACK_START {
                        loaded.next_back = loaded.next_back.max(seq.wrapping_add(1));
                    } else {
                        loaded.next_front = loaded.next_front.min(seq.wrapping_sub(1));
                    }
                    *loaded.per_host.entry(host.to_owned()).or_default() += 1;
                }

                let seen_log = txn.open_table(SEEN_LOG)?;
                for row in seen_log.iter()? {
                    let (key, value) = row?;
                    let (hashes, rest) = value.value().as_chunks::<8>();
                    if !rest.is_empty() {
                        return Err(Failure::Damaged("a seen-set row is not a list of hashes".into()));
                    }
                    loaded.seen.reserve(hashes.len());
                    loaded.seen.extend(hashes.iter().map(|h| u64::from_le_bytes(*h)));
                    loaded.next_seen_row = loaded.next_seen_row.max(key.value().wrapping_add(1));
                }

                let meta = txn.open_table(META)?;
                for row in meta.iter()? {
                    let (key, value) = row?;
                    loaded.meta.insert(key.value().to_owned(), value.value().to_vec());
                }

                counters.insert(FORMAT, FORMAT_VERSION)?;
                counters.insert(NEXT_BACK, loaded.next_back)?;
                counters.insert(NEXT_FRONT, loaded.next_front)?;
                loaded
            };
            txn.commit()?;
            Ok(loaded)
        })?;

        let queued: u64 = loaded.per_host.values().sum();
        if queued > loaded.seen.len() as u64 {
            return Err(FrontierError::Corrupt {
                path: store.path.clone(),
                detail: format!("{queued} URLs queued but only {} seen", loaded.seen.len()),
            });
        }
        let resumed = Resumed {
            queued,
            seen: loaded.seen.len() as u64,
            done: loaded.done,
            requeued_in_flight: loaded.requeued,
        };
        self.seen = loaded.seen;
        self.hosts = loaded
            .per_host
            .into_iter()
            .map(|(host, spilled)| {
                let queue = HostQueue {
                    spilled,
                    ..HostQueue::default()
                };
                (host, queue)
            })
            .collect();
        self.queued_total = queued;
        self.done = loaded.done;
        self.next_back = loaded.next_back;
        self.next_front = loaded.next_front;
        self.next_seen_row = loaded.next_seen_row;
        self.meta = loaded.meta;
        Ok(resumed)
    }

    /// Deletes the frontier file at `path` (for `--fresh`); a missing file is fine.
    pub fn remove(path: &Path) -> Result<(), FrontierError> {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(source) => Err(FrontierError::Remove {
                path: path.into(),
                source,
            }),
        }
    }

    /// The file behind this frontier (`None` for [`Frontier::memory`]).
    pub fn path(&self) -> Option<&Path> {
        self.store.as_ref().map(|s| s.path.as_path())
    }

    /// Queues `url` at the back of its host's queue unless its URL was seen before; returns
    /// whether it was new. A seen URL costs a hash and a set lookup, nothing else.
    pub fn offer(&mut self, url: QueuedUrl) -> bool {
        let hash = url_hash(&url.url);
        if !self.seen.insert(hash) {
            return false;
        }
        let persistent = self.store.is_some();
        if persistent {
            self.staged.seen.push(hash);
            self.staged.counters = true;
        }
        let seq = self.next_back;
        self.next_back = self.next_back.wrapping_add(1);
        let cap = if persistent { BUFFER_PER_HOST } else { usize::MAX };
        let queue = match self.hosts.get_mut(url.host.as_str()) {
            Some(queue) => queue,
            None => self.hosts.entry(url.host.clone()).or_default(),
        };
        if persistent {
            self.staged
                .queue_put
                .insert((url.host.clone(), seq), encode_entry(&url));
        }
        if queue.spilled == 0 && queue.buf.len() < cap {
            queue.buf.push_back((seq, url));
            queue.cursor = seq.wrapping_add(1);
        } else {
            // Its row (staged above) is the only copy until the buffer gets to it.
            queue.spilled += 1;
        }
        self.queued_total += 1;
        true
    }

    /// Adds `url` to the seen-set without queueing it (a redirect target or canonical URL that
    /// was fetched under another name); returns whether it was new.
    pub fn mark_seen(&mut self, url: &str) -> bool {
        let hash = url_hash(url);
        let new = self.seen.insert(hash);
        if new && self.store.is_some() {
            self.staged.seen.push(hash);
        }
        new
    }

    /// Whether `url` was offered or marked seen.
    pub fn is_seen(&self, url: &str) -> bool {
        self.seen.contains(&url_hash(url))
    }

    /// Takes the next URL of `host`'s queue (FIFO, after any requeued URLs) and marks it in
    /// flight; `None` if the host has nothing queued.
    ///
    /// Usually a memory operation; when the host's in-memory head is used up it reads the next
    /// [`BUFFER_PER_HOST`] URLs from the file, which is where the error can come from.
    pub fn next_for(&mut self, host: &str) -> Result<Option<QueuedUrl>, FrontierError> {
        let Some(queue) = self.hosts.get_mut(host) else {
            return Ok(None);
        };
        if queue.buf.is_empty() && queue.spilled > 0 {
            let Some(store) = self.store.as_mut() else {
                // Unreachable: a memory frontier never spills. Recover rather than panic.
                queue.spilled = 0;
                return Ok(None);
            };
            load_batch(store, &self.staged.queue_put, host, queue)?;
        }
        let Some((seq, url)) = queue.buf.pop_front() else {
            return Ok(None);
        };
        if queue.buf.is_empty() && queue.spilled == 0 {
            // Nothing of it left in memory or on disk: the map holds only hosts with work.
            self.hosts.remove(host);
        }
        self.queued_total -= 1;
        let hash = url_hash(&url.url);
        self.in_flight.insert(hash, seq);
        if self.store.is_some() {
            let key = (url.host.clone(), seq);
            if self.staged.queue_put.remove(&key).is_none() {
                self.staged.queue_del.push(key);
            }
            self.staged.in_flight_del.remove(&hash);
            self.staged.in_flight_put.insert(hash, encode_in_flight(seq, &url));
        }
        Ok(Some(url))
    }

    /// Marks the in-flight `url` done (fetched, or failed for good); returns `false` if it was
    /// not in flight (nothing changes then).
    pub fn complete(&mut self, url: &str) -> bool {
        let hash = url_hash(url);
        if self.in_flight.remove(&hash).is_none() {
            return false;
        }
        self.done += 1;
        if self.store.is_some() {
            self.unstage_in_flight(hash);
            self.staged.counters = true;
        }
        true
    }

    /// Puts the in-flight `url` back at the front of its host's queue (a retry after a 429 or
    /// 503 backoff); returns `false` if it was not in flight (nothing changes then: requeueing a
    /// URL that is not in flight would queue it twice).
    pub fn requeue(&mut self, url: QueuedUrl) -> bool {
        let hash = url_hash(&url.url);
        if self.in_flight.remove(&hash).is_none() {
            return false;
        }
        let seq = self.next_front;
        self.next_front = self.next_front.wrapping_sub(1);
        if self.store.is_some() {
            self.unstage_in_flight(hash);
            self.staged
                .queue_put
                .insert((url.host.clone(), seq), encode_entry(&url));
            self.staged.counters = true;
        }
        let queue = match self.hosts.get_mut(url.host.as_str()) {
            Some(queue) => queue,
            None => self.hosts.entry(url.host.clone()).or_default(),
        };
        // Front sequence numbers are below every back one, so this keeps `cursor` above the
        // buffer only when the buffer held nothing else.
        queue.cursor = queue.cursor.max(seq.wrapping_add(1));
        queue.buf.push_front((seq, url));
        self.queued_total += 1;
        true
    }

    fn unstage_in_flight(&mut self, hash: u64) {
        self.staged.in_flight_put.remove(&hash);
        // Deleting a row that was never committed is harmless, and tracking which were would
        // cost more than the delete.
        self.staged.in_flight_del.insert(hash);
    }

    /// Stores `value` under `key` for the crawler (an options fingerprint, counters, a
    /// trap-guard snapshot), committed with the next [`Frontier::commit`]. Meant for small
    /// values: all of them are kept in memory.
    pub fn set_meta(&mut self, key: &str, value: &[u8]) {
        self.meta.insert(key.to_owned(), value.to_vec());
        if self.store.is_some() {
            self.staged.meta.insert(key.to_owned());
        }
    }

    /// The value last set under `key`, committed or not.
    pub fn meta(&self, key: &str) -> Option<Vec<u8>> {
        self.meta.get(key).cloned()
    }

    /// Hosts with at least one queued URL, in no particular order.
    pub fn queued_hosts(&self) -> Vec<String> {
        self.hosts_with_work().map(str::to_owned).collect()
    }

    /// Like [`Frontier::queued_hosts`], without allocating.
    pub fn hosts_with_work(&self) -> impl Iterator<Item = &str> + '_ {
        self.hosts
            .iter()
            .filter(|(_, queue)| queue.len() > 0)
            .map(|(host, _)| host.as_str())
    }

    /// How many URLs of `host` are queued (in memory or on disk).
    pub fn queued_len(&self, host: &str) -> u64 {
        self.hosts.get(host).map_or(0, HostQueue::len)
    }

    /// How many URLs are queued over all hosts.
    pub fn queued_total(&self) -> u64 {
        self.queued_total
    }

    /// Sizes of the queue, the in-flight set, the seen-set and the done count.
    pub fn counts(&self) -> FrontierCounts {
        FrontierCounts {
            queued: self.queued_total,
            in_flight: self.in_flight.len() as u64,
            seen: self.seen.len() as u64,
            done: self.done,
        }
    }

    /// Whether anything is staged for the next [`Frontier::commit`].
    pub fn has_staged(&self) -> bool {
        !self.staged.is_empty()
    }

    /// Writes everything staged since the last commit in one write transaction, durable
    /// ([`Durability::Immediate`]: one fsync) when this returns. Nothing staged: nothing written.
    ///
    /// On error nothing was written and everything stays staged, so a later commit may retry.
    /// A [`Frontier::memory`] frontier has nothing to write.
    pub fn commit(&mut self) -> Result<(), FrontierError> {
        let Some(store) = self.store.as_mut() else {
            return Ok(());
        };
        if self.staged.is_empty() {
            return Ok(());
        }
        let staged = &self.staged;
        let (next_back, next_front, done, meta) = (self.next_back, self.next_front, self.done, &self.meta);
        let seen_row = self.next_seen_row;
        store.guarded("commit to", |db| {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            {
                if !staged.seen.is_empty() {
                    let row: Vec<u8> = staged.seen.iter().flat_map(|h| h.to_le_bytes()).collect();
                    txn.open_table(SEEN_LOG)?.insert(seen_row, row.as_slice())?;
                }
                let mut queue = txn.open_table(QUEUE)?;
                for (host, seq) in &staged.queue_del {
                    queue.remove((host.as_str(), *seq))?;
                }
                for ((host, seq), row) in &staged.queue_put {
                    queue.insert((host.as_str(), *seq), row.as_slice())?;
                }
                let mut in_flight = txn.open_table(IN_FLIGHT)?;
                for hash in &staged.in_flight_del {
                    in_flight.remove(*hash)?;
                }
                for (hash, row) in &staged.in_flight_put {
                    in_flight.insert(*hash, row.as_slice())?;
                }
                let mut meta_table = txn.open_table(META)?;
                for key in &staged.meta {
                    if let Some(value) = meta.get(key) {
                        meta_table.insert(key.as_str(), value.as_slice())?;
                    }
                }
                let mut counters = txn.open_table(COUNTERS)?;
                counters.insert(NEXT_BACK, next_back)?;
                counters.insert(NEXT_FRONT, next_front)?;
                counters.insert(DONE, done)?;
            }
            txn.commit()?;
            Ok(())
        })?;
        if !self.staged.seen.is_empty() {
            self.next_seen_row = self.next_seen_row.wrapping_add(1);
        }
        self.staged = Staged::default();
        Ok(())
    }
}

/// Everything [`Frontier::recover`] read.
#[derive(Default)]
struct Loaded {
    seen: HashSet<u64, PreHashed>,
    per_host: HashMap<String, u64>,
    meta: HashMap<String, Vec<u8>>,
    next_back: u64,
    next_front: u64,
    next_seen_row: u64,
    done: u64,
    requeued: u64,
}

/// Refills `queue`'s empty buffer with the next [`BUFFER_PER_HOST`] spilled URLs of `host`:
/// committed rows first, then staged ones (spilled offers not committed yet). Committed spilled
/// rows were all queued before the staged ones, so that is also sequence order.
fn load_batch(
    store: &mut Store,
    staged: &BTreeMap<(String, u64), Vec<u8>>,
    host: &str,
    queue: &mut HostQueue,
) -> Result<(), FrontierError> {
    let from = queue.cursor;
    let mut batch: Vec<(u64, QueuedUrl)> = store.guarded("read the queue of", |db| {
        let txn = db.begin_read()?;
        let table = txn.open_table(QUEUE)?;
        let mut batch = Vec::with_capacity(BUFFER_PER_HOST);
        for row in table.range((host, from)..=(host, u64::MAX))?.take(BUFFER_PER_HOST) {
            let (key, value) = row?;
            let seq = key.value().1;
            let entry = decode_entry(value.value())
                .ok_or_else(|| Failure::Damaged(format!("a queue row of {host} does not decode")))?;
            batch.push((seq, entry.to_queued(host)));
        }
        Ok(batch)
    })?;
    if batch.len() < BUFFER_PER_HOST {
        let rest = staged
            .range((host.to_owned(), from)..=(host.to_owned(), u64::MAX))
            .take(BUFFER_PER_HOST - batch.len());
        for ((_, seq), row) in rest {
            // Staged rows were encoded from a QueuedUrl by this process; a failure here would
            // be a bug, reported like damage rather than a panic.
            let entry = decode_entry(row).ok_or_else(|| FrontierError::Corrupt {
                path: store.path.clone(),
                detail: format!("a staged queue row of {host} does not decode"),
            })?;
            batch.push((*seq, entry.to_queued(host)));
        }
    }
    batch.sort_unstable_by_key(|(seq, _)| *seq);
    batch.truncate(usize::try_from(queue.spilled).unwrap_or(usize::MAX));
    let Some(&(last, _)) = batch.last() else {
        return Err(FrontierError::Corrupt {
            path: store.path.clone(),
            detail: format!("{} URLs of {host} are counted but none are stored", queue.spilled),
        });
    };
    queue.spilled -= batch.len() as u64;
    queue.cursor = last.wrapping_add(1);
    queue.buf.extend(batch);
    Ok(())
}
