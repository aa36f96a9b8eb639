//! Encode and decode throughput of the `.hue` format (issue 4): records per second for the
//! synthetic callback stream of `hue_testkit::callback_batches` (100 000 callbacks, 4 workers, 1000
//! colors, batches of 2048), written to and read from memory, so no disk is measured.
//!
//! ```text
//! cargo bench -p hue-runtime --bench trace
//! ```
//!
//! The profiler needs decoding at 10 M callback records per second or more on one core.
//! Besides criterion's wall-clock numbers, the bench prints records per second of *thread
//! CPU time*, which holds steadier when the shared machine is oversubscribed.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hue_formats::trace::{FORMAT_VERSION, Header, Record, TraceReader, TraceWriter};

use hue_testkit as synthetic;

const N: usize = 100_000;

fn header() -> Header {
    Header {
        version: FORMAT_VERSION,
        start_unix_ns: 0,
        ticks_per_sec: 3e9,
        workers: 4,
        program: "bench".to_owned(),
        policy: String::new(),
        batch: None,
        stealing: None,
        cores: None,
        color_cost_ns: None,
        handoff_ns: None,
    }
}

fn encode(batches: &[Vec<Record>], out: &mut Vec<u8>) -> u64 {
    out.clear();
    let mut w = TraceWriter::new(out, &header()).expect("writing to memory");
    for b in batches {
        w.write_batch(b).expect("writing to memory");
    }
    w.finish().expect("writing to memory")
}

fn decode(file: &[u8]) {
    let mut reader = TraceReader::new(black_box(file)).expect("a valid trace");
    let mut n = 0u64;
    for r in reader.by_ref() {
        black_box(r.expect("a valid trace"));
        n += 1;
    }
    assert_eq!(n, N as u64);
    assert!(reader.complete());
}

/// This thread's CPU time.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Best of several runs of `f` (each handling `N` records), in records per CPU second.
fn per_cpu_second(mut f: impl FnMut()) -> f64 {
    f();
    (0..20)
        .map(|_| {
            let t = thread_cpu();
            f();
            N as f64 / (thread_cpu() - t).as_secs_f64()
        })
        .fold(0.0, f64::max)
}

fn trace(c: &mut Criterion) {
    let batches = synthetic::callback_batches(N, 4, 1000, 2048);
    let mut file = Vec::new();
    let len = encode(&batches, &mut file);
    eprintln!(
        "  [trace] {N} callbacks: {len} bytes, {:.2} bytes per record",
        len as f64 / N as f64
    );

    let mut out = Vec::with_capacity(file.len());
    eprintln!(
        "  [trace] per CPU second (best of 20): encode {:.1} M records/s, decode {:.1} M records/s",
        per_cpu_second(|| {
            black_box(encode(&batches, &mut out));
        }) / 1e6,
        per_cpu_second(|| decode(&file)) / 1e6,
    );

    let mut g = c.benchmark_group("trace");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("encode_callbacks", |b| {
        b.iter(|| black_box(encode(black_box(&batches), &mut out)))
    });
    g.bench_function("decode_callbacks", |b| b.iter(|| decode(&file)));
    g.finish();
}

criterion_group!(benches, trace);
criterion_main!(benches);
