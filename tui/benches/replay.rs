//! How fast `hue top --replay` starts and seeks on a big trace (issue 14: a 10M-callback
//! trace starts in ≤ 2 s and seeks in ≤ 200 ms). Not a criterion bench: each step runs once
//! on a trace too big to repeat cheaply.
//!
//! ```text
//! hue demo --workload webserver --seconds 20 --trace big.hue
//! HUE_BENCH_TRACE=big.hue cargo bench -p hue-tui --bench replay
//! ```

use std::sync::mpsc;
use std::time::Instant;

use hue_tui::App;
use hue_tui::source::{Event, replay};
use hue_tui::state::{Mode, Model};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn main() {
    let Some(path) = std::env::var_os("HUE_BENCH_TRACE") else {
        eprintln!("set HUE_BENCH_TRACE to a trace (see the comment at the top of this file)");
        return;
    };
    let path = std::path::PathBuf::from(path);
    let t0 = Instant::now();
    let opened = replay::open(&path).expect("the trace opens");
    let mode = Mode::Replay {
        path: path.clone(),
        header: opened.header.clone(),
    };
    let (tx, rx) = mpsc::channel();
    let reader = opened.spawn(tx);
    let mut app = App::new(Model::new(mode));
    let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
    // Start: the first screen with numbers on it.
    let first = rx.recv().expect("a first batch");
    app.apply(first);
    term.draw(|f| f.render_widget(&app, f.area())).unwrap();
    let start = t0.elapsed();
    // Everything read.
    for e in rx.iter() {
        let end = matches!(e, Event::ReplayEnd { .. });
        app.apply(e);
        if end {
            break;
        }
    }
    reader.join().unwrap();
    let loaded = t0.elapsed();
    let callbacks: u64 = app
        .model
        .snapshots
        .iter()
        .flat_map(|s| &s.handlers)
        .map(|h| h.callbacks)
        .sum();
    // Seeks: to the end, back to the middle, 10 s back, one period back; each redraws.
    let end = app.end_ns();
    let mut worst = std::time::Duration::ZERO;
    for to in [
        end,
        end / 2,
        (end / 2).saturating_sub(10_000_000_000),
        end / 2 - 100_000_000,
    ] {
        let t = Instant::now();
        app.seek_to(to);
        term.draw(|f| f.render_widget(&app, f.area())).unwrap();
        worst = worst.max(t.elapsed());
    }
    println!(
        "{}: {} callbacks in {} periods; first screen after {:.0} ms; all read after {:.2} s; \
         slowest seek + redraw {:.2} ms",
        path.display(),
        callbacks,
        app.model.snapshots.len(),
        start.as_secs_f64() * 1e3,
        loaded.as_secs_f64(),
        worst.as_secs_f64() * 1e3
    );
}
