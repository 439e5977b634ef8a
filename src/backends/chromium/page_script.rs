//! The JavaScript a render runs in its page, and what the page answers: written once for
//! every DevTools client, so both Chromium providers take a page at the same moment.
//!
//! A render is two DevTools calls: `Page.navigate`, then one `Runtime.evaluate` of
//! [`wait_expression`], a promise that waits inside the page for readiness (`wait_until`, then
//! the selector, then the DOM settling) and resolves to the HTML, the page's URL and its own
//! timings ([`parse_reply`]). Waiting in the page costs no round trip per check.

use std::time::{Duration, SystemTime};

use crate::traits::{PageRequest, RenderedPage, WaitUntil};

/// Disables the page dialogs that block a renderer until someone answers them (`alert`,
/// `confirm`, `prompt`, `print`). Installed in every document before its own scripts run.
pub(crate) const NO_DIALOGS: &str =
    "window.alert = () => {}; window.confirm = () => true; window.prompt = () => null; window.print = () => {};";

/// Marks a document that is leaving for another (a script setting `location`, a `<meta
/// refresh>`, a form posted by script), so a render does not take it as the page: the mark is
/// set before the new document arrives, and the render waits in that one instead. A document
/// already taken ([`wait_expression`] marks it) may not leave any more: it stays in the tab
/// after its render, and a page that navigates by timer would otherwise replace the next
/// render's page with one of its own. The browser's own navigations (the next render's
/// `Page.navigate`) cannot be cancelled by a page, so they are not held back. Symbols, not
/// names: no page script stumbles on them.
pub(crate) const LEAVING_MARK: &str = r#"(() => {
    const leaving = () => { try { Object.defineProperty(window, Symbol.for("riptide.leaving"), { value: true }); } catch (_) {} };
    addEventListener("beforeunload", leaving);
    if (window.navigation) navigation.addEventListener("navigate", (e) => {
        if (e.destination.sameDocument) return;
        if (window[Symbol.for("riptide.taken")] === true && e.cancelable) { e.preventDefault(); return; }
        leaving();
    });
})();"#;

/// A page whose `<meta http-equiv="refresh">` sends it to another URL within this many seconds
/// is leaving, not ready: Chrome starts such a refresh only after `load`, when the page would
/// otherwise already have been taken. A longer delay is a page that reloads itself now and
/// then, and is taken as it is.
const SOON_REFRESH_SECS: u32 = 1;

/// How long before its deadline a page is taken as it stands: room for the evaluation's answer
/// to come back before the provider gives up on it.
const TAKE_MARGIN: Duration = Duration::from_millis(250);

/// How many times a render waits again after the document it waited in went away: a page that
/// leaves for another as it loads is followed this many hops (a redirect chain by script).
pub(crate) const MAX_REWAITS: u32 = 10;

/// The expression that waits in the page for `request`'s readiness and resolves to the page,
/// with `remaining` left before the deadline. Ready: loaded (`wait_until`) and the selector (if
/// any) matches. Settled: ready, and the DOM has not changed for `settle` (or it has been ready
/// for [`PageRequest::MAX_SETTLE`]). Shortly before the deadline the page is taken as it stands,
/// ready or not, and the answer says which.
pub(crate) fn wait_expression(request: &PageRequest, remaining: Duration) -> String {
    // As a wall clock time: the script may start late (a renderer busy with the page), and must
    // not then take the page late too.
    let take_in = remaining.saturating_sub(TAKE_MARGIN.min(remaining / 4));
    let take_at_ms = (SystemTime::now() + take_in)
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let selector = serde_json::to_string(&request.wait_for).unwrap_or_else(|_| "null".into());
    let quiet = request.settle.map_or(0, |d| d.as_millis());
    let loaded = match request.wait_until {
        WaitUntil::Load => "document.readyState === \"complete\"",
        WaitUntil::DomContentLoaded => "document.readyState !== \"loading\"",
        WaitUntil::NetworkIdle => "document.readyState === \"complete\" && networkIdle()",
    };
    format!(
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
            const html = (complete) => [location.href, (document.doctype ? new XMLSerializer().serializeToString(document.doctype) + "\n" : "") + document.documentElement.outerHTML, complete, status(), [marks.loaded, marks.ready, performance.now(), readyAt === null || {quiet} === 0 ? null : longestPause], document.contentType];
            let lastChange = Date.now();
            let readyAt = null;
            // The longest quiet spell after the page was ready that a DOM change ended: what the
            // executor learns a host's settle from.
            let longestPause = 0;
            const observer = new MutationObserver(() => {{
                const now = Date.now();
                if (readyAt !== null) longestPause = Math.max(longestPause, now - Math.max(readyAt, lastChange));
                lastChange = now;
            }});
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
    )
}

