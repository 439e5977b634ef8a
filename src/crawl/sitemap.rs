//! Sitemaps (sitemaps.org protocol 0.9): the URLs a site lists for crawlers.
//!
//! Sitemaps find pages no link reaches and let a crawl start wide instead of deep. This module
//! only parses; fetching, and deciding which listed URLs are in scope (the protocol confines a
//! sitemap to its own host and path, sites often do not), is the crawler's job. Sitemaps come
//! from strangers, so parsing is bounded: 50 MiB decompressed and 50,000 entries per file, the
//! protocol's own limits, with gzip bombs stopped at the first limit rather than after.

use std::borrow::Cow;
use std::io::Read;

use flate2::read::MultiGzDecoder;
use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use url::Url;

/// The largest sitemap read, after decompression: the protocol's 50 MiB.
pub const MAX_SITEMAP_BYTES: u64 = 50 * 1024 * 1024;

/// The most entries taken from one sitemap: the protocol's 50,000.
pub const MAX_SITEMAP_URLS: usize = 50_000;

/// A parsed sitemap file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sitemap {
    /// A `<urlset>` or a plain-text sitemap: pages.
    Urls {
        /// The pages, in file order.
        urls: Vec<SitemapUrl>,
        /// The file listed more than [`MAX_SITEMAP_URLS`] valid URLs; the rest were ignored.
        truncated: bool,
    },
    /// A `<sitemapindex>`: further sitemaps to fetch.
    Index {
        /// The sitemap URLs, in file order.
        sitemaps: Vec<String>,
        /// The index listed more than [`MAX_SITEMAP_URLS`] valid URLs; the rest were ignored.
        truncated: bool,
    },
}

/// One page listed in a sitemap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitemapUrl {
    /// The page, an absolute http(s) URL as serialized by [`Url`].
    pub loc: String,
    /// `<lastmod>` as written (W3C datetime, e.g. `2024-05-01` or `2024-05-01T10:00:00+00:00`),
    /// unvalidated; `None` when absent or empty.
    pub lastmod: Option<String>,
}

/// Why a sitemap could not be read. All of these are faults of the site's file: the crawl can go
/// on without it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SitemapError {
    /// More than the size limit once decompressed.
    #[error(
        "sitemap is larger than {limit} bytes decompressed, over the sitemaps protocol's limit; \
         it is skipped (a site should split it and list the parts in a sitemap index)"
    )]
    TooLarge {
        /// The limit that was exceeded, in bytes.
        limit: u64,
    },
    /// Starts like gzip but does not decompress.
    #[error("sitemap looks gzip-compressed but does not decompress ({0}); the file is corrupt or was cut short")]
    Gzip(#[source] std::io::Error),
    /// Not well-formed XML.
    #[error("sitemap XML is malformed at byte {position}: {message}; the site's file must be fixed")]
    Malformed {
        /// Byte offset in the (decompressed) file where the problem was found.
        position: u64,
        /// What was wrong.
        message: String,
    },
    /// Well-formed XML, but not a sitemap.
    #[error(
        "XML document with root <{root}> is not a sitemap: expected <urlset> or <sitemapindex> \
         (RSS and Atom feeds are not supported)"
    )]
    NotASitemap {
        /// The root element's local name.
        root: String,
    },
}

/// Parses a sitemap body as fetched: gzip (detected by its magic bytes, whatever the headers
/// said, since servers label `.xml.gz` files inconsistently and HTTP clients may already have
/// decoded them), XML `<urlset>` or `<sitemapindex>` with any or no namespace, or plain text with
/// one URL per line.
///
/// Only entries that parse as absolute `http`/`https` URLs are kept; others are skipped
/// silently. Custom XML entities are never expanded, so entity-expansion bombs do not apply.
pub fn parse_sitemap(body: &[u8]) -> Result<Sitemap, SitemapError> {
    parse_with_limits(body, MAX_SITEMAP_BYTES, MAX_SITEMAP_URLS)
}

/// [`parse_sitemap`] with other limits, so tests need not build 50 MiB inputs.
fn parse_with_limits(body: &[u8], max_bytes: u64, max_urls: usize) -> Result<Sitemap, SitemapError> {
    let data: Cow<'_, [u8]> = if body.starts_with(&[0x1f, 0x8b]) {
        Cow::Owned(gunzip(body, max_bytes)?)
    } else {
        Cow::Borrowed(body)
    };
    if u64::try_from(data.len()).unwrap_or(u64::MAX) > max_bytes {
        return Err(SitemapError::TooLarge { limit: max_bytes });
    }
    // The protocol requires UTF-8; one bad byte should cost one URL, not the file.
    let text = String::from_utf8_lossy(&data);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if text.trim_start().starts_with('<') {
        parse_xml(text, max_urls)
    } else {
        Ok(parse_text(text, max_urls))
    }
}

