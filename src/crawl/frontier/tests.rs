//! Tests against real redb files in temporary directories.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

fn url(host: &str, path: &str) -> QueuedUrl {
    QueuedUrl {
        url: format!("https://{host}/{path}"),
        host: host.to_owned(),
        depth: 1,
        parent: Some(format!("https://{host}/")),
        found_via: FoundVia::Link,
    }
}

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frontier.redb");
    (dir, path)
}

fn open(path: &Path) -> (Frontier, Resumed) {
    Frontier::open(path).unwrap()
}

/// Takes everything queued for `host`, returning the URLs' paths.
fn drain(f: &mut Frontier, host: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(u) = f.next_for(host).unwrap() {
        assert_eq!(u.host, host);
        out.push(u.url.rsplit('/').next().unwrap().to_owned());
    }
    out
}

fn paths(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| i.to_string()).collect()
}

#[test]
fn found_via_names() {
    let names: Vec<_> = [FoundVia::Seed, FoundVia::Link, FoundVia::Sitemap, FoundVia::Redirect]
        .map(FoundVia::as_str)
        .into();
    assert_eq!(names, ["seed", "link", "sitemap", "redirect"]);
}

#[test]
fn frontier_is_send() {
    fn is_send<T: Send>() {}
    is_send::<Frontier>();
}

#[test]
fn offer_dedups() {
    let (_dir, path) = temp();
    for mut f in [Frontier::memory(), open(&path).0] {
        assert!(f.offer(url("a.com", "1")));
        assert!(!f.offer(url("a.com", "1")));
        // Seen-ness is by URL only, whatever else differs.
        let mut other = url("a.com", "1");
        other.depth = 9;
        other.found_via = FoundVia::Sitemap;
        assert!(!f.offer(other));
        assert!(f.is_seen("https://a.com/1"));
        assert!(!f.is_seen("https://a.com/2"));
        assert!(f.mark_seen("https://a.com/2"));
        assert!(!f.mark_seen("https://a.com/2"));
        assert!(!f.offer(url("a.com", "2")), "marked seen, so not queued");
        // Still seen after being taken and completed.
        let taken = f.next_for("a.com").unwrap().unwrap();
        assert!(f.complete(&taken.url));
        assert!(!f.offer(url("a.com", "1")));
        assert_eq!(
            f.counts(),
            FrontierCounts {
                queued: 0,
                in_flight: 0,
                seen: 2,
                done: 1
            }
        );
    }
}

#[test]
fn fifo_per_host_across_buffer_spill_and_commits() {
    let (_dir, path) = temp();
    let n = BUFFER_PER_HOST * 3 + 7;
    for mut f in [Frontier::memory(), open(&path).0] {
        // Interleaved hosts, a commit partway, more offers after the first takes (which land
        // behind spilled rows, some committed and some staged).
        for i in 0..n {
            f.offer(url("a.com", &i.to_string()));
            f.offer(url("b.com", &i.to_string()));
            if i == n / 2 {
                f.commit().unwrap();
            }
        }
        let first: Vec<_> = (0..5).map(|_| f.next_for("a.com").unwrap().unwrap()).collect();
        assert_eq!(first.iter().map(|u| u.url.clone()).collect::<Vec<_>>(), {
            (0..5).map(|i| format!("https://a.com/{i}")).collect::<Vec<_>>()
        });
        for i in n..n + 10 {
            f.offer(url("a.com", &i.to_string()));
        }
        assert_eq!(f.queued_len("a.com"), (n + 5) as u64);
        assert_eq!(f.queued_len("b.com"), n as u64);
        assert_eq!(f.queued_len("c.com"), 0);
        let mut hosts = f.queued_hosts();
        hosts.sort();
        assert_eq!(hosts, ["a.com", "b.com"]);
        assert_eq!(drain(&mut f, "a.com"), paths(5..n + 10));
        assert_eq!(drain(&mut f, "b.com"), paths(0..n));
        assert_eq!(f.queued_total(), 0);
        assert!(f.queued_hosts().is_empty());
        assert!(f.next_for("a.com").unwrap().is_none());
        f.commit().unwrap();
    }
}

