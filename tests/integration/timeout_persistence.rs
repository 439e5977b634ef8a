//! Learned timeout profiles across restarts: a round trip through a real redb file, TTL expiry on
//! load, and the failures that must never fail a request (a corrupt file, a second process
//! holding the store). Also the stats and profile views the CLI prints.
#![cfg(feature = "redb")]

use crate::common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use riptide::backends::memory::MemoryLearningStore;
use riptide::backends::redb::RedbLearningStore;
use riptide::config::AdaptiveTimeoutConfig;
use riptide::policies::{AdaptiveTimeout, SeedAdaptive};
use riptide::traits::{Engine, FailureClass, LearningStore, Outcome, StoredProfile, Target, TimeoutPolicy};

const HOLD_VAR: &str = "RIPTIDE_TEST_HOLD_PROFILES";
const LEARN_VAR: &str = "RIPTIDE_TEST_LEARN_PROFILES";

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn target(host: &str) -> Target {
    Target::new(host, Engine::Static)
}

fn config() -> AdaptiveTimeoutConfig {
    AdaptiveTimeoutConfig {
        min_timeout_secs: 1,
        ..AdaptiveTimeoutConfig::default()
    }
}

/// Teaches `policy` that `host` answers in about 2 s, and returns the learned timeout.
fn teach(policy: &dyn TimeoutPolicy, host: &str) -> Duration {
    let t = target(host);
    for i in 0..40 {
        policy.observe(&t, &Outcome::Succeeded(secs(1.5 + f64::from(i % 5) * 0.25)));
    }
    policy.timeout_for(&t)
}

fn policy_at(path: &Path) -> AdaptiveTimeout {
    AdaptiveTimeout::with_store(config(), RedbLearningStore::open(path).expect("open profile store"))
}

#[test]
fn profiles_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("timeouts.redb");
    let first = policy_at(&path);
    let learned = teach(&first, "a.example");
    assert!(learned < secs(30.0), "learned below the default: {learned:?}");
    first.flush().expect("flush");
    let views = first.profiles();
    drop(first);

    let second = policy_at(&path);
    assert_eq!(second.timeout_for(&target("a.example")), learned);
    assert_eq!(second.profiles(), views, "the same profile, field for field");
    let cold = second.timeout_for(&target("cold.example"));
    assert_eq!(cold, secs(30.0), "a target never seen waits the default");
}

#[test]
fn dropping_the_policy_saves_what_is_pending() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("timeouts.redb");
    let learned = {
        let policy = policy_at(&path);
        teach(&policy, "a.example")
    };
    assert_eq!(policy_at(&path).timeout_for(&target("a.example")), learned);
}

#[test]
fn profiles_older_than_the_ttl_are_dropped_on_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("timeouts.redb");
    let first = policy_at(&path);
    teach(&first, "old.example");
    let kept = teach(&first, "new.example");
    first.flush().expect("flush");
    drop(first);

    // Age one profile past the 30-day TTL.
    let store = RedbLearningStore::open(&path).expect("open");
    let mut old = store
        .load()
        .expect("load")
        .into_iter()
        .find(|p| p.target.host == "old.example")
        .expect("stored");
    old.updated_at = SystemTime::now() - Duration::from_secs(31 * 86_400);
    store.save(&[old]).expect("save");
    drop(store);

    let second = policy_at(&path);
    let hosts: Vec<String> = second.profiles().into_iter().map(|v| v.host).collect();
    assert_eq!(hosts, ["new.example"]);
    assert_eq!(second.timeout_for(&target("new.example")), kept);
    drop(second);
    let left: Vec<String> = RedbLearningStore::open(&path)
        .expect("open")
        .load()
        .expect("load")
        .into_iter()
        .map(|p| p.target.host)
        .collect();
    assert!(
        !left.contains(&"old.example".to_string()),
        "expired profiles are deleted: {left:?}"
    );
}

