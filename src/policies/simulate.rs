//! A deterministic, trace-driven simulator for timeout policies: no network, no real waiting.
//!
//! A [`Workload`] describes hosts (log-normal latencies, heavy tails, attempts that never answer,
//! dead and flaky hosts, hosts that slow down part-way) and how many requests each gets. [`run`]
//! plays every request through the same retry rules as [`Retrier::run`](super::Retrier::run)
//! (escalation, overall deadline, jitter, retry budget, circuit breaker) on a virtual clock,
//! asking the policy for each attempt's timeout and reporting each outcome back to it.
//!
//! Requests run one after another, so the virtual clock is the total time a single worker would
//! spend. Every random draw comes from the workload's seed, per request and attempt: the same
//! attempt sees the same answer under every policy, so reports compare policies, not luck.
//!
//! ```
//! use riptide::policies::simulate::{Workload, compare};
//!
//! let workload = Workload::from_toml_str(r#"
//!     seed = 7
//!     [[hosts]]
//!     name = "shop.example"
//!     requests = 200
//!     median_ms = 800
//!     sigma = 0.4
//!     never_answer = 0.02
//! "#, "inline")?;
//! let reports = compare(&workload);
//! let (fixed, adaptive) = (&reports[0], &reports[2]);
//! assert!(adaptive.wasted_wait_secs < fixed.wasted_wait_secs);
//! # Ok::<(), riptide::Error>(())
//! ```

mod generate;
mod workload;

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

pub use self::generate::generate;
use self::workload::Answer;
pub use self::workload::{HostSpec, Order, Slowdown, Tail, Workload};
use super::retry::{RetryPlan, Step};
use super::{AdaptiveTimeout, FixedTimeout, Retrier, RetrySettings, SeedAdaptive};
use crate::error::{Error, ErrorKind, RetryError};
use crate::traits::{Outcome, Target, TimeoutPolicy};

/// What one policy did on one workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SimReport {
    /// The policy's name.
    pub policy: String,
    /// Requests played.
    pub requests: u64,
    /// Requests that ended with a page.
    pub successes: u64,
    /// `successes / requests`.
    pub success_rate: f64,
    /// Attempts made (first attempts and retries).
    pub attempts: u64,
    /// Retries spent (`attempts - first attempts`).
    pub retries: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Seconds spent in attempts that timed out.
    pub wasted_wait_secs: f64,
    /// Seconds for the whole workload (one request after another).
    pub total_time_secs: f64,
    /// Median time from a request's start to its result (page or error), in seconds.
    pub p50_time_to_result_secs: f64,
    /// 99th percentile of the same.
    pub p99_time_to_result_secs: f64,
    /// Requests that ended because retries or the overall deadline ran out.
    pub failed_retries_exhausted: u64,
    /// Requests refused for lack of retry budget.
    pub failed_budget: u64,
    /// Requests failed fast by an open circuit.
    pub failed_circuit_open: u64,
    /// Times a host's circuit opened (counted here instead of logged: the hosts are simulated).
    pub circuits_opened: u64,
    /// Requests that failed for a reason not worth retrying.
    pub failed_not_retryable: u64,
}

