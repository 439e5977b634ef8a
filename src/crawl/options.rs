//! [`CrawlOptions`]: what a crawl may visit, how hard it may hit each host, and where it keeps
//! its state.
//!
//! The defaults are polite and let a real site through whole: robots.txt obeyed, sitemaps
//! used, two requests at a time per host, the site's own host only, and trap guards that stop
//! an endless calendar long before they cut a documentation site.

use std::path::PathBuf;
use std::time::Duration;

use super::scope::Scope;
use super::traps::TrapLimits;
use crate::executor::{EngineChoice, PageOptions};

/// How a crawl runs. Build with [`CrawlOptions::new`] and the setters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CrawlOptions {
    /// Which URLs belong to the crawl, from the seeds (default: [`Scope::Host`]).
    pub scope: Scope,
    /// Regular expressions a URL must match one of to be crawled (none: every URL in scope).
    pub include: Vec<String>,
    /// Regular expressions that cut a URL (they win over `include`).
    pub exclude: Vec<String>,
    /// Links followed from a seed at most (default 32; seeds are depth 0).
    pub max_depth: u32,
    /// Pages emitted at most, all runs of the crawl together (default: no limit).
    pub max_pages: Option<u64>,
    /// How long this run may take (default: no limit). Pages in flight when it ends are
    /// fetched again by the next run.
    pub max_duration: Option<Duration>,
    /// Pages fetched at once over all hosts (default 8).
    pub concurrency: usize,
    /// Pages fetched at once from one host (default 2).
    pub per_host: u32,
    /// The least time between two requests to one host (default none; a robots.txt
    /// `Crawl-delay` raises it for its host).
    pub delay: Duration,
    /// Which engine fetches each page (default [`EngineChoice::Auto`]: static, rendered when the
    /// page needs JavaScript; links then come from the rendered DOM).
    pub engine: EngineChoice,
    /// Whether robots.txt is obeyed (default true). Turning it off is logged as a warning.
    pub obey_robots: bool,
    /// Whether sitemaps (robots.txt `Sitemap:` lines, else `/sitemap.xml`) add URLs (default
    /// true).
    pub sitemaps: bool,
    /// The trap guards' limits.
    pub traps: TrapLimits,
    /// How many times a URL its host deferred (`429`, `503`, an open circuit) is put back
    /// before it is reported as failed (default 3).
    pub max_deferrals: u32,
    /// What each page asks the executor for (Markdown, article HTML, a time limit, ...); the
    /// engine is [`engine`](Self::engine)'s.
    pub page: PageOptions,
    /// Where the frontier and the seen-set are kept: a redb file, so the same crawl run again
    /// resumes (default: memory, gone with the run).
    pub state_file: Option<PathBuf>,
    /// Start over: forget what an earlier run of this crawl kept in `state_file`.
    pub fresh: bool,
    /// The name the report and the progress carry.
    pub name: String,
    /// The product token matched against robots.txt groups and `<meta name=...>` (default
    /// `riptide`).
    pub user_agent_token: String,
}

impl Default for CrawlOptions {
    fn default() -> Self {
        Self {
            scope: Scope::Host,
            include: Vec::new(),
            exclude: Vec::new(),
            max_depth: 32,
            max_pages: None,
            max_duration: None,
            concurrency: 8,
            per_host: 2,
            delay: Duration::ZERO,
            engine: EngineChoice::Auto,
            obey_robots: true,
            sitemaps: true,
            traps: TrapLimits::default(),
            max_deferrals: 3,
            page: PageOptions::default(),
            state_file: None,
            fresh: false,
            name: "crawl".into(),
            user_agent_token: "riptide".into(),
        }
    }
}

impl CrawlOptions {
    /// The defaults: polite, in memory, the seeds' hosts only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the scope.
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// Adds an include pattern (a regular expression over the whole URL).
    pub fn include(mut self, pattern: impl Into<String>) -> Self {
        self.include.push(pattern.into());
        self
    }

    /// Adds an exclude pattern (a regular expression over the whole URL).
    pub fn exclude(mut self, pattern: impl Into<String>) -> Self {
        self.exclude.push(pattern.into());
        self
    }

    /// Sets the most links followed from a seed.
    pub fn max_depth(mut self, depth: u32) -> Self {
        self.max_depth = depth;
        self
    }

    /// Sets the most pages emitted.
    pub fn max_pages(mut self, pages: u64) -> Self {
        self.max_pages = Some(pages);
        self
    }

    /// Sets how long this run may take.
    pub fn max_duration(mut self, limit: Duration) -> Self {
        self.max_duration = Some(limit);
        self
    }

    /// Sets how many pages are fetched at once (at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Sets how many pages are fetched at once from one host (at least 1).
    pub fn per_host(mut self, n: u32) -> Self {
        self.per_host = n.max(1);
        self
    }

    /// Sets the least time between two requests to one host.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sets the engine.
    pub fn engine(mut self, engine: EngineChoice) -> Self {
        self.engine = engine;
        self
    }

    /// Sets whether robots.txt is obeyed.
    pub fn obey_robots(mut self, obey: bool) -> Self {
        self.obey_robots = obey;
        self
    }

    /// Sets whether sitemaps add URLs.
    pub fn sitemaps(mut self, use_them: bool) -> Self {
        self.sitemaps = use_them;
        self
    }

    /// Sets the trap guards' limits.
    pub fn traps(mut self, limits: TrapLimits) -> Self {
        self.traps = limits;
        self
    }

    /// Sets what each page asks the executor for.
    pub fn page(mut self, page: PageOptions) -> Self {
        self.page = page;
        self
    }

    /// Keeps the crawl's state in `path` (a redb file), so running it again resumes.
    pub fn state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_file = Some(path.into());
        self
    }

    /// Forgets an earlier run's state instead of resuming it.
    pub fn fresh(mut self, fresh: bool) -> Self {
        self.fresh = fresh;
        self
    }

    /// Names the crawl.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

/// A name for a crawl of `seeds`, for its state file: the first seed's host and path made safe
/// for a file name, and a short hash of all the seeds so two crawls of one host differ.
pub fn name_for_seeds(seeds: &[String]) -> String {
    let mut sorted: Vec<&str> = seeds.iter().map(|s| s.trim()).collect();
    sorted.sort_unstable();
    let hash = blake3::hash(sorted.join("\n").as_bytes());
    let first = seeds.first().map(|s| s.trim()).unwrap_or("");
    let readable: String = first
        .split_once("://")
        .map_or(first, |(_, rest)| rest)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_matches('_')
        .chars()
        .take(48)
        .collect();
    let hex: String = hash.as_bytes()[..4].iter().map(|b| format!("{b:02x}")).collect();
    if readable.is_empty() {
        hex
    } else {
        format!("{readable}-{hex}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_readable_stable_and_differs_by_seeds() {
        let a = name_for_seeds(&["https://docs.example.com/guide/".into()]);
        assert!(a.starts_with("docs.example.com_guide-"), "{a}");
        assert_eq!(a, name_for_seeds(&["https://docs.example.com/guide/".into()]));
        assert_ne!(a, name_for_seeds(&["https://docs.example.com/api/".into()]));
        assert!(name_for_seeds(&[]).chars().all(|c| c.is_ascii_hexdigit()));
    }
}
