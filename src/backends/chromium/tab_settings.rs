//! What every tab of a Chromium provider is readied with, whichever DevTools client sends it:
//! the request controls and the address policy come from [`ChromiumSettings`], read once when
//! the provider is made, so a render can ready a fresh context's tab without the provider.

use std::sync::{Arc, Mutex};

use super::settings::ChromiumSettings;
use crate::network::AddressPolicy;
use crate::network::{ProxyServer, RequestCookie};

/// How a provider readies its tabs, apart from the provider, so a render can ready the tab of a
/// fresh browser context itself.
#[derive(Debug, Clone, Default)]
pub(crate) struct TabSettings {
    pub accept_invalid_certs: bool,
    pub stealth: bool,
    pub addresses: AddressPolicy,
    /// URL patterns of subresources not to load (see `blocking.rs`).
    pub blocked: Vec<String>,
    pub user_agent: Option<String>,
    pub headers: Vec<(String, String)>,
    /// Set in every context before its first page.
    pub cookies: Vec<RequestCookie>,
    /// The proxy the browser was started with, whose credentials answer its challenges.
    pub proxy: Option<ProxyServer>,
}

impl TabSettings {
    /// The tab settings `options` ask for.
    pub(crate) fn from_options(options: &ChromiumSettings) -> Self {
        Self {
            accept_invalid_certs: options.accept_invalid_certs,
            stealth: options.stealth,
            addresses: options.address_policy.clone(),
            blocked: super::blocking::patterns(&options.block_resources, &options.block_urls),
            user_agent: options.user_agent.clone(),
            headers: options.headers.clone(),
            cookies: options.cookies.clone(),
            proxy: options.proxy.clone(),
        }
    }
}

/// The address policy's last refusal in a tab (`url: why`), for its fetch to report.
pub(crate) type Refusals = Arc<Mutex<Option<String>>>;
