//! The NATS JetStream work queue (feature `nats`) against a real `nats-server -js` on a free
//! port, real `riptide worker` processes and a local HTTP server: results, deduplication, a
//! worker killed mid-page, a poison job, and a server restarted mid-batch.
#![cfg(all(feature = "nats", feature = "cli"))]

use crate::support;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use std::time::SystemTime;

use riptide::EngineChoice;
use riptide::backends::nats_kv::NatsLearningStore;
use riptide::config::{AdaptiveTimeoutConfig, QueueConfig};
use riptide::policies::AdaptiveTimeout;
use riptide::queue::{Job, JobId, JobOptions, Queue, Results};
use riptide::traits::{Engine, LearningStore, Outcome, StoredEvidence, StoredProfile, Target, TimeoutPolicy};
use support::local_server::{LocalServer, Reply};
use support::nats::NatsServer;

/// Short limits, so that redeliveries happen within a test's time.
const MAX_DELIVER: u32 = 3;

fn queue_config() -> QueueConfig {
    QueueConfig {
        ack_wait_secs: 2,
        max_deliver: MAX_DELIVER,
        duplicate_window_secs: 120,
        shutdown_grace_secs: 2,
        defer_secs: 1,
        ..QueueConfig::default()
    }
}

/// A temporary riptide home whose `config.toml` has [`queue_config`]'s limits and no browser
/// pool (the pages are fetched statically).
struct Home(tempfile::TempDir);

impl Home {
    fn new() -> Self {
        Self::with("")
    }

    /// A home whose `config.toml` also has `more`.
    fn with(more: &str) -> Self {
        let dir = tempfile::tempdir().expect("home");
        let c = queue_config();
        std::fs::write(
            dir.path().join("config.toml"),
            format!(
                "[queue]\nack_wait_secs = {}\nmax_deliver = {}\nduplicate_window_secs = {}\nshutdown_grace_secs = {}\ndefer_secs = {}\n\n[optimizations.browser_pool]\nenabled = false\n{more}",
                c.ack_wait_secs, c.max_deliver, c.duplicate_window_secs, c.shutdown_grace_secs, c.defer_secs
            ),
        )
        .expect("config");
        Self(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_riptide"));
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("RIPTIDE_")) {
            cmd.env_remove(key);
        }
        cmd.arg("--home").arg(self.path()).args(args);
        cmd
    }
}

/// A `riptide worker` process, killed (SIGKILL) on drop if still running.
struct WorkerProcess(Child);

