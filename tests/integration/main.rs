//! riptide's integration tests, one binary for all of them.
//!
//! Each file is one suite (`cargo test --test integration crawl::` runs the crawler's), gated by
//! the features it needs. They share one binary rather than one each because every test binary
//! links the whole default stack (wasmtime, wasmer, Chromium drivers, NATS): thirty of them
//! filled CI's disk and spent minutes linking, where one links once. Tests of different suites
//! now share the harness's threads; none depends on running alone (the few that need their own
//! process start this binary again with `--exact suite::name`).

// Shared by the suites; each suite uses part of them.
mod common;
#[cfg(any(feature = "chrome", feature = "chromiumoxide"))]
mod support;

mod address_policy;
mod architecture;
mod browser_contexts;
mod browser_pool;
mod cli;
mod compile_cache;
mod config;
mod console;
mod crawl;
mod crawl_nats;
mod docs;
mod executor;
mod extraction_quality;
mod extractor;
mod features;
mod headless_faults;
mod network_controls;
mod pool_lifecycle;
mod private_dirs;
mod queue;
mod read_only_home;
mod request_controls;
mod retry;
mod server;
mod shared_cache_dir;
mod simulator;
mod stealth;
mod store_damage;
mod tabs_per_browser;
mod timeout_persistence;
mod timeout_policies;
