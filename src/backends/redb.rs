//! The persistent [`ModuleCache`]: artifacts as files, an index in redb.
//!
//! Why both: a fresh process loads an artifact from a plain file in about a millisecond, while the
//! same bytes inside redb cost ~4 ms (measured), so artifacts stay files, written atomically (temp
//! file, fsync, rename) and named by key. redb keeps what must not live in the artifact alone: a
//! second record of each artifact's digest, its creation time, and the counters every process
//! adds to. Last use is the file's modification time, so a hit costs one `futimens`, not a write
//! transaction.
//!
//! Several processes may share one directory: the index is opened in redb's multi-writer mode.
//! If it cannot be opened at all (another program holds it exclusively, or it is damaged), the
//! store logs why and keeps working from the files alone; a damaged index is set aside and
//! rebuilt. Nothing here ever fails an extraction that a recompile could save.
//!
//! Layout of the directory (created 0700):
//! ```text
//! index.redb          entries (key -> size, created, digest) and counters
//! artifacts/<key>.art one artifact per key
//! ```

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{ConcurrencyMode, Database, DatabaseError, ReadableDatabase, ReadableTable, TableDefinition};

use crate::error::{Error, Result};
use crate::traits::{CacheKey, EntryInfo, ModuleCache, StoredCounters};

/// key -> 48 bytes: size (u64 LE), created unix secs (u64 LE), digest of the compiled code.
const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("artifacts");
/// counter name -> value.
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");

const INDEX_FILE: &str = "index.redb";
const ARTIFACT_DIR: &str = "artifacts";
const ARTIFACT_EXT: &str = "art";

/// Artifacts in files under one directory, indexed by redb.
#[derive(Debug)]
pub struct RedbStore {
    dir: PathBuf,
    artifacts: PathBuf,
    index_path: PathBuf,
    /// `None` when the index could not be opened: the store then works from the files alone.
    index: Option<Database>,
}

impl RedbStore {
    /// Opens (or creates) the store in `dir`.
    ///
    /// Fails only when the directory itself cannot be created; an index that cannot be opened
    /// degrades the store to files-only (see [`RedbStore::has_index`]).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let artifacts = dir.join(ARTIFACT_DIR);
        create_private_dir(&dir)?;
        create_private_dir(&artifacts)?;
        let index_path = dir.join(INDEX_FILE);
        let index = open_index(&index_path);
        Ok(Self {
            dir,
            artifacts,
            index_path,
            index,
        })
    }

    /// The directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the redb index is in use (`false`: degraded to files only).
    pub fn has_index(&self) -> bool {
        self.index.is_some()
    }

    /// The file an artifact lives in.
    pub fn artifact_path(&self, key: &CacheKey) -> PathBuf {
        self.artifacts.join(format!("{}.{ARTIFACT_EXT}", key.to_hex()))
    }

    fn store_err(&self, action: &'static str, e: impl std::fmt::Display) -> Error {
        Error::Store {
            path: self.index_path.clone(),
            action,
            reason: e.to_string(),
        }
    }

    fn index_record(&self, key: &CacheKey) -> Result<Option<IndexRecord>> {
        let Some(db) = &self.index else { return Ok(None) };
        let txn = db.begin_read().map_err(|e| self.store_err("begin a read", e))?;
        let table = match txn.open_table(ENTRIES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.store_err("open the artifact table", e)),
        };
        let value = table
            .get(key.0.as_slice())
            .map_err(|e| self.store_err("read an entry", e))?;
        Ok(value.and_then(|v| IndexRecord::decode(v.value())))
    }

    fn write_index(
        &self,
        action: &'static str,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>,
    ) -> Result<()> {
        let Some(db) = &self.index else { return Ok(()) };
        let txn = db.begin_write().map_err(|e| self.store_err(action, e))?;
        f(&txn).map_err(|e| self.store_err(action, e))?;
        txn.commit().map_err(|e| self.store_err(action, e))
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| Error::io("create the cache directory", dir, e))
}

