//! A page's links read natively, in one pass of html5ever's tokenizer: what a crawler mapping a
//! site needs (`riptide crawl --map`), without a tree and without the content pass.
//!
//! The guest's links-only mode still parsed each page into a tree, in a fresh wasm instance:
//! half the CPU of a `--map` crawl went to the guest and to making and unmapping instances.
//! A tokenizer reads the same tags in time linear in the page and memory bounded by its largest
//! tag, with no depth to recurse on, in safe Rust; what it reads is only strings that the
//! crawler parses as URLs anyway. The rules are the guest's (`wasm/extractor/src/links.rs`):
//! the first `<base href>`, `a[href]` and `area[href]` in document order without duplicates,
//! `rel=nofollow` per link, robots `<meta>`, `<link rel=canonical>` and the first non-empty
//! `<title>`.

use std::cell::RefCell;
use std::collections::HashSet;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts};
use url::Url;

use super::ExtractedContent;

/// Reads the links of `html` (and the robots directives, canonical URL and title a crawler
/// wants with them), resolved against `base_url` and the page's `<base href>`: the fields the
/// guest fills with [`ExtractOptions::links_only`](super::ExtractOptions::links_only), read
/// natively in one pass, with every other field empty.
///
/// ```
/// let page = riptide::extract::read_links(
///     r#"<title>Home</title><a href="/docs">Docs</a><a href="/ads" rel="nofollow">Ads</a>"#,
///     Some("https://example.com/"),
/// );
/// assert_eq!(page.links, ["https://example.com/docs", "https://example.com/ads"]);
/// assert_eq!(page.nofollow_links, ["https://example.com/ads"]);
/// assert_eq!(page.title.as_deref(), Some("Home"));
/// ```
pub fn read_links(html: &str, base_url: Option<&str>) -> ExtractedContent {
    let tokenizer = Tokenizer::new(Reader::default(), TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    // The sink never asks the tokenizer to pause (that is for scripts a tree builder runs).
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    tokenizer.sink.into_inner().finish(base_url)
}

/// What the tokens said, as written.
#[derive(Default)]
struct Found {
    base_href: Option<String>,
    /// `(href, rel=nofollow)` of each `a` and `area`, in document order.
    anchors: Vec<(String, bool)>,
    robots: Vec<String>,
    canonical: Option<String>,
    title: Option<String>,
    /// The text of the `<title>` being read, if one is.
    title_text: Option<String>,
    /// Open `<svg>` and `<math>` elements: inside them tags do not switch the tokenizer to
    /// raw text (an SVG `<style>` or `<script>` holds markup), as in the tree builder.
    foreign_depth: usize,
    /// Open `<template>` elements: their content is inert, outside the document, and no
    /// link of the page (a browser's DOM and the guest's do not show it either).
    template_depth: usize,
}

/// The tokenizer's sink (it hands tokens to `&self`, hence the cell).
#[derive(Default)]
struct Reader(RefCell<Found>);

impl Reader {
    fn into_inner(self) -> Found {
        self.0.into_inner()
    }
}

impl TokenSink for Reader {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut found = self.0.borrow_mut();
        match token {
            Token::TagToken(tag) => found.tag(&tag),
            Token::CharacterTokens(text) => {
                if let Some(title) = &mut found.title_text {
                    title.push_str(&text);
                }
                TokenSinkResult::Continue
            }
            _ => TokenSinkResult::Continue,
        }
    }
}

impl Found {
    /// Reads a tag, and tells the tokenizer how to read what follows it.
    fn tag(&mut self, tag: &Tag) -> TokenSinkResult<()> {
        let name: &str = &tag.name;
        if tag.kind == TagKind::EndTag {
            match name {
                "svg" | "math" => self.foreign_depth = self.foreign_depth.saturating_sub(1),
                "template" => self.template_depth = self.template_depth.saturating_sub(1),
                "title" => self.end_title(),
                _ => {}
            }
            return TokenSinkResult::Continue;
        }
        let attr = |wanted: &str| {
            tag.attrs
                .iter()
                .find(|a| a.name.ns.is_empty() && &*a.name.local == wanted)
                .map(|a| &*a.value)
        };
        if name == "template" && !tag.self_closing {
            self.template_depth += 1;
        }
        if self.template_depth > 0 {
            return self.content_model(tag);
        }
        match name {
            "a" | "area" => {
                if let Some(href) = attr("href") {
                    let nofollow = attr("rel")
                        .is_some_and(|rel| rel.split_ascii_whitespace().any(|r| r.eq_ignore_ascii_case("nofollow")));
                    self.anchors.push((href.trim().to_string(), nofollow));
                }
            }
            "base" if self.base_href.is_none() => self.base_href = attr("href").map(|h| h.trim().to_string()),
            "link" if self.canonical.is_none() => {
                if attr("rel").is_some_and(|rel| rel.eq_ignore_ascii_case("canonical"))
                    && let Some(href) = attr("href")
                {
                    self.canonical = Some(href.trim().to_string());
                }
            }
            "meta" => {
                if let (Some(meta), Some(content)) = (attr("name"), attr("content"))
                    && (meta.trim().eq_ignore_ascii_case("robots") || meta.trim().eq_ignore_ascii_case("riptide"))
                {
                    self.robots.extend(
                        content
                            .split(',')
                            .map(|d| d.trim().to_ascii_lowercase())
                            .filter(|d| !d.is_empty()),
                    );
                }
            }
            _ => {}
        }
        self.content_model(tag)
    }

