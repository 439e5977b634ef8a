//! riptide's guest extractor: HTML in, JSON content out.
//!
//! This crate is compiled to a plain core WebAssembly module (`wasm32-unknown-unknown`, no WASI,
//! no component model) so that every engine riptide supports runs the same bytes unchanged. It is
//! also built natively as an rlib: the host's tests compare the committed module's output with
//! this code run natively, which proves `wasm/riptide_extractor.wasm` is current.
//!
//! # ABI
//! - `memory`: the module's linear memory.
//! - `alloc(len: i32) -> i32`: reserve `len` bytes for the input; the host writes there.
//! - `dealloc(ptr: i32, len: i32)`: release a block from `alloc` or an output block.
//! - `extract(ptr: i32, len: i32) -> i64`: read the input at `ptr..ptr+len`, return
//!   `(out_ptr << 32) | out_len` of UTF-8 JSON.
//!
//! The input is framed as a little-endian `u32` URL length, the URL bytes (empty for none), then
//! the HTML bytes. The output is an [`Extracted`] object, or `{"error": "..."}` when the input
//! cannot be framed.

use std::collections::{BTreeMap, HashSet};

use scraper::{Html, Node, Selector};
use serde::{Deserialize, Serialize};
use url::Url;

/// What the extractor finds in one page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extracted {
    /// `<title>`, else `og:title`.
    pub title: Option<String>,
    /// Visible main text: `<main>`/`<article>` when present, else `<body>`, without scripts,
    /// styles, navigation, page headers and footers. One line per block.
    pub text: String,
    /// Link targets in document order, without duplicates; absolute when a base URL is known.
    pub links: Vec<String>,
    /// `<meta name="description">`, else `og:description`.
    pub description: Option<String>,
    /// `<link rel="canonical">`, absolute when a base URL is known.
    pub canonical_url: Option<String>,
    /// `<html lang>`.
    pub language: Option<String>,
    /// `<meta name="author">`, else `article:author`.
    pub author: Option<String>,
    /// `article:published_time`, else `<meta name="date">`, else the first `<time datetime>`.
    pub published_time: Option<String>,
    /// Every `og:*` property, keyed without the `og:` prefix.
    pub open_graph: BTreeMap<String, String>,
}

/// Splits the framed input into the base URL (if any) and the HTML.
pub fn decode_input(input: &[u8]) -> Result<(Option<String>, String), String> {
    let Some((len_bytes, rest)) = input.split_first_chunk::<4>() else {
        return Err(format!(
            "input is {} bytes, shorter than its 4-byte URL length prefix",
            input.len()
        ));
    };
    let url_len = u32::from_le_bytes(*len_bytes) as usize;
    if url_len > rest.len() {
        return Err(format!(
            "URL length prefix says {url_len} bytes but only {} follow",
            rest.len()
        ));
    }
    let (url, html) = rest.split_at(url_len);
    let url = (!url.is_empty()).then(|| String::from_utf8_lossy(url).into_owned());
    Ok((url, String::from_utf8_lossy(html).into_owned()))
}

/// Frames `html` and an optional base URL as the module's `extract` expects them.
pub fn encode_input(html: &str, base_url: Option<&str>) -> Vec<u8> {
    let url = base_url.unwrap_or("");
    let mut out = Vec::with_capacity(4 + url.len() + html.len());
    out.extend_from_slice(&(url.len() as u32).to_le_bytes());
    out.extend_from_slice(url.as_bytes());
    out.extend_from_slice(html.as_bytes());
    out
}

/// Runs the whole extraction on framed input and returns the JSON reply, exactly as the WASM
/// module's `extract` export does.
pub fn extract_framed(input: &[u8]) -> String {
    match decode_input(input) {
        Ok((url, html)) => {
            serde_json::to_string(&extract(&html, url.as_deref())).unwrap_or_else(|e| error_json(&e.to_string()))
        }
        Err(e) => error_json(&e),
    }
}

