//! Guards against crawler traps: sites that generate links without end.
//!
//! A calendar with a "next month" link, a faceted listing whose filters combine without limit, or a
//! relative link that resolves one directory deeper on every page all look like fresh URLs to the
//! seen-check, so a crawl would never finish. [`TrapGuard`] cuts those patterns off by shape: URLs
//! that are too long, paths whose segments cycle (`/a/b/a/b/a/b/`), and paths reached with more
//! distinct query strings than any real site needs.

use std::collections::HashMap;
use std::fmt;

use url::Url;

/// The thresholds a [`TrapGuard`] enforces. A value of 0 turns that check off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrapLimits {
    /// The longest URL (in bytes, serialized) worth fetching. Default 2048: the length beyond
    /// which many browsers, CDNs and servers stop accepting URLs, so longer ones are almost always
    /// generated.
    pub max_url_len: usize,
    /// How many distinct query strings one host and path may be fetched with.
    ///
    /// Default 128. Real sites rarely need more: docs vary a path by a handful of parameters
    /// (`?version=`, `?tab=`), and pagination beyond 128 pages of one listing is rare and usually
    /// also reachable through a sitemap. An infinite calendar or faceted search, on the other
    /// hand, is stopped after 128 fetches of that path, a couple of minutes at a polite rate.
    pub max_query_variants: u32,
    /// How many times a path segment, or a run of two or three segments, may repeat back to back
    /// before the URL is taken for a relative-link loop. Default 2: `/a/a` and `/a/b/a/b` pass,
    /// `/a/a/a` and `/a/b/a/b/a/b` do not; `/docs/api/v1/api/` (not consecutive) passes.
    pub max_repeated_segments: u32,
}

impl Default for TrapLimits {
    fn default() -> Self {
        Self {
            max_url_len: 2048,
            max_query_variants: 128,
            max_repeated_segments: 2,
        }
    }
}

impl TrapLimits {
    /// The checks that need no counts: the URL's length and its repeated segments. A crawl
    /// whose query budgets are kept elsewhere (across machines, in a key-value bucket) runs
    /// these here and counts [`query_budget_key`](Self::query_budget_key) itself.
    pub fn check_shape(&self, url: &Url) -> Result<(), Trap> {
        if self.max_url_len > 0 && url.as_str().len() > self.max_url_len {
            return Err(Trap::UrlTooLong);
        }
        if self.max_repeated_segments > 0 && has_repeated_segments(url.path(), self.max_repeated_segments) {
            return Err(Trap::RepeatedSegments);
        }
        Ok(())
    }

    /// The key of the query-variant budget `url` spends (its host, port and path), when it has
    /// a query and the budget is on.
    pub fn query_budget_key(&self, url: &Url) -> Option<u64> {
        (self.max_query_variants > 0 && url.query().is_some_and(|q| !q.is_empty())).then(|| path_key(url))
    }
}

/// Which trap a URL looks like. [`as_str`](Self::as_str) gives stable names for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trap {
    /// Longer than [`TrapLimits::max_url_len`].
    UrlTooLong,
    /// Its path was already fetched with [`TrapLimits::max_query_variants`] query strings.
    QueryVariants,
    /// Its path cycles more than [`TrapLimits::max_repeated_segments`] times.
    RepeatedSegments,
}

impl Trap {
    /// Stable snake_case name, used as a key in crawl reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Trap::UrlTooLong => "url_too_long",
            Trap::QueryVariants => "query_variants",
            Trap::RepeatedSegments => "repeated_segments",
        }
    }
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest run of segments whose repetition is detected. Longer cycles are rare, and each
/// extra length costs another pass over the path.
const MAX_CYCLE: usize = 3;

/// Applies [`TrapLimits`] to the URLs a crawl discovers.
///
/// The query-variant budget needs state: one counter per host and path. To keep that small on a
/// crawl of millions of pages, the key is a 64-bit hash of host, port and path rather than the
/// strings (about 12 bytes of payload per path that ever had a query), and `http` and `https`
/// share a counter. The hash is FNV-1a, fixed
/// here rather than std's `DefaultHasher`, whose output may change between Rust releases: keys
/// are saved with [`snapshot`](Self::snapshot) and must mean the same after an upgrade. A
/// collision merges two paths' budgets, which can only stop one of them early.
#[derive(Debug, Clone, Default)]
pub struct TrapGuard {
    limits: TrapLimits,
    query_variants: HashMap<u64, u32>,
}

