//! Replays the reliability audits (issue 15, rows `audit` and `15.N`; issue 28, rows `28.N`):
//! the `riptide` binary against pages, files, signals and clients that misbehave, all made
//! locally, and prints one row per scenario: what was expected, what happened, and whether that
//! is right.
//!
//! ```text
//! cargo build --bin riptide && cargo run --example fault_injection [ITEM...]
//! ```
//!
//! `ITEM`s pick rows by their item's prefix (`28`, `15.3`); none runs every row.
//!
//! The binary is `$RIPTIDE_BIN`, else the `riptide` next to this example's build directory.
//! Chromium is needed for the headless rows (they say so when it is missing). Exit status 1 if
//! any row is wrong. Every run gets its own temporary home and `TMPDIR`, so nothing of yours is
//! touched; each riptide run is bounded by a guard of two minutes.

#[path = "support/local_server.rs"]
mod local_server;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use local_server::{LocalServer, Reply};

/// How a check says it could not run here (and why), rather than right or wrong.
const SKIP: &str = "skip: ";

/// The longest any riptide run may take before the row fails as a hang.
const GUARD: Duration = Duration::from_secs(120);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bin = riptide_binary()?;
    let world = World::start()?;
    let chrome = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
        .iter()
        .any(|p| Path::new(p).is_file())
        || std::env::var_os("RIPTIDE_CHROME_PATH").is_some();
    println!("riptide: {}\n", bin.display());
    println!(
        "{:<6} {:<52} {:<9} {:>7}  outcome",
        "item", "scenario", "verdict", "secs"
    );
    // Arguments pick rows by item prefix (`28`, `15.3`); none runs them all.
    let only: Vec<String> = std::env::args().skip(1).collect();
    let mut wrong = 0;
    for scenario in scenarios() {
        if !only.is_empty() && !only.iter().any(|prefix| scenario.item.starts_with(prefix.as_str())) {
            continue;
        }
        let started = Instant::now();
        let (verdict, outcome) = if scenario.headless && !chrome {
            ("skipped", "Chromium is not installed".to_string())
        } else {
            match (scenario.run)(&Ctx {
                bin: &bin,
                world: &world,
            }) {
                Ok(outcome) if outcome.starts_with(SKIP) => ("skipped", outcome[SKIP.len()..].to_string()),
                Ok(outcome) => ("ok", outcome),
                Err(outcome) => {
                    wrong += 1;
                    ("WRONG", outcome)
                }
            }
        };
        println!(
            "{:<6} {:<52} {:<9} {:>7.1}  {}",
            scenario.item,
            scenario.name,
            verdict,
            started.elapsed().as_secs_f64(),
            outcome.replace('\n', " ")
        );
        std::io::stdout().flush()?;
    }
    println!("\n{wrong} wrong");
    if wrong > 0 {
        std::process::exit(1);
    }
    Ok(())
}

fn riptide_binary() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("RIPTIDE_BIN") {
        return Ok(PathBuf::from(bin));
    }
    // target/<profile>/examples/fault_injection -> target/<profile>/riptide
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("riptide"))
        .filter(|b| b.is_file())
        .ok_or("no riptide binary: run `cargo build --bin riptide` first, or set RIPTIDE_BIN")?;
    Ok(bin)
}

/// The local servers every scenario uses.
struct World {
    http: LocalServer,
    /// Requests to `/hang` so far, for a row to wait on.
    hangs: Arc<(Mutex<usize>, Condvar)>,
    other_host: LocalServer,
    tls: LocalServer,
}

