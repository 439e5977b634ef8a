//! [`ProxyServer`]: the HTTP proxy both engines send every request through.
//!
//! Credentials are written in the URL (`http://user:secret@proxy:3128`), as curl and the
//! `HTTP_PROXY` convention take them. The static engine hands the whole URL to reqwest, which
//! answers the proxy's `407` with them. A browser takes only `host:port` on its command line and
//! asks DevTools for credentials when challenged; the Chrome provider answers with these.

use std::str::FromStr;

use url::Url;

/// An HTTP or HTTPS proxy, with optional credentials for its `Proxy-Authorization`.
///
/// Loopback addresses go through it too (Chromium skips the proxy for them unless told; riptide
/// tells it), so both engines treat every URL alike.
///
/// ```
/// use riptide::network::ProxyServer;
///
/// let proxy: ProxyServer = "http://alice:s3cret@proxy.internal:3128".parse()?;
/// assert_eq!(proxy.server(), "http://proxy.internal:3128");
/// assert_eq!(proxy.username(), Some("alice"));
/// assert!(!proxy.to_string().contains("s3cret")); // printed, the password is hidden
/// # Ok::<(), riptide::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyServer {
    /// The proxy's URL, credentials included (what reqwest takes).
    url: Url,
}

impl ProxyServer {
    /// The proxy without its credentials: `scheme://host:port`, what a browser's
    /// `--proxy-server` takes.
    pub fn server(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port_or_known_default() {
            Some(port) => format!("{}://{host}:{port}", self.url.scheme()),
            None => format!("{}://{host}", self.url.scheme()),
        }
    }

    /// The proxy's host, as written in its URL.
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// The user name sent to the proxy, if any.
    pub fn username(&self) -> Option<&str> {
        Some(self.url.username()).filter(|u| !u.is_empty())
    }

    /// The password sent to the proxy, if any.
    pub fn password(&self) -> Option<&str> {
        self.url.password()
    }

    /// The user name and password, percent-decoded (as a proxy's challenge is answered with
    /// them), when the URL has credentials.
    pub fn credentials(&self) -> Option<(String, String)> {
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        self.username()
            .map(|user| (decode(user), decode(self.password().unwrap_or_default())))
    }

    /// The proxy for reqwest, credentials included.
    pub(crate) fn for_reqwest(&self) -> crate::Result<reqwest::Proxy> {
        reqwest::Proxy::all(self.url.as_str()).map_err(|e| {
            crate::Error::config(
                "network.proxy",
                "the proxy given",
                format!("reqwest refuses {self}: {e}"),
            )
        })
    }
}

impl FromStr for ProxyServer {
    type Err = crate::Error;

    /// Parses `http://[user:password@]host[:port]` (or `https://`). The port defaults to the
    /// scheme's (80, 443).
    fn from_str(s: &str) -> crate::Result<Self> {
        Self::check(s).map_err(|why| crate::Error::config("network.proxy", "the proxy given", why))
    }
}

impl ProxyServer {
    /// [`FromStr`], with the reason it is refused as text, for the configuration's checks.
    pub(crate) fn check(s: &str) -> Result<Self, String> {
        let url = Url::parse(s.trim())
            .map_err(|e| format!("`{s}` is not a proxy URL ({e}); write it as `http://host:port`"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "the proxy `{}` uses `{}:`; riptide takes `http://` and `https://` proxies",
                url.host_str().unwrap_or(s),
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("`{s}` names no host; write it as `http://host:port`"));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() {
            return Err(format!("`{s}` has a path; a proxy is `http://host:port` only"));
        }
        Ok(Self { url })
    }
}

/// Printed without the password.
impl std::fmt::Display for ProxyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let server = self.server();
        match self.username() {
            Some(user) => {
                let (scheme, rest) = server.split_once("://").unwrap_or(("http", &server));
                write!(f, "{scheme}://{user}:***@{rest}")
            }
            None => f.write_str(&server),
        }
    }
}

/// Like `Display`: a password never reaches a log.
impl std::fmt::Debug for ProxyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProxyServer({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_decoded_and_never_printed() {
        let p: ProxyServer = "http://al%40ce:p%3As+s@127.0.0.1:3128".parse().expect("a proxy");
        assert_eq!(p.server(), "http://127.0.0.1:3128");
        assert_eq!(p.credentials(), Some(("al@ce".into(), "p:s+s".into())));
        assert!(!format!("{p} {p:?}").contains("p%3As"));
    }

    #[test]
    fn the_port_defaults_to_the_schemes() {
        let p: ProxyServer = "https://proxy.example".parse().expect("a proxy");
        assert_eq!(p.server(), "https://proxy.example:443");
        assert_eq!(p.credentials(), None);
    }

    #[test]
    fn other_schemes_and_paths_are_refused_with_the_way_to_write_it() {
        let e = "socks5://h:1080".parse::<ProxyServer>().expect_err("socks").to_string();
        assert!(e.contains("http://"), "{e}");
        let e = "proxy:3128".parse::<ProxyServer>().expect_err("no scheme").to_string();
        assert!(e.contains("http://"), "{e}");
        let e = "http://h:1/path"
            .parse::<ProxyServer>()
            .expect_err("a path")
            .to_string();
        assert!(e.contains("path"), "{e}");
    }
}
