//! The crawl's rules about one URL or one fetched page, with no state of their own.
//!
//! It exists so that the two schedulers decide alike: the single-machine [`Crawler`]
//! (`crawler.rs`, state in a redb frontier) and the crawl across machines
//! (`riptide::queue::crawl`, state in NATS JetStream). Both read a seed, a fetched page, a
//! robots.txt and an error through these functions; only where the answer is remembered (a
//! seen-set in memory, or a key in a bucket) differs.
//!
//! [`Crawler`]: super::Crawler

use std::collections::HashSet;
use std::time::Duration;

use url::Url;

use super::directives::PageDirectives;
use super::normalize::normalize;
use super::robots::{RobotsRules, robots_url};
use super::scope::ScopeError;
use crate::error::{CrawlError, Error, ErrorKind, FetchError, LastAttempt, Result, RetryError};
use crate::extract::Content;
use crate::traits::FailureClass;

/// Sitemaps fetched at most per host and run (indexes and the sitemaps they list).
pub(crate) const MAX_SITEMAPS_PER_HOST: usize = 1_000;
/// A sitemap index may list indexes this deep (the protocol allows none; sites do it anyway).
pub(crate) const MAX_SITEMAP_NESTING: u32 = 2;

/// What a fetched page says about itself and where it leads.
#[derive(Debug)]
pub(crate) struct PageReading {
    /// Where a redirect landed, when that is another URL than the one asked for (normalized).
    pub(crate) landed: Option<Url>,
    /// Its robots `<meta>` and `X-Robots-Tag` directives.
    pub(crate) directives: PageDirectives,
    /// The links to follow (none when the page is `nofollow`).
    pub(crate) followed: Vec<String>,
    /// Links not followed for `nofollow` (the page's, or each link's `rel`).
    pub(crate) nofollow: u64,
    /// Its `<link rel=canonical>`, normalized.
    pub(crate) canonical: Option<Url>,
    /// The key its text is deduplicated by (`content:<hex>`), unless it has no text.
    pub(crate) content_key: Option<String>,
}

impl PageReading {
    /// Reads `content`, fetched for `asked`, for the crawler named `agent` in robots rules.
    pub(crate) fn read(asked: &str, content: &Content, agent: &str) -> Self {
        let landed = Url::parse(&content.final_url)
            .ok()
            .and_then(|u| normalize(&u))
            .filter(|landed| landed.as_str() != asked);
        let extracted = &content.extracted;
        let directives = PageDirectives::read(extracted.robots.as_deref(), content.x_robots_tag.as_deref(), agent);
        let (followed, nofollow) = if directives.nofollow {
            (Vec::new(), extracted.links.len() as u64)
        } else {
            let marked: HashSet<&str> = extracted.nofollow_links.iter().map(String::as_str).collect();
            let followed = extracted
                .links
                .iter()
                .filter(|l| !marked.contains(l.as_str()))
                .cloned()
                .collect();
            (followed, marked.len() as u64)
        };
        let canonical = extracted
            .canonical_url
            .as_deref()
            .and_then(|c| Url::parse(c).ok())
            .and_then(|c| normalize(&c));
        let content_key = (!extracted.text.trim().is_empty()).then(|| {
            let digest = blake3::hash(extracted.text.as_bytes());
            let key: String = digest.as_bytes()[..16].iter().map(|b| format!("{b:02x}")).collect();
            format!("content:{key}")
        });
        Self {
            landed,
            directives,
            followed,
            nofollow,
            canonical,
            content_key,
        }
    }
}

/// The sitemaps a host's robots.txt leads to: its `Sitemap:` lines (a relative one read against
/// robots.txt's URL), else `/sitemap.xml`; only those on the host itself that its rules allow.
pub(crate) fn sitemaps_of(host_key: &str, rules: &RobotsRules) -> Vec<Url> {
    let origin = origin_of(host_key);
    let base = origin.as_ref().map(robots_url);
    let mut urls: Vec<Url> = rules
        .sitemaps()
        .iter()
        .filter_map(|s| match &base {
            Some(base) => base.join(s).ok(),
            None => Url::parse(s).ok(),
        })
        .collect();
    if urls.is_empty()
        && let Some(origin) = &origin
        && let Ok(default) = origin.join("/sitemap.xml")
    {
        urls.push(default);
    }
    // A sitemap of another host is that host's business, not this crawl's; and a host whose
    // robots.txt forbids (or could not say) gets no request beyond it.
    urls.retain(|url| host_key_of(url).as_deref() == Some(host_key) && rules.allowed(url));
    urls
}

/// The root URL of a host key (an origin).
pub(crate) fn origin_of(host_key: &str) -> Option<Url> {
    Url::parse(&format!("{host_key}/")).ok()
}