fn open_index(path: &Path) -> Option<Database> {
    let open = || {
        Database::builder()
            .set_concurrency_mode(ConcurrencyMode::MultiWriter)
            .create(path)
    };
    match open() {
        Ok(db) => Some(db),
        Err(DatabaseError::DatabaseAlreadyOpen) => {
            tracing::warn!(index = %path.display(), "cache index is held by another program; using artifact files without the index");
            None
        }
        Err(e) => {
            // A damaged index only costs metadata: set it aside and start a new one.
            let aside = path.with_extension("redb.damaged");
            tracing::warn!(index = %path.display(), error = %e, "cache index is unreadable; moving it to {} and starting afresh", aside.display());
            if fs::rename(path, &aside).is_err() {
                return None;
            }
            open()
                .map_err(|e| tracing::warn!(error = %e, "new cache index could not be created; using files only"))
                .ok()
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct IndexRecord {
    size: u64,
    created_secs: u64,
    digest: [u8; 32],
}

impl IndexRecord {
    fn encode(&self) -> [u8; 48] {
        let mut out = [0u8; 48];
        out[..8].copy_from_slice(&self.size.to_le_bytes());
        out[8..16].copy_from_slice(&self.created_secs.to_le_bytes());
        out[16..].copy_from_slice(&self.digest);
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; 48] = bytes.try_into().ok()?;
        let (size, rest) = bytes.split_first_chunk::<8>()?;
        let (created, digest) = rest.split_first_chunk::<8>()?;
        Some(Self {
            size: u64::from_le_bytes(*size),
            created_secs: u64::from_le_bytes(*created),
            digest: digest.try_into().ok()?,
        })
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
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

impl ModuleCache for RedbStore {
    fn name(&self) -> &'static str {
        "redb"
    }

    fn load(&self, key: &CacheKey) -> Result<Option<Vec<u8>>> {
        let path = self.artifact_path(key);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("open the cached artifact", path, e)),
        };
        let mut bytes = Vec::with_capacity(file.metadata().map(|m| m.len() as usize).unwrap_or(0));
        file.read_to_end(&mut bytes)
            .map_err(|e| Error::io("read the cached artifact", &path, e))?;
        // LRU bookkeeping; losing it only makes eviction less precise.
        if let Err(e) = file.set_modified(SystemTime::now()) {
            tracing::debug!(path = %path.display(), error = %e, "could not mark artifact as used");
        }
        Ok(Some(bytes))
    }

    fn recorded_digest(&self, key: &CacheKey) -> Result<Option<[u8; 32]>> {
        Ok(self.index_record(key)?.map(|r| r.digest))
    }

    fn store(&self, key: &CacheKey, artifact: &[u8], digest: [u8; 32]) -> Result<()> {
        let path = self.artifact_path(key);
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.artifacts)
            .map_err(|e| Error::io("create a temporary artifact in", &self.artifacts, e))?;
        tmp.write_all(artifact)
            .map_err(|e| Error::io("write a temporary artifact in", &self.artifacts, e))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io("flush a temporary artifact in", &self.artifacts, e))?;
        tmp.persist(&path)
            .map_err(|e| Error::io("move the new artifact to", &path, e.error))?;
        let record = IndexRecord {
            size: artifact.len() as u64,
            created_secs: unix_secs(SystemTime::now()),
            digest,
        };
        self.write_index("record an artifact", |txn| {
            txn.open_table(ENTRIES)?
                .insert(key.0.as_slice(), record.encode().as_slice())?;
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
                Some(r) => UNIX_EPOCH + Duration::from_secs(r.created_secs),
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
        let mut out = StoredCounters::default();
        let Some(db) = &self.index else { return Ok(out) };
        let txn = db.begin_read().map_err(|e| self.store_err("begin a read", e))?;
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