#[test]
fn a_corrupt_profile_file_leaves_the_policy_working() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("timeouts.redb");
    std::fs::write(&path, b"this is not a redb file, not even close".repeat(200)).expect("write");
    let policy = policy_at(&path);
    assert_eq!(policy.timeout_for(&target("a.example")), secs(30.0), "unlearned");
    let learned = teach(&policy, "a.example");
    policy.flush().expect("a fresh file took the profiles");
    drop(policy);
    assert!(
        path.with_extension("redb.damaged").exists(),
        "the damaged file is set aside"
    );
    assert_eq!(policy_at(&path).timeout_for(&target("a.example")), learned);
}

#[test]
fn undecodable_records_are_relearned_not_trusted() {
    let store = MemoryLearningStore::new();
    store
        .save(&[riptide::traits::StoredProfile {
            target: target("a.example"),
            updated_at: SystemTime::now(),
            data: br#"{"version":1,"buckets":[[200,1.0]],"samples":9,"srtt":null,"rttvar":0,"timeout":-5,"success_rate":2}"#.to_vec(),
        }])
        .expect("save");
    let store = std::sync::Arc::new(store);
    let policy = AdaptiveTimeout::with_store(config(), std::sync::Arc::clone(&store));
    assert!(policy.profiles().is_empty());
    assert_eq!(policy.timeout_for(&target("a.example")), secs(30.0));
    assert!(store.load().expect("load").is_empty(), "the bad record was deleted");
}

/// The other process in `a_store_held_by_another_process_leaves_the_policy_working`: holds the
/// profile file exclusively until its stdin closes. Run directly, it checks that such a holder
/// does exclude others.
#[test]
fn profile_store_holder_process() {
    let own = tempfile::tempdir().expect("temp dir");
    let path = std::env::var_os(HOLD_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| own.path().join("timeouts.redb"));
    let _holder = redb::Database::create(&path).expect("hold the file");
    assert!(
        matches!(
            redb::Database::create(&path),
            Err(redb::DatabaseError::DatabaseAlreadyOpen)
        ),
        "an exclusive holder excludes other openers"
    );
    if std::env::var_os(HOLD_VAR).is_some() {
        println!("HOLDING");
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    }
}

#[test]
fn a_store_held_by_another_process_leaves_the_policy_working() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("timeouts.redb");
    let first = policy_at(&path);
    let learned_before = teach(&first, "a.example");
    drop(first);

    let mut holder = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "timeout_persistence::profile_store_holder_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLD_VAR, &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the holder");
    let mut lines = BufReader::new(holder.stdout.take().expect("stdout")).lines();
    let holding = lines.by_ref().map_while(Result::ok).any(|l| l.contains("HOLDING"));
    assert!(holding, "the holder process took the file");

    let policy = policy_at(&path);
    assert_eq!(
        policy.timeout_for(&target("a.example")),
        secs(30.0),
        "the held store could not be read: start unlearned"
    );
    let learned = teach(&policy, "b.example");
    assert!(learned < secs(30.0), "and keep learning: {learned:?}");
    assert!(policy.flush().is_err(), "the save fails while the file is held");

    drop(holder.stdin.take());
    assert!(holder.wait().expect("holder exits").success(), "holder process passed");
    policy.flush().expect("once released, the pending profiles are saved");
    drop(policy);
    let after = policy_at(&path);
    assert_eq!(
        after.timeout_for(&target("b.example")),
        learned,
        "nothing learned was lost"
    );
    assert_eq!(after.timeout_for(&target("a.example")), learned_before);
}

