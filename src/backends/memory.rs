//! An in-memory [`ModuleCache`]: always built, for tests, for `aot_enabled = false`, and for
//! builds without the `redb` feature. Nothing survives the process. Its sibling for timeout
//! profiles is [`MemoryLearningStore`].

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

mod learning_store;

pub use learning_store::MemoryLearningStore;

/// [`MemoryLearningStore`]'s name before the store was named for all it holds.
#[deprecated(note = "renamed to `MemoryLearningStore`")]
pub type MemoryProfileStore = MemoryLearningStore;

use crate::error::Result;
use crate::traits::{ArtifactBody, ArtifactMeta, CacheKey, EntryInfo, ModuleCache, StoredArtifact, StoredCounters};

/// Artifacts and counters held in this process's memory.
#[derive(Debug, Default)]
pub struct MemoryModuleCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<CacheKey, Entry>,
    counters: StoredCounters,
}

#[derive(Debug)]
struct Entry {
    meta: ArtifactMeta,
    artifact: Vec<u8>,
    created: SystemTime,
    last_used: SystemTime,
}

impl MemoryModuleCache {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map stays consistent under every panic point (single inserts and removes), so a
        // poisoned lock is still safe to use.
        crate::sync::lock(&self.inner)
    }

    /// Replaces the stored bytes of `key` without touching its metadata: a fault-injection hook
    /// for tests of the cache's verification.
    #[doc(hidden)]
    pub fn corrupt(&self, key: &CacheKey, f: impl FnOnce(&mut Vec<u8>)) {
        if let Some(entry) = self.lock().entries.get_mut(key) {
            f(&mut entry.artifact);
        }
    }
}

impl ModuleCache for MemoryModuleCache {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn load(&self, key: &CacheKey) -> Result<Option<StoredArtifact>> {
        let mut inner = self.lock();
        Ok(inner.entries.get_mut(key).map(|e| {
            e.last_used = SystemTime::now();
            StoredArtifact {
                meta: e.meta,
                body: ArtifactBody::Bytes(e.artifact.clone()),
            }
        }))
    }

    fn store(&self, key: &CacheKey, meta: &ArtifactMeta, body: &[u8]) -> Result<()> {
        let now = SystemTime::now();
        let entry = Entry {
            meta: *meta,
            artifact: body.to_vec(),
            created: now,
            last_used: now,
        };
        self.lock().entries.insert(*key, entry);
        Ok(())
    }

    fn remove(&self, key: &CacheKey) -> Result<()> {
        self.lock().entries.remove(key);
        Ok(())
    }

    fn entries(&self) -> Result<Vec<EntryInfo>> {
        Ok(self
            .lock()
            .entries
            .iter()
            .map(|(key, e)| EntryInfo {
                key: *key,
                size_bytes: e.artifact.len() as u64,
                created: e.created,
                last_used: e.last_used,
            })
            .collect())
    }

    fn counters(&self) -> Result<StoredCounters> {
        Ok(self.lock().counters)
    }

    fn add_counters(&self, delta: &StoredCounters) -> Result<()> {
        self.lock().counters.add(delta);
        Ok(())
    }
}