/// Plays `workload` against `policy` (named `name` in the report), with retry settings from the
/// workload's `timeouts`.
pub fn run(workload: &Workload, name: &str, policy: &dyn TimeoutPolicy) -> SimReport {
    let retrier =
        Retrier::with_seed(RetrySettings::from_config(&workload.timeouts), workload.seed).without_circuit_warnings();
    let requests = schedule(workload);
    let base = Instant::now();
    let mut clock = Duration::ZERO;
    let mut report = SimReport {
        policy: name.to_string(),
        requests: requests.len() as u64,
        successes: 0,
        success_rate: 0.0,
        attempts: 0,
        retries: 0,
        timeouts: 0,
        wasted_wait_secs: 0.0,
        total_time_secs: 0.0,
        p50_time_to_result_secs: 0.0,
        p99_time_to_result_secs: 0.0,
        failed_retries_exhausted: 0,
        failed_budget: 0,
        failed_circuit_open: 0,
        circuits_opened: 0,
        failed_not_retryable: 0,
    };
    let mut wasted = Duration::ZERO;
    let mut times = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        let spec = &workload.hosts[r.spec];
        let target = Target::new(&r.host, spec.engine);
        let mut rng = fastrand::Rng::with_seed(workload.seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let started = clock;
        let result = RetryPlan::begin(&retrier, policy, &target, &target.host, base + clock).and_then(|mut plan| {
            loop {
                let timeout = plan.next_timeout(base + clock);
                report.attempts += 1;
                let (outcome, spent) = match spec.answer(&mut rng, r.progress) {
                    Answer::After(latency) if latency <= timeout => (Outcome::Succeeded(latency), latency),
                    Answer::Fails(after, class) if after <= timeout => (Outcome::Failed(class), after),
                    _ => (Outcome::TimedOut(timeout), timeout),
                };
                if let Outcome::TimedOut(_) = outcome {
                    report.timeouts += 1;
                    wasted += timeout;
                }
                clock += spent;
                match plan.after(outcome, None, base + clock)? {
                    Step::Done => return Ok(()),
                    Step::Pause(pause) => {
                        report.retries += 1;
                        clock += pause;
                    }
                }
            }
        });
        match result.as_ref().map_err(Error::kind) {
            Ok(()) => report.successes += 1,
            Err(ErrorKind::Retry(RetryError::BudgetExhausted { .. })) => report.failed_budget += 1,
            Err(ErrorKind::Retry(RetryError::CircuitOpen { .. })) => report.failed_circuit_open += 1,
            Err(ErrorKind::Retry(RetryError::AttemptFailed { .. })) => report.failed_not_retryable += 1,
            Err(_) => report.failed_retries_exhausted += 1,
        }
        times.push(clock - started);
    }
    times.sort_unstable();
    let quantile = |q: f64| {
        let rank = ((q * times.len() as f64).ceil() as usize).clamp(1, times.len().max(1));
        times.get(rank - 1).map_or(0.0, Duration::as_secs_f64)
    };
    report.success_rate = report.successes as f64 / report.requests.max(1) as f64;
    report.wasted_wait_secs = wasted.as_secs_f64();
    report.total_time_secs = clock.as_secs_f64();
    report.p50_time_to_result_secs = quantile(0.5);
    report.p99_time_to_result_secs = quantile(0.99);
    report.circuits_opened = retrier.circuits_opened();
    report
}

/// Plays `workload` against riptide's three policies, each fresh, with the same settings:
/// `FixedTimeout(default_timeout_secs)`, `SeedAdaptive`, `AdaptiveTimeout` (in that order).
pub fn compare(workload: &Workload) -> Vec<SimReport> {
    let c = &workload.timeouts;
    let fixed = FixedTimeout(Duration::from_secs(c.default_timeout_secs));
    vec![
        run(workload, &format!("FixedTimeout({} s)", c.default_timeout_secs), &fixed),
        run(workload, "SeedAdaptive", &SeedAdaptive::new(c.clone())),
        run(workload, "AdaptiveTimeout", &AdaptiveTimeout::new(c.clone())),
    ]
}

