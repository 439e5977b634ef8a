//! A bound on live extractor instances, so wasmtime's pooling allocator never runs out of slots.
//!
//! The pooling allocator reserves a fixed number of memory slots when the engine is built and
//! fails an instantiation when all are taken. Extractions are short and CPU-bound, so waiting
//! for a slot costs nothing a caller could have used: more instances than slots would only
//! share the same cores. The wait is bounded all the same, so a caller that leaks instances
//! gets an error instead of a hang.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, WasmError};
use crate::sync::lock;

/// Counts free slots; [`InstanceSlots::acquire`] waits for one.
#[derive(Debug)]
pub(super) struct InstanceSlots {
    total: u32,
    free: Mutex<u32>,
    freed: Condvar,
}

/// One taken slot, given back on drop.
#[derive(Debug)]
pub(super) struct InstanceSlot {
    slots: Arc<InstanceSlots>,
}

impl InstanceSlots {
    /// `total` slots, all free.
    pub(super) fn new(total: u32) -> Arc<Self> {
        Arc::new(Self {
            total,
            free: Mutex::new(total),
            freed: Condvar::new(),
        })
    }

    /// How many slots there are.
    pub(super) fn total(&self) -> u32 {
        self.total
    }

    /// Takes a slot, waiting at most `wait` for one to be given back.
    pub(super) fn acquire(self: &Arc<Self>, wait: Duration) -> Result<InstanceSlot, Error> {
        let deadline = Instant::now() + wait;
        let mut free = lock(&self.free);
        while *free == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(WasmError::NoInstanceSlot {
                    slots: self.total,
                    waited: wait,
                }
                .into());
            }
            free = self
                .freed
                .wait_timeout(free, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        *free -= 1;
        Ok(InstanceSlot {
            slots: Arc::clone(self),
        })
    }
}

impl Drop for InstanceSlot {
    fn drop(&mut self) {
        *lock(&self.slots.free) += 1;
        self.slots.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_given_back_wakes_a_waiter() {
        let slots = InstanceSlots::new(1);
        let held = slots.acquire(Duration::ZERO).expect("one free slot");
        let waiter = {
            let slots = Arc::clone(&slots);
            std::thread::spawn(move || slots.acquire(Duration::from_secs(60)).map(drop))
        };
        drop(held);
        waiter
            .join()
            .expect("waiter thread")
            .expect("slot after the holder let go");
        assert_eq!(*lock(&slots.free), 1);
    }

    #[test]
    fn no_free_slot_within_the_wait_is_an_error_that_says_so() {
        let slots = InstanceSlots::new(1);
        let _held = slots.acquire(Duration::ZERO).expect("one free slot");
        let err = slots.acquire(Duration::from_millis(1)).expect_err("all slots taken");
        assert!(err.to_string().contains("1 instance slot"), "{err}");
    }
}
