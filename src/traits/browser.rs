//! The browser contract: something that starts (or connects to) browsers and fetches rendered
//! pages with them.
//!
//! Browsers are slow to start and hold hundreds of megabytes, which is why
//! [`crate::pool::BrowserPool`] keeps them warm; the provider only knows how to make, probe, use
//! and close one. Its calls block (browser automation libraries are synchronous); the pool runs
//! them on blocking threads, never on async workers.

use std::time::Duration;

use crate::error::Result;

/// Launches or connects to browsers and fetches pages with them.
///
/// Implementations: [`crate::backends::chromiumoxide::ChromiumoxideProvider`] (feature
/// `chromiumoxide`, the default) and [`crate::backends::chrome::ChromeProvider`] (feature `chrome`).
pub trait BrowserProvider: Send + Sync + 'static {
    /// One browser: a local process or a connection to a remote endpoint.
    type Browser: Send + Sync + 'static;

    /// A short name for messages and metrics (`"chromiumoxide"`).
    fn name(&self) -> &'static str;

    /// How many of its browsers share one local process (each in a tab of its own); shown by
    /// [`PoolStatus`](crate::pool::PoolStatus). Default 1: a process per browser.
    fn tabs_per_process(&self) -> usize {
        1
    }

    /// Starts a local browser, or connects to a remote one. Blocks until it is ready for
    /// [`fetch`](BrowserProvider::fetch).
    fn launch(&self) -> Result<Self::Browser>;

    /// Checks that `browser` answers within `deadline`. A frozen or dead browser fails.
    fn probe(&self, browser: &Self::Browser, deadline: Duration) -> Result<()>;

    /// Loads `request.url` and returns the final HTML (after scripts ran) and the URL the page
    /// ended on. A page that is there but not ready by the deadline is returned as it stands,
    /// marked [`partial`](RenderedPage::partial); one that never arrived fails at the deadline. The browser stays usable after a timeout
    /// when the provider can manage it; the pool probes it before reuse either way.
    fn fetch(&self, browser: &Self::Browser, request: &PageRequest) -> Result<RenderedPage>;

    /// Asks a [`fetch`](BrowserProvider::fetch) in progress on `browser` (or the next one, if
    /// none has started yet) to give up as soon as it can, with [`FetchError::Cancelled`]. Called
    /// when the caller of a pooled fetch goes away, so an abandoned render does not run on to
    /// its deadline. Default: nothing (the fetch runs to its end).
    ///
    /// [`FetchError::Cancelled`]: crate::error::FetchError::Cancelled
    fn cancel(&self, browser: &Self::Browser) {
        let _ = browser;
    }

    /// Memory of the browser's whole process tree (proportional set size), if it runs locally.
    fn memory_bytes(&self, browser: &Self::Browser) -> Option<u64>;

    /// Closes `browser`: a local one is stopped with its whole process tree, reaped, and its
    /// directories removed; a remote one is only disconnected, never killed.
    fn close(&self, browser: Self::Browser);
}

/// A page as a browser rendered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedPage {
    /// The document's HTML after scripts ran.
    pub html: String,
    /// The URL the page ended on (after redirects and script navigation): relative links in
    /// `html` resolve against it, not against the requested URL.
    pub final_url: String,
    /// The page was not ready by the deadline (its `wait_until` condition or selector never
    /// held: a subresource that never finishes, a script still building it) and this is the
    /// DOM as it stood then.
    pub partial: bool,
    /// A PNG of the viewport, when the request asked for one ([`PageRequest::screenshot`]).
    pub screenshot: Option<Vec<u8>>,
    /// Where the render's time went, as far as the provider can tell.
    pub profile: RenderProfile,
}

impl RenderedPage {
    /// A complete page.
    pub fn new(html: impl Into<String>, final_url: impl Into<String>) -> Self {
        Self {
            html: html.into(),
            final_url: final_url.into(),
            partial: false,
            screenshot: None,
            profile: RenderProfile::default(),
        }
    }
}

/// Where one render's time went, stage by stage, so that a change to the render path is
/// measured where it acts (the browser pool benchmark reports the medians).
///
/// The first stages are timed by the provider around its calls to the browser; the `*_at`
/// marks are read inside the page, from its navigation start, where the browser's own work
/// shows without the cost of talking to it. A provider that cannot tell leaves a stage zero or
/// a mark `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenderProfile {
    /// Finding the tab to render in: the current one, or one in a fresh browser context.
    pub tab: Duration,
    /// Asking the browser to navigate, until it answered (the response was committed).
    pub navigate: Duration,
    /// Waiting in the page until it was ready and settled, and the HTML's way back: one call.
    pub wait_and_read: Duration,
    /// Taking the screenshot, when one was asked for.
    pub screenshot: Duration,
    /// In the page: when its `wait_until` condition first held.
    pub loaded_at: Option<Duration>,
    /// In the page: when it was ready (loaded, and the `wait_for` selector matched).
    pub ready_at: Option<Duration>,
    /// In the page: when it was taken (settled, or at the deadline as it stood).
    pub taken_at: Option<Duration>,
    /// In the page: the longest quiet spell after it was ready that a DOM change ended (zero:
    /// nothing changed after it was ready; `None`: it never was, or the render did not settle).
    /// What the executor learns a host's settle from.
    pub settle_pause: Option<Duration>,
}