impl World {
    fn start() -> std::io::Result<Self> {
        let other_host = LocalServer::start_on([127, 0, 0, 2].into(), |_| {
            Reply::Html("<!doctype html><title>moved</title><article><p>The page after the redirect, long enough to be an article, with <a href=\"/next\">a relative link</a>.</p></article>".into())
        })?;
        let moved: &'static str = Box::leak(other_host.url("/article").into_boxed_str());
        // Bound, then closed: nothing listens on this port.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")?;
        let refused = format!("http://127.0.0.1:{}/gone", closed.local_addr()?.port());
        drop(closed);
        let refresh_to_refused = format!(
            "<!doctype html><title>moving</title><meta http-equiv=\"refresh\" content=\"0;url={refused}\"><p>Moving on.</p>"
        );
        let hangs = Arc::new((Mutex::new(0), Condvar::new()));
        let counted = hangs.clone();
        let bomb = gzip_bomb();
        let http = LocalServer::start(move |target| {
            match target.split('?').next().unwrap_or("") {
            "/ok" => Reply::Html(ARTICLE.into()),
            "/404" => Reply::NotFound,
            "/image" => Reply::Data {
                content_type: "image/png",
                body: b"\x89PNG\r\n\x1a\n".to_vec(),
            },
            "/huge" => Reply::Html("<p>huge</p>".repeat(2_000_000)),
            "/bomb" => Reply::Gzip {
                content_type: "text/html",
                body: bomb.clone(),
            },
            "/hang" => {
                *counted.0.lock().unwrap_or_else(PoisonError::into_inner) += 1;
                counted.1.notify_all();
                Reply::Hang
            }
            "/loop" => Reply::Redirect("/loop"),
            "/to-file" => Reply::Redirect("file:///etc/hostname"),
            "/moved" => Reply::Redirect(moved),
            "/cp1251" => Reply::Data {
                content_type: "text/html",
                body: encoding_rs::WINDOWS_1251
                    .encode("<!doctype html><html><head><meta charset=\"windows-1251\"><title>Новости</title></head><body><article><p>Съешь же ещё этих мягких французских булок.</p></article></body></html>")
                    .0
                    .into_owned(),
            },
            "/spin" => Reply::Html("<!doctype html><title>spin</title><script>while (true) {}</script>".into()),
            "/alert" => Reply::Html("<!doctype html><title>alert</title><script>alert('hi')</script><article><p>After the dialog, the article goes on long enough to be one.</p></article>".into()),
            "/trickle" => Reply::Trickle {
                head: "<!doctype html><title>trickle</title><p>".into(),
                every: Duration::from_secs(1),
            },
            "/hog" => Reply::Html("<!doctype html><title>hog</title><script>const keep = []; for (let i = 0; i < 256; i++) keep.push(new Uint8Array(16 << 20).fill(1));</script>".into()),
            // Issue 28's pages.
            "/heap-hog" => Reply::Html("<!doctype html><title>heap hog</title><script>const keep = []; for (;;) keep.push(new Array(100000).fill({ n: keep.length }));</script>".into()),
            "/refresh-to-refused" => Reply::Html(refresh_to_refused.clone()),
            "/pdf" => Reply::Data {
                content_type: "application/pdf",
                body: b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec(),
            },
            "/binary" => Reply::Data {
                content_type: "application/octet-stream",
                body: (0..4096u32).map(|i| (i % 251) as u8).collect(),
            },
            "/deep-b" => Reply::Html(deep_page("<b>", "", 1_000)),
            "/deep-div" => Reply::Html(deep_page("<div>", "</div>", 2_000)),
            "/deeper-div" => Reply::Html(deep_page("<div>", "</div>", 100_000)),
            _ => Reply::NotFound,
        }
        })?;
        Ok(Self {
            http,
            hangs,
            other_host,
            tls: self_signed_server()?,
        })
    }
}

/// A page whose article sits under `depth` levels of `open` (closed by `close`, if given), and
/// says [`AFTER_THE_NEST`] after them.
fn deep_page(open: &str, close: &str, depth: usize) -> String {
    format!(
        "<!doctype html><title>deep</title>{}<article><p>{AFTER_THE_NEST}, and this paragraph is long enough to be read as the article of the page.</p></article>{}",
        open.repeat(depth),
        close.repeat(depth)
    )
}

/// What a deep page says after its nesting.
const AFTER_THE_NEST: &str = "The words after the nest";

const ARTICLE: &str = "<!doctype html><html lang=\"en\"><head><title>A fine page</title></head><body><article><h1>A fine page</h1><p>This page is served normally and is long enough to be read as an article by the extractor.</p></article></body></html>";

/// 1 GiB of zeros, gzipped (about 1 MB).
fn gzip_bomb() -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        let _ = encoder.write_all(&zeros);
    }
    encoder.finish().unwrap_or_default()
}

fn self_signed_server() -> std::io::Result<LocalServer> {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).map_err(std::io::Error::other)?;
    let key = tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
    let tls = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_no_client_auth()
    .with_single_cert(vec![made.cert.der().clone()], key)
    .map_err(std::io::Error::other)?;
    LocalServer::start_tls(Arc::new(tls), |_| Reply::Html(ARTICLE.into()))
}

struct Ctx<'a> {
    bin: &'a Path,
    world: &'a World,
}

/// A run's own home and `TMPDIR`, removed afterwards.
struct Run {
    home: tempfile::TempDir,
    tmp: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Run {
    fn new() -> Self {
        Self {
            home: tempfile::tempdir().expect("a temporary home"),
            tmp: tempfile::tempdir().expect("a temporary TMPDIR"),
            // Short timeouts: the hanging rows fail in seconds.
            env: vec![
                ("RIPTIDE_TIMEOUT_MIN".into(), "1".into()),
                ("RIPTIDE_TIMEOUT_DEFAULT".into(), "2".into()),
                ("RIPTIDE_TIMEOUT_MAX".into(), "3".into()),
            ],
        }
    }

    fn env(mut self, key: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }

    fn command(&self, ctx: &Ctx, args: &[&str]) -> Command {
        let mut command = Command::new(ctx.bin);
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("RIPTIDE_") && k != "RIPTIDE_CHROME_PATH") {
            command.env_remove(key);
        }
        command
            .arg("--home")
            .arg(self.home.path())
            .args(args)
            .env("TMPDIR", self.tmp.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    fn spawn(&self, ctx: &Ctx, args: &[&str]) -> Result<Child, String> {
        self.command(ctx, args)
            .spawn()
            .map_err(|e| format!("cannot start riptide: {e}"))
    }

    fn run(&self, ctx: &Ctx, args: &[&str]) -> Result<Output, String> {
        finish(self.spawn(ctx, args)?)
    }

    /// Browser processes of this run still running.
    fn browsers(&self) -> usize {
        processes_mentioning(&self.tmp.path().display().to_string())
    }
}

/// Waits for `child`, killing it at the guard.
fn finish(child: Child) -> Result<Output, String> {
    let pid = child.id();
    let (exited, exit) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = exited.send(child.wait_with_output());
    });
    match exit.recv_timeout(GUARD) {
        Ok(out) => out.map_err(|e| e.to_string()),
        Err(_) => {
            signal(pid, libc::SIGKILL);
            Err(format!("hung: still running after {GUARD:?}"))
        }
    }
}

