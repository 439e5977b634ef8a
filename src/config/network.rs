//! `[network]`: the rules both engines (static fetch and headless render) apply to what they
//! load: certificates, which addresses and files, and the request controls (user agent,
//! headers, cookies, proxy).

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// `[network]`: rules both engines (static fetch and headless render) apply to what they load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Load pages whose TLS certificate does not verify (self-signed, expired, another
    /// host's). Off by default: such a page fails, and is not retried. Turn it on only for
    /// servers you trust, since anyone on the path can then impersonate any site.
    pub accept_invalid_certs: bool,
    /// Load `file://` URLs and local paths. On by default (a command-line tool reads its
    /// user's files); off, they are refused.
    pub allow_file_urls: bool,
    /// Load pages on addresses that are not public (loopback, private networks, link-local
    /// such as cloud metadata endpoints), checked after DNS and on every redirect. On by
    /// default; turn it off when the URLs come from someone else.
    pub allow_private_addresses: bool,
    /// Hosts allowed whatever they resolve to, when private addresses are not (an intranet
    /// site a restricted crawler is meant to reach).
    pub allowed_hosts: Vec<String>,
    /// The `User-Agent` both engines send. Default: `riptide/<version>` for static fetches,
    /// the browser's own for renders.
    pub user_agent: Option<String>,
    /// Extra request headers both engines send with every request (`Name = "value"`).
    pub headers: std::collections::BTreeMap<String, String>,
    /// Cookies both engines send, each a `Set-Cookie` line naming its site:
    /// `"session=abc; Domain=example.com"` (see [`RequestCookie`](crate::network::RequestCookie)).
    pub cookies: Vec<String>,
    /// The proxy both engines go through, credentials in the URL:
    /// `"http://user:secret@proxy:3128"` (see [`ProxyServer`](crate::network::ProxyServer)).
    pub proxy: Option<String>,
}

impl NetworkConfig {
    /// `cookies`, parsed.
    pub fn request_cookies(&self) -> Result<Vec<crate::network::RequestCookie>> {
        self.cookies.iter().map(|c| c.parse()).collect()
    }

    /// `proxy`, parsed.
    pub fn proxy_server(&self) -> Result<Option<crate::network::ProxyServer>> {
        self.proxy.as_deref().map(str::parse).transpose()
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            accept_invalid_certs: false,
            allow_file_urls: true,
            allow_private_addresses: true,
            allowed_hosts: Vec::new(),
            user_agent: None,
            headers: std::collections::BTreeMap::new(),
            cookies: Vec::new(),
            proxy: None,
        }
    }
}
