//! Test support for the browser tests: a local HTTP server, Chromium discovery that fails
//! loudly in CI, a provider wrapper that records what the pool does, and process checks.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use riptide::BrowserPool;
#[cfg(feature = "chrome")]
use riptide::backends::chrome::{ChromeProvider, ChromiumSettings};
#[cfg(not(feature = "chrome"))]
use riptide::backends::chromiumoxide::ChromiumSettings;
use riptide::error::{BrowserError, ErrorKind};
use riptide::traits::{BrowserProvider, PageRequest, RenderedPage};

/// A browser provider the pool's Chromium tests run against: each test runs once for every
/// provider built (`chrome`, and `chromiumoxide` with that feature).
pub(crate) trait TestedProvider: BrowserProvider<Browser: TestedBrowser> + Sized + std::fmt::Debug {
    fn new(settings: ChromiumSettings) -> riptide::Result<Self>;
    fn executable(&self) -> Option<&Path>;
    fn settings(&self) -> &ChromiumSettings;
}

/// What the tests read of one browser.
pub(crate) trait TestedBrowser {
    fn pid(&self) -> Option<u32>;
    fn dir(&self) -> Option<&Path>;
    fn endpoint(&self) -> Option<&str>;
    fn process_tree(&self) -> Vec<u32>;
}

#[cfg(feature = "chrome")]
mod chrome_provider {
    use std::path::Path;

    use riptide::backends::chrome::{ChromeBrowser, ChromeProvider, ChromiumSettings};

    use super::{TestedBrowser, TestedProvider};

    impl TestedProvider for ChromeProvider {
        fn new(settings: ChromiumSettings) -> riptide::Result<Self> {
            ChromeProvider::new(settings)
        }
        fn executable(&self) -> Option<&Path> {
            ChromeProvider::executable(self)
        }
        fn settings(&self) -> &ChromiumSettings {
            ChromeProvider::settings(self)
        }
    }

    impl TestedBrowser for ChromeBrowser {
        fn pid(&self) -> Option<u32> {
            ChromeBrowser::pid(self)
        }
        fn dir(&self) -> Option<&Path> {
            ChromeBrowser::dir(self)
        }
        fn endpoint(&self) -> Option<&str> {
            ChromeBrowser::endpoint(self)
        }
        fn process_tree(&self) -> Vec<u32> {
            ChromeBrowser::process_tree(self)
        }
    }
}

#[cfg(feature = "chromiumoxide")]
mod chromiumoxide_provider {
    use std::path::Path;

    use riptide::backends::chromiumoxide::{ChromiumoxideBrowser, ChromiumoxideProvider};

    use super::{ChromiumSettings, TestedBrowser, TestedProvider};

    impl TestedProvider for ChromiumoxideProvider {
        fn new(settings: ChromiumSettings) -> riptide::Result<Self> {
            ChromiumoxideProvider::new(settings)
        }
        fn executable(&self) -> Option<&Path> {
            ChromiumoxideProvider::executable(self)
        }
        fn settings(&self) -> &ChromiumSettings {
            ChromiumoxideProvider::settings(self)
        }
    }

    impl TestedBrowser for ChromiumoxideBrowser {
        fn pid(&self) -> Option<u32> {
            ChromiumoxideBrowser::pid(self)
        }
        fn dir(&self) -> Option<&Path> {
            ChromiumoxideBrowser::dir(self)
        }
        fn endpoint(&self) -> Option<&str> {
            ChromiumoxideBrowser::endpoint(self)
        }
        fn process_tree(&self) -> Vec<u32> {
            ChromiumoxideBrowser::process_tree(self)
        }
    }
}

/// The `<title>` of a rendered page (empty without one).
pub(crate) fn title_of(page: &RenderedPage) -> &str {
    page.html
        .split("<title>")
        .nth(1)
        .and_then(|t| t.split("</title>").next())
        .unwrap_or("")
}

/// A local Chromium provider with its own runtime directory, or `None` (skip) when Chromium is
/// missing outside CI. In CI a missing Chromium fails the test.
#[cfg(feature = "chrome")]
pub(crate) fn chrome_or_skip() -> Option<(ChromeProvider, PathBuf)> {
    provider_or_skip()
}

/// [`chrome_or_skip`] for any tested provider.
pub(crate) fn provider_or_skip<P: TestedProvider>() -> Option<(P, PathBuf)> {
    provider_with_or_skip(ChromiumSettings::default())
}

