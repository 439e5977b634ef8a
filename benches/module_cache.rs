//! The WASM module cache against its baselines, for both engines, in one run.
//!
//! ```text
//! cargo bench --features bench-baselines --bench module_cache
//! ```
//!
//! Fresh-process numbers come from child processes: this binary re-runs itself with
//! `RIPTIDE_BENCH_CHILD=<mode>`; the child times everything a new CLI process does before it
//! holds a ready module (engine, store, key, load, verification hashing of the artifact,
//! deserialize) and prints the nanoseconds. Process start-up itself is the same for every mode
//! and is not counted. riptide's children use the bundled extractor, whose SHA-256 is computed at
//! build time, as a CLI would; a module loaded from elsewhere adds its own hashing (~1.2 ms for
//! 945 KB here).
//!
//! After criterion, the run prints every target with its median and verdict, and writes the same
//! table to `target/criterion/riptide-module-cache.md` (pasted into BENCHMARKS.md).

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};

#[path = "../tests/integration/common/mod.rs"]
mod common;
mod support;

use common::large_page;
use riptide::backends::redb::RedbModuleCache;
use riptide::backends::wasmer::WasmerRuntime;
use riptide::backends::wasmtime::WasmtimeRuntime;
use riptide::cache::EXTRACTOR_WASM;
use riptide::extract::run_extractor;
use riptide::traits::WasmRuntime;
use riptide::{CacheOptions, CompileCache, GuestLimits, ModuleSource};
use support::{criterion_dir, median_ns};

const CHILD_MODE: &str = "RIPTIDE_BENCH_CHILD";
const CHILD_DIR: &str = "RIPTIDE_BENCH_DIR";

// ---------------------------------------------------------------- child processes

fn wasmtime_rt() -> WasmtimeRuntime {
    WasmtimeRuntime::new(GuestLimits::default(), true).expect("wasmtime")
}

fn wasmer_rt() -> WasmerRuntime {
    WasmerRuntime::new(GuestLimits::default(), true).expect("wasmer")
}

fn compressed() -> CacheOptions {
    CacheOptions {
        compress: true,
        ..CacheOptions::default()
    }
}

fn options_for(mode: &str) -> CacheOptions {
    if mode.ends_with("compressed") {
        compressed()
    } else {
        CacheOptions::default()
    }
}

/// riptide's path in a fresh process: engine, store, lookup; asserts it was a store hit.
fn riptide_ready<R: WasmRuntime>(start: Instant, runtime: R, dir: &Path, mode: &str) -> Duration {
    let cache = CompileCache::new(runtime, RedbModuleCache::open(dir).expect("store"), options_for(mode));
    black_box(cache.get_or_compile(ModuleSource::extractor()).expect("module"));
    let elapsed = start.elapsed();
    let s = cache.stats().expect("stats");
    assert_eq!((s.loads, s.compilations), (1, 0), "child must hit the store: {s:?}");
    std::mem::forget(cache); // leave counters unflushed: not part of the path
    elapsed
}

/// Compiles into riptide's cache in `dir`, so children hit it.
fn riptide_warm<R: WasmRuntime>(runtime: R, dir: &Path, mode: &str) {
    let cache = CompileCache::new(runtime, RedbModuleCache::open(dir).expect("store"), options_for(mode));
    cache.get_or_compile(ModuleSource::extractor()).expect("compile");
}

