//! Configuration: the specified defaults, precedence (defaults < file < environment), both
//! spellings of environment variables, and rejections that name the key and its source.

use std::path::Path;

use riptide::config::{ConfigLoader, RiptideConfig, SHORT_ENV_VARS};
use riptide::error::{ConfigError, ErrorKind};

fn home_with(toml: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("temp dir");
    std::fs::write(home.path().join("config.toml"), toml).expect("write config");
    home
}

fn load(home: &Path, env: &[(&str, &str)]) -> riptide::Result<RiptideConfig> {
    ConfigLoader::new().home(home).env(env.iter().copied()).load()
}

/// Unwraps an `ErrorKind::Config(ConfigError::Invalid)` into (key, origin, message).
fn config_error(result: riptide::Result<RiptideConfig>) -> (String, String, String) {
    match result.map_err(riptide::Error::into_kind) {
        Err(ErrorKind::Config(ConfigError::Invalid { key, origin, message })) => (key, origin, message),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn defaults_are_the_specified_values() {
    let home = tempfile::tempdir().expect("temp dir");
    let c = load(home.path(), &[]).expect("defaults load");
    assert_eq!(c, RiptideConfig::default());
    let o = &c.optimizations;
    assert!(o.enabled);
    let p = &o.browser_pool;
    assert_eq!(
        (
            p.enabled,
            p.min_instances,
            p.max_instances,
            p.target_available,
            p.health_check_interval_secs,
            p.idle_timeout_secs
        ),
        (true, 1, 5, 2, 30, 300)
    );
    assert_eq!(
        (
            p.max_checkout_duration_secs,
            p.auto_restart,
            p.memory_limit_mb,
            p.max_requests_per_instance
        ),
        (60, true, 500, 100)
    );
    let w = &o.wasm_cache;
    assert_eq!(
        (
            w.enabled,
            w.cache_dir.clone(),
            w.max_cache_size_mb,
            w.entry_ttl_days,
            w.parallel_compilation,
            w.compress_cached_modules,
            w.aot_enabled
        ),
        (true, None, 500, 30, true, false, true)
    );
    let t = &o.adaptive_timeout;
    assert_eq!(
        (
            t.enabled,
            t.min_timeout_secs,
            t.max_timeout_secs,
            t.default_timeout_secs
        ),
        (true, 5, 60, 30)
    );
    assert_eq!(
        (
            t.learning_rate,
            t.min_samples,
            t.persist_profiles,
            t.profile_ttl_days,
            t.max_retries,
            t.backoff_multiplier
        ),
        (0.1, 5, true, 30, 3, 1.5)
    );
    assert!(c.performance.track_metrics);
    assert_eq!(c.wasm_cache_dir(home.path()), home.path().join("wasm-cache"));
}

#[test]
fn file_overrides_defaults_and_environment_overrides_file() {
    let home = home_with(
        "[optimizations.browser_pool]\nmax_instances = 8\nmin_instances = 2\n[optimizations.wasm_cache]\nmax_cache_size_mb = 100\n",
    );
    let c = load(home.path(), &[]).expect("file loads");
    assert_eq!(
        (
            c.optimizations.browser_pool.max_instances,
            c.optimizations.browser_pool.min_instances
        ),
        (8, 2)
    );
    assert_eq!(c.optimizations.wasm_cache.max_cache_size_mb, 100);

    let c = load(
        home.path(),
        &[
            ("RIPTIDE_POOL_MAX_INSTANCES", "3"),
            ("RIPTIDE_OPTIMIZATIONS__WASM_CACHE__MAX_CACHE_SIZE_MB", "42"),
        ],
    )
    .expect("env loads");
    assert_eq!(
        c.optimizations.browser_pool.max_instances, 3,
        "short form beats the file"
    );
    assert_eq!(
        c.optimizations.browser_pool.min_instances, 2,
        "untouched keys keep the file's value"
    );
    assert_eq!(
        c.optimizations.wasm_cache.max_cache_size_mb, 42,
        "long form beats the file"
    );
}

#[test]
fn every_short_form_sets_its_key() {
    let home = tempfile::tempdir().expect("temp dir");
    let env = [
        ("RIPTIDE_POOL_ENABLED", "false"),
        ("RIPTIDE_POOL_MIN_INSTANCES", "0"),
        ("RIPTIDE_POOL_MAX_INSTANCES", "9"),
        ("RIPTIDE_CHROME_PATH", "/opt/chromium/chrome"),
        ("RIPTIDE_WASM_CACHE_ENABLED", "false"),
        ("RIPTIDE_WASM_CACHE_DIR", "/var/cache/riptide"),
        ("RIPTIDE_WASM_CACHE_SIZE_MB", "64"),
        ("RIPTIDE_ADAPTIVE_TIMEOUT_ENABLED", "false"),
        ("RIPTIDE_TIMEOUT_MIN", "2"),
        ("RIPTIDE_TIMEOUT_MAX", "90"),
        ("RIPTIDE_TIMEOUT_DEFAULT", "10"),
        ("RIPTIDE_PROXY", "http://proxy.internal:3128"),
        ("RIPTIDE_SERVER_TOKEN", "s3cret"),
    ];
    assert_eq!(env.len(), SHORT_ENV_VARS.len(), "the test covers every short form");
    let c = load(home.path(), &env).expect("loads");
    let o = &c.optimizations;
    assert!(!o.browser_pool.enabled && !o.wasm_cache.enabled && !o.adaptive_timeout.enabled);
    assert_eq!((o.browser_pool.min_instances, o.browser_pool.max_instances), (0, 9));
    assert_eq!(
        o.browser_pool.chrome_path.as_deref(),
        Some(Path::new("/opt/chromium/chrome"))
    );
    assert_eq!(o.wasm_cache.cache_dir.as_deref(), Some(Path::new("/var/cache/riptide")));
    assert_eq!(o.wasm_cache.max_cache_size_mb, 64);
    let t = &o.adaptive_timeout;
    assert_eq!(
        (t.min_timeout_secs, t.max_timeout_secs, t.default_timeout_secs),
        (2, 90, 10)
    );
    assert_eq!(c.network.proxy.as_deref(), Some("http://proxy.internal:3128"));
    assert_eq!(c.server.token.as_deref(), Some("s3cret"));
}

/// `[server]`: safe defaults, set from the file, and a listen address that is not one is
/// refused naming its key when the server's options are made from it.
#[cfg(feature = "server")]
#[test]
fn the_server_section_is_safe_by_default_and_checked() {
    let home = tempfile::tempdir().expect("temp dir");
    let c = load(home.path(), &[]).expect("defaults");
    let s = &c.server;
    assert_eq!((s.listen.as_str(), s.token.as_deref()), ("127.0.0.1:7878", None));
    assert!(
        !s.allow_file_urls && !s.allow_private_addresses,
        "refuses what clients could misuse"
    );
    let home = home_with("[server]\nlisten = \"127.0.0.1:9000\"\nmax_in_flight = 2\nmax_queued = 0\n");
    let c = load(home.path(), &[]).expect("loads");
    let o = riptide::server::ServerOptions::from_config(&c.server).expect("options");
    assert_eq!((o.listen.port(), o.max_in_flight, o.max_queued), (9000, 2, 0));
    let home = home_with("[server]\nlisten = \"localhost\"\n");
    let c = load(home.path(), &[]).expect("loads");
    let e = riptide::server::ServerOptions::from_config(&c.server).expect_err("not an address:port");
    assert!(e.to_string().contains("server.listen"), "{e:#}");
    let home = home_with("[server]\nlisten = \"0.0.0.0:9000\"\n");
    let c = load(home.path(), &[]).expect("loads");
    let e = riptide::server::ServerOptions::from_config(&c.server).expect_err("no token");
    assert!(e.to_string().contains("server.token"), "{e:#}");
}

#[test]
fn cookies_proxy_and_request_timeout_are_checked_where_they_are_set() {
    let cases = [
        (
            "[network]\ncookies = [\"session=abc\"]\n",
            "network.cookies",
            "Domain=example.com",
        ),
        (
            "[network]\nproxy = \"socks5://127.0.0.1:1080\"\n",
            "network.proxy",
            "http://",
        ),
        (
            "[optimizations.adaptive_timeout]\nrequest_timeout_secs = 0.0\n",
            "optimizations.adaptive_timeout.request_timeout_secs",
            "number of seconds",
        ),
    ];
    for (file, key, mentions) in cases {
        let home = home_with(file);
        let e = load(home.path(), &[]).expect_err(file).to_string();
        assert!(
            e.contains(key) && e.contains(mentions) && e.contains("config.toml"),
            "{file}: {e}"
        );
    }
    let home = home_with(
        "[network]\ncookies = [\"session=abc; Domain=example.com\"]\nproxy = \"http://u:p@proxy:3128\"\n\
         [optimizations.adaptive_timeout]\nrequest_timeout_secs = 2.5\n",
    );
    let c = load(home.path(), &[]).expect("loads");
    assert_eq!(c.network.request_cookies().expect("cookies")[0].domain(), "example.com");
    assert_eq!(
        c.network.proxy_server().expect("proxy").expect("set").server(),
        "http://proxy:3128"
    );
    let retry = riptide::policies::RetrySettings::from_config(&c.optimizations.adaptive_timeout);
    assert_eq!(retry.overall_deadline, std::time::Duration::from_millis(2500));
}

#[test]
fn tilde_expands_in_home_and_cache_dir() {
    let user_home = std::env::home_dir().expect("a home directory");
    let loader = ConfigLoader::new().env([("RIPTIDE_HOME", "~/riptide-test-home-that-does-not-exist")]);
    assert_eq!(
        loader.resolved_home(),
        user_home.join("riptide-test-home-that-does-not-exist")
    );
    let home = home_with("[optimizations.wasm_cache]\ncache_dir = \"~/some/cache\"\n");
    let c = load(home.path(), &[]).expect("loads");
    assert_eq!(c.wasm_cache_dir(home.path()), user_home.join("some/cache"));
}

#[test]
fn unknown_key_in_file_names_key_and_file() {
    let home = home_with("[optimizations.browser_pool]\nmax_instancs = 3\n");
    let (key, origin, message) = config_error(load(home.path(), &[]));
    assert_eq!(key, "optimizations.browser_pool.max_instancs");
    assert!(origin.contains("config.toml"), "{origin}");
    assert!(message.contains("unknown field"), "{message}");
}

#[test]
fn unknown_section_in_file_is_rejected() {
    let home = home_with("[optimisations]\nenabled = true\n");
    let (key, _, _) = config_error(load(home.path(), &[]));
    assert_eq!(key, "optimisations");
}

#[test]
fn wrong_type_names_key_and_source() {
    let home = home_with("[optimizations.wasm_cache]\nmax_cache_size_mb = \"lots\"\n");
    let (key, origin, _) = config_error(load(home.path(), &[]));
    assert_eq!(
        (key.as_str(), origin.contains("config.toml")),
        ("optimizations.wasm_cache.max_cache_size_mb", true)
    );

    let home = tempfile::tempdir().expect("temp dir");
    let (key, origin, _) = config_error(load(home.path(), &[("RIPTIDE_POOL_MAX_INSTANCES", "many")]));
    assert_eq!(key, "optimizations.browser_pool.max_instances");
    assert_eq!(origin, "environment variable RIPTIDE_POOL_MAX_INSTANCES");
}

#[test]
fn unknown_variable_is_rejected_by_name() {
    let home = tempfile::tempdir().expect("temp dir");
    let (key, origin, message) = config_error(load(home.path(), &[("RIPTIDE_POOL_MAXIMUM", "3")]));
    assert_eq!(key, "RIPTIDE_POOL_MAXIMUM");
    assert!(origin.contains("RIPTIDE_POOL_MAXIMUM"));
    assert!(
        message.contains("RIPTIDE_POOL_MAX_INSTANCES"),
        "suggests the real names: {message}"
    );

    let (key, origin, _) = config_error(load(home.path(), &[("RIPTIDE_OPTIMIZATIONS__WASM_CACHE__SIZE", "3")]));
    assert_eq!(key, "optimizations.wasm_cache.size");
    assert_eq!(origin, "environment variable RIPTIDE_OPTIMIZATIONS__WASM_CACHE__SIZE");

    // Variables riptide reads elsewhere are not configuration keys and are let through.
    load(home.path(), &[("RIPTIDE_HOME", "/tmp"), ("RIPTIDE_LOG", "debug")]).expect("known non-key variables");
}

#[test]
fn impossible_values_name_key_and_source() {
    let home = home_with("[optimizations.browser_pool]\nmin_instances = 4\nmax_instances = 2\n");
    let (key, origin, message) = config_error(load(home.path(), &[]));
    assert_eq!(key, "optimizations.browser_pool.min_instances");
    assert!(origin.contains("config.toml"), "{origin}");
    assert!(message.contains("max_instances"), "{message}");

    let home = tempfile::tempdir().expect("temp dir");
    let (key, origin, _) = config_error(load(home.path(), &[("RIPTIDE_POOL_MAX_INSTANCES", "0")]));
    assert_eq!(
        (key.as_str(), origin.as_str()),
        (
            "optimizations.browser_pool.max_instances",
            "environment variable RIPTIDE_POOL_MAX_INSTANCES"
        )
    );

    let (key, origin, _) = config_error(load(home.path(), &[("RIPTIDE_TIMEOUT_MIN", "90")]));
    assert_eq!(
        (key.as_str(), origin.as_str()),
        (
            "optimizations.adaptive_timeout.min_timeout_secs",
            "environment variable RIPTIDE_TIMEOUT_MIN"
        )
    );

    let (key, _, _) = config_error(load(home.path(), &[("RIPTIDE_TIMEOUT_DEFAULT", "120")]));
    assert_eq!(key, "optimizations.adaptive_timeout.default_timeout_secs");

    let home = home_with("[optimizations.adaptive_timeout]\nlearning_rate = 1.5\n");
    let (key, _, _) = config_error(load(home.path(), &[]));
    assert_eq!(key, "optimizations.adaptive_timeout.learning_rate");

    let home = home_with("[optimizations.adaptive_timeout]\nbackoff_multiplier = 0.5\n");
    let (key, _, _) = config_error(load(home.path(), &[]));
    assert_eq!(key, "optimizations.adaptive_timeout.backoff_multiplier");
}

#[test]
fn broken_toml_and_missing_explicit_file_are_clear_errors() {
    let home = home_with("[optimizations\nenabled = ");
    let err = load(home.path(), &[]).expect_err("broken TOML");
    assert!(format!("{err:#}").contains("config.toml"), "{err:#}");

    let err = ConfigLoader::new()
        .file("/nonexistent/riptide.toml")
        .load()
        .expect_err("missing file");
    assert!(format!("{err:#}").contains("/nonexistent/riptide.toml"), "{err:#}");
    assert!(format!("{err:#}").contains("does not exist"), "{err:#}");

    // Issue 28, item 12: a directory was reported as missing.
    let dir = tempfile::tempdir().expect("temp dir");
    let err = ConfigLoader::new().file(dir.path()).load().expect_err("a directory");
    let said = format!("{err:#}");
    assert!(
        said.contains("is a directory") && said.contains("config.toml"),
        "{said}"
    );
    assert!(!said.contains("does not exist"), "{said}");
}

#[test]
fn engine_choice_evidence_must_fit_its_window() {
    let home = tempfile::tempdir().expect("temp dir");
    let (key, origin, message) = config_error(load(home.path(), &[("RIPTIDE_ENGINE_CHOICE__EVIDENCE_NEEDED", "9")]));
    assert_eq!(key, "engine_choice.evidence_needed");
    assert!(origin.contains("RIPTIDE_ENGINE_CHOICE__EVIDENCE_NEEDED"), "{origin}");
    assert!(message.contains("evidence_window (4)"), "{message}");
    let c = load(home.path(), &[("RIPTIDE_ENGINE_CHOICE__REMEMBER_HOSTS", "false")]).expect("valid");
    assert!(!c.engine_choice.remember_hosts);
}

#[test]
fn the_learned_settle_is_on_by_default_and_can_be_turned_off() {
    let home = home_with("");
    assert!(
        load(home.path(), &[])
            .expect("valid")
            .optimizations
            .browser_pool
            .adaptive_settle
    );
    let c = load(
        home.path(),
        &[("RIPTIDE_OPTIMIZATIONS__BROWSER_POOL__ADAPTIVE_SETTLE", "false")],
    )
    .expect("valid");
    assert!(!c.optimizations.browser_pool.adaptive_settle);
}

#[test]
fn browser_pool_controls_parse_and_bad_values_name_their_key() {
    let home = home_with(
        "[optimizations.browser_pool]\nstealth = true\nisolation = \"page\"\nblock_resources = [\"image\", \"font\"]\nblock_urls = [\"*://ads.test/*\"]\n",
    );
    let pool = load(home.path(), &[]).expect("valid").optimizations.browser_pool;
    assert!(pool.stealth);
    assert_eq!(pool.isolation, riptide::Isolation::Page);
    assert_eq!(
        pool.block_resources,
        [riptide::ResourceKind::Image, riptide::ResourceKind::Font]
    );
    assert_eq!(pool.block_urls, ["*://ads.test/*"]);

    let home = home_with("[optimizations.browser_pool]\nblock_resources = [\"pictures\"]\n");
    let (key, origin, message) = config_error(load(home.path(), &[]));
    assert!(key.starts_with("optimizations.browser_pool.block_resources"), "{key}");
    assert!(
        origin.contains("config.toml") && message.contains("pictures"),
        "{origin}: {message}"
    );

    let home = home_with("[optimizations.browser_pool]\nisolation = \"none\"\n");
    let (key, _, message) = config_error(load(home.path(), &[]));
    assert_eq!(key, "optimizations.browser_pool.isolation", "{message}");

    use riptide::config::BrowserProviderKind;
    let home = home_with("");
    let pool = load(home.path(), &[]).expect("valid").optimizations.browser_pool;
    // The default is the fastest provider the build has, chromiumoxide, with four pooled
    // browsers per process; chrome renders one per process.
    assert_eq!(pool.provider, BrowserProviderKind::Chromiumoxide, "the default");
    assert_eq!((pool.tabs_per_browser, pool.tabs_per_browser()), (None, 4));
    let env = [("RIPTIDE_OPTIMIZATIONS__BROWSER_POOL__PROVIDER", "chrome")];
    let pool = load(home.path(), &env).expect("valid").optimizations.browser_pool;
    assert_eq!(pool.provider, BrowserProviderKind::Chrome);
    assert_eq!(pool.tabs_per_browser(), 1, "chrome's tabs default to one, not an error");
    let home = home_with("[optimizations.browser_pool]\nprovider = \"firefox\"\n");
    let (key, _, message) = config_error(load(home.path(), &[]));
    assert_eq!(key, "optimizations.browser_pool.provider", "{message}");
    // Tabs per browser: chromiumoxide only, and at least one.
    let home = home_with("[optimizations.browser_pool]\nprovider = \"chromiumoxide\"\ntabs_per_browser = 2\n");
    let pool = load(home.path(), &[]).expect("valid").optimizations.browser_pool;
    assert_eq!(pool.tabs_per_browser(), 2);
    let home = home_with("[optimizations.browser_pool]\nprovider = \"chrome\"\ntabs_per_browser = 2\n");
    let (key, _, message) = config_error(load(home.path(), &[]));
    assert_eq!(key, "optimizations.browser_pool.tabs_per_browser", "{message}");
    assert!(message.contains("chromiumoxide"), "{message}");
    let home = home_with("[optimizations.browser_pool]\nprovider = \"chromiumoxide\"\ntabs_per_browser = 0\n");
    let (key, _, message) = config_error(load(home.path(), &[]));
    assert_eq!(key, "optimizations.browser_pool.tabs_per_browser", "{message}");
}

#[test]
fn shared_learning_is_configured_in_queue() {
    let home = home_with("[queue]\nshare_learning = false\n");
    let c = load(home.path(), &[("RIPTIDE_QUEUE__LEARNING_BUCKET", "team_a")]).expect("loads");
    assert!(!c.queue.share_learning);
    assert_eq!(c.queue.learning_bucket, "team_a");
    assert!(
        RiptideConfig::default().queue.share_learning,
        "workers share by default"
    );

    let (key, _, message) = config_error(load(home.path(), &[("RIPTIDE_QUEUE__LEARNING_BUCKET", "a.b")]));
    assert_eq!(key, "queue.learning_bucket");
    assert!(message.contains("letters, digits"), "{message}");
}