/// Decompresses at most `max_bytes + 1` bytes: enough to tell that the limit was passed without
/// ever holding more than that, however well the input compresses.
fn gunzip(body: &[u8], max_bytes: u64) -> Result<Vec<u8>, SitemapError> {
    let mut out = Vec::new();
    MultiGzDecoder::new(body)
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(SitemapError::Gzip)?;
    Ok(out)
}

fn parse_text(text: &str, max_urls: usize) -> Sitemap {
    let mut urls = Vec::new();
    let mut truncated = false;
    for loc in text.lines().filter_map(http_url) {
        if urls.len() == max_urls {
            truncated = true;
            break;
        }
        urls.push(SitemapUrl { loc, lastmod: None });
    }
    Sitemap::Urls { urls, truncated }
}

/// The child of an entry whose text is being collected.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Loc,
    Lastmod,
}

fn parse_xml(text: &str, max_urls: usize) -> Result<Sitemap, SitemapError> {
    let mut reader = Reader::from_str(text);
    let malformed = |position: u64, message: String| SitemapError::Malformed { position, message };

    // `Some(true)` for <sitemapindex>, `Some(false)` for <urlset>, once the root is seen.
    let mut is_index = None;
    let mut urls = Vec::new();
    let mut truncated = false;
    // Element depth: the root is 1, entries (<url>, <sitemap>) 2, their fields 3. Only direct
    // children of an entry count, so `<image:image><image:loc>` inside a <url> is ignored.
    let mut depth = 0usize;
    let mut in_entry = false;
    let mut field = None;
    let mut buf = String::new();
    let mut loc = None;
    let mut lastmod = None;

    loop {
        let event = reader
            .read_event()
            .map_err(|e| malformed(reader.error_position(), e.to_string()))?;
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                let is_empty = matches!(event, Event::Empty(_));
                let local = start.local_name();
                let name: &str = local.as_ref();
                match (depth, is_index) {
                    (0, _) => match name {
                        "urlset" => is_index = Some(false),
                        "sitemapindex" => is_index = Some(true),
                        other => return Err(SitemapError::NotASitemap { root: other.to_owned() }),
                    },
                    (1, Some(index)) if !is_empty => {
                        in_entry = name == if index { "sitemap" } else { "url" };
                        (loc, lastmod) = (None, None);
                    }
                    (2, _) if in_entry && !is_empty => {
                        field = match name {
                            "loc" => Some(Field::Loc),
                            "lastmod" => Some(Field::Lastmod),
                            _ => None,
                        };
                        buf.clear();
                    }
                    _ => {}
                }
                if !is_empty {
                    depth += 1;
                }
            }
            Event::Text(ref t) if depth == 3 && field.is_some() => buf.push_str(t),
            Event::CData(ref t) if depth == 3 && field.is_some() => buf.push_str(t),
            Event::GeneralRef(ref r) if depth == 3 && field.is_some() => {
                let position = reader.buffer_position();
                match r.resolve_char_ref() {
                    Ok(Some(c)) => buf.push(c),
                    Ok(None) => match resolve_predefined_entity(r) {
                        Some(s) => buf.push_str(s),
                        None => return Err(malformed(position, format!("unknown entity &{};", &**r))),
                    },
                    Err(e) => return Err(malformed(position, e.to_string())),
                }
            }
            Event::End(_) => {
                match depth {
                    3 => match field.take() {
                        Some(Field::Loc) => loc = Some(buf.trim().to_owned()),
                        Some(Field::Lastmod) => lastmod = Some(buf.trim().to_owned()).filter(|s| !s.is_empty()),
                        None => {}
                    },
                    2 if in_entry => {
                        in_entry = false;
                        if let Some(loc) = loc.take().as_deref().and_then(http_url) {
                            if urls.len() == max_urls {
                                truncated = true;
                                break;
                            }
                            urls.push(SitemapUrl {
                                loc,
                                lastmod: lastmod.take(),
                            });
                        }
                    }
                    _ => {}
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => {
                if depth > 0 {
                    let message = "the document ends before its root element is closed".to_owned();
                    return Err(malformed(reader.buffer_position(), message));
                }
                if is_index.is_none() {
                    return Err(malformed(reader.buffer_position(), "no root element".to_owned()));
                }
                break;
            }
            _ => {}
        }
    }
    Ok(match is_index {
        Some(true) => Sitemap::Index {
            sitemaps: urls.into_iter().map(|u| u.loc).collect(),
            truncated,
        },
        _ => Sitemap::Urls { urls, truncated },
    })
}

