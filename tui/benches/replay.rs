//! How fast `hue top --replay` starts and seeks on a big trace (issue 14: a 10M-callback
//! trace starts in ≤ 2 s and seeks in ≤ 200 ms). Not a criterion bench: each step runs once
//! on a trace too big to repeat cheaply; run it a few times and read the spread.
//!
//! ```text
//! cargo run --release -p hue-reports --example big_trace -- /tmp/big.hue 10000000
//! HUE_BENCH_TRACE=/tmp/big.hue cargo bench -p hue-tui --bench replay
//! ```
//!
//! It drives the app as `hue top` does (the same readers, `App::wanted` asking the seeker,
//! every screen drawn into a 160x48 `TestBackend`) and prints, from the moment the trace is
//! opened: the first screen; the index ready; then seeks right after that, to the end and
//! the middle, while the reader from the start is still far behind (each from the key to
//! the redrawn screen showing that period); then the whole trace read, and seeks within it.
//! The load average is printed beside, since the times are wall-clock. Last, the two ways
//! to the trace's last period alone, one thread each: reading from the start (what a seek
//! waited for before the index) and the index plus the seek's read. `HUE_BENCH_ONLY=read`
//! or `=seek` runs only that, to count instructions:
//!
//! ```text
//! HUE_BENCH_TRACE=/tmp/big1m.hue HUE_BENCH_ONLY=seek valgrind --tool=callgrind \
//!     target/release/deps/replay-<hash>
//! ```

use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use hue_tui::App;
use hue_tui::source::replay::{self, PERIOD_NS, Replayer};
use hue_tui::source::{Event, index::Index};
use hue_tui::state::{Mode, Model};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn main() {
    let Some(path) = std::env::var_os("HUE_BENCH_TRACE") else {
        eprintln!("set HUE_BENCH_TRACE to a trace (see the comment at the top of this file)");
        return;
    };
    let path = std::path::PathBuf::from(path);
    if let Ok(only) = std::env::var("HUE_BENCH_ONLY") {
        one_way(&path, &only);
        return;
    }
    // The index pass alone, untimed by the rest: it also tells the trace's length and
    // brings the file into the page cache, so every run below reads a warm file.
    let t = Instant::now();
    let index = Index::build(&path).expect("the trace indexes");
    let (index_alone, chunks) = (t.elapsed(), index.len());
    let end = index.end_ns().expect("the trace holds records");
    drop(index);
    println!("load average before: {}", load());
    let t0 = Instant::now();
    let opened = replay::open(&path).expect("the trace opens");
    let mode = Mode::Replay {
        path: path.clone(),
        header: opened.header.clone(),
    };
    let (tx, rx) = mpsc::channel();
    let replayer = opened.spawn(tx);
    let mut app = App::new(Model::new(mode));
    app.ui.paused = true;
    let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
    // Start: the first screen with numbers on it.
    while app.shown().is_empty() {
        app.apply(rx.recv().expect("a first batch"));
    }
    term.draw(|f| f.render_widget(&app, f.area())).unwrap();
    let start = t0.elapsed();
    println!(
        "{}: {:.0} s of trace in {chunks} chunks; first screen after {:.0} ms",
        path.display(),
        end as f64 / 1e9,
        ms(start),
    );
    // A seek goes as far as the index (or the reader from the start) has got: the middle
    // as soon as the index reaches it, then the end once it is whole.
    let mid = end / 2;
    let mut seeks = Vec::new();
    for (what, to) in [
        ("the middle", mid),
        ("the end", end),
        ("end - 10 s", end.saturating_sub(10_000_000_000)),
        ("the middle + 1 period", mid + PERIOD_NS),
        ("the middle - 1 period", mid - PERIOD_NS),
    ] {
        while app.end_ns() < to {
            app.apply(rx.recv().expect("the index grows"));
        }
        let reachable = t0.elapsed();
        let read = app.model.periods.from_start().len() as f64 * PERIOD_NS as f64 / 1e9;
        let took = seek(&mut app, &mut term, &replayer, &rx, to);
        seeks.push(took);
        println!(
            "seek to {what} ({:.1} s), reachable {:.0} ms after open, while {read:.1} s were read \
             from the start: {:.1} ms to the redrawn screen",
            to as f64 / 1e9,
            ms(reachable),
            ms(took)
        );
    }
    while !app.model.indexed {
        app.apply(rx.recv().expect("the index completes"));
    }
    let indexed = t0.elapsed();
    // Everything read.
    while !app.model.loaded {
        app.apply(rx.recv().expect("the rest"));
    }
    let loaded = t0.elapsed();
    let callbacks: u64 = app
        .model
        .periods
        .iter()
        .flat_map(|s| &s.handlers)
        .map(|h| h.callbacks)
        .sum();
    println!(
        "indexed after {:.0} ms; all read after {:.2} s: {callbacks} callbacks in {} periods",
        ms(indexed),
        loaded.as_secs_f64(),
        app.model.periods.len()
    );
    let mut worst = Duration::ZERO;
    for to in [end, end / 3, end / 3 - 10_000_000_000, end / 3 - PERIOD_NS] {
        worst = worst.max(seek(&mut app, &mut term, &replayer, &rx, to));
    }
    println!(
        "seeks within what was read: slowest + redraw {:.2} ms",
        ms(worst)
    );
    println!(
        "slowest seek ahead of the reader: {:.1} ms; the index pass alone: {:.0} ms",
        ms(seeks.into_iter().max().unwrap_or_default()),
        ms(index_alone)
    );
    drop(rx);
    replayer.join();
    // Before the index, a seek to the end waited for the read from the start to get there:
    // that read alone, single-threaded, beside what a seek to the end now costs alone.
    let t = Instant::now();
    one_way(&path, "read");
    let read = t.elapsed();
    let t = Instant::now();
    one_way(&path, "seek");
    let seek = t.elapsed();
    println!(
        "alone, one thread each: read from the start to the end {:.0} ms; index + read the \
         end's periods {:.0} ms ({:.1}x less)",
        ms(read),
        ms(seek),
        read.as_secs_f64() / seek.as_secs_f64()
    );
    println!("load average after: {}", load());
}

