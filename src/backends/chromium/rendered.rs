//! What a render answers, whichever DevTools client ran it, and how that answer becomes the
//! fetch's result: one mapping of failures to riptide's errors for both Chromium providers, and
//! the common end of a render (the page the in-page wait answered, timed; how a watched render
//! ended, as an error or the page).

use std::time::Duration;

use serde_json::Value;

use super::net_error::{NetError, net_error_class};
use super::page_script::{Reply, parse_reply};
use crate::error::{BoxError, BrowserError, Error, FetchError};
use crate::traits::RenderedPage;

/// Why a render on a tab failed, as the tab reported it.
pub(crate) enum RenderFailure {
    /// Chrome could not load the page; this is its network error code
    /// (`net::ERR_NAME_NOT_RESOLVED`), from `Page.navigate`'s `errorText`.
    Navigation(String),
    /// The DevTools call itself failed (the browser may be gone).
    Protocol(BoxError),
    /// The page's script context failed, or answered in an unexpected shape.
    Script(String),
    /// The page came with this error status (4xx, 5xx), as the static engine would refuse it.
    HttpStatus(u16),
    /// The document was not HTML; this is its content type.
    NotHtml(String),
    /// The page sent itself on to a URL that failed to load, and the render ended on Chromium's
    /// error page: its network error code and, when the page names it, the URL that failed.
    ErrorPage { code: String, url: Option<String> },
    /// The tab's renderer died (`Inspector.targetCrashed`): in practice a page that filled its
    /// JavaScript heap up to its cap, which V8 ends by ending the renderer.
    Crashed,
}

/// What a render answers: the page (partial if it did not get ready by the deadline), `None`
/// when not even a DOM came back.
pub(crate) type Rendered = Result<Option<RenderedPage>, RenderFailure>;

/// How a render ended, as the provider's watch over it saw it.
pub(crate) enum RenderEnd {
    /// The render answered (with a page, or how it failed).
    Finished(Rendered),
    /// The deadline passed first.
    Late,
    /// The caller cancelled the fetch.
    Cancelled,
    /// The browser went over the render memory limit.
    OverMemory { used_bytes: u64, limit_bytes: u64 },
}

/// The fetch's result from how its render ended: a finished render as [`fetch_result`] reads
/// it, a late or cancelled one as a timeout or a cancel (the provider has stopped its page
/// already), and a browser over its memory limit given up (`abandon`) and reported so, not to
/// be retried. A renderer that died is reported the same way, at once: the page filled its
/// JavaScript heap, capped at half the `render_memory_limit` (both numbers of the error are
/// that cap; zero without a limit), and trying it again would only run it again.
pub(crate) fn render_result(
    end: RenderEnd,
    elapsed: Duration,
    deadline: Duration,
    refusal: impl FnOnce() -> Option<String>,
    alive: impl FnOnce() -> bool,
    abandon: impl FnOnce(),
    render_memory_limit: Option<u64>,
) -> crate::Result<RenderedPage> {
    let (used_bytes, limit_bytes) = match end {
        RenderEnd::Finished(Err(RenderFailure::Crashed)) => {
            let heap_cap = render_memory_limit.map_or(0, |limit| limit / 2);
            (heap_cap, heap_cap)
        }
        RenderEnd::OverMemory {
            used_bytes,
            limit_bytes,
        } => (used_bytes, limit_bytes),
        RenderEnd::Finished(rendered) => return fetch_result(rendered, elapsed, deadline, refusal, alive),
        RenderEnd::Late => return Err(FetchError::Timeout { deadline }.into()),
        RenderEnd::Cancelled => return Err(FetchError::Cancelled.into()),
    };
    abandon();
    Err(FetchError::RenderMemoryExceeded {
        used_bytes,
        limit_bytes,
    }
    .into())
}

/// The page the in-page wait answered (see [`read_wait_reply`]), with what its navigation and
/// its wait took.
pub(crate) fn waited_page(
    exception: Option<String>,
    value: Option<Value>,
    navigated_in: Duration,
    waited: Duration,
) -> Rendered {
    Ok(read_wait_reply(exception, value)?.map(|mut page| {
        page.profile.navigate = navigated_in;
        page.profile.wait_and_read = waited;
        page
    }))
}

