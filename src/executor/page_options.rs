//! [`PageOptions`]: what one extraction may ask for differently from its executor.
//!
//! An executor's builder sets how every page is fetched. A service that keeps one executor warm
//! for many callers (`riptide serve`) needs some of that per page: one caller waits for a
//! selector, another wants the article HTML or a shorter time limit. These are the settings a
//! page can change without touching what the executor shares between pages (its browsers, its
//! network client, its learned timeouts); `None` keeps the executor's own. What a page sets of
//! its render is a [`RenderOptions`] over the executor's default `PageRequest`, so a render
//! setting is added there alone.

use std::time::Duration;

use super::EngineChoice;
use crate::traits::{Isolation, RenderOptions, WaitUntil};

/// Per-page settings for [`Executor::extract_page`](super::Executor::extract_page); the default
/// is [`EngineChoice::Auto`] and the executor's own settings for everything else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PageOptions {
    /// Which engine fetches the page.
    pub engine: EngineChoice,
    /// What a rendered page sets differently from the executor's default request (when it
    /// counts as loaded, a selector it is also waited for, its isolation, a screenshot); what
    /// is `None` there keeps the executor's (see
    /// [`ExecutorBuilder::page_defaults`](super::ExecutorBuilder::page_defaults)).
    pub render: RenderOptions,
    /// Whether the main content is also produced as Markdown (`markdown`; else
    /// `[extraction] markdown`).
    pub markdown: Option<bool>,
    /// Whether the cleaned article HTML (`content_html`) is produced (else
    /// `[extraction] content_html`).
    pub content_html: Option<bool>,
    /// Only the page's links, robots directives, canonical URL and title, without the content
    /// pass: what a crawler mapping a site needs (`riptide crawl --map`). The links are read
    /// natively by a tokenizer, not by the extractor (which is not even loaded for such a
    /// page). With [`EngineChoice::Auto`] such a page is fetched statically (there is no
    /// content to judge whether it needs JavaScript); ask for [`EngineChoice::Headless`] to
    /// render it.
    pub links_only: Option<bool>,
    /// The page's time limit, all attempts together (else the executor's request timeout).
    /// It can only shorten the executor's: a page never waits longer than the executor was
    /// built to let one wait.
    pub time_limit: Option<Duration>,
    /// What an earlier fetch of the page answered (`ETag`, `Last-Modified`): a static fetch
    /// then asks `If-None-Match` / `If-Modified-Since`, and a `304` answer ends the page with
    /// [`FetchError::NotModified`](crate::error::FetchError::NotModified) instead of
    /// extracting it again. Renders ignore it.
    pub validators: Option<Validators>,
}

/// A page's cache validators, as its server sent them ([`Content::etag`](crate::Content::etag),
/// [`Content::last_modified`](crate::Content::last_modified)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Validators {
    /// The `ETag` header.
    pub etag: Option<String>,
    /// The `Last-Modified` header.
    pub last_modified: Option<String>,
}

impl Validators {
    /// Validators from the headers an earlier answer carried; `None` when it carried neither.
    pub fn new(etag: Option<String>, last_modified: Option<String>) -> Option<Self> {
        (etag.is_some() || last_modified.is_some()).then_some(Self { etag, last_modified })
    }
}

impl PageOptions {
    /// [`EngineChoice::Auto`] and the executor's own settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the engine.
    pub fn engine(mut self, engine: EngineChoice) -> Self {
        self.engine = engine;
        self
    }

    /// Sets what a rendered page sets differently from the executor's default request
    /// (replacing what was set before).
    pub fn render(mut self, render: RenderOptions) -> Self {
        self.render = render;
        self
    }

    /// Sets when a rendered page counts as loaded.
    pub fn wait_until(mut self, wait_until: WaitUntil) -> Self {
        self.render.wait_until = Some(wait_until);
        self
    }

    /// Sets a CSS selector a rendered page is also waited for.
    pub fn wait_for(mut self, selector: impl Into<String>) -> Self {
        self.render.wait_for = Some(selector.into());
        self
    }

    /// Sets which earlier pages' state a rendered page may see.
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.render.isolation = Some(isolation);
        self
    }

    /// Sets whether a rendered page's screenshot is taken.
    pub fn screenshot(mut self, screenshot: bool) -> Self {
        self.render.screenshot = Some(screenshot);
        self
    }

    /// Sets whether the main content is also produced as Markdown.
    pub fn markdown(mut self, markdown: bool) -> Self {
        self.markdown = Some(markdown);
        self
    }

    /// Sets whether the cleaned article HTML is produced.
    pub fn content_html(mut self, content_html: bool) -> Self {
        self.content_html = Some(content_html);
        self
    }

    /// Sets whether only the page's links (and what a crawler reads with them) are extracted.
    pub fn links_only(mut self, links_only: bool) -> Self {
        self.links_only = Some(links_only);
        self
    }

    /// Sets the validators of a conditional request.
    pub fn validators(mut self, validators: Validators) -> Self {
        self.validators = Some(validators);
        self
    }

    /// Sets the page's time limit (never longer than the executor's).
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }
}
