//! The contracts riptide composes, and nothing else.
//!
//! Each optimization is a trait here with its backends in [`crate::backends`]; the cache, the pool
//! and the timeout policies are generic over these traits and never name a backend.

pub mod browser;
pub mod learning_store;
pub mod module_cache;
pub mod timeout;

pub use browser::{
    BrowserProvider, Isolation, PageRequest, RenderOptions, RenderProfile, RenderedPage, ResourceKind, WaitUntil,
};
/// The name [`LearningStore`] had while it seemed to hold timeout profiles alone; it also holds
/// the rendering evidence. Kept for one release.
#[deprecated(note = "renamed to `LearningStore`: it holds rendering evidence as well as timeout profiles")]
pub use learning_store::LearningStore as ProfileStore;
pub use learning_store::{LearningStore, MergeProfile, PartialSave, StoredEvidence, StoredProfile};
pub use module_cache::{
    ArtifactBody, ArtifactMeta, CacheKey, EntryInfo, GuestInstance, GuestLimits, ModuleCache, StoredArtifact,
    StoredCounters, WasmRuntime,
};

/// The module [`learning_store`] had as `profile_store`; kept for one release.
#[deprecated(note = "renamed to `traits::learning_store`")]
pub mod profile_store {
    pub use super::learning_store::*;
}
pub use timeout::{
    Engine, EngineTimeoutStats, FailureClass, Outcome, ProfileView, Target, TimeoutPolicy, TimeoutStats,
};
