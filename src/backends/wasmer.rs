//! The wasmer engine (feature `wasmer`), with the Cranelift compiler.
//!
//! wasmer has no per-store fuel or memory limiter, so both limits are built from its extension
//! points: the `Metering` middleware instruments compiled code with an instruction budget (set
//! per instance), and a tunables wrapper caps every linear memory's maximum. Because metering is
//! compiled in, it is part of the engine fingerprint.
//!
//! wasmer 7.4.2's `Module::deserialize` does not validate its input at all, which is why
//! [`crate::cache::CompileCache`] verifies every artifact's digest before calling it.

use std::ptr::NonNull;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmer::sys::vm::{MemoryError, MemoryStyle, TableStyle, VMMemory, VMMemoryDefinition, VMTable, VMTableDefinition};
use wasmer::sys::{BaseTunables, CompilerConfig, Cranelift, NativeEngineExt, Tunables};
use wasmer::wasmparser::Operator;
use wasmer::{Engine, Instance, Memory, MemoryType, Module, Pages, Store, TableType, TypedFunction, imports};
use wasmer_middlewares::Metering;
use wasmer_middlewares::metering::{MeteringPoints, get_remaining_points, set_remaining_points};

use crate::error::{Error, Result, WasmError};
use crate::traits::{GuestInstance, GuestLimits, WasmRuntime};

const ENGINE: &str = "wasmer";
/// Bumped whenever what riptide compiles into wasmer code changes (the metering cost function).
const INSTRUMENTATION: &str = "metering:cost=1-per-operator:v1";

/// wasmer with Cranelift, metering and a memory cap, configured for riptide's extractor.
#[derive(Clone)]
pub struct WasmerRuntime {
    engine: Engine,
    limits: GuestLimits,
    parallel_compilation: bool,
    fingerprint: [u8; 32],
}

impl std::fmt::Debug for WasmerRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmerRuntime")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A compiled module with the engine that owns its code: wasmer frees a module's machine code
/// with its engine, so the two travel together and instances run in a store of that engine.
#[derive(Clone)]
pub struct WasmerModule {
    module: Module,
    engine: Engine,
}

impl std::fmt::Debug for WasmerModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmerModule").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for WasmerInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmerInstance")
            .field("fuel", &self.fuel)
            .finish_non_exhaustive()
    }
}

impl WasmerModule {
    /// The underlying wasmer module.
    pub fn module(&self) -> &Module {
        &self.module
    }
}

fn cost(_op: &Operator) -> u64 {
    1
}

impl WasmerRuntime {
    /// An engine with metering, the given limits, and parallel compilation on or off.
    pub fn new(limits: GuestLimits, parallel_compilation: bool) -> Result<Self> {
        let engine = build_engine(&limits, parallel_compilation);
        let mut digest = Sha256::new();
        digest.update(ENGINE);
        digest.update(engine.deterministic_id());
        let target = engine.target();
        digest.update(format!("{:?}/{:?}", target.triple(), target.cpu_features()));
        digest.update(INSTRUMENTATION);
        // The linked wasmer release, so an upgraded wasmer never loads an older artifact.
        digest.update(wasmer::sys::vm::VERSION);
        Ok(Self {
            engine,
            limits,
            parallel_compilation,
            fingerprint: digest.finalize().into(),
        })
    }
}

impl WasmerRuntime {
    /// The engine artifacts are loaded and run with. Compiles use a fresh engine each, because
    /// wasmer's metering middleware serves exactly one module.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A deserialized module, bound to the engine that loaded it.
    fn loaded(&self, module: std::result::Result<Module, wasmer::DeserializeError>) -> Result<WasmerModule> {
        let module = module.map_err(|e| WasmError::Runtime {
            runtime: ENGINE,
            action: "load a compiled module",
            source: e.into(),
        })?;
        Ok(WasmerModule {
            module,
            engine: self.engine.clone(),
        })
    }
}

