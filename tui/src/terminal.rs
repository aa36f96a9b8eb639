//! The terminal loop: draw, then handle what happened (keys, snapshots, time), until quit.
//! The terminal is restored on quit, on Ctrl-C (a key in raw mode) and on panic
//! (`ratatui::init` installs a hook that restores it before the panic message prints).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, Event as TermEvent};

use crate::app::{Action, App, Tab};
use crate::error::{Error, ErrorKind, Result};
use crate::source::{Event, analysis, live, replay};
use crate::state::{Mode, Model};
use crate::view::theme::Theme;

/// How often the screen is redrawn at most while something changes: 10 a second is smooth
/// for numbers that change once a period and costs a viewer little CPU.
const FRAME: Duration = Duration::from_millis(100);

/// How often the loop looks for the periods of a seek while it waits for them.
const SEEK_POLL: Duration = Duration::from_millis(5);

/// Follows the telemetry server at `addr` until the user quits.
pub fn run_live(addr: SocketAddr) -> Result<()> {
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let thread = live::spawn(addr, tx, stop.clone());
    let mut app = App::new(Model::new(Mode::Live { addr }));
    app.theme = Theme::from_env();
    let res = with_terminal(|t| run(t, &mut app, &rx, |_| {}));
    stop.store(true, Ordering::Relaxed);
    drop(rx);
    let _ = thread.join();
    res
}

/// Replays the trace at `path` until the user quits. Fails before touching the terminal if
/// the file is not a readable trace.
pub fn run_replay(path: &Path) -> Result<()> {
    let opened = replay::open(path)?;
    let (tx, rx) = mpsc::channel();
    let mode = Mode::Replay {
        path: opened.path.clone(),
        header: opened.header.clone(),
    };
    // The profiler simulates the trace dozens of times: start it only when its answers are
    // looked at, or once a trace small enough to analyze in seconds has been read.
    let small = std::fs::metadata(path).is_ok_and(|m| m.len() <= ANALYZE_AT_ONCE_BYTES);
    let mut analysis = Some((path.to_owned(), tx.clone()));
    // The readers stop when they can no longer send (the app has gone).
    let replayer = opened.spawn(tx);
    let mut asked = None;
    let mut app = App::new(Model::new(mode));
    app.theme = Theme::from_env();
    with_terminal(|t| {
        run(t, &mut app, &rx, |app| {
            let wanted =
                matches!(app.ui.tab, Tab::Advice | Tab::Speedup) || (small && app.model.loaded);
            if wanted && let Some((path, tx)) = analysis.take() {
                analysis::spawn(&path, tx);
            }
            // Each period wanted once: the seeker may have nothing for it (a period the
            // index cannot start at), and the reader from the start then brings it.
            let period = app.wanted();
            if period.is_some() && period != asked {
                replayer.want(period.unwrap_or_default());
            }
            asked = period;
        })
    })
}

/// Sets the terminal up for a full-screen view (raw mode, the alternate screen, a panic
/// hook that restores the terminal before the panic message prints), runs `f` on it, and
/// restores the terminal however `f` ends: returning, with an error, or panicking. Fails
/// before `f` runs, having undone what it did, if the terminal cannot be set up. Every
/// `hue top` screen goes through here; `tui/tests/restore.rs` checks the terminal comes
/// back after quitting, Ctrl-C and a panic.
pub fn with_terminal<T>(f: impl FnOnce(&mut DefaultTerminal) -> Result<T>) -> Result<T> {
    let mut terminal = ratatui::try_init().map_err(|e| {
        // Undo whatever part of the set-up succeeded (and write nothing where none did).
        if ratatui::crossterm::terminal::is_raw_mode_enabled().unwrap_or(false) {
            ratatui::restore();
        }
        Error::with_source(
            ErrorKind::Terminal,
            format!("cannot set up the terminal: {e} (hue top needs an interactive terminal)"),
            e,
        )
    })?;
    let res = f(&mut terminal);
    ratatui::restore();
    res
}

fn terminal_error(e: std::io::Error) -> Error {
    Error::with_source(ErrorKind::Terminal, format!("terminal error: {e}"), e)
}

/// Traces up to this size are analyzed as soon as they are read (a few seconds of work).
const ANALYZE_AT_ONCE_BYTES: u64 = 32 << 20;

fn run(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    rx: &Receiver<Event>,
    mut after_events: impl FnMut(&App),
) -> Result<()> {
    let mut last = Instant::now();
    let mut dirty = true;
    let mut source_open = true;
    loop {
        if dirty {
            terminal
                .draw(|f| f.render_widget(&*app, f.area()))
                .map_err(terminal_error)?;
            dirty = false;
        }
        // Waiting for periods a seek asked for: look for them often, so they show as soon
        // as they are read, not up to a frame later.
        let wait = if app.wanted().is_some() {
            SEEK_POLL
        } else {
            FRAME
        };
        if event::poll(wait).map_err(terminal_error)? {
            // Take every key waiting, then draw once.
            loop {
                match event::read().map_err(terminal_error)? {
                    TermEvent::Key(k) => {
                        match app.key(k) {
                            Action::Quit => return Ok(()),
                            Action::WritePolicy => app.write_policy(std::path::Path::new(".")),
                            Action::None => {}
                        }
                        dirty = true;
                    }
                    TermEvent::Resize(..) => dirty = true,
                    _ => {}
                }
                if !event::poll(Duration::ZERO).map_err(terminal_error)? {
                    break;
                }
            }
        }
        while source_open {
            match rx.try_recv() {
                Ok(e) => {
                    app.apply(e);
                    dirty = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => source_open = false,
            }
        }
        after_events(app);
        let now = Instant::now();
        let elapsed = now.duration_since(last);
        last = now;
        if app.model.is_replay() && !app.ui.paused {
            app.tick(elapsed.as_nanos() as u64);
            dirty = true;
        }
    }
}
