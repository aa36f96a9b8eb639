//! `Profile::read` (one streaming pass, tuned for speed: a color table with its own index,
//! branch-free counting, records by reference) against a straightforward reference that
//! holds the whole trace in maps, on random traces with every kind of record.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use hue_profiler::{ColorUse, Histogram, Percentiles, Profile, Trace};
use hue_runtime::Key;
use hue_runtime::trace::{
    AccessRecord, BlockingRecord, CallbackRecord, DropRecord, EventKind, EventRecord, Name,
    NameKind, PanicRecord, Record, TraceReader, WorkerSample,
};
use hue_testkit::{Rng, Shape, encode, random_trace, server};

/// One handler, as both sides report it.
#[derive(Debug, PartialEq)]
struct HandlerRow {
    name: String,
    callbacks: u64,
    keyed: u64,
    busy: u64,
    cpu: u64,
    cpu_wall: u64,
    serial_wait: u64,
    worker_wait: u64,
    durations: Percentiles,
    panics: u64,
    panic_message: Option<String>,
    blocking: u64,
    conflicts: u64,
    coloring: ColorUse,
    /// (state, accesses, writes, held, wait, contended, own key, other key, shared,
    /// callbacks, unknown callback), by held time.
    states: Vec<(String, [u64; 10])>,
}

#[derive(Debug, PartialEq)]
struct ColorRow {
    color: u64,
    key: Option<u64>,
    callbacks: u64,
    busy: u64,
    serial_wait: u64,
    worker_wait: u64,
    handlers: Vec<String>,
    more_handlers: bool,
}

#[derive(Debug, PartialEq)]
struct StateRow {
    name: String,
    keyed: bool,
    counts: [u64; 5],
    handlers: Vec<String>,
    conflict_pairs: Vec<(String, String, u64)>,
}

/// What both sides are compared on.
#[derive(Debug, PartialEq)]
struct View {
    /// callbacks, busy, first, last, accesses, conflicts, panics, blocking, dropped,
    /// orphan accesses, events.
    totals: [u64; 11],
    handlers: Vec<HandlerRow>,
    colors: Vec<ColorRow>,
    /// Per worker: callbacks, busy, serial wait, worker wait, sampled, parked, cpu, steals,
    /// dropped.
    workers: Vec<[u64; 9]>,
    states: Vec<StateRow>,
    /// (start, end, callbacks, busy, serial wait, conflicts).
    intervals: Vec<[u64; 6]>,
    /// per callback, samples, hand-off, samples.
    overhead: [u64; 4],
}

fn view(p: &Profile) -> View {
    let t = &p.totals;
    View {
        totals: [
            t.callbacks,
            t.busy,
            t.first,
            t.last,
            t.accesses,
            t.conflicts,
            t.panics,
            t.blocking,
            t.dropped,
            t.orphan_accesses,
            t.events,
        ],
        handlers: p
            .handlers
            .iter()
            .map(|h| HandlerRow {
                name: h.name.clone(),
                callbacks: h.callbacks,
                keyed: h.keyed,
                busy: h.busy,
                cpu: h.cpu,
                cpu_wall: h.cpu_wall,
                serial_wait: h.serial_wait,
                worker_wait: h.worker_wait,
                durations: h.durations,
                panics: h.panics,
                panic_message: h.panic_message.clone(),
                blocking: h.blocking,
                conflicts: h.conflicts,
                coloring: h.coloring,
                states: h
                    .states
                    .iter()
                    .map(|s| {
                        (
                            s.name.clone(),
                            [
                                s.accesses,
                                s.writes,
                                s.held,
                                s.wait,
                                s.contended,
                                s.own_key,
                                s.other_key,
                                s.shared,
                                s.callbacks,
                                s.unknown_callback,
                            ],
                        )
                    })
                    .collect(),
            })
            .collect(),
        colors: p
            .colors
            .iter()
            .map(|c| ColorRow {
                color: c.color,
                key: c.key,
                callbacks: c.callbacks,
                busy: c.busy,
                serial_wait: c.serial_wait,
                worker_wait: c.worker_wait,
                handlers: c.handlers.clone(),
                more_handlers: c.more_handlers,
            })
            .collect(),
        workers: p
            .worker_stats
            .iter()
            .map(|w| {
                [
                    w.callbacks,
                    w.busy,
                    w.serial_wait,
                    w.worker_wait,
                    w.sampled,
                    w.parked,
                    w.cpu,
                    w.steals,
                    w.dropped,
                ]
            })
            .collect(),
        states: p
            .states
            .iter()
            .map(|s| StateRow {
                name: s.name.clone(),
                keyed: s.keyed,
                counts: [s.accesses, s.writes, s.held, s.wait, s.conflicts],
                handlers: s.handlers.clone(),
                conflict_pairs: s.conflict_pairs.clone(),
            })
            .collect(),
        intervals: p
            .intervals
            .iter()
            .map(|i| {
                [
                    i.start,
                    i.end,
                    i.callbacks,
                    i.busy,
                    i.serial_wait,
                    i.conflicts,
                ]
            })
            .collect(),
        overhead: [
            p.overhead.per_callback,
            p.overhead.per_callback_samples,
            p.overhead.handoff,
            p.overhead.handoff_samples,
        ],
    }
}

