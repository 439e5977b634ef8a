//! The pool's bookkeeping: every count and every state transition of a browser, in one place.
//!
//! A browser is always counted exactly once: as launching, idle, in use, or under maintenance
//! (being checked after its return, or in a maintenance round, or closing). That is what makes
//! "never more than `max_instances`" hold. Each transition is one method here; the fields are
//! private, so no other file can move a browser between states without one of them. The methods
//! are synchronous and never block: the caller holds the pool's lock around exactly one call
//! (see `PoolInner::with`) and does any launch, probe or close outside it.
//!
//! A separate `busy` count, not of browsers, holds off `settled` through steps that hold no
//! counted browser but still decide one's fate (a launch handing its browser to a caller who
//! may have gone; a recycled browser's replacement between the close and the launch).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::oneshot;

use super::metrics::BrowserStatus;
use super::options::PoolOptions;
use super::recycle::Wear;

/// One browser and what the pool knows about it.
pub(crate) struct Slot<B> {
    pub(crate) id: u64,
    pub(crate) browser: Arc<B>,
    pub(crate) created: Instant,
    pub(crate) last_used: Instant,
    pub(crate) requests: u32,
    pub(crate) memory: Option<u64>,
    pub(crate) memory_checked: Option<Instant>,
}

impl<B> Slot<B> {
    /// A browser just launched, with the pool's id `id`.
    pub(crate) fn new(id: u64, browser: B) -> Self {
        let now = Instant::now();
        Self {
            id,
            browser: Arc::new(browser),
            created: now,
            last_used: now,
            requests: 0,
            memory: None,
            memory_checked: None,
        }
    }

    /// Its wear now, for the recycling rules.
    pub(crate) fn wear(&self) -> Wear {
        Wear {
            requests: self.requests,
            age: self.created.elapsed(),
            idle_for: self.last_used.elapsed(),
        }
    }
}

/// How far a round of launches fills the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Goal {
    /// `min_instances` alive, and `n` more launched to replace browsers just closed.
    Replace(usize),
    /// `min_instances` alive and `target_available` ready or launching (warm-up).
    Target,
}

/// Where a browser was counted until the transition at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    Launching,
    Maintenance,
}

/// What a checkout does next, decided under the lock.
pub(crate) enum Checkout<B> {
    /// An idle browser, now counted in use.
    Ready(Slot<B>),
    /// Room below `max_instances`: one launch, now counted, is the caller's.
    Launch,
    /// Every browser is out: the caller waits in line for the next one placed.
    Wait(oneshot::Receiver<Slot<B>>),
    /// `max_waiters` callers already wait.
    LineFull,
    /// The pool is shut down.
    Closed,
}

/// A checked-out browser, as the status and the overdue report see it.
struct InUse {
    since: Instant,
    created: Instant,
    requests: u32,
    memory: Option<u64>,
    reported: bool,
}

/// The counts and queues of one pool.
pub(crate) struct Internals<B> {
    /// Ready browsers; the last is the most recently used (handed out first, so the others can
    /// age into idle reaping when load drops).
    idle: Vec<Slot<B>>,
    in_use: HashMap<u64, InUse>,
    launching: usize,
    maintaining: usize,
    busy: usize,
    waiters: VecDeque<oneshot::Sender<Slot<B>>>,
    closed: bool,
}

impl<B> Default for Internals<B> {
    fn default() -> Self {
        Self {
            idle: Vec::new(),
            in_use: HashMap::new(),
            launching: 0,
            maintaining: 0,
            busy: 0,
            waiters: VecDeque::new(),
            closed: false,
        }
    }
}

impl<B> Internals<B> {
    /// Browsers alive or launching.
    pub(crate) fn total(&self) -> usize {
        self.idle.len() + self.in_use.len() + self.launching + self.maintaining
    }

