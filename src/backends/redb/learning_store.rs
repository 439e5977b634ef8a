//! The persistent [`LearningStore`]: learned timeout profiles in one redb file
//! (`$RIPTIDE_HOME/timeouts.redb`).
//!
//! Opened in redb's multi-writer mode, so several riptide processes share one home. A file held
//! exclusively by another program, or one that cannot be created, leaves the store unavailable:
//! [`LearningStore::load`] and [`LearningStore::save`] return [`StoreError`] (the policy logs it,
//! starts unlearned and keeps its profiles for the next attempt), and every call tries to open the
//! file again. A damaged file is set aside as `timeouts.redb.damaged` and replaced.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{create_private_dir, damage, open_shared};
use crate::error::{BoxError, Error, Result, StoreError};
use crate::traits::{Engine, LearningStore, MergeProfile, StoredEvidence, StoredProfile, Target};

/// `"<engine>/<host>"` -> updated-at (u64 LE seconds since the epoch) followed by the profile.
const PROFILES: TableDefinition<&str, &[u8]> = TableDefinition::new("timeout_profiles");

/// `"<host>"` -> updated-at (u64 LE seconds since the epoch) followed by one byte per
/// escalation, oldest first (1: rendering added content).
const EVIDENCE: TableDefinition<&str, &[u8]> = TableDefinition::new("rendering_evidence");

/// Timeout profiles in a redb file.
#[derive(Debug)]
pub struct RedbLearningStore {
    path: PathBuf,
    db: Mutex<Option<Database>>,
}

impl RedbLearningStore {
    /// Opens (or creates) the store at `path`, creating its directory (0700).
    ///
    /// Fails only when the directory cannot be created; a file that cannot be opened now is
    /// retried on every load and save.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir, "create the timeout profile directory")?;
        }
        let db = open_shared(&path, "timeout profile store", FALLBACK);
        Ok(Self {
            path,
            db: Mutex::new(db),
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

    fn with_db<T>(&self, action: &'static str, f: impl FnOnce(&Database) -> Result<T, redb::Error>) -> Result<T> {
        let mut db = crate::sync::lock(&self.db);
        if db.is_none() {
            *db = open_shared(&self.path, "timeout profile store", FALLBACK);
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
                damage::set_aside(&self.path, "timeout profile store", FALLBACK, &panic);
                Err(self.error(action, format!("{panic}; the file was set aside")))
            }
        }
    }

    fn error(&self, action: &'static str, source: impl Into<BoxError>) -> Error {
        StoreError::new(&self.path, action, source).into()
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
    db: &Database,
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
        self.with_db("load timeout profiles", |db| read_rows(db, PROFILES, decode))
    }

    fn save(&self, profiles: &[StoredProfile]) -> Result<()> {
        self.with_db("save timeout profiles", |db| {
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
        self.with_db("save timeout profiles", |db| {
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
        self.with_db("load rendering evidence", |db| read_rows(db, EVIDENCE, decode_evidence))
    }

    fn save_evidence(&self, evidence: &[StoredEvidence]) -> Result<()> {
        self.with_db("save rendering evidence", |db| {
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
        self.with_db("remove timeout profiles", |db| {
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
