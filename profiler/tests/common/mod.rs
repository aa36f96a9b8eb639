//! Tiny traces written as text, so that the profiler's tests read as data: a trace in, the
//! expected table, verdict or prediction out, through one `check` helper.
//!
//! One record per line; `#` starts a comment. Times are in microseconds.
//!
//! ```text
//! # id handler   queued..ended     options
//! 1  read       q=0 s=0 e=10      k=1 io
//! 2  encrypt    q=10 s=10 e=110   k=1 p=1 c=key
//! access 2 connections k=1 held=5 write
//! ```
//!
//! Callback options: `r=` runnable (default: queued), `w=` worker (0), `c=` color (`default`,
//! `key` for the key's color, `group:NAME`, a name hashed with `Color::of`, or a number), `k=`
//! key, `p=` parent id, `io` / `timer` / `outside` origin (default: queued by a callback),
//! `cpu=` CPU time.
//!
//! Other lines: `access ID STATE [k=KEY] [held=T] [wait=T] [write] [contended] [holder=H]`
//! (written just before callback ID's record, as the runtime does), `panic ID MESSAGE...`,
//! `blocking ID`, `sample w=W from=T to=T busy=T parked=T steals=N cpu=T`, `drops w=W N`.

#![allow(dead_code)]

use std::collections::HashMap;

use hue_profiler::{Coloring, Options, Predictor, Profile, Trace, assess, suggest, text};
use hue_runtime::trace::{
    AccessRecord, BlockingRecord, CallbackRecord, DropRecord, FORMAT_VERSION, Header, Name,
    NameKind, Origin, PanicRecord, Record, TraceWriter, WorkerSample,
};
use hue_runtime::{Color, Key, Policy, Rule};

/// What `check` shows of a trace.
pub enum Show<'a> {
    /// `hue stats` with the `n` busiest colors.
    Stats(usize),
    /// One line per handler: its verdict and rules.
    Verdicts,
    /// Speedups under `policy` (TOML rules, or "" for as recorded) at each core count: plain,
    /// with no overhead and no hand-off cost.
    Speedup(&'a str, &'a [usize]),
    /// `hue suggest` at `cores`.
    Suggest(usize),
}

/// Builds the trace described by `spec`, shows it as `show` says, and compares with
/// `expect` (both trimmed, line by line with trailing spaces removed).
pub fn check(spec: &str, show: Show, expect: &str) {
    let trace = trace(spec);
    let got = render(&trace, show);
    assert_text(&got, expect);
}

