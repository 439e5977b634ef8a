//! One browser of a [`ChromeProvider`](super::ChromeProvider): its DevTools connection, the
//! browser context it renders in, its process (local) or endpoint (remote), and how it ends.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use headless_chrome::{Browser, Tab};

use super::context::Current;
use crate::backends::chromium::local::TERMINATE_GRACE;
use crate::backends::chromium::process_tree;

/// One browser with its warm tab.
pub struct ChromeBrowser {
    pub(super) browser: Option<Browser>,
    /// The browser context pages render in now, and its readied tab.
    pub(super) current: Current,
    pub(super) pid: Option<u32>,
    /// The local browser's process, reaped when the browser is dropped.
    pub(super) child: Option<std::process::Child>,
    pub(super) dir: Option<PathBuf>,
    pub(super) endpoint: Option<String>,
    /// Held for a whole fetch: the tab navigates to one page at a time.
    pub(super) navigation: Mutex<()>,
    /// Given up on (stuck in a page, or over its memory limit): it fails every probe, so the
    /// pool closes it.
    pub(super) abandoned: AtomicBool,
    /// Set by [`BrowserProvider::cancel`]; the fetch it stops clears it.
    pub(super) cancelled: AtomicBool,
}

impl std::fmt::Debug for ChromeBrowser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChromeBrowser")
            .field("pid", &self.pid)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl ChromeBrowser {
    /// The main process id of a local browser.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The remote endpoint of a connected browser.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// The pids of the local browser's process tree now.
    pub fn process_tree(&self) -> Vec<u32> {
        self.pid.map(process_tree::members).unwrap_or_default()
    }

    /// The per-browser directory (profile and temporary files) of a local browser.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The readied tab of the context pages render in now.
    pub(super) fn tab(&self) -> Arc<Tab> {
        crate::sync::lock(&self.current).tab.clone()
    }

    pub(super) fn alive(&self) -> bool {
        !self.abandoned.load(Ordering::Acquire) && self.pid.is_none_or(process_tree::alive)
    }

    /// Gives the browser up: a local one is killed at once (which also ends every CDP call
    /// still waiting on it), a remote one is marked so the pool disconnects it.
    pub(super) fn abandon(&self) {
        self.abandoned.store(true, Ordering::Release);
        if let Some(pid) = self.pid {
            process_tree::terminate(pid, Duration::ZERO);
        }
    }
}

impl Drop for ChromeBrowser {
    /// Stops a local browser's whole tree, reaps it and removes its directory; a remote browser
    /// is only disconnected. Dropping is the one way a browser ends, so a pool dropped without
    /// `shutdown` still leaves nothing behind.
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            process_tree::terminate(pid, TERMINATE_GRACE);
        }
        drop(self.browser.take());
        if let Some(mut child) = self.child.take() {
            // Already dead (the whole tree was stopped above): this is the reap.
            let _ = child.wait();
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
