//! A user-written timeout policy plugged into riptide's retry helper.
//!
//! ```text
//! cargo run --example custom_timeout_policy
//! ```
//!
//! The policy: a timeout per host from a table, a default for the rest, and it counts time-outs.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use riptide::policies::{AttemptFailure, Retrier, RetrySettings};
use riptide::traits::{Engine, Outcome, Target, TimeoutPolicy};

struct PerHostTimeouts {
    table: HashMap<&'static str, Duration>,
    default: Duration,
    timeouts_seen: AtomicU32,
}

impl TimeoutPolicy for PerHostTimeouts {
    fn timeout_for(&self, target: &Target) -> Duration {
        self.table.get(target.host.as_str()).copied().unwrap_or(self.default)
    }

    fn observe(&self, target: &Target, outcome: &Outcome) {
        if let Outcome::TimedOut(after) = outcome {
            self.timeouts_seen.fetch_add(1, Ordering::Relaxed);
            println!("  {target} timed out after {after:?}");
        }
    }
}

#[tokio::main]
async fn main() -> riptide::Result<()> {
    let policy = PerHostTimeouts {
        table: HashMap::from([("slow.example", Duration::from_millis(300))]),
        default: Duration::from_millis(100),
        timeouts_seen: AtomicU32::new(0),
    };
    let retrier = Retrier::new(RetrySettings {
        base_pause: Duration::from_millis(10),
        ..RetrySettings::default()
    });
    for (host, latency_ms) in [("fast.example", 20), ("slow.example", 250), ("other.example", 130)] {
        let target = Target::new(host, Engine::Static);
        // A stand-in for a fetch: answers after `latency_ms`.
        let answer = retrier
            .run(&policy, &target, |timeout| async move {
                tokio::time::sleep(Duration::from_millis(latency_ms)).await;
                Ok::<_, AttemptFailure>(format!("page from {host} (timeout was {timeout:?})"))
            })
            .await?;
        println!("{answer}");
    }
    println!(
        "time-outs seen by the policy: {}",
        policy.timeouts_seen.load(Ordering::Relaxed)
    );
    Ok(())
}
