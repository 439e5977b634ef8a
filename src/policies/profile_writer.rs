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
//!
//! A store shared while the processes run (a NATS key-value bucket) also reports what the others
//! wrote. Every [`CHANGES_INTERVAL`] the writer takes those records and has the policy absorb
//! each one the same way, the other way round: the policy's profile becomes the other
//! process's record plus what this process learned since its base, and the record becomes the
//! new base. Local learning not yet saved is kept, and nothing is counted twice. The writer
//! thread does both, so bases are never updated by two threads at once.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::traits::{LearningStore, PartialSave, StoredProfile, Target};

/// How long changes may wait before they are written: long enough to batch a crawl's worth of
/// observations into one transaction, short enough that a crash loses little.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// How often the writer asks the store for what other processes wrote (a store that cannot
/// tell answers at once, with nothing): with [`FLUSH_INTERVAL`] on the writing side, a host
/// learned by one process is used by the others within about six seconds.
pub(crate) const CHANGES_INTERVAL: Duration = Duration::from_secs(1);

type Collect = Box<dyn Fn() -> Vec<StoredProfile> + Send>;

/// The policy's merge: `(ours, base, stored)` to the record to write, where `base` is `ours` as
/// this process last loaded or saved it.
pub(crate) type Merge =
    Box<dyn Fn(&StoredProfile, Option<&StoredProfile>, Option<&StoredProfile>) -> StoredProfile + Send>;

/// The policy's absorb: `(theirs, base, unsaved)` takes a record another process wrote into the
/// policy's profile (`theirs` plus what was learned since `base`) and says whether it did
/// (`false`: a record it does not use, such as an expired one). `unsaved`: the writer holds a
/// collected copy of this profile that is not saved yet and drops it, so the policy must
/// collect the profile again.
pub(crate) type Absorb = Box<dyn Fn(&StoredProfile, Option<&StoredProfile>, bool) -> bool + Send>;

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
    /// call, `merge` combines one with the store's, `absorb` takes in another process's, and
    /// `loaded` is what the policy started from (the first bases).
    pub(crate) fn spawn(
        store: Arc<dyn LearningStore>,
        policy: PolicyHooks,
        loaded: Vec<StoredProfile>,
    ) -> Result<Self> {
        let (commands, inbox) = mpsc::channel();
        let bases = loaded.into_iter().map(|p| (p.target.clone(), p)).collect();
        let thread = std::thread::Builder::new()
            .name("riptide-profile-writer".into())
            .spawn(move || run(&*store, &policy, bases, &inbox))
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

/// What the writer calls back into the policy for.
pub(crate) struct PolicyHooks {
    /// The profiles changed since the last call.
    pub(crate) collect: Collect,
    /// A profile combined with the store's record.
    pub(crate) merge: Merge,
    /// Another process's record taken in.
    pub(crate) absorb: Absorb,
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
    store: &dyn LearningStore,
    policy: &PolicyHooks,
    mut bases: BTreeMap<Target, StoredProfile>,
    inbox: &mpsc::Receiver<Command>,
) {
    let mut pending = BTreeMap::<Target, StoredProfile>::new();
    let mut failing = false;
    let mut next_flush = Instant::now() + FLUSH_INTERVAL;
    loop {
        let wait = next_flush
            .saturating_duration_since(Instant::now())
            .min(CHANGES_INTERVAL);
        let command = inbox.recv_timeout(wait);
        absorb(store, &policy.absorb, &mut bases, &mut pending);
        if matches!(command, Err(RecvTimeoutError::Timeout)) && Instant::now() < next_flush {
            continue;
        }
        next_flush = Instant::now() + FLUSH_INTERVAL;
        for p in (policy.collect)() {
            pending.insert(p.target.clone(), p);
        }
        let result = write(store, &policy.merge, &mut bases, &mut pending, &mut failing);
        match command {
            Ok(Command::Flush(ack)) => {
                let _ = ack.send(result);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Has the policy take in what other processes wrote; each record taken becomes its target's
/// base.
fn absorb(
    store: &dyn LearningStore,
    absorb: &Absorb,
    bases: &mut BTreeMap<Target, StoredProfile>,
    pending: &mut BTreeMap<Target, StoredProfile>,
) {
    for theirs in store.take_changed_profiles() {
        let target = theirs.target.clone();
        // A collected copy not saved yet was measured against the old base: the policy
        // collects its profile again, measured against the new one.
        if absorb(&theirs, bases.get(&target), pending.contains_key(&target)) {
            pending.remove(&target);
            bases.insert(target, theirs);
        }
    }
}

fn write(
    store: &dyn LearningStore,
    merge: &Merge,
    bases: &mut BTreeMap<Target, StoredProfile>,
    pending: &mut BTreeMap<Target, StoredProfile>,
    failing: &mut bool,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let batch: Vec<StoredProfile> = pending.values().cloned().collect();
    let saved = store.save_merged_partly(&batch, &|ours, stored| merge(ours, bases.get(&ours.target), stored));
    // What is now in the store includes what was written; later saves add only what is learned
    // after it.
    let written = match &saved {
        Ok(()) => batch.len(),
        Err(partly) => partly.written,
    };
    for p in batch.into_iter().take(written) {
        pending.remove(&p.target);
        bases.insert(p.target.clone(), p);
    }
    match saved {
        Ok(()) => {
            if std::mem::take(failing) {
                tracing::info!(profiles = written, "timeout profiles are being saved again");
            }
            Ok(())
        }
        Err(PartialSave { error, .. }) => {
            if !std::mem::replace(failing, true) {
                tracing::warn!(error = %error, "timeout profiles could not be saved; keeping them in memory and retrying");
            }
            Err(error)
        }
    }
}
