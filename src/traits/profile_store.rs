//! Where learned timeout profiles live between runs.
//!
//! A store keeps opaque, policy-encoded profiles by [`Target`]; the policy decides what a profile
//! holds and how old is too old. Stores are written by one background writer in batches, never
//! on the request path, and a store that fails is logged and worked around, never allowed to
//! fail a request.

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

/// Persistent storage for timeout profiles.
pub trait ProfileStore: Send + Sync {
    /// Every stored profile.
    fn load(&self) -> Result<Vec<StoredProfile>>;

    /// Inserts or replaces `profiles`, all at once or none.
    fn save(&self, profiles: &[StoredProfile]) -> Result<()>;

    /// Deletes the profiles of `targets` (missing ones are ignored).
    fn remove(&self, targets: &[Target]) -> Result<()>;
}

impl<S: ProfileStore + ?Sized> ProfileStore for std::sync::Arc<S> {
    fn load(&self) -> Result<Vec<StoredProfile>> {
        (**self).load()
    }

    fn save(&self, profiles: &[StoredProfile]) -> Result<()> {
        (**self).save(profiles)
    }

    fn remove(&self, targets: &[Target]) -> Result<()> {
        (**self).remove(targets)
    }
}
