//! [`Executor`]: extraction end to end, with all three optimizations composed.
//!
//! For each page: resolve the input (URL or local file), ask the timeout policy for a deadline,
//! fetch the HTML (static HTTP GET or a render in a pooled browser) under the retry helper, then
//! run the WASM extractor from the compile cache. With [`EngineChoice::Auto`] every page is fetched
//! statically first and escalated to headless when the HTML shows it is built by JavaScript
//! (see [`engine_choice`] for the heuristic); an escalated domain goes headless directly after
//! that.
//!
//! Each optimization can be turned off in the configuration (`enabled = false`) and the executor
//! still works the slow way (a browser launched per page, the extractor compiled per call, the
//! default timeout for everyone), so the two can be compared.

mod any_executor;
mod browsers;
mod builder;
pub mod engine_choice;
mod evidence_writer;
mod page_options;
mod page_source;
mod rendering_evidence;
mod settle_memory;
pub(crate) mod static_fetch;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::Stream;

pub use self::any_executor::{AnyExecutor, BoxExecutor};
use self::browsers::Browsers;
pub use self::builder::{DEFAULT_MAX_BODY_BYTES, DEFAULT_SETTLE, ExecutorBuilder};
pub use self::page_options::{PageOptions, Validators};
use self::page_source::PageSource;
use self::rendering_evidence::{RenderingEvidence, rendering_gained};
use self::settle_memory::SettleMemory;
use self::static_fetch::{HttpReply, fetch_http, read_file};
use crate::cache::{CompileCache, ModuleSource};
use crate::config::RiptideConfig;
use crate::error::{Error, ErrorKind, FetchError, Result, RetryError, join_blocking};
use crate::extract::{Content, ExtractOptions, ExtractedContent, StageTimings, WarmInstances, run_extractor_warm};
use crate::metrics::{ExtractionCounters, ExtractionStats, PerformanceReport};
use crate::policies::{AttemptFailure, FixedTimeout, Retrier};
use crate::pool::PoolStatus;
use crate::sync::now_unix_secs;
use crate::traits::{BrowserProvider, Engine, ModuleCache, PageRequest, Target, TimeoutPolicy, WasmRuntime};

/// Which engine fetches a page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    /// Static first; headless when the HTML needs JavaScript (remembered per domain).
    #[default]
    Auto,
    /// Always a plain HTTP fetch (or file read).
    Static,
    /// Always a render in a headless browser.
    Headless,
}

impl std::str::FromStr for EngineChoice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(EngineChoice::Auto),
            "static" => Ok(EngineChoice::Static),
            "headless" => Ok(EngineChoice::Headless),
            other => Err(Error::config(
                "engine",
                "the caller",
                format!("`{other}` is not an engine; use auto, static or headless"),
            )),
        }
    }
}

/// A render's own deadline comes this long (at most a fifth of the attempt's time) before the
/// attempt's, so a page that is there but not ready is taken as it stands (partial) before the
/// retry helper gives up on the attempt.
const PARTIAL_MARGIN: Duration = Duration::from_millis(500);

/// Pages up to this size have their links read on the async worker itself (links-only).
const INLINE_LINK_READ_BYTES: usize = 64 * 1024;

