//! [`SlowDown`]: how much longer than its delay to wait between two requests to a host that is
//! struggling, learned from how long it takes to answer.
//!
//! One rule for both schedulers: the single-machine crawler keeps one per host
//! (`crawl/host.rs`), and each worker of a crawl across machines keeps one per host and shares
//! what it learns through the crawl's bucket, so every worker waits alike.

use std::time::Duration;

/// The most a host's slow-down adds between two requests.
pub(crate) const MAX_SLOWDOWN: Duration = Duration::from_secs(5);
/// A host is slowing when its recent latency is this many times its best...
const SLOWING_FACTOR: f64 = 3.0;
/// ...and longer than this.
const SLOW_ENOUGH_SECS: f64 = 0.25;

/// A host's answer times and the slow-down they earn.
#[derive(Debug, Default, Clone)]
pub(crate) struct SlowDown {
    /// Recent latency (an exponentially weighted mean) and the best it has been.
    latency: Option<f64>,
    best_latency: Option<f64>,
    slowdown: Duration,
}

impl SlowDown {
    /// The host answered in `latency`: the slow-down grows while it answers much slower than it
    /// did at its best, and shrinks when it recovers. Returns the slow-down now.
    pub(crate) fn observe(&mut self, latency: Duration) -> Duration {
        let secs = latency.as_secs_f64();
        let recent = self.latency.map_or(secs, |l| 0.7 * l + 0.3 * secs);
        self.latency = Some(recent);
        let best = self.best_latency.map_or(recent, |b| b.min(recent));
        self.best_latency = Some(best);
        // Only a real climb counts: a host at 2 ms that answers in 6 ms (or 60 ms, while this
        // machine's cores are all busy extracting) is not struggling.
        if recent > best * SLOWING_FACTOR && recent > SLOW_ENOUGH_SECS {
            self.slowdown = (self.slowdown * 2).max(Duration::from_millis(50)).min(MAX_SLOWDOWN);
        } else {
            // Not (or no longer) slowing: a slowed host must find its way back.
            self.slowdown /= 2;
            if self.slowdown < Duration::from_millis(10) {
                self.slowdown = Duration::ZERO;
            }
        }
        self.slowdown
    }

    /// The slow-down now.
    pub(crate) fn get(&self) -> Duration {
        self.slowdown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_while_the_host_struggles_and_shrinks_back_to_nothing() {
        let mut pace = SlowDown::default();
        for _ in 0..5 {
            assert_eq!(pace.observe(Duration::from_millis(20)), Duration::ZERO);
        }
        let mut last = Duration::ZERO;
        for _ in 0..20 {
            let now = pace.observe(Duration::from_secs(2));
            assert!(now >= last && now <= MAX_SLOWDOWN);
            last = now;
        }
        assert_eq!(last, MAX_SLOWDOWN);
        for _ in 0..40 {
            pace.observe(Duration::from_millis(20));
        }
        assert_eq!(pace.get(), Duration::ZERO);
    }
}