#[test]
fn next_for_sees_offers_made_since_the_last_commit() {
    let (_dir, path) = temp();
    let (mut f, _) = open(&path);
    // Nothing committed at all: every row, buffered or spilled, is staged.
    for i in 0..200 {
        f.offer(url("a.com", &i.to_string()));
    }
    assert_eq!(drain(&mut f, "a.com"), paths(0..200));
    f.commit().unwrap();
    drop(f);
    let (mut f, resumed) = open(&path);
    // Requeued URLs count as queued.
    assert_eq!((resumed.queued, resumed.requeued_in_flight), (200, 200));
    assert_eq!(drain(&mut f, "a.com"), paths(0..200));
}

#[test]
fn reopen_restores_queue_and_seen_and_requeues_in_flight_at_the_front() {
    let (_dir, path) = temp();
    let (mut f, resumed) = open(&path);
    assert_eq!(resumed, Resumed::default());
    for i in 0..150 {
        f.offer(url("a.com", &i.to_string()));
    }
    f.offer(url("b.com", "x"));
    f.mark_seen("https://c.com/redirected");
    let taken: Vec<_> = (0..4).map(|_| f.next_for("a.com").unwrap().unwrap()).collect();
    assert!(f.complete(&taken[1].url));
    f.commit().unwrap();
    drop(f);

    let (mut f, resumed) = open(&path);
    assert_eq!(
        resumed,
        Resumed {
            queued: 150,
            seen: 152,
            done: 1,
            requeued_in_flight: 3
        }
    );
    assert_eq!(
        f.counts(),
        FrontierCounts {
            queued: 150,
            in_flight: 0,
            seen: 152,
            done: 1
        }
    );
    assert!(f.is_seen("https://c.com/redirected"));
    assert!(!f.offer(url("a.com", "7")));
    assert!(!f.offer(url("b.com", "x")));
    // The three in flight first, in their original order; the completed one (1) never again.
    let mut expected = vec!["0".to_owned(), "2".into(), "3".into()];
    expected.extend(paths(4..150));
    assert_eq!(drain(&mut f, "a.com"), expected);
    assert_eq!(drain(&mut f, "b.com"), ["x"]);
    // The requeue on open was itself committed: reopening without a commit changes nothing more.
    drop(f);
    let (_, resumed) = open(&path);
    assert_eq!((resumed.queued, resumed.requeued_in_flight), (150, 0));
}

#[test]
fn uncommitted_work_is_gone_after_a_crash() {
    let (_dir, path) = temp();
    let (mut f, _) = open(&path);
    for i in 0..100 {
        f.offer(url("a.com", &i.to_string()));
    }
    f.set_meta("k", b"committed");
    f.commit().unwrap();
    // Staged only: offers, a take, a completion, a mark, meta.
    for i in 100..300 {
        f.offer(url("a.com", &i.to_string()));
    }
    let u = f.next_for("a.com").unwrap().unwrap();
    f.complete(&u.url);
    f.mark_seen("https://z.com/");
    f.set_meta("k", b"staged");
    assert!(f.has_staged());
    drop(f); // No commit: as if killed.

    let (mut f, resumed) = open(&path);
    assert_eq!(
        resumed,
        Resumed {
            queued: 100,
            seen: 100,
            done: 0,
            requeued_in_flight: 0
        }
    );
    assert!(!f.is_seen("https://a.com/150"));
    assert!(!f.is_seen("https://z.com/"));
    assert_eq!(f.meta("k").as_deref(), Some(&b"committed"[..]));
    assert_eq!(drain(&mut f, "a.com"), paths(0..100));
}

