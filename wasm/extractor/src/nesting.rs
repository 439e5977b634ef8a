//! Pages nested deeper than any real page, made shallow enough to read.
//!
//! Three costs grow with how deep a page nests its elements, and a few kilobytes of tags can
//! nest them as deep as they like (1,000 unclosed `<b>`, 100,000 `<div>`):
//! - html5ever keeps every open element on a stack and checks scopes by walking it, so n nested
//!   elements cost O(n²) to parse: 30,000 `<div>` take 4 s natively, 100,000 about 45 s;
//! - the passes after it (dom_query's text and serializers, dom_smoothie, the Markdown writer)
//!   recurse on the tree's depth: 600 to 800 levels of `<b>` exhaust wasmtime's call stack
//!   (`wasm.trap`);
//! - dom_smoothie reads every descendant of every block (`clean_conditionally`), so its work grows
//!   with depth²: about 4,200 fuel units × depth², 128 levels of `<div>` cost 7.7e7 of a small
//!   page's 1e8 (wasmer).
//!
//! Browsers cap nesting as well: Chromium's parser attaches an element deeper than 512 levels to
//! the 512th ancestor. The 1,052 real pages of the two quality corpora nest at most 42 levels.
//!
//! So, in two steps, neither of which changes a page that nests less than the caps:
//! - [`flatten`], before parsing: one pass over the page's tags follows the tree builder's
//!   stack of open elements, with its rules for the elements that close themselves (`p`, `li`,
//!   table cells, a new `<a>`, ...), and drops the tags of the elements that would open deeper
//!   than [`MAX_OPEN_ELEMENTS`], with their end tags: their content stays, in the element at
//!   the limit. Links are kept (a crawler follows them, and a new `<a>` closes the open one, so
//!   they add one level at most). The parser's stack stays that short, so parsing is linear
//!   again. A page that never goes that deep is returned borrowed, byte for byte;
//! - [`parse`], after parsing: the pre-pass follows the tree builder's rules closely, not
//!   exactly (it does not reopen formatting elements, which `<div><b id=1></div>` repeated
//!   makes nest one level deeper each time). So every tree the extractor reads is walked once,
//!   without recursion, and an element deeper than [`MAX_TREE_DEPTH`] that holds elements is
//!   replaced by its children, until none is left that deep: every later pass recurses at most
//!   that deep.

use std::borrow::Cow;
use std::ops::Range;

use dom_query::{Document, NodeRef};

/// Elements open at once beyond which [`flatten`] drops start tags. A quarter of Chromium's
/// 512: the extractor's work grows with depth² (see the module's documentation), and 128 levels
/// of `<div>` fit the smallest budget a page gets, with room, where 180 do not.
pub const MAX_OPEN_ELEMENTS: usize = 128;

/// How deep an element may sit in a tree the extractor reads (the document node is 0). Above
/// what [`flatten`] lets through (128, plus `html`, `body` and reopened formatting elements),
/// and far below the ~700 levels at which a recursive pass exhausts the guest's call stack.
pub const MAX_TREE_DEPTH: usize = 256;

/// Parses `html` (already through [`flatten`]) and bounds the tree's depth to
/// [`MAX_TREE_DEPTH`]: the only way the extractor parses a page.
pub fn parse(html: &str) -> Document {
    let doc = Document::from(html);
    bound_depth(&doc.root(), MAX_TREE_DEPTH);
    doc
}

/// `html` with the tags of elements nested deeper than [`MAX_OPEN_ELEMENTS`] removed, or
/// `html` itself, borrowed, when none is.
pub fn flatten(html: &str) -> Cow<'_, str> {
    let drops = OpenElements::default().read(html);
    if drops.is_empty() {
        return Cow::Borrowed(html);
    }
    let mut out = String::with_capacity(html.len());
    let mut at = 0;
    for drop in drops {
        out.push_str(&html[at..drop.start]);
        at = drop.end;
    }
    out.push_str(&html[at..]);
    Cow::Owned(out)
}

