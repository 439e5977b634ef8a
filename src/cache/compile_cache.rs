//! [`CompileCache`]: `get_or_compile` over a runtime and a store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

use super::artifact::{self, FORMAT_VERSION, Verified};
use super::source::ModuleSource;
use super::stats::{self, CacheStats, Counters};
use crate::config::WasmCacheConfig;
use crate::error::Result;
use crate::extract::{ExtractedContent, run_extractor};
use crate::traits::{CacheKey, ModuleCache, StoredCounters, WasmRuntime};

/// How the cache behaves; [`CacheOptions::from_config`] maps `[optimizations.wasm_cache]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheOptions {
    /// `false`: compile on every call, keep nothing (for comparisons).
    pub enabled: bool,
    /// `false`: keep compiled modules in this process only, never write the store.
    pub persist: bool,
    /// Upper bound of the store's size; least recently used entries go first.
    pub max_size_bytes: u64,
    /// Entries older than this are recompiled.
    pub ttl: Duration,
    /// Deflate artifacts in the store (smaller, ~2-3 ms slower per load).
    pub compress: bool,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self::from_config(&WasmCacheConfig::default())
    }
}

impl CacheOptions {
    /// Options from the `[optimizations.wasm_cache]` section.
    pub fn from_config(c: &WasmCacheConfig) -> Self {
        Self {
            enabled: c.enabled,
            persist: c.aot_enabled,
            max_size_bytes: c.max_cache_size_mb.saturating_mul(1 << 20),
            ttl: Duration::from_secs(c.entry_ttl_days.saturating_mul(86_400)),
            compress: c.compress_cached_modules,
        }
    }
}

/// Loaded modules by the SHA-256 of their WebAssembly bytes.
type LoadedModules<M> = HashMap<[u8; 32], Arc<Slot<M>>>;

/// One module's place in the in-process map. `compiling` makes concurrent first requests wait
/// for one compile instead of each compiling.
struct Slot<M> {
    module: OnceLock<M>,
    compiling: Mutex<()>,
}

/// Compiled modules of one engine, reused in-process and through a store.
///
/// Calls block while compiling (hundreds of milliseconds) or loading (about a millisecond); from
/// async code call them inside `tokio::task::spawn_blocking`. Hits on modules already loaded in
/// this process take well under a microsecond and never hash or touch the store.
pub struct CompileCache<R: WasmRuntime, C: ModuleCache> {
    runtime: R,
    store: C,
    options: CacheOptions,
    loaded: RwLock<LoadedModules<R::Module>>,
    counters: Counters,
    flushed: Mutex<StoredCounters>,
}