#[test]
fn requeue_puts_an_in_flight_url_at_the_front() {
    let (_dir, path) = temp();
    for persistent in [false, true] {
        let mut f = if persistent { open(&path).0 } else { Frontier::memory() };
        for i in 0..100 {
            f.offer(url("a.com", &i.to_string()));
        }
        let a0 = f.next_for("a.com").unwrap().unwrap();
        let a1 = f.next_for("a.com").unwrap().unwrap();
        assert!(!f.requeue(url("a.com", "50")), "queued, not in flight");
        assert!(!f.requeue(url("a.com", "nope")), "never seen");
        assert!(f.requeue(a0.clone()));
        assert!(!f.requeue(a0.clone()), "already requeued");
        assert!(!f.complete(&a0.url), "no longer in flight");
        assert_eq!(f.counts().in_flight, 1);
        assert!(f.requeue(a1.clone()));
        assert_eq!(f.queued_len("a.com"), 100);
        f.commit().unwrap();
        if persistent {
            drop(f);
            f = open(&path).0;
        }
        // Most recently requeued first: requeue means "next".
        let mut expected = vec!["1".to_owned(), "0".into()];
        expected.extend(paths(2..100));
        assert_eq!(drain(&mut f, "a.com"), expected);
        assert_eq!(f.counts().in_flight, 100);
        if persistent {
            drop(f);
            Frontier::remove(&path).unwrap();
        }
    }
}

#[test]
fn requeue_onto_an_emptied_host_then_more_offers_stay_ordered() {
    let (_dir, path) = temp();
    let (mut f, _) = open(&path);
    f.offer(url("a.com", "0"));
    let a0 = f.next_for("a.com").unwrap().unwrap();
    assert!(f.queued_hosts().is_empty());
    f.requeue(a0);
    for i in 1..=(BUFFER_PER_HOST * 2) {
        f.offer(url("a.com", &i.to_string()));
    }
    f.commit().unwrap();
    assert_eq!(drain(&mut f, "a.com"), paths(0..BUFFER_PER_HOST * 2 + 1));
}

#[test]
fn meta_round_trips_and_commits_atomically() {
    let (_dir, path) = temp();
    let (mut f, _) = open(&path);
    assert_eq!(f.meta("fingerprint"), None);
    f.set_meta("fingerprint", b"abc");
    f.set_meta("empty", b"");
    f.set_meta("counter", &7u64.to_le_bytes());
    f.set_meta("counter", &8u64.to_le_bytes());
    assert_eq!(
        f.meta("fingerprint").as_deref(),
        Some(&b"abc"[..]),
        "visible before commit"
    );
    f.commit().unwrap();
    drop(f);
    let (f, _) = open(&path);
    assert_eq!(f.meta("fingerprint").as_deref(), Some(&b"abc"[..]));
    assert_eq!(f.meta("empty").as_deref(), Some(&b""[..]));
    assert_eq!(f.meta("counter").as_deref(), Some(&8u64.to_le_bytes()[..]));

    let mut m = Frontier::memory();
    m.set_meta("k", b"v");
    assert_eq!(m.meta("k").as_deref(), Some(&b"v"[..]));
}

#[test]
fn counts_track_every_transition() {
    let (_dir, path) = temp();
    let (mut f, _) = open(&path);
    let c = |queued, in_flight, seen, done| FrontierCounts {
        queued,
        in_flight,
        seen,
        done,
    };
    assert_eq!(f.counts(), c(0, 0, 0, 0));
    for i in 0..3 {
        f.offer(url("a.com", &i.to_string()));
    }
    f.offer(url("b.com", "0"));
    f.mark_seen("https://a.com/elsewhere");
    assert_eq!(f.counts(), c(4, 0, 5, 0));
    let u = f.next_for("a.com").unwrap().unwrap();
    let v = f.next_for("b.com").unwrap().unwrap();
    assert_eq!(f.counts(), c(2, 2, 5, 0));
    f.complete(&u.url);
    assert_eq!(f.counts(), c(2, 1, 5, 1));
    f.requeue(v);
    assert_eq!(f.counts(), c(3, 0, 5, 1));
    assert_eq!(f.queued_total(), 3);
    f.commit().unwrap();
    assert!(!f.has_staged());
    drop(f);
    let (f, _) = open(&path);
    assert_eq!(f.counts(), c(3, 0, 5, 1));
}

#[test]
fn commit_with_nothing_staged_writes_nothing() {
    let (_dir, path) = temp();
    let (mut f, _) = open(&path);
    f.offer(url("a.com", "0"));
    f.commit().unwrap();
    assert!(!f.has_staged());
    let len = std::fs::metadata(&path).unwrap().len();
    f.commit().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
    let mut m = Frontier::memory();
    m.offer(url("a.com", "0"));
    assert!(!m.has_staged(), "the memory frontier stages nothing");
    m.commit().unwrap();
}