/// Replaces each element deeper than `limit` below `root` that holds elements by its children,
/// until none is left: elements at `limit + 1` hold text (and comments) only. Iterative, and
/// each element is replaced at most once, so it is linear in the tree's size.
fn bound_depth(root: &NodeRef, limit: usize) {
    let mut stack = vec![(*root, 0usize)];
    while let Some((node, depth)) = stack.pop() {
        if depth == limit {
            flatten_children(&node);
            continue;
        }
        let mut child = node.first_child();
        while let Some(c) = child {
            if c.is_element() {
                stack.push((c, depth + 1));
            }
            child = c.next_sibling();
        }
    }
}

/// Replaces every child element of `node` that holds elements by its children, in place, until
/// each child element holds text only.
fn flatten_children(node: &NodeRef) {
    let mut child = node.first_child();
    while let Some(c) = child {
        if c.is_element() && c.first_element_child().is_some() {
            // Its children take its place, and are looked at next.
            let first = c.first_child();
            if let Some(first) = &first {
                first.unwrap_node();
            }
            child = first;
        } else {
            child = c.next_sibling();
        }
    }
}

/// The tree builder's stack of open elements as [`flatten`] follows it.
#[derive(Debug, Default)]
struct OpenElements<'a> {
    /// The elements open in the output, outermost first. Never longer than
    /// [`MAX_OPEN_ELEMENTS`], but for one `a` above the limit.
    open: Vec<Open<'a>>,
    /// The elements whose start tags were dropped and that are still open, innermost last: their
    /// end tags are dropped too.
    dropped: Vec<Cow<'a, str>>,
    /// How many `svg` and `math` elements are open: inside them `<x/>` closes itself and no
    /// element holds raw text.
    foreign: usize,
    /// The byte ranges of the tags dropped, in order.
    drops: Vec<Range<usize>>,
}

/// An open element: its lowercased name, and what the tree builder's rules say of it, looked up
/// once when it opens so that walking the stack costs a comparison a step.
#[derive(Debug)]
struct Open<'a> {
    name: Cow<'a, str>,
    class: Class,
}

impl Open<'_> {
    fn is(&self, name: &str) -> bool {
        self.name == name
    }

    /// An end tag of another name does not close it (the standard's "special" elements).
    fn special(&self) -> bool {
        self.class.has(Class::SPECIAL)
    }

    /// It bounds the default scope.
    fn scope(&self) -> bool {
        self.class.has(Class::SCOPE)
    }
}

/// A dropped element's end tag is looked for this far down the dropped elements: end tags out
/// of order are rare, and the search must stay short on a page of 100,000 of them.
const DROPPED_LOOKBACK: usize = 32;

impl<'a> OpenElements<'a> {
    /// Reads every tag of `html` and returns the ranges of the tags to drop.
    fn read(mut self, html: &'a str) -> Vec<Range<usize>> {
        let bytes = html.as_bytes();
        let mut at = 0;
        while let Some(found) = html[at..].find('<') {
            let lt = at + found;
            at = match bytes.get(lt + 1) {
                Some(b'!') => match skip_declaration(bytes, lt, self.foreign > 0) {
                    Some(end) => end,
                    None => break,
                },
                Some(b'?') => match find(bytes, lt, b">") {
                    Some(gt) => gt + 1,
                    None => break,
                },
                Some(b'/') => match bytes.get(lt + 2) {
                    Some(c) if c.is_ascii_alphabetic() => {
                        let name_end = name_end(bytes, lt + 2);
                        let Some((end, _)) = tag_end(bytes, name_end) else {
                            break;
                        };
                        self.end_tag(lower(&html[lt + 2..name_end]), lt..end);
                        end
                    }
                    Some(b'>') => lt + 3,
                    Some(_) => match find(bytes, lt, b">") {
                        Some(gt) => gt + 1,
                        None => break,
                    },
                    None => break,
                },
                Some(c) if c.is_ascii_alphabetic() => {
                    let name_end = name_end(bytes, lt + 1);
                    let Some((end, self_closing)) = tag_end(bytes, name_end) else {
                        break;
                    };
                    let name = lower(&html[lt + 1..name_end]);
                    if self.foreign == 0 && name == "plaintext" {
                        // Everything after it is text.
                        break;
                    }
                    if self.foreign == 0 && Class::of(&name).has(Class::RAW_TEXT) {
                        // Text up to its own end tag: it holds no elements, so it is never
                        // counted nor dropped.
                        match find_end_tag(bytes, end, &name) {
                            Some(close) => close,
                            None => break,
                        }
                    } else {
                        self.start_tag(name, self_closing, lt..end);
                        end
                    }
                }
                _ => lt + 1,
            };
        }
        self.drops
    }

