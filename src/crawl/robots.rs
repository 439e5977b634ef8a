//! robots.txt, as RFC 9309 says a crawler must read it.
//!
//! The rules themselves are matched by `texting_robots`, which carries Google's and Moz's test
//! suites. This module adds what the RFC asks of the crawler around the parser: what an HTTP
//! status means (4xx: no restrictions; 5xx or no answer: crawl nothing), how much of a body to
//! read, and a cap on `Crawl-delay`. It also lines rules up with [normalized](super::normalize)
//! URLs, so that `%7e` in a rule still matches the `~` the seen-check produced.

use std::fmt;
use std::time::Duration;

use texting_robots::Robot;
use url::{Position, Url};

use super::normalize::normalize_percent;

/// How much of a robots.txt body is parsed. RFC 9309 §2.5 requires at least 500 KiB; anything
/// past it is ignored, as Google does.
pub const MAX_ROBOTS_BYTES: usize = 500 * 1024;

/// The longest `Crawl-delay` honored. Some sites ask for hours, which would stretch a crawl of a
/// few hundred pages over weeks; a minute between requests is already far gentler than any
/// interactive visitor, so longer requests are capped rather than obeyed.
pub const MAX_CRAWL_DELAY: Duration = Duration::from_secs(60);

/// What robots.txt lookup produced the rules; for reports and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RobotsKind {
    /// A robots.txt was fetched and its rules apply.
    Parsed {
        /// The body was longer than [`MAX_ROBOTS_BYTES`] and only its start was read.
        truncated: bool,
    },
    /// The body could not be parsed: everything is allowed (RFC 9309 §2.2.2 has unparsable
    /// content ignored).
    Unparsable {
        /// What the parser objected to.
        error: String,
    },
    /// A 4xx answer (other than 429), or redirects that did not end: robots.txt is "unavailable"
    /// (RFC 9309 §2.3.1.3) and everything is allowed.
    Unavailable {
        /// The final HTTP status.
        status: u16,
    },
    /// A 5xx or 429 answer, or none at all: robots.txt is "unreachable" (RFC 9309 §2.3.1.4) and
    /// nothing may be crawled.
    Unreachable {
        /// The HTTP status, `None` for a network error.
        status: Option<u16>,
    },
    /// robots.txt was not consulted ([`RobotsRules::allow_all`]).
    NotChecked,
}

impl RobotsKind {
    /// Stable snake_case name, used as a key in crawl reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            RobotsKind::Parsed { .. } => "parsed",
            RobotsKind::Unparsable { .. } => "unparsable",
            RobotsKind::Unavailable { .. } => "unavailable",
            RobotsKind::Unreachable { .. } => "unreachable",
            RobotsKind::NotChecked => "not_checked",
        }
    }
}

impl fmt::Display for RobotsKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The robots.txt rules of one origin, for one crawler.
#[derive(Debug)]
pub struct RobotsRules {
    kind: RobotsKind,
    /// Present exactly when `kind` is `Parsed`.
    robot: Option<Robot>,
    crawl_delay: Option<Duration>,
    sitemaps: Vec<String>,
}

impl RobotsRules {
    /// Rules from the final answer to `GET /robots.txt` (after following redirects; RFC 9309
    /// asks for at least five), for the crawler named `agent`.
    ///
    /// `agent` may be a full User-Agent header (`riptide/0.3 (+https://...)`): only its product
    /// token (`riptide`) is matched, case-insensitively, against `User-agent` lines. The group
    /// naming it applies (several such groups are merged), else the `*` group.
    ///
    /// 429 counts as unreachable, not unavailable: the server asked to slow down, so crawling
    /// freely would be the wrong answer (Google reads it the same way).
    pub fn from_response(status: u16, body: &[u8], agent: &str) -> Self {
        match status {
            200..=299 => Self::parse(body, agent),
            429 => Self::unreachable_status(Some(status)),
            300..=499 => Self::with_kind(RobotsKind::Unavailable { status }),
            _ => Self::unreachable_status(Some(status)),
        }
    }

    /// Rules when robots.txt could not be fetched at all (DNS, connection, TLS or timeout):
    /// nothing is allowed.
    pub fn unreachable() -> Self {
        Self::unreachable_status(None)
    }