    /// No launch, check, close or busy step is under way.
    pub(crate) fn is_settled(&self) -> bool {
        self.launching == 0 && self.maintaining == 0 && self.busy == 0
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// A caller asks for a browser.
    pub(crate) fn checkout(&mut self, options: &PoolOptions) -> Checkout<B> {
        if self.closed {
            return Checkout::Closed;
        }
        if let Some(slot) = self.idle.pop() {
            self.mark_in_use(&slot);
            Checkout::Ready(slot)
        } else if self.total() < options.max_instances {
            self.launching += 1;
            Checkout::Launch
        } else {
            // Callers who stopped waiting leave their (closed) senders behind.
            self.waiters.retain(|w| !w.is_closed());
            if self.waiters.len() >= options.max_waiters {
                return Checkout::LineFull;
            }
            let (tx, rx) = oneshot::channel();
            self.waiters.push_back(tx);
            Checkout::Wait(rx)
        }
    }

    /// How many browsers to launch for `goal`, now counted as launching.
    pub(crate) fn plan_launches(&mut self, goal: Goal, options: &PoolOptions) -> usize {
        if self.closed {
            return 0;
        }
        let total = self.total();
        let below_min = options.min_instances.saturating_sub(total);
        let below_target = match goal {
            Goal::Replace(n) => n,
            Goal::Target => options.warm_target().saturating_sub(self.idle.len() + self.launching),
        };
        let room = options.max_instances.saturating_sub(total);
        let n = below_min.max(below_target).min(room);
        self.launching += n;
        n
    }

    /// A launch failed: one launch fewer.
    pub(crate) fn launch_failed(&mut self) {
        self.launching -= 1;
    }

    /// A caller's own launch succeeded: launching → in use by that caller.
    pub(crate) fn launched_for_caller(&mut self, slot: &Slot<B>) {
        self.launching -= 1;
        self.mark_in_use(slot);
    }

    /// A browser counted `from` is ready: handed to the first caller still waiting, else made
    /// idle. In a closed pool it is returned instead, now counted under maintenance, for the
    /// caller to close.
    pub(crate) fn place(&mut self, mut slot: Slot<B>, from: Counted) -> Option<Slot<B>> {
        self.uncount(from);
        if self.closed {
            self.maintaining += 1;
            return Some(slot);
        }
        while let Some(waiter) = self.waiters.pop_front() {
            self.mark_in_use(&slot);
            match waiter.send(slot) {
                Ok(()) => return None,
                // That caller stopped waiting; try the next.
                Err(back) => {
                    self.in_use.remove(&back.id);
                    slot = back;
                }
            }
        }
        self.idle.push(slot);
        None
    }

    /// A handle came back: in use → under maintenance (checked before reuse).
    pub(crate) fn put_back(&mut self, id: u64) {
        self.in_use.remove(&id);
        self.maintaining += 1;
    }

    /// A browser counted `from` has been closed (or dropped): it is no longer counted.
    pub(crate) fn closed_one(&mut self, from: Counted) {
        self.uncount(from);
    }

    /// Every idle browser, now counted under maintenance, for a maintenance round.
    pub(crate) fn take_idle(&mut self) -> Vec<Slot<B>> {
        let idle = std::mem::take(&mut self.idle);
        self.maintaining += idle.len();
        idle
    }

    /// Shuts the pool: waiting callers are let go (their receivers see the sender dropped),
    /// and every idle browser is returned, counted under maintenance, for the caller to close.
    pub(crate) fn close(&mut self) -> Vec<Slot<B>> {
        self.closed = true;
        self.waiters.clear();
        self.take_idle()
    }

    /// A step that `settled` must wait for starts.
    pub(crate) fn busy_begin(&mut self) {
        self.busy += 1;
    }

    /// That step ended.
    pub(crate) fn busy_end(&mut self) {
        self.busy -= 1;
    }

    /// Browsers held longer than `limit` and not yet reported, marked reported: (id, held).
    pub(crate) fn overdue(&mut self, limit: Duration) -> Vec<(u64, Duration)> {
        self.in_use
            .iter_mut()
            .filter(|(_, info)| !info.reported && info.since.elapsed() >= limit)
            .map(|(id, info)| {
                info.reported = true;
                (*id, info.since.elapsed())
            })
            .collect()
    }

    /// (idle, in use, launching, callers waiting) now.
    /// (available, in use, launching, maintaining, waiting).
    pub(crate) fn counts(&self) -> (usize, usize, usize, usize, usize) {
        let waiting = self.waiters.iter().filter(|w| !w.is_closed()).count();
        (
            self.idle.len(),
            self.in_use.len(),
            self.launching,
            self.maintaining,
            waiting,
        )
    }

    /// Every idle or checked-out browser, by id.
    pub(crate) fn browsers(&self) -> Vec<BrowserStatus> {
        let mb = |b: Option<u64>| b.map(|b| b as f64 / (1024.0 * 1024.0));
        let mut browsers: Vec<BrowserStatus> = self
            .idle
            .iter()
            .map(|s| BrowserStatus {
                id: s.id,
                state: "idle",
                requests: s.requests,
                age_secs: s.created.elapsed().as_secs_f64(),
                memory_mb: mb(s.memory),
            })
            .chain(self.in_use.iter().map(|(id, i)| BrowserStatus {
                id: *id,
                state: "in_use",
                requests: i.requests,
                age_secs: i.created.elapsed().as_secs_f64(),
                memory_mb: mb(i.memory),
            }))
            .collect();
        browsers.sort_by_key(|b| b.id);
        browsers
    }

    fn uncount(&mut self, from: Counted) {
        match from {
            Counted::Launching => self.launching -= 1,
            Counted::Maintenance => self.maintaining -= 1,
        }
    }

    fn mark_in_use(&mut self, slot: &Slot<B>) {
        let info = InUse {
            since: Instant::now(),
            created: slot.created,
            requests: slot.requests,
            memory: slot.memory,
            reported: false,
        };
        self.in_use.insert(slot.id, info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(min: usize, target: usize, max: usize, max_waiters: usize) -> PoolOptions {
        PoolOptions {
            min_instances: min,
            target_available: target,
            max_instances: max,
            max_waiters,
            ..PoolOptions::default()
        }
    }

    #[test]
    fn warm_up_plans_the_target_and_never_passes_the_ceiling() {
        let mut st = Internals::<()>::default();
        assert_eq!(st.plan_launches(Goal::Target, &options(1, 3, 2, 8)), 2);
        assert_eq!(st.total(), 2);
        assert_eq!(
            st.plan_launches(Goal::Target, &options(1, 3, 2, 8)),
            0,
            "already at max"
        );
    }

    #[test]
    fn a_browser_moves_through_every_state_counted_once() {
        let o = options(0, 1, 1, 8);
        let mut st = Internals::default();
        assert_eq!(st.plan_launches(Goal::Target, &o), 1);
        assert!(st.place(Slot::new(1, ()), Counted::Launching).is_none());
        assert_eq!((st.total(), st.counts()), (1, (1, 0, 0, 0, 0)));
        let Checkout::Ready(slot) = st.checkout(&o) else {
            panic!("an idle browser is handed out")
        };
        assert_eq!((st.total(), st.counts()), (1, (0, 1, 0, 0, 0)));
        st.put_back(slot.id);
        assert_eq!(
            (st.total(), st.counts()),
            (1, (0, 0, 0, 1, 0)),
            "maintaining: the total adds up"
        );
        assert!(!st.is_settled(), "a returned browser is being checked");
        assert!(st.place(slot, Counted::Maintenance).is_none());
        assert!(st.is_settled());
        assert_eq!(st.counts(), (1, 0, 0, 0, 0));
    }

    #[test]
    fn a_full_pool_queues_callers_first_come_first_served_up_to_the_line_limit() {
        let o = options(0, 1, 1, 2);
        let mut st = Internals::default();
        assert!(matches!(st.checkout(&o), Checkout::Launch));
        let first = Slot::new(1, ());
        st.launched_for_caller(&first);
        let Checkout::Wait(mut a) = st.checkout(&o) else {
            panic!("waits")
        };
        let Checkout::Wait(mut b) = st.checkout(&o) else {
            panic!("waits")
        };
        assert!(matches!(st.checkout(&o), Checkout::LineFull));
        assert_eq!(st.counts().4, 2);
        st.put_back(first.id);
        assert!(st.place(first, Counted::Maintenance).is_none());
        assert_eq!(a.try_recv().map(|s| s.id).ok(), Some(1), "the first in line is served");
        assert!(b.try_recv().is_err(), "the second still waits");
        assert_eq!(st.total(), 1);
    }

    #[test]
    fn a_caller_who_stopped_waiting_is_skipped() {
        let o = options(0, 1, 1, 8);
        let mut st = Internals::default();
        assert!(matches!(st.checkout(&o), Checkout::Launch));
        let slot = Slot::new(1, ());
        st.launched_for_caller(&slot);
        let Checkout::Wait(gone) = st.checkout(&o) else {
            panic!("waits")
        };
        drop(gone);
        st.put_back(slot.id);
        assert!(st.place(slot, Counted::Maintenance).is_none());
        assert_eq!(st.counts(), (1, 0, 0, 0, 0), "idle again, not lost with the receiver");
    }

    #[test]
    fn closing_lets_waiters_go_and_returns_browsers_to_close() {
        let o = options(0, 2, 2, 8);
        let mut st = Internals::default();
        assert_eq!(st.plan_launches(Goal::Target, &o), 2);
        assert!(st.place(Slot::new(1, ()), Counted::Launching).is_none());
        let Checkout::Ready(out) = st.checkout(&o) else {
            panic!("ready")
        };
        assert!(st.place(Slot::new(2, ()), Counted::Launching).is_none());
        let Checkout::Ready(_) = st.checkout(&o) else {
            panic!("ready")
        };
        let Checkout::Wait(mut waiter) = st.checkout(&o) else {
            panic!("waits")
        };
        assert!(st.close().is_empty());
        assert!(waiter.try_recv().is_err());
        assert!(matches!(st.checkout(&o), Checkout::Closed));
        st.put_back(out.id);
        let to_close = st
            .place(out, Counted::Maintenance)
            .expect("a closed pool hands it back to close");
        st.closed_one(Counted::Maintenance);
        drop(to_close);
        assert_eq!(st.total(), 1, "the other browser is still out");
        assert_eq!(
            st.plan_launches(Goal::Replace(1), &o),
            0,
            "a closed pool launches nothing"
        );
    }

    #[test]
    fn overdue_browsers_are_reported_once() {
        let o = options(0, 1, 1, 8);
        let mut st = Internals::default();
        assert!(matches!(st.checkout(&o), Checkout::Launch));
        st.launched_for_caller(&Slot::new(7, ()));
        assert_eq!(st.overdue(Duration::ZERO).len(), 1);
        assert!(st.overdue(Duration::ZERO).is_empty());
        assert!(st.overdue(Duration::from_secs(3600)).is_empty());
    }
}
