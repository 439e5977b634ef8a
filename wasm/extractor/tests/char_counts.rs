//! riptide's patch to dom_smoothie (wasm/vendor/dom_smoothie/RIPTIDE.md) must not change an
//! answer: its one-walk text sizes and link densities equal dom_query's and dom_smoothie's own,
//! bit for bit, on every element of awkward pages and of many generated ones.

use dom_query::{Document, NodeRef};
use dom_smoothie::{CharCounts, normalized_char_count, text_chars};

/// dom_query's own count, the reference.
fn reference_count(text: &str, mut prev_was_whitespace: bool) -> usize {
    let mut count = 0;
    for c in text.chars() {
        let is_whitespace = c.is_whitespace();
        if !(prev_was_whitespace && is_whitespace) {
            count += 1;
        }
        prev_was_whitespace = is_whitespace;
    }
    count
}

/// dom_smoothie's `link_density(node, None)`, one link at a time.
fn reference_link_density(node: &NodeRef) -> f32 {
    let mut link_length = 0f32;
    for a in node.find_descendants("a") {
        let href = a.attr_or("href", "");
        let coeff = if href.len() > 1 && href.starts_with('#') {
            0.3
        } else {
            1.0
        };
        link_length += a.normalized_char_count() as f32 * coeff;
    }
    if link_length == 0.0 {
        return 0.0;
    }
    let text_length = node.normalized_char_count() as f32;
    if text_length == 0.0 {
        return 0.0;
    }
    link_length / text_length
}

/// Every element of `html` sized and weighed by the walk as one at a time; the number checked.
fn check_page(html: &str) -> usize {
    let doc = Document::from(html);
    let root = doc.root();
    let counts = CharCounts::measure(&root);
    let mut checked = 0;
    // Text nodes too: `text_chars` of a text node is its own count.
    for node in std::iter::once(root).chain(root.descendants_it().filter(|n| n.is_element() || n.is_text())) {
        let name = node.node_name();
        assert_eq!(
            counts.chars(&node),
            node.normalized_char_count(),
            "<{name:?}> in {html}"
        );
        assert_eq!(
            text_chars(&node),
            node.normalized_char_count(),
            "<{name:?}> alone in {html}"
        );
        assert_eq!(
            counts.link_density(&node).to_bits(),
            reference_link_density(&node).to_bits(),
            "link density of <{name:?}> in {html}"
        );
        checked += 1;
    }
    checked
}

#[test]
fn text_is_counted_as_dom_query_counts_it() {
    for text in [
        "",
        " ",
        "a",
        "  a  b \n\t c ",
        "\u{a0}x\u{a0}\u{a0}y",
        "é  è",
        "日本語 の テキスト",
        " \u{3000}全角\u{3000} ",
        "a\u{85}\u{2028}b\u{2029}",
        "x\u{b}\u{c}y\u{1c}\u{1f}z",
        "mixed é and ascii  runs ü ",
        "🦀 crab\u{200b}zero width",
    ] {
        for start in [false, true] {
            assert_eq!(
                normalized_char_count(text, start),
                reference_count(text, start),
                "{text:?}"
            );
        }
    }
    // Long runs of every kind of byte, so that eight-byte reads meet white space, control bytes
    // around it, non-ASCII characters and chunk edges at every offset.
    const PIECES: &[&str] = &[
        "a", " ", "\t", "\n", "\u{b}", "\u{c}", "\r", "\u{8}", "\u{e}", "\u{1f}", "!", "é", "\u{a0}", "\u{3000}", "~",
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..5_000 {
        let mut text = String::new();
        for _ in 0..(state % 40) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.push_str(PIECES[(state % PIECES.len() as u64) as usize]);
        }
        for start in [false, true] {
            assert_eq!(
                normalized_char_count(&text, start),
                reference_count(&text, start),
                "{text:?}"
            );
        }
    }
}

#[test]
fn every_element_is_sized_and_weighed_as_one_at_a_time() {
    const PAGES: &[&str] = &[
        "<div><p>One  two</p>\n  <div> <span>three</span>four <a href=/x> five </a></div></div>",
        "<body>  <ul><li><a href=/a>A link</a></li><li> <a href='#top'>top</a> </li></ul>\n\
         <div><div><div><p>deep <b> bold </b>text</p></div></div></div><p></p><p> </p>tail </body>",
        "<div><a href=/1>x</a><a href=/2> y </a>z<table><tr><td><a href=/3>cell link</a> \
         and text</td></tr></table><svg><a href=/4>svg link</a></svg></div>",
        "<div>\u{a0}lead\u{2003}space <p>中文 text</p><nav><a href=/n>nav</a></nav>   </div>",
        "<p><a href='#'>#</a><a href='#a'>in page</a><a>no href</a><a href=''>empty</a>\
         <a href=/o>outer<a href=/i>inner</a></a></p><template><p>kept <a href=/t>t</a></p></template>",
    ];
    for html in PAGES {
        assert!(check_page(html) > 3, "{html}");
    }
}

#[test]
fn generated_pages_agree_on_every_element() {
    // A small deterministic generator (xorshift): nesting, white space runs, non-ASCII text and
    // links of every kind, in shapes no hand-written page covers.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    const TEXT: &[&str] = &[
        "word", " ", "  ", "\n\t", "é", "\u{a0}", "日本", ", ", "x y", "\u{3000}",
    ];
    const OPEN: &[&str] = &[
        "<div>",
        "<p>",
        "<span>",
        "<a href=/p>",
        "<a href='#s'>",
        "<a href='#'>",
        "<li>",
        "<b>",
    ];
    const CLOSE: &[&str] = &["</a>", "</span>", "</b>", "</li>", "</p>", "</div>"];
    let mut checked = 0;
    for _ in 0..300 {
        let mut html = String::from("<body>");
        let mut depth = 0;
        for _ in 0..40 {
            match next(4) {
                0 if depth < 12 => {
                    html.push_str(OPEN[next(OPEN.len())]);
                    depth += 1;
                }
                1 if depth > 0 => {
                    // Closing tags need not match: the parser mends them as browsers do.
                    html.push_str(CLOSE[next(CLOSE.len())]);
                    depth -= 1;
                }
                _ => html.push_str(TEXT[next(TEXT.len())]),
            }
        }
        checked += check_page(&html);
    }
    assert!(checked > 3_000, "checked {checked} elements");
}