impl TrapGuard {
    /// A guard enforcing `limits`, with no URLs counted yet.
    pub fn new(limits: TrapLimits) -> Self {
        Self {
            limits,
            query_variants: HashMap::new(),
        }
    }

    /// The limits this guard enforces.
    pub fn limits(&self) -> &TrapLimits {
        &self.limits
    }

    /// `Ok` when `url` does not look like a trap; it then counts against its path's query budget.
    ///
    /// Call it once per URL, only for URLs not seen before (after the seen-check): every passing
    /// URL with a non-empty query uses one of its path's [`max_query_variants`] slots, so
    /// checking the same URL twice would spend two. URLs that fail spend nothing.
    ///
    /// [`max_query_variants`]: TrapLimits::max_query_variants
    pub fn check(&mut self, url: &Url) -> Result<(), Trap> {
        self.limits.check_shape(url)?;
        if let Some(key) = self.limits.query_budget_key(url) {
            let count = self.query_variants.entry(key).or_insert(0);
            if *count >= self.limits.max_query_variants {
                return Err(Trap::QueryVariants);
            }
            *count += 1;
        }
        Ok(())
    }

    /// The query-variant counters, to save with a crawl's state for [`restore`](Self::restore).
    /// Sorted by key, so equal states snapshot identically.
    pub fn snapshot(&self) -> Vec<(u64, u32)> {
        let mut counts: Vec<(u64, u32)> = self.query_variants.iter().map(|(&k, &v)| (k, v)).collect();
        counts.sort_unstable();
        counts
    }

    /// Loads counters saved by [`snapshot`](Self::snapshot). A key already counted here keeps the
    /// larger of the two counts, so restoring twice, or into a guard that already ran, never
    /// gives a path its budget back.
    pub fn restore(&mut self, counts: impl IntoIterator<Item = (u64, u32)>) {
        for (key, count) in counts {
            let slot = self.query_variants.entry(key).or_insert(0);
            *slot = (*slot).max(count);
        }
    }
}

/// FNV-1a over host, port and path, with separators that cannot occur in a URL so that
/// `a.b` + `/c` and `a` + `.b/c` differ.
fn path_key(url: &Url) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    // The explicit port only: `http://a.com/p` and `https://a.com/p` are one path of one site.
    let port = url.port().unwrap_or(0).to_be_bytes();
    let parts: [&[u8]; 5] = [
        url.host_str().unwrap_or_default().as_bytes(),
        &[0xff],
        &port,
        &[0xff],
        url.path().as_bytes(),
    ];
    parts
        .iter()
        .flat_map(|part| part.iter())
        .fold(OFFSET, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME))
}

