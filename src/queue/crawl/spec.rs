//! [`CrawlSpec`]: a crawl's options as every worker reads them from the crawls' registry.
//!
//! A crawl across machines is started once (by `riptide crawl --nats`) and run by workers that
//! were started with nothing but the server's URL, so everything that decides what is fetched
//! and how hard (scope, patterns, limits, politeness, what each page asks the executor for)
//! travels as this versioned JSON. The options a worker builds from it are the same
//! [`CrawlOptions`] fields a local crawl uses, and go through the same scope and trap code.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::crawl::scope::ScopeRules;
use crate::crawl::{CrawlOptions, Scope, TrapLimits};
use crate::error::{QueueError, Result};
use crate::executor::{EngineChoice, PageOptions};

/// The version of the spec this riptide writes and reads.
pub const CRAWL_SPEC_VERSION: u32 = 1;

/// What a crawl across machines fetches and how: the serializable part of [`CrawlOptions`]
/// and its seeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CrawlSpec {
    /// [`CRAWL_SPEC_VERSION`] when written; a worker refuses a version it does not know.
    pub version: u32,
    /// The seeds, as given.
    pub seeds: Vec<String>,
    /// `host`, `domain` or `prefix`.
    pub scope: String,
    /// Include patterns.
    pub include: Vec<String>,
    /// Exclude patterns.
    pub exclude: Vec<String>,
    /// Links followed from a seed at most.
    pub max_depth: u32,
    /// Pages emitted at most, by all workers together.
    pub max_pages: Option<u64>,
    /// Pages fetched at once by all workers together.
    pub concurrency: u32,
    /// Pages fetched at once from one host by all workers together.
    pub per_host: u32,
    /// The least time between two requests to one host, in milliseconds, over all workers.
    pub delay_ms: u64,
    /// Which engine fetches each page.
    pub engine: EngineChoice,
    /// Whether robots.txt is obeyed.
    pub obey_robots: bool,
    /// Whether sitemaps add URLs.
    pub sitemaps: bool,
    /// [`TrapLimits::max_url_len`].
    pub max_url_len: usize,
    /// [`TrapLimits::max_query_variants`], for the whole crawl.
    pub max_query_variants: u32,
    /// [`TrapLimits::max_repeated_segments`].
    pub max_repeated_segments: u32,
    /// How many times a URL its host deferred is put back before it fails.
    pub max_deferrals: u32,
    /// Whether each page also gets Markdown.
    pub markdown: bool,
    /// Links only (`--map`): no content pass.
    pub links_only: bool,
    /// The product token matched against robots.txt groups and `<meta name=...>`.
    pub user_agent_token: String,
    /// Which start of the crawl this is: set when it is registered (the time, in milliseconds),
    /// and part of its streams', buckets' and subjects' names, so a crawl cancelled and started
    /// again under its name (`--fresh`) shares nothing with the one before, not even with a
    /// worker still finishing a page of it. 0 in a spec not registered yet (and in crawls
    /// registered before generations, whose objects carry the bare name).
    #[serde(default)]
    pub generation: u64,
    /// This start runs the crawl again after it finished: each page is asked for with what it
    /// answered last time (`If-None-Match`, `If-Modified-Since`), and an unchanged one is
    /// reported as such without being extracted again.
    #[serde(default)]
    pub recrawl: bool,
}