fn error_json(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

/// Extracts title, main text, links and metadata from `html`.
pub fn extract(html: &str, base_url: Option<&str>) -> Extracted {
    let doc = Html::parse_document(html);
    let base = effective_base(&doc, base_url);

    let meta = |attr: &str, name: &str| -> Option<String> {
        let sel = Selector::parse(&format!("meta[{attr}=\"{name}\"]")).ok()?;
        doc.select(&sel)
            .filter_map(|m| m.value().attr("content"))
            .map(clean)
            .find(|s| !s.is_empty())
    };
    let first_text = |css: &str| -> Option<String> {
        let sel = Selector::parse(css).ok()?;
        doc.select(&sel)
            .map(|e| clean(&e.text().collect::<String>()))
            .find(|s| !s.is_empty())
    };
    let first_attr = |css: &str, attr: &str| -> Option<String> {
        let sel = Selector::parse(css).ok()?;
        doc.select(&sel)
            .filter_map(|e| e.value().attr(attr))
            .map(clean)
            .find(|s| !s.is_empty())
    };

    let mut open_graph = BTreeMap::new();
    if let Ok(sel) = Selector::parse("meta[property]") {
        for m in doc.select(&sel) {
            let (Some(prop), Some(content)) = (m.value().attr("property"), m.value().attr("content")) else {
                continue;
            };
            if let Some(key) = prop.trim().strip_prefix("og:") {
                open_graph.entry(key.to_string()).or_insert_with(|| clean(content));
            }
        }
    }

    Extracted {
        title: first_text("title").or_else(|| open_graph.get("title").cloned()),
        text: main_text(&doc),
        links: links(&doc, base.as_ref()),
        description: meta("name", "description").or_else(|| open_graph.get("description").cloned()),
        canonical_url: first_attr("link[rel=\"canonical\"]", "href").map(|h| absolutize(&h, base.as_ref())),
        language: first_attr("html", "lang"),
        author: meta("name", "author").or_else(|| meta("property", "article:author")),
        published_time: meta("property", "article:published_time")
            .or_else(|| meta("name", "date"))
            .or_else(|| first_attr("time[datetime]", "datetime")),
        open_graph,
    }
}

/// The page URL, adjusted by `<base href>` when the document has one.
fn effective_base(doc: &Html, base_url: Option<&str>) -> Option<Url> {
    let page = base_url.and_then(|u| Url::parse(u).ok());
    let base_href = Selector::parse("base[href]").ok().and_then(|sel| {
        doc.select(&sel)
            .find_map(|e| e.value().attr("href"))
            .map(str::trim)
            .map(str::to_string)
    });
    match (page, base_href) {
        (Some(page), Some(href)) => page.join(&href).ok().or(Some(page)),
        (None, Some(href)) => Url::parse(&href).ok(),
        (page, None) => page,
    }
}

fn absolutize(href: &str, base: Option<&Url>) -> String {
    match base {
        Some(base) => base.join(href).map(String::from).unwrap_or_else(|_| href.to_string()),
        None => href.to_string(),
    }
}

fn links(doc: &Html, base: Option<&Url>) -> Vec<String> {
    let Ok(sel) = Selector::parse("a[href]") else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for a in doc.select(&sel) {
        let href = a.value().attr("href").unwrap_or("").trim();
        let lower = href.to_ascii_lowercase();
        if href.is_empty()
            || href.starts_with('#')
            || ["javascript:", "mailto:", "tel:", "data:"]
                .iter()
                .any(|p| lower.starts_with(p))
        {
            continue;
        }
        let link = absolutize(href, base);
        if seen.insert(link.clone()) {
            out.push(link);
        }
    }
    out
}

/// Elements whose text is never content.
const NEVER_TEXT: &[&str] = &[
    "script", "style", "noscript", "template", "nav", "svg", "iframe", "object", "canvas", "head",
];
/// Page chrome: skipped unless it sits inside the article itself (an article's own header holds
/// its headline).
const PAGE_CHROME: &[&str] = &["header", "footer", "aside"];
/// Elements that end a line of text.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "main",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "td",
    "th",
    "tr",
    "ul",
];

