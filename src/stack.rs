//! [`Stack`]: one builder for a whole executor, the way the CLI, the server, the workers and the
//! crawler build theirs.
//!
//! [`Executor::builder`](crate::Executor::builder) composes parts by hand and keeps every type.
//! Most programs want the stack a configuration describes: the browser provider it names, the
//! compiled extractor cached in the home, timeouts learned into the home. `Stack` reads that
//! configuration once, chooses the provider in one place ([`Stack::build`] is the only code
//! that matches [`BrowserProviderKind`]), and hands back a [`BoxExecutor`] whose parts no caller
//! has to name.
//!
//! What a build without some backend gets:
//! - the WASM engine is wasmtime, or wasmer when only wasmer is built;
//! - compiled modules go to redb under the home, or stay in memory without `redb`;
//! - a provider the configuration names but this build lacks is kept as an error: static
//!   extraction still works, and a render says which feature to build with.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::cache::{CacheOptions, CompileCache};
use crate::config::{BrowserProviderKind, ConfigLoader, RiptideConfig};
use crate::error::{ConfigError, Result};
use crate::executor::{BoxExecutor, ExecutorBuilder, PageOptions};
use crate::policies::AdaptiveTimeout;
use crate::pool::{BrowserPool, PoolOptions, PoolStatus};
use crate::traits::{BrowserProvider, GuestLimits, LearningStore, ModuleCache};

/// The WASM engine a [`Stack`] runs the extractor on: wasmtime when it is built, else wasmer.
#[cfg(feature = "wasmtime")]
pub type StackRuntime = crate::backends::wasmtime::WasmtimeRuntime;
/// The WASM engine a [`Stack`] runs the extractor on: wasmtime when it is built, else wasmer.
#[cfg(all(feature = "wasmer", not(feature = "wasmtime")))]
pub type StackRuntime = crate::backends::wasmer::WasmerRuntime;

/// The compile cache of a [`Stack`]: its engine over whichever module cache it was given.
pub type StackCompileCache = CompileCache<StackRuntime, Arc<dyn ModuleCache>>;

/// The file in the home where [`Executor::shutdown`](crate::Executor::shutdown) leaves the
/// performance report of a stack's run.
pub const LAST_RUN_REPORT: &str = "last-run.json";

/// Builds the executor a [`RiptideConfig`] describes.
///
/// ```no_run
/// # async fn run() -> riptide::Result<()> {
/// use riptide::{RiptideConfig, Stack};
///
/// let config = RiptideConfig::load()?;
/// let executor = Stack::from_config(&config).build()?; // state under ~/.riptide
/// let page = executor.extract("https://example.com/").await?;
/// println!("{:?}", page.extracted.title);
/// executor.shutdown().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Stack {
    config: RiptideConfig,
    home: Option<PathBuf>,
    learning: Learning,
    module_cache: Option<Arc<dyn ModuleCache>>,
    page_defaults: PageOptions,
    report_file: Option<Option<PathBuf>>,
}

/// Where a stack keeps what it learns about hosts.
#[derive(Clone)]
enum Learning {
    /// `<home>/timeouts.redb` when `persist_profiles` is on (and `redb` is built).
    Home,
    /// The given store; `None`: in memory only.
    Given(Option<Arc<dyn LearningStore>>),
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("provider", &self.config.optimizations.browser_pool.provider)
            .field("home", &self.home)
            .field("shared_learning", &matches!(self.learning, Learning::Given(Some(_))))
            .field("module_cache_given", &self.module_cache.is_some())
            .field("page_defaults", &self.page_defaults)
            .finish()
    }
}

impl Stack {
    /// The stack `config` describes, keeping its state in the home the process's environment
    /// names (`$RIPTIDE_HOME`, else `~/.riptide`) unless [`home`](Self::home) says otherwise.
    pub fn from_config(config: &RiptideConfig) -> Self {
        Self {
            config: config.clone(),
            home: None,
            learning: Learning::Home,
            module_cache: None,
            page_defaults: PageOptions::default(),
            report_file: None,
        }
    }

    /// Keeps the compiled extractor, the learned timeouts and the last run's report in `dir`.
    pub fn home(mut self, dir: impl Into<PathBuf>) -> Self {
        self.home = Some(dir.into());
        self
    }

    /// Keeps what is learned about hosts (timeout profiles and rendering evidence) in `store`
    /// instead of the home's `timeouts.redb`; `None`: in memory only. `riptide worker` passes a
    /// `backends::nats_kv::NatsLearningStore` (feature `nats`) so its workers share what they
    /// learn.
    pub fn learning_store(mut self, store: Option<Arc<dyn LearningStore>>) -> Self {
        self.learning = Learning::Given(store);
        self
    }

    /// [`learning_store`](Self::learning_store)'s name before the store was named for all it
    /// holds.
    #[deprecated(note = "renamed to `Stack::learning_store`")]
    pub fn profile_store(self, store: Option<Arc<dyn LearningStore>>) -> Self {
        self.learning_store(store)
    }

