//! The persistent [`LearningStore`]: learned timeout profiles in one redb file
//! (`$RIPTIDE_HOME/timeouts.redb`).
//!
//! Opened in redb's multi-writer mode, so several riptide processes share one home. A file held
//! exclusively by another program, or one that cannot be created, leaves the store unavailable:
//! [`LearningStore::load`] and [`LearningStore::save`] return [`StoreError`] (the policy logs it,
//! starts unlearned and keeps its profiles for the next attempt), and every call tries to open the
//! file again. A damaged file is set aside as `timeouts.redb.damaged` and replaced.
//!
//! A file this process may read but not write (file modes, a read-only mount, a home shared
//! from another account) is opened read-only: what it holds is used, and writes are skipped
//! with one warning, never an error, for the life of the store.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use redb::{Builder, ConcurrencyMode, Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable, TableDefinition};

use super::{Unopened, create_private_dir, damage, open_shared_or_why};
use crate::error::{BoxError, Error, Result, StoreError};
use crate::traits::{Engine, LearningStore, MergeProfile, StoredEvidence, StoredProfile, Target};

/// `"<engine>/<host>"` -> updated-at (u64 LE seconds since the epoch) followed by the profile.
const PROFILES: TableDefinition<&str, &[u8]> = TableDefinition::new("timeout_profiles");

/// `"<host>"` -> updated-at (u64 LE seconds since the epoch) followed by one byte per
/// escalation, oldest first (1: rendering added content).
const EVIDENCE: TableDefinition<&str, &[u8]> = TableDefinition::new("rendering_evidence");

const WHAT: &str = "timeout profile store";

/// Timeout profiles in a redb file.
#[derive(Debug)]
pub struct RedbLearningStore {
    path: PathBuf,
    db: Mutex<Option<Handle>>,
    /// Whether the warning that writes are skipped was given (once per store).
    warned_read_only: AtomicBool,
}

/// An open file.
enum Handle {
    Writable(Database),
    /// The file may be read but not written by this process.
    ReadOnly(ReadOnlyDatabase),
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handle::Writable(_) => "Writable",
            Handle::ReadOnly(_) => "ReadOnly",
        })
    }
}

impl Handle {
    fn readable(&self) -> &dyn ReadableDatabase {
        match self {
            Handle::Writable(db) => db,
            Handle::ReadOnly(db) => db,
        }
    }
}

impl RedbLearningStore {
    /// Opens (or creates) the store at `path`, creating its directory (0700).
    ///
    /// Fails only when the directory cannot be created; a file that cannot be opened now is
    /// retried on every load and save. A file that can be read but not written is opened
    /// read-only (see [`RedbLearningStore::is_read_only`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir, "create the timeout profile directory")?;
        }
        let db = open_handle(&path);
        Ok(Self {
            path,
            db: Mutex::new(db),
            warned_read_only: AtomicBool::new(false),
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file is open (`false`: held by another program; loads and saves fail).
    pub fn is_available(&self) -> bool {
        crate::sync::lock(&self.db).is_some()
    }

    /// Whether the file is open read-only because this process may not write it (file modes, a
    /// read-only file system): loads read it, saves and removals are skipped (logged once).
    pub fn is_read_only(&self) -> bool {
        matches!(*crate::sync::lock(&self.db), Some(Handle::ReadOnly(_)))
    }

    fn read<T>(
        &self,
        action: &'static str,
        f: impl FnOnce(&dyn ReadableDatabase) -> Result<T, redb::Error>,
    ) -> Result<T> {
        self.with_handle(action, |handle| f(handle.readable()))
    }

    /// Runs `f` on a writable file; on a read-only one, skips it (logging that once) and
    /// returns `Ok`: what was learned stays in memory, as the caller keeps it anyway.
    fn write(&self, action: &'static str, f: impl FnOnce(&Database) -> Result<(), redb::Error>) -> Result<()> {
        let written = self.with_handle(action, |handle| match handle {
            Handle::Writable(db) => f(db).map(|()| true),
            Handle::ReadOnly(_) => Ok(false),
        })?;
        if !written && !self.warned_read_only.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                file = %self.path.display(),
                "the timeout profile store is read-only to riptide: learned timeouts are read from it but \
                 what this run learns is not saved; make the file and its folder writable by this user, \
                 or use a writable home (--home or RIPTIDE_HOME)"
            );
        }
        Ok(())
    }

    fn with_handle<T>(&self, action: &'static str, f: impl FnOnce(&Handle) -> Result<T, redb::Error>) -> Result<T> {
        let mut db = crate::sync::lock(&self.db);
        if db.is_none() {
            *db = open_handle(&self.path);
        }
        let Some(handle) = db.as_ref() else {
            return Err(self.error(action, "the file is held by another program, or cannot be created"));
        };
        match damage::contained(|| f(handle)) {
            Ok(result) => result.map_err(|e| self.error(action, e)),
            Err(panic) => {
                // Never used or dropped again: its drop could run into the same damage. The
                // next call opens a new file.
                std::mem::forget(db.take());
                damage::set_aside(&self.path, WHAT, FALLBACK, &panic);
                Err(self.error(action, format!("{panic}; the file was set aside")))
            }
        }
    }

    fn error(&self, action: &'static str, source: impl Into<BoxError>) -> Error {
        StoreError::new(&self.path, action, source).into()
    }
}

