//! The timeout simulator: deterministic, its workload files checked with clear errors, and the
//! adaptive-timeout targets of issue 4 on the shipped mixed workload (ratios of simulated time,
//! so no wall clock is involved).

use std::path::PathBuf;

use riptide::error::{ConfigError, ErrorKind};
use riptide::policies::simulate::{SimReport, Workload, compare, render_table, run};
use riptide::policies::{AdaptiveTimeout, FixedTimeout};

fn workload_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/workloads")
        .join(name)
}

fn shipped(name: &str) -> Workload {
    Workload::from_path(workload_file(name)).expect("shipped workload parses")
}

fn by_policy<'a>(reports: &'a [SimReport], prefix: &str) -> &'a SimReport {
    reports
        .iter()
        .find(|r| r.policy.starts_with(prefix))
        .expect("policy in report")
}

#[test]
fn the_mixed_workload_meets_the_issue_targets() {
    let reports = compare(&shipped("mixed.toml"));
    let fixed = by_policy(&reports, "FixedTimeout(30 s)");
    let seed = by_policy(&reports, "SeedAdaptive");
    let adaptive = by_policy(&reports, "AdaptiveTimeout");
    let table = render_table(&reports);
    assert!(
        adaptive.wasted_wait_secs <= 0.5 * fixed.wasted_wait_secs,
        "wasted wait at most half of FixedTimeout(30 s):\n{table}"
    );
    assert!(
        (adaptive.success_rate - fixed.success_rate).abs() <= 0.005,
        "success within 0.5 pp of FixedTimeout(30 s):\n{table}"
    );
    assert!(
        adaptive.wasted_wait_secs < seed.wasted_wait_secs && adaptive.success_rate >= seed.success_rate,
        "AdaptiveTimeout beats SeedAdaptive on wasted wait at equal or better success:\n{table}"
    );
}

#[test]
fn every_shipped_workload_runs_and_adaptive_keeps_the_success_rate() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/workloads");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("workloads dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    assert!(names.len() >= 3, "at least three documented workloads: {names:?}");
    for name in names {
        let w = shipped(&name);
        assert!(!w.description.is_empty(), "{name} says what it models");
        let reports = compare(&w);
        let fixed = by_policy(&reports, "FixedTimeout");
        let adaptive = by_policy(&reports, "AdaptiveTimeout");
        assert_eq!(adaptive.requests, w.total_requests());
        assert!(
            adaptive.success_rate >= fixed.success_rate - 0.005,
            "{name}:\n{}",
            render_table(&reports)
        );
        assert!(
            adaptive.wasted_wait_secs <= fixed.wasted_wait_secs,
            "{name}:\n{}",
            render_table(&reports)
        );
    }
}

#[test]
fn runs_are_deterministic_and_formats_agree() {
    let toml = shipped("mixed.toml");
    assert_eq!(compare(&toml), compare(&toml), "same workload, same seed, same report");
    let json = serde_json::json!({
        "name": "tiny", "seed": 3,
        "hosts": [{"name": "a.example", "requests": 50, "median_ms": 900, "sigma": 0.5, "never_answer": 0.05}]
    });
    let from_json = Workload::from_json_str(&json.to_string(), "inline.json").expect("json");
    let from_toml = Workload::from_toml_str(
        r#"
        name = "tiny"
        seed = 3
        [[hosts]]
        name = "a.example"
        requests = 50
        median_ms = 900
        sigma = 0.5
        never_answer = 0.05
        "#,
        "inline.toml",
    )
    .expect("toml");
    assert_eq!(compare(&from_json), compare(&from_toml));
    let mut other_seed = from_toml.clone();
    other_seed.seed = 4;
    assert_ne!(compare(&other_seed), compare(&from_toml), "the seed matters");
}

