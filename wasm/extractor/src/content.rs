//! The main content of a page, and what to give when a page has none.
//!
//! Readability's scoring ([`dom_smoothie`]) finds the article on most pages; it fails in known
//! ways: it keeps boilerplate that sits inside the article's container (share bars, "related"
//! lists, newsletter boxes), it leaves out the lead beside the headline, it takes a long author
//! box or form for a short article, and on pages that are not articles it picks one block of
//! many or nothing. So, like trafilatura, the result is checked: never-content blocks are
//! removed from the page first and boilerplate from the article after
//! ([`crate::boilerplate`]); the lead is put back; a short result gives way to a baseline (the
//! page's JSON-LD `articleBody`, else its blocks of running text) when that is over twice as
//! long; a page with no article gives its visible text, marked `is_article: false`, and no page
//! with text gives an empty result.

use crate::css::{SelectParsed, first_parsed};
use dom_query::{Document, NodeRef, Selection};
use dom_smoothie::Readability;

use crate::Options;
use crate::boilerplate;
use crate::page_tags::PageTags;

/// The main content, in the forms asked for.
#[derive(Debug, Default)]
pub struct MainContent {
    /// Plain text, blocks separated by blank lines.
    pub text: String,
    /// Markdown, when asked for.
    pub markdown: Option<String>,
    /// Cleaned HTML, when asked for.
    pub html: Option<String>,
    /// Whether the page read as an article.
    pub is_article: bool,
    /// The byline Readability found in the content (it takes it out of the text).
    pub byline: Option<String>,
    /// The content's first paragraph: the excerpt when the page has no description.
    pub first_paragraph: Option<String>,
}

/// Below this many characters a Readability result is checked against the baseline.
const SHORT_ARTICLE_CHARS: usize = 1500;

/// Below this many characters a Readability result is not taken as the page's article.
const MIN_ARTICLE_CHARS: usize = 200;

impl MainContent {
    /// Finds the main content of the page `reader` holds, given the `metadata` Readability read
    /// from it and its `tags`, both before anything changed it. Consumes the reader: Readability
    /// rewrites its document.
    pub fn find(
        mut reader: Readability,
        metadata: dom_smoothie::Metadata,
        tags: &PageTags,
        html: &str,
        options: Options,
    ) -> MainContent {
        let readable = reader.is_probably_readable() || declares_one_article(&reader.doc, tags);
        boilerplate::remove_banners(&reader.doc);
        let lead = lead_paragraph(&reader.doc);
        match reader.parse_with_metadata(metadata) {
            Ok(article) if readable || article.length >= MIN_ARTICLE_CHARS => {
                // Readability leaves the article in its document, under `#readability-page-1`:
                // cleaned there, not parsed again from `article.content`.
                let doc = &reader.doc;
                let Some(root) = first_parsed(doc, "#readability-page-1") else {
                    return Self::visible_text(html, options);
                };
                boilerplate::remove(&root);
                // The article's markup is read only for Markdown and HTML.
                let markup = options.markdown || options.content_html;
                if markup {
                    Selection::from(root).select_parsed("[class]").remove_attr("class");
                }
                let mut text = root.formatted_text().trim().to_string();
                // Readability often leaves out the standfirst, which sits in the page's header
                // beside the headline rather than in the article's body.
                if let Some(lead) = lead.filter(|l| !crate::clean(&text).contains(l.as_str())) {
                    if markup && let Some(first) = root.first_element_child() {
                        first.before_html(format!("<p>{}</p>", escape(&lead)));
                    }
                    text = format!("{lead}\n\n{text}");
                }
                let chars = text.chars().count();
                if chars < SHORT_ARTICLE_CHARS
                    && let Some(fallback) = baseline(html)
                    && fallback.chars().count() > 2 * chars
                {
                    return MainContent {
                        markdown: options.markdown.then(|| fallback.clone()),
                        html: options.content_html.then(|| paragraphs_html(&fallback)),
                        text: fallback,
                        is_article: true,
                        byline: article.byline,
                        first_paragraph: article.excerpt,
                    };
                }
                if text.is_empty() {
                    // Cleaning left nothing and no baseline stands in: never an empty result
                    // for a page that has text.
                    return MainContent {
                        byline: article.byline,
                        first_paragraph: article.excerpt,
                        ..Self::visible_text(html, options)
                    };
                }
                MainContent {
                    text,
                    markdown: options.markdown.then(|| root.md(None).trim().to_string()),
                    html: options.content_html.then(|| root.html().to_string()),
                    is_article: true,
                    byline: article.byline,
                    first_paragraph: article.excerpt,
                }
            }
            Ok(article) => MainContent {
                byline: article.byline,
                first_paragraph: article.excerpt,
                ..Self::visible_text(html, options)
            },
            Err(_) => Self::visible_text(html, options),
        }
    }

    /// A page that is not an article: its visible text, without scripts, styles and hidden
    /// parts.
    pub(crate) fn visible_text(html: &str, options: Options) -> MainContent {
        let doc = crate::nesting::parse(html);
        // `noscript` stays: parsed as a browser without scripts does, it can hold the page.
        doc.select_parsed(
            "script, style, template, svg, iframe, object, canvas, head, rt, rp, [hidden], [aria-hidden=\"true\"]",
        )
        .remove();
        let Some(body) = doc.body().or_else(|| doc.root().first_element_child()) else {
            return MainContent::default();
        };
        MainContent {
            text: body.formatted_text().trim().to_string(),
            markdown: options.markdown.then(|| body.md(None).trim().to_string()),
            html: options.content_html.then(|| body.html().to_string()),
            is_article: false,
            byline: None,
            first_paragraph: first_paragraph(&body),
        }
    }
}