/// Opens the file for reading and writing, else, when this process may not write it, for
/// reading alone. `None` (logged): neither.
fn open_handle(path: &Path) -> Option<Handle> {
    let cannot_write = match open_shared_or_why(path, WHAT, FALLBACK) {
        Ok(db) => return Some(Handle::Writable(db)),
        Err(Unopened::Logged) => return None,
        Err(Unopened::ReadOnly(e)) => e,
    };
    let read_only = damage::contained(|| {
        Builder::new()
            .set_concurrency_mode(ConcurrencyMode::MultiWriter)
            .open_read_only(path)
    });
    match read_only {
        Ok(Ok(db)) => {
            tracing::debug!(file = %path.display(), error = %cannot_write, "opened the {WHAT} read-only");
            Some(Handle::ReadOnly(db))
        }
        Ok(Err(e)) => {
            // Missing (a read-only folder where it was never written), or not shut down
            // cleanly (only a writer repairs it): there is nothing to use.
            tracing::warn!(file = %path.display(), error = %cannot_write, read_error = %e, "{WHAT} cannot be opened; {FALLBACK}");
            None
        }
        Err(panic) => {
            // Damaged, and this process may not set it aside: leave it to one that can.
            tracing::warn!(file = %path.display(), error = %panic, "{WHAT} is unreadable; {FALLBACK}");
            None
        }
    }
}

const FALLBACK: &str = "timeouts start unlearned and are kept in memory";

fn key_of(target: &Target) -> String {
    let engine = match target.engine {
        Engine::Static => "static",
        Engine::Headless => "headless",
    };
    format!("{engine}/{}", target.host)
}

fn target_of(key: &str) -> Option<Target> {
    let (engine, host) = key.split_once('/')?;
    let engine = match engine {
        "static" => Engine::Static,
        "headless" => Engine::Headless,
        _ => return None,
    };
    Some(Target::new(host, engine))
}

fn encode(p: &StoredProfile) -> Vec<u8> {
    let secs = crate::sync::unix_secs(p.updated_at);
    let mut value = Vec::with_capacity(8 + p.data.len());
    value.extend_from_slice(&secs.to_le_bytes());
    value.extend_from_slice(&p.data);
    value
}

fn decode(key: &str, value: &[u8]) -> Option<StoredProfile> {
    let (secs, data) = value.split_first_chunk::<8>()?;
    Some(StoredProfile {
        target: target_of(key)?,
        updated_at: UNIX_EPOCH + Duration::from_secs(u64::from_le_bytes(*secs)),
        data: data.to_vec(),
    })
}

fn decode_evidence(host: &str, value: &[u8]) -> Option<StoredEvidence> {
    let (secs, recent) = value.split_first_chunk::<8>()?;
    Some(StoredEvidence {
        host: host.to_string(),
        updated_at: UNIX_EPOCH + Duration::from_secs(u64::from_le_bytes(*secs)),
        recent: recent.iter().map(|b| *b != 0).collect(),
    })
}

/// Every row of `table` that `decode` can read (none if the table was never written). A record
/// this version cannot read is skipped, not fatal: what it held is learned again.
fn read_rows<T>(
    db: &dyn ReadableDatabase,
    table: TableDefinition<&str, &[u8]>,
    decode: impl Fn(&str, &[u8]) -> Option<T>,
) -> Result<Vec<T>, redb::Error> {
    let txn = db.begin_read()?;
    let table = match txn.open_table(table) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut rows = Vec::new();
    for row in table.iter()? {
        let (key, value) = row?;
        rows.extend(decode(key.value(), value.value()));
    }
    Ok(rows)
}

impl LearningStore for RedbLearningStore {
    fn load(&self) -> Result<Vec<StoredProfile>> {
        self.read("load timeout profiles", |db| read_rows(db, PROFILES, decode))
    }

    fn save(&self, profiles: &[StoredProfile]) -> Result<()> {
        self.write("save timeout profiles", |db| {
            let txn = db.begin_write()?;
            {
                let mut table = txn.open_table(PROFILES)?;
                for p in profiles {
                    table.insert(key_of(&p.target).as_str(), encode(p).as_slice())?;
                }
            }
            txn.commit()?;
            Ok(())
        })
    }

    fn save_merged(&self, profiles: &[StoredProfile], merge: &MergeProfile<'_>) -> Result<()> {
        // One write transaction: redb serializes writers across processes, so no other
        // process's save can land between reading a record and writing its merge.
        self.write("save timeout profiles", |db| {
            let txn = db.begin_write()?;
            {
                let mut table = txn.open_table(PROFILES)?;
                for ours in profiles {
                    let key = key_of(&ours.target);
                    let stored = table.get(key.as_str())?.and_then(|v| decode(&key, v.value()));
                    let merged = merge(ours, stored.as_ref());
                    table.insert(key.as_str(), encode(&merged).as_slice())?;
                }
            }
            txn.commit()?;
            Ok(())
        })
    }

    fn load_evidence(&self) -> Result<Vec<StoredEvidence>> {
        self.read("load rendering evidence", |db| read_rows(db, EVIDENCE, decode_evidence))
    }

    fn save_evidence(&self, evidence: &[StoredEvidence]) -> Result<()> {
        self.write("save rendering evidence", |db| {
            let txn = db.begin_write()?;
            {
                let mut table = txn.open_table(EVIDENCE)?;
                for e in evidence {
                    let mut value = crate::sync::unix_secs(e.updated_at).to_le_bytes().to_vec();
                    value.extend(e.recent.iter().map(|g| u8::from(*g)));
                    table.insert(e.host.as_str(), value.as_slice())?;
                }
            }
            txn.commit()?;
            Ok(())
        })
    }

    fn remove(&self, targets: &[Target]) -> Result<()> {
        self.write("remove timeout profiles", |db| {
            let txn = db.begin_write()?;
            {
                let mut table = txn.open_table(PROFILES)?;
                for t in targets {
                    table.remove(key_of(t).as_str())?;
                }
            }
            txn.commit()?;
            Ok(())
        })
    }
}
