//! The two contracts of the WASM module cache: an engine ([`WasmRuntime`]) and a place where its
//! compiled artifacts live ([`ModuleCache`]).
//!
//! They are separate because they vary separately: wasmtime or wasmer, on disk or in memory, in
//! any combination. [`crate::cache::CompileCache`] joins one of each.

use std::fmt;
use std::time::SystemTime;

use crate::error::Result;

/// A WebAssembly engine able to compile riptide's extractor ahead of time, persist the result,
/// and run it under limits.
///
/// Implementations: [`crate::backends::wasmtime::WasmtimeRuntime`] (feature `wasmtime`) and
/// [`crate::backends::wasmer::WasmerRuntime`] (feature `wasmer`).
pub trait WasmRuntime: Send + Sync + 'static {
    /// A compiled module, cheap to clone and shareable across threads.
    type Module: Clone + Send + Sync + 'static;
    /// One instance of a module: a fresh linear memory for one extraction.
    type Instance: GuestInstance;

    /// A short engine name for messages and stats (`"wasmtime"`, `"wasmer"`).
    fn name(&self) -> &'static str;

    /// Identifies everything that makes an artifact loadable by this engine: engine and version,
    /// target CPU features, and the settings baked into compiled code. Artifacts are keyed by it,
    /// so an artifact of another engine or configuration is never looked up.
    fn fingerprint(&self) -> [u8; 32];

    /// The limits every instance runs under.
    fn limits(&self) -> &GuestLimits;

    /// Validates and compiles a WebAssembly module.
    fn compile(&self, wasm: &[u8]) -> Result<Self::Module>;

    /// Turns a compiled module into bytes that [`WasmRuntime::deserialize`] accepts.
    fn serialize(&self, module: &Self::Module) -> Result<Vec<u8>>;

    /// Loads a compiled module from bytes made by [`WasmRuntime::serialize`].
    ///
    /// # Safety
    /// The bytes are machine code that will run in this process. They must be exactly what
    /// `serialize` produced on an engine with the same [`fingerprint`](WasmRuntime::fingerprint),
    /// unmodified since. Engines do not (wasmer) or cannot fully (wasmtime) check this themselves.
    /// [`crate::cache::CompileCache`] upholds it by verifying a SHA-256 digest recorded when the
    /// artifact was written.
    unsafe fn deserialize(&self, artifact: &[u8]) -> Result<Self::Module>;

    /// Creates a fresh instance with a budget sized for `input_len` bytes of input.
    fn instantiate(&self, module: &Self::Module, input_len: usize) -> Result<Self::Instance>;
}

/// The guest side of riptide's extractor ABI, as an engine exposes it.
///
/// Every method bounds-checks against the guest's memory: a misbehaving guest produces an error,
/// never a host panic. [`crate::extract`] drives these calls.
pub trait GuestInstance {
    /// Calls the guest's `alloc(len)`; returns the pointer.
    fn alloc(&mut self, len: u32) -> Result<u32>;
    /// Copies `bytes` into guest memory at `ptr`.
    fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<()>;
    /// Calls the guest's `extract(ptr, len)`; returns its packed `(ptr << 32) | len`.
    fn extract(&mut self, ptr: u32, len: u32) -> Result<i64>;
    /// Copies `len` bytes out of guest memory at `ptr`.
    fn read(&mut self, ptr: u32, len: u32) -> Result<Vec<u8>>;
}

/// What a guest may consume. The host never trusts the guest: these bound every call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestLimits {
    /// Largest page handed to the extractor.
    pub max_input_bytes: usize,
    /// Largest JSON reply accepted from it.
    pub max_output_bytes: usize,
    /// Largest linear memory an instance may grow to.
    pub max_memory_bytes: usize,
    /// Execution budget (engine fuel units, roughly one per WebAssembly instruction) for any call.
    pub fuel_base: u64,
    /// Extra budget per input byte.
    pub fuel_per_input_byte: u64,
}

impl GuestLimits {
    /// The budget for an input of `input_len` bytes.
    pub fn fuel_for(&self, input_len: usize) -> u64 {
        self.fuel_base
            .saturating_add(self.fuel_per_input_byte.saturating_mul(input_len as u64))
    }
}

impl Default for GuestLimits {
    /// 16 MiB pages, 32 MiB replies, 512 MiB of guest memory, and a budget of about 14x what the
    /// extractor needs (measured: ~700 units per input byte on a 100 KB article).
    fn default() -> Self {
        Self {
            max_input_bytes: 16 << 20,
            max_output_bytes: 32 << 20,
            max_memory_bytes: 512 << 20,
            fuel_base: 100_000_000,
            fuel_per_input_byte: 10_000,
        }
    }
}

