//! The timeline: equal intervals from the trace's time 0, widened to stay bounded.

use super::{Interval, MAX_INTERVALS};

/// The first width of a timeline interval: 10 ms.
pub(crate) const FIRST_INTERVAL_NS: u64 = 10_000_000;

/// Equal intervals from the trace's time 0, widened (pairs merged) to stay within
/// [`MAX_INTERVALS`].
pub(crate) struct Timeline {
    pub(crate) width: u64,
    pub(crate) bins: Vec<Interval>,
    /// The last bin used, `[lo, hi)` and its index: most records fall in it again, which
    /// saves a division.
    pub(crate) last: (u64, u64, usize),
}

impl Default for Timeline {
    fn default() -> Timeline {
        Timeline {
            width: FIRST_INTERVAL_NS,
            bins: Vec::new(),
            last: (0, 0, 0),
        }
    }
}

impl Timeline {
    #[inline(always)]
    pub(crate) fn bin(&mut self, at: u64) -> &mut Interval {
        let (lo, hi, i) = self.last;
        if (lo..hi).contains(&at) {
            return &mut self.bins[i];
        }
        self.bin_slow(at)
    }

    #[inline(never)]
    pub(crate) fn bin_slow(&mut self, at: u64) -> &mut Interval {
        let mut i = (at / self.width) as usize;
        while i >= MAX_INTERVALS {
            self.widen();
            i = (at / self.width) as usize;
        }
        if i >= self.bins.len() {
            self.bins.resize(i + 1, Interval::default());
        }
        let lo = i as u64 * self.width;
        self.last = (lo, lo + self.width, i);
        &mut self.bins[i]
    }

    #[inline]
    pub(crate) fn callback(&mut self, started: u64, busy: u64, serial: u64) {
        let b = self.bin(started);
        b.callbacks += 1;
        b.busy += busy;
        b.serial_wait += serial;
    }

    pub(crate) fn conflict(&mut self, at: u64) {
        self.bin(at).conflicts += 1;
    }

    pub(crate) fn widen(&mut self) {
        let merged = self
            .bins
            .chunks(2)
            .map(|p| {
                let mut m = p[0];
                if let Some(q) = p.get(1) {
                    m.callbacks += q.callbacks;
                    m.busy += q.busy;
                    m.serial_wait += q.serial_wait;
                    m.conflicts += q.conflicts;
                }
                m
            })
            .collect();
        self.bins = merged;
        self.width *= 2;
        self.last = (0, 0, 0);
    }

    pub(crate) fn intervals(self) -> Vec<Interval> {
        let width = self.width;
        self.bins
            .into_iter()
            .enumerate()
            .map(|(i, mut b)| {
                b.start = i as u64 * width;
                b.end = b.start + width;
                b
            })
            .collect()
    }
}