impl WorkerProcess {
    fn start(home: &Home, nats: &NatsServer, name: &str) -> Self {
        let child = home
            .command(&[
                "worker",
                "--nats",
                &nats.url(),
                "--name",
                name,
                "--concurrency",
                "4",
                "--allow-private-addresses",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start riptide worker");
        Self(child)
    }

    /// Starts one and waits until it says it pulls jobs.
    fn start_ready(home: &Home, nats: &NatsServer, name: &str) -> Self {
        let mut child = home
            .command(&[
                "worker",
                "--nats",
                &nats.url(),
                "--name",
                name,
                "--allow-private-addresses",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start riptide worker");
        support::await_stderr_line(&mut child, "pulling jobs");
        Self(child)
    }

    fn kill_9(&mut self) {
        self.0.kill().expect("SIGKILL the worker");
        let _ = self.0.wait();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Pages `/page/N`, and `/once/N`: no answer to the first request (a page that hangs while it
/// is being worked on), a page to every later one. Counts the `/once` requests.
fn pages() -> (LocalServer, Arc<AtomicUsize>) {
    let once = Arc::new(AtomicUsize::new(0));
    let seen = once.clone();
    let first_requests = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let server = LocalServer::start(move |target| {
        let path = target.split('?').next().unwrap_or_default().to_string();
        if path.starts_with("/once/") {
            seen.fetch_add(1, Ordering::SeqCst);
            if first_requests.lock().expect("lock").insert(path.clone()) {
                return Reply::Hang;
            }
        }
        if path == "/hang" {
            return Reply::Hang;
        }
        let n = path.rsplit('/').next().unwrap_or_default();
        Reply::Html(format!(
            "<!doctype html><html><head><title>page {n}</title></head><body><main><h1>Page {n}</h1><p>Text of page {n}, long enough to be content.</p></main></body></html>"
        ))
    })
    .expect("bind 127.0.0.1");
    (server, once)
}

fn static_job(url: String) -> Job {
    let mut options = JobOptions::default();
    options.engine = Some(EngineChoice::Static);
    Job::new(url, options)
}

async fn connect(nats: &NatsServer) -> Queue {
    Queue::connect(&nats.url(), "riptide-test", &queue_config())
        .await
        .expect("connect to nats-server")
}

/// Every job's result, by id, within `guard` (a bound, not a delay).
async fn results_of(queue: &Queue, ids: &[JobId], guard: Duration) -> BTreeMap<JobId, serde_json::Value> {
    let mut results = Results::of(queue, ids.iter().cloned()).await.expect("read results");
    let mut got = BTreeMap::new();
    let read = async {
        while let Some((id, record)) = results.next().await.expect("a result") {
            assert!(got.insert(id, record).is_none(), "one result per job");
        }
    };
    if tokio::time::timeout(guard, read).await.is_err() {
        panic!("only {} of {} results after {guard:?}", got.len(), ids.len());
    }
    got
}

/// Messages ever stored in the results stream (its last sequence): a job that published two
/// results would count twice here even though the stream keeps one per job.
async fn results_stored(queue: &Queue) -> u64 {
    let info = queue
        .results_stream()
        .await
        .expect("stream")
        .get_info()
        .await
        .expect("info");
    info.state.last_sequence
}

fn stdout_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitted_pages_come_back_once_each_and_duplicates_are_dropped() {
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    let (pages, _) = pages();
    let home = Home::new();
    let _workers = [
        WorkerProcess::start(&home, &nats, "w1"),
        WorkerProcess::start(&home, &nats, "w2"),
    ];
    let urls: Vec<String> = (1..=5).map(|n| pages.url(&format!("/page/{n}"))).collect();
    let mut args = vec!["submit", "--engine", "static", "--wait"];
    let url = nats.url();
    args.extend(["--nats", &url]);
    args.extend(urls.iter().map(String::as_str));
    args.push(&urls[0]); // the same page twice: one job
    let o = home.command(&args).output().expect("riptide submit");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines = stdout_lines(&o);
    assert_eq!(lines.len(), 5, "{lines:?}");
    let mut titles: Vec<&str> = lines.iter().map(|l| l["title"].as_str().expect("title")).collect();
    titles.sort_unstable();
    assert_eq!(titles, ["page 1", "page 2", "page 3", "page 4", "page 5"]);
    assert!(
        lines
            .iter()
            .all(|l| l["job_id"].as_str().is_some_and(|id| id.len() == 64))
    );

    // Submitted again: all five are duplicates, and their stored results are streamed back.
    let o = home.command(&args).output().expect("riptide submit again");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(stdout_lines(&o).len(), 5);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("6 job(s) submitted, 6 already queued or done"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let queue = connect(&nats).await;
    assert_eq!(results_stored(&queue).await, 5, "one result per job, none run twice");

    // `riptide queue status`: nothing pending, five results, the workers' counts.
    let mut status = serde_json::Value::Null;
    let counted = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let o = home
                .command(&["queue", "status", "--nats", &url])
                .output()
                .expect("status");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            status = serde_json::from_slice(&o.stdout).expect("status JSON");
            let extracted: u64 = status["workers"]
                .as_object()
                .map(|w| w.values().map(|c| c["extracted"].as_u64().unwrap_or(0)).sum())
                .unwrap_or(0);
            if extracted == 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(counted.is_ok(), "the workers' counts reach 5: {status}");
    assert_eq!(status["pending"], 0, "{status}");
    assert_eq!(status["in_flight"], 0, "{status}");
    assert_eq!(status["results"], 5, "{status}");
    assert_eq!(status["dead_letters"], 0, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_page_loses_nothing() {
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    let (pages, once) = pages();
    let home = Home::new();
    let queue = connect(&nats).await;
    let mut a = WorkerProcess::start(&home, &nats, "a");
    let mut ids = Vec::new();
    for path in ["/once/1", "/page/1", "/page/2", "/page/3"] {
        ids.push(queue.submit(&static_job(pages.url(path))).await.expect("submit").id);
    }
    // Worker A is fetching /once/1 (which does not answer the first time): kill it there.
    let arrived = tokio::time::timeout(Duration::from_secs(30), async {
        while once.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(arrived.is_ok(), "worker A fetched /once/1");
    a.kill_9();
    let _b = WorkerProcess::start(&home, &nats, "b");
    let results = results_of(&queue, &ids, Duration::from_secs(60)).await;
    assert_eq!(results.len(), 4);
    for record in results.values() {
        assert!(record.get("error").is_none(), "{record}");
    }
    assert_eq!(results[&ids[0]]["title"], "page 1");
    assert_eq!(once.load(Ordering::SeqCst), 2, "/once/1 fetched by A, then by B");
    assert_eq!(results_stored(&queue).await, 4, "one result per job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_job_goes_to_the_dead_letters_and_the_rest_completes() {
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    let (pages, _) = pages();
    let home = Home::new();
    let queue = connect(&nats).await;
    let _worker = WorkerProcess::start(&home, &nats, "w");
    let mut poison = static_job(pages.url("/hang"));
    poison.options.time_limit_ms = Some(300);
    let mut ids = vec![queue.submit(&poison).await.expect("submit").id];
    for n in 1..=3 {
        ids.push(
            queue
                .submit(&static_job(pages.url(&format!("/page/{n}"))))
                .await
                .expect("submit")
                .id,
        );
    }
    let results = results_of(&queue, &ids, Duration::from_secs(60)).await;
    let dead = &results[&ids[0]];
    assert_eq!(dead["dead_letter"], true, "{dead}");
    assert_eq!(dead["deliveries"], MAX_DELIVER, "{dead}");
    assert!(dead["error_kind"].as_str().is_some(), "{dead}");
    for id in &ids[1..] {
        assert!(results[id].get("error").is_none(), "{}", results[id]);
    }
    let dead_letters = queue
        .dead_letter_stream()
        .await
        .expect("stream")
        .get_info()
        .await
        .expect("info");
    assert_eq!(dead_letters.state.messages, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restarted_mid_batch_loses_nothing() {
    let Some(mut nats) = NatsServer::start_or_skip() else {
        return;
    };
    let (pages, once) = pages();
    let home = Home::new();
    let ids = {
        let queue = connect(&nats).await;
        let mut ids = Vec::new();
        for n in 1..=2 {
            let mut held = static_job(pages.url(&format!("/once/{n}")));
            held.options.time_limit_ms = Some(1500);
            ids.push(queue.submit(&held).await.expect("submit").id);
        }
        for n in 1..=18 {
            ids.push(
                queue
                    .submit(&static_job(pages.url(&format!("/page/{n}"))))
                    .await
                    .expect("submit")
                    .id,
            );
        }
        ids
    };
    let _worker = WorkerProcess::start(&home, &nats, "w");
    // Both held pages are in flight: restart the server under the worker.
    let in_flight = tokio::time::timeout(Duration::from_secs(30), async {
        while once.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(in_flight.is_ok(), "the worker fetched both held pages");
    nats.restart();
    let queue = connect(&nats).await;
    let results = results_of(&queue, &ids, Duration::from_secs(90)).await;
    assert_eq!(results.len(), 20);
    for record in results.values() {
        assert!(record.get("error").is_none(), "{record}");
    }
    let stored = queue
        .results_stream()
        .await
        .expect("stream")
        .get_info()
        .await
        .expect("info");
    assert_eq!(stored.state.messages, 20, "one result per job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_worker_hands_its_jobs_back() {
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    let (pages, once) = pages();
    let home = Home::new();
    let queue = connect(&nats).await;
    let mut a = WorkerProcess::start(&home, &nats, "a");
    let id = queue
        .submit(&static_job(pages.url("/once/1")))
        .await
        .expect("submit")
        .id;
    let arrived = tokio::time::timeout(Duration::from_secs(30), async {
        while once.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(arrived.is_ok(), "worker A fetched /once/1");
    // SIGTERM: A stops pulling, waits shutdown_grace_secs for the page, then hands it back.
    support::send_signal(a.0.id(), libc::SIGTERM);
    let status = tokio::task::spawn_blocking(move || {
        let status = a.0.wait().expect("wait for worker A");
        (status, a)
    })
    .await
    .expect("join");
    assert_eq!(status.0.code(), Some(143), "SIGTERM's exit code");
    let _b = WorkerProcess::start(&home, &nats, "b");
    let results = results_of(&queue, std::slice::from_ref(&id), Duration::from_secs(60)).await;
    assert!(results[&id].get("error").is_none(), "{}", results[&id]);
    assert_eq!(once.load(Ordering::SeqCst), 2, "/once/1 fetched by A, then by B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_kills_every_worker_goes_to_the_dead_letters() {
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    let (pages, _) = pages();
    let hangs = Arc::new(AtomicUsize::new(0));
    let counted = hangs.clone();
    let deadly = LocalServer::start(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        Reply::Hang
    })
    .expect("bind 127.0.0.1");
    let home = Home::new();
    let queue = connect(&nats).await;
    let ids = vec![
        queue
            .submit(&static_job(deadly.url("/deadly")))
            .await
            .expect("submit")
            .id,
        queue
            .submit(&static_job(pages.url("/page/1")))
            .await
            .expect("submit")
            .id,
    ];
    // Each delivery of /deadly "kills" its worker: the test SIGKILLs whoever fetches it.
    let mut survivor = None;
    for delivery in 1..=MAX_DELIVER as usize {
        let mut victim = WorkerProcess::start(&home, &nats, &format!("victim{delivery}"));
        let fetched = tokio::time::timeout(Duration::from_secs(30), async {
            while hangs.load(Ordering::SeqCst) < delivery {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(fetched.is_ok(), "delivery {delivery} of /deadly was fetched");
        if delivery == MAX_DELIVER as usize {
            // A worker that survives, listening when JetStream gives up on the job (ack_wait
            // after the last victim dies). The job is in the last victim's hands meanwhile.
            survivor = Some(tokio::task::block_in_place(|| {
                WorkerProcess::start_ready(&home, &nats, "survivor")
            }));
        }
        victim.kill_9();
    }
    assert!(survivor.is_some());
    let results = results_of(&queue, &ids, Duration::from_secs(60)).await;
    let dead = &results[&ids[0]];
    assert_eq!(dead["dead_letter"], true, "{dead}");
    assert_eq!(dead["error_kind"], "queue.abandoned", "{dead}");
    assert!(results[&ids[1]].get("error").is_none(), "{}", results[&ids[1]]);
    let jobs = queue
        .jobs_stream()
        .await
        .expect("stream")
        .get_info()
        .await
        .expect("info");
    assert_eq!(jobs.state.messages, 0, "the abandoned job left the jobs stream");
}

// Shared learning (issue 12, item 3): the key-value bucket `NatsLearningStore` keeps timeout
// profiles and rendering evidence in, and policies that share it.

fn learning_store(nats: &NatsServer) -> NatsLearningStore {
    NatsLearningStore::open(&nats.url(), &queue_config()).expect("open the learning bucket")
}

fn stored(host: &str, engine: Engine, data: &str) -> StoredProfile {
    StoredProfile {
        // Not `Target::new`: the store must take any host as it is given, upper case too.
        target: Target {
            host: host.to_string(),
            engine,
        },
        updated_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        data: data.as_bytes().to_vec(),
    }
}

fn sorted(mut profiles: Vec<StoredProfile>) -> Vec<StoredProfile> {
    profiles.sort_by(|a, b| a.target.cmp(&b.target));
    profiles
}

#[test]
fn the_learning_bucket_keeps_profiles_and_evidence_for_any_host() {
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    let store = learning_store(&nats);
    assert_eq!(store.load().expect("an empty bucket"), []);
    let hosts = [
        "example.com",
        "Upper.Example",
        "host:8080",
        "bücher.example",
        "xn--bcher-kva.example",
        "*",
        ">",
        "a.b.",
        ".",
        "",
    ];
    let profiles: Vec<StoredProfile> = hosts
        .iter()
        .flat_map(|h| [Engine::Static, Engine::Headless].map(|e| stored(h, e, &format!("{{\"host\":{h:?}}}"))))
        .collect();
    store.save(&profiles).expect("save");
    assert_eq!(sorted(store.load().expect("load")), sorted(profiles.clone()));

    // Another process opening the same bucket finds the same.
    let other = learning_store(&nats);
    assert_eq!(sorted(other.load().expect("load")), sorted(profiles.clone()));
    other
        .remove(&[profiles[0].target.clone(), profiles[5].target.clone()])
        .expect("remove");
    let left = store.load().expect("load");
    assert_eq!(left.len(), profiles.len() - 2);
    assert!(
        !left
            .iter()
            .any(|p| p.target == profiles[0].target || p.target == profiles[5].target)
    );

    let evidence: Vec<StoredEvidence> = hosts
        .iter()
        .map(|h| StoredEvidence {
            host: h.to_string(),
            updated_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            recent: vec![true, false, h.len() % 2 == 0],
        })
        .collect();
    store.save_evidence(&evidence).expect("save evidence");
    let mut loaded = other.load_evidence().expect("load evidence");
    loaded.sort_by(|a, b| a.host.cmp(&b.host));
    let mut expected = evidence;
    expected.sort_by(|a, b| a.host.cmp(&b.host));
    assert_eq!(loaded, expected);
    assert_eq!(
        store.load().expect("load").len(),
        profiles.len() - 2,
        "evidence is not a profile"
    );
}

/// Two processes merging into one key at the same moment: the one whose write comes second
/// finds the key changed, reads it again and merges again, so both contributions count.
#[test]
fn merged_saves_racing_on_one_key_both_count() {
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    const SAVES: u64 = 15;
    let (a, b) = (learning_store(&nats), learning_store(&nats));
    let merges = AtomicUsize::new(0);
    // Both processes' first merges meet here, so both have read the key before either writes.
    let first_reads = std::sync::Barrier::new(2);
    let count = |p: &StoredProfile| -> u64 { String::from_utf8_lossy(&p.data).parse().unwrap_or(0) };
    let run = |store: &NatsLearningStore| {
        let first = std::cell::Cell::new(true);
        let merge = |ours: &StoredProfile, theirs: Option<&StoredProfile>| {
            if first.replace(false) {
                first_reads.wait();
            }
            merges.fetch_add(1, Ordering::SeqCst);
            let total = count(ours) + theirs.map_or(0, count);
            StoredProfile {
                data: total.to_string().into_bytes(),
                ..ours.clone()
            }
        };
        for _ in 0..SAVES {
            store
                .save_merged(&[stored("race.example", Engine::Static, "1")], &merge)
                .expect("save");
        }
    };
    std::thread::scope(|s| {
        s.spawn(|| run(&a));
        s.spawn(|| run(&b));
    });
    let total = a.load().expect("load");
    assert_eq!(total.len(), 1);
    assert_eq!(count(&total[0]), 2 * SAVES, "every save counted once");
    assert!(
        merges.load(Ordering::SeqCst) > 2 * SAVES as usize,
        "at least one write found the key changed and merged again"
    );
}

fn learning_config() -> AdaptiveTimeoutConfig {
    AdaptiveTimeoutConfig {
        min_timeout_secs: 1,
        ..AdaptiveTimeoutConfig::default()
    }
}

/// Teaches `policy` that `host` answers in about 2 s, and returns the learned timeout (well
/// below the default 30 s).
fn teach(policy: &AdaptiveTimeout, host: &str) -> Duration {
    let t = Target::new(host, Engine::Static);
    for i in 0..40 {
        policy.observe(
            &t,
            &Outcome::Succeeded(Duration::from_secs_f64(1.5 + f64::from(i % 5) * 0.25)),
        );
    }
    let learned = policy.timeout_for(&t);
    assert!(learned < Duration::from_secs(10), "{learned:?}");
    learned
}

/// Issue 12's "a learned timeout written by worker A is used by worker B", between two running
/// policies: B hears of A's save through the bucket's watch, within seconds, with no restart.
/// Inside a runtime, as in `riptide worker`: the store's calls must not need (or break) it.
#[tokio::test(flavor = "current_thread")]
async fn a_timeout_learned_by_one_policy_is_used_by_another_within_seconds() {
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    let a = AdaptiveTimeout::with_store(learning_config(), learning_store(&nats));
    let b = AdaptiveTimeout::with_store(learning_config(), learning_store(&nats));
    let target = Target::new("learned.example", Engine::Static);
    assert_eq!(
        b.timeout_for(&target),
        Duration::from_secs(30),
        "B starts with the default"
    );
    let learned = teach(&a, "learned.example");
    let saved = std::time::Instant::now();
    a.flush().expect("A saves to the bucket");
    assert!(
        support::eventually(Duration::from_secs(10), || b.timeout_for(&target) == learned),
        "B uses A's timeout {learned:?}: {:?}",
        b.profiles()
    );
    eprintln!("B used A's timeout {:?} after A saved it", saved.elapsed());
    assert_eq!(b.profiles()[0].samples, 40);
}

/// Losing the server never fails a request: saves fail while it is away and learning goes on in
/// memory; a policy started meanwhile starts unlearned. When the server is back (file storage)
/// the pending profiles are saved, and the late policy catches up from the bucket.
#[test]
fn learning_goes_on_while_the_server_is_away_and_arrives_when_it_is_back() {
    let Some(mut nats) = NatsServer::start_or_skip() else {
        return;
    };
    let a = AdaptiveTimeout::with_store(learning_config(), learning_store(&nats));
    // The bucket exists before the server goes away (`store()` made it on load).
    nats.stop();
    let learned = teach(&a, "away.example");
    assert!(a.flush().is_err(), "saving fails while the server is away");
    let late = AdaptiveTimeout::with_store(learning_config(), learning_store(&nats));
    let target = Target::new("away.example", Engine::Static);
    assert_eq!(late.timeout_for(&target), Duration::from_secs(30), "starts unlearned");

    nats.resume();
    assert!(
        support::eventually(Duration::from_secs(30), || a.flush().is_ok()),
        "A's pending profiles are saved once the server is back"
    );
    assert!(
        support::eventually(Duration::from_secs(30), || late.timeout_for(&target) == learned),
        "the late policy catches up: {:?}",
        late.profiles()
    );
    let stored = learning_store(&nats).load().expect("load");
    assert_eq!(stored.len(), 1, "{stored:?}");
}

/// Engine-choice memory is shared too: evidence another worker saved (that a host's pages need
/// a browser) reaches a running executor within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_another_worker_found_needs_rendering_is_rendered_directly() {
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    let runtime =
        riptide::backends::wasmtime::WasmtimeRuntime::new(riptide::GuestLimits::default(), true).expect("wasmtime");
    let cache = riptide::CompileCache::new(
        runtime,
        riptide::backends::memory::MemoryModuleCache::new(),
        riptide::CacheOptions::default(),
    );
    let b = riptide::Executor::builder(
        riptide::backends::no_browser::NoBrowser,
        cache,
        AdaptiveTimeout::new(learning_config()),
    )
    .rendering_evidence_store(learning_store(&nats))
    .build()
    .expect("executor");
    assert_eq!(b.report().await.extraction.hosts_rendered_directly, 0);
    // What worker A's executor saves once three of its renders of the host added content.
    learning_store(&nats)
        .save_evidence(&[StoredEvidence {
            host: "app.example".into(),
            updated_at: SystemTime::now(),
            recent: vec![true, true, true],
        }])
        .expect("save evidence");
    let remembered = tokio::time::timeout(Duration::from_secs(10), async {
        while b.report().await.extraction.hosts_rendered_directly == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(remembered.is_ok(), "B renders app.example directly");
}

/// Issue 12's fault test "a learned timeout written by worker A is used by worker B", with real
/// workers on two homes: A learns from fast pages that the local host answers at once (timeout
/// 1 s, the minimum) and saves it to the bucket; B, started after, gives up on a page that hangs
/// after that 1 s, where on its own it would wait the default 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learned_timeout_written_by_worker_a_is_used_by_worker_b() {
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    let (pages, _) = pages();
    let learning =
        "[optimizations.adaptive_timeout]\nmin_timeout_secs = 1\ndefault_timeout_secs = 10\nmax_retries = 0\n";
    let (home_a, home_b) = (Home::with(learning), Home::with(learning));
    let queue = connect(&nats).await;
    let mut a = WorkerProcess::start(&home_a, &nats, "a");
    let mut ids = Vec::new();
    for n in 1..=8 {
        let job = static_job(pages.url(&format!("/page/{n}")));
        ids.push(queue.submit(&job).await.expect("submit").id);
    }
    let results = results_of(&queue, &ids, Duration::from_secs(60)).await;
    assert!(results.values().all(|r| r.get("error").is_none()), "{results:?}");
    // A's writer saves within its flush interval (5 s).
    let bucket = learning_store(&nats);
    let learned = support::eventually(Duration::from_secs(20), || {
        bucket.load().is_ok_and(|profiles| {
            profiles.iter().any(|p| {
                let samples = serde_json::from_slice::<serde_json::Value>(&p.data)
                    .ok()
                    .and_then(|v| v["samples"].as_u64());
                p.target.host == "127.0.0.1" && samples >= Some(5)
            })
        })
    });
    assert!(learned, "A saved what it learned about 127.0.0.1: {:?}", bucket.load());
    a.kill_9();

    let _b = tokio::task::block_in_place(|| WorkerProcess::start_ready(&home_b, &nats, "b"));
    let submitted = std::time::Instant::now();
    let id = queue.submit(&static_job(pages.url("/hang"))).await.expect("submit").id;
    let results = results_of(&queue, std::slice::from_ref(&id), Duration::from_secs(60)).await;
    let took = submitted.elapsed();
    let record = &results[&id];
    let error = record["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("timed out after 1s"),
        "B waited A's 1 s, not its default 10 s: {record}"
    );
    eprintln!("B gave up on /hang after {took:?} over {} deliveries", MAX_DELIVER);
    assert!(took < Duration::from_secs(3 * 10), "{took:?}");
}
