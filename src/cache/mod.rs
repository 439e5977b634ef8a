//! The compile cache: compile a WebAssembly module once, reuse it in-process and across
//! processes.
//!
//! [`CompileCache`] joins any [`WasmRuntime`](crate::traits::WasmRuntime) with any
//! [`ModuleCache`](crate::traits::ModuleCache). A lookup is answered, fastest first, from the
//! in-process map of loaded modules, from the store (read, verify, deserialize), or by compiling
//! (then storing). Compiles of the same module are single-flight; a stored artifact that fails
//! verification is removed, counted and recompiled, never executed.

mod artifact;
mod compile_cache;
mod source;
mod stats;

pub use artifact::FORMAT_VERSION;
pub use compile_cache::{CacheOptions, CompileCache};
pub use source::{EXTRACTOR_WASM, ModuleSource};
pub use stats::CacheStats;
