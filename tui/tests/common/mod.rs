//! The checked-in trace, replayed into an app, and rendering into a test terminal.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use hue_tui::App;
use hue_tui::source::{Event, analysis, replay};
use hue_tui::state::{Mode, Model};
use hue_tui::view::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// `tui/tests/data/small.hue`: 2 s of five handlers on 2 workers (how it was made is in
/// `make_small_trace.rs` beside it).
pub fn small() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/small.hue")
}

/// An app replaying `small.hue`, read to the end, without colours (so snapshots are text).
pub fn replay_app() -> App {
    let opened = replay::open(&small()).expect("the test trace opens");
    let mode = Mode::Replay {
        path: PathBuf::from("small.hue"),
        header: opened.header.clone(),
    };
    let (snaps, stopped) = opened.read_all();
    let mut app = App::new(Model::new(mode));
    app.theme = Theme { color: false };
    app.apply(Event::Snapshots(snaps));
    app.apply(Event::ReplayEnd { stopped });
    app.ui.paused = true;
    app
}

/// [`replay_app`] with the profiler's analysis done.
pub fn analyzed_app() -> App {
    static ANALYSIS: OnceLock<Result<analysis::Analysis, String>> = OnceLock::new();
    let mut app = replay_app();
    let a = ANALYSIS.get_or_init(|| analysis::analyze(&small()).map_err(|e| e.to_string()));
    app.apply(Event::Analysis(Box::new(a.clone())));
    app
}

/// What `app` draws on a `width`x`height` terminal, as text.
pub fn draw(app: &App, width: u16, height: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
    t.draw(|f| f.render_widget(app, f.area())).unwrap();
    t.backend().to_string()
}

/// Presses `code`.
pub fn press(app: &mut App, code: KeyCode) -> hue_tui::Action {
    app.key(KeyEvent::new(code, KeyModifiers::NONE))
}
