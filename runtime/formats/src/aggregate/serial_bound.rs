//! Serialization-bound time of a replayed trace, from its callback records.
//!
//! Live, the runtime measures how long each worker sat idle while another worker owned a
//! color with callbacks waiting behind the one it ran (`runtime/src/scheduler/serial_bound.rs`).
//! A trace does not carry that measure, but its callback records hold what it is about:
//! each callback's worker, color, and when it was queued, became runnable, started and
//! ended. A period's [`Timeline`] keeps, clipped to the period:
//!
//! - each worker's *running* stretches (`started..ended` of its callbacks);
//! - each callback's *serialization wait* (`queued..runnable`, with its color): it waited
//!   behind earlier callbacks of its color;
//! - each callback's *wait for a worker* (`runnable..started`, with its color): the callbacks
//!   of its color before it had ended and none of the color ran.
//!
//! A color *holds work back* at `t` when one of its callbacks is in its serialization wait at
//! `t` and none is waiting for a worker at `t`. Callbacks of one color start in the order
//! they were queued, so that is exactly when one of its callbacks runs with another queued
//! behind it: between two of its callbacks the next one is in its wait for a worker, and a
//! callback queued before the color's latest one ended waits, behind it, until then. A worker
//! is *serialization-bound* at `t` when it runs no callback and some color holds work back
//! (the color's running callback is then on another worker).
//!
//! The cost is a few pushes per callback and, once per period, a sweep in linear time but
//! for small sorts: serialization waits are grouped by color (a counting sort of the colors
//! that had one, found by hashing) and each color's few sorted and joined; a wait for a
//! worker is looked up in its color's (hashing, a binary search), and only the few that cut
//! into one are kept; the colors' results are sorted once; running stretches come in each
//! worker's order.
//!
//! Compared with the live measure, by construction:
//!
//! - it sees a backlog from the moment the waiting callback was queued; live, an owner says
//!   it has one only at its next batch boundary, so a color fed one callback at a time while
//!   each runs counts here and not live;
//! - it does not count the last callback of a batch as having work behind it, as live does;
//! - a worker runs no callback also in the few hundred nanoseconds between two callbacks of
//!   a batch, which live does not count as idle (counted here only while a backlog overlaps);
//! - with three or more workers, two colors holding work back at once count once (live counts
//!   each owner's backlog, up to the idle stretch's length);
//! - time falls into the period it passed in (live, into the period the idle stretch was
//!   handed over in, at most about a period later);
//! - it misses what the trace does not hold or holds too late: callbacks whose records were
//!   dropped, callbacks still queued when the trace ended (their wait has no end yet), and
//!   the part of a wait or a run before the oldest period still open when its record was
//!   read (a callback whose record came more than [`REPLAY_LATENESS_NS`] after the wait
//!   began).
//!
//! [`REPLAY_LATENESS_NS`]: super::REPLAY_LATENESS_NS

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::ops::Range;

use crate::trace::{CallbackRecord, ColorHasher};

/// A stretch of time, `from..to` in ns.
type Span = (u64, u64);

/// One period of a replayed trace: what it needs to tell each worker's serialization-bound
/// time ([`Timeline::bound`]). See the module comment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Timeline {
    /// The period.
    span: Range<u64>,
    /// Per worker, its callbacks' runs in the period, in the order added (touching ones
    /// joined).
    running: Vec<Vec<Span>>,
    /// Room made for each worker's runs.
    running_room: usize,
    /// Serialization waits in the period: (color, from, to).
    waits: Vec<(u64, u64, u64)>,
    /// Waits for a worker in the period: (color, from, to).
    idle_colors: Vec<(u64, u64, u64)>,
}

/// How much a [`Timeline`] held: the next period's is made that large at once, rather than
/// grown a push at a time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sizes {
    running: usize,
    waits: usize,
    idle_colors: usize,
}