/// Extracts pages with a browser provider `B`, a WASM engine `R`, a module store `C` and a
/// timeout policy `T`. Build one with [`Executor::builder`] (or
/// [`Stack`](crate::Stack) for the stack a configuration describes) and share it: every
/// method takes `&self`.
pub struct Executor<B: BrowserProvider, R: WasmRuntime, C: ModuleCache, T> {
    pub(crate) config: RiptideConfig,
    pub(crate) http: reqwest::Client,
    pub(crate) browsers: Browsers<B>,
    pub(crate) cache: Arc<CompileCache<R, C>>,
    pub(crate) extractor: ModuleSource,
    pub(crate) extract_options: ExtractOptions,
    /// Extractor instances kept warm between pages.
    pub(crate) warm: Arc<WarmInstances>,
    pub(crate) policy: T,
    /// Set when adaptive timeouts are off: every target gets the default timeout.
    pub(crate) fixed: Option<FixedTimeout>,
    pub(crate) retrier: Retrier,
    pub(crate) addresses: crate::network::AddressPolicy,
    pub(crate) max_body_bytes: usize,
    /// What every render starts from (its URL, deadline and a learned settle aside): the
    /// configuration's and the builder's defaults, which each page's
    /// [`PageOptions::render`] overrides.
    pub(crate) page_request: PageRequest,
    /// What each host's renders showed of their DOM pauses, when the settle is learned.
    pub(crate) settle_memory: Option<Mutex<SettleMemory>>,
    pub(crate) report_file: Option<PathBuf>,
    /// Hosts where rendering kept adding content: `Auto` renders them directly.
    pub(crate) rendering_evidence: Arc<Mutex<RenderingEvidence>>,
    /// Where the rendering evidence is kept between runs, if anywhere.
    pub(crate) evidence_store: Option<Arc<dyn crate::traits::LearningStore>>,
    /// Keeps the rendering evidence and its store in step while the executor runs.
    pub(crate) _evidence_writer: Option<evidence_writer::EvidenceWriter>,
    pub(crate) counters: ExtractionCounters,
    /// Set once the extractor has loaded: pages no longer fetch while it loads.
    pub(crate) module_loaded: AtomicBool,
}

impl<B: BrowserProvider, R: WasmRuntime, C: ModuleCache, T: TimeoutPolicy> std::fmt::Debug for Executor<B, R, C, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("browser_provider", &std::any::type_name::<B>())
            .field("cache", &self.cache)
            .field("fixed_timeouts", &self.fixed.is_some())
            .finish_non_exhaustive()
    }
}

/// What fetching produced, before extraction.
struct FetchedPage {
    html: String,
    final_url: String,
    engine: Engine,
    attempts: u32,
    /// The `Content-Language` header: the page's language when its markup names none.
    content_language: Option<String>,
    /// The `X-Robots-Tag` headers of a static fetch.
    x_robots_tag: Option<String>,
    /// The `ETag` and `Last-Modified` headers of a static fetch.
    validators: Option<Validators>,
    /// A render taken at its deadline, not ready.
    partial: bool,
    /// The render's screenshot, if asked for.
    screenshot: Option<Vec<u8>>,
}

impl<B: BrowserProvider, R: WasmRuntime, C: ModuleCache, T: TimeoutPolicy> Executor<B, R, C, T> {
    /// A builder from the three parts: where browsers come from, the compile cache the
    /// extractor is loaded from, and the timeout policy; see [`ExecutorBuilder`].
    pub fn builder(provider: B, cache: CompileCache<R, C>, policy: T) -> ExecutorBuilder<B, R, C, T> {
        ExecutorBuilder::new(provider, cache, policy)
    }

    /// Extracts `url` (an `http(s)://` or `file://` URL, or a local path) with [`EngineChoice::Auto`].
    pub async fn extract(&self, url: &str) -> Result<Content> {
        self.extract_with(url, EngineChoice::Auto).await
    }

    /// Extracts `url` with `engine`. Every error names the URL ([`Error::url`]); match on
    /// [`Error::kind`] for what went wrong.
    pub async fn extract_with(&self, url: &str, engine: EngineChoice) -> Result<Content> {
        self.extract_page(url, PageOptions::new().engine(engine)).await
    }

    /// Extracts `url` with per-page settings ([`PageOptions`]: the engine, and what a page may
    /// set differently from the executor, such as a selector to wait for or a shorter time
    /// limit).
    pub async fn extract_page(&self, url: &str, options: PageOptions) -> Result<Content> {
        let result = self.run(url, &options).await.map_err(|e| e.with_url(url));
        if result.is_err() {
            self.counters.failed();
        }
        result
    }