/// `s` as an absolute http(s) URL with a host, serialized; `None` otherwise.
fn http_url(s: &str) -> Option<String> {
    let url = Url::parse(s.trim()).ok()?;
    let fetchable = matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty());
    fetchable.then(|| url.into())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn locs(sitemap: &Sitemap) -> Vec<&str> {
        match sitemap {
            Sitemap::Urls { urls, .. } => urls.iter().map(|u| u.loc.as_str()).collect(),
            Sitemap::Index { sitemaps, .. } => sitemaps.iter().map(String::as_str).collect(),
        }
    }

    const URLSET: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
  <url>
    <loc>https://example.com/</loc>
    <lastmod>2024-05-01</lastmod>
    <changefreq>daily</changefreq>
  </url>
  <url>
    <loc>
      https://example.com/a?x=1&amp;y=2
    </loc>
    <image:image><image:loc>https://cdn.example.com/pic.jpg</image:loc></image:image>
  </url>
  <url><loc><![CDATA[https://example.com/cdata]]></loc><lastmod> </lastmod></url>
  <url><loc>/relative</loc></url>
  <url><loc>ftp://example.com/file</loc></url>
  <url><lastmod>2024-01-01</lastmod></url>
  <!-- <url><loc>https://example.com/commented</loc></url> -->
  <url><loc>https://example.com/&#x41;&#66;</loc></url>
</urlset>
"#;

    #[test]
    fn parses_a_urlset() {
        let sitemap = parse_sitemap(URLSET.as_bytes()).unwrap();
        let Sitemap::Urls { urls, truncated } = sitemap else {
            panic!("expected a urlset, got {sitemap:?}");
        };
        assert!(!truncated);
        let expected = [
            ("https://example.com/", Some("2024-05-01")),
            ("https://example.com/a?x=1&y=2", None),
            ("https://example.com/cdata", None),
            ("https://example.com/AB", None),
        ];
        let got: Vec<_> = urls.iter().map(|u| (u.loc.as_str(), u.lastmod.as_deref())).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn parses_an_index_with_any_namespace() {
        let body = r#"<sm:sitemapindex xmlns:sm="http://www.sitemaps.org/schemas/sitemap/0.9">
            <sm:sitemap><sm:loc>https://example.com/s1.xml.gz</sm:loc><sm:lastmod>2024-01-01</sm:lastmod></sm:sitemap>
            <sm:sitemap><sm:loc>https://example.com/s2.xml</sm:loc></sm:sitemap>
            <sm:url><sm:loc>https://example.com/not-an-index-entry</sm:loc></sm:url>
        </sm:sitemapindex>"#;
        let sitemap = parse_sitemap(body.as_bytes()).unwrap();
        assert!(matches!(sitemap, Sitemap::Index { truncated: false, .. }));
        assert_eq!(
            locs(&sitemap),
            ["https://example.com/s1.xml.gz", "https://example.com/s2.xml"]
        );

        let bare = "<urlset><url><loc>http://example.com/x</loc></url></urlset>";
        assert_eq!(locs(&parse_sitemap(bare.as_bytes()).unwrap()), ["http://example.com/x"]);
        let empty = parse_sitemap(b"<urlset/>").unwrap();
        assert_eq!(
            empty,
            Sitemap::Urls {
                urls: vec![],
                truncated: false
            }
        );
    }

    #[test]
    fn decompresses_gzip_whatever_the_headers_said() {
        let sitemap = parse_sitemap(&gzip(URLSET.as_bytes())).unwrap();
        assert_eq!(locs(&sitemap).len(), 4);
        // Concatenated gzip members are one file.
        let mut two = gzip(b"https://example.com/1\n");
        two.extend(gzip(b"https://example.com/2\n"));
        assert_eq!(
            locs(&parse_sitemap(&two).unwrap()),
            ["https://example.com/1", "https://example.com/2"]
        );
    }

    #[test]
    fn reports_corrupt_gzip() {
        let mut body = gzip(URLSET.as_bytes());
        body.truncate(body.len() / 2);
        assert!(matches!(parse_sitemap(&body), Err(SitemapError::Gzip(_))));
        assert!(matches!(parse_sitemap(&[0x1f, 0x8b, 0, 0]), Err(SitemapError::Gzip(_))));
    }

    #[test]
    fn stops_a_gzip_bomb_at_the_limit() {
        // 4 MiB of zeros compresses to a few KiB; the limit stops decompression at 1 MiB + 1.
        let bomb = gzip(&vec![0u8; 4 << 20]);
        assert!(bomb.len() < 64 << 10);
        let err = parse_with_limits(&bomb, 1 << 20, MAX_SITEMAP_URLS).unwrap_err();
        assert!(matches!(err, SitemapError::TooLarge { limit } if limit == 1 << 20));
        assert!(err.to_string().contains("1048576"));
        // Exactly at the limit is fine.
        let body = gzip(&vec![b'\n'; 1 << 20]);
        assert!(parse_with_limits(&body, 1 << 20, MAX_SITEMAP_URLS).is_ok());
        // The limit applies to uncompressed bodies too.
        let err = parse_with_limits(&[b'\n'; 100], 99, MAX_SITEMAP_URLS).unwrap_err();
        assert!(matches!(err, SitemapError::TooLarge { limit: 99 }));
    }

    #[test]
    fn parses_plain_text() {
        let body = "\u{feff}https://example.com/a\r\n  https://example.com/b  \n\nnot a url\n/relative\nmailto:x@y.z\nhttps://example.com/c";
        let sitemap = parse_sitemap(body.as_bytes()).unwrap();
        assert_eq!(
            locs(&sitemap),
            [
                "https://example.com/a",
                "https://example.com/b",
                "https://example.com/c"
            ]
        );
        assert_eq!(
            parse_sitemap(b"").unwrap(),
            Sitemap::Urls {
                urls: vec![],
                truncated: false
            }
        );
    }

    #[test]
    fn skips_bom_and_leading_whitespace_before_xml() {
        let body = format!("\u{feff}\n\n  {URLSET}");
        assert_eq!(locs(&parse_sitemap(body.as_bytes()).unwrap()).len(), 4);
    }

    #[test]
    fn caps_the_number_of_urls() {
        let mut xml = String::from("<urlset>");
        let mut text = String::new();
        for i in 0..=MAX_SITEMAP_URLS {
            xml.push_str(&format!("<url><loc>https://example.com/{i}</loc></url>"));
            text.push_str(&format!("https://example.com/{i}\n"));
        }
        xml.push_str("</urlset>");
        for body in [xml, text] {
            let Sitemap::Urls { urls, truncated } = parse_sitemap(body.as_bytes()).unwrap() else {
                panic!("expected urls");
            };
            assert!(truncated);
            assert_eq!(urls.len(), MAX_SITEMAP_URLS);
            assert_eq!(
                urls.last().unwrap().loc,
                format!("https://example.com/{}", MAX_SITEMAP_URLS - 1)
            );
        }
        // Exactly at the cap is not truncated; invalid entries do not count.
        let body =
            "<sitemapindex><sitemap><loc>https://a.com/1</loc></sitemap><sitemap><loc>x</loc></sitemap></sitemapindex>";
        let sitemap = parse_with_limits(body.as_bytes(), MAX_SITEMAP_BYTES, 1).unwrap();
        assert_eq!(
            sitemap,
            Sitemap::Index {
                sitemaps: vec!["https://a.com/1".into()],
                truncated: false
            }
        );
    }

    #[test]
    fn reports_malformed_xml_with_its_position() {
        let cases: [&str; 4] = [
            "<urlset><url><loc>https://a.com/</url></urlset>",
            "<urlset><url><loc>https://a.com/</loc></url>",
            "<urlset><url><loc>https://a.com/&nbsp;</loc></url></urlset>",
            "<?xml version=\"1.0\"?><!-- nothing -->",
        ];
        for body in cases {
            match parse_sitemap(body.as_bytes()) {
                Err(SitemapError::Malformed { position, message }) => {
                    assert!(position <= body.len() as u64, "{body}: {position}");
                    assert!(!message.is_empty());
                }
                other => panic!("{body}: expected Malformed, got {other:?}"),
            }
        }
        let err = parse_sitemap(b"<urlset><url><loc>x</loc></url></urlset").unwrap_err();
        assert!(err.to_string().contains("malformed at byte"), "{err}");
    }

    #[test]
    fn rejects_other_xml() {
        for (body, root) in [
            ("<rss version=\"2.0\"><channel/></rss>", "rss"),
            ("<!DOCTYPE html><html></html>", "html"),
        ] {
            match parse_sitemap(body.as_bytes()) {
                Err(SitemapError::NotASitemap { root: got }) => assert_eq!(got, root),
                other => panic!("{body}: expected NotASitemap, got {other:?}"),
            }
        }
    }
}
