//! A fixed-bucket latency histogram of atomics: the `TotalTimeMs` summaries of
//! `metrics::requests`. Recorded by the dispatch in `server` once per request, after the
//! handler returned; read at scrape time by `metrics::render`.
//!
//! Buckets are log-linear over microseconds: values below 16 µs have a bucket each; above,
//! every power of two is cut into 8 equal buckets, so a quantile is off by at most 1/8
//! (12.5 %) of the value. 8 sub-buckets x 36 octaves cover 16 µs .. ~12 days; longer values
//! go to the last bucket. Memory is fixed ([`BUCKETS`] counters); recording is three relaxed
//! atomic adds, no lock, no allocation.
//!
//! Unlike Kafka's Yammer histograms (an exponentially decaying reservoir weighted towards
//! the last five minutes), these count since the broker started.

use std::sync::atomic::{AtomicU64, Ordering};

const LINEAR: usize = 16;
const SUB: usize = 8;
const OCTAVES: usize = 36;
/// How many counters one histogram holds.
pub const BUCKETS: usize = LINEAR + SUB * OCTAVES;

pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { buckets: std::array::from_fn(|_| AtomicU64::new(0)), count: AtomicU64::new(0), sum_us: AtomicU64::new(0) }
    }
}

/// The bucket of a value in microseconds.
pub fn bucket_of(us: u64) -> usize {
    if us < LINEAR as u64 {
        return us as usize;
    }
    let octave = 63 - us.leading_zeros() as usize; // >= 4
    let sub = ((us >> (octave - 3)) & (SUB as u64 - 1)) as usize;
    (LINEAR + (octave - 4) * SUB + sub).min(BUCKETS - 1)
}

/// The smallest and the largest value (µs) of a bucket.
pub fn bucket_range(b: usize) -> (u64, u64) {
    if b < LINEAR {
        return (b as u64, b as u64);
    }
    let octave = (b - LINEAR) / SUB + 4;
    let sub = ((b - LINEAR) % SUB) as u64;
    let width = 1u64 << (octave - 3);
    let lo = (1u64 << octave) + sub * width;
    (lo, lo + width - 1)
}

impl Histogram {
    pub fn record_us(&self, us: u64) {
        if let Some(b) = self.buckets.get(bucket_of(us)) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn sum_us(&self) -> u64 {
        self.sum_us.load(Ordering::Relaxed)
    }

    /// The values (µs) at each quantile in `qs` (ascending), from one pass over a snapshot
    /// of the buckets: the middle of the bucket holding the rank. None when empty.
    pub fn quantiles_us(&self, qs: &[f64]) -> Option<Vec<f64>> {
        let snap: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let total: u64 = snap.iter().sum();
        if total == 0 {
            return None;
        }
        let mut out = Vec::with_capacity(qs.len());
        let mut seen = 0u64;
        let mut b = 0usize;
        for q in qs {
            let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
            while b < snap.len() && seen + snap[b] < rank {
                seen += snap[b];
                b += 1;
            }
            let (lo, hi) = bucket_range(b.min(BUCKETS - 1));
            out.push((lo as f64 + hi as f64) / 2.0);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        let mut last = 0;
        for us in [0u64, 1, 15, 16, 17, 31, 32, 100, 1000, 123_456, 10_000_000, u64::MAX] {
            let b = bucket_of(us);
            assert!(b >= last, "{us}");
            last = b;
            let (lo, hi) = bucket_range(b);
            if b < BUCKETS - 1 {
                assert!(lo <= us && us <= hi, "{us} not in {lo}..={hi}");
            }
        }
        for b in 0..BUCKETS - 1 {
            assert_eq!(bucket_of(bucket_range(b).0), b);
            assert_eq!(bucket_of(bucket_range(b).1), b);
            assert_eq!(bucket_range(b).1 + 1, bucket_range(b + 1).0);
        }
    }

    #[test]
    fn quantiles_are_within_an_eighth() {
        let h = Histogram::default();
        assert!(h.quantiles_us(&[0.5]).is_none());
        for us in 1..=10_000u64 {
            h.record_us(us);
        }
        assert_eq!(h.count(), 10_000);
        assert_eq!(h.sum_us(), 10_000 * 10_001 / 2);
        let q = h.quantiles_us(&[0.5, 0.99, 0.999]).unwrap_or_default();
        for (got, want) in q.iter().zip([5000.0, 9900.0, 9990.0]) {
            assert!((got - want).abs() <= want / 8.0, "{got} vs {want}");
        }
    }

    #[test]
    fn huge_values_stay_in_the_last_bucket() {
        let h = Histogram::default();
        h.record_us(u64::MAX / 2);
        let q = h.quantiles_us(&[0.5]).unwrap_or_default();
        assert_eq!(q.len(), 1);
    }
}
