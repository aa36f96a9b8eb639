//! What a callback of each handler costs, learned by every worker for all of them: the
//! estimate the offer rule (`worker.rs`) weighs a kept color by.
//!
//! Whether moving kept colors to another worker pays depends on the work *they* hold, not on
//! what the worker that kept them ran before. An estimate per worker (its recent cost per
//! callback) got both cases of issue 12 item 6 wrong: a worker that had just run a long
//! driver callback judged the thousand cheap callbacks it queued expensive, and a worker that
//! had run nothing yet (every worker but one, at first, with 16 workers) judged a fork's 2 ms
//! branches free and ran them one after another (fork-join at 16 workers ran at 3.2x where
//! 13x was possible). A handler's callbacks mostly cost alike, and the handler is known when
//! a color is kept: so the estimate is per handler, and shared, so that what one worker
//! learned every worker knows.
//!
//! - **Learning**: a worker times its color runs (every run while they are expensive, every
//!   8th while they are cheap: `Worker::time_color_run`). A sample whose runs all began with
//!   callbacks of one handler is that handler's; a sample that mixes handlers is dropped (a
//!   driver's run beside its cheap callbacks' would charge them the driver's time). The first
//!   two samples give the lesser of them (a handler's first run pays its cold caches and
//!   lazy set-up: taken alone, 512 cheap timer callbacks were once judged worth moving); from
//!   then the estimate moves a quarter of the way down to a cheaper sample per callback it
//!   covers, and a 16th of the way up to a dearer one whatever it covers: a run costs
//!   more than its handler whenever other workers get in its way (contended locks, its data in
//!   another core's cache), and learning that quickly fed on itself — empty callbacks on 2
//!   workers looked like 1–4 µs each, were offered, moved, and timed dearer still. Runs of
//!   stolen colors are not learned from at all (`Worker::time_color_run`).
//! - **Sharing**: one word per slot, handler ids taken modulo the table's size (two handlers
//!   in one slot share an estimate: ids are dense and programs have few handlers). Read with
//!   a `Relaxed` load, written with a `Relaxed` store only when the estimate moves by more
//!   than 1/16, so a handler whose cost is steady costs no cache-line traffic between the
//!   workers that run it. Two workers writing at once lose one of their samples: a hint.
//! - **Unknown** (a handler timed fewer than twice) counts as free: its colors are not
//!   offered until two of its runs were timed.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::handler::Handler;

/// Slots in the table (a power of two).
const SLOTS: usize = 1024;

/// How far one callback's sample moves the estimate: a quarter of the way.
const WEIGHT_DIV: u64 = 4;

/// How far a sample above the estimate moves it, whatever the callbacks it covers: a 16th
/// of the way (a run's first callback names its handler, and a long callback of another
/// handler later in its batch, a driver's, is charged to it: such samples must not count
/// for much however many callbacks they cover).
const UP_DIV: u64 = 16;

/// Marks a slot holding one sample only: not yet an estimate.
const FIRST: u64 = 1 << 63;

/// The per-handler cost estimates, in raw clock ticks per callback; 0 = not yet timed.
pub(crate) struct HandlerCosts {
    slots: Box<[AtomicU64]>,
}

impl HandlerCosts {
    pub(crate) fn new() -> HandlerCosts {
        HandlerCosts {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn slot(&self, h: Handler) -> &AtomicU64 {
        &self.slots[h.id() as usize & (SLOTS - 1)]
    }

    /// What a callback of `h` costs, raw ticks; 0 if not known yet (timed fewer than twice).
    #[inline]
    pub(crate) fn get(&self, h: Handler) -> u64 {
        let v = self.slot(h).load(Ordering::Relaxed);
        if v & FIRST != 0 { 0 } else { v }
    }

    /// Folds in a sample: `callbacks` callbacks of `h` took `per` ticks each.
    pub(crate) fn learn(&self, h: Handler, per: u64, callbacks: u64) {
        let slot = self.slot(h);
        let old = slot.load(Ordering::Relaxed);
        let per = per.clamp(1, FIRST - 1);
        if old == 0 {
            slot.store(per | FIRST, Ordering::Relaxed);
            return;
        }
        if old & FIRST != 0 {
            slot.store((old & !FIRST).min(per), Ordering::Relaxed);
            return;
        }
        // Down fast, up slowly: a handler's runs cost more than it does whenever the machine
        // or the other workers get in the way (contended locks, a color's data in another
        // core's cache), never less.
        let (div, w) = if per < old {
            (WEIGHT_DIV, callbacks.min(WEIGHT_DIV))
        } else {
            (UP_DIV, 1)
        };
        let new = {
            let sum = u128::from(old) * u128::from(div - w) + u128::from(per) * u128::from(w);
            (sum / u128::from(div)) as u64
        }
        .max(1);
        if new.abs_diff(old) > old / 16 {
            slot.store(new, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lesser_of_two_first_samples_then_down_fast_and_up_slowly() {
        let c = HandlerCosts::new();
        let h = Handler::new("costs.test.a");
        assert_eq!(c.get(h), 0);
        // One sample is not an estimate yet; of the first two, the lesser.
        c.learn(h, 5000, 1);
        assert_eq!(c.get(h), 0);
        c.learn(h, 1000, 1);
        assert_eq!(c.get(h), 1000);
        // Up a 16th of the way per sample, however many callbacks it covers.
        c.learn(h, 3000, 100);
        assert_eq!(c.get(h), 1125);
        // A move of 1/16 or less is not written.
        c.learn(h, 2000, 1);
        assert_eq!(c.get(h), 1125);
        // Down a quarter per callback.
        c.learn(h, 125, 1);
        assert_eq!(c.get(h), 875);
        // Four callbacks or more below: the sample replaces the estimate.
        c.learn(h, 80, 8);
        assert_eq!(c.get(h), 80);
        // A move of 1/16 or less is not written.
        c.learn(h, 90, 1);
        assert_eq!(c.get(h), 80);
        // Never back to "unknown".
        c.learn(h, 0, 8);
        assert_eq!(c.get(h), 1);
    }

    #[test]
    fn handlers_learn_apart() {
        let c = HandlerCosts::new();
        let (a, b) = (Handler::new("costs.test.b"), Handler::new("costs.test.c"));
        c.learn(a, 5000, 4);
        c.learn(a, 6000, 4);
        assert_eq!(c.get(a), 5000);
        assert_eq!(c.get(b), 0);
    }
}
