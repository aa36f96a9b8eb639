//! The trace as a DAG, rebuilt as a stream.
//!
//! Every callback is a node; its wall time is its duration. A node is *released* (may start)
//! by one of:
//!
//! - **its parent** (the callback that queued it): `offset` after the parent *started*, the
//!   offset being when, into the parent's run, the child was queued;
//! - **a closed loop**: an I/O callback on key `k` comes after the answer to the key's
//!   previous request. Its *answerer* `a` is the last callback of `k` to start before the
//!   I/O was queued, and the I/O is released as long after `a` *starts* as it was in the
//!   recording: if `a` had ended, that is `a`'s run plus the gap (client and network time),
//!   held fixed; if `a` was still running (it sent the answer and the client replied before
//!   it ended), it is the same point of `a`'s run;
//! - **its recorded time**, for roots: timers, callbacks queued from outside, I/O without an
//!   earlier answer on its key (within [`DagConfig::horizon`]), and callbacks whose parent is
//!   missing from the trace.
//!
//! Same-color order is not an edge here: it depends on the coloring, and the simulator
//! enforces it as a FIFO per color.
//!
//! # Streaming, with bounded memory
//!
//! Reading a trace, the profiler *admits* callbacks in the order they were queued,
//! which is a topological order (a parent starts before its children are queued; an
//! answer ends before the next request arrives). Workers write their records in batches, so
//! the file is only roughly in that order: admission holds records in a reorder buffer until
//! the latest start seen is [`DagConfig::window`] past their queue time. A record that
//! arrives later than that is admitted at once and counted `late`.
//!
//! A node is kept while something may still refer to it:
//!
//! - as a possible parent, until admission has passed its recorded end (children are queued
//!   while their parent runs);
//! - as a possible answerer of its key's next I/O, until it has started: then the key keeps
//!   only what the next I/O needs of it (its recorded start and how far the simulation moved
//!   it), a few bytes, for up to [`DagConfig::horizon`] of recorded time;
//! - while an admitted node that depends on it has not been released;
//! - by the simulator, until it has run.
//!
//! So memory follows the reorder window, the callbacks in flight and the keys active within
//! the horizon, not the length of the trace.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use hue_formats::trace::{CallbackRecord, NameKind, Origin, Record};

use crate::coloring::{Recolor, SimColor};
use crate::id_map::IdMap;
use crate::trace::Reader;

/// No node.
pub(crate) const NONE: u32 = u32::MAX;

/// No simulated worker.
pub(crate) const NO_WORKER: u16 = u16::MAX;

/// How the DAG is read from a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DagConfig {
    /// How far out of order (in recorded ns) records may arrive and still be admitted in
    /// order. Default 250 ms: workers hand their buffers over at least every 100 ms sampling
    /// interval.
    pub window: u64,
    /// How long (recorded ns) a key's last callback stays the answerer of its next I/O.
    /// Default 10 s; an I/O on a key quiet for longer is a root, released at its recorded
    /// time.
    pub horizon: u64,
}

impl Default for DagConfig {
    fn default() -> DagConfig {
        DagConfig {
            window: 250_000_000,
            horizon: 10_000_000_000,
        }
    }
}

/// What releases a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dep {
    /// Its recorded queue time.
    Root,
    /// `offset` after node `node` starts.
    Parent { node: u32, offset: u64 },
    /// `offset` after its answerer `node` starts (the offset may exceed the answerer's run).
    Loop { node: u32, offset: u64 },
    /// Its recorded queue time moved by `delta`: a closed loop whose answerer has started
    /// and is gone (`delta` is how far the simulation moved the answerer's start).
    Shifted { delta: i64 },
}

/// A node's progress in a simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Run {
    Waiting,
    Released,
    Started,
    Done,
}

