//! The colors being counted while ingesting, in a flat open-addressing table.

use super::MAX_TRACKED_COLORS;

/// Handlers tracked per color while ingesting.
pub(crate) const COLOR_HANDLERS: usize = 4;

/// One color while ingesting: flat, so that a callback touches one or two cache lines and
/// no heap.
#[derive(Clone, Copy, Default)]
pub(crate) struct ColorAcc {
    pub(crate) color: u64,
    /// The key whose color it is, if one was found (`has_key`).
    pub(crate) key: u64,
    pub(crate) has_key: bool,
    pub(crate) callbacks: u64,
    pub(crate) busy: u64,
    pub(crate) serial_wait: u64,
    pub(crate) worker_wait: u64,
    pub(crate) handlers: [u32; COLOR_HANDLERS],
    pub(crate) handler_busy: [u64; COLOR_HANDLERS],
    pub(crate) handler_count: u8,
    pub(crate) more_handlers: bool,
}

/// The colors being counted: their counters in a dense `Vec`, found through an
/// open-addressing index of 16-byte slots (linear probing, at most a quarter full, so that
/// a probe rarely goes past its first slot), so that a callback touches the index and its
/// color's counters, nothing else.
pub(crate) struct ColorTable {
    /// (color, index into `accs`); `EMPTY` marks a free slot.
    pub(crate) slots: Vec<(u64, u32)>,
    pub(crate) accs: Vec<ColorAcc>,
}

pub(crate) const EMPTY: u32 = u32::MAX;

impl ColorTable {
    pub(crate) fn new() -> ColorTable {
        ColorTable {
            slots: vec![(0, EMPTY); 1024],
            accs: Vec::new(),
        }
    }

    #[inline]
    pub(crate) fn home(&self, color: u64) -> usize {
        let bits = self.slots.len().trailing_zeros();
        (color.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as usize
    }

    /// The index of `color`'s counters, added if new; `None` if the table is full (time to
    /// fold).
    #[inline(always)]
    pub(crate) fn slot(&mut self, color: u64) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(color);
        loop {
            let (c, j) = self.slots[i];
            if j == EMPTY {
                break;
            }
            if c == color {
                return Some(j as usize);
            }
            i = (i + 1) & mask;
        }
        self.add(color, i)
    }

    /// Adds `color`, whose probe ended at free slot `i`.
    #[cold]
    pub(crate) fn add(&mut self, color: u64, i: usize) -> Option<usize> {
        let len = self.accs.len();
        if len >= MAX_TRACKED_COLORS {
            return None;
        }
        if (len + 1) * 4 > self.slots.len() {
            let all = self.take();
            self.rebuild(self.slots.len() * 2, all);
            return self.slot(color);
        }
        self.slots[i] = (color, len as u32);
        self.accs.push(ColorAcc {
            color,
            ..ColorAcc::default()
        });
        Some(len)
    }

    /// The colors in the table, which is left empty.
    pub(crate) fn take(&mut self) -> Vec<ColorAcc> {
        self.slots.iter_mut().for_each(|s| *s = (0, EMPTY));
        std::mem::take(&mut self.accs)
    }

    /// Empties the table into `size` slots, holding `colors`.
    pub(crate) fn rebuild(&mut self, size: usize, colors: Vec<ColorAcc>) {
        self.slots = vec![(0, EMPTY); size];
        let mask = size - 1;
        for (j, c) in colors.iter().enumerate() {
            let mut i = self.home(c.color);
            while self.slots[i].1 != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = (c.color, j as u32);
        }
        self.accs = colors;
    }
}
