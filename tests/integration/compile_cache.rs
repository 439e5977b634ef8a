//! The compile cache through every engine and every store: accounting, single-flight, damaged
//! and tampered artifacts, eviction, TTL, and the switches that turn it off.

use crate::common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{Observed, tiny_module};
use riptide::backends::memory::MemoryModuleCache;
use riptide::error::{ErrorKind, WasmError};
use riptide::traits::{ArtifactBody, ArtifactMeta, CacheKey, ModuleCache, WasmRuntime};
use riptide::{CacheOptions, CompileCache};

#[derive(Clone, Copy, Debug, PartialEq)]
enum StoreKind {
    Memory,
    #[cfg(feature = "redb")]
    Redb,
}

/// One store's worth of state that outlives cache instances, like a cache directory outlives
/// processes.
struct Fixture {
    kind: StoreKind,
    #[cfg_attr(not(feature = "redb"), allow(dead_code))]
    dir: tempfile::TempDir,
    memory: Arc<MemoryModuleCache>,
}

impl Fixture {
    fn new(kind: StoreKind) -> Self {
        Self {
            kind,
            dir: tempfile::tempdir().expect("temp dir"),
            memory: Arc::default(),
        }
    }

    fn store(&self) -> Arc<dyn ModuleCache> {
        match self.kind {
            StoreKind::Memory => self.memory.clone(),
            #[cfg(feature = "redb")]
            StoreKind::Redb => {
                let store = riptide::backends::redb::RedbModuleCache::open(self.dir.path()).expect("open redb store");
                assert!(store.has_index(), "the index must open when nobody else holds it");
                Arc::new(store)
            }
        }
    }

    fn cache<R: WasmRuntime>(&self, runtime: R, options: CacheOptions) -> CompileCache<R, Arc<dyn ModuleCache>> {
        CompileCache::new(runtime, self.store(), options)
    }

    /// Changes the stored artifact of `key` the way a disk, a crash or a person would.
    fn damage(&self, key: &CacheKey, f: impl FnOnce(&mut Vec<u8>)) {
        match self.kind {
            StoreKind::Memory => self.memory.corrupt(key, f),
            #[cfg(feature = "redb")]
            StoreKind::Redb => {
                let path = self.artifact_path(key);
                let mut bytes = std::fs::read(&path).expect("artifact file exists");
                f(&mut bytes);
                std::fs::write(&path, bytes).expect("rewrite artifact");
            }
        }
    }

    #[cfg(feature = "redb")]
    fn artifact_path(&self, key: &CacheKey) -> std::path::PathBuf {
        self.dir.path().join("artifacts").join(format!("{}.art", key.to_hex()))
    }

    /// Rewrites the metadata of `key`'s entry (the body stays as it is).
    fn edit_meta(&self, key: &CacheKey, f: impl FnOnce(&mut ArtifactMeta)) {
        let store = self.store();
        let stored = store.load(key).expect("load").expect("entry exists");
        let body = match stored.body {
            ArtifactBody::Bytes(b) => b,
            ArtifactBody::File { path, .. } => std::fs::read(path).expect("body file"),
        };
        let mut meta = stored.meta;
        f(&mut meta);
        store.store(key, &meta, &body).expect("store");
    }

    fn keys(&self) -> BTreeSet<CacheKey> {
        self.store()
            .entries()
            .expect("entries")
            .into_iter()
            .map(|e| e.key)
            .collect()
    }
}

