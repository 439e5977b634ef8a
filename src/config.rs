//! riptide's configuration, loaded with figment.
//!
//! Precedence, lowest first: built-in defaults, `$RIPTIDE_HOME/config.toml` (home defaults to
//! `~/.riptide`), then `RIPTIDE_*` environment variables. Section and key names are those of the
//! original specification (`[optimizations.browser_pool]`, ...). Every key can be set from the
//! environment by its path in upper case with `__` between sections, e.g.
//! `RIPTIDE_OPTIMIZATIONS__BROWSER_POOL__MAX_INSTANCES=4`; the specification's short forms
//! (`RIPTIDE_POOL_MAX_INSTANCES`, ...) are listed in [`SHORT_ENV_VARS`].
//!
//! Unknown keys, wrong types and impossible values are rejected with a
//! [`ConfigError::Invalid`] that
//! names the key and where its value came from (the file, or the variable), because a typo that
//! silently falls back to a default is the hardest configuration bug to find.

use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Error, Result};

mod browser_pool;
mod network;
mod queue;
mod server;

pub use browser_pool::{BrowserPoolConfig, BrowserProviderKind, DEFAULT_TABS_PER_BROWSER};
pub use network::NetworkConfig;
pub use queue::{QueueConfig, QueueStorage};
pub use server::ServerConfig;

/// The environment variable that moves riptide's home directory.
pub const HOME_ENV_VAR: &str = "RIPTIDE_HOME";

/// `RIPTIDE_*` variables that are not configuration keys but are read elsewhere.
const NON_KEY_ENV_VARS: &[&str] = &[HOME_ENV_VAR, "RIPTIDE_LOG", "RIPTIDE_SERVER"];

/// The specification's short environment variable names and the keys they set.
pub const SHORT_ENV_VARS: &[(&str, &str)] = &[
    ("RIPTIDE_POOL_ENABLED", "optimizations.browser_pool.enabled"),
    ("RIPTIDE_POOL_MIN_INSTANCES", "optimizations.browser_pool.min_instances"),
    ("RIPTIDE_POOL_MAX_INSTANCES", "optimizations.browser_pool.max_instances"),
    ("RIPTIDE_CHROME_PATH", "optimizations.browser_pool.chrome_path"),
    ("RIPTIDE_WASM_CACHE_ENABLED", "optimizations.wasm_cache.enabled"),
    ("RIPTIDE_WASM_CACHE_DIR", "optimizations.wasm_cache.cache_dir"),
    (
        "RIPTIDE_WASM_CACHE_SIZE_MB",
        "optimizations.wasm_cache.max_cache_size_mb",
    ),
    (
        "RIPTIDE_ADAPTIVE_TIMEOUT_ENABLED",
        "optimizations.adaptive_timeout.enabled",
    ),
    ("RIPTIDE_TIMEOUT_MIN", "optimizations.adaptive_timeout.min_timeout_secs"),
    ("RIPTIDE_TIMEOUT_MAX", "optimizations.adaptive_timeout.max_timeout_secs"),
    (
        "RIPTIDE_TIMEOUT_DEFAULT",
        "optimizations.adaptive_timeout.default_timeout_secs",
    ),
    ("RIPTIDE_PROXY", "network.proxy"),
    ("RIPTIDE_SERVER_TOKEN", "server.token"),
];

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RiptideConfig {
    /// `[optimizations]`: the three optimizations.
    pub optimizations: OptimizationsConfig,
    /// `[performance]`: metrics.
    pub performance: PerformanceConfig,
    /// `[extraction]`: what the extractor produces beyond the fields every extraction has.
    pub extraction: ExtractionConfig,
    /// `[network]`: what both engines accept from the network.
    pub network: NetworkConfig,
    /// `[engine_choice]`: when `EngineChoice::Auto` renders a host's pages directly.
    pub engine_choice: EngineChoiceConfig,
    /// `[server]`: `riptide serve`.
    pub server: ServerConfig,
    /// `[queue]`: the NATS JetStream work queue (`riptide submit`, `worker`, `queue status`).
    pub queue: QueueConfig,
}

