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

mod browser;
mod context;
mod devtools;
mod proxy_auth;
mod render;
mod tab;

use crate::backends::chromium::local::LocalChromium;
use crate::backends::chromium::process_tree;
use crate::backends::chromium::rendered::render_result;
#[allow(deprecated, reason = "the old name stays importable for one release")]
pub use crate::backends::chromium::settings::ChromeOptions;
pub use crate::backends::chromium::settings::{ChromiumSettings, DEFAULT_RENDER_MEMORY_LIMIT};
use crate::backends::chromium::setup::{NextBrowser, ProviderSetup};
pub use browser::ChromeBrowser;
use context::BrowsingContext;
use render::{RenderEnd, RenderFailure, load};

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use headless_chrome::Browser;

use crate::error::{BoxError, BrowserError, Error, FetchError, Result};
use crate::traits::{BrowserProvider, PageRequest, RenderedPage};

/// How long a browser may sit idle before Chromium's connection to the crate is dropped: far
/// beyond any pool idle timeout, so the pool (not the crate) decides when browsers go.
const IDLE_BROWSER_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a page that missed its deadline gets to answer `stop_loading` before its browser
/// is given up: a navigation waiting for headers answers at once, a renderer stuck in a script
/// or a dialog never does.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Launches local Chromium processes, or connects to running ones.
pub struct ChromeProvider {
    setup: ProviderSetup,
}

impl std::fmt::Debug for ChromeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.setup.debug("ChromeProvider", f)
    }
}

impl ChromeProvider {
    /// A provider with `settings`: launching local Chromium processes, or connecting to the
    /// [`remote_endpoints`](ChromiumSettings::remote_endpoints) when there are any. It runs one
    /// process per pooled browser (`tabs_per_browser` does not apply to it).
    ///
    /// Fails with [`BrowserError::NotFound`] when no local binary is found, naming what was
    /// tried and how to install one, and refuses remote endpoints that are not DevTools
    /// websocket URLs or come with a proxy. Sweeps directories left by riptide processes that
    /// no longer run.
    pub fn new(settings: ChromiumSettings) -> Result<Self> {
        Ok(Self {
            setup: ProviderSetup::new(settings)?,
        })
    }

    /// The provider the configuration describes ([`ChromiumSettings::from_config`]).
    pub fn from_config(config: &crate::config::RiptideConfig) -> Result<Self> {
        Self::new(ChromiumSettings::from_config(config)?)
    }

    /// The settings the provider was made with.
    pub fn settings(&self) -> &ChromiumSettings {
        &self.setup.settings
    }

    /// The Chromium binary in use (local mode).
    pub fn executable(&self) -> Option<&Path> {
        self.setup.executable()
    }

    /// The directory per-browser directories are created in (local mode).
    pub fn runtime_dir(&self) -> Option<&Path> {
        self.setup.runtime_dir()
    }

    fn launch_local(&self, local: &LocalChromium) -> Result<ChromeBrowser> {
        let started = local.start(self.setup.tabs.stealth)?;
        let connected = Browser::connect_with_timeout(started.ws_url.clone(), IDLE_BROWSER_TIMEOUT)
            .map_err(BoxError::from)
            .and_then(|browser| {
                let tab = browser.new_tab()?;
                let refusals = tab::prepare(&self.setup.tabs, &tab)?;
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

    fn connect(&self, url: &str) -> Result<ChromeBrowser> {
        let err = |source: BoxError| -> Error {
            BrowserError::Connect {
                url: url.to_string(),
                source,
            }
            .into()
        };
        let browser =
            Browser::connect_with_timeout(url.to_string(), IDLE_BROWSER_TIMEOUT).map_err(|e| err(e.into()))?;
        let (tab, refusals) = browser
            .new_tab()
            .map_err(BoxError::from)
            .and_then(|tab| tab::prepare(&self.setup.tabs, &tab).map(|refusals| (tab, refusals)))
            .map_err(err)?;
        Ok(ChromeBrowser {
            browser: Some(browser),
            current: BrowsingContext::first(tab, refusals),
            pid: None,
            child: None,
            dir: None,
            endpoint: Some(url.to_string()),
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
        match self.setup.next_browser() {
            NextBrowser::Launch(local) => self.launch_local(local),
            NextBrowser::Connect(url) => self.connect(url),
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
            let refusals = crate::sync::lock(&browser.current).reports.refusals.clone();
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
        let (setup, current, job) = (self.setup.tabs.clone(), browser.current.clone(), request.clone());
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
        let end = self.watch(browser, &rx, started + left);
        // A cancel is for the fetch it interrupted (or, sent before any started, for the next
        // one): consumed here either way.
        let end = match (end, browser.cancelled.swap(false, Ordering::AcqRel)) {
            (RenderEnd::Late, true) => RenderEnd::Cancelled,
            (end, _) => end,
        };
        if let RenderEnd::Late | RenderEnd::Cancelled = end {
            // Stopping the load ends a navigation still waiting for headers, and leaves the
            // browser usable. A renderer that cannot even answer that is stuck in the page's
            // script or a dialog: the browser is killed (or, remote, disconnected). Both the
            // render and the stop must answer: a stop still in flight when this returns could
            // stop the browser's next navigation.
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
        }
        render_result(
            end,
            started.elapsed(),
            deadline,
            refusals,
            || browser.alive(),
            || browser.abandon(),
            self.setup.render_memory_limit,
        )
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