impl Timeline {
    /// An empty timeline of the period `span`, with room for as much as `like` says.
    pub(crate) fn new(span: Range<u64>, like: Sizes) -> Timeline {
        Timeline {
            span,
            running: Vec::new(),
            running_room: like.running,
            waits: Vec::with_capacity(like.waits),
            idle_colors: Vec::with_capacity(like.idle_colors),
        }
    }

    /// How much it holds.
    pub(crate) fn sizes(&self) -> Sizes {
        Sizes {
            running: self.running.iter().map(Vec::len).max().unwrap_or(0),
            waits: self.waits.len(),
            idle_colors: self.idle_colors.len(),
        }
    }

    /// Adds what `cb` did within the period.
    pub(crate) fn add(&mut self, cb: &CallbackRecord) {
        if let Some((from, to)) = self.clip(cb.started, cb.ended) {
            let w = usize::from(cb.worker);
            if w >= self.running.len() {
                let room = self.running_room;
                self.running.resize_with(w + 1, || Vec::with_capacity(room));
            }
            let runs = &mut self.running[w];
            match runs.last_mut() {
                Some(last) if from >= last.0 && from <= last.1 => last.1 = last.1.max(to),
                _ => runs.push((from, to)),
            }
        }
        if let Some((from, to)) = self.clip(cb.queued, cb.runnable) {
            self.waits.push((cb.color, from, to));
        }
        if let Some((from, to)) = self.clip(cb.runnable, cb.started) {
            self.idle_colors.push((cb.color, from, to));
        }
    }

    fn clip(&self, from: u64, to: u64) -> Option<Span> {
        let (from, to) = (from.max(self.span.start), to.min(self.span.end));
        (from < to).then_some((from, to))
    }

    /// Each worker's serialization-bound time in the period, ns, for workers `0..workers`
    /// (more if more ran callbacks).
    pub(crate) fn bound(&mut self, workers: usize) -> Vec<u64> {
        let mut out = vec![0; workers.max(self.running.len())];
        // Without a wait, or another worker to run the color, nobody is bound.
        if self.waits.is_empty() || out.len() < 2 {
            return out;
        }
        let held = self.held();
        let total: u64 = held.iter().map(|(a, b)| b - a).sum();
        for (w, bound) in out.iter_mut().enumerate() {
            let running = match self.running.get_mut(w) {
                Some(r) => overlap(&held, union(r)),
                None => 0,
            };
            *bound = total - running;
        }
        out
    }

    /// When some color held work back: sorted, disjoint.
    fn held(&self) -> Vec<Span> {
        // The colors with a serialization wait, numbered, and each one's waits joined: color
        // `c`'s are `waits[at[c]..joined[c]]`.
        let mut colors: HashMap<u64, usize, BuildHasherDefault<ColorHasher>> = HashMap::default();
        for w in &self.waits {
            let n = colors.len();
            colors.entry(w.0).or_insert(n);
        }
        let (at, mut waits) = bucket(&self.waits, colors.len(), |c| colors.get(&c).copied());
        let joined: Vec<usize> = (0..colors.len())
            .map(|c| at[c] + union(&mut waits[at[c]..at[c + 1]]).len())
            .collect();
        // The waits for a worker that cut into a wait of their color. Few do (a color waits
        // for a worker briefly, and rarely while another of its callbacks is queued), so
        // only those are grouped and sorted.
        let mut cuts = Vec::new();
        for &(color, from, to) in &self.idle_colors {
            let Some(&c) = colors.get(&color) else {
                continue;
            };
            let spans = &waits[at[c]..joined[c]];
            let i = spans.partition_point(|s| s.1 <= from);
            if spans.get(i).is_some_and(|s| s.0 < to) {
                cuts.push((c as u64, from, to));
            }
        }
        let (cut_at, mut cuts) = bucket(&cuts, colors.len(), |c| Some(c as usize));
        let mut held = Vec::new();
        for c in 0..colors.len() {
            let not_running = union(&mut cuts[cut_at[c]..cut_at[c + 1]]);
            subtract(&waits[at[c]..joined[c]], not_running, &mut held);
        }
        let n = union(&mut held).len();
        held.truncate(n);
        held
    }
}

