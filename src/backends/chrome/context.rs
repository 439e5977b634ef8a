//! Browser contexts: what keeps one site's cookies, storage and cache from the next.
//!
//! A browser context is Chromium's incognito window. A browser starts with one readied tab in
//! its default context. When a render's [`Isolation`] says it must not see what the browser
//! rendered before, it gets a fresh context with a tab readied in it (the same
//! [`TabSettings`] as the first), and the old context's tab is closed (see [`close`] for why the
//! context itself stays). This runs on the render's own thread, so the render's deadline covers
//! it.
//!
//! A switch is a handful of DevTools calls (create the context and its tab, ready the tab,
//! close the old tab), measured in BENCHMARKS.md; [`Isolation::Site`], the default,
//! pays it only when the site changes, so a batch over one site pays it never.

use std::sync::{Arc, Mutex};

use headless_chrome::{Browser, Tab};

use super::tab;
use super::tab::TabReports;
use crate::backends::chromium::isolation::{needs_fresh_context, site_of};
use crate::backends::chromium::tab_settings::TabSettings;
use crate::error::BoxError;
use crate::sync::lock;
use crate::traits::{Isolation, PageRequest};

/// The context a browser renders in now, shared between its fetches and their render threads.
pub(super) type Current = Arc<Mutex<BrowsingContext>>;

/// A browser context and its one readied tab.
pub(super) struct BrowsingContext {
    pub tab: Arc<Tab>,
    /// What the tab reports: its refusals, and whether its renderer died.
    pub reports: TabReports,
    /// The site of the last page rendered here (`None`: one without a host).
    site: Option<String>,
    /// Whether anything was rendered here yet.
    visited: bool,
}

impl BrowsingContext {
    /// The default context of a browser just started, with its readied tab.
    pub(super) fn first(tab: Arc<Tab>, reports: TabReports) -> Current {
        Arc::new(Mutex::new(Self {
            tab,
            reports,
            site: None,
            visited: false,
        }))
    }

    /// Whether rendering a page of `site` under `isolation` needs a fresh context.
    fn needs_fresh(&self, isolation: Isolation, site: &Option<String>) -> bool {
        needs_fresh_context(isolation, self.visited, &self.site, site)
    }
}

/// The tab to render `request` in: the current one, or one in a fresh context when the request's
/// isolation asks for it.
///
/// `browser` is a clone of the browser's handle, held only while this runs: a handle kept by a
/// thread would keep the DevTools connection open after the browser is dropped.
pub(super) fn tab_for(
    browser: Browser,
    setup: &TabSettings,
    current: &Current,
    request: &PageRequest,
) -> Result<Arc<Tab>, BoxError> {
    let site = site_of(&request.url);
    {
        let mut now = lock(current);
        if !now.needs_fresh(request.isolation, &site) {
            now.visited = true;
            now.site = site;
            return Ok(now.tab.clone());
        }
    }
    let tab = browser.new_context()?.new_tab()?;
    let reports = tab::prepare(setup, &tab).inspect_err(|_| close(&tab))?;
    let old = std::mem::replace(
        &mut *lock(current),
        BrowsingContext {
            tab: tab.clone(),
            reports,
            site,
            visited: true,
        },
    );
    // Closing is one more DevTools round trip: off the render's path, on a thread that holds
    // only the old tab (not the browser), so it ends when the browser's connection does.
    let _ = std::thread::Builder::new()
        .name("riptide-context-close".into())
        .spawn(move || close(&old.tab));
    Ok(tab)
}

/// Closes a context's tab, which ends its pages and their scripts. The context itself stays,
/// empty, until the browser ends: disposing of a context is a browser-level DevTools call that
/// headless_chrome keeps private (and a page session is refused it). Its cookies and storage
/// are unreachable from any other context, and the pool recycles a browser after
/// `max_requests_per_instance` renders, which bounds how many pile up.
fn close(tab: &Tab) {
    if let Err(e) = tab.close(false) {
        tracing::debug!(target: "riptide::chrome", "could not close the tab of a browser context: {e}");
    }
}
