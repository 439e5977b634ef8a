//! The persistent [`ModuleCache`]: artifacts as files, an index in redb.
//!
//! Why both: a fresh process loads an artifact from a plain file in about a millisecond (the
//! engine maps the file instead of copying it), while the same bytes inside redb cost ~4 ms
//! (measured), so artifact bodies stay files holding exactly the engine's bytes, written
//! atomically (temp file, fsync, rename) and named by key. redb keeps each artifact's
//! [`ArtifactMeta`] (key, engine fingerprint, length, digest, creation time) and the counters
//! every process adds to. Last use is the file's modification time, so a hit costs one
//! `futimens`, not a write transaction.
//!
//! Several processes may share one directory: the index is opened in redb's multi-writer mode.
//! If it cannot be opened at all (another program holds it exclusively), the store has no
//! metadata to verify artifacts with, so it serves nothing and stores nothing: every lookup
//! compiles, and extractions go on working. A damaged index is set aside and rebuilt. Nothing
//! here ever fails an extraction that a recompile could save.
//!
//! Layout of the directory (created 0700):
//! ```text
//! index.redb          artifact metadata and counters
//! artifacts/<key>.art one artifact body per key
//! ```

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{
    Builder, ConcurrencyMode, Database, DatabaseError, ReadOnlyDatabase, ReadableDatabase, ReadableTable, StorageError,
    TableDefinition,
};

mod damage;
mod learning_store;

pub use learning_store::RedbLearningStore;

/// [`RedbLearningStore`]'s name before the store was named for all it holds.
#[deprecated(note = "renamed to `RedbLearningStore`")]
pub type RedbProfileStore = RedbLearningStore;

use crate::error::{BoxError, Error, Result, StoreError};
use crate::traits::{ArtifactBody, ArtifactMeta, CacheKey, EntryInfo, ModuleCache, StoredArtifact, StoredCounters};

/// key -> [`ArtifactMeta::encode`].
const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("artifacts");
/// counter name -> value.
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");

const INDEX_FILE: &str = "index.redb";
const ARTIFACT_DIR: &str = "artifacts";
const ARTIFACT_EXT: &str = "art";

/// Artifacts in files under one directory, indexed by redb.
pub struct RedbModuleCache {
    dir: PathBuf,
    artifacts: PathBuf,
    index_path: PathBuf,
    /// A read-only handle, cheap to open (~60 µs against ~300–700 µs for a writable one): a
    /// fresh process that only hits never needs more. `None` if the index is missing, held
    /// exclusively, or was not shut down cleanly (only a writer repairs it).
    reader: Option<ReadOnlyDatabase>,
    /// The writable handle, opened on the first write (or at once when there is no reader).
    /// `Some(None)`: it could not be opened; the store then serves and stores nothing.
    writer: OnceLock<Option<Database>>,
    /// redb panicked on the index: it was set aside, and this store serves and stores nothing
    /// from then on (its handles are never used or dropped again).
    damaged: AtomicBool,
}

impl Drop for RedbModuleCache {
    fn drop(&mut self) {
        if self.damaged.load(Ordering::Acquire) {
            // Dropping a handle to a file redb panicked on could panic again.
            std::mem::forget(self.reader.take());
            std::mem::forget(self.writer.take());
        }
    }
}

impl std::fmt::Debug for RedbModuleCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbModuleCache")
            .field("dir", &self.dir)
            .field("has_index", &self.has_index())
            .finish()
    }
}