    /// Keeps compiled modules in `cache` instead of redb under the home (for example one
    /// [`MemoryModuleCache`](crate::backends::memory::MemoryModuleCache) shared by several
    /// executors of one process).
    pub fn module_cache(mut self, cache: Arc<dyn ModuleCache>) -> Self {
        self.module_cache = Some(cache);
        self
    }

    /// How every page is fetched unless its own [`PageOptions`] say otherwise: their
    /// [`render`](PageOptions::render) options become the executor's defaults (the engine and
    /// the other fields are per page only).
    pub fn page_defaults(mut self, defaults: PageOptions) -> Self {
        self.page_defaults = defaults;
        self
    }

    /// Where shutdown writes the run's performance report (default: `last-run.json` in the
    /// home); `None`: nowhere.
    pub fn report_file(mut self, path: Option<PathBuf>) -> Self {
        self.report_file = Some(path);
        self
    }

    /// The configuration the stack is built from.
    pub fn config(&self) -> &RiptideConfig {
        &self.config
    }

    /// The home the stack keeps its state in.
    pub fn resolved_home(&self) -> PathBuf {
        match &self.home {
            Some(home) => home.clone(),
            None => ConfigLoader::from_process_env().resolved_home(),
        }
    }

    /// Builds the executor. No browser starts until a page needs one (or
    /// [`AnyExecutor::warm_up`](crate::AnyExecutor::warm_up)).
    pub fn build(self) -> Result<BoxExecutor> {
        self.with_provider(BuildExecutor)
    }

    /// The compile cache alone (the extractor, compiled once and cached as configured), for
    /// extracting HTML the caller already has.
    pub fn compile_cache(&self) -> Result<StackCompileCache> {
        let wasm = &self.config.optimizations.wasm_cache;
        let runtime = StackRuntime::new(GuestLimits::default(), wasm.parallel_compilation)?;
        let store = match &self.module_cache {
            Some(cache) => cache.clone(),
            None => self.home_module_cache()?,
        };
        let mut options = CacheOptions::from_config(wasm);
        options.enabled &= self.config.optimizations.enabled;
        Ok(CompileCache::new(runtime, store, options))
    }

    /// The timeout policy alone, with what it learned before (from the home or the given store).
    ///
    /// Never fails on the learning store: one that cannot be opened or read is logged and the
    /// policy starts unlearned.
    pub fn timeout_policy(&self) -> AdaptiveTimeout {
        let settings = self.config.optimizations.adaptive_timeout.clone();
        match self.store_in_use() {
            Some(store) => AdaptiveTimeout::with_store(settings, store),
            None => AdaptiveTimeout::new(settings),
        }
    }

    /// Starts the configured browser pool on its own (no background warm-up), runs one round of
    /// its maintenance, and reports its status: what `riptide pool status` prints.
    pub async fn pool_status(&self) -> Result<PoolStatus> {
        self.with_provider(PoolStatusOf)?.await
    }

    /// The one place that matches the configured provider kind: hands the provider (or why it
    /// cannot be had) to `visit`. Either Chromium provider is made from the same settings
    /// value, read from the configuration once.
    fn with_provider<V: ProviderVisitor>(&self, visit: V) -> Result<V::Output> {
        match self.config.optimizations.browser_pool.provider {
            #[cfg(feature = "chrome")]
            BrowserProviderKind::Chrome => visit.visit(
                self,
                self.chromium_settings()
                    .and_then(crate::backends::chrome::ChromeProvider::new),
            ),
            #[cfg(feature = "chromiumoxide")]
            BrowserProviderKind::Chromiumoxide => visit.visit(
                self,
                self.chromium_settings()
                    .and_then(crate::backends::chromiumoxide::ChromiumoxideProvider::new),
            ),
            #[allow(unreachable_patterns, reason = "reached in builds without one of the providers")]
            kind => visit.visit(
                self,
                Err::<crate::backends::no_browser::NoBrowser, _>(provider_not_built(kind)),
            ),
        }
    }

    /// What the configuration says of the browsers: the one value either Chromium provider is
    /// made from.
    #[cfg(any(feature = "chrome", feature = "chromiumoxide"))]
    fn chromium_settings(&self) -> Result<crate::backends::chromium::settings::ChromiumSettings> {
        crate::backends::chromium::settings::ChromiumSettings::from_config(&self.config)
    }

    /// Where what is learned goes: the store given, or the home's.
    fn store_in_use(&self) -> Option<Arc<dyn LearningStore>> {
        match &self.learning {
            Learning::Given(store) => store.clone(),
            Learning::Home => self.home_learning_store(),
        }
    }