/// Whether some run of 1 to [`MAX_CYCLE`] segments repeats back to back more than `max` times.
fn has_repeated_segments(path: &str, max: u32) -> bool {
    // A trailing slash adds an empty last segment that is not part of any cycle.
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    for len in 1..=MAX_CYCLE {
        for start in 0..segments.len() {
            let Some(unit) = segments.get(start..start + len) else {
                break;
            };
            let repeats = segments[start..]
                .chunks_exact(len)
                .take_while(|chunk| *chunk == unit)
                .count();
            if repeats > max {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn names_are_stable() {
        assert_eq!(Trap::UrlTooLong.as_str(), "url_too_long");
        assert_eq!(Trap::QueryVariants.as_str(), "query_variants");
        assert_eq!(Trap::RepeatedSegments.to_string(), "repeated_segments");
    }

    #[test]
    fn cuts_long_urls() {
        let mut guard = TrapGuard::default();
        let base = "https://a.com/";
        let fits = format!("{base}{}", "x".repeat(2048 - base.len()));
        assert_eq!(guard.check(&url(&fits)), Ok(()));
        assert_eq!(guard.check(&url(&format!("{fits}y"))), Err(Trap::UrlTooLong));
    }

    #[test]
    fn stops_an_infinite_calendar_at_the_budget() {
        let mut guard = TrapGuard::default();
        let mut fetched = 0;
        let mut first_refused = None;
        for day in 0..10_000 {
            match guard.check(&url(&format!("https://a.com/cal?date={day}"))) {
                Ok(()) => fetched += 1,
                Err(trap) => {
                    assert_eq!(trap, Trap::QueryVariants);
                    first_refused.get_or_insert(day);
                }
            }
        }
        assert_eq!(fetched, 128);
        assert_eq!(first_refused, Some(128));
        // Other paths, the same path without a query, and other hosts keep their own budget.
        assert_eq!(guard.check(&url("https://a.com/cal")), Ok(()));
        assert_eq!(guard.check(&url("https://a.com/cal?")), Ok(()));
        assert_eq!(guard.check(&url("https://a.com/list?page=2")), Ok(()));
        assert_eq!(guard.check(&url("https://b.com/cal?date=1")), Ok(()));
        assert_eq!(guard.check(&url("https://a.com:8443/cal?date=1")), Ok(()));
    }

    #[test]
    fn refused_urls_spend_no_budget() {
        let limits = TrapLimits {
            max_query_variants: 2,
            max_url_len: 40,
            ..TrapLimits::default()
        };
        let mut guard = TrapGuard::new(limits);
        let long = format!("https://a.com/p?{}", "x".repeat(40));
        assert_eq!(guard.check(&url(&long)), Err(Trap::UrlTooLong));
        assert_eq!(guard.check(&url("https://a.com/p?a")), Ok(()));
        assert_eq!(guard.check(&url("https://a.com/p?b")), Ok(()));
        assert_eq!(guard.check(&url("https://a.com/p?c")), Err(Trap::QueryVariants));
    }

    #[test]
    fn cuts_repeated_segments() {
        let mut guard = TrapGuard::default();
        for trap in [
            "https://a.com/a/a/a",
            "https://a.com/a/b/a/b/a/b/",
            "https://a.com/x/a/b/c/a/b/c/a/b/c/y",
            "https://a.com/docs/img/img/img/logo.png",
            "https://a.com/p////",
        ] {
            assert_eq!(guard.check(&url(trap)), Err(Trap::RepeatedSegments), "{trap}");
        }
        for fine in [
            "https://a.com/",
            "https://a.com/a/a",
            "https://a.com/a/b/a/b/",
            "https://a.com/docs/api/v1/api/",
            "https://a.com/2024/01/01/post",
            "https://a.com/a/b/c/d/a/b/c/d/a/b/c/d",
        ] {
            assert_eq!(guard.check(&url(fine)), Ok(()), "{fine}");
        }
    }

    #[test]
    fn zero_turns_checks_off() {
        let limits = TrapLimits {
            max_url_len: 0,
            max_query_variants: 0,
            max_repeated_segments: 0,
        };
        let mut guard = TrapGuard::new(limits);
        let long = format!("https://a.com/a/a/a/a?{}", "x".repeat(5000));
        for _ in 0..3 {
            assert_eq!(guard.check(&url(&long)), Ok(()));
        }
        assert!(guard.snapshot().is_empty());
    }

    #[test]
    fn snapshot_and_restore_carry_the_budget_over() {
        let limits = TrapLimits {
            max_query_variants: 3,
            ..TrapLimits::default()
        };
        let mut guard = TrapGuard::new(limits);
        for q in ["a", "b"] {
            guard.check(&url(&format!("https://a.com/p?{q}"))).unwrap();
        }
        guard.check(&url("https://a.com/other?x")).unwrap();
        let saved = guard.snapshot();
        assert_eq!(saved.len(), 2);
        assert!(saved.windows(2).all(|w| w[0].0 < w[1].0));

        let mut resumed = TrapGuard::new(limits);
        resumed.restore(saved.clone());
        resumed.restore(saved);
        assert_eq!(resumed.check(&url("https://a.com/p?c")), Ok(()));
        assert_eq!(resumed.check(&url("https://a.com/p?d")), Err(Trap::QueryVariants));

        // Restoring a stale snapshot never lowers a count.
        let stale = vec![(path_key(&url("https://a.com/p")), 1)];
        resumed.restore(stale);
        assert_eq!(resumed.check(&url("https://a.com/p?e")), Err(Trap::QueryVariants));
    }

    #[test]
    fn path_key_is_stable() {
        // Saved snapshots depend on this value not changing between builds (checked against an
        // independent FNV-1a of `a.com \xff \0\0 \xff /p`).
        assert_eq!(
            path_key(&url("https://a.com/p")),
            path_key(&url("https://a.com:443/p?x"))
        );
        assert_eq!(path_key(&url("https://a.com/p")), path_key(&url("http://a.com/p")));
        assert_ne!(
            path_key(&url("https://a.com/p")),
            path_key(&url("https://a.com:8443/p"))
        );
        assert_ne!(path_key(&url("https://a.com/p")), path_key(&url("https://a.com/q")));
        assert_eq!(path_key(&url("https://a.com/p")), 0xc5b4_ff20_3573_d4ba);
    }
}
