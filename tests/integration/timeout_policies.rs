//! Timeout policies: the fixed baseline and the specification's seed algorithm on hand-computed
//! cases.

use std::time::Duration;

use riptide::config::AdaptiveTimeoutConfig;
use riptide::policies::{FixedTimeout, SeedAdaptive};
use riptide::traits::{Engine, FailureClass, Outcome, Target, TimeoutPolicy};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn target(host: &str) -> Target {
    Target::new(host, Engine::Static)
}

fn seed() -> SeedAdaptive {
    // The specified defaults: min 5 s, max 60 s, default 30 s, 5 samples, learning rate 0.1.
    SeedAdaptive::new(AdaptiveTimeoutConfig::default())
}

fn observe_all(policy: &dyn TimeoutPolicy, t: &Target, latencies: &[f64]) {
    for l in latencies {
        policy.observe(t, &Outcome::Succeeded(secs(*l)));
    }
}

#[test]
fn fixed_is_fixed() {
    let policy = FixedTimeout(secs(12.0));
    let t = target("a.example");
    observe_all(&policy, &t, &[0.1; 50]);
    assert_eq!(policy.timeout_for(&t), secs(12.0));
}

#[test]
fn seed_uses_the_default_until_min_samples() {
    let policy = seed();
    let t = target("a.example");
    observe_all(&policy, &t, &[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(policy.timeout_for(&t), secs(30.0));
}

#[test]
fn seed_is_ceil_p95_times_one_and_a_half() {
    let policy = seed();
    let t = target("a.example");
    // p95 by nearest rank of 5 samples is the 5th: 10.2 s -> ceil 11 -> x1.5 = 16.5 s.
    observe_all(&policy, &t, &[1.0, 2.0, 3.0, 4.0, 10.2]);
    assert_eq!(policy.timeout_for(&t), secs(16.5));
    // 20 samples: rank ceil(0.95 * 20) = 19; samples 1..=20 s -> 19 s -> 28.5 s.
    let t = target("b.example");
    observe_all(&policy, &t, &(1..=20).map(f64::from).collect::<Vec<_>>());
    assert_eq!(policy.timeout_for(&t), secs(28.5));
}

#[test]
fn seed_clamps_to_min_and_max() {
    let policy = seed();
    let fast = target("fast.example");
    observe_all(&policy, &fast, &[0.2; 20]);
    assert_eq!(
        policy.timeout_for(&fast),
        secs(5.0),
        "ceil(0.2) * 1.5 = 1.5 s, clamped up to 5 s"
    );
    let slow = target("slow.example");
    observe_all(&policy, &slow, &[50.0; 20]);
    assert_eq!(
        policy.timeout_for(&slow),
        secs(60.0),
        "50 * 1.5 = 75 s, clamped down to 60 s"
    );
}

#[test]
fn seed_keeps_the_last_100_samples() {
    let policy = SeedAdaptive::new(AdaptiveTimeoutConfig {
        min_timeout_secs: 1,
        ..AdaptiveTimeoutConfig::default()
    });
    let t = target("a.example");
    observe_all(&policy, &t, &[40.0; 20]);
    assert_eq!(policy.timeout_for(&t), secs(60.0));
    observe_all(&policy, &t, &[3.0; 100]);
    assert_eq!(
        policy.timeout_for(&t),
        secs(4.5),
        "the 40 s samples left the 100-sample window"
    );
}

#[test]
fn seed_success_rate_is_an_ema_and_failures_are_not_latencies() {
    let policy = seed();
    let t = target("a.example");
    policy.observe(&t, &Outcome::Succeeded(secs(1.0)));
    assert_eq!(policy.success_rate(&t), Some(1.0));
    policy.observe(&t, &Outcome::TimedOut(secs(30.0)));
    assert!((policy.success_rate(&t).expect("observed") - 0.9).abs() < 1e-12);
    policy.observe(&t, &Outcome::Succeeded(secs(1.0)));
    assert!((policy.success_rate(&t).expect("observed") - 0.91).abs() < 1e-12);
    for _ in 0..10 {
        policy.observe(&t, &Outcome::Failed(FailureClass::Dns));
        policy.observe(&t, &Outcome::TimedOut(secs(30.0)));
    }
    assert_eq!(
        policy.timeout_for(&t),
        secs(30.0),
        "only 2 latency samples: still the default"
    );
}

#[test]
fn engines_and_hosts_learn_separately() {
    let policy = seed();
    let static_t = Target::new("Example.COM", Engine::Static);
    let headless_t = Target::new("example.com", Engine::Headless);
    assert_eq!(static_t.host, "example.com");
    observe_all(&policy, &static_t, &[1.0; 10]);
    assert_eq!(policy.timeout_for(&static_t), secs(5.0));
    assert_eq!(policy.timeout_for(&headless_t), secs(30.0));
}

mod adaptive {
    use super::*;
    use riptide::policies::AdaptiveTimeout;

    fn policy() -> AdaptiveTimeout {
        AdaptiveTimeout::new(AdaptiveTimeoutConfig {
            min_timeout_secs: 1,
            ..AdaptiveTimeoutConfig::default()
        })
    }

    fn established(policy: &AdaptiveTimeout, t: &Target) -> Duration {
        observe_all(policy, t, &[2.0; 30]);
        policy.timeout_for(t)
    }

    #[test]
    fn learns_a_timeout_above_the_latencies() {
        let p = policy();
        let t0 = established(&p, &target("a.example"));
        assert!(t0 > secs(2.0) && t0 < secs(10.0), "{t0:?}");
    }

    #[test]
    fn cold_targets_wait_the_default_then_a_bound_that_shrinks_with_samples() {
        let p = policy();
        established(&p, &target("a.example"));
        let cold = target("cold.example");
        assert_eq!(p.timeout_for(&cold), secs(30.0), "no answer yet: the default");
        // One answer at 2 s (histogram bucket edge 2.07 s): 2.07 * (1.5 + 4 / 1) = 11.4 s.
        p.observe(&cold, &Outcome::Succeeded(secs(2.0)));
        let one = p.timeout_for(&cold);
        assert!(one > secs(10.0) && one < secs(12.0), "{one:?}");
        // Four: 2.07 * (1.5 + 4 / 4) = 5.2 s.
        observe_all(&p, &cold, &[2.0; 3]);
        let four = p.timeout_for(&cold);
        assert!(four > secs(5.0) && four < secs(5.5), "{four:?}");
        let headless = Target::new("cold.example", Engine::Headless);
        assert_eq!(p.timeout_for(&headless), secs(30.0), "headless learns separately");
    }

    #[test]
    fn time_outs_raise_the_timeout_and_never_lower_it() {
        let p = policy();
        let t = target("a.example");
        let mut last = established(&p, &t);
        for _ in 0..8 {
            p.observe(&t, &Outcome::TimedOut(last));
            let now = p.timeout_for(&t);
            assert!(now >= last, "{now:?} < {last:?}");
            last = now;
        }
        assert!(last > secs(10.0), "a run of time-outs raised it: {last:?}");
    }

    #[test]
    fn one_outlier_cannot_swing_the_timeout() {
        let p = policy();
        let t = target("a.example");
        let t0 = established(&p, &t);
        p.observe(&t, &Outcome::Succeeded(secs(120.0)));
        let t1 = p.timeout_for(&t);
        assert!(t1.as_secs_f64() <= t0.as_secs_f64() * 1.5 + 1e-9, "{t0:?} -> {t1:?}");
        p.observe(&t, &Outcome::Succeeded(secs(0.01)));
        let t2 = p.timeout_for(&t);
        assert!(t2.as_secs_f64() >= t1.as_secs_f64() * 0.8 - 1e-9, "{t1:?} -> {t2:?}");
        assert!(t2 < t0 * 2, "not tripled");
    }

    #[test]
    fn clamps_and_failures() {
        let p = AdaptiveTimeout::new(AdaptiveTimeoutConfig::default());
        let slow = target("slow.example");
        observe_all(&p, &slow, &[50.0; 30]);
        assert_eq!(p.timeout_for(&slow), secs(60.0));
        let fast = target("fast.example");
        observe_all(&p, &fast, &[0.05; 30]);
        assert_eq!(p.timeout_for(&fast), secs(5.0));
        let before = p.timeout_for(&fast);
        for _ in 0..20 {
            p.observe(&fast, &Outcome::Failed(FailureClass::ConnectionRefused));
        }
        assert_eq!(p.timeout_for(&fast), before, "failures carry no latency");
    }

    #[test]
    fn scattered_time_outs_are_not_latencies_and_do_not_raise_it() {
        // Pages that never answer, one attempt in twenty: waiting longer would not help.
        let p = policy();
        let t = target("a.example");
        let t0 = established(&p, &t);
        for _ in 0..5 {
            observe_all(&p, &t, &[2.0; 19]);
            p.observe(&t, &Outcome::TimedOut(t0));
        }
        assert!(p.timeout_for(&t) <= t0, "{:?} > {t0:?}", p.timeout_for(&t));
    }

    #[test]
    fn many_hanging_attempts_do_not_raise_it_while_answers_come_well_inside() {
        // A quarter of the attempts hang, but no answer comes near the timeout and no two
        // time-outs come in a row: the hanging pages would not answer given longer either.
        let p = policy();
        let t = target("a.example");
        let t0 = established(&p, &t);
        for _ in 0..40 {
            observe_all(&p, &t, &[2.0; 3]);
            p.observe(&t, &Outcome::TimedOut(p.timeout_for(&t)));
        }
        assert!(p.timeout_for(&t) <= t0, "{:?} > {t0:?}", p.timeout_for(&t));
        // The same time-outs with answers near the timeout: it is cutting them off.
        let edge = target("edge.example");
        let e0 = established(&p, &edge);
        for _ in 0..10 {
            let now = p.timeout_for(&edge).as_secs_f64();
            observe_all(&p, &edge, &[2.0, 2.0, 0.9 * now]);
            p.observe(&edge, &Outcome::TimedOut(p.timeout_for(&edge)));
        }
        assert!(p.timeout_for(&edge) > e0, "{:?} <= {e0:?}", p.timeout_for(&edge));
    }

    #[test]
    fn a_target_that_never_answers_is_probed_with_the_minimum() {
        let p = policy();
        let hole = target("hole.example");
        let mut timeouts = Vec::new();
        for _ in 0..24 {
            let timeout = p.timeout_for(&hole);
            timeouts.push(timeout.as_secs_f64());
            p.observe(&hole, &Outcome::TimedOut(timeout));
        }
        let full: Vec<usize> = (0..24).filter(|&i| timeouts[i] == 30.0).collect();
        assert_eq!(full, [0, 1, 2, 3, 4, 8, 16], "{timeouts:?}");
        assert!(
            timeouts.iter().all(|&t| t == 30.0 || t == 1.0),
            "else the minimum: {timeouts:?}"
        );
        // An answer ends it: from then on the small-sample bound applies.
        p.observe(&hole, &Outcome::Succeeded(secs(3.0)));
        assert!(p.timeout_for(&hole) > secs(15.0), "{:?}", p.timeout_for(&hole));
    }

    #[test]
    fn a_young_target_that_times_out_is_raised_to_the_default_and_no_further() {
        let p = policy();
        let slow = target("slow.example");
        observe_all(&p, &slow, &[2.0; 2]);
        let mut last = p.timeout_for(&slow);
        assert!(last < secs(10.0), "two answers at 2 s: {last:?}");
        for _ in 0..20 {
            p.observe(&slow, &Outcome::TimedOut(last));
            let now = p.timeout_for(&slow);
            assert!(now >= last, "{now:?} < {last:?}");
            last = now;
        }
        assert_eq!(last, secs(30.0), "time-outs alone justify the default, not more");
        // Successes beyond it (on escalated retries) teach it the rest.
        observe_all(&p, &slow, &[40.0; 10]);
        assert!(p.timeout_for(&slow) > secs(40.0), "{:?}", p.timeout_for(&slow));
    }
}
