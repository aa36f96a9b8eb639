//! Writes a trace for `benches/replay.rs` whose chunks interleave 4 workers' records over
//! 1000 colors (`hue_testkit::callback_batches`, in per-worker batches of 2048 records, as
//! BENCHMARKS.md's earlier 10M-callback replay row), its 8 handlers named: many colors make
//! the read from the start's aggregation cost more than the single-color `big_trace`'s.
//!
//! ```text
//! cargo run --release -p hue-tui --example interleaved_trace -- /tmp/interleaved.hue 10000000
//! ```

use hue_formats::trace::{Name, NameKind, Record, TraceWriter};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "interleaved.hue".to_owned());
    let callbacks: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000_000);
    let header = hue_testkit::header(4, "interleaved_trace example", "");
    let mut w = TraceWriter::create(&path, &header).expect("creating the trace");
    let names: Vec<Record> = (0..8)
        .map(|id| {
            Record::Name(Name {
                kind: NameKind::Handler,
                id,
                name: format!("handler-{id}"),
            })
        })
        .collect();
    w.write_batch(&names).expect("writing the trace");
    for batch in hue_testkit::callback_batches(callbacks, 4, 1000, 2048) {
        w.write_batch(&batch).expect("writing the trace");
    }
    w.finish().expect("writing the trace");
    println!("wrote {path}: {callbacks} callbacks");
}
