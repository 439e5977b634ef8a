//! The page's links and its `<base>`, `<meta>`, `<title>`, `<link>`, `<time>` and `<article>`
//! elements, found in one walk.
//!
//! The base URL, the links, the robots directives and the metadata ask the page for a dozen kinds
//! of these tags, and each `select` walks every node of the document: about a twentieth of a
//! page's time in the guest (BENCHMARKS.md, "Where the time goes"). One walk collects them, and
//! each question filters the short list with the same selector.

use dom_query::{Document, NodeId, NodeRef};

use crate::css::{SelectParsed, matcher};

/// The links, as [`crate::links::links`] reads them.
const ANCHORS: &str = "a[href], area[href]";

/// What the walk collects, by name alone: the kinds of element [`PageTags::select`] filters
/// (every selector asked of it must match only `base`, `meta`, `title`, `link`, `time` or
/// `article`), and every `a` and `area`, which [`ANCHORS`] then filters.
const KINDS_AND_ANCHORS: &str = "base, meta, title, link, time, article, a, area";

/// A document's links and metadata elements, each list in document order.
///
/// It holds node ids, so it stays valid when the document moves (into a
/// [`dom_smoothie::Readability`]), but only until the document's tree changes.
#[derive(Debug)]
pub struct PageTags {
    anchors: Vec<NodeId>,
    tags: Vec<NodeId>,
}

impl PageTags {
    /// Finds them, in one walk of `doc`.
    pub fn find(doc: &Document) -> Self {
        let mut found = PageTags {
            anchors: Vec::new(),
            tags: Vec::new(),
        };
        let anchors = matcher(ANCHORS);
        // Names alone: dom_query matches a list of bare names without the selector engine.
        for node in doc.select_parsed(KINDS_AND_ANCHORS).nodes() {
            if node.has_name("a") || node.has_name("area") {
                if anchors.as_ref().is_some_and(|m| node.is_match(m)) {
                    found.anchors.push(node.id);
                }
            } else {
                found.tags.push(node.id);
            }
        }
        found
    }

    /// What `doc.select("a[href], area[href]")` finds, for the `doc` these were found in.
    pub fn anchors<'a, 's>(&'s self, doc: &'a Document) -> impl Iterator<Item = NodeRef<'a>> + 's
    where
        'a: 's,
    {
        self.anchors.iter().map(move |id| NodeRef::new(*id, &doc.tree))
    }

    /// What `doc.select(css)` finds, for the `doc` these were found in and a `css` that matches
    /// only `<base>`, `<meta>`, `<title>`, `<link>`, `<time>` or `<article>` (`meta[property]`,
    /// `link[rel="canonical"]`...).
    pub fn select<'a, 's>(&'s self, doc: &'a Document, css: &'s str) -> impl Iterator<Item = NodeRef<'a>> + 's
    where
        'a: 's,
    {
        let m = matcher(css);
        self.tags
            .iter()
            .map(move |id| NodeRef::new(*id, &doc.tree))
            .filter(move |node| m.as_ref().is_some_and(|m| node.is_match(m)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_select_finds() {
        let doc = Document::from(
            r#"<html lang=en><head><title>T</title><base href="/b/"><meta name=robots content=noindex>
            <meta property="og:title" content="O"><meta property="og:type" content=article>
            <link rel=canonical href="/c"><link rel="Canonical" href="/d"><meta http-equiv=Content-Language content=fr>
            </head><body><time datetime="2020-01-02">x</time><time>y</time><meta name=date content="2021">
            <a href="/1">1</a><a name=x>no href</a><map><area href="/2"></map><a href="">empty</a>
            <svg><title>svg title</title><link rel=canonical href="/svg"/><a href="/3">svg</a><a xlink:href="/4">x</a></svg>
            <article><p>text</p></article><svg><article>foreign</article></svg></body></html>"#,
        );
        let tags = PageTags::find(&doc);
        let ids = |sel: dom_query::Selection| sel.nodes().iter().map(|n| n.id).collect::<Vec<_>>();
        for css in [
            "title",
            "base[href]",
            "meta[name][content]",
            "meta[property]",
            "meta[http-equiv]",
            "meta[name]",
            "link[rel=\"canonical\"]",
            "time[datetime]",
            "meta[property=\"og:type\"]",
            "article",
        ] {
            let expected = ids(doc.select(css));
            let found: Vec<_> = tags.select(&doc, css).map(|n| n.id).collect();
            assert!(!expected.is_empty(), "{css} finds something on the test page");
            assert_eq!(found, expected, "{css}");
        }
        let anchors: Vec<_> = tags.anchors(&doc).map(|n| n.id).collect();
        assert_eq!(anchors, ids(doc.select(ANCHORS)));
        assert_eq!(
            anchors.len(),
            4,
            "a, area, empty href and the svg link with a plain href"
        );
    }
}