    /// Rules that allow everything, for crawls told to ignore robots.txt.
    pub fn allow_all() -> Self {
        Self::with_kind(RobotsKind::NotChecked)
    }

    fn unreachable_status(status: Option<u16>) -> Self {
        Self::with_kind(RobotsKind::Unreachable { status })
    }

    fn with_kind(kind: RobotsKind) -> Self {
        Self {
            kind,
            robot: None,
            crawl_delay: None,
            sitemaps: Vec::new(),
        }
    }

    fn parse(body: &[u8], agent: &str) -> Self {
        let truncated = body.len() > MAX_ROBOTS_BYTES;
        let body = if truncated {
            cut_at_line(body, MAX_ROBOTS_BYTES)
        } else {
            body
        };
        match Robot::new(product_token(agent), &prepare(body)) {
            Ok(robot) => Self {
                kind: RobotsKind::Parsed { truncated },
                crawl_delay: robot
                    .delay
                    .and_then(|secs| Duration::try_from_secs_f32(secs.min(MAX_CRAWL_DELAY.as_secs_f32())).ok()),
                sitemaps: robot.sitemaps.clone(),
                robot: Some(robot),
            },
            Err(error) => Self::with_kind(RobotsKind::Unparsable {
                error: format!("{error:#}"),
            }),
        }
    }

    /// How these rules came about.
    pub fn kind(&self) -> &RobotsKind {
        &self.kind
    }

    /// Whether `url` may be fetched. Only its path and query are looked at: the caller keeps one
    /// `RobotsRules` per origin ([`robots_url`]). `/robots.txt` itself is always allowed.
    pub fn allowed(&self, url: &Url) -> bool {
        if url.path() == "/robots.txt" {
            return true;
        }
        match (&self.kind, &self.robot) {
            (RobotsKind::Unreachable { .. }, _) => false,
            (_, Some(robot)) => {
                let target = normalize_percent(url[Position::BeforePath..Position::AfterQuery].as_bytes());
                robot.allowed(&String::from_utf8_lossy(&target))
            }
            (_, None) => true,
        }
    }

    /// The `Crawl-delay` of the matching group (or one given before any group), at most
    /// [`MAX_CRAWL_DELAY`]. `None` when robots.txt sets none.
    pub fn crawl_delay(&self) -> Option<Duration> {
        self.crawl_delay
    }

    /// `Sitemap:` URLs, as written (they may be relative; join them onto [`robots_url`]). They
    /// apply to every crawler, whichever group matched.
    pub fn sitemaps(&self) -> &[String] {
        &self.sitemaps
    }
}

/// The robots.txt URL governing `url`: same scheme, host and port, path `/robots.txt`, with no
/// credentials, query or fragment.
pub fn robots_url(url: &Url) -> Url {
    let mut robots = url.clone();
    // These fail only for URLs without a host, which have no robots.txt to speak of; the path is
    // still replaced for them.
    let _ = robots.set_username("");
    let _ = robots.set_password(None);
    robots.set_path("/robots.txt");
    robots.set_query(None);
    robots.set_fragment(None);
    robots
}

/// The product token of a User-Agent (`riptide/0.3 (+https://...)` → `riptide`): RFC 9309 has it
/// made of letters, `_` and `-` only.
fn product_token(agent: &str) -> &str {
    let agent = agent.trim_start();
    let end = agent
        .find(|c: char| !(c.is_ascii_alphabetic() || c == '_' || c == '-'))
        .unwrap_or(agent.len());
    match &agent[..end] {
        "" => "*",
        token => token,
    }
}

/// The longest prefix of `body` of at most `limit` bytes that ends at a line break, so a rule is
/// never cut in half (a halved `Disallow: /private` would block `/p`).
fn cut_at_line(body: &[u8], limit: usize) -> &[u8] {
    let head = body.get(..limit).unwrap_or(body);
    match head.iter().rposition(|&b| b == b'\n' || b == b'\r') {
        Some(end) => &head[..=end],
        None => head,
    }
}

