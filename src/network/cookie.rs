//! [`RequestCookie`]: a cookie the caller gives, sent by both engines to the site it names.
//!
//! Written as a `Set-Cookie` line (`session=abc; Domain=example.com; Path=/; Secure`), the
//! syntax a browser's developer tools and every HTTP library show. The `Domain` is required:
//! a cookie without one would have to go to every host a batch touches, which leaks a session
//! to strangers.

use std::str::FromStr;

use url::Url;

/// A cookie both engines send to the site it names, and only there.
///
/// Matching follows RFC 6265: a `Domain` also covers its subdomains (an IP address covers
/// itself alone), `Path` limits it to that path and below, and `Secure` to `https://`. The
/// static engine sends given cookies and keeps none a server sets (each fetch starts clean); a
/// headless render sets them in every browser context it opens, so a page's own cookies then
/// live as long as its context (see [`Isolation`](crate::Isolation)).
///
/// ```
/// use riptide::network::RequestCookie;
///
/// let cookie: RequestCookie = "session=abc; Domain=example.com; Secure".parse()?;
/// assert_eq!(cookie.name(), "session");
/// assert_eq!(cookie.domain(), "example.com");
/// assert!("session=abc".parse::<RequestCookie>().is_err()); // which site gets it?
/// # Ok::<(), riptide::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestCookie {
    name: String,
    value: String,
    domain: String,
    /// `http://<domain>/`, made when the cookie is parsed (so the domain is known to make a
    /// URL): what [`url`](Self::url) builds on.
    site: Url,
    path: String,
    secure: bool,
    http_only: bool,
}

impl RequestCookie {
    /// A cookie `name=value` for `domain` (a host name or an IP address) and every path on it.
    pub fn new(name: impl Into<String>, value: impl Into<String>, domain: impl Into<String>) -> crate::Result<Self> {
        let line = format!("{}={}; Domain={}", name.into(), value.into(), domain.into());
        line.parse()
    }

    /// Limits the cookie to `path` and below (default `/`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Sends the cookie only over `https://` (default `false`).
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// The cookie's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cookie's value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The host (and its subdomains) the cookie is sent to.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The path the cookie is limited to.
    pub fn cookie_path(&self) -> &str {
        &self.path
    }

    /// Whether the cookie goes only over `https://`.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// Whether the cookie is hidden from the page's scripts (`HttpOnly`).
    pub fn is_http_only(&self) -> bool {
        self.http_only
    }

    /// Whether the domain is an IP address, which has no subdomains: such a cookie is set
    /// host-only, since cookie stores refuse a `Domain` attribute that is an address.
    pub(crate) fn is_for_address(&self) -> bool {
        matches!(self.site.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)))
    }

    /// A URL the cookie applies to: where a cookie store is told it came from.
    pub(crate) fn url(&self) -> Url {
        let mut url = self.site.clone();
        if self.secure {
            // http to https: both special schemes, so the change is always accepted.
            let _ = url.set_scheme("https");
        }
        url.set_path(&self.path);
        url
    }

    /// The cookie as a `Set-Cookie` line, for a cookie store that reads those.
    pub(crate) fn set_cookie_line(&self) -> String {
        let mut line = format!("{}={}; Path={}", self.name, self.value, self.path);
        if !self.is_for_address() {
            line.push_str(&format!("; Domain={}", self.domain));
        }
        if self.secure {
            line.push_str("; Secure");
        }
        if self.http_only {
            line.push_str("; HttpOnly");
        }
        line
    }
}

impl FromStr for RequestCookie {
    type Err = crate::Error;

    /// Parses a `Set-Cookie` line with a `Domain`. `Path`, `Secure` and `HttpOnly` are kept;
    /// `Expires`, `Max-Age` and `SameSite` mean nothing for a cookie sent on every request and
    /// are ignored.
    fn from_str(line: &str) -> crate::Result<Self> {
        Self::check(line).map_err(|why| crate::Error::config("network.cookies", "the cookie given", why))
    }
}

impl RequestCookie {
    /// [`FromStr`], with the reason it is refused as text, for the configuration's checks.
    pub(crate) fn check(line: &str) -> Result<Self, String> {
        let parsed = cookie::Cookie::parse(line.trim())
            .map_err(|e| format!("`{line}` is not a cookie ({e}); write it as `name=value; Domain=example.com`"))?;
        if parsed.name().is_empty() {
            return Err(format!(
                "`{line}` has no name; write it as `name=value; Domain=example.com`"
            ));
        }
        let domain = parsed
            .domain()
            .map(|d| d.trim_start_matches('.').to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .ok_or_else(|| {
                format!(
                    "cookie `{}` names no site; add `; Domain=example.com` (it is sent to that host and its subdomains only)",
                    parsed.name()
                )
            })?;
        let site = url::Host::parse(&domain)
            .ok()
            .and_then(|host| Url::parse(&format!("http://{host}/")).ok())
            .ok_or_else(|| {
                format!(
                    "cookie `{}` has `Domain={domain}`, which is not a host name",
                    parsed.name()
                )
            })?;
        let path = parsed.path().filter(|p| p.starts_with('/')).unwrap_or("/").to_string();
        Ok(Self {
            name: parsed.name().to_string(),
            value: parsed.value().to_string(),
            domain,
            site,
            path,
            secure: parsed.secure().unwrap_or(false),
            http_only: parsed.http_only().unwrap_or(false),
        })
    }
}

impl std::fmt::Display for RequestCookie {
    /// The cookie as it is written in `[network] cookies`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}={}; Domain={}; Path={}",
            self.name, self.value, self.domain, self.path
        )?;
        if self.secure {
            f.write_str("; Secure")?;
        }
        if self.http_only {
            f.write_str("; HttpOnly")?;
        }
        Ok(())
    }
}