/// `[engine_choice]`: every page `EngineChoice::Auto` fetches statically is escalated to a
/// render when it looks built by JavaScript; these say when a whole host is rendered directly
/// instead (see the README, "The executor").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineChoiceConfig {
    /// Remember hosts where rendering keeps adding content, and render their pages directly.
    /// Off: every page is fetched statically first.
    pub remember_hosts: bool,
    /// How many of a host's latest escalations are weighed.
    pub evidence_window: u32,
    /// How many of those must have added content (the render found markedly more text) for the
    /// host to be rendered directly.
    pub evidence_needed: u32,
    /// A host rendered directly still gets a static attempt every this many pages, so one that
    /// stops needing a browser is forgotten.
    pub recheck_every: u32,
    /// Evidence kept in the home's store (beside the timeout profiles, when
    /// `optimizations.adaptive_timeout.persist_profiles` is on) is forgotten after this many
    /// days without an update.
    pub evidence_ttl_days: u64,
}

impl Default for EngineChoiceConfig {
    fn default() -> Self {
        Self {
            remember_hosts: true,
            evidence_window: 4,
            evidence_needed: 3,
            recheck_every: 16,
            evidence_ttl_days: 30,
        }
    }
}

/// `[extraction]`: the optional outputs of the extractor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExtractionConfig {
    /// Produce the main content as Markdown (the `markdown` field).
    pub markdown: bool,
    /// Produce the cleaned article HTML (the `content_html` field).
    pub content_html: bool,
}

impl Default for ExtractionConfig {
    fn default() -> Self {
        Self {
            markdown: true,
            content_html: false,
        }
    }
}

/// `[optimizations]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizationsConfig {
    /// Master switch: `false` turns all three optimizations off.
    pub enabled: bool,
    /// `[optimizations.browser_pool]`.
    pub browser_pool: BrowserPoolConfig,
    /// `[optimizations.wasm_cache]`.
    pub wasm_cache: WasmCacheConfig,
    /// `[optimizations.adaptive_timeout]`.
    pub adaptive_timeout: AdaptiveTimeoutConfig,
}

impl Default for OptimizationsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            browser_pool: BrowserPoolConfig::default(),
            wasm_cache: WasmCacheConfig::default(),
            adaptive_timeout: AdaptiveTimeoutConfig::default(),
        }
    }
}

/// `[optimizations.wasm_cache]`: the compiled-module cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WasmCacheConfig {
    /// Use the cache (`false`: compile on every call).
    pub enabled: bool,
    /// Where compiled artifacts live; `~` expands. Default `$RIPTIDE_HOME/wasm-cache`.
    pub cache_dir: Option<PathBuf>,
    /// Size limit of the artifacts on disk; least recently used go first.
    pub max_cache_size_mb: u64,
    /// Artifacts older than this are recompiled.
    pub entry_ttl_days: u64,
    /// Let the engine compile functions on several threads.
    pub parallel_compilation: bool,
    /// Compress artifacts with deflate. Off by default: it saves disk but costs 2-3 ms per load
    /// and ~23 ms per write, while an uncompressed artifact is ready in about a millisecond.
    pub compress_cached_modules: bool,
    /// Keep compiled (ahead-of-time) artifacts on disk; `false` keeps them in memory only.
    pub aot_enabled: bool,
    /// Pages one extractor instance serves before a fresh one is made (it is kept warm on its
    /// thread between pages, see [`WarmInstances`](crate::extract::WarmInstances)); `1`: a
    /// fresh instance for every page.
    pub pages_per_instance: u32,
}

impl Default for WasmCacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            cache_dir: None,
            max_cache_size_mb: 500,
            entry_ttl_days: 30,
            parallel_compilation: true,
            compress_cached_modules: false,
            aot_enabled: true,
            pages_per_instance: crate::extract::DEFAULT_MAX_USES,
        }
    }
}

/// `[optimizations.adaptive_timeout]`: learned per-domain timeouts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveTimeoutConfig {
    /// Learn timeouts (`false`: always `default_timeout_secs`).
    pub enabled: bool,
    /// Lower clamp of every timeout.
    pub min_timeout_secs: u64,
    /// Upper clamp of every timeout.
    pub max_timeout_secs: u64,
    /// Timeout before a domain has `min_samples` observations.
    pub default_timeout_secs: u64,
    /// Weight of a new observation in moving averages, in (0, 1].
    pub learning_rate: f64,
    /// Observations needed before a domain's timeout is learned.
    pub min_samples: u32,
    /// Keep learned profiles across runs.
    pub persist_profiles: bool,
    /// Profiles not updated for this long are dropped.
    pub profile_ttl_days: u64,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Timeout growth per retry (at least 1).
    pub backoff_multiplier: f64,
    /// The most one page may take, every attempt and pause included; an attempt is cut to what
    /// is left. Default (`None`): twice `max_timeout_secs`.
    pub request_timeout_secs: Option<f64>,
}