/// One way to the trace's last period, on this thread (`HUE_BENCH_ONLY`, to count its
/// instructions under callgrind): `read`, the read from the start to the end (the only way
/// before the index); `seek`, the whole index, then the periods around the last.
fn one_way(path: &std::path::Path, how: &str) {
    match how {
        "read" => {
            let (snaps, _) = replay::open(path).expect("the trace opens").read_all();
            assert!(!snaps.is_empty());
        }
        "seek" => {
            let index = Index::build(path).expect("the trace indexes");
            let last = index.end_ns().expect("records") / PERIOD_NS;
            let mut reader = hue_formats::trace::TraceReader::open(path).expect("opens");
            let workers = usize::from(reader.header().workers);
            let snaps = replay::read_periods(&mut reader, &index, workers, last - 9, last)
                .expect("the end reads");
            assert_eq!(snaps.len(), 10);
        }
        other => panic!("HUE_BENCH_ONLY is read or seek, not {other:?}"),
    }
}

/// Seeks to `to` as a key would, asks the seeker for what the view lacks, takes events until
/// the period is on screen, and redraws; how long that took.
fn seek(
    app: &mut App,
    term: &mut Terminal<TestBackend>,
    replayer: &Replayer,
    rx: &Receiver<Event>,
    to: u64,
) -> Duration {
    let t = Instant::now();
    app.seek_to(to);
    if let Some(p) = app.wanted() {
        replayer.want(p);
    }
    while app.shown().is_empty() {
        app.apply(rx.recv().expect("the periods sought"));
    }
    term.draw(|f| f.render_widget(&*app, f.area())).unwrap();
    t.elapsed()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_else(|_| "unknown".to_owned())
}
