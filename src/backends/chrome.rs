//! Headless Chromium through the `headless_chrome` crate (feature `chrome`, on by default):
//! local browsers launched and owned by riptide, or remote ones reached by their DevTools URL.
//!
//! What this file designs around (measured with headless_chrome 1.0.22 and Chromium 156):
//! - Every CDP call costs ~100 ms (the crate's websocket reader polls with a 100 ms timeout), so
//!   a fetch is two calls: navigate, then one evaluation that waits in the page for readiness
//!   (and the selector) and returns the HTML. `wait_until_navigated` alone would add ~1.1 s.
//! - headless_chrome waits for a CDP answer as long as the connection lives (its
//!   `idle_browser_timeout`, which riptide raises far above any pool idle time because an idle
//!   browser is otherwise dropped after 30 s even while pinged). `navigate_to` waits for headers
//!   that may never come; an evaluation waits on a renderer that a page's `while (true) {}` or
//!   an `alert()` never frees. So a render runs on a thread of its own and `fetch` keeps the
//!   deadline: at the deadline it calls `stop_loading` (which fails a pending navigation with
//!   `ERR_ABORTED` and leaves the browser usable), and a renderer that cannot answer even that
//!   has its browser killed, which ends every call still waiting on it. Dialogs are switched off
//!   in every page, and the browser's memory is watched while it renders.
//! - riptide starts Chromium itself (`launcher.rs`) so the process gets a parent-death signal:
//!   a riptide killed with SIGKILL takes its browsers with it. headless_chrome connects to it.
//! - Killing only the main process leaves children, a profile directory and
//!   `/tmp/org.chromium.Chromium.*` files behind. Each browser therefore gets its own directory
//!   (profile and `TMPDIR`) under a riptide-owned root, is stopped with its whole process tree,
//!   and leftovers of dead riptide processes are swept when a provider starts.
//! - A killed browser answers `get_version` at once with an error, but its pid stays a zombie
//!   until it is reaped when the browser is dropped, so liveness is read from
//!   `/proc/<pid>/stat`.

mod blocking;
mod browser;
mod context;
mod flags;
mod launcher;
mod options;
mod process_tree;
mod proxy_auth;
mod render;
mod stealth;
mod tab;

pub use browser::ChromeBrowser;
use context::BrowsingContext;
pub use options::ChromeOptions;
use render::{RenderFailure, Watched, load};
use tab::TabSetup;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use headless_chrome::Browser;

use crate::error::{BoxError, BrowserError, Error, ErrorKind, FetchError, Result};
use crate::network::RequestCookie;
use crate::policies::AddressPolicy;
use crate::traits::{BrowserProvider, PageRequest, RenderedPage, ResourceKind};

/// Where Chromium is looked for when no path is configured, best first: Debian's real binary
/// (not the `/usr/bin/chromium` wrapper script, which costs a shell start), then the usual names.
const DEFAULT_EXECUTABLES: &[&str] = &[
    "/usr/lib/chromium/chromium",
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
];

/// How long a browser may sit idle before Chromium's connection to the crate is dropped: far
/// beyond any pool idle timeout, so the pool (not the crate) decides when browsers go.
const IDLE_BROWSER_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a stopping browser gets after SIGTERM before SIGKILL.
const TERMINATE_GRACE: Duration = Duration::from_secs(3);

/// How long a page that missed its deadline gets to answer `stop_loading` before its browser
/// is given up: a navigation waiting for headers answers at once, a renderer stuck in a script
/// or a dialog never does.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The default render memory limit: far above what real pages use (100-400 MB a browser),
/// far below what a runaway page takes a machine to.
pub const DEFAULT_RENDER_MEMORY_LIMIT: u64 = 1 << 30;

enum Mode {
    Local {
        executable: PathBuf,
        runtime_dir: PathBuf,
        extra_args: Vec<String>,
        sandbox: bool,
    },
    Remote {
        endpoints: Vec<String>,
        next: AtomicUsize,
    },
}

