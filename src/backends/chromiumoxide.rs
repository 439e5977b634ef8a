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
//! - Not here: answering a proxy's credential challenge. chromiumoxide answers every
//!   `Fetch.authRequired` of a page itself (with its own credentials, or none), ahead of any
//!   listener; giving it the proxy's would also hand them to any site that asks. A provider
//!   given a proxy with credentials is refused with an error that says so.
//! - A render is the same two calls as in `chrome`: `Page.navigate` (on a second connection,
//!   because chromiumoxide holds its own navigations until `load`: `navigator.rs`), then one
//!   evaluation of the shared in-page wait (`chromium/page_script.rs`). Deadlines, cancels and the memory watch
//!   race the render on the runtime; a render that misses its deadline gets `Page.stopLoading`,
//!   and a renderer that cannot answer an evaluation after it has its browser killed.

mod browser;
mod navigator;
mod raw;
mod stealth;
mod tab;

pub use crate::backends::chromium::options::{ChromeOptions, DEFAULT_RENDER_MEMORY_LIMIT};
pub use browser::ChromiumoxideBrowser;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chromiumoxide::Browser;
use chromiumoxide::cdp::browser_protocol::browser::GetVersionParams;
use chromiumoxide::cdp::browser_protocol::page::StopLoadingParams;
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::handler::HandlerConfig;
use futures_util::StreamExt;

use crate::backends::chromium::local::LocalChromium;
use crate::backends::chromium::process_tree;
use crate::backends::chromium::rendered::fetch_result;
use crate::error::{BoxError, BrowserError, Error, FetchError, Result};
use crate::network::RequestCookie;
use crate::policies::AddressPolicy;
use crate::traits::{BrowserProvider, PageRequest, RenderedPage, ResourceKind};
use browser::{Inner, Rendering};
use navigator::Navigator;
use tab::{Renderer, TabSetup};

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

enum Mode {
    Local(LocalChromium),
    Remote { endpoints: Vec<String>, next: AtomicUsize },
}

/// Launches local Chromium processes, or connects to running ones, and drives them with
/// chromiumoxide.
pub struct ChromiumoxideProvider {
    mode: Mode,
    render_memory_limit: Option<u64>,
    setup: Arc<TabSetup>,
    runtime: CdpRuntime,
}

