//! The streaming aggregation behind [`Profile::read`]: per-record accumulators, folded into
//! the model when the trace ends.

use std::collections::HashMap;

use hue_formats::trace::{AccessRecord, CallbackRecord, Header, NameKind, Record, WorkerSample};
use hue_formats::{Key, Policy};

use super::color_table::{COLOR_HANDLERS, ColorTable};
use super::key_sketch::KeySketch;
use super::timeline::Timeline;
use super::*;
use crate::histogram::Histogram;
use crate::machine::MachineFold;

#[derive(Default)]
pub(crate) struct HandlerAcc {
    pub(crate) seen: bool,
    pub(crate) callbacks: u64,
    pub(crate) keyed: u64,
    pub(crate) keys: KeySketch,
    pub(crate) busy: u64,
    pub(crate) cpu: u64,
    pub(crate) cpu_wall: u64,
    pub(crate) serial_wait: u64,
    pub(crate) worker_wait: u64,
    pub(crate) histogram: Histogram,
    pub(crate) panics: u64,
    pub(crate) panic_message: Option<String>,
    pub(crate) blocking: u64,
    pub(crate) conflicts: u64,
    pub(crate) coloring: ColorUse,
    pub(crate) mixed_other: bool,
    pub(crate) states: Vec<(u32, StateUse)>,
}

#[derive(Default)]
pub(crate) struct StateAcc {
    pub(crate) keyed: bool,
    pub(crate) accesses: u64,
    pub(crate) writes: u64,
    pub(crate) held: u64,
    pub(crate) wait: u64,
    pub(crate) conflicts: u64,
    pub(crate) pairs: HashMap<(u32, Option<u32>), u64>,
}

#[derive(Default)]
pub(crate) struct WorkerAcc {
    pub(crate) stats: WorkerStats,
    /// When its previous callback ended, for the overhead estimate.
    pub(crate) prev_end: Option<u64>,
    /// Accesses made by its running callback, until the callback's record comes.
    pub(crate) pending: Vec<AccessRecord>,
    /// The color of its previous callback and that color's index in `colors`.
    pub(crate) last_color: Option<(u64, usize)>,
}

/// The streaming aggregation behind [`Profile::read`].
pub(crate) struct Ingest {
    pub(crate) trace: String,
    pub(crate) header: Header,
    pub(crate) handler_names: Vec<Option<String>>,
    pub(crate) state_names: Vec<Option<String>>,
    pub(crate) handlers: Vec<HandlerAcc>,
    pub(crate) states: Vec<StateAcc>,
    pub(crate) workers: Vec<WorkerAcc>,
    pub(crate) colors: ColorTable,
    /// Scratch for `resolve_accesses`.
    pub(crate) seen_states: Vec<u32>,
    pub(crate) other_colors: OtherColors,
    pub(crate) totals: Totals,
    pub(crate) timeline: Timeline,
    pub(crate) overhead_sum: u64,
    pub(crate) overhead_n: u64,
    pub(crate) handoff_sum: u64,
    pub(crate) handoff_n: u64,
    pub(crate) machine: MachineFold,
}

impl Ingest {
    pub(crate) fn new(trace: &str, header: &Header) -> Ingest {
        Ingest {
            trace: trace.to_owned(),
            header: header.clone(),
            handler_names: Vec::new(),
            state_names: Vec::new(),
            handlers: Vec::new(),
            states: Vec::new(),
            workers: Vec::new(),
            colors: ColorTable::new(),
            seen_states: Vec::new(),
            other_colors: OtherColors::default(),
            totals: Totals {
                first: u64::MAX,
                ..Totals::default()
            },
            timeline: Timeline::default(),
            overhead_sum: 0,
            overhead_n: 0,
            handoff_sum: 0,
            handoff_n: 0,
            machine: MachineFold::default(),
        }
    }

