//! [`ExecutorBuilder`]: assemble an executor from a configuration and the four parts.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Executor;
use super::browsers::Browsers;
use super::evidence_writer::EvidenceWriter;
use super::rendering_evidence::RenderingEvidence;
use crate::cache::{CompileCache, ModuleSource};
use crate::config::RiptideConfig;
use crate::error::{Error, Result};
use crate::extract::{ExtractOptions, WarmInstances};
use crate::metrics::ExtractionCounters;
use crate::network::AddressPolicy;
use crate::policies::{FixedTimeout, Retrier, RetrySettings};
use crate::pool::PoolOptions;
use crate::traits::{
    BrowserProvider, Isolation, LearningStore, ModuleCache, PageRequest, RenderOptions, TimeoutPolicy, WaitUntil,
    WasmRuntime,
};

/// Pages larger than this are refused ([`FetchError::BodyTooLarge`](crate::error::FetchError::BodyTooLarge)) unless raised with
/// [`ExecutorBuilder::max_body_bytes`].
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 << 20;

/// Builds an [`Executor`] from its three parts, given up front ([`Executor::builder`]), and
/// optionally a configuration (defaults otherwise) and limits. A part left out is a compile
/// error, not a runtime one.
///
/// ```no_run
/// # #[cfg(all(feature = "chromiumoxide", feature = "wasmtime"))]
/// # async fn demo() -> riptide::Result<()> {
/// use riptide::backends::chromiumoxide::ChromiumoxideProvider;
/// use riptide::backends::memory::MemoryModuleCache;
/// use riptide::backends::wasmtime::WasmtimeRuntime;
/// use riptide::policies::AdaptiveTimeout;
/// use riptide::{CacheOptions, CompileCache, Executor, GuestLimits, RiptideConfig};
///
/// let config = RiptideConfig::load()?;
/// let executor = Executor::builder(
///     ChromiumoxideProvider::from_config(&config)?,
///     CompileCache::new(WasmtimeRuntime::new(GuestLimits::default(), true)?, MemoryModuleCache::new(), CacheOptions::default()),
///     AdaptiveTimeout::new(config.optimizations.adaptive_timeout.clone()),
/// )
/// .config(config)
/// .build()?;
/// let page = executor.extract("https://example.com/").await?;
/// println!("{:?}", page.extracted.title);
/// executor.shutdown().await?;
/// # Ok(())
/// # }
/// ```
pub struct ExecutorBuilder<B, R: WasmRuntime, C: ModuleCache, T> {
    config: RiptideConfig,
    provider: std::result::Result<B, Arc<Error>>,
    cache: CompileCache<R, C>,
    policy: T,
    extractor: Option<ModuleSource>,
    extract_options: Option<ExtractOptions>,
    addresses: Option<AddressPolicy>,
    max_body_bytes: usize,
    user_agent: Option<String>,
    /// What every page is rendered with unless it says otherwise, over the configuration's
    /// defaults.
    render: RenderOptions,
    settle: Option<Duration>,
    adaptive_settle: Option<bool>,
    report_file: Option<PathBuf>,
    retry_seed: Option<u64>,
    request_timeout: Option<Duration>,
    evidence_store: Option<Arc<dyn LearningStore>>,
    pages_per_instance: Option<u32>,
}

impl<B, R: WasmRuntime, C: ModuleCache, T> std::fmt::Debug for ExecutorBuilder<B, R, C, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorBuilder")
            .field("browser_provider", &std::any::type_name::<B>())
            .field("cache", &self.cache)
            .field("timeout_policy", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}

/// How long a rendered page's DOM must stay unchanged before its HTML is taken, by default:
/// long enough for scripts that build the page right after `load`, short enough not to matter
/// next to a render.
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(100);

impl<B: BrowserProvider, R: WasmRuntime, C: ModuleCache, T: TimeoutPolicy> ExecutorBuilder<B, R, C, T> {
    /// A builder from the three parts: where browsers come from, the compile cache the
    /// extractor is loaded from, and the timeout policy. Share a policy with other code (to
    /// read its profiles while the executor runs) by passing an `Arc` of it.
    pub fn new(provider: B, cache: CompileCache<R, C>, policy: T) -> Self {
        Self::with_provider_result(Ok(provider), cache, policy)
    }

