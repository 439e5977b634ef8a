//! Turning a page's bytes into text the way a browser does.
//!
//! A page that declares its encoding only in `<meta charset>` (common for windows-1251,
//! Shift_JIS, ISO-8859-x pages) comes out garbled when only the BOM and the `Content-Type`
//! header are read, and the extraction then "succeeds" on mojibake. The HTML standard's order is
//! followed: the byte order mark, the transport's `charset`, then a prescan of the first 1024
//! bytes for `<meta charset>` or `<meta http-equiv="Content-Type">`, with one deviation: bytes
//! that are valid UTF-8 are read as UTF-8 whatever the `<meta>` says (saved and converted pages
//! keep a stale declaration). A page that declares nothing and is not UTF-8 is whatever
//! `chardetng` (Firefox's detector) finds most likely. Decoding itself is `encoding_rs` (the WHATWG Encoding
//! Standard).

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

/// How far into the page the `<meta>` prescan looks, as the HTML standard says.
const PRESCAN_BYTES: usize = 1024;

/// Decodes `body`, an HTML page, choosing the encoding as a browser does: BOM, then the
/// `charset` parameter of `content_type` (the `Content-Type` header, if any), then UTF-8 if the
/// bytes are valid UTF-8, then a `<meta>` declaration in the first 1024 bytes, else the most
/// likely legacy encoding. Bytes that are invalid in the chosen encoding become U+FFFD.
pub fn decode_html(body: &[u8], content_type: Option<&str>) -> String {
    html_encoding(body, content_type).decode(body).0.into_owned()
}

/// The encoding [`decode_html`] decodes `body` with.
pub fn html_encoding(body: &[u8], content_type: Option<&str>) -> &'static Encoding {
    if let Some((encoding, _)) = Encoding::for_bom(body) {
        return encoding;
    }
    if let Some(encoding) = content_type.and_then(charset_param).and_then(label) {
        return encoding;
    }
    // Unlike a browser, valid UTF-8 outranks a `<meta>` declaration: pages saved or converted
    // to UTF-8 keep their old `<meta charset=gb2312>`, while text really written in a legacy
    // encoding is almost never valid UTF-8 once it has a few non-ASCII characters.
    if std::str::from_utf8(body).is_ok() {
        return UTF_8;
    }
    if let Some(encoding) = prescan(&body[..body.len().min(PRESCAN_BYTES)]) {
        return encoding;
    }
    // ISO-2022-JP is not guessed: like browsers, a page that runs scripts is never decoded as
    // it unless it says so. UTF-8 was ruled out above.
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(body, true);
    detector.guess(None, chardetng::Utf8Detection::Deny)
}

/// An encoding label as the HTML standard maps a declared one: UTF-16 declared in a page
/// that is being read as bytes means UTF-8, and `x-user-defined` means windows-1252.
fn label(raw: &str) -> Option<&'static Encoding> {
    let encoding = Encoding::for_label(raw.trim().trim_matches(['"', '\'']).as_bytes())?;
    Some(
        if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE {
            UTF_8
        } else if encoding == encoding_rs::X_USER_DEFINED {
            WINDOWS_1252
        } else {
            encoding
        },
    )
}

/// The value of a `charset=` parameter in a `Content-Type`-style string.
fn charset_param(value: &str) -> Option<&str> {
    let lower = value.to_ascii_lowercase();
    let at = lower.find("charset")?;
    let rest = value[at + "charset".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let end = rest
        .char_indices()
        .skip(1)
        .find(|&(_, c)| matches!(c, ';' | ' ' | '\t' | '"' | '\'' | '>' | '/'))
        .map_or(rest.len(), |(i, _)| i);
    let value = rest[..end].trim_matches(['"', '\'']);
    (!value.is_empty()).then_some(value)
}

/// The encoding a `<meta>` tag in `head` declares: `charset`, or `http-equiv="content-type"`
/// with a `content` naming a charset. Comments are skipped.
fn prescan(head: &[u8]) -> Option<&'static Encoding> {
    let text = String::from_utf8_lossy(head);
    let lower = text.to_ascii_lowercase();
    let mut at = 0;
    while let Some(found) = lower[at..].find('<') {
        let start = at + found;
        if lower[start..].starts_with("<!--") {
            at = lower[start..].find("-->").map_or(lower.len(), |e| start + e + 3);
            continue;
        }
        let end = lower[start..].find('>').map_or(lower.len(), |e| start + e);
        let tag = &lower[start..end];
        at = end.max(start + 1);
        if !tag.starts_with("<meta") || !tag[5..].starts_with(|c: char| c.is_ascii_whitespace() || c == '/') {
            continue;
        }
        let original = &text[start..end];
        if let Some(value) = attribute(tag, original, "charset")
            && let Some(encoding) = label(value)
        {
            return Some(encoding);
        }
        let is_content_type =
            attribute(tag, original, "http-equiv").is_some_and(|v| v.eq_ignore_ascii_case("content-type"));
        if is_content_type
            && let Some(encoding) = attribute(tag, original, "content")
                .and_then(charset_param)
                .and_then(label)
        {
            return Some(encoding);
        }
    }
    None
}

