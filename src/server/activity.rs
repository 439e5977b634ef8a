//! `GET /v1/activity`: the pages the server answered over the last five minutes, in five-second
//! buckets, with their rate and latency percentiles: what the console's chart draws.
//!
//! `/metrics` has the totals and a latency histogram since the start, which suit a Prometheus
//! that keeps the history; a person looking at one server wants the recent minutes without
//! one. A page counts when its record is answered: each page of `POST /v1/extract` (its
//! latency from its request's arrival, as `riptide_extraction_duration_seconds`) and each page
//! of a crawl (its latency the page's own total). Failures count as pages and as `failed`;
//! only pages extracted give latencies.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// The width of one bucket.
pub(super) const BUCKET_SECS: u64 = 5;
/// How many buckets are kept and answered: five minutes.
const BUCKETS: u64 = 60;
/// Latencies kept per bucket (a uniform sample of the bucket's pages beyond that).
const SAMPLES_PER_BUCKET: usize = 512;

/// The recent buckets.
#[derive(Debug, Default)]
pub(super) struct Activity {
    buckets: std::sync::Mutex<VecDeque<Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    /// Unix seconds divided by [`BUCKET_SECS`].
    index: u64,
    pages: u64,
    failed: u64,
    /// Latencies extracted pages took, sampled ([`SAMPLES_PER_BUCKET`]).
    latencies_ms: Vec<f64>,
    /// Latencies offered to the sample.
    timed: u64,
}

/// What `GET /v1/activity` answers.
#[derive(Debug, Serialize)]
pub(super) struct ActivityReport {
    /// The width of a bucket in seconds.
    bucket_secs: u64,
    /// The time of the answer.
    now_unix_secs: f64,
    /// The last five minutes, oldest first, empty buckets included; the last one is the
    /// current, partly elapsed bucket.
    buckets: Vec<BucketReport>,
}

/// One bucket as answered.
#[derive(Debug, Serialize)]
struct BucketReport {
    start_unix_secs: u64,
    /// The seconds of it that have passed ([`BUCKET_SECS`] but for the current bucket).
    secs: f64,
    pages: u64,
    failed: u64,
    /// `pages / secs`.
    pages_per_sec: f64,
    /// Latency percentiles of the bucket's extracted pages; `null` without any.
    p50_ms: Option<f64>,
    p95_ms: Option<f64>,
    p99_ms: Option<f64>,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Activity {
    /// One page answered: extracted in `latency`, or failed (`latency` `None`).
    pub(super) fn page(&self, latency: Option<Duration>) {
        let index = now() as u64 / BUCKET_SECS;
        let mut buckets = crate::sync::lock(&self.buckets);
        if buckets.back().is_none_or(|b| b.index != index) {
            buckets.push_back(Bucket {
                index,
                pages: 0,
                failed: 0,
                latencies_ms: Vec::new(),
                timed: 0,
            });
        }
        while buckets.front().is_some_and(|b| b.index + BUCKETS <= index) {
            buckets.pop_front();
        }
        let Some(bucket) = buckets.back_mut() else {
            return;
        };
        bucket.pages += 1;
        let Some(latency) = latency else {
            bucket.failed += 1;
            return;
        };
        let ms = latency.as_secs_f64() * 1000.0;
        bucket.timed += 1;
        if bucket.latencies_ms.len() < SAMPLES_PER_BUCKET {
            bucket.latencies_ms.push(ms);
        } else {
            // Reservoir sampling: every latency of the bucket is kept with the same chance.
            let slot = fastrand::u64(0..bucket.timed) as usize;
            if let Some(kept) = bucket.latencies_ms.get_mut(slot) {
                *kept = ms;
            }
        }
    }

    /// The last five minutes.
    pub(super) fn report(&self) -> ActivityReport {
        let now = now();
        let current = now as u64 / BUCKET_SECS;
        let buckets = crate::sync::lock(&self.buckets);
        let reports = (current.saturating_sub(BUCKETS - 1)..=current)
            .map(|index| {
                let start = index * BUCKET_SECS;
                let secs = if index == current {
                    (now - start as f64).clamp(1.0, BUCKET_SECS as f64)
                } else {
                    BUCKET_SECS as f64
                };
                let bucket = buckets.iter().find(|b| b.index == index);
                let (pages, failed) = bucket.map_or((0, 0), |b| (b.pages, b.failed));
                let mut sorted = bucket.map(|b| b.latencies_ms.clone()).unwrap_or_default();
                sorted.sort_by(f64::total_cmp);
                BucketReport {
                    start_unix_secs: start,
                    secs,
                    pages,
                    failed,
                    pages_per_sec: pages as f64 / secs,
                    p50_ms: percentile(&sorted, 0.50),
                    p95_ms: percentile(&sorted, 0.95),
                    p99_ms: percentile(&sorted, 0.99),
                }
            })
            .collect();
        ActivityReport {
            bucket_secs: BUCKET_SECS,
            now_unix_secs: now,
            buckets: reports,
        }
    }
}

/// The nearest-rank percentile `q` of `sorted`.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Activity, percentile};

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 0.5), Some(50.0));
        assert_eq!(percentile(&sorted, 0.95), Some(95.0));
        assert_eq!(percentile(&sorted, 0.99), Some(99.0));
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn pages_land_in_the_current_bucket() {
        let activity = Activity::default();
        for ms in [10, 20, 30] {
            activity.page(Some(Duration::from_millis(ms)));
        }
        activity.page(None);
        let report = activity.report();
        assert_eq!(report.buckets.len(), 60);
        // The pages were counted in the bucket current then: the last, or (at a boundary) the
        // one before.
        let counted: Vec<_> = report.buckets.iter().filter(|b| b.pages > 0).collect();
        assert_eq!(counted.iter().map(|b| b.pages).sum::<u64>(), 4);
        assert_eq!(counted.iter().map(|b| b.failed).sum::<u64>(), 1);
        assert!(counted.iter().all(|b| b.p99_ms.is_some() && b.pages_per_sec > 0.0));
        assert!(
            report
                .buckets
                .windows(2)
                .all(|w| w[0].start_unix_secs + 5 == w[1].start_unix_secs)
        );
    }

    #[test]
    fn a_busy_bucket_keeps_a_bounded_sample() {
        let activity = Activity::default();
        for ms in 0..5_000 {
            activity.page(Some(Duration::from_millis(ms % 100)));
        }
        let buckets = crate::sync::lock(&activity.buckets);
        assert!(
            buckets
                .iter()
                .all(|b| b.latencies_ms.len() <= super::SAMPLES_PER_BUCKET)
        );
    }
}
