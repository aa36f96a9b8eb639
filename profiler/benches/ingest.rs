//! Ingest throughput: `Profile::read` of a synthetic trace held in memory, in callback
//! records per second (issue 6 asks for 10 M/s or more on one core).
//!
//! ```text
//! cargo bench -p hue-profiler --bench ingest
//! ```
//!
//! The trace is shaped like a server's (the runtime's `tests/data/synthetic.rs` shape, with
//! state accesses added): 1 M callbacks over 4 workers, 1000 connections each with its own
//! color and key, a handful of handlers, most callbacks queued by a recent one, one in ten
//! touching keyed state and one in fifty shared state, a few with CPU time, worker samples
//! every 100 ms; records in per-worker batches of 2048, written with `TraceWriter` into a
//! `Vec<u8>`, so no disk is measured. Besides criterion's wall-clock numbers the bench prints
//! records per second of thread CPU time, which holds steadier on a shared machine.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hue_profiler::{Profile, Trace};
use hue_runtime::trace::{
    AccessRecord, CallbackRecord, FORMAT_VERSION, Header, Name, NameKind, Origin, Record,
    TraceWriter, WorkerSample,
};

const CALLBACKS: usize = 1_000_000;

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x % n
    }
}

fn color_of(conn: u64) -> u64 {
    hue_runtime::Key(conn).color().raw()
}

/// The synthetic trace, encoded; and how many callback records it holds.
pub fn synthetic(n: usize) -> (Vec<u8>, u64) {
    const HANDLERS: [&str; 8] = [
        "accept", "read", "parse", "encrypt", "query", "respond", "write", "log",
    ];
    let workers = 4usize;
    let mut rng = Rng(0x5eed);
    let mut clocks = vec![1_000_000u64; workers];
    let mut next_sample = vec![100_000_000u64; workers];
    let mut recent: Vec<u64> = Vec::with_capacity(256);
    let mut pending: Vec<Vec<Record>> = vec![Vec::new(); workers];
    let mut batches: Vec<Vec<Record>> = Vec::new();
    let mut names: Vec<Record> = HANDLERS
        .iter()
        .enumerate()
        .map(|(i, h)| {
            Record::Name(Name {
                kind: NameKind::Handler,
                id: i as u32,
                name: (*h).to_owned(),
            })
        })
        .collect();
    for (i, s) in ["connections", "db"].iter().enumerate() {
        names.push(Record::Name(Name {
            kind: NameKind::State,
            id: i as u32,
            name: (*s).to_owned(),
        }));
    }
    batches.push(names);
    for id in 1..=n as u64 {
        let w = rng.below(workers as u64) as usize;
        let (origin, parent) = match rng.below(10) {
            0 => (Origin::Io, None),
            1 => (Origin::Timer, None),
            _ if !recent.is_empty() => {
                let back = rng.below(recent.len().min(64) as u64) as usize;
                (Origin::Callback, Some(recent[recent.len() - 1 - back]))
            }
            _ => (Origin::Outside, None),
        };
        if recent.len() == 256 {
            recent.drain(..128);
        }
        recent.push(id);
        let conn = rng.below(1000);
        let long = rng.below(20) == 0;
        let wall = if long {
            50_000 + rng.below(200_000)
        } else {
            1_000 + rng.below(15_000)
        };
        let started = clocks[w] + 300 + rng.below(3_000);
        let runnable = started - rng.below(2_000);
        let queued = if rng.below(4) == 0 {
            runnable - rng.below(40_000)
        } else {
            runnable
        };
        let ended = started + wall;
        clocks[w] = ended;
        let handler = rng.below(HANDLERS.len() as u64) as u32;
        let b = &mut pending[w];
        match rng.below(50) {
            0..=4 => b.push(Record::Access(AccessRecord {
                callback: id,
                handler,
                state: 0,
                key: Some(conn),
                worker: w as u16,
                write: true,
                at: started + 100,
                wait: 0,
                held: 200,
                contended: false,
                holder: None,
            })),
            5 => b.push(Record::Access(AccessRecord {
                callback: id,
                handler,
                state: 1,
                key: None,
                worker: w as u16,
                write: false,
                at: started + 100,
                wait: 0,
                held: 500,
                contended: false,
                holder: None,
            })),
            _ => {}
        }
        b.push(Record::Callback(CallbackRecord {
            id,
            parent,
            origin,
            handler,
            color: color_of(conn),
            key: Some(conn),
            worker: w as u16,
            queued,
            runnable,
            started,
            ended,
            cpu: long.then(|| wall - rng.below(wall / 10 + 1)),
        }));
        if ended >= next_sample[w] {
            b.push(Record::Sample(WorkerSample {
                worker: w as u16,
                start: next_sample[w] - 100_000_000,
                end: next_sample[w],
                busy: 90_000_000,
                parked: 5_000_000,
                callbacks: 10_000,
                steals: 3,
                cpu: 92_000_000,
            }));
            next_sample[w] += 100_000_000;
        }
        if b.len() >= 2048 {
            batches.push(std::mem::take(b));
        }
    }
    batches.extend(pending.into_iter().filter(|b| !b.is_empty()));
    let header = Header {
        version: FORMAT_VERSION,
        start_unix_ns: 0,
        ticks_per_sec: 3e9,
        workers: workers as u16,
        program: "bench".to_owned(),
        policy: String::new(),
    };
    let mut out = Vec::new();
    let mut w = TraceWriter::new(&mut out, &header).expect("writing to memory");
    for b in &batches {
        w.write_batch(b).expect("writing to memory");
    }
    w.finish().expect("writing to memory");
    (out, n as u64)
}

