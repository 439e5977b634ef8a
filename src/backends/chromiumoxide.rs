//! Headless Chromium through the `chromiumoxide` crate (feature `chromiumoxide`): the same local
//! browsers as [`chrome`](super::chrome) (started by riptide, with the same command line,
//! directories and process-tree handling) or remote ones by DevTools URL, driven over
//! chromiumoxide's async DevTools connection instead of headless_chrome's.
//!
//! Why a second provider: headless_chrome's websocket reader holds the connection through a
//! 100 ms read timeout, so a DevTools call waits up to that long to be sent; chromiumoxide reads
//! and writes on tokio, and a call costs what the browser takes to answer (BENCHMARKS.md,
//! "Browser providers").
//!
//! What this file designs around:
//! - The [`BrowserProvider`] contract blocks; chromiumoxide is async. The provider owns a small
//!   tokio runtime (two workers) that runs every browser's connection, and a blocking call hands
//!   its work to that runtime and waits on a channel. That works from any thread, even an async
//!   one (where `block_on` would panic).
//! - A proxy's credential challenge is answered on a second DevTools connection
//!   (`side_channel.rs`), never on chromiumoxide's: chromiumoxide answers every
//!   `Fetch.authRequired` of its session itself, and would give the proxy's credentials to any
//!   site that asks.
//! - A render is the same two calls as in `chrome`: `Page.navigate` (on a second connection,
//!   because chromiumoxide holds its own navigations until `load`: `side_channel.rs`), then one
//!   evaluation of the shared in-page wait (`chromium/page_script.rs`). Deadlines, cancels and the memory watch
//!   race the render on the runtime; a render that misses its deadline gets `Page.stopLoading`,
//!   and a renderer that cannot answer an evaluation after it has its browser killed.

mod browser;
mod process;
mod raw;
mod side_channel;
mod tab;

#[allow(deprecated, reason = "the old name stays importable for one release")]
pub use crate::backends::chromium::settings::ChromeOptions;
pub use crate::backends::chromium::settings::{ChromiumSettings, DEFAULT_RENDER_MEMORY_LIMIT};
pub use browser::ChromiumoxideBrowser;

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use chromiumoxide::Browser;
use chromiumoxide::cdp::browser_protocol::browser::GetVersionParams;
use chromiumoxide::cdp::browser_protocol::page::StopLoadingParams;
use chromiumoxide::cdp::browser_protocol::target::CreateBrowserContextParams;
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::handler::HandlerConfig;
use futures_util::StreamExt;

use crate::backends::chromium::local::{LocalChromium, StartedChromium};
use crate::backends::chromium::process_tree;
use crate::backends::chromium::rendered::{RenderEnd, render_result};
use crate::backends::chromium::setup::{BrowserSource, NextBrowser, ProviderSetup};
use crate::backends::chromium::tab_settings::TabSettings;
use crate::error::{BoxError, BrowserError, Error, Result};
use crate::traits::{BrowserProvider, PageRequest, RenderedPage};
use browser::Inner;
use process::Process;
use side_channel::SideChannel;
use tab::Renderer;

/// How long chromiumoxide keeps a DevTools call waiting for its answer. riptide keeps its own
/// deadlines; this only bounds what a call the browser never answers holds on to.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(600);

/// How long connecting to a browser (and readying its first tab) may take.
const CONNECT_DEADLINE: Duration = Duration::from_secs(30);

/// How long a page that missed its deadline gets to answer `Page.stopLoading` before its
/// browser is given up: a navigation waiting for headers answers at once, a renderer stuck in a
/// script never does.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// How often a render's browser memory is read when a limit is set.
const WATCH_TICK: Duration = Duration::from_millis(100);

/// Launches local Chromium processes, or connects to running ones, and drives them with
/// chromiumoxide.
pub struct ChromiumoxideProvider {
    setup: ProviderSetup,
    /// Pooled browsers per local process ([`ChromiumSettings::tabs_per_browser`], at least 1).
    tabs_per_browser: usize,
    /// The local processes that may take another tab; weak, so a process ends with its last.
    processes: Mutex<Vec<Weak<Process>>>,
    runtime: CdpRuntime,
}

impl std::fmt::Debug for ChromiumoxideProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.setup.debug("ChromiumoxideProvider", f)
    }
}

/// The runtime every browser connection of a provider runs on. Shut down without waiting when
/// the provider goes (a pool may drop its provider on an async thread, where waiting panics).
struct CdpRuntime {
    handle: tokio::runtime::Handle,
    /// Taken only in `drop`.
    runtime: Option<tokio::runtime::Runtime>,
}

