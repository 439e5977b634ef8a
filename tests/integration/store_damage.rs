//! Damaged redb files (issue 15, item 2): one flipped byte in `timeouts.redb` or in the compile
//! cache's `index.redb` used to panic inside redb on that run and every later one. Each store
//! now sets a file it cannot read aside and goes on (timeouts unlearned, modules compiled), and
//! nothing panics out of the library.
//!
//! Byte flips at many offsets over real files, opened by real redb; and an artifact rewritten in
//! place under a process that loaded it (issue 28, item 4).
#![cfg(all(feature = "redb", feature = "wasmtime"))]

use crate::common;

use std::path::Path;
use std::time::Duration;

use riptide::backends::redb::{RedbLearningStore, RedbModuleCache};
use riptide::policies::AdaptiveTimeout;
use riptide::traits::{Engine, Outcome, Target, TimeoutPolicy};
use riptide::{CacheOptions, CompileCache, ModuleSource};

/// Offsets to flip in a file of `len` bytes: every byte of the first 4 KiB (redb's header and
/// its first pages) at a stride, then the rest of the file at a coarser one.
fn offsets(len: usize) -> Vec<usize> {
    let head = (0..len.min(4096)).step_by(37);
    let rest = (4096..len).step_by((len / 150).max(1));
    head.chain(rest).collect()
}

fn flip(pristine: &[u8], at: usize, path: &Path) {
    let mut bytes = pristine.to_vec();
    bytes[at] ^= 0x5a;
    std::fs::write(path, bytes).expect("write the damaged copy");
}

fn teach(policy: &AdaptiveTimeout) {
    let target = Target::new("a.example", Engine::Static);
    for _ in 0..20 {
        policy.timeout_for(&target);
        policy.observe(&target, &Outcome::Succeeded(Duration::from_millis(200)));
    }
}

#[test]
fn a_flipped_byte_in_the_timeout_store_never_panics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("timeouts.redb");
    {
        let policy = AdaptiveTimeout::with_store(Default::default(), RedbLearningStore::open(&path).expect("open"));
        teach(&policy);
        policy.flush().expect("flush");
    }
    let pristine = std::fs::read(&path).expect("read");
    let offsets = offsets(pristine.len());
    assert!(offsets.len() > 100, "{} offsets", offsets.len());
    let target = Target::new("a.example", Engine::Static);
    for at in offsets {
        let _ = std::fs::remove_file(path.with_extension("redb.damaged"));
        flip(&pristine, at, &path);
        // Opening, loading (through the policy), learning and saving: whatever the flip broke,
        // each step either works or reports an error, and the next run starts clean.
        let store = RedbLearningStore::open(&path).expect("open never fails on a bad file");
        let policy = AdaptiveTimeout::with_store(Default::default(), store);
        teach(&policy);
        let _ = policy.flush();
        assert!(policy.timeout_for(&target) > Duration::ZERO);
        drop(policy);
        let again = AdaptiveTimeout::with_store(Default::default(), RedbLearningStore::open(&path).expect("reopen"));
        teach(&again);
        again
            .flush()
            .unwrap_or_else(|e| panic!("offset {at}: the run after the damage saves again: {e}"));
    }
}

#[test]
fn a_flipped_byte_in_the_cache_index_never_panics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache_dir = dir.path().join("wasm-cache");
    let module = common::tiny_module(1);
    let options = CacheOptions::default();
    {
        let cache = CompileCache::new(
            common::wasmtime(),
            RedbModuleCache::open(&cache_dir).expect("open"),
            options.clone(),
        );
        cache.get_or_compile(&module).expect("compiles");
        let _ = cache.flush_stats();
    }
    let index = cache_dir.join("index.redb");
    let pristine = std::fs::read(&index).expect("read");
    let offsets = offsets(pristine.len());
    assert!(offsets.len() > 100, "{} offsets", offsets.len());
    for at in offsets {
        let _ = std::fs::remove_file(index.with_extension("redb.damaged"));
        flip(&pristine, at, &index);
        for run in ["the damaged run", "the run after"] {
            let cache = CompileCache::new(
                common::wasmtime(),
                RedbModuleCache::open(&cache_dir).expect("open"),
                options.clone(),
            );
            cache
                .get_or_compile(&module)
                .unwrap_or_else(|e| panic!("offset {at}, {run}: a module is served: {e}"));
            let _ = cache.stats();
            let _ = cache.flush_stats();
        }
    }
}

/// Issue 28, item 4: an artifact rewritten in place (truncated, or `cp` over it) while a process
/// ran the module it had loaded from it killed that process with `SIGBUS`: wasmtime mapped the
/// file, and the mapping's pages went with the file's bytes. Modules are now loaded from a
/// verified copy in memory, which nothing done to the file reaches. (Before the fix this test
/// dies of the signal.)
#[test]
fn an_artifact_rewritten_in_place_never_reaches_a_loaded_module() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache_dir = dir.path().join("wasm-cache");
    let extractor = ModuleSource::extractor();
    let open = || {
        CompileCache::new(
            common::wasmtime(),
            RedbModuleCache::open(&cache_dir).expect("open"),
            CacheOptions::default(),
        )
    };
    open().get_or_compile(extractor).expect("compiles and stores");
    // Another process's cache: it loads the stored artifact from disk.
    let cache = open();
    let page = common::large_page();
    let first = cache.extract(extractor, &page, None).expect("extracts");
    let mut rewritten = 0;
    for entry in walk(&cache_dir) {
        if entry.extension().is_some_and(|e| e == "redb") {
            continue;
        }
        let len = std::fs::metadata(&entry).expect("stat").len();
        std::fs::File::create(&entry).expect("truncate in place");
        std::fs::write(&entry, vec![0u8; usize::try_from(len).expect("size")]).expect("rewrite in place");
        rewritten += 1;
    }
    assert!(
        rewritten > 0,
        "the artifact file was found under {}",
        cache_dir.display()
    );
    for _ in 0..3 {
        let again = cache
            .extract(extractor, &page, None)
            .expect("the loaded module still runs");
        assert_eq!(again.title, first.title);
        assert_eq!(again.text, first.text);
    }
    // And the damaged file is refused, not loaded, by the next process.
    let next = open();
    next.extract(extractor, &page, None).expect("recompiles instead");
    let stats = next.stats().expect("stats");
    assert!(stats.invalid_entries >= 1, "{stats:?}");
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
    {
        if entry.is_dir() {
            files.extend(walk(&entry));
        } else {
            files.push(entry);
        }
    }
    files
}
