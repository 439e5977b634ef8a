//! Common boilerplate, removed before the content pass: the blocks every site puts around and
//! inside its articles (share bars, "related" and "most read" lists, newsletter and cookie
//! boxes, comment threads, tag clouds, breadcrumbs, rating widgets, author boxes, ads).
//!
//! They are found by the words sites name them with in `class` and `id`, the way trafilatura's
//! discard rules do. Readability alone keeps such blocks when they sit inside the article's
//! container, which is where most of them are. A match is only removed when it is a small
//! part of the page: a site that names its whole layout `comments-enabled` keeps its text.

use dom_query::{Document, NodeRef, Selection};

/// Names (parts of a `class` or `id` token) that mark boilerplate wherever they appear.
const ANYWHERE: &[&str] = &[
    "related",
    "newsletter",
    "cookie",
    "consent",
    "breadcrumb",
    "social",
    "shariff",
    "sharing",
    "share",
    "comment",
    "subscri",
    "advert",
    "recommend",
    "popular",
    "rating",
    "tagcloud",
    "tag-cloud",
    "widget",
    "sidebar",
    "pagination",
    "paywall",
    "promo",
    "sponsor",
    "signup",
    "modal",
    "popup",
    "author-bio",
    "authorbio",
    "author-box",
    "authorbox",
    "about-author",
    "more-stories",
    "read-more",
    "readmore",
    "teaser",
    "trending",
    "most-read",
    "mostread",
    "outbrain",
    "taboola",
    "disqus",
];

/// Names that mark boilerplate only as a whole token, or as its first word (`nav`, `nav-main`).
const WHOLE_WORDS: &[&str] = &[
    "nav",
    "navbar",
    "navigation",
    "menu",
    "footer",
    "tags",
    "tag",
    "ad",
    "ads",
    "print",
    "meta",
    "toolbar",
];

/// Elements that are page chrome by their name.
const CHROME_TAGS: &str =
    "nav, aside, footer, form, [role=\"navigation\"], [role=\"complementary\"], [role=\"contentinfo\"]";

/// Inside an article: ruby annotations (readings printed above CJK text), picture captions and
/// credits, dates, and blocks that are mostly links
/// (lists of related stories, "read also: ..." lines).
const CONTENT_CHROME: &str =
    "rt, rp, figcaption, time, [class*=\"caption\"], [class*=\"credit\"], [class*=\"copyright\"], [class*=\"date\"]";

/// Names of blocks removed from the whole page before the content pass: blocks that are never
/// the article, and that Readability takes for it when the article is short.
const PAGE_WIDE: &[&str] = &[
    "cookie",
    "consent",
    "gdpr",
    "newsletter",
    "subscri",
    "author-bio",
    "authorbio",
    "author-box",
    "authorbox",
    "about-author",
    "author-info",
    "author-description",
    "comment",
    "respond",
    "disqus",
    "related",
    "breadcrumb",
    "share",
    "sharing",
    "social",
];

/// An element holding more than this share of the page's text is never removed.
const MAX_SHARE: f64 = 0.4;

/// Removes cookie and consent banners from the whole page, before the content pass: they are
/// never content, and on a short page Readability can take one for the article.
pub fn remove_banners(doc: &Document) {
    let Some(body) = doc.body() else { return };
    let page_chars = text_chars(&body).max(1) as f64;
    for node in doc.select("form, [class], [id]").nodes() {
        let never_content = node.node_name().as_deref() == Some("form")
            || name_tokens(node)
                .iter()
                .any(|t| PAGE_WIDE.iter().any(|w| contains(t, w)));
        if !never_content {
            continue;
        }
        // Share of the page is no guard here (on a short article the author box can be half
        // the page); holding the headline or the article is.
        let holds_article = is_protected(node)
            || !Selection::from(*node)
                .select("h1, article, main, [role=\"main\"]")
                .is_empty()
            || (text_chars(node) as f64) / page_chars > 0.8
            || holds_running_text(node);
        if !holds_article {
            node.remove_from_parent();
        }
    }
}

/// Removes boilerplate blocks from the content under `root`.
pub fn remove(root: &NodeRef) {
    for (_, node) in candidates(root) {
        node.remove_from_parent();
    }
    remove_orphans(root);
}

/// Blocks that are left without what they introduced once a list of links is gone ("Read
/// also:", "More on this topic"), and copyright lines.
fn remove_orphans(root: &NodeRef) {
    let blocks = Selection::from(*root).select("h2, h3, h4, h5, h6, p, div, strong, b");
    for node in blocks.nodes().iter().rev() {
        let text = crate::clean(&node.text());
        let chars = text.chars().count();
        if chars == 0 {
            continue;
        }
        let copyright = chars < 200 && (text.starts_with('©') || text.to_lowercase().starts_with("copyright"));
        let is_label = chars <= 60
            && (text.ends_with(':') || matches!(node.node_name().as_deref(), Some("h2" | "h3" | "h4" | "h5" | "h6")))
            && only_inline_children(node);
        let introduces_nothing = node.next_element_sibling().is_none_or(|next| {
            matches!(
                next.node_name().as_deref(),
                Some("h1" | "h2" | "h3" | "h4" | "h5" | "h6")
            )
        });
        if copyright || (is_label && introduces_nothing) {
            node.remove_from_parent();
        }
    }
}

