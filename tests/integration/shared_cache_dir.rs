//! One cache directory, several users: two processes at once, an index held exclusively by
//! another program, a damaged index. None of them may fail an extraction.
#![cfg(all(feature = "redb", feature = "wasmtime"))]

use crate::common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use riptide::backends::redb::RedbModuleCache;
use riptide::{CacheOptions, CompileCache, ModuleSource};

const SHARED_DIR_VAR: &str = "RIPTIDE_TEST_SHARED_CACHE_DIR";

fn cache_in(dir: &std::path::Path) -> CompileCache<common::WasmtimeRuntime, RedbModuleCache> {
    CompileCache::new(
        common::wasmtime(),
        RedbModuleCache::open(dir).expect("open store"),
        CacheOptions::default(),
    )
}

fn extract_article(cache: &CompileCache<common::WasmtimeRuntime, RedbModuleCache>) {
    let page = cache
        .extract(
            ModuleSource::extractor(),
            common::ARTICLE,
            Some("https://news.example.com/"),
        )
        .expect("extracts");
    assert_eq!(page.raw_title.as_deref(), Some("Warm caches, fast extractors"));
}

/// A whole user of the cache: open the directory, extract a page, report. Run on its own it
/// uses a fresh directory; `two_processes_share_a_cache_dir` runs it as a child process in a
/// shared one.
#[test]
fn cache_user_process() {
    let own = tempfile::tempdir().expect("temp dir");
    let dir = std::env::var_os(SHARED_DIR_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| own.path().to_path_buf());
    let cache = cache_in(&dir);
    extract_article(&cache);
    let s = cache.stats().expect("stats");
    assert_eq!(s.compilations + s.loads, 1, "{s:?}");
    println!(
        "CHILD compilations={} loads={} index={}",
        s.compilations,
        s.loads,
        cache.store().has_index()
    );
}

#[test]
fn two_processes_share_a_cache_dir() {
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = std::env::current_exe().expect("test binary path");
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "shared_cache_dir::cache_user_process",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(SHARED_DIR_VAR, dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn child")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("child runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("CHILD compilations="), "child ran the test:\n{stdout}");
        assert!(
            stdout.contains("index=true"),
            "both processes open the index together:\n{stdout}"
        );
    }
    // Afterwards: one valid artifact that a third user loads without compiling, and the
    // counters of both children.
    let cache = cache_in(dir.path());
    extract_article(&cache);
    let s = cache.stats().expect("stats");
    assert_eq!((s.loads, s.compilations, s.entries), (1, 0, 1), "{s:?}");
    let life = cache.lifetime_stats().expect("lifetime");
    assert_eq!(life.compilations + life.loads, 3, "{life:?}");
}

#[test]
fn index_held_exclusively_elsewhere_degrades_to_compiling() {
    let dir = tempfile::tempdir().expect("temp dir");
    let warm = cache_in(dir.path());
    extract_article(&warm);
    drop(warm);
    let holder = redb::Database::create(dir.path().join("index.redb")).expect("exclusive holder");
    let cache = cache_in(dir.path());
    assert!(!cache.store().has_index(), "the held index is not used");
    extract_article(&cache);
    let s = cache.stats().expect("stats");
    assert_eq!(
        (s.compilations, s.loads),
        (1, 0),
        "without metadata nothing is loaded unverified: {s:?}"
    );
    drop(cache);
    drop(holder);

    let cache = cache_in(dir.path());
    assert!(cache.store().has_index());
    extract_article(&cache);
    let s = cache.stats().expect("stats");
    assert_eq!(
        (s.loads, s.compilations),
        (1, 0),
        "with the index back, the stored artifact serves: {s:?}"
    );
}

#[test]
fn damaged_index_is_set_aside() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("index.redb"),
        b"this is not a redb file, not even close",
    )
    .expect("write junk");
    let cache = cache_in(dir.path());
    assert!(cache.store().has_index(), "a fresh index replaces the damaged one");
    assert!(
        dir.path().join("index.redb.damaged").exists(),
        "the damaged index is kept for inspection"
    );
    extract_article(&cache);
}

#[cfg(unix)]
#[test]
fn cache_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("wasm-cache");
    let _store = RedbModuleCache::open(&dir).expect("open");
    for d in [dir.clone(), dir.join("artifacts")] {
        let mode = std::fs::metadata(&d).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{} is {mode:o}", d.display());
    }
}

#[test]
fn an_unusable_cache_directory_compiles_in_memory_instead_of_failing() {
    // A regular file where a directory of the path should be: no user, root included, can
    // create the cache directory there.
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let store = RedbModuleCache::open(file.join("wasm-cache")).expect("degrades, never fails");
    assert!(!store.has_index(), "nothing can be kept on disk");
    let cache = CompileCache::new(common::wasmtime(), store, CacheOptions::default());
    extract_article(&cache);
    extract_article(&cache); // the second is an in-process hit
    assert_eq!(std::fs::read(&file).expect("untouched"), b"x");
}
