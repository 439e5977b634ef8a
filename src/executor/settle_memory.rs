//! How long a render waits for a host's pages to settle, learned from its earlier renders.
//!
//! A render takes a page once its DOM has been quiet for the settle (100 ms by default), so
//! content a script adds just after `load` is captured. Most pages are finished at `load`, and
//! for them the whole settle is waiting for nothing: on a warm browser it is about half a
//! render. Each render reports the longest quiet spell that a DOM change ended after the page
//! was ready ([`RenderProfile::settle_pause`](crate::traits::RenderProfile::settle_pause)).
//! Once a host has shown [`LEARN_AFTER`] such renders, its pages wait three times the longest
//! of its recent spells (at least that plus [`MARGIN`], at least [`FLOOR`], never more than the
//! configured settle). Every [`PROBE_EVERY`]th render of a host waits the full settle again, so
//! a spell that the shorter wait would have cut off is seen and the wait grows back.
//!
//! The trade is stated, not hidden: a page whose content comes after a longer pause than its
//! host's other pages ever showed is taken before it. `ExecutorBuilder::adaptive_settle(false)`
//! turns the learning off; `wait_for` is exact where a page's content is known.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Renders of a host that must report their pauses before its settle is shortened.
pub(crate) const LEARN_AFTER: usize = 4;
/// Every this many renders of a host, one waits the full configured settle (a probe).
pub(crate) const PROBE_EVERY: u32 = 10;
/// The shortest settle learning gives a host.
pub(crate) const FLOOR: Duration = Duration::from_millis(40);
/// What a learned settle adds at least to the longest pause seen.
pub(crate) const MARGIN: Duration = Duration::from_millis(40);
/// The pauses kept per host.
const WINDOW: usize = 8;
/// Hosts remembered at most; beyond, one is forgotten (it only costs it the full settle again).
const CAPACITY: usize = 4096;

/// The recent pauses of each host, and the rule that turns them into a settle.
#[derive(Debug, Default)]
pub(crate) struct SettleMemory {
    hosts: HashMap<String, HostPauses>,
}

#[derive(Debug, Default)]
struct HostPauses {
    /// The longest DOM pause of each recent complete render, newest last.
    recent: VecDeque<Duration>,
    /// Renders asked for since the host was first seen (for the probes).
    renders: u32,
}

impl SettleMemory {
    /// The settle for the next render of `host`, given the configured one.
    pub(crate) fn settle_for(&mut self, host: &str, configured: Duration) -> Duration {
        let Some(pauses) = self.hosts.get_mut(host) else {
            return configured;
        };
        pauses.renders = pauses.renders.wrapping_add(1);
        if pauses.recent.len() < LEARN_AFTER || pauses.renders % PROBE_EVERY == 0 {
            return configured;
        }
        let longest = pauses.recent.iter().copied().max().unwrap_or_default();
        longest
            .saturating_mul(3)
            .max(longest.saturating_add(MARGIN))
            .max(FLOOR)
            .min(configured)
    }

    /// Records what a complete render of `host` showed: the longest quiet spell a DOM change
    /// ended after the page was ready (zero: nothing changed).
    pub(crate) fn observe(&mut self, host: &str, pause: Duration) {
        if !self.hosts.contains_key(host) {
            if self.hosts.len() >= CAPACITY
                && let Some(forgotten) = self.hosts.keys().next().cloned()
            {
                self.hosts.remove(&forgotten);
            }
            self.hosts.insert(host.to_string(), HostPauses::default());
        }
        let Some(pauses) = self.hosts.get_mut(host) else { return };
        if pauses.recent.len() == WINDOW {
            pauses.recent.pop_front();
        }
        pauses.recent.push_back(pause);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: Duration = Duration::from_millis(100);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_host_waits_the_full_settle_until_its_pages_have_shown_their_pauses() {
        let mut memory = SettleMemory::default();
        for _ in 0..LEARN_AFTER - 1 {
            assert_eq!(memory.settle_for("a.example", FULL), FULL);
            memory.observe("a.example", Duration::ZERO);
        }
        assert_eq!(memory.settle_for("a.example", FULL), FULL, "one render short");
        memory.observe("a.example", Duration::ZERO);
        assert_eq!(memory.settle_for("a.example", FULL), FLOOR, "finished at load");
        assert_eq!(
            memory.settle_for("b.example", FULL),
            FULL,
            "another host learns for itself"
        );
    }

    #[test]
    fn the_learned_settle_is_three_pauses_with_a_margin_and_never_above_the_configured() {
        let mut memory = SettleMemory::default();
        for pause in [5, 20, 10, 0] {
            memory.observe("a.example", ms(pause));
        }
        assert_eq!(memory.settle_for("a.example", FULL), ms(60), "3 x 20 ms");
        memory.observe("a.example", ms(10));
        assert_eq!(
            memory.settle_for("a.example", ms(50)),
            ms(50),
            "capped by the configured"
        );
        memory.observe("a.example", ms(45));
        assert_eq!(
            memory.settle_for("a.example", FULL),
            FULL,
            "a longer pause grows it back"
        );
    }

    #[test]
    fn every_tenth_render_of_a_host_probes_with_the_full_settle() {
        let mut memory = SettleMemory::default();
        for _ in 0..LEARN_AFTER {
            memory.observe("a.example", Duration::ZERO);
        }
        let settles: Vec<Duration> = (0..2 * PROBE_EVERY)
            .map(|_| memory.settle_for("a.example", FULL))
            .collect();
        let probes = settles.iter().filter(|s| **s == FULL).count();
        assert_eq!(probes, 2, "{settles:?}");
        assert!(settles.iter().all(|s| *s == FULL || *s == FLOOR), "{settles:?}");
    }

    #[test]
    fn old_pauses_leave_the_window_and_hosts_are_bounded() {
        let mut memory = SettleMemory::default();
        memory.observe("a.example", ms(90));
        for _ in 0..WINDOW {
            memory.observe("a.example", Duration::ZERO);
        }
        assert_eq!(
            memory.settle_for("a.example", FULL),
            FLOOR,
            "the 90 ms pause is forgotten"
        );
        for i in 0..CAPACITY + 10 {
            memory.observe(&format!("{i}.example"), Duration::ZERO);
        }
        assert!(memory.hosts.len() <= CAPACITY);
    }
}
