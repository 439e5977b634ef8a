//! When a browser is recycled, and whether it is replaced: pure decisions over plain values, so
//! every rule is unit-tested without a browser or a clock.

use std::time::Duration;

use super::options::PoolOptions;

/// A returned browser's memory is read again only after this long. `smaps_rollup` makes the
/// kernel walk every page table of a ~400 MiB process tree: measured, reading it every 2 s cut
/// one browser's throughput from 5.7 to 3.8 pages/s. Maintenance rounds read it too, and a
/// browser's first return always does.
pub(crate) const MEMORY_RECHECK: Duration = Duration::from_secs(30);

/// Why a browser was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecycleReason {
    /// Served `max_requests_per_instance` checkouts.
    Requests,
    /// Idle past `idle_timeout` above `min_instances`.
    Idle,
    /// Older than `max_age`.
    Age,
    /// Its process tree used more than `memory_limit_bytes`.
    Memory,
    /// Failed a health probe.
    Unhealthy,
    /// The pool is shutting down.
    Shutdown,
}

impl RecycleReason {
    /// Whether a browser closed for this reason is replaced: recycled ones are, one for one;
    /// reaped idle ones are not (demand brings the pool back up); unhealthy ones only with
    /// `auto_restart`.
    pub(crate) fn replaced(self, options: &PoolOptions) -> bool {
        match self {
            RecycleReason::Idle | RecycleReason::Shutdown => false,
            RecycleReason::Unhealthy => options.auto_restart,
            RecycleReason::Requests | RecycleReason::Age | RecycleReason::Memory => true,
        }
    }
}

/// What the pool knows of one browser when it decides its fate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wear {
    /// Checkouts served.
    pub(crate) requests: u32,
    /// Time since launch.
    pub(crate) age: Duration,
    /// Time since its last checkout ended.
    pub(crate) idle_for: Duration,
}

/// Recycled for use alone: too many checkouts or too old.
pub(crate) fn worn_out(options: &PoolOptions, wear: Wear) -> Option<RecycleReason> {
    if wear.requests >= options.max_requests_per_instance {
        return Some(RecycleReason::Requests);
    }
    if options.max_age.is_some_and(|max| wear.age >= max) {
        return Some(RecycleReason::Age);
    }
    None
}

/// Recycled for its measured memory.
pub(crate) fn over_memory(options: &PoolOptions, bytes: Option<u64>) -> Option<RecycleReason> {
    bytes
        .filter(|&b| b > options.memory_limit_bytes)
        .map(|_| RecycleReason::Memory)
}

/// Whether a returned browser's memory is read now (never read, or read `MEMORY_RECHECK` ago).
pub(crate) fn memory_due(since_last_reading: Option<Duration>) -> bool {
    since_last_reading.is_none_or(|t| t >= MEMORY_RECHECK)
}

/// Whether an idle browser is reaped in a maintenance round. `reapable` is how many browsers
/// the pool may still lose without going below `min_instances`; reaping one spends one.
pub(crate) fn reap_idle(options: &PoolOptions, wear: Wear, reapable: &mut usize) -> Option<RecycleReason> {
    if *reapable > 0 && wear.idle_for >= options.idle_timeout {
        *reapable -= 1;
        return Some(RecycleReason::Idle);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> PoolOptions {
        PoolOptions {
            max_requests_per_instance: 3,
            max_age: Some(Duration::from_secs(60)),
            idle_timeout: Duration::from_secs(10),
            memory_limit_bytes: 100,
            auto_restart: true,
            ..PoolOptions::default()
        }
    }

    fn wear(requests: u32, age: u64, idle_for: u64) -> Wear {
        Wear {
            requests,
            age: Duration::from_secs(age),
            idle_for: Duration::from_secs(idle_for),
        }
    }

    #[test]
    fn worn_out_by_requests_then_age() {
        let o = options();
        assert_eq!(worn_out(&o, wear(2, 59, 0)), None);
        assert_eq!(worn_out(&o, wear(3, 0, 0)), Some(RecycleReason::Requests));
        assert_eq!(worn_out(&o, wear(0, 60, 0)), Some(RecycleReason::Age));
        let no_age = PoolOptions { max_age: None, ..o };
        assert_eq!(worn_out(&no_age, wear(0, 1_000_000, 0)), None);
    }

    #[test]
    fn memory_over_the_limit_only() {
        let o = options();
        assert_eq!(over_memory(&o, None), None);
        assert_eq!(over_memory(&o, Some(100)), None);
        assert_eq!(over_memory(&o, Some(101)), Some(RecycleReason::Memory));
    }

    #[test]
    fn memory_is_read_first_time_then_every_recheck() {
        assert!(memory_due(None));
        assert!(!memory_due(Some(MEMORY_RECHECK - Duration::from_millis(1))));
        assert!(memory_due(Some(MEMORY_RECHECK)));
    }

    #[test]
    fn reaping_never_goes_below_the_allowance() {
        let o = options();
        let mut reapable = 1;
        assert_eq!(reap_idle(&o, wear(0, 0, 9), &mut reapable), None);
        assert_eq!(reap_idle(&o, wear(0, 0, 10), &mut reapable), Some(RecycleReason::Idle));
        assert_eq!(reapable, 0);
        assert_eq!(reap_idle(&o, wear(0, 0, 1000), &mut reapable), None);
    }

    #[test]
    fn replacement_rules() {
        let o = options();
        assert!(RecycleReason::Requests.replaced(&o));
        assert!(RecycleReason::Age.replaced(&o));
        assert!(RecycleReason::Memory.replaced(&o));
        assert!(RecycleReason::Unhealthy.replaced(&o));
        assert!(!RecycleReason::Idle.replaced(&o));
        assert!(!RecycleReason::Shutdown.replaced(&o));
        let no_restart = PoolOptions {
            auto_restart: false,
            ..o
        };
        assert!(!RecycleReason::Unhealthy.replaced(&no_restart));
    }
}
