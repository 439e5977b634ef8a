//! The one background writer that persists learned profiles, so `observe` never touches disk.
//!
//! Every [`FLUSH_INTERVAL`] (or on [`ProfileWriter::flush`], and once more when dropped) it asks
//! the policy for the profiles that changed and saves them in one transaction. A failed save is
//! logged and its profiles are kept for the next try: nothing learned is lost to a store that is
//! briefly locked, and no request ever waits for or fails on the store.
//!
//! Several processes may share a store, so a save is a merge, not an overwrite: the writer
//! remembers each profile as this process last loaded or saved it (its *base*), and the policy's
//! merge adds what was learned since the base to whatever the store holds now.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::traits::{ProfileStore, StoredProfile, Target};

/// How long changes may wait before they are written: long enough to batch a crawl's worth of
/// observations into one transaction, short enough that a crash loses little.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_secs(5);

type Collect = Box<dyn Fn() -> Vec<StoredProfile> + Send>;

/// The policy's merge: `(ours, base, stored)` to the record to write, where `base` is `ours` as
/// this process last loaded or saved it.
pub(crate) type Merge =
    Box<dyn Fn(&StoredProfile, Option<&StoredProfile>, Option<&StoredProfile>) -> StoredProfile + Send>;

enum Command {
    Flush(mpsc::Sender<Result<()>>),
}

/// Owns the writer thread; dropping it writes what is left and joins the thread.
pub(crate) struct ProfileWriter {
    commands: Option<mpsc::Sender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ProfileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileWriter").finish_non_exhaustive()
    }
}

impl ProfileWriter {
    /// Starts the writer: `collect` returns (and forgets) the profiles changed since its last
    /// call, `merge` combines one with the store's, and `loaded` is what the policy started
    /// from (the first bases).
    pub(crate) fn spawn(
        store: Arc<dyn ProfileStore>,
        collect: Collect,
        merge: Merge,
        loaded: Vec<StoredProfile>,
    ) -> Result<Self> {
        let (commands, inbox) = mpsc::channel();
        let bases = loaded.into_iter().map(|p| (p.target.clone(), p)).collect();
        let thread = std::thread::Builder::new()
            .name("riptide-profile-writer".into())
            .spawn(move || run(&*store, &collect, &merge, bases, &inbox))
            .map_err(|e| Error::io("start the timeout profile writer thread", "riptide-profile-writer", e))?;
        Ok(Self {
            commands: Some(commands),
            thread: Some(thread),
        })
    }

    /// Writes every pending change now and reports whether the store took them.
    pub(crate) fn flush(&self) -> Result<()> {
        let (ack, done) = mpsc::channel();
        let sent = self
            .commands
            .as_ref()
            .is_some_and(|c| c.send(Command::Flush(ack)).is_ok());
        if !sent {
            return Ok(());
        }
        // The thread answers every flush before it exits; no answer means it is gone.
        done.recv().unwrap_or(Ok(()))
    }
}

impl Drop for ProfileWriter {
    fn drop(&mut self) {
        drop(self.commands.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    store: &dyn ProfileStore,
    collect: &Collect,
    merge: &Merge,
    mut bases: BTreeMap<Target, StoredProfile>,
    inbox: &mpsc::Receiver<Command>,
) {
    let mut pending = BTreeMap::<Target, StoredProfile>::new();
    let mut failing = false;
    loop {
        let command = inbox.recv_timeout(FLUSH_INTERVAL);
        for p in collect() {
            pending.insert(p.target.clone(), p);
        }
        let result = write(store, merge, &mut bases, &mut pending, &mut failing);
        match command {
            Ok(Command::Flush(ack)) => {
                let _ = ack.send(result);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn write(
    store: &dyn ProfileStore,
    merge: &Merge,
    bases: &mut BTreeMap<Target, StoredProfile>,
    pending: &mut BTreeMap<Target, StoredProfile>,
    failing: &mut bool,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let batch: Vec<StoredProfile> = pending.values().cloned().collect();
    let saved = store.save_merged(&batch, &|ours, stored| merge(ours, bases.get(&ours.target), stored));
    match saved {
        Ok(()) => {
            if std::mem::take(failing) {
                tracing::info!(profiles = batch.len(), "timeout profiles are being saved again");
            }
            // What is now in the store includes this state; later saves add only what is
            // learned after it.
            bases.extend(std::mem::take(pending));
            Ok(())
        }
        Err(e) => {
            if !std::mem::replace(failing, true) {
                tracing::warn!(error = %e, "timeout profiles could not be saved; keeping them in memory and retrying");
            }
            Err(e)
        }
    }
}