/// Reads the answer of the in-page wait's evaluation: its exception text if it threw, else
/// its value (`None` or null: no DOM came back).
fn read_wait_reply(exception: Option<String>, value: Option<Value>) -> Rendered {
    if let Some(text) = exception {
        return Err(RenderFailure::Script(format!(
            "the page's script context failed: {text}"
        )));
    }
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    match parse_reply(value).map_err(RenderFailure::Script)? {
        Reply::HttpStatus(status) => Err(RenderFailure::HttpStatus(status)),
        Reply::NotHtml(content_type) => Err(RenderFailure::NotHtml(content_type)),
        Reply::Page(page) if page.final_url.starts_with(ERROR_PAGE) => Err(error_page_failure(&page.html)),
        Reply::Page(page) => Ok(Some(*page)),
    }
}

/// The code `Page.navigate` answers when the browser does not show the response.
const ABORTED: &str = "net::ERR_ABORTED";

/// Where Chromium shows a page that failed to load. A render ends there when the page it was
/// given loaded, then sent itself on (a script's `location`, a `<meta refresh>`) to a URL that
/// failed or was refused: `Page.navigate` succeeded, and the page the wait read is Chromium's
/// "This site can't be reached" (issue 28, item 5). That is a failure, not a page.
const ERROR_PAGE: &str = "chrome-error://";

/// The failure Chromium's error page shows: its network error code (`ERR_CONNECTION_REFUSED`,
/// as `net::ERR_CONNECTION_REFUSED`; `net::ERR_FAILED` if the page shows none) and the URL that
/// failed (its reload button's). Both are read from the page's `loadTimeData` (JSON in a
/// script), which also names other codes in its strings, so the error code is taken from its
/// `errorCode` key, not from the first code in the page.
fn error_page_failure(html: &str) -> RenderFailure {
    let string_at = |key: &str| {
        let start = html.find(key)? + key.len();
        let end = html[start..].find('"')?;
        Some(html[start..start + end].replace("\\/", "/"))
    };
    let code = string_at("\"errorCode\":\"")
        .filter(|code| code.starts_with("ERR_"))
        .map_or_else(|| "net::ERR_FAILED".to_string(), |code| format!("net::{code}"));
    let url = string_at("\"reloadUrl\":\"").filter(|url| !url.is_empty());
    RenderFailure::ErrorPage { code, url }
}

/// The fetch's result from a render that answered. A failed render is the address policy's
/// refusal if there was one (`refusal`), a timeout once the `deadline` passed, a dead browser
/// when a DevTools call failed and the browser is no longer `alive`; else what it says.
fn fetch_result(
    rendered: Rendered,
    elapsed: Duration,
    deadline: Duration,
    refusal: impl FnOnce() -> Option<String>,
    alive: impl FnOnce() -> bool,
) -> crate::Result<RenderedPage> {
    let timed_out = || Error::from(FetchError::Timeout { deadline });
    match rendered {
        Ok(Some(page)) => Ok(page),
        Ok(None) => Err(timed_out()),
        Err(failure) => Err(match (refusal(), failure) {
            (Some(reason), _) => FetchError::AddressNotAllowed { reason }.into(),
            _ if elapsed >= deadline => timed_out(),
            (None, RenderFailure::Protocol(source)) if !alive() => BrowserError::Dead { source }.into(),
            (None, RenderFailure::Protocol(source)) => BrowserError::Protocol { source }.into(),
            // A navigation the browser ends itself as it commits: the response was not for
            // showing (a body it downloads instead: `application/octet-stream`, or no type
            // and bytes that sniff as binary; or `204 No Content`). Not a page, and asking
            // again gets the same answer.
            (None, RenderFailure::Navigation(code)) if code == ABORTED => FetchError::NotHtml {
                content_type: "a body the browser downloads instead of showing".into(),
            }
            .into(),
            (None, RenderFailure::Navigation(code)) => FetchError::Network {
                class: net_error_class(&code),
                source: Box::new(NetError { code, url: None }),
            }
            .into(),
            (None, RenderFailure::NotHtml(content_type)) => FetchError::NotHtml { content_type }.into(),
            (None, RenderFailure::ErrorPage { code, url }) => FetchError::Network {
                class: net_error_class(&code),
                source: Box::new(NetError { code, url }),
            }
            .into(),
            (None, RenderFailure::Script(reason)) => FetchError::Script { reason }.into(),
            (None, RenderFailure::Crashed) => BrowserError::dead("its renderer crashed").into(),
            (None, RenderFailure::HttpStatus(status)) => FetchError::HttpStatus {
                status,
                retry_after: None,
            }
            .into(),
        }),
    }
}