impl AdaptiveTimeoutConfig {
    /// Checks the values that cannot work together: `Err((key, what is wrong))`.
    pub(crate) fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        let t = self;
        if t.min_timeout_secs == 0 {
            return Err(("min_timeout_secs", "must be at least 1".into()));
        }
        if t.min_timeout_secs > t.max_timeout_secs {
            return Err((
                "min_timeout_secs",
                format!(
                    "{} is more than max_timeout_secs ({})",
                    t.min_timeout_secs, t.max_timeout_secs
                ),
            ));
        }
        if !(t.min_timeout_secs..=t.max_timeout_secs).contains(&t.default_timeout_secs) {
            return Err((
                "default_timeout_secs",
                format!(
                    "{} is outside [min_timeout_secs, max_timeout_secs] = [{}, {}]",
                    t.default_timeout_secs, t.min_timeout_secs, t.max_timeout_secs
                ),
            ));
        }
        if !(t.learning_rate > 0.0 && t.learning_rate <= 1.0) {
            return Err(("learning_rate", format!("{} is not in (0, 1]", t.learning_rate)));
        }
        if !(t.backoff_multiplier.is_finite() && t.backoff_multiplier >= 1.0) {
            return Err(("backoff_multiplier", format!("{} is less than 1", t.backoff_multiplier)));
        }
        if let Some(secs) = t.request_timeout_secs
            && !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0)
        {
            return Err((
                "request_timeout_secs",
                format!("{secs} is not a number of seconds in (0, 86400]"),
            ));
        }
        Ok(())
    }
}

impl Default for AdaptiveTimeoutConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_timeout_secs: 5,
            max_timeout_secs: 60,
            default_timeout_secs: 30,
            learning_rate: 0.1,
            min_samples: 5,
            persist_profiles: true,
            profile_ttl_days: 30,
            max_retries: 3,
            backoff_multiplier: 1.5,
            request_timeout_secs: None,
        }
    }
}

/// `[performance]`: metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PerformanceConfig {
    /// Collect metrics.
    pub track_metrics: bool,
    /// Export metrics: `riptide serve` answers `GET /metrics` in the Prometheus text format
    /// (default on; `riptide serve --no-metrics` turns it off for one run).
    pub export_metrics: bool,
    /// Reserved: metrics are scraped (pulled) by Prometheus, never pushed on a timer.
    pub metrics_export_interval_secs: u64,
}

impl Default for PerformanceConfig {
    fn default() -> Self {
        Self {
            track_metrics: true,
            export_metrics: true,
            metrics_export_interval_secs: 60,
        }
    }
}

impl RiptideConfig {
    /// Loads the configuration from the default home (`$RIPTIDE_HOME`, else `~/.riptide`) and
    /// the process environment.
    pub fn load() -> Result<Self> {
        ConfigLoader::from_process_env().load()
    }

    /// The directory compiled artifacts live in: `cache_dir` with `~` expanded, else
    /// `<home>/wasm-cache`.
    pub fn wasm_cache_dir(&self, home: &Path) -> PathBuf {
        match &self.optimizations.wasm_cache.cache_dir {
            Some(dir) => expand_tilde(dir),
            None => home.join("wasm-cache"),
        }
    }

    /// The file learned timeout profiles live in: `<home>/timeouts.redb`.
    pub fn timeout_profiles_path(&self, home: &Path) -> PathBuf {
        home.join("timeouts.redb")
    }
}

/// Builds a [`RiptideConfig`] from explicit sources; [`RiptideConfig::load`] is the common case.
///
/// Tests and embedders pass the home directory and the environment explicitly instead of
/// mutating the process environment.
#[derive(Debug, Clone, Default)]
pub struct ConfigLoader {
    home: Option<PathBuf>,
    file: Option<PathBuf>,
    env: Vec<(String, String)>,
}

impl ConfigLoader {
    /// A loader with no home, no file and no environment: defaults only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A loader reading `RIPTIDE_*` variables and the home from the process environment.
    pub fn from_process_env() -> Self {
        Self::new().env(std::env::vars().filter(|(k, _)| k.starts_with("RIPTIDE_")))
    }

    /// Sets riptide's home directory (`~` expands); its `config.toml` is read if present.
    pub fn home(mut self, home: impl Into<PathBuf>) -> Self {
        self.home = Some(home.into());
        self
    }

