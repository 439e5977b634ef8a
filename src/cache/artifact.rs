//! The on-store framing of a compiled module, and its verification.
//!
//! Engines load artifacts with an `unsafe` deserialize that trusts its input as machine code, so
//! every artifact carries a header that binds it to its key and records the SHA-256 of the bytes
//! that follow. [`open`] checks all of it before anything is handed to an engine: a truncated,
//! bit-flipped, empty, foreign (other engine, other key, other format) or tampered artifact is
//! rejected with the reason, and the caller recompiles.
//!
//! ```text
//! magic "RIPTIDE\0" | format u32 | flags u32 | key [32] | created u64 | payload_len u64 | digest [32] | payload
//! ```
//! All integers little-endian. `flags` bit 0: payload is deflate-compressed. `digest` is the
//! SHA-256 of the payload as stored.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use sha2::{Digest, Sha256};

use crate::traits::CacheKey;

/// riptide's artifact format version; part of every cache key.
pub const FORMAT_VERSION: u32 = 1;

const MAGIC: &[u8; 8] = b"RIPTIDE\0";
const HEADER_LEN: usize = 8 + 4 + 4 + 32 + 8 + 8 + 32;
const FLAG_COMPRESSED: u32 = 1;

/// A sealed artifact and the digest recorded in its header.
pub(crate) struct Sealed {
    pub bytes: Vec<u8>,
    pub digest: [u8; 32],
}

/// Frames `payload` (an engine's serialized module) for storage under `key`.
pub(crate) fn seal(key: &CacheKey, payload: &[u8], compress: bool) -> Sealed {
    let stored: Cow<'_, [u8]> = if compress {
        let mut enc = DeflateEncoder::new(Vec::with_capacity(payload.len() / 2), Compression::fast());
        // Writing to a Vec cannot fail.
        match enc.write_all(payload).and_then(|()| enc.finish()) {
            Ok(bytes) => Cow::Owned(bytes),
            Err(_) => Cow::Borrowed(payload),
        }
    } else {
        Cow::Borrowed(payload)
    };
    let compressed = matches!(stored, Cow::Owned(_));
    let digest: [u8; 32] = Sha256::digest(&stored).into();
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut bytes = Vec::with_capacity(HEADER_LEN + stored.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(if compressed { FLAG_COMPRESSED } else { 0 }).to_le_bytes());
    bytes.extend_from_slice(&key.0);
    bytes.extend_from_slice(&created.to_le_bytes());
    bytes.extend_from_slice(&(stored.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&digest);
    bytes.extend_from_slice(&stored);
    Sealed { bytes, digest }
}

/// A verified artifact.
#[derive(Debug)]
pub(crate) struct Opened<'a> {
    /// The engine's serialized module, decompressed.
    pub payload: Cow<'a, [u8]>,
    /// When it was sealed (unix seconds).
    pub created_secs: u64,
}

/// Verifies `bytes` as the artifact of `key` and returns its payload; `recorded` is the store's
/// own record of the digest, when it keeps one.
pub(crate) fn open<'a>(key: &CacheKey, bytes: &'a [u8], recorded: Option<[u8; 32]>) -> Result<Opened<'a>, String> {
    let Some((header, stored)) = bytes.split_at_checked(HEADER_LEN) else {
        return Err(format!(
            "{} bytes is shorter than the {HEADER_LEN}-byte header",
            bytes.len()
        ));
    };
    let mut fields = Fields(header);
    if fields.take::<8>() != *MAGIC {
        return Err("not a riptide artifact (bad magic)".into());
    }
    let version = u32::from_le_bytes(fields.take());
    if version != FORMAT_VERSION {
        return Err(format!("artifact format {version}, expected {FORMAT_VERSION}"));
    }
    let flags = u32::from_le_bytes(fields.take());
    if fields.take::<32>() != key.0 {
        return Err("artifact belongs to another key (engine, module or format)".into());
    }
    let created_secs = u64::from_le_bytes(fields.take());
    let len = u64::from_le_bytes(fields.take());
    let digest: [u8; 32] = fields.take();
    if len != stored.len() as u64 {
        return Err(format!(
            "header says {len} payload bytes, {} present (truncated or padded)",
            stored.len()
        ));
    }
    if let Some(recorded) = recorded
        && recorded != digest
    {
        return Err("header digest differs from the digest recorded in the index (tampered)".into());
    }
    if <[u8; 32]>::from(Sha256::digest(stored)) != digest {
        return Err("payload does not match its SHA-256 digest (corrupted or tampered)".into());
    }
    let payload = if flags & FLAG_COMPRESSED != 0 {
        let mut out = Vec::with_capacity(stored.len() * 3);
        DeflateDecoder::new(stored)
            .read_to_end(&mut out)
            .map_err(|e| format!("cannot decompress: {e}"))?;
        Cow::Owned(out)
    } else {
        Cow::Borrowed(stored)
    };
    Ok(Opened { payload, created_secs })
}

/// Reads fixed-size fields off the front of a header known to be long enough.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        let mut out = [0u8; N];
        out.copy_from_slice(head);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: CacheKey = CacheKey([7; 32]);

    #[test]
    fn round_trips_plain_and_compressed() {
        let payload = b"compiled code, compiled code, compiled code".repeat(20);
        for compress in [false, true] {
            let sealed = seal(&KEY, &payload, compress);
            let opened = open(&KEY, &sealed.bytes, Some(sealed.digest)).expect("fresh artifact opens");
            assert_eq!(&*opened.payload, payload.as_slice());
            assert_eq!(compress, sealed.bytes.len() < payload.len());
        }
    }

    #[test]
    fn rejects_every_damage() {
        let sealed = seal(&KEY, &[1u8; 1000], false);
        let mut flipped = sealed.bytes.clone();
        *flipped.last_mut().expect("non-empty") ^= 1;
        let cases: Vec<(&str, Vec<u8>, CacheKey)> = vec![
            ("empty", vec![], KEY),
            ("truncated", sealed.bytes[..sealed.bytes.len() - 1].to_vec(), KEY),
            ("bit flip", flipped, KEY),
            ("other key", sealed.bytes.clone(), CacheKey([8; 32])),
        ];
        for (name, bytes, key) in cases {
            assert!(open(&key, &bytes, None).is_err(), "{name} must be rejected");
        }
        assert!(
            open(&KEY, &sealed.bytes, Some([0; 32])).is_err(),
            "index disagreement must be rejected"
        );
    }
}