fn processes_mentioning(marker: &str) -> usize {
    processes_where(|line| line.contains(marker))
}

/// Processes still running (not zombies) whose command line passes `wanted`.
fn processes_where(wanted: impl Fn(&str) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let running = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .and_then(|(_, r)| r.split_whitespace().next().map(str::to_string))
                })
                .is_some_and(|state| state != "Z" && state != "X");
            running && std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| wanted(&String::from_utf8_lossy(&c)))
        })
        .count()
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The exit code and a short reason from stderr's first `error:` line.
fn summary(o: &Output) -> String {
    let err = stderr(o);
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .or_else(|| err.lines().last())
        .unwrap_or("");
    let line: String = line.chars().take(110).collect();
    format!("exit {:?}: {line}", o.status.code())
}

/// Checks a finished run: exit code, words in stderr, no panic.
fn expect(o: &Output, code: i32, mentions: &[&str]) -> Result<String, String> {
    let err = stderr(o);
    let got = summary(o);
    if err.contains("panicked") {
        return Err(format!("panicked: {got}"));
    }
    if o.status.code() != Some(code) {
        return Err(format!("expected exit {code}, {got}"));
    }
    if let Some(missing) = mentions.iter().find(|m| !err.contains(*m)) {
        return Err(format!("stderr does not mention {missing:?}: {got}"));
    }
    Ok(got)
}

/// The records `riptide extract` printed (its default format, one JSON array).
fn records(o: &Output) -> Vec<serde_json::Value> {
    serde_json::from_slice::<Vec<serde_json::Value>>(&o.stdout).unwrap_or_default()
}

/// The first failure's `error_kind` (`Error::code()`): `fetch.*` when the page failed as what
/// it is, `retry.exhausted` when attempts were retried until none were left.
fn error_kind(o: &Output) -> Option<String> {
    records(o)
        .iter()
        .find_map(|r| r.get("error_kind")?.as_str().map(str::to_string))
}

/// A scenario's check: `Ok(what happened)` when right, `Err(what happened)` when wrong.
type Check = Box<dyn Fn(&Ctx) -> Result<String, String>>;

struct Scenario {
    item: &'static str,
    name: &'static str,
    headless: bool,
    run: Check,
}

fn row(item: &'static str, name: &'static str, run: impl Fn(&Ctx) -> Result<String, String> + 'static) -> Scenario {
    Scenario {
        item,
        name,
        headless: false,
        run: Box::new(run),
    }
}

fn headless(
    item: &'static str,
    name: &'static str,
    run: impl Fn(&Ctx) -> Result<String, String> + 'static,
) -> Scenario {
    Scenario {
        item,
        name,
        headless: true,
        run: Box::new(run),
    }
}

