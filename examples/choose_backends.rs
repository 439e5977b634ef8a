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

use riptide::backends::memory::{MemoryLearningStore, MemoryModuleCache};
use riptide::backends::no_browser::NoBrowser;
use riptide::policies::AdaptiveTimeout;
use riptide::{AnyExecutor, CacheOptions, CompileCache, EngineChoice, Executor, GuestLimits, RiptideConfig};

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

/// Backend-agnostic: this is the code a crawler would write once. `AnyExecutor` is every
/// executor with its parts erased, so no type parameter names them.
async fn crawl(executor: &dyn AnyExecutor, pages: &[String]) -> riptide::Result<()> {
    for url in pages {
        let page = executor.extract_with(url, EngineChoice::Static).await?;
        println!(
            "{:<40} {:>8.2} ms  {}",
            page.extracted.title.as_deref().unwrap_or("(no title)"),
            page.timings.total.as_secs_f64() * 1000.0,
            url.rsplit('/').next().unwrap_or(url)
        );
    }
    if let Some(stats) = executor.report().await.wasm_cache {
        println!(
            "\nruntime {}, store {}: {} compile(s), {} hit(s)",
            stats.runtime, stats.store, stats.compilations, stats.hits
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> riptide::Result<()> {
    let config = RiptideConfig::default();
    let executor = Executor::builder(
        NoBrowser,
        CompileCache::new(engine()?, MemoryModuleCache::new(), CacheOptions::default()),
        AdaptiveTimeout::with_store(
            config.optimizations.adaptive_timeout.clone(),
            MemoryLearningStore::new(),
        ),
    )
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
