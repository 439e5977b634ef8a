//! Common boilerplate, removed before the content pass: the blocks every site puts around and
//! inside its articles (share bars, "related" and "most read" lists, newsletter and cookie
//! boxes, comment threads, tag clouds, breadcrumbs, rating widgets, author boxes, ads).
//!
//! They are found by the words sites name them with in `class` and `id`, the way trafilatura's
//! discard rules do. Readability alone keeps such blocks when they sit inside the article's
//! container, which is where most of them are. A match is only removed when it is a small
//! part of the page: a site that names its whole layout `comments-enabled` keeps its text.

use crate::css::SelectParsed;
use std::collections::HashMap;

use dom_query::{Document, NodeId, NodeRef, Selection};
use dom_smoothie::{CharCounts, text_chars};

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
    // Measured when first needed, which is before anything is removed (a block is only removed
    // once its share has been asked): most pages have no such block and skip a walk of the page.
    let mut page_chars = None;
    for node in doc.select_parsed("form, [class], [id]").nodes() {
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
                .select_parsed("h1, article, main, [role=\"main\"]")
                .is_empty()
            || (text_chars(node) as f64) / *page_chars.get_or_insert_with(|| text_chars(&body).max(1) as f64) > 0.8
            || holds_running_text(node, text_chars);
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
    let blocks = Selection::from(*root).select_parsed("h2, h3, h4, h5, h6, p, div, strong, b");
    for node in blocks.nodes().iter().rev() {
        // Only short blocks can be either; the containers of the article are not, and building
        // their whole text (for every `div` level) to find so cost more than the rest of this.
        if clean_chars_exceed(node, ORPHAN_MAX_CHARS) {
            continue;
        }
        let text = crate::clean(&node.text());
        let chars = text.chars().count();
        if chars == 0 {
            continue;
        }
        let copyright =
            chars < ORPHAN_MAX_CHARS && (text.starts_with('©') || text.to_lowercase().starts_with("copyright"));
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

/// The longest block [`remove_orphans`] can take out: a copyright line is under 200 characters,
/// a label at most 60.
const ORPHAN_MAX_CHARS: usize = 200;

/// Whether the text of the element `node`, trimmed and with its white space collapsed (as
/// [`crate::clean`] makes it), is longer than `limit` characters; it reads no further than
/// that. It reads the element's descendants: a text node given as `node` has none.
fn clean_chars_exceed(node: &NodeRef, limit: usize) -> bool {
    let mut chars = 0;
    // A run of white space counts once, and only between words: not before the first, and not
    // after the last (it is counted when the next word begins).
    let mut space_pending = false;
    for text in node.descendants_it().filter(NodeRef::is_text) {
        for c in text.text().chars() {
            if c.is_whitespace() {
                space_pending = chars > 0;
                continue;
            }
            chars += 1 + usize::from(space_pending);
            space_pending = false;
            if chars > limit {
                return true;
            }
        }
    }
    false
}

/// The blocks [`remove`] takes out, each with the rule that matched it.
#[doc(hidden)]
pub fn candidates<'a>(root: &NodeRef<'a>) -> Vec<(&'static str, NodeRef<'a>)> {
    // Nothing below changes the tree, so every element's text is measured once, up front.
    let sizes = TextSizes::measure(root);
    let page_chars = sizes.chars(root).max(1) as f64;
    let within = Selection::from(*root);
    let mut found = Vec::new();
    for node in within.select_parsed(CHROME_TAGS).nodes() {
        found.push(("page-chrome", *node));
    }
    for node in within.select_parsed("[class], [id]").nodes() {
        if let Some(rule) = boilerplate_name(node)
            && !holds_running_text(node, |p| sizes.chars(p))
        {
            found.push((rule, *node));
        }
    }
    for node in within.select_parsed(CONTENT_CHROME).nodes() {
        found.push(("caption-or-date", *node));
    }
    for node in within
        .select_parsed("ul, ol, p, h2, h3, h4, h5, h6, div, table, dl")
        .nodes()
    {
        if is_link_list(node, &sizes) {
            found.push(("links", *node));
        }
    }
    found.retain(|(_, node)| !is_protected(node) && (sizes.chars(node) as f64) / page_chars <= MAX_SHARE);
    found
}

/// Whether `node` holds several paragraphs of running text: then a boilerplate name on it (a
/// theme's `entry share` wrapper) names a feature of the container, not what it holds.
fn holds_running_text(node: &NodeRef, chars: impl Fn(&NodeRef) -> usize) -> bool {
    Selection::from(*node)
        .select_parsed("p")
        .nodes()
        .iter()
        .filter(|p| chars(p) >= 80)
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
fn is_link_list(node: &NodeRef, sizes: &TextSizes) -> bool {
    let chars = sizes.chars(node);
    if chars == 0 {
        return false;
    }
    let density = sizes.linked(node) as f64 / chars as f64;
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

/// The text of every element under one root, sized in one walk: [`text_chars`] of each element,
/// and the part of it that is link text.
///
/// [`candidates`] asks both of every list, paragraph and `div` on the page. Asked one element at
/// a time, each question walks the element's whole subtree again (and each link's), so nested
/// containers cost their depth times over: counting text was the guest's largest single cost
/// (BENCHMARKS.md, "Where the time goes"). [`CharCounts`], riptide's patch to dom_smoothie, gives
/// the same numbers from one walk.
struct TextSizes {
    chars: CharCounts,
    /// Link-text characters of each element that holds a link.
    linked: HashMap<NodeId, usize>,
}

impl TextSizes {
    fn measure(root: &NodeRef) -> TextSizes {
        let chars = CharCounts::measure(root);
        let mut linked = HashMap::new();
        // Link text, added to every element that holds the link (in-page links, a table of
        // contents, are part of the article and count as text, not link text).
        for link in Selection::from(*root).select_parsed("a").nodes() {
            if link.attr("href").is_some_and(|h| h.trim_start().starts_with('#')) {
                continue;
            }
            let link_chars = chars.chars(link);
            for ancestor in link.ancestors_it(None) {
                *linked.entry(ancestor.id).or_default() += link_chars;
                if ancestor.id == root.id {
                    break;
                }
            }
        }
        TextSizes { chars, linked }
    }

    fn chars(&self, node: &NodeRef) -> usize {
        self.chars.chars(node)
    }

    fn linked(&self, node: &NodeRef) -> usize {
        self.linked.get(&node.id).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference count: dom_query's own, which `text_chars` and the one walk must equal.
    fn text_chars(node: &NodeRef) -> usize {
        node.normalized_char_count()
    }

    /// Pages whose white space, nesting and links make the one-walk sizes easy to get wrong.
    const PAGES: &[&str] = &[
        "<div id=root><p>One  two</p>\n  <div> <span>three</span>four <a href=/x> five </a></div></div>",
        "<div id=root>  <ul><li><a href=/a>A link</a></li><li> <a href='#top'>top</a> </li></ul>\n\
         <div><div><div><p>deep <b> bold </b>text</p></div></div></div><p></p><p> </p>tail </div>",
        "<div id=root><a href=/1>x</a><a href=/2> y </a>z<table><tr><td><a href=/3>cell link</a> \
         and text</td></tr></table><svg><a href=/4>svg link</a></svg></div>",
        "<div id=root>\u{a0}lead\u{2003}space <p>中文 text</p><nav><a href=/n>nav</a></nav>   </div>",
    ];

    fn link_text_the_slow_way(node: &NodeRef) -> usize {
        Selection::from(*node)
            .select("a")
            .nodes()
            .iter()
            .filter(|a| !a.attr("href").is_some_and(|h| h.trim_start().starts_with('#')))
            .map(text_chars)
            .sum()
    }

    #[test]
    fn one_walk_sizes_every_element_as_counting_each_one_does() {
        for html in PAGES {
            let doc = Document::from(*html);
            let root = doc.select("#root").nodes().first().copied().expect("a root");
            let sizes = TextSizes::measure(&root);
            let mut elements = vec![root];
            elements.extend(root.descendants_it().filter(NodeRef::is_element));
            for node in &elements {
                let name = node.node_name();
                assert_eq!(sizes.chars(node), text_chars(node), "text of <{name:?}> in {html}");
                assert_eq!(
                    sizes.linked(node),
                    link_text_the_slow_way(node),
                    "links of <{name:?}> in {html}"
                );
            }
        }
    }

    #[test]
    fn cleaned_length_is_read_only_as_far_as_the_limit() {
        for html in PAGES {
            let doc = Document::from(*html);
            for node in doc.select("*").nodes() {
                let chars = crate::clean(&node.text()).chars().count();
                for limit in [0, 1, 3, 5, 10, 20, 60, 200] {
                    assert_eq!(
                        clean_chars_exceed(node, limit),
                        chars > limit,
                        "limit {limit} in {html}"
                    );
                }
            }
        }
    }
}
