//! One host's politeness: how many of its pages are in flight, when the next may start, its
//! robots.txt, and how far it has asked the crawl to back off.
//!
//! Politeness here never costs speed elsewhere: a host that must wait only removes itself from
//! the scheduler's turn; the others go on. A host's gap between requests is the larger of the
//! configured delay and its robots.txt `Crawl-delay`, plus a slow-down that grows while the
//! host answers much slower than it did at its best and shrinks when it recovers.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::robots::RobotsRules;
use super::slowdown::SlowDown;

/// The longest back-off a host's `429`s or `503`s earn.
const MAX_BACKOFF: Duration = Duration::from_secs(120);

/// Added to a non-zero gap between requests. The gap runs from the instant the scheduler starts a
/// request, and the request reaches the host a little later, by an amount that varies from one
/// request to the next (the frontier's reads, the task's spawn, the client's connection pool).
/// Without a margin the host's own log can show a gap a millisecond or two short of the delay
/// (BENCHMARKS.md, "Fewer walks of the page").
pub(crate) const SEND_MARGIN: Duration = Duration::from_millis(5);

/// Where a host's robots.txt stands.
#[derive(Debug, Clone)]
pub(crate) enum Robots {
    /// Not asked for yet.
    Unknown,
    /// Being fetched.
    Fetching,
    /// Read (or robots.txt is not obeyed: allow all).
    Ready(Arc<RobotsRules>),
}

/// When a host may have its next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// Now.
    Now,
    /// When one of its requests in flight ends.
    Busy,
    /// At this instant (its delay or back-off).
    At(Instant),
}

/// The crawl's view of one host.
#[derive(Debug)]
pub(crate) struct Host {
    pub(crate) robots: Robots,
    pub(crate) in_flight: u32,
    next_allowed: Instant,
    /// The configured delay, raised by `Crawl-delay`.
    delay: Duration,
    slowdown: SlowDown,
    backoffs: u32,
    /// The scheduler passed the host over for its delay since its last start.
    pub(crate) held_back: bool,
    /// Why robots.txt forbids everything, when it was unreachable.
    pub(crate) unreachable: Option<String>,
}

impl Host {
    pub(crate) fn new(delay: Duration, now: Instant) -> Self {
        Self {
            robots: Robots::Unknown,
            in_flight: 0,
            next_allowed: now,
            delay,
            slowdown: SlowDown::default(),
            backoffs: 0,
            held_back: false,
            unreachable: None,
        }
    }

    /// robots.txt has been read: its `Crawl-delay` raises the gap.
    pub(crate) fn robots_ready(&mut self, rules: RobotsRules) {
        if let Some(crawl_delay) = rules.crawl_delay() {
            self.delay = self.delay.max(crawl_delay);
        }
        self.robots = Robots::Ready(Arc::new(rules));
    }

    /// Whether another request may start now.
    pub(crate) fn turn(&self, now: Instant, per_host: u32) -> Turn {
        if self.in_flight >= per_host {
            Turn::Busy
        } else if self.next_allowed > now {
            Turn::At(self.next_allowed)
        } else {
            Turn::Now
        }
    }

    /// A request starts now; says whether the delay held it back.
    pub(crate) fn start(&mut self, now: Instant) -> bool {
        self.in_flight += 1;
        let gap = self.delay + self.slowdown.get();
        self.next_allowed = if gap.is_zero() { now } else { now + gap + SEND_MARGIN };
        std::mem::take(&mut self.held_back)
    }