/// Everything a fresh process does to get a ready module, timed; returns the duration.
fn child(mode: &str, dir: &Path) -> Duration {
    let start = Instant::now();
    match mode {
        "riptide-wasmtime" | "riptide-wasmtime-compressed" => riptide_ready(start, wasmtime_rt(), dir, mode),
        "riptide-wasmer" | "riptide-wasmer-compressed" => riptide_ready(start, wasmer_rt(), dir, mode),
        "wasmtime-builtin" => {
            let engine = wasmtime_builtin_engine(dir);
            black_box(wasmtime::Module::new(&engine, EXTRACTOR_WASM).expect("module"));
            start.elapsed()
        }
        "wasmer-cache" => {
            use wasmer_cache::{Cache, FileSystemCache, Hash};
            let rt = wasmer_rt();
            let cache = FileSystemCache::new(dir).expect("wasmer-cache dir");
            // SAFETY: the directory holds only what `warm` stored with this engine.
            let module = unsafe { cache.load(rt.engine(), Hash::generate(EXTRACTOR_WASM)) };
            black_box(module.expect("wasmer-cache hit"));
            start.elapsed()
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn wasmtime_builtin_engine(dir: &Path) -> wasmtime::Engine {
    let mut cache_config = wasmtime::CacheConfig::new();
    cache_config.with_directory(dir);
    let cache = wasmtime::Cache::new(cache_config).expect("wasmtime cache");
    let mut config = wasmtime::Config::new();
    // The same interruption as riptide's engine, so the artifacts compare like for like.
    config.epoch_interruption(true).cache(Some(cache));
    wasmtime::Engine::new(&config).expect("engine")
}

fn warm(mode: &str, dir: &Path) {
    match mode {
        "riptide-wasmtime" | "riptide-wasmtime-compressed" => riptide_warm(wasmtime_rt(), dir, mode),
        "riptide-wasmer" | "riptide-wasmer-compressed" => riptide_warm(wasmer_rt(), dir, mode),
        "wasmtime-builtin" => {
            drop(wasmtime::Module::new(&wasmtime_builtin_engine(dir), EXTRACTOR_WASM).expect("compile"))
        }
        "wasmer-cache" => {
            use wasmer_cache::{Cache, FileSystemCache, Hash};
            let rt = wasmer_rt();
            let module = rt.compile(EXTRACTOR_WASM).expect("compile");
            let mut cache = FileSystemCache::new(dir).expect("dir");
            cache
                .store(Hash::generate(EXTRACTOR_WASM), module.module())
                .expect("store");
        }
        other => panic!("unknown mode {other}"),
    }
}

fn spawn_child(mode: &str, dir: &Path) -> Duration {
    let out = Command::new(std::env::current_exe().expect("own path"))
        .env(CHILD_MODE, mode)
        .env(CHILD_DIR, dir)
        .output()
        .expect("spawn child");
    assert!(
        out.status.success(),
        "child {mode} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nanos: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("child prints nanoseconds");
    Duration::from_nanos(nanos)
}

// ---------------------------------------------------------------- benchmarks

const FRESH_MODES: [&str; 6] = [
    "riptide-wasmtime",
    "riptide-wasmtime-compressed",
    "wasmtime-builtin",
    "riptide-wasmer",
    "riptide-wasmer-compressed",
    "wasmer-cache",
];

fn fresh_process(c: &mut Criterion) {
    let dirs: Vec<(&str, tempfile::TempDir)> = FRESH_MODES
        .iter()
        .map(|mode| {
            let dir = tempfile::tempdir().expect("temp dir");
            warm(mode, dir.path());
            (*mode, dir)
        })
        .collect();
    let mut group = c.benchmark_group("fresh_process_hit");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));
    for (mode, dir) in &dirs {
        group.bench_function(*mode, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| spawn_child(mode, dir.path())).sum());
        });
    }
    group.finish();
}

fn engine_benches<R: WasmRuntime>(c: &mut Criterion, name: &str, runtime: impl Fn() -> R) {
    let rt = runtime();
    let mut group = c.benchmark_group(name);
    group.sample_size(10).measurement_time(Duration::from_secs(6));
    group.bench_function("compile", |b| {
        b.iter(|| black_box(rt.compile(EXTRACTOR_WASM).expect("compile")))
    });
    group.sample_size(100).measurement_time(Duration::from_secs(3));

    let dir = tempfile::tempdir().expect("temp dir");
    let cache = CompileCache::new(
        runtime(),
        RedbModuleCache::open(dir.path()).expect("store"),
        CacheOptions::default(),
    );
    let source = ModuleSource::extractor();
    let module = cache.get_or_compile(source).expect("compile");
    group.bench_function("in_process_hit", |b| {
        b.iter(|| black_box(cache.get_or_compile(source).expect("hit")))
    });
    group.bench_function("instantiate", |b| {
        b.iter(|| black_box(cache.runtime().instantiate(&module, 100_000).expect("instance")))
    });

    let page = large_page();
    group.bench_function("extract_100kb", |b| {
        b.iter(|| {
            black_box(
                run_extractor(cache.runtime(), &module, &page, Some("https://big.example.com/")).expect("extract"),
            )
        })
    });
    group.finish();
}

fn engines(c: &mut Criterion) {
    engine_benches(c, "wasmtime", wasmtime_rt);
    engine_benches(c, "wasmer", wasmer_rt);
    let page = large_page();
    let options = riptide_extractor::Options {
        markdown: true,
        content_html: false,
        links_only: false,
    };
    let input = riptide_extractor::encode_input(&page, Some("https://big.example.com/"), options);
    let mut group = c.benchmark_group("native");
    group.bench_function("extract_100kb", |b| {
        b.iter(|| black_box(riptide_extractor::extract_framed(&input)))
    });
    group.finish();
}

