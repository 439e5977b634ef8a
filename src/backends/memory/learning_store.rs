//! An in-memory [`LearningStore`]: what `AdaptiveTimeout` persists to without the `redb` feature
//! (profiles then last as long as the store value), and what tests share between two policies
//! to check a round trip.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::error::Result;
use crate::traits::{LearningStore, StoredEvidence, StoredProfile, Target};

/// Profiles held in this process's memory.
#[derive(Debug, Default)]
pub struct MemoryLearningStore {
    profiles: Mutex<BTreeMap<Target, StoredProfile>>,
    evidence: Mutex<BTreeMap<String, StoredEvidence>>,
}

impl MemoryLearningStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl LearningStore for MemoryLearningStore {
    fn load(&self) -> Result<Vec<StoredProfile>> {
        let profiles = crate::sync::lock(&self.profiles);
        Ok(profiles.values().cloned().collect())
    }

    fn save(&self, batch: &[StoredProfile]) -> Result<()> {
        let mut profiles = crate::sync::lock(&self.profiles);
        for p in batch {
            profiles.insert(p.target.clone(), p.clone());
        }
        Ok(())
    }

    fn remove(&self, targets: &[Target]) -> Result<()> {
        let mut profiles = crate::sync::lock(&self.profiles);
        for t in targets {
            profiles.remove(t);
        }
        Ok(())
    }

    fn load_evidence(&self) -> Result<Vec<StoredEvidence>> {
        Ok(crate::sync::lock(&self.evidence).values().cloned().collect())
    }

    fn save_evidence(&self, batch: &[StoredEvidence]) -> Result<()> {
        let mut evidence = crate::sync::lock(&self.evidence);
        for e in batch {
            evidence.insert(e.host.clone(), e.clone());
        }
        Ok(())
    }
}
