//! Computes the SHA-256 of the bundled extractor at build time, so a fresh process that finds
//! the compiled extractor in its cache never reads or hashes the ~900 KB module itself.

use sha2::{Digest, Sha256};

fn main() {
    let path = "wasm/riptide_extractor.wasm";
    println!("cargo::rerun-if-changed={path}");
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}; rebuild it with wasm/build.sh"));
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    let out = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("extractor_digest.rs");
    let code = format!(
        "/// SHA-256 of `wasm/riptide_extractor.wasm`, computed by build.rs.\npub(crate) const EXTRACTOR_SHA256: [u8; 32] = {digest:?};\n"
    );
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