/// The reports as a Markdown table, each policy's wasted wait also as a share of the first's.
pub fn render_table(reports: &[SimReport]) -> String {
    let mut out = String::from(
        "| policy | success | wasted wait | vs first | total time | p50 to result | p99 to result | retries | time-outs | circuits opened |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let base = reports.first().map_or(0.0, |r| r.wasted_wait_secs);
    for r in reports {
        let share = if base > 0.0 {
            format!("{:.1}%", 100.0 * r.wasted_wait_secs / base)
        } else {
            "-".into()
        };
        let _ = writeln!(
            out,
            "| {} | {:.2}% | {:.0} s | {share} | {:.0} s | {:.2} s | {:.1} s | {} | {} | {} |",
            r.policy,
            100.0 * r.success_rate,
            r.wasted_wait_secs,
            r.total_time_secs,
            r.p50_time_to_result_secs,
            r.p99_time_to_result_secs,
            r.retries,
            r.timeouts,
            r.circuits_opened
        );
    }
    out
}

/// One request of the schedule.
struct Request {
    spec: usize,
    host: String,
    /// How far through its host's requests this one is, in [0, 1).
    progress: f64,
}

fn schedule(workload: &Workload) -> Vec<Request> {
    // Per host: its requests in order.
    let mut per_host: Vec<Vec<Request>> = Vec::new();
    for (spec, h) in workload.hosts.iter().enumerate() {
        for replica in 1..=h.replicas {
            let host = if h.replicas == 1 {
                h.name.clone()
            } else {
                format!("{}-{replica}", h.name)
            };
            per_host.push(
                (0..h.requests)
                    .map(|k| Request {
                        spec,
                        host: host.clone(),
                        progress: f64::from(k) / f64::from(h.requests),
                    })
                    .collect(),
            );
        }
    }
    match workload.order {
        Order::Grouped => per_host.into_iter().flatten().collect(),
        Order::RoundRobin => {
            let mut queues: Vec<_> = per_host.into_iter().map(Vec::into_iter).collect();
            let mut out = Vec::new();
            loop {
                let before = out.len();
                out.extend(queues.iter_mut().filter_map(Iterator::next));
                if out.len() == before {
                    return out;
                }
            }
        }
        Order::Shuffled => {
            // Shuffle which host goes next, keeping each host's own requests in order (so
            // `progress` and slowdowns mean what they say).
            let mut slots: Vec<usize> = per_host
                .iter()
                .enumerate()
                .flat_map(|(i, q)| std::iter::repeat_n(i, q.len()))
                .collect();
            fastrand::Rng::with_seed(workload.seed).shuffle(&mut slots);
            let mut queues: Vec<_> = per_host.into_iter().map(Vec::into_iter).collect();
            slots.into_iter().filter_map(|i| queues[i].next()).collect()
        }
    }
}

/// How the default policy fared against the others over many workloads (the reports of
/// [`compare`] for each): what a change to [`AdaptiveTimeout`] is judged by.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Standing {
    /// Workloads played.
    pub workloads: usize,
    /// Share of workloads where `AdaptiveTimeout` wasted less wait than `SeedAdaptive` with a
    /// success rate no lower.
    pub won_vs_seed: f64,
    /// Median, over workloads, of `AdaptiveTimeout`'s wasted wait over `SeedAdaptive`'s.
    pub median_ratio_vs_seed: f64,
    /// The largest such ratio (the worst workload).
    pub worst_ratio_vs_seed: f64,
    /// All workloads' wasted wait together: `AdaptiveTimeout` over `SeedAdaptive`.
    pub aggregate_ratio_vs_seed: f64,
    /// All workloads' wasted wait together: `AdaptiveTimeout` over `FixedTimeout`.
    pub aggregate_ratio_vs_fixed: f64,
    /// The most `AdaptiveTimeout`'s success rate fell below `FixedTimeout`'s on one workload,
    /// in percentage points (negative: it never fell below).
    pub worst_success_gap_vs_fixed_pp: f64,
}

/// The [`Standing`] of `AdaptiveTimeout` over `runs`, each the three reports of [`compare`]
/// (fixed, seed, adaptive).
pub fn standing(runs: &[Vec<SimReport>]) -> Standing {
    let triples: Vec<(&SimReport, &SimReport, &SimReport)> = runs
        .iter()
        .filter_map(|r| Some((r.first()?, r.get(1)?, r.get(2)?)))
        .collect();
    let n = triples.len().max(1) as f64;
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            a / b
        } else if a > 0.0 {
            f64::INFINITY
        } else {
            1.0
        }
    };
    let mut ratios: Vec<f64> = triples
        .iter()
        .map(|(_, s, a)| ratio(a.wasted_wait_secs, s.wasted_wait_secs))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let won = triples
        .iter()
        .filter(|(_, s, a)| a.wasted_wait_secs < s.wasted_wait_secs && a.success_rate >= s.success_rate)
        .count();
    let total = |pick: &dyn Fn(&(&SimReport, &SimReport, &SimReport)) -> f64| triples.iter().map(pick).sum::<f64>();
    let adaptive = total(&|t| t.2.wasted_wait_secs);
    Standing {
        workloads: triples.len(),
        won_vs_seed: won as f64 / n,
        median_ratio_vs_seed: ratios.get(ratios.len() / 2).copied().unwrap_or(1.0),
        worst_ratio_vs_seed: ratios.last().copied().unwrap_or(1.0),
        aggregate_ratio_vs_seed: ratio(adaptive, total(&|t| t.1.wasted_wait_secs)),
        aggregate_ratio_vs_fixed: ratio(adaptive, total(&|t| t.0.wasted_wait_secs)),
        worst_success_gap_vs_fixed_pp: triples
            .iter()
            .map(|(f, _, a)| 100.0 * (f.success_rate - a.success_rate))
            .fold(f64::NEG_INFINITY, f64::max),
    }
}