impl RedbModuleCache {
    /// Opens (or creates) the store in `dir`.
    ///
    /// Never fails on the directory: one that cannot be created or used (a file in the way, no
    /// permission) is logged once and the store degrades to compiling every lookup, as it does
    /// for an index that cannot be opened (see [`RedbModuleCache::has_index`]). Extraction works
    /// either way; only the cross-process reuse is lost. The `Result` is kept for future
    /// failures that leave nothing to degrade to.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let artifacts = dir.join(ARTIFACT_DIR);
        let index_path = dir.join(INDEX_FILE);
        let usable = create_private_dir(&dir, "create the cache directory")
            .and_then(|()| create_private_dir(&artifacts, "create the cache directory"));
        if let Err(e) = usable {
            tracing::warn!(error = %e, "the compile cache directory is unusable; {INDEX_FALLBACK}");
            return Ok(Self {
                dir,
                artifacts,
                index_path,
                reader: None,
                writer: OnceLock::from(None),
                damaged: AtomicBool::new(false),
            });
        }
        let reader = damage::contained(|| {
            Builder::new()
                .set_concurrency_mode(ConcurrencyMode::MultiWriter)
                .open_read_only(&index_path)
                .ok()
        })
        .unwrap_or_else(|panic| {
            // No handle came out of it; the writer below sets the file aside when it fails too.
            tracing::debug!(file = %index_path.display(), %panic, "the read-only open of the cache index failed");
            None
        });
        let writer = OnceLock::new();
        if reader.is_none() {
            let _ = writer.set(open_index(&index_path));
        }
        Ok(Self {
            dir,
            artifacts,
            index_path,
            reader,
            writer,
            damaged: AtomicBool::new(false),
        })
    }

    /// The directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the redb index is in use (`false`: degraded, every lookup compiles).
    pub fn has_index(&self) -> bool {
        !self.damaged.load(Ordering::Acquire)
            && (self.reader.is_some() || self.writer.get().is_some_and(Option::is_some))
    }

    /// Runs `f`, which uses the index, containing a panic inside redb: the index is then set
    /// aside and the store degrades to compiling every lookup.
    fn guarded<T>(&self, action: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        damage::contained(f).unwrap_or_else(|panic| {
            self.damaged.store(true, Ordering::Release);
            damage::set_aside(&self.index_path, "cache index", INDEX_FALLBACK, &panic);
            Err(self.store_err(action, format!("{panic}; the index was set aside")))
        })
    }

    fn begin_read(&self) -> Result<Option<redb::ReadTransaction>> {
        if self.damaged.load(Ordering::Acquire) {
            return Ok(None);
        }
        let txn = match (self.writer.get(), &self.reader) {
            (Some(Some(writer)), _) => writer.begin_read(),
            (_, Some(reader)) => reader.begin_read(),
            _ => return Ok(None),
        };
        txn.map(Some).map_err(|e| self.store_err("begin a read", e))
    }

    fn writer(&self) -> Option<&Database> {
        if self.damaged.load(Ordering::Acquire) {
            return None;
        }
        self.writer.get_or_init(|| open_index(&self.index_path)).as_ref()
    }

    /// The file an artifact lives in.
    pub fn artifact_path(&self, key: &CacheKey) -> PathBuf {
        self.artifacts.join(format!("{}.{ARTIFACT_EXT}", key.to_hex()))
    }

    fn store_err(&self, action: &'static str, e: impl Into<BoxError>) -> Error {
        StoreError::new(&self.index_path, action, e).into()
    }

    fn index_record(&self, key: &CacheKey) -> Result<Option<ArtifactMeta>> {
        self.guarded("read an entry", || {
            let Some(txn) = self.begin_read()? else { return Ok(None) };
            let table = match txn.open_table(ENTRIES) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(self.store_err("open the artifact table", e)),
            };
            let value = table
                .get(key.0.as_slice())
                .map_err(|e| self.store_err("read an entry", e))?;
            Ok(value.and_then(|v| ArtifactMeta::decode(v.value())))
        })
    }

    fn write_index(
        &self,
        action: &'static str,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>,
    ) -> Result<()> {
        self.guarded(action, || {
            let Some(db) = self.writer() else { return Ok(()) };
            let txn = db.begin_write().map_err(|e| self.store_err(action, e))?;
            f(&txn).map_err(|e| self.store_err(action, e))?;
            txn.commit().map_err(|e| self.store_err(action, e))
        })
    }
}

fn create_private_dir(dir: &Path, action: &'static str) -> Result<()> {
    crate::private_dir::ensure_private_dir(dir, action)
}

/// What a degraded store does instead, for the log line ("compiling without the cache").
const INDEX_FALLBACK: &str = "compiling without the cache";

