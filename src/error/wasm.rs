//! [`WasmError`]: a WebAssembly runtime or the extractor guest failed.

use std::time::Duration;

use super::BoxError;

/// A runtime that failed, or an extractor guest that broke a limit or the ABI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WasmError {
    /// Bytes handed to a runtime are not a valid WebAssembly module (or not one this runtime can
    /// run with riptide's imports).
    #[error("{runtime} rejected the WebAssembly module")]
    InvalidModule {
        /// The runtime that rejected it.
        runtime: &'static str,
        /// The runtime's error.
        #[source]
        source: BoxError,
    },

    /// A runtime failed in a way that is not the module's fault (serialization, instantiation).
    #[error("{runtime} failed to {action}")]
    Runtime {
        /// The runtime (`wasmtime`, `wasmer`).
        runtime: &'static str,
        /// What riptide asked it to do.
        action: &'static str,
        /// The runtime's error.
        #[source]
        source: BoxError,
    },

    /// The extractor input is larger than the configured bound.
    #[error("page of {len} bytes is larger than the extractor's input limit of {limit} bytes")]
    InputTooLarge {
        /// The input size.
        len: usize,
        /// The limit in force.
        limit: usize,
    },

    /// The guest ran past its execution budget (it loops forever or the page is huge).
    #[error("the extractor ran out of its execution budget of {fuel} units and was stopped")]
    OutOfFuel {
        /// The budget it was given.
        fuel: u64,
    },

    /// The guest ran past its time budget (it loops forever or the page is huge).
    #[error("the extractor ran longer than its time budget of {limit:?} and was stopped")]
    TimedOut {
        /// The budget it was given.
        limit: Duration,
    },

    /// The guest tried to grow its memory past the cap.
    #[error("the extractor tried to use more than {limit_bytes} bytes of memory and was stopped")]
    MemoryLimit {
        /// The cap in force.
        limit_bytes: usize,
    },

    /// The guest trapped (a panic, an out-of-bounds access, an unreachable).
    #[error("the extractor trapped")]
    Trap {
        /// The engine's trap.
        #[source]
        source: BoxError,
    },

    /// The guest broke the extractor ABI (missing export, bad pointer, bad JSON).
    #[error("the extractor module broke riptide's guest ABI: {message}")]
    Abi {
        /// What it did wrong.
        message: String,
    },
}

impl WasmError {
    pub(crate) fn hint(&self) -> &'static str {
        match self {
            WasmError::InvalidModule { .. } => {
                "pass a core WebAssembly module (riptide's own is wasm/riptide_extractor.wasm, rebuilt by wasm/build.sh)"
            }
            WasmError::Runtime { .. } => {
                "check the engine's message; a full disk or too little memory are common causes"
            }
            WasmError::InputTooLarge { .. } => "raise GuestLimits::max_input_bytes, or fetch less",
            WasmError::OutOfFuel { .. } => {
                "the module loops or the page is too large; raise GuestLimits::fuel if it is legitimate"
            }
            WasmError::TimedOut { .. } => {
                "the module loops or the page is too large; raise GuestLimits::max_run_time if it is legitimate"
            }
            WasmError::MemoryLimit { .. } => "raise GuestLimits::max_memory_bytes if the page legitimately needs it",
            WasmError::Trap { .. } => "report it with the page that caused it",
            WasmError::Abi { .. } => "rebuild the module with wasm/build.sh, or use the module that ships with riptide",
        }
    }

    pub(crate) fn code(&self) -> &'static str {
        match self {
            WasmError::InvalidModule { .. } => "wasm.invalid_module",
            WasmError::Runtime { .. } => "wasm.runtime",
            WasmError::InputTooLarge { .. } => "wasm.input_too_large",
            WasmError::OutOfFuel { .. } => "wasm.out_of_fuel",
            WasmError::TimedOut { .. } => "wasm.timed_out",
            WasmError::MemoryLimit { .. } => "wasm.memory_limit",
            WasmError::Trap { .. } => "wasm.trap",
            WasmError::Abi { .. } => "wasm.abi",
        }
    }
}
