//! Duration percentiles without keeping the durations: a log-linear histogram.
//!
//! Values below 16 ns have a bucket each. Above, every power of two is split into 16 equal
//! buckets, so a bucket is at most 1/16 of its values wide: a percentile read from it is
//! within 6.25% of the true one (3.2% from the bucket's middle). 976 buckets cover all of
//! `u64`; a histogram is one flat array, and recording is a `leading_zeros`, two shifts and
//! an increment (no branches on the value's size beyond the first).

use serde::Serialize;

const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets: 16 exact ones, then 16 per power of two from 2^4 to 2^63.
const BUCKETS: usize = (SUB + (64 - SUB_BITS as u64) * SUB) as usize;

/// A histogram of durations in nanoseconds with ≤ 6.25% relative error per bucket.
#[derive(Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    count: u64,
    max: u64,
    min: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("min", &self.min())
            .field("p50", &self.percentile(0.5))
            .field("max", &self.max)
            .finish()
    }
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram::new()
    }
}

#[inline]
fn bucket(v: u64) -> usize {
    if v < SUB {
        v as usize
    } else {
        let e = 63 - v.leading_zeros(); // >= SUB_BITS
        let sub = (v >> (e - SUB_BITS)) & (SUB - 1);
        (SUB + (u64::from(e - SUB_BITS) << SUB_BITS) + sub) as usize
    }
}

/// The smallest value of bucket `i`, and its width.
fn bucket_range(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < SUB {
        (i, 1)
    } else {
        let e = (i - SUB) / SUB + u64::from(SUB_BITS);
        let sub = (i - SUB) % SUB;
        let width = 1u64 << (e - u64::from(SUB_BITS));
        ((SUB + sub) * width, width)
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            count: 0,
            max: 0,
            min: u64::MAX,
        }
    }

    /// Records one value.
    #[inline]
    pub fn record(&mut self, v: u64) {
        self.counts[bucket(v)] += 1;
        self.count += 1;
        self.max = self.max.max(v);
        self.min = self.min.min(v);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.max = self.max.max(other.max);
        self.min = self.min.min(other.min);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest value recorded (exact); 0 if none.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The smallest value recorded (exact); 0 if none.
    pub fn min(&self) -> u64 {
        if self.count == 0 { 0 } else { self.min }
    }

    /// The value below which a fraction `q` (0..=1) of the values lie, to within the bucket's
    /// width; 0 if the histogram is empty. Clamped to the exact minimum and maximum.
    pub fn percentile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        if q <= 0.0 {
            return self.min();
        }
        if q >= 1.0 {
            return self.max;
        }
        // The rank of the value asked for, 1-based: the ceil of q·n, at least 1.
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, width) = bucket_range(i);
                return (lo + width / 2).clamp(self.min(), self.max);
            }
        }
        self.max
    }

    /// p50, p90, p99 and max, for tables and JSON.
    pub fn summary(&self) -> Percentiles {
        Percentiles {
            p50: self.percentile(0.50),
            p90: self.percentile(0.90),
            p99: self.percentile(0.99),
            max: self.max,
        }
    }
}

/// Percentiles of a [`Histogram`], in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest (exact).
    pub max: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_cover_u64() {
        let mut next = 0u64;
        for i in 0..BUCKETS {
            let (lo, width) = bucket_range(i);
            assert_eq!(lo, next, "bucket {i}");
            assert_eq!(bucket(lo), i);
            assert_eq!(bucket(lo + (width - 1)), i);
            next = lo.wrapping_add(width);
        }
        assert_eq!(next, 0, "the last bucket ends at u64::MAX");
    }

    #[test]
    fn percentiles_are_within_a_bucket() {
        let mut h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        for (q, exact) in [(0.5, 5_000_000f64), (0.9, 9_000_000.0), (0.99, 9_900_000.0)] {
            let got = h.percentile(q) as f64;
            assert!(
                (got - exact).abs() / exact < 0.0625,
                "q {q}: {got} vs {exact}"
            );
        }
        assert_eq!(h.percentile(1.0), 10_000_000);
        assert_eq!(h.percentile(0.0), 1000);
        assert_eq!(Histogram::new().percentile(0.5), 0);
    }
}
