//! The background thread that keeps an executor's rendering evidence (what `EngineChoice::Auto`
//! learned about which hosts need a browser) in step with its store while the executor runs.
//!
//! Every [`FLUSH_INTERVAL`] it saves the hosts whose evidence changed, and every
//! [`CHANGES_INTERVAL`] it takes in what other processes sharing the store saved
//! ([`LearningStore::take_changed_evidence`]; a store read only at start reports nothing), so a
//! host that one worker found needs rendering is rendered directly by the others within
//! seconds. Like the timeout profiles' writer it is never on the request path, and a store that
//! fails is logged and retried at the next flush (the evidence stays marked as changed).

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

use super::rendering_evidence::RenderingEvidence;
use crate::error::{Error, Result};
use crate::policies::{CHANGES_INTERVAL, FLUSH_INTERVAL};
use crate::traits::LearningStore;

/// Owns the thread; dropping it saves what is left and joins the thread.
pub(crate) struct EvidenceWriter {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EvidenceWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvidenceWriter").finish_non_exhaustive()
    }
}

impl EvidenceWriter {
    /// Starts the thread for `evidence` and `store`.
    pub(crate) fn spawn(store: Arc<dyn LearningStore>, evidence: Arc<Mutex<RenderingEvidence>>) -> Result<Self> {
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("riptide-evidence-writer".into())
            .spawn(move || run(&*store, &evidence, &stopped))
            .map_err(|e| {
                Error::io(
                    "start the rendering evidence writer thread",
                    "riptide-evidence-writer",
                    e,
                )
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for EvidenceWriter {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(store: &dyn LearningStore, evidence: &Mutex<RenderingEvidence>, stopped: &mpsc::Receiver<()>) {
    let mut next_flush = Instant::now() + FLUSH_INTERVAL;
    let mut failing = false;
    loop {
        let wait = next_flush
            .saturating_duration_since(Instant::now())
            .min(CHANGES_INTERVAL);
        let stopping = matches!(stopped.recv_timeout(wait), Err(RecvTimeoutError::Disconnected));
        let theirs = store.take_changed_evidence();
        if !theirs.is_empty() {
            crate::sync::lock(evidence).absorb(theirs, SystemTime::now());
        }
        if stopping || Instant::now() >= next_flush {
            next_flush = Instant::now() + FLUSH_INTERVAL;
            save(store, evidence, &mut failing);
        }
        if stopping {
            return;
        }
    }
}

/// Saves the hosts whose evidence changed; on failure they stay changed, for the next try.
fn save(store: &dyn LearningStore, evidence: &Mutex<RenderingEvidence>, failing: &mut bool) {
    let changed = crate::sync::lock(evidence).take_changed(SystemTime::now());
    if changed.is_empty() {
        return;
    }
    match store.save_evidence(&changed) {
        Ok(()) => {
            if std::mem::take(failing) {
                tracing::info!("rendering evidence is being saved again");
            }
        }
        Err(e) => {
            if !std::mem::replace(failing, true) {
                tracing::warn!(error = %e, "rendering evidence could not be saved; keeping it and retrying");
            }
            crate::sync::lock(evidence).mark_changed(changed.into_iter().map(|e| e.host));
        }
    }
}