/// Launches local Chromium processes, or connects to running ones.
pub struct ChromeProvider {
    mode: Mode,
    render_memory_limit: Option<u64>,
    /// How every tab is readied; shared with the render threads that ready fresh contexts.
    setup: Arc<TabSetup>,
}

impl std::fmt::Debug for ChromeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.mode {
            Mode::Local {
                executable,
                runtime_dir,
                ..
            } => f
                .debug_struct("ChromeProvider")
                .field("executable", executable)
                .field("runtime_dir", runtime_dir)
                .finish_non_exhaustive(),
            Mode::Remote { endpoints, .. } => f.debug_struct("ChromeProvider").field("endpoints", endpoints).finish(),
        }
    }
}

impl ChromeProvider {
    /// A provider that launches local Chromium processes.
    ///
    /// Fails with [`BrowserError::NotFound`] when no binary is found, naming what was tried and
    /// how to install one. Sweeps directories left by riptide processes that no longer run.
    pub fn local(options: ChromeOptions) -> Result<Self> {
        let executable = find_executable(options.executable.as_deref())?;
        let runtime_dir = match options.runtime_dir {
            Some(dir) => {
                crate::private_dir::ensure_private_dir(&dir, "create the browser runtime directory")?;
                dir
            }
            None => default_runtime_dir()?,
        };
        sweep_leftovers(&runtime_dir);
        // Chromium refuses its sandbox as root; elsewhere keep it.
        let sandbox = !running_as_root();
        let mut extra_args = options.extra_args;
        if let Some(proxy) = &options.proxy {
            // Chromium sends loopback requests around any proxy unless told not to; riptide's
            // static engine does not, and both engines must treat a URL alike.
            extra_args.push(format!("--proxy-server={}", proxy.server()));
            extra_args.push("--proxy-bypass-list=<-loopback>".into());
        }
        if let Some(limit) = options.render_memory_limit {
            // V8 fails an allocation past its heap limit (the page's script stops); memory
            // outside the heap (array buffers, the DOM) is left to the watchdog in `fetch`.
            extra_args.push(format!("--js-flags=--max-old-space-size={}", (limit / 2) >> 20));
        }
        Ok(Self {
            mode: Mode::Local {
                executable,
                runtime_dir,
                extra_args,
                sandbox,
            },
            render_memory_limit: options.render_memory_limit,
            setup: Arc::new(TabSetup {
                accept_invalid_certs: options.accept_invalid_certs,
                stealth: options.stealth,
                addresses: options.address_policy,
                blocked: blocking::patterns(&options.block_resources, &options.block_urls),
                user_agent: options.user_agent,
                headers: options.headers,
                cookies: options.cookies,
                proxy: options.proxy,
            }),
        })
    }

    /// The provider the configuration describes: remote when
    /// `[optimizations.browser_pool] remote_endpoints` is set, else local with `chrome_path`
    /// (`~` expands) and `render_memory_limit_mb`; both verify TLS certificates unless
    /// `[network] accept_invalid_certs` is set.
    pub fn from_config(config: &crate::config::RiptideConfig) -> Result<Self> {
        let pool = &config.optimizations.browser_pool;
        let accept_invalid_certs = config.network.accept_invalid_certs;
        let address_policy = AddressPolicy::from_config(&config.network);
        let cookies = config.network.request_cookies()?;
        let proxy = config.network.proxy_server()?;
        if !pool.remote_endpoints.is_empty() {
            if let Some(proxy) = proxy {
                return Err(crate::Error::config(
                    "network.proxy",
                    "the configuration",
                    format!(
                        "a remote browser's proxy is set where it is started (`--proxy-server={}`), not here; \
                         remove network.proxy or the remote endpoints",
                        proxy.server()
                    ),
                ));
            }
            return Ok(Self::remote(pool.remote_endpoints.clone())?
                .accept_invalid_certs(accept_invalid_certs)
                .address_policy(address_policy)
                .stealth(pool.stealth)
                .block(&pool.block_resources, &pool.block_urls)
                .request_headers(config.network.user_agent.clone(), headers_of(&config.network))
                .cookies(cookies));
        }
        Self::local(ChromeOptions {
            executable: pool.chrome_path.as_deref().map(crate::config::expand_tilde),
            accept_invalid_certs,
            address_policy,
            render_memory_limit: (pool.render_memory_limit_mb > 0)
                .then_some(pool.render_memory_limit_mb.saturating_mul(1 << 20)),
            stealth: pool.stealth,
            block_resources: pool.block_resources.clone(),
            block_urls: pool.block_urls.clone(),
            user_agent: config.network.user_agent.clone(),
            headers: headers_of(&config.network),
            cookies,
            proxy,
            ..ChromeOptions::default()
        })
    }