/// When a render is ready to be taken (then `wait_for` must match, then the DOM must settle).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WaitUntil {
    /// The `load` event fired: the document and all its subresources arrived.
    #[default]
    Load,
    /// The document was parsed (`DOMContentLoaded`); subresources may still be loading.
    DomContentLoaded,
    /// `load` fired and no subresource finished loading for [`WaitUntil::NETWORK_IDLE`]
    /// (requests started by scripts after `load` included, once they finish).
    NetworkIdle,
}

impl WaitUntil {
    /// How long the network must be quiet for [`WaitUntil::NetworkIdle`].
    pub const NETWORK_IDLE: Duration = Duration::from_millis(500);
}

/// Which pages of one browser share cookies, storage and cache.
///
/// A fresh browser context is an incognito window: nothing a page stored survives into it.
/// Making one costs a few DevTools calls (BENCHMARKS.md), which [`Isolation::Site`] pays only
/// when the site changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// A fresh context whenever the page's site (scheme, host and port) differs from the last
    /// one the browser rendered: pages of one site share state, as in one visit; nothing
    /// crosses to another site, nor back after another site came between.
    #[default]
    Site,
    /// A fresh context for every page.
    Page,
    /// The context the browser has, whatever it rendered before: a session whose cookies
    /// carry across pages and sites (on that browser).
    Shared,
}

/// A kind of subresource a browser can be told not to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceKind {
    /// Pictures: `png`, `jpg`/`jpeg`, `gif`, `webp`, `avif`, `svg`, `ico`, `bmp`.
    Image,
    /// Audio and video: `mp4`, `webm`, `ogg`/`ogv`, `mp3`, `wav`, `m4a`, `m4v`, `mov`.
    Media,
    /// Web fonts: `woff`, `woff2`, `ttf`, `otf`, `eot`.
    Font,
    /// Style sheets: `css`.
    Stylesheet,
}

impl ResourceKind {
    /// The file extensions a resource of this kind is recognized by.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            ResourceKind::Image => &["png", "jpg", "jpeg", "gif", "webp", "avif", "svg", "ico", "bmp"],
            ResourceKind::Media => &["mp4", "webm", "ogg", "ogv", "mp3", "wav", "m4a", "m4v", "mov"],
            ResourceKind::Font => &["woff", "woff2", "ttf", "otf", "eot"],
            ResourceKind::Stylesheet => &["css"],
        }
    }
}

impl std::str::FromStr for ResourceKind {
    type Err = crate::Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "image" => Ok(ResourceKind::Image),
            "media" => Ok(ResourceKind::Media),
            "font" => Ok(ResourceKind::Font),
            "stylesheet" => Ok(ResourceKind::Stylesheet),
            other => Err(crate::Error::config(
                "block_resources",
                "the caller",
                format!("`{other}` is not a resource kind; use image, media, font or stylesheet"),
            )),
        }
    }
}

/// One page to fetch.
///
/// An executor keeps one default request, made from its configuration and builder, and renders
/// each page with that default [`with`](PageRequest::with) the page's own [`RenderOptions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// The URL to load.
    pub url: String,
    /// Time allowed from the start of the call to the HTML in hand.
    pub deadline: Duration,
    /// Also wait until this CSS selector matches (for pages built by JavaScript).
    pub wait_for: Option<String>,
    /// Once ready, also wait until the DOM has not changed for this long (scripts that build
    /// the page after `load`), for at most [`PageRequest::MAX_SETTLE`].
    pub settle: Option<Duration>,
    /// When the page counts as loaded.
    pub wait_until: WaitUntil,
    /// Which earlier pages' cookies and storage this one may see.
    pub isolation: Isolation,
    /// Also take a PNG of the viewport once the page is taken ([`RenderedPage::screenshot`]).
    pub screenshot: bool,
}

impl PageRequest {
    /// The longest a page is given to settle after it is ready.
    pub const MAX_SETTLE: Duration = Duration::from_millis(1500);

