//! A home riptide may read but not write (issue 28, item 8): `timeouts.redb` intact, the file and
//! its folder read-only, as on a read-only mount or a home shared from another account. What the
//! file holds used to be hidden (`timeout profiles` said "no learned timeouts yet", extractions
//! started unlearned) because the store was only ever opened for writing. It is now opened
//! read-only and used, and what a run learns is kept in memory with one warning.
//!
//! The open is refused by the kernel for real: the file is made 0444 and its folder 0555. root
//! is never refused by file modes, so when the tests run as root (CI does) the processes that
//! open the store run as `nobody`, with the home given to `nobody` first; no error is injected.
#![cfg(all(feature = "cli", feature = "redb", feature = "chrome"))]

use crate::support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use riptide::backends::redb::RedbLearningStore;
use riptide::config::AdaptiveTimeoutConfig;
use riptide::policies::AdaptiveTimeout;
use riptide::traits::{Engine, LearningStore, Outcome, Target, TimeoutPolicy};

/// The host the tests learn a timeout for: the local test server's, so `extract` looks it up.
const HOST: &str = "127.0.0.1";
/// Set for the child that checks the library on the read-only file: the file's path.
const STORE_VAR: &str = "RIPTIDE_TEST_READ_ONLY_STORE";
/// Set with [`STORE_VAR`]: the learned timeout the child must get, in milliseconds.
const LEARNED_VAR: &str = "RIPTIDE_TEST_LEARNED_MILLIS";
/// The uid and gid of `nobody`, whom the read-only processes run as when the tests run as root.
const NOBODY: u32 = 65534;

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn config() -> AdaptiveTimeoutConfig {
    AdaptiveTimeoutConfig {
        min_timeout_secs: 1,
        ..AdaptiveTimeoutConfig::default()
    }
}

fn target() -> Target {
    Target::new(HOST, Engine::Static)
}

/// Learns 40 samples of about 2 s for [`HOST`] into `path` through the real writer, and returns
/// the timeout learned.
fn learn(path: &Path) -> Duration {
    let policy = AdaptiveTimeout::with_store(config(), RedbLearningStore::open(path).expect("open the store"));
    for i in 0..40 {
        policy.observe(
            &target(),
            &Outcome::Succeeded(Duration::from_secs_f64(1.5 + f64::from(i % 5) * 0.25)),
        );
    }
    policy.flush().expect("saved");
    let learned = policy.timeout_for(&target());
    assert_ne!(
        learned,
        AdaptiveTimeout::new(config()).timeout_for(&target()),
        "the learned timeout differs from the unlearned one, so using it shows"
    );
    learned
}

/// A home holding learned timeouts, then made read-only: the file 0444, the folder 0555 (and,
/// as root, both given to `nobody`). Dropping it gives them back, so the temporary folder can
/// be removed.
struct ReadOnlyHome {
    root: tempfile::TempDir,
    learned: Duration,
}

impl ReadOnlyHome {
    fn new() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let home = root.path().join("home");
        std::fs::create_dir(&home).expect("home");
        let learned = learn(&home.join("timeouts.redb"));
        let made = Self { root, learned };
        if running_as_root() {
            // `nobody` must reach the home (tempdir makes its folder 0700) and own it: riptide
            // refuses a home that belongs to someone else.
            chmod(made.root.path(), 0o755);
            for path in [made.home(), made.file()] {
                std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).expect("chown to nobody");
            }
        }
        chmod(&made.file(), 0o444);
        chmod(&made.home(), 0o555);
        made
    }

    fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    fn file(&self) -> PathBuf {
        self.home().join("timeouts.redb")
    }

    /// `command`, run as `nobody` when the tests run as root, so that file modes bind it.
    fn as_reader(command: &mut Command) -> &mut Command {
        if running_as_root() {
            command.uid(NOBODY).gid(NOBODY);
        }
        command
    }
}

