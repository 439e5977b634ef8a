//! How a pool sizes itself and when it recycles browsers.

use std::time::Duration;

use crate::config::BrowserPoolConfig;
use crate::error::{PoolError, Result};

/// Pool behaviour; [`PoolOptions::from_config`] maps `[optimizations.browser_pool]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolOptions {
    /// Browsers kept alive even when idle.
    pub min_instances: usize,
    /// Hard ceiling on browsers alive (launching, idle and checked out).
    pub max_instances: usize,
    /// Idle browsers the pool tries to keep ready (warm-up launches this many).
    pub target_available: usize,
    /// Time between maintenance rounds (probes, reaping, replenishing).
    pub health_check_interval: Duration,
    /// Deadline of one health probe.
    pub probe_deadline: Duration,
    /// An idle browser above `min_instances` is closed after this long unused.
    pub idle_timeout: Duration,
    /// Longest wait for a browser; a handle held longer than this is reported.
    pub max_checkout_duration: Duration,
    /// Replace browsers that fail probes or die.
    pub auto_restart: bool,
    /// Recycle a browser whose process tree uses more memory (PSS) than this.
    pub memory_limit_bytes: u64,
    /// Recycle a browser after this many checkouts.
    pub max_requests_per_instance: u32,
    /// Recycle a browser older than this, however healthy.
    pub max_age: Option<Duration>,
    /// Most callers allowed to wait at once; more fail at once with [`PoolError::Exhausted`](crate::error::PoolError::Exhausted).
    pub max_waiters: usize,
    /// Return from `BrowserPool::new` before warm-up finishes.
    pub background_warmup: bool,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self::from_config(&BrowserPoolConfig::default())
    }
}

impl PoolOptions {
    /// Options from the `[optimizations.browser_pool]` section.
    pub fn from_config(c: &BrowserPoolConfig) -> Self {
        Self {
            min_instances: c.min_instances as usize,
            max_instances: (c.max_instances as usize).max(1),
            target_available: c.target_available as usize,
            health_check_interval: Duration::from_secs(c.health_check_interval_secs),
            probe_deadline: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(c.idle_timeout_secs),
            max_checkout_duration: Duration::from_secs(c.max_checkout_duration_secs),
            auto_restart: c.auto_restart,
            memory_limit_bytes: c.memory_limit_mb.saturating_mul(1 << 20),
            max_requests_per_instance: c.max_requests_per_instance,
            max_age: None,
            max_waiters: 1024,
            background_warmup: c.background_warmup,
        }
    }

    /// Checks the options are consistent: at least one browser allowed, and no more kept than
    /// allowed.
    pub fn validate(&self) -> Result<()> {
        let invalid = |message: String| Err(PoolError::InvalidOptions { message }.into());
        if self.max_instances == 0 || self.min_instances > self.max_instances {
            return invalid(format!(
                "min_instances {} and max_instances {} must satisfy 1 <= max and min <= max",
                self.min_instances, self.max_instances
            ));
        }
        if self.health_check_interval.is_zero() || self.probe_deadline.is_zero() {
            return invalid("health_check_interval and probe_deadline must be longer than zero".into());
        }
        if self.max_requests_per_instance == 0 {
            return invalid("max_requests_per_instance must be at least 1".into());
        }
        Ok(())
    }

    /// How many browsers warm-up and replenishing aim for.
    pub(crate) fn warm_target(&self) -> usize {
        self.target_available.max(self.min_instances).min(self.max_instances)
    }
}