/// The spans of `of` whose color is numbered, by `number`, below `colors`, grouped by it
/// in their order (a counting sort): color `c`'s are `spans[at[c]..at[c + 1]]`.
fn bucket(
    of: &[(u64, u64, u64)],
    colors: usize,
    number: impl Fn(u64) -> Option<usize>,
) -> (Vec<usize>, Vec<Span>) {
    let numbers: Vec<u32> = of
        .iter()
        .map(|g| number(g.0).map_or(u32::MAX, |c| c as u32))
        .collect();
    let mut at = vec![0; colors + 1];
    for &c in numbers.iter().filter(|c| **c != u32::MAX) {
        at[c as usize + 1] += 1;
    }
    for c in 0..colors {
        at[c + 1] += at[c];
    }
    let mut next = at.clone();
    let mut spans = vec![(0, 0); at[colors]];
    for (&c, &(_, from, to)) in numbers.iter().zip(of) {
        if c != u32::MAX {
            spans[next[c as usize]] = (from, to);
            next[c as usize] += 1;
        }
    }
    (at, spans)
}

/// The earliest time a callback's record speaks of.
pub(crate) fn first_time(cb: &CallbackRecord) -> u64 {
    cb.queued.min(cb.runnable).min(cb.started)
}

/// Sorts `spans` and joins those that overlap or touch, in place: the joined ones are the
/// slice returned, at the front.
fn union(spans: &mut [Span]) -> &[Span] {
    if !spans.is_sorted() {
        spans.sort_unstable();
    }
    let mut out = 0;
    for i in 0..spans.len() {
        let s = spans[i];
        if out > 0 && s.0 <= spans[out - 1].1 {
            spans[out - 1].1 = spans[out - 1].1.max(s.1);
        } else {
            spans[out] = s;
            out += 1;
        }
    }
    &spans[..out]
}

/// Appends `a` without `b` (both sorted and disjoint) to `out`.
fn subtract(a: &[Span], b: &[Span], out: &mut Vec<Span>) {
    let mut j = 0;
    for &(mut from, to) in a {
        while j < b.len() && b[j].1 <= from {
            j += 1;
        }
        let mut k = j;
        while k < b.len() && b[k].0 < to {
            if b[k].0 > from {
                out.push((from, b[k].0));
            }
            from = from.max(b[k].1);
            k += 1;
        }
        if from < to {
            out.push((from, to));
        }
    }
}