    /// A request for `url` with a 30 s deadline, ready at `load`, no selector wait and no
    /// settling.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            deadline: Duration::from_secs(30),
            wait_for: None,
            settle: None,
            wait_until: WaitUntil::Load,
            isolation: Isolation::Site,
            screenshot: false,
        }
    }

    /// Also takes a PNG of the viewport once the page is taken: one more DevTools call.
    pub fn screenshot(mut self, screenshot: bool) -> Self {
        self.screenshot = screenshot;
        self
    }

    /// Sets which earlier pages' cookies and storage this one may see.
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// Sets when the page counts as loaded.
    pub fn wait_until(mut self, wait_until: WaitUntil) -> Self {
        self.wait_until = wait_until;
        self
    }

    /// Waits, once the page is ready, until its DOM has been quiet for `quiet`.
    pub fn settle(mut self, quiet: Duration) -> Self {
        self.settle = Some(quiet);
        self
    }

    /// Sets the deadline.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Waits for `selector` to match before taking the HTML.
    pub fn wait_for(mut self, selector: impl Into<String>) -> Self {
        self.wait_for = Some(selector.into());
        self
    }

    /// This request with what `options` set in place of its own fields.
    pub fn with(mut self, options: &RenderOptions) -> Self {
        if let Some(wait_until) = options.wait_until {
            self.wait_until = wait_until;
        }
        if let Some(selector) = &options.wait_for {
            self.wait_for = Some(selector.clone());
        }
        if let Some(isolation) = options.isolation {
            self.isolation = isolation;
        }
        if let Some(screenshot) = options.screenshot {
            self.screenshot = screenshot;
        }
        self
    }
}

/// What one page (or a whole executor, as its defaults) may set of a render: each field set
/// overrides that field of a [`PageRequest`] ([`PageRequest::with`]); `None` keeps it.
///
/// The executor renders every page with its default request (the configuration's
/// [`render_defaults`](crate::config::BrowserPoolConfig::render_defaults), then its builder's
/// [`page_defaults`](crate::ExecutorBuilder::page_defaults)) with the page's own
/// [`PageOptions::render`](crate::PageOptions::render). The field names are the wire names of
/// `POST /v1/extract` and of `riptide extract --server`: a setting added here is read from
/// either without more code.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RenderOptions {
    /// When the page counts as loaded ([`PageRequest::wait_until`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_until: Option<WaitUntil>,
    /// A CSS selector the page is also waited for ([`PageRequest::wait_for`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_for: Option<String>,
    /// Which earlier pages' cookies and storage it may see ([`PageRequest::isolation`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Isolation>,
    /// Whether a screenshot is taken ([`PageRequest::screenshot`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screenshot: Option<bool>,
}

impl RenderOptions {
    /// The fields as a request names them, for the hints of errors that show a request's shape.
    pub const WIRE_FIELDS: &'static str = r#""wait_until" ("load", "domcontentloaded", "networkidle"), "wait_for" (a CSS selector), "isolation" ("site", "page", "shared"), "screenshot" (true or false)"#;

    /// Sets when the page counts as loaded.
    pub fn wait_until(mut self, wait_until: WaitUntil) -> Self {
        self.wait_until = Some(wait_until);
        self
    }

    /// Sets a CSS selector the page is also waited for.
    pub fn wait_for(mut self, selector: impl Into<String>) -> Self {
        self.wait_for = Some(selector.into());
        self
    }

    /// Sets which earlier pages' cookies and storage the page may see.
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = Some(isolation);
        self
    }

    /// Sets whether a screenshot is taken.
    pub fn screenshot(mut self, screenshot: bool) -> Self {
        self.screenshot = Some(screenshot);
        self
    }

    /// These options, with `base`'s where these set nothing.
    pub fn over(self, base: RenderOptions) -> RenderOptions {
        RenderOptions {
            wait_until: self.wait_until.or(base.wait_until),
            wait_for: self.wait_for.or(base.wait_for),
            isolation: self.isolation.or(base.isolation),
            screenshot: self.screenshot.or(base.screenshot),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_options_override_only_what_they_set() {
        let defaults = PageRequest::new("").isolation(Isolation::Page).wait_for("#app");
        let page = RenderOptions {
            wait_until: Some(WaitUntil::NetworkIdle),
            ..RenderOptions::default()
        };
        let request = defaults.with(&page);
        assert_eq!(request.wait_until, WaitUntil::NetworkIdle);
        assert_eq!(request.isolation, Isolation::Page, "kept the default's");
        assert_eq!(request.wait_for.as_deref(), Some("#app"));

        let base = RenderOptions {
            screenshot: Some(true),
            wait_until: Some(WaitUntil::Load),
            ..RenderOptions::default()
        };
        let merged = page.over(base);
        assert_eq!(merged.wait_until, Some(WaitUntil::NetworkIdle));
        assert_eq!(merged.screenshot, Some(true));
    }

    #[test]
    fn render_options_read_their_wire_names() {
        let options: RenderOptions =
            serde_json::from_str(r#"{"wait_until": "domcontentloaded", "isolation": "shared", "markdown": true}"#)
                .expect("the wire names");
        assert_eq!(options.wait_until, Some(WaitUntil::DomContentLoaded));
        assert_eq!(options.isolation, Some(Isolation::Shared));
    }
}