impl<R: WasmRuntime, C: ModuleCache> std::fmt::Debug for CompileCache<R, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompileCache")
            .field("runtime", &self.runtime.name())
            .field("store", &self.store.name())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<R: WasmRuntime, C: ModuleCache> CompileCache<R, C> {
    /// A cache compiling with `runtime` and keeping artifacts in `store`.
    pub fn new(runtime: R, store: C, options: CacheOptions) -> Self {
        Self {
            runtime,
            store,
            options,
            loaded: RwLock::new(HashMap::new()),
            counters: Counters::default(),
            flushed: Mutex::new(StoredCounters::default()),
        }
    }

    /// The engine.
    pub fn runtime(&self) -> &R {
        &self.runtime
    }

    /// The store.
    pub fn store(&self) -> &C {
        &self.store
    }

    /// The options in force.
    pub fn options(&self) -> &CacheOptions {
        &self.options
    }

    /// The key `source` is stored under with this engine.
    pub fn key_for(&self, source: &ModuleSource) -> CacheKey {
        let mut h = Sha256::new();
        h.update(source.digest());
        h.update(self.runtime.fingerprint());
        h.update(FORMAT_VERSION.to_le_bytes());
        CacheKey(h.finalize().into())
    }

    /// The compiled module for `source`: from this process, else from the store, else compiled
    /// (and stored).
    ///
    /// Fails only if the module does not compile; every store problem is logged and answered
    /// by compiling.
    pub fn get_or_compile(&self, source: &ModuleSource) -> Result<R::Module> {
        if !self.options.enabled {
            return self.compile(source);
        }
        let slot = self.slot(source.digest());
        if let Some(module) = slot.module.get() {
            Counters::bump(&self.counters.hits);
            return Ok(module.clone());
        }
        let _single_flight = crate::sync::lock(&slot.compiling);
        if let Some(module) = slot.module.get() {
            Counters::bump(&self.counters.hits);
            return Ok(module.clone());
        }
        let module = self.load_or_compile(source)?;
        Ok(slot.module.get_or_init(|| module).clone())
    }

    /// Extracts `html` with the module of `source` (usually [`ModuleSource::extractor`]).
    pub fn extract(&self, source: &ModuleSource, html: &str, base_url: Option<&str>) -> Result<ExtractedContent> {
        let module = self.get_or_compile(source)?;
        run_extractor(&self.runtime, &module, html, base_url)
    }

    fn slot(&self, digest: [u8; 32]) -> Arc<Slot<R::Module>> {
        if let Some(slot) = crate::sync::read(&self.loaded).get(&digest) {
            return slot.clone();
        }
        let mut map = crate::sync::write(&self.loaded);
        map.entry(digest)
            .or_insert_with(|| {
                Arc::new(Slot {
                    module: OnceLock::new(),
                    compiling: Mutex::new(()),
                })
            })
            .clone()
    }

    fn load_or_compile(&self, source: &ModuleSource) -> Result<R::Module> {
        if !self.options.persist {
            return self.compile(source);
        }
        let key = self.key_for(source);
        let started = Instant::now();
        match self.load(&key) {
            Ok(Some(module)) => {
                Counters::bump(&self.counters.hits);
                Counters::add_time(&self.counters.loads, &self.counters.load_micros, started.elapsed());
                return Ok(module);
            }
            Ok(None) => {}
            Err(reason) => {
                tracing::warn!(key = %key, store = self.store.name(), %reason, "cached artifact rejected; recompiling");
                Counters::bump(&self.counters.invalid_entries);
                if let Err(e) = self.store.remove(&key) {
                    tracing::warn!(key = %key, error = %e, "could not remove the rejected artifact");
                }
            }
        }
        let module = self.compile(source)?;
        self.persist(&key, &module);
        Ok(module)
    }

    /// `Ok(None)`: nothing usable stored (absent or expired). `Err`: stored but rejected.
    fn load(&self, key: &CacheKey) -> Result<Option<R::Module>, String> {
        let stored = match self.store.load(key) {
            Ok(Some(stored)) => stored,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::warn!(key = %key, error = %e, "cache store unreadable; compiling instead");
                return Ok(None);
            }
        };
        let age = crate::sync::now_unix_secs().saturating_sub(stored.meta.created_secs);
        if age >= self.options.ttl.as_secs() {
            Counters::bump(&self.counters.expirations);
            if let Err(e) = self.store.remove(key) {
                tracing::warn!(key = %key, error = %e, "could not remove the expired artifact");
            }
            return Ok(None);
        }
        let Verified(bytes) = artifact::verify(key, self.runtime.fingerprint(), stored)?;
        // SAFETY: `verify` checked that these bytes are, byte for byte, what was sealed under
        // `key` by an engine with this runtime's fingerprint (recorded length and BLAKE3
        // digest), i.e. unmodified `serialize` output of a compatible engine, as `deserialize`
        // requires; and they are a copy in memory that nothing outside this process can change.
        let module = unsafe { self.runtime.deserialize(&bytes) };
        module.map(Some).map_err(|e| e.to_string())
    }

    fn compile(&self, source: &ModuleSource) -> Result<R::Module> {
        let started = Instant::now();
        let module = self.runtime.compile(source.bytes())?;
        Counters::add_time(
            &self.counters.compilations,
            &self.counters.compile_micros,
            started.elapsed(),
        );
        Counters::bump(&self.counters.misses);
        Ok(module)
    }

    fn persist(&self, key: &CacheKey, module: &R::Module) {
        let payload = match self.runtime.serialize(module) {
            Ok(p) => p,
            Err(e) => {
                return tracing::warn!(error = %e, "could not serialize the compiled module; it stays in memory only");
            }
        };
        let (meta, body) = artifact::seal(key, self.runtime.fingerprint(), &payload, self.options.compress);
        if let Err(e) = self.store.store(key, &meta, &body) {
            return tracing::warn!(error = %e, "could not store the compiled module; it stays in memory only");
        }
        if let Err(e) = self.enforce_limits(key) {
            tracing::warn!(error = %e, "could not evict old artifacts");
        }
    }

    /// Drops expired entries, then least recently used ones until the store fits its limit.
    /// `keep` (just written) goes last.
    fn enforce_limits(&self, keep: &CacheKey) -> Result<()> {
        let now = SystemTime::now();
        let mut entries = self.store.entries()?;
        let mut kept = Vec::with_capacity(entries.len());
        for e in entries.drain(..) {
            let expired = now.duration_since(e.created).is_ok_and(|age| age >= self.options.ttl);
            if expired && e.key != *keep {
                self.store.remove(&e.key)?;
                Counters::bump(&self.counters.expirations);
            } else {
                kept.push(e);
            }
        }
        let mut total: u64 = kept.iter().map(|e| e.size_bytes).sum();
        kept.sort_by_key(|e| (e.key == *keep, e.last_used));
        for e in kept {
            if total <= self.options.max_size_bytes {
                break;
            }
            self.store.remove(&e.key)?;
            Counters::bump(&self.counters.evictions);
            total -= e.size_bytes;
            if e.key == *keep {
                tracing::warn!(
                    size = e.size_bytes,
                    limit = self.options.max_size_bytes,
                    "artifact alone exceeds max_cache_size_mb; not kept on disk"
                );
            }
        }
        Ok(())
    }

    /// Forgets the modules loaded in this process (the store is untouched).
    pub fn clear_loaded(&self) {
        crate::sync::write(&self.loaded).clear();
    }

    /// Removes every entry from the store and forgets loaded modules.
    pub fn clear(&self) -> Result<()> {
        self.clear_loaded();
        for e in self.store.entries()? {
            self.store.remove(&e.key)?;
        }
        Ok(())
    }

    /// This cache instance's counters, with the store's current entries and bytes.
    pub fn stats(&self) -> Result<CacheStats> {
        self.stats_from(&self.counters.snapshot())
    }

    /// Counters of every process that used the store, including this one's unflushed part.
    pub fn lifetime_stats(&self) -> Result<CacheStats> {
        let mut total = self.store.counters()?;
        let flushed = *crate::sync::lock(&self.flushed);
        total.add(&stats::delta(&self.counters.snapshot(), &flushed));
        self.stats_from(&total)
    }

    fn stats_from(&self, counters: &StoredCounters) -> Result<CacheStats> {
        let entries = self.store.entries()?;
        let bytes = entries.iter().map(|e| e.size_bytes).sum();
        Ok(CacheStats::new(
            self.runtime.name(),
            self.store.name(),
            counters,
            entries.len() as u64,
            bytes,
        ))
    }

    /// Adds this process's counters since the last flush to the store. Called on drop too.
    pub fn flush_stats(&self) -> Result<()> {
        let mut flushed = crate::sync::lock(&self.flushed);
        let now = self.counters.snapshot();
        let delta = stats::delta(&now, &flushed);
        if delta != StoredCounters::default() {
            self.store.add_counters(&delta)?;
        }
        *flushed = now;
        Ok(())
    }
}

impl<R: WasmRuntime, C: ModuleCache> Drop for CompileCache<R, C> {
    fn drop(&mut self) {
        if let Err(e) = self.flush_stats() {
            tracing::debug!(error = %e, "could not save cache counters");
        }
    }
}
