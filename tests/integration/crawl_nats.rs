//! Crawls across machines (`riptide crawl --nats`, feature `nats`) against a real
//! `nats-server -js` on a free port, real `riptide worker` processes and local sites: a worker
//! killed with `-9` mid-crawl, `--per-host 1` held by two workers together, a crawl
//! re-attached and cancelled, and the NATS server restarted under a crawl.
#![cfg(all(feature = "nats", feature = "cli"))]

use crate::support;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::eventually;
use support::local_server::{LocalServer, Reply};
use support::nats::NatsServer;

/// The pages of a site: `/` links to `/p/0`; `/p/i` links to the next three pages, so links
/// are found several times, often by two workers at once.
fn site(ip: Ipv4Addr, pages: usize, delay: Duration) -> LocalServer {
    LocalServer::start_on(IpAddr::V4(ip), move |target| {
        let links = |from: usize| -> String {
            (from..from + 3)
                .filter(|n| *n < pages)
                .map(|n| format!("<a href=\"/p/{n}\">page {n}</a> "))
                .collect()
        };
        // The host in the text: two hosts' pages are not copies of each other.
        let html = |title: &str, body: String| {
            format!(
                "<html><head><title>{title}</title></head><body><article><h1>{title}</h1><p>This is {title}, a page of the test site on {ip} with enough words in it to be extracted as an article by the extractor.</p><p>{body}</p></article></body></html>"
            )
        };
        match target {
            "/" => Reply::Slow {
                html: html("Home", links(0)),
                delay,
            },
            t => match t.strip_prefix("/p/").and_then(|n| n.parse::<usize>().ok()) {
                Some(n) if n < pages => Reply::Slow {
                    html: html(&format!("Page {n}"), links(n + 1)),
                    delay,
                },
                _ => Reply::NotFound,
            },
        }
    })
    .expect("start the site")
}

/// A temporary home with short queue limits (a dead worker's URLs come back after 2 s) and no
/// browser pool.
struct Home(tempfile::TempDir);

impl Home {
    fn new() -> Self {
        Self::with_ack_wait(2)
    }

    /// A home whose un-acked URLs come back after `ack_wait_secs`.
    fn with_ack_wait(ack_wait_secs: u64) -> Self {
        let dir = tempfile::tempdir().expect("home");
        std::fs::write(
            dir.path().join("config.toml"),
            format!(
                "[queue]\nack_wait_secs = {ack_wait_secs}\nduplicate_window_secs = 120\nshutdown_grace_secs = 1\n\n[optimizations.browser_pool]\nenabled = false\n"
            ),
        )
        .expect("config");
        Self(dir)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_riptide"));
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("RIPTIDE_")) {
            cmd.env_remove(key);
        }
        cmd.arg("--home").arg(self.0.path()).args(args);
        cmd
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}

/// A child process killed (SIGKILL) on drop if still running.
struct Process(Child);

impl Process {
    /// A `riptide worker`, once it says it pulls jobs.
    fn worker(home: &Home, nats: &NatsServer, name: &str) -> Self {
        let mut child = home
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
            .stderr(Stdio::piped())
            .spawn()
            .expect("start riptide worker");
        support::await_stderr_line(&mut child, "pulling jobs");
        Self(child)
    }

