//! How a handler's cost (what a color run it begins costs) is learned from timed runs: the one
//! definition of the rule, used by the runtime (`scheduler/costs.rs`, slots shared by its
//! workers, in raw clock ticks) and by the profiler's simulator (its own slots, in ns), so
//! that the simulator offers kept colors when the runtime would.
//!
//! A *slot* holds one `u64`: 0 before any sample; the first sample marked [`FIRST`] (not yet
//! an estimate); from the second on, the estimate. The first two samples give the lesser of
//! them (a handler's first run pays its cold caches and lazy set-up: taken alone, 512 cheap
//! timer callbacks were once judged worth moving); from then the estimate moves a quarter of
//! the way down to a cheaper sample per run it covers, and a 16th of the way up to a dearer
//! one whatever it covers (by an eighth of the estimate at most): a run costs more than its
//! handler whenever other workers get in its way (contended locks, its data in another core's
//! cache), never less, and learning that quickly fed on itself (empty callbacks on 2 workers
//! looked like 1–4 µs each, were offered, moved, and timed dearer still). A move of 1/16 of
//! the estimate or less is not written, so a handler whose cost is steady costs no writes.

/// Slots in a table of costs (a power of two); a handler's is its id modulo this
/// ([`slot_of`]): two handlers in one slot share an estimate (ids are dense, programs have
/// few handlers).
pub const SLOTS: usize = 1024;

/// Marks a slot holding one sample only: not yet an estimate.
const FIRST: u64 = 1 << 63;

/// How far a sample below the estimate moves it per run it covers: a quarter of the way
/// (four runs or more: all the way).
const DOWN_DIV: u64 = 4;

/// How far a sample above the estimate moves it, whatever the callbacks it covers: a 16th of
/// the way (a run's first callback names its handler, and a long callback of another handler
/// later in its batch, a driver's, is charged to it: such samples must not count for much
/// however many callbacks they cover).
const UP_DIV: u64 = 16;

/// The most one sample raises the estimate: an eighth of it. A 16th of the way is still a
/// lot when the sample is a run preempted for milliseconds (a 25 µs handler judged 275 µs
/// after one such run on a loaded machine, and its colors offered as if it cost that); with
/// the cap, a real rise of 10x is learned in about 20 samples.
const UP_MAX_DIV: u64 = 8;

/// The slot of the handler with this id.
#[inline]
pub fn slot_of(handler: u32) -> usize {
    handler as usize & (SLOTS - 1)
}

/// What a slot says a callback costs; 0 if not known yet (timed fewer than twice).
#[inline]
pub fn estimate(slot: u64) -> u64 {
    if slot & FIRST != 0 { 0 } else { slot }
}

/// The slot's new value after a sample of `callbacks` runs (the name is older than the unit)
/// that took `per` each, or
/// `None` if it need not be written.
pub fn learned(slot: u64, per: u64, callbacks: u64) -> Option<u64> {
    let per = per.clamp(1, FIRST - 1);
    if slot == 0 {
        return Some(per | FIRST);
    }
    if slot & FIRST != 0 {
        return Some((slot & !FIRST).min(per));
    }
    let old = slot;
    let (div, w) = if per < old {
        (DOWN_DIV, callbacks.min(DOWN_DIV))
    } else {
        (UP_DIV, 1)
    };
    let sum = u128::from(old) * u128::from(div - w) + u128::from(per) * u128::from(w);
    let new = ((sum / u128::from(div)) as u64)
        .min(old.saturating_add(old / UP_MAX_DIV))
        .max(1);
    (new.abs_diff(old) > old / 16).then_some(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Folds samples into one slot as a table would.
    fn fold(slot: &mut u64, per: u64, callbacks: u64) {
        if let Some(v) = learned(*slot, per, callbacks) {
            *slot = v;
        }
    }

    #[test]
    fn the_lesser_of_two_first_samples_then_down_fast_and_up_slowly() {
        let mut s = 0;
        assert_eq!(estimate(s), 0);
        // One sample is not an estimate yet; of the first two, the lesser.
        fold(&mut s, 5000, 1);
        assert_eq!(estimate(s), 0);
        fold(&mut s, 1000, 1);
        assert_eq!(estimate(s), 1000);
        // Up a 16th of the way per sample, however many callbacks it covers.
        fold(&mut s, 3000, 100);
        assert_eq!(estimate(s), 1125);
        // At most an eighth up per sample, however far above it is (a preempted run).
        let mut t = 1000;
        fold(&mut t, 1_000_000, 1);
        assert_eq!(estimate(t), 1125);
        // A move of 1/16 or less is not written.
        assert_eq!(learned(s, 2000, 1), None);
        // Down a quarter per callback.
        fold(&mut s, 125, 1);
        assert_eq!(estimate(s), 875);
        // Four callbacks or more below: the sample replaces the estimate.
        fold(&mut s, 80, 8);
        assert_eq!(estimate(s), 80);
        assert_eq!(learned(s, 90, 1), None);
        // Never back to "unknown".
        fold(&mut s, 0, 8);
        assert_eq!(estimate(s), 1);
    }

    #[test]
    fn ids_share_a_slot_modulo_the_table() {
        assert_eq!(slot_of(3), 3);
        assert_eq!(slot_of(3 + SLOTS as u32), 3);
        assert_eq!(slot_of(u32::MAX), SLOTS - 1);
    }
}
