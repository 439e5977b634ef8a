//! The Spider engine: crawl whole sites or sections through the executor.
//!
//! [`Crawler`] turns seeds into a stream of extracted pages. Between the two it keeps what a
//! polite, resumable crawler must: a frontier and a seen-set that survive a crash ([`frontier`]),
//! URL normalization so one page is fetched once ([`normalize`]), scope and include/exclude
//! rules ([`scope`]), guards against crawler traps ([`traps`]), robots.txt per RFC 9309
//! ([`robots`]), sitemaps ([`sitemap`]), and per-host politeness that never stalls the other
//! hosts. Every page goes through the executor's engine choice, its warm browser pool, its
//! cached extractor and its learned per-host timeouts; links come from the extracted page,
//! which for a rendered page is the DOM its scripts built.
//!
//! What a crawl cuts on purpose is counted by reason in its [`CrawlReport`]; what fails is a
//! [`CrawlFailure`] row in the stream, and the crawl goes on.

mod crawler;
mod directives;
pub(crate) mod discover;
mod event;
pub mod frontier;
mod host;
pub mod normalize;
mod options;
mod page_memory;
pub(crate) mod page_rules;
mod report;
pub mod robots;
pub mod scope;
pub mod sitemap;
pub(crate) mod slowdown;
pub mod traps;

pub use crawler::{Crawl, CrawlHandle, Crawler};
pub use event::{CrawlEvent, CrawlFailure, CrawledPage, UnchangedPage};
pub use frontier::FoundVia;
pub use options::{CrawlOptions, name_for_seeds};
pub use report::CrawlReport;
pub use scope::Scope;
pub use traps::TrapLimits;