/// An engine with metering and the memory cap. wasmer's `Metering` middleware serves exactly one
/// module (it panics on a second), so every compile gets an engine of its own; loading and
/// running need no middleware and share one.
fn build_engine(limits: &GuestLimits, parallel_compilation: bool) -> Engine {
    let mut compiler = Cranelift::new();
    if !parallel_compilation {
        compiler.num_threads = std::num::NonZero::<usize>::MIN;
    }
    compiler.push_middleware(Arc::new(Metering::new(0, cost)));
    let mut engine: Engine = compiler.into();
    let max_pages = u32::try_from(limits.max_memory_bytes / wasmer::WASM_PAGE_SIZE)
        .unwrap_or(u32::MAX)
        .max(1);
    engine.set_tunables(LimitingTunables {
        base: BaseTunables::new(),
        max_pages: Pages(max_pages),
    });
    engine
}

impl WasmRuntime for WasmerRuntime {
    type Module = WasmerModule;
    type Instance = WasmerInstance;

    fn name(&self) -> &'static str {
        ENGINE
    }

    fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    fn limits(&self) -> &GuestLimits {
        &self.limits
    }

    fn compile(&self, wasm: &[u8]) -> Result<WasmerModule> {
        let engine = build_engine(&self.limits, self.parallel_compilation);
        let module = Module::new(&engine, wasm).map_err(|e| WasmError::InvalidModule {
            runtime: ENGINE,
            source: e.into(),
        })?;
        Ok(WasmerModule { module, engine })
    }

    fn serialize(&self, module: &WasmerModule) -> Result<Vec<u8>> {
        module.module.serialize().map(|b| b.to_vec()).map_err(|e| {
            WasmError::Runtime {
                runtime: ENGINE,
                action: "serialize a module",
                source: e.into(),
            }
            .into()
        })
    }

    unsafe fn deserialize(&self, artifact: &[u8]) -> Result<WasmerModule> {
        // SAFETY: the caller guarantees `artifact` is unmodified output of `serialize` on an
        // engine with our fingerprint (see the trait's contract).
        self.loaded(unsafe { Module::deserialize(&self.engine, artifact) })
    }

    fn instantiate(&self, module: &WasmerModule, input_len: usize) -> Result<WasmerInstance> {
        let mut store = Store::new(module.engine.clone());
        // The extractor must import nothing; a module that does fails here.
        let instance =
            Instance::new(&mut store, &module.module, &imports! {}).map_err(|e| WasmError::InvalidModule {
                runtime: ENGINE,
                source: e.into(),
            })?;
        let fuel = self.limits.fuel_for(input_len);
        set_remaining_points(&mut store, &instance, fuel);
        let abi = |what: &str, e: wasmer::ExportError| {
            Error::from(WasmError::Abi {
                message: format!("{what}: {e}"),
            })
        };
        let memory = instance
            .exports
            .get_memory("memory")
            .map_err(|e| abi("export `memory`", e))?
            .clone();
        let alloc = instance
            .exports
            .get_typed_function(&store, "alloc")
            .map_err(|e| abi("export `alloc(i32) -> i32`", e))?;
        let extract = instance
            .exports
            .get_typed_function(&store, "extract")
            .map_err(|e| abi("export `extract(i32, i32) -> i64`", e))?;
        // Optional: a module without it is used once per instance.
        let dealloc = instance.exports.get_typed_function(&store, "dealloc").ok();
        Ok(WasmerInstance {
            store,
            instance,
            memory,
            alloc,
            extract,
            dealloc,
            fuel,
            limits: self.limits.clone(),
        })
    }
}

/// One instance of the extractor in its own store.
pub struct WasmerInstance {
    store: Store,
    instance: Instance,
    memory: Memory,
    alloc: TypedFunction<i32, i32>,
    extract: TypedFunction<(i32, i32), i64>,
    dealloc: Option<TypedFunction<(i32, i32), ()>>,
    /// The budget of the current call.
    fuel: u64,
    limits: GuestLimits,
}

