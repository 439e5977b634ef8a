//! [`NatsLearningStore`]: what workers learn about hosts (timeout profiles and rendering
//! evidence), shared through a NATS JetStream key-value bucket (feature `nats`).
//!
//! Why it exists: workers on many machines run the same hosts. Without it each learns every
//! host's timeout and need for a browser on its own, in its own home; with it a host learned by
//! one worker is used by all within seconds (issue 12, item 3).
//!
//! - **One key per profile**, written with compare-and-set: a save reads the key's record and
//!   revision, merges (the policy's merge: the record plus what this process learned since its
//!   base) and writes the result only if the revision is still the same
//!   (`Nats-Expected-Last-Subject-Sequence`), reading and merging again on a conflict. Workers
//!   saving the same host at once add up; none overwrites another.
//! - **Watched**: a watch on the bucket hands every record written (others', and this process's
//!   own) to [`LearningStore::take_changed_profiles`] and [`LearningStore::take_changed_evidence`]
//!   (the policy's profile writer and the executor's evidence writer ask every second).
//! - **Keys** are NATS subject tokens whatever the host is: `profile.static.<hex>`,
//!   `profile.headless.<hex>` and `evidence.<hex>`, where `<hex>` is the lower-case hex of the
//!   host's UTF-8 bytes as riptide keeps it (lower-case, without port) and `-` for an empty host.
//!   Ports, IDN, `*`, `>` and `.` in a host cannot make a key invalid or match another's.
//! - **Values**: a version byte (1), the update time (u64 LE seconds since the epoch), then the
//!   policy's encoding of the profile (`StoredProfile::data`) or one byte per escalation for
//!   evidence (as in the redb store). A record this version cannot read is skipped, never trusted.
//!
//! **The bucket on a 2.9 server.** async-nats 0.51's `create_key_value` first reads the account
//! (`$JS.API.INFO`) and fails to parse the answer of nats-server 2.9 (Debian's 2.9.10), which
//! lacks the `reserved_memory` and `reserved_storage` fields the client requires: the bucket is
//! never created. Its stream is therefore created here, with the settings `create_key_value`
//! uses (`KV_<bucket>` on `$KV.<bucket>.>`, one message per subject, rollups allowed, deletes
//! denied, direct gets, discard new), all of which 2.9 accepts; the bucket is then opened with
//! `get_key_value` and used through the client's key-value API (`entry`, `create`, `update` with
//! a revision, `watch_with_history`, `keys`). Newer servers and clients see an ordinary bucket.
//!
//! **Never in a request's way.** [`LearningStore`] is synchronous, and is called from the
//! profile writer's thread and from `AdaptiveTimeout::with_store` (perhaps inside a tokio
//! runtime, where `block_on` would panic). The store has its own one-thread runtime on its own
//! thread; each call hands it one operation and waits for the answer for at most
//! [`OPERATION_TIMEOUT`], after waiting at most [`CONNECT_WAIT`] for a connection. The client
//! connects in the background and reconnects by itself, so a server that is down when the
//! store opens, or goes away later, makes calls fail (the policy starts unlearned, the writer
//! keeps its profiles and retries) but never blocks for long; when it is back, the watch
//! delivers everything in the bucket and the policy catches up. (With `[queue] storage =
//! "memory"` a server restart loses the bucket, as it loses the queue's streams; the workers
//! make it again when they are restarted.)

use std::collections::HashMap;
use std::future::Future;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::{self, kv, stream};
use futures_util::{StreamExt, TryStreamExt};

use crate::config::{QueueConfig, QueueStorage};
use crate::error::{BoxError, Error, QueueError, Result};
use crate::traits::{Engine, LearningStore, MergeProfile, PartialSave, StoredEvidence, StoredProfile, Target};

/// The longest one operation (a read, a write, a listing of the keys) may take before the call
/// fails. JetStream's own request timeout is the same.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest a call waits for a connection to the server before it fails: long enough for a
/// first connection or a reconnection in progress, short enough that a server that is down
/// costs the writer little.
pub const CONNECT_WAIT: Duration = Duration::from_secs(2);

/// A save of many profiles stops (and reports how far it got) once it has taken this long; the
/// rest are saved at the writer's next flush.
const BATCH_BUDGET: Duration = Duration::from_secs(30);