/// [`provider_or_skip`] with `settings` (its runtime directory replaced by a fresh one).
pub(crate) fn provider_with_or_skip<P: TestedProvider>(settings: ChromiumSettings) -> Option<(P, PathBuf)> {
    let dir = tempfile::tempdir().expect("temp dir").keep();
    match P::new(ChromiumSettings {
        runtime_dir: Some(dir.clone()),
        ..settings
    }) {
        Ok(provider) => Some((provider, dir)),
        Err(e) if matches!(e.kind(), ErrorKind::Browser(BrowserError::NotFound { .. })) => {
            if std::env::var_os("CI").is_some() {
                panic!("CI must have Chromium: {e}");
            }
            eprintln!("SKIPPED: this test needs Chromium: {e}");
            None
        }
        Err(e) => panic!("Chromium provider failed: {e}"),
    }
}

#[path = "../../../examples/support/local_server.rs"]
pub(crate) mod local_server;
pub(crate) mod nats;
pub(crate) mod tinyproxy;

pub(crate) use crate::common::eventually;

use local_server::{LocalServer, Reply};

/// An HTTP server on 127.0.0.1 with the pages the tests need (queries are ignored):
/// `/page/N` (title "page N"), `/static` (~100 KB), `/js` (content built by script after 50 ms),
/// `/late` (changed by script 150 ms after `load`),
/// `/hang` (never sends a response), `/image` (a PNG), `/huge` (3 MiB of HTML), `/cp1251` and
/// `/sjis` (pages in legacy encodings declared only in `<meta>`, served as plain `text/html`),
/// `/content-language` (no language in the markup, `Content-Language: de-CH, en`), `/loop` (a
/// redirect to itself), `/to-file` (a redirect to `file:///etc/hostname`), anything else 404.
pub(crate) struct Server {
    /// How many `/hang` requests have arrived, for tests to wait on.
    hangs: Arc<(Mutex<usize>, Condvar)>,
    server: LocalServer,
}

impl Server {
    pub(crate) fn start() -> Self {
        let hangs = Arc::new((Mutex::new(0), Condvar::new()));
        let counted = hangs.clone();
        let server = LocalServer::start(move |target| {
            let path = target.split('?').next().unwrap_or_default();
            match path {
                "/hang" => {
                    *counted.0.lock().expect("lock") += 1;
                    counted.1.notify_all();
                    Reply::Hang
                }
                "/static" => Reply::Html(static_page()),
                "/js" => Reply::Html(JS_PAGE.to_string()),
                "/late" => Reply::Html(LATE_PAGE.to_string()),
                "/huge" => Reply::Html("<p>huge</p>".repeat(300_000)),
                "/loop" => Reply::Redirect("/loop"),
                "/to-file" => Reply::Redirect("file:///etc/hostname"),
                "/content-language" => Reply::HtmlWithHeaders {
                    html: "<html><head><title>Sprache</title></head><body><p>Grüezi mitenand.</p></body></html>".into(),
                    headers: vec![("content-language", "de-CH, en")],
                },
                "/cp1251" => Reply::Data {
                    content_type: "text/html",
                    body: encoding_rs::WINDOWS_1251.encode(CP1251_PAGE).0.into_owned(),
                },
                "/sjis" => Reply::Data {
                    content_type: "text/html",
                    body: encoding_rs::SHIFT_JIS.encode(SJIS_PAGE).0.into_owned(),
                },
                "/image" => Reply::Data {
                    content_type: "image/png",
                    body: b"\x89PNG\r\n\x1a\n".to_vec(),
                },
                u if u.starts_with("/page/") => {
                    let n = &u["/page/".len()..];
                    Reply::Html(format!(
                        "<!doctype html><html><head><title>page {n}</title></head><body><main><h1>Page {n}</h1><p>Text of page {n}.</p></main></body></html>"
                    ))
                }
                _ => Reply::NotFound,
            }
        })
        .expect("bind 127.0.0.1");
        Self { hangs, server }
    }

    /// Blocks until `n` requests to `/hang` have arrived in all.
    pub(crate) fn wait_for_hangs(&self, n: usize) {
        let (count, arrived) = &*self.hangs;
        let count = count.lock().expect("lock");
        drop(arrived.wait_while(count, |c| *c < n).expect("lock"));
    }

    pub(crate) fn url(&self, path: &str) -> String {
        self.server.url(path)
    }
}

/// A Russian page declared windows-1251 in `<meta charset>` only.
pub(crate) const CP1251_PAGE: &str = "<!doctype html><html><head><meta charset=\"windows-1251\"><title>Новости</title></head><body><article><h1>Новости</h1><p>Съешь же ещё этих мягких французских булок, да выпей чаю.</p></article></body></html>";