    /// A request ended after `latency`; `ok` when the host answered it.
    pub(crate) fn finish(&mut self, latency: Duration, ok: bool) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if !ok {
            return;
        }
        self.backoffs = 0;
        self.slowdown.observe(latency);
    }

    /// The host asked the crawl to wait (`429`, `503`, an open circuit): nothing more starts
    /// before `at_least` has passed, nor before a back-off that doubles with each request.
    pub(crate) fn back_off(&mut self, now: Instant, at_least: Duration) {
        self.backoffs = self.backoffs.saturating_add(1);
        let doubling = Duration::from_secs(1)
            .saturating_mul(1 << self.backoffs.min(7))
            .min(MAX_BACKOFF);
        self.next_allowed = self.next_allowed.max(now + doubling.max(at_least));
    }

    /// The current slow-down (for the progress and tests).
    #[cfg(test)]
    pub(crate) fn slowdown(&self) -> Duration {
        self.slowdown.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crawl::slowdown::MAX_SLOWDOWN;

    #[test]
    fn per_host_slots_and_the_delay_hold_requests_back() {
        let now = Instant::now();
        let mut host = Host::new(Duration::from_millis(200), now);
        assert_eq!(host.turn(now, 2), Turn::Now);
        assert!(!host.start(now));
        let gap = Duration::from_millis(200) + SEND_MARGIN;
        assert_eq!(host.turn(now, 2), Turn::At(now + gap));
        assert_eq!(host.turn(now + Duration::from_millis(200), 2), Turn::At(now + gap));
        let later = now + gap;
        assert_eq!(host.turn(later, 2), Turn::Now);
        host.start(later);
        assert_eq!(host.turn(later + Duration::from_secs(1), 2), Turn::Busy);
        host.finish(Duration::from_millis(5), true);
        assert_eq!(host.turn(later + Duration::from_secs(1), 2), Turn::Now);
    }

    #[test]
    fn a_climbing_latency_slows_the_host_and_recovery_undoes_it() {
        let now = Instant::now();
        let mut host = Host::new(Duration::ZERO, now);
        for _ in 0..5 {
            host.in_flight += 1;
            host.finish(Duration::from_millis(20), true);
        }
        assert_eq!(host.slowdown(), Duration::ZERO);
        for _ in 0..5 {
            host.in_flight += 1;
            host.finish(Duration::from_millis(60), true);
        }
        assert_eq!(host.slowdown(), Duration::ZERO, "3x its best, but still fast");
        for _ in 0..5 {
            host.in_flight += 1;
            host.finish(Duration::from_millis(900), true);
        }
        assert!(host.slowdown() >= Duration::from_millis(100), "{:?}", host.slowdown());
        for _ in 0..30 {
            host.in_flight += 1;
            host.finish(Duration::from_millis(20), true);
        }
        assert_eq!(host.slowdown(), Duration::ZERO);
    }

    /// A host slowed to the cap comes back once it answers within three times its best,
    /// even if never again as fast as its best.
    #[test]
    fn a_slowed_host_recovers_at_twice_its_best() {
        fn answer(host: &mut Host, ms: u64, times: usize) {
            for _ in 0..times {
                host.in_flight += 1;
                host.finish(Duration::from_millis(ms), true);
            }
        }
        let mut host = Host::new(Duration::ZERO, Instant::now());
        answer(&mut host, 100, 5);
        answer(&mut host, 2_000, 20);
        assert_eq!(host.slowdown(), MAX_SLOWDOWN);
        answer(&mut host, 200, 40);
        assert_eq!(host.slowdown(), Duration::ZERO);
    }

    #[test]
    fn backing_off_doubles_and_honours_the_hosts_own_wait() {
        let now = Instant::now();
        let mut host = Host::new(Duration::ZERO, now);
        host.back_off(now, Duration::ZERO);
        assert_eq!(host.turn(now, 2), Turn::At(now + Duration::from_secs(2)));
        host.back_off(now, Duration::from_secs(30));
        assert_eq!(host.turn(now, 2), Turn::At(now + Duration::from_secs(30)));
        host.in_flight += 1;
        host.finish(Duration::from_millis(5), true);
        host.back_off(now, Duration::ZERO);
        assert_eq!(
            host.turn(now, 2),
            Turn::At(now + Duration::from_secs(30)),
            "never earlier than before"
        );
    }
}
