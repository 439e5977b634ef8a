//! One render on a tab: the navigation and the in-page wait that returns the HTML ([`load`]),
//! and the watch `fetch` keeps over it from its own thread ([`ChromeProvider::watch`]): the
//! deadline, a cancel, and the browser's memory.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use headless_chrome::Tab;
use headless_chrome::protocol::cdp::Runtime;

use super::{ChromeBrowser, ChromeProvider};
use crate::traits::{BrowserProvider, PageRequest, RenderedPage};

/// How often a render in progress is looked at: for a cancel, and for its memory when a limit
/// is set. Reading `smaps_rollup` of a browser's ~6 processes costs well under a millisecond; a
/// page allocating as fast as it can gains some hundred megabytes between two reads.
const WATCH_TICK: Duration = Duration::from_millis(100);

/// How a watched render ended.
pub(super) enum Watched {
    /// The render thread answered.
    Finished(std::result::Result<Option<RenderedPage>, String>),
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
    pub(super) fn watch(
        &self,
        browser: &ChromeBrowser,
        rx: &mpsc::Receiver<std::result::Result<Option<RenderedPage>, String>>,
        deadline: Instant,
    ) -> Watched {
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
                    return Watched::Finished(Err("the render thread ended without an answer".into()));
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

/// Navigates, then waits inside the page for readiness (and the selector) and returns the HTML
/// and the page's URL in the same call. `Ok(None)`: the page did not get ready before the
/// deadline.
pub(super) fn load(
    tab: &Tab,
    request: &PageRequest,
    started: Instant,
) -> std::result::Result<Option<RenderedPage>, String> {
    tab.navigate_to(&request.url).map_err(|e| format!("{e:#}"))?;
    let remaining = request.deadline.saturating_sub(started.elapsed());
    let selector = serde_json::to_string(&request.wait_for).unwrap_or_else(|_| "null".into());
    let quiet = request.settle.map_or(0, |d| d.as_millis());
    // Ready: `load` fired and the selector (if any) matches. Settled: ready, and the DOM has not
    // changed for `quiet` ms (or it has been ready for MAX_SETTLE). At the deadline a ready page
    // is returned as it is; one that never got ready gives `null`.
    let expression = format!(
        r#"new Promise((resolve) => {{
            const selector = {selector};
            const ready = () => document.readyState === "complete" && (!selector || document.querySelector(selector) !== null);
            const html = () => [location.href, (document.doctype ? new XMLSerializer().serializeToString(document.doctype) + "\n" : "") + document.documentElement.outerHTML];
            let lastChange = Date.now();
            let readyAt = null;
            const observer = new MutationObserver(() => {{ lastChange = Date.now(); }});
            if ({quiet} > 0) observer.observe(document, {{ subtree: true, childList: true, characterData: true, attributes: true }});
            const settled = () => {{
                if (!ready()) return false;
                const now = Date.now();
                if (readyAt === null) readyAt = now;
                return now - lastChange >= {quiet} || now - readyAt >= {max_settle};
            }};
            const done = (value) => {{ observer.disconnect(); clearInterval(poll); clearTimeout(timer); resolve(value); }};
            const timer = setTimeout(() => done(ready() ? html() : null), {ms});
            const poll = setInterval(() => {{ if (settled()) done(html()); }}, 5);
            if (settled()) done(html());
        }})"#,
        ms = remaining.as_millis(),
        max_settle = PageRequest::MAX_SETTLE.as_millis(),
    );
    let reply = tab
        .call_method(Runtime::Evaluate {
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
        })
        .map_err(|e| format!("{e:#}"))?;
    if let Some(exception) = reply.exception_details {
        return Err(format!("the page's script context failed: {}", exception.text));
    }
    let Some(value) = reply.result.value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    match serde_json::from_value::<(String, String)>(value) {
        Ok((final_url, html)) => Ok(Some(RenderedPage { html, final_url })),
        Err(e) => Err(format!("the page's HTML came back in an unexpected shape: {e}")),
    }
}