fn check_hit_miss_accounting<R: WasmRuntime>(engine: fn() -> R, kind: StoreKind) {
    let fx = Fixture::new(kind);
    let src = tiny_module(1);
    {
        let cache = fx.cache(engine(), CacheOptions::default());
        cache.get_or_compile(&src).expect("compiles");
        let s = cache.stats().expect("stats");
        assert_eq!(
            (s.hits, s.misses, s.compilations, s.loads, s.entries),
            (0, 1, 1, 0, 1),
            "{s:?}"
        );
        assert!(s.bytes > 0);

        cache.get_or_compile(&src).expect("in-process hit");
        let s = cache.stats().expect("stats");
        assert_eq!((s.hits, s.misses, s.compilations), (1, 1, 1), "{s:?}");
        assert_eq!(s.hit_rate, Some(0.5));
        let page = cache.extract(&src, "<p>x</p>", None).expect("extracts");
        assert_eq!(page.title.as_deref(), Some("tiny"));
    }
    // A new cache over the same store is what a new process sees: a load, not a compile.
    let cache = fx.cache(engine(), CacheOptions::default());
    cache.get_or_compile(&src).expect("store hit");
    let s = cache.stats().expect("stats");
    assert_eq!((s.hits, s.misses, s.compilations, s.loads), (1, 0, 0, 1), "{s:?}");
    let life = cache.lifetime_stats().expect("lifetime stats");
    // Hits: the second lookup and `extract` in the first cache, the load in this one.
    assert_eq!(
        (life.hits, life.misses, life.compilations, life.loads),
        (3, 1, 1, 1),
        "{life:?}"
    );
}

fn check_single_flight<R: WasmRuntime>(engine: fn() -> R, kind: StoreKind) {
    let fx = Fixture::new(kind);
    let cache = fx.cache(engine(), CacheOptions::default());
    let src = tiny_module(2);
    let barrier = Barrier::new(16);
    std::thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| {
                barrier.wait();
                let module = cache.get_or_compile(&src).expect("compiles");
                let page = riptide::extract::run_extractor(cache.runtime(), &module, "<p>x</p>", None).expect("runs");
                assert_eq!(page.text, "tiny");
            });
        }
    });
    let s = cache.stats().expect("stats");
    assert_eq!((s.compilations, s.misses, s.hits), (1, 1, 15), "{s:?}");
}

type Damage = Box<dyn Fn(&Fixture, &CacheKey)>;

/// Damage that leaves an artifact unusable; each must be rejected before the engine sees it.
fn damages() -> Vec<(&'static str, Damage)> {
    vec![
        (
            "truncated",
            Box::new(|fx: &Fixture, k: &CacheKey| fx.damage(k, |b| b.truncate(b.len() / 2))),
        ),
        (
            "bit-flipped",
            Box::new(|fx: &Fixture, k: &CacheKey| fx.damage(k, |b| b[100] ^= 0x10)),
        ),
        (
            "zero-length",
            Box::new(|fx: &Fixture, k: &CacheKey| fx.damage(k, Vec::clear)),
        ),
        (
            "padded",
            Box::new(|fx: &Fixture, k: &CacheKey| fx.damage(k, |b| b.extend_from_slice(&[0; 64]))),
        ),
        (
            "recorded under another key",
            Box::new(|fx: &Fixture, k: &CacheKey| fx.edit_meta(k, |m| m.key.0[0] ^= 1)),
        ),
        (
            "written by another engine",
            Box::new(|fx: &Fixture, k: &CacheKey| fx.edit_meta(k, |m| m.fingerprint[0] ^= 1)),
        ),
        (
            "future format",
            Box::new(|fx: &Fixture, k: &CacheKey| fx.edit_meta(k, |m| m.format = 99)),
        ),
        (
            "digest of other bytes",
            Box::new(|fx: &Fixture, k: &CacheKey| fx.edit_meta(k, |m| m.digest[0] ^= 1)),
        ),
    ]
}

