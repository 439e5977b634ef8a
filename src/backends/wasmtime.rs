//! The wasmtime engine (feature `wasmtime`, on by default).
//!
//! Guests run under a time budget ([`GuestLimits::max_run_time`]) enforced with wasmtime's epoch
//! interruption: a guest that loops forever is stopped when the budget runs out. Fuel metering,
//! used before, counted every basic block and cost about a third of the extractor's run time
//! (BENCHMARKS.md); an epoch check is one load and compare at function entries and loop heads,
//! and a background thread per engine advances the epoch every [`EPOCH_TICK`]. A resource
//! limiter refuses memory growth past [`GuestLimits::max_memory_bytes`]. Modules are
//! pre-linked once ([`wasmtime::InstancePre`]) so instantiating one per extraction costs
//! microseconds: every extraction gets a fresh, zeroed memory, and no guest state leaks between
//! pages.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::{
    Config, Engine, Inlining, InstancePre, Linker, Memory, Module, ResourceLimiter, Store, Trap, TypedFunc,
};

use crate::error::{BoxError, Error, Result, WasmError};
use crate::traits::{GuestInstance, GuestLimits, WasmRuntime};

const ENGINE: &str = "wasmtime";

/// How often an engine's epoch advances: the granularity of the time budget.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// wasmtime, configured for riptide's extractor.
#[derive(Clone)]
pub struct WasmtimeRuntime {
    engine: Engine,
    linker: Linker<Limiter>,
    limits: GuestLimits,
    fingerprint: [u8; 32],
}

impl std::fmt::Debug for WasmtimeRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmtimeRuntime")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A compiled module, pre-linked for fast instantiation.
#[derive(Clone)]
pub struct WasmtimeModule {
    pre: InstancePre<Limiter>,
}

impl std::fmt::Debug for WasmtimeModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmtimeModule").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for WasmtimeInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmtimeInstance")
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl WasmtimeModule {
    /// The underlying wasmtime module.
    pub fn module(&self) -> &Module {
        self.pre.module()
    }
}

impl WasmtimeRuntime {
    /// An engine with epoch interruption (and the thread that advances its epoch), the given
    /// limits, and parallel compilation on or off.
    pub fn new(limits: GuestLimits, parallel_compilation: bool) -> Result<Self> {
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .parallel_compilation(parallel_compilation)
            // Cranelift inlines small wasm functions into their callers: about 4% fewer
            // instructions per page on the extractor, for a longer compile that the module
            // cache pays once.
            .compiler_inlining(Inlining::Yes);
        let engine = Engine::new(&config).map_err(|e| engine_err("create an engine", e))?;
        start_epoch_ticker(&engine)?;
        let mut hasher = Sha256Hasher(Sha256::new());
        ENGINE.hash(&mut hasher);
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let fingerprint = hasher.0.finalize().into();
        let linker = Linker::new(&engine);
        Ok(Self {
            engine,
            linker,
            limits,
            fingerprint,
        })
    }

    /// The wasmtime engine, for callers that want to run other modules beside riptide's.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn prepare(&self, module: Module) -> Result<WasmtimeModule> {
        // The extractor must import nothing; a module that does fails here.
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| WasmError::InvalidModule {
                runtime: ENGINE,
                source: boxed(e),
            })?;
        Ok(WasmtimeModule { pre })
    }
}

/// Feeds `Hash` output into SHA-256, so an engine's compatibility hash becomes a stable digest
/// (std's `DefaultHasher` is not guaranteed stable across releases).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn engine_err(action: &'static str, e: wasmtime::Error) -> Error {
    WasmError::Runtime {
        runtime: ENGINE,
        action,
        source: boxed(e),
    }
    .into()
}

/// wasmtime's error, kept as a source.
fn boxed(e: wasmtime::Error) -> BoxError {
    e.into()
}

impl WasmRuntime for WasmtimeRuntime {
    type Module = WasmtimeModule;
    type Instance = WasmtimeInstance;

