//! `riptide extract --server URL`: the batch goes to a running `riptide serve` as one
//! `POST /v1/extract {"urls": [...], ...}` (with the per-page settings the flags ask for), and
//! its NDJSON answer comes back as the same records a local batch writes.

use std::time::Duration;

use futures_util::StreamExt;
use riptide::EngineChoice;

use super::CliResult;

/// Each page's record as it finishes, in completion order: `riptide extract`'s output, whether
/// this process or a server extracted it.
pub(crate) type Records<'a> =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = CliResult<serde_json::Value>> + Send + 'a>>;

/// How many times a batch the server turns away as busy (`429`) is sent again, each after the
/// server's `Retry-After`.
const BUSY_RETRIES: u32 = 10;

/// Sends `urls` to the server at `server`, with `engine` and the per-page `settings`
/// (`ExtractArgs::page_settings`), and gives its records as they arrive.
pub(crate) async fn records(
    server: &str,
    token: Option<&str>,
    urls: Vec<String>,
    engine: EngineChoice,
    mut settings: serde_json::Map<String, serde_json::Value>,
) -> CliResult<Records<'static>> {
    let endpoint = format!("{}/v1/extract", server.trim_end_matches('/'));
    settings.insert("urls".into(), urls.into());
    settings.insert("engine".into(), serde_json::to_value(engine)?);
    let body = serde_json::Value::Object(settings).to_string();
    let client = reqwest::Client::new();
    let mut busy = 0;
    let response = loop {
        let mut request = client
            .post(&endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| {
            format!("cannot reach the riptide server at {server} ({e}); is `riptide serve` running there?")
        })?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS && busy < BUSY_RETRIES {
            busy += 1;
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1)
                .clamp(1, 60);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        if !status.is_success() {
            let answer = json_or_text(response).await;
            let error = answer.get("error").and_then(|e| e.as_str()).unwrap_or_default();
            let hint = answer.get("hint").and_then(|h| h.as_str()).unwrap_or_default();
            return Err(format!("the riptide server at {server} refused the batch ({status}): {error}; {hint}").into());
        }
        break response;
    };
    let lines = futures_util::stream::unfold(
        (response, Vec::<u8>::new(), false),
        |(mut response, mut buffer, mut ended)| async move {
            loop {
                if let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=end).collect();
                    return Some((record_of(&line), (response, buffer, ended)));
                }
                if ended {
                    if buffer.iter().all(u8::is_ascii_whitespace) {
                        return None;
                    }
                    let line = std::mem::take(&mut buffer);
                    return Some((record_of(&line), (response, buffer, ended)));
                }
                match response.chunk().await {
                    Ok(Some(chunk)) => buffer.extend_from_slice(&chunk),
                    Ok(None) => ended = true,
                    Err(e) => {
                        let lost =
                            format!("the connection to the riptide server broke mid-batch ({e}); run the batch again");
                        return Some((Err(lost.into()), (response, Vec::new(), true)));
                    }
                }
            }
        },
    );
    Ok(Box::pin(lines.boxed()))
}

/// One NDJSON line as the record a local batch writes (without the server's `schema_version`).
fn record_of(line: &[u8]) -> CliResult<serde_json::Value> {
    let mut record: serde_json::Value = serde_json::from_slice(line)
        .map_err(|e| format!("the riptide server sent a line that is not a JSON record ({e})"))?;
    if let Some(fields) = record.as_object_mut() {
        fields.remove("schema_version");
    }
    Ok(record)
}

/// A response body as JSON, or its text as `{"error": text}` when it is not JSON.
async fn json_or_text(response: reqwest::Response) -> serde_json::Value {
    let bytes = response.bytes().await.unwrap_or_default();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::json!({ "error": String::from_utf8_lossy(&bytes).trim() }))
}