fn check_damaged_artifacts_are_recompiled<R: WasmRuntime>(engine: fn() -> R, kind: StoreKind) {
    for (name, damage) in damages() {
        let fx = Fixture::new(kind);
        let src = tiny_module(3);
        let key = {
            let cache = fx.cache(engine(), CacheOptions::default());
            cache.get_or_compile(&src).expect("compiles");
            cache.key_for(&src)
        };
        damage(&fx, &key);

        let observed = Observed::new(engine());
        let deserializes = observed.deserializes.clone();
        let cache = fx.cache(observed, CacheOptions::default());
        let page = cache.extract(&src, "<p>x</p>", None).expect("recompiles and runs");
        assert_eq!(page.text, "tiny", "{name}");
        let s = cache.stats().expect("stats");
        assert_eq!((s.invalid_entries, s.compilations, s.loads), (1, 1, 0), "{name}: {s:?}");
        assert_eq!(
            deserializes.load(Ordering::SeqCst),
            0,
            "{name}: a damaged artifact reached the engine"
        );
        drop(cache);

        // The recompiled artifact replaced the damaged one.
        let cache = fx.cache(engine(), CacheOptions::default());
        cache.get_or_compile(&src).expect("loads");
        let s = cache.stats().expect("stats");
        assert_eq!((s.loads, s.compilations, s.invalid_entries), (1, 0, 0), "{name}: {s:?}");
    }
}

fn check_lru_eviction<R: WasmRuntime>(engine: fn() -> R, kind: StoreKind) {
    let fx = Fixture::new(kind);
    let (a, b, c) = (tiny_module(10), tiny_module(11), tiny_module(12));
    let size = {
        let cache = fx.cache(engine(), CacheOptions::default());
        cache.get_or_compile(&a).expect("compiles");
        cache.stats().expect("stats").bytes
    };
    let options = CacheOptions {
        max_size_bytes: size * 5 / 2,
        ..CacheOptions::default()
    };
    let cache = fx.cache(engine(), options);
    cache.get_or_compile(&b).expect("compiles b");
    assert_eq!(fx.keys().len(), 2, "two artifacts fit");
    // Use `a` again (a store load marks it used), so `b` is now least recently used.
    assert!(cache.store().load(&cache.key_for(&a)).expect("load a").is_some());
    cache.get_or_compile(&c).expect("compiles c");

    let expected: BTreeSet<_> = [cache.key_for(&a), cache.key_for(&c)].into();
    assert_eq!(fx.keys(), expected, "the least recently used entry (b) goes first");
    let s = cache.stats().expect("stats");
    assert_eq!(s.evictions, 1, "{s:?}");
    assert!(s.bytes <= size * 5 / 2, "store stays under its limit: {s:?}");
}

fn check_ttl_expiry<R: WasmRuntime>(engine: fn() -> R, kind: StoreKind) {
    let fx = Fixture::new(kind);
    let src = tiny_module(20);
    let expire_now = CacheOptions {
        ttl: Duration::ZERO,
        ..CacheOptions::default()
    };
    fx.cache(engine(), CacheOptions::default())
        .get_or_compile(&src)
        .expect("compiles");

    let cache = fx.cache(engine(), expire_now);
    cache.get_or_compile(&src).expect("recompiles");
    let s = cache.stats().expect("stats");
    assert_eq!((s.expirations, s.compilations, s.loads), (1, 1, 0), "{s:?}");

    // A generous TTL keeps it.
    let cache = fx.cache(engine(), CacheOptions::default());
    cache.get_or_compile(&src).expect("loads");
    assert_eq!(cache.stats().expect("stats").loads, 1);
}

fn check_switches<R: WasmRuntime>(engine: fn() -> R, kind: StoreKind) {
    let fx = Fixture::new(kind);
    let src = tiny_module(30);
    let off = fx.cache(
        engine(),
        CacheOptions {
            enabled: false,
            ..CacheOptions::default()
        },
    );
    for _ in 0..3 {
        off.get_or_compile(&src).expect("compiles");
    }
    let s = off.stats().expect("stats");
    assert_eq!(
        (s.compilations, s.hits, s.entries),
        (3, 0, 0),
        "disabled cache compiles every time: {s:?}"
    );

    let memory_only = fx.cache(
        engine(),
        CacheOptions {
            persist: false,
            ..CacheOptions::default()
        },
    );
    memory_only.get_or_compile(&src).expect("compiles");
    memory_only.get_or_compile(&src).expect("hit");
    let s = memory_only.stats().expect("stats");
    assert_eq!(
        (s.compilations, s.hits, s.entries),
        (1, 1, 0),
        "aot off keeps nothing on the store: {s:?}"
    );
}