    fn start_tag(&mut self, name: Cow<'a, str>, self_closing: bool, tag: Range<usize>) {
        let n: &str = &name;
        let class = Class::of(n);
        if class.has(Class::NOT_OPENED) || (self_closing && (self.foreign > 0 || class.has(Class::FOREIGN))) {
            return;
        }
        if class.has(Class::CLOSES_P) {
            self.close_in_scope("p", |o| o.scope() || o.is("button"));
        }
        if class.has(Class::START_RULE) {
            match n {
                // A heading closes the heading open just above it.
                _ if class.has(Class::HEADING) && self.open.last().is_some_and(|top| top.class.has(Class::HEADING)) => {
                    self.truncate(self.open.len() - 1);
                }
                "li" => self.close_list_item(|o| o.is("li")),
                "dd" | "dt" => self.close_list_item(|o| o.is("dd") || o.is("dt")),
                "option" => self.pop_if("option"),
                "optgroup" => {
                    self.pop_if("option");
                    self.pop_if("optgroup");
                }
                "a" | "nobr" => self.close_formatting(n),
                "button" => self.close_in_scope("button", Open::scope),
                "select" => {
                    // A `<select>` inside one closes it and opens nothing.
                    if let Some(at) = self.find_down(|o| o.is("select"), |o| o.is("html") || o.is("template")) {
                        self.truncate(at);
                        return;
                    }
                }
                "tr" => self.clear_back_to(&["tbody", "thead", "tfoot", "table", "template", "html"]),
                "td" | "th" => self.clear_back_to(&["tr", "tbody", "thead", "tfoot", "table", "template", "html"]),
                "tbody" | "thead" | "tfoot" | "caption" | "colgroup" => {
                    self.clear_back_to(&["table", "template", "html"]);
                }
                "rb" | "rtc" => self.close_inside(&["ruby"]),
                "rp" | "rt" => self.close_inside(&["rtc", "ruby"]),
                _ => {}
            }
        }
        // A link is kept whatever its depth: its target is what a crawler reads, and `<a>`
        // closed the open `a` above, so at most one is open past the limit.
        if self.open.len() >= MAX_OPEN_ELEMENTS && n != "a" {
            self.drops.push(tag);
            self.dropped.push(name);
            return;
        }
        if class.has(Class::FOREIGN) {
            self.foreign += 1;
        }
        self.open.push(Open { name, class });
    }

    fn end_tag(&mut self, name: Cow<'a, str>, tag: Range<usize>) {
        let dropped = self
            .dropped
            .iter()
            .rev()
            .take(DROPPED_LOOKBACK)
            .position(|d| *d == name);
        if let Some(from_top) = dropped {
            self.dropped.truncate(self.dropped.len() - 1 - from_top);
            self.drops.push(tag);
            return;
        }
        let n: &str = &name;
        let class = Class::of(n);
        if class.has(Class::END_RULE) {
            match n {
                "p" => self.close_in_scope("p", |o| o.scope() || o.is("button")),
                "li" => self.close_in_scope("li", |o| o.scope() || o.is("ol") || o.is("ul")),
                _ if class.has(Class::HEADING) => {
                    if let Some(at) = self.find_down(|o| o.class.has(Class::HEADING), Open::scope) {
                        self.truncate(at);
                    }
                }
                "table" => self.close_in_scope(n, |o| o.is("html") || o.is("template")),
                "tbody" | "thead" | "tfoot" | "tr" | "td" | "th" | "caption" | "colgroup" => {
                    self.close_in_scope(n, |o| o.is("table") || o.is("html") || o.is("template"));
                }
                "select" | "template" => self.close_in_scope(n, |o| o.is("html")),
                // `html`, `head`, `body` and `br` close nothing.
                _ => {}
            }
        } else if class.has(Class::FORMATTING) {
            self.close_formatting(n);
        } else if class.has(Class::BLOCK_END) {
            self.close_in_scope(n, Open::scope);
        } else {
            // Any other end tag closes the nearest element of its name, unless a special
            // element comes first.
            self.close_in_scope(n, Open::special);
        }
    }

