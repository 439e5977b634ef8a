//! [`ChromiumSettings`]: everything a Chromium provider is set up with, whichever DevTools
//! client it drives its browsers with. One value, built once (from the configuration with
//! [`ChromiumSettings::from_config`], or by hand), is handed to either provider's `new`: the two
//! providers then read the same fields, and a setting added here reaches both without a setter
//! on each.

use std::path::PathBuf;

use crate::network::AddressPolicy;
use crate::network::{ProxyServer, RequestCookie};
use crate::traits::ResourceKind;

/// The default render memory limit: far above what real pages use (100-400 MB a browser),
/// far below what a runaway page takes a machine to.
pub const DEFAULT_RENDER_MEMORY_LIMIT: u64 = 1 << 30;

/// How a Chromium provider gets its browsers and readies their tabs: `ChromeProvider::new`
/// (feature `chrome`) and `ChromiumoxideProvider::new` (feature `chromiumoxide`) take the same
/// value.
///
/// With [`remote_endpoints`](Self::remote_endpoints) empty (the default) the provider launches
/// local browsers; otherwise it connects to those endpoints, and the fields about starting a
/// process (`executable`, `runtime_dir`, `extra_args`, `render_memory_limit`,
/// `tabs_per_browser`) do not apply.
#[derive(Debug, Clone)]
pub struct ChromiumSettings {
    /// The Chromium binary. Default: `RIPTIDE_CHROME_PATH`, then the usual install locations.
    pub executable: Option<PathBuf>,
    /// The directory each browser's profile and temporary files go under. Default:
    /// `$TMPDIR/riptide-chrome-<uid>`, or a fresh private directory if someone else holds that
    /// path. A directory named here must be the user's own (see the README's "Where state
    /// lives"), or the provider is refused.
    pub runtime_dir: Option<PathBuf>,
    /// Extra command-line flags.
    pub extra_args: Vec<String>,
    /// Load pages whose TLS certificate does not verify (self-signed, expired, another
    /// host's). Default `false`: such a page fails with [`FetchError::Network`](crate::error::FetchError::Network), as it does in
    /// the static engine.
    pub accept_invalid_certs: bool,
    /// The most memory (PSS of the whole process tree) a browser may use while it renders a
    /// page: a render over it is stopped, its browser killed, and the page fails with
    /// [`FetchError::RenderMemoryExceeded`](crate::error::FetchError::RenderMemoryExceeded). Each page's JavaScript heap is also capped at half of
    /// it. `None`: no limit. Default [`DEFAULT_RENDER_MEMORY_LIMIT`].
    pub render_memory_limit: Option<u64>,
    /// Which pages may be loaded. A policy that refuses anything checks every document the
    /// browser requests (the page, its redirects, its frames) after resolving its host, and
    /// fails refused ones with [`FetchError::AddressNotAllowed`](crate::error::FetchError::AddressNotAllowed). Default: everything.
    pub address_policy: AddressPolicy,
    /// Hide the signals that give a headless browser away to bot detectors (see the README's
    /// "Stealth"): no `HeadlessChrome` in the user agent or client hints, `navigator.webdriver`
    /// false, a desktop screen, WebGL vendor and core count. Default `false`.
    pub stealth: bool,
    /// Subresources not loaded, by kind (recognized by file extension). Default: none.
    pub block_resources: Vec<ResourceKind>,
    /// Subresources not loaded, by URL pattern (`*` matches anything). Default: none.
    pub block_urls: Vec<String>,
    /// The `User-Agent` pages are requested with (and `navigator.userAgent`). Default: the
    /// browser's own (with `Headless` removed under [`ChromiumSettings::stealth`]).
    ///
    /// It is set per tab, so it covers every request a page makes, but not the `/favicon.ico`
    /// that Chromium itself may ask for after `load`: that request comes from the browser, not
    /// the page, and no tab setting reaches it.
    pub user_agent: Option<String>,
    /// Extra headers sent with every request a page makes (not Chromium's own favicon request,
    /// as for [`ChromiumSettings::user_agent`]). Default: none.
    pub headers: Vec<(String, String)>,
    /// Cookies set in every browser context before its first page, each sent only to its own
    /// site. Default: none.
    pub cookies: Vec<RequestCookie>,
    /// The proxy every request goes through, loopback included; its credentials answer the
    /// proxy's challenge. Default: none (Chromium's own settings). A remote browser's proxy is
    /// set where it is started: a provider with remote endpoints refuses one.
    pub proxy: Option<ProxyServer>,
    /// Already running browsers to connect to by DevTools websocket URL
    /// (`ws://host:port/devtools/browser/<id>`), round-robin, instead of launching local ones.
    /// riptide never kills them, and verifies certificates whatever flags they were started
    /// with (see [`accept_invalid_certs`](Self::accept_invalid_certs)). Default: none (local).
    pub remote_endpoints: Vec<String>,
    /// How many pooled browsers share one local Chromium process, each in its own tab
    /// (`0` counts as 1). Only the chromiumoxide provider shares processes (see
    /// `ChromiumoxideProvider`'s documentation for the trade-off); the chrome provider runs a
    /// process per pooled browser whatever this says. Default 1.
    pub tabs_per_browser: usize,
}