fn check_malformed_module<R: WasmRuntime>(engine: fn() -> R, kind: StoreKind) {
    let fx = Fixture::new(kind);
    let cache = fx.cache(engine(), CacheOptions::default());
    for bytes in [b"not wasm at all".to_vec(), Vec::new(), b"\0asm\x01\0\0\0\x01".to_vec()] {
        let Err(err) = cache.get_or_compile(&riptide::ModuleSource::new(bytes)) else {
            panic!("malformed module must be rejected");
        };
        assert!(
            matches!(err.kind(), ErrorKind::Wasm(WasmError::InvalidModule { .. })),
            "{err:?}"
        );
        assert!(err.to_string().contains(cache.runtime().name()), "{err}");
    }
    assert_eq!(cache.stats().expect("stats").entries, 0);
}

macro_rules! suite {
    ($name:ident, $engine:path, $kind:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn hit_miss_accounting() {
                check_hit_miss_accounting($engine, $kind);
            }
            #[test]
            fn single_flight_compile() {
                check_single_flight($engine, $kind);
            }
            #[test]
            fn damaged_artifacts_are_recompiled_never_loaded() {
                check_damaged_artifacts_are_recompiled($engine, $kind);
            }
            #[test]
            fn lru_eviction() {
                check_lru_eviction($engine, $kind);
            }
            #[test]
            fn ttl_expiry() {
                check_ttl_expiry($engine, $kind);
            }
            #[test]
            fn disabled_and_memory_only() {
                check_switches($engine, $kind);
            }
            #[test]
            fn malformed_module_is_a_clear_error() {
                check_malformed_module($engine, $kind);
            }
        }
    };
}

#[cfg(feature = "wasmtime")]
suite!(wasmtime_memory, common::wasmtime, StoreKind::Memory);
#[cfg(all(feature = "wasmtime", feature = "redb"))]
suite!(wasmtime_redb, common::wasmtime, StoreKind::Redb);
#[cfg(feature = "wasmer")]
suite!(wasmer_memory, common::wasmer, StoreKind::Memory);
#[cfg(all(feature = "wasmer", feature = "redb"))]
suite!(wasmer_redb, common::wasmer, StoreKind::Redb);

/// A wasmtime artifact placed where wasmer's should be, with its own metadata moved along (as a
/// careless copy between cache directories would), is rejected by fingerprint and recompiled.
#[cfg(all(feature = "redb", feature = "wasmtime", feature = "wasmer"))]
#[test]
fn other_engine_artifact_is_recompiled() {
    let src = tiny_module(50);
    let fx = Fixture::new(StoreKind::Redb);
    let wasmtime_key = {
        let cache = fx.cache(common::wasmtime(), CacheOptions::default());
        cache.get_or_compile(&src).expect("wasmtime compiles");
        cache.key_for(&src)
    };
    let observed = Observed::new(common::wasmer());
    let deserializes = observed.deserializes.clone();
    let cache = fx.cache(observed, CacheOptions::default());
    let wasmer_key = cache.key_for(&src);
    assert_ne!(wasmtime_key, wasmer_key, "keys include the engine fingerprint");
    let stored = cache
        .store()
        .load(&wasmtime_key)
        .expect("load")
        .expect("wasmtime entry");
    let foreign = std::fs::read(fx.artifact_path(&wasmtime_key)).expect("wasmtime artifact");
    cache
        .store()
        .store(
            &wasmer_key,
            &ArtifactMeta {
                key: wasmer_key,
                ..stored.meta
            },
            &foreign,
        )
        .expect("plant");

    cache
        .extract(&src, "<p>x</p>", None)
        .expect("wasmer recompiles and runs");
    let s = cache.stats().expect("stats");
    assert_eq!((s.invalid_entries, s.compilations), (1, 1), "{s:?}");
    assert_eq!(
        deserializes.load(Ordering::SeqCst),
        0,
        "foreign artifact reached wasmer"
    );
}