/// One admitted callback.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) rec_queued: u64,
    pub(crate) rec_started: u64,
    pub(crate) rec_ended: u64,
    pub(crate) dur: u64,
    pub(crate) key: Option<u64>,
    /// Its handler's id as recorded (the runtime's offer rule weighs a kept color by it).
    pub(crate) handler: u32,
    pub(crate) color: SimColor,
    pub(crate) dep: Dep,
    /// Earliest start with unlimited workers and no colors (for the span).
    pub(crate) earliest: u64,
    pub(crate) run: Run,
    pub(crate) sim_start: u64,
    /// The simulated worker it ran on (once started).
    pub(crate) sim_worker: u16,
    /// The simulated worker whose running callback released it (its parent's), or
    /// [`NO_WORKER`]: the worker that keeps its color if it makes it runnable.
    pub(crate) via: u16,
    /// Head of the list of nodes waiting for this one to start or end.
    pub(crate) waiters: u32,
    /// Next in the list of the node this one waits for.
    pub(crate) next_waiter: u32,
    /// Next in its color's FIFO.
    pub(crate) next_in_color: u32,
    /// Reachable by its recorded id, as a possible parent.
    in_parents: bool,
    /// Held by its key as a possible answerer.
    key_candidate: bool,
    /// Admitted nodes that depend on this one and have not been released yet.
    pins: u32,
    free: bool,
}

/// A callback of a key that has started, as the key's next I/O needs it.
#[derive(Clone, Copy, Debug)]
struct Answered {
    rec_started: u64,
    /// Simulated start minus recorded start.
    sim_delta: i64,
    /// Earliest start (unlimited workers) minus recorded start.
    earliest_delta: i64,
    /// Names it for the simulator's lower bounds.
    serial: u64,
}

#[derive(Default)]
struct KeyState {
    /// Callbacks of the key that may answer its next I/O and have not started yet.
    candidates: Vec<u32>,
    /// Callbacks of the key that may answer its next I/O and have started. Of those that
    /// started by the queue time of the latest callback admitted, only the latest is kept:
    /// any I/O admitted later was queued after all of them.
    answers: Vec<Answered>,
}

/// Admissions between two sweeps of quiet keys.
const SWEEP_EVERY: u64 = 1 << 16;

/// Raw records read per [`Dag::read_more`].
const READ_BATCH: usize = 4096;

/// The streaming DAG (see the module comment).
pub(crate) struct Dag {
    reader: Reader,
    config: DagConfig,
    recolor: Recolor,
    /// The stream has ended (end of file, or a bad chunk).
    pub(crate) eof: bool,
    /// Why the stream ended early, if it did.
    pub(crate) stopped: Option<String>,
    /// The reorder buffer, smallest first; the records themselves stay put in `waiting` (a
    /// heap of 100-byte records would move them at every step).
    reorder: Reorder,
    waiting: Vec<CallbackRecord>,
    free_waiting: Vec<u32>,
    read_seq: u64,
    max_started: u64,
    /// Every callback queued at or before this has been admitted (but late ones).
    pub(crate) frontier: u64,
    /// The queue time of the latest callback admitted: every later one was queued after it.
    admitted_at: u64,
    parents: IdMap<u32>,
    /// (recorded end, id, node) of possible parents, in admission order. A node stops being
    /// a possible parent once admission passes its end; it is let go when it reaches the
    /// front, which may be a little later (behind a longer callback): harmless, and cheaper
    /// than a heap.
    parent_expiry: VecDeque<(u64, u64, u32)>,
    keys: IdMap<KeyState>,
    /// Scratch for `answerer`.
    dropped: Vec<u32>,
    pub(crate) nodes: Vec<Node>,
    free: Vec<u32>,
    /// Simulating: nodes are freed only once they have run.
    simulating: bool,
    since_sweep: u64,
    next_serial: u64,
    // What was read.
    pub(crate) callbacks: u64,
    pub(crate) work: u64,
    pub(crate) first: u64,
    pub(crate) span_end: u64,
    pub(crate) late: u64,
    pub(crate) orphans: u64,
    pub(crate) live: usize,
    pub(crate) peak_live: usize,
}

