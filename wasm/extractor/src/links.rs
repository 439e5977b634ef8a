//! The page's base URL and its links: what a crawler follows next, so every link of the page
//! counts, not only those of the main content.

use std::collections::HashSet;

use dom_query::Document;
use url::Url;

/// The page URL, adjusted by `<base href>` when the document has one.
pub fn effective_base(doc: &Document, base_url: Option<&str>) -> Option<Url> {
    let page = base_url.and_then(|u| Url::parse(u).ok());
    let base_href = doc
        .select("base[href]")
        .iter()
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

/// Link targets in document order, without duplicates, skipping fragments and non-navigating
/// schemes (`javascript:`, `mailto:`, `tel:`, `data:`).
pub fn links(doc: &Document, base: Option<&Url>) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for a in doc.select("a[href]").iter() {
        let Some(href) = a.attr("href") else { continue };
        let href = href.trim();
        let lower = href.to_ascii_lowercase();
        if href.is_empty()
            || href.starts_with('#')
            || ["javascript:", "mailto:", "tel:", "data:"]
                .iter()
                .any(|p| lower.starts_with(p))
        {
            continue;
        }
        let link = absolutize(href, base);
        if seen.insert(link.clone()) {
            out.push(link);
        }
    }
    out
}