    /// Sets whether pages with a TLS certificate that does not verify load (see
    /// [`ChromeOptions::accept_invalid_certs`]); for a remote provider it is applied to each
    /// browser as it is connected.
    pub fn accept_invalid_certs(mut self, accept: bool) -> Self {
        Arc::make_mut(&mut self.setup).accept_invalid_certs = accept;
        self
    }

    /// Sets whether browsers hide that they are automated (see [`ChromeOptions::stealth`]). A
    /// remote browser gets every override that does not need launch flags; its
    /// `navigator.webdriver` is hidden by script.
    pub fn stealth(mut self, stealth: bool) -> Self {
        Arc::make_mut(&mut self.setup).stealth = stealth;
        self
    }

    /// Sets the subresources browsers do not load (see [`ChromeOptions::block_resources`] and
    /// [`ChromeOptions::block_urls`]).
    pub fn block(mut self, kinds: &[ResourceKind], urls: &[String]) -> Self {
        Arc::make_mut(&mut self.setup).blocked = blocking::patterns(kinds, urls);
        self
    }

    /// Sets the `User-Agent` and the extra headers of every request pages make (see
    /// [`ChromeOptions::user_agent`] and [`ChromeOptions::headers`]).
    pub fn request_headers(mut self, user_agent: Option<String>, headers: Vec<(String, String)>) -> Self {
        let setup = Arc::make_mut(&mut self.setup);
        setup.user_agent = user_agent;
        setup.headers = headers;
        self
    }

    /// Sets the cookies every browser context starts with (see [`ChromeOptions::cookies`]).
    pub fn cookies(mut self, cookies: Vec<RequestCookie>) -> Self {
        Arc::make_mut(&mut self.setup).cookies = cookies;
        self
    }

    /// Whether browsers hide that they are automated.
    pub fn is_stealth(&self) -> bool {
        self.setup.stealth
    }

    /// Sets which pages may be loaded (see [`ChromeOptions::address_policy`]).
    pub fn address_policy(mut self, policy: AddressPolicy) -> Self {
        Arc::make_mut(&mut self.setup).addresses = policy;
        self
    }

    /// A provider that connects to already running browsers by DevTools websocket URL
    /// (`ws://host:port/devtools/browser/<id>`), round-robin. riptide never kills them.
    /// Certificates are verified, whatever flags the browser was started with (see
    /// [`ChromeProvider::accept_invalid_certs`]).
    pub fn remote(endpoints: Vec<String>) -> Result<Self> {
        if endpoints.is_empty() {
            return Err(BrowserError::Connect {
                url: String::new(),
                source: "no DevTools URL given; pass at least one ws://host:port/devtools/browser/<id>".into(),
            }
            .into());
        }
        Ok(Self {
            mode: Mode::Remote {
                endpoints,
                next: AtomicUsize::new(0),
            },
            // A remote browser's memory cannot be read from here.
            render_memory_limit: None,
            setup: Arc::default(),
        })
    }

    /// The Chromium binary in use (local mode).
    pub fn executable(&self) -> Option<&Path> {
        match &self.mode {
            Mode::Local { executable, .. } => Some(executable),
            Mode::Remote { .. } => None,
        }
    }

    /// The directory per-browser directories are created in (local mode).
    pub fn runtime_dir(&self) -> Option<&Path> {
        match &self.mode {
            Mode::Local { runtime_dir, .. } => Some(runtime_dir),
            Mode::Remote { .. } => None,
        }
    }