impl Dag {
    pub(crate) fn new(
        reader: Reader,
        config: DagConfig,
        recolor: Recolor,
        simulating: bool,
    ) -> Dag {
        Dag {
            reader,
            config,
            recolor,
            eof: false,
            stopped: None,
            reorder: Reorder::default(),
            waiting: Vec::new(),
            free_waiting: Vec::new(),
            read_seq: 0,
            max_started: 0,
            frontier: 0,
            admitted_at: 0,
            parents: IdMap::default(),
            parent_expiry: VecDeque::new(),
            keys: IdMap::default(),
            dropped: Vec::new(),
            nodes: Vec::new(),
            free: Vec::new(),
            simulating,
            since_sweep: 0,
            next_serial: 0,
            callbacks: 0,
            work: 0,
            first: u64::MAX,
            span_end: 0,
            late: 0,
            orphans: 0,
            live: 0,
            peak_live: 0,
        }
    }

    /// Whether `key` still remembers the answer `serial`.
    pub(crate) fn remembers(&self, key: u64, serial: u64) -> bool {
        self.keys
            .get(&key)
            .is_some_and(|k| k.answers.iter().any(|a| a.serial == serial))
    }

    /// The key horizon, ns.
    pub(crate) fn horizon(&self) -> u64 {
        self.config.horizon
    }

    /// Reads a batch of records and appends the callbacks it can now admit to `out`, in
    /// admission order. At the end of the stream it admits everything left and sets `eof`.
    pub(crate) fn read_more(&mut self, out: &mut Vec<u32>) {
        let mut read = 0;
        while read < READ_BATCH && !self.eof {
            match self.reader.next_record() {
                None => self.eof = true,
                Some(Err(e)) => {
                    self.stopped = Some(e.to_string());
                    self.eof = true;
                }
                Some(Ok(Record::Callback(c))) => {
                    read += 1;
                    if c.queued < self.frontier {
                        self.late += 1;
                    }
                    self.max_started = self.max_started.max(c.started);
                    self.read_seq += 1;
                    let slot = match self.free_waiting.pop() {
                        Some(i) => {
                            self.waiting[i as usize] = c;
                            i
                        }
                        None => {
                            self.waiting.push(c);
                            (self.waiting.len() - 1) as u32
                        }
                    };
                    self.reorder
                        .push((c.queued, c.started, self.read_seq, slot));
                }
                Some(Ok(Record::Name(n))) if n.kind == NameKind::Handler => {
                    self.recolor.name(n.id, &n.name);
                }
                Some(Ok(_)) => read += 1,
            }
        }
        let frontier = if self.eof {
            u64::MAX
        } else {
            self.max_started.saturating_sub(self.config.window)
        };
        self.frontier = self.frontier.max(frontier);
        while let Some((queued, _, _, slot)) = self.reorder.peek() {
            if queued > self.frontier {
                break;
            }
            self.reorder.pop();
            self.free_waiting.push(slot);
            let c = self.waiting[slot as usize];
            let v = self.admit(&c);
            out.push(v);
        }
        // Nodes whose children have all been admitted are no longer possible parents.
        while let Some(&(end, id, v)) = self.parent_expiry.front() {
            if end >= self.frontier {
                break;
            }
            self.parent_expiry.pop_front();
            if self.parents.get(&id) == Some(&v) {
                self.parents.remove(&id);
            }
            self.nodes[v as usize].in_parents = false;
            self.maybe_free(v);
        }
        if self.since_sweep >= SWEEP_EVERY {
            self.since_sweep = 0;
            self.sweep_keys();
        }
    }