    /// How the tokenizer reads what follows the start tag `tag`: the elements whose content is
    /// text, not markup, switch it (as the tree builder does).
    fn content_model(&mut self, tag: &Tag) -> TokenSinkResult<()> {
        let name: &str = &tag.name;
        if matches!(name, "svg" | "math") && !tag.self_closing {
            self.foreign_depth += 1;
        }
        if self.foreign_depth > 0 || tag.self_closing {
            return TokenSinkResult::Continue;
        }
        match name {
            "title" => {
                if self.template_depth == 0 {
                    self.title_text = Some(String::new());
                }
                TokenSinkResult::RawData(RawKind::Rcdata)
            }
            "textarea" => TokenSinkResult::RawData(RawKind::Rcdata),
            "script" => TokenSinkResult::RawData(RawKind::ScriptData),
            // Not `noscript`: read as a parser without scripting reads it (the guest's does),
            // its links are the ones a reader without JavaScript follows.
            "style" | "xmp" | "iframe" | "noembed" | "noframes" => TokenSinkResult::RawData(RawKind::Rawtext),
            "plaintext" => TokenSinkResult::Plaintext,
            _ => TokenSinkResult::Continue,
        }
    }

    fn end_title(&mut self) {
        if let Some(text) = self.title_text.take()
            && self.title.is_none()
        {
            let clean = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if !clean.is_empty() {
                self.title = Some(clean);
            }
        }
    }

    fn finish(mut self, base_url: Option<&str>) -> ExtractedContent {
        // A `<title>` the page never closed ends with it.
        self.end_title();
        let page = base_url.and_then(|u| Url::parse(u).ok());
        let base = match (page, self.base_href.as_deref()) {
            (Some(page), Some(href)) => page.join(href).ok().or(Some(page)),
            (None, Some(href)) => Url::parse(href).ok(),
            (page, None) => page,
        };
        let absolutize = |href: &str| match &base {
            Some(base) => base.join(href).map(String::from).unwrap_or_else(|_| href.to_string()),
            None => href.to_string(),
        };
        let (mut seen, mut followed) = (HashSet::new(), HashSet::new());
        let (mut links, mut nofollow_links) = (Vec::new(), Vec::new());
        for (href, nofollow) in &self.anchors {
            if href.is_empty() || href.starts_with('#') || !navigates(href) {
                continue;
            }
            let link = absolutize(href);
            if *nofollow {
                nofollow_links.push(link.clone());
            } else {
                followed.insert(link.clone());
            }
            if seen.insert(link.clone()) {
                links.push(link);
            }
        }
        // A crawler is told not to follow a link, not a URL: a target also linked without
        // `nofollow` is followed.
        let mut kept = HashSet::new();
        nofollow_links.retain(|link| !followed.contains(link) && kept.insert(link.clone()));
        ExtractedContent {
            title: self.title.clone(),
            raw_title: self.title,
            links,
            nofollow_links,
            robots: (!self.robots.is_empty()).then(|| self.robots.join(", ")),
            canonical_url: self.canonical.filter(|c| !c.is_empty()).map(|c| absolutize(&c)),
            ..ExtractedContent::default()
        }
    }
}

