//! riptide's patch: every element's `normalized_char_count`, and its link text, from one walk.
//!
//! Scoring asks for the text length of each paragraph, of up to five ancestors of each, and of
//! every link inside each candidate. Asked one node at a time, each question walks the node's
//! whole subtree again, so a page's text is counted once per level of nesting, and every link
//! once per candidate holding it. That was the largest single cost of a page in riptide's guest.
//! One walk in document order gives the same numbers.

use dom_query::{Element, NodeData, NodeId, NodeRef, Tree, TreeNode, local_name};

/// The text size of every element under a root, as measured when it was built: it does not
/// follow later changes to the tree.
pub struct CharCounts {
    /// By node, sorted for lookup.
    counts: Vec<(NodeId, Count)>,
}

#[derive(Clone, Copy)]
struct Count {
    /// `normalized_char_count` of the element.
    chars: usize,
    /// The summed `normalized_char_count` of the `a` elements under it (not itself) whose
    /// `href` is not an in-page `#fragment`.
    link_chars: usize,
    /// Whether any `a` under it is an in-page link, which link density weighs by 0.3.
    in_page_links: bool,
}

/// What the walk reads of a node, in one borrow of the tree.
enum Seen {
    /// A text node: its count after the run so far, and whether it starts and ends with white
    /// space.
    Text {
        chars: usize,
        starts_with_space: bool,
        ends_with_space: bool,
    },
    /// An element, document or fragment node: it has children to walk.
    Container { first_child: Option<NodeId>, link: Link },
    /// A comment, doctype or processing instruction: no text.
    Other,
}

/// Whether an element is an `a`, and which kind of link it is to link density.
#[derive(Clone, Copy)]
enum Link {
    None,
    /// `href` is a `#fragment` (longer than `#` alone): weighed 0.3.
    InPage,
    /// Any other `a`, with or without `href`: weighed 1.
    Other,
}

/// An element being walked: the run's state when it opened, and what its children add.
struct Open {
    id: NodeId,
    link: Link,
    next_child: Option<NodeId>,
    run_before: usize,
    whitespace_before: bool,
    first_text: usize,
    link_chars: usize,
    in_page_links: bool,
}

/// Reads node `id`: what it is, and its next sibling. `last_was_whitespace` is the run's state
/// before it, which a text node's count depends on.
fn read(tree: &Tree, id: NodeId, last_was_whitespace: bool) -> (Seen, Option<NodeId>) {
    let seen = |node: &TreeNode| match &node.data {
        NodeData::Text { contents } => Seen::Text {
            chars: normalized_char_count(contents, last_was_whitespace),
            starts_with_space: contents.starts_with(char::is_whitespace),
            ends_with_space: contents.ends_with(char::is_whitespace),
        },
        NodeData::Element(element) => Seen::Container {
            first_child: node.first_child,
            link: link_kind(element),
        },
        NodeData::Document | NodeData::Fragment => Seen::Container {
            first_child: node.first_child,
            link: Link::None,
        },
        _ => Seen::Other,
    };
    tree.query_node(&id, |node| (seen(node), node.next_sibling))
        .unwrap_or((Seen::Other, None))
}

/// As `helpers::link_density_fn` tells links apart: `a` by local name, `href` as
/// `attr_or("href", "")` reads it.
fn link_kind(element: &Element) -> Link {
    if element.name.local != local_name!("a") {
        return Link::None;
    }
    let href = element
        .attrs
        .iter()
        .find(|attr| attr.name.local == local_name!("href"))
        .map_or("", |attr| &attr.value);
    if href.len() > 1 && href.starts_with('#') {
        Link::InPage
    } else {
        Link::Other
    }
}

impl CharCounts {
    /// Measures `root` and every element, document and fragment node under it.
    ///
    /// An element's count is what the whole run's count (white space collapsed across text
    /// nodes) grew by over its subtree, less its trailing white space, and less one when its
    /// first character is white space the run counted because text came before it: a count of
    /// its own starts as if nothing did, as `normalized_char_count` does.
    pub fn measure(root: &NodeRef) -> CharCounts {
        let tree = root.tree;
        let mut counts = Vec::new();
        let mut run = 0;
        let mut last_was_whitespace = true;
        // For each text node so far, in order: whether it starts with white space.
        let mut starts_with_space: Vec<bool> = Vec::new();
        let (first_child, link) = match read(tree, root.id, true).0 {
            Seen::Container { first_child, link } => (first_child, link),
            _ => (None, Link::None),
        };
        // An explicit stack: no recursion however deep the page nests.
        let mut stack = vec![Open {
            id: root.id,
            link,
            next_child: first_child,
            run_before: 0,
            whitespace_before: true,
            first_text: 0,
            link_chars: 0,
            in_page_links: false,
        }];
        while let Some(top) = stack.last_mut() {
            if let Some(child) = top.next_child {
                let (seen, next_sibling) = read(tree, child, last_was_whitespace);
                top.next_child = next_sibling;
                match seen {
                    Seen::Text {
                        chars,
                        starts_with_space: starts,
                        ends_with_space,
                    } => {
                        starts_with_space.push(starts);
                        run += chars;
                        last_was_whitespace = ends_with_space;
                    }
                    Seen::Container { first_child, link } => stack.push(Open {
                        id: child,
                        link,
                        next_child: first_child,
                        run_before: run,
                        whitespace_before: last_was_whitespace,
                        first_text: starts_with_space.len(),
                        link_chars: 0,
                        in_page_links: false,
                    }),
                    Seen::Other => {}
                }
                continue;
            }
            let Some(done) = stack.pop() else { break };
            let mut chars = run - done.run_before;
            if let Some(&leading_space) = starts_with_space.get(done.first_text) {
                if leading_space && !done.whitespace_before {
                    chars -= 1;
                }
                if last_was_whitespace && chars > 0 {
                    chars -= 1;
                }
            }
            if let Some(parent) = stack.last_mut() {
                parent.link_chars += done.link_chars;
                parent.in_page_links |= done.in_page_links;
                match done.link {
                    Link::None => {}
                    Link::InPage => parent.in_page_links = true,
                    Link::Other => parent.link_chars += chars,
                }
            }
            counts.push((
                done.id,
                Count {
                    chars,
                    link_chars: done.link_chars,
                    in_page_links: done.in_page_links,
                },
            ));
        }
        counts.sort_unstable_by_key(|(id, _)| *id);
        CharCounts { counts }
    }