/// A Japanese page declared Shift_JIS in `<meta http-equiv="Content-Type">` only.
pub(crate) const SJIS_PAGE: &str = "<!doctype html><html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=Shift_JIS\"><title>日本語</title></head><body><article><p>いろはにほへと ちりぬるを わかよたれそ つねならむ</p></article></body></html>";

/// A page a script changes 150 ms after `load`.
const LATE_PAGE: &str = r#"<!doctype html><html><head><title>late</title></head><body><div id="app">Loading.</div>
<script>addEventListener("load", () => setTimeout(() => { document.getElementById("app").textContent = "changed after load"; }, 150));</script>
</body></html>"#;

const JS_PAGE: &str = r#"<!doctype html><html><head><title>js</title></head><body><div id="app"></div>
<script>setTimeout(() => { document.getElementById("app").innerHTML = '<p id="ready">built by script</p>'; }, 50);</script>
</body></html>"#;

pub(crate) fn static_page() -> String {
    let mut html = String::from("<!doctype html><html><head><title>static</title></head><body><main>");
    let mut i = 0;
    while html.len() < 100_000 {
        html.push_str(&format!(
            "<p>Paragraph {i} of a static page, served locally, with <a href=\"/page/{i}\">a link</a>.</p>"
        ));
        i += 1;
    }
    html.push_str("</main></body></html>");
    html
}

/// Wraps a real provider to record launch times, probes, how many browsers are alive at once,
/// and the settle each render was asked for.
pub(crate) struct Recording<P> {
    inner: P,
    spans: Mutex<Vec<(Instant, Instant)>>,
    settles: Arc<Mutex<Vec<Option<Duration>>>>,
    alive: AtomicUsize,
    max_alive: AtomicUsize,
    probes: AtomicUsize,
}

impl<P> Recording<P> {
    pub(crate) fn new(inner: P) -> Self {
        Self {
            inner,
            spans: Mutex::default(),
            settles: Arc::default(),
            alive: AtomicUsize::new(0),
            max_alive: AtomicUsize::new(0),
            probes: AtomicUsize::new(0),
        }
    }
    /// The settle of every render so far, in order; readable after the provider moved away.
    pub(crate) fn settles(&self) -> Arc<Mutex<Vec<Option<Duration>>>> {
        self.settles.clone()
    }
    pub(crate) fn probes(&self) -> usize {
        self.probes.load(Ordering::SeqCst)
    }
    pub(crate) fn launch_spans(&self) -> Vec<(Instant, Instant)> {
        self.spans.lock().expect("lock").clone()
    }
    pub(crate) fn alive(&self) -> usize {
        self.alive.load(Ordering::SeqCst)
    }
    pub(crate) fn max_alive(&self) -> usize {
        self.max_alive.load(Ordering::SeqCst)
    }
}

impl<P: BrowserProvider> BrowserProvider for Recording<P> {
    type Browser = P::Browser;
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn tabs_per_process(&self) -> usize {
        self.inner.tabs_per_process()
    }
    fn launch(&self) -> riptide::Result<P::Browser> {
        let start = Instant::now();
        let browser = self.inner.launch()?;
        self.spans.lock().expect("lock").push((start, Instant::now()));
        let alive = self.alive.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_alive.fetch_max(alive, Ordering::SeqCst);
        Ok(browser)
    }
    fn probe(&self, browser: &P::Browser, deadline: Duration) -> riptide::Result<()> {
        self.probes.fetch_add(1, Ordering::SeqCst);
        self.inner.probe(browser, deadline)
    }
    fn fetch(&self, browser: &P::Browser, request: &PageRequest) -> riptide::Result<RenderedPage> {
        self.settles.lock().expect("lock").push(request.settle);
        self.inner.fetch(browser, request)
    }
    fn memory_bytes(&self, browser: &P::Browser) -> Option<u64> {
        self.inner.memory_bytes(browser)
    }
    fn close(&self, browser: P::Browser) {
        self.inner.close(browser);
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<P> std::ops::Deref for Recording<P> {
    type Target = P;
    fn deref(&self) -> &P {
        &self.inner
    }
}

pub(crate) fn send_signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
}

/// True when the process no longer runs and nothing is left for this process to reap: it is
/// gone, or it is a zombie of another parent (a browser's helper processes are reparented to
/// init when the browser exits, and reaping them is init's job). A zombie child of ours fails.
pub(crate) fn pid_gone(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    let mut fields = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace())
        .into_iter()
        .flatten();
    let state = fields.next();
    let parent: Option<u32> = fields.next().and_then(|p| p.parse().ok());
    state == Some("Z") && parent != Some(std::process::id())
}

