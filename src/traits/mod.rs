//! The contracts riptide composes, and nothing else.
//!
//! Each optimization is a trait here with its backends in [`crate::backends`]; the cache, the pool
//! and the timeout policies are generic over these traits and never name a backend.

pub mod browser;
pub mod module_cache;
pub mod profile_store;
pub mod timeout;

pub use browser::{
    BrowserProvider, Isolation, PageRequest, RenderOptions, RenderProfile, RenderedPage, ResourceKind, WaitUntil,
};
pub use module_cache::{
    ArtifactBody, ArtifactMeta, CacheKey, EntryInfo, GuestInstance, GuestLimits, ModuleCache, StoredArtifact,
    StoredCounters, WasmRuntime,
};
pub use profile_store::{MergeProfile, PartialSave, ProfileStore, StoredEvidence, StoredProfile};
pub use timeout::{
    Engine, EngineTimeoutStats, FailureClass, Outcome, ProfileView, Target, TimeoutPolicy, TimeoutStats,
};
