//! URL normalization for the crawler's seen-check.
//!
//! The same page is linked under many spellings: with a fragment, with `%7e` instead of `~`, with
//! `utm_source` or a session id appended. Without a canonical form each spelling is fetched again,
//! and session ids alone can make a site look infinite. [`normalize`] maps those spellings to one
//! URL while changing nothing a server could read differently, so it is safe to fetch the result.
//!
//! The `url` crate already does part of the work when it parses: it lowercases the scheme and the
//! host (and converts IDN hosts to punycode), drops a default port, resolves `.` and `..` path
//! segments and turns an empty path into `/`. What it leaves is done here.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;
use url::Url;

/// Query parameters that only track the visitor: removed wherever they appear.
const TRACKING_PARAMS: &[&str] = &[
    "gclid", "fbclid", "dclid", "msclkid", "mc_cid", "mc_eid", "_ga", "yclid", "igshid",
];

/// Session-id parameter names, matched exactly (case-insensitively).
const SESSION_PARAMS: &[&str] = &["jsessionid", "phpsessid", "sid", "sessionid"];

/// Returns the canonical form of `url` used to decide whether it was already seen, or `None` when
/// the crawler cannot fetch it (a scheme other than `http`/`https`, or no host).
///
/// Beyond what [`Url`] does on parse, this:
///
/// - drops the fragment, which is never sent to the server;
/// - uppercases the hex digits of percent-escapes and decodes escaped unreserved characters
///   (`A-Z a-z 0-9 - . _ ~`) in the path and query, as RFC 3986 §6.2.2 allows;
/// - removes tracking parameters (`utm_*`, `gclid`, `fbclid`, ...) and session ids (`jsessionid`,
///   `phpsessid`, `sid`, `sessionid`, `aspsessionid*`) from the query, names compared
///   case-insensitively, and session-id path parameters such as `;jsessionid=...`;
/// - drops empty query pairs (`a=1&&b=2`) and a query left empty (`?` alone).
///
/// The remaining query parameters keep their order: some servers read them positionally or treat
/// repeated names in order, so sorting could change the page. Two links that differ only in
/// parameter order are therefore fetched twice; that costs a request, never a wrong page.
///
/// The result is a fixed point: `normalize(&normalize(u)?) == normalize(u)`.
pub fn normalize(url: &Url) -> Option<Url> {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return None;
    }
    let mut out = url.clone();
    out.set_fragment(None);

    let path = normalize_path(url.path());
    if path != url.path() {
        out.set_path(&path);
    }

    let query = url.query().map(normalize_query).filter(|q| !q.is_empty());
    out.set_query(query.as_deref());
    Some(out)
}

/// [`normalize`] for a string: `None` when `s` is not an absolute URL the crawler can fetch.
pub fn normalize_str(s: &str) -> Option<String> {
    let url = Url::parse(s).ok()?;
    normalize(&url).map(String::from)
}

