//! One render on a tab: the navigation and the in-page wait that returns the HTML ([`load`]),
//! and the watch `fetch` keeps over it from its own thread ([`ChromeProvider::watch`]): the
//! deadline, a cancel, and the browser's memory.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use headless_chrome::Tab;
use headless_chrome::protocol::cdp::{Page, Runtime};

use super::{ChromeBrowser, ChromeProvider};
use crate::error::BoxError;
use crate::traits::{BrowserProvider, FailureClass, PageRequest, RenderedPage, WaitUntil};

/// How often a render in progress is looked at: for a cancel, and for its memory when a limit
/// is set. Reading `smaps_rollup` of a browser's ~6 processes costs well under a millisecond; a
/// page allocating as fast as it can gains some hundred megabytes between two reads.
const WATCH_TICK: Duration = Duration::from_millis(100);

/// Why a render on a tab failed, as the tab reported it.
pub(super) enum RenderFailure {
    /// Chrome could not load the page; this is its network error code
    /// (`net::ERR_NAME_NOT_RESOLVED`), from `Page.navigate`'s `errorText`.
    Navigation(String),
    /// The DevTools call itself failed (the browser may be gone).
    Protocol(BoxError),
    /// The page's script context failed, or answered in an unexpected shape.
    Script(String),
    /// The page came with this error status (4xx, 5xx), as the static engine would refuse it.
    HttpStatus(u16),
}

/// What a render thread answers: the page (partial if it did not get ready by the deadline),
/// `None` when not even a DOM came back.
pub(super) type Rendered = std::result::Result<Option<RenderedPage>, RenderFailure>;

/// A page whose `<meta http-equiv="refresh">` sends it to another URL within this many seconds
/// is leaving, not ready: Chrome starts such a refresh only after `load`, when the page would
/// otherwise already have been taken. A longer delay is a page that reloads itself now and
/// then, and is taken as it is.
const SOON_REFRESH_SECS: u32 = 1;

/// How long before its deadline a page is taken as it stands: room for the evaluation's answer
/// to come back before the watch gives up on it.
const TAKE_MARGIN: Duration = Duration::from_millis(250);

/// How a watched render ended.
pub(super) enum Watched {
    /// The render thread answered.
    Finished(Rendered),
    /// The deadline passed first.
    Late,
    /// The caller cancelled the fetch.
    Cancelled,
    /// The browser went over the render memory limit.
    OverMemory { used_bytes: u64, limit_bytes: u64 },
}