/// Reads and writes of one key before a save gives up on conflicts (other processes writing it
/// between our read and our write each time).
const CAS_ATTEMPTS: u32 = 20;

/// How long the watch waits before it starts again after it failed or ended.
const WATCH_RETRY: Duration = Duration::from_secs(1);

/// Hosts longer than this (in bytes) are neither saved nor shared: their key would be longer
/// than a NATS subject may be. No DNS name comes close (253).
const MAX_HOST_BYTES: usize = 1024;

/// The first byte of every value.
const VALUE_VERSION: u8 = 1;

const PROFILE_PREFIX: &str = "profile.";
const EVIDENCE_PREFIX: &str = "evidence.";

/// Timeout profiles and rendering evidence in a NATS JetStream key-value bucket, shared by every
/// process that opens the same bucket on the same server.
pub struct NatsLearningStore {
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    /// Dropped with the store: its runtime thread then stops, and the watch with it.
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// [`NatsLearningStore`]'s name before the store was named for all it holds.
#[deprecated(note = "renamed to `NatsLearningStore`")]
pub type NatsProfileStore = NatsLearningStore;

impl std::fmt::Debug for NatsLearningStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsLearningStore")
            .field("url", &self.shared.url)
            .field("bucket", &self.shared.bucket)
            .finish_non_exhaustive()
    }
}

/// What the store's runtime and its callers share.
struct Shared {
    url: String,
    bucket: String,
    storage: QueueStorage,
    /// Whether the client is connected now, from its connect and disconnect events.
    connection: tokio::sync::watch::Receiver<bool>,
    jetstream: jetstream::Context,
    /// The bucket, once opened (and created if missing).
    store: tokio::sync::OnceCell<kv::Store>,
    /// Records the watch delivered that nobody has taken yet, the latest per key.
    changes: Mutex<Changes>,
}

#[derive(Default)]
struct Changes {
    profiles: HashMap<Target, StoredProfile>,
    evidence: HashMap<String, StoredEvidence>,
}