    fn get(&self, node: &NodeRef) -> Option<Count> {
        let at = self.counts.binary_search_by_key(&node.id, |(id, _)| *id).ok()?;
        Some(self.counts[at].1)
    }

    /// `node.normalized_char_count()`, measured or counted now.
    pub fn chars(&self, node: &NodeRef) -> usize {
        self.get(node).map_or_else(|| text_chars(node), |c| c.chars)
    }

    /// `node`'s link density as scoring computes it (link text over text, an in-page link's
    /// text weighed by 0.3), with every count from the walk.
    pub fn link_density(&self, node: &NodeRef) -> f32 {
        match self.get(node) {
            // Every link weighs 1: the sum of whole numbers below 2^24 is exact in f32, so it
            // equals the one-link-at-a-time sum.
            Some(count) if !count.in_page_links && count.link_chars < 1 << 24 => {
                let link_length = count.link_chars as f32;
                if link_length == 0.0 || count.chars == 0 {
                    return 0.0;
                }
                link_length / count.chars as f32
            }
            // In-page links weigh 0.3, and the order of a float sum shows in its last bit: sum
            // them as `link_density` does.
            _ => crate::helpers::link_density_fn(node, None, |n| self.chars(n)),
        }
    }
}

/// `node.normalized_char_count()`, the same number read faster: the text is counted by
/// [`normalized_char_count`], and each node is read in one borrow of the tree.
pub fn text_chars(node: &NodeRef) -> usize {
    let tree = node.tree;
    let mut count = 0;
    let mut last_was_whitespace = true;
    // Depth-first, in document order: a node's first child is read before its next sibling.
    let mut to_read = vec![node.id];
    while let Some(id) = to_read.pop() {
        let (seen, next_sibling) = read(tree, id, last_was_whitespace);
        if id != node.id {
            to_read.extend(next_sibling);
        }
        match seen {
            Seen::Text {
                chars, ends_with_space, ..
            } => {
                count += chars;
                last_was_whitespace = ends_with_space;
            }
            Seen::Container { first_child, .. } => to_read.extend(first_child),
            Seen::Other => {}
        }
    }
    if last_was_whitespace && count > 0 {
        count -= 1;
    }
    count
}

/// `dom_query`'s count of `text`'s characters with each run of white space as one, starting
/// after white space if `prev_was_whitespace`. ASCII is read eight bytes at a time.
pub fn normalized_char_count(text: &str, mut prev_was_whitespace: bool) -> usize {
    let bytes = text.as_bytes();
    let mut count = 0;
    let mut at = 0;
    while let Some(&b) = bytes.get(at) {
        if let Some(word) = bytes
            .get(at..at + 8)
            .and_then(|chunk| <[u8; 8]>::try_from(chunk).ok())
            .map(u64::from_le_bytes)
            .filter(|word| word & HIGH_BITS == 0)
        {
            // A byte counts unless it and the byte before it are both white space.
            let spaces = ascii_whitespace(word);
            let after_space = (spaces << 1) | u64::from(prev_was_whitespace);
            count += 8 - (spaces & after_space).count_ones() as usize;
            prev_was_whitespace = spaces & 0x80 != 0;
            at += 8;
            continue;
        }
        let is_whitespace = if b.is_ascii() {
            at += 1;
            // `char::is_whitespace` on ASCII: U+0009 to U+000D and the space.
            matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
        } else {
            // `at` is always on a character boundary: it moves by whole characters.
            let Some(c) = text.get(at..).and_then(|rest| rest.chars().next()) else {
                break;
            };
            at += c.len_utf8();
            c.is_whitespace()
        };
        if !(prev_was_whitespace && is_whitespace) {
            count += 1;
        }
        prev_was_whitespace = is_whitespace;
    }
    count
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// For eight ASCII bytes (little-endian in `word`), bit `i` set when byte `i` is white space to
/// `char::is_whitespace`: U+0009 to U+000D or the space.
fn ascii_whitespace(word: u64) -> u64 {
    // An ASCII byte plus (0x80 - n) has its high bit set exactly when the byte is at least n, and
    // never carries into the next byte.
    let at_least_9 = word + LOW_BITS * (0x80 - 9);
    let at_least_14 = word + LOW_BITS * (0x80 - 14);
    let control = at_least_9 & !at_least_14;
    // A byte of `word ^ spaces` is zero exactly where `word` has a space.
    let diff = word ^ (LOW_BITS * u64::from(b' '));
    let nonzero = (diff & !HIGH_BITS) + !HIGH_BITS;
    let space = !nonzero;
    let high = (control | space) & HIGH_BITS;
    // Gathers each byte's high bit into bit `i` of the low byte.
    ((high >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}
