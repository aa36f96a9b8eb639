//! Serialization-bound time: how long a worker sat idle while work it could not take waited.
//!
//! A worker is *serialization-bound* while it is idle (looking for work or asleep) and another
//! worker owns a color with callbacks waiting behind the one it runs. The work is there, but
//! its color keeps it on one worker at a time: more workers would not run it sooner, a new
//! color would. Telemetry sends it per worker (`WorkerSnapshot::serial_bound_ns`).
//!
//! It is measured with tracing on, off the per-callback path:
//!
//! 1. An owner says whether it has a *backlog* only where it already takes the color's lock,
//!    once per batch: after taking a batch (a backlog if it took more than one callback), and
//!    when it gives the color up (released, or put back on its run queue where others can take
//!    it: no backlog). It keeps the running total of its backlog time in one published word
//!    ([`BacklogClock`]), written only when a backlog starts or ends: a worker running one
//!    callback per color never writes it.
//! 2. An idle worker reads every other worker's word when its idle stretch begins (before it
//!    spins) and when it ends (after the spin, or the sleep that followed it). The growth of
//!    their totals over the stretch, capped at the stretch's length, is its serialization-bound
//!    time ([`IdleMark::bound`]), added to its recorder's interval.
//!
//! What this misses and over-counts, by construction: a backlog that builds up while a batch
//! runs is seen when the owner next takes from the color, not before (a color fed one callback
//! at a time while each runs shows no backlog: its waits are short); the last callback of a
//! batch counts as having work behind it; with three or more workers, two owners' backlogs at
//! once count twice, up to the idle stretch's length.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::Clock;

/// The top bit of a [`BacklogClock`]: a backlog is open, and the rest of the word is its base.
const OPEN: u64 = 1 << 63;

/// One worker's backlog time so far, published: `C(t)`, the time it owned a color with
/// callbacks waiting, up to `t`. Written only by its worker, when a backlog starts or ends;
/// read by idle workers with `Relaxed` loads (a hint: a stale word moves time between
/// stretches, it loses none).
///
/// Closed, the word is the total in clock ticks. Open, it is [`OPEN`] and a base such that
/// `C(t) = t − base`: one word, so a reader never sees half an update.
#[derive(Default)]
pub(crate) struct BacklogClock(AtomicU64);

impl BacklogClock {
    /// The worker's backlog time up to `now` (raw clock ticks).
    #[inline]
    pub(crate) fn total(&self, now: u64) -> u64 {
        let v = self.0.load(Ordering::Relaxed);
        if v & OPEN != 0 {
            now.saturating_sub(v & !OPEN)
        } else {
            v
        }
    }
}

/// The owner's side: its backlog state in plain fields.
#[derive(Default)]
pub(crate) struct Backlog {
    /// Backlog time of the closed backlogs, ticks.
    total: u64,
    /// When the open backlog began.
    since: Option<u64>,
}

impl Backlog {
    /// The owner now has (`waiting`) or has not callbacks waiting behind the one it runs.
    /// Reads the clock and writes `to` only when that changes.
    #[inline]
    pub(crate) fn set(&mut self, waiting: bool, clock: &Clock, to: &BacklogClock) {
        self.set_with(waiting, || clock.raw(), to);
    }

    /// [`Backlog::set`] with the time from `now`, asked only on a change.
    #[inline]
    fn set_with(&mut self, waiting: bool, now: impl FnOnce() -> u64, to: &BacklogClock) {
        match (waiting, self.since) {
            (true, None) => {
                let now = now();
                self.since = Some(now);
                to.0.store(
                    OPEN | (now.saturating_sub(self.total) & !OPEN),
                    Ordering::Relaxed,
                );
            }
            (false, Some(since)) => {
                self.total += now().saturating_sub(since);
                self.since = None;
                to.0.store(self.total & !OPEN, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// Where an idle stretch began: the time and the other workers' backlog totals then.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdleMark {
    at: u64,
    others: u64,
}

impl IdleMark {
    /// Worker `me` begins an idle stretch now.
    pub(crate) fn new<'a>(
        me: usize,
        clocks: impl IntoIterator<Item = &'a BacklogClock>,
        now: u64,
    ) -> IdleMark {
        IdleMark {
            at: now,
            others: others(me, clocks, now),
        }
    }

    /// The serialization-bound part of the stretch that ends now, in ticks.
    pub(crate) fn bound<'a>(
        &self,
        me: usize,
        clocks: impl IntoIterator<Item = &'a BacklogClock>,
        now: u64,
    ) -> u64 {
        others(me, clocks, now)
            .saturating_sub(self.others)
            .min(now.saturating_sub(self.at))
    }
}

fn others<'a>(me: usize, clocks: impl IntoIterator<Item = &'a BacklogClock>, now: u64) -> u64 {
    clocks
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != me)
        .map(|(_, c)| c.total(now))
        .sum()
}

#[cfg(all(test, not(hue_loom)))]
mod tests {
    use super::*;

    fn set_at(b: &mut Backlog, waiting: bool, now: u64, to: &BacklogClock) {
        b.set_with(waiting, || now, to);
    }

    #[test]
    fn an_idle_stretch_counts_the_other_workers_backlog_within_it() {
        let (a, idle) = (BacklogClock::default(), BacklogClock::default());
        let mut owner = Backlog::default();
        // The owner had a backlog from 10 to 20 before worker 1 went idle at 30.
        set_at(&mut owner, true, 10, &a);
        set_at(&mut owner, false, 20, &a);
        let clocks = [&a, &idle];
        let mark = IdleMark::new(1, clocks, 30);
        // A backlog from 40 to 70, then one open since 90: worker 1 idle until 100.
        set_at(&mut owner, true, 40, &a);
        set_at(&mut owner, false, 70, &a);
        set_at(&mut owner, true, 90, &a);
        assert_eq!(mark.bound(1, clocks, 100), 30 + 10);
        // Its own word never counts.
        assert_eq!(mark.bound(0, clocks, 100), 0);
        // Never more than the stretch.
        let late = IdleMark::new(1, clocks, 95);
        assert_eq!(late.bound(1, clocks, 100), 5);
    }

    #[test]
    fn the_real_clock_opens_and_closes_once_per_change() {
        let clock = Clock::new();
        let word = BacklogClock::default();
        let mut b = Backlog::default();
        b.set(false, &clock, &word);
        assert_eq!(word.0.load(Ordering::Relaxed), 0, "no backlog, no write");
        b.set(true, &clock, &word);
        let open = word.0.load(Ordering::Relaxed);
        assert_ne!(open & OPEN, 0);
        b.set(true, &clock, &word);
        assert_eq!(
            word.0.load(Ordering::Relaxed),
            open,
            "still open: unchanged"
        );
        b.set(false, &clock, &word);
        let closed = word.0.load(Ordering::Relaxed);
        assert_eq!(closed & OPEN, 0);
        assert_eq!(
            word.total(u64::MAX),
            closed,
            "closed: the total, whenever read"
        );
    }
}
