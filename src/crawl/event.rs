//! What a crawl streams: each page it emitted, each URL that failed, and nothing else.
//!
//! A crawl never stops on one bad page. A seed that does not parse, a host that cannot be
//! reached, a `500`, a PDF: each is a [`CrawlFailure`] row in the stream, and the crawl goes on.
//! Pages that are cut on purpose (out of scope, disallowed by robots.txt, a trap, a duplicate)
//! are not rows at all: they are counted by reason in the [`CrawlReport`](super::CrawlReport).

use serde::Serialize;

use super::frontier::FoundVia;
use crate::extract::Content;

/// One item of a crawl's stream (more kinds may come: match with a wildcard arm).
#[derive(Debug)]
#[non_exhaustive]
#[allow(
    clippy::large_enum_variant,
    reason = "pages are the stream's common case; boxing them costs each one"
)]
pub enum CrawlEvent {
    /// A page was fetched, extracted and is new.
    Page(CrawledPage),
    /// A URL could not be fetched or extracted; the crawl goes on.
    Failed(CrawlFailure),
    /// A recrawl asked for a page conditionally and its server answered `304 Not Modified`:
    /// the page is as the last run emitted it, and was not extracted again.
    Unchanged(UnchangedPage),
}

/// A page a recrawl found unchanged.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct UnchangedPage {
    /// The page's URL (normalized).
    pub url: String,
    /// Links followed from a seed to reach it.
    pub depth: u32,
    /// The page that led here; `None` for a seed.
    pub parent: Option<String>,
    /// How the crawl found it.
    #[serde(serialize_with = "found_via_name")]
    pub found_via: FoundVia,
}

impl UnchangedPage {
    /// The page as one JSON line: `url`, `unchanged: true`, `depth`, `parent`, `found_via`.
    pub fn to_record(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.url,
            "unchanged": true,
            "depth": self.depth,
            "parent": self.parent,
            "found_via": self.found_via.as_str(),
        })
    }
}

/// An extracted page and where the crawl found it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CrawledPage {
    /// The page, as [`Executor::extract_page`](crate::Executor::extract_page) returns it.
    /// Its `url` is the normalized URL the crawl fetched.
    #[serde(flatten)]
    pub content: Content,
    /// Links followed from a seed to reach it (0: a seed).
    pub depth: u32,
    /// The page whose link, sitemap or redirect led here; `None` for a seed.
    pub parent: Option<String>,
    /// How the crawl found it.
    #[serde(serialize_with = "found_via_name")]
    pub found_via: FoundVia,
}

fn found_via_name<S: serde::Serializer>(via: &FoundVia, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(via.as_str())
}

/// A URL the crawl could not turn into a page, and why.
#[derive(Debug)]
#[non_exhaustive]
pub struct CrawlFailure {
    /// The URL as the crawl had it (normalized, or as given for a seed that does not parse).
    pub url: String,
    /// Links followed from a seed to reach it.
    pub depth: u32,
    /// The page that led here; `None` for a seed.
    pub parent: Option<String>,
    /// How the crawl found it.
    pub found_via: FoundVia,
    /// What went wrong: the executor's error, with its code and hint.
    pub error: crate::Error,
}

impl CrawledPage {
    /// The page as one JSON line: `riptide extract --format jsonl`'s fields plus `depth`,
    /// `parent` and `found_via`.
    pub fn to_record(&self) -> serde_json::Value {
        serde_json::to_value(self)
            .unwrap_or_else(|e| serde_json::json!({ "url": self.content.url, "error": e.to_string() }))
    }
}

impl CrawlFailure {
    /// The failure as one JSON line: the CLI's error record (`url`, `error`, `error_kind`,
    /// `hint`) plus `depth`, `parent` and `found_via`.
    pub fn to_record(&self) -> serde_json::Value {
        let mut record = self.error.to_record(&self.url);
        if let Some(fields) = record.as_object_mut() {
            fields.insert("depth".into(), self.depth.into());
            fields.insert("parent".into(), self.parent.clone().into());
            fields.insert("found_via".into(), self.found_via.as_str().into());
        }
        record
    }
}