    /// Reads this file instead of `<home>/config.toml`; it must exist.
    pub fn file(mut self, file: impl Into<PathBuf>) -> Self {
        self.file = Some(file.into());
        self
    }

    /// Sets the environment variables to apply (only `RIPTIDE_*` names are considered).
    pub fn env<K: Into<String>, V: Into<String>>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self {
        self.env = vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        self
    }

    /// The home directory in force: explicit, else `RIPTIDE_HOME` from the environment given,
    /// else `~/.riptide`.
    pub fn resolved_home(&self) -> PathBuf {
        let from_env = self
            .env
            .iter()
            .find(|(k, _)| k == HOME_ENV_VAR)
            .map(|(_, v)| PathBuf::from(v));
        expand_tilde(
            &self
                .home
                .clone()
                .or(from_env)
                .unwrap_or_else(|| PathBuf::from("~/.riptide")),
        )
    }

    /// Merges defaults, the file and the environment, then validates the result.
    pub fn load(&self) -> Result<RiptideConfig> {
        let mut figment = Figment::from(Serialized::defaults(RiptideConfig::default()));
        match &self.file {
            Some(file) => {
                let file = expand_tilde(file);
                if !file.is_file() {
                    let missing = if file.is_dir() {
                        format!(
                            "configuration file {} is a directory; give the TOML file itself (such as {})",
                            file.display(),
                            file.join("config.toml").display()
                        )
                    } else {
                        format!("configuration file {} does not exist", file.display())
                    };
                    return Err(ConfigError::Load {
                        source: Box::new(figment::Error::from(missing)),
                    }
                    .into());
                }
                figment = figment.merge(Toml::file_exact(file));
            }
            None => {
                // The home's file is optional; an explicit one (above) is not.
                let file = self.resolved_home().join("config.toml");
                if file.is_file() {
                    figment = figment.merge(Toml::file_exact(file));
                }
            }
        }
        for (name, value) in self.env.iter().filter(|(k, _)| k.starts_with("RIPTIDE_")) {
            if NON_KEY_ENV_VARS.contains(&name.as_str()) {
                continue;
            }
            let key = env_var_key(name).ok_or_else(|| {
                Error::config(
                    name.clone(),
                    format!("environment variable {name}"),
                    format!(
                        "unknown variable; set keys as RIPTIDE_<SECTION>__<KEY> (e.g. RIPTIDE_OPTIMIZATIONS__BROWSER_POOL__MAX_INSTANCES) or use a short form: {}",
                        SHORT_ENV_VARS.iter().map(|(v, _)| *v).collect::<Vec<_>>().join(", ")
                    ),
                )
            })?;
            figment = figment.merge(EnvVar {
                name: name.clone(),
                key,
                value: value.clone(),
            });
        }
        let config: RiptideConfig = figment.extract().map_err(from_figment)?;
        validate(&config, &figment)?;
        Ok(config)
    }
}

/// Maps a variable name to its dotted key: a short form, or the `__`-separated long form.
fn env_var_key(name: &str) -> Option<String> {
    if let Some((_, key)) = SHORT_ENV_VARS.iter().find(|(v, _)| *v == name) {
        return Some((*key).to_string());
    }
    let rest = name.strip_prefix("RIPTIDE_")?;
    rest.contains("__")
        .then(|| rest.to_ascii_lowercase().replace("__", "."))
}

/// One environment variable as a figment provider, so errors name the variable itself.
struct EnvVar {
    name: String,
    key: String,
    value: String,
}

impl Provider for EnvVar {
    fn metadata(&self) -> Metadata {
        Metadata::named(format!("environment variable {}", self.name))
    }

    fn data(&self) -> std::result::Result<Map<Profile, Dict>, figment::Error> {
        // Parsed like figment's own Env provider: `5` is an integer, `true` a bool, else a string.
        let value: Value = self.value.parse().unwrap_or_else(|_| Value::from(self.value.clone()));
        let Value::Dict(_, dict) = figment::util::nest(&self.key, value) else {
            return Err(figment::Error::from(format!("cannot nest key {}", self.key)));
        };
        Ok(Profile::Default.collect(dict))
    }
}

fn from_figment(err: figment::Error) -> Error {
    // For unknown fields figment's path already ends with the field itself.
    let path = &err.path;
    let origin = match &err.metadata {
        Some(md) => match &md.source {
            Some(figment::Source::File(p)) => format!("file {}", p.display()),
            Some(src) => format!("{} {src}", md.name),
            None => md.name.to_string(),
        },
        None => "the configuration".to_string(),
    };
    if path.is_empty() {
        return ConfigError::Load { source: Box::new(err) }.into();
    }
    Error::config(path.join("."), origin, err.kind.to_string())
}