impl NatsLearningStore {
    /// The store in `config.learning_bucket` on the NATS server (or cluster, comma-separated)
    /// at `url`, kept on disk or in memory as `config.storage` says. The bucket is created on
    /// first use where it is missing.
    ///
    /// Fails only on a URL that cannot be a NATS address, or when the store's thread cannot
    /// start. A server that cannot be reached now is connected to in the background, for as long
    /// as the store lives: until then loads and saves fail (see the module's documentation).
    pub fn open(url: &str, config: &QueueConfig) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("start the runtime of the NATS profile store", "riptide-nats-kv", e))?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("riptide-nats-kv".into())
            .spawn(move || {
                // Runs the store's tasks until the store is dropped; the runtime, and every
                // task on it, is dropped here, on its own thread.
                let _ = runtime.block_on(stopped);
            })
            .map_err(|e| Error::io("start the thread of the NATS profile store", "riptide-nats-kv", e))?;
        let connect_error = |source: BoxError| {
            Error::from(QueueError::Connect {
                url: url.to_string(),
                source,
            })
        };
        let (tx, rx) = mpsc::sync_channel(1);
        let address = url.to_string();
        let (connection_tx, connection) = tokio::sync::watch::channel(false);
        let connection_tx = Arc::new(connection_tx);
        // Both spawn tasks of their own, so both are made on the store's runtime.
        handle.spawn(async move {
            let client = async_nats::ConnectOptions::new()
                .name("riptide-learning")
                .connection_timeout(OPERATION_TIMEOUT)
                .retry_on_initial_connect()
                .event_callback(move |event| {
                    let connection_tx = Arc::clone(&connection_tx);
                    async move {
                        match event {
                            async_nats::Event::Connected => connection_tx.send_replace(true),
                            async_nats::Event::Disconnected | async_nats::Event::Closed => {
                                connection_tx.send_replace(false)
                            }
                            _ => return,
                        };
                    }
                })
                .connect(address)
                .await
                .map(jetstream::new);
            let _ = tx.send(client);
        });
        let jetstream = match rx.recv_timeout(OPERATION_TIMEOUT) {
            Ok(client) => client.map_err(|e| connect_error(e.into()))?,
            Err(_) => return Err(connect_error("the connection could not be set up".into())),
        };
        let shared = Arc::new(Shared {
            url: url.to_string(),
            bucket: config.learning_bucket.clone(),
            storage: config.storage,
            jetstream,
            connection,
            store: tokio::sync::OnceCell::new(),
            changes: Mutex::new(Changes::default()),
        });
        handle.spawn(watch(Arc::clone(&shared)));
        Ok(Self {
            shared,
            runtime: handle,
            _stop: stop,
        })
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.shared.bucket
    }

    /// Runs `work` on the store's runtime, once connected, and waits for its answer for at most
    /// [`CONNECT_WAIT`] plus [`OPERATION_TIMEOUT`].
    fn block<T, F>(&self, action: &'static str, work: impl FnOnce(Arc<Shared>) -> F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = std::result::Result<T, BoxError>> + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        let shared = Arc::clone(&self.shared);
        let work = work(Arc::clone(&shared));
        self.runtime.spawn(async move {
            let result = async {
                if !connected(&shared.connection, CONNECT_WAIT).await {
                    return Err(BoxError::from(format!(
                        "not connected to NATS at {} (riptide keeps trying)",
                        shared.url
                    )));
                }
                tokio::time::timeout(OPERATION_TIMEOUT, work)
                    .await
                    .unwrap_or_else(|_| Err(format!("no answer within {OPERATION_TIMEOUT:?}").into()))
            };
            let _ = tx.send(result.await);
        });
        // A little longer than the task's own bounds, which answer first.
        match rx.recv_timeout(CONNECT_WAIT + OPERATION_TIMEOUT + Duration::from_secs(1)) {
            Ok(result) => result.map_err(|source| self.error(action, source)),
            Err(RecvTimeoutError::Timeout) => Err(self.error(action, "no answer in time".into())),
            Err(RecvTimeoutError::Disconnected) => Err(self.error(action, "the store's runtime has stopped".into())),
        }
    }

    /// The current record of every key `wanted` picks (deleted ones left out), fetched 32 at a
    /// time.
    fn entries(&self, action: &'static str, wanted: fn(&str) -> bool) -> Result<Vec<kv::Entry>> {
        let entries: Vec<Option<kv::Entry>> = self.block(action, move |s| async move {
            let store = s.store().await?;
            let keys: Vec<String> = store.keys().await?.try_collect().await?;
            let entries = futures_util::stream::iter(keys.into_iter().filter(|k| wanted(k)))
                .map(|key| {
                    let store = store.clone();
                    async move { store.entry(key).await }
                })
                .buffer_unordered(32)
                .try_collect()
                .await?;
            Ok(entries)
        })?;
        Ok(entries
            .into_iter()
            .flatten()
            .filter(|e| e.operation == kv::Operation::Put)
            .collect())
    }

    /// Writes `value` under `key`, whatever the bucket held there.
    fn put(&self, action: &'static str, key: String, value: Vec<u8>) -> Result<()> {
        self.block(action, |s| async move {
            s.store().await?.put(key, value.into()).await?;
            Ok(())
        })
    }

    fn error(&self, action: &'static str, source: BoxError) -> Error {
        QueueError::Bucket {
            bucket: self.shared.bucket.clone(),
            action,
            source,
        }
        .into()
    }

    /// Writes `ours` merged with the key's record, compare-and-set, reading and merging again
    /// when another process wrote the key in between.
    fn save_one(&self, key: &str, ours: &StoredProfile, merge: &MergeProfile<'_>) -> Result<()> {
        for _ in 0..CAS_ATTEMPTS {
            let owned = key.to_string();
            let entry = self.block("read a profile", |s| async move {
                let store = s.store().await?;
                Ok(store.entry(owned).await?)
            })?;
            // A deleted key's marker has a revision to write after, and no record.
            let (stored, revision) = match &entry {
                Some(e) if e.operation == kv::Operation::Put => {
                    (decode_profile(ours.target.clone(), &e.value), Some(e.revision))
                }
                Some(e) => (None, Some(e.revision)),
                None => (None, None),
            };
            let merged = merge(ours, stored.as_ref());
            let value = encode(merged.updated_at, &merged.data);
            let owned = key.to_string();
            let written = self.block("write a profile", |s| async move {
                let store = s.store().await?;
                let written = match revision {
                    Some(revision) => store.update(owned, value.into(), revision).await.map_err(|e| {
                        if e.kind() == kv::UpdateErrorKind::WrongLastRevision {
                            Conflict::Yes
                        } else {
                            Conflict::No(e.into())
                        }
                    }),
                    None => store.create(owned, value.into()).await.map_err(|e| {
                        if e.kind() == kv::CreateErrorKind::AlreadyExists {
                            Conflict::Yes
                        } else {
                            Conflict::No(e.into())
                        }
                    }),
                };
                Ok(written.map(|_| ()))
            })?;
            match written {
                Ok(()) => return Ok(()),
                Err(Conflict::Yes) => continue,
                Err(Conflict::No(e)) => return Err(self.error("write a profile", e)),
            }
        }
        Err(self.error(
            "write a profile",
            format!("other processes wrote it first {CAS_ATTEMPTS} times in a row").into(),
        ))
    }
}