fn scenarios() -> Vec<Scenario> {
    vec![
        row("audit", "an invalid URL", |c| {
            expect(&Run::new().run(c, &["extract", "ht!tp://x y"])?, 1, &["error:"])
        }),
        row("audit", "an unsupported scheme (ftp://)", |c| {
            expect(&Run::new().run(c, &["extract", "ftp://example.com/"])?, 1, &["ftp"])
        }),
        row("audit", "HTTP 404", |c| {
            expect(
                &Run::new().run(c, &["extract", &c.world.http.url("/404")])?,
                1,
                &["404"],
            )
        }),
        row("audit", "not HTML (image/png)", |c| {
            expect(
                &Run::new().run(c, &["extract", &c.world.http.url("/image")])?,
                1,
                &["image/png"],
            )
        }),
        row("audit", "a 22 MB body (over the 16 MiB limit)", |c| {
            expect(
                &Run::new().run(c, &["extract", &c.world.http.url("/huge")])?,
                1,
                &["limit"],
            )
        }),
        row("audit", "a gzip bomb (1 GiB of zeros, ~1 MB on the wire)", |c| {
            expect(
                &Run::new().run(c, &["extract", &c.world.http.url("/bomb")])?,
                1,
                &["limit"],
            )
        }),
        row("audit", "a server that never answers", |c| {
            expect(
                &Run::new().run(c, &["extract", &c.world.http.url("/hang")])?,
                1,
                &["gave up"],
            )
        }),
        row("audit", "bad configuration (unknown key)", |c| {
            let run = Run::new();
            std::fs::write(
                run.home.path().join("config.toml"),
                "[optimizations.browser_pool]\nmax_instancez = 3\n",
            )
            .map_err(|e| e.to_string())?;
            expect(
                &run.run(c, &["extract", &c.world.http.url("/ok")])?,
                1,
                &["max_instancez"],
            )
        }),
        row("15.2", "timeouts.redb with flipped bytes (8 offsets)", |c| {
            damaged_store(c, "timeouts.redb")
        }),
        row("15.2", "wasm-cache/index.redb with flipped bytes (8 offsets)", |c| {
            damaged_store(c, "wasm-cache/index.redb")
        }),
        row("audit", "a garbage timeouts.redb", |c| {
            let run = Run::new();
            std::fs::write(run.home.path().join("timeouts.redb"), b"not a database".repeat(100))
                .map_err(|e| e.to_string())?;
            let out = expect(&run.run(c, &["extract", &c.world.http.url("/ok")])?, 0, &[])?;
            if !run.home.path().join("timeouts.redb.damaged").exists() {
                return Err("the garbage file was not set aside".into());
            }
            Ok(out)
        }),
        row("15.3", "a self-signed certificate, static engine", |c| {
            let o = Run::new().run(c, &["extract", "--engine", "static", &c.world.tls.url("/")])?;
            let out = expect(&o, 1, &["accept_invalid_certs"])?;
            match error_kind(&o).as_deref() {
                Some("fetch.network") => Ok(out),
                kind => Err(format!("retried ({kind:?}): {out}")),
            }
        }),
        headless("15.3", "a self-signed certificate, headless", |c| {
            expect(
                &Run::new().run(c, &["extract", "--engine", "headless", &c.world.tls.url("/")])?,
                1,
                &["Tls"],
            )
        }),
        headless("15.1", "a page that never yields (while (true) {})", |c| {
            expect(
                &Run::new().run(c, &["extract", "--engine", "headless", &c.world.http.url("/spin")])?,
                1,
                &["gave up"],
            )
        }),
        headless("15.1", "a page that calls alert()", |c| {
            expect(
                &Run::new().run(c, &["extract", "--engine", "headless", &c.world.http.url("/alert")])?,
                0,
                &[],
            )
        }),
        headless(
            "15.1",
            "a body sent at 1 byte/s (issue 10: taken as it stands, partial)",
            |c| {
                let o = Run::new().run(c, &["extract", "--engine", "headless", &c.world.http.url("/trickle")])?;
                let got = expect(&o, 0, &[])?;
                if !records(&o).iter().any(|r| r["partial"] == true) {
                    return Err(format!("not marked partial: {got}"));
                }
                Ok(got)
            },
        ),
        headless("15.4", "a page allocating in a loop (limit 300 MB)", |c| {
            let run = Run::new().env("RIPTIDE_OPTIMIZATIONS__BROWSER_POOL__RENDER_MEMORY_LIMIT_MB", "300");
            let run = run
                .env("RIPTIDE_TIMEOUT_MAX", "30")
                .env("RIPTIDE_TIMEOUT_DEFAULT", "30");
            expect(
                &run.run(c, &["extract", "--engine", "headless", &c.world.http.url("/hog")])?,
                1,
                &["render memory limit"],
            )
        }),
        row("15.5", "a dead port does not fail a live one on the same host", |c| {
            let live: Vec<String> = (0..5).map(|i| c.world.http.url(&format!("/ok?{i}"))).collect();
            let mut args = vec![
                "extract",
                "--concurrency",
                "1",
                "http://127.0.0.1:1/",
                "http://127.0.0.1:1/again",
            ];
            args.extend(live.iter().map(String::as_str));
            let o = Run::new().run(c, &args)?;
            let out = expect(&o, 1, &["extracted 5 of 7"])?;
            Ok(out)
        }),
        row("15.7", "windows-1251 declared only in <meta charset>", |c| {
            let o = Run::new().run(c, &["extract", "--format", "jsonl", &c.world.http.url("/cp1251")])?;
            let out = expect(&o, 0, &[])?;
            if !String::from_utf8_lossy(&o.stdout).contains("Съешь") {
                return Err("the text came out garbled".into());
            }
            Ok(out)
        }),
        headless("15.8", "a headless page reached by redirect to another host", |c| {
            let o = Run::new().run(
                c,
                &[
                    "extract",
                    "--engine",
                    "headless",
                    "--format",
                    "jsonl",
                    &c.world.http.url("/moved"),
                ],
            )?;
            let out = expect(&o, 0, &[])?;
            let stdout = String::from_utf8_lossy(&o.stdout);
            let next = c.world.other_host.url("/next");
            if !stdout.contains(&next) {
                return Err(format!("links do not resolve against the final host ({next} missing)"));
            }
            Ok(out)
        }),
        row("15.11", "a private address with allow_private_addresses = false", |c| {
            let run = Run::new().env("RIPTIDE_NETWORK__ALLOW_PRIVATE_ADDRESSES", "false");
            let url = c.world.http.url("/ok").replace("127.0.0.1", "localhost");
            expect(&run.run(c, &["extract", &url])?, 1, &["address policy"])
        }),
        row("15.11", "a local file with allow_file_urls = false", |c| {
            let run = Run::new().env("RIPTIDE_NETWORK__ALLOW_FILE_URLS", "false");
            expect(&run.run(c, &["extract", "/etc/hostname"])?, 1, &["allow_file_urls"])
        }),
        row("15.13", "a redirect loop is not retried", |c| {
            let o = Run::new().run(c, &["extract", &c.world.http.url("/loop")])?;
            let out = expect(&o, 1, &["redirect"])?;
            match error_kind(&o).as_deref() {
                Some("fetch.network") => Ok(out),
                kind => Err(format!("retried ({kind:?}): {out}")),
            }
        }),
        row("15.13", "a redirect to file:///etc/hostname", |c| {
            expect(
                &Run::new().run(c, &["extract", &c.world.http.url("/to-file")])?,
                1,
                &["redirect"],
            )
        }),
        row("15.14", "timeouts.redb the user may not read (EACCES)", |c| {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
                return Ok(format!("{SKIP}root reads files whatever their mode"));
            }
            let run = Run::new();
            expect(&run.run(c, &["extract", &c.world.http.url("/ok")])?, 0, &[])?;
            let store = run.home.path().join("timeouts.redb");
            std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o000)).map_err(|e| e.to_string())?;
            let out = expect(&run.run(c, &["extract", &c.world.http.url("/ok")])?, 0, &[]);
            let _ = std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o600));
            if run.home.path().join("timeouts.redb.damaged").exists() || !store.exists() {
                return Err("a permission error was taken for damage: the file was moved".into());
            }
            out
        }),
        row("15.15", "a cache directory that cannot be created", |c| {
            let run = Run::new();
            let blocker = run.home.path().join("wasm-cache");
            std::fs::write(&blocker, b"a file in the way").map_err(|e| e.to_string())?;
            expect(&run.run(c, &["extract", &c.world.http.url("/ok")])?, 0, &[])
        }),
        row("15.10", "a world-writable cache directory", |c| {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            let run = Run::new();
            let cache = run.home.path().join("wasm-cache");
            std::fs::create_dir_all(&cache).map_err(|e| e.to_string())?;
            std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).map_err(|e| e.to_string())?;
            let out = expect(&run.run(c, &["extract", &c.world.http.url("/ok")])?, 0, &[])?;
            let mode = std::fs::metadata(&cache).map_err(|e| e.to_string())?.mode() & 0o777;
            if mode != 0o700 {
                return Err(format!("left at mode {mode:o}"));
            }
            Ok(format!("{out} (repaired to 700)"))
        }),
        row("15.16", "a non-UTF-8 line in --input", |c| {
            let run = Run::new();
            let list = run.home.path().join("urls.txt");
            std::fs::write(&list, [c.world.http.url("/ok").as_bytes(), b"\n\xff\xfe\n"].concat())
                .map_err(|e| e.to_string())?;
            expect(
                &run.run(c, &["extract", "--input", &list.display().to_string()])?,
                1,
                &["line 2"],
            )
        }),
        row("15.17", "three processes learning on one home", |c| {
            let run = Run::new();
            let urls: Vec<String> = (0..5).map(|i| c.world.http.url(&format!("/ok?{i}"))).collect();
            let mut args = vec!["extract", "--engine", "static"];
            args.extend(urls.iter().map(String::as_str));
            let children: Vec<Child> = (0..3).map(|_| run.spawn(c, &args)).collect::<Result<_, _>>()?;
            for child in children {
                expect(&finish(child)?, 0, &[])?;
            }
            let o = run.run(c, &["timeout", "profiles", "--format", "json"])?;
            let profiles: serde_json::Value = serde_json::from_slice(&o.stdout).map_err(|e| e.to_string())?;
            let samples = profiles[0]["samples"].as_u64().unwrap_or(0);
            if samples == 15 {
                Ok("15 samples kept of 3 x 5".to_string())
            } else {
                Err(format!("{samples} samples kept of 3 x 5"))
            }
        }),
        headless("15.6/12", "SIGINT mid-render", |c| interrupted(c, libc::SIGINT, 130)),
        headless("15.6", "SIGTERM mid-render", |c| interrupted(c, libc::SIGTERM, 143)),
        headless("15.6", "kill -9 of riptide mid-render", |c| {
            let (run, mut child) = hanging_render(c)?;
            let had = run.browsers();
            let _ = child.kill();
            let _ = child.wait();
            let until = Instant::now() + Duration::from_secs(30);
            while run.browsers() > 0 && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50));
            }
            match run.browsers() {
                0 => Ok(format!("{had} browser processes, all gone")),
                n => Err(format!("{n} of {had} browser processes outlived riptide")),
            }
        }),
        // Issue 28: the second audit.
        headless("28.1", "a pooled browser's DevTools port (other users)", |c| {
            let (run, child) = hanging_render(c)?;
            let dir = run.tmp.path().display().to_string();
            let tcp = processes_mentioning_both(&dir, "--remote-debugging-port");
            let piped = processes_mentioning_both(&dir, "--remote-debugging-pipe");
            signal(child.id(), libc::SIGINT);
            let _ = finish(child);
            match (tcp, piped) {
                (0, 1..) => Ok("browsers run with --remote-debugging-pipe; none listens on a DevTools port".into()),
                (0, 0) => Err("no browser was found running".into()),
                (n, _) => Err(format!(
                    "{n} browser processes listen on a TCP DevTools port any local user can reach"
                )),
            }
        }),
        row("28.2", "serve driven from a web page (type, Host, Origin)", |c| {
            let serve = Serve::start(c, &Run::new())?;
            let body = format!(r#"{{"urls":["{}"]}}"#, c.world.http.url("/ok"));
            let plain = serve.post("/v1/extract", &body, &[("Content-Type", "text/plain")])?;
            let rebound = serve.post("/v1/extract", &body, &[("Host", "rebound.example:80")])?;
            let cross = serve.post("/v1/extract", &body, &[("Origin", "https://evil.example")])?;
            let got = format!("text/plain {plain}, foreign Host {rebound}, cross-site Origin {cross}");
            if (plain, rebound, cross) == (415, 421, 403) {
                Ok(got)
            } else {
                Err(got)
            }
        }),
        row("28.3", "deep HTML: 1,000 unclosed <b>", |c| deep(c, "/deep-b")),
        row("28.3", "deep HTML: 2,000 nested <div>", |c| deep(c, "/deep-div")),
        row("28.3", "deep HTML: 100,000 nested <div>", |c| deep(c, "/deeper-div")),
        row("28.4", "cached artifacts rewritten in place under 3 processes", |c| {
            let run = Run::new();
            expect(&run.run(c, &["extract", &c.world.http.url("/ok")])?, 0, &[])?;
            let artifacts: Vec<PathBuf> = std::fs::read_dir(run.home.path().join("wasm-cache/artifacts"))
                .map_err(|e| format!("no artifacts after a run: {e}"))?
                .flatten()
                .map(|e| e.path())
                .collect();
            let urls: Vec<String> = (0..10).map(|i| c.world.http.url(&format!("/ok?{i}"))).collect();
            let mut args = vec!["extract", "--engine", "static"];
            args.extend(urls.iter().map(String::as_str));
            let mut runs = 0;
            for _ in 0..5 {
                let children: Vec<Child> = (0..3).map(|_| run.spawn(c, &args)).collect::<Result<_, _>>()?;
                for path in &artifacts {
                    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
                    // As `cp` does: the same file truncated and written again.
                    std::fs::write(path, &bytes).map_err(|e| e.to_string())?;
                }
                for child in children {
                    expect(&finish(child)?, 0, &[])?;
                    runs += 1;
                }
            }
            Ok(format!("{runs} runs, none crashed"))
        }),
        headless("28.5", "a render sent by <meta refresh> to a refused port", |c| {
            // A failure (retried as any refused connection is), naming Chromium's error and
            // the URL that failed; never Chromium's error page as the page.
            let o = Run::new().run(
                c,
                &[
                    "extract",
                    "--engine",
                    "headless",
                    &c.world.http.url("/refresh-to-refused"),
                ],
            )?;
            expect(
                &o,
                1,
                &["net::ERR_CONNECTION_REFUSED", "/gone, where the page sent itself"],
            )
        }),
        headless("28.6", "a page filling its JavaScript heap", |c| {
            let run = Run::new()
                .env("RIPTIDE_TIMEOUT_DEFAULT", "20")
                .env("RIPTIDE_TIMEOUT_MAX", "20");
            let o = run.run(c, &["extract", "--engine", "headless", &c.world.http.url("/heap-hog")])?;
            let out = expect(&o, 1, &[])?;
            match error_kind(&o).as_deref() {
                Some("fetch.render_memory_exceeded") => Ok(out),
                kind => Err(format!("{kind:?}, not render_memory_exceeded (item 6 open): {out}")),
            }
        }),
        headless("28.7", "a browser directory pre-made by another user", |c| {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            if std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0) != 0 {
                return Ok(format!("{SKIP}needs root to make a directory another user owns"));
            }
            let run = Run::new();
            let uid = std::fs::metadata("/proc/self").map_err(|e| e.to_string())?.uid();
            let taken = run.tmp.path().join(format!("riptide-chrome-{uid}"));
            std::fs::create_dir(&taken).map_err(|e| e.to_string())?;
            std::fs::set_permissions(&taken, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
            std::os::unix::fs::chown(&taken, Some(65534), Some(65534)).map_err(|e| e.to_string())?;
            let out = expect(
                &run.run(c, &["extract", "--engine", "headless", &c.world.http.url("/ok")])?,
                0,
                &[],
            )?;
            let left: Vec<String> = std::fs::read_dir(run.tmp.path())
                .map_err(|e| e.to_string())?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("riptide-chrome") && *n != format!("riptide-chrome-{uid}"))
                .collect();
            if left.is_empty() {
                Ok(out)
            } else {
                Err(format!("left behind: {left:?}"))
            }
        }),
        row("28.8", "a read-only home keeps its learned timeouts", read_only_home),
        row("28.9", "an --input file that starts with a UTF-8 BOM", |c| {
            let run = Run::new();
            let list = run.home.path().join("urls.txt");
            std::fs::write(
                &list,
                [b"\xef\xbb\xbf".as_slice(), c.world.http.url("/ok").as_bytes(), b"\n"].concat(),
            )
            .map_err(|e| e.to_string())?;
            expect(
                &run.run(c, &["extract", "--input", &list.display().to_string()])?,
                0,
                &[],
            )
        }),
        row("28.10", "serve: a page that times out is 504", |c| {
            let serve = Serve::start(c, &Run::new())?;
            let body = format!(r#"{{"url":"{}"}}"#, c.world.http.url("/hang"));
            match serve.post("/v1/extract", &body, &[])? {
                504 => Ok("504".into()),
                status => Err(format!("{status}")),
            }
        }),
        row(
            "28.11",
            "every flag a hint names exists (serve on 0.0.0.0, no token)",
            |c| {
                let run = Run::new();
                let o = run.run(c, &["serve", "--listen", "0.0.0.0:0"])?;
                let out = expect(&o, 2, &["hint"]).or_else(|_| expect(&o, 1, &["hint"]))?;
                let help = String::from_utf8_lossy(&run.run(c, &["serve", "--help"])?.stdout).into_owned();
                let err = stderr(&o);
                let unknown: Vec<&str> = err
                    .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '-'))
                    .filter(|w| w.starts_with("--") && w.len() > 2)
                    .filter(|flag| !help.contains(flag))
                    .collect();
                if unknown.is_empty() {
                    Ok(out)
                } else {
                    Err(format!("unknown flags named: {unknown:?}"))
                }
            },
        ),
        headless("28.12", "a PDF, headless", |c| not_html(c, "/pdf")),
        headless("28.12", "an octet-stream body, headless", |c| not_html(c, "/binary")),
        row("28.12", "a directory given to --config", |c| {
            let run = Run::new();
            let dir = run.home.path().display().to_string();
            expect(
                &run.run(c, &["--config", &dir, "extract", &c.world.http.url("/ok")])?,
                1,
                &["directory"],
            )
        }),
        row("28.b", "serve: a batch over max_batch_urls (1,001 URLs)", |c| {
            let serve = Serve::start(c, &Run::new())?;
            let urls: Vec<String> = (0..1001)
                .map(|i| format!("\"{}\"", c.world.http.url(&format!("/ok?{i}"))))
                .collect();
            let body = format!(r#"{{"urls":[{}]}}"#, urls.join(","));
            match serve.post("/v1/extract", &body, &[])? {
                413 => Ok("413".into()),
                status => Err(format!("{status}")),
            }
        }),
        row("28.h", "serve: a client sending its headers a byte a second", |c| {
            use std::io::Read as _;
            let serve = Serve::start(c, &Run::new().env("RIPTIDE_SERVER__HEADER_READ_TIMEOUT_SECS", "2"))?;
            let mut stream = std::net::TcpStream::connect(&serve.addr).map_err(|e| e.to_string())?;
            stream
                .set_read_timeout(Some(Duration::from_millis(200)))
                .map_err(|e| e.to_string())?;
            let started = Instant::now();
            for byte in b"GET /health HTTP/1.1\r\nX-Slow: ".iter().cycle() {
                if started.elapsed() > Duration::from_secs(30) {
                    return Err("still open after 30 s".into());
                }
                if stream.write_all(&[*byte]).is_err() {
                    break;
                }
                let mut buf = [0u8; 512];
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                        std::thread::sleep(Duration::from_millis(800));
                    }
                    Err(_) => break,
                }
            }
            Ok(format!("closed after {:.1?}", started.elapsed()))
        }),
    ]
}

