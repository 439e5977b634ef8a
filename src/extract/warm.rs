//! [`WarmInstances`]: extractor instances kept between pages, so that a page costs a call into
//! a ready instance rather than a new instance, a new linear memory and its page faults.
//!
//! # Why, and why it is safe
//! A fresh instance per page costs about a quarter of a small page's extraction (0.78 against
//! 0.60 ms for the crawl bench's 5.5 KB pages; BENCHMARKS.md, "Warm instances"): the instance,
//! its memory mapped and faulted in, and the guest's allocator starting from nothing. The guest
//! is riptide's own extractor, a function of its input: after a call it frees the input and the
//! reply (`dealloc`), and nothing else of the page stays in its memory's live data. An instance
//! is still retired, and never used again, when
//! - a call fails in any way (a trap, the time or fuel budget, the memory cap, a bad reply):
//!   the guest's state is then unknown. A page that traps or runs out of memory in a kept
//!   instance is run again in a fresh one, which is what it would have had;
//! - it has served [`WarmInstances::new`]'s `max_uses` pages, which bounds how long anything a
//!   page could leave behind (the guest is sandboxed, but not proven free of bugs) can last;
//! - its memory grew past [`RETIRE_ABOVE_BYTES`] (or half the guest's memory cap, if less) for a
//!   large page, so an idle thread does not hold that memory and the next page has room;
//! - the engine cannot renew it ([`GuestInstance::renew`]), or the module has no `dealloc`.
//!
//! # Where they are kept
//! On the thread that ran them, one per pool and thread. Extractions run on tokio's blocking
//! threads, which are reused while busy, and wasmer's instances cannot move between threads. An
//! idle instance is dropped when its thread next needs one for another pool, or exits (tokio's
//! blocking threads exit after 10 s without work).

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

/// An instance whose memory grew past this for a large page is retired, not kept.
pub const RETIRE_ABOVE_BYTES: usize = 32 << 20;

/// How many pages one instance serves by default before a fresh one is made.
///
/// A fresh instance costs a few pages' time: its memory is mapped and faulted in again, and the
/// extractor parses its selectors again. Its memory is bounded by [`RETIRE_ABOVE_BYTES`], not
/// by this count, and a failed call retires it at once; the count only bounds how long any other
/// state can build up in one instance. 1,024 rather than 64 takes about 3% off a page's time
/// in process, and 5% off a crawl's (BENCHMARKS.md, "Fewer walks of the page").
pub const DEFAULT_MAX_USES: u32 = 1024;

static NEXT_POOL: AtomicU64 = AtomicU64::new(1);

/// One idle instance on this thread: its pool, the instance, and how many pages it served.
struct Idle {
    pool: u64,
    instance: Box<dyn Any>,
    uses: u32,
}

thread_local! {
    static IDLE: RefCell<Option<Idle>> = const { RefCell::new(None) };
}

/// Extractor instances kept warm between pages, one per thread (see the module docs). An
/// executor holds one; [`run_extractor_warm`](super::run_extractor_warm) takes and keeps its
/// instances.
#[derive(Debug)]
pub struct WarmInstances {
    id: u64,
    max_uses: u32,
}

impl WarmInstances {
    /// Instances that each serve at most `max_uses` pages; `0` or `1` keeps none (a fresh
    /// instance per page).
    pub fn new(max_uses: u32) -> Self {
        Self {
            id: NEXT_POOL.fetch_add(1, Ordering::Relaxed),
            max_uses,
        }
    }

    /// How many pages one instance serves at most.
    pub fn max_uses(&self) -> u32 {
        self.max_uses
    }

    /// How many pages the instance this thread keeps for this pool has served, if it keeps one.
    pub fn held_here(&self) -> Option<u32> {
        IDLE.with_borrow(|idle| idle.as_ref().filter(|i| i.pool == self.id).map(|i| i.uses))
    }

    /// This thread's idle instance of this pool, with the pages it served.
    pub(crate) fn take<I: 'static>(&self) -> Option<(I, u32)> {
        if self.max_uses <= 1 {
            return None;
        }
        let Idle { instance, uses, .. } = IDLE.with_borrow_mut(|idle| idle.take_if(|i| i.pool == self.id))?;
        instance.downcast::<I>().ok().map(|i| (*i, uses))
    }

    /// Keeps `instance`, which has served `uses` pages, on this thread for its next page, unless
    /// it has served its share. (The caller retires one that holds too much memory.)
    pub(crate) fn keep<I: 'static>(&self, instance: I, uses: u32) {
        if uses >= self.max_uses {
            return;
        }
        let idle = Idle {
            pool: self.id,
            instance: Box::new(instance),
            uses,
        };
        // One instance per thread: a thread that serves another pool now drops the one it kept
        // for the other (outside the borrow: dropping runs the engine's code).
        let dropped = IDLE.with_borrow_mut(|kept| kept.replace(idle));
        drop(dropped);
    }
}

impl Default for WarmInstances {
    /// [`DEFAULT_MAX_USES`] pages an instance.
    fn default() -> Self {
        Self::new(DEFAULT_MAX_USES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_is_kept_for_its_pool_and_thread_only() {
        let (a, b) = (WarmInstances::new(3), WarmInstances::new(3));
        a.keep(7u32, 1);
        assert_eq!(b.take::<u32>(), None, "another pool's");
        assert_eq!(a.take::<String>(), None, "another type is never handed out");
        a.keep(7u32, 1);
        let other_thread = std::thread::scope(|s| s.spawn(|| a.take::<u32>()).join().ok().flatten());
        assert_eq!(other_thread, None, "another thread's");
        assert_eq!(a.take::<u32>(), Some((7, 1)));
        assert_eq!(a.take::<u32>(), None, "taken once");
    }

    #[test]
    fn an_instance_is_retired_when_used_up() {
        let pool = WarmInstances::new(3);
        pool.keep(1u8, 3);
        assert_eq!(pool.take::<u8>(), None, "served its share");
        let none = WarmInstances::new(1);
        none.keep(1u8, 0);
        assert_eq!(none.take::<u8>(), None, "max_uses 1 keeps nothing");
    }

    #[test]
    fn a_thread_keeps_one_pools_instance() {
        let (a, b) = (WarmInstances::new(9), WarmInstances::new(9));
        a.keep(1u8, 1);
        b.keep(2u8, 1);
        assert_eq!(a.take::<u8>(), None, "dropped when the thread served another pool");
        assert_eq!(b.take::<u8>(), Some((2, 1)));
    }
}