    fn launch_local(
        &self,
        executable: &Path,
        runtime_dir: &Path,
        extra_args: &[String],
        sandbox: bool,
    ) -> Result<ChromeBrowser> {
        // Unique even across providers sharing a runtime directory: two browsers on one profile
        // directory do not start (the second hands off to the first and exits).
        let dir = tempfile::Builder::new()
            .prefix(&format!("b-{}-", std::process::id()))
            .tempdir_in(runtime_dir)
            .map_err(|e| Error::io("create a browser directory in", runtime_dir, e))?
            .keep();
        let (profile, tmp) = (dir.join("profile"), dir.join("tmp"));
        for d in [&profile, &tmp] {
            std::fs::create_dir_all(d).map_err(|e| Error::io("create a browser directory", d, e))?;
        }
        let args = flags::launch_args(self.setup.stealth, &profile, sandbox, extra_args);
        let fail = |source: BoxError| -> Error {
            let _ = std::fs::remove_dir_all(&dir);
            BrowserError::Launch {
                executable: executable.to_path_buf(),
                source,
            }
            .into()
        };
        let mut started = launcher::start(executable, &args, &[("TMPDIR", &tmp)]).map_err(fail)?;
        let pid = started.child.id();
        let connected = Browser::connect_with_timeout(started.ws_url.clone(), IDLE_BROWSER_TIMEOUT)
            .map_err(BoxError::from)
            .and_then(|browser| {
                let tab = browser.new_tab()?;
                let refusals = self.setup.prepare(&tab)?;
                Ok((browser, tab, refusals))
            });
        let (browser, tab, refusals) = match connected {
            Ok(connected) => connected,
            Err(e) => {
                process_tree::terminate(pid, TERMINATE_GRACE);
                let _ = started.child.wait();
                return Err(fail(e));
            }
        };
        Ok(ChromeBrowser {
            browser: Some(browser),
            current: BrowsingContext::first(tab, refusals),
            pid: Some(pid),
            child: Some(started.child),
            dir: Some(dir),
            endpoint: None,
            navigation: Mutex::new(()),
            abandoned: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
        })
    }

    fn connect(&self, endpoints: &[String], next: &AtomicUsize) -> Result<ChromeBrowser> {
        let url = &endpoints[next.fetch_add(1, Ordering::Relaxed) % endpoints.len()];
        let err = |source: BoxError| -> Error {
            BrowserError::Connect {
                url: url.clone(),
                source,
            }
            .into()
        };
        let browser = Browser::connect_with_timeout(url.clone(), IDLE_BROWSER_TIMEOUT).map_err(|e| err(e.into()))?;
        let (tab, refusals) = browser
            .new_tab()
            .map_err(BoxError::from)
            .and_then(|tab| self.setup.prepare(&tab).map(|refusals| (tab, refusals)))
            .map_err(err)?;
        Ok(ChromeBrowser {
            browser: Some(browser),
            current: BrowsingContext::first(tab, refusals),
            pid: None,
            child: None,
            dir: None,
            endpoint: Some(url.clone()),
            navigation: Mutex::new(()),
            abandoned: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
        })
    }
}

impl BrowserProvider for ChromeProvider {
    type Browser = ChromeBrowser;

