//! riptide's guest extractor: HTML in, JSON content out.
//!
//! This crate is compiled to a plain core WebAssembly module (`wasm32-unknown-unknown`, no WASI,
//! no component model) so that every engine riptide supports runs the same bytes unchanged. It is
//! also built natively as an rlib: the host's tests compare the committed module's output with
//! this code run natively, which proves `wasm/riptide_extractor.wasm` is current.
//!
//! # What it does
//! One parse of the page ([`dom_query`], html5ever underneath; a page nested deeper than any
//! real one is flattened first, [`nesting`]), then:
//! - [`metadata`]: title, byline, dates, site name, language, description, lead image, from
//!   every source the page offers (JSON-LD, OpenGraph, Twitter cards, `<meta>`, `<time>`,
//!   `rel=author`, `<html lang>`), best source first;
//! - [`content`]: the main content. A Readability pass ([`dom_smoothie`]) on a copy cleaned of
//!   common boilerplate ([`boilerplate`]), checked against a paragraph-density baseline and the
//!   page's JSON-LD `articleBody`, the way trafilatura checks its result against fallbacks.
//!   Pages that are not articles (home pages, listings, app shells) give their visible text and
//!   `is_article: false`, never an empty result when the page has text;
//! - the content as plain text, as Markdown, and (on request) as cleaned HTML; the page's links.
//!
//! # ABI
//! - `memory`: the module's linear memory.
//! - `alloc(len: i32) -> i32`: reserve `len` bytes for the input; the host writes there.
//! - `dealloc(ptr: i32, len: i32)`: release a block from `alloc` or an output block.
//! - `extract(ptr: i32, len: i32) -> i64`: read the input at `ptr..ptr+len`, return
//!   `(out_ptr << 32) | out_len` of UTF-8 JSON.
//!
//! The input is framed as a little-endian `u32` URL length, the URL bytes (empty for none), a
//! little-endian `u32` of [`Options`] bits, then the HTML bytes. The output is an [`Extracted`]
//! object, or `{"error": "..."}` when the input cannot be framed.

pub mod boilerplate;
pub mod content;
mod css;
pub mod links;
pub mod metadata;
pub mod nesting;
pub mod page_tags;

use std::borrow::Cow;
use std::collections::BTreeMap;

use dom_query::Document;
use dom_smoothie::{Config, Readability, TextMode};
use page_tags::PageTags;
use serde::{Deserialize, Serialize};
use url::Url;

/// What the extractor finds in one page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extracted {
    /// The article's title, cleaned of the site's name the way Readability does
    /// (`"Story | Site"` gives `"Story"`); else the page's `<title>`.
    pub title: Option<String>,
    /// The page's `<title>` as written (white space collapsed).
    pub raw_title: Option<String>,
    /// The main content as plain text: one paragraph per block, blocks separated by a blank line.
    pub text: String,
    /// The main content as Markdown (headings, lists, links, emphasis, code, quotes, tables,
    /// images); `None` when not asked for or when there is no content.
    pub markdown: Option<String>,
    /// The main content as cleaned HTML; `None` unless asked for.
    pub content_html: Option<String>,
    /// Whether the page reads as an article (one main text). `false` for home pages, listings,
    /// search results and app shells, whose visible text is returned instead.
    pub is_article: bool,
    /// Words in `text` (runs of letters and digits; each CJK character counts as one).
    pub word_count: usize,
    /// Link targets in document order, without duplicates; absolute when a base URL is known.
    pub links: Vec<String>,
    /// The targets among `links` that the page links to only with `rel="nofollow"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nofollow_links: Vec<String>,
    /// The page's robots directives (`<meta name="robots">` and `<meta name="riptide">`),
    /// lowercased and comma-separated, e.g. `"noindex, nofollow"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub robots: Option<String>,
    /// The page's summary: its description metadata, else the content's first paragraph.
    pub description: Option<String>,
    /// `<link rel="canonical">`, else `og:url`, absolute when a base URL is known.
    pub canonical_url: Option<String>,
    /// The content's language: `<html lang>`, else `Content-Language` or `og:locale`.
    pub language: Option<String>,
    /// The author(s): JSON-LD `author`, `<meta name="author">`, `rel=author`, a byline element.
    pub author: Option<String>,
    /// When it was published, RFC 3339 when the source can be read as a date.
    pub published_time: Option<String>,
    /// When it was last changed, RFC 3339 when the source can be read as a date.
    pub modified_time: Option<String>,
    /// The site's name (`og:site_name`, JSON-LD publisher, ...).
    pub site_name: Option<String>,
    /// The lead image (`og:image`, JSON-LD `image`, `twitter:image`), absolute when possible.
    pub image: Option<String>,
    /// Every `og:*` property, keyed without the `og:` prefix.
    pub open_graph: BTreeMap<String, String>,
}