impl ChromeProvider {
    /// Reads the browser's memory until the render answers, the deadline passes, or the
    /// memory limit is crossed.
    pub(super) fn watch(&self, browser: &ChromeBrowser, rx: &mpsc::Receiver<Rendered>, deadline: Instant) -> Watched {
        let limit = self.render_memory_limit.filter(|_| browser.pid.is_some());
        loop {
            if browser.cancelled.load(Ordering::Acquire) {
                return Watched::Cancelled;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let wait = left.min(WATCH_TICK);
            match rx.recv_timeout(wait) {
                Ok(result) => return Watched::Finished(result),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let ended = RenderFailure::Protocol("the render thread ended without an answer".into());
                    return Watched::Finished(Err(ended));
                }
                Err(mpsc::RecvTimeoutError::Timeout) if left <= wait => return Watched::Late,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if let (Some(limit_bytes), Some(used_bytes)) = (limit, self.memory_bytes(browser))
                && used_bytes > limit_bytes
            {
                return Watched::OverMemory {
                    used_bytes,
                    limit_bytes,
                };
            }
        }
    }
}

/// Navigates, then waits inside the page for readiness (`wait_until`, then the selector, then
/// the DOM settling) and returns the HTML and the page's URL in the same call. A page not ready
/// shortly before the deadline is returned as it stands, marked partial. A page that came with
/// an error status (the navigation timing's `responseStatus`) fails, as a static fetch does.
pub(super) fn load(tab: &Tab, request: &PageRequest, started: Instant) -> Rendered {
    // `Page.navigate` itself, rather than headless_chrome's `navigate_to`, whose error keeps
    // Chrome's network error code private: the code is what classifies the failure.
    let navigating = Instant::now();
    let navigated = tab
        .call_method(Page::Navigate {
            url: request.url.clone(),
            referrer: None,
            transition_Type: None,
            frame_id: None,
            referrer_policy: None,
        })
        .map_err(|e| RenderFailure::Protocol(e.into()))?;
    if let Some(code) = navigated.error_text {
        return Err(RenderFailure::Navigation(code));
    }
    let navigated_in = navigating.elapsed();
    let remaining = request.deadline.saturating_sub(started.elapsed());
    // The page is taken this long before the deadline, so its answer arrives in time. As a wall
    // clock time: the script may start late (a renderer busy with the page), and must not then
    // take the page late too.
    let take_in = remaining.saturating_sub(TAKE_MARGIN.min(remaining / 4));
    let take_at = std::time::SystemTime::now() + take_in;
    let take_at_ms = take_at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let selector = serde_json::to_string(&request.wait_for).unwrap_or_else(|_| "null".into());
    let quiet = request.settle.map_or(0, |d| d.as_millis());
    let loaded = match request.wait_until {
        WaitUntil::Load => "document.readyState === \"complete\"",
        WaitUntil::DomContentLoaded => "document.readyState !== \"loading\"",
        WaitUntil::NetworkIdle => "document.readyState === \"complete\" && networkIdle()",
    };
    // Ready: loaded (`wait_until`) and the selector (if any) matches. Settled: ready, and the DOM
    // has not changed for `quiet` ms (or it has been ready for MAX_SETTLE). At `take_at` the page
    // is taken as it stands, ready or not; the third element says which.
    let expression = format!(
        r#"new Promise((resolve) => {{
            const selector = {selector};
            let resources = -1, resourcesChanged = Date.now();
            const networkIdle = () => {{
                const n = performance.getEntriesByType("resource").length;
                if (n !== resources) {{ resources = n; resourcesChanged = Date.now(); }}
                return Date.now() - resourcesChanged >= {idle};
            }};
            const leaving = () => window[Symbol.for("riptide.leaving")] === true;
            const refreshing = () => {{
                const meta = document.querySelector('meta[http-equiv="refresh" i]');
                const parts = meta && /^\s*(\d+(?:\.\d*)?)\s*[;,]\s*(?:url\s*=\s*)?(\S.*)$/i.exec(meta.content || "");
                return !!parts && Number(parts[1]) <= {refresh_secs};
            }};
            const ready = () => !leaving() && !refreshing() && {loaded} && (!selector || document.querySelector(selector) !== null);
            const status = () => (performance.getEntriesByType("navigation")[0] || {{}}).responseStatus || 0;
            const html = (complete) => [location.href, (document.doctype ? new XMLSerializer().serializeToString(document.doctype) + "\n" : "") + document.documentElement.outerHTML, complete, status(), [marks.loaded, marks.ready, performance.now()]];
            let lastChange = Date.now();
            let readyAt = null;
            const observer = new MutationObserver(() => {{ lastChange = Date.now(); }});
            if ({quiet} > 0) observer.observe(document, {{ subtree: true, childList: true, characterData: true, attributes: true }});
            const marks = {{ loaded: null, ready: null }};
            const settled = () => {{
                if (marks.loaded === null && {loaded}) marks.loaded = performance.now();
                if (!ready()) return false;
                if (marks.ready === null) marks.ready = performance.now();
                const now = Date.now();
                if (readyAt === null) readyAt = now;
                return now - lastChange >= {quiet} || now - readyAt >= {max_settle};
            }};
            const done = (value) => {{ observer.disconnect(); clearInterval(poll); clearTimeout(timer); window[Symbol.for("riptide.taken")] = true; resolve(value); }};
            const timer = setTimeout(() => done(html(ready())), Math.max(0, {take_at_ms} - Date.now()));
            const poll = setInterval(() => {{ if (settled()) done(html(true)); }}, 5);
            if (settled()) done(html(true));
        }})"#,
        idle = WaitUntil::NETWORK_IDLE.as_millis(),
        refresh_secs = SOON_REFRESH_SECS,
        max_settle = PageRequest::MAX_SETTLE.as_millis(),
    );
    let evaluate = Runtime::Evaluate {
        expression,
        return_by_value: Some(true),
        await_promise: Some(true),
        generate_preview: None,
        silent: Some(true),
        include_command_line_api: None,
        user_gesture: None,
        object_group: None,
        context_id: None,
        throw_on_side_effect: None,
        timeout: None,
        disable_breaks: None,
        repl_mode: None,
        allow_unsafe_eval_blocked_by_csp: None,
        unique_context_id: None,
        serialization_options: None,
    };
    let waited = Instant::now();
    let reply = wait_in_page(tab, &evaluate, started, request.deadline)?;
    if let Some(exception) = reply.exception_details {
        return Err(RenderFailure::Script(format!(
            "the page's script context failed: {}",
            exception.text
        )));
    }
    let Some(value) = reply.result.value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let waited = waited.elapsed();
    match serde_json::from_value::<(String, String, bool, u16, InPageMarks)>(value) {
        Ok((_, _, _, status, _)) if status >= 400 => Err(RenderFailure::HttpStatus(status)),
        Ok((final_url, html, ready, _, (loaded_at, ready_at, taken_at))) => {
            let millis = |ms: Option<f64>| {
                ms.filter(|ms| ms.is_finite() && *ms >= 0.0)
                    .map(|ms| Duration::from_secs_f64(ms / 1000.0))
            };
            let mut page = RenderedPage::new(html, final_url);
            page.partial = !ready;
            page.profile.navigate = navigated_in;
            page.profile.wait_and_read = waited;
            page.profile.loaded_at = millis(loaded_at);
            page.profile.ready_at = millis(ready_at);
            page.profile.taken_at = millis(Some(taken_at));
            Ok(Some(page))
        }
        Err(e) => Err(RenderFailure::Script(format!(
            "the page's HTML came back in an unexpected shape: {e}"
        ))),
    }
}