/// The blocks [`remove`] takes out, each with the rule that matched it.
#[doc(hidden)]
pub fn candidates<'a>(root: &NodeRef<'a>) -> Vec<(&'static str, NodeRef<'a>)> {
    let page_chars = text_chars(root).max(1) as f64;
    let within = Selection::from(*root);
    let mut found = Vec::new();
    for node in within.select(CHROME_TAGS).nodes() {
        found.push(("page-chrome", *node));
    }
    for node in within.select("[class], [id]").nodes() {
        if let Some(rule) = boilerplate_name(node)
            && !holds_running_text(node)
        {
            found.push((rule, *node));
        }
    }
    for node in within.select(CONTENT_CHROME).nodes() {
        found.push(("caption-or-date", *node));
    }
    for node in within.select("ul, ol, p, h2, h3, h4, h5, h6, div, table, dl").nodes() {
        if is_link_list(node) {
            found.push(("links", *node));
        }
    }
    found.retain(|(_, node)| !is_protected(node) && (text_chars(node) as f64) / page_chars <= MAX_SHARE);
    found
}

/// Whether `node` holds several paragraphs of running text: then a boilerplate name on it (a
/// theme's `entry share` wrapper) names a feature of the container, not what it holds.
fn holds_running_text(node: &NodeRef) -> bool {
    Selection::from(*node)
        .select("p")
        .nodes()
        .iter()
        .filter(|p| text_chars(p) >= 80)
        .take(3)
        .count()
        >= 3
}

fn is_protected(node: &NodeRef) -> bool {
    matches!(node.node_name().as_deref(), Some("html" | "body" | "article" | "main"))
        || node.attr("role").is_some_and(|r| r.eq_ignore_ascii_case("main"))
}

/// The words of `class` and `id`, lower-cased, that can name a kind of block.
fn name_tokens(node: &NodeRef) -> Vec<String> {
    let class = node.attr("class").unwrap_or_default().to_ascii_lowercase();
    let id = node.attr("id").unwrap_or_default().to_ascii_lowercase();
    class
        .split_whitespace()
        .chain(std::iter::once(id.trim()))
        // A slug of several words is an anchor made from a heading ("sharing-with-a-team"),
        // not a name for a kind of block.
        .filter(|token| !token.is_empty() && token.split(['-', '_']).count() <= 3)
        .map(str::to_string)
        .collect()
}

fn boilerplate_name(node: &NodeRef) -> Option<&'static str> {
    name_tokens(node)
        .iter()
        .map(String::as_str)
        .find_map(|token| {
            ANYWHERE.iter().find(|p| contains(token, p)).or_else(|| {
                WHOLE_WORDS
                    .iter()
                    .find(|w| token == **w || token.split(['-', '_']).next() == Some(**w))
            })
        })
        .copied()
}

/// Whether every child element is inline markup (a label, not a container of blocks).
fn only_inline_children(node: &NodeRef) -> bool {
    node.element_children().iter().all(|c| {
        matches!(
            c.node_name().as_deref(),
            Some("a" | "span" | "strong" | "b" | "em" | "i" | "u" | "small" | "br" | "mark" | "sup" | "sub")
        )
    })
}

/// Mostly link text: a list of links, or a line that is a link with a few words around it.
fn is_link_list(node: &NodeRef) -> bool {
    let chars = text_chars(node);
    if chars == 0 {
        return false;
    }
    // In-page links (a table of contents) are part of the article.
    let linked: usize = Selection::from(*node)
        .select("a")
        .nodes()
        .iter()
        .filter(|a| !a.attr("href").is_some_and(|h| h.trim_start().starts_with('#')))
        .map(text_chars)
        .sum();
    let density = linked as f64 / chars as f64;
    match node.node_name().as_deref() {
        Some("ul" | "ol" | "dl" | "table" | "div") => density > 0.8,
        _ => density > 0.8 && chars < 200,
    }
}

/// Whether `needle` occurs in `token`. Both are a few bytes long and this runs for every name
/// on the page against every pattern: a plain window scan, where `str::contains` spends most of
/// its time building a two-way searcher for each call.
fn contains(token: &str, needle: &str) -> bool {
    let (token, needle) = (token.as_bytes(), needle.as_bytes());
    let Some((&first, _)) = needle.split_first() else {
        return true;
    };
    token
        .windows(needle.len())
        .any(|window| window[0] == first && window == needle)
}

/// Characters of text under `node`, a run of white space counting as one (no allocation).
fn text_chars(node: &NodeRef) -> usize {
    node.normalized_char_count()
}
