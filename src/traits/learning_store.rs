//! Where what riptide learns about hosts lives between runs: timeout profiles, and the rendering
//! evidence behind `EngineChoice::Auto`.
//!
//! A store keeps opaque, policy-encoded profiles by [`Target`]; the policy decides what a profile
//! holds and how old is too old. Rendering evidence ([`StoredEvidence`]) is kept beside them.
//! Stores are written by one background writer in batches, never on the request path, and a
//! store that fails is logged and worked around, never allowed to fail a request.
//!
//! A store several processes share while they run (a NATS key-value bucket) can also tell each
//! of them what the others wrote ([`LearningStore::take_changed_profiles`],
//! [`LearningStore::take_changed_evidence`]), so that what one process learns about a host is
//! used by the others within seconds, not only after their next start.

use std::time::SystemTime;

use crate::error::Result;
use crate::traits::timeout::Target;

/// One persisted profile.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredProfile {
    /// Whose profile it is.
    pub target: Target,
    /// When it was last updated.
    pub updated_at: SystemTime,
    /// The policy's encoding of the profile.
    pub data: Vec<u8>,
}

/// What a host's latest escalations to a render showed (see `EngineChoice::Auto`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvidence {
    /// The host.
    pub host: String,
    /// When it was last updated.
    pub updated_at: SystemTime,
    /// Oldest first: did rendering add content to the static fetch?
    pub recent: Vec<bool>,
}

/// Persistent storage for what riptide learns about hosts: timeout profiles and rendering
/// evidence. (Named `ProfileStore` before it was named for both; the old name is a deprecated
/// re-export for one release.)
pub trait LearningStore: Send + Sync {
    /// Every stored profile.
    fn load(&self) -> Result<Vec<StoredProfile>>;

    /// Inserts or replaces `profiles`, all at once or none.
    fn save(&self, profiles: &[StoredProfile]) -> Result<()>;

    /// Deletes the profiles of `targets` (missing ones are ignored).
    fn remove(&self, targets: &[Target]) -> Result<()>;

    /// Writes each of `profiles` combined with what the store holds for its target now:
    /// `merge(ours, stored)` returns the record to write. Several processes sharing a store
    /// then add to each other's learning instead of the last writer's overwriting the rest.
    ///
    /// Stores shared between processes must do this in one transaction (as
    /// [`RedbLearningStore`](crate::backends::redb::RedbLearningStore) does). The default loads,
    /// merges and saves, which is right for a store one process uses.
    fn save_merged(&self, profiles: &[StoredProfile], merge: &MergeProfile<'_>) -> Result<()> {
        let mut stored: std::collections::HashMap<Target, StoredProfile> =
            self.load()?.into_iter().map(|p| (p.target.clone(), p)).collect();
        let merged: Vec<StoredProfile> = profiles
            .iter()
            .map(|ours| merge(ours, stored.remove(&ours.target).as_ref()))
            .collect();
        self.save(&merged)
    }

    /// [`save_merged`](Self::save_merged) for a caller that retries what failed, such as the
    /// background writer: on failure it also says how many of `profiles`, from the first, were
    /// written. A caller must not merge those again, which would count what they added twice.
    ///
    /// A store that writes a batch in one transaction keeps the default: all or none
    /// (`written: 0` on failure). A store that writes record by record (a NATS key-value
    /// bucket, which has no transactions over several keys) writes them in order and stops at
    /// the first failure.
    fn save_merged_partly(
        &self,
        profiles: &[StoredProfile],
        merge: &MergeProfile<'_>,
    ) -> std::result::Result<(), PartialSave> {
        self.save_merged(profiles, merge)
            .map_err(|error| PartialSave { written: 0, error })
    }

    /// The latest record of every profile that another process sharing this store wrote since
    /// the last call (at most one per target; this process's own writes may be among them).
    /// Must not block: a store that hears about changes keeps them until asked. Default: none,
    /// for a store read only at start (a file).
    fn take_changed_profiles(&self) -> Vec<StoredProfile> {
        Vec::new()
    }

    /// The same for rendering evidence. Default: none.
    fn take_changed_evidence(&self) -> Vec<StoredEvidence> {
        Vec::new()
    }

    /// Every host's stored rendering evidence. Default: none (a store that keeps profiles only).
    fn load_evidence(&self) -> Result<Vec<StoredEvidence>> {
        Ok(Vec::new())
    }

    /// Inserts or replaces hosts' rendering evidence. Default: nothing is kept.
    fn save_evidence(&self, evidence: &[StoredEvidence]) -> Result<()> {
        let _ = evidence;
        Ok(())
    }
}

/// How [`LearningStore::save_merged_partly`] failed: the first `written` profiles were written
/// before `error`, the rest were not.
#[derive(Debug)]
pub struct PartialSave {
    /// How many profiles, from the first, were written.
    pub written: usize,
    /// Why the next one was not.
    pub error: crate::error::Error,
}

/// How [`LearningStore::save_merged`] combines a profile about to be written (`ours`) with the
/// one the store holds for the same target (`stored`, if any).
pub type MergeProfile<'a> = dyn Fn(&StoredProfile, Option<&StoredProfile>) -> StoredProfile + 'a;

impl<S: LearningStore + ?Sized> LearningStore for std::sync::Arc<S> {
    fn load(&self) -> Result<Vec<StoredProfile>> {
        (**self).load()
    }

    fn save(&self, profiles: &[StoredProfile]) -> Result<()> {
        (**self).save(profiles)
    }

    fn remove(&self, targets: &[Target]) -> Result<()> {
        (**self).remove(targets)
    }

    fn save_merged(&self, profiles: &[StoredProfile], merge: &MergeProfile<'_>) -> Result<()> {
        (**self).save_merged(profiles, merge)
    }

    fn save_merged_partly(
        &self,
        profiles: &[StoredProfile],
        merge: &MergeProfile<'_>,
    ) -> std::result::Result<(), PartialSave> {
        (**self).save_merged_partly(profiles, merge)
    }

    fn take_changed_profiles(&self) -> Vec<StoredProfile> {
        (**self).take_changed_profiles()
    }

    fn take_changed_evidence(&self) -> Vec<StoredEvidence> {
        (**self).take_changed_evidence()
    }

    fn load_evidence(&self) -> Result<Vec<StoredEvidence>> {
        (**self).load_evidence()
    }

    fn save_evidence(&self, evidence: &[StoredEvidence]) -> Result<()> {
        (**self).save_evidence(evidence)
    }
}