/// A static extraction of a deeply nested page: it succeeds, with the text after the nest.
fn deep(c: &Ctx, path: &str) -> Result<String, String> {
    let o = Run::new()
        .env("RIPTIDE_TIMEOUT_DEFAULT", "30")
        .env("RIPTIDE_TIMEOUT_MAX", "30")
        .run(
            c,
            &[
                "extract",
                "--engine",
                "static",
                "--format",
                "jsonl",
                &c.world.http.url(path),
            ],
        )?;
    let out = expect(&o, 0, &[]).map_err(|e| format!("{e} ({:?})", error_kind_of_lines(&o)))?;
    if String::from_utf8_lossy(&o.stdout).contains(AFTER_THE_NEST) {
        Ok(out)
    } else {
        Err(format!("the text after the nest is missing: {out}"))
    }
}

/// The first `error_kind` of JSON lines output.
fn error_kind_of_lines(o: &Output) -> Option<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|r| r.get("error_kind")?.as_str().map(str::to_string))
}

/// A body that is not HTML, rendered: it fails as `fetch.not_html` after one attempt.
fn not_html(c: &Ctx, path: &str) -> Result<String, String> {
    let o = Run::new().run(c, &["extract", "--engine", "headless", &c.world.http.url(path)])?;
    let out = expect(&o, 1, &[])?;
    let record = records(&o).into_iter().next().unwrap_or_default();
    match (record["error_kind"].as_str(), record["attempts"].as_u64()) {
        (Some("fetch.not_html"), Some(1) | None) => Ok(out),
        (kind, attempts) => Err(format!("{kind:?} after {attempts:?} attempts: {out}")),
    }
}

