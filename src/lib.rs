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
//!    through a [`traits::ProfileStore`], and [`policies::simulate`] compares policies on
//!    simulated crawls.
//!
//! [`Executor`] composes the three: `extract(url)` fetches statically (or renders headless when
//! the page needs JavaScript) under the learned deadline with retries, then runs the extractor.
//!
//! # Quick start
//!
//! ```no_run
//! # #[cfg(all(feature = "wasmtime", feature = "redb"))]
//! # fn main() -> riptide::Result<()> {
//! use riptide::{ModuleSource, RiptideConfig, default_compile_cache};
//!
//! let config = RiptideConfig::load()?;
//! let cache = default_compile_cache(&config)?; // wasmtime + redb under ~/.riptide/wasm-cache
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
//! | `chrome`   | yes     | [`backends::chrome::ChromeProvider`] (headless_chrome)    |
//! | `chromiumoxide` | no | `backends::chromiumoxide::ChromiumoxideProvider`: the same browsers over async DevTools (chromiumoxide) |
//! | `rustls`   | yes     | HTTPS for the static engine (reqwest + rustls)            |
//! | `server`   | yes     | [`server::Server`]: one executor behind HTTP (axum)        |
//! | `nats`     | no      | `queue`: a NATS JetStream work queue (`riptide submit`, `worker`, `queue status`); `backends::nats_kv::NatsProfileStore`: learning shared through a key-value bucket |
//! | `cli`      | yes     | the `riptide` binary (clap, indicatif, tracing-subscriber); turns on `wasmtime`, `redb`, `chrome`, `server` |
//!
//! Without `redb`, [`backends::memory::MemoryModuleCache`] keeps artifacts in memory.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod backends;
pub mod cache;
pub mod charset;
pub mod config;
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
mod sync;
pub mod traits;

pub use cache::{CacheOptions, CacheStats, CompileCache, ModuleSource};
pub use config::{ConfigLoader, RiptideConfig};
pub use error::{Error, Result};
pub use executor::{AnyExecutor, BoxExecutor, EngineChoice, Executor, ExecutorBuilder, PageOptions};
pub use extract::{Content, ExtractOptions, ExtractedContent, StageTimings};
pub use metrics::PerformanceReport;
pub use pool::{BrowserPool, PoolOptions, PooledBrowser};
pub use traits::{GuestLimits, Isolation, PageRequest, RenderProfile, RenderedPage, ResourceKind, WaitUntil};

/// The default stack's compile cache: wasmtime with artifacts in redb.
#[cfg(all(feature = "wasmtime", feature = "redb"))]
pub type DefaultCompileCache = CompileCache<backends::wasmtime::WasmtimeRuntime, backends::redb::RedbModuleCache>;

/// A [`DefaultCompileCache`] configured from `config`, in the home the config was loaded for
/// (`$RIPTIDE_HOME`, else `~/.riptide`).
#[cfg(all(feature = "wasmtime", feature = "redb"))]
pub fn default_compile_cache(config: &RiptideConfig) -> Result<DefaultCompileCache> {
    default_compile_cache_in(config, &ConfigLoader::from_process_env().resolved_home())
}

/// [`default_compile_cache`] in the home directory `home`.
#[cfg(all(feature = "wasmtime", feature = "redb"))]
pub fn default_compile_cache_in(config: &RiptideConfig, home: &std::path::Path) -> Result<DefaultCompileCache> {
    let wasm = &config.optimizations.wasm_cache;
    let runtime = backends::wasmtime::WasmtimeRuntime::new(GuestLimits::default(), wasm.parallel_compilation)?;
    let store = backends::redb::RedbModuleCache::open(config.wasm_cache_dir(home))?;
    let mut options = CacheOptions::from_config(wasm);
    options.enabled &= config.optimizations.enabled;
    Ok(CompileCache::new(runtime, store, options))
}

/// The default timeout policy configured from `config`: [`policies::AdaptiveTimeout`] learning
/// into `<home>/timeouts.redb` when `persist_profiles` is on (in memory otherwise).
///
/// Never fails on the profile store: one that cannot be opened or read is logged and the policy
/// starts unlearned (see [`policies::AdaptiveTimeout::with_store`]).
#[cfg(feature = "redb")]
pub fn default_timeout_policy(config: &RiptideConfig) -> policies::AdaptiveTimeout {
    default_timeout_policy_in(config, &ConfigLoader::from_process_env().resolved_home())
}

/// [`default_timeout_policy`] in the home directory `home`.
#[cfg(feature = "redb")]
pub fn default_timeout_policy_in(config: &RiptideConfig, home: &std::path::Path) -> policies::AdaptiveTimeout {
    timeout_policy_with(config, default_profile_store(config, home).map(|s| s as _))
}

/// The home's `timeouts.redb`, when `persist_profiles` is on and it can be opened (logged if
/// not: what it would keep is then learned afresh each run).
#[cfg(feature = "redb")]
fn default_profile_store(
    config: &RiptideConfig,
    home: &std::path::Path,
) -> Option<std::sync::Arc<backends::redb::RedbProfileStore>> {
    if !config.optimizations.adaptive_timeout.persist_profiles {
        return None;
    }
    match backends::redb::RedbProfileStore::open(config.timeout_profiles_path(home)) {
        Ok(store) => Some(std::sync::Arc::new(store)),
        Err(e) => {
            tracing::warn!(error = %e, "timeout profiles will not be kept across runs");
            None
        }
    }
}

