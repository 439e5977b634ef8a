//! CSS selectors parsed once per instance, not once per use.
//!
//! `dom_query`'s `select` parses its selector on every call. The extractor asks about thirty
//! fixed selectors of every page, and parsing them was about a twentieth of a page's time (a
//! profile of the native build, BENCHMARKS.md "Where the time goes"). An instance runs many
//! pages (the host keeps it warm), so each selector is parsed on first use and kept.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use dom_query::{Document, Matcher, NodeRef, Selection};

thread_local! {
    /// The parsed selectors, by their text. The guest runs on one thread; natively (tests,
    /// benchmarks) each thread has its own.
    static PARSED: RefCell<HashMap<Box<str>, Option<Rc<Matcher>>>> = RefCell::new(HashMap::new());
}

/// `css` parsed, from the cache when it was parsed before; `None` when it is not a selector.
/// A caller that tests many nodes against one selector looks it up once, here, and tests each
/// with `NodeRef::is_match`: a lookup hashes the selector's text.
pub(crate) fn matcher(css: &str) -> Option<Rc<Matcher>> {
    PARSED.with(|parsed| {
        if let Some(found) = parsed.borrow().get(css) {
            return found.clone();
        }
        let made = Matcher::new(css).ok().map(Rc::new);
        parsed.borrow_mut().insert(css.into(), made.clone());
        made
    })
}

/// `select` with the selector parsed once: what `dom_query`'s `select` finds, except that a
/// selector that does not parse finds nothing instead of panicking.
pub(crate) trait SelectParsed<'a> {
    /// The descendants that match `css`, in document order.
    fn select_parsed(self, css: &str) -> Selection<'a>;
}

impl<'a> SelectParsed<'a> for &'a Document {
    fn select_parsed(self, css: &str) -> Selection<'a> {
        matcher(css).map_or_else(Selection::default, |m| self.select_matcher(&m))
    }
}

/// The first element of `doc` that matches `css`, in document order: the first of
/// [`SelectParsed::select_parsed`], without walking the rest of the page.
pub(crate) fn first_parsed<'a>(doc: &'a Document, css: &str) -> Option<NodeRef<'a>> {
    let m = matcher(css)?;
    doc.select_single_matcher(&m).nodes().first().copied()
}

impl<'a> SelectParsed<'a> for &Selection<'a> {
    fn select_parsed(self, css: &str) -> Selection<'a> {
        matcher(css).map_or_else(Selection::default, |m| self.select_matcher(&m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parsed_selector_finds_what_select_finds_and_a_bad_one_finds_nothing() {
        let doc = Document::from("<div><p class=a>1</p><p>2</p><span class=a>3</span></div>");
        for css in ["p", ".a", "div > p.a, span", "p", "[class]"] {
            let expected: Vec<_> = doc.select(css).nodes().iter().map(|n| n.id).collect();
            let parsed: Vec<_> = doc.select_parsed(css).nodes().iter().map(|n| n.id).collect();
            assert_eq!(parsed, expected, "{css}");
            let under = doc.select("div");
            let expected: Vec<_> = under.select(css).nodes().iter().map(|n| n.id).collect();
            let parsed: Vec<_> = under.select_parsed(css).nodes().iter().map(|n| n.id).collect();
            assert_eq!(parsed, expected, "{css} under div");
        }
        for css in ["p", ".a", "span", "div > p.a, span", "em"] {
            let first = doc.select(css).nodes().first().map(|n| n.id);
            assert_eq!(first_parsed(&doc, css).map(|n| n.id), first, "first {css}");
        }
        assert!(first_parsed(&doc, "p[").is_none());
        assert!(doc.select_parsed("p[").is_empty());
        assert!(
            doc.select_parsed("p[").is_empty(),
            "a bad selector is remembered as bad"
        );
    }
}