/// The key politeness and robots.txt are kept by: the URL's origin (`scheme://host[:port]`),
/// as RFC 9309 scopes a robots.txt.
pub(crate) fn host_key_of(url: &Url) -> Option<String> {
    url.host_str()?;
    Some(url.origin().ascii_serialization())
}

/// The seen-set entry that says a page was emitted under `url` (the seen-set keeps hashes of
/// any strings: URLs, these marks, and content digests).
pub(crate) fn emitted_mark(url: &str) -> String {
    format!("emitted:{url}")
}

/// How long a host asked to be left alone, when this error says it did: a `429` or `503`
/// after the executor's own retries (at least its `Retry-After`), or a circuit the retrier
/// opened for the host.
pub(crate) fn deferral(error: &Error) -> Option<Duration> {
    const BRIEF: Duration = Duration::from_secs(1);
    let asked = |e: &Error| match e.kind() {
        ErrorKind::Fetch(FetchError::HttpStatus {
            status: 429 | 503,
            retry_after,
        }) => Some(retry_after.unwrap_or(BRIEF)),
        _ => None,
    };
    match error.kind() {
        ErrorKind::Retry(RetryError::CircuitOpen { retry_after, .. }) => Some(*retry_after),
        ErrorKind::Retry(RetryError::BudgetExhausted { .. }) => Some(BRIEF),
        ErrorKind::Retry(RetryError::Exhausted {
            last: LastAttempt::Failed(FailureClass::HttpStatus(429 | 503)),
            last_error,
            ..
        }) => Some(last_error.as_ref().and_then(asked).unwrap_or(BRIEF)),
        _ => asked(error),
    }
}

/// Why the scope could not be built: a pattern that is not a regular expression (the seeds
/// were checked before).
pub(crate) fn pattern_error(e: ScopeError) -> Error {
    match e {
        ScopeError::BadPattern { pattern, source } => CrawlError::Pattern {
            pattern,
            source: Box::new(source),
        }
        .into(),
        ScopeError::BadSeed(seed) => CrawlError::Seed {
            seed,
            why: "a crawl starts from an http:// or https:// URL with a host".into(),
        }
        .into(),
        other => CrawlError::Seed {
            seed: String::new(),
            why: other.to_string(),
        }
        .into(),
    }
}

/// A seed as a URL: `http(s)://` as given, or a bare host (`example.com/docs`) as `https://`.
pub(crate) fn parse_seed(seed: &str) -> Result<Url> {
    let trimmed = seed.trim();
    let parsed = match Url::parse(trimmed) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) if !trimmed.is_empty() => {
            Url::parse(&format!("https://{trimmed}")).map_err(|e| {
                Error::from(CrawlError::Seed {
                    seed: seed.to_string(),
                    why: e.to_string(),
                })
            })?
        }
        Err(e) => {
            return Err(CrawlError::Seed {
                seed: seed.to_string(),
                why: e.to_string(),
            }
            .into());
        }
    };
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(CrawlError::Seed {
            seed: seed.to_string(),
            why: "a crawl starts from an http:// or https:// URL with a host".into(),
        }
        .into());
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_or_say_why_not() {
        assert_eq!(
            parse_seed("https://a.example/x").map(String::from).ok().as_deref(),
            Some("https://a.example/x")
        );
        assert_eq!(
            parse_seed("a.example/docs").map(String::from).ok().as_deref(),
            Some("https://a.example/docs")
        );
        for bad in ["", "ftp://a.example/", "mailto:x@a.example", "http://"] {
            let e = parse_seed(bad).expect_err(bad);
            assert_eq!(e.code(), "crawl.seed", "{bad}");
        }
    }

    #[test]
    fn host_keys_are_origins() {
        let key = |u: &str| Url::parse(u).ok().and_then(|u| host_key_of(&u));
        assert_eq!(key("http://127.0.0.2:8080/x").as_deref(), Some("http://127.0.0.2:8080"));
        assert_eq!(key("https://Example.com:443/").as_deref(), Some("https://example.com"));
    }

    #[test]
    fn sitemaps_come_from_robots_or_the_default_on_the_host_only() {
        let rules = RobotsRules::from_response(
            200,
            b"User-agent: *\nDisallow: /private/\nSitemap: /a.xml\nSitemap: http://other.example/b.xml\nSitemap: /private/c.xml\n",
            "riptide",
        );
        let urls: Vec<String> = sitemaps_of("http://a.example", &rules)
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(urls, ["http://a.example/a.xml"]);
        let none = RobotsRules::allow_all();
        let urls: Vec<String> = sitemaps_of("http://a.example", &none)
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(urls, ["http://a.example/sitemap.xml"]);
    }
}
