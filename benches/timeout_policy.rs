//! The cost of a policy on the request path: `observe` after every attempt and `timeout_for`
//! before it, with 1,000 learned targets; `adaptive+store` also tracks changes for the
//! background profile writer.
//!
//! ```text
//! cargo bench --bench timeout_policy
//! ```
//! Target (issue 4): `observe` ≤ 1 µs median.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use riptide::backends::memory::MemoryLearningStore;
use riptide::config::AdaptiveTimeoutConfig;
use riptide::policies::{AdaptiveTimeout, SeedAdaptive};
use riptide::traits::{Engine, Outcome, Target, TimeoutPolicy};

fn warmed(policy: &dyn TimeoutPolicy, targets: &[Target]) {
    for (i, t) in targets.iter().enumerate() {
        for j in 0..100u64 {
            let ms = 50 + (i as u64 * 7 + j * 13) % 900;
            policy.observe(t, &Outcome::Succeeded(Duration::from_millis(ms)));
        }
    }
}

fn bench(c: &mut Criterion) {
    let targets: Vec<Target> = (0..1000)
        .map(|i| Target::new(format!("host{i}.example"), Engine::Static))
        .collect();
    let policies: [(&str, Box<dyn TimeoutPolicy>); 3] = [
        (
            "adaptive",
            Box::new(AdaptiveTimeout::new(AdaptiveTimeoutConfig::default())),
        ),
        (
            "adaptive+store",
            Box::new(AdaptiveTimeout::with_store(
                AdaptiveTimeoutConfig::default(),
                MemoryLearningStore::new(),
            )),
        ),
        ("seed", Box::new(SeedAdaptive::new(AdaptiveTimeoutConfig::default()))),
    ];
    let mut group = c.benchmark_group("timeout_policy");
    for (name, policy) in &policies {
        warmed(policy.as_ref(), &targets);
        let mut i = 0usize;
        group.bench_function(format!("{name}/observe"), |b| {
            b.iter(|| {
                i = (i + 1) % targets.len();
                policy.observe(
                    &targets[i],
                    &Outcome::Succeeded(Duration::from_millis(120 + (i % 50) as u64)),
                );
            })
        });
        group.bench_function(format!("{name}/timeout_for"), |b| {
            b.iter(|| {
                i = (i + 1) % targets.len();
                black_box(policy.timeout_for(&targets[i]))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