    #[inline]
    pub(crate) fn record(&mut self, r: &Record) {
        match r {
            Record::Callback(c) => self.callback(c),
            Record::Access(a) => self.access(a),
            Record::Name(n) => {
                let names = match n.kind {
                    NameKind::Handler => &mut self.handler_names,
                    NameKind::State => &mut self.state_names,
                    _ => return,
                };
                let i = n.id as usize;
                if i >= names.len() {
                    names.resize(i + 1, None);
                }
                names[i] = Some(n.name.clone());
            }
            Record::Panic(p) => {
                let h = self.handler(p.handler);
                h.seen = true;
                h.panics += 1;
                h.panic_message = Some(p.message.clone());
                self.totals.panics += 1;
            }
            Record::Blocking(b) => {
                let h = self.handler(b.handler);
                h.seen = true;
                h.blocking += 1;
                self.totals.blocking += 1;
            }
            Record::Sample(s) => self.sample(s),
            Record::Event(_) => self.totals.events += 1,
            Record::Drops(d) => {
                let w = &mut self.worker(d.worker).stats;
                w.dropped = w.dropped.max(d.records);
            }
            Record::Machine(m) => self.machine.machine(m),
        }
    }

    #[inline]
    pub(crate) fn handler(&mut self, id: u32) -> &mut HandlerAcc {
        let i = id as usize;
        if i >= self.handlers.len() {
            self.handlers.resize_with(i + 1, HandlerAcc::default);
        }
        &mut self.handlers[i]
    }

    #[inline]
    pub(crate) fn worker(&mut self, id: u16) -> &mut WorkerAcc {
        let i = id as usize;
        if i >= self.workers.len() {
            self.workers.resize_with(i + 1, WorkerAcc::default);
            for (w, acc) in self.workers.iter_mut().enumerate() {
                acc.stats.worker = w as u16;
            }
        }
        &mut self.workers[i]
    }

    #[inline]
    pub(crate) fn callback(&mut self, c: &CallbackRecord) {
        let wall = c.ended.saturating_sub(c.started);
        let serial = c.runnable.saturating_sub(c.queued);
        let worker_wait = c.started.saturating_sub(c.runnable);

        let t = &mut self.totals;
        t.callbacks += 1;
        t.busy += wall;
        t.first = t.first.min(c.queued);
        t.last = t.last.max(c.ended);
        self.timeline.callback(c.started, wall, serial);

        // Which kind of color: default, its key's, or another. A color remembers the key it
        // was found to be the color of, so the hash runs once per color and key.
        let ci = self.color(c.worker, c.color);
        let col = &mut self.colors.accs[ci];
        let by_key = c.color != 0
            && c.key.is_some_and(|k| {
                (col.has_key && col.key == k) || {
                    let yes = Key(k).color().raw() == c.color;
                    if yes {
                        col.key = k;
                        col.has_key = true;
                    }
                    yes
                }
            });
        col.callbacks += 1;
        col.busy += wall;
        col.serial_wait += serial;
        col.worker_wait += worker_wait;
        // Without branches on which slot matched: which one is not predictable, and the
        // color's counters may still be on their way from memory.
        let n = col.handler_count;
        let mut hits = 0u32;
        for (i, &h) in col.handlers.iter().enumerate() {
            hits |= u32::from(h == c.handler) << i;
        }
        hits &= (1 << n) - 1;
        for (i, busy) in col.handler_busy.iter_mut().enumerate() {
            *busy += wall & 0u64.wrapping_sub(u64::from((hits >> i) & 1));
        }
        let found = hits != 0;
        let full = usize::from(n) == COLOR_HANDLERS;
        col.more_handlers |= !found & full;
        if !found && !full {
            col.handlers[usize::from(n)] = c.handler;
            col.handler_busy[usize::from(n)] = wall;
            col.handler_count += 1;
        }

        let h = self.handler(c.handler);
        h.seen = true;
        h.callbacks += 1;
        h.busy += wall;
        h.serial_wait += serial;
        h.worker_wait += worker_wait;
        h.histogram.record(wall);
        if let Some(cpu) = c.cpu {
            h.cpu += cpu;
            h.cpu_wall += wall;
        }
        if let Some(k) = c.key {
            h.keyed += 1;
            h.keys.insert(k);
        }
        if c.color == 0 {
            h.coloring.default += 1;
        } else if by_key {
            h.coloring.by_key += 1;
        } else {
            if h.coloring.other == 0 {
                h.coloring.single_other = Some(c.color);
            } else if h.coloring.single_other != Some(c.color) {
                h.mixed_other = true;
            }
            h.coloring.other += 1;
        }

        let w = self.worker(c.worker);
        w.stats.callbacks += 1;
        w.stats.busy += wall;
        w.stats.serial_wait += serial;
        w.stats.worker_wait += worker_wait;
        let mut overhead = None;
        let mut handoff = None;
        if let Some(prev) = w.prev_end {
            if c.runnable <= prev {
                // Ready before the worker finished its previous callback: the gap is the
                // runtime's own work between the two.
                overhead = Some(c.started.saturating_sub(prev));
            } else {
                // The worker was idle when this became ready: its wait is the wake-up.
                handoff = Some(worker_wait);
            }
        }
        w.prev_end = Some(c.ended);
        if let Some(o) = overhead.filter(|&o| o <= MAX_OVERHEAD_SAMPLE_NS) {
            self.overhead_sum += o;
            self.overhead_n += 1;
        }
        if let Some(o) = handoff.filter(|&o| o <= MAX_HANDOFF_SAMPLE_NS) {
            self.handoff_sum += o;
            self.handoff_n += 1;
        }
        if !self.workers[c.worker as usize].pending.is_empty() {
            self.resolve_accesses(c);
        }
    }