#[cfg(feature = "redb")]
fn timeout_policy_with(
    config: &RiptideConfig,
    store: Option<std::sync::Arc<dyn traits::ProfileStore>>,
) -> policies::AdaptiveTimeout {
    let settings = config.optimizations.adaptive_timeout.clone();
    match store {
        Some(store) => policies::AdaptiveTimeout::with_store(settings, store),
        None => policies::AdaptiveTimeout::new(settings),
    }
}

/// A static-only executor on runtime `R` (wasmtime or wasmer): no browser (pages that need
/// JavaScript fail with a clear error), compiled modules and learned timeouts kept in memory.
/// The stack of the small build (`default-features = false, features = ["wasmer"]`).
pub type StaticExecutor<R> =
    Executor<backends::no_browser::NoBrowser, R, backends::memory::MemoryModuleCache, policies::AdaptiveTimeout>;

/// The default stack's executor: local Chromium, wasmtime, artifacts in redb, learned timeouts
/// persisted in redb.
#[cfg(all(feature = "chrome", feature = "wasmtime", feature = "redb"))]
pub type DefaultExecutor = Executor<
    backends::chrome::ChromeProvider,
    backends::wasmtime::WasmtimeRuntime,
    backends::redb::RedbModuleCache,
    policies::AdaptiveTimeout,
>;

/// A [`DefaultExecutor`] configured from `config`, keeping its state in the home the config
/// was loaded for (`$RIPTIDE_HOME`, else `~/.riptide`). No browser starts until a page needs
/// one (or [`Executor::warm_up`]).
#[cfg(all(feature = "chrome", feature = "wasmtime", feature = "redb"))]
pub fn default_executor(config: &RiptideConfig) -> Result<DefaultExecutor> {
    default_executor_in(config, &ConfigLoader::from_process_env().resolved_home())
}

/// [`default_executor`] with its state in `home`: the compile cache, the timeout profiles and
/// the last run's performance report (`last-run.json`).
#[cfg(all(feature = "chrome", feature = "wasmtime", feature = "redb"))]
pub fn default_executor_in(config: &RiptideConfig, home: &std::path::Path) -> Result<DefaultExecutor> {
    default_executor_builder_in(config, home)?.build()
}

/// The builder [`default_executor_in`] builds, to set more before `build` (`wait_until`,
/// `wait_for`, `user_agent`, ...).
#[cfg(all(feature = "chrome", feature = "wasmtime", feature = "redb"))]
pub fn default_executor_builder_in(
    config: &RiptideConfig,
    home: &std::path::Path,
) -> Result<
    ExecutorBuilder<
        backends::chrome::ChromeProvider,
        backends::wasmtime::WasmtimeRuntime,
        backends::redb::RedbModuleCache,
        policies::AdaptiveTimeout,
    >,
> {
    executor_builder_in(config, home, backends::chrome::ChromeProvider::from_config(config))
}

/// The default stack's builder around another browser provider (such as
/// `ChromiumoxideProvider::from_config(config)`): the same compile cache, timeout profiles,
/// rendering evidence and report file as [`default_executor_builder_in`]. A provider that
/// failed (no Chromium) is kept as its error: static extraction still works, and renders say
/// what to install.
#[cfg(all(feature = "wasmtime", feature = "redb"))]
pub fn executor_builder_in<P: traits::BrowserProvider>(
    config: &RiptideConfig,
    home: &std::path::Path,
    provider: Result<P>,
) -> Result<
    ExecutorBuilder<P, backends::wasmtime::WasmtimeRuntime, backends::redb::RedbModuleCache, policies::AdaptiveTimeout>,
> {
    executor_builder_with_store(
        config,
        home,
        provider,
        default_profile_store(config, home).map(|s| s as _),
    )
}

/// [`executor_builder_in`] with `store` keeping what is learned about hosts (timeout profiles
/// and rendering evidence) instead of the home's `timeouts.redb`; `None`: learned in memory
/// only. `riptide worker` passes a `backends::nats_kv::NatsProfileStore` (feature `nats`), so
/// that its workers share what they learn.
#[cfg(all(feature = "wasmtime", feature = "redb"))]
pub fn executor_builder_with_store<P: traits::BrowserProvider>(
    config: &RiptideConfig,
    home: &std::path::Path,
    provider: Result<P>,
    store: Option<std::sync::Arc<dyn traits::ProfileStore>>,
) -> Result<
    ExecutorBuilder<P, backends::wasmtime::WasmtimeRuntime, backends::redb::RedbModuleCache, policies::AdaptiveTimeout>,
> {
    // One store for what is learned about hosts: timeout profiles and rendering evidence.
    let mut builder = ExecutorBuilder::with_provider_result(
        provider,
        default_compile_cache_in(config, home)?,
        timeout_policy_with(config, store.clone()),
    )
    .config(config.clone())
    .report_file(home.join(LAST_RUN_REPORT));
    if let Some(store) = store {
        builder = builder.rendering_evidence_store(store);
    }
    Ok(builder)
}

/// The file in the home where [`Executor::shutdown`] leaves the performance report.
pub const LAST_RUN_REPORT: &str = "last-run.json";
