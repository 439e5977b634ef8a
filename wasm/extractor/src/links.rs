//! The page's base URL and its links: what a crawler follows next, so every link of the page
//! counts, not only those of the main content.

use std::collections::HashMap;

use dom_query::Document;
use url::Url;

use crate::page_tags::PageTags;

/// The page URL, adjusted by `<base href>` when the document has one.
pub fn effective_base(doc: &Document, tags: &PageTags, base_url: Option<&str>) -> Option<Url> {
    let page = base_url.and_then(|u| Url::parse(u).ok());
    let base_href = tags
        .select(doc, "base[href]")
        .find_map(|e| e.attr("href"))
        .map(|h| h.trim().to_string());
    match (page, base_href) {
        (Some(page), Some(href)) => page.join(&href).ok().or(Some(page)),
        (None, Some(href)) => Url::parse(&href).ok(),
        (page, None) => page,
    }
}

/// `href` resolved against `base` when it can be; as written otherwise.
pub fn absolutize(href: &str, base: Option<&Url>) -> String {
    match base {
        Some(base) => base.join(href).map(String::from).unwrap_or_else(|_| href.to_string()),
        None => href.to_string(),
    }
}

/// The page's links: every target in document order without duplicates, skipping fragments
/// and non-navigating schemes (`javascript:`, `mailto:`, `tel:`, `data:`), and the targets
/// that the page links to only with `rel="nofollow"` (a target also linked without it is
/// followed: a crawler is told not to follow a link, not a URL).
pub fn links(doc: &Document, tags: &PageTags, base: Option<&Url>) -> (Vec<String>, Vec<String>) {
    // Each target once, at its first link, and whether any link to it may be followed. A
    // target never followed was first linked with `nofollow`, so the nofollow targets, in the
    // order of their first links, are these in order.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    let mut followed = Vec::new();
    for a in tags.anchors(doc) {
        let Some(href) = a.attr("href") else { continue };
        let href = href.trim();
        if href.is_empty()
            || href.starts_with('#')
            || ["javascript:", "mailto:", "tel:", "data:"]
                .iter()
                .any(|p| href.get(..p.len()).is_some_and(|s| s.eq_ignore_ascii_case(p)))
        {
            continue;
        }
        let link = absolutize(href, base);
        let is_followed = !a
            .attr("rel")
            .is_some_and(|rel| rel.split_ascii_whitespace().any(|r| r.eq_ignore_ascii_case("nofollow")));
        match index.get(&link) {
            Some(&at) => followed[at] |= is_followed,
            None => {
                index.insert(link.clone(), out.len());
                out.push(link);
                followed.push(is_followed);
            }
        }
    }
    let nofollow = out
        .iter()
        .zip(&followed)
        .filter(|(_, followed)| !**followed)
        .map(|(link, _)| link.clone())
        .collect();
    (out, nofollow)
}

/// The directives of `<meta name="robots">` and of `<meta name="riptide">` (riptide's own
/// product token), lowercased and joined with `", "`; `None` when the page has neither.
pub fn robots_directives(doc: &Document, tags: &PageTags) -> Option<String> {
    let mut directives = Vec::new();
    for meta in tags.select(doc, "meta[name][content]") {
        let Some(name) = meta.attr("name") else { continue };
        if !(name.trim().eq_ignore_ascii_case("robots") || name.trim().eq_ignore_ascii_case("riptide")) {
            continue;
        }
        let Some(content) = meta.attr("content") else { continue };
        directives.extend(
            content
                .split(',')
                .map(|d| d.trim().to_ascii_lowercase())
                .filter(|d| !d.is_empty()),
        );
    }
    (!directives.is_empty()).then(|| directives.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(html: &str) -> (Vec<String>, Vec<String>) {
        let base = Url::parse("https://example.com/dir/page").ok();
        let doc = Document::from(html);
        links(&doc, &PageTags::find(&doc), base.as_ref())
    }

    #[test]
    fn nofollow_marks_a_target_linked_only_with_it() {
        let (all, nofollow) = parse(
            r#"<a href="/a" rel="nofollow">a</a><a href="/b" rel="noopener NoFollow">b</a>
               <a href="/b">b again</a><a href="c">c</a><area href="/d" rel="nofollow">"#,
        );
        assert_eq!(
            all,
            [
                "https://example.com/a",
                "https://example.com/b",
                "https://example.com/dir/c",
                "https://example.com/d"
            ]
        );
        assert_eq!(nofollow, ["https://example.com/a", "https://example.com/d"]);
    }

    #[test]
    fn robots_directives_join_robots_and_riptide_metas() {
        let doc = Document::from(
            r#"<meta name="Robots" content="NOINDEX, follow"><meta name="riptide" content="nofollow">
               <meta name="googlebot" content="noarchive">"#,
        );
        let tags = PageTags::find(&doc);
        assert_eq!(
            robots_directives(&doc, &tags).as_deref(),
            Some("noindex, follow, nofollow")
        );
        let none = Document::from("<p>none</p>");
        assert_eq!(robots_directives(&none, &PageTags::find(&none)), None);
    }
}