    /// The slot of `color`, adding it (and folding if the table is full).
    #[inline]
    pub(crate) fn color(&mut self, worker: u16, color: u64) -> usize {
        if let Some((c, i)) = self.worker(worker).last_color
            && c == color
        {
            return i;
        }
        let i = match self.colors.slot(color) {
            Some(i) => i,
            None => {
                self.fold_colors();
                self.colors.slot(color).unwrap_or(0)
            }
        };
        self.workers[worker as usize].last_color = Some((color, i));
        i
    }

    /// Folds the less busy half of the color table into `other_colors`.
    pub(crate) fn fold_colors(&mut self) {
        let mut all = self.colors.take();
        all.sort_unstable_by(|a, b| b.busy.cmp(&a.busy).then(a.color.cmp(&b.color)));
        let keep = all.len() / 2;
        for c in all.drain(keep..) {
            self.other_colors.colors += 1;
            self.other_colors.callbacks += c.callbacks;
            self.other_colors.busy += c.busy;
            self.other_colors.serial_wait += c.serial_wait;
        }
        let size = self.colors.slots.len();
        self.colors.rebuild(size, all);
        for w in &mut self.workers {
            w.last_color = None;
        }
    }

    pub(crate) fn access(&mut self, a: &AccessRecord) {
        self.totals.accesses += 1;
        let i = a.state as usize;
        if i >= self.states.len() {
            self.states.resize_with(i + 1, StateAcc::default);
        }
        let s = &mut self.states[i];
        s.accesses += 1;
        s.writes += u64::from(a.write);
        s.held += a.held;
        s.wait += a.wait;
        s.keyed |= a.key.is_some();
        if a.contended {
            s.conflicts += 1;
            *s.pairs.entry((a.handler, a.holder)).or_insert(0) += 1;
            self.totals.conflicts += 1;
            self.timeline.conflict(a.at);
            let h = self.handler(a.handler);
            h.conflicts += 1;
        }
        let h = self.handler(a.handler);
        h.seen = true;
        let use_ = state_use(h, a.state);
        use_.accesses += 1;
        use_.writes += u64::from(a.write);
        use_.held += a.held;
        use_.wait += a.wait;
        use_.contended += u64::from(a.contended);
        // Whether it was the callback's own key is known when the callback's record comes.
        self.worker(a.worker).pending.push(*a);
    }

