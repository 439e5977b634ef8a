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
    /// One instance of a module: its own linear memory, for one extraction or, when the engine
    /// can renew it ([`GuestInstance::renew`]), a run of them.
    type Instance: GuestInstance + 'static;

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
    /// [`crate::cache::CompileCache`] upholds it by verifying a BLAKE3 digest recorded when the
    /// artifact was written, on a copy in memory that no change to the file can reach. Engines
    /// must copy what they keep of `artifact` (both do), never map a file behind it.
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
    /// Calls the guest's `dealloc(ptr, len)`, giving back a block `alloc` or `extract` handed
    /// out, so that the instance can serve another call without growing. The default gives
    /// nothing back; its instances are used once (see [`renew`](Self::renew)).
    fn dealloc(&mut self, ptr: u32, len: u32) -> Result<()> {
        let _ = (ptr, len);
        Ok(())
    }
    /// Readies the instance for one more extraction of `input_len` bytes: a budget of its own,
    /// as a fresh instance would get. Whether it can serve one; `false` (the default, and for a
    /// module without a `dealloc` export) means the instance is used once and dropped.
    fn renew(&mut self, input_len: usize) -> bool {
        let _ = input_len;
        false
    }
    /// How many bytes of linear memory the instance holds now (0 when the engine cannot say).
    fn memory_bytes(&self) -> usize {
        0
    }
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
    /// Execution budget (engine fuel units, roughly one per WebAssembly instruction) for any call,
    /// on engines that meter fuel (wasmer).
    pub fuel_base: u64,
    /// Extra fuel per input byte.
    pub fuel_per_input_byte: u64,
    /// Time budget of one extraction, on engines that interrupt by time (wasmtime, whose fuel
    /// metering costs about a third of the run time). Measured in wall time, so leave room for
    /// a loaded machine.
    pub max_run_time: std::time::Duration,
}

impl GuestLimits {
    /// The budget for an input of `input_len` bytes.
    pub fn fuel_for(&self, input_len: usize) -> u64 {
        self.fuel_base
            .saturating_add(self.fuel_per_input_byte.saturating_mul(input_len as u64))
    }
}

impl Default for GuestLimits {
    /// 16 MiB pages, 32 MiB replies, 512 MiB of guest memory, a fuel budget of about 14x what the
    /// extractor needs (measured: ~700 units per input byte on a 100 KB article), and 30 s of run
    /// time (the extractor takes about 10 ms for a 100 KB page).
    fn default() -> Self {
        Self {
            max_input_bytes: 16 << 20,
            max_output_bytes: 32 << 20,
            max_memory_bytes: 512 << 20,
            fuel_base: 100_000_000,
            fuel_per_input_byte: 10_000,
            max_run_time: std::time::Duration::from_secs(30),
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

/// What riptide records about an artifact, kept by the store beside (not inside) the engine's
/// bytes, so the bytes stay exactly what the engine wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtifactMeta {
    /// riptide's artifact format version ([`crate::cache::FORMAT_VERSION`]).
    pub format: u32,
    /// The key it was stored under.
    pub key: CacheKey,
    /// The [`WasmRuntime::fingerprint`] of the engine that wrote it.
    pub fingerprint: [u8; 32],
    /// When it was written, seconds since the Unix epoch.
    pub created_secs: u64,
    /// Length of the stored body in bytes.
    pub len: u64,
    /// BLAKE3 of the stored body.
    pub digest: [u8; 32],
    /// The body is deflate-compressed.
    pub compressed: bool,
}

impl ArtifactMeta {
    const MAGIC: &'static [u8; 8] = b"RIPTIDE\0";
    /// Size of [`ArtifactMeta::encode`]'s output.
    pub const ENCODED_LEN: usize = 8 + 4 + 4 + 32 + 32 + 8 + 8 + 32;

    /// A fixed little-endian layout, for stores that keep bytes.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(Self::MAGIC);
        put(&self.format.to_le_bytes());
        put(&u32::from(self.compressed).to_le_bytes());
        put(&self.key.0);
        put(&self.fingerprint);
        put(&self.created_secs.to_le_bytes());
        put(&self.len.to_le_bytes());
        put(&self.digest);
        out
    }

    /// Parses [`ArtifactMeta::encode`] output; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; Self::ENCODED_LEN] = bytes.try_into().ok()?;
        let (magic, rest) = bytes.split_first_chunk::<8>()?;
        if magic != Self::MAGIC {
            return None;
        }
        let (format, rest) = rest.split_first_chunk::<4>()?;
        let (flags, rest) = rest.split_first_chunk::<4>()?;
        let (key, rest) = rest.split_first_chunk::<32>()?;
        let (fingerprint, rest) = rest.split_first_chunk::<32>()?;
        let (created, rest) = rest.split_first_chunk::<8>()?;
        let (len, rest) = rest.split_first_chunk::<8>()?;
        let digest: [u8; 32] = rest.try_into().ok()?;
        Some(Self {
            format: u32::from_le_bytes(*format),
            key: CacheKey(*key),
            fingerprint: *fingerprint,
            created_secs: u64::from_le_bytes(*created),
            len: u64::from_le_bytes(*len),
            digest,
            compressed: u32::from_le_bytes(*flags) & 1 != 0,
        })
    }
}

/// A stored artifact: its metadata and its body.
#[derive(Debug)]
pub struct StoredArtifact {
    /// What was recorded when it was stored.
    pub meta: ArtifactMeta,
    /// The engine's bytes (possibly compressed).
    pub body: ArtifactBody,
}

/// Where an artifact's body is.
#[derive(Debug)]
pub enum ArtifactBody {
    /// In memory.
    Bytes(Vec<u8>),
    /// In a file, open for reading: the cache reads it once into memory and verifies that copy,
    /// so a store need not read a body it may not use.
    File {
        /// The open file.
        file: std::fs::File,
        /// Its path, for messages.
        path: std::path::PathBuf,
    },
}

/// Where compiled artifacts live: bodies and their metadata by key, plus what eviction needs.
///
/// A store does not interpret artifacts; [`crate::cache::CompileCache`] writes the metadata and
/// verifies every body against it before an engine sees it.
/// Implementations: [`crate::backends::memory::MemoryModuleCache`] (always built) and
/// [`crate::backends::redb::RedbModuleCache`] (feature `redb`, the default).
pub trait ModuleCache: Send + Sync + 'static {
    /// A short store name for messages and stats (`"memory"`, `"redb"`).
    fn name(&self) -> &'static str;

    /// The artifact stored under `key`, if the store has both its metadata and its body.
    /// Implementations should record the use for LRU cheaply (no write transaction per hit).
    fn load(&self, key: &CacheKey) -> Result<Option<StoredArtifact>>;

    /// Stores `body` with `meta` under `key`, replacing any previous entry. Never leaves a body
    /// visible without the metadata that describes it.
    fn store(&self, key: &CacheKey, meta: &ArtifactMeta, body: &[u8]) -> Result<()>;

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
    fn load(&self, key: &CacheKey) -> Result<Option<StoredArtifact>> {
        (**self).load(key)
    }
    fn store(&self, key: &CacheKey, meta: &ArtifactMeta, body: &[u8]) -> Result<()> {
        (**self).store(key, meta, body)
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
