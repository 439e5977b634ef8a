//! The host side of the extractor ABI, and what an extraction returns: [`ExtractedContent`]
//! from the guest, and [`Content`] from the executor (the same plus how and how fast).
//!
//! The guest is untrusted: input size is bounded before anything is copied in, every pointer and
//! length it returns is checked against the limits and its memory, and its reply must be UTF-8
//! JSON matching [`ExtractedContent`] exactly. Engines enforce the execution budget and memory cap.

mod links;
mod warm;

pub use links::read_links;
pub use warm::{DEFAULT_MAX_USES, RETIRE_ABOVE_BYTES, WarmInstances};

use std::collections::BTreeMap;

use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result, WasmError};
use crate::traits::{Engine, GuestInstance, GuestLimits, WasmRuntime};

/// One extracted page from the [`Executor`](crate::Executor): what the extractor found, how the
/// page was fetched, and where the time went.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Content {
    /// The URL (or path) as given.
    pub url: String,
    /// The URL the page came from, after redirects (`file://` for local files).
    pub final_url: String,
    /// The engine that produced the HTML.
    pub engine: Engine,
    /// A render taken at its deadline before the page was ready (a subresource that never
    /// finished, a script still building it): the DOM as it stood then.
    pub partial: bool,
    /// What the extractor found: title, text, links, metadata (`page.extracted.title`).
    #[serde(flatten)]
    pub extracted: ExtractedContent,
    /// Time per stage.
    pub timings: StageTimings,
    /// A PNG of the rendered page's viewport, when screenshots were asked for
    /// (`ExecutorBuilder::screenshots`) and the page was rendered; never serialized (the CLI
    /// writes it to a file and puts the file's path in its JSON).
    #[serde(skip)]
    pub screenshot: Option<Vec<u8>>,
    /// The page's `X-Robots-Tag` response headers, one per line (static fetches only: a
    /// render's response headers are not kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_robots_tag: Option<String>,
    /// The page's `ETag` header (static fetches), for a later conditional request
    /// ([`PageOptions::validators`](crate::PageOptions::validators)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The page's `Last-Modified` header (static fetches).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

/// Where one extraction's time went. Serialized as milliseconds (`fetch_ms`, ...).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StageTimings {
    /// Choosing the engine: the static attempt and heuristic when a page was escalated to
    /// headless (zero when the engine was forced or remembered).
    #[serde(rename = "engine_choice_ms", serialize_with = "millis")]
    pub engine_choice: Duration,
    /// Fetching or rendering the HTML, retries included.
    #[serde(rename = "fetch_ms", serialize_with = "millis")]
    pub fetch: Duration,
    /// Getting the compiled extractor (a hit: well under a millisecond).
    #[serde(rename = "module_load_ms", serialize_with = "millis")]
    pub module_load: Duration,
    /// Running the extractor.
    #[serde(rename = "extraction_ms", serialize_with = "millis")]
    pub extraction: Duration,
    /// The whole call.
    #[serde(rename = "total_ms", serialize_with = "millis")]
    pub total: Duration,
    /// Fetch attempts made (1 without retries).
    pub attempts: u32,
}