    /// The index of the innermost open element that `is`, looking no further than the first
    /// that `stop`s (itself a match if `is` says so).
    fn find_down(&self, is: impl Fn(&Open<'a>) -> bool, stop: impl Fn(&Open<'a>) -> bool) -> Option<usize> {
        for (at, open) in self.open.iter().enumerate().rev() {
            if is(open) {
                return Some(at);
            }
            if stop(open) {
                return None;
            }
        }
        None
    }

    /// Closes `name` and everything inside it, when it is open before anything that `stop`s.
    fn close_in_scope(&mut self, name: &str, stop: impl Fn(&Open<'a>) -> bool) {
        if let Some(at) = self.find_down(|o| o.is(name), stop) {
            self.truncate(at);
        }
    }

    /// A new `li` (or `dd`, `dt`) closes the open one, unless a special element other than
    /// `address`, `div` and `p` comes first.
    fn close_list_item(&mut self, item: impl Fn(&Open<'a>) -> bool) {
        let stop = |o: &Open<'a>| o.special() && !(o.is("address") || o.is("div") || o.is("p"));
        if let Some(at) = self.find_down(item, stop) {
            self.truncate(at);
        }
    }

    /// Closes what is open inside the innermost of `containers` within the default scope.
    fn close_inside(&mut self, containers: &[&str]) {
        if let Some(at) = self.find_down(|o| containers.contains(&&*o.name), Open::scope) {
            self.truncate(at + 1);
        }
    }

    /// Closes what is open inside the innermost of `contexts` (a new row closes the open row
    /// and its cells).
    fn clear_back_to(&mut self, contexts: &[&str]) {
        if let Some(at) = self.find_down(|o| contexts.contains(&&*o.name), |_| false) {
            self.truncate(at + 1);
        }
    }

    fn pop_if(&mut self, name: &str) {
        if self.open.last().is_some_and(|top| top.is(name)) {
            self.truncate(self.open.len() - 1);
        }
    }

    /// A formatting element's end tag (and a new `<a>` or `<nobr>` while one is open): the
    /// adoption agency takes it off the stack, and whatever is open inside it with it, unless
    /// a block opened inside it, which stays open.
    fn close_formatting(&mut self, name: &str) {
        let Some(at) = self.find_down(|o| o.is(name), Open::scope) else {
            return;
        };
        if self.open[at + 1..].iter().any(Open::special) {
            self.open.remove(at);
        } else {
            self.truncate(at);
        }
    }

    /// Closes the open elements from `at` on. Dropped elements sit inside the element at the
    /// limit, so they are closed with it (not with a link open past it).
    fn truncate(&mut self, at: usize) {
        if at >= self.open.len() {
            return;
        }
        for closed in self.open.drain(at..) {
            if closed.class.has(Class::FOREIGN) {
                self.foreign -= 1;
            }
        }
        if at < MAX_OPEN_ELEMENTS {
            self.dropped.clear();
        }
    }
}

/// `name` in lowercase, borrowed when it is already.
fn lower(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0C')
}

/// Where a tag name starting at `from` ends.
fn name_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| is_space(b) || b == b'/' || b == b'>')
        .map_or(bytes.len(), |n| from + n)
}

/// Reads a tag's attributes from `from` (just after its name) as the tokenizer does: returns
/// the index just after its `>`, and whether it ends in `/>`; `None` when the page ends inside
/// the tag (the tokenizer then drops it).
fn tag_end(bytes: &[u8], from: usize) -> Option<(usize, bool)> {
    let mut at = from;
    loop {
        while bytes.get(at).is_some_and(|&b| is_space(b)) {
            at += 1;
        }
        match *bytes.get(at)? {
            b'>' => return Some((at + 1, false)),
            b'/' => {
                at += 1;
                if bytes.get(at) == Some(&b'>') {
                    return Some((at + 1, true));
                }
                continue;
            }
            _ => {}
        }
        // An attribute's name (its first character may be `=`).
        at += 1;
        while bytes
            .get(at)
            .is_some_and(|&b| !is_space(b) && !matches!(b, b'/' | b'>' | b'='))
        {
            at += 1;
        }
        while bytes.get(at).is_some_and(|&b| is_space(b)) {
            at += 1;
        }
        if bytes.get(at) != Some(&b'=') {
            continue;
        }
        at += 1;
        while bytes.get(at).is_some_and(|&b| is_space(b)) {
            at += 1;
        }
        match *bytes.get(at)? {
            quote @ (b'"' | b'\'') => at = at + 1 + bytes[at + 1..].iter().position(|&b| b == quote)? + 1,
            b'>' => return Some((at + 1, false)),
            _ => {
                while bytes.get(at).is_some_and(|&b| !is_space(b) && b != b'>') {
                    at += 1;
                }
            }
        }
    }
}