    /// Attributes the accesses made by callback `c` now that its key is known.
    pub(crate) fn resolve_accesses(&mut self, c: &CallbackRecord) {
        let mut pending = std::mem::take(&mut self.workers[c.worker as usize].pending);
        // States already counted for this callback; kept for its allocation.
        let mut seen = std::mem::take(&mut self.seen_states);
        seen.clear();
        for a in pending.iter() {
            let h = self.handler(a.handler);
            let use_ = state_use(h, a.state);
            if a.callback != c.id {
                // Its callback's record was dropped: no evidence about its key.
                use_.unknown_callback += 1;
                self.totals.orphan_accesses += 1;
                continue;
            }
            match (a.key, c.key) {
                (None, _) => use_.shared += 1,
                (Some(k), Some(own)) if k == own => use_.own_key += 1,
                (Some(_), _) => use_.other_key += 1,
            }
            if !seen.contains(&a.state) {
                seen.push(a.state);
                use_.callbacks += 1;
            }
        }
        pending.clear();
        self.workers[c.worker as usize].pending = pending;
        self.seen_states = seen;
    }

    pub(crate) fn sample(&mut self, s: &WorkerSample) {
        let w = &mut self.worker(s.worker).stats;
        w.sampled += s.end.saturating_sub(s.start);
        w.parked += s.parked;
        w.cpu += s.cpu;
        w.steals += s.steals;
        self.machine.worker_cpu(s.end, s.cpu);
    }