    /// The same with a provider that may have failed to set up (no Chromium installed, ...):
    /// on `Err` the executor still extracts statically, and headless renders fail with
    /// [`PoolError::Unavailable`](crate::error::PoolError::Unavailable) carrying this error.
    pub fn with_provider_result(provider: Result<B>, cache: CompileCache<R, C>, policy: T) -> Self {
        Self {
            config: RiptideConfig::default(),
            provider: provider.map_err(Arc::new),
            cache,
            policy,
            extractor: None,
            extract_options: None,
            addresses: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            user_agent: None,
            render: RenderOptions::default(),
            settle: Some(DEFAULT_SETTLE),
            adaptive_settle: None,
            report_file: None,
            retry_seed: None,
            request_timeout: None,
            evidence_store: None,
            pages_per_instance: None,
        }
    }

    /// The configuration: which optimizations are on, pool sizes, retry settings.
    pub fn config(mut self, config: RiptideConfig) -> Self {
        self.config = config;
        self
    }

    /// What the extractor produces beyond the fields every extraction has: Markdown and the
    /// cleaned article HTML (default: the config's `[extraction]`, Markdown on, HTML off).
    pub fn extract_options(mut self, options: ExtractOptions) -> Self {
        self.extract_options = Some(options);
        self
    }

    /// Which pages may be loaded (default: the config's `[network]`, which allows
    /// everything). The static engine checks it on the input, after DNS and on every
    /// redirect; give the browser provider the same policy (`ChromiumSettings::address_policy`)
    /// for renders.
    pub fn address_policy(mut self, policy: AddressPolicy) -> Self {
        self.addresses = Some(policy);
        self
    }

    /// Another extractor module with the same ABI (default: the bundled one).
    pub fn extractor(mut self, source: ModuleSource) -> Self {
        self.extractor = Some(source);
        self
    }

    /// The largest page body read (default 16 MiB).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// The `User-Agent` of static fetches (default: the config's `[network] user_agent`, else
    /// `riptide/<version>`). Give the browser provider the same (`ChromiumSettings::user_agent`)
    /// for renders.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// How every page is rendered unless its own [`PageOptions::render`](super::PageOptions)
    /// says otherwise: each field set here overrides the configuration's default
    /// ([`BrowserPoolConfig::render_defaults`](crate::config::BrowserPoolConfig::render_defaults))
    /// and what earlier calls set; a field left `None` keeps them.
    pub fn page_defaults(mut self, defaults: RenderOptions) -> Self {
        self.render = defaults.over(self.render);
        self
    }

    /// When a headless render counts as loaded (default [`WaitUntil::Load`]); a page not loaded
    /// by its deadline is taken as it stands, marked `partial`.
    pub fn wait_until(mut self, wait_until: WaitUntil) -> Self {
        self.render.wait_until = Some(wait_until);
        self
    }