    /// Extracts every URL with [`EngineChoice::Auto`], at most `concurrency` at a time (and never
    /// more headless renders than the pool's `max_instances`). Results arrive in completion
    /// order, each with its URL; a failing URL never stops the others.
    pub fn extract_many<'a, I>(
        &'a self,
        urls: I,
        concurrency: usize,
    ) -> impl Stream<Item = (String, Result<Content>)> + 'a
    where
        I: IntoIterator + 'a,
        I::Item: Into<String>,
    {
        self.extract_many_with(urls, EngineChoice::Auto, concurrency)
    }

    /// [`extract_many`](Executor::extract_many) with `engine`.
    pub fn extract_many_with<'a, I>(
        &'a self,
        urls: I,
        engine: EngineChoice,
        concurrency: usize,
    ) -> impl Stream<Item = (String, Result<Content>)> + 'a
    where
        I: IntoIterator + 'a,
        I::Item: Into<String>,
    {
        let any: &'a (dyn AnyExecutor + 'a) = self;
        any.extract_many_with(urls, engine, concurrency)
    }

    /// Starts the browser pool (if it is on) and loads the extractor now, so the first page
    /// does not pay for either.
    pub async fn warm_up(&self) -> Result<()> {
        let (module, pool) = tokio::join!(self.module(), self.browsers.pool());
        module?;
        self.module_loaded.store(true, Ordering::Release);
        pool?;
        Ok(())
    }

    /// Every optimization's numbers now.
    pub async fn report(&self) -> PerformanceReport {
        let hosts_rendered_directly = crate::sync::lock(&self.rendering_evidence).remembered() as u64;
        PerformanceReport {
            generated_at_unix_secs: now_unix_secs(),
            optimizations_enabled: self.config.optimizations.enabled,
            extraction: ExtractionStats {
                hosts_rendered_directly,
                ..self.counters.stats()
            },
            browser_pool: self.browsers.status().await,
            wasm_cache: self
                .cache
                .lifetime_stats()
                .map_err(|e| tracing::warn!(error = %e, "cache stats unavailable"))
                .ok(),
            adaptive_timeout: self.policy().stats(),
        }
    }

    /// The pool's status, if it was started.
    pub async fn pool_status(&self) -> Option<PoolStatus> {
        self.browsers.status().await
    }

    /// Saves what was learned and closes the browsers: flushes the timeout policy's profiles,
    /// the rendering evidence and the cache's counters, closes the pool, and writes the
    /// performance report to the home (`last-run.json`, when `performance.track_metrics` is
    /// on). Later headless renders fail with [`PoolError::Closed`](crate::error::PoolError::Closed).
    pub async fn shutdown(&self) -> Result<()> {
        let report = self.report().await;
        self.browsers.shutdown().await;
        if let Err(e) = self.cache.flush_stats() {
            tracing::warn!(error = %e, "cache counters could not be saved");
        }
        if let Some(store) = &self.evidence_store {
            let changed = crate::sync::lock(&self.rendering_evidence).take_changed(std::time::SystemTime::now());
            if let Err(e) = store.save_evidence(&changed) {
                tracing::warn!(error = %e, "rendering evidence could not be saved");
            }
        }
        if let Some(path) = &self.report_file {
            let json = serde_json::to_vec_pretty(&report).unwrap_or_default();
            if let Err(e) = std::fs::write(path, json) {
                tracing::warn!(error = %e, file = %path.display(), "the performance report could not be written");
            }
        }
        self.policy().flush()
    }

    /// The timeout policy.
    pub fn timeout_policy(&self) -> &T {
        &self.policy
    }

    /// The compile cache.
    pub fn compile_cache(&self) -> &CompileCache<R, C> {
        &self.cache
    }

    /// The configuration the executor was built with.
    pub fn config(&self) -> &RiptideConfig {
        &self.config
    }

    fn policy(&self) -> &dyn TimeoutPolicy {
        match &self.fixed {
            Some(fixed) => fixed,
            None => &self.policy,
        }
    }

    async fn run(&self, url: &str, options: &PageOptions) -> Result<Content> {
        let (started, engine) = (Instant::now(), options.engine);
        let source = PageSource::resolve(url)?;
        if let Err(reason) = self.addresses.check_url(source.url()) {
            return Err(Error::from(FetchError::AddressNotAllowed {
                reason: reason.to_string(),
            })
            .with_url(source.url().as_str()));
        }
        let host = source.host().to_string();
        // A local file is what it is: `Auto` never renders one (ask for `Headless` to); nor a
        // links-only page, which has no content to judge by.
        let auto = engine == EngineChoice::Auto && !source.is_file() && !self.links_only(options);
        let directly = auto && crate::sync::lock(&self.rendering_evidence).render_directly(&host);
        let mut engine_choice = Duration::ZERO;
        let mut escalated = false;
        let (fetched, page, module_load, extraction) = match engine {
            EngineChoice::Headless => self.headless_extract(&source, options).await?,
            EngineChoice::Static => self.static_extract(&source, options).await?,
            EngineChoice::Auto if !auto => self.static_extract(&source, options).await?,
            EngineChoice::Auto if directly => self.headless_extract(&source, options).await?,
            EngineChoice::Auto => {
                let (fetched, page, load, run) = self.static_extract(&source, options).await?;
                match engine_choice::needs_javascript(&fetched.html, &page) {
                    None => {
                        crate::sync::lock(&self.rendering_evidence).record(&host, None);
                        (fetched, page, load, run)
                    }
                    Some(reason) => {
                        tracing::debug!(url, reason, "escalating to headless");
                        engine_choice = started.elapsed();
                        escalated = true;
                        let static_chars = page.text.chars().count();
                        let rendered = self.headless_extract(&source, options).await?;
                        let gained = rendering_gained(static_chars, rendered.1.text.chars().count());
                        crate::sync::lock(&self.rendering_evidence).record(&host, Some(gained));
                        rendered
                    }
                }
            }
        };
        let total = started.elapsed();
        let timings = StageTimings {
            engine_choice,
            fetch: total.saturating_sub(engine_choice + module_load + extraction),
            module_load,
            extraction,
            total,
            attempts: fetched.attempts,
        };
        self.counters.succeeded(fetched.engine, escalated, &timings);
        Ok(Content {
            url: url.to_string(),
            final_url: fetched.final_url,
            engine: fetched.engine,
            partial: fetched.partial,
            screenshot: fetched.screenshot,
            x_robots_tag: fetched.x_robots_tag,
            etag: fetched.validators.as_ref().and_then(|v| v.etag.clone()),
            last_modified: fetched.validators.and_then(|v| v.last_modified),
            extracted: page,
            timings,
        })
    }

    async fn static_extract(
        &self,
        source: &PageSource,
        options: &PageOptions,
    ) -> Result<(FetchedPage, ExtractedContent, Duration, Duration)> {
        let fetch = self.fetch_static(source, options.time_limit, options.validators.as_ref());
        let (fetched, module, waited) = self.while_loading_the_module(fetch, options).await;
        self.extract_fetched(fetched?, (module, waited), options).await
    }

    async fn headless_extract(
        &self,
        source: &PageSource,
        options: &PageOptions,
    ) -> Result<(FetchedPage, ExtractedContent, Duration, Duration)> {
        let (fetched, module, waited) = self
            .while_loading_the_module(self.render(source, options), options)
            .await;
        self.extract_fetched(fetched?, (module, waited), options).await
    }

    /// Runs `fetch` while the extractor loads, the first time: a process's first page would
    /// otherwise fetch (or launch a browser and render) and only then read the module from
    /// disk. Later pages find the module loaded and run `fetch` alone. A load that fails here
    /// is tried again, and reports its error, in [`Self::extract_fetched`]. A links-only page
    /// needs no extractor, and loads none.
    ///
    /// Also returns the time the page waited for the load once fetched, part of its
    /// `module_load` stage: a compile that outlasts the fetch shows there, not in `fetch`
    /// (which the crawler paces hosts by). Zero when nothing was loaded alongside.
    async fn while_loading_the_module<F: Future>(
        &self,
        fetch: F,
        options: &PageOptions,
    ) -> (F::Output, Option<R::Module>, Duration) {
        if self.module_loaded.load(Ordering::Acquire) || self.links_only(options) {
            return (fetch.await, None, Duration::ZERO);
        }
        let started = Instant::now();
        let ((fetched, fetched_at), (loaded, loaded_at)) =
            tokio::join!(async { (fetch.await, started.elapsed()) }, async {
                (self.module().await, started.elapsed())
            },);
        if loaded.is_ok() {
            self.module_loaded.store(true, Ordering::Release);
        }
        (fetched, loaded.ok(), loaded_at.saturating_sub(fetched_at))
    }

    /// Runs the extractor on a blocking thread, with `module` if it was loaded already (else
    /// from the cache): (module load time, `waited` included; run time).
    async fn extract_fetched(
        &self,
        fetched: FetchedPage,
        (module, waited): (Option<R::Module>, Duration),
        page_options: &PageOptions,
    ) -> Result<(FetchedPage, ExtractedContent, Duration, Duration)> {
        if self.links_only(page_options) {
            // Read natively, outside the guest: see `extract/links.rs` for why. A page of
            // ordinary size is read in tens of microseconds, less than handing it to a
            // blocking thread costs; a large one goes there, off the async workers.
            let inline = fetched.html.len() <= INLINE_LINK_READ_BYTES;
            let read = move || {
                let t = Instant::now();
                let mut page = crate::extract::read_links(&fetched.html, Some(&fetched.final_url));
                page.language.clone_from(&fetched.content_language);
                Ok((fetched, page, Duration::ZERO, t.elapsed()))
            };
            if inline {
                return read();
            }
            return join_blocking(tokio::task::spawn_blocking(read).await, "read a page's links");
        }
        let cache = self.cache.clone();
        let extractor = self.extractor.clone();
        let warm = self.warm.clone();
        let mut options = self.extract_options;
        options.markdown = page_options.markdown.unwrap_or(options.markdown);
        options.content_html = page_options.content_html.unwrap_or(options.content_html);
        let extracted = tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            let module = match module {
                Some(module) => module,
                None => cache.get_or_compile(&extractor)?,
            };
            let load = waited + t.elapsed();
            let t = Instant::now();
            let mut page = run_extractor_warm(
                cache.runtime(),
                &module,
                &warm,
                &fetched.html,
                Some(&fetched.final_url),
                options,
            )?;
            if page.language.is_none() {
                page.language.clone_from(&fetched.content_language);
            }
            Ok((fetched, page, load, t.elapsed()))
        })
        .await;
        join_blocking(extracted, "extract a page")
    }

    /// Whether `options` (else the executor's defaults) ask for the links alone.
    fn links_only(&self, options: &PageOptions) -> bool {
        options.links_only.unwrap_or(self.extract_options.links_only)
    }

    async fn module(&self) -> Result<R::Module> {
        let cache = self.cache.clone();
        let extractor = self.extractor.clone();
        join_blocking(
            tokio::task::spawn_blocking(move || cache.get_or_compile(&extractor)).await,
            "load the extractor",
        )
    }

    async fn fetch_static(
        &self,
        source: &PageSource,
        time_limit: Option<Duration>,
        validators: Option<&Validators>,
    ) -> Result<FetchedPage> {
        let limit = self.max_body_bytes;
        let url = match source {
            PageSource::File { path, url } => {
                let read = path.clone();
                let read = tokio::task::spawn_blocking(move || {
                    read_file(&read, limit).map_err(|e| Error::io("read the page", read, e))
                })
                .await;
                let html = join_blocking(read, "read a page")?
                    .ok_or_else(|| Error::from(FetchError::BodyTooLarge { limit }).with_url(url.as_str()))?;
                return Ok(FetchedPage {
                    html,
                    final_url: url.to_string(),
                    engine: Engine::Static,
                    attempts: 1,
                    content_language: None,
                    x_robots_tag: None,
                    validators: None,
                    partial: false,
                    screenshot: None,
                });
            }
            PageSource::Http(url) => url,
        };
        if self.config.network.proxy.is_some() && self.addresses.restricts() {
            // Behind a proxy the client never resolves the page's host (the proxy does), so
            // the address policy is checked here, on the addresses this machine resolves.
            let (policy, checked) = (self.addresses.clone(), url.clone());
            let verdict = tokio::task::spawn_blocking(move || Ok(policy.check_url_resolving(&checked))).await;
            if let Err(reason) = join_blocking(verdict, "check a page's address")? {
                return Err(Error::from(FetchError::AddressNotAllowed {
                    reason: reason.to_string(),
                })
                .with_url(url.as_str()));
            }
        }
        let target = Target::new(source.host(), Engine::Static);
        let origin = source.origin();
        let attempts = AtomicU32::new(0);
        let fetched = self
            .retrier
            .run_at_origin_within(self.policy(), &target, &origin, time_limit, |_timeout| {
                attempts.fetch_add(1, Ordering::Relaxed);
                fetch_http(&self.http, url, limit, validators)
            })
            .await
            .map_err(|e| the_attempts_error(e).with_url(url.as_str()))?;
        match fetched {
            HttpReply::Page {
                html,
                final_url,
                content_language,
                x_robots_tag,
                validators,
            } => Ok(FetchedPage {
                html,
                final_url: final_url.to_string(),
                engine: Engine::Static,
                attempts: attempts.into_inner(),
                content_language,
                x_robots_tag,
                validators,
                partial: false,
                screenshot: None,
            }),
            HttpReply::NotHtml(content_type) => {
                Err(Error::from(FetchError::NotHtml { content_type }).with_url(url.as_str()))
            }
            HttpReply::TooLarge => Err(Error::from(FetchError::BodyTooLarge { limit }).with_url(url.as_str())),
            HttpReply::NotModified => Err(Error::from(FetchError::NotModified).with_url(url.as_str())),
        }
    }

    async fn render(&self, source: &PageSource, options: &PageOptions) -> Result<FetchedPage> {
        let renderer = self.browsers.renderer().await?;
        let url = source.url().to_string();
        let target = Target::new(source.host(), Engine::Headless);
        let origin = source.origin();
        let attempts = AtomicU32::new(0);
        let settle = match (&self.settle_memory, self.page_request.settle) {
            (Some(memory), Some(configured)) => Some(crate::sync::lock(memory).settle_for(source.host(), configured)),
            (_, configured) => configured,
        };
        let page = self
            .retrier
            .run_at_origin_within(self.policy(), &target, &origin, options.time_limit, |timeout| {
                attempts.fetch_add(1, Ordering::Relaxed);
                let deadline = timeout.saturating_sub(PARTIAL_MARGIN.min(timeout / 5));
                let mut request = self.page_request.clone().with(&options.render).deadline(deadline);
                request.url.clone_from(&url);
                request.settle = settle;
                let renderer = &renderer;
                async move {
                    match renderer.fetch(request).await {
                        Ok(page) => Ok(Ok(page)),
                        // The server answered, with something that is not a page (a PDF, plain
                        // text): the attempt succeeded as far as the host goes, and the request
                        // fails after it, not retried, as a static fetch's does.
                        Err(e) if matches!(e.kind(), ErrorKind::Fetch(FetchError::NotHtml { .. })) => Ok(Err(e)),
                        // Not even a DOM by the deadline: let the attempt's own time-out fire, so
                        // the policy sees a time-out (a censored latency), not a failure.
                        Err(e) if matches!(e.kind(), ErrorKind::Fetch(FetchError::Timeout { .. })) => {
                            std::future::pending().await
                        }
                        Err(e) => Err(AttemptFailure::from(e)),
                    }
                }
            })
            .await
            .map_err(the_attempts_error)??;
        if let (Some(memory), Some(pause), false) = (&self.settle_memory, page.profile.settle_pause, page.partial) {
            crate::sync::lock(memory).observe(source.host(), pause);
        }
        Ok(FetchedPage {
            html: page.html,
            final_url: page.final_url,
            engine: Engine::Headless,
            attempts: attempts.into_inner(),
            content_language: None,
            x_robots_tag: None,
            validators: None,
            partial: page.partial,
            screenshot: page.screenshot,
        })
    }
}

/// A request that ended on an attempt's failure which retrying cannot fix is reported as that
/// failure itself (an HTTP 404 is a `FetchError::HttpStatus`, not a retry error); the retry
/// helper's own errors (exhausted, circuit open, budget spent) stay as they are.
fn the_attempts_error(e: Error) -> Error {
    match e.into_kind() {
        ErrorKind::Retry(RetryError::AttemptFailed {
            source: Some(source), ..
        }) => source,
        other => other.into(),
    }
}
