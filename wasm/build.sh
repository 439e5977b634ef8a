#!/usr/bin/env bash
# Rebuilds wasm/riptide_extractor.wasm from wasm/extractor/ (the committed module riptide runs).
# Needs the wasm32-unknown-unknown target: `rustup target add wasm32-unknown-unknown`.
# The test `committed_module_is_current` fails when the committed module is stale.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/extractor"
cargo build --locked --release --target wasm32-unknown-unknown
cp target/wasm32-unknown-unknown/release/riptide_extractor.wasm "$here/riptide_extractor.wasm"
echo "wrote $here/riptide_extractor.wasm ($(wc -c < "$here/riptide_extractor.wasm") bytes)"