    /// Which earlier renders' cookies and storage a render may see (default: the config's
    /// `[optimizations.browser_pool] isolation`, [`Isolation::Site`]).
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.render.isolation = Some(isolation);
        self
    }

    /// Take a PNG of every rendered page's viewport ([`Content::screenshot`](crate::Content);
    /// static pages have none). Default off: it is one more DevTools call a render.
    pub fn screenshots(mut self, screenshots: bool) -> Self {
        self.render.screenshot = Some(screenshots);
        self
    }

    /// Headless renders also wait until this CSS selector matches.
    pub fn wait_for(mut self, selector: impl Into<String>) -> Self {
        self.render.wait_for = Some(selector.into());
        self
    }

    /// How long a rendered page's DOM must stay unchanged before its HTML is taken (default
    /// [`DEFAULT_SETTLE`]; `None`: as soon as `load` fired and `wait_for` matches).
    pub fn settle(mut self, quiet: Option<Duration>) -> Self {
        self.settle = quiet;
        self
    }

    /// Whether each host's settle is learned from its earlier renders (default: the config's
    /// `[optimizations.browser_pool] adaptive_settle`, `true`): once
    /// four renders of a host have shown how long its pages pause before a script changes them,
    /// its pages wait three times the longest recent pause (at least it plus 40 ms, at least
    /// 40 ms, at most [`settle`](Self::settle)) instead of the whole settle; every tenth render
    /// of the host waits the whole settle again to check. Pages finished at `load`, most of
    /// them, are then taken 60 ms sooner by default. A page whose content comes after a longer
    /// pause than its host's pages showed is taken without it: turn this off, or use
    /// [`wait_for`](Self::wait_for), where that matters more than speed.
    pub fn adaptive_settle(mut self, learn: bool) -> Self {
        self.adaptive_settle = Some(learn);
        self
    }

    /// Where [`Executor::shutdown`] writes the performance report (if `track_metrics`).
    pub fn report_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.report_file = Some(path.into());
        self
    }

    /// Where the rendering evidence behind `EngineChoice::Auto` is kept between runs (read at
    /// `build`, written every few seconds by a background thread and at `shutdown`;
    /// `[engine_choice] evidence_ttl_days` ages it out). Without one, each executor learns it
    /// afresh. [`Stack`](crate::Stack) uses the home's `timeouts.redb`. A store shared with other
    /// running processes ([`LearningStore::take_changed_evidence`]) also brings in what they
    /// find, within seconds.
    pub fn rendering_evidence_store(mut self, store: impl LearningStore + 'static) -> Self {
        self.evidence_store = Some(Arc::new(store));
        self
    }

    /// The most one page may take, every attempt and pause included (default: the config's
    /// `request_timeout_secs`, else twice `max_timeout_secs`). Each attempt's timeout is cut to
    /// what is left.
    pub fn request_timeout(mut self, limit: Duration) -> Self {
        self.request_timeout = Some(limit);
        self
    }

    /// Pages one extractor instance serves, kept warm on its thread between them, before a
    /// fresh one is made (default: the config's `pages_per_instance`,
    /// [`DEFAULT_MAX_USES`](crate::extract::DEFAULT_MAX_USES)); `1` makes a fresh instance for
    /// every page. See [`WarmInstances`] for when an instance is retired sooner. Applies to
    /// riptide's own extractor only: a module given with [`extractor`](Self::extractor) may keep
    /// state between calls, so it always gets a fresh instance.
    pub fn pages_per_instance(mut self, pages: u32) -> Self {
        self.pages_per_instance = Some(pages);
        self
    }

    /// A fixed seed for retry jitter (reproducible runs).
    pub fn retry_seed(mut self, seed: u64) -> Self {
        self.retry_seed = Some(seed);
        self
    }

    /// The executor. Fails only if the HTTP client cannot be built.
    pub fn build(self) -> Result<Executor<B, R, C, T>> {
        let (provider, cache, policy) = (self.provider, self.cache, self.policy);
        let c = &self.config;
        // The request every render starts from: `PageRequest`'s own defaults, the
        // configuration's, then the builder's; each page's own options go over it.
        let mut page_request = PageRequest::new(String::new())
            .with(&c.optimizations.browser_pool.render_defaults())
            .with(&self.render);
        page_request.settle = self.settle;
        let adaptive_settle = self
            .adaptive_settle
            .unwrap_or(c.optimizations.browser_pool.adaptive_settle);
        let mut evidence = RenderingEvidence::new(c.engine_choice.clone());
        if let Some(store) = &self.evidence_store
            && c.engine_choice.remember_hosts
        {
            match store.load_evidence() {
                Ok(stored) => evidence.restore(stored, std::time::SystemTime::now()),
                Err(e) => tracing::warn!(error = %e, "rendering evidence will be learned afresh"),
            }
        }
        let rendering_evidence = Arc::new(Mutex::new(evidence));
        let evidence_writer = match &self.evidence_store {
            Some(store) if c.engine_choice.remember_hosts => {
                EvidenceWriter::spawn(Arc::clone(store), Arc::clone(&rendering_evidence))
                    .inspect_err(|e| tracing::warn!(error = %e, "rendering evidence is saved at shutdown only"))
                    .ok()
            }
            _ => None,
        };
        let all = c.optimizations.enabled;
        let timeouts = &c.optimizations.adaptive_timeout;
        let fixed =
            (!(all && timeouts.enabled)).then(|| FixedTimeout(Duration::from_secs(timeouts.default_timeout_secs)));
        let mut settings = RetrySettings::from_config(timeouts);
        if let Some(limit) = self.request_timeout {
            settings.overall_deadline = limit;
        }
        let retrier = match self.retry_seed {
            Some(seed) => Retrier::with_seed(settings, seed),
            None => Retrier::new(settings),
        };
        let addresses = self.addresses.unwrap_or_else(|| AddressPolicy::from_config(&c.network));
        let user_agent = self
            .user_agent
            .clone()
            .unwrap_or_else(|| super::static_fetch::configured_user_agent(c));
        let http = super::static_fetch::http_client(
            &user_agent,
            Duration::from_secs(timeouts.max_timeout_secs),
            &c.network,
            addresses.clone(),
        )?;
        // Only riptide's own extractor is known to keep nothing between calls; a module given
        // with `extractor` runs in a fresh instance for every page.
        let bundled = self
            .extractor
            .as_ref()
            .is_none_or(|source| source.digest() == ModuleSource::extractor().digest());
        let pages_per_instance = self
            .pages_per_instance
            .unwrap_or(c.optimizations.wasm_cache.pages_per_instance);
        let warm = Arc::new(WarmInstances::new(if bundled { pages_per_instance } else { 1 }));
        let pooled = all && c.optimizations.browser_pool.enabled;
        let report_file = self.report_file.filter(|_| c.performance.track_metrics);
        let extract_options = self.extract_options.unwrap_or(ExtractOptions {
            markdown: c.extraction.markdown,
            content_html: c.extraction.content_html,
            links_only: false,
        });
        Ok(Executor {
            browsers: Browsers::new(
                provider,
                pooled,
                PoolOptions::from_config(&c.optimizations.browser_pool),
            ),
            config: self.config,
            http,
            cache: Arc::new(cache),
            extractor: self.extractor.unwrap_or_else(|| ModuleSource::extractor().clone()),
            extract_options,
            warm,
            policy,
            fixed,
            retrier,
            addresses,
            max_body_bytes: self.max_body_bytes,
            page_request,
            settle_memory: adaptive_settle.then(Default::default),
            report_file,
            rendering_evidence,
            module_loaded: std::sync::atomic::AtomicBool::new(false),
            evidence_store: self.evidence_store,
            _evidence_writer: evidence_writer,
            counters: ExtractionCounters::default(),
        })
    }
}