/// Running processes (not zombies) whose command line mentions `marker`, e.g. a browser
/// runtime directory.
pub(crate) fn processes_mentioning(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| !pid_stopped(*pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(marker))
        })
        .collect()
}

/// Waits until `child` (spawned with its stderr piped) writes a line containing `marker` to
/// stderr, within a minute; reads its stderr to the end meanwhile, so it never blocks on a full
/// pipe.
pub(crate) fn await_stderr_line(child: &mut std::process::Child, marker: &'static str) {
    let stderr = child.stderr.take().expect("piped stderr");
    let (seen, is_seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(marker) {
                let _ = seen.send(());
            }
        }
    });
    is_seen
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("the process never said {marker:?}"));
}

/// True when the process no longer runs: gone, or a zombie (of any parent).
pub(crate) fn pid_stopped(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

/// Every browser's process tree and directory, by checking all of them out at once.
pub(crate) async fn browsers_of<P>(pool: &BrowserPool<P>) -> (Vec<u32>, Vec<PathBuf>)
where
    P: BrowserProvider<Browser: TestedBrowser>,
{
    let total = pool.status().total;
    let mut handles = Vec::new();
    for _ in 0..total {
        handles.push(pool.checkout().await.expect("checkout"));
    }
    let trees = handles.iter().flat_map(|h| h.process_tree()).collect::<Vec<_>>();
    let dirs = handles
        .iter()
        .filter_map(|h| h.dir().map(Path::to_path_buf))
        .collect::<Vec<_>>();
    assert!(trees.len() > total, "each browser is a tree of processes: {trees:?}");
    drop(handles);
    pool.settled().await;
    (trees, dirs)
}

pub(crate) fn assert_all_gone(pids: &[u32], dirs: &[PathBuf]) {
    let left: Vec<_> = pids
        .iter()
        .filter(|p| !pid_gone(**p))
        .map(|p| {
            (
                p,
                std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default(),
            )
        })
        .collect();
    assert!(left.is_empty(), "browser processes left behind: {left:?}");
    let left: Vec<_> = dirs.iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "browser directories left behind: {left:?}");
}

pub(crate) fn assert_empty_dir(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in {}: {left:?}", dir.display());
}

/// A Chromium started by the test itself with a DevTools port, as a remote fleet member would be.
pub(crate) struct RemoteChromium {
    pub ws_url: String,
    child: Child,
    _profile: tempfile::TempDir,
}

impl RemoteChromium {
    pub(crate) fn start(executable: &Path) -> Self {
        Self::start_with(executable, &[])
    }

    /// Started with `extra` flags too.
    pub(crate) fn start_with(executable: &Path, extra: &[&str]) -> Self {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = Command::new(executable)
            .args([
                "--headless",
                "--no-sandbox",
                "--remote-debugging-port=0",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-gpu",
                "--disable-quic",
                "about:blank",
            ])
            .args(extra)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let ws_url = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                line.strip_prefix("DevTools listening on ")
                    .map(|u| u.trim().to_string())
            })
            .expect("Chromium printed its DevTools URL");
        // Keep draining so Chromium never blocks on a full stderr pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            ws_url,
            child,
            _profile: profile,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RemoteChromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The TCP ports the processes `pids` listen on (IPv4 and IPv6), from their open sockets and
/// `/proc/net/tcp*`.
pub(crate) fn listening_ports(pids: &[u32]) -> Vec<u16> {
    let mut inodes = std::collections::HashSet::new();
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if let Some(inode) = link
                .to_str()
                .and_then(|l| l.strip_prefix("socket:["))
                .and_then(|l| l.strip_suffix(']'))
            {
                inodes.insert(inode.to_string());
            }
        }
    }
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is fields[1] (ADDR:PORT in hex), st fields[3] (0A: LISTEN), inode fields[9].
            let (Some(local), Some(state), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9)) else {
                continue;
            };
            if *state == "0A"
                && inodes.contains(*inode)
                && let Some(port) = local.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok())
            {
                ports.push(port);
            }
        }
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The body of `GET path` from 127.0.0.1:`port`, or `None` when it does not answer HTTP within
/// two seconds.
pub(crate) fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    (!answer.is_empty()).then_some(answer)
}