/// Opens the redb file at `path` shared with other processes (multi-writer mode). A file held
/// exclusively by another program gives `None`; a damaged one is set aside as `*.damaged` and
/// replaced. `what` names the file and `fallback` what happens without it, for the log.
fn open_shared(path: &Path, what: &str, fallback: &str) -> Option<Database> {
    match open_shared_or_why(path, what, fallback) {
        Ok(db) => Some(db),
        Err(Unopened::ReadOnly(e)) => {
            tracing::warn!(file = %path.display(), error = %e, "{what} cannot be opened; {fallback}");
            None
        }
        Err(Unopened::Logged) => None,
    }
}

/// Why [`open_shared_or_why`] gave no handle.
enum Unopened {
    /// This process may not write the file or create it (permissions, a read-only file system):
    /// the file is intact and may still be read. Not logged: the caller decides what it means.
    ReadOnly(std::io::Error),
    /// Anything else (held by another program, damaged and not replaced), already logged.
    Logged,
}

/// [`open_shared`], saying why there is no handle.
fn open_shared_or_why(path: &Path, what: &str, fallback: &str) -> Result<Database, Unopened> {
    let open = || {
        Database::builder()
            .set_concurrency_mode(ConcurrencyMode::MultiWriter)
            .create(path)
    };
    let reopen = || {
        damage::contained(open)
            .unwrap_or_else(|panic| Err(DatabaseError::Storage(StorageError::Corrupted(panic))))
            .map_err(|e| {
                tracing::warn!(error = %e, "a new {what} could not be created; {fallback}");
                Unopened::Logged
            })
    };
    let opened = match damage::contained(open) {
        Ok(opened) => opened,
        Err(panic) => {
            if !damage::set_aside(path, what, fallback, &panic) {
                return Err(Unopened::Logged);
            }
            return reopen();
        }
    };
    match opened {
        Ok(db) => Ok(db),
        Err(DatabaseError::DatabaseAlreadyOpen) => {
            tracing::warn!(file = %path.display(), "{what} is held by another program; {fallback}");
            Err(Unopened::Logged)
        }
        Err(DatabaseError::Storage(StorageError::Io(e))) if is_read_only(&e) => {
            // Not damage: moving the file would lose what it holds for whoever can read it.
            Err(Unopened::ReadOnly(e))
        }
        Err(DatabaseError::Storage(StorageError::Io(e))) if !is_damage(&e) => {
            tracing::warn!(file = %path.display(), error = %e, "{what} cannot be opened; {fallback}");
            Err(Unopened::Logged)
        }
        Err(e) => {
            // A damaged file only costs what it held: set it aside and start a new one.
            if !damage::set_aside(path, what, fallback, &e) {
                return Err(Unopened::Logged);
            }
            reopen()
        }
    }
}

/// Whether an I/O error opening a store for writing says this process may not write there
/// (file modes, a read-only mount), rather than that the file is damaged or missing.
fn is_read_only(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
    )
}

/// Whether an I/O error opening a store says its bytes are bad (set it aside), rather than that
/// it cannot be reached (leave it where it is).
fn is_damage(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidInput
    )
}

fn open_index(path: &Path) -> Option<Database> {
    open_shared(path, "cache index", INDEX_FALLBACK)
}

const COUNTER_NAMES: [&str; 9] = [
    "hits",
    "misses",
    "compilations",
    "compile_micros",
    "loads",
    "load_micros",
    "invalid_entries",
    "evictions",
    "expirations",
];

fn counter_fields(c: &mut StoredCounters) -> [&mut u64; 9] {
    [
        &mut c.hits,
        &mut c.misses,
        &mut c.compilations,
        &mut c.compile_micros,
        &mut c.loads,
        &mut c.load_micros,
        &mut c.invalid_entries,
        &mut c.evictions,
        &mut c.expirations,
    ]
}