#[test]
fn misbehaving_hosts_are_modelled() {
    let w = Workload::from_toml_str(
        r#"
        seed = 1
        order = "grouped"
        [[hosts]]
        name = "dead.example"
        requests = 40
        median_ms = 10
        dead = true
        [[hosts]]
        name = "hole.example"
        requests = 5
        median_ms = 10
        never_answer = 1.0
        "#,
        "inline",
    )
    .expect("parses");
    let fixed = run(&w, "fixed", &FixedTimeout(std::time::Duration::from_secs(30)));
    assert_eq!(fixed.successes, 0);
    assert!(
        fixed.failed_circuit_open > 0,
        "a dead host opens its circuit: {fixed:?}"
    );
    assert!(fixed.circuits_opened >= 1, "and the report counts it: {fixed:?}");
    assert!(
        fixed.wasted_wait_secs >= 5.0 * 30.0,
        "each black-hole request waits out at least one 30 s attempt: {fixed:?}"
    );
    let adaptive = run(&w, "adaptive", &AdaptiveTimeout::new(w.timeouts.clone()));
    assert!(
        adaptive.wasted_wait_secs > 0.0,
        "a black hole costs every policy something"
    );
}

#[test]
fn bad_workloads_are_refused_naming_the_field() {
    let cases = [
        ("hosts = []", "`hosts` is empty"),
        ("[[hosts]]\nname = \"a\"\nrequests = 1\nmedian_ms = -3", "`median_ms`"),
        (
            "[[hosts]]\nname = \"a\"\nrequests = 1\nmedian_ms = 3\nnever_answer = 1.5",
            "`never_answer`",
        ),
        (
            "[[hosts]]\nname = \"a\"\nrequests = 1\nmedian_ms = 3\nspeed = 2",
            "unknown field `speed`",
        ),
        (
            "[[hosts]]\nname = \"a b\"\nrequests = 1\nmedian_ms = 3",
            "not a host name",
        ),
        ("[[hosts]]\nname = \"a\"\nrequests = 0\nmedian_ms = 3", "no requests"),
        (
            "[timeouts]\nmin_timeout_secs = 10\ndefault_timeout_secs = 5\n[[hosts]]\nname = \"a\"\nrequests = 1\nmedian_ms = 3",
            "timeouts.default_timeout_secs",
        ),
        (
            "[[hosts]]\nname = \"a\"\nrequests = 1\nmedian_ms = 3\nslowdown = { after = 2.0, factor = 3.0 }",
            "`slowdown`",
        ),
    ];
    for (text, expected) in cases {
        match Workload::from_toml_str(text, "case.toml") {
            Err(e) if matches!(e.kind(), ErrorKind::Config(ConfigError::Workload { .. })) => {
                let message = e.to_string();
                assert!(message.contains(expected), "{message:?} names {expected:?}");
                assert!(message.contains("case.toml"), "{message:?} names the file");
            }
            other => panic!("{text:?} was accepted or failed oddly: {other:?}"),
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let yaml = dir.path().join("w.yaml");
    std::fs::write(&yaml, "hosts: []").expect("write");
    assert!(
        Workload::from_path(&yaml)
            .unwrap_err()
            .to_string()
            .contains(".toml nor a .json")
    );
    assert!(
        Workload::from_path(dir.path().join("missing.toml"))
            .unwrap_err()
            .to_string()
            .contains("cannot be read")
    );
}

/// Issue 14: the default policy judged on a fixed sample of generated workloads (seeds 1 to 40),
/// so a change that makes it worse fails here. The bounds sit just beyond what this version
/// measures (won 85% against SeedAdaptive, wasted wait 0.767x SeedAdaptive's and 0.345x
/// FixedTimeout's, worst success gap 0.04 pp; BENCHMARKS.md has the 500-workload sample).
#[test]
fn the_default_policy_does_not_regress_on_generated_workloads() {
    use riptide::policies::simulate::{generate, standing};
    let runs: Vec<_> = (1..=40).map(|seed| compare(&generate(seed))).collect();
    let s = standing(&runs);
    assert_eq!(s.workloads, 40);
    assert!(s.won_vs_seed >= 0.80, "{s:?}");
    assert!(s.aggregate_ratio_vs_seed <= 0.79, "{s:?}");
    assert!(s.aggregate_ratio_vs_fixed <= 0.36, "{s:?}");
    assert!(s.worst_success_gap_vs_fixed_pp <= 0.25, "{s:?}");
}
