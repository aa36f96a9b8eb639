//! Utilization over time per worker, stacked by color: what `hue report`'s first chart draws.
//!
//! [`Profile`]'s timeline is per interval for the whole runtime; this one is per worker and
//! per color, from one more streaming pass over the trace ([`Trace::for_each_record`]). Its
//! memory is fixed before the pass starts, whatever the trace's length:
//!
//! - time: [`BINS`] equal bins from the first callback queued to the last one ended (the
//!   profile says both, so the bins never need widening);
//! - colors: the [`TRACKED`] busiest colors of the profile one by one, every other color
//!   (per-connection colors can be millions) folded into one "other colors" slot;
//! - workers: the first [`MAX_ROWS`] − 1 one by one, the rest (if any) averaged in one row.
//!
//! So at most `MAX_ROWS × BINS × (TRACKED + 1)` counters: 33 × 200 × 6 × 8 bytes = 310 KiB.

use hue_formats::trace::Record;
use hue_profiler::{ColorStats, Profile, Trace};

use crate::error::Result;

/// Time bins across the run: enough for a chart 1000 pixels wide (5 pixels a bin).
pub const BINS: usize = 200;

/// Colors drawn one by one; the rest are "other colors".
pub const TRACKED: usize = 5;

/// Worker rows at most; past that, the last row is the mean of the remaining workers.
pub const MAX_ROWS: usize = 33;

/// Busy time per worker row, per time bin, per color slot.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerTimeline {
    /// The run's start and end, ns from the trace's start.
    pub span: (u64, u64),
    /// The colors drawn one by one (raw colors), busiest first.
    pub colors: Vec<u64>,
    /// One per row: its label ("worker 3", "workers 32–63 (mean)") and how many workers it
    /// holds.
    pub rows: Vec<(String, u32)>,
    /// `busy[row][bin][slot]`, ns; slot `colors.len()` is "other colors".
    pub busy: Vec<Vec<Vec<u64>>>,
    /// Callbacks read in this pass.
    pub callbacks: u64,
}

impl WorkerTimeline {
    /// Reads `trace` once, binning each callback's run `[started, ended)` over the bins it
    /// covers, on its worker's row and in its color's slot.
    pub fn read(trace: &Trace, profile: &Profile) -> Result<WorkerTimeline> {
        let colors: Vec<u64> = profile
            .colors
            .iter()
            .take(TRACKED)
            .map(|c| c.color)
            .collect();
        let workers = usize::from(profile.workers.max(1)).max(
            profile
                .worker_stats
                .iter()
                .map(|w| usize::from(w.worker) + 1)
                .max()
                .unwrap_or(0),
        );
        let rows: Vec<(String, u32)> = if workers <= MAX_ROWS {
            (0..workers).map(|w| (format!("worker {w}"), 1)).collect()
        } else {
            let mut r: Vec<(String, u32)> = (0..MAX_ROWS - 1)
                .map(|w| (format!("worker {w}"), 1))
                .collect();
            r.push((
                format!("workers {}–{} (mean)", MAX_ROWS - 1, workers - 1),
                (workers - (MAX_ROWS - 1)) as u32,
            ));
            r
        };
        let start = profile.totals.first;
        let end = profile.totals.last.max(start + 1);
        let width = (end - start).div_ceil(BINS as u64).max(1);
        let slots = colors.len() + 1;
        let mut busy = vec![vec![vec![0u64; slots]; BINS]; rows.len()];
        let mut callbacks = 0;
        // The tracked colors are few: a linear search beats a map.
        let _stopped = trace.for_each_record(|record| {
            let Record::Callback(c) = record else {
                return;
            };
            callbacks += 1;
            let row = usize::from(c.worker).min(rows.len() - 1);
            let slot = colors
                .iter()
                .position(|&k| k == c.color)
                .unwrap_or(colors.len());
            let (from, to) = (c.started.max(start), c.ended.min(end));
            if to <= from {
                return;
            }
            let mut bin = ((from - start) / width) as usize;
            let mut at = from;
            while at < to && bin < BINS {
                let bin_end = start + (bin as u64 + 1) * width;
                let upto = to.min(bin_end);
                busy[row][bin][slot] += upto - at;
                at = upto;
                bin += 1;
            }
        })?;
        // A pass that stopped early still drew what it read; the profile says where it stopped.
        Ok(WorkerTimeline {
            span: (start, end),
            colors,
            rows,
            busy,
            callbacks,
        })
    }

    /// The width of a bin, ns.
    pub fn bin_width(&self) -> u64 {
        (self.span.1 - self.span.0).div_ceil(BINS as u64).max(1)
    }

    /// The share of row `row`'s time in bin `bin` spent running slot `slot`'s colors (0..=1
    /// for one worker; a mean over the row's workers for the folded row).
    pub fn share(&self, row: usize, bin: usize, slot: usize) -> f64 {
        let width = self.bin_width() as f64 * f64::from(self.rows[row].1);
        self.busy[row][bin][slot] as f64 / width
    }
}

/// A color as a reader knows it: `default`, `key 17` (a key's color), or its raw value.
pub fn color_label(c: &ColorStats) -> String {
    if c.color == hue_formats::Color::DEFAULT.raw() {
        "default".to_owned()
    } else if let Some(k) = c.key {
        format!("key {k}")
    } else {
        format!("color {:#x}", c.color)
    }
}