impl WasmerInstance {
    fn call_error(&mut self, e: wasmer::RuntimeError) -> Error {
        if let MeteringPoints::Exhausted = get_remaining_points(&mut self.store, &self.instance) {
            return WasmError::OutOfFuel { fuel: self.fuel }.into();
        }
        // wasmer cannot say that a grow was refused; a trap with memory at the cap is that.
        let size = self.memory.view(&self.store).data_size() as usize;
        if size.saturating_add(1 << 20) >= self.limits.max_memory_bytes {
            return WasmError::MemoryLimit {
                limit_bytes: self.limits.max_memory_bytes,
            }
            .into();
        }
        WasmError::Trap { source: e.into() }.into()
    }
}

impl GuestInstance for WasmerInstance {
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
        self.memory.view(&self.store).write(u64::from(ptr), bytes).map_err(|_| {
            Error::from(WasmError::Abi {
                message: format!("alloc returned {ptr:#x}, which cannot hold {} bytes", bytes.len()),
            })
        })
    }

    fn extract(&mut self, ptr: u32, len: u32) -> Result<i64> {
        match self.extract.call(&mut self.store, ptr as i32, len as i32) {
            Ok(packed) => Ok(packed),
            Err(e) => Err(self.call_error(e)),
        }
    }

    fn dealloc(&mut self, ptr: u32, len: u32) -> Result<()> {
        let Some(dealloc) = self.dealloc.clone() else {
            return Ok(());
        };
        dealloc
            .call(&mut self.store, ptr as i32, len as i32)
            .map_err(|e| self.call_error(e))
    }

    fn renew(&mut self, input_len: usize) -> bool {
        if self.dealloc.is_none() {
            return false;
        }
        self.fuel = self.limits.fuel_for(input_len);
        set_remaining_points(&mut self.store, &self.instance, self.fuel);
        true
    }

    fn memory_bytes(&self) -> usize {
        self.memory.view(&self.store).data_size() as usize
    }

    fn read(&mut self, ptr: u32, len: u32) -> Result<Vec<u8>> {
        let mut out = vec![0u8; len as usize];
        self.memory
            .view(&self.store)
            .read(u64::from(ptr), &mut out)
            .map_err(|_| {
                Error::from(WasmError::Abi {
                    message: format!("reply at {ptr:#x}+{len} lies outside guest memory"),
                })
            })?;
        Ok(out)
    }
}

/// wasmer's base tunables with every memory's maximum clamped to a cap, so `memory.grow` past it
/// fails inside the guest instead of taking the host's memory.
struct LimitingTunables {
    base: BaseTunables,
    max_pages: Pages,
}

impl LimitingTunables {
    fn clamp(&self, ty: &MemoryType) -> MemoryType {
        let mut ty = *ty;
        ty.maximum = Some(ty.maximum.map_or(self.max_pages, |m| m.min(self.max_pages)));
        if ty.minimum > self.max_pages {
            // Let creation fail on the base's own check rather than silently shrink the module.
            ty.maximum = Some(ty.minimum);
        }
        ty
    }
}

impl Tunables for LimitingTunables {
    fn memory_style(&self, memory: &MemoryType) -> MemoryStyle {
        self.base.memory_style(memory)
    }

    fn table_style(&self, table: &TableType) -> TableStyle {
        self.base.table_style(table)
    }

    fn create_host_memory(&self, ty: &MemoryType, style: &MemoryStyle) -> Result<VMMemory, MemoryError> {
        self.base.create_host_memory(&self.clamp(ty), style)
    }

    unsafe fn create_vm_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
        vm_definition_location: NonNull<VMMemoryDefinition>,
    ) -> Result<VMMemory, MemoryError> {
        // SAFETY: forwarded unchanged from wasmer, which upholds the location's validity.
        unsafe {
            self.base
                .create_vm_memory(&self.clamp(ty), style, vm_definition_location)
        }
    }

    fn create_host_table(&self, ty: &TableType, style: &TableStyle) -> Result<VMTable, String> {
        self.base.create_host_table(ty, style)
    }

    unsafe fn create_vm_table(
        &self,
        ty: &TableType,
        style: &TableStyle,
        vm_definition_location: NonNull<VMTableDefinition>,
    ) -> Result<VMTable, String> {
        // SAFETY: forwarded unchanged from wasmer, which upholds the location's validity.
        unsafe { self.base.create_vm_table(ty, style, vm_definition_location) }
    }
}