/// What the static engine sends: the given cookies, matched to each request's URL by reqwest's
/// cookie jar, and nothing a server sets (each fetch starts as clean as the last).
#[derive(Debug)]
pub(crate) struct GivenCookies(reqwest::cookie::Jar);

impl GivenCookies {
    /// A jar holding `cookies`, or `None` when there are none (no jar: nothing to look up).
    pub(crate) fn new(cookies: &[RequestCookie]) -> Option<Self> {
        if cookies.is_empty() {
            return None;
        }
        let jar = reqwest::cookie::Jar::default();
        for cookie in cookies {
            jar.add_cookie_str(&cookie.set_cookie_line(), &cookie.url());
        }
        Some(Self(jar))
    }
}

impl reqwest::cookie::CookieStore for GivenCookies {
    fn set_cookies(&self, _: &mut dyn Iterator<Item = &reqwest::header::HeaderValue>, _: &Url) {}

    fn cookies(&self, url: &Url) -> Option<reqwest::header::HeaderValue> {
        reqwest::cookie::CookieStore::cookies(&self.0, url)
    }
}

#[cfg(test)]
mod tests {
    use reqwest::cookie::CookieStore;

    use super::*;

    fn sent(cookies: &[&str], url: &str) -> Option<String> {
        let cookies: Vec<RequestCookie> = cookies.iter().map(|c| c.parse().expect("a cookie")).collect();
        let jar = GivenCookies::new(&cookies).expect("a jar");
        jar.cookies(&Url::parse(url).expect("a URL"))
            .map(|v| v.to_str().expect("ASCII").to_string())
    }

    #[test]
    fn a_cookie_goes_to_its_domain_and_subdomains_only() {
        let c = ["a=1; Domain=example.com"];
        assert_eq!(sent(&c, "http://example.com/x").as_deref(), Some("a=1"));
        assert_eq!(sent(&c, "https://www.example.com/").as_deref(), Some("a=1"));
        assert_eq!(sent(&c, "http://example.org/"), None);
        assert_eq!(sent(&c, "http://notexample.com/"), None);
    }

    #[test]
    fn path_and_secure_limit_where_it_goes() {
        let c = ["a=1; Domain=example.com; Path=/docs; Secure"];
        assert_eq!(sent(&c, "https://example.com/docs/1").as_deref(), Some("a=1"));
        assert_eq!(sent(&c, "https://example.com/blog"), None);
        assert_eq!(sent(&c, "http://example.com/docs/1"), None);
    }

    #[test]
    fn an_address_is_matched_exactly() {
        let c = ["a=1; Domain=127.0.0.1"];
        assert_eq!(sent(&c, "http://127.0.0.1:8080/").as_deref(), Some("a=1"));
        assert_eq!(sent(&c, "http://127.0.0.2/"), None);
    }

    #[test]
    fn a_server_cannot_add_to_the_given_cookies() {
        let cookies = vec!["a=1; Domain=example.com".parse().expect("a cookie")];
        let jar = GivenCookies::new(&cookies).expect("a jar");
        let url = Url::parse("http://example.com/").expect("a URL");
        let set = reqwest::header::HeaderValue::from_static("b=2");
        jar.set_cookies(&mut std::iter::once(&set), &url);
        assert_eq!(jar.cookies(&url).expect("sent").to_str().expect("ASCII"), "a=1");
    }

    #[test]
    fn bad_lines_say_what_to_write() {
        let e = "a=1".parse::<RequestCookie>().expect_err("no domain").to_string();
        assert!(e.contains("Domain=example.com"), "{e}");
        let e = "=1; Domain=x.com"
            .parse::<RequestCookie>()
            .expect_err("no name")
            .to_string();
        assert!(e.contains("name"), "{e}");
        let e = "a=1; Domain=exa mple.com"
            .parse::<RequestCookie>()
            .expect_err("bad host")
            .to_string();
        assert!(e.contains("not a host name"), "{e}");
    }

    #[test]
    fn display_round_trips() {
        let c: RequestCookie = "a=1; Domain=.Example.com; Path=/x; Secure; HttpOnly; Max-Age=5"
            .parse()
            .expect("a cookie");
        assert_eq!(c.domain(), "example.com");
        assert_eq!(c.to_string().parse::<RequestCookie>().expect("again"), c);
    }
}