/// What the page's answer to [`wait_expression`] says.
#[derive(Debug)]
pub(crate) enum Reply {
    /// The page, partial if it was not ready when taken (its profile's in-page marks are set).
    Page(Box<RenderedPage>),
    /// The page came with this error status (4xx, 5xx), as the static engine would refuse it.
    HttpStatus(u16),
    /// The document is not HTML (a PDF in Chromium's viewer, plain text, an image): this
    /// content type, as the static engine refuses it.
    NotHtml(String),
}

/// Whether a document of `content_type` (`document.contentType`) is a page riptide extracts:
/// HTML or XHTML, as the static engine takes them.
fn is_html(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("text/html") || essence.eq_ignore_ascii_case("application/xhtml+xml")
}

/// The page's own clock (`performance.now()`, from its navigation start) when it was loaded,
/// ready and taken, and the longest DOM pause after it was ready, in milliseconds.
type InPageMarks = (Option<f64>, Option<f64>, f64, Option<f64>);

/// Reads the value [`wait_expression`] resolved to; the error says what shape it had instead.
pub(crate) fn parse_reply(value: serde_json::Value) -> Result<Reply, String> {
    match serde_json::from_value::<(String, String, bool, u16, InPageMarks, String)>(value) {
        Ok((_, _, _, status, _, _)) if status >= 400 => Ok(Reply::HttpStatus(status)),
        Ok((_, _, _, _, _, content_type)) if !is_html(&content_type) => Ok(Reply::NotHtml(content_type)),
        Ok((final_url, html, ready, _, (loaded_at, ready_at, taken_at, settle_pause), _)) => {
            let millis = |ms: Option<f64>| {
                ms.filter(|ms| ms.is_finite() && *ms >= 0.0)
                    .map(|ms| Duration::from_secs_f64(ms / 1000.0))
            };
            let mut page = RenderedPage::new(html, final_url);
            page.partial = !ready;
            page.profile.loaded_at = millis(loaded_at);
            page.profile.ready_at = millis(ready_at);
            page.profile.taken_at = millis(Some(taken_at));
            page.profile.settle_pause = millis(settle_pause);
            Ok(Reply::Page(Box::new(page)))
        }
        Err(e) => Err(format!("the page's HTML came back in an unexpected shape: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_a_page_or_an_error_status() {
        let page = serde_json::json!([
            "http://a/",
            "<html></html>",
            false,
            200,
            [1.5, null, 9.0, null],
            "text/html"
        ]);
        let Ok(Reply::Page(page)) = parse_reply(page) else {
            panic!("a page")
        };
        assert!(page.partial);
        assert_eq!(page.final_url, "http://a/");
        assert_eq!(page.profile.loaded_at, Some(Duration::from_micros(1500)));
        assert_eq!(page.profile.ready_at, None);
        assert_eq!(page.profile.settle_pause, None);
        let settled = serde_json::json!([
            "http://a/",
            "<html></html>",
            true,
            200,
            [1.0, 2.0, 9.0, 20.0],
            "application/xhtml+xml"
        ]);
        let Ok(Reply::Page(settled)) = parse_reply(settled) else {
            panic!("a page")
        };
        assert_eq!(settled.profile.settle_pause, Some(Duration::from_millis(20)));
        let gone = serde_json::json!(["http://a/", "", true, 404, [null, null, 1.0, null], "text/html"]);
        assert!(matches!(parse_reply(gone), Ok(Reply::HttpStatus(404))));
        let pdf = serde_json::json!([
            "http://a/x.pdf",
            "<html></html>",
            true,
            200,
            [null, null, 1.0, null],
            "application/pdf"
        ]);
        assert!(matches!(parse_reply(pdf), Ok(Reply::NotHtml(t)) if t == "application/pdf"));
        assert!(parse_reply(serde_json::json!({"no": "array"})).is_err());
    }

    #[test]
    fn the_wait_names_the_selector_as_json() {
        let request = PageRequest::new("http://a/").wait_for("a[href=\"x\"]");
        let expression = wait_expression(&request, Duration::from_secs(5));
        assert!(expression.contains(r#"const selector = "a[href=\"x\"]";"#));
    }
}