impl std::fmt::Debug for ChromiumoxideProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.mode {
            Mode::Local(local) => f
                .debug_struct("ChromiumoxideProvider")
                .field("executable", &local.executable)
                .field("runtime_dir", &local.runtime_dir)
                .finish_non_exhaustive(),
            Mode::Remote { endpoints, .. } => f
                .debug_struct("ChromiumoxideProvider")
                .field("endpoints", endpoints)
                .finish_non_exhaustive(),
        }
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
    /// A provider that launches local Chromium processes (the same processes, flags and
    /// directories as [`ChromeProvider::local`](super::chrome::ChromeProvider)).
    ///
    /// Fails with [`BrowserError::NotFound`] when no binary is found, naming what was tried and
    /// how to install one, and with a configuration error for a proxy with credentials (see
    /// the module docs).
    pub fn local(options: ChromeOptions) -> Result<Self> {
        if options
            .proxy
            .as_ref()
            .is_some_and(|proxy| proxy.credentials().is_some())
        {
            return Err(Error::config(
                "network.proxy",
                "the caller",
                "the chromiumoxide provider cannot answer a proxy's credential challenge yet (chromiumoxide answers \
                 every challenge itself); use the chrome provider for a proxy with credentials",
            ));
        }
        Ok(Self {
            mode: Mode::Local(LocalChromium::new(&options)?),
            render_memory_limit: options.render_memory_limit,
            setup: Arc::new(TabSetup {
                accept_invalid_certs: options.accept_invalid_certs,
                stealth: options.stealth,
                addresses: options.address_policy,
                blocked: crate::backends::chromium::blocking::patterns(&options.block_resources, &options.block_urls),
                user_agent: options.user_agent,
                headers: options.headers,
                cookies: options.cookies,
            }),
            runtime: CdpRuntime::new()?,
        })
    }

    /// A provider that connects to already running browsers by DevTools websocket URL
    /// (`ws://host:port/devtools/browser/<id>`), round-robin. riptide never kills them, and
    /// verifies certificates whatever flags they were started with.
    pub fn remote(endpoints: Vec<String>) -> Result<Self> {
        if endpoints.is_empty() {
            return Err(BrowserError::Connect {
                url: String::new(),
                source: "no DevTools URL given; pass at least one ws://host:port/devtools/browser/<id>".into(),
            }
            .into());
        }
        if let Some(url) = endpoints
            .iter()
            .find(|url| !url.starts_with("ws://") && !url.starts_with("wss://"))
        {
            return Err(BrowserError::Connect {
                url: url.clone(),
                source: "not a DevTools websocket URL; pass ws://host:port/devtools/browser/<id> (the browser's /json/version lists it)".into(),
            }
            .into());
        }
        Ok(Self {
            mode: Mode::Remote {
                endpoints,
                next: AtomicUsize::new(0),
            },
            render_memory_limit: None,
            setup: Arc::default(),
            runtime: CdpRuntime::new()?,
        })
    }

    /// The provider the configuration describes, as
    /// [`ChromeProvider::from_config`](super::chrome::ChromeProvider::from_config) reads it.
    pub fn from_config(config: &crate::config::RiptideConfig) -> Result<Self> {
        let options = ChromeOptions::from_config(config)?;
        let endpoints = &config.optimizations.browser_pool.remote_endpoints;
        if endpoints.is_empty() {
            return Self::local(options);
        }
        options.refuse_proxy_for_remote()?;
        Ok(Self::remote(endpoints.clone())?
            .accept_invalid_certs(options.accept_invalid_certs)
            .stealth(options.stealth)
            .address_policy(options.address_policy)
            .block(&options.block_resources, &options.block_urls)
            .request_headers(options.user_agent, options.headers)
            .cookies(options.cookies))
    }

    /// Sets whether pages with a TLS certificate that does not verify load.
    pub fn accept_invalid_certs(mut self, accept: bool) -> Self {
        Arc::make_mut(&mut self.setup).accept_invalid_certs = accept;
        self
    }

    /// Sets whether browsers hide that they are automated (see [`ChromeOptions::stealth`]). A
    /// remote browser gets every override that does not need launch flags.
    pub fn stealth(mut self, stealth: bool) -> Self {
        Arc::make_mut(&mut self.setup).stealth = stealth;
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

    /// Sets the subresources browsers do not load.
    pub fn block(mut self, kinds: &[ResourceKind], urls: &[String]) -> Self {
        Arc::make_mut(&mut self.setup).blocked = crate::backends::chromium::blocking::patterns(kinds, urls);
        self
    }

    /// Sets the `User-Agent` and the extra headers of every request pages make.
    pub fn request_headers(mut self, user_agent: Option<String>, headers: Vec<(String, String)>) -> Self {
        let setup = Arc::make_mut(&mut self.setup);
        setup.user_agent = user_agent;
        setup.headers = headers;
        self
    }

    /// Sets the cookies every browser context starts with.
    pub fn cookies(mut self, cookies: Vec<RequestCookie>) -> Self {
        Arc::make_mut(&mut self.setup).cookies = cookies;
        self
    }

    /// The Chromium binary in use (local mode).
    pub fn executable(&self) -> Option<&std::path::Path> {
        match &self.mode {
            Mode::Local(local) => Some(&local.executable),
            Mode::Remote { .. } => None,
        }
    }

    /// The directory per-browser directories are created in (local mode).
    pub fn runtime_dir(&self) -> Option<&std::path::Path> {
        match &self.mode {
            Mode::Local(local) => Some(&local.runtime_dir),
            Mode::Remote { .. } => None,
        }
    }

    /// Connects to the browser at `ws_url` and readies its first tab, within
    /// [`CONNECT_DEADLINE`].
    fn connect_to(&self, ws_url: String) -> std::result::Result<Arc<Inner>, BoxError> {
        let setup = self.setup.clone();
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
            let first = async {
                let mut navigator = Navigator::connect(&ws_url).await?;
                let tab = tab::Tab::open(&browser, &mut navigator, None, &setup).await?;
                Ok::<_, BoxError>(Renderer { tab, navigator })
            };
            match first.await {
                Ok(renderer) => Ok((browser, connection, renderer)),
                Err(e) => {
                    connection.abort();
                    Err(e)
                }
            }
        };
        let handle = self.runtime.handle().clone();
        self.runtime
            .run(async move {
                match tokio::time::timeout(CONNECT_DEADLINE, connecting).await {
                    Ok(connected) => connected,
                    Err(_) => Err(format!("no answer within {CONNECT_DEADLINE:?}").into()),
                }
            })
            .unwrap_or_else(|| Err("the DevTools runtime stopped".into()))
            .map(|(browser, connection, renderer)| Arc::new(Inner::new(browser, connection, renderer, handle)))
    }
}