#[test]
fn stats_count_attempts_wasted_wait_and_learned_domains() {
    let policy = AdaptiveTimeout::new(config());
    teach(&policy, "a.example");
    let t = target("b.example");
    policy.observe(&t, &Outcome::TimedOut(secs(10.0)));
    policy.observe(&t, &Outcome::TimedOut(secs(4.0)));
    policy.observe(&t, &Outcome::Failed(FailureClass::ConnectionRefused));
    policy.observe(&t, &Outcome::Succeeded(secs(1.0)));
    let s = policy.stats().expect("stats");
    assert_eq!((s.total_requests, s.successes, s.timeouts, s.failures), (44, 41, 2, 1));
    assert!(s.success_rate.is_some_and(|r| (r - 41.0 / 44.0).abs() < 1e-12), "{s:?}");
    assert!(s.timeout_rate.is_some_and(|r| (r - 2.0 / 44.0).abs() < 1e-12), "{s:?}");
    assert!((s.wasted_wait_secs - 14.0).abs() < 1e-9, "{s:?}");
    assert!((s.time_saved_secs - (20.0 + 26.0)).abs() < 1e-9, "30 s default: {s:?}");
    assert_eq!(s.learned_domains, 1, "b.example has one sample, below min_samples");
    assert_eq!(s.by_engine[&Engine::Headless], Default::default(), "nothing rendered");
    let fetched = &s.by_engine[&Engine::Static];
    assert_eq!(
        (fetched.attempts, fetched.successes, fetched.timeouts, fetched.failures),
        (44, 41, 2, 1)
    );

    let views = policy.profiles();
    assert_eq!(views.len(), 2);
    let a = &views[0];
    assert_eq!(
        (a.host.as_str(), a.engine, a.samples),
        ("a.example", Engine::Static, 40)
    );
    let (p50, p95, p99) = (a.p50_secs.unwrap(), a.p95_secs.unwrap(), a.p99_secs.unwrap());
    assert!(
        (1.5..=2.3).contains(&p50) && p50 <= p95 && p95 <= p99 && p99 <= 2.8,
        "{a:?}"
    );
    assert_eq!(a.success_rate, Some(1.0));
    assert!(a.last_updated_unix_secs > 1_700_000_000);
    assert_eq!(secs(a.timeout_secs), policy.timeout_for(&target("a.example")));
    let b = &views[1];
    assert!(b.success_rate.unwrap() < 0.5, "{b:?}");
    let json = serde_json::to_value(&views).expect("serializable");
    assert_eq!(json[0]["engine"], "static");

    // A render's time-out is counted for its engine, and the engines add up to the totals.
    policy.observe(
        &Target::new("b.example", Engine::Headless),
        &Outcome::TimedOut(secs(7.0)),
    );
    let s = policy.stats().expect("stats");
    let rendered = &s.by_engine[&Engine::Headless];
    assert_eq!((rendered.attempts, rendered.timeouts), (1, 1));
    assert!((rendered.wasted_wait_secs - 7.0).abs() < 1e-9, "{s:?}");
    assert!((s.wasted_wait_secs - 21.0).abs() < 1e-9, "{s:?}");
    let summed: u64 = s.by_engine.values().map(|e| e.attempts).sum();
    assert_eq!(summed, s.total_requests);
    let json = serde_json::to_value(&s).expect("serializes");
    assert_eq!(json["by_engine"]["headless"]["timeouts"], 1, "{json}");
}

#[test]
fn seed_counts_the_same_stats() {
    let policy = SeedAdaptive::new(config());
    teach(&policy, "a.example");
    policy.observe(&target("a.example"), &Outcome::TimedOut(secs(12.0)));
    let s = policy.stats().expect("stats");
    assert_eq!(
        (s.total_requests, s.successes, s.timeouts, s.learned_domains),
        (41, 40, 1, 1)
    );
    assert!((s.time_saved_secs - 18.0).abs() < 1e-9);
}

#[test]
fn a_store_that_cannot_be_opened_is_left_where_it_is() {
    // Not damage: the path cannot be opened at all (here a directory; EACCES behaves alike, but
    // root, which CI runs as, is never refused by file modes). Moving it aside would lose it.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("timeouts.redb");
    std::fs::create_dir(&path).expect("dir in the way");
    std::fs::write(path.join("keep"), b"mine").expect("write");
    let store = RedbLearningStore::open(&path).expect("opens degraded, never fails");
    assert!(!store.is_available());
    assert!(store.load().is_err(), "loads say the store is unavailable");
    assert_eq!(std::fs::read(path.join("keep")).expect("still there"), b"mine");
    assert!(
        !dir.path().join("timeouts.redb.damaged").exists(),
        "an unreadable path is not damage"
    );
    // A policy on it still works, in memory.
    let policy = AdaptiveTimeout::with_store(config(), store);
    teach(&policy, "a.example");
}