#[cfg(all(test, feature = "wasmtime"))]
mod tests {
    use super::*;
    use crate::backends::memory::MemoryModuleCache;
    use crate::backends::no_browser::NoBrowser;
    use crate::backends::wasmtime::WasmtimeRuntime;
    use crate::cache::CacheOptions;
    use crate::extract::DEFAULT_MAX_USES;
    use crate::policies::FixedTimeout;
    use crate::traits::GuestLimits;

    fn builder() -> ExecutorBuilder<NoBrowser, WasmtimeRuntime, MemoryModuleCache, FixedTimeout> {
        let runtime = WasmtimeRuntime::new(GuestLimits::default(), false).expect("engine");
        let cache = CompileCache::new(runtime, MemoryModuleCache::new(), CacheOptions::default());
        Executor::builder(NoBrowser, cache, FixedTimeout(Duration::from_secs(5)))
    }

    #[test]
    fn only_riptides_own_extractor_is_kept_warm() {
        assert_eq!(builder().build().expect("builds").warm.max_uses(), DEFAULT_MAX_USES);
        assert_eq!(
            builder().pages_per_instance(9).build().expect("builds").warm.max_uses(),
            9
        );
        let own = builder().extractor(ModuleSource::extractor().clone());
        assert_eq!(own.build().expect("builds").warm.max_uses(), DEFAULT_MAX_USES);
        // Any other module may keep state between calls: a fresh instance for every page.
        let other = ModuleSource::new(b"\0asm\x01\0\0\0".to_vec());
        let custom = builder().extractor(other).pages_per_instance(9);
        assert_eq!(custom.build().expect("builds").warm.max_uses(), 1);
    }
}
