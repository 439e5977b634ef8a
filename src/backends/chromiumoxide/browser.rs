//! One browser of a [`ChromiumoxideProvider`](super::ChromiumoxideProvider) as the pool sees it:
//! the tab it renders in, how a render in it is cancelled or given up, and the browser
//! ([`Process`]) the tab is in, which it may share with other pooled browsers.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Mutex, Notify};

use super::process::Process;
use super::tab::Renderer;
use crate::backends::chromium::process_tree;

/// How long closing the tab of a browser whose process lives on may take.
const TAB_CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// What the runtime's tasks share with the blocking side.
pub(super) struct Inner {
    pub process: Arc<Process>,
    /// The tab pages render in now and its side connection; held for a whole fetch (one navigation
    /// at a time).
    pub current: Mutex<Renderer>,
    /// Set by [`BrowserProvider::cancel`](crate::traits::BrowserProvider::cancel); the fetch it
    /// stops clears it.
    pub cancelled: AtomicBool,
    /// Wakes the fetch in progress when it is cancelled.
    pub cancel: Notify,
    /// A render here was given up (stuck in a page, or over its memory limit).
    pub abandoned: AtomicBool,
}

impl Inner {
    pub(super) fn new(process: Arc<Process>, renderer: Renderer) -> Self {
        Self {
            process,
            current: Mutex::new(renderer),
            cancelled: AtomicBool::new(false),
            cancel: Notify::new(),
            abandoned: AtomicBool::new(false),
        }
    }
}

/// One pooled browser: a readied tab in a local or remote Chromium.
pub struct ChromiumoxideBrowser {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for ChromiumoxideBrowser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChromiumoxideBrowser")
            .field("pid", &self.pid())
            .field("endpoint", &self.endpoint())
            .finish_non_exhaustive()
    }
}

impl ChromiumoxideBrowser {
    pub(super) fn new(inner: Inner) -> Self {
        Self { inner: Arc::new(inner) }
    }

    /// The main process id of a local browser (shared by the pooled browsers that are tabs of
    /// one process).
    pub fn pid(&self) -> Option<u32> {
        self.inner.process.pid()
    }

    /// The remote endpoint of a connected browser.
    pub fn endpoint(&self) -> Option<&str> {
        self.inner.process.endpoint.as_deref()
    }

    /// The pids of the local browser's process tree now.
    pub fn process_tree(&self) -> Vec<u32> {
        self.pid().map(process_tree::members).unwrap_or_default()
    }

    /// The per-browser directory (profile and temporary files) of a local browser.
    pub fn dir(&self) -> Option<&Path> {
        self.inner.process.dir()
    }

    pub(super) fn alive(&self) -> bool {
        !self.inner.abandoned.load(Ordering::Acquire) && self.inner.process.alive()
    }

    /// Gives the browser up (see [`Process::abandon`]); other tabs of its process go with it.
    pub(super) fn abandon(&self) {
        self.inner.abandoned.store(true, Ordering::Release);
        self.inner.process.abandon();
    }

    /// [`abandon`](Self::abandon)s the browser if a render gave up on it.
    pub(super) fn abandon_if_given_up(&self) {
        if self.inner.abandoned.load(Ordering::Acquire) {
            self.abandon();
        }
    }
}

impl Drop for ChromiumoxideBrowser {
    /// Closes the tab (and the context riptide made for it) when its browser lives on: a remote
    /// browser, or a local one with other tabs. A local browser whose last tab this was is
    /// stopped as its `Process` drops.
    fn drop(&mut self) {
        let process = &self.inner.process;
        let others = process.release();
        if process.pid().is_some() && others == 0 {
            return;
        }
        let inner = self.inner.clone();
        let closing = async move {
            let renderer = inner.current.lock().await;
            renderer.tab.close(&inner.process.browser).await;
        };
        if process.pid().is_none() {
            // Off this thread: a remote browser is never waited on.
            process.runtime.spawn(closing);
        } else {
            // Waited for (briefly): a local process must not outlive its last tab's drop
            // because a task still holds it.
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            process.runtime.spawn(async move {
                let _ = tokio::time::timeout(TAB_CLOSE_GRACE, closing).await;
                let _ = tx.send(());
            });
            let _ = rx.recv();
        }
    }
}
