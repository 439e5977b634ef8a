//! The WASM module cache, cold and warm: compile riptide's extractor once, then get it back from
//! this process's memory and from disk as a fresh process would.
//!
//! ```text
//! cargo run --release --example wasm_cache
//! ```
//!
//! Uses a temporary cache directory so every run starts cold; pass a directory as the first
//! argument to keep the cache between runs (the second run's "cold" step is then a disk hit).

use std::time::Instant;

use riptide::backends::redb::RedbModuleCache;
use riptide::backends::wasmtime::WasmtimeRuntime;
use riptide::{CacheOptions, CompileCache, GuestLimits, ModuleSource};

const PAGE: &str = r#"<!doctype html><html lang="en"><head><title>Warm caches</title>
<meta name="description" content="Why riptide keeps compiled modules around"></head>
<body><nav>Home | Blog</nav><main><h1>Warm caches</h1><p>Compiling a module costs hundreds of
milliseconds; loading a verified artifact costs about one.</p><a href="/more">More</a></main></body></html>"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp;
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let source = ModuleSource::extractor();
    let open = || -> riptide::Result<_> {
        let runtime = WasmtimeRuntime::new(GuestLimits::default(), true)?;
        Ok(CompileCache::new(
            runtime,
            RedbModuleCache::open(&dir)?,
            CacheOptions::default(),
        ))
    };
    println!("cache directory: {}", dir.display());

    let cache = open()?;
    let t = Instant::now();
    cache.get_or_compile(source)?;
    println!(
        "1. first lookup (compile, or disk hit if the directory was warm): {:>10.3} ms",
        ms(t)
    );

    let t = Instant::now();
    cache.get_or_compile(source)?;
    println!(
        "2. same process, warm (in-memory hit):                           {:>10.3} ms",
        ms(t)
    );
    drop(cache);

    // A new cache over the same directory is what a fresh process sees.
    let cache = open()?;
    let t = Instant::now();
    cache.get_or_compile(source)?;
    println!(
        "3. new cache instance (disk hit: read, verify, deserialize):      {:>10.3} ms",
        ms(t)
    );

    let t = Instant::now();
    let page = cache.extract(source, PAGE, Some("https://example.com/post"))?;
    println!(
        "4. extract one page (instantiate + run):                          {:>10.3} ms",
        ms(t)
    );
    println!(
        "\ntitle: {:?}\ntext:  {:?}\nlinks: {:?}",
        page.title, page.text, page.links
    );
    println!("\nstats: {}", serde_json::to_string_pretty(&cache.lifetime_stats()?)?);
    Ok(())
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