fn main_text(doc: &Html) -> String {
    let root = ["main", "article", "[role=\"main\"]", "body"]
        .iter()
        .filter_map(|css| Selector::parse(css).ok())
        .find_map(|sel| doc.select(&sel).next())
        .unwrap_or_else(|| doc.root_element());
    let root_in_article =
        matches!(root.value().name(), "main" | "article") || root.value().attr("role") == Some("main");

    let mut text = TextBuilder::default();
    // Iterative walk: a deeply nested page must not overflow the guest's small stack. A block
    // element breaks the line before its first child and again after its last (`Step::Break`).
    let mut pending = vec![Step::Enter(*root, root_in_article)];
    while let Some(step) = pending.pop() {
        let Step::Enter(node, in_article) = step else {
            text.line_break();
            continue;
        };
        match node.value() {
            Node::Text(t) => text.push(t),
            Node::Element(el) => {
                let name = el.name();
                if NEVER_TEXT.contains(&name)
                    || (!in_article && PAGE_CHROME.contains(&name))
                    || el.attr("hidden").is_some()
                    || el.attr("aria-hidden") == Some("true")
                {
                    continue;
                }
                let in_article = in_article || name == "article" || name == "main";
                if BLOCKS.contains(&name) {
                    text.line_break();
                    pending.push(Step::Break);
                }
                let first_child = pending.len();
                pending.extend(node.children().map(|c| Step::Enter(c, in_article)));
                pending[first_child..].reverse();
            }
            _ => {}
        }
    }
    text.finish()
}

enum Step<'a> {
    Enter(ego_tree::NodeRef<'a, Node>, bool),
    Break,
}

/// Collapses white space the way a browser renders it, one line per block.
#[derive(Default)]
struct TextBuilder {
    out: String,
    space_pending: bool,
}

impl TextBuilder {
    fn push(&mut self, s: &str) {
        if s.starts_with(char::is_whitespace) {
            self.space_pending = true;
        }
        let mut wrote = false;
        for word in s.split_whitespace() {
            if (wrote || self.space_pending) && !self.out.is_empty() && !self.out.ends_with('\n') {
                self.out.push(' ');
            }
            self.out.push_str(word);
            wrote = true;
        }
        if wrote {
            self.space_pending = s.ends_with(char::is_whitespace);
        }
    }

    fn line_break(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        self.space_pending = false;
    }

    fn finish(self) -> String {
        self.out.trim_end().to_string()
    }
}

/// Trims and collapses inner white space.
fn clean(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(target_arch = "wasm32")]
mod abi {
    //! The exports the host calls. Blocks handed to the host are leaked boxed slices; the host
    //! discards the whole instance after one call, so `dealloc` is a courtesy, not a necessity.

    /// Reserves `len` bytes for the host to write the input into.
    #[unsafe(no_mangle)]
    pub extern "C" fn alloc(len: i32) -> i32 {
        let block = vec![0u8; len.max(0) as usize].into_boxed_slice();
        Box::into_raw(block) as *mut u8 as i32
    }

    /// Frees a block returned by `alloc` or `extract`.
    ///
    /// # Safety
    /// `ptr` and `len` must describe a block this module handed out and not yet freed.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn dealloc(ptr: i32, len: i32) {
        let slice = core::ptr::slice_from_raw_parts_mut(ptr as *mut u8, len.max(0) as usize);
        // SAFETY: the caller passes back a block from `alloc`/`extract`, which are boxed slices.
        drop(unsafe { Box::from_raw(slice) });
    }

    /// Extracts the framed input at `ptr..ptr+len`; returns `(out_ptr << 32) | out_len`.
    ///
    /// # Safety
    /// `ptr..ptr+len` must lie in a block from `alloc` that the host filled.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn extract(ptr: i32, len: i32) -> i64 {
        // SAFETY: the host wrote `len` bytes at `ptr`, inside a block from `alloc`.
        let input = unsafe { core::slice::from_raw_parts(ptr as *const u8, len.max(0) as usize) };
        let out = super::extract_framed(input).into_bytes().into_boxed_slice();
        let out_len = out.len() as i64;
        let out_ptr = Box::into_raw(out) as *mut u8 as u32 as i64;
        (out_ptr << 32) | out_len
    }
}