/// The value of attribute `name` in a tag (`lower` is `original` lower-cased, for matching).
fn attribute<'a>(lower: &str, original: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(found) = lower[from..].find(name) {
        let at = from + found;
        from = at + name.len();
        let preceded = lower[..at].ends_with(|c: char| c.is_ascii_whitespace() || c == '/' || c == '"' || c == '\'');
        let rest = lower[from..].trim_start();
        if !preceded || !rest.starts_with('=') {
            continue;
        }
        let value_start = lower.len() - rest.len() + 1;
        let value = original[value_start..].trim_start();
        return Some(match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or(""),
            _ => value
                .split(|c: char| c.is_ascii_whitespace() || c == '>')
                .next()
                .unwrap_or(""),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(text: &str, encoding: &'static Encoding) -> Vec<u8> {
        encoding.encode(text).0.into_owned()
    }

    #[test]
    fn meta_charset_is_read_when_the_header_says_nothing() {
        let page = "<html><head><meta charset=\"windows-1251\"><title>Привет</title></head><body>мир</body></html>";
        let bytes = encode(page, encoding_rs::WINDOWS_1251);
        assert_eq!(decode_html(&bytes, Some("text/html")), page);

        let page = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=Shift_JIS\"></head><body>日本語のページ</body></html>";
        let bytes = encode(page, encoding_rs::SHIFT_JIS);
        assert_eq!(decode_html(&bytes, None), page);
    }

    #[test]
    fn bom_then_header_then_meta() {
        let page = "<meta charset=iso-8859-2><p>zażółć</p>";
        let latin2 = encode(page, encoding_rs::ISO_8859_2);
        // The header wins over the page's own declaration.
        assert_eq!(
            html_encoding(&latin2, Some("text/html; charset=\"windows-1250\"")),
            encoding_rs::WINDOWS_1250
        );
        assert_eq!(html_encoding(&latin2, Some("text/html")), encoding_rs::ISO_8859_2);
        let mut with_bom = vec![0xEF, 0xBB, 0xBF];
        with_bom.extend_from_slice(b"<meta charset=windows-1252><p>x</p>");
        assert_eq!(html_encoding(&with_bom, Some("text/html; charset=koi8-r")), UTF_8);
    }

    #[test]
    fn valid_utf8_outranks_a_stale_meta_declaration() {
        let page = "<meta charset=gb2312><p>腾讯网 新闻</p>";
        assert_eq!(decode_html(page.as_bytes(), None), page);
        let gbk = encode(page, encoding_rs::GBK);
        assert_eq!(decode_html(&gbk, None), page);
    }

    #[test]
    fn declarations_in_comments_and_utf16_labels_are_handled_as_the_standard_says() {
        // Each page has bytes that are not UTF-8, so the declaration is what decides.
        let commented = b"<!-- <meta charset=koi8-r> --><p>\xe9t\xe9 \xe0 la plage, caf\xe9</p>";
        assert_ne!(html_encoding(commented, None), encoding_rs::KOI8_R);
        assert_eq!(html_encoding(b"<meta charset=utf-16le><p>\xff</p>", None), UTF_8);
        assert_eq!(
            html_encoding(b"<meta charset=x-user-defined><p>\xff</p>", None),
            WINDOWS_1252
        );
        let not_meta = b"<metadata charset=koi8-r><p>\xe9t\xe9</p>";
        assert_ne!(html_encoding(not_meta, None), encoding_rs::KOI8_R);
    }

    #[test]
    fn undeclared_legacy_bytes_are_detected() {
        let page = "<p>Grüße aus Köln, schöne Straße, Äpfel und Öl für alle Bürger.</p>";
        let bytes = encode(page, WINDOWS_1252);
        assert!(std::str::from_utf8(&bytes).is_err());
        assert_eq!(decode_html(&bytes, None), page);
    }

    #[test]
    fn garbage_never_panics() {
        for input in [
            &b""[..],
            b"<",
            b"<meta",
            b"<meta charset",
            b"<meta charset=",
            b"<meta charset=\"",
            b"\xff\xfe\x00",
            b"<meta http-equiv=content-type content=charset>",
        ] {
            let _ = decode_html(input, Some("charset="));
        }
    }
}