/// What the caller asks for beyond the always-present fields: bits of the input's option word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// Fill [`Extracted::markdown`].
    pub markdown: bool,
    /// Fill [`Extracted::content_html`].
    pub content_html: bool,
    /// Only what a crawler mapping a site needs: the links (and which are `nofollow`), the
    /// robots directives, the canonical URL and the `<title>`; no content pass.
    pub links_only: bool,
}

impl Options {
    const MARKDOWN: u32 = 1;
    const CONTENT_HTML: u32 = 2;
    const LINKS_ONLY: u32 = 4;

    /// The option word as framed.
    pub fn bits(self) -> u32 {
        (if self.markdown { Self::MARKDOWN } else { 0 })
            | (if self.content_html { Self::CONTENT_HTML } else { 0 })
            | (if self.links_only { Self::LINKS_ONLY } else { 0 })
    }

    /// Reads an option word; unknown bits are ignored so newer hosts can ask older guests.
    pub fn from_bits(bits: u32) -> Options {
        Options {
            markdown: bits & Self::MARKDOWN != 0,
            content_html: bits & Self::CONTENT_HTML != 0,
            links_only: bits & Self::LINKS_ONLY != 0,
        }
    }
}

/// A framed input, split. It borrows the input: a page that is valid UTF-8 (every page the host
/// sends) is neither copied nor re-encoded.
#[derive(Debug)]
pub struct Input<'a> {
    /// The page's URL, if given.
    pub url: Option<Cow<'a, str>>,
    /// What to produce.
    pub options: Options,
    /// The page.
    pub html: Cow<'a, str>,
}

/// Splits the framed input into the base URL (if any), the options and the HTML.
pub fn decode_input(input: &[u8]) -> Result<Input<'_>, String> {
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
    let (url, rest) = rest.split_at(url_len);
    let Some((option_bytes, html)) = rest.split_first_chunk::<4>() else {
        return Err("input ends before its 4-byte option word".to_string());
    };
    Ok(Input {
        url: (!url.is_empty()).then(|| utf8_or_replaced(url)),
        options: Options::from_bits(u32::from_le_bytes(*option_bytes)),
        html: utf8_or_replaced(html),
    })
}

