//! Writes a long synthetic trace to measure `hue report` on (BENCHMARKS.md, "Reports"): a
//! one-worker closed-loop server of 1000 clients, read → parse → reply in the default color,
//! as the profiler's simulate bench makes it, streamed to the file.
//!
//! ```text
//! cargo run --release -p hue-reports --example big_trace -- big.hue 10000000
//! ```

use hue_formats::trace::TraceWriter;
use hue_testkit::{ClosedLoop, Stage};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "big.hue".to_owned());
    let callbacks: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000_000);
    let stages = [
        Stage {
            name: "read",
            min: 3_000,
            spread: 10_000,
        },
        Stage {
            name: "parse",
            min: 5_000,
            spread: 20_000,
        },
        Stage {
            name: "reply",
            min: 10_000,
            spread: 50_000,
        },
    ];
    let header = hue_testkit::header(1, "big_trace example", "");
    let mut w = TraceWriter::create(&path, &header).expect("a trace file");
    let records = ClosedLoop::new(0x5eed, 1000, None, &stages, (20_000, 100_000), 400)
        .take(stages.len() + callbacks);
    let mut batch = Vec::with_capacity(4096);
    for r in records {
        batch.push(r);
        if batch.len() == 4096 {
            w.write_batch(&batch).expect("writing");
            batch.clear();
        }
    }
    w.write_batch(&batch).expect("writing");
    w.finish().expect("writing");
    println!("wrote {path}: {callbacks} callbacks");
}