    fn name(&self) -> &'static str {
        ENGINE
    }

    fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    fn limits(&self) -> &GuestLimits {
        &self.limits
    }

    fn compile(&self, wasm: &[u8]) -> Result<WasmtimeModule> {
        let module = Module::new(&self.engine, wasm).map_err(|e| WasmError::InvalidModule {
            runtime: ENGINE,
            source: boxed(e),
        })?;
        self.prepare(module)
    }

    fn serialize(&self, module: &WasmtimeModule) -> Result<Vec<u8>> {
        module
            .module()
            .serialize()
            .map_err(|e| engine_err("serialize a module", e))
    }

    unsafe fn deserialize(&self, artifact: &[u8]) -> Result<WasmtimeModule> {
        // SAFETY: the caller guarantees `artifact` is unmodified output of `serialize` on an
        // engine with our fingerprint (see the trait's contract).
        let module = unsafe { Module::deserialize(&self.engine, artifact) }
            .map_err(|e| engine_err("load a compiled module", e))?;
        self.prepare(module)
    }

    fn instantiate(&self, module: &WasmtimeModule, _input_len: usize) -> Result<WasmtimeInstance> {
        let mut store = Store::new(
            &self.engine,
            Limiter {
                max_memory: self.limits.max_memory_bytes,
                refused: false,
            },
        );
        store.limiter(|l| l as &mut dyn ResourceLimiter);
        let budget = self.limits.max_run_time;
        set_deadline(&mut store, budget);
        store.epoch_deadline_trap();
        let instance = module
            .pre
            .instantiate(&mut store)
            .map_err(|e| engine_err("instantiate the extractor", e))?;
        let abi = |what: &str, e: wasmtime::Error| {
            Error::from(WasmError::Abi {
                message: format!("{what}: {e:#}"),
            })
        };
        let memory = instance.get_memory(&mut store, "memory").ok_or_else(|| {
            Error::from(WasmError::Abi {
                message: "no exported `memory`".into(),
            })
        })?;
        let alloc = instance
            .get_typed_func(&mut store, "alloc")
            .map_err(|e| abi("export `alloc(i32) -> i32`", e))?;
        let extract = instance
            .get_typed_func(&mut store, "extract")
            .map_err(|e| abi("export `extract(i32, i32) -> i64`", e))?;
        // Optional: a module without it is used once per instance.
        let dealloc = instance.get_typed_func(&mut store, "dealloc").ok();
        Ok(WasmtimeInstance {
            store,
            memory,
            alloc,
            extract,
            dealloc,
            budget,
        })
    }
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] on a thread of its own, until the engine is
/// dropped (the thread holds it weakly, and ends within a tick of the last clone going away).
fn start_epoch_ticker(engine: &Engine) -> Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("riptide-wasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
        .map_err(|e| {
            WasmError::Runtime {
                runtime: ENGINE,
                action: "start the epoch thread",
                source: e.into(),
            }
            .into()
        })
}

/// Refuses memory growth past the cap and remembers that it did, so the error can say so.
struct Limiter {
    max_memory: usize,
    refused: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let ok = desired <= self.max_memory;
        self.refused |= !ok;
        Ok(ok)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // The extractor's only table is its fixed function table.
        Ok(desired <= 100_000)
    }
}

/// The epoch deadline of `budget` from now: one tick more than the budget, as the current tick
/// is already partly gone.
fn set_deadline(store: &mut Store<Limiter>, budget: Duration) {
    let ticks = budget.as_nanos().div_ceil(EPOCH_TICK.as_nanos()).saturating_add(1);
    // wasmtime adds the deadline to the current epoch unchecked: a huge budget must not wrap.
    store.set_epoch_deadline(u64::try_from(ticks).map_or(u64::MAX / 2, |t| t.min(u64::MAX / 2)));
}

/// One instance of the extractor in its own store.
pub struct WasmtimeInstance {
    store: Store<Limiter>,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    extract: TypedFunc<(i32, i32), i64>,
    dealloc: Option<TypedFunc<(i32, i32), ()>>,
    budget: Duration,
}

impl WasmtimeInstance {
    fn call_error(&self, e: wasmtime::Error) -> Error {
        if self.store.data().refused {
            return WasmError::MemoryLimit {
                limit_bytes: self.store.data().max_memory,
            }
            .into();
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Error::from(WasmError::TimedOut { limit: self.budget }),
            Some(_) | None => WasmError::Trap { source: boxed(e) }.into(),
        }
    }
}

impl GuestInstance for WasmtimeInstance {
    fn alloc(&mut self, len: u32) -> Result<u32> {
        let len = i32::try_from(len).map_err(|_| {
            Error::from(WasmError::Abi {
                message: format!("cannot allocate {len} bytes in a 32-bit guest"),
            })
        })?;
        match self.alloc.call(&mut self.store, len) {
            Ok(ptr) => Ok(ptr as u32),
            Err(e) => Err(self.call_error(e)),
        }
    }

    fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<()> {
        self.memory.write(&mut self.store, ptr as usize, bytes).map_err(|_| {
            Error::from(WasmError::Abi {
                message: format!("alloc returned {ptr:#x}, which cannot hold {} bytes", bytes.len()),
            })
        })
    }

    fn extract(&mut self, ptr: u32, len: u32) -> Result<i64> {
        match self.extract.call(&mut self.store, (ptr as i32, len as i32)) {
            Ok(packed) => Ok(packed),
            Err(e) => Err(self.call_error(e)),
        }
    }

    fn dealloc(&mut self, ptr: u32, len: u32) -> Result<()> {
        let Some(dealloc) = self.dealloc.clone() else {
            return Ok(());
        };
        dealloc
            .call(&mut self.store, (ptr as i32, len as i32))
            .map_err(|e| self.call_error(e))
    }

    fn renew(&mut self, _input_len: usize) -> bool {
        if self.dealloc.is_none() || self.store.data().refused {
            return false;
        }
        set_deadline(&mut self.store, self.budget);
        true
    }

    fn memory_bytes(&self) -> usize {
        self.memory.data_size(&self.store)
    }

    fn read(&mut self, ptr: u32, len: u32) -> Result<Vec<u8>> {
        let mut out = vec![0u8; len as usize];
        self.memory.read(&self.store, ptr as usize, &mut out).map_err(|_| {
            Error::from(WasmError::Abi {
                message: format!("reply at {ptr:#x}+{len} lies outside guest memory"),
            })
        })?;
        Ok(out)
    }
}