fn thread_cpu() -> Duration {
    let mut ts = libc_timespec();
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

fn libc_timespec() -> Timespec {
    Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    }
}

const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

unsafe extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

fn ingest(c: &mut Criterion) {
    // `cargo test --benches` runs this too, unoptimized: keep it small there.
    let n = if cfg!(debug_assertions) {
        CALLBACKS / 10
    } else {
        CALLBACKS
    };
    let (bytes, callbacks) = synthetic(n);
    let trace = Trace::from_bytes("synthetic", bytes.clone()).expect("a trace");
    let read = || {
        let p = Profile::read(&trace).expect("a trace");
        assert_eq!(p.totals.callbacks, callbacks);
        black_box(p);
    };
    // Best of several runs, in callback records per CPU second of this thread.
    read();
    let best = (0..10)
        .map(|_| {
            let t = thread_cpu();
            read();
            callbacks as f64 / (thread_cpu() - t).as_secs_f64()
        })
        .fold(0.0, f64::max);
    println!(
        "ingest: {:.1} M callback records per CPU second ({} callbacks, {:.1} MB, {:.1} bytes per callback)",
        best / 1e6,
        callbacks,
        bytes.len() as f64 / 1e6,
        bytes.len() as f64 / callbacks as f64
    );
    // The runtime's reader alone, for comparison: what ingest adds is the rest.
    let decode = || {
        let mut r = hue_runtime::trace::TraceReader::new(&bytes[..]).expect("a trace");
        let mut n = 0u64;
        for rec in r.by_ref() {
            if let Ok(Record::Callback(_)) = black_box(rec) {
                n += 1;
            }
        }
        assert_eq!(n, callbacks);
    };
    decode();
    let reader = (0..10)
        .map(|_| {
            let t = thread_cpu();
            decode();
            callbacks as f64 / (thread_cpu() - t).as_secs_f64()
        })
        .fold(0.0, f64::max);
    println!(
        "decode only (TraceReader): {:.1} M callback records per CPU second",
        reader / 1e6
    );
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(callbacks));
    g.sample_size(10);
    g.bench_function("profile_read_1M_callbacks", |b| b.iter(read));
    g.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
