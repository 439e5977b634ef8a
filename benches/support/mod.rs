//! Shared by the benchmarks: where criterion keeps its results, and reading a median back for
//! the targets table each benchmark prints.
#![allow(dead_code)]

use std::path::PathBuf;

/// `target/criterion` of this build (bench binaries live in `target/release/deps`).
pub(crate) fn criterion_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| Some(p.parent()?.parent()?.parent()?.to_path_buf()))
                .unwrap_or_else(|| "target".into())
        });
    target.join("criterion")
}

/// Median in nanoseconds of `group/bench` from criterion's estimates, if it ran.
pub(crate) fn median_ns(group: &str, bench: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(bench)
        .join("new")
        .join("estimates.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}