/// The index of the first `needle` (one or more bytes) at or after `from`.
fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut at = from;
    loop {
        at += bytes.get(at..)?.iter().position(|&b| b == first)?;
        if bytes.get(at + 1..at + needle.len()) == Some(rest) {
            return Some(at);
        }
        at += 1;
    }
}

/// Skips `<!...>` at `lt`: a comment, a `CDATA` section inside `svg` or `math`, or a doctype or
/// bogus comment. Returns the index after it; `None` when it runs to the end of the page.
fn skip_declaration(bytes: &[u8], lt: usize, foreign: bool) -> Option<usize> {
    let rest = &bytes[lt..];
    if rest.starts_with(b"<!--") {
        // `<!-->` and `<!--->` are whole (empty) comments.
        if rest[4..].starts_with(b">") {
            return Some(lt + 5);
        }
        if rest[4..].starts_with(b"->") {
            return Some(lt + 6);
        }
        // It ends at the first `-->` or `--!>`.
        let mut at = lt + 4;
        loop {
            let dashes = find(bytes, at, b"--")?;
            match bytes.get(dashes + 2) {
                Some(b'>') => return Some(dashes + 3),
                Some(b'!') if bytes.get(dashes + 3) == Some(&b'>') => return Some(dashes + 4),
                _ => at = dashes + 1,
            }
        }
    }
    if foreign && rest.starts_with(b"<![CDATA[") {
        return find(bytes, lt + 9, b"]]>").map(|at| at + 3);
    }
    find(bytes, lt, b">").map(|gt| gt + 1)
}

/// Where the raw text of a `name` element that starts at `from` ends: the index of its `</name`
/// end tag (matched without regard to case and followed by a space, `/` or `>`), or `None`
/// when it runs to the end of the page.
fn find_end_tag(bytes: &[u8], from: usize, name: &str) -> Option<usize> {
    let mut at = from;
    loop {
        let lt = find(bytes, at, b"</")?;
        let after = lt + 2 + name.len();
        let named = bytes
            .get(lt + 2..after)
            .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()));
        if named && bytes.get(after).is_none_or(|&b| is_space(b) || b == b'/' || b == b'>') {
            return Some(lt);
        }
        at = lt + 2;
    }
}

/// What the tree builder's rules say of an element, by name.
#[derive(Debug, Clone, Copy)]
struct Class(u16);

impl Class {
    /// Never on the stack: void elements, and `html`, `head`, `body`, `frameset`, which are
    /// opened once whatever the page says.
    const NOT_OPENED: u16 = 1;
    /// Its content is text up to its end tag (with scripting off, as the extractor parses:
    /// `noscript` holds markup).
    const RAW_TEXT: u16 = 1 << 1;
    /// Its start tag closes an open `p` first.
    const CLOSES_P: u16 = 1 << 2;
    /// Its end tag closes it when it is open within the default scope.
    const BLOCK_END: u16 = 1 << 3;
    /// A formatting element, which the adoption agency closes.
    const FORMATTING: u16 = 1 << 4;
    /// The standard's "special" elements: an end tag of another name does not close them.
    const SPECIAL: u16 = 1 << 5;
    /// It bounds the default scope.
    const SCOPE: u16 = 1 << 6;
    const HEADING: u16 = 1 << 7;
    /// `svg` and `math`.
    const FOREIGN: u16 = 1 << 8;
    /// Its start tag closes other elements first ([`OpenElements::start_tag`]).
    const START_RULE: u16 = 1 << 9;
    /// Its end tag has a rule of its own ([`OpenElements::end_tag`]).
    const END_RULE: u16 = 1 << 10;

    fn has(self, flag: u16) -> bool {
        self.0 & flag != 0
    }