impl ModuleCache for RedbModuleCache {
    fn name(&self) -> &'static str {
        "redb"
    }

    fn load(&self, key: &CacheKey) -> Result<Option<StoredArtifact>> {
        // Without metadata an artifact cannot be verified, so it is not served.
        let Some(meta) = self.index_record(key)? else {
            return Ok(None);
        };
        let path = self.artifact_path(key);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("open the cached artifact", path, e)),
        };
        // LRU bookkeeping; losing it only makes eviction less precise.
        if let Err(e) = file.set_modified(SystemTime::now()) {
            tracing::debug!(path = %path.display(), error = %e, "could not mark artifact as used");
        }
        Ok(Some(StoredArtifact {
            meta,
            body: ArtifactBody::File { file, path },
        }))
    }

    fn store(&self, key: &CacheKey, meta: &ArtifactMeta, body: &[u8]) -> Result<()> {
        if self.writer().is_none() {
            // Unverifiable without the index; keep nothing rather than an orphan file.
            return Ok(());
        }
        let path = self.artifact_path(key);
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.artifacts)
            .map_err(|e| Error::io("create a temporary artifact in", &self.artifacts, e))?;
        tmp.write_all(body)
            .map_err(|e| Error::io("write a temporary artifact in", &self.artifacts, e))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io("flush a temporary artifact in", &self.artifacts, e))?;
        tmp.persist(&path)
            .map_err(|e| Error::io("move the new artifact to", &path, e.error))?;
        let record = meta.encode();
        self.write_index("record an artifact", |txn| {
            txn.open_table(ENTRIES)?.insert(key.0.as_slice(), record.as_slice())?;
            Ok(())
        })
    }

    fn remove(&self, key: &CacheKey) -> Result<()> {
        let path = self.artifact_path(key);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove the cached artifact", path, e)),
        }
        self.write_index("remove an artifact", |txn| {
            txn.open_table(ENTRIES)?.remove(key.0.as_slice())?;
            Ok(())
        })
    }

    fn entries(&self) -> Result<Vec<EntryInfo>> {
        // The files are the truth (a process without the index may have added some); the index
        // adds creation times.
        let listing = fs::read_dir(&self.artifacts).map_err(|e| Error::io("list", &self.artifacts, e))?;
        let mut out = Vec::new();
        for item in listing {
            let item = item.map_err(|e| Error::io("list", &self.artifacts, e))?;
            let path = item.path();
            let Some(key) = path
                .extension()
                .filter(|ext| *ext == ARTIFACT_EXT)
                .and_then(|_| path.file_stem()?.to_str())
                .and_then(CacheKey::from_hex)
            else {
                continue;
            };
            let Ok(meta) = item.metadata() else { continue };
            let last_used = meta.modified().unwrap_or(UNIX_EPOCH);
            let created = match self.index_record(&key)? {
                Some(meta) => UNIX_EPOCH + Duration::from_secs(meta.created_secs),
                None => last_used,
            };
            out.push(EntryInfo {
                key,
                size_bytes: meta.len(),
                created,
                last_used,
            });
        }
        Ok(out)
    }

    fn counters(&self) -> Result<StoredCounters> {
        self.guarded("read the counters", || {
            let mut out = StoredCounters::default();
            let Some(txn) = self.begin_read()? else { return Ok(out) };
            let table = match txn.open_table(COUNTERS) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(out),
                Err(e) => return Err(self.store_err("open the counter table", e)),
            };
            for (name, field) in COUNTER_NAMES.iter().zip(counter_fields(&mut out)) {
                if let Some(v) = table.get(*name).map_err(|e| self.store_err("read a counter", e))? {
                    *field = v.value();
                }
            }
            Ok(out)
        })
    }

    fn add_counters(&self, delta: &StoredCounters) -> Result<()> {
        let mut delta = *delta;
        self.write_index("update the counters", |txn| {
            let mut table = txn.open_table(COUNTERS)?;
            for (name, add) in COUNTER_NAMES.iter().zip(counter_fields(&mut delta)) {
                if *add == 0 {
                    continue;
                }
                let current = table.get(*name)?.map(|v| v.value()).unwrap_or(0);
                table.insert(*name, current.saturating_add(*add))?;
            }
            Ok(())
        })
    }
}