/// Uppercases the hex digits of every percent-escape and decodes the escapes of unreserved
/// characters. Works on bytes, so it is also safe on text that is not UTF-8 (robots.txt bodies);
/// a `%` not followed by two hex digits is left as it is.
pub(crate) fn normalize_percent(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.contains(&b'%') {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        let escape = match input.get(i..i + 3) {
            Some(&[b'%', hi, lo]) => hex(hi).zip(hex(lo)).map(|(h, l)| ((h << 4) | l, hi, lo)),
            _ => None,
        };
        match escape {
            Some((c, _, _)) if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') => {
                out.push(c);
                i += 3;
            }
            Some((_, hi, lo)) => {
                out.extend_from_slice(&[b'%', hi.to_ascii_uppercase(), lo.to_ascii_uppercase()]);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Percent-normalizes `s`; the input is UTF-8 and only ASCII escapes are decoded, so the output is
/// UTF-8 too (the lossy conversion never replaces anything).
fn normalize_percent_str(s: &str) -> Cow<'_, str> {
    match normalize_percent(s.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(s),
        Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// Percent-normalizes the path and removes session-id path parameters (`/a;jsessionid=X/b`).
fn normalize_path(path: &str) -> String {
    let path = normalize_percent_str(path);
    if !path.contains(';') {
        return path.into_owned();
    }
    let segments: Vec<String> = path
        .split('/')
        .map(|segment| {
            let mut parts = segment.split(';');
            let mut kept = parts.next().unwrap_or_default().to_owned();
            for param in parts {
                let name = param.split('=').next().unwrap_or_default();
                if !is_session_param(&decoded_lowercase(name)) {
                    kept.push(';');
                    kept.push_str(param);
                }
            }
            kept
        })
        .collect();
    segments.join("/")
}

/// Percent-normalizes the query and drops empty, tracking and session-id pairs, keeping order.
fn normalize_query(query: &str) -> String {
    let query = normalize_percent_str(query);
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = decoded_lowercase(pair.split('=').next().unwrap_or_default());
            !pair.is_empty() && !is_tracking_param(&name) && !is_session_param(&name)
        })
        .collect();
    kept.join("&")
}

/// The parameter name as a server would read it: `+` is a space in form encoding, then escapes.
fn decoded_lowercase(name: &str) -> String {
    let name = name.replace('+', " ");
    percent_decode_str(&name).decode_utf8_lossy().to_lowercase()
}

fn is_tracking_param(name: &str) -> bool {
    name.starts_with("utm_") || TRACKING_PARAMS.contains(&name)
}

fn is_session_param(name: &str) -> bool {
    name.starts_with("aspsessionid") || SESSION_PARAMS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Option<String> {
        normalize_str(s)
    }

    #[test]
    fn rejects_unfetchable_urls() {
        assert_eq!(n("ftp://example.com/file"), None);
        assert_eq!(n("mailto:someone@example.com"), None);
        assert_eq!(n("file:///etc/passwd"), None);
        assert_eq!(n("data:text/plain,hi"), None);
        assert_eq!(n("javascript:void(0)"), None);
        assert_eq!(n("not a url"), None);
        assert_eq!(n("/relative/path"), None);
    }

    #[test]
    fn lowercases_scheme_and_host_and_drops_default_port() {
        assert_eq!(
            n("HTTP://Example.COM:80/Path").as_deref(),
            Some("http://example.com/Path")
        );
        assert_eq!(n("https://example.com:443/").as_deref(), Some("https://example.com/"));
        assert_eq!(
            n("https://example.com:8443/").as_deref(),
            Some("https://example.com:8443/")
        );
    }

    #[test]
    fn drops_fragment() {
        assert_eq!(n("https://a.com/page#section").as_deref(), Some("https://a.com/page"));
        assert_eq!(n("https://a.com/page?x=1#").as_deref(), Some("https://a.com/page?x=1"));
    }

    #[test]
    fn resolves_dot_segments_and_empty_path() {
        assert_eq!(n("https://a.com/a/./b/../c").as_deref(), Some("https://a.com/a/c"));
        assert_eq!(n("https://a.com/a/%2e%2E/c").as_deref(), Some("https://a.com/c"));
        assert_eq!(n("https://a.com").as_deref(), Some("https://a.com/"));
    }

    #[test]
    fn normalizes_percent_encoding_in_path_and_query() {
        assert_eq!(
            n("https://a.com/%7euser/%41%62c").as_deref(),
            Some("https://a.com/~user/Abc")
        );
        assert_eq!(n("https://a.com/a%2fb%3f").as_deref(), Some("https://a.com/a%2Fb%3F"));
        assert_eq!(
            n("https://a.com/?q=%7e%2b%2D").as_deref(),
            Some("https://a.com/?q=~%2B-")
        );
        assert_eq!(n("https://a.com/caf%c3%a9").as_deref(), Some("https://a.com/caf%C3%A9"));
        // A stray `%` is not an escape and stays as it is.
        assert_eq!(n("https://a.com/100%/x%zz").as_deref(), Some("https://a.com/100%/x%zz"));
    }

    #[test]
    fn drops_empty_query() {
        assert_eq!(n("https://a.com/p?").as_deref(), Some("https://a.com/p"));
        assert_eq!(n("https://a.com/p?&&").as_deref(), Some("https://a.com/p"));
        assert_eq!(
            n("https://a.com/p?a=1&&b=2&").as_deref(),
            Some("https://a.com/p?a=1&b=2")
        );
    }

    #[test]
    fn removes_tracking_params() {
        let url = "https://a.com/p?utm_source=x&id=7&UTM_Medium=y&gclid=1&fbclid=2&dclid=3&msclkid=4\
                   &mc_cid=5&mc_eid=6&_ga=7&yclid=8&igshid=9&utm_=z";
        assert_eq!(n(url).as_deref(), Some("https://a.com/p?id=7"));
        assert_eq!(
            n("https://a.com/p?utm_campaign=only").as_deref(),
            Some("https://a.com/p")
        );
        // Only whole names match: `gclid_x` and `xsid` are kept.
        assert_eq!(
            n("https://a.com/p?gclid_x=1&xsid=2").as_deref(),
            Some("https://a.com/p?gclid_x=1&xsid=2")
        );
        // An encoded name is matched as the server would decode it.
        assert_eq!(
            n("https://a.com/p?utm%5Fsource=x&k=v").as_deref(),
            Some("https://a.com/p?k=v")
        );
    }

    #[test]
    fn removes_session_ids() {
        let url = "https://a.com/p?JSESSIONID=a&PHPSESSID=b&sid=c&SessionId=d&ASPSESSIONIDQACTDBSB=e&page=2";
        assert_eq!(n(url).as_deref(), Some("https://a.com/p?page=2"));
        assert_eq!(n("https://a.com/p?sid").as_deref(), Some("https://a.com/p"));
    }

    #[test]
    fn strips_session_path_parameters() {
        assert_eq!(
            n("https://a.com/shop;jsessionid=0A1B2C/item;JSESSIONID=9?x=1").as_deref(),
            Some("https://a.com/shop/item?x=1")
        );
        // Other path parameters are meaningful and stay.
        assert_eq!(
            n("https://a.com/m;v=2;jsessionid=X;lang=en").as_deref(),
            Some("https://a.com/m;v=2;lang=en")
        );
    }

    #[test]
    fn keeps_query_order() {
        assert_eq!(
            n("https://a.com/?b=2&a=1&b=1").as_deref(),
            Some("https://a.com/?b=2&a=1&b=1")
        );
    }

    #[test]
    fn keeps_userinfo_ipv6_and_idn() {
        assert_eq!(n("https://user:pw@a.com/").as_deref(), Some("https://user:pw@a.com/"));
        assert_eq!(n("http://[::1]:8080/x#y").as_deref(), Some("http://[::1]:8080/x"));
        assert_eq!(
            n("https://Bücher.example/").as_deref(),
            Some("https://xn--bcher-kva.example/")
        );
    }

    #[test]
    fn is_idempotent() {
        let tricky = [
            "HTTPS://Bücher.Example:443/a/../b/./c?utm_source=x&q=%7e#frag",
            "http://[2001:DB8::1]:80/%7Efoo/%2fbar?",
            "http://user:p%40ss@Example.com:8080/path;jsessionid=abc/x?a=1&&sid=2&b=%zz",
            "https://a.com",
            "https://a.com/?%61=%62&utm_medium=m",
            "https://a.com/a%2e/%2E%2e/b",
            "http://192.168.0.1/x y/ü?q=a b&r=ü",
            "https://a.com/p;JSESSIONID=1;x=2?PHPSESSID=3&z",
            "https://a.com/%25%32%35",
            "https://a.com/;;/;x=1",
        ];
        for raw in tricky {
            let once = n(raw).unwrap_or_else(|| panic!("{raw} should normalize"));
            let twice = n(&once).unwrap_or_else(|| panic!("{once} should normalize"));
            assert_eq!(once, twice, "normalizing {raw} twice changed it");
        }
    }

    #[test]
    fn percent_normalization_on_bytes() {
        assert_eq!(&*normalize_percent(b"/a%2fb%7E"), b"/a%2Fb~");
        assert_eq!(&*normalize_percent(b"\xff%41%"), b"\xffA%");
        assert!(matches!(normalize_percent(b"/plain"), Cow::Borrowed(_)));
    }
}