#[derive(Default)]
struct RefHandler {
    seen: bool,
    callbacks: u64,
    keyed: u64,
    keys: BTreeSet<u64>,
    busy: u64,
    cpu: u64,
    cpu_wall: u64,
    serial_wait: u64,
    worker_wait: u64,
    durations: Vec<u64>,
    panics: u64,
    panic_message: Option<String>,
    blocking: u64,
    conflicts: u64,
    coloring: ColorUse,
    other_colors: BTreeSet<u64>,
    /// Per state: the counts of `HandlerRow::states`, and the callbacks that touched it.
    states: BTreeMap<u32, ([u64; 10], BTreeSet<u64>)>,
}

#[derive(Default)]
struct RefColor {
    key: Option<u64>,
    callbacks: u64,
    busy: u64,
    serial_wait: u64,
    worker_wait: u64,
    /// Handlers in the order they first ran in it, with their busy time.
    handlers: Vec<(u32, u64)>,
}

/// One state: keyed, [accesses, writes, held, wait, conflicts], conflicts by (handler,
/// holder).
type RefState = (bool, [u64; 5], BTreeMap<(u32, Option<u32>), u64>);

/// The profile of `records`, computed the plain way: everything in maps, the trace in
/// memory, each figure from its definition. Colors are never folded here, so traces
/// given to it use fewer than `MAX_TRACKED_COLORS`.
fn reference(records: &[Record]) -> (View, BTreeMap<String, u64>) {
    let name_of = |kind: NameKind, id: u32, what: &str| {
        records
            .iter()
            .rev()
            .find_map(|r| match r {
                Record::Name(n) if n.kind == kind && n.id == id => Some(n.name.clone()),
                _ => None,
            })
            .unwrap_or_else(|| format!("{what}#{id}"))
    };
    let hname = |id: u32| name_of(NameKind::Handler, id, "handler");
    let sname = |id: u32| name_of(NameKind::State, id, "state");
    let callbacks: HashMap<u64, &CallbackRecord> = records
        .iter()
        .filter_map(|r| match r {
            Record::Callback(c) => Some((c.id, c)),
            _ => None,
        })
        .collect();

    let mut totals = [0u64; 11];
    let mut first = u64::MAX;
    let mut handlers: BTreeMap<u32, RefHandler> = BTreeMap::new();
    let mut colors: BTreeMap<u64, RefColor> = BTreeMap::new();
    let mut workers: BTreeMap<u16, [u64; 9]> = BTreeMap::new();
    let mut prev_end: HashMap<u16, u64> = HashMap::new();
    let mut overhead = (0u64, 0u64, 0u64, 0u64);
    let mut states: BTreeMap<u32, RefState> = BTreeMap::new();
    // Times that fall into intervals: (time, callback (started, busy, serial) or conflict).
    let mut timed: Vec<(u64, Option<(u64, u64)>)> = Vec::new();
    for r in records {
        match r {
            Record::Callback(c) => {
                let wall = c.ended.saturating_sub(c.started);
                let serial = c.runnable.saturating_sub(c.queued);
                let ww = c.started.saturating_sub(c.runnable);
                totals[0] += 1;
                totals[1] += wall;
                first = first.min(c.queued);
                totals[3] = totals[3].max(c.ended);
                timed.push((c.started, Some((wall, serial))));
                let h = handlers.entry(c.handler).or_default();
                h.seen = true;
                h.callbacks += 1;
                h.busy += wall;
                h.serial_wait += serial;
                h.worker_wait += ww;
                h.durations.push(wall);
                if let Some(cpu) = c.cpu {
                    h.cpu += cpu;
                    h.cpu_wall += wall;
                }
                if let Some(k) = c.key {
                    h.keyed += 1;
                    h.keys.insert(k);
                }
                let by_key = c.key.is_some_and(|k| Key(k).color().raw() == c.color);
                if c.color == 0 {
                    h.coloring.default += 1;
                } else if by_key {
                    h.coloring.by_key += 1;
                } else {
                    h.coloring.other += 1;
                    h.other_colors.insert(c.color);
                }
                let col = colors.entry(c.color).or_default();
                if c.color != 0 && by_key {
                    col.key = c.key;
                }
                col.callbacks += 1;
                col.busy += wall;
                col.serial_wait += serial;
                col.worker_wait += ww;
                match col.handlers.iter_mut().find(|(id, _)| *id == c.handler) {
                    Some((_, busy)) => *busy += wall,
                    None => col.handlers.push((c.handler, wall)),
                }
                let w = workers.entry(c.worker).or_default();
                w[0] += 1;
                w[1] += wall;
                w[2] += serial;
                w[3] += ww;
                if let Some(&prev) = prev_end.get(&c.worker) {
                    if c.runnable <= prev {
                        let gap = c.started.saturating_sub(prev);
                        if gap <= 100_000 {
                            overhead.0 += gap;
                            overhead.1 += 1;
                        }
                    } else if ww <= 1_000_000 {
                        overhead.2 += ww;
                        overhead.3 += 1;
                    }
                }
                prev_end.insert(c.worker, c.ended);
            }
            Record::Access(a) => {
                totals[4] += 1;
                workers.entry(a.worker).or_default();
                let s = states.entry(a.state).or_default();
                s.0 |= a.key.is_some();
                s.1[0] += 1;
                s.1[1] += u64::from(a.write);
                s.1[2] += a.held;
                s.1[3] += a.wait;
                let h = handlers.entry(a.handler).or_default();
                h.seen = true;
                if a.contended {
                    s.1[4] += 1;
                    *s.2.entry((a.handler, a.holder)).or_default() += 1;
                    totals[5] += 1;
                    timed.push((a.at, None));
                    h.conflicts += 1;
                }
                let (u, who) = h.states.entry(a.state).or_default();
                u[0] += 1;
                u[1] += u64::from(a.write);
                u[2] += a.held;
                u[3] += a.wait;
                u[4] += u64::from(a.contended);
                match callbacks.get(&a.callback) {
                    None => {
                        u[9] += 1;
                        totals[9] += 1;
                    }
                    Some(c) => {
                        match (a.key, c.key) {
                            (None, _) => u[7] += 1,
                            (Some(k), Some(own)) if k == own => u[5] += 1,
                            (Some(_), _) => u[6] += 1,
                        }
                        who.insert(c.id);
                    }
                }
            }
            Record::Panic(p) => {
                let h = handlers.entry(p.handler).or_default();
                h.seen = true;
                h.panics += 1;
                h.panic_message = Some(p.message.clone());
                totals[6] += 1;
            }
            Record::Blocking(b) => {
                let h = handlers.entry(b.handler).or_default();
                h.seen = true;
                h.blocking += 1;
                totals[7] += 1;
            }
            Record::Sample(s) => {
                let w = workers.entry(s.worker).or_default();
                w[4] += s.end.saturating_sub(s.start);
                w[5] += s.parked;
                w[6] += s.cpu;
                w[7] += s.steals;
            }
            Record::Event(_) => totals[10] += 1,
            Record::Drops(d) => {
                let w = workers.entry(d.worker).or_default();
                w[8] = w[8].max(d.records);
            }
            Record::Name(_) | Record::Machine(_) => {}
        }
    }
    totals[2] = if totals[0] == 0 { 0 } else { first };
    // Every worker up to the highest seen has a row.
    let worker_rows: Vec<[u64; 9]> = match workers.keys().max() {
        None => Vec::new(),
        Some(&max) => (0..=max)
            .map(|w| workers.get(&w).copied().unwrap_or_default())
            .collect(),
    };
    totals[8] = worker_rows.iter().map(|w| w[8]).sum();

    let mut keys = BTreeMap::new();
    let mut state_handlers: BTreeMap<u32, Vec<(u64, String)>> = BTreeMap::new();
    let mut handler_rows: Vec<HandlerRow> = handlers
        .iter()
        .filter(|(_, h)| h.seen)
        .map(|(&id, h)| {
            let mut histogram = Histogram::new();
            for &d in &h.durations {
                histogram.record(d);
            }
            keys.insert(hname(id), h.keys.len() as u64);
            let mut coloring = h.coloring;
            coloring.single_other = match h.other_colors.len() {
                1 => h.other_colors.first().copied(),
                _ => None,
            };
            let mut states: Vec<(String, [u64; 10])> = h
                .states
                .iter()
                .map(|(&sid, (u, who))| {
                    state_handlers
                        .entry(sid)
                        .or_default()
                        .push((u[0], hname(id)));
                    let mut u = *u;
                    u[8] = who.len() as u64;
                    (sname(sid), u)
                })
                .collect();
            states.sort_by(|a, b| b.1[2].cmp(&a.1[2]).then(a.0.cmp(&b.0)));
            HandlerRow {
                name: hname(id),
                callbacks: h.callbacks,
                keyed: h.keyed,
                busy: h.busy,
                cpu: h.cpu,
                cpu_wall: h.cpu_wall,
                serial_wait: h.serial_wait,
                worker_wait: h.worker_wait,
                durations: histogram.summary(),
                panics: h.panics,
                panic_message: h.panic_message.clone(),
                blocking: h.blocking,
                conflicts: h.conflicts,
                coloring,
                states,
            }
        })
        .collect();
    handler_rows.sort_by(|a, b| b.busy.cmp(&a.busy).then(a.name.cmp(&b.name)));

    let mut color_rows: Vec<ColorRow> = colors
        .iter()
        .map(|(&color, c)| {
            // The first four handlers to run in the color are listed, busiest first.
            let mut listed: Vec<(u32, u64)> = c.handlers.iter().take(4).copied().collect();
            listed.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            ColorRow {
                color,
                key: c.key,
                callbacks: c.callbacks,
                busy: c.busy,
                serial_wait: c.serial_wait,
                worker_wait: c.worker_wait,
                handlers: listed.iter().map(|&(id, _)| hname(id)).collect(),
                more_handlers: c.handlers.len() > 4,
            }
        })
        .collect();
    color_rows.sort_by(|a, b| b.busy.cmp(&a.busy).then(a.color.cmp(&b.color)));

    let mut state_rows: Vec<StateRow> = states
        .iter()
        .map(|(&id, (keyed, counts, pairs))| {
            let mut hs = state_handlers.remove(&id).unwrap_or_default();
            hs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut pairs: Vec<(String, String, u64)> = pairs
                .iter()
                .map(|(&(h, holder), &n)| (hname(h), holder.map_or("?".to_owned(), hname), n))
                .collect();
            pairs.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
            StateRow {
                name: sname(id),
                keyed: *keyed,
                counts: *counts,
                handlers: hs.into_iter().map(|(_, n)| n).collect(),
                conflict_pairs: pairs,
            }
        })
        .collect();
    state_rows.sort_by(|a, b| a.name.cmp(&b.name));

    // Intervals: 10 ms, doubled until the latest time falls within 256 of them.
    let mut intervals = Vec::new();
    if let Some(latest) = timed.iter().map(|t| t.0).max() {
        let mut width = 10_000_000u64;
        while latest / width >= 256 {
            width *= 2;
        }
        intervals = vec![[0u64; 6]; (latest / width) as usize + 1];
        for (i, b) in intervals.iter_mut().enumerate() {
            b[0] = i as u64 * width;
            b[1] = b[0] + width;
        }
        for &(at, what) in &timed {
            let b = &mut intervals[(at / width) as usize];
            match what {
                Some((busy, serial)) => {
                    b[2] += 1;
                    b[3] += busy;
                    b[4] += serial;
                }
                None => b[5] += 1,
            }
        }
    }

    let mean = |sum: u64, n: u64| sum.checked_div(n).unwrap_or(0);
    let view = View {
        totals,
        handlers: handler_rows,
        colors: color_rows,
        workers: worker_rows,
        states: state_rows,
        intervals,
        overhead: [
            mean(overhead.0, overhead.1),
            overhead.1,
            mean(overhead.2, overhead.3),
            overhead.3,
        ],
    };
    (view, keys)
}