    pub(crate) fn finish(mut self, reading: Reading) -> Profile {
        let name = |names: &[Option<String>], id: u32, what: &str| {
            names
                .get(id as usize)
                .cloned()
                .flatten()
                .unwrap_or_else(|| format!("{what}#{id}"))
        };
        // Accesses still waiting for a callback record that never came.
        for w in 0..self.workers.len() {
            let pending = std::mem::take(&mut self.workers[w].pending);
            for a in pending {
                let h = self.handler(a.handler);
                state_use(h, a.state).unknown_callback += 1;
                self.totals.orphan_accesses += 1;
            }
        }
        let mut state_handlers: Vec<Vec<(u64, String)>> = vec![Vec::new(); self.states.len()];
        let mut handlers = Vec::new();
        let mut unseen_handlers = Vec::new();
        let ran: Vec<bool> = self.handlers.iter().map(|h| h.seen).collect();
        for (id, n) in self.handler_names.iter().enumerate() {
            if let Some(n) = n
                && !ran.get(id).copied().unwrap_or(false)
            {
                unseen_handlers.push(n.clone());
            }
        }
        unseen_handlers.sort();
        for (id, h) in self.handlers.into_iter().enumerate() {
            if !h.seen {
                continue;
            }
            let hname = name(&self.handler_names, id as u32, "handler");
            let mut states: Vec<StateUse> = h
                .states
                .into_iter()
                .map(|(sid, mut u)| {
                    u.name = name(&self.state_names, sid, "state");
                    if let Some(list) = state_handlers.get_mut(sid as usize) {
                        list.push((u.accesses, hname.clone()));
                    }
                    u
                })
                .collect();
            states.sort_by(|a, b| b.held.cmp(&a.held).then(a.name.cmp(&b.name)));
            let mut coloring = h.coloring;
            if h.mixed_other {
                coloring.single_other = None;
            }
            handlers.push(HandlerStats {
                id: id as u32,
                name: hname,
                callbacks: h.callbacks,
                keyed: h.keyed,
                keys: h.keys.estimate(),
                busy: h.busy,
                cpu: h.cpu,
                cpu_wall: h.cpu_wall,
                serial_wait: h.serial_wait,
                worker_wait: h.worker_wait,
                durations: h.histogram.summary(),
                panics: h.panics,
                panic_message: h.panic_message,
                blocking: h.blocking,
                conflicts: h.conflicts,
                coloring,
                states,
                histogram: h.histogram,
            });
        }
        handlers.sort_by(|a, b| b.busy.cmp(&a.busy).then(a.name.cmp(&b.name)));
        let handler_name = |id: u32| name(&self.handler_names, id, "handler");

        let mut states = Vec::new();
        for (id, s) in self.states.into_iter().enumerate() {
            if s.accesses == 0 {
                continue;
            }
            let mut hs = std::mem::take(&mut state_handlers[id]);
            hs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut pairs: Vec<(String, String, u64)> = s
                .pairs
                .into_iter()
                .map(|((h, holder), n)| {
                    let holder = holder.map_or_else(|| "?".to_owned(), handler_name);
                    (handler_name(h), holder, n)
                })
                .collect();
            pairs.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
            states.push(StateStats {
                name: name(&self.state_names, id as u32, "state"),
                keyed: s.keyed,
                accesses: s.accesses,
                writes: s.writes,
                held: s.held,
                wait: s.wait,
                conflicts: s.conflicts,
                handlers: hs.into_iter().map(|(_, n)| n).collect(),
                conflict_pairs: pairs,
            });
        }
        states.sort_by(|a, b| a.name.cmp(&b.name));

        let mut colors: Vec<ColorStats> = self
            .colors
            .take()
            .iter()
            .map(|c| {
                let n = usize::from(c.handler_count);
                let mut hs: Vec<(u32, u64)> = c.handlers[..n]
                    .iter()
                    .copied()
                    .zip(c.handler_busy[..n].iter().copied())
                    .collect();
                hs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                ColorStats {
                    color: c.color,
                    key: c.has_key.then_some(c.key),
                    callbacks: c.callbacks,
                    busy: c.busy,
                    serial_wait: c.serial_wait,
                    worker_wait: c.worker_wait,
                    handlers: hs.iter().map(|&(id, _)| handler_name(id)).collect(),
                    more_handlers: c.more_handlers,
                }
            })
            .collect();
        colors.sort_by(|a, b| b.busy.cmp(&a.busy).then(a.color.cmp(&b.color)));

        let mut totals = self.totals;
        if totals.callbacks == 0 {
            totals.first = 0;
        }
        totals.dropped = self.workers.iter().map(|w| w.stats.dropped).sum();
        let machine = self.machine.finish(totals.first, totals.last);
        let overhead = Overhead {
            per_callback: self.overhead_sum.checked_div(self.overhead_n).unwrap_or(0),
            per_callback_samples: self.overhead_n,
            handoff: self.handoff_sum.checked_div(self.handoff_n).unwrap_or(0),
            handoff_samples: self.handoff_n,
        };
        let (policy, policy_unreadable) = if self.header.policy.trim().is_empty() {
            (Policy::new(), None)
        } else {
            match Policy::parse(&self.header.policy, "the trace's policy") {
                Ok(p) => (p, None),
                Err(e) => (Policy::new(), Some(e.to_string())),
            }
        };
        Profile {
            trace: self.trace,
            program: self.header.program,
            workers: self.header.workers,
            policy,
            policy_unreadable,
            reading,
            totals,
            handlers,
            colors,
            other_colors: self.other_colors,
            // The run's workers, and any other worker id the trace names with something in it:
            // a stray id in one record (a damaged or hand-made file) is not 65 536 rows.
            worker_stats: self
                .workers
                .into_iter()
                .map(|w| w.stats)
                .filter(|w| {
                    w.worker < self.header.workers
                        || w.callbacks > 0
                        || w.sampled > 0
                        || w.dropped > 0
                })
                .collect(),
            states,
            intervals: self.timeline.intervals(),
            overhead,
            machine,
            batch: self.header.batch,
            stealing: self.header.stealing,
            color_cost_ns: self.header.color_cost_ns,
            handoff_ns: self.header.handoff_ns,
            cores: self.header.cores,
            unseen_handlers,
        }
    }
}

pub(crate) fn state_use(h: &mut HandlerAcc, state: u32) -> &mut StateUse {
    let i = match h.states.iter().position(|(s, _)| *s == state) {
        Some(i) => i,
        None => {
            h.states.push((state, StateUse::default()));
            h.states.len() - 1
        }
    };
    &mut h.states[i].1
}
