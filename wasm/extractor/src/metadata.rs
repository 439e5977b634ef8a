//! Page metadata from every source a page offers, best source first.
//!
//! The Readability-compatible fields (title cleaned of the site name, byline, excerpt, site
//! name, dates, image) come from [`dom_smoothie`], which reads JSON-LD, OpenGraph, Twitter cards,
//! Dublin Core and `<meta>` in Readability.js's order; this module adds what it leaves out
//! (`<time>`, `rel=author`, `Content-Language`, `og:locale`, the canonical URL, the raw title),
//! and normalizes dates to RFC 3339 when they can be read as dates.

use crate::css::SelectParsed;
use std::collections::BTreeMap;

use dom_query::Document;
use dom_smoothie::Readability;
use url::Url;

use crate::clean;
use crate::links::absolutize;
use crate::page_tags::PageTags;

/// What the page says about itself.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// The title cleaned of the site name.
    pub title: Option<String>,
    /// `<title>` as written.
    pub raw_title: Option<String>,
    /// The author(s).
    pub author: Option<String>,
    /// The page's own summary (not a paragraph of it).
    pub description: Option<String>,
    /// The site's name.
    pub site_name: Option<String>,
    /// When published (RFC 3339 when readable as a date).
    pub published_time: Option<String>,
    /// When last changed (RFC 3339 when readable as a date).
    pub modified_time: Option<String>,
    /// The lead image, absolute when possible.
    pub image: Option<String>,
    /// The language of the content.
    pub language: Option<String>,
    /// The canonical URL, absolute when possible.
    pub canonical_url: Option<String>,
    /// Every `og:*` property, keyed without the prefix.
    pub open_graph: BTreeMap<String, String>,
}

impl Metadata {
    /// Reads the metadata of the page `reader` holds, before its content pass changes it. The
    /// second half is what dom_smoothie read, which its content pass takes as it is
    /// ([`Readability::parse_with_metadata`]) rather than reading it again.
    pub fn read(reader: &Readability, tags: &PageTags, base: Option<&Url>) -> (Metadata, dom_smoothie::Metadata) {
        let doc = &reader.doc;
        let found = reader.get_article_metadata(reader.parse_json_ld());
        let for_content_pass = found.clone();
        let open_graph = open_graph(doc, tags);
        let meta = |attr: &str, name: &str| meta_content(doc, tags, attr, name);
        let nonempty = |s: String| Some(clean(&s)).filter(|s| !s.is_empty());

        let raw_title = tags
            .select(doc, "title")
            .map(|t| clean(&t.text()))
            .find(|t| !t.is_empty());
        let language = found
            .lang
            .clone()
            .and_then(nonempty)
            // The HTML standard's pragma for a document without `<html lang>`. `og:locale` is
            // not read: it is often a site-wide default, wrong on pages in other languages.
            .or_else(|| meta("http-equiv", "content-language"));
        let author = found
            .byline
            .clone()
            .and_then(nonempty)
            .or_else(|| first_text(doc, "a[rel=\"author\"], [itemprop=\"author\"] [itemprop=\"name\"]"));
        let published_time = found
            .published_time
            .clone()
            .or_else(|| meta("name", "date"))
            .or_else(|| {
                tags.select(doc, "time[datetime]")
                    .find_map(|t| t.attr("datetime").map(|d| d.to_string()))
            })
            .map(|d| normalize_date(&d));
        let site_name = found
            .site_name
            .clone()
            .and_then(nonempty)
            .or_else(|| meta("name", "application-name"));
        let image = found
            .image
            .clone()
            .or_else(|| meta("name", "twitter:image"))
            .map(|i| absolutize(i.trim(), base));
        let canonical_url = tags
            .select(doc, "link[rel=\"canonical\"]")
            .find_map(|l| l.attr("href").map(|h| h.trim().to_string()))
            .filter(|h| !h.is_empty())
            .or_else(|| open_graph.get("url").cloned())
            .map(|h| absolutize(&h, base));

        let metadata = Metadata {
            title: nonempty(found.title),
            raw_title,
            author,
            description: found.excerpt.and_then(nonempty),
            site_name,
            published_time,
            modified_time: found.modified_time.map(|d| normalize_date(&d)),
            image,
            language,
            canonical_url,
            open_graph,
        };
        (metadata, for_content_pass)
    }
}

fn open_graph(doc: &Document, tags: &PageTags) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for m in tags.select(doc, "meta[property]") {
        let (Some(prop), Some(content)) = (m.attr("property"), m.attr("content")) else {
            continue;
        };
        if let Some(key) = prop.trim().strip_prefix("og:") {
            out.entry(key.to_string()).or_insert_with(|| clean(&content));
        }
    }
    out
}

/// The first non-empty `content` of `<meta {attr}="{name}">`, the name matched case-insensitively.
fn meta_content(doc: &Document, tags: &PageTags, attr: &str, name: &str) -> Option<String> {
    tags.select(doc, &format!("meta[{attr}]"))
        .filter(|m| m.attr(attr).is_some_and(|v| v.trim().eq_ignore_ascii_case(name)))
        .filter_map(|m| m.attr("content"))
        .map(|c| clean(&c))
        .find(|c| !c.is_empty())
}

fn first_text(doc: &Document, css: &str) -> Option<String> {
    doc.select_parsed(css)
        .iter()
        .map(|e| clean(&e.text()))
        .find(|t| !t.is_empty() && t.chars().count() <= 100)
}

/// `raw` as RFC 3339 when it reads as a date and time with an offset (ISO 8601 variants, RFC
/// 2822); a date alone as `YYYY-MM-DD`; anything else as written.
pub fn normalize_date(raw: &str) -> String {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat};
    let rfc3339 = |d: DateTime<chrono::FixedOffset>| d.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let s = raw.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return rfc3339(d);
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S %z",
    ] {
        if let Ok(d) = DateTime::parse_from_str(s, format) {
            return rfc3339(d);
        }
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(s) {
        return rfc3339(d);
    }
    // A time without an offset names no instant; keep it, normalized to ISO 8601.
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, format) {
            return d.format("%Y-%m-%dT%H:%M:%S").to_string();
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.format("%Y-%m-%d").to_string();
    }
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::normalize_date;

    #[test]
    fn dates_become_rfc3339_when_they_can() {
        assert_eq!(normalize_date("2026-11-27T09:00:00Z"), "2026-11-27T09:00:00Z");
        assert_eq!(normalize_date("2020-03-04T05:06:07+0100"), "2020-03-04T05:06:07+01:00");
        assert_eq!(
            normalize_date("Tue, 1 Jul 2003 10:52:37 +0200"),
            "2003-07-01T10:52:37+02:00"
        );
        assert_eq!(normalize_date(" 2020-03-04 "), "2020-03-04");
        assert_eq!(normalize_date("2020-03-04 05:06:07"), "2020-03-04T05:06:07");
        assert_eq!(normalize_date("last Tuesday"), "last Tuesday");
    }
}