fn millis<S: Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// What the extractor found in a page. The guest's reply, checked field by field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ExtractedContent {
    /// The article's title, cleaned of the site's name the way Readability does
    /// (`"Story | Site"` gives `"Story"`); else the page's `<title>`.
    pub title: Option<String>,
    /// The page's `<title>` as written (white space collapsed).
    pub raw_title: Option<String>,
    /// The main content as plain text: one paragraph per block, blocks separated by a blank
    /// line. Menus, share bars, related-story lists, captions, cookie banners and comment
    /// threads are left out. For a page that is not an article ([`is_article`](Self::is_article)
    /// false), its visible text.
    pub text: String,
    /// The main content as Markdown (headings, paragraphs, lists, links, emphasis, code blocks,
    /// block quotes, tables, images); `None` when [`ExtractOptions::markdown`] is off or the
    /// page has no content.
    pub markdown: Option<String>,
    /// The main content as cleaned HTML; `None` unless [`ExtractOptions::content_html`] is on.
    pub content_html: Option<String>,
    /// Whether the page reads as an article (one main text). `false` for home pages, listings,
    /// search results and app shells.
    pub is_article: bool,
    /// Words in [`text`](Self::text) (runs of letters and digits; a CJK character counts as one).
    pub word_count: usize,
    /// Link targets of the whole page in document order, without duplicates; absolute when a
    /// base URL was given.
    pub links: Vec<String>,
    /// The targets among [`links`](Self::links) that the page links to only with
    /// `rel="nofollow"` (a crawler does not follow them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nofollow_links: Vec<String>,
    /// The page's robots directives (`<meta name="robots">` and `<meta name="riptide">`),
    /// lowercased and comma-separated, e.g. `"noindex, nofollow"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub robots: Option<String>,
    /// The page's summary: its description metadata (`<meta name="description">`, OpenGraph,
    /// Twitter, JSON-LD), else the content's first paragraph.
    pub description: Option<String>,
    /// `<link rel="canonical">`, else `og:url`.
    pub canonical_url: Option<String>,
    /// The content's language: `<html lang>`, else `<meta http-equiv="Content-Language">`, else
    /// (from the [`Executor`](crate::Executor)'s static fetch) the `Content-Language` header.
    pub language: Option<String>,
    /// The author(s): JSON-LD, `<meta name="author">`, `article:author`, `rel=author`, or a
    /// byline element in the page.
    pub author: Option<String>,
    /// When it was published (JSON-LD, `article:published_time`, `<meta name="date">`, the
    /// first `<time datetime>`): RFC 3339 when the source has a date, time and offset,
    /// `YYYY-MM-DD` for a date alone, else as written.
    pub published_time: Option<String>,
    /// When it was last changed, in the same form.
    pub modified_time: Option<String>,
    /// The site's name (`og:site_name`, JSON-LD publisher, `application-name`).
    pub site_name: Option<String>,
    /// The lead image (`og:image`, JSON-LD `image`, `twitter:image`), absolute when possible.
    pub image: Option<String>,
    /// Every `og:*` property, keyed without the prefix.
    pub open_graph: BTreeMap<String, String>,
}

/// What the extractor produces beyond the fields every extraction has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Fill [`ExtractedContent::markdown`] (default: on).
    pub markdown: bool,
    /// Fill [`ExtractedContent::content_html`] with the cleaned article HTML (default: off).
    pub content_html: bool,
    /// Only the links (and `nofollow_links`), `robots`, `canonical_url` and the `<title>`:
    /// no content pass, for a crawler that maps a site (default: off). The executor reads a
    /// links-only page natively instead ([`PageOptions::links_only`](crate::PageOptions::links_only));
    /// this asks the guest itself, for callers of [`run_extractor_with`].
    pub links_only: bool,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            markdown: true,
            content_html: false,
            links_only: false,
        }
    }
}

