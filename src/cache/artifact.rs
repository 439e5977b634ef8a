//! Sealing a compiled module for storage, and verifying it before an engine loads it.
//!
//! Engines load artifacts with an `unsafe` deserialize that trusts its input as machine code. So
//! every artifact is stored with an [`ArtifactMeta`] that binds it to its key and its engine's
//! fingerprint and records its length and BLAKE3 digest, and [`verify`] checks all of it before
//! anything is handed to an engine: a truncated, bit-flipped, empty, foreign (other engine, other
//! key, other format) or tampered artifact is rejected with the reason, and the caller recompiles.
//!
//! A file-backed body is read into memory, verified there, and the engine loads that copy:
//! never the file itself. An engine that maps a file runs code from pages the file backs, and a
//! file truncated or rewritten in place under the mapping (by `cp` over it, by another tool)
//! kills the process with `SIGBUS`, whatever riptide checked before (issue 28, item 4). Reading
//! costs a copy of 2-6 MB per load; crashing costs the process.
//!
//! Why BLAKE3 rather than SHA-256 (which keys use): it is cryptographic too, and it hashes the
//! 2–6 MB artifacts about twice as fast here, on the path every fresh process takes.

use std::borrow::Cow;
use std::io::{Read, Seek, SeekFrom, Write};

use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;

use crate::traits::{ArtifactBody, ArtifactMeta, CacheKey, StoredArtifact};

/// riptide's artifact format version; part of every cache key.
pub const FORMAT_VERSION: u32 = 2;

/// Frames `payload` (an engine's serialized module) for storage under `key`.
pub(crate) fn seal<'a>(
    key: &CacheKey,
    fingerprint: [u8; 32],
    payload: &'a [u8],
    compress: bool,
) -> (ArtifactMeta, Cow<'a, [u8]>) {
    let body: Cow<'a, [u8]> = if compress {
        let mut enc = DeflateEncoder::new(Vec::with_capacity(payload.len() / 2), Compression::fast());
        match enc.write_all(payload).and_then(|()| enc.finish()) {
            Ok(bytes) => Cow::Owned(bytes),
            // Writing to a Vec does not fail; if it ever did, store uncompressed.
            Err(_) => Cow::Borrowed(payload),
        }
    } else {
        Cow::Borrowed(payload)
    };
    let meta = ArtifactMeta {
        format: FORMAT_VERSION,
        key: *key,
        fingerprint,
        created_secs: crate::sync::now_unix_secs(),
        len: body.len() as u64,
        digest: *blake3::hash(&body).as_bytes(),
        compressed: matches!(body, Cow::Owned(_)),
    };
    (meta, body)
}

/// A verified artifact in memory, ready for the engine: the very bytes that were checked.
#[derive(Debug)]
pub(crate) struct Verified(pub(crate) Vec<u8>);