/// The name these settings had before they also described remote providers and both
/// providers took them whole.
#[deprecated(note = "renamed to `ChromiumSettings`")]
pub type ChromeOptions = ChromiumSettings;

impl Default for ChromiumSettings {
    fn default() -> Self {
        Self {
            executable: None,
            runtime_dir: None,
            extra_args: Vec::new(),
            accept_invalid_certs: false,
            render_memory_limit: Some(DEFAULT_RENDER_MEMORY_LIMIT),
            address_policy: AddressPolicy::PERMISSIVE,
            stealth: false,
            block_resources: Vec::new(),
            block_urls: Vec::new(),
            user_agent: None,
            headers: Vec::new(),
            cookies: Vec::new(),
            proxy: None,
            remote_endpoints: Vec::new(),
            tabs_per_browser: 1,
        }
    }
}

impl ChromiumSettings {
    /// Settings for connecting to the browsers at `endpoints` (DevTools websocket URLs), and
    /// the defaults for the rest.
    pub fn remote(endpoints: Vec<String>) -> Self {
        Self {
            remote_endpoints: endpoints,
            ..Self::default()
        }
    }

    /// The settings the configuration describes: `[optimizations.browser_pool]` `chrome_path`
    /// (`~` expands), `remote_endpoints`, `tabs_per_browser`, `render_memory_limit_mb`,
    /// `stealth` and the blocking lists, and `[network]`'s certificates, address policy, user
    /// agent, headers, cookies and proxy.
    pub fn from_config(config: &crate::config::RiptideConfig) -> crate::Result<Self> {
        let pool = &config.optimizations.browser_pool;
        let network = &config.network;
        Ok(Self {
            executable: pool.chrome_path.as_deref().map(crate::config::expand_tilde),
            accept_invalid_certs: network.accept_invalid_certs,
            address_policy: AddressPolicy::from_config(network),
            render_memory_limit: (pool.render_memory_limit_mb > 0)
                .then_some(pool.render_memory_limit_mb.saturating_mul(1 << 20)),
            stealth: pool.stealth,
            block_resources: pool.block_resources.clone(),
            block_urls: pool.block_urls.clone(),
            user_agent: network.user_agent.clone(),
            headers: network.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            cookies: network.request_cookies()?,
            proxy: network.proxy_server()?,
            remote_endpoints: pool.remote_endpoints.clone(),
            tabs_per_browser: usize::try_from(pool.tabs_per_browser()).unwrap_or(usize::MAX),
            ..Self::default()
        })
    }

    /// Refuses a proxy for remote browsers: theirs is set where they are started.
    pub(crate) fn refuse_proxy_for_remote(&self) -> crate::Result<()> {
        match &self.proxy {
            Some(proxy) => Err(crate::Error::config(
                "network.proxy",
                "the configuration",
                format!(
                    "a remote browser's proxy is set where it is started (`--proxy-server={}`), not here; \
                     remove network.proxy or the remote endpoints",
                    proxy.server()
                ),
            )),
            None => Ok(()),
        }
    }
}