/// `riptide serve` of a run, on a port of the system's choosing; killed when dropped.
struct Serve {
    child: Child,
    addr: String,
}

impl Serve {
    fn start(c: &Ctx, run: &Run) -> Result<Self, String> {
        use std::io::BufRead as _;
        let mut child = run
            .command(c, &["serve", "--listen", "127.0.0.1:0", "--allow-private-addresses"])
            .env("RIPTIDE_POOL_ENABLED", "false")
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start riptide serve: {e}"))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let mut lines = std::io::BufReader::new(stderr).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(at) = line.trim().strip_prefix("riptide serve: listening on http://") {
                        break at.to_string();
                    }
                }
                _ => {
                    let _ = child.kill();
                    return Err("riptide serve ended before it listened".into());
                }
            }
        };
        // Keep reading its stderr, so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Self { child, addr })
    }

    /// POSTs `body` as JSON to `path` (with `headers` added or replacing the defaults): the
    /// answer's status.
    fn post(&self, path: &str, body: &str, headers: &[(&str, &str)]) -> Result<u16, String> {
        use std::io::Read as _;
        let mut head = vec![
            ("Host".to_string(), self.addr.clone()),
            ("Content-Type".to_string(), "application/json".to_string()),
        ];
        for (name, value) in headers {
            head.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            head.push(((*name).to_string(), (*value).to_string()));
        }
        let mut request = format!("POST {path} HTTP/1.1\r\n");
        for (name, value) in &head {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ));
        let mut stream = std::net::TcpStream::connect(&self.addr).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(GUARD)).map_err(|e| e.to_string())?;
        stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no HTTP answer: {:?}", answer.chars().take(80).collect::<String>()))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Processes still running whose command line mentions both `marker` and `flag`.
