//! The answers for a request that is wrong in itself (not a page's failure): the JSON problem
//! body every route, check and middleware of the server uses, and reading a JSON body into it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::SCHEMA_VERSION;

/// An error that is the request's, not a page's: `{"error", "error_kind", "hint"}`.
pub(super) fn problem(status: StatusCode, kind: &str, error: &str, hint: &str) -> Response {
    let body = serde_json::json!({
        "error": error,
        "error_kind": kind,
        "hint": hint,
        "schema_version": SCHEMA_VERSION,
    });
    (status, Json(body)).into_response()
}

/// The body as JSON of `T` (its `Content-Type: application/json` was checked by
/// [`guard`](super::guard)), or the answer that says what is wrong with it: `400` for what is
/// not JSON, `422` for JSON of the wrong shape, and `shape` as the hint.
#[allow(
    clippy::result_large_err,
    reason = "the error is the answer, returned at once; never carried further"
)]
pub(super) fn read_json<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    shape: &str,
) -> Result<T, Response> {
    match body.map(|body| serde_json::from_slice::<T>(&body)) {
        Ok(Ok(request)) => Ok(request),
        Ok(Err(e)) => {
            let status = match e.classify() {
                serde_json::error::Category::Data => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::BAD_REQUEST,
            };
            Err(problem(
                status,
                "server.invalid_request",
                &format!("the request is not valid: {e}"),
                shape,
            ))
        }
        Err(rejection) => Err(problem(
            rejection.status(),
            "server.invalid_request",
            &rejection.body_text(),
            shape,
        )),
    }
}