#[test]
fn second_open_is_in_use() {
    let (_dir, path) = temp();
    let (_f, _) = open(&path);
    let err = Frontier::open(&path).unwrap_err();
    assert!(matches!(err, FrontierError::InUse { .. }), "{err}");
    assert!(err.to_string().contains("frontier.redb"), "{err}");
}

#[test]
fn remove_deletes_and_tolerates_a_missing_file() {
    let (_dir, path) = temp();
    let (mut f, _) = open(&path);
    f.offer(url("a.com", "0"));
    f.commit().unwrap();
    drop(f);
    Frontier::remove(&path).unwrap();
    assert!(!path.exists());
    Frontier::remove(&path).unwrap();
    let (_, resumed) = open(&path);
    assert_eq!(resumed, Resumed::default());
}

fn assert_corrupt(path: &Path) {
    match Frontier::open(path) {
        Ok(_) => panic!("opened a damaged file"),
        Err(err @ FrontierError::Corrupt { .. }) => {
            let msg = err.to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains("--fresh"), "{msg}");
        }
        Err(other) => panic!("not reported as damage: {other}"),
    }
}

/// A file with 2 000 URLs over 4 hosts, some in flight, committed.
fn populated(path: &Path) {
    let (mut f, _) = open(path);
    for i in 0..2000u32 {
        f.offer(url(&format!("h{}.com", i % 4), &i.to_string()));
        if i.is_multiple_of(100) {
            f.commit().unwrap();
        }
    }
    f.next_for("h0.com").unwrap().unwrap();
    f.set_meta("k", &[7; 100]);
    f.commit().unwrap();
}

#[test]
fn a_file_of_garbage_is_reported_as_damaged() {
    let (_dir, path) = temp();
    std::fs::write(
        &path,
        b"this is not a redb file, it is a text file that happens to be here".repeat(100),
    )
    .unwrap();
    assert_corrupt(&path);
    // Garbage after a valid header is damage too.
    let (_dir, path) = temp();
    populated(&path);
    let len = std::fs::metadata(&path).unwrap().len();
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.seek(SeekFrom::Start(4096)).unwrap();
    file.write_all(&vec![0xA5; (len - 4096) as usize]).unwrap();
    drop(file);
    assert_corrupt(&path);
}

#[test]
fn scribbled_pages_are_reported_as_damaged() {
    // Overwrite a different 512-byte stretch each round: whichever page it hits (a table's leaf
    // or branch, the allocator state, free space) must give an error or a consistent frontier,
    // never a panic or a silently wrong one.
    let (_dir, pristine) = temp();
    populated(&pristine);
    let len = std::fs::metadata(&pristine).unwrap().len();
    let mut damaged = 0;
    for (round, offset) in (4096..len).step_by(4096 + 512).enumerate() {
        let (_d, path) = temp();
        std::fs::copy(&pristine, &path).unwrap();
        let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.seek(SeekFrom::Start(offset)).unwrap();
        file.write_all(&[round as u8 ^ 0x5a; 512]).unwrap();
        drop(file);
        match Frontier::open(&path) {
            Err(err @ FrontierError::Corrupt { .. }) => {
                assert!(err.to_string().contains("--fresh"));
                damaged += 1;
            }
            Err(other) => panic!("not reported as damage: {other}"),
            Ok((mut f, resumed)) => {
                // Unused space was hit: everything must still be there.
                assert_eq!((resumed.queued, resumed.seen), (2000, 2000));
                for h in 0..4 {
                    assert_eq!(drain(&mut f, &format!("h{h}.com")).len(), 500);
                }
            }
        }
    }
    assert!(damaged > 0, "no round hit a live page");
}

#[test]
fn a_truncated_file_is_reported_as_damaged() {
    let (_dir, path) = temp();
    populated(&path);
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    assert!(Frontier::open(&path).is_err());
}

/// A tiny deterministic generator (xorshift64*), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The frontier's contract, written the obvious way: every queue one ordered map.
#[derive(Clone, Default)]
struct Model {
    queue: BTreeMap<(String, u64), QueuedUrl>,
    in_flight: HashMap<String, (u64, QueuedUrl)>,
    seen: HashSet<String>,
    done: u64,
    next_back: u64,
    next_front: u64,
    meta: HashMap<String, Vec<u8>>,
}