/// `bytes` as text, borrowed when valid UTF-8; else with U+FFFD for each invalid sequence.
/// `str::from_utf8` first: its ASCII fast path validates a page several times faster than
/// `from_utf8_lossy`'s chunked walk.
fn utf8_or_replaced(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Frames `html`, an optional base URL and the options as the module's `extract` expects them.
pub fn encode_input(html: &str, base_url: Option<&str>, options: Options) -> Vec<u8> {
    let url = base_url.unwrap_or("");
    let mut out = Vec::with_capacity(8 + url.len() + html.len());
    out.extend_from_slice(&(url.len() as u32).to_le_bytes());
    out.extend_from_slice(url.as_bytes());
    out.extend_from_slice(&options.bits().to_le_bytes());
    out.extend_from_slice(html.as_bytes());
    out
}

/// Runs the whole extraction on framed input and returns the JSON reply, exactly as the WASM
/// module's `extract` export does.
pub fn extract_framed(input: &[u8]) -> String {
    match decode_input(input) {
        Ok(input) => serde_json::to_string(&extract_with(&input.html, input.url.as_deref(), input.options))
            .unwrap_or_else(|e| error_json(&e.to_string())),
        Err(e) => error_json(&e),
    }
}

fn error_json(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

/// Extracts title, main text (and Markdown), links and metadata from `html`.
pub fn extract(html: &str, base_url: Option<&str>) -> Extracted {
    extract_with(
        html,
        base_url,
        Options {
            markdown: true,
            content_html: false,
            links_only: false,
        },
    )
}

/// [`extract`] producing exactly what `options` asks for.
pub fn extract_with(html: &str, base_url: Option<&str>, options: Options) -> Extracted {
    // Every parse below reads the page as flattened here.
    let html = nesting::flatten(html);
    let html = html.as_ref();
    let doc = nesting::parse(html);
    let tags = PageTags::find(&doc);
    let base = links::effective_base(&doc, &tags, base_url);
    if options.links_only {
        return links_only(&doc, &tags, base.as_ref());
    }
    // Readability wants an absolute URL or none; it resolves the content's links against it.
    let reader_url = base.as_ref().filter(|u| u.has_host()).map(Url::as_str);
    let config = Config {
        // The content's text is made after cleaning; Readability's own copy only sizes it.
        text_mode: TextMode::Raw,
        // The content's classes name its boilerplate; `content` removes them once it has read them.
        keep_classes: true,
        // `content` reads the article from the document; the serialized copy would go unread.
        serialize_content: false,
        ..Config::default()
    };
    // dom_smoothie refuses only a URL it does not take as absolute; the page is read without one.
    let (reader, tags) = match Readability::with_document(doc, reader_url, Some(config.clone())) {
        Ok(reader) => (reader, tags),
        Err(_) => {
            let doc = nesting::parse(html);
            let tags = PageTags::find(&doc);
            match Readability::with_document(doc, None, Some(config)) {
                Ok(reader) => (reader, tags),
                Err(_) => return Extracted::visible_text_only(html, options),
            }
        }
    };
    // Read from the page as parsed, before the content pass rewrites it.
    let (links, nofollow_links) = links::links(&reader.doc, &tags, base.as_ref());
    let robots = links::robots_directives(&reader.doc, &tags);
    let (meta, read_by_readability) = metadata::Metadata::read(&reader, &tags, base.as_ref());
    let main = content::MainContent::find(reader, read_by_readability, &tags, html, options);

    let text = tidy_lines(&main.text);
    Extracted {
        title: meta.title.clone().or_else(|| meta.raw_title.clone()),
        raw_title: meta.raw_title,
        word_count: count_words(&text),
        description: meta.description.or(main.first_paragraph),
        text,
        markdown: main.markdown.filter(|m| !m.is_empty()),
        content_html: main.html,
        is_article: main.is_article,
        links,
        nofollow_links,
        robots,
        canonical_url: meta.canonical_url,
        language: meta.language,
        author: main.byline.or(meta.author),
        published_time: meta.published_time,
        modified_time: meta.modified_time,
        site_name: meta.site_name,
        image: meta.image,
        open_graph: meta.open_graph,
    }
}

/// What a crawler mapping a site reads from a page, without the content pass.
fn links_only(doc: &Document, tags: &PageTags, base: Option<&Url>) -> Extracted {
    let (links, nofollow_links) = links::links(doc, tags, base);
    let raw_title = tags
        .select(doc, "title")
        .map(|t| clean(&t.text()))
        .find(|t| !t.is_empty());
    let canonical_url = tags
        .select(doc, "link[rel=\"canonical\"]")
        .find_map(|l| l.attr("href").map(|h| h.trim().to_string()))
        .filter(|h| !h.is_empty())
        .map(|h| links::absolutize(&h, base));
    Extracted {
        title: raw_title.clone(),
        raw_title,
        links,
        nofollow_links,
        robots: links::robots_directives(doc, tags),
        canonical_url,
        ..Extracted::default()
    }
}

impl Extracted {
    /// The page's visible text alone, for a page Readability refuses to read (it refuses only
    /// a URL it does not take as absolute, and the page is then read without one, so this is a
    /// guard that keeps every input from panicking the guest, not a path taken today).
    fn visible_text_only(html: &str, options: Options) -> Extracted {
        let main = content::MainContent::visible_text(html, options);
        Extracted {
            word_count: count_words(&main.text),
            text: main.text,
            markdown: main.markdown,
            content_html: main.html,
            ..Extracted::default()
        }
    }
}

/// Lines without trailing spaces, at most one blank line between blocks.
fn tidy_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = false;
    for line in text.lines().map(str::trim_end) {
        if line.trim().is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank { "\n\n" } else { "\n" });
        }
        out.push_str(line);
        blank = false;
    }
    out
}