/// Readies a body for `texting_robots`: percent-escapes are normalized as URLs are (so the rule
/// `/%7euser` matches the normalized `/~user`), and `User-agent` values are cut to their product
/// token (`riptide/1.0` → `riptide`), which the parser would otherwise compare whole, unlike
/// Google's.
fn prepare(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    // The parser also ends lines at a lone `\r` and at NUL, so a rewrite must never span one.
    for line in body.split_inclusive(|&b| matches!(b, b'\n' | b'\r' | 0)) {
        match agent_token(line) {
            Some(token) => {
                out.extend_from_slice(b"User-agent: ");
                out.extend_from_slice(token);
                out.extend(line.last().filter(|b| matches!(b, b'\n' | b'\r' | 0)));
            }
            None => out.extend_from_slice(&normalize_percent(line)),
        }
    }
    out
}

/// For a `User-agent` line whose value goes on past its product token (`riptide/1.0`), the token.
fn agent_token(line: &[u8]) -> Option<&[u8]> {
    let line = line.trim_ascii_start();
    let rest = ["user-agent", "user agent", "useragent"].iter().find_map(|name| {
        let head = line.get(..name.len())?;
        head.eq_ignore_ascii_case(name.as_bytes()).then(|| &line[name.len()..])
    })?;
    let rest = rest.trim_ascii_start();
    let value = rest.strip_prefix(b":").unwrap_or(rest).trim_ascii_start();
    let end = value
        .iter()
        .position(|&b| !(b.is_ascii_alphabetic() || b == b'_' || b == b'-'))
        .unwrap_or(value.len());
    let (token, tail) = value.split_at(end);
    let tail = tail.split(|&b| b == b'#').next().unwrap_or_default();
    (!token.is_empty() && !tail.trim_ascii().is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(path: &str) -> Url {
        Url::parse("https://example.com").unwrap().join(path).unwrap()
    }

    fn parsed(body: &str) -> RobotsRules {
        let rules = RobotsRules::from_response(200, body.as_bytes(), "riptide");
        assert_eq!(rules.kind(), &RobotsKind::Parsed { truncated: false });
        rules
    }

    #[test]
    fn picks_our_group_over_the_catch_all() {
        let body = "User-agent: *\nDisallow: /\n\nUser-agent: Riptide\nDisallow: /private\n";
        let rules = parsed(body);
        assert!(rules.allowed(&url("/public")));
        assert!(!rules.allowed(&url("/private/x")));
        let other = RobotsRules::from_response(200, body.as_bytes(), "otherbot");
        assert!(!other.allowed(&url("/public")));
    }

    #[test]
    fn falls_back_to_the_catch_all_group() {
        let rules = parsed("User-agent: googlebot\nDisallow: /\n\nUser-agent: *\nDisallow: /tmp/\n");
        assert!(rules.allowed(&url("/page")));
        assert!(!rules.allowed(&url("/tmp/x")));
    }

    #[test]
    fn matches_the_product_token_only() {
        // A full User-Agent header is cut to its product token.
        let body = "User-agent: *\nDisallow: /\n\nUser-agent: riptide\nAllow: /\n";
        let rules = RobotsRules::from_response(200, body.as_bytes(), "Riptide/0.3 (+https://example.org/bot)");
        assert!(rules.allowed(&url("/x")));
        // So is a versioned User-agent line, as Google's parser does.
        let body = "User-agent: *\nDisallow: /\n\nUser-agent: RIPTIDE/1.0 # us\nAllow: /\n";
        assert!(parsed(body).allowed(&url("/x")));
        // A lone `\r` ends the line: the rewrite must not swallow the rule after it.
        let body = "User-agent: riptide/1.0\rDisallow: /secret\r";
        assert!(!parsed(body).allowed(&url("/secret")));
        // A product that only starts with our name is someone else.
        let body = "User-agent: riptidex\nDisallow: /\n";
        assert!(parsed(body).allowed(&url("/x")));
        assert_eq!(product_token("  riptide-bot_2"), "riptide-bot_");
        assert_eq!(product_token("/1.0"), "*");
    }

    #[test]
    fn merges_groups_for_the_same_agent() {
        let body =
            "User-agent: riptide\nDisallow: /a\n\nUser-agent: *\nDisallow: /c\n\nUser-agent: riptide\nDisallow: /b\n";
        let rules = parsed(body);
        assert!(!rules.allowed(&url("/a")));
        assert!(!rules.allowed(&url("/b")));
        assert!(rules.allowed(&url("/c")));
    }

    #[test]
    fn longest_match_wins() {
        let rules = parsed("User-agent: *\nDisallow: /docs/\nAllow: /docs/public/\nDisallow: /docs/public/drafts\n");
        assert!(!rules.allowed(&url("/docs/x")));
        assert!(rules.allowed(&url("/docs/public/page")));
        assert!(!rules.allowed(&url("/docs/public/drafts/1")));
        assert!(rules.allowed(&url("/other")));
    }

    #[test]
    fn allow_wins_a_tie() {
        // RFC 9309 §2.2.2: at equal length the least restrictive rule (allow) applies.
        let rules = parsed("User-agent: *\nDisallow: /page\nAllow: /page\n");
        assert!(rules.allowed(&url("/page")));
        let rules = parsed("User-agent: *\nAllow: /folder\nDisallow: /folder\n");
        assert!(rules.allowed(&url("/folder/x")));
    }

    #[test]
    fn wildcards_and_end_anchor() {
        let rules = parsed("User-agent: *\nDisallow: /*.pdf$\nDisallow: /fish*.php\nDisallow: /exact$\n");
        assert!(!rules.allowed(&url("/files/report.pdf")));
        assert!(rules.allowed(&url("/files/report.pdf?download=1")));
        assert!(rules.allowed(&url("/files/report.pdfx")));
        assert!(!rules.allowed(&url("/fish/salmon.php")));
        assert!(!rules.allowed(&url("/fishheads.php?id=2")));
        assert!(rules.allowed(&url("/Fish.php")));
        assert!(!rules.allowed(&url("/exact")));
        assert!(rules.allowed(&url("/exact/more")));

        // Longest pattern beats the shorter allow even with wildcards (Google's example).
        let rules = parsed("User-agent: *\nAllow: /page\nDisallow: /*.html\n");
        assert!(!rules.allowed(&url("/page.html")));
        assert!(rules.allowed(&url("/page.php")));
    }

    #[test]
    fn empty_disallow_allows_everything() {
        let rules = parsed("User-agent: *\nDisallow:\n");
        assert!(rules.allowed(&url("/anything")));
    }

    #[test]
    fn query_is_part_of_the_match() {
        let rules = parsed("User-agent: *\nDisallow: /search?\nDisallow: /*?sort=\n");
        assert!(rules.allowed(&url("/search")));
        assert!(!rules.allowed(&url("/search?q=x")));
        assert!(!rules.allowed(&url("/list?sort=asc")));
        assert!(rules.allowed(&url("/list?page=1&sort=asc")));
        assert!(!rules.allowed(&url("/list?sort=asc#frag")));
    }

    #[test]
    fn percent_encoding_is_compared_normalized() {
        // RFC 9309 §2.2.2: non-ASCII in rules is compared percent-encoded.
        let rules = parsed("User-agent: *\nDisallow: /foo/bär\nDisallow: /%7euser\nDisallow: /a%2fb\n");
        assert!(!rules.allowed(&url("/foo/bär")));
        assert!(!rules.allowed(&url("/foo/b%C3%A4r")));
        assert!(!rules.allowed(&url("/foo/b%c3%a4r")));
        // An escaped unreserved character and the character itself are the same.
        assert!(!rules.allowed(&url("/~user/x")));
        assert!(!rules.allowed(&url("/%7Euser/x")));
        // An escaped `/` is not a path separator and only matches itself.
        assert!(!rules.allowed(&url("/a%2Fb")));
        assert!(rules.allowed(&url("/a/b")));
    }

    #[test]
    fn robots_txt_itself_is_always_allowed() {
        assert!(parsed("User-agent: *\nDisallow: /\n").allowed(&url("/robots.txt")));
        assert!(RobotsRules::unreachable().allowed(&url("/robots.txt")));
        assert!(!RobotsRules::unreachable().allowed(&url("/")));
    }

    #[test]
    fn client_errors_allow_everything() {
        for status in [400, 401, 403, 404, 410, 451, 301, 308] {
            let rules = RobotsRules::from_response(status, b"User-agent: *\nDisallow: /\n", "riptide");
            assert_eq!(rules.kind(), &RobotsKind::Unavailable { status });
            assert!(rules.allowed(&url("/x")), "{status}");
        }
    }

    #[test]
    fn server_errors_disallow_everything() {
        for status in [500, 502, 503, 504, 429, 100, 600] {
            let rules = RobotsRules::from_response(status, b"", "riptide");
            assert_eq!(rules.kind(), &RobotsKind::Unreachable { status: Some(status) });
            assert!(!rules.allowed(&url("/x")), "{status}");
        }
        let rules = RobotsRules::unreachable();
        assert_eq!(rules.kind(), &RobotsKind::Unreachable { status: None });
        assert_eq!(rules.kind().as_str(), "unreachable");
    }

    #[test]
    fn allow_all_and_empty_bodies() {
        let rules = RobotsRules::allow_all();
        assert_eq!(rules.kind(), &RobotsKind::NotChecked);
        assert!(rules.allowed(&url("/x")));
        assert!(parsed("").allowed(&url("/x")));
        assert!(RobotsRules::from_response(200, b"\xff\xfe<html>garbage", "riptide").allowed(&url("/x")));
    }

    #[test]
    fn unparsable_body_allows_everything() {
        // A wildcard rule too large to compile under texting_robots's regex limits.
        let mut body = b"User-agent: *\nDisallow: /*".to_vec();
        body.extend(std::iter::repeat_n(b'A', 4096));
        body.extend(b"*A*$\n");
        let rules = RobotsRules::from_response(200, &body, "riptide");
        assert!(matches!(rules.kind(), RobotsKind::Unparsable { error } if !error.is_empty()));
        assert!(rules.allowed(&url("/AAAA")));
    }

    #[test]
    fn crawl_delay_is_read_and_capped() {
        let rules = parsed("User-agent: riptide\nCrawl-delay: 2.5\nDisallow: /x\n");
        assert_eq!(rules.crawl_delay(), Some(Duration::from_millis(2500)));
        let rules = parsed("User-agent: *\nCrawl-delay: 86400\n");
        assert_eq!(rules.crawl_delay(), Some(MAX_CRAWL_DELAY));
        let rules = parsed("User-agent: *\nCrawl-delay: inf\n");
        assert_eq!(rules.crawl_delay(), Some(MAX_CRAWL_DELAY));
        let rules = parsed("User-agent: *\nCrawl-delay: soon\nCrawl-delay: -3\n");
        assert_eq!(rules.crawl_delay(), None);
        assert_eq!(parsed("User-agent: *\nDisallow: /x\n").crawl_delay(), None);
        // Another group's delay is not ours.
        let rules = parsed("User-agent: slowbot\nCrawl-delay: 30\n\nUser-agent: *\nDisallow: /x\n");
        assert_eq!(rules.crawl_delay(), None);
    }

    #[test]
    fn sitemaps_apply_to_everyone() {
        let body = "Sitemap: https://example.com/sitemap.xml\nUser-agent: slowbot\nDisallow: /\n\
                    sitemap: /news-sitemap.xml.gz\n";
        let rules = parsed(body);
        assert_eq!(
            rules.sitemaps(),
            ["https://example.com/sitemap.xml", "/news-sitemap.xml.gz"]
        );
        assert!(RobotsRules::unreachable().sitemaps().is_empty());
    }

    #[test]
    fn reads_only_the_first_500_kib() {
        let mut body = b"User-agent: *\nDisallow: /early\n".to_vec();
        while body.len() < MAX_ROBOTS_BYTES - 10 {
            body.extend_from_slice(b"# padding padding padding padding\n");
        }
        // This rule straddles the limit; it is dropped whole rather than cut to `/l`.
        body.extend_from_slice(b"Disallow: /late-and-long\n");
        assert!(body.len() > MAX_ROBOTS_BYTES);
        let rules = RobotsRules::from_response(200, &body, "riptide");
        assert_eq!(rules.kind(), &RobotsKind::Parsed { truncated: true });
        assert!(!rules.allowed(&url("/early")));
        assert!(rules.allowed(&url("/late-and-long")));
        assert!(rules.allowed(&url("/l")));
    }

    #[test]
    fn robots_url_keeps_only_the_origin() {
        let page = Url::parse("https://user:pw@Example.com:8443/a/b?c=d#e").unwrap();
        assert_eq!(robots_url(&page).as_str(), "https://example.com:8443/robots.txt");
        let page = Url::parse("http://example.com/").unwrap();
        assert_eq!(robots_url(&page).as_str(), "http://example.com/robots.txt");
    }
}