    fn name(&self) -> &'static str {
        "chrome"
    }

    fn launch(&self) -> Result<ChromeBrowser> {
        match &self.mode {
            Mode::Local {
                executable,
                runtime_dir,
                extra_args,
                sandbox,
            } => self.launch_local(executable, runtime_dir, extra_args, *sandbox),
            Mode::Remote { endpoints, next } => self.connect(endpoints, next),
        }
    }

    fn probe(&self, browser: &ChromeBrowser, deadline: Duration) -> Result<()> {
        if !browser.alive() {
            return Err(BrowserError::dead("its process has exited").into());
        }
        let tab = browser.tab();
        let (tx, rx) = mpsc::channel();
        // The CDP call blocks without a deadline of its own; a frozen browser never answers, so
        // the probe answers for it. The thread holds only the tab (the connection), not the
        // process handle, so closing the browser still reaps it at once; the thread ends when
        // the connection does.
        std::thread::spawn(move || {
            let version = tab.call_method(headless_chrome::protocol::cdp::Browser::GetVersion(None));
            let _ = tx.send(version.map(|_| ()).map_err(BoxError::from));
        });
        match rx.recv_timeout(deadline) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(BrowserError::Dead { source }.into()),
            Err(_) => Err(BrowserError::Unresponsive { deadline }.into()),
        }
    }

    fn fetch(&self, browser: &ChromeBrowser, request: &PageRequest) -> Result<RenderedPage> {
        let started = Instant::now();
        let deadline = request.deadline;
        let timed_out = || Error::from(FetchError::Timeout { deadline });
        // A fetch whose caller gave up runs on until its deadline; the next one waits for it
        // (within its own deadline), or the old fetch's stop would stop the new navigation.
        let _navigation = crate::sync::lock(&browser.navigation);
        if browser.cancelled.swap(false, Ordering::AcqRel) {
            return Err(FetchError::Cancelled.into());
        }
        // The refusals of the tab the page rendered in: read after the render, which may have
        // moved to a fresh context's tab.
        let refusals = || {
            let refusals = crate::sync::lock(&browser.current).refusals.clone();
            crate::sync::lock(&refusals).take()
        };
        drop(refusals());
        let Some(left) = deadline.checked_sub(started.elapsed()).filter(|d| !d.is_zero()) else {
            return Err(timed_out());
        };
        // headless_chrome waits for a CDP answer as long as the connection lives, and a page
        // that never yields (`while (true) {}`) never lets its renderer answer. So the render
        // runs on a thread of its own and this one keeps the deadline.
        let (tx, rx) = mpsc::channel();
        let handle = browser
            .browser
            .clone()
            .ok_or_else(|| Error::from(BrowserError::dead("it was closed")))?;
        let (setup, current, job) = (self.setup.clone(), browser.current.clone(), request.clone());
        std::thread::Builder::new()
            .name("riptide-render".into())
            .spawn(move || {
                // A fresh browser context first when the request's isolation asks for one.
                let tab = context::tab_for(handle, &setup, &current, &job);
                let tab_found_in = started.elapsed();
                let _ = tx.send(match tab {
                    Ok(tab) => load(&tab, &job, started)
                        .and_then(|page| match page {
                            Some(page) if job.screenshot => render::screenshot(&tab, page).map(Some),
                            page => Ok(page),
                        })
                        .map(|page| {
                            page.map(|mut page| {
                                page.profile.tab = tab_found_in;
                                page
                            })
                        }),
                    Err(e) => Err(RenderFailure::Protocol(e)),
                });
            })
            .map_err(|e| Error::from(BrowserError::dead(e)))?;
        let watched = self.watch(browser, &rx, started + left);
        // A cancel is for the fetch it interrupted (or, sent before any started, for the next
        // one): consumed here either way.
        let cancelled = browser.cancelled.swap(false, Ordering::AcqRel);
        let result = match watched {
            Watched::Finished(result) => result,
            Watched::OverMemory {
                used_bytes,
                limit_bytes,
            } => {
                browser.abandon();
                return Err(FetchError::RenderMemoryExceeded {
                    used_bytes,
                    limit_bytes,
                }
                .into());
            }
            Watched::Late | Watched::Cancelled => {
                // Stopping the load ends a navigation still waiting for headers, and leaves
                // the browser usable. A renderer that cannot even answer that is stuck in the
                // page's script or a dialog: the browser is killed (or, remote, disconnected).
                // Both the render and the stop must answer: a stop still in flight when this
                // returns could stop the browser's next navigation.
                let tab = browser.tab();
                let (stopped, stop_answered) = mpsc::channel();
                std::thread::spawn(move || {
                    let _ = tab.stop_loading();
                    let _ = stopped.send(());
                });
                let grace_ends = Instant::now() + STOP_GRACE;
                let answered = rx.recv_timeout(STOP_GRACE).is_ok()
                    && stop_answered
                        .recv_timeout(grace_ends.saturating_duration_since(Instant::now()))
                        .is_ok();
                if !answered {
                    tracing::warn!(url = %request.url, "the page did not yield when stopped; closing its browser");
                    browser.abandon();
                }
                if cancelled {
                    return Err(FetchError::Cancelled.into());
                }
                return Err(timed_out());
            }
        };
        match result {
            Ok(Some(page)) => Ok(page),
            Ok(None) => Err(timed_out()),
            Err(_) if let Some(reason) = refusals() => Err(FetchError::AddressNotAllowed { reason }.into()),
            Err(_) if started.elapsed() >= deadline => Err(timed_out()),
            Err(RenderFailure::Protocol(source)) if !browser.alive() => Err(BrowserError::Dead { source }.into()),
            Err(RenderFailure::Protocol(source)) => Err(BrowserError::Protocol { source }.into()),
            Err(RenderFailure::Navigation(code)) => Err(FetchError::Network {
                class: render::net_error_class(&code),
                source: Box::new(render::NetError(code)),
            }
            .into()),
            Err(RenderFailure::Script(reason)) => Err(FetchError::Script { reason }.into()),
            Err(RenderFailure::HttpStatus(status)) => Err(FetchError::HttpStatus { status }.into()),
        }
    }

    fn cancel(&self, browser: &ChromeBrowser) {
        browser.cancelled.store(true, Ordering::Release);
    }

    fn memory_bytes(&self, browser: &ChromeBrowser) -> Option<u64> {
        process_tree::pss_bytes(browser.pid?)
    }

    fn close(&self, browser: ChromeBrowser) {
        drop(browser);
    }
}