    fn alloc(&mut self, node: Node) -> u32 {
        self.live += 1;
        self.peak_live = self.peak_live.max(self.live);
        match self.free.pop() {
            Some(v) => {
                self.nodes[v as usize] = node;
                v
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    /// `v`'s dependent has been released: it no longer needs `v`.
    pub(crate) fn unpin(&mut self, v: u32) {
        self.nodes[v as usize].pins -= 1;
        self.maybe_free(v);
    }

    /// Frees `v` if nothing refers to it any more.
    pub(crate) fn maybe_free(&mut self, v: u32) {
        let n = &mut self.nodes[v as usize];
        if !n.free
            && !n.in_parents
            && !n.key_candidate
            && n.pins == 0
            && (!self.simulating || n.run == Run::Done)
        {
            n.free = true;
            self.live -= 1;
            self.free.push(v);
        }
    }

    fn admit(&mut self, c: &CallbackRecord) -> u32 {
        self.callbacks += 1;
        self.since_sweep += 1;
        self.admitted_at = self.admitted_at.max(c.queued);
        let dur = c.ended.saturating_sub(c.started);
        self.work += dur;
        let (dep, earliest) = match (c.origin, c.parent, c.key) {
            (Origin::Callback, Some(parent), _) => match self.parents.get(&parent) {
                Some(&p) => {
                    let pn = &mut self.nodes[p as usize];
                    let offset = c.queued.saturating_sub(pn.rec_started).min(pn.dur);
                    // It stays until this node is released.
                    pn.pins += 1;
                    (Dep::Parent { node: p, offset }, pn.earliest + offset)
                }
                None => {
                    self.orphans += 1;
                    (Dep::Root, c.queued)
                }
            },
            (Origin::Io, _, Some(key)) => self.answerer(key, c.queued),
            _ => (Dep::Root, c.queued),
        };
        self.first = self.first.min(earliest);
        self.span_end = self.span_end.max(earliest + dur);
        let color = self.recolor.color(c.handler, c.color, c.key);
        let v = self.alloc(Node {
            rec_queued: c.queued,
            rec_started: c.started,
            rec_ended: c.ended.max(c.started),
            dur,
            key: c.key,
            handler: c.handler,
            color,
            dep,
            earliest,
            run: Run::Waiting,
            sim_start: 0,
            sim_worker: NO_WORKER,
            via: NO_WORKER,
            waiters: NONE,
            next_waiter: NONE,
            next_in_color: NONE,
            in_parents: true,
            key_candidate: false,
            pins: 0,
            free: false,
        });
        self.parents.insert(c.id, v);
        self.parent_expiry
            .push_back((self.nodes[v as usize].rec_ended, c.id, v));
        if let Some(key) = c.key {
            self.nodes[v as usize].key_candidate = true;
            let ks = self.keys.entry(key).or_default();
            ks.candidates.push(v);
            if !self.simulating {
                // Nothing runs in the index pass: the node has "run" as it is admitted.
                self.nodes[v as usize].run = Run::Done;
                self.answered(v, 0);
            }
        }
        v
    }

    /// The dependency of an I/O callback on `key` queued at `queued`, and its earliest start:
    /// the last callback of the key to end before it, within the horizon; else a root. Starts
    /// the key's next exchange.
    fn answerer(&mut self, key: u64, queued: u64) -> (Dep, u64) {
        let horizon = self.config.horizon;
        let nodes = &self.nodes;
        let Some(ks) = self.keys.get_mut(&key) else {
            return (Dep::Root, queued);
        };
        let eligible = |start: u64| start <= queued && start.saturating_add(horizon) > queued;
        let best_node = ks
            .candidates
            .iter()
            .copied()
            .filter(|&a| eligible(nodes[a as usize].rec_started))
            .max_by_key(|&a| (nodes[a as usize].rec_started, a));
        let best_answer = ks
            .answers
            .iter()
            .copied()
            .filter(|a| eligible(a.rec_started))
            .max_by_key(|a| (a.rec_started, a.serial));
        let node_start = best_node.map(|a| nodes[a as usize].rec_started);
        // The later of the two; a node in flight wins a tie.
        let dep = match (best_node, best_answer) {
            (Some(a), d) if d.is_none_or(|d| Some(d.rec_started) <= node_start) => {
                let n = &nodes[a as usize];
                let offset = queued - n.rec_started;
                (Dep::Loop { node: a, offset }, n.earliest + offset)
            }
            (_, Some(d)) => (
                Dep::Shifted { delta: d.sim_delta },
                (queued as i64 + d.earliest_delta).max(0) as u64,
            ),
            _ => (Dep::Root, queued),
        };
        // What ended before this I/O can answer no later one: this exchange replaces it.
        ks.answers.retain(|a| a.rec_started > queued);
        let mut dropped = std::mem::take(&mut self.dropped);
        ks.candidates.retain(|&a| {
            let keep = nodes[a as usize].rec_started > queued;
            if !keep {
                dropped.push(a);
            }
            keep
        });
        if let (Dep::Loop { node, .. }, _) = dep {
            // Pinned before it stops being a candidate, so that it is not freed meanwhile.
            self.nodes[node as usize].pins += 1;
        }
        for &a in &dropped {
            self.nodes[a as usize].key_candidate = false;
            self.maybe_free(a);
        }
        dropped.clear();
        self.dropped = dropped;
        dep
    }

    /// Node `v`, a callback with a key, has started (at `sim_start` in the simulation): its
    /// key keeps only what its next I/O needs of it. Returns the key and the answer's serial,
    /// its delta and its recorded start, for the simulator's lower bound.
    pub(crate) fn answered(&mut self, v: u32, sim_start: u64) -> Option<(u64, u64, i64, u64)> {
        let n = &self.nodes[v as usize];
        if !n.key_candidate {
            return None;
        }
        let key = n.key?;
        self.next_serial += 1;
        let a = Answered {
            rec_started: n.rec_started,
            sim_delta: sim_start as i64 - n.rec_started as i64,
            earliest_delta: n.earliest as i64 - n.rec_started as i64,
            serial: self.next_serial,
        };
        let settled = self.admitted_at;
        let ks = self.keys.get_mut(&key)?;
        ks.candidates.retain(|&c| c != v);
        ks.answers.push(a);
        if ks
            .answers
            .iter()
            .filter(|b| b.rec_started <= settled)
            .count()
            > 1
        {
            let latest = ks
                .answers
                .iter()
                .filter(|b| b.rec_started <= settled)
                .map(|b| (b.rec_started, b.serial))
                .max();
            ks.answers
                .retain(|b| b.rec_started > settled || Some((b.rec_started, b.serial)) == latest);
        }
        let kept = ks.answers.iter().any(|b| b.serial == a.serial);
        self.nodes[v as usize].key_candidate = false;
        self.maybe_free(v);
        kept.then_some((key, a.serial, a.sim_delta, a.rec_started))
    }

    /// Forgets keys with nothing in flight whose last answer is beyond the horizon.
    fn sweep_keys(&mut self) {
        let frontier = self.frontier;
        let horizon = self.config.horizon;
        self.keys.retain(|_, ks| {
            !ks.candidates.is_empty()
                || ks
                    .answers
                    .iter()
                    .any(|a| a.rec_started.saturating_add(horizon) > frontier)
        });
    }
}

/// A callback in the reorder buffer: (queued, started, read order, slot in `waiting`).
type Pending = (u64, u64, u64, u32);

/// Sorted runs the reorder buffer keeps before it falls back to its heap.
const MAX_RUNS: usize = 8;

/// The reorder buffer: a priority queue of [`Pending`] callbacks, smallest first, for input
/// that is nearly in order. Each worker's records come in the order its callbacks started,
/// which is nearly their queue order, and the workers' batches interleave: so a callback
/// usually extends one of a few ascending runs, at O(1), and only the rest go to a heap.
/// It pops exactly what a heap of everything would (the read order makes every entry
/// distinct).
#[derive(Default)]
struct Reorder {
    runs: Vec<VecDeque<Pending>>,
    /// The run the last push extended: most pushes extend it again.
    last_run: usize,
    heap: BinaryHeap<Reverse<Pending>>,
    /// Where the smallest entry is: `Some(i)` run `i`, `Some(MAX_RUNS)` the heap, `None`
    /// not known.
    min: Option<usize>,
}

impl Reorder {
    fn push(&mut self, p: Pending) {
        if self.min.is_some_and(|i| self.get(i) > p) {
            self.min = None;
        }
        if let Some(run) = self.runs.get_mut(self.last_run)
            && run.back().is_none_or(|b| *b <= p)
        {
            run.push_back(p);
            return;
        }
        if let Some(i) = self
            .runs
            .iter()
            .position(|r| r.back().is_none_or(|b| *b <= p))
        {
            self.runs[i].push_back(p);
            self.last_run = i;
        } else if self.runs.len() < MAX_RUNS {
            self.runs.push(VecDeque::from([p]));
            self.last_run = self.runs.len() - 1;
        } else {
            self.heap.push(Reverse(p));
        }
    }

    /// The smallest entry of source `i` (a run, or the heap as `MAX_RUNS`), or `u64::MAX`s.
    fn get(&self, i: usize) -> Pending {
        let none = (u64::MAX, u64::MAX, u64::MAX, u32::MAX);
        if i == MAX_RUNS {
            self.heap.peek().map_or(none, |r| r.0)
        } else {
            self.runs[i].front().copied().unwrap_or(none)
        }
    }

    fn peek(&mut self) -> Option<Pending> {
        let i = match self.min {
            Some(i) => i,
            None => {
                let mut best = MAX_RUNS;
                for i in 0..self.runs.len() {
                    if self.get(i) < self.get(best) {
                        best = i;
                    }
                }
                self.min = Some(best);
                best
            }
        };
        let p = self.get(i);
        (p.2 != u64::MAX).then_some(p)
    }

    /// Removes the smallest entry.
    fn pop(&mut self) -> Option<Pending> {
        let p = self.peek()?;
        match self.min.take() {
            Some(MAX_RUNS) => {
                self.heap.pop();
            }
            Some(i) => {
                self.runs[i].pop_front();
            }
            None => {}
        }
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reorder buffer pops what a heap pops, interleaved pushes and pops included, on
    /// input from sorted to shuffled.
    #[test]
    fn reorder_pops_what_a_heap_pops() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for streams in [1u64, 2, 4, 9, 20] {
            for jitter in [0u64, 3, 1000] {
                let mut r = Reorder::default();
                let mut h: BinaryHeap<Reverse<Pending>> = BinaryHeap::new();
                let mut clocks = vec![0u64; streams as usize];
                for seq in 0..20_000u64 {
                    let s = rand(streams) as usize;
                    clocks[s] += rand(10);
                    let queued = clocks[s].saturating_sub(rand(jitter + 1));
                    let p = (queued, clocks[s], seq, seq as u32);
                    r.push(p);
                    h.push(Reverse(p));
                    if rand(3) == 0 {
                        let limit = queued.saturating_sub(50);
                        while h.peek().is_some_and(|t| t.0.0 <= limit) {
                            assert_eq!(r.peek(), h.peek().map(|t| t.0));
                            assert_eq!(r.pop(), h.pop().map(|t| t.0));
                        }
                    }
                }
                while let Some(Reverse(p)) = h.pop() {
                    assert_eq!(r.pop(), Some(p));
                }
                assert_eq!(r.pop(), None);
            }
        }
    }
}

/// Recorded queue times of the DAG's roots, ascending, delta-encoded (a few bytes each): the
/// simulator's lower bound on when a root not yet admitted can be released.
#[derive(Clone, Debug, Default)]
pub(crate) struct Calendar {
    bytes: Vec<u8>,
    last: u64,
    len: u64,
}

impl Calendar {
    pub(crate) fn from_sorted(times: impl IntoIterator<Item = u64>) -> Calendar {
        let mut c = Calendar::default();
        for t in times {
            let mut d = t - c.last;
            c.last = t;
            c.len += 1;
            loop {
                let b = (d & 0x7f) as u8;
                d >>= 7;
                if d == 0 {
                    c.bytes.push(b);
                    break;
                }
                c.bytes.push(b | 0x80);
            }
        }
        c
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn cursor(&self) -> CalendarCursor<'_> {
        let mut c = CalendarCursor {
            bytes: &self.bytes,
            pos: 0,
            current: 0,
            at_end: false,
        };
        c.step();
        c
    }
}

/// Walks a [`Calendar`] forward.
pub(crate) struct CalendarCursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    current: u64,
    at_end: bool,
}

impl CalendarCursor<'_> {
    fn step(&mut self) {
        if self.pos >= self.bytes.len() {
            self.at_end = true;
            return;
        }
        let mut d = 0u64;
        let mut shift = 0;
        while let Some(&b) = self.bytes.get(self.pos) {
            self.pos += 1;
            d |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        self.current += d;
    }

    /// The first time after `t`, or `u64::MAX`.
    pub(crate) fn next_after(&mut self, t: u64) -> u64 {
        while !self.at_end && self.current <= t {
            self.step();
        }
        if self.at_end { u64::MAX } else { self.current }
    }
}
