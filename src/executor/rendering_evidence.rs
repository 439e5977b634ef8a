//! Which hosts [`EngineChoice::Auto`](super::EngineChoice::Auto) renders directly, skipping the
//! static attempt: only those where rendering has repeatedly added content.
//!
//! One thin page must not switch a whole host to the browser: a batch of 181 news pages once
//! went from 1.6 s to 462 s because a single short page had a `<script>`, and rendering it added
//! nothing. So every escalation is judged ([`rendering_gained`]: the render found markedly more
//! text than the static fetch), a host is remembered only when `evidence_needed` of its last
//! `evidence_window` escalations gained, and a remembered host still gets a static attempt every
//! `recheck_every` pages, whose outcome joins the evidence (so a site that stops needing a
//! browser is forgotten).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, SystemTime};

use crate::config::EngineChoiceConfig;
use crate::traits::StoredEvidence;

/// A render "added content" when it found at least this many more characters of text...
const MIN_GAIN_CHARS: usize = 200;

/// Whether a render found markedly more text than the static fetch of the same page: at least
/// [`MIN_GAIN_CHARS`] more, and half as much again.
pub(crate) fn rendering_gained(static_chars: usize, rendered_chars: usize) -> bool {
    rendered_chars >= static_chars + MIN_GAIN_CHARS.max(static_chars / 2)
}

/// The escalations seen per host, and the rule that reads them.
#[derive(Debug)]
pub(crate) struct RenderingEvidence {
    settings: EngineChoiceConfig,
    hosts: HashMap<String, HostEvidence>,
    /// Hosts whose evidence changed since the last [`take_changed`](Self::take_changed).
    changed: HashSet<String>,
}

impl HostEvidence {
    /// Whether at least `needed` of the latest escalations gained content.
    fn is_remembered(&self, needed: u32) -> bool {
        self.recent.iter().filter(|g| **g).count() >= needed as usize
    }
}

#[derive(Debug, Default)]
struct HostEvidence {
    /// The last `evidence_window` escalations: did rendering add content?
    recent: VecDeque<bool>,
    /// Pages rendered directly since the last static check.
    direct: u32,
}

impl RenderingEvidence {
    pub(crate) fn new(settings: EngineChoiceConfig) -> Self {
        Self {
            settings,
            hosts: HashMap::new(),
            changed: HashSet::new(),
        }
    }

    /// Takes up what a store kept, dropping evidence not updated within `evidence_ttl_days`
    /// of `now`.
    pub(crate) fn restore(&mut self, stored: Vec<StoredEvidence>, now: SystemTime) {
        for e in stored {
            self.take_in(e, now);
        }
    }

    /// Takes in evidence other processes saved while this one runs: a host's latest
    /// escalations become theirs (any worker's latest are the freshest view of the host),
    /// except for a host whose evidence changed here since it was last saved, which is saved
    /// soon and wins. Pages rendered directly since the last static check still count.
    pub(crate) fn absorb(&mut self, theirs: Vec<StoredEvidence>, now: SystemTime) {
        for e in theirs {
            if !self.changed.contains(&e.host) {
                self.take_in(e, now);
            }
        }
    }

    /// `e`'s escalations (the window's worth), unless it is older than `evidence_ttl_days`.
    fn take_in(&mut self, e: StoredEvidence, now: SystemTime) {
        let ttl = Duration::from_secs(self.settings.evidence_ttl_days.saturating_mul(86_400));
        if now.duration_since(e.updated_at).is_ok_and(|age| age > ttl) {
            return;
        }
        let window = self.settings.evidence_window.max(1) as usize;
        let skip = e.recent.len().saturating_sub(window);
        let h = self.hosts.entry(e.host).or_default();
        h.recent = e.recent.into_iter().skip(skip).collect();
    }

    /// Marks `hosts` as changed again (their save failed).
    pub(crate) fn mark_changed(&mut self, hosts: impl IntoIterator<Item = String>) {
        self.changed.extend(hosts);
    }

    /// The evidence of hosts that changed since the last call, stamped `now`, for the store.
    pub(crate) fn take_changed(&mut self, now: SystemTime) -> Vec<StoredEvidence> {
        std::mem::take(&mut self.changed)
            .into_iter()
            .filter_map(|host| {
                let recent = self.hosts.get(&host)?.recent.iter().copied().collect();
                Some(StoredEvidence {
                    host,
                    updated_at: now,
                    recent,
                })
            })
            .collect()
    }

    /// Whether `Auto` renders this page of `host` directly. Counts the page: every
    /// `recheck_every`-th page of a remembered host is fetched statically again.
    pub(crate) fn render_directly(&mut self, host: &str) -> bool {
        let s = &self.settings;
        if !s.remember_hosts {
            return false;
        }
        let Some(h) = self.hosts.get_mut(host) else {
            return false;
        };
        if !h.is_remembered(s.evidence_needed) {
            return false;
        }
        h.direct += 1;
        if h.direct >= s.recheck_every {
            h.direct = 0;
            return false;
        }
        true
    }