/// `records` with what random traces lack: state accesses (before their callback, some
/// contended, some by callbacks whose record is then dropped), panics, blocking callbacks,
/// events, samples, drop counts, a state and a handler without a name, and one callback
/// far in time (so that the timeline widens).
fn enrich(records: Vec<Record>, seed: u64) -> Vec<Record> {
    let mut rng = Rng::new(seed);
    let mut out: Vec<Record> = ["sessions", "db"]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            Record::Name(Name {
                kind: NameKind::State,
                id: i as u32,
                name: (*n).to_owned(),
            })
        })
        .collect();
    let mut last_end = 0;
    for r in records {
        let Record::Callback(mut c) = r else {
            out.push(r);
            continue;
        };
        for _ in 0..rng.below(4).saturating_sub(1) {
            let contended = rng.below(5) == 0;
            let state = rng.below(3) as u32;
            out.push(Record::Access(AccessRecord {
                callback: c.id,
                handler: c.handler,
                state,
                key: match (state, rng.below(3)) {
                    (1, _) => None,
                    (_, 0) => Some(rng.below(10)),
                    _ => c.key,
                },
                worker: c.worker,
                write: rng.below(2) == 0,
                at: c.started + rng.below(c.ended - c.started + 1),
                wait: if contended { rng.below(5_000) } else { 0 },
                held: rng.below(3_000),
                contended,
                holder: (contended && rng.below(3) > 0).then(|| rng.below(6) as u32),
            }));
        }
        if rng.below(40) == 0 {
            // The callback's record is dropped: its accesses are orphans.
            continue;
        }
        if rng.below(10) == 0 {
            c.cpu = Some(rng.below(c.ended - c.started + 1));
        }
        if rng.below(7) == 0 {
            c.handler = 7; // never named
        }
        last_end = last_end.max(c.ended);
        out.push(Record::Callback(c));
        match rng.below(30) {
            0 => out.push(Record::Panic(PanicRecord {
                callback: c.id,
                handler: c.handler,
                color: c.color,
                at: c.ended,
                message: format!("boom {}", rng.below(100)),
            })),
            1 => out.push(Record::Blocking(BlockingRecord {
                callback: c.id,
                handler: c.handler,
                wall: c.ended - c.started,
                cpu: 0,
            })),
            2 => out.push(Record::Event(EventRecord {
                callback: c.id,
                at: c.started,
                kind: EventKind::Event,
                level: 2,
                name: 0,
                message: String::new(),
            })),
            _ => {}
        }
    }
    for w in 0..4u16 {
        out.push(Record::Sample(WorkerSample {
            worker: w,
            start: 0,
            end: last_end,
            busy: last_end / 2,
            parked: last_end / 3,
            callbacks: 10,
            steals: u64::from(w),
            cpu: last_end / 2,
        }));
        out.push(Record::Drops(DropRecord {
            worker: w,
            records: rng.below(3),
        }));
    }
    out.push(Record::Callback(CallbackRecord {
        id: u64::MAX / 2,
        parent: None,
        origin: hue_runtime::trace::Origin::Timer,
        handler: 0,
        color: 0,
        key: None,
        worker: 5,
        queued: 6_000_000_000,
        runnable: 6_000_000_000,
        started: 6_000_001_000,
        ended: 6_000_002_000,
        cpu: None,
    }));
    out
}

