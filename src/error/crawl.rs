//! [`CrawlError`]: a crawl that cannot start or cannot keep its state.

use std::path::PathBuf;

use super::BoxError;

/// What stops a crawl from starting, or from keeping its state. Pages that fail are not
/// these: they are the crawl's failure rows, and the crawl goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrawlError {
    /// A seed is not an `http(s)://` URL.
    #[error("the seed `{seed}` cannot be crawled: {why}")]
    Seed {
        /// The seed as given.
        seed: String,
        /// What is wrong with it.
        why: String,
    },

    /// An include or exclude pattern is not a regular expression.
    #[error("the pattern `{pattern}` is not a regular expression")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// The regex crate's error, naming the position.
        #[source]
        source: BoxError,
    },

    /// A host's robots.txt did not answer (a `5xx`, a `429`, or no answer at all): RFC 9309
    /// says to crawl nothing of the host until it does.
    #[error("{robots_url} could not be read ({why}), so nothing of its host is crawled")]
    RobotsUnreachable {
        /// The robots.txt URL.
        robots_url: String,
        /// The status or the network error.
        why: String,
    },

    /// The crawl's state file (its frontier and seen-set) cannot be opened, read or written.
    #[error("the crawl's state in {} cannot be used", path.display())]
    State {
        /// The state file.
        path: PathBuf,
        /// The store's error.
        #[source]
        source: BoxError,
    },
}

impl CrawlError {
    pub(crate) fn hint(&self) -> &'static str {
        match self {
            CrawlError::Seed { .. } => "give seeds as http:// or https:// URLs, e.g. https://example.com/docs/",
            CrawlError::Pattern { .. } => {
                "fix the pattern (a regular expression matched against the whole URL), or escape its special characters"
            }
            CrawlError::RobotsUnreachable { .. } => {
                "check that the host is up and answers for /robots.txt, then run the crawl again (it resumes); \
                 --ignore-robots is for sites you own"
            }
            CrawlError::State { .. } => {
                "start the crawl over with `riptide crawl --fresh` (or delete the file), or give it another --name"
            }
        }
    }

    pub(crate) fn code(&self) -> &'static str {
        match self {
            CrawlError::Seed { .. } => "crawl.seed",
            CrawlError::Pattern { .. } => "crawl.pattern",
            CrawlError::RobotsUnreachable { .. } => "crawl.robots_unreachable",
            CrawlError::State { .. } => "crawl.state",
        }
    }
}
