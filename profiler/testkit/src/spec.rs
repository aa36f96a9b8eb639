//! Tiny traces written as text, so that tests read as data: a trace in, the expected table,
//! verdict or prediction out. The profiler's and the reports' tests share this one parser;
//! each has its own small `check` that renders what it needs.
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
//! Other lines: `access ID STATE [k=KEY] [held=T] [wait=T] [write] [contended] [holder=H]
//! [cb=N]` (written just before callback ID's record, as the runtime does; with `cb=N` it
//! names callback N instead, whose record is missing, as when the runtime dropped it),
//! `panic ID MESSAGE...`,
//! `blocking ID`, `sample w=W from=T to=T busy=T parked=T steals=N cpu=T`, `drops w=W N`.
//!
//! A malformed spec panics with the line: specs are written by tests.

use std::collections::HashMap;

use hue_formats::trace::{
    AccessRecord, BlockingRecord, CallbackRecord, DropRecord, Name, NameKind, Origin, PanicRecord,
    Record, WorkerSample,
};
use hue_formats::{Color, Key, Rule};

/// Compares rendered text with the expected text, both trimmed, line by line with trailing
/// spaces and the common indentation removed; panics showing both when they differ.
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
    crate::encode(&records, workers, "test", "", finish)
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
                        // `cb=N`: recorded as made by callback N, whose record is missing.
                        callback: num("cb").unwrap_or(cb),
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