/// `[network] headers` as pairs.
fn headers_of(network: &crate::config::NetworkConfig) -> Vec<(String, String)> {
    network.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn find_executable(explicit: Option<&Path>) -> Result<PathBuf> {
    let from_env = std::env::var_os("RIPTIDE_CHROME_PATH").map(PathBuf::from);
    // An explicitly named browser that is missing is an error, not a reason to pick another.
    if let Some(named) = explicit.map(Path::to_path_buf).or(from_env) {
        return if named.is_file() {
            Ok(named)
        } else {
            Err(BrowserError::NotFound { tried: vec![named] }.into())
        };
    }
    let mut tried = Vec::new();
    for candidate in DEFAULT_EXECUTABLES {
        let path = PathBuf::from(candidate);
        if path.is_file() {
            return Ok(path);
        }
        tried.push(path);
    }
    Err(BrowserError::NotFound { tried }.into())
}

/// `$TMPDIR/riptide-chrome-<uid>`: per user, so users sharing `/tmp` do not collide. Anyone can
/// create that path first (in `/tmp`, to keep riptide's browsers from starting); then a fresh
/// private directory is used instead, with a warning.
fn default_runtime_dir() -> Result<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX);
    let shared = std::env::temp_dir().join(format!("riptide-chrome-{uid}"));
    match crate::private_dir::ensure_private_dir(&shared, "create the browser runtime directory") {
        Ok(()) => Ok(shared),
        Err(e) if matches!(e.kind(), ErrorKind::UnsafeDirectory { .. }) => {
            let fresh = tempfile::Builder::new()
                .prefix("riptide-chrome-")
                .tempdir()
                .map_err(|io| {
                    Error::io(
                        "create a private browser runtime directory in",
                        std::env::temp_dir(),
                        io,
                    )
                })?
                .keep();
            tracing::warn!(error = %e, dir = %fresh.display(), "using a fresh private directory for the browsers instead");
            Ok(fresh)
        }
        Err(e) => Err(e),
    }
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Removes per-browser directories whose riptide process is gone (a crash, or kill -9).
fn sweep_leftovers(runtime_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(runtime_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.strip_prefix("b-"))
            .and_then(|n| n.split('-').next())
        else {
            continue;
        };
        let Ok(owner) = owner.parse::<u32>() else { continue };
        if owner != std::process::id() && process_tree::state(owner).is_none() {
            tracing::info!(dir = %entry.path().display(), "removing a browser directory left by an exited process");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