/// How long `a` and `b` (both sorted and disjoint) overlap.
fn overlap(a: &[Span], b: &[Span]) -> u64 {
    let (mut i, mut j, mut sum) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        let (from, to) = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
        if from < to {
            sum += to - from;
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Origin;

    const MS: u64 = 1_000_000;

    /// A callback of `color` on `worker`: queued, runnable, started, ended (ms).
    fn cb(worker: u16, color: u64, [q, r, s, e]: [u64; 4]) -> CallbackRecord {
        CallbackRecord {
            id: 0,
            parent: None,
            origin: Origin::Callback,
            handler: 0,
            color,
            key: None,
            worker,
            queued: q * MS,
            runnable: r * MS,
            started: s * MS,
            ended: e * MS,
            cpu: None,
        }
    }

    /// Each worker's bound in ms, over a period of 0..100 ms, of `callbacks`.
    fn bound(workers: usize, callbacks: &[CallbackRecord]) -> Vec<u64> {
        let mut t = Timeline::new(0..100 * MS, Sizes::default());
        for c in callbacks {
            t.add(c);
        }
        t.bound(workers).iter().map(|ns| ns / MS).collect()
    }

    #[test]
    fn an_idle_worker_is_bound_while_another_runs_a_color_with_a_callback_behind() {
        // Worker 0 runs color 7 from 0 to 10 with the next one queued at 0 behind it: worker
        // 1, running nothing, is bound for those 10 ms; worker 0 is busy.
        let two = [cb(0, 7, [0, 0, 0, 10]), cb(0, 7, [0, 10, 10, 20])];
        assert_eq!(bound(2, &two), [0, 10]);
        // A third worker idle too: bound as long (the color holds work back once).
        assert_eq!(bound(3, &two), [0, 10, 10]);
        // Worker 1 busy with something else from 5 to 30: bound only 0..5.
        let mut busy = two.to_vec();
        busy.push(cb(1, 8, [5, 5, 5, 30]));
        assert_eq!(bound(2, &busy), [0, 5]);
    }

    #[test]
    fn no_backlog_no_bound() {
        // Callbacks of one color, each queued after the one before ended.
        let calm = [cb(0, 7, [0, 0, 0, 10]), cb(0, 7, [12, 12, 12, 20])];
        assert_eq!(bound(2, &calm), [0, 0]);
        // A wait for a worker is not serialization.
        assert_eq!(bound(2, &[cb(0, 7, [0, 0, 30, 40])]), [0, 0]);
    }

    #[test]
    fn a_color_between_callbacks_holds_nothing_back() {
        // Color 7's first callback waits for a worker 0..10 (kept by a busy worker 0, say),
        // runs 10..20; the second, queued at 5, waits behind it until 20: the color held it
        // back only while the first ran, 10..20.
        let kept = [cb(0, 7, [0, 0, 10, 20]), cb(0, 7, [5, 20, 20, 25])];
        assert_eq!(bound(2, &kept), [0, 10]);
    }

    #[test]
    fn two_colors_holding_work_back_at_once_count_once() {
        let both = [
            cb(0, 7, [0, 0, 0, 10]),
            cb(0, 7, [0, 10, 10, 12]),
            cb(1, 8, [5, 5, 5, 20]),
            cb(1, 8, [6, 20, 20, 22]),
        ];
        // 0..10 (color 7) and 6..20 (color 8) make 0..20: worker 2, idle, is bound 20 ms;
        // worker 0, running 0..12, 8 ms; worker 1, running 5..22, 5 ms.
        assert_eq!(bound(3, &both), [8, 5, 20]);
    }

    #[test]
    fn only_the_period_counts() {
        let mut t = Timeline::new(5 * MS..15 * MS, Sizes::default());
        let long = [cb(0, 7, [0, 0, 0, 30]), cb(0, 7, [0, 30, 30, 31])];
        for c in &long {
            t.add(c);
        }
        assert_eq!(t.bound(2), [0, 10 * MS]);
        let mut after = Timeline::new(40 * MS..50 * MS, Sizes::default());
        for c in &long {
            after.add(c);
        }
        assert_eq!(after.bound(2), [0, 0]);
    }

    #[test]
    fn spans_are_joined_subtracted_and_overlapped() {
        let mut v = [(5, 7), (0, 2), (2, 3), (6, 9)];
        assert_eq!(union(&mut v), [(0, 3), (5, 9)]);
        let without = |a: &[Span], b: &[Span]| {
            let mut out = Vec::new();
            subtract(a, b, &mut out);
            out
        };
        assert_eq!(
            without(&[(0, 10), (20, 30)], &[(2, 4), (8, 22), (25, 26)]),
            [(0, 2), (4, 8), (22, 25), (26, 30)]
        );
        assert_eq!(without(&[(0, 10)], &[]), [(0, 10)]);
        let (at, spans) = bucket(&[(9, 1, 2), (7, 3, 4), (5, 0, 1), (9, 5, 6)], 2, |c| {
            [9, 7].iter().position(|x| *x == c)
        });
        assert_eq!((at, spans), (vec![0, 2, 3], vec![(1, 2), (5, 6), (3, 4)]));
        assert_eq!(overlap(&[(0, 10), (20, 30)], &[(5, 25)]), 10);
    }
}