/// A cache key: SHA-256 of the module's digest, the engine fingerprint and riptide's artifact
/// format version.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(pub [u8; 32]);

impl CacheKey {
    /// Lower-case hex, as used in file names.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses [`CacheKey::to_hex`] output.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({})", self.to_hex())
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// What a store knows about one entry, for eviction and stats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// The entry's key.
    pub key: CacheKey,
    /// Bytes it occupies.
    pub size_bytes: u64,
    /// When it was written.
    pub created: SystemTime,
    /// When it was last loaded (or written).
    pub last_used: SystemTime,
}

/// Counters a store keeps across processes, so stats survive restarts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredCounters {
    /// Lookups answered from memory or the store.
    pub hits: u64,
    /// Lookups that had to compile.
    pub misses: u64,
    /// Compilations.
    pub compilations: u64,
    /// Total compile time, microseconds.
    pub compile_micros: u64,
    /// Loads from the store.
    pub loads: u64,
    /// Total load time (read, verify, deserialize), microseconds.
    pub load_micros: u64,
    /// Entries that failed verification or loading and were recompiled.
    pub invalid_entries: u64,
    /// Entries removed to stay under the size limit.
    pub evictions: u64,
    /// Entries removed because they outlived their TTL.
    pub expirations: u64,
}

impl StoredCounters {
    /// Adds `other` to `self`, field by field.
    pub fn add(&mut self, other: &StoredCounters) {
        self.hits += other.hits;
        self.misses += other.misses;
        self.compilations += other.compilations;
        self.compile_micros += other.compile_micros;
        self.loads += other.loads;
        self.load_micros += other.load_micros;
        self.invalid_entries += other.invalid_entries;
        self.evictions += other.evictions;
        self.expirations += other.expirations;
    }
}

/// Where compiled artifacts live: opaque bytes by key, plus the metadata eviction needs.
///
/// A store does not interpret artifacts; [`crate::cache::CompileCache`] frames and verifies them.
/// Implementations: [`crate::backends::memory::MemoryStore`] (always built) and
/// [`crate::backends::redb::RedbStore`] (feature `redb`, the default).
pub trait ModuleCache: Send + Sync + 'static {
    /// A short store name for messages and stats (`"memory"`, `"redb"`).
    fn name(&self) -> &'static str;

    /// The artifact stored under `key`, if any. Implementations should record the use for LRU
    /// cheaply (no write transaction per hit).
    fn load(&self, key: &CacheKey) -> Result<Option<Vec<u8>>>;

    /// The digest passed to [`ModuleCache::store`] for `key`, if the store keeps it apart from
    /// the artifact (a second, independent record the cache verifies against).
    fn recorded_digest(&self, key: &CacheKey) -> Result<Option<[u8; 32]>>;

    /// Stores `artifact` under `key`, replacing any previous entry, and records `digest` (the
    /// SHA-256 the cache computed of the compiled code inside it). Never leaves a partial entry
    /// visible to readers.
    fn store(&self, key: &CacheKey, artifact: &[u8], digest: [u8; 32]) -> Result<()>;

    /// Removes the entry under `key`; removing a missing entry is not an error.
    fn remove(&self, key: &CacheKey) -> Result<()>;

    /// Every entry with its size and times.
    fn entries(&self) -> Result<Vec<EntryInfo>>;

    /// The counters accumulated by every process that used this store.
    fn counters(&self) -> Result<StoredCounters>;

    /// Adds `delta` to the stored counters.
    fn add_counters(&self, delta: &StoredCounters) -> Result<()>;
}

/// A shared store is a store: lets several caches (or a cache and a test) use one instance.
impl<T: ModuleCache + ?Sized> ModuleCache for std::sync::Arc<T> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn load(&self, key: &CacheKey) -> Result<Option<Vec<u8>>> {
        (**self).load(key)
    }
    fn recorded_digest(&self, key: &CacheKey) -> Result<Option<[u8; 32]>> {
        (**self).recorded_digest(key)
    }
    fn store(&self, key: &CacheKey, artifact: &[u8], digest: [u8; 32]) -> Result<()> {
        (**self).store(key, artifact, digest)
    }
    fn remove(&self, key: &CacheKey) -> Result<()> {
        (**self).remove(key)
    }
    fn entries(&self) -> Result<Vec<EntryInfo>> {
        (**self).entries()
    }
    fn counters(&self) -> Result<StoredCounters> {
        (**self).counters()
    }
    fn add_counters(&self, delta: &StoredCounters) -> Result<()> {
        (**self).add_counters(delta)
    }
}