impl Model {
    fn new() -> Model {
        Model {
            next_back: 1 << 63,
            next_front: (1 << 63) - 1,
            ..Model::default()
        }
    }

    fn offer(&mut self, u: QueuedUrl) -> bool {
        if !self.seen.insert(u.url.clone()) {
            return false;
        }
        self.queue.insert((u.host.clone(), self.next_back), u);
        self.next_back += 1;
        true
    }

    fn next_for(&mut self, host: &str) -> Option<QueuedUrl> {
        let key = self
            .queue
            .range((host.to_owned(), 0)..=(host.to_owned(), u64::MAX))
            .next()?
            .0
            .clone();
        let u = self.queue.remove(&key)?;
        self.in_flight.insert(u.url.clone(), (key.1, u.clone()));
        Some(u)
    }

    fn requeue(&mut self, u: QueuedUrl) -> bool {
        if self.in_flight.remove(&u.url).is_none() {
            return false;
        }
        self.queue.insert((u.host.clone(), self.next_front), u);
        self.next_front -= 1;
        true
    }

    fn reopened(&self) -> Model {
        let mut m = self.clone();
        let mut in_flight: Vec<_> = m.in_flight.drain().map(|(_, v)| v).collect();
        in_flight.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
        for (_, u) in in_flight {
            m.queue.insert((u.host.clone(), m.next_front), u);
            m.next_front -= 1;
        }
        m
    }

    fn counts(&self) -> FrontierCounts {
        FrontierCounts {
            queued: self.queue.len() as u64,
            in_flight: self.in_flight.len() as u64,
            seen: self.seen.len() as u64,
            done: self.done,
        }
    }
}

#[test]
fn random_operations_match_the_model_across_commits_and_crashes() {
    const HOSTS: [&str; 3] = ["a.com", "b.com:8080", "c.com"];
    for seed in 1..=5u64 {
        let (_dir, path) = temp();
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let (mut f, _) = open(&path);
        let mut model = Model::new();
        let mut committed = model.clone();
        let mut taken: Vec<QueuedUrl> = Vec::new();
        for step in 0..5000u32 {
            let ctx = format!("seed {seed} step {step}");
            let host = HOSTS[rng.below(3) as usize];
            match rng.below(100) {
                0..45 => {
                    let u = url(host, &rng.below(1500).to_string());
                    assert_eq!(f.offer(u.clone()), model.offer(u), "{ctx}");
                }
                45..70 => {
                    let got = f.next_for(host).unwrap();
                    assert_eq!(got, model.next_for(host), "{ctx}");
                    taken.extend(got);
                }
                70..80 if !taken.is_empty() => {
                    let u = taken.swap_remove(rng.below(taken.len() as u64) as usize);
                    let in_model = model.in_flight.remove(&u.url).is_some();
                    model.done += u64::from(in_model);
                    assert_eq!(f.complete(&u.url), in_model, "{ctx}");
                }
                80..86 if !taken.is_empty() => {
                    let u = taken.swap_remove(rng.below(taken.len() as u64) as usize);
                    assert_eq!(f.requeue(u.clone()), model.requeue(u), "{ctx}");
                }
                86..88 => {
                    let u = format!("https://{host}/{}", rng.below(1500));
                    assert_eq!(f.mark_seen(&u), model.seen.insert(u.clone()), "{ctx}");
                }
                88..90 => {
                    let key = format!("k{}", rng.below(4));
                    let value = rng.next().to_le_bytes().to_vec();
                    f.set_meta(&key, &value);
                    model.meta.insert(key, value);
                }
                90..97 => {
                    f.commit().unwrap();
                    committed = model.clone();
                }
                97 => {
                    // A clean restart.
                    f.commit().unwrap();
                    drop(f);
                    let resumed;
                    (f, resumed) = open(&path);
                    assert_eq!(resumed.requeued_in_flight, model.in_flight.len() as u64, "{ctx}");
                    model = model.reopened();
                    committed = model.clone();
                    taken.clear();
                }
                98 => {
                    // A crash: everything since the last commit is lost.
                    drop(f);
                    (f, _) = open(&path);
                    model = committed.reopened();
                    committed = model.clone();
                    taken.clear();
                }
                _ => {}
            }
            assert_eq!(f.counts(), model.counts(), "{ctx}");
            if !step.is_multiple_of(64) {
                continue;
            }
            for h in HOSTS {
                let in_model = model.queue.range((h.to_owned(), 0)..=(h.to_owned(), u64::MAX)).count();
                assert_eq!(f.queued_len(h), in_model as u64, "{ctx} {h}");
            }
            for (k, v) in &model.meta {
                assert_eq!(f.meta(k).as_ref(), Some(v), "{ctx}");
            }
        }
        // Finally everything queued comes out in the model's order.
        for h in HOSTS {
            while let Some(expected) = model.next_for(h) {
                assert_eq!(f.next_for(h).unwrap(), Some(expected), "seed {seed} drain");
            }
            assert_eq!(f.next_for(h).unwrap(), None);
        }
    }
}

