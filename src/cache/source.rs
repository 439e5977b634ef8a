//! A WebAssembly module's bytes with their digest, computed once.
//!
//! Hashing riptide's ~900 KB extractor takes about a millisecond; a cache hit must take well
//! under a microsecond. So the digest is computed when a source is made, and every lookup after
//! that uses it: make a source once and keep it. The bundled extractor's digest is computed at
//! build time (build.rs), so a fresh process hitting its cache never touches the module bytes.

use std::path::Path;
use std::sync::{Arc, LazyLock};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// riptide's extractor module, built from `wasm/extractor/` by `wasm/build.sh`.
pub static EXTRACTOR_WASM: &[u8] = include_bytes!("../../wasm/riptide_extractor.wasm");

include!(concat!(env!("OUT_DIR"), "/extractor_digest.rs"));

static EXTRACTOR: LazyLock<ModuleSource> = LazyLock::new(|| ModuleSource {
    bytes: Bytes::Static(EXTRACTOR_WASM),
    digest: EXTRACTOR_SHA256,
});

/// Module bytes and their SHA-256.
#[derive(Clone)]
pub struct ModuleSource {
    bytes: Bytes,
    digest: [u8; 32],
}

#[derive(Clone)]
enum Bytes {
    Static(&'static [u8]),
    Shared(Arc<[u8]>),
}

impl std::fmt::Debug for ModuleSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hex: String = self.digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        write!(f, "ModuleSource({} bytes, sha256 {hex}…)", self.bytes().len())
    }
}

impl ModuleSource {
    /// Wraps module bytes, hashing them once.
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Self {
        let bytes: Arc<[u8]> = bytes.into();
        let digest = Sha256::digest(&bytes).into();
        Self {
            bytes: Bytes::Shared(bytes),
            digest,
        }
    }

    /// Reads a module from a file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io("read the WebAssembly module", path, e))?;
        Ok(Self::new(bytes))
    }

    /// riptide's bundled extractor.
    pub fn extractor() -> &'static ModuleSource {
        &EXTRACTOR
    }

    /// The module bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Static(b) => b,
            Bytes::Shared(b) => b,
        }
    }

    /// SHA-256 of the bytes.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_time_digest_matches_the_bundled_module() {
        assert_eq!(
            ModuleSource::extractor().digest(),
            ModuleSource::new(EXTRACTOR_WASM).digest()
        );
    }
}
