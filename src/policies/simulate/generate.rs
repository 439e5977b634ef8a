//! Generated workloads: random host mixes drawn from families, so a policy is judged on hundreds
//! of crawls it was not tuned on instead of three files.
//!
//! A workload has 20 to 80 hosts and 2,000 to 10,000 requests. Each host is drawn from one
//! family, with its parameters drawn within that family's range:
//!
//! | family | share | what it is |
//! |---|---:|---|
//! | healthy | 40% | log-normal latency, median 150 ms to 3 s, up to 2% of attempts never answer |
//! | slow API | 8% | median 4 to 15 s |
//! | heavy tail | 12% | healthy, plus 2-10% of answers from a Pareto tail (alpha 1.1-2.5) |
//! | flaky | 8% | 5-30% of attempts reset |
//! | partly hanging | 10% | 5-30% of attempts never answer |
//! | black hole | 4% | every attempt hangs |
//! | dead | 4% | every connection refused |
//! | shifting | 14% | latency 2 to 10 times higher from 30-70% of its requests on |
//!
//! A fifth of the hosts render headless (twice the latency). Traffic is Zipf-distributed over
//! the hosts (exponent 0.7 to 1.3), so a few hosts get most requests and many get a handful,
//! and requests are shuffled (a tenth of the workloads go round-robin). Everything comes from
//! the seed: `generate(seed)` is the same workload every time.

use super::workload::{HostSpec, Order, Slowdown, Tail, Workload};
use crate::config::AdaptiveTimeoutConfig;
use crate::traits::Engine;

/// The workload drawn from `seed`.
pub fn generate(seed: u64) -> Workload {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed_0f70_0000);
    let hosts = rng.usize(20..=80);
    let total = rng.usize(2_000..=10_000);
    let zipf = uniform(&mut rng, 0.7, 1.3);
    let weights: Vec<f64> = (1..=hosts).map(|rank| 1.0 / (rank as f64).powf(zipf)).collect();
    let sum: f64 = weights.iter().sum();
    let specs = weights
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let requests = ((w / sum) * total as f64).round().max(1.0) as u32;
            host(&mut rng, i, requests)
        })
        .collect();
    Workload {
        name: format!("generated-{seed}"),
        description: format!("{hosts} hosts drawn from families, Zipf traffic (s = {zipf:.2})"),
        seed,
        order: if rng.f64() < 0.1 {
            Order::RoundRobin
        } else {
            Order::Shuffled
        },
        timeouts: AdaptiveTimeoutConfig::default(),
        hosts: specs,
    }
}

fn uniform(rng: &mut fastrand::Rng, low: f64, high: f64) -> f64 {
    low + (high - low) * rng.f64()
}

/// Uniform in log space: as likely to be 200 ms as 2 s.
fn log_uniform(rng: &mut fastrand::Rng, low: f64, high: f64) -> f64 {
    (low.ln() + (high.ln() - low.ln()) * rng.f64()).exp()
}

fn host(rng: &mut fastrand::Rng, i: usize, requests: u32) -> HostSpec {
    let mut h = HostSpec {
        name: format!("h{i}.example"),
        replicas: 1,
        requests,
        engine: Engine::Static,
        median_ms: log_uniform(rng, 150.0, 3_000.0),
        sigma: uniform(rng, 0.2, 0.8),
        tail: None,
        never_answer: uniform(rng, 0.0, 0.02),
        failure_share: 0.0,
        dead: false,
        slowdown: None,
    };
    let family = rng.f64();
    match family {
        f if f < 0.40 => {}
        f if f < 0.48 => {
            h.median_ms = log_uniform(rng, 4_000.0, 15_000.0);
            h.sigma = uniform(rng, 0.2, 0.5);
        }
        f if f < 0.60 => {
            h.tail = Some(Tail {
                share: uniform(rng, 0.02, 0.10),
                scale_ms: h.median_ms * uniform(rng, 2.0, 10.0),
                alpha: uniform(rng, 1.1, 2.5),
            });
        }
        f if f < 0.68 => h.failure_share = uniform(rng, 0.05, 0.30),
        f if f < 0.78 => h.never_answer = uniform(rng, 0.05, 0.30),
        f if f < 0.82 => h.never_answer = 1.0,
        f if f < 0.86 => {
            h.dead = true;
            h.median_ms = log_uniform(rng, 5.0, 200.0);
        }
        _ => {
            h.slowdown = Some(Slowdown {
                after: uniform(rng, 0.3, 0.7),
                factor: uniform(rng, 2.0, 10.0),
            });
        }
    }
    if rng.f64() < 0.2 {
        h.engine = Engine::Headless;
        h.median_ms *= 2.0;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_workload_and_another_seed_another() {
        let (a, b) = (generate(7), generate(7));
        assert_eq!(a.hosts.len(), b.hosts.len());
        assert_eq!(a.total_requests(), b.total_requests());
        assert!(a.hosts.iter().zip(&b.hosts).all(|(x, y)| x.median_ms == y.median_ms));
        let c = generate(8);
        assert!(a.total_requests() != c.total_requests() || a.hosts.len() != c.hosts.len());
    }

    #[test]
    fn generated_workloads_are_valid_and_mix_the_families() {
        let mut black_holes = 0;
        let mut dead = 0;
        for seed in 0..50 {
            let w = generate(seed).validated("generated").expect("a valid workload");
            assert!((20..=80).contains(&w.hosts.len()));
            assert!(w.total_requests() >= 2_000);
            black_holes += w.hosts.iter().filter(|h| h.never_answer >= 1.0).count();
            dead += w.hosts.iter().filter(|h| h.dead).count();
        }
        assert!(
            black_holes > 0 && dead > 0,
            "{black_holes} black holes, {dead} dead hosts"
        );
    }
}
