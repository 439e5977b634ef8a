//! A WebAssembly module's bytes with their digest, computed once.
//!
//! Hashing riptide's ~900 KB extractor takes about a millisecond; a cache hit must take well
//! under a microsecond. So the digest is computed when a source is made, and every lookup after
//! that uses it: make a source once and keep it (the bundled extractor's is a static).

use std::path::Path;
use std::sync::{Arc, LazyLock};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// riptide's extractor module, built from `wasm/extractor/` by `wasm/build.sh`.
pub static EXTRACTOR_WASM: &[u8] = include_bytes!("../../wasm/riptide_extractor.wasm");

static EXTRACTOR: LazyLock<ModuleSource> = LazyLock::new(|| ModuleSource::new(EXTRACTOR_WASM));

/// Module bytes and their SHA-256.
#[derive(Clone)]
pub struct ModuleSource {
    bytes: Arc<[u8]>,
    digest: [u8; 32],
}

impl std::fmt::Debug for ModuleSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hex: String = self.digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        write!(f, "ModuleSource({} bytes, sha256 {hex}…)", self.bytes.len())
    }
}

impl ModuleSource {
    /// Wraps module bytes, hashing them once.
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Self {
        let bytes = bytes.into();
        let digest = Sha256::digest(&bytes).into();
        Self { bytes, digest }
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
        &self.bytes
    }

    /// SHA-256 of the bytes.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }
}