/// Run as a child by `processes_sharing_a_home_add_up_what_they_learn`: loads the store, says
/// so, waits for the go (so every child has loaded before any saves), learns 100 samples and
/// saves. Run on its own (no variable), it checks the same on a private file.
#[test]
fn profile_learner_process() {
    let own = tempfile::tempdir().expect("temp dir");
    let shared = std::env::var_os(LEARN_VAR).map(PathBuf::from);
    let path = shared.clone().unwrap_or_else(|| own.path().join("timeouts.redb"));
    let policy = policy_at(&path);
    if shared.is_some() {
        println!("LOADED");
        let mut go = String::new();
        std::io::stdin().read_line(&mut go).expect("the go");
    }
    let t = target("shared.example");
    for i in 0..100 {
        policy.observe(&t, &Outcome::Succeeded(secs(1.0 + f64::from(i % 5) * 0.1)));
    }
    policy.flush().expect("saved");
}

/// Issue 15, item 17: three processes on one home, each learning 100 samples, used to leave
/// 100 (the last save overwrote the others). Saves now merge: 300.
#[test]
fn processes_sharing_a_home_add_up_what_they_learn() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("timeouts.redb");
    let mut children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(std::env::current_exe().expect("test binary"))
                .args([
                    "--exact",
                    "timeout_persistence::profile_learner_process",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(LEARN_VAR, &path)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn a learner")
        })
        .collect();
    // Kept open until the learners exit: the test harness prints after them.
    let mut outputs = Vec::new();
    for child in &mut children {
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        assert!(
            lines.by_ref().map_while(Result::ok).any(|l| l.contains("LOADED")),
            "a learner loaded the store"
        );
        outputs.push(lines);
    }
    for child in &mut children {
        use std::io::Write;
        writeln!(child.stdin.take().expect("stdin"), "go").expect("send the go");
    }
    for (mut child, rest) in children.into_iter().zip(outputs) {
        let rest: Vec<String> = rest.map_while(Result::ok).collect();
        assert!(
            child.wait().expect("learner exits").success(),
            "a learner failed: {rest:?}"
        );
    }
    let after = policy_at(&path);
    let views = after.profiles();
    let shared = views
        .iter()
        .find(|v| v.host == "shared.example")
        .expect("the shared profile");
    assert_eq!(shared.samples, 300, "{shared:?}");
    let p50 = shared.p50_secs.expect("a median");
    assert!(
        (1.0..=1.5).contains(&p50),
        "the merged histogram still says ~1.2 s: {shared:?}"
    );
}

/// The rendering evidence behind `EngineChoice::Auto` is kept beside the timeout profiles, in
/// the same redb file, across a reopen; the profiles are untouched by it.
#[test]
fn rendering_evidence_round_trips_beside_the_profiles() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("timeouts.redb");
    let policy = policy_at(&path);
    teach(&policy, "a.example");
    drop(policy);
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let evidence = vec![
        riptide::traits::StoredEvidence {
            host: "app.example".into(),
            updated_at: at,
            recent: vec![true, false, true, true],
        },
        riptide::traits::StoredEvidence {
            host: "news.example".into(),
            updated_at: at,
            recent: vec![false],
        },
    ];
    RedbLearningStore::open(&path)
        .expect("open")
        .save_evidence(&evidence)
        .expect("save");
    let reopened = RedbLearningStore::open(&path).expect("reopen");
    let mut loaded = reopened.load_evidence().expect("load");
    loaded.sort_by(|a, b| a.host.cmp(&b.host));
    assert_eq!(loaded, evidence);
    let profiles = reopened.load().expect("profiles");
    assert!(
        profiles.iter().any(|p| p.target == target("a.example")),
        "the profile is still there: {profiles:?}"
    );
    assert!(MemoryLearningStore::new().load_evidence().expect("empty").is_empty());
}