/// The page says it is one article: `og:type` `article`, or a single `<article>` element
/// (listings have one per teaser).
fn declares_one_article(doc: &Document, tags: &PageTags) -> bool {
    let og_article = tags.select(doc, "meta[property=\"og:type\"]").any(|m| {
        m.attr("content")
            .is_some_and(|c| c.trim().eq_ignore_ascii_case("article"))
    });
    og_article || tags.select(doc, "article").take(2).count() == 1
}

fn first_paragraph(root: &NodeRef) -> Option<String> {
    root.find(&["p"])
        .iter()
        .map(|p| crate::clean(&p.text()))
        .find(|t| t.chars().count() >= 40)
}

/// trafilatura's baseline: the page's JSON-LD `articleBody` when it has one, else every block
/// of running text outside page chrome and named boilerplate (paragraphs, and the `div`s, cells
/// and list items that hold text directly, as forums and tickers write it). Used when
/// Readability's result is much shorter: it picked one block of an article split in several.
fn baseline(html: &str) -> Option<String> {
    let doc = crate::nesting::parse(html);
    if let Some(body) = json_ld_article_body(&doc) {
        return Some(body);
    }
    doc.select_parsed("script, style, template, head, nav, header, footer, aside, form, [hidden]")
        .remove();
    let body = doc.body()?;
    boilerplate::remove(&body);
    let mut seen = std::collections::HashSet::new();
    let mut out = String::new();
    for block in doc.select_parsed("p, pre, blockquote, q, div, td, li, dd").nodes() {
        let is_paragraph = matches!(block.node_name().as_deref(), Some("p" | "pre" | "blockquote" | "q"));
        if !is_paragraph && !holds_text_only(block) {
            continue;
        }
        let text = crate::clean(&block.text());
        let min = if is_paragraph { 25 } else { 80 };
        if text.chars().count() < min || !seen.insert(text.clone()) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(&text);
    }
    (!out.is_empty()).then_some(out)
}

/// Whether `node` holds text and inline markup only: a block of running text, not a container.
fn holds_text_only(node: &NodeRef) -> bool {
    node.element_children().iter().all(|c| {
        matches!(
            c.node_name().as_deref(),
            Some(
                "a" | "span"
                    | "strong"
                    | "b"
                    | "em"
                    | "i"
                    | "u"
                    | "small"
                    | "br"
                    | "mark"
                    | "sup"
                    | "sub"
                    | "abbr"
                    | "cite"
                    | "code"
                    | "time"
                    | "font"
            )
        )
    })
}

/// The longest `articleBody` of the page's JSON-LD, if any.
fn json_ld_article_body(doc: &Document) -> Option<String> {
    fn find(value: &serde_json::Value, best: &mut Option<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, v) in map {
                    if key == "articleBody"
                        && let Some(text) = v.as_str()
                        && best.as_ref().is_none_or(|b| b.len() < text.len())
                    {
                        *best = Some(text.trim().to_string());
                    }
                    find(v, best);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| find(v, best)),
            _ => {}
        }
    }
    let mut best = None;
    for script in doc.select_parsed("script[type=\"application/ld+json\"]").nodes() {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(script.text().trim()) {
            find(&value, &mut best);
        }
    }
    best.filter(|b| b.chars().count() >= 200)
}

/// The article's lead (standfirst, intro, subtitle) as sites name it: the first such block
/// after the headline and outside page chrome, 40 to 800 characters long.
fn lead_paragraph(doc: &Document) -> Option<String> {
    const NAMES: &[&str] = &[
        "lead",
        "intro",
        "subtitle",
        "subline",
        "chapo",
        "abstract",
        "standfirst",
        "summary",
        "bajada",
        "dek",
    ];
    let h1 = first_parsed(doc, "h1").map(|h| h.id);
    for node in doc.select_parsed("p[class], div[class], h2[class]").nodes() {
        // Node ids follow document order: the parser creates nodes as it reads.
        if h1.is_some_and(|h| node.id < h) {
            continue;
        }
        let class = node.attr("class").unwrap_or_default().to_ascii_lowercase();
        let named = class
            .split_whitespace()
            .any(|t| NAMES.iter().any(|n| t.split(['-', '_']).any(|w| w == *n)));
        if !named {
            continue;
        }
        let in_chrome = node.ancestors(None).iter().any(|a| {
            matches!(a.node_name().as_deref(), Some("aside" | "nav" | "footer"))
                || a.attr("class").is_some_and(|c| {
                    let c = c.to_ascii_lowercase();
                    c.contains("sidebar") || c.contains("related") || c.contains("teaser-list")
                })
        });
        let text = crate::clean(&node.text());
        let chars = text.chars().count();
        if !in_chrome && (40..=800).contains(&chars) {
            return Some(text);
        }
    }
    None
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

/// Plain paragraphs as HTML, escaped.
fn paragraphs_html(text: &str) -> String {
    let mut out = String::new();
    for p in text.split("\n\n") {
        out.push_str("<p>");
        out.push_str(&escape(p));
        out.push_str("</p>");
    }
    out
}
