//! The contracts riptide composes, and nothing else.
//!
//! Each optimization is a trait here with its backends in [`crate::backends`]; the cache (and
//! later the pool and executor) are generic over these traits and never name a backend.

pub mod browser;
pub mod module_cache;
pub mod timeout;

pub use browser::{BrowserProvider, PageRequest};
pub use module_cache::{
    ArtifactBody, ArtifactMeta, CacheKey, EntryInfo, GuestInstance, GuestLimits, ModuleCache, StoredArtifact,
    StoredCounters, WasmRuntime,
};
pub use timeout::{EngineKind, FailureClass, Outcome, Target, TimeoutPolicy};
