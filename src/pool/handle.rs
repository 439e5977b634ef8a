//! [`PooledBrowser`]: a checked-out browser that goes back to the pool when dropped.
//!
//! Dropping it is one call, [`PoolInner::put_back`], like bb8's `put_back`: the return travels
//! over a channel whose `send` never blocks and needs no runtime, so a handle can be dropped
//! anywhere (in a sync context, after its caller's runtime is gone, while unwinding). If the pool
//! itself is gone the browser is closed by its own drop.

use std::ops::Deref;
use std::sync::{Arc, Weak};
use tokio::time::Instant;

use tokio::task::JoinHandle;

use super::inner::{PoolInner, Returned};
use super::internals::Slot;
use crate::error::Result;
use crate::traits::{BrowserProvider, PageRequest, RenderedPage};

/// A browser checked out of a [`BrowserPool`](super::BrowserPool). Derefs to the provider's
/// browser type; [`fetch`](PooledBrowser::fetch) runs the provider's fetch on a blocking thread.
pub struct PooledBrowser<P: BrowserProvider> {
    slot: Option<Slot<P::Browser>>,
    provider: Arc<P>,
    /// Weak: a handle kept somewhere must not keep a dropped pool alive.
    pool: Weak<PoolInner<P>>,
    suspect: bool,
    /// The fetch in progress; left here when its future is dropped, for the pool to wait on.
    in_flight: Option<JoinHandle<Result<RenderedPage>>>,
    checked_out: Instant,
}

impl<P: BrowserProvider> std::fmt::Debug for PooledBrowser<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledBrowser")
            .field("id", &self.id())
            .field("suspect", &self.suspect)
            .finish_non_exhaustive()
    }
}

impl<P: BrowserProvider> PooledBrowser<P> {
    pub(crate) fn new(slot: Slot<P::Browser>, pool: &Arc<PoolInner<P>>) -> Self {
        Self {
            slot: Some(slot),
            provider: pool.provider.clone(),
            pool: Arc::downgrade(pool),
            suspect: false,
            in_flight: None,
            checked_out: Instant::now(),
        }
    }

    fn slot(&self) -> &Slot<P::Browser> {
        // `slot` is only taken in `drop`.
        self.slot
            .as_ref()
            .unwrap_or_else(|| unreachable!("a live handle holds its browser"))
    }

    /// The pool's id for this browser.
    pub fn id(&self) -> u64 {
        self.slot().id
    }

    /// Checkouts this browser served before this one.
    pub fn requests(&self) -> u32 {
        self.slot().requests
    }

    /// How long this handle has been out.
    pub fn held_for(&self) -> std::time::Duration {
        self.checked_out.elapsed()
    }

    /// Fetches a page with this browser on a blocking thread. Any failure marks the browser for
    /// a health probe before anyone reuses it (a failed page may have left it dead or stuck), and
    /// so does dropping this future before it finishes (a caller's timeout, Ctrl-C): the fetch
    /// is then cancelled ([`BrowserProvider::cancel`]) and the browser probed before it serves
    /// anyone else.
    pub async fn fetch(&mut self, request: PageRequest) -> Result<RenderedPage> {
        let browser = self.slot().browser.clone();
        let provider = self.provider.clone();
        let was_suspect = std::mem::replace(&mut self.suspect, true);
        let mut cancel = CancelOnDrop {
            provider: provider.clone(),
            browser: browser.clone(),
            armed: true,
        };
        let task = self
            .in_flight
            .insert(tokio::task::spawn_blocking(move || provider.fetch(&browser, &request)));
        let result = crate::error::join_blocking(task.await, "fetch a page");
        self.in_flight = None;
        cancel.armed = false;
        drop(cancel);
        self.suspect = was_suspect || result.is_err();
        result
    }

    /// Marks the browser for a health probe before reuse (for callers driving it directly).
    pub fn mark_suspect(&mut self) {
        self.suspect = true;
    }
}

/// Cancels the fetch on `browser` when dropped while armed: a fetch future dropped mid-fetch
/// stops the render instead of leaving it to run to its deadline. Disarmed once the fetch has
/// answered (and then dropped normally: its `Arc`s must go, or the browser is never closed).
struct CancelOnDrop<P: BrowserProvider> {
    provider: Arc<P>,
    browser: Arc<P::Browser>,
    armed: bool,
}

impl<P: BrowserProvider> Drop for CancelOnDrop<P> {
    fn drop(&mut self) {
        if self.armed {
            self.provider.cancel(&self.browser);
        }
    }
}

impl<P: BrowserProvider> Deref for PooledBrowser<P> {
    type Target = P::Browser;

    fn deref(&self) -> &P::Browser {
        &self.slot().browser
    }
}

impl<P: BrowserProvider> Drop for PooledBrowser<P> {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else { return };
        // With the pool gone, the browser closes as the slot drops here.
        if let Some(pool) = self.pool.upgrade() {
            pool.put_back(Returned {
                slot,
                suspect: self.suspect,
                in_flight: self.in_flight.take(),
            });
        }
    }
}