/// The stream of key-value bucket `bucket` as the client's `create_key_value` would make it
/// (see the module's documentation for why riptide makes it itself): `KV_<bucket>` on
/// `$KV.<bucket>.>`, one message per key, rollups allowed, deletes denied, direct gets,
/// discard new. Set `max_age` on it for keys that expire (leases).
pub fn bucket_stream(bucket: &str, storage: QueueStorage, description: &str) -> stream::Config {
    stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        storage: match storage {
            QueueStorage::File => stream::StorageType::File,
            QueueStorage::Memory => stream::StorageType::Memory,
        },
        description: Some(description.into()),
        ..Default::default()
    }
}

/// Why a compare-and-set write did not happen.
enum Conflict {
    /// Another process wrote the key since it was read.
    Yes,
    /// Anything else.
    No(BoxError),
}

impl Shared {
    /// The bucket, opened on first use; its stream is created where it is missing (see the
    /// module's documentation for why not with `create_key_value`).
    async fn store(&self) -> std::result::Result<kv::Store, BoxError> {
        let store = self
            .store
            .get_or_try_init(|| async {
                let config = bucket_stream(
                    &self.bucket,
                    self.storage,
                    "riptide: timeout profiles and rendering evidence shared by workers",
                );
                self.jetstream.get_or_create_stream(config).await?;
                self.jetstream.get_key_value(&self.bucket).await.map_err(BoxError::from)
            })
            .await?;
        Ok(store.clone())
    }

    /// Keeps a record the watch delivered until it is taken (deletions and foreign keys are
    /// left out).
    fn note(&self, entry: kv::Entry) {
        if entry.operation != kv::Operation::Put {
            return;
        }
        let mut changes = crate::sync::lock(&self.changes);
        if let Some(target) = target_of(&entry.key) {
            if let Some(p) = decode_profile(target.clone(), &entry.value) {
                changes.profiles.insert(target, p);
            }
        } else if let Some(host) = evidence_host(&entry.key)
            && let Some(e) = decode_evidence(host.clone(), &entry.value)
        {
            changes.evidence.insert(host, e);
        }
    }
}

/// Whether the client is connected, waiting up to `wait` for its connect event.
async fn connected(connection: &tokio::sync::watch::Receiver<bool>, wait: Duration) -> bool {
    let mut connection = connection.clone();
    matches!(
        tokio::time::timeout(wait, connection.wait_for(|up| *up)).await,
        Ok(Ok(_))
    )
}

/// Watches the bucket for as long as the store lives: every record in it first, then every
/// record written. Started again (from everything in it) whenever it fails or ends, such as
/// after the server was away.
async fn watch(shared: Arc<Shared>) {
    let mut failing = false;
    loop {
        match watch_once(&shared, &mut failing).await {
            Ok(()) => {}
            Err(e) if !std::mem::replace(&mut failing, true) => {
                tracing::warn!(bucket = %shared.bucket, error = %e, "not hearing what other workers learn; retrying");
            }
            Err(e) => tracing::debug!(bucket = %shared.bucket, error = %e, "the learning bucket's watch failed again"),
        }
        tokio::time::sleep(WATCH_RETRY).await;
    }
}