/// Words as [`Extracted::word_count`] counts them.
pub fn count_words(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut count = 0;
    let mut in_word = false;
    let mut at = 0;
    while let Some(&b) = bytes.get(at) {
        // Most text is ASCII: read as bytes, with no unspaced script and a cheaper test for letters.
        let alphanumeric = if b.is_ascii() {
            at += 1;
            b.is_ascii_alphanumeric()
        } else {
            // `at` is always on a character boundary: it moves by whole characters.
            let Some(c) = text.get(at..).and_then(|rest| rest.chars().next()) else {
                break;
            };
            at += c.len_utf8();
            if is_unspaced_script(c) {
                count += 1;
                in_word = false;
                continue;
            }
            c.is_alphanumeric()
        };
        if alphanumeric && !in_word {
            count += 1;
        }
        in_word = alphanumeric;
    }
    count
}

/// Scripts written without spaces between words: each character counts as a word.
fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0E7F     // Thai
        | 0x3040..=0x30FF   // Hiragana, Katakana
        | 0x3400..=0x4DBF   // CJK Extension A
        | 0x4E00..=0x9FFF   // CJK Unified Ideographs
        | 0xAC00..=0xD7AF   // Hangul syllables
        | 0xF900..=0xFAFF) // CJK Compatibility Ideographs
}

/// Trims and collapses inner white space.
pub(crate) fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(target_arch = "wasm32")]
#[allow(
    unreachable_pub,
    reason = "`no_mangle` exports them as the module's ABI, whatever the module's visibility"
)]
mod abi {
    //! The exports the host calls. Blocks handed to the host are leaked boxed slices, which the
    //! host gives back with `dealloc` before it runs the next page in the same instance.

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

#[cfg(test)]
mod links_only_tests {
    use super::*;

    #[test]
    fn links_only_reads_what_a_crawler_follows_and_nothing_else() {
        let html = r#"<html><head><title> Map me </title><link rel="canonical" href="/canon">
            <meta name="robots" content="noindex"></head><body><article><p>A long paragraph of
            text that a content pass would keep as the article's body.</p></article>
            <a href="/a">a</a><a href="/b" rel="nofollow">b</a></body></html>"#;
        let options = Options {
            links_only: true,
            ..Options::default()
        };
        let page = extract_with(html, Some("https://example.com/x/"), options);
        assert_eq!(page.title.as_deref(), Some("Map me"));
        assert_eq!(page.links, ["https://example.com/a", "https://example.com/b"]);
        assert_eq!(page.nofollow_links, ["https://example.com/b"]);
        assert_eq!(page.robots.as_deref(), Some("noindex"));
        assert_eq!(page.canonical_url.as_deref(), Some("https://example.com/canon"));
        assert!(page.text.is_empty() && page.markdown.is_none(), "no content pass");
        assert_eq!(Options::from_bits(options.bits()), options);
    }
}

#[cfg(test)]
mod count_words_tests {
    use super::*;

    #[test]
    fn words_are_counted_as_characters_would_count_them() {
        // The reference: the same rule, one decoded character at a time.
        fn reference(text: &str) -> usize {
            let (mut count, mut in_word) = (0, false);
            for c in text.chars() {
                if is_unspaced_script(c) {
                    count += 1;
                    in_word = false;
                    continue;
                }
                let alphanumeric = c.is_alphanumeric();
                count += usize::from(alphanumeric && !in_word);
                in_word = alphanumeric;
            }
            count
        }
        for text in [
            "",
            "one",
            "one two  three",
            "don't stop-here, 3.14 x",
            "naïve café Ünïcode",
            "日本語のテキスト and words",
            "ไทย ภาษา",
            "mixed\u{a0}spaces\u{3000}here",
            "é",
            "a—b…c",
        ] {
            assert_eq!(count_words(text), reference(text), "{text:?}");
        }
        assert_eq!(count_words("one two  three"), 3);
        assert_eq!(count_words("日本 x"), 3);
    }
}