impl CdpRuntime {
    fn new() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("riptide-cdp")
            .enable_all()
            .build()
            .map_err(|e| BrowserError::dead(format!("could not start the DevTools runtime: {e}")))?;
        Ok(Self {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Runs `work` on the runtime and waits for it on this thread, whatever thread this is.
    fn run<T: Send + 'static>(&self, work: impl Future<Output = T> + Send + 'static) -> Option<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(work.await);
        });
        rx.recv().ok()
    }
}

impl Drop for CdpRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl ChromiumoxideProvider {
    /// A provider with `settings`: launching local Chromium processes (the same processes,
    /// flags and directories as `ChromeProvider`), or connecting to the
    /// [`remote_endpoints`](ChromiumSettings::remote_endpoints) when there are any.
    ///
    /// [`tabs_per_browser`](ChromiumSettings::tabs_per_browser) pooled browsers share one local
    /// process, each in its own tab. A pool of `max_instances` browsers then runs
    /// `max_instances / tabs` processes, rounded up. With more pooled browsers than cores,
    /// fewer processes render faster (BENCHMARKS.md, "Tabs per browser"); the price is that a
    /// render stuck in a page, or over the render memory limit, takes the other tabs of its
    /// process with it (their renders fail as a browser that died, and the pool replaces them).
    /// The pool's memory limit is compared with each pooled browser's share of its process
    /// ([`BrowserProvider::memory_bytes`]); the render memory limit with the whole process,
    /// which is what it stops. Remote browsers are shared by every connection already: it
    /// does not apply to them.
    ///
    /// Fails with [`BrowserError::NotFound`] when no local binary is found, naming what was
    /// tried and how to install one, and refuses remote endpoints that are not DevTools
    /// websocket URLs or come with a proxy.
    pub fn new(settings: ChromiumSettings) -> Result<Self> {
        Ok(Self {
            tabs_per_browser: settings.tabs_per_browser.max(1),
            setup: ProviderSetup::new(settings)?,
            processes: Mutex::default(),
            runtime: CdpRuntime::new()?,
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
    pub fn executable(&self) -> Option<&std::path::Path> {
        self.setup.executable()
    }

    /// The directory per-browser directories are created in (local mode).
    pub fn runtime_dir(&self) -> Option<&std::path::Path> {
        self.setup.runtime_dir()
    }

    /// Connects to the browser at `ws_url` and readies its first tab, within
    /// [`CONNECT_DEADLINE`]. `started` is the local process (`None`: a remote browser).
    fn connect_to(
        &self,
        ws_url: String,
        started: Option<StartedChromium>,
    ) -> std::result::Result<Inner, (BoxError, Option<StartedChromium>)> {
        let setup = self.setup.tabs.clone();
        let endpoint = started.is_none().then(|| ws_url.clone());
        let shared = started.is_some() && self.tabs_per_browser > 1;
        let connecting = async move {
            let config = HandlerConfig {
                ignore_https_errors: setup.accept_invalid_certs,
                viewport: None,
                request_timeout: COMMAND_TIMEOUT,
                ..HandlerConfig::default()
            };
            let (browser, mut handler) = Browser::connect_with_config(ws_url.clone(), config).await?;
            // The connection's reader and writer: it ends with the connection, or when the
            // browser is dropped.
            let connection = tokio::spawn(async move {
                while let Some(event) = handler.next().await {
                    if let Err(e) = event {
                        tracing::debug!(target: "riptide::chromiumoxide", "the DevTools connection ended: {e}");
                        break;
                    }
                }
            });
            match open_renderer(&browser, &ws_url, &setup, shared).await {
                Ok(renderer) => Ok((browser, connection, renderer)),
                Err(e) => {
                    connection.abort();
                    Err(e)
                }
            }
        };
        let connected = self
            .runtime
            .run(async move {
                match tokio::time::timeout(CONNECT_DEADLINE, connecting).await {
                    Ok(connected) => connected,
                    Err(_) => Err(format!("no answer within {CONNECT_DEADLINE:?}").into()),
                }
            })
            .unwrap_or_else(|| Err("the DevTools runtime stopped".into()));
        match connected {
            Ok((browser, connection, renderer)) => {
                let process = Process::new(browser, connection, self.runtime.handle().clone(), started, endpoint);
                Ok(Inner::new(Arc::new(process), renderer))
            }
            Err(e) => Err((e, started)),
        }
    }

    /// Opens and readies one more tab in `process`, within [`CONNECT_DEADLINE`].
    fn open_tab(&self, process: Arc<Process>) -> std::result::Result<Inner, BoxError> {
        let setup = self.setup.tabs.clone();
        let opening = {
            let process = process.clone();
            async move {
                match tokio::time::timeout(
                    CONNECT_DEADLINE,
                    open_renderer(&process.browser, process.ws_url(), &setup, true),
                )
                .await
                {
                    Ok(opened) => opened,
                    Err(_) => Err(format!("no new tab within {CONNECT_DEADLINE:?}").into()),
                }
            }
        };
        let renderer = self
            .runtime
            .run(opening)
            .unwrap_or_else(|| Err("the DevTools runtime stopped".into()))?;
        Ok(Inner::new(process, renderer))
    }

    /// Launches a local browser, or, with [`ChromiumSettings::tabs_per_browser`] above one,
    /// opens a tab in a running one that has room.
    fn launch_local(&self, local: &LocalChromium) -> Result<ChromiumoxideBrowser> {
        if self.tabs_per_browser == 1 {
            return self.start_local(local).map(ChromiumoxideBrowser::new);
        }
        // Held across a start, so launches made at once (a warm-up) fill one process before
        // the next starts.
        let mut processes = crate::sync::lock(&self.processes);
        processes.retain(|process| process.strong_count() > 0);
        let roomy = processes
            .iter()
            .filter_map(Weak::upgrade)
            .find(|process| process.admit(self.tabs_per_browser));
        if let Some(process) = roomy {
            drop(processes);
            return match self.open_tab(process.clone()) {
                Ok(inner) => Ok(ChromiumoxideBrowser::new(inner)),
                Err(e) => {
                    process.release();
                    Err(local.launch_failed(e))
                }
            };
        }
        let inner = self.start_local(local)?;
        processes.push(Arc::downgrade(&inner.process));
        Ok(ChromiumoxideBrowser::new(inner))
    }

    /// Starts a local browser and readies its first tab.
    fn start_local(&self, local: &LocalChromium) -> Result<Inner> {
        let started = local.start(self.setup.tabs.stealth)?;
        self.connect_to(started.ws_url.clone(), Some(started))
            .map_err(|(e, started)| {
                if let Some(started) = started {
                    started.discard();
                }
                local.launch_failed(e)
            })
    }
}

/// Opens a readied tab in `browser`, with its own side connection to `ws_url`.
///
/// A tab of a local process `shared` with other pooled browsers opens in a browser context of
/// its own: the process's default context is one cookie jar and storage for all its tabs, and
/// a pooled browser must keep what it rendered to itself as a browser of its own would
/// (`Isolation`). A remote browser's first tab stays in its default context, which is where a
/// remote profile keeps its sessions (`Isolation::Shared` uses them).
async fn open_renderer(
    browser: &Browser,
    ws_url: &str,
    setup: &TabSettings,
    shared: bool,
) -> std::result::Result<Renderer, BoxError> {
    let side = SideChannel::connect(ws_url).await?;
    let context = match shared {
        true => Some(
            browser
                .create_browser_context(CreateBrowserContextParams::default())
                .await?,
        ),
        false => None,
    };
    match tab::Tab::open(browser, &side, context.clone(), setup).await {
        Ok(tab) => Ok(Renderer { tab, side }),
        Err(e) => {
            // Whether or not Tab::open got as far as disposing of it: a second disposal is
            // refused harmlessly, a context left behind is not.
            if let Some(context) = context {
                let _ = browser.dispose_browser_context(context).await;
            }
            Err(e)
        }
    }
}

impl BrowserProvider for ChromiumoxideProvider {
    type Browser = ChromiumoxideBrowser;

    fn name(&self) -> &'static str {
        "chromiumoxide"
    }

    fn tabs_per_process(&self) -> usize {
        match self.setup.source {
            BrowserSource::Local(_) => self.tabs_per_browser,
            BrowserSource::Remote { .. } => 1,
        }
    }

    fn launch(&self) -> Result<ChromiumoxideBrowser> {
        match self.setup.next_browser() {
            NextBrowser::Launch(local) => self.launch_local(local),
            NextBrowser::Connect(url) => self
                .connect_to(url.to_string(), None)
                .map(ChromiumoxideBrowser::new)
                .map_err(|(source, _)| {
                    BrowserError::Connect {
                        url: url.to_string(),
                        source,
                    }
                    .into()
                }),
        }
    }

    fn probe(&self, browser: &ChromiumoxideBrowser, deadline: Duration) -> Result<()> {
        if !browser.alive() {
            return Err(BrowserError::dead("its process has exited").into());
        }
        let inner = browser.inner.clone();
        let answered = self.runtime.run(async move {
            tokio::time::timeout(deadline, inner.process.browser.execute(GetVersionParams::default())).await
        });
        match answered {
            Some(Ok(Ok(_))) => Ok(()),
            Some(Ok(Err(e))) => Err(BrowserError::Dead { source: e.into() }.into()),
            Some(Err(_)) => Err(BrowserError::Unresponsive { deadline }.into()),
            None => Err(BrowserError::dead("the DevTools runtime stopped").into()),
        }
    }

    fn fetch(&self, browser: &ChromiumoxideBrowser, request: &PageRequest) -> Result<RenderedPage> {
        let started = Instant::now();
        let deadline = request.deadline;
        let (inner, setup, job) = (browser.inner.clone(), self.setup.tabs.clone(), request.clone());
        let limit = self.setup.render_memory_limit.zip(browser.pid());
        let rendering = async move {
            // A fetch whose caller gave up runs on until its deadline; the next one waits for it
            // (within its own deadline), or the old fetch's stop would stop the new navigation.
            let Ok(mut current) = tokio::time::timeout(deadline, inner.current.lock()).await else {
                return (RenderEnd::Late, None);
            };
            if inner.cancelled.swap(false, Ordering::AcqRel) {
                return (RenderEnd::Cancelled, None);
            }
            // A refusal left by an earlier render's subresources is not this page's.
            current.tab.take_refusal();
            let left = deadline.saturating_sub(started.elapsed());
            let outcome = tokio::select! {
                rendered = tokio::time::timeout(left, tab::render(&inner.process.browser, &mut current, &setup, &job, started)) => match rendered {
                    Ok(rendered) => RenderEnd::Finished(rendered),
                    Err(_) => RenderEnd::Late,
                },
                () = inner.cancel.notified() => RenderEnd::Cancelled,
                (used_bytes, limit_bytes) = over_memory(limit) => RenderEnd::OverMemory { used_bytes, limit_bytes },
            };
            // A cancel is for the fetch it interrupted (or, sent before any started, for the
            // next one): consumed here either way.
            inner.cancelled.store(false, Ordering::Release);
            if let RenderEnd::Late | RenderEnd::Cancelled = outcome {
                // Stopping the load ends a navigation still waiting for headers and leaves the
                // browser usable. The browser answers the stop itself; the renderer must then
                // answer an evaluation too, or it is stuck in the page's script.
                let page = &current.tab.page;
                let recovered = async {
                    page.execute(StopLoadingParams::default()).await?;
                    page.execute(EvaluateParams::new("1")).await
                };
                if !matches!(tokio::time::timeout(STOP_GRACE, recovered).await, Ok(Ok(_))) {
                    tracing::warn!(url = %job.url, "the page did not yield when stopped; closing its browser");
                    inner.abandoned.store(true, Ordering::Release);
                }
            }
            (outcome, current.tab.take_refusal())
        };
        let (outcome, refusal) = self
            .runtime
            .run(rendering)
            .ok_or_else(|| Error::from(BrowserError::dead("the DevTools runtime stopped")))?;
        if let RenderEnd::Late | RenderEnd::Cancelled = outcome {
            browser.abandon_if_given_up();
        }
        render_result(
            outcome,
            started.elapsed(),
            deadline,
            || refusal,
            || browser.alive(),
            || browser.abandon(),
            self.setup.render_memory_limit,
        )
    }

    fn cancel(&self, browser: &ChromiumoxideBrowser) {
        browser.inner.cancelled.store(true, Ordering::Release);
        browser.inner.cancel.notify_one();
    }

    /// The pooled browser's share of its process tree's PSS: the whole tree's, divided by the
    /// tabs open in it (the pool's `memory_limit` is per pooled browser).
    fn memory_bytes(&self, browser: &ChromiumoxideBrowser) -> Option<u64> {
        let tabs = browser.inner.process.tabs().max(1) as u64;
        process_tree::pss_bytes(browser.pid()?).map(|bytes| bytes / tabs)
    }

    fn close(&self, browser: ChromiumoxideBrowser) {
        drop(browser);
    }
}

/// Resolves once the browser `pid` uses more than its limit (never, without one).
async fn over_memory(limit: Option<(u64, u32)>) -> (u64, u64) {
    let Some((limit_bytes, pid)) = limit else {
        return std::future::pending().await;
    };
    let mut tick = tokio::time::interval(WATCH_TICK);
    loop {
        tick.tick().await;
        // Reading `smaps_rollup` of a browser's processes blocks for a while: off the workers
        // that carry every browser's DevTools traffic.
        let used = tokio::task::spawn_blocking(move || process_tree::pss_bytes(pid)).await;
        if let Ok(Some(used_bytes)) = used
            && used_bytes > limit_bytes
        {
            return (used_bytes, limit_bytes);
        }
    }
}