/// The child half of [`survives_kill_9`]: offers, takes, completes and commits in a loop,
/// printing the number of committed rounds after each commit, until it is killed.
#[test]
fn kill_9_child() {
    let Some(path) = std::env::var_os("FRONTIER_KILL_CHILD") else {
        return;
    };
    let (mut f, _) = Frontier::open(Path::new(&path)).unwrap();
    retake_in_flight(&mut f);
    let mut out = std::io::stdout().lock();
    let first = f.meta("round").map_or(0, |r| u64::from_le_bytes(r.try_into().unwrap()));
    for round in first.. {
        kill_round(&mut f, round);
        f.set_meta("round", &(round + 1).to_le_bytes());
        f.commit().unwrap();
        writeln!(out, "{}", round + 1).unwrap();
        out.flush().unwrap();
    }
}

/// Round `r`: offers 20 URLs over 4 hosts (the last one of the round already seen, from round
/// r − 1), takes 6 and completes the 6 taken in the previous round. So after `n` committed
/// rounds: 19n + 1 seen (n > 0), 6(n − 1) done, 6 in flight.
fn kill_round(f: &mut Frontier, round: u64) {
    for i in 0..19 {
        f.offer(url(&format!("h{}.com", i % 4), &format!("{}-{i}", round + 1)));
    }
    f.offer(url("h0.com", &format!("{round}-0")));
    let previous = f.meta("taken").unwrap_or_default();
    for u in String::from_utf8(previous).unwrap().lines() {
        assert!(f.complete(u));
    }
    let mut now = String::new();
    for i in 0..6 {
        if let Some(u) = f.next_for(&format!("h{}.com", i % 4)).unwrap() {
            now.push_str(&u.url);
            now.push('\n');
        }
    }
    f.set_meta("taken", now.as_bytes());
}

/// Puts a reopened frontier back into the shape a round expects: what was in flight when the
/// last process died is back in the queue, so take 6 again and record them as "taken".
fn retake_in_flight(f: &mut Frontier) {
    let mut now = String::new();
    for i in 0..6 {
        let u = f.next_for(&format!("h{}.com", i % 4)).unwrap().unwrap();
        now.push_str(&u.url);
        now.push('\n');
    }
    f.set_meta("taken", now.as_bytes());
}