impl ExtractOptions {
    /// The option word of the guest's input framing (see `wasm/extractor`).
    fn bits(self) -> u32 {
        u32::from(self.markdown) | (u32::from(self.content_html) << 1) | (u32::from(self.links_only) << 2)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum GuestReply {
    Failed { error: String },
    Extracted(Box<ExtractedContent>),
}

/// Frames `html`, the base URL and the options as the guest's `extract` expects (see
/// `wasm/extractor`): URL length, URL, option word, HTML.
fn frame_input(html: &str, base_url: Option<&str>, options: ExtractOptions) -> Result<Vec<u8>> {
    let url = base_url.unwrap_or("").as_bytes();
    let url_len = u32::try_from(url.len()).map_err(|_| WasmError::InputTooLarge {
        len: url.len(),
        limit: u32::MAX as usize,
    })?;
    let mut out = Vec::with_capacity(8 + url.len() + html.len());
    out.extend_from_slice(&url_len.to_le_bytes());
    out.extend_from_slice(url);
    out.extend_from_slice(&options.bits().to_le_bytes());
    out.extend_from_slice(html.as_bytes());
    Ok(out)
}

/// Runs the extractor `module` on `html` in a fresh instance, with the default
/// [`ExtractOptions`].
pub fn run_extractor<R: WasmRuntime>(
    runtime: &R,
    module: &R::Module,
    html: &str,
    base_url: Option<&str>,
) -> Result<ExtractedContent> {
    run_extractor_with(runtime, module, html, base_url, ExtractOptions::default())
}

/// [`run_extractor`] producing what `options` asks for.
pub fn run_extractor_with<R: WasmRuntime>(
    runtime: &R,
    module: &R::Module,
    html: &str,
    base_url: Option<&str>,
    options: ExtractOptions,
) -> Result<ExtractedContent> {
    let input = checked_input(runtime.limits(), html, base_url, options)?;
    let mut instance = runtime.instantiate(module, input.len())?;
    let (reply, _) = call_extractor(&mut instance, runtime.limits(), &input)?;
    parse_reply(&reply)
}

/// [`run_extractor_with`] in an instance kept warm by `warm` when this thread has one, keeping
/// the instance for the thread's next page when the call went well (see [`WarmInstances`]).
///
/// `warm` must serve this one `module` on this `runtime` (the executor makes one per
/// extractor): it tells instances apart by their pool and type, not by the module they run.
/// Only use it for a module that keeps no state between calls, as riptide's extractor does.
pub fn run_extractor_warm<R: WasmRuntime>(
    runtime: &R,
    module: &R::Module,
    warm: &WarmInstances,
    html: &str,
    base_url: Option<&str>,
    options: ExtractOptions,
) -> Result<ExtractedContent> {
    let limits = runtime.limits();
    let input = checked_input(limits, html, base_url, options)?;
    let kept = warm
        .take::<R::Instance>()
        .and_then(|(mut instance, uses)| instance.renew(input.len()).then_some((instance, uses)));
    let (mut instance, uses) = match kept {
        Some(kept) => kept,
        None => (runtime.instantiate(module, input.len())?, 0),
    };
    // Any failure drops the instance: its state is then unknown.
    let (reply, blocks) = match call_extractor(&mut instance, limits, &input) {
        Ok(called) => called,
        // A kept instance's memory is what earlier pages left: a page that runs out of it, or
        // traps, is tried once more in a fresh instance, which is what it would have had.
        Err(e)
            if uses > 0
                && matches!(
                    e.kind(),
                    ErrorKind::Wasm(WasmError::MemoryLimit { .. } | WasmError::Trap { .. })
                ) =>
        {
            drop(instance);
            return run_extractor_with(runtime, module, html, base_url, options);
        }
        Err(e) => return Err(e),
    };
    let parsed = parse_reply(&reply)?;
    let freed = blocks.iter().all(|&(ptr, len)| instance.dealloc(ptr, len).is_ok());
    // Retired past a fixed size, and always well below the cap, so that a kept instance leaves
    // each page room to grow. (One its engine cannot renew is dropped when next taken.)
    let retire_above = RETIRE_ABOVE_BYTES.min(limits.max_memory_bytes / 2);
    if freed && instance.memory_bytes() <= retire_above {
        warm.keep(instance, uses + 1);
    }
    Ok(parsed)
}

/// The framed input for the guest, within the limits.
fn checked_input(limits: &GuestLimits, html: &str, base_url: Option<&str>, options: ExtractOptions) -> Result<Vec<u8>> {
    let input = frame_input(html, base_url, options)?;
    if input.len() > limits.max_input_bytes {
        return Err(WasmError::InputTooLarge {
            len: input.len(),
            limit: limits.max_input_bytes,
        }
        .into());
    }
    Ok(input)
}

/// A block of guest memory the guest handed out: `(ptr, len)`.
type GuestBlock = (u32, u32);

/// One call of the guest's `extract` on `input`: its reply, and the two blocks the guest handed
/// out (the input's and the reply's, as `(ptr, len)`) for `dealloc`.
fn call_extractor<I: GuestInstance>(
    instance: &mut I,
    limits: &GuestLimits,
    input: &[u8],
) -> Result<(Vec<u8>, [GuestBlock; 2])> {
    let input_len = u32::try_from(input.len()).map_err(|_| WasmError::InputTooLarge {
        len: input.len(),
        limit: u32::MAX as usize,
    })?;
    let ptr = instance.alloc(input_len)?;
    instance.write(ptr, input)?;
    let packed = instance.extract(ptr, input_len)?;
    // The guest packs two u32s into the i64's bits; reinterpret, never sign-extend.
    let packed = packed as u64;
    let (out_ptr, out_len) = ((packed >> 32) as u32, packed as u32);
    if out_len as usize > limits.max_output_bytes {
        return Err(Error::from(WasmError::Abi {
            message: format!(
                "reply of {out_len} bytes exceeds the {}-byte limit",
                limits.max_output_bytes
            ),
        }));
    }
    let reply = instance.read(out_ptr, out_len)?;
    Ok((reply, [(ptr, input_len), (out_ptr, out_len)]))
}

/// The guest's reply: the page's content, or the error it reported.
fn parse_reply(reply: &[u8]) -> Result<ExtractedContent> {
    let reply = std::str::from_utf8(reply).map_err(|e| {
        Error::from(WasmError::Abi {
            message: format!("reply is not UTF-8: {e}"),
        })
    })?;
    match serde_json::from_str::<GuestReply>(reply) {
        Ok(GuestReply::Extracted(content)) => Ok(*content),
        Ok(GuestReply::Failed { error }) => Err(Error::from(WasmError::Abi {
            message: format!("extractor refused its input: {error}"),
        })),
        Err(e) => Err(Error::from(WasmError::Abi {
            message: format!("reply is not the expected JSON: {e}"),
        })),
    }
}
