//! The browser pool: warm browsers handed out and taken back, so a headless extraction never
//! pays a browser's start-up.
//!
//! [`BrowserPool`] is generic over [`BrowserProvider`](crate::traits::BrowserProvider); it never
//! names a backend. Its lifecycle follows bb8/deadpool: warm up to a target, hand out RAII
//! handles ([`PooledBrowser`]) that come back on drop, wait in a bounded FIFO queue when every
//! browser is busy, and keep the pool healthy from a maintenance task (probes, replenishing,
//! idle reaping, recycling by requests, age and measured memory).
//!
//! The files depend on each other in one direction only:
//!
//! ```text
//! options, metrics, recycle (pure rules)
//!   <- internals   every count and state transition, synchronous
//!   <- inner       the shared state: one lock, async launch / place / close / fill
//!   <- handle, maintenance
//!   <- browser_pool (the public BrowserPool)
//! ```

mod browser_pool;
mod handle;
mod inner;
mod internals;
mod maintenance;
mod metrics;
mod options;
mod recycle;

pub use browser_pool::BrowserPool;
pub use handle::PooledBrowser;
pub use metrics::{BrowserStatus, CheckoutCounts, PoolStatus, RecycleCounts, WaitPercentiles};
pub use options::PoolOptions;