#[test]
fn survives_kill_9() {
    let (_dir, path) = temp();
    // Rounds 0 and 1 committed before the child starts, so the file already has history.
    let (mut f, _) = open(&path);
    for round in 0..2 {
        kill_round(&mut f, round);
        f.set_meta("round", &(round + 1).to_le_bytes());
        f.commit().unwrap();
    }
    drop(f);

    for attempt in 0..3 {
        let filter = format!(
            "{}::kill_9_child",
            module_path!().split_once("::").map_or("", |(_, m)| m)
        );
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([filter.as_str(), "--exact", "--nocapture", "--test-threads=1"])
            .env("FRONTIER_KILL_CHILD", &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // Read the child's progress until some number of commits, then SIGKILL it mid-stride.
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let stop_after = 20 + attempt * 37;
        let started = Instant::now();
        let mut last_reported = 0u64;
        let mut reported = 0;
        while let Some(Ok(line)) = lines.next() {
            if let Ok(n) = line.trim().parse::<u64>() {
                last_reported = n;
                reported += 1;
                if reported >= stop_after || started.elapsed() > Duration::from_secs(20) {
                    break;
                }
            }
        }
        child.kill().unwrap(); // SIGKILL on Unix.
        child.wait().unwrap();
        assert!(reported > 0, "the child never committed (its panic, if any, is above)");

        let (mut f, resumed) = open(&path);
        let rounds = u64::from_le_bytes(f.meta("round").unwrap().try_into().unwrap());
        // The kill can land after a commit and before its line was read.
        assert!(
            rounds == last_reported || rounds == last_reported + 1,
            "{rounds} vs {last_reported}"
        );
        assert_eq!(resumed.seen, 19 * rounds + 1);
        assert_eq!(resumed.done, 6 * (rounds - 1));
        assert_eq!(resumed.requeued_in_flight, 6);
        assert_eq!(resumed.queued + resumed.done, resumed.seen);
        for round in 1..=rounds {
            for i in 0..19 {
                assert!(
                    f.is_seen(&format!("https://h{}.com/{round}-{i}", i % 4)),
                    "round {round} url {i}"
                );
            }
        }
        assert!(!f.is_seen(&format!("https://h0.com/{}-0", rounds + 1)));
        // Every queued URL comes out exactly once (uncommitted: the next attempt starts from
        // the same state).
        let mut all = HashSet::new();
        for h in 0..4 {
            for p in drain(&mut f, &format!("h{h}.com")) {
                assert!(all.insert(format!("h{h}/{p}")), "{p} twice");
            }
        }
        assert_eq!(all.len() as u64, resumed.queued);
    }
}

/// `VmRSS` and `VmHWM` (peak) of this process, in MiB (Linux; zeros elsewhere).
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn synthetic(i: u64) -> QueuedUrl {
    let host = format!("host{}.example.com", i % 100);
    QueuedUrl {
        url: format!("https://{host}/section/{}/page-{i}.html?ref=crawl", i / 1000),
        parent: Some(format!("https://{host}/section/{}/", i / 1000)),
        host,
        depth: 3,
        found_via: FoundVia::Link,
    }
}

/// The reopen half of [`bench_million`], in a fresh process so its RSS is the resume's alone.
#[test]
fn bench_reopen_child() {
    let Some(path) = std::env::var_os("FRONTIER_BENCH_REOPEN") else {
        return;
    };
    let started = Instant::now();
    let (mut f, resumed) = Frontier::open(Path::new(&path)).unwrap();
    let opened = started.elapsed();
    let (rss, peak) = rss_mib();
    println!("bench: reopen: {resumed:?} in {opened:.2?}; RSS {rss:.1} MiB, peak {peak:.1} MiB");
    // Drain 100 000 URLs round-robin over the hosts, completing each, committing every 100.
    let hosts = f.queued_hosts();
    let started = Instant::now();
    let mut n = 0u64;
    'outer: loop {
        for h in &hosts {
            let Some(u) = f.next_for(h).unwrap() else { continue };
            f.complete(&u.url);
            n += 1;
            if n.is_multiple_of(100) {
                f.commit().unwrap();
            }
            if n == 100_000 {
                break 'outer;
            }
        }
    }
    f.commit().unwrap();
    let (rss, peak) = rss_mib();
    println!(
        "bench: drain: {n} take+complete in {:.2?} ({:.0}/s incl. a commit per 100); RSS {rss:.1} MiB, peak {peak:.1} MiB",
        started.elapsed(),
        n as f64 / started.elapsed().as_secs_f64()
    );
}