impl BrowserProvider for ChromiumoxideProvider {
    type Browser = ChromiumoxideBrowser;

    fn name(&self) -> &'static str {
        "chromiumoxide"
    }

    fn launch(&self) -> Result<ChromiumoxideBrowser> {
        match &self.mode {
            Mode::Local(local) => {
                let started = local.start(self.setup.stealth)?;
                match self.connect_to(started.ws_url.clone()) {
                    Ok(inner) => Ok(ChromiumoxideBrowser::local(inner, started)),
                    Err(e) => {
                        started.discard();
                        Err(local.launch_failed(e))
                    }
                }
            }
            Mode::Remote { endpoints, next } => {
                let url = &endpoints[next.fetch_add(1, Ordering::Relaxed) % endpoints.len()];
                self.connect_to(url.clone())
                    .map(|inner| ChromiumoxideBrowser::remote(inner, url.clone()))
                    .map_err(|source| {
                        BrowserError::Connect {
                            url: url.clone(),
                            source,
                        }
                        .into()
                    })
            }
        }
    }

    fn probe(&self, browser: &ChromiumoxideBrowser, deadline: Duration) -> Result<()> {
        if !browser.alive() {
            return Err(BrowserError::dead("its process has exited").into());
        }
        let inner = browser.inner.clone();
        let answered = self.runtime.run(async move {
            tokio::time::timeout(deadline, inner.browser.execute(GetVersionParams::default())).await
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
        let timed_out = || Error::from(FetchError::Timeout { deadline });
        let (inner, setup, job) = (browser.inner.clone(), self.setup.clone(), request.clone());
        let limit = self.render_memory_limit.zip(browser.pid);
        let rendering = async move {
            // A fetch whose caller gave up runs on until its deadline; the next one waits for it
            // (within its own deadline), or the old fetch's stop would stop the new navigation.
            let Ok(mut current) = tokio::time::timeout(deadline, inner.current.lock()).await else {
                return (Rendering::Late, None);
            };
            if inner.cancelled.swap(false, Ordering::AcqRel) {
                return (Rendering::Cancelled, None);
            }
            // A refusal left by an earlier render's subresources is not this page's.
            current.tab.take_refusal();
            let left = deadline.saturating_sub(started.elapsed());
            let outcome = tokio::select! {
                rendered = tokio::time::timeout(left, tab::render(&inner.browser, &mut current, &setup, &job, started)) => match rendered {
                    Ok(rendered) => Rendering::Finished(rendered),
                    Err(_) => Rendering::Late,
                },
                () = inner.cancel.notified() => Rendering::Cancelled,
                (used_bytes, limit_bytes) = over_memory(limit) => Rendering::OverMemory { used_bytes, limit_bytes },
            };
            // A cancel is for the fetch it interrupted (or, sent before any started, for the
            // next one): consumed here either way.
            inner.cancelled.store(false, Ordering::Release);
            if let Rendering::Late | Rendering::Cancelled = outcome {
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
        let result = match outcome {
            Rendering::Finished(result) => result,
            Rendering::Late => {
                browser.abandon_if_given_up();
                return Err(timed_out());
            }
            Rendering::Cancelled => {
                browser.abandon_if_given_up();
                return Err(FetchError::Cancelled.into());
            }
            Rendering::OverMemory {
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
        };
        fetch_result(result, started.elapsed(), deadline, || refusal, || browser.alive())
    }

    fn cancel(&self, browser: &ChromiumoxideBrowser) {
        browser.inner.cancelled.store(true, Ordering::Release);
        browser.inner.cancel.notify_one();
    }

    fn memory_bytes(&self, browser: &ChromiumoxideBrowser) -> Option<u64> {
        process_tree::pss_bytes(browser.pid?)
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