    /// `riptide crawl --nats ... --output FILE SEEDS`.
    fn crawl(home: &Home, nats: &NatsServer, name: &str, output: &Path, extra: &[&str], seeds: &[String]) -> Self {
        let mut args = vec![
            "crawl",
            "--nats",
            nats.url().leak(),
            "--name",
            name,
            "--engine",
            "static",
            "--output",
            output.to_str().expect("utf-8 path"),
        ];
        args.extend_from_slice(extra);
        args.extend(seeds.iter().map(String::as_str));
        let child = home
            .command(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start riptide crawl --nats");
        Self(child)
    }

    fn kill_9(&mut self) {
        self.0.kill().expect("SIGKILL");
        let _ = self.0.wait();
    }

    /// Waits for it to exit on its own; its exit code.
    fn wait_exit(&mut self, guard: Duration) -> Option<i32> {
        let mut code = None;
        let exited = eventually(guard, || match self.0.try_wait() {
            Ok(Some(status)) => {
                code = status.code();
                true
            }
            _ => false,
        });
        assert!(exited, "the process did not end within {guard:?}");
        code
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The records written to `output` so far.
fn records(output: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(output)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// How many times each page URL was emitted.
fn emitted(output: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for record in records(output) {
        assert!(record.get("error").is_none(), "a failure row: {record}");
        let url = record["url"].as_str().expect("a url").to_string();
        *counts.entry(url).or_default() += 1;
    }
    counts
}

/// How many times each page of `output` was emitted, once every page of `server`'s site (and
/// nothing else) is checked to be there.
fn every_page_once_at_least(output: &Path, server: &LocalServer, pages: usize) -> BTreeMap<String, usize> {
    let counts = emitted(output);
    for url in all_pages(server, pages) {
        assert!(counts.contains_key(&url), "{url} was never emitted: {counts:?}");
    }
    assert_eq!(counts.len(), pages + 1, "only the site's pages: {counts:?}");
    counts
}

/// How many times each page URL was emitted over several runs' outputs, once every page of a
/// site of `pages` is checked to be there exactly once.
fn each_page_once_over(outputs: &[&Path], pages: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for output in outputs {
        for (url, n) in emitted(output) {
            *counts.entry(url).or_default() += n;
        }
    }
    assert_eq!(counts.len(), pages + 1, "{counts:?}");
    assert!(
        counts.values().all(|n| *n == 1),
        "each page once over all runs: {counts:?}"
    );
    counts
}

/// `riptide queue status` of the NATS server, as JSON.
fn queue_status(home: &Home, nats: &NatsServer) -> serde_json::Value {
    let out = home
        .command(&["queue", "status", "--nats", &nats.url()])
        .output()
        .expect("queue status");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("status JSON")
}

fn all_pages(server: &LocalServer, pages: usize) -> Vec<String> {
    let mut urls = vec![server.url("/")];
    urls.extend((0..pages).map(|n| server.url(&format!("/p/{n}"))));
    urls
}

/// A crawl of `server`'s site under way: its home, the named workers and the attached command
/// writing to `output`.
struct CrawlRun {
    server: LocalServer,
    home: Home,
    output: PathBuf,
    workers: Vec<Process>,
    crawl: Process,
}

impl CrawlRun {
    fn start(nats: &NatsServer, server: LocalServer, name: &str, workers: &[&str], flags: &[&str]) -> Self {
        let home = Home::new();
        let output = home.path("pages.jsonl");
        let workers = workers.iter().map(|w| Process::worker(&home, nats, w)).collect();
        let crawl = Process::crawl(&home, nats, name, &output, flags, &[server.url("/")]);
        Self {
            server,
            home,
            output,
            workers,
            crawl,
        }
    }

    /// A site of `pages` pages (60 ms each) crawled by two workers (`a`, `b`), once the
    /// attached command has written `written` records.
    fn mid_crawl(nats: &NatsServer, name: &str, pages: usize, flags: &[&str], written: usize) -> Self {
        let server = site(Ipv4Addr::LOCALHOST, pages, Duration::from_millis(60));
        let run = Self::start(nats, server, name, &["a", "b"], flags);
        assert!(
            eventually(Duration::from_secs(60), || records(&run.output).len() >= written),
            "the crawl got going"
        );
        run
    }
}

/// Two workers crawl; one is killed with `-9` mid-crawl and a third joins: every page is
/// emitted exactly once (the killed worker's in-flight pages are fetched again, and the
/// attached command writes each URL once).
#[test]
fn a_worker_killed_mid_crawl_loses_no_page() {
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    const PAGES: usize = 40;
    let mut run = CrawlRun::mid_crawl(&nats, "killed", PAGES, &["--per-host", "4", "--concurrency", "8"], 8);
    run.workers[0].kill_9();
    let _c = Process::worker(&run.home, &nats, "c");
    assert_eq!(run.crawl.wait_exit(Duration::from_secs(120)), Some(0));
    let counts = every_page_once_at_least(&run.output, &run.server, PAGES);
    assert!(counts.values().all(|n| *n == 1), "each page once: {counts:?}");
}

/// A worker stopped with Ctrl-C hands the pages it was fetching back at once (after its
/// `shutdown_grace_secs`, 1 s), and gives back its host slots: with `ack_wait` at ten minutes,
/// only that lets the next worker finish the crawl within the test's two.
#[test]
fn a_worker_stopped_with_ctrl_c_hands_its_pages_back_at_once() {
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    const PAGES: usize = 3;
    let server = site(Ipv4Addr::LOCALHOST, PAGES, Duration::from_secs(3));
    let home = Home::with_ack_wait(600);
    let output = home.path("pages.jsonl");
    let mut a = Process::worker(&home, &nats, "a");
    let mut crawl = Process::crawl(&home, &nats, "handed-back", &output, &[], &[server.url("/")]);
    assert!(
        eventually(Duration::from_secs(60), || server
            .received()
            .iter()
            .any(|r| r.target == "/p/0")),
        "worker a is fetching /p/0"
    );
    support::send_signal(a.0.id(), libc::SIGINT);
    a.wait_exit(Duration::from_secs(30));
    let _b = Process::worker(&home, &nats, "b");
    assert_eq!(crawl.wait_exit(Duration::from_secs(120)), Some(0));
    every_page_once_at_least(&output, &server, PAGES);
}

/// A host that starts answering slowly is slowed down by every worker together: once its
/// answers climb (two 700 ms answers after fast ones), each worker shares the slow-down it
/// learned, and from then on (with a second for the other worker to read it) no two requests
/// to the host start less than the least slow-down (50 ms) apart. Before, workers had none,
/// and four slots' worth of requests started at once.
#[test]
fn workers_share_a_struggling_hosts_slow_down() {
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    const SLOW_FROM: usize = 4;
    let slow = Duration::from_millis(700);
    let server = LocalServer::start(move |target| {
        let n = target.strip_prefix("/p/").and_then(|n| n.parse::<usize>().ok());
        let links: String = (n.map_or(0, |n| n + 1)..n.map_or(0, |n| n + 1) + 3)
            .map(|i| format!("<a href=\"/p/{i}\">page {i}</a> "))
            .collect();
        let html = format!(
            "<html><head><title>{target}</title></head><body><article><h1>{target}</h1><p>This is {target}, a page of a host that tires, with enough words in it to be read as an article.</p><p>{links}</p></article></body></html>"
        );
        match n {
            Some(n) if n >= SLOW_FROM => Reply::Slow { html, delay: slow },
            Some(_) => Reply::Html(html),
            None if target == "/" => Reply::Html(html),
            None => Reply::NotFound,
        }
    })
    .expect("start the site");
    let home = Home::new();
    let output = home.path("pages.jsonl");
    let _a = Process::worker(&home, &nats, "a");
    let _b = Process::worker(&home, &nats, "b");
    let flags = ["--per-host", "4", "--concurrency", "8", "--max-pages", "16"];
    let mut crawl = Process::crawl(&home, &nats, "tiring", &output, &flags, &[server.url("/")]);
    assert_eq!(crawl.wait_exit(Duration::from_secs(180)), Some(0));
    // The site never ends; the page cap holds for the two workers together, not each.
    let pages = emitted(&output).len();
    assert!((15..=16).contains(&pages), "{pages} pages emitted under --max-pages 16");
    let slow_starts: Vec<std::time::Instant> = server
        .received()
        .into_iter()
        .filter(|r| {
            r.target
                .strip_prefix("/p/")
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| n >= SLOW_FROM)
        })
        .map(|r| r.at)
        .collect();
    assert!(slow_starts.len() >= 6, "{} slow pages asked for", slow_starts.len());
    let settled = slow_starts[2] + slow + Duration::from_millis(1200);
    let after: Vec<_> = slow_starts.iter().filter(|at| **at >= settled).collect();
    assert!(
        after.len() >= 3,
        "only {} requests once the slow-down settled",
        after.len()
    );
    for pair in after.windows(2) {
        let gap = pair[1].duration_since(*pair[0]);
        assert!(
            gap >= Duration::from_millis(45),
            "two requests {gap:?} apart: {slow_starts:?}"
        );
    }
}

/// A finished crawl run again is a recrawl, as on one machine: each page is asked for with
/// what it answered last time, an unchanged one is an `"unchanged": true` row (its remembered
/// links followed) and a changed one is extracted again. `--fresh` starts over instead: every
/// page fetched in full, nothing asked conditionally.
#[test]
fn a_finished_crawl_recrawls_and_fresh_starts_over() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    let version = std::sync::Arc::new(AtomicU32::new(1));
    let current = version.clone();
    let server = LocalServer::start(move |target| {
        let v = current.load(Ordering::SeqCst);
        let page = |title: &str, links: &str| {
            format!(
                "<html><head><title>{title}</title></head><body><article><h1>{title}</h1><p>This is {title}, a page with enough words in it to be read as the article of the page.</p><p>{links}</p></article></body></html>"
            )
        };
        match target {
            "/" => Reply::Conditional {
                html: page("Home", "<a href=\"/a\">a</a> <a href=\"/b\">b</a>"),
                etag: "\"home-1\"".into(),
            },
            "/a" => Reply::Conditional {
                html: page(&format!("A, version {v}"), ""),
                etag: format!("\"a-{v}\""),
            },
            "/b" => Reply::Conditional {
                html: page("B", ""),
                etag: "\"b-1\"".into(),
            },
            _ => Reply::NotFound,
        }
    })
    .expect("start the site");
    let home = Home::new();
    let seeds = [server.url("/")];
    let _a = Process::worker(&home, &nats, "a");
    let run = |file: &str, extra: &[&str]| {
        let output = home.path(file);
        let mut crawl = Process::crawl(&home, &nats, "again", &output, extra, &seeds);
        assert_eq!(crawl.wait_exit(Duration::from_secs(120)), Some(0), "{file}");
        records(&output)
    };
    let conditional = |from: usize| {
        server.received()[from..]
            .iter()
            .filter(|r| r.header("if-none-match").is_some())
            .count()
    };
    let first = run("first.jsonl", &[]);
    assert_eq!(first.len(), 3, "{first:?}");
    version.store(2, Ordering::SeqCst);
    let asked = server.received().len();
    let again = run("again.jsonl", &[]);
    let by_url = |records: &[serde_json::Value], path: &str| -> serde_json::Value {
        records
            .iter()
            .find(|r| r["url"] == server.url(path))
            .cloned()
            .unwrap_or_else(|| panic!("{path} missing: {records:?}"))
    };
    assert_eq!(again.len(), 3, "{again:?}");
    assert_eq!(by_url(&again, "/")["unchanged"], true);
    assert_eq!(by_url(&again, "/b")["unchanged"], true);
    assert_eq!(
        by_url(&again, "/a")["title"],
        "A, version 2",
        "a changed page is extracted again"
    );
    assert_eq!(conditional(asked), 3, "every page asked for conditionally");
    let asked = server.received().len();
    let fresh = run("fresh.jsonl", &["--fresh"]);
    assert_eq!(fresh.len(), 3, "{fresh:?}");
    assert!(
        fresh
            .iter()
            .all(|r| r.get("unchanged").is_none() && r["text"].is_string()),
        "{fresh:?}"
    );
    assert_eq!(conditional(asked), 0, "--fresh forgot what pages answered");
}

/// Two workers with `--per-host 1` on two hosts: no two requests to one host ever overlap
/// (robots.txt and sitemaps included), and both hosts are crawled whole.
#[test]
fn two_workers_never_exceed_per_host_1() {
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    const PAGES: usize = 12;
    let one = site(Ipv4Addr::LOCALHOST, PAGES, Duration::from_millis(30));
    let two = site(Ipv4Addr::new(127, 0, 0, 2), PAGES, Duration::from_millis(30));
    let home = Home::new();
    let output = home.path("pages.jsonl");
    let _a = Process::worker(&home, &nats, "a");
    let _b = Process::worker(&home, &nats, "b");
    let mut crawl = Process::crawl(
        &home,
        &nats,
        "polite",
        &output,
        &["--per-host", "1", "--concurrency", "8"],
        &[one.url("/"), two.url("/")],
    );
    assert_eq!(crawl.wait_exit(Duration::from_secs(120)), Some(0));
    let counts = emitted(&output);
    assert_eq!(counts.len(), 2 * (PAGES + 1), "{counts:?}");
    for server in [&one, &two] {
        let mut spans = server.spans();
        spans.sort_by_key(|(_, start, _)| *start);
        assert!(spans.len() > PAGES, "{} requests", spans.len());
        for pair in spans.windows(2) {
            let ((a, _, a_end), (b, b_start, _)) = (&pair[0], &pair[1]);
            assert!(
                b_start >= a_end,
                "{b} started before {a} was answered on {}",
                server.url("/")
            );
        }
    }
}

/// `--max-duration` ends a run as it does on one machine: the crawl is paused (its workers
/// finish their pages and take no more, so nothing is in flight while URLs wait), and the
/// same command again resumes it; every page is emitted once over both runs.
#[test]
fn max_duration_pauses_the_crawl_until_it_is_run_again() {
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    const PAGES: usize = 30;
    let server = site(Ipv4Addr::LOCALHOST, PAGES, Duration::from_millis(100));
    let home = Home::new();
    let (first, second) = (home.path("first.jsonl"), home.path("second.jsonl"));
    let seeds = [server.url("/")];
    let _a = Process::worker(&home, &nats, "a");
    let flags = ["--per-host", "1", "--max-duration", "1"];
    let mut run = Process::crawl(&home, &nats, "paused", &first, &flags, &seeds);
    assert_eq!(run.wait_exit(Duration::from_secs(60)), Some(0));
    let status = || queue_status(&home, &nats)["crawls"]["paused"].clone();
    let mut last = serde_json::Value::Null;
    let settled = eventually(Duration::from_secs(30), || {
        last = status();
        last["in_flight"] == 0
    });
    assert!(settled, "the worker took no more URLs: {last}");
    assert_eq!(last["paused"], "max_duration", "{last}");
    assert!(
        last["queued"].as_u64().unwrap_or(0) > 0,
        "URLs wait for the next run: {last}"
    );
    assert!(last["ended"].is_null(), "{last}");

    let mut again = Process::crawl(&home, &nats, "paused", &second, &["--per-host", "1"], &seeds);
    assert_eq!(again.wait_exit(Duration::from_secs(120)), Some(0));
    each_page_once_over(&[&first, &second], PAGES);
    assert!(status()["paused"].is_null(), "resumed");
}

/// A crawl stopped and re-attached goes on where its reader stopped, and `--cancel` removes
/// everything it kept on the server.
#[test]
fn a_crawl_reattaches_and_cancel_removes_its_state() {
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    const PAGES: usize = 20;
    let server = site(Ipv4Addr::LOCALHOST, PAGES, Duration::from_millis(40));
    let home = Home::new();
    let first = home.path("first.jsonl");
    let second = home.path("second.jsonl");
    let seeds = [server.url("/")];
    let _a = Process::worker(&home, &nats, "a");
    let mut attached = Process::crawl(&home, &nats, "again", &first, &["--per-host", "1"], &seeds);
    assert!(eventually(Duration::from_secs(60), || records(&first).len() >= 3));
    // Stopped as Ctrl-C would: it acks what it wrote and leaves the crawl to the workers, which
    // fetch every page meanwhile. Run again, the command reads the records it had not read
    // rather than starting a recrawl.
    support::send_signal(attached.0.id(), libc::SIGINT);
    attached.wait_exit(Duration::from_secs(20));
    let fetched = eventually(Duration::from_secs(60), || {
        let status = &queue_status(&home, &nats)["crawls"]["again"];
        status["emitted"] == serde_json::json!(PAGES + 1) && status["in_flight"] == 0 && status["queued"] == 0
    });
    let status = queue_status(&home, &nats);
    assert!(fetched, "the workers fetched every page: {status}");
    assert!(
        status["crawls"]["again"]["unread"].as_u64().unwrap_or(0) > 0,
        "records wait for the command: {status}"
    );
    let mut again = Process::crawl(&home, &nats, "again", &second, &[], &seeds);
    assert_eq!(again.wait_exit(Duration::from_secs(120)), Some(0));
    each_page_once_over(&[&first, &second], PAGES);

    let before = queue_status(&home, &nats);
    let crawl = &before["crawls"]["again"];
    assert_eq!(crawl["emitted"], serde_json::json!(PAGES + 1), "{before}");
    assert_eq!(crawl["ended"], "done", "{before}");
    assert_eq!(crawl["queued"], 0, "{before}");
    assert_eq!(crawl["hosts"], 1, "{before}");

    let cancel = home
        .command(&["crawl", "--nats", &nats.url(), "--name", "again", "--cancel"])
        .output()
        .expect("cancel");
    assert!(cancel.status.success(), "{}", String::from_utf8_lossy(&cancel.stderr));
    let after = queue_status(&home, &nats);
    assert_eq!(after["crawls"], serde_json::json!({}), "{after}");
    let streams = std::fs::read_dir(nats.store().join("jetstream/$G/streams"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    assert!(
        streams.iter().all(|s| !s.contains("CRAWL_again")),
        "the crawl's streams and buckets are gone: {streams:?}"
    );
    let missing = home
        .command(&["crawl", "--nats", &nats.url(), "--name", "again", "--cancel"])
        .output()
        .expect("cancel again");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no crawl named"));
}

/// The NATS server killed (`-9`) and started again on its store mid-crawl: the workers and the
/// attached command reconnect, and the crawl finishes with every page once. (The server
/// delivers again records whose acks it had not written down when it was killed; the command
/// passes a URL it already wrote over.)
#[test]
fn a_crawl_goes_on_after_the_nats_server_restarts() {
    let Some(mut nats) = NatsServer::start_or_skip() else {
        return;
    };
    const PAGES: usize = 30;
    let mut run = CrawlRun::mid_crawl(&nats, "restarted", PAGES, &["--per-host", "2", "--concurrency", "4"], 5);
    nats.restart();
    assert_eq!(run.crawl.wait_exit(Duration::from_secs(180)), Some(0));
    let counts = every_page_once_at_least(&run.output, &run.server, PAGES);
    assert!(counts.values().all(|n| *n == 1), "each page once: {counts:?}");
}

/// `--format markdown` across machines as on one: a file per page in the site's layout, under
/// its title, and the folder's `index.jsonl`.
#[test]
fn a_crawl_across_machines_writes_markdown() {
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    const PAGES: usize = 6;
    let server = site(Ipv4Addr::LOCALHOST, PAGES, Duration::from_millis(5));
    let home = Home::new();
    let dir = home.path("site-md");
    let _a = Process::worker(&home, &nats, "a");
    let mut crawl = Process::crawl(&home, &nats, "md", &dir, &["--format", "markdown"], &[server.url("/")]);
    assert_eq!(crawl.wait_exit(Duration::from_secs(120)), Some(0));
    let index = records(&dir.join("index.jsonl"));
    assert_eq!(index.len(), PAGES + 1, "{index:?}");
    for line in &index {
        let file = dir.join(line["file"].as_str().expect("a file"));
        let text = std::fs::read_to_string(&file).expect("the page's Markdown");
        let title = line["title"].as_str().expect("a title");
        assert!(text.starts_with(&format!("# {title}\n")), "{}: {text}", file.display());
        assert!(text.contains("a page of the test site"), "{}: {text}", file.display());
    }
}

/// A site whose robots.txt lists two sitemaps (robots.txt and sitemaps are read by whichever
/// worker takes the host's robots lock), each listing pages that no page links to; `/` links to
/// nothing. `--delay-ms` keeps the reader on the host for a few seconds.
fn sitemap_site() -> LocalServer {
    let base = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let origin = base.clone();
    let page = |title: &str| {
        Reply::Html(format!(
            "<html><head><title>{title}</title></head><body><article><h1>{title}</h1><p>This is {title}, a page that only a sitemap lists, with enough words in it to be read as an article.</p></article></body></html>"
        ))
    };
    let sitemap = move |pages: &[&str]| {
        let origin = origin.get().map_or("", String::as_str);
        let urls: String = pages
            .iter()
            .map(|p| format!("<url><loc>{origin}{p}</loc></url>"))
            .collect();
        Reply::Data {
            content_type: "application/xml",
            body: format!(
                r#"<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>"#
            )
            .into_bytes(),
        }
    };
    let server = LocalServer::start(move |target| match target {
        "/robots.txt" => Reply::Data {
            content_type: "text/plain",
            body: b"User-agent: *\nAllow: /\nSitemap: /one.xml\nSitemap: /two.xml\n".to_vec(),
        },
        "/one.xml" => sitemap(&["/a", "/b"]),
        "/two.xml" => sitemap(&["/c", "/d"]),
        "/" => page("Home"),
        "/a" | "/b" | "/c" | "/d" => page(target),
        _ => Reply::NotFound,
    })
    .expect("start the site");
    base.set(server.url("").trim_end_matches('/').to_string())
        .expect("set once");
    server
}

/// How many times the server was asked for `target`.
fn asked(server: &LocalServer, target: &str) -> usize {
    server.received().iter().filter(|r| r.target == target).count()
}

impl CrawlRun {
    /// [`sitemap_site`] crawled by the `workers` named, a turn every 2.5 s.
    fn sitemaps(nats: &NatsServer, name: &str, workers: &[&str]) -> Self {
        let flags = ["--per-host", "1", "--delay-ms", "2500"];
        Self::start(nats, sitemap_site(), name, workers, &flags)
    }

    /// Waits for the crawl of [`sitemap_site`] to end, then checks each page was emitted and
    /// fetched once.
    fn each_page_once(mut self) -> LocalServer {
        assert_eq!(self.crawl.wait_exit(Duration::from_secs(120)), Some(0));
        let counts = emitted(&self.output);
        assert_eq!(counts.len(), 5, "the home page and the sitemaps' four: {counts:?}");
        for page in ["/", "/a", "/b", "/c", "/d"] {
            assert_eq!(asked(&self.server, page), 1, "{page} fetched once");
        }
        drop((self.workers, self.home));
        self.server
    }
}

/// The robots lock is a lease renewed while its holder reads robots.txt and the sitemaps: held
/// more than twice as long as the lease lives (`ack_wait_secs` 2, a turn every 2.5 s), while
/// the other worker waits on the host for its rules, robots.txt is still fetched once.
#[test]
fn a_hosts_robots_txt_is_read_once_while_its_reader_is_slow() {
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    let server = CrawlRun::sitemaps(&nats, "slowrobots", &["a", "b"]).each_page_once();
    assert_eq!(asked(&server, "/robots.txt"), 1, "{:?}", server.received());
    assert_eq!(asked(&server, "/two.xml"), 1, "{:?}", server.received());
}

/// The worker holding a host's robots lock is killed (`-9`) while it reads the host's
/// sitemaps: once its lease expires, another worker takes the host over, reads robots.txt and
/// the sitemaps again, and every page the sitemaps list is crawled, each once.
#[test]
fn a_dead_robots_readers_host_is_taken_over() {
    let Some(nats) = NatsServer::start_or_skip() else {
        return;
    };
    let mut run = CrawlRun::sitemaps(&nats, "deadrobots", &["a"]);
    assert!(
        eventually(Duration::from_secs(60), || asked(&run.server, "/one.xml") == 1),
        "the first worker reads the sitemaps"
    );
    run.workers[0].kill_9();
    assert_eq!(
        asked(&run.server, "/two.xml"),
        0,
        "killed before it read the second sitemap"
    );
    run.workers.push(Process::worker(&run.home, &nats, "b"));
    // The sitemap pages the killed worker may have queued are queued again by the next reader,
    // and JetStream drops the copies: each page is still fetched once.
    let server = run.each_page_once();
    assert_eq!(
        asked(&server, "/robots.txt"),
        2,
        "read again by the worker that took over"
    );
}
