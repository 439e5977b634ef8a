//! A small build stays small: `--no-default-features --features wasmer` must not pull in the
//! default stack's heavy dependencies.

use std::process::Command;

fn normal_deps(features: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "--locked",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .args(features)
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn wasmer_only_build_pulls_in_no_default_backend() {
    let deps = normal_deps(&["--no-default-features", "--features", "wasmer"]);
    assert!(deps.iter().any(|d| d == "wasmer"), "wasmer is there: {deps:?}");
    for heavy in [
        "wasmtime",
        "redb",
        "headless_chrome",
        "chromiumoxide",
        "clap",
        "wasmer-cache",
    ] {
        assert!(
            !deps.iter().any(|d| d == heavy),
            "{heavy} is compiled into a wasmer-only build"
        );
    }
}

#[test]
fn default_build_has_the_default_stack() {
    let deps = normal_deps(&[]);
    for expected in ["wasmtime", "redb", "chromiumoxide"] {
        assert!(
            deps.iter().any(|d| d == expected),
            "{expected} missing from the default build"
        );
    }
    assert!(!deps.iter().any(|d| d == "wasmer"), "wasmer is opt-in");
    assert!(
        !deps.iter().any(|d| d == "headless_chrome"),
        "the chrome provider is opt-in (feature `chrome`)"
    );
}
