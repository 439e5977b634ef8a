//! One render on a tab: the navigation and the in-page wait that returns the HTML ([`load`]),
//! and the watch `fetch` keeps over it from its own thread ([`ChromeProvider::watch`]): the
//! deadline, a cancel, and the browser's memory.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use headless_chrome::Tab;
use headless_chrome::protocol::cdp::{Page, Runtime};

use super::{ChromeBrowser, ChromeProvider};
use crate::backends::chromium::page_script::{self, MAX_REWAITS};
use crate::backends::chromium::rendered::waited_page;
pub(super) use crate::backends::chromium::rendered::{RenderEnd, RenderFailure, Rendered};
use crate::traits::{BrowserProvider, PageRequest, RenderedPage};

/// How often a render in progress is looked at: for a cancel, its renderer's death, and its
/// memory when a limit is set. Reading `smaps_rollup` of a browser's ~6 processes costs well under a millisecond; a
/// page allocating as fast as it can gains some hundred megabytes between two reads.
const WATCH_TICK: Duration = Duration::from_millis(100);

impl ChromeProvider {
    /// Reads the browser's memory until the render answers, the deadline passes, or the
    /// memory limit is crossed.
    pub(super) fn watch(&self, browser: &ChromeBrowser, rx: &mpsc::Receiver<Rendered>, deadline: Instant) -> RenderEnd {
        let limit = self.setup.render_memory_limit.filter(|_| browser.pid.is_some());
        loop {
            if browser.cancelled.load(Ordering::Acquire) {
                return RenderEnd::Cancelled;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let wait = left.min(WATCH_TICK);
            match rx.recv_timeout(wait) {
                Ok(result) => return RenderEnd::Finished(result),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let ended = RenderFailure::Protocol("the render thread ended without an answer".into());
                    return RenderEnd::Finished(Err(ended));
                }
                Err(mpsc::RecvTimeoutError::Timeout) if left <= wait => return RenderEnd::Late,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            // The tab rendering now: the render may have moved to a fresh context's.
            if crate::sync::lock(&browser.current)
                .reports
                .crashed
                .load(Ordering::Acquire)
            {
                return RenderEnd::Finished(Err(RenderFailure::Crashed));
            }
            if let (Some(limit_bytes), Some(used_bytes)) = (limit, self.memory_bytes(browser))
                && used_bytes > limit_bytes
            {
                return RenderEnd::OverMemory {
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
    let evaluate = Runtime::Evaluate {
        expression: page_script::wait_expression(request, remaining),
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
    let exception = reply.exception_details.map(|e| e.text);
    waited_page(exception, reply.result.value, navigated_in, waited.elapsed())
}

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
