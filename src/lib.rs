//! riptide makes web content extraction fast by keeping the expensive things warm.
//!
//! Three optimizations, each behind a trait with backends chosen by Cargo features, composed by
//! one generic executor:
//!
//! 1. **WASM AOT module cache** ([`cache::CompileCache`] over a [`traits::WasmRuntime`] and a
//!    [`traits::ModuleCache`]): the HTML extractor in `wasm/` is compiled once and reused,
//!    in-process and across processes from disk.
//! 2. **Browser pool** ([`pool::BrowserPool`] over a [`traits::BrowserProvider`]): pre-warmed
//!    headless Chromium with health checks, recycling and bounded waiting.
//! 3. **Adaptive timeouts** ([`traits::TimeoutPolicy`], [`policies`]): per-target timeouts
//!    learned from latencies ([`policies::AdaptiveTimeout`]) and retries with escalation, a
//!    retry budget and circuit breakers ([`policies::Retrier`]); learned profiles persist
//!    through a [`traits::LearningStore`], and [`policies::simulate`] compares policies on
//!    simulated crawls.
//!
//! [`Executor`] composes the three: `extract(url)` fetches statically (or renders headless when
//! the page needs JavaScript) under the learned deadline with retries, then runs the extractor.
//! [`Stack`] builds the executor a configuration describes, as the CLI, the server and the
//! workers do; [`Executor::builder`] composes parts by hand.
//!
//! # Quick start
//!
//! ```no_run
//! # #[cfg(all(feature = "wasmtime", feature = "redb"))]
//! # fn main() -> riptide::Result<()> {
//! use riptide::{ModuleSource, RiptideConfig, Stack};
//!
//! let config = RiptideConfig::load()?;
//! let cache = Stack::from_config(&config).compile_cache()?; // wasmtime + redb under ~/.riptide/wasm-cache
//! let page = cache.extract(ModuleSource::extractor(), "<title>Hi</title><p>Hello</p>", None)?;
//! assert_eq!(page.title.as_deref(), Some("Hi"));
//! # Ok(())
//! # }
//! # #[cfg(not(all(feature = "wasmtime", feature = "redb")))]
//! # fn main() {}
//! ```
//!
//! # Features
//!
//! | feature    | default | what it adds                                              |
//! |------------|---------|-----------------------------------------------------------|
//! | `wasmtime` | yes     | [`backends::wasmtime::WasmtimeRuntime`]                   |
//! | `wasmer`   | no      | [`backends::wasmer::WasmerRuntime`] (Cranelift, metering) |
//! | `redb`     | yes     | [`backends::redb::RedbModuleCache`]: artifacts on disk          |
//! | `chromiumoxide` | yes | [`backends::chromiumoxide::ChromiumoxideProvider`]: local Chromium (four pooled browsers per process) or remote endpoints, over async DevTools |
//! | `chrome`   | no      | `backends::chrome::ChromeProvider`: the same browsers over headless_chrome |
//! | `rustls`   | yes     | HTTPS for the static engine (reqwest + rustls)            |
//! | `server`   | yes     | [`server::Server`]: one executor behind HTTP (axum)        |
//! | `crawl`    | yes (via `cli`) | [`crawl`]: the Spider engine, a polite, resumable site crawler (robots.txt, sitemaps, per-host limits) |
//! | `nats`     | no      | `queue`: a NATS JetStream work queue (`riptide submit`, `worker`, `queue status`); `backends::nats_kv::NatsLearningStore`: learning shared through a key-value bucket |
//! | `cli`      | yes     | the `riptide` binary (clap, indicatif, tracing-subscriber); turns on `wasmtime`, `redb`, `chromiumoxide`, `server`, `crawl` |
//!
//! Without `redb`, [`backends::memory::MemoryModuleCache`] keeps artifacts in memory.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod backends;
pub mod cache;
pub mod charset;
pub mod config;
#[cfg(feature = "crawl")]
pub mod crawl;
pub mod error;
pub mod executor;
pub mod extract;
pub mod metrics;
pub mod network;
pub mod policies;
pub mod pool;
#[cfg(any(feature = "redb", feature = "chrome", feature = "chromiumoxide"))]
mod private_dir;
#[cfg(feature = "nats")]
pub mod queue;
#[cfg(feature = "server")]
pub mod server;
#[cfg(any(feature = "wasmtime", feature = "wasmer"))]
mod stack;
mod sync;
pub mod target;
pub mod traits;

pub use cache::{CacheOptions, CacheStats, CompileCache, ModuleSource};
pub use config::{ConfigLoader, RiptideConfig};
pub use error::{Error, Result};
pub use executor::{AnyExecutor, BoxExecutor, EngineChoice, Executor, ExecutorBuilder, PageOptions, Validators};
pub use extract::{Content, ExtractOptions, ExtractedContent, StageTimings};
pub use metrics::PerformanceReport;
pub use pool::{BrowserPool, PoolOptions, PooledBrowser};
#[cfg(any(feature = "wasmtime", feature = "wasmer"))]
pub use stack::{LAST_RUN_REPORT, Stack, StackCompileCache, StackRuntime};
pub use traits::{
    GuestLimits, Isolation, PageRequest, RenderOptions, RenderProfile, RenderedPage, ResourceKind, WaitUntil,
};

/// The default stack's compile cache: wasmtime with artifacts in redb.
#[cfg(all(feature = "wasmtime", feature = "redb"))]
pub type DefaultCompileCache = CompileCache<backends::wasmtime::WasmtimeRuntime, backends::redb::RedbModuleCache>;

/// A static-only executor on runtime `R` (wasmtime or wasmer): no browser (pages that need
/// JavaScript fail with a clear error), compiled modules and learned timeouts kept in memory.
/// The stack of the small build (`default-features = false, features = ["wasmer"]`).
pub type StaticExecutor<R> =
    Executor<backends::no_browser::NoBrowser, R, backends::memory::MemoryModuleCache, policies::AdaptiveTimeout>;

/// The default stack's executor by its parts: local Chromium driven by chromiumoxide, wasmtime,
/// artifacts in redb, learned timeouts persisted in redb. [`Stack::build`] gives the same stack
/// (or the one a configuration names) as a [`BoxExecutor`].
#[cfg(all(feature = "chromiumoxide", feature = "wasmtime", feature = "redb"))]
pub type DefaultExecutor = Executor<
    backends::chromiumoxide::ChromiumoxideProvider,
    backends::wasmtime::WasmtimeRuntime,
    backends::redb::RedbModuleCache,
    policies::AdaptiveTimeout,
>;
