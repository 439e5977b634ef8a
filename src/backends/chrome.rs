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
mod devtools;
mod proxy_auth;
mod render;
mod stealth;
mod tab;

use crate::backends::chromium::local::LocalChromium;
pub use crate::backends::chromium::options::{ChromeOptions, DEFAULT_RENDER_MEMORY_LIMIT};
use crate::backends::chromium::process_tree;
use crate::backends::chromium::rendered::fetch_result;
use crate::backends::chromium::tab_settings::TabSettings;
pub use browser::ChromeBrowser;
use context::BrowsingContext;
use render::{RenderFailure, Watched, load};

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use headless_chrome::Browser;

use crate::error::{BoxError, BrowserError, Error, FetchError, Result};
use crate::network::AddressPolicy;
use crate::network::RequestCookie;
use crate::traits::{BrowserProvider, PageRequest, RenderedPage, ResourceKind};

/// How long a browser may sit idle before Chromium's connection to the crate is dropped: far
/// beyond any pool idle timeout, so the pool (not the crate) decides when browsers go.
const IDLE_BROWSER_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a page that missed its deadline gets to answer `stop_loading` before its browser
/// is given up: a navigation waiting for headers answers at once, a renderer stuck in a script
/// or a dialog never does.
const STOP_GRACE: Duration = Duration::from_secs(2);

enum Mode {
    Local(LocalChromium),
    Remote { endpoints: Vec<String>, next: AtomicUsize },
}

/// Launches local Chromium processes, or connects to running ones.
pub struct ChromeProvider {
    mode: Mode,
    render_memory_limit: Option<u64>,
    /// How every tab is readied; shared with the render threads that ready fresh contexts.
    setup: Arc<TabSettings>,
}

impl std::fmt::Debug for ChromeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.mode {
            Mode::Local(local) => f
                .debug_struct("ChromeProvider")
                .field("executable", &local.executable)
                .field("runtime_dir", &local.runtime_dir)
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
        Ok(Self {
            mode: Mode::Local(LocalChromium::new(&options)?),
            render_memory_limit: options.render_memory_limit,
            setup: Arc::new(TabSettings::from_options(&options)),
        })
    }

    /// The provider the configuration describes: remote when
    /// `[optimizations.browser_pool] remote_endpoints` is set, else local with `chrome_path`
    /// (`~` expands) and `render_memory_limit_mb`; both verify TLS certificates unless
    /// `[network] accept_invalid_certs` is set.
    pub fn from_config(config: &crate::config::RiptideConfig) -> Result<Self> {
        let options = ChromeOptions::from_config(config)?;
        let endpoints = &config.optimizations.browser_pool.remote_endpoints;
        if endpoints.is_empty() {
            return Self::local(options);
        }
        options.refuse_proxy_for_remote()?;
        Ok(Self::remote(endpoints.clone())?
            .accept_invalid_certs(options.accept_invalid_certs)
            .address_policy(options.address_policy)
            .stealth(options.stealth)
            .block(&options.block_resources, &options.block_urls)
            .request_headers(options.user_agent, options.headers)
            .cookies(options.cookies))
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
        Arc::make_mut(&mut self.setup).block(kinds, urls);
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
            Mode::Local(local) => Some(&local.executable),
            Mode::Remote { .. } => None,
        }
    }

    /// The directory per-browser directories are created in (local mode).
    pub fn runtime_dir(&self) -> Option<&Path> {
        match &self.mode {
            Mode::Local(local) => Some(&local.runtime_dir),
            Mode::Remote { .. } => None,
        }
    }

    fn launch_local(&self, local: &LocalChromium) -> Result<ChromeBrowser> {
        let started = local.start(self.setup.stealth)?;
        let connected = Browser::connect_with_timeout(started.ws_url.clone(), IDLE_BROWSER_TIMEOUT)
            .map_err(BoxError::from)
            .and_then(|browser| {
                let tab = browser.new_tab()?;
                let refusals = tab::prepare(&self.setup, &tab)?;
                Ok((browser, tab, refusals))
            });
        let (browser, tab, refusals) = match connected {
            Ok(connected) => connected,
            Err(e) => {
                started.discard();
                return Err(local.launch_failed(e));
            }
        };
        Ok(ChromeBrowser {
            browser: Some(browser),
            current: BrowsingContext::first(tab, refusals),
            pid: Some(started.pid),
            child: Some(started.child),
            dir: Some(started.dir),
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
            .and_then(|tab| tab::prepare(&self.setup, &tab).map(|refusals| (tab, refusals)))
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
            Mode::Local(local) => self.launch_local(local),
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
        fetch_result(result, started.elapsed(), deadline, refusals, || browser.alive())
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
