//! The byte layout of the frontier's rows, and the URL hash.
//!
//! A hand-written encoding rather than serde + JSON: a row is written for every URL the crawl
//! discovers and read back once, the layout is four fields that will not grow much, and a
//! length-prefixed binary form is about a third of the size of the JSON one (no field names, no
//! escaping), costs no allocation to validate, and keeps the frontier free of a serializer
//! dependency. Every row starts with a format byte, so a later layout can be told apart from
//! this one instead of being misread.
//!
//! ```text
//! queue row      FORMAT  varint depth  u8 found_via  str url  u8 has_parent [str parent]
//! in-flight row  FORMAT  u64-LE seq    str host      <queue row without its FORMAT byte>
//! str            varint length, then that many UTF-8 bytes
//! ```
//!
//! Decoding never trusts the bytes: a short, overlong or non-UTF-8 row is `None`, which the
//! frontier reports as a damaged file.

use super::{FoundVia, QueuedUrl};

/// The first byte of every row in this layout.
const FORMAT: u8 = 1;

/// The 64-bit hash the seen-set is keyed by: the first 8 bytes of the URL's BLAKE3 digest.
///
/// Two distinct URLs share a hash with probability about n²/2⁶⁵ over a crawl of n URLs (≈3·10⁻⁸
/// at a million): the cost of a collision is one page never fetched, against 8 bytes per URL
/// instead of the whole string.
pub(super) fn url_hash(url: &str) -> u64 {
    let digest = blake3::hash(url.as_bytes());
    let [b0, b1, b2, b3, b4, b5, b6, b7, ..] = *digest.as_bytes();
    u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7])
}

impl FoundVia {
    fn code(self) -> u8 {
        match self {
            FoundVia::Seed => 0,
            FoundVia::Link => 1,
            FoundVia::Sitemap => 2,
            FoundVia::Redirect => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => FoundVia::Seed,
            1 => FoundVia::Link,
            2 => FoundVia::Sitemap,
            3 => FoundVia::Redirect,
            _ => return None,
        })
    }
}

/// A queue row: everything of a [`QueuedUrl`] but its host, which is part of the row's key.
pub(super) fn encode_entry(url: &QueuedUrl) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + url.url.len() + url.parent.as_ref().map_or(0, String::len));
    out.push(FORMAT);
    put_entry_body(&mut out, url);
    out
}

/// An in-flight row: the queue row plus the host (keyed by URL hash, the row must carry it to be
/// requeued) and the sequence number it was queued under (to requeue in the original order).
pub(super) fn encode_in_flight(seq: u64, url: &QueuedUrl) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + url.host.len() + url.url.len() + url.parent.as_ref().map_or(0, String::len));
    out.push(FORMAT);
    out.extend_from_slice(&seq.to_le_bytes());
    put_str(&mut out, &url.host);
    put_entry_body(&mut out, url);
    out
}

fn put_entry_body(out: &mut Vec<u8>, url: &QueuedUrl) {
    put_varint(out, u64::from(url.depth));
    out.push(url.found_via.code());
    put_str(out, &url.url);
    match &url.parent {
        Some(parent) => {
            out.push(1);
            put_str(out, parent);
        }
        None => out.push(0),
    }
}

/// A decoded row, borrowing the row's bytes: validating a row allocates nothing.
#[derive(Debug, Clone, Copy)]
pub(super) struct EntryRef<'a> {
    pub(super) url: &'a str,
    pub(super) depth: u32,
    pub(super) parent: Option<&'a str>,
    pub(super) found_via: FoundVia,
}

impl EntryRef<'_> {
    pub(super) fn to_queued(self, host: &str) -> QueuedUrl {
        QueuedUrl {
            url: self.url.to_owned(),
            host: host.to_owned(),
            depth: self.depth,
            parent: self.parent.map(str::to_owned),
            found_via: self.found_via,
        }
    }
}

/// Reads a queue row; `None` if it is not one.
pub(super) fn decode_entry(bytes: &[u8]) -> Option<EntryRef<'_>> {
    let mut r = Reader(bytes);
    if r.byte()? != FORMAT {
        return None;
    }
    let entry = r.entry_body()?;
    r.end()?;
    Some(entry)
}

/// Reads an in-flight row into (queued seq, host, entry); `None` if it is not one.
pub(super) fn decode_in_flight(bytes: &[u8]) -> Option<(u64, &str, EntryRef<'_>)> {
    let mut r = Reader(bytes);
    if r.byte()? != FORMAT {
        return None;
    }
    let seq = u64::from_le_bytes(*r.take_array::<8>()?);
    let host = r.str()?;
    let entry = r.entry_body()?;
    r.end()?;
    Some((seq, host, entry))
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        // Truncation is the point: the low seven bits, with the continuation bit set.
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*first)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn take_array<const N: usize>(&mut self) -> Option<&'a [u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(head)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    fn str(&mut self) -> Option<&'a str> {
        let len = usize::try_from(self.varint()?).ok()?;
        std::str::from_utf8(self.take(len)?).ok()
    }

    fn entry_body(&mut self) -> Option<EntryRef<'a>> {
        let depth = u32::try_from(self.varint()?).ok()?;
        let found_via = FoundVia::from_code(self.byte()?)?;
        let url = self.str()?;
        let parent = match self.byte()? {
            0 => None,
            1 => Some(self.str()?),
            _ => return None,
        };
        Some(EntryRef {
            url,
            depth,
            parent,
            found_via,
        })
    }

    fn end(&self) -> Option<()> {
        self.0.is_empty().then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(parent: Option<&str>, depth: u32) -> QueuedUrl {
        QueuedUrl {
            url: "https://example.com/a?b=c#ü".into(),
            host: "example.com:8443".into(),
            depth,
            parent: parent.map(str::to_owned),
            found_via: FoundVia::Sitemap,
        }
    }

    #[test]
    fn entries_round_trip() {
        for url in [sample(None, 0), sample(Some("https://example.com/"), u32::MAX)] {
            let bytes = encode_entry(&url);
            assert_eq!(decode_entry(&bytes).unwrap().to_queued(&url.host), url);
            let bytes = encode_in_flight(u64::MAX - 3, &url);
            let (seq, host, entry) = decode_in_flight(&bytes).unwrap();
            assert_eq!((seq, host), (u64::MAX - 3, url.host.as_str()));
            assert_eq!(entry.to_queued(host), url);
        }
    }

    #[test]
    fn damaged_rows_are_rejected_not_misread() {
        let bytes = encode_entry(&sample(Some("https://example.com/"), 7));
        // Every truncation, a trailing byte, a foreign format byte.
        for len in 0..bytes.len() {
            assert!(decode_entry(&bytes[..len]).is_none(), "truncated to {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_entry(&longer).is_none());
        let mut foreign = bytes.clone();
        foreign[0] = 9;
        assert!(decode_entry(&foreign).is_none());
        // An overlong varint and invalid UTF-8.
        assert!(decode_entry(&[FORMAT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).is_none());
        assert!(decode_entry(&[FORMAT, 0, 1, 2, 0xc3, 0x28, 0]).is_none());
        assert!(decode_in_flight(&bytes).is_none());
    }

    #[test]
    fn hash_is_the_first_eight_bytes_of_blake3() {
        let digest = blake3::hash(b"https://example.com/");
        let expected = u64::from_le_bytes(digest.as_bytes()[..8].try_into().unwrap());
        assert_eq!(url_hash("https://example.com/"), expected);
    }
}