/// A store shared by running processes, in memory: every record written is reported to every
/// handle (the writer's own included, as a NATS bucket's watch does).
#[derive(Clone)]
struct SharedStore {
    inner: std::sync::Arc<MemoryLearningStore>,
    feeds: std::sync::Arc<std::sync::Mutex<Vec<Feed>>>,
    feed: Feed,
}

/// What one handle has not taken yet.
type Feed = std::sync::Arc<std::sync::Mutex<Vec<StoredProfile>>>;

impl SharedStore {
    fn new() -> Self {
        let feed = std::sync::Arc::default();
        Self {
            inner: std::sync::Arc::default(),
            feeds: std::sync::Arc::new(std::sync::Mutex::new(vec![std::sync::Arc::clone(&feed)])),
            feed,
        }
    }

    /// Another process's handle on the same store.
    fn handle(&self) -> Self {
        let feed = std::sync::Arc::default();
        self.feeds.lock().expect("lock").push(std::sync::Arc::clone(&feed));
        Self { feed, ..self.clone() }
    }
}

impl LearningStore for SharedStore {
    fn load(&self) -> riptide::Result<Vec<StoredProfile>> {
        self.inner.load()
    }

    fn save(&self, profiles: &[StoredProfile]) -> riptide::Result<()> {
        self.inner.save(profiles)?;
        for feed in self.feeds.lock().expect("lock").iter() {
            feed.lock().expect("lock").extend(profiles.iter().cloned());
        }
        Ok(())
    }

    fn remove(&self, targets: &[Target]) -> riptide::Result<()> {
        self.inner.remove(targets)
    }

    fn take_changed_profiles(&self) -> Vec<StoredProfile> {
        std::mem::take(&mut *self.feed.lock().expect("lock"))
    }
}

fn samples_of(policy: &AdaptiveTimeout, host: &str) -> u64 {
    policy
        .profiles()
        .iter()
        .find(|v| v.host == host)
        .map_or(0, |v| v.samples)
}

/// With a store that reports what other processes write, a policy takes it in while it runs:
/// what B learns reaches A without a restart, A's own learning since its last save is kept, and
/// nothing is counted twice however often the records go round.
#[test]
fn a_shared_store_s_changes_are_taken_in_and_counted_once() {
    let store = SharedStore::new();
    let a = AdaptiveTimeout::with_store(config(), store.clone());
    let b = AdaptiveTimeout::with_store(config(), store.handle());
    let learned = teach(&a, "shared.example");
    assert!(learned < secs(30.0), "{learned:?}");
    a.flush().expect("flush");
    assert!(
        common::eventually(Duration::from_secs(10), || b.timeout_for(&target("shared.example"))
            == learned),
        "B uses what A learned: {:?}",
        b.profiles()
    );
    assert_eq!(samples_of(&b, "shared.example"), 40);

    // B learns more; A learns more too before it hears of B's.
    let t = target("shared.example");
    for _ in 0..10 {
        b.observe(&t, &Outcome::Succeeded(secs(1.5)));
    }
    for _ in 0..5 {
        a.observe(&t, &Outcome::Succeeded(secs(1.5)));
    }
    b.flush().expect("flush");
    assert!(
        common::eventually(Duration::from_secs(10), || samples_of(&a, "shared.example") == 55),
        "A has its own 45 and B's 10: {:?}",
        a.profiles()
    );
    a.flush().expect("flush");
    assert!(
        common::eventually(Duration::from_secs(10), || samples_of(&b, "shared.example") == 55),
        "B has A's 5 more: {:?}",
        b.profiles()
    );
    // Records echoed back and forth add nothing.
    a.flush().expect("flush");
    b.flush().expect("flush");
    drop((a, b));
    let fresh = policy_from(&store.load().expect("load"));
    assert_eq!(
        samples_of(&fresh, "shared.example"),
        55,
        "the store holds each sample once"
    );
}

/// A policy that starts from `stored`.
fn policy_from(stored: &[StoredProfile]) -> AdaptiveTimeout {
    let store = MemoryLearningStore::new();
    store.save(stored).expect("save");
    AdaptiveTimeout::with_store(config(), store)
}