impl CrawlSpec {
    /// The spec of a crawl of `seeds` with `options` (their state file, duration and name are
    /// not part of it: the state is the server's, and a run's duration the attached command's).
    pub fn new(seeds: &[String], options: &CrawlOptions) -> Self {
        Self {
            version: CRAWL_SPEC_VERSION,
            seeds: seeds.to_vec(),
            scope: options.scope.as_str().to_string(),
            include: options.include.clone(),
            exclude: options.exclude.clone(),
            max_depth: options.max_depth,
            max_pages: options.max_pages,
            concurrency: u32::try_from(options.concurrency).unwrap_or(u32::MAX).max(1),
            per_host: options.per_host.max(1),
            delay_ms: u64::try_from(options.delay.as_millis()).unwrap_or(u64::MAX),
            engine: options.engine,
            obey_robots: options.obey_robots,
            sitemaps: options.sitemaps,
            max_url_len: options.traps.max_url_len,
            max_query_variants: options.traps.max_query_variants,
            max_repeated_segments: options.traps.max_repeated_segments,
            max_deferrals: options.max_deferrals,
            markdown: options.page.markdown.unwrap_or(false),
            links_only: options.page.links_only.unwrap_or(false),
            user_agent_token: options.user_agent_token.clone(),
            generation: 0,
            recrawl: false,
        }
    }

    /// Whether `other` asks for the same crawl (whatever start of it each is).
    pub fn same_options(&self, other: &CrawlSpec) -> bool {
        let mut other = other.clone();
        other.generation = self.generation;
        other.recrawl = self.recrawl;
        *self == other
    }

    /// The spec as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a spec, refusing a version this riptide does not know.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let bad = |why: String| QueueError::jetstream("read a crawl's spec", why);
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        match value.get("version").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(CRAWL_SPEC_VERSION) => {}
            v => {
                return Err(bad(format!(
                    "version {v:?}; this riptide reads version {CRAWL_SPEC_VERSION}: run workers as new as `riptide crawl --nats`"
                ))
                .into());
            }
        }
        Ok(serde_json::from_value(value).map_err(|e| bad(e.to_string()))?)
    }

    /// The scope's kind.
    pub fn scope_kind(&self) -> Scope {
        match self.scope.as_str() {
            "domain" => Scope::Domain,
            "prefix" => Scope::Prefix,
            _ => Scope::Host,
        }
    }

    /// The trap limits.
    pub fn traps(&self) -> TrapLimits {
        TrapLimits {
            max_url_len: self.max_url_len,
            max_query_variants: self.max_query_variants,
            max_repeated_segments: self.max_repeated_segments,
        }
    }

    /// The delay between two requests to one host.
    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms)
    }

    /// What each page asks the executor for.
    pub fn page_options(&self) -> PageOptions {
        PageOptions::new()
            .engine(self.engine)
            .markdown(self.markdown)
            .links_only(self.links_only)
    }

    /// The scope rules around the seeds that parse (the others are failure rows of the
    /// command that started the crawl).
    pub(crate) fn scope_rules(&self) -> Result<ScopeRules> {
        let seeds: Vec<url::Url> = self
            .seeds
            .iter()
            .filter_map(|s| crate::crawl::page_rules::parse_seed(s).ok())
            .collect();
        ScopeRules::new(self.scope_kind(), &seeds, &self.include, &self.exclude)
            .map_err(crate::crawl::page_rules::pattern_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_round_trips_and_unknown_versions_are_refused() {
        let options = CrawlOptions::new().scope(Scope::Prefix).max_pages(7).per_host(1);
        let spec = CrawlSpec::new(&["http://a.example/docs/".into()], &options);
        let back = CrawlSpec::from_json(&spec.to_json()).expect("round trip");
        assert_eq!(back, spec);
        assert_eq!(back.scope_kind(), Scope::Prefix);
        assert!(CrawlSpec::from_json(br#"{"version": 99}"#).is_err());
        assert!(back.scope_rules().is_ok());
        let mut restarted = back.clone();
        restarted.generation = 42;
        assert!(restarted.same_options(&spec) && restarted != spec);
        // A spec written before generations reads as generation 0.
        let mut old: serde_json::Value = serde_json::from_slice(&spec.to_json()).expect("json");
        old.as_object_mut().expect("object").remove("generation");
        let old = CrawlSpec::from_json(&serde_json::to_vec(&old).expect("json")).expect("old spec");
        assert_eq!(old.generation, 0);
    }
}
