//! Ingest throughput: `Profile::read` of a synthetic trace held in memory, in callback
//! records per second (issue 6 asks for 10 M/s or more on one core).
//!
//! ```text
//! cargo bench -p hue-profiler --bench ingest
//! ```
//!
//! The trace is shaped like a server's (`hue_testkit::server`: the runtime's
//! `hue_testkit::callback_batches` shape, with state accesses added): 1 M callbacks over 4 workers,
//! 1000 connections each with its own color and key, a handful of handlers, most callbacks
//! queued by a recent one, one in ten touching keyed state and one in fifty shared state, a
//! few with CPU time, worker samples every 100 ms; records in per-worker batches of 2048,
//! written with `TraceWriter` into a `Vec<u8>`, so no disk is measured. Besides criterion's wall-clock numbers the bench prints
//! records per second of thread CPU time, which holds steadier on a shared machine.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hue_profiler::{Profile, Trace};
use hue_runtime::trace::Record;

const CALLBACKS: usize = 1_000_000;

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
    let bytes = hue_testkit::server(n);
    let callbacks = n as u64;
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