fn processes_mentioning_both(marker: &str, flag: &str) -> usize {
    processes_where(|line| line.contains(marker) && line.contains(flag))
}

/// Flips a byte at several offsets of a store file written by a first run; every later run must
/// extract, without a panic.
fn damaged_store(c: &Ctx, file: &str) -> Result<String, String> {
    let run = Run::new();
    expect(&run.run(c, &["extract", &c.world.http.url("/ok")])?, 0, &[])?;
    let path = run.home.path().join(file);
    let pristine = std::fs::read(&path).map_err(|e| format!("no {file} after a run: {e}"))?;
    let mut panics = 0;
    for at in (0..8).map(|i| (i * 4099 + 17) % pristine.len()) {
        let mut bytes = pristine.clone();
        bytes[at] ^= 0x5a;
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
        let o = run.run(c, &["extract", &c.world.http.url("/ok")])?;
        if o.status.code() != Some(0) {
            return Err(format!("offset {at}: {}", summary(&o)));
        }
        panics += usize::from(stderr(&o).contains("panicked"));
        let _ = std::fs::remove_file(path.with_extension("redb.damaged"));
    }
    Ok(format!(
        "8 runs extracted (redb printed a panic message in {panics}, contained)"
    ))
}

/// A home whose `timeouts.redb` and folder are read-only (as `nobody` when run as root, whom
/// file modes do not bind): `timeout profiles` lists what it learned, `extract` works and warns
/// once that it cannot save.
fn read_only_home(c: &Ctx) -> Result<String, String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    const NOBODY: u32 = 65534;
    let run = Run::new();
    let page = c.world.http.url("/ok");
    expect(&run.run(c, &["extract", "--engine", "static", &page])?, 0, &[])?;
    let home = run.home.path();
    let store = home.join("timeouts.redb");
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if root {
        for dir in [home, run.tmp.path()] {
            chown_all(dir, NOBODY).map_err(|e| format!("chown {}: {e}", dir.display()))?;
        }
    }
    let chmod = |path: &Path, mode: u32| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
    chmod(&store, 0o444).map_err(|e| e.to_string())?;
    chmod(home, 0o555).map_err(|e| e.to_string())?;
    let as_reader = |args: &[&str]| {
        let mut command = run.command(c, args);
        if root {
            command.uid(NOBODY).gid(NOBODY);
        }
        finish(command.spawn().map_err(|e| format!("cannot start riptide: {e}"))?)
    };
    let checked = (|| {
        let o = as_reader(&["timeout", "profiles", "--format", "json"])?;
        expect(&o, 0, &[])?;
        let profiles: serde_json::Value = serde_json::from_slice(&o.stdout).map_err(|e| e.to_string())?;
        if !profiles
            .as_array()
            .is_some_and(|all| all.iter().any(|p| p["host"] == "127.0.0.1"))
        {
            return Err(format!("the learned host is not listed: {profiles}"));
        }
        let o = as_reader(&["extract", "--engine", "static", &page])?;
        let out = expect(&o, 0, &[])?;
        let file = store.display().to_string();
        let warnings = stderr(&o)
            .lines()
            .filter(|l| l.contains("WARN") && l.contains(&file))
            .count();
        if warnings != 1 {
            return Err(format!("{warnings} warnings name {file}: {out}"));
        }
        Ok(format!("{out} (learned host listed, one warning)"))
    })();
    let _ = chmod(home, 0o700);
    let _ = chmod(&store, 0o600);
    if std::fs::metadata(&store).is_ok_and(|m| m.mode() & 0o777 != 0o600) {
        return Err("could not give the store its mode back".into());
    }
    checked
}

