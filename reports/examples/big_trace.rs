//! Writes a long synthetic trace to measure `hue report` on (BENCHMARKS.md, "Reports"): a
//! one-worker closed-loop server of 1000 clients, read → parse → reply in the default color,
//! as the profiler's simulate bench makes it, streamed to the file.
//!
//! ```text
//! cargo run --release -p hue-reports --example big_trace -- big.hue 10000000
//! ```

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "big.hue".to_owned());
    let callbacks: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000_000);
    hue_testkit::write_server_loop(std::path::Path::new(&path), "big_trace example", callbacks)
        .expect("writing the trace");
    println!("wrote {path}: {callbacks} callbacks");
}