    /// The home's `timeouts.redb`, when `persist_profiles` is on and it can be opened (logged if
    /// not: what it would keep is then learned afresh each run).
    #[cfg(feature = "redb")]
    fn home_learning_store(&self) -> Option<Arc<dyn LearningStore>> {
        if !self.config.optimizations.adaptive_timeout.persist_profiles {
            return None;
        }
        let path = self.config.timeout_profiles_path(&self.resolved_home());
        match crate::backends::redb::RedbLearningStore::open(path) {
            Ok(store) => Some(Arc::new(store)),
            Err(e) => {
                tracing::warn!(error = %e, "timeout profiles will not be kept across runs");
                None
            }
        }
    }

    #[cfg(not(feature = "redb"))]
    fn home_learning_store(&self) -> Option<Arc<dyn LearningStore>> {
        None
    }

    #[cfg(feature = "redb")]
    fn home_module_cache(&self) -> Result<Arc<dyn ModuleCache>> {
        let dir = self.config.wasm_cache_dir(&self.resolved_home());
        Ok(Arc::new(crate::backends::redb::RedbModuleCache::open(dir)?))
    }

    #[cfg(not(feature = "redb"))]
    fn home_module_cache(&self) -> Result<Arc<dyn ModuleCache>> {
        Ok(Arc::new(crate::backends::memory::MemoryModuleCache::new()))
    }

    /// The executor builder around `provider`, with everything else this stack says.
    fn builder<P: BrowserProvider>(
        &self,
        provider: Result<P>,
    ) -> Result<ExecutorBuilder<P, StackRuntime, Arc<dyn ModuleCache>, AdaptiveTimeout>> {
        let store = self.store_in_use();
        let policy = match &store {
            Some(store) => {
                AdaptiveTimeout::with_store(self.config.optimizations.adaptive_timeout.clone(), store.clone())
            }
            None => AdaptiveTimeout::new(self.config.optimizations.adaptive_timeout.clone()),
        };
        let mut builder =
            ExecutorBuilder::with_provider_result(provider, self.compile_cache()?, policy).config(self.config.clone());
        let report_file = match &self.report_file {
            Some(path) => path.clone(),
            None => Some(self.resolved_home().join(LAST_RUN_REPORT)),
        };
        if let Some(path) = report_file {
            builder = builder.report_file(path);
        }
        // One store for what is learned about hosts: timeout profiles and rendering evidence.
        if let Some(store) = store {
            builder = builder.rendering_evidence_store(store);
        }
        Ok(builder.page_defaults(self.page_defaults.render.clone()))
    }
}

/// What `browser_pool.provider` names in a build without that provider.
fn provider_not_built(kind: BrowserProviderKind) -> crate::Error {
    let (name, feature) = match kind {
        BrowserProviderKind::Chrome => ("chrome", "chrome"),
        BrowserProviderKind::Chromiumoxide => ("chromiumoxide", "chromiumoxide"),
    };
    ConfigError::Invalid {
        key: "optimizations.browser_pool.provider".into(),
        origin: "the configuration".into(),
        message: format!(
            "it is \"{name}\", but this riptide was built without that provider; rebuild with \
             `--features {feature}`, or choose a provider this build has"
        ),
    }
    .into()
}

/// Code generic over the browser provider, run by [`Stack::with_provider`] with the configured
/// one.
trait ProviderVisitor {
    type Output;
    fn visit<P: BrowserProvider>(self, stack: &Stack, provider: Result<P>) -> Result<Self::Output>;
}

struct BuildExecutor;

impl ProviderVisitor for BuildExecutor {
    type Output = BoxExecutor;
    fn visit<P: BrowserProvider>(self, stack: &Stack, provider: Result<P>) -> Result<BoxExecutor> {
        Ok(stack.builder(provider)?.build()?.boxed())
    }
}

/// `riptide pool status`'s work, as a future over whichever provider is configured.
struct PoolStatusOf;

impl ProviderVisitor for PoolStatusOf {
    type Output = BoxFuture<'static, Result<PoolStatus>>;
    fn visit<P: BrowserProvider>(self, stack: &Stack, provider: Result<P>) -> Result<Self::Output> {
        let config = stack.config.clone();
        let provider = provider?;
        Ok(Box::pin(async move { pool_status_of(&config, provider).await }))
    }
}

async fn pool_status_of<P: BrowserProvider>(config: &RiptideConfig, provider: P) -> Result<PoolStatus> {
    let mut options = PoolOptions::from_config(&config.optimizations.browser_pool);
    options.background_warmup = false;
    let pool = BrowserPool::new(provider, options).await?;
    pool.run_maintenance().await;
    let status = pool.status();
    pool.shutdown().await;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_this_build_lacks_names_the_feature_to_build_with() {
        let e = provider_not_built(BrowserProviderKind::Chromiumoxide);
        assert_eq!(e.code(), "config.invalid");
        assert!(e.to_string().contains("--features chromiumoxide"), "{e}");
    }

    #[test]
    fn home_defaults_to_the_process_home_and_can_be_set() {
        let stack = Stack::from_config(&RiptideConfig::default()).home("/tmp/riptide-stack-home");
        assert_eq!(stack.resolved_home(), std::path::Path::new("/tmp/riptide-stack-home"));
    }
}
