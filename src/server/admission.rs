//! Backpressure: how many pages run at once, and how many requests may wait for them.
//!
//! Two semaphores. A request holds an *admission* permit from its arrival to its last byte, so
//! `max_in_flight + max_queued` requests at most are inside the server; one more is refused at
//! once (`429`) instead of joining a line it might never leave. Each page of a request holds a
//! *running* permit while it is extracted, so at most `max_in_flight` pages run at once,
//! whichever requests they belong to.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The server's two limits.
#[derive(Debug)]
pub(super) struct Admission {
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
    capacity: usize,
    in_flight: usize,
}

impl Admission {
    pub(super) fn new(max_in_flight: usize, max_queued: usize) -> Self {
        let in_flight = max_in_flight.min(Semaphore::MAX_PERMITS);
        let capacity = in_flight.saturating_add(max_queued).min(Semaphore::MAX_PERMITS);
        Self {
            admitted: Arc::new(Semaphore::new(capacity)),
            running: Arc::new(Semaphore::new(in_flight)),
            capacity,
            in_flight,
        }
    }

    /// A place for one more request, or `None` when the server is full.
    pub(super) fn admit(&self) -> Option<OwnedSemaphorePermit> {
        self.admitted.clone().try_acquire_owned().ok()
    }

    /// A slot to extract one page in, when one frees up (`None` once the server has closed
    /// its slots: it is stopping).
    pub(super) async fn run(&self) -> Option<OwnedSemaphorePermit> {
        self.running.clone().acquire_owned().await.ok()
    }

    /// Closes the running slots: pages still waiting for one give up.
    pub(super) fn close(&self) {
        self.running.close();
    }

    /// Pages extracted at once at most.
    pub(super) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Requests the server holds at most.
    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::Admission;

    #[test]
    fn requests_past_in_flight_and_queued_are_refused() {
        let admission = Admission::new(1, 1);
        let first = admission.admit().expect("in flight");
        let second = admission.admit().expect("queued");
        assert!(admission.admit().is_none(), "full");
        drop(first);
        assert!(admission.admit().is_some(), "a place freed");
        drop(second);
    }
}