    /// Records what one statically fetched page of `host` showed: `Some(gained)` when it was
    /// escalated and rendered, `None` when the static result was kept. A kept page counts
    /// against rendering for a host that already has evidence (a host rendered directly and
    /// being re-checked, or one whose pages mostly extract statically); a host without any is
    /// not tracked.
    pub(crate) fn record(&mut self, host: &str, gained: Option<bool>) {
        if !self.settings.remember_hosts {
            return;
        }
        let window = self.settings.evidence_window.max(1) as usize;
        let h = match (self.hosts.get_mut(host), gained) {
            (Some(h), _) => h,
            (None, Some(_)) => self.hosts.entry(host.to_string()).or_default(),
            (None, None) => return,
        };
        h.recent.push_back(gained.unwrap_or(false));
        while h.recent.len() > window {
            h.recent.pop_front();
        }
        self.changed.insert(host.to_string());
    }

    /// Hosts rendered directly now.
    pub(crate) fn remembered(&self) -> usize {
        self.hosts
            .values()
            .filter(|h| h.is_remembered(self.settings.evidence_needed))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence() -> RenderingEvidence {
        RenderingEvidence::new(EngineChoiceConfig {
            recheck_every: 5,
            ..EngineChoiceConfig::default()
        })
    }

    #[test]
    fn evidence_survives_a_store_round_trip_until_its_ttl() {
        let mut e = evidence();
        for _ in 0..3 {
            e.record("app.example", Some(true));
        }
        e.record("news.example", Some(false));
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let mut saved = e.take_changed(t0);
        saved.sort_by(|a, b| a.host.cmp(&b.host));
        assert_eq!(saved.len(), 2);
        assert_eq!(saved[0].recent, [true, true, true]);
        assert!(e.take_changed(t0).is_empty(), "nothing changed since");

        let mut next_run = evidence();
        next_run.restore(saved.clone(), t0 + Duration::from_secs(29 * 86_400));
        assert!(next_run.render_directly("app.example"), "remembered across runs");
        let mut much_later = evidence();
        much_later.restore(saved, t0 + Duration::from_secs(31 * 86_400));
        assert!(!much_later.render_directly("app.example"), "forgotten after 30 days");
    }

    #[test]
    fn evidence_from_other_processes_is_taken_in_unless_changed_here() {
        let mut e = evidence();
        let now = SystemTime::now();
        let theirs = |host: &str, recent: Vec<bool>| StoredEvidence {
            host: host.into(),
            updated_at: now,
            recent,
        };
        e.absorb(vec![theirs("app.example", vec![true, true, true])], now);
        assert!(e.render_directly("app.example"), "another worker's evidence is used");
        assert!(e.take_changed(now).is_empty(), "and not saved back");

        e.record("mine.example", Some(true));
        e.absorb(vec![theirs("mine.example", vec![false])], now);
        let saved = e.take_changed(now);
        assert_eq!(saved.len(), 1);
        assert_eq!(
            saved[0].recent,
            [true],
            "a host changed here keeps its own, to be saved"
        );

        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        e.absorb(
            vec![StoredEvidence {
                updated_at: old,
                ..theirs("stale.example", vec![true, true, true])
            }],
            now,
        );
        assert!(!e.render_directly("stale.example"), "expired evidence is not taken in");
    }

    #[test]
    fn a_gain_is_markedly_more_text() {
        assert!(!rendering_gained(145, 150), "the thin page that switched a whole host");
        assert!(!rendering_gained(0, 199));
        assert!(rendering_gained(0, 200));
        assert!(!rendering_gained(1000, 1400));
        assert!(rendering_gained(1000, 1500));
    }

    #[test]
    fn one_escalation_never_switches_a_host() {
        let mut e = evidence();
        e.record("a.example", Some(true));
        assert!(!e.render_directly("a.example"));
        e.record("a.example", Some(false));
        e.record("a.example", Some(true));
        assert!(!e.render_directly("a.example"), "2 gains of 3");
        e.record("a.example", Some(true));
        assert!(e.render_directly("a.example"), "3 gains of the last 4");
        assert!(!e.render_directly("b.example"), "per host");
        assert_eq!(e.remembered(), 1);
    }

    #[test]
    fn escalations_that_add_nothing_never_switch_a_host() {
        let mut e = evidence();
        for _ in 0..50 {
            e.record("news.example", Some(false));
            e.record("news.example", None);
        }
        assert!(!e.render_directly("news.example"));
        assert_eq!(e.remembered(), 0);
    }

    #[test]
    fn a_remembered_host_is_rechecked_and_forgotten_when_static_suffices() {
        let mut e = evidence();
        for _ in 0..3 {
            e.record("app.example", Some(true));
        }
        let direct: Vec<bool> = (0..5).map(|_| e.render_directly("app.example")).collect();
        assert_eq!(
            direct,
            [true, true, true, true, false],
            "every 5th page is fetched statically"
        );
        // The site no longer needs a browser: its static pages are kept.
        e.record("app.example", None);
        e.record("app.example", None);
        assert!(!e.render_directly("app.example"), "forgotten after 2 kept pages");
    }

    #[test]
    fn the_memory_can_be_turned_off() {
        let mut e = RenderingEvidence::new(EngineChoiceConfig {
            remember_hosts: false,
            ..EngineChoiceConfig::default()
        });
        for _ in 0..10 {
            e.record("app.example", Some(true));
        }
        assert!(!e.render_directly("app.example"));
    }
}
