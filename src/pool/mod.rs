//! The browser pool: warm browsers handed out and taken back, so a headless extraction never
//! pays a browser's start-up.
//!
//! [`BrowserPool`] is generic over [`BrowserProvider`](crate::traits::BrowserProvider); it never
//! names a backend. Its lifecycle follows bb8/deadpool: warm up to a target, hand out RAII
//! handles ([`PooledBrowser`]) that come back on drop, wait in a bounded FIFO queue when every
//! browser is busy, and keep the pool healthy from a maintenance task (probes, replenishing,
//! idle reaping, recycling by requests, age and measured memory).

mod handle;
mod maintenance;
mod metrics;
mod options;
mod shared;

pub use handle::PooledBrowser;
pub use metrics::{BrowserStatus, CheckoutCounts, PoolStatus, RecycleCounts, WaitPercentiles};
pub use options::PoolOptions;
pub use shared::BrowserPool;
