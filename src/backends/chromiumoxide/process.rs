//! The browser behind a [`ChromiumoxideBrowser`](super::ChromiumoxideBrowser): a local Chromium
//! process (or a remote browser) and the DevTools connection its tabs share.
//!
//! Why it is separate from the pooled browser: with
//! [`tabs_per_browser`](super::ChromiumSettings::tabs_per_browser) above one, several
//! pooled browsers are tabs of one process, as in a puppeteer script that opens a page per URL.
//! On two cores, two processes with two tabs each render more pages per second than four
//! processes (BENCHMARKS.md, "Tabs per browser"): every Chromium brings its own browser, GPU,
//! network and storage processes. The rules that keep that safe live here:
//!
//! - The process ends with its last tab (the last `Arc` of it).
//! - It takes no new tab once one of its tabs has been closed: the pool closes a browser to
//!   recycle it (requests, age, memory, a failed probe) or to reap it, so its process is on its
//!   way out, and a replacement belongs in a fresh one.
//! - It is given up as a whole when one of its renders gets stuck or goes over the render memory
//!   limit: the stuck renderer may be the one its other tabs share, and memory is the whole
//!   tree's. Renders in its other tabs then fail as a browser that died, and the pool replaces
//!   every one of them.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chromiumoxide::Browser;
use tokio::task::JoinHandle;

use crate::backends::chromium::local::StartedChromium;
use crate::backends::chromium::process_tree;

/// A browser and the tabs riptide renders in it.
pub(super) struct Process {
    pub browser: Browser,
    /// The task that reads and writes the DevTools connection.
    connection: JoinHandle<()>,
    pub runtime: tokio::runtime::Handle,
    /// The local browser (process, DevTools URL, directory), stopped, reaped and removed when
    /// this drops (`None`: a remote browser).
    local: Option<StartedChromium>,
    /// The remote browser's DevTools URL.
    pub endpoint: Option<String>,
    /// Killed, or stuck in a page: every tab fails its probe.
    abandoned: AtomicBool,
    /// One of its tabs was closed: it takes no new ones.
    draining: AtomicBool,
    /// Tabs open in it for the pool.
    tabs: AtomicUsize,
}

impl Process {
    /// A browser just connected, with its first tab open. `started` is the local process (`None`
    /// for a remote browser at `endpoint`).
    pub(super) fn new(
        browser: Browser,
        connection: JoinHandle<()>,
        runtime: tokio::runtime::Handle,
        started: Option<StartedChromium>,
        endpoint: Option<String>,
    ) -> Self {
        Self {
            browser,
            connection,
            runtime,
            local: started,
            endpoint,
            abandoned: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            tabs: AtomicUsize::new(1),
        }
    }

    /// Where a new tab's side connection connects.
    pub(super) fn ws_url(&self) -> &str {
        match &self.local {
            Some(local) => &local.ws_url,
            None => self.endpoint.as_deref().unwrap_or_default(),
        }
    }

    /// The main process of a local browser (`None`: remote).
    pub(super) fn pid(&self) -> Option<u32> {
        self.local.as_ref().map(|local| local.pid)
    }

    /// The per-browser directory of a local browser.
    pub(super) fn dir(&self) -> Option<&Path> {
        self.local.as_ref().map(|local| local.dir.as_path())
    }

    /// Whether the browser can still render: not given up, and (local) still running.
    pub(super) fn alive(&self) -> bool {
        !self.abandoned.load(Ordering::Acquire) && self.pid().is_none_or(process_tree::alive)
    }

    /// Gives the browser up: a local one is killed at once (which also ends every DevTools call
    /// still waiting on it), a remote one is marked so the pool disconnects its tabs.
    pub(super) fn abandon(&self) {
        self.abandoned.store(true, Ordering::Release);
        if let Some(pid) = self.pid() {
            process_tree::terminate(pid, Duration::ZERO);
        }
    }

    /// Counts one more tab in, if the browser is alive, not draining, and has fewer than `most`.
    pub(super) fn admit(&self, most: usize) -> bool {
        !self.draining.load(Ordering::Acquire)
            && self.alive()
            && self
                .tabs
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < most).then_some(n + 1))
                .is_ok()
    }

    /// Tabs open in it for the pool.
    pub(super) fn tabs(&self) -> usize {
        self.tabs.load(Ordering::Acquire)
    }

    /// Counts one tab out, and closes the browser to new ones. Returns the tabs left.
    pub(super) fn release(&self) -> usize {
        self.draining.store(true, Ordering::Release);
        self.tabs.fetch_sub(1, Ordering::AcqRel).saturating_sub(1)
    }
}

impl Drop for Process {
    /// Stops a local browser's whole tree, reaps it and removes its directory; disconnects from
    /// a remote one, which is never killed.
    fn drop(&mut self) {
        self.connection.abort();
        if let Some(local) = self.local.take() {
            local.discard();
        }
    }
}