/// Gives `path` and everything under it to `uid` (and the group of the same number).
fn chown_all(path: &Path, uid: u32) -> std::io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(uid))?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_all(&entry?.path(), uid)?;
        }
    }
    Ok(())
}

/// A headless batch on a page that never answers, stopped by `sig`.
fn interrupted(c: &Ctx, sig: libc::c_int, code: i32) -> Result<String, String> {
    let (run, child) = hanging_render(c)?;
    let signalled = Instant::now();
    signal(child.id(), sig);
    let o = finish(child)?;
    let took = signalled.elapsed();
    let out = expect(&o, code, &["interrupted"])?;
    match run.browsers() {
        0 => Ok(format!("{out} ({took:.1?} after the signal, no browser left)")),
        n => Err(format!("{n} browser processes left at exit")),
    }
}

/// A headless `riptide extract` of a page that never answers, once the page was asked for
/// (a minute's time-out, so it is still rendering when the row acts).
fn hanging_render(c: &Ctx) -> Result<(Run, Child), String> {
    let run = Run::new()
        .env("RIPTIDE_TIMEOUT_DEFAULT", "60")
        .env("RIPTIDE_TIMEOUT_MAX", "60");
    let before = hangs_so_far(c);
    let child = run.spawn(c, &["extract", "--engine", "headless", &c.world.http.url("/hang")])?;
    wait_for_hang(c, before)?;
    Ok((run, child))
}

fn hangs_so_far(c: &Ctx) -> usize {
    *c.world.hangs.0.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits until `/hang` has been requested more than `before` times.
fn wait_for_hang(c: &Ctx, before: usize) -> Result<(), String> {
    let (count, arrived) = &*c.world.hangs;
    let count = count.lock().unwrap_or_else(PoisonError::into_inner);
    let (count, _) = arrived
        .wait_timeout_while(count, GUARD, |n| *n <= before)
        .unwrap_or_else(PoisonError::into_inner);
    if *count > before {
        Ok(())
    } else {
        Err("the page was never requested".into())
    }
}