/// Checks `stored` against what `key` and `fingerprint` require, and its body against its
/// recorded length and digest.
pub(crate) fn verify(key: &CacheKey, fingerprint: [u8; 32], stored: StoredArtifact) -> Result<Verified, String> {
    let meta = stored.meta;
    if meta.format != FORMAT_VERSION {
        return Err(format!("artifact format {}, expected {FORMAT_VERSION}", meta.format));
    }
    if meta.key != *key {
        return Err("metadata belongs to another key".into());
    }
    if meta.fingerprint != fingerprint {
        return Err("artifact was written by another engine or engine configuration".into());
    }
    let body = match stored.body {
        ArtifactBody::Bytes(bytes) => {
            check_digest(&meta, bytes.len() as u64, hash(&bytes))?;
            bytes
        }
        ArtifactBody::File { mut file, path } => {
            let len = file
                .metadata()
                .map_err(|e| format!("cannot stat {}: {e}", path.display()))?
                .len();
            if len != meta.len {
                return Err(format!(
                    "file holds {len} bytes, {} recorded (truncated or replaced)",
                    meta.len
                ));
            }
            let mut bytes = Vec::with_capacity(len as usize);
            file.seek(SeekFrom::Start(0))
                .and_then(|_| file.read_to_end(&mut bytes))
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            // Checked as read: what the engine gets is this copy, whatever happens to the file.
            check_digest(&meta, bytes.len() as u64, hash(&bytes))?;
            bytes
        }
    };
    if !meta.compressed {
        return Ok(Verified(body));
    }
    let mut out = Vec::with_capacity(body.len() * 3);
    DeflateDecoder::new(body.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot decompress: {e}"))?;
    Ok(Verified(out))
}

fn check_digest(meta: &ArtifactMeta, len: u64, digest: blake3::Hash) -> Result<(), String> {
    if len != meta.len {
        return Err(format!(
            "body is {len} bytes, {} recorded (truncated or padded)",
            meta.len
        ));
    }
    if digest.as_bytes() != &meta.digest {
        return Err("body does not match its recorded BLAKE3 digest (corrupted or tampered)".into());
    }
    Ok(())
}

/// BLAKE3 of a body in memory, on all cores for the 2-6 MB artifacts (blake3's `rayon`
/// support), which matters on the path every fresh process takes.
fn hash(bytes: &[u8]) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update_rayon(bytes);
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    const KEY: CacheKey = CacheKey([7; 32]);
    const ENGINE: [u8; 32] = [9; 32];

    fn stored(meta: ArtifactMeta, body: &[u8]) -> StoredArtifact {
        StoredArtifact {
            meta,
            body: ArtifactBody::Bytes(body.to_vec()),
        }
    }

    fn payload_of(v: Verified) -> Vec<u8> {
        v.0
    }

    #[test]
    fn round_trips_plain_and_compressed() {
        let payload = b"compiled code, compiled code, compiled code".repeat(20);
        for compress in [false, true] {
            let (meta, body) = seal(&KEY, ENGINE, &payload, compress);
            assert_eq!(compress, body.len() < payload.len());
            assert_eq!(ArtifactMeta::decode(&meta.encode()), Some(meta));
            let verified = verify(&KEY, ENGINE, stored(meta, &body)).expect("fresh artifact verifies");
            assert_eq!(payload_of(verified), payload);
        }
    }

    #[test]
    fn rejects_every_damage() {
        let (meta, body) = seal(&KEY, ENGINE, &[1u8; 1000], false);
        let mut flipped = body.to_vec();
        flipped[500] ^= 1;
        let cases = [
            ("empty", stored(meta, &[]), KEY, ENGINE),
            ("truncated", stored(meta, &body[..999]), KEY, ENGINE),
            ("padded", stored(meta, &[&body[..], &[0]].concat()), KEY, ENGINE),
            ("bit flip", stored(meta, &flipped), KEY, ENGINE),
            ("other key", stored(meta, &body), CacheKey([8; 32]), ENGINE),
            ("other engine", stored(meta, &body), KEY, [1; 32]),
            (
                "other format",
                stored(ArtifactMeta { format: 99, ..meta }, &body),
                KEY,
                ENGINE,
            ),
        ];
        for (name, artifact, key, engine) in cases {
            assert!(verify(&key, engine, artifact).is_err(), "{name} must be rejected");
        }
        assert_eq!(ArtifactMeta::decode(b"short"), None);
    }

    /// Issue 15, item 9: what is verified and what is loaded are the open file's bytes, not
    /// whatever a rename put at the store's path. Issue 28, item 4: and they are a copy, so a
    /// file rewritten in place (truncated, `cp` over it) after verification cannot reach them.
    #[test]
    fn what_is_loaded_is_a_verified_copy_that_no_change_to_the_file_reaches() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.art");
        let payload = b"the real compiled module".repeat(100);
        let (meta, body) = seal(&KEY, ENGINE, &payload, false);
        std::fs::write(&path, &body).expect("write");
        let file = File::open(&path).expect("open");
        // Swapped in after the store opened the artifact: same length, other bytes.
        let swapped = dir.path().join("swap");
        std::fs::write(&swapped, vec![0xcc; body.len()]).expect("write");
        std::fs::rename(&swapped, &path).expect("rename over");
        let artifact = StoredArtifact {
            meta,
            body: ArtifactBody::File {
                file,
                path: path.clone(),
            },
        };
        let verified = verify(&KEY, ENGINE, artifact).expect("the opened file is intact");
        assert_eq!(verified.0, payload, "it loads what was verified");
        // Rewritten in place, then truncated, after verification: the copy is untouched.
        std::fs::write(&path, vec![0xdd; body.len()]).expect("rewrite in place");
        File::create(&path).expect("truncate");
        assert_eq!(verified.0, payload);
    }
}