/// Throughput, commit latency and memory. Run with
/// `cargo test --release -- --ignored bench_million --nocapture`.
#[test]
#[ignore = "benchmark: slow, and prints numbers rather than asserting much"]
fn bench_million() {
    let (_dir, path) = temp();

    // Offers: new URLs (hash, set insert, stage a row), then the same URLs again (hash, lookup).
    let (mut f, _) = open(&path);
    let urls: Vec<_> = (0..100_000).map(|i| synthetic(10_000_000 + i)).collect();
    let started = Instant::now();
    for u in urls.iter().cloned() {
        f.offer(u);
    }
    let new_rate = urls.len() as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for u in &urls {
        assert!(!f.is_seen(&u.url) || !f.offer(u.clone()));
    }
    let seen_clone_rate = urls.len() as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for u in &urls {
        assert!(f.is_seen(&u.url));
    }
    let seen_rate = urls.len() as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    f.commit().unwrap();
    println!(
        "offer: {new_rate:.0}/s new, {seen_rate:.0}/s already seen (is_seen), {seen_clone_rate:.0}/s seen incl. building the QueuedUrl; first commit of 100k: {:.2?}",
        started.elapsed()
    );

    // Group commits shaped like the crawler's: 10 pages, each taken and completed, ~120 links
    // of which ~100 new.
    let mut latencies = Vec::new();
    let mut next = 20_000_000u64;
    for _ in 0..300 {
        for p in 0..10 {
            let host = format!("host{}.example.com", p * 7 % 100);
            if let Some(u) = f.next_for(&host).unwrap() {
                f.complete(&u.url);
            }
            for _ in 0..10 {
                f.offer(synthetic(next));
                next += 1;
            }
            for k in 0..2 {
                f.offer(synthetic(10_000_000 + next % 100_000 + k));
            }
        }
        let started = Instant::now();
        f.commit().unwrap();
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let pct = |p: usize| latencies[latencies.len() * p / 100];
    println!(
        "commit of 10 pages (~100 new URLs): p50 {:.2?}, p90 {:.2?}, p99 {:.2?}, max {:.2?}",
        pct(50),
        pct(90),
        pct(99),
        latencies[latencies.len() - 1]
    );
    drop(f);
    Frontier::remove(&path).unwrap();

    // The rest in fresh processes, so their RSS is their own.
    for (child, env) in [
        ("bench_million_child", "FRONTIER_BENCH_MILLION"),
        ("bench_reopen_child", "FRONTIER_BENCH_REOPEN"),
    ] {
        let filter = format!("{}::{child}", module_path!().split_once("::").map_or("", |(_, m)| m));
        let out = Command::new(std::env::current_exe().unwrap())
            .args([filter.as_str(), "--exact", "--nocapture", "--test-threads=1"])
            .env(env, &path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        for line in stdout.lines().filter(|l| l.contains("bench:")) {
            println!("{}", line.split_once("bench:").map_or(line, |(_, l)| l.trim()));
        }
        assert!(out.status.success(), "{stdout}");
    }
}

/// The offering half of [`bench_million`]: a million URLs over 100 hosts, a commit per 1000.
#[test]
fn bench_million_child() {
    let Some(path) = std::env::var_os("FRONTIER_BENCH_MILLION") else {
        return;
    };
    let path = Path::new(&path);
    let (base_rss, _) = rss_mib();
    let (mut f, _) = open(path);
    let started = Instant::now();
    for i in 0..1_000_000u64 {
        f.offer(synthetic(i));
        if (i + 1).is_multiple_of(1000) {
            f.commit().unwrap();
        }
    }
    f.commit().unwrap();
    let elapsed = started.elapsed();
    let (rss, peak) = rss_mib();
    let file_mib = std::fs::metadata(path).unwrap().len() as f64 / (1024.0 * 1024.0);
    println!(
        "bench: 1M offers over 100 hosts, commit per 1000: {elapsed:.2?} ({:.0}/s); RSS {rss:.1} MiB (process baseline {base_rss:.1}), peak {peak:.1} MiB; file {file_mib:.0} MiB",
        1e6 / elapsed.as_secs_f64()
    );
    assert_eq!(f.counts().queued, 1_000_000);
    if let Some(db) = f.store.as_ref().and_then(|s| s.db.as_ref()) {
        let txn = db.begin_write().unwrap();
        println!("bench: {:?}", txn.stats().unwrap());
        txn.abort().unwrap();
    }
    if let Some(db) = f.store.as_mut().and_then(|s| s.db.as_mut()) {
        // Not done by the frontier (see the README); measured to size the follow-up.
        let started = Instant::now();
        db.compact().unwrap();
        let file_mib = std::fs::metadata(path).unwrap().len() as f64 / (1024.0 * 1024.0);
        println!(
            "bench: compact(): {:.2?}, file now {file_mib:.0} MiB",
            started.elapsed()
        );
    }
    drop(f);
}
