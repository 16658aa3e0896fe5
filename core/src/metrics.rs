//! A latency histogram that many threads can read while one writes, for a daemon's
//! `/metrics`.
//!
//! The store times each event it folds (projection + rules) when asked to
//! ([`crate::Store::observe_latency`]); the daemon renders the buckets in Prometheus'
//! text format. Fixed buckets and relaxed atomics: observing costs two clock reads and
//! three atomic adds, cheap enough to leave on in production, and the figures survive a
//! rules reload because the histogram belongs to the store, not to the rule set.

use std::{
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::Duration,
};

/// Upper bounds of the buckets, in seconds: from 50 µs (a plain event on a small pack)
/// to one second (a script near its operation limit).
pub const BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1, 0.25, 1.0,
];

/// Counts of observations per bucket, their sum and number.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last slot is above every bound.
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

/// A copy of a [`Histogram`] at one moment, in the shape Prometheus wants.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// `(upper bound in seconds, observations at or below it)`, cumulative, ending with
    /// `+Inf` as `f64::INFINITY`.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of all observations in seconds.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(BUCKETS.len());
        self.counts[slot].fetch_add(1, Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Relaxed);
    }

    /// The buckets as they are now (cumulative, as Prometheus expects).
    pub fn snapshot(&self) -> Snapshot {
        let mut running = 0;
        let mut buckets = Vec::with_capacity(BUCKETS.len() + 1);
        for (i, count) in self.counts.iter().enumerate() {
            running += count.load(Relaxed);
            buckets.push((BUCKETS.get(i).copied().unwrap_or(f64::INFINITY), running));
        }
        Snapshot {
            buckets,
            sum: self.sum_nanos.load(Relaxed) as f64 / 1e9,
            count: running,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them_and_counts_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(40)); // ≤ 50 µs
        h.observe(Duration::from_micros(50)); // on the bound: still ≤ 50 µs
        h.observe(Duration::from_micros(700)); // ≤ 1 ms
        h.observe(Duration::from_secs(3)); // above every bound
        let s = h.snapshot();
        assert_eq!(s.count, 4);
        assert_eq!(s.buckets[0], (0.000_05, 2));
        assert_eq!(s.buckets[3], (0.000_5, 2));
        assert_eq!(s.buckets[4], (0.001, 3));
        assert_eq!(s.buckets[11], (1.0, 3));
        assert_eq!(s.buckets[12].1, 4);
        assert!(s.buckets[12].0.is_infinite());
        assert!((s.sum - 3.000_79).abs() < 1e-9);
    }
}
