//! One browser of a [`ChromiumoxideProvider`](super::ChromiumoxideProvider): its DevTools
//! connection, the tab it renders in, its process (local) or endpoint (remote), and how it ends.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chromiumoxide::Browser;
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinHandle;

use super::tab::{Rendered, Renderer};
use crate::backends::chromium::local::{self, StartedChromium, TERMINATE_GRACE};
use crate::backends::chromium::process_tree;

/// How a render on the runtime ended.
pub(super) enum Rendering {
    /// The render answered (with a page, or how it failed).
    Finished(Rendered),
    /// The deadline passed first.
    Late,
    /// The caller cancelled the fetch.
    Cancelled,
    /// The browser went over the render memory limit.
    OverMemory { used_bytes: u64, limit_bytes: u64 },
}

/// What the runtime's tasks share with the blocking side.
pub(super) struct Inner {
    pub browser: Browser,
    /// The task that reads and writes the DevTools connection.
    connection: JoinHandle<()>,
    /// The tab pages render in now and its navigator; held for a whole fetch (one navigation
    /// at a time).
    pub current: Mutex<Renderer>,
    /// Set by [`BrowserProvider::cancel`](crate::traits::BrowserProvider::cancel); the fetch it
    /// stops clears it.
    pub cancelled: AtomicBool,
    /// Wakes the fetch in progress when it is cancelled.
    pub cancel: Notify,
    /// Given up on (stuck in a page, or over its memory limit): it fails every probe.
    pub abandoned: AtomicBool,
    runtime: tokio::runtime::Handle,
}

impl Inner {
    pub(super) fn new(
        browser: Browser,
        connection: JoinHandle<()>,
        renderer: Renderer,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self {
            browser,
            connection,
            current: Mutex::new(renderer),
            cancelled: AtomicBool::new(false),
            cancel: Notify::new(),
            abandoned: AtomicBool::new(false),
            runtime,
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// One browser with its readied tab.
pub struct ChromiumoxideBrowser {
    pub(super) inner: Arc<Inner>,
    pub(super) pid: Option<u32>,
    /// The local browser's process, reaped when the browser is dropped.
    child: Option<Child>,
    dir: Option<PathBuf>,
    endpoint: Option<String>,
}

impl std::fmt::Debug for ChromiumoxideBrowser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChromiumoxideBrowser")
            .field("pid", &self.pid)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl ChromiumoxideBrowser {
    pub(super) fn local(inner: Arc<Inner>, started: StartedChromium) -> Self {
        Self {
            inner,
            pid: Some(started.pid),
            child: Some(started.child),
            dir: Some(started.dir),
            endpoint: None,
        }
    }

    pub(super) fn remote(inner: Arc<Inner>, endpoint: String) -> Self {
        Self {
            inner,
            pid: None,
            child: None,
            dir: None,
            endpoint: Some(endpoint),
        }
    }

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

    pub(super) fn alive(&self) -> bool {
        !self.inner.abandoned.load(Ordering::Acquire) && self.pid.is_none_or(local::running)
    }

    /// Gives the browser up: a local one is killed at once (which also ends every DevTools call
    /// still waiting on it), a remote one is marked so the pool disconnects it.
    pub(super) fn abandon(&self) {
        self.inner.abandoned.store(true, Ordering::Release);
        if let Some(pid) = self.pid {
            process_tree::terminate(pid, Duration::ZERO);
        }
    }

    /// [`abandon`](Self::abandon)s the browser if a render gave up on it.
    pub(super) fn abandon_if_given_up(&self) {
        if self.inner.abandoned.load(Ordering::Acquire) {
            self.abandon();
        }
    }
}

impl Drop for ChromiumoxideBrowser {
    /// Stops a local browser's whole tree, reaps it and removes its directory. A remote browser
    /// gets its tab closed (and the context riptide made for it disposed of), then is
    /// disconnected; it is never killed.
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            process_tree::terminate(pid, TERMINATE_GRACE);
        } else {
            let inner = self.inner.clone();
            // Off this thread: closing is async, and a drop must not wait.
            self.inner.runtime.spawn(async move {
                let renderer = inner.current.lock().await;
                renderer.tab.close(&inner.browser).await;
            });
        }
        if let Some(mut child) = self.child.take() {
            // Already dead (the whole tree was stopped above): this is the reap.
            let _ = child.wait();
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