pub fn assert_text(got: &str, expect: &str) {
    let norm = |s: &str| -> String {
        let mut lines: Vec<&str> = s.lines().map(str::trim_end).collect();
        while lines.first().is_some_and(|l| l.is_empty()) {
            lines.remove(0);
        }
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        let indent = lines
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        lines
            .iter()
            .map(|l| {
                if l.len() >= indent {
                    &l[indent..]
                } else {
                    l.trim_start()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (g, e) = (norm(got), norm(expect));
    if g != e {
        panic!("\n--- expected ---\n{e}\n--- got ---\n{g}\n----------------\n");
    }
}

pub fn render(trace: &Trace, show: Show) -> String {
    let profile = Profile::read(trace).expect("a readable trace");
    match show {
        Show::Stats(top) => text::stats(&profile, top),
        Show::Verdicts => {
            let mut out = String::new();
            for h in &profile.handlers {
                let a = assess(&profile, &h.name).expect("a handler of the trace");
                let rules: Vec<String> = a.rules.iter().map(|(h, r)| format!("{h} {r}")).collect();
                let detail = match &a.verdict {
                    hue_profiler::Verdict::Split { inside, .. } => {
                        format!(" ({:.0}% inside)", inside * 100.0)
                    }
                    hue_profiler::Verdict::Serial { reason } => format!(" ({reason})"),
                    _ => String::new(),
                };
                out.push_str(&format!(
                    "{}: {}{detail} [{}]\n",
                    h.name,
                    a.verdict.name(),
                    rules.join(", ")
                ));
            }
            out
        }
        Show::Speedup(policy, cores) => {
            let coloring = if policy.is_empty() {
                Coloring::recorded()
            } else {
                Coloring::with_policy(
                    Policy::parse(&format!("[rules]\n{policy}"), "test").expect("a policy"),
                )
            };
            let predictor = Predictor::new(trace, &profile).expect("a DAG").costs(0, 0);
            let mut out = String::new();
            for p in predictor
                .curve(&coloring, cores.iter().copied())
                .expect("simulations")
            {
                out.push_str(&format!(
                    "N={}: {:.2}x (bound {:.2}x) time {} work {} span {} color {}\n",
                    p.cores,
                    p.speedup,
                    p.bound,
                    p.makespan / 1000,
                    p.work / 1000,
                    p.span / 1000,
                    p.color_bound / 1000
                ));
            }
            out
        }
        Show::Suggest(cores) => {
            let report = suggest(
                trace,
                &profile,
                &Options {
                    cores,
                    ..Options::default()
                },
            )
            .expect("suggestions");
            text::suggestions(&report)
        }
    }
}

/// The trace `spec` describes, in memory.
pub fn trace(spec: &str) -> Trace {
    Trace::from_bytes("t.hue", bytes(spec, true)).expect("a trace")
}

/// The bytes of the trace `spec` describes; without the end marker if `finish` is false.
pub fn bytes(spec: &str, finish: bool) -> Vec<u8> {
    let records = records(spec);
    let workers = records
        .iter()
        .filter_map(|r| match r {
            Record::Callback(c) => Some(c.worker + 1),
            _ => None,
        })
        .max()
        .unwrap_or(1);
    write(&records, workers, "test", "", finish)
}

pub fn write(
    records: &[Record],
    workers: u16,
    program: &str,
    policy: &str,
    finish: bool,
) -> Vec<u8> {
    let header = Header {
        version: FORMAT_VERSION,
        start_unix_ns: 1_700_000_000_000_000_000,
        ticks_per_sec: 3e9,
        workers,
        program: program.to_owned(),
        policy: policy.to_owned(),
    };
    let mut out = Vec::new();
    let mut w = TraceWriter::new(&mut out, &header).expect("writing to memory");
    for batch in records.chunks(1000) {
        w.write_batch(batch).expect("writing to memory");
    }
    if finish {
        w.finish().expect("writing to memory");
    } else {
        drop(w);
    }
    out
}

const US: u64 = 1000;

/// The records `spec` describes: names first use, accesses before their callback.
pub fn records(spec: &str) -> Vec<Record> {
    let mut names: HashMap<(u8, String), u32> = HashMap::new();
    let mut out: Vec<Record> = Vec::new();
    let mut callbacks: Vec<CallbackRecord> = Vec::new();
    let mut extra: HashMap<u64, Vec<Record>> = HashMap::new();
    let mut after: HashMap<u64, Vec<Record>> = HashMap::new();
    let mut tail: Vec<Record> = Vec::new();
    let mut name_records: Vec<Record> = Vec::new();
    let mut id_of = |kind: NameKind, name: &str, name_records: &mut Vec<Record>| -> u32 {
        let k = (kind as u8, name.to_owned());
        let next = names.len() as u32;
        *names.entry(k).or_insert_with(|| {
            name_records.push(Record::Name(Name {
                kind,
                id: next,
                name: name.to_owned(),
            }));
            next
        })
    };
    for line in spec.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let opt = |key: &str| -> Option<&str> {
            words
                .iter()
                .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        };
        let time = |key: &str| -> Option<u64> {
            opt(key).map(|v| {
                (v.parse::<f64>().unwrap_or_else(|_| panic!("{key}={v}")) * US as f64) as u64
            })
        };
        let num = |key: &str| -> Option<u64> {
            opt(key).map(|v| v.parse().unwrap_or_else(|_| panic!("{key}={v}")))
        };
        let has = |w: &str| words.contains(&w);
        match words[0] {
            "access" => {
                let cb: u64 = words[1].parse().expect("a callback id");
                let state = id_of(NameKind::State, words[2], &mut name_records);
                let c = callbacks
                    .iter()
                    .find(|c| c.id == cb)
                    .unwrap_or_else(|| panic!("access before callback {cb}"));
                let holder = opt("holder").map(|h| id_of(NameKind::Handler, h, &mut name_records));
                extra
                    .entry(cb)
                    .or_default()
                    .push(Record::Access(AccessRecord {
                        callback: cb,
                        handler: c.handler,
                        state,
                        key: num("k"),
                        worker: c.worker,
                        write: has("write"),
                        at: c.started,
                        wait: time("wait").unwrap_or(0),
                        held: time("held").unwrap_or(0),
                        contended: has("contended"),
                        holder,
                    }));
            }
            "panic" => {
                let cb: u64 = words[1].parse().expect("a callback id");
                let c = callbacks
                    .iter()
                    .find(|c| c.id == cb)
                    .expect("panic of a callback");
                after
                    .entry(cb)
                    .or_default()
                    .push(Record::Panic(PanicRecord {
                        callback: cb,
                        handler: c.handler,
                        color: c.color,
                        at: c.ended,
                        message: words[2..].join(" "),
                    }));
            }
            "blocking" => {
                let cb: u64 = words[1].parse().expect("a callback id");
                let c = callbacks
                    .iter()
                    .find(|c| c.id == cb)
                    .expect("blocking callback");
                after
                    .entry(cb)
                    .or_default()
                    .push(Record::Blocking(BlockingRecord {
                        callback: cb,
                        handler: c.handler,
                        wall: c.ended - c.started,
                        cpu: (c.ended - c.started) / 10,
                    }));
            }
            "sample" => tail.push(Record::Sample(WorkerSample {
                worker: num("w").unwrap_or(0) as u16,
                start: time("from").unwrap_or(0),
                end: time("to").unwrap_or(0),
                busy: time("busy").unwrap_or(0),
                parked: time("parked").unwrap_or(0),
                callbacks: num("callbacks").unwrap_or(0),
                steals: num("steals").unwrap_or(0),
                cpu: time("cpu").unwrap_or(0),
            })),
            "drops" => tail.push(Record::Drops(DropRecord {
                worker: num("w").unwrap_or(0) as u16,
                records: words.last().and_then(|n| n.parse().ok()).expect("a count"),
            })),
            id => {
                let id: u64 = id.parse().unwrap_or_else(|_| panic!("bad line: {line}"));
                let handler = id_of(NameKind::Handler, words[1], &mut name_records);
                let key = num("k");
                let queued = time("q").expect("q=");
                let started = time("s").unwrap_or(queued);
                let color = match opt("c") {
                    None | Some("default") => 0,
                    Some("key") => Key(key.expect("c=key needs k=")).color().raw(),
                    Some(c) if c.starts_with("group:") => Rule::group_color(&c[6..]).raw(),
                    Some(c) => c.parse().unwrap_or_else(|_| Color::of(c).raw()),
                };
                let origin = if has("io") {
                    Origin::Io
                } else if has("timer") {
                    Origin::Timer
                } else if has("outside") {
                    Origin::Outside
                } else {
                    Origin::Callback
                };
                callbacks.push(CallbackRecord {
                    id,
                    parent: num("p"),
                    origin,
                    handler,
                    color,
                    key,
                    worker: num("w").unwrap_or(0) as u16,
                    queued,
                    runnable: time("r").unwrap_or(queued),
                    started,
                    ended: time("e").expect("e="),
                    cpu: time("cpu"),
                });
            }
        }
    }
    out.extend(name_records);
    for c in callbacks {
        out.extend(extra.remove(&c.id).unwrap_or_default());
        out.push(Record::Callback(c));
        out.extend(after.remove(&c.id).unwrap_or_default());
    }
    out.extend(tail);
    out
}

/// A deterministic xorshift generator.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The shape of a random closed-loop program.
#[derive(Clone, Debug)]
pub struct Shape {
    pub seed: u64,
    /// Clients, each a key.
    pub keys: u64,
    /// Requests per client.
    pub requests: u64,
    /// Timers firing at random times.
    pub timers: u64,
    /// The longest callback, ns.
    pub max_dur: u64,
    /// The longest client gap, ns.
    pub max_gap: u64,
}

/// A random trace of a closed-loop server, recorded as if with unlimited workers (each
/// callback starts a little after it is queued): clients send requests (I/O `read`), each
/// spawning up to three stages that may spawn one more; a client's next request comes a gap
/// after the request and its first stages ended (the second stages may still run). Colors mix the default color, keys, fixed colors and
/// colors of their own. Records are written in the order callbacks end, as workers do.
pub fn random_trace(shape: &Shape) -> Vec<Record> {
    const HANDLERS: [&str; 5] = ["read", "parse", "query", "render", "log"];
    let mut rng = Rng::new(shape.seed);
    let mut callbacks: Vec<CallbackRecord> = Vec::new();
    let mut next_id = 1u64;
    let dur = |rng: &mut Rng| 1 + rng.below(shape.max_dur);
    let color_for = |rng: &mut Rng, handler: u32, key: u64| -> u64 {
        match rng.below(4) {
            0 => 0,
            1 => Key(key).color().raw(),
            2 => Color::of(&("fixed", handler)).raw(),
            _ => Color::of(&("own", rng.next())).raw(),
        }
    };
    for key in 0..shape.keys {
        let mut t = rng.below(shape.max_gap + 1);
        for _ in 0..shape.requests {
            // The request.
            let d = dur(&mut rng);
            let wait = rng.below(shape.max_dur / 2 + 1);
            let root = CallbackRecord {
                id: next_id,
                parent: None,
                origin: Origin::Io,
                handler: 0,
                color: color_for(&mut rng, 0, key),
                key: Some(key),
                worker: (key % 4) as u16,
                queued: t,
                runnable: t,
                started: t + wait,
                ended: t + wait + d,
                cpu: None,
            };
            next_id += 1;
            // The client answers once the request and its first stages are done; the
            // stages they queue (a log, say) may still run when the next request comes.
            let mut answered = root.ended;
            let mut level = vec![root];
            callbacks.push(root);
            for _depth in 0..2 {
                let mut next_level = Vec::new();
                for p in &level {
                    for _ in 0..rng.below(if _depth == 0 { 4 } else { 2 }) {
                        let handler = 1 + rng.below(4) as u32;
                        let q = p.started + rng.below(p.ended - p.started + 1);
                        let wait = rng.below(shape.max_dur / 2 + 1);
                        let d = dur(&mut rng);
                        let c = CallbackRecord {
                            id: next_id,
                            parent: Some(p.id),
                            origin: Origin::Callback,
                            handler,
                            color: color_for(&mut rng, handler, key),
                            key: Some(key),
                            worker: (rng.below(4)) as u16,
                            queued: q,
                            runnable: q,
                            started: q + wait,
                            ended: q + wait + d,
                            cpu: None,
                        };
                        next_id += 1;
                        if _depth == 0 {
                            answered = answered.max(c.ended);
                        }
                        next_level.push(c);
                        callbacks.push(c);
                    }
                }
                level = next_level;
            }
            t = answered + rng.below(shape.max_gap + 1);
        }
    }
    let span = callbacks.iter().map(|c| c.ended).max().unwrap_or(0);
    for _ in 0..shape.timers {
        let q = rng.below(span + 1);
        let d = dur(&mut rng);
        callbacks.push(CallbackRecord {
            id: next_id,
            parent: None,
            origin: Origin::Timer,
            handler: 4,
            color: 0,
            key: None,
            worker: 0,
            queued: q,
            runnable: q,
            started: q,
            ended: q + d,
            cpu: None,
        });
        next_id += 1;
    }
    callbacks.sort_by_key(|c| (c.ended, c.id));
    let mut out: Vec<Record> = HANDLERS
        .iter()
        .enumerate()
        .map(|(i, n)| {
            Record::Name(Name {
                kind: NameKind::Handler,
                id: i as u32,
                name: (*n).to_owned(),
            })
        })
        .collect();
    out.extend(callbacks.into_iter().map(Record::Callback));
    out
}