/// The page's own clock (`performance.now()`, from its navigation start) when it was loaded,
/// ready and taken, in milliseconds.
type InPageMarks = (Option<f64>, Option<f64>, f64);

/// How many times a render waits again after the document it waited in went away: a page that
/// leaves for another as it loads is followed this many hops (a redirect chain by script).
const MAX_REWAITS: u32 = 10;

/// Runs the in-page wait. When the document it ran in goes away (the page navigated: the
/// evaluation fails, and the tab still answers), it runs again in the new document, up to
/// [`MAX_REWAITS`] times and while the deadline allows; the wait's own timer still takes the
/// page at the same moment.
fn wait_in_page(
    tab: &Tab,
    evaluate: &Runtime::Evaluate,
    started: Instant,
    deadline: Duration,
) -> std::result::Result<Runtime::EvaluateReturnObject, RenderFailure> {
    let mut rewaits = 0;
    loop {
        match tab.call_method(evaluate.clone()) {
            Ok(reply) => return Ok(reply),
            Err(e) => {
                let time_left = started.elapsed() < deadline;
                if rewaits < MAX_REWAITS && time_left && tab.evaluate("1", false).is_ok() {
                    rewaits += 1;
                    tracing::debug!(target: "riptide::chrome", rewaits, "the page left its document; waiting in the next");
                    continue;
                }
                return Err(RenderFailure::Protocol(e.into()));
            }
        }
    }
}

/// `page` with a PNG of the tab's viewport as it is now.
pub(super) fn screenshot(tab: &Tab, mut page: RenderedPage) -> std::result::Result<RenderedPage, RenderFailure> {
    let taking = Instant::now();
    let png = tab
        .capture_screenshot(Page::CaptureScreenshotFormatOption::Png, None, None, true)
        .map_err(|e| RenderFailure::Protocol(e.into()))?;
    page.screenshot = Some(png);
    page.profile.screenshot = taking.elapsed();
    Ok(page)
}

/// What a Chrome network error code says about the host. The codes are Chrome's stable
/// identifiers (`net/base/net_error_list.h`); certificate and SSL errors come in named families.
pub(super) fn net_error_class(code: &str) -> FailureClass {
    match code {
        "net::ERR_NAME_NOT_RESOLVED" | "net::ERR_NAME_RESOLUTION_FAILED" => FailureClass::Dns,
        "net::ERR_CONNECTION_REFUSED" => FailureClass::ConnectionRefused,
        "net::ERR_CONNECTION_RESET"
        | "net::ERR_CONNECTION_CLOSED"
        | "net::ERR_CONNECTION_ABORTED"
        | "net::ERR_EMPTY_RESPONSE" => FailureClass::ConnectionReset,
        "net::ERR_TOO_MANY_REDIRECTS" | "net::ERR_UNSAFE_REDIRECT" => FailureClass::Redirect,
        "net::ERR_BLOCKED_BY_CLIENT" => FailureClass::Blocked,
        code if code.starts_with("net::ERR_CERT_") || code.starts_with("net::ERR_SSL_") => FailureClass::Tls,
        _ => FailureClass::Other,
    }
}

/// Chrome's network error code as an error value (the source of a failed navigation).
#[derive(Debug)]
pub(super) struct NetError(pub String);

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the browser reported {}", self.0)
    }
}

impl std::error::Error for NetError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_error_codes_classify_by_code() {
        assert_eq!(net_error_class("net::ERR_NAME_NOT_RESOLVED"), FailureClass::Dns);
        assert_eq!(
            net_error_class("net::ERR_CONNECTION_REFUSED"),
            FailureClass::ConnectionRefused
        );
        assert_eq!(
            net_error_class("net::ERR_EMPTY_RESPONSE"),
            FailureClass::ConnectionReset
        );
        assert_eq!(net_error_class("net::ERR_CERT_AUTHORITY_INVALID"), FailureClass::Tls);
        assert_eq!(net_error_class("net::ERR_SSL_PROTOCOL_ERROR"), FailureClass::Tls);
        assert_eq!(net_error_class("net::ERR_TOO_MANY_REDIRECTS"), FailureClass::Redirect);
        assert_eq!(net_error_class("net::ERR_ABORTED"), FailureClass::Other);
    }
}