fn check(records: &[Record]) {
    let trace = Trace::from_bytes("t.hue", encode(records, 6, "t", "", true)).expect("a trace");
    let profile = Profile::read(&trace).expect("a profile");
    assert_eq!(
        profile.other_colors.colors, 0,
        "the reference does not fold"
    );
    let (want, keys) = reference(records);
    let got = view(&profile);
    assert_eq!(got.totals, want.totals, "totals");
    assert_eq!(got.overhead, want.overhead, "overhead");
    assert_eq!(got.workers, want.workers, "workers");
    assert_eq!(got.intervals, want.intervals, "intervals");
    assert_eq!(got.states, want.states, "states");
    assert_eq!(got.handlers.len(), want.handlers.len(), "handlers");
    for (g, w) in got.handlers.iter().zip(&want.handlers) {
        assert_eq!(g, w, "handler {}", w.name);
    }
    assert_eq!(got.colors.len(), want.colors.len(), "colors");
    for (g, w) in got.colors.iter().zip(&want.colors) {
        assert_eq!(g, w, "color {:x}", w.color);
    }
    // Distinct keys are estimated: exact in practice for a few, within a few % beyond.
    for h in &profile.handlers {
        let exact = keys[&h.name];
        assert!(
            h.keys.abs_diff(exact) <= 1 + exact / 20,
            "{}: {} keys estimated, {exact} exact",
            h.name,
            h.keys
        );
    }
}

#[test]
fn random_traces_match_the_reference() {
    for seed in 0..24u64 {
        let shape = Shape {
            seed,
            keys: 1 + seed % 9,
            requests: 5 + seed % 20,
            timers: seed % 4,
            max_dur: 1 + (seed * 7_919) % 60_000,
            max_gap: (seed * 104_729) % 500_000,
        };
        check(&enrich(random_trace(&shape), seed));
    }
}

#[test]
fn the_bench_trace_matches_the_reference() {
    // The ingest bench's server trace: many colors, each with more handlers than listed.
    let bytes = server(if cfg!(debug_assertions) {
        20_000
    } else {
        200_000
    });
    let records: Vec<Record> = TraceReader::new(&bytes[..])
        .expect("a trace")
        .map(|r| r.expect("a good record"))
        .collect();
    check(&records);
}

#[test]
fn an_empty_trace_matches_the_reference() {
    check(&[]);
}