/// Whether a link leads to a page: not `javascript:`, `mailto:`, `tel:` or `data:`.
fn navigates(href: &str) -> bool {
    const NOT_PAGES: [&str; 4] = ["javascript:", "mailto:", "tel:", "data:"];
    !NOT_PAGES
        .iter()
        .any(|p| href.get(..p.len()).is_some_and(|start| start.eq_ignore_ascii_case(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "https://example.com/dir/page";

    #[test]
    fn reads_links_in_order_without_duplicates_and_marks_nofollow_per_target() {
        let read = read_links(
            r##"<a href="/a" rel="nofollow">a</a><a href="/b" rel="noopener NoFollow">b</a>
               <a href="/b">b again</a><a href=" c ">c</a><area href="/d" rel="nofollow">
               <a href="#top">top</a><a href="JavaScript:void(0)">js</a><a href="mailto:x@y">m</a>
               <a href="">empty</a><a>no href</a><a href="/e?x=1&amp;y=2">e</a>"##,
            Some(PAGE),
        );
        assert_eq!(
            read.links,
            [
                "https://example.com/a",
                "https://example.com/b",
                "https://example.com/dir/c",
                "https://example.com/d",
                "https://example.com/e?x=1&y=2",
            ]
        );
        assert_eq!(read.nofollow_links, ["https://example.com/a", "https://example.com/d"]);
    }

    #[test]
    fn markup_in_scripts_styles_comments_and_textareas_is_not_a_link_but_noscript_is() {
        let read = read_links(
            r#"<script>document.write('<a href="/s">s</a>')</script><style>a[href="/t"]{}</style>
               <!-- <a href="/c">c</a> --><textarea><a href="/x">x</a></textarea>
               <noscript><a href="/n">n</a></noscript><a href="/real">real</a>"#,
            Some(PAGE),
        );
        assert_eq!(read.links, ["https://example.com/n", "https://example.com/real"]);
    }

    #[test]
    fn svg_content_is_markup_and_its_links_count() {
        let read = read_links(
            r#"<svg><style><a href="/in-svg-style">x</a></style><a href="/svg">s</a></svg><a href="/after">a</a>"#,
            Some(PAGE),
        );
        assert_eq!(
            read.links,
            [
                "https://example.com/in-svg-style",
                "https://example.com/svg",
                "https://example.com/after"
            ]
        );
    }

    #[test]
    fn template_content_is_not_part_of_the_page() {
        let read = read_links(
            r#"<template><a href="/t">t</a><template><a href="/tt">tt</a></template><title>no</title></template>
               <a href="/page">p</a><title>yes</title>"#,
            Some(PAGE),
        );
        assert_eq!(read.links, ["https://example.com/page"]);
        assert_eq!(read.title.as_deref(), Some("yes"));
    }

    #[test]
    fn the_first_base_href_applies_to_every_link_even_those_before_it() {
        let read = read_links(
            r#"<a href="early">e</a><base href="https://cdn.example.org/root/"><base href="/ignored/">
               <a href="late">l</a>"#,
            Some(PAGE),
        );
        assert_eq!(
            read.links,
            [
                "https://cdn.example.org/root/early",
                "https://cdn.example.org/root/late"
            ]
        );
    }

    #[test]
    fn reads_robots_canonical_and_the_first_non_empty_title() {
        let read = read_links(
            r#"<head><title>  </title><title> Hello &amp;
               <b>world</b> </title><meta name="Robots" content="NOINDEX, follow">
               <meta name="riptide" content="nofollow"><meta name="googlebot" content="noarchive">
               <link rel="Canonical" href="/canonical"><link rel="canonical" href="/second">"#,
            Some(PAGE),
        );
        assert_eq!(read.title.as_deref(), Some("Hello & <b>world</b>"));
        assert_eq!(read.raw_title, read.title);
        assert_eq!(read.robots.as_deref(), Some("noindex, follow, nofollow"));
        assert_eq!(read.canonical_url.as_deref(), Some("https://example.com/canonical"));
        assert!(read.text.is_empty() && read.markdown.is_none());
    }

    #[test]
    fn without_a_base_links_stay_as_written_and_nothing_panics_on_broken_markup() {
        let read = read_links(
            r#"<a href="rel/x">x</a><a href="https://a.example/">a</a><title>t"#,
            None,
        );
        assert_eq!(read.links, ["rel/x", "https://a.example/"]);
        assert_eq!(read.title.as_deref(), Some("t"));
        for broken in [
            "<a href",
            "<a href='",
            "<!--",
            "<title>",
            "<svg><a href=/x",
            "<plaintext><a href=/p>",
            "\u{0}",
        ] {
            let _ = read_links(broken, Some(PAGE));
        }
        assert_eq!(
            read_links("<plaintext><a href=/p>", Some(PAGE)).links,
            Vec::<String>::new()
        );
    }

    #[test]
    fn deep_nesting_is_read_without_recursion() {
        let html = format!("{}<a href=\"/deep\">d</a>", "<div><b>".repeat(100_000));
        assert_eq!(read_links(&html, Some(PAGE)).links, ["https://example.com/deep"]);
    }
}
