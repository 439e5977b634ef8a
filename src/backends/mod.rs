//! Backends for the contracts in [`crate::traits`], one file each, each behind its feature.
//!
//! Backends depend on the traits, never on each other.

#[cfg(feature = "chrome")]
pub mod chrome;
pub mod memory;
pub mod no_browser;
#[cfg(feature = "redb")]
pub mod redb;
#[cfg(feature = "wasmer")]
pub mod wasmer;
#[cfg(feature = "wasmtime")]
pub mod wasmtime;
