//! The same extraction code on whichever backends the Cargo features select: the executor is
//! generic, so only the few lines that build the parts name a backend.
//!
//! ```text
//! # wasmer + in-memory store, no browser, no redb, no wasmtime:
//! cargo run --example choose_backends --no-default-features --features wasmer
//! # the default stack's engine (wasmtime), still with the in-memory store:
//! cargo run --example choose_backends
//! ```
//!
//! Extracts the bundled demo site's static pages from disk (`file://`), so it runs offline.

use std::path::Path;

use riptide::backends::memory::{MemoryProfileStore, MemoryStore};
use riptide::backends::no_browser::NoBrowser;
use riptide::policies::AdaptiveTimeout;
use riptide::traits::{BrowserProvider, ModuleCache, TimeoutPolicy, WasmRuntime};
use riptide::{CacheOptions, CompileCache, Engine, Executor, GuestLimits, RiptideConfig};

#[cfg(not(any(feature = "wasmtime", feature = "wasmer")))]
compile_error!("choose_backends needs an engine: --features wasmer (or wasmtime)");

#[cfg(feature = "wasmer")]
fn engine() -> riptide::Result<riptide::backends::wasmer::WasmerRuntime> {
    riptide::backends::wasmer::WasmerRuntime::new(GuestLimits::default(), true)
}

#[cfg(all(feature = "wasmtime", not(feature = "wasmer")))]
fn engine() -> riptide::Result<riptide::backends::wasmtime::WasmtimeRuntime> {
    riptide::backends::wasmtime::WasmtimeRuntime::new(GuestLimits::default(), true)
}

/// Backend-agnostic: this is the code a crawler would write once.
async fn crawl<B, R, C, T>(executor: &Executor<B, R, C, T>, pages: &[String]) -> riptide::Result<()>
where
    B: BrowserProvider,
    R: WasmRuntime,
    C: ModuleCache,
    T: TimeoutPolicy,
{
    for url in pages {
        let page = executor.extract_with(url, Engine::Static).await?;
        println!(
            "{:<40} {:>8.2} ms  {}",
            page.page.title.as_deref().unwrap_or("(no title)"),
            page.timings.total.as_secs_f64() * 1000.0,
            url.rsplit('/').next().unwrap_or(url)
        );
    }
    let stats = executor.compile_cache().stats()?;
    println!(
        "\nengine {}, store {}: {} compile(s), {} hit(s)",
        stats.engine, stats.store, stats.compilations, stats.hits
    );
    Ok(())
}

#[tokio::main]
async fn main() -> riptide::Result<()> {
    let config = RiptideConfig::default();
    let executor = Executor::builder()
        .browser_provider(NoBrowser)
        .compile_cache(CompileCache::new(
            engine()?,
            MemoryStore::new(),
            CacheOptions::default(),
        ))
        .timeout_policy(AdaptiveTimeout::with_store(
            config.optimizations.adaptive_timeout.clone(),
            MemoryProfileStore::new(),
        ))
        .config(config)
        .build()?;
    let site = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo_site");
    let pages: Vec<String> = ["index.html", "about.html", "index.html"]
        .iter()
        .map(|f| format!("file://{}", site.join(f).display()))
        .collect();
    crawl(&executor, &pages).await?;
    executor.shutdown().await
}
