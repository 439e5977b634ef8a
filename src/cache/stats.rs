//! Counters of the compile cache: lock-free on the hit path, flushed to the store in batches.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;

use crate::traits::StoredCounters;

/// Atomic twins of [`StoredCounters`] for one cache instance.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub compilations: AtomicU64,
    pub compile_micros: AtomicU64,
    pub loads: AtomicU64,
    pub load_micros: AtomicU64,
    pub invalid_entries: AtomicU64,
    pub evictions: AtomicU64,
    pub expirations: AtomicU64,
}

impl Counters {
    pub(super) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub(super) fn add_time(count: &AtomicU64, micros: &AtomicU64, elapsed: Duration) {
        count.fetch_add(1, Relaxed);
        micros.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    pub(super) fn snapshot(&self) -> StoredCounters {
        StoredCounters {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            compilations: self.compilations.load(Relaxed),
            compile_micros: self.compile_micros.load(Relaxed),
            loads: self.loads.load(Relaxed),
            load_micros: self.load_micros.load(Relaxed),
            invalid_entries: self.invalid_entries.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
            expirations: self.expirations.load(Relaxed),
        }
    }
}

/// `a - b`, field by field (for the part of a snapshot not yet flushed).
pub(crate) fn delta(a: &StoredCounters, b: &StoredCounters) -> StoredCounters {
    StoredCounters {
        hits: a.hits - b.hits,
        misses: a.misses - b.misses,
        compilations: a.compilations - b.compilations,
        compile_micros: a.compile_micros - b.compile_micros,
        loads: a.loads - b.loads,
        load_micros: a.load_micros - b.load_micros,
        invalid_entries: a.invalid_entries - b.invalid_entries,
        evictions: a.evictions - b.evictions,
        expirations: a.expirations - b.expirations,
    }
}

/// A view of the cache for people: counters plus what the store holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CacheStats {
    /// The WASM runtime (`wasmtime`, `wasmer`).
    pub runtime: &'static str,
    /// The store (`redb`, `memory`).
    pub store: &'static str,
    /// Lookups served without compiling (from memory or the store).
    pub hits: u64,
    /// Lookups that compiled.
    pub misses: u64,
    /// `hits / (hits + misses)`; `None` (`null` in JSON) when there were none.
    pub hit_rate: Option<f64>,
    /// Compilations.
    pub compilations: u64,
    /// Mean compile time, milliseconds; `None` before the first compilation.
    pub avg_compile_ms: Option<f64>,
    /// Loads from the store.
    pub loads: u64,
    /// Mean load time (read, verify, deserialize), milliseconds; `None` before the first load.
    pub avg_load_ms: Option<f64>,
    /// Entries that failed verification or loading and were recompiled.
    pub invalid_entries: u64,
    /// Entries evicted to stay under the size limit.
    pub evictions: u64,
    /// Entries dropped for outliving their TTL.
    pub expirations: u64,
    /// Entries in the store now.
    pub entries: u64,
    /// Bytes in the store now.
    pub bytes: u64,
}

impl CacheStats {
    pub(crate) fn new(
        runtime: &'static str,
        store: &'static str,
        c: &StoredCounters,
        entries: u64,
        bytes: u64,
    ) -> Self {
        let mean_ms = |micros: u64, n: u64| (n > 0).then(|| micros as f64 / n as f64 / 1000.0);
        let lookups = c.hits + c.misses;
        Self {
            runtime,
            store,
            hits: c.hits,
            misses: c.misses,
            hit_rate: (lookups > 0).then(|| c.hits as f64 / lookups as f64),
            compilations: c.compilations,
            avg_compile_ms: mean_ms(c.compile_micros, c.compilations),
            loads: c.loads,
            avg_load_ms: mean_ms(c.load_micros, c.loads),
            invalid_entries: c.invalid_entries,
            evictions: c.evictions,
            expirations: c.expirations,
            entries,
            bytes,
        }
    }
}
