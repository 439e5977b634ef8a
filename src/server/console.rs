//! `GET /`: the console, one page a person can look at (issue 30).
//!
//! The pool, the module cache, the timeouts and the running crawls, polled every few seconds
//! from the JSON routes; a chart of the last minutes from `GET /v1/activity`; and a form that
//! extracts one URL through `POST /v1/extract` and shows what came out. The page, its script
//! and its stylesheet are compiled into the binary (no CDN, no build step), and served with a
//! Content-Security-Policy that allows only them: no inline script, no other origin, images
//! only from the server or `data:` (a rendered page's screenshot). The script puts what pages
//! say into the DOM as text only, never as HTML.
//!
//! The three files need no token (they hold nothing): the script asks for the token when a
//! route answers `401` and keeps it in the tab's `sessionStorage`. They are behind the same
//! `Host` and `Origin` checks as the API ([`guard`](super::guard)).

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The page's policy: its own script and stylesheet, `fetch` to its own routes, `data:` images.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const PAGE: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");

/// The console's routes: `/`, `/console.js`, `/console.css`.
pub(super) fn routes<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    axum::Router::new()
        .route("/", get(|| async { file("text/html; charset=utf-8", PAGE) }))
        .route(
            "/console.js",
            get(|| async { file("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route("/console.css", get(|| async { file("text/css; charset=utf-8", STYLE) }))
}

fn file(content_type: &'static str, body: &'static str) -> Response {
    let headers: [(HeaderName, HeaderValue); 6] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    (headers, body).into_response()
}