fn validate(c: &RiptideConfig, figment: &Figment) -> Result<()> {
    let fail = |key: &str, message: String| -> Error {
        let origin = match figment.find_metadata(key) {
            Some(md) => match &md.source {
                Some(figment::Source::File(p)) => format!("file {}", p.display()),
                _ => md.name.to_string(),
            },
            None => "the defaults".to_string(),
        };
        Error::config(key, origin, message)
    };
    let pool = &c.optimizations.browser_pool;
    let p = "optimizations.browser_pool";
    if pool.max_instances == 0 {
        return Err(fail(&format!("{p}.max_instances"), "must be at least 1".into()));
    }
    if pool.min_instances > pool.max_instances {
        return Err(fail(
            &format!("{p}.min_instances"),
            format!(
                "{} is more than max_instances ({})",
                pool.min_instances, pool.max_instances
            ),
        ));
    }
    if pool.target_available > pool.max_instances {
        return Err(fail(
            &format!("{p}.target_available"),
            format!(
                "{} is more than max_instances ({})",
                pool.target_available, pool.max_instances
            ),
        ));
    }
    if pool.tabs_per_browser == Some(0) {
        return Err(fail(&format!("{p}.tabs_per_browser"), "must be at least 1".into()));
    }
    if pool.tabs_per_browser() > 1 && pool.provider == BrowserProviderKind::Chrome {
        return Err(fail(
            &format!("{p}.tabs_per_browser"),
            "more than one tab per browser needs provider = \"chromiumoxide\" (the chrome provider renders in one tab per \
             process); set the provider, or tabs_per_browser = 1"
                .into(),
        ));
    }
    for (key, v) in [
        ("health_check_interval_secs", pool.health_check_interval_secs),
        ("max_checkout_duration_secs", pool.max_checkout_duration_secs),
        ("memory_limit_mb", pool.memory_limit_mb),
        ("max_requests_per_instance", u64::from(pool.max_requests_per_instance)),
    ] {
        if v == 0 {
            return Err(fail(&format!("{p}.{key}"), "must be at least 1".into()));
        }
    }
    let w = "optimizations.wasm_cache";
    if c.optimizations.wasm_cache.max_cache_size_mb == 0 {
        return Err(fail(&format!("{w}.max_cache_size_mb"), "must be at least 1".into()));
    }
    if c.optimizations.wasm_cache.entry_ttl_days == 0 {
        return Err(fail(&format!("{w}.entry_ttl_days"), "must be at least 1".into()));
    }
    if let Err((key, message)) = c.queue.check() {
        return Err(fail(&format!("queue.{key}"), message));
    }
    if let Err((key, message)) = c.optimizations.adaptive_timeout.check() {
        return Err(fail(&format!("optimizations.adaptive_timeout.{key}"), message));
    }
    let e = &c.engine_choice;
    for (key, v) in [
        ("evidence_window", u64::from(e.evidence_window)),
        ("recheck_every", u64::from(e.recheck_every)),
        ("evidence_ttl_days", e.evidence_ttl_days),
    ] {
        if v == 0 {
            return Err(fail(&format!("engine_choice.{key}"), "must be at least 1".into()));
        }
    }
    if e.evidence_needed == 0 || e.evidence_needed > e.evidence_window {
        return Err(fail(
            "engine_choice.evidence_needed",
            format!(
                "{} must be between 1 and evidence_window ({})",
                e.evidence_needed, e.evidence_window
            ),
        ));
    }
    for line in &c.network.cookies {
        crate::network::RequestCookie::check(line).map_err(|why| fail("network.cookies", why))?;
    }
    if let Some(proxy) = &c.network.proxy {
        crate::network::ProxyServer::check(proxy).map_err(|why| fail("network.proxy", why))?;
    }
    if c.performance.metrics_export_interval_secs == 0 {
        return Err(fail(
            "performance.metrics_export_interval_secs",
            "must be at least 1".into(),
        ));
    }
    Ok(())
}

/// Expands a leading `~` to the user's home directory.
pub fn expand_tilde(path: &Path) -> PathBuf {
    let Ok(rest) = path.strip_prefix("~") else {
        return path.to_path_buf();
    };
    match std::env::home_dir() {
        Some(home) => home.join(rest),
        None => path.to_path_buf(),
    }
}
