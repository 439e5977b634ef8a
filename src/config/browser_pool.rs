//! `[optimizations.browser_pool]`: the pre-warmed browser pool, the browsers it starts (or
//! connects to) and the DevTools client that drives them.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[optimizations.browser_pool]`: the pre-warmed browser pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrowserPoolConfig {
    /// Use the pool (`false`: launch a browser per request).
    pub enabled: bool,
    /// Browsers kept alive even when idle.
    pub min_instances: u32,
    /// Hard ceiling on browsers alive at once (at least 1).
    pub max_instances: u32,
    /// Idle browsers the pool tries to keep ready.
    pub target_available: u32,
    /// Seconds between health probes.
    pub health_check_interval_secs: u64,
    /// Seconds an idle browser above `min_instances` lives.
    pub idle_timeout_secs: u64,
    /// Seconds a checkout may wait, and a handle may be held before it is reported.
    pub max_checkout_duration_secs: u64,
    /// Replace browsers that die.
    pub auto_restart: bool,
    /// Recycle a browser whose process tree uses more memory (PSS) than this.
    pub memory_limit_mb: u64,
    /// Recycle a browser after this many requests.
    pub max_requests_per_instance: u32,
    /// Stop a render whose browser uses more memory (PSS) than this, kill that browser, and
    /// fail the page; each page's JavaScript heap is capped at half of it. `0`: no limit.
    pub render_memory_limit_mb: u64,
    /// The Chromium binary; `~` expands. Default: Debian's `/usr/lib/chromium/chromium`, then
    /// the usual locations.
    pub chrome_path: Option<PathBuf>,
    /// DevTools websocket URLs of running browsers to use instead of launching local ones.
    pub remote_endpoints: Vec<String>,
    /// The DevTools client that drives the browsers: `chromiumoxide` (the default, with the
    /// `chromiumoxide` Cargo feature, which the defaults include) or `chrome` (headless_chrome,
    /// feature `chrome`; the default of a build without chromiumoxide); see
    /// docs/browser-pool.md, "Browser providers".
    pub provider: BrowserProviderKind,
    /// Pooled browsers that share one local Chromium process, each in its own tab (at least
    /// 1; above 1 needs `provider = "chromiumoxide"`). `max_instances` still counts pooled
    /// browsers, so the pool runs `max_instances / tabs_per_browser` processes, rounded up.
    /// Unset: the provider's default ([`DEFAULT_TABS_PER_BROWSER`] with chromiumoxide, 1 with
    /// chrome); see [`tabs_per_browser`](Self::tabs_per_browser).
    pub tabs_per_browser: Option<u32>,
    /// Warm up in the background instead of before the pool is returned.
    pub background_warmup: bool,
    /// Browsers hide that they are automated (user agent, client hints, `navigator.webdriver`,
    /// screen, WebGL, cores); see the README's "Stealth". `riptide extract --engine stealth`
    /// turns it on for one run.
    pub stealth: bool,
    /// Which pages of a browser share cookies and storage: `site` (a fresh browser context
    /// whenever the site changes), `page` (one per page) or `shared` (a session).
    pub isolation: crate::traits::Isolation,
    /// Learn each host's settle (the DOM quiet a render waits for) from its earlier renders
    /// instead of always waiting the whole 100 ms; see the README's "How a page is extracted".
    pub adaptive_settle: bool,
    /// Subresources browsers do not load, by kind: `image`, `media`, `font`, `stylesheet`
    /// (recognized by file extension).
    pub block_resources: Vec<crate::traits::ResourceKind>,
    /// Subresources browsers do not load, by URL pattern (`*` matches anything:
    /// `*://ads.example.com/*`).
    pub block_urls: Vec<String>,
}

impl Default for BrowserPoolConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_instances: 1,
            max_instances: 5,
            target_available: 2,
            health_check_interval_secs: 30,
            idle_timeout_secs: 300,
            max_checkout_duration_secs: 60,
            auto_restart: true,
            memory_limit_mb: 500,
            max_requests_per_instance: 100,
            render_memory_limit_mb: 1024,
            chrome_path: None,
            remote_endpoints: Vec::new(),
            provider: BrowserProviderKind::default(),
            tabs_per_browser: None,
            background_warmup: false,
            stealth: false,
            isolation: crate::traits::Isolation::Site,
            adaptive_settle: true,
            block_resources: Vec::new(),
            block_urls: Vec::new(),
        }
    }
}

/// Pooled browsers per Chromium process when `tabs_per_browser` is unset and the provider is
/// chromiumoxide: the fastest layout measured on two cores, whose memory per pooled browser is
/// also the smallest (BENCHMARKS.md, "The default provider and layout").
pub const DEFAULT_TABS_PER_BROWSER: u32 = 4;

impl BrowserPoolConfig {
    /// Pooled browsers per Chromium process: `tabs_per_browser` when set, else the provider's
    /// default ([`DEFAULT_TABS_PER_BROWSER`] with chromiumoxide; chrome renders one tab per
    /// process).
    pub fn tabs_per_browser(&self) -> u32 {
        self.tabs_per_browser.unwrap_or(match self.provider {
            BrowserProviderKind::Chromiumoxide => DEFAULT_TABS_PER_BROWSER,
            BrowserProviderKind::Chrome => 1,
        })
    }

    /// The per-page render settings this section gives a default (`isolation`): what every
    /// page is rendered with unless the executor's builder or the page itself says otherwise.
    pub fn render_defaults(&self) -> crate::traits::RenderOptions {
        crate::traits::RenderOptions {
            isolation: Some(self.isolation),
            ..Default::default()
        }
    }
}

/// Which browser provider drives the pool's browsers (`browser_pool.provider`). Both start and
/// stop Chromium the same way; they differ in the DevTools client.
///
/// The default is the fastest this build has: chromiumoxide when the `chromiumoxide` feature
/// is on (it is in the defaults), else chrome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BrowserProviderKind {
    /// `backends::chrome::ChromeProvider` (headless_chrome).
    Chrome,
    /// `backends::chromiumoxide::ChromiumoxideProvider` (chromiumoxide, async on tokio).
    Chromiumoxide,
}

impl Default for BrowserProviderKind {
    fn default() -> Self {
        if cfg!(feature = "chromiumoxide") {
            Self::Chromiumoxide
        } else {
            Self::Chrome
        }
    }
}