async fn watch_once(shared: &Shared, failing: &mut bool) -> std::result::Result<(), BoxError> {
    shared
        .connection
        .clone()
        .wait_for(|up| *up)
        .await
        .map_err(|_| "the client is closed")?;
    let store = shared.store().await?;
    let mut entries = store.watch_with_history(">").await?;
    if std::mem::take(failing) {
        tracing::info!(bucket = %shared.bucket, "hearing what other workers learn again");
    }
    while let Some(entry) = entries.next().await {
        shared.note(entry?);
    }
    Ok(())
}

impl LearningStore for NatsLearningStore {
    fn load(&self) -> Result<Vec<StoredProfile>> {
        let entries = self.entries("read the profiles", |key| target_of(key).is_some())?;
        Ok(entries
            .into_iter()
            .filter_map(|e| decode_profile(target_of(&e.key)?, &e.value))
            .collect())
    }

    fn save(&self, profiles: &[StoredProfile]) -> Result<()> {
        for p in profiles {
            let Some(key) = profile_key(&p.target) else { continue };
            self.put("write a profile", key, encode(p.updated_at, &p.data))?;
        }
        Ok(())
    }

    fn remove(&self, targets: &[Target]) -> Result<()> {
        for t in targets {
            let Some(key) = profile_key(t) else { continue };
            self.block("delete a profile", |s| async move {
                s.store().await?.delete(key).await?;
                Ok(())
            })?;
        }
        Ok(())
    }

    fn save_merged(&self, profiles: &[StoredProfile], merge: &MergeProfile<'_>) -> Result<()> {
        self.save_merged_partly(profiles, merge).map_err(|p| p.error)
    }

    /// Writes each profile with its own compare-and-set, in order, and stops at the first that
    /// fails (the server is most likely away: the rest would wait for nothing), or once the batch
    /// has taken 30 s.
    fn save_merged_partly(
        &self,
        profiles: &[StoredProfile],
        merge: &MergeProfile<'_>,
    ) -> std::result::Result<(), PartialSave> {
        let started = Instant::now();
        for (written, ours) in profiles.iter().enumerate() {
            if started.elapsed() > BATCH_BUDGET {
                let error = self.error("write the profiles", "the batch took too long; the rest follow".into());
                return Err(PartialSave { written, error });
            }
            // A host too long for a key is learned here but not shared.
            let Some(key) = profile_key(&ours.target) else { continue };
            if let Err(error) = self.save_one(&key, ours, merge) {
                return Err(PartialSave { written, error });
            }
        }
        Ok(())
    }

    fn take_changed_profiles(&self) -> Vec<StoredProfile> {
        let mut changes = crate::sync::lock(&self.shared.changes);
        changes.profiles.drain().map(|(_, p)| p).collect()
    }

    fn take_changed_evidence(&self) -> Vec<StoredEvidence> {
        let mut changes = crate::sync::lock(&self.shared.changes);
        changes.evidence.drain().map(|(_, e)| e).collect()
    }

    fn load_evidence(&self) -> Result<Vec<StoredEvidence>> {
        let entries = self.entries("read the rendering evidence", |key| evidence_host(key).is_some())?;
        Ok(entries
            .into_iter()
            .filter_map(|e| decode_evidence(evidence_host(&e.key)?, &e.value))
            .collect())
    }

    /// Each host's evidence replaces what the bucket held (the latest escalations any worker
    /// saw; see `EngineChoice::Auto`).
    fn save_evidence(&self, evidence: &[StoredEvidence]) -> Result<()> {
        for e in evidence {
            let Some(key) = evidence_key(&e.host) else { continue };
            let recent: Vec<u8> = e.recent.iter().map(|&g| u8::from(g)).collect();
            self.put("write rendering evidence", key, encode(e.updated_at, &recent))?;
        }
        Ok(())
    }
}

/// `<version><u64 LE seconds><body>`.
fn encode(updated_at: SystemTime, body: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(9 + body.len());
    value.push(VALUE_VERSION);
    value.extend_from_slice(&crate::sync::unix_secs(updated_at).to_le_bytes());
    value.extend_from_slice(body);
    value
}

/// [`encode`]'s update time and body, or `None` for anything else.
fn decode(value: &[u8]) -> Option<(SystemTime, &[u8])> {
    let (&version, rest) = value.split_first()?;
    let (secs, body) = rest.split_first_chunk::<8>()?;
    (version == VALUE_VERSION).then(|| (UNIX_EPOCH + Duration::from_secs(u64::from_le_bytes(*secs)), body))
}

