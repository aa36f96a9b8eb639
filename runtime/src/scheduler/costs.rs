//! What a color run begun by a callback of each handler costs, learned by every worker for
//! all of them: the estimate the offer rule (`worker.rs`) weighs a kept color by. Per run,
//! not per callback: what moves to another worker is a color, with every callback queued in
//! it, and sixteen 1 µs callbacks in one color are worth moving though no one of them is.
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
//! - **Learning**: a worker times its color runs (every run while they are expensive or
//!   their handler is not known yet, every 8th while they are cheap: `Worker::time_color_run`).
//!   A sample whose runs all began with callbacks of one handler is that handler's; a sample
//!   that mixes handlers is dropped (a driver's run beside its cheap callbacks' would charge
//!   them the driver's time), and so is the run of a color just stolen. How samples make an
//!   estimate is [`hue_formats::cost`], the rule the simulator models too.
//! - **Sharing**: one word per slot, written with a `Relaxed` store only when the rule says
//!   the estimate moved, read with a `Relaxed` load, so a handler whose cost is steady costs no
//!   cache-line traffic between the workers that run it. Two workers writing at once lose one
//!   of their samples: a hint.
//! - **Unknown** (a handler timed fewer than twice) counts as free: its colors are not
//!   offered until two of its runs were timed.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::handler::Handler;

use hue_formats::cost;

/// The per-handler cost estimates, in raw clock ticks per color run the handler begins; 0 =
/// not yet timed.
pub(crate) struct HandlerCosts {
    slots: Box<[AtomicU64]>,
}

impl HandlerCosts {
    pub(crate) fn new() -> HandlerCosts {
        HandlerCosts {
            slots: (0..cost::SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn slot(&self, h: Handler) -> &AtomicU64 {
        &self.slots[cost::slot_of(h.id())]
    }

    /// What a color run begun by a callback of `h` costs, raw ticks; 0 if not known yet
    /// (timed fewer than twice).
    #[inline]
    pub(crate) fn get(&self, h: Handler) -> u64 {
        cost::estimate(self.slot(h).load(Ordering::Relaxed))
    }

    /// Folds in a sample: `runs` color runs begun by `h` took `per` ticks each.
    pub(crate) fn learn(&self, h: Handler, per: u64, runs: u64) {
        let slot = self.slot(h);
        if let Some(v) = cost::learned(slot.load(Ordering::Relaxed), per, runs) {
            slot.store(v, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