    /// One lookup per tag: a single `match`, which the compiler turns into a switch on the
    /// length and a few comparisons, where a test per rule cost several times the pass.
    fn of(name: &str) -> Class {
        const VOID: u16 = Class::NOT_OPENED | Class::SPECIAL;
        const RAW: u16 = Class::RAW_TEXT | Class::SPECIAL;
        const BLOCK: u16 = Class::CLOSES_P | Class::BLOCK_END | Class::SPECIAL;
        const HEADING: u16 = Class::HEADING | Class::CLOSES_P | Class::SPECIAL | Class::START_RULE | Class::END_RULE;
        const CELL: u16 = Class::SCOPE | Class::SPECIAL | Class::START_RULE | Class::END_RULE;
        const TABLE_PART: u16 = Class::SPECIAL | Class::START_RULE | Class::END_RULE;
        const MATHML_TEXT: u16 = Class::SCOPE | Class::SPECIAL;
        Class(match name {
            "area" | "base" | "basefont" | "bgsound" | "br" | "col" | "embed" | "frame" | "hr" | "img" | "input"
            | "keygen" | "link" | "meta" | "param" | "source" | "track" | "wbr" => {
                if name == "br" {
                    VOID | Class::END_RULE
                } else if name == "hr" {
                    VOID | Class::CLOSES_P
                } else {
                    VOID
                }
            }
            "image" => Class::NOT_OPENED,
            "html" => Class::NOT_OPENED | Class::SCOPE | Class::SPECIAL | Class::END_RULE,
            "head" | "body" => Class::NOT_OPENED | Class::SPECIAL | Class::END_RULE,
            "frameset" => Class::NOT_OPENED | Class::SPECIAL,
            "script" | "style" | "xmp" | "iframe" | "noembed" | "noframes" | "textarea" => RAW,
            "title" => RAW | Class::SCOPE,
            "address" | "article" | "aside" | "blockquote" | "center" | "details" | "dir" | "div" | "dl"
            | "fieldset" | "figcaption" | "figure" | "footer" | "header" | "hgroup" | "main" | "menu" | "nav"
            | "ol" | "search" | "section" | "summary" | "ul" | "pre" | "listing" | "form" => BLOCK,
            "dialog" => Class::CLOSES_P | Class::BLOCK_END,
            "p" => Class::CLOSES_P | Class::SPECIAL | Class::END_RULE,
            "li" => Class::CLOSES_P | Class::SPECIAL | Class::START_RULE | Class::END_RULE,
            "dd" | "dt" => BLOCK | Class::START_RULE,
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => HEADING,
            "table" => Class::CLOSES_P | Class::SCOPE | Class::SPECIAL | Class::END_RULE,
            "td" | "th" => CELL,
            "caption" => CELL,
            "tr" | "tbody" | "thead" | "tfoot" | "colgroup" => TABLE_PART,
            "select" => Class::SPECIAL | Class::START_RULE | Class::END_RULE,
            "template" => Class::SCOPE | Class::SPECIAL | Class::END_RULE,
            "button" => Class::BLOCK_END | Class::SPECIAL | Class::START_RULE,
            "applet" | "marquee" | "object" => Class::BLOCK_END | Class::SCOPE | Class::SPECIAL,
            "noscript" | "plaintext" => Class::SPECIAL,
            "a" | "nobr" => Class::FORMATTING | Class::START_RULE,
            "b" | "big" | "code" | "em" | "font" | "i" | "s" | "small" | "strike" | "strong" | "tt" | "u" => {
                Class::FORMATTING
            }
            "option" | "optgroup" | "rb" | "rtc" | "rp" | "rt" => Class::START_RULE,
            "svg" | "math" => Class::FOREIGN,
            "mi" | "mo" | "mn" | "ms" | "mtext" | "annotation-xml" | "foreignobject" | "desc" => MATHML_TEXT,
            _ => 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_of(doc: &Document) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(doc.root(), 0usize)];
        while let Some((node, depth)) = stack.pop() {
            deepest = deepest.max(depth);
            for child in node.children() {
                stack.push((child, depth + 1));
            }
        }
        deepest
    }

    #[test]
    fn shallow_pages_are_not_touched() {
        let pages = [
            "<ul><li>a<li>b<li>c</ul><p>one<p>two<p>three".repeat(200),
            "<table><tr><td>a<td>b<tr><td>c</table>".repeat(200),
            "<select><option>a<option>b<optgroup><option>c</select>".repeat(200),
            "<dl><dt>a<dd>b<dt>c<dd>d</dl><h2>x<h3>y</h3>".repeat(200),
            "<a href=1>one<a href=2>two<b>three</b><i>four".repeat(200),
            "<div><b>x<div>y</b></div></div>".repeat(200),
            "<svg><path/><g><rect/></g></svg><math><mi/></math>".repeat(200),
            "<script>for (i = 0; i < 9; i++) document.write('<div>')</script>".repeat(200),
            "<style>div > div {}</style><textarea><div><div></textarea><title><div></title>".repeat(200),
            "<!-- <div> --><!--><!---><![CDATA[<div>]]><?pi <div>?><!doctype html>".repeat(200),
            r#"<div title="a > b" data-x='<div>' class=c/d>x</div>"#.repeat(200),
            "<ruby>a<rb>b<rt>c<rp>d<rtc>e</ruby>".repeat(200),
        ];
        for page in &pages {
            assert!(matches!(flatten(page), Cow::Borrowed(_)), "{}", &page[..80]);
        }
    }

    #[test]
    fn deep_nesting_is_cut_at_the_limit_and_keeps_its_text() {
        let page = format!(
            "{}<p>inside</p>{}<p>after</p>",
            "<div>".repeat(1000),
            "</div>".repeat(1000)
        );
        let flat = flatten(&page);
        assert_eq!(flat.matches("<div>").count(), MAX_OPEN_ELEMENTS);
        assert_eq!(flat.matches("</div>").count(), MAX_OPEN_ELEMENTS);
        let doc = parse(&flat);
        assert!(depth_of(&doc) <= MAX_OPEN_ELEMENTS + 4, "{}", depth_of(&doc));
        assert!(doc.root().text().contains("inside"));

        let page = format!("{}text", "<B>".repeat(1000));
        let flat = flatten(&page);
        assert_eq!(flat.matches("<B>").count(), MAX_OPEN_ELEMENTS);
        assert!(flat.ends_with("text"));
    }

    #[test]
    fn links_past_the_limit_are_kept() {
        let page = format!(
            "{}<p><a href=/one>one</a> <span><a href=/two>two</a></span></p>{}<p>after</p>",
            "<div>".repeat(300),
            "</div>".repeat(300)
        );
        let flat = flatten(&page);
        assert_eq!(flat.matches("<div>").count(), MAX_OPEN_ELEMENTS);
        assert_eq!(flat.matches("</div>").count(), MAX_OPEN_ELEMENTS);
        let doc = parse(&flat);
        let links: Vec<_> = doc.select("a").iter().filter_map(|a| a.attr("href")).collect();
        assert_eq!(links.iter().map(|l| &**l).collect::<Vec<_>>(), ["/one", "/two"]);
        assert!(doc.root().text().contains("one two"), "{}", doc.root().text());

        let page = format!("{}{}end", "<div>".repeat(200), "<a href=x>link ".repeat(10_000));
        let flat = flatten(&page);
        assert_eq!(flat.matches("<a href=x>").count(), 10_000);
        assert!(depth_of(&parse(&flat)) <= MAX_OPEN_ELEMENTS + 6);
    }

    #[test]
    fn raw_text_is_never_dropped() {
        let page = format!("{}<script>if (a < b) x()</script><p>after", "<span>".repeat(300));
        let flat = flatten(&page);
        assert!(flat.ends_with("<script>if (a < b) x()</script>after"), "{flat}");
        let doc = parse(&flat);
        assert_eq!(doc.select("script").text().as_ref(), "if (a < b) x()");
    }

    #[test]
    fn trees_deeper_than_the_parser_s_stack_are_bounded() {
        // Each `<b>` closed by `</div>` is reopened inside the next `<div>`: the stack the
        // pre-pass follows never grows, the tree does, one level a turn.
        let page: String = (0..600).map(|i| format!("<div><b id={i}></div>")).collect::<String>() + "end";
        assert!(matches!(flatten(&page), Cow::Borrowed(_)));
        let doc = parse(&page);
        assert!(depth_of(&doc) <= MAX_TREE_DEPTH + 2, "{}", depth_of(&doc));
        assert!(doc.root().text().ends_with("end"));
    }
}