fn decode_profile(target: Target, value: &[u8]) -> Option<StoredProfile> {
    let (updated_at, data) = decode(value)?;
    Some(StoredProfile {
        target,
        updated_at,
        data: data.to_vec(),
    })
}

fn decode_evidence(host: String, value: &[u8]) -> Option<StoredEvidence> {
    let (updated_at, recent) = decode(value)?;
    Some(StoredEvidence {
        host,
        updated_at,
        recent: recent.iter().map(|b| *b != 0).collect(),
    })
}

/// A host as one subject token: the lower-case hex of its bytes (`-` for none); `None` when
/// longer than [`MAX_HOST_BYTES`].
fn host_token(host: &str) -> Option<String> {
    if host.len() > MAX_HOST_BYTES {
        return None;
    }
    if host.is_empty() {
        return Some("-".into());
    }
    Some(host.bytes().map(|b| format!("{b:02x}")).collect())
}

/// [`host_token`] read back.
fn host_of_token(token: &str) -> Option<String> {
    if token == "-" {
        return Some(String::new());
    }
    if token.is_empty() || !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

fn engine_token(engine: Engine) -> &'static str {
    match engine {
        Engine::Static => "static",
        Engine::Headless => "headless",
    }
}

/// `profile.<engine>.<host token>`.
fn profile_key(target: &Target) -> Option<String> {
    Some(format!(
        "{PROFILE_PREFIX}{}.{}",
        engine_token(target.engine),
        host_token(&target.host)?
    ))
}

fn target_of(key: &str) -> Option<Target> {
    let (engine, token) = key.strip_prefix(PROFILE_PREFIX)?.split_once('.')?;
    let engine = match engine {
        "static" => Engine::Static,
        "headless" => Engine::Headless,
        _ => return None,
    };
    // As it was given (`Target::new` would lower-case it): a key reads back as its target.
    Some(Target {
        host: host_of_token(token)?,
        engine,
    })
}

/// `evidence.<host token>`.
fn evidence_key(host: &str) -> Option<String> {
    Some(format!("{EVIDENCE_PREFIX}{}", host_token(host)?))
}

fn evidence_host(key: &str) -> Option<String> {
    host_of_token(key.strip_prefix(EVIDENCE_PREFIX)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_host_makes_a_valid_key_that_reads_back() {
        for host in [
            "example.com",
            "",
            "a.b.c",
            "*",
            ">",
            "bücher.example",
            "xn--bcher-kva.example",
            "host with space",
            "127.0.0.1",
            "[::1]",
        ] {
            for engine in [Engine::Static, Engine::Headless] {
                let target = Target {
                    host: host.to_string(),
                    engine,
                };
                let key = profile_key(&target).expect("a key");
                let valid = key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                assert!(valid && !key.ends_with('.'), "{key}");
                assert_eq!(target_of(&key), Some(target), "{key}");
            }
            let key = evidence_key(host).expect("a key");
            assert_eq!(evidence_host(&key).as_deref(), Some(host));
        }
        assert_eq!(
            profile_key(&Target::new("x".repeat(MAX_HOST_BYTES + 1), Engine::Static)),
            None
        );
    }

    #[test]
    fn foreign_keys_and_values_are_not_read() {
        for key in [
            "profile.static.zz",
            "profile.static.abc",
            "profile.other.61",
            "evidence.6",
            "other.61",
            "profile.static.",
        ] {
            assert_eq!(target_of(key), None, "{key}");
            assert_eq!(evidence_host(key), None, "{key}");
        }
        let t = Target::new("a", Engine::Static);
        assert!(decode_profile(t.clone(), b"").is_none());
        assert!(
            decode_profile(t.clone(), &[2, 0, 0, 0, 0, 0, 0, 0, 0]).is_none(),
            "another version"
        );
        assert!(decode_profile(t.clone(), &[1, 0, 0]).is_none(), "too short");
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let p = decode_profile(t.clone(), &encode(at, b"{}")).expect("reads back");
        assert_eq!((p.updated_at, p.data.as_slice()), (at, &b"{}"[..]));
    }
}