criterion_group!(benches, engines, fresh_process);

// ---------------------------------------------------------------- targets

fn fmt_ns(ns: f64) -> String {
    match ns {
        n if n >= 1e6 => format!("{:.2} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.2} µs", n / 1e3),
        n => format!("{n:.0} ns"),
    }
}

fn report_targets() {
    let m = |g: &str, b: &str| median_ns(g, b);
    let mut rows = vec![
        "| measurement | median | target | verdict |".to_string(),
        "|---|---|---|---|".to_string(),
    ];
    let mut row = |what: String, median: Option<f64>, target: String, ok: Option<bool>| {
        let verdict = match ok {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "not run",
        };
        rows.push(format!(
            "| {what} | {} | {target} | {verdict} |",
            median.map(fmt_ns).unwrap_or_else(|| "-".into())
        ));
    };
    for engine in ["wasmtime", "wasmer"] {
        row(
            format!("{engine}: compile"),
            m(engine, "compile"),
            "(baseline)".into(),
            Some(true),
        );
        let hit = m(engine, "in_process_hit");
        row(
            format!("{engine}: in-process hit"),
            hit,
            "≤ 1 µs".into(),
            hit.map(|h| h <= 1_000.0),
        );
        let inst = m(engine, "instantiate");
        let inst_target = if engine == "wasmtime" { Some(20_000.0) } else { None };
        row(
            format!("{engine}: instantiate"),
            inst,
            inst_target
                .map(|t| format!("≤ {}", fmt_ns(t)))
                .unwrap_or_else(|| "(reported)".into()),
            inst.map(|i| inst_target.is_none_or(|t| i <= t)),
        );
        let (wasm, native) = (m(engine, "extract_100kb"), m("native", "extract_100kb"));
        let ratio = wasm.zip(native).map(|(w, n)| w / n);
        row(
            format!(
                "{engine}: extract 100 KB page (native {}; ratio {})",
                native.map(fmt_ns).unwrap_or_default(),
                ratio.map(|r| format!("{r:.2}x")).unwrap_or_default()
            ),
            wasm,
            "≤ 2x native".into(),
            ratio.map(|r| r <= 2.0),
        );
    }
    let g = "fresh_process_hit";
    let (rt, builtin) = (m(g, "riptide-wasmtime"), m(g, "wasmtime-builtin"));
    row(
        "wasmtime: fresh-process hit (riptide, with hashing)".into(),
        rt,
        "≤ 2 ms".into(),
        rt.map(|v| v <= 2e6),
    );
    let speedup = rt.zip(builtin).map(|(r, b)| b / r);
    row(
        format!(
            "wasmtime: built-in cache hit (riptide is {})",
            speedup.map(|s| format!("{s:.1}x faster")).unwrap_or_default()
        ),
        builtin,
        "riptide ≥ 3x faster".into(),
        speedup.map(|s| s >= 3.0),
    );
    row(
        "wasmtime: fresh-process hit, compressed".into(),
        m(g, "riptide-wasmtime-compressed"),
        "(reported)".into(),
        Some(true),
    );
    let (wr, wc) = (m(g, "riptide-wasmer"), m(g, "wasmer-cache"));
    let ratio = wr.zip(wc).map(|(r, c)| r / c);
    row(
        format!(
            "wasmer: fresh-process hit (riptide; {} of wasmer-cache)",
            ratio.map(|r| format!("{:.2}x", r)).unwrap_or_default()
        ),
        wr,
        "no slower than wasmer-cache".into(),
        ratio.map(|r| r <= 1.0),
    );
    row(
        "wasmer: wasmer-cache FileSystemCache load".into(),
        wc,
        "(baseline)".into(),
        Some(true),
    );
    row(
        "wasmer: fresh-process hit, compressed".into(),
        m(g, "riptide-wasmer-compressed"),
        "(reported)".into(),
        Some(true),
    );

    let table = rows.join("\n");
    println!("\n{table}\n");
    let out = criterion_dir().join("riptide-module-cache.md");
    if std::fs::write(&out, format!("{table}\n")).is_ok() {
        println!("written to {}", out.display());
    }
}

fn main() {
    if let Ok(mode) = std::env::var(CHILD_MODE) {
        let dir = std::env::var_os(CHILD_DIR).expect("child needs RIPTIDE_BENCH_DIR");
        println!("{}", child(&mode, Path::new(&dir)).as_nanos());
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    report_targets();
}