impl Drop for ReadOnlyHome {
    fn drop(&mut self) {
        let _ = std::fs::set_permissions(self.home(), std::fs::Permissions::from_mode(0o700));
        let _ = std::fs::set_permissions(self.file(), std::fs::Permissions::from_mode(0o600));
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `riptide --home <home> args...` as the reader, without the caller's `RIPTIDE_*` settings.
fn riptide(home: &ReadOnlyHome, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_riptide"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("RIPTIDE_") && k != "RIPTIDE_CHROME_PATH") {
        command.env_remove(key);
    }
    command.arg("--home").arg(home.home()).args(args);
    ReadOnlyHome::as_reader(&mut command).output().expect("run riptide")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn timeout_profiles_lists_what_a_read_only_home_learned() {
    let home = ReadOnlyHome::new();
    let before = std::fs::read(home.file()).expect("read the store");

    let o = riptide(&home, &["timeout", "profiles", "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let profiles: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let learned = profiles
        .as_array()
        .and_then(|all| all.iter().find(|p| p["host"] == HOST))
        .unwrap_or_else(|| panic!("{HOST} is listed: {profiles}; stderr: {}", text(&o.stderr)));
    assert_eq!(learned["samples"], 40, "{learned}");

    let o = riptide(&home, &["timeout", "profiles"]);
    let table = text(&o.stdout);
    assert!(table.lines().any(|l| l.starts_with(HOST)), "a row for {HOST}: {table}");

    assert_eq!(
        std::fs::read(home.file()).expect("read the store"),
        before,
        "nothing was written"
    );
}

/// `extract` on the read-only home loads what it holds, extracts, and says once that what it
/// learns is not saved, naming the file.
#[test]
fn extract_on_a_read_only_home_uses_the_store_and_warns_once() {
    let server = support::Server::start();
    let home = ReadOnlyHome::new();
    let before = std::fs::read(home.file()).expect("read the store");
    let pages = [server.url("/page/1"), server.url("/page/2")];
    let o = riptide(
        &home,
        &[
            "-vv", "extract", "--engine", "static", "--format", "jsonl", &pages[0], &pages[1],
        ],
    );
    let stderr = text(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(text(&o.stdout).lines().count(), 2, "both pages extracted: {stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("timeout profiles loaded") && l.contains("loaded=1")),
        "the learned profile was loaded: {stderr}"
    );
    let file = home.file().display().to_string();
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("WARN") && l.contains(&file))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning names the file: {stderr}");
    assert!(warnings[0].contains("read-only"), "{}", warnings[0]);
    assert_eq!(
        std::fs::read(home.file()).expect("read the store"),
        before,
        "nothing was written"
    );
}

/// The library on the read-only file, in a process the file modes bind: it loads the learned
/// profile, times the host out as learned, and a flush skips the write without failing.
#[test]
fn the_library_uses_a_read_only_store() {
    let home = ReadOnlyHome::new();
    let mut child = Command::new(std::env::current_exe().expect("test binary"));
    child
        .args([
            "--exact",
            "read_only_home::read_only_store_reader",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(STORE_VAR, home.file())
        .env(LEARNED_VAR, home.learned.as_millis().to_string());
    let o = ReadOnlyHome::as_reader(&mut child).output().expect("run the reader");
    let out = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "the reader failed: {out}");
    assert!(out.contains("1 passed"), "the reader ran: {out}");
}

/// Run as a child by `the_library_uses_a_read_only_store`; on its own (no variable) it does
/// nothing.
#[test]
fn read_only_store_reader() {
    let Some(path) = std::env::var_os(STORE_VAR).map(PathBuf::from) else {
        return;
    };
    let learned: u64 = std::env::var(LEARNED_VAR)
        .expect("the learned timeout")
        .parse()
        .expect("milliseconds");
    assert!(
        std::fs::OpenOptions::new().write(true).open(&path).is_err(),
        "this process cannot open the file for writing"
    );
    let store = RedbLearningStore::open(&path).expect("opens");
    assert!(store.is_available(), "the read-only file is in use");
    assert_eq!(store.load().expect("loads").len(), 1);
    let policy = AdaptiveTimeout::with_store(config(), store);
    assert_eq!(policy.timeout_for(&target()).as_millis(), u128::from(learned));
    policy.observe(&target(), &Outcome::Succeeded(Duration::from_secs(2)));
    policy.flush().expect("a skipped save is not an error");
}
