//! Backends for the contracts in [`crate::traits`], one file each, each behind its feature.
//!
//! Backends depend on the traits, never on each other. The two Chromium providers share
//! `chromium/`: what a local Chromium is (its command line, process tree and directories) and
//! the script a render runs in its page, whichever DevTools client drives it.

#[cfg(feature = "chrome")]
pub mod chrome;
#[cfg(any(feature = "chrome", feature = "chromiumoxide"))]
pub(crate) mod chromium;
#[cfg(feature = "chromiumoxide")]
pub mod chromiumoxide;
pub mod memory;
#[cfg(feature = "nats")]
pub mod nats_kv;
pub mod no_browser;
#[cfg(feature = "redb")]
pub mod redb;
#[cfg(feature = "wasmer")]
pub mod wasmer;
#[cfg(feature = "wasmtime")]
pub mod wasmtime;
