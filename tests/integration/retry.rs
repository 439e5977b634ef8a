//! The retry helper on tokio's paused clock: escalation, caps, the overall deadline,
//! non-retryable failures, the retry budget and the circuit breaker. No real sleeping.

use std::sync::Mutex;
use std::time::Duration;

use riptide::error::{ErrorKind, RetryError};
use riptide::policies::{AttemptFailure, FixedTimeout, Retrier, RetrySettings, SeedAdaptive};
use riptide::traits::{Engine, FailureClass, Target, TimeoutPolicy};
use tokio::time::Instant;

fn settings() -> RetrySettings {
    RetrySettings {
        max_retries: 3,
        backoff_multiplier: 1.5,
        max_timeout: Duration::from_secs(60),
        overall_deadline: Duration::from_secs(1000),
        base_pause: Duration::from_millis(100),
        jitter: 0.2,
        budget_ratio: 0.2,
        budget_reserve: 10.0,
        breaker_threshold: 3,
        breaker_cooldown: Duration::from_secs(30),
        breaker_timeout: Duration::from_secs(30),
    }
}

fn target() -> Target {
    Target::new("a.example", Engine::Static)
}

/// An attempt that never answers, recording the timeouts it was given.
async fn hang(seen: &Mutex<Vec<Duration>>, timeout: Duration) -> Result<(), AttemptFailure> {
    seen.lock().expect("lock").push(timeout);
    tokio::time::sleep(Duration::from_secs(100_000)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn timeouts_escalate_by_the_multiplier() {
    // A breaker that would open on the third time-out of a host that never answered is out of
    // the way here: this is about escalation.
    let retrier = Retrier::with_seed(
        RetrySettings {
            breaker_threshold: 100,
            ..settings()
        },
        1,
    );
    let seen = Mutex::new(Vec::new());
    let err = retrier
        .run(&FixedTimeout(Duration::from_secs(10)), &target(), |t| hang(&seen, t))
        .await
        .expect_err("hangs");
    assert!(
        matches!(err.kind(), ErrorKind::Retry(RetryError::Exhausted { attempts: 4, .. })),
        "{err:?}"
    );
    let secs: Vec<f64> = seen.lock().expect("lock").iter().map(Duration::as_secs_f64).collect();
    assert_eq!(secs, vec![10.0, 15.0, 22.5, 33.75]);
}

#[tokio::test(start_paused = true)]
async fn timeouts_are_capped_at_max_timeout() {
    let retrier = Retrier::with_seed(
        RetrySettings {
            backoff_multiplier: 3.0,
            breaker_threshold: 100,
            ..settings()
        },
        1,
    );
    let seen = Mutex::new(Vec::new());
    let _ = retrier
        .run(&FixedTimeout(Duration::from_secs(10)), &target(), |t| hang(&seen, t))
        .await;
    let secs: Vec<f64> = seen.lock().expect("lock").iter().map(Duration::as_secs_f64).collect();
    assert_eq!(secs, vec![10.0, 30.0, 60.0, 60.0]);
}

#[tokio::test(start_paused = true)]
async fn one_overall_deadline_bounds_all_attempts() {
    let retrier = Retrier::with_seed(
        RetrySettings {
            overall_deadline: Duration::from_secs(30),
            ..settings()
        },
        1,
    );
    let seen = Mutex::new(Vec::new());
    let started = Instant::now();
    let err = retrier
        .run(&FixedTimeout(Duration::from_secs(10)), &target(), |t| hang(&seen, t))
        .await
        .expect_err("hangs");
    assert!(
        matches!(err.kind(), ErrorKind::Retry(RetryError::Exhausted { .. })),
        "{err:?}"
    );
    assert!(
        started.elapsed() <= Duration::from_secs(30),
        "stopped at the overall deadline: {:?}",
        started.elapsed()
    );
    let seen = seen.lock().expect("lock");
    assert_eq!(seen[..2], [Duration::from_secs(10), Duration::from_secs(15)]);
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        seen[2] < Duration::from_secs(5),
        "the third attempt gets only what is left, not 22.5 s: {seen:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn success_after_a_timeout_returns_the_value() {
    let retrier = Retrier::with_seed(settings(), 1);
    let calls = Mutex::new(0);
    let value = retrier
        .run(&FixedTimeout(Duration::from_secs(10)), &target(), |_| async {
            let n = {
                let mut calls = calls.lock().expect("lock");
                *calls += 1;
                *calls
            };
            let latency = if n == 1 { 100 } else { 2 };
            tokio::time::sleep(Duration::from_secs(latency)).await;
            Ok::<_, AttemptFailure>(n)
        })
        .await
        .expect("second attempt answers");
    assert_eq!(value, 2);
}

#[tokio::test(start_paused = true)]
async fn non_retryable_failures_are_not_retried() {
    for (class, retried) in [
        (FailureClass::Dns, false),
        (FailureClass::HttpStatus(404), false),
        (FailureClass::HttpStatus(429), true),
        (FailureClass::HttpStatus(503), true),
        (FailureClass::ConnectionReset, true),
    ] {
        let retrier = Retrier::with_seed(
            RetrySettings {
                breaker_threshold: 100,
                ..settings()
            },
            1,
        );
        let calls = Mutex::new(0u32);
        let err = retrier
            .run(&FixedTimeout(Duration::from_secs(10)), &target(), |_| async {
                *calls.lock().expect("lock") += 1;
                Err::<(), _>(AttemptFailure::new(class))
            })
            .await
            .expect_err("always fails");
        let calls = *calls.lock().expect("lock");
        if retried {
            assert_eq!(calls, 4, "{class:?} is retried");
            assert!(
                matches!(err.kind(), ErrorKind::Retry(RetryError::Exhausted { .. })),
                "{err:?}"
            );
        } else {
            assert_eq!(calls, 1, "{class:?} is not retried");
            assert!(
                matches!(err.kind(), ErrorKind::Retry(RetryError::AttemptFailed { .. })),
                "{err:?}"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_retry_budget_limits_retries() {
    let retrier = Retrier::with_seed(
        RetrySettings {
            budget_reserve: 2.0,
            budget_ratio: 0.0,
            breaker_threshold: 100,
            ..settings()
        },
        1,
    );
    let calls = Mutex::new(0u32);
    let failing = |_| async {
        *calls.lock().expect("lock") += 1;
        Err::<(), _>(AttemptFailure::new(FailureClass::HttpStatus(503)))
    };
    let err = retrier
        .run(&FixedTimeout(Duration::from_secs(10)), &target(), failing)
        .await
        .expect_err("fails");
    assert!(
        matches!(err.kind(), ErrorKind::Retry(RetryError::BudgetExhausted { .. })),
        "{err:?}"
    );
    assert_eq!(
        *calls.lock().expect("lock"),
        3,
        "the first attempt and the two retries the budget held"
    );
    assert!(retrier.budget() < 1.0);
}

#[tokio::test(start_paused = true)]
async fn the_circuit_opens_fails_fast_then_half_opens_and_closes() {
    let retrier = Retrier::with_seed(
        RetrySettings {
            max_retries: 0,
            ..settings()
        },
        1,
    );
    let policy = FixedTimeout(Duration::from_secs(10));
    let calls = Mutex::new(0u32);
    let refused = |_| async {
        *calls.lock().expect("lock") += 1;
        Err::<(), _>(AttemptFailure::new(FailureClass::ConnectionRefused))
    };
    for _ in 0..3 {
        let _ = retrier.run(&policy, &target(), refused).await;
    }
    assert!(retrier.circuit_open("a.example"));
    let err = retrier.run(&policy, &target(), refused).await.expect_err("open");
    assert!(
        matches!(err.kind(), ErrorKind::Retry(RetryError::CircuitOpen { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("a.example"), "{err}");
    assert_eq!(
        *calls.lock().expect("lock"),
        3,
        "an open circuit does not call the host"
    );

    tokio::time::advance(Duration::from_secs(31)).await;
    let _ = retrier.run(&policy, &target(), refused).await;
    assert_eq!(*calls.lock().expect("lock"), 4, "half-open lets a trial through");
    assert!(retrier.circuit_open("a.example"), "a failed trial opens it again");
    tokio::time::advance(Duration::from_secs(31)).await;
    assert!(
        retrier.circuit_open("a.example"),
        "for twice the cool-down: a host still down costs fewer trials"
    );
    assert_eq!(retrier.circuits_opened(), 2);

    tokio::time::advance(Duration::from_secs(30)).await;
    retrier
        .run(&policy, &target(), |_| async { Ok::<_, AttemptFailure>(()) })
        .await
        .expect("host is back");
    assert!(!retrier.circuit_open("a.example"), "a successful trial closes it");
    let other = Target::new("b.example", Engine::Static);
    retrier
        .run(&policy, &other, |_| async { Ok::<_, AttemptFailure>(()) })
        .await
        .expect("other hosts unaffected");
}

/// Issue 14: a host that never answers (a black hole) used to cost a full time-out on every
/// request for ever, since time-outs never reached the breaker. Time-outs of a host that has
/// never answered now count, as do long ones of any host; short ones of a host that answers
/// (a tight learned timeout, a page that sometimes hangs) do not.
#[tokio::test(start_paused = true)]
async fn time_outs_open_the_circuit_of_a_host_that_never_answers() {
    let retrier = Retrier::with_seed(
        RetrySettings {
            max_retries: 0,
            ..settings()
        },
        1,
    );
    let seen = Mutex::new(Vec::new());
    let short = FixedTimeout(Duration::from_secs(5));
    for _ in 0..3 {
        let _ = retrier.run(&short, &target(), |t| hang(&seen, t)).await;
    }
    assert!(retrier.circuit_open("a.example"), "three time-outs and no answer ever");
    let err = retrier
        .run(&short, &target(), |t| hang(&seen, t))
        .await
        .expect_err("open");
    assert!(
        matches!(err.kind(), ErrorKind::Retry(RetryError::CircuitOpen { .. })),
        "{err:?}"
    );
    assert_eq!(seen.lock().expect("lock").len(), 3, "no fourth time-out is waited out");

    // A host that has answered keeps its circuit closed through short time-outs...
    let live = Target::new("b.example", Engine::Static);
    retrier
        .run(&short, &live, |_| async { Ok::<_, AttemptFailure>(()) })
        .await
        .expect("answers");
    for _ in 0..5 {
        let _ = retrier.run(&short, &live, |t| hang(&seen, t)).await;
    }
    assert!(!retrier.circuit_open("b.example"), "short time-outs of a live host");
    // ...but not through attempts that were given a generous wait.
    let generous = FixedTimeout(Duration::from_secs(30));
    for _ in 0..3 {
        let _ = retrier.run(&generous, &live, |t| hang(&seen, t)).await;
    }
    assert!(retrier.circuit_open("b.example"), "three 30 s waits unanswered");
}

#[tokio::test(start_paused = true)]
async fn connection_failures_do_not_feed_latency() {
    let retrier = Retrier::with_seed(
        RetrySettings {
            max_retries: 0,
            breaker_threshold: 100,
            ..settings()
        },
        1,
    );
    let policy = SeedAdaptive::new(riptide::config::AdaptiveTimeoutConfig::default());
    for class in [FailureClass::Dns, FailureClass::ConnectionRefused] {
        for _ in 0..10 {
            let _ = retrier
                .run(&policy, &target(), |_| async {
                    Err::<(), _>(AttemptFailure::new(class))
                })
                .await;
        }
    }
    assert_eq!(
        policy.timeout_for(&target()),
        Duration::from_secs(30),
        "still the default: no latency was learned"
    );
    for _ in 0..5 {
        retrier
            .run(&policy, &target(), |_| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                Ok::<_, AttemptFailure>(())
            })
            .await
            .expect("answers");
    }
    assert_eq!(
        policy.timeout_for(&target()),
        Duration::from_secs(5),
        "successes are learned: ceil(2) * 1.5 -> min 5 s"
    );
}

#[test]
fn hopeless_failures_are_not_retryable() {
    for hopeless in [
        FailureClass::Dns,
        FailureClass::Tls,
        FailureClass::Redirect,
        FailureClass::HttpStatus(404),
    ] {
        assert!(!hopeless.is_retryable(), "{hopeless:?}");
    }
    for transient in [
        FailureClass::ConnectionRefused,
        FailureClass::ConnectionReset,
        FailureClass::HttpStatus(429),
        FailureClass::HttpStatus(503),
        FailureClass::Other,
    ] {
        assert!(transient.is_retryable(), "{transient:?}");
    }
}
