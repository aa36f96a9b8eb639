//! The app: the model, what the user is looking at, and the one place keys are handled.
//!
//! Nothing here touches the terminal: tests feed [`App::apply`] events and [`App::key`] keys
//! and render `&App` into a `TestBackend`.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use hue_formats::telemetry::Snapshot;

use crate::source::Event;
use crate::source::replay::{PERIOD_NS, SEEK_BEFORE};
use crate::state::table::Table;
use crate::state::{Mode, Model, Window, advice, rows};
use crate::view::theme::Theme;

/// The views, in tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    /// Workers over time, totals, the hottest color.
    Overview,
    /// Each color.
    Colors,
    /// Each handler.
    Handlers,
    /// Each shared state.
    States,
    /// Which handlers to recolor.
    Advice,
    /// Predicted speedup by core count (replay).
    Speedup,
}

impl Tab {
    /// Every tab, in order.
    pub const ALL: [Tab; 6] = [
        Tab::Overview,
        Tab::Colors,
        Tab::Handlers,
        Tab::States,
        Tab::Advice,
        Tab::Speedup,
    ];

    /// Its title.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Overview => "Overview",
            Tab::Colors => "Colors",
            Tab::Handlers => "Handlers",
            Tab::States => "States",
            Tab::Advice => "Advice",
            Tab::Speedup => "Speedup",
        }
    }

    /// Its position in [`Tab::ALL`].
    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// Replay speeds `+` and `-` step through.
pub const SPEEDS: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];

/// Periods ahead of the one shown that should have been read while playing: half a second,
/// so that a seek for the next ones is asked for before playing gets there.
const PLAY_AHEAD: u64 = 5;

/// What the caller does after a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing more: redraw.
    None,
    /// Leave.
    Quit,
    /// Write a policy (on the advice view): replay, the profiler's suggestions; live, the
    /// candidates whose verdict so far is safe.
    WritePolicy,
}

/// Replay: where a seek goes that neither the index nor the reader from the start has
/// reached yet. The view waits, saying so, and goes there as soon as one of them does
/// ([`App::apply`]): a seek never lands anywhere else unasked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seeking {
    /// To this time, ns from the trace's start.
    To(u64),
    /// To the trace's end, not known until the index or the reader gets there.
    End,
}

/// Per list view: the selected row and the sort column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListUi {
    /// Selected row.
    pub selected: usize,
    /// Sort column.
    pub sort: usize,
}

/// What the user is looking at.
#[derive(Clone, Debug)]
pub struct Ui {
    /// The view shown.
    pub tab: Tab,
    /// Per list view (colors, handlers, states), by tab index.
    pub lists: [ListUi; 6],
    /// The name filter (`/`), applied to every list.
    pub filter: String,
    /// Whether keys are typing into the filter.
    pub editing_filter: bool,
    /// Whether the detail pane is open (Enter).
    pub detail: bool,
    /// Whether help is shown (`?`).
    pub help: bool,
    /// Paused: live, the view stops following; replay, playback stops.
    pub paused: bool,
    /// Replay speed, an index into [`SPEEDS`].
    pub speed: usize,
    /// Replay: the position, ns from the trace's start (the view shows the period holding it).
    pub position_ns: u64,
    /// Replay: a seek waiting for the index to get there (the position is its time).
    pub seeking: Option<Seeking>,
    /// Replay: typing a time to go to (`g`).
    pub goto: Option<String>,
    /// Live, paused: the snapshot shown.
    pub frozen: Option<usize>,
    /// A message for the user (a policy written, a bad time typed).
    pub message: Option<String>,
}

/// The whole app: model and view state.
#[derive(Clone, Debug)]
pub struct App {
    /// What is known.
    pub model: Model,
    /// What is looked at.
    pub ui: Ui,
    /// Colours, or none (`NO_COLOR`).
    pub theme: Theme,
}

impl App {
    /// An app over `model`, on the overview, playing at 1x.
    pub fn new(model: Model) -> App {
        let mut lists = [ListUi {
            selected: 0,
            sort: 2,
        }; 6];
        if model.is_replay() {
            // The profiler's suggestions by rank.
            lists[Tab::Advice.index()].sort = 0;
        }
        App {
            model,
            ui: Ui {
                tab: Tab::Overview,
                lists,
                filter: String::new(),
                editing_filter: false,
                detail: false,
                help: false,
                paused: false,
                speed: 2,
                position_ns: 0,
                seeking: None,
                goto: None,
                frozen: None,
                message: None,
            },
            theme: Theme { color: true },
        }
    }

    /// Takes in what a source said; a seek that was waiting for the index goes where it was
    /// asked to once the index (or the reader from the start) has got there, or once the
    /// trace's end is known to come before it.
    pub fn apply(&mut self, event: Event) {
        self.model.apply(event);
        let Some(seeking) = self.ui.seeking else {
            return;
        };
        let end_known = self.model.loaded || self.model.indexed;
        match seeking {
            Seeking::To(ns) if ns <= self.end_ns() || end_known => self.seek_to(ns),
            Seeking::End if end_known => self.seek_to(u64::MAX),
            _ => {}
        }
    }

    /// Advances replay by `elapsed_ns` of real time at the current speed (not while a seek
    /// waits for the index).
    pub fn tick(&mut self, elapsed_ns: u64) {
        if self.model.is_replay() && !self.ui.paused && self.ui.seeking.is_none() {
            let step = (elapsed_ns as f64 * SPEEDS[self.ui.speed]) as u64;
            let end = self.end_ns();
            self.ui.position_ns = (self.ui.position_ns + step).min(end);
            let end_known = self.model.loaded || self.model.indexed;
            if end_known && self.ui.position_ns >= end {
                self.ui.paused = true;
            }
        }
    }

    /// Replay: the last time a seek can go to now: the end of the furthest period indexed
    /// or read (the trace's end once it is indexed).
    pub fn end_ns(&self) -> u64 {
        self.model.replay_end_ns().saturating_sub(1)
    }

    /// The snapshot shown: live, its index in the history; replay, the index of its period
    /// (which may not have been read yet). `None` before there is anything to show, and
    /// while a seek waits for the index.
    pub fn cursor(&self) -> Option<usize> {
        if self.model.is_replay() {
            if self.model.replay_end_ns() == 0 || self.ui.seeking.is_some() {
                return None;
            }
            return Some((self.ui.position_ns / PERIOD_NS) as usize);
        }
        let n = self.model.snapshots.len();
        if n == 0 {
            return None;
        }
        Some(self.ui.frozen.unwrap_or(n - 1).min(n - 1))
    }

    /// The snapshot shown and the consecutive ones before it, oldest first (live: the
    /// history up to it; replay: the periods read without a gap up to it). Empty while the
    /// period shown has not been read.
    pub fn shown(&self) -> &[Snapshot] {
        match self.cursor() {
            None => &[],
            Some(c) if self.model.is_replay() => self.model.periods.through(c as u64),
            Some(c) => &self.model.snapshots[..=c],
        }
    }

    /// The numbers shown: the window ending at the snapshot shown.
    pub fn window(&self) -> Window {
        let shown = self.shown();
        match shown.len() {
            0 => Window::default(),
            n => Window::ending_at(shown, n - 1),
        }
    }

    /// Replay: a period the seeker should read, because the view stands where the window
    /// it shows, or the next few periods, have not been read. A seek waiting for the index
    /// asks at once (the seeker holds a wish until its index gets there, and reads it
    /// then); otherwise `None` before the index has got anywhere.
    pub fn wanted(&self) -> Option<u64> {
        if !self.model.is_replay() {
            return None;
        }
        match self.ui.seeking {
            Some(Seeking::To(ns)) => return Some(ns / PERIOD_NS),
            Some(Seeking::End) => return None,
            None => {}
        }
        let last = (self.model.length_ns? / PERIOD_NS).checked_sub(1)?;
        let c = (self.cursor()? as u64).min(last);
        let first = c.saturating_sub(SEEK_BEFORE - 1);
        let ahead = (c + PLAY_AHEAD).min(last);
        (!self.model.periods.holds(first, ahead)).then_some(c)
    }

    /// The list of `tab`, arranged as the user asked.
    pub fn table(&self, tab: Tab, window: &Window) -> Option<Table> {
        let mut t = match tab {
            Tab::Colors => rows::colors(window, &self.model.groups),
            Tab::Handlers => rows::handlers(window),
            Tab::States => rows::states(window),
            Tab::Advice => match (&self.model.analysis, self.model.is_replay()) {
                (_, false) => {
                    let so_far = Window::of(self.shown());
                    advice::live(&so_far, &self.model.groups)
                }
                (Some(Ok(a)), true) => advice::replay(a),
                (Some(Err(e)), true) => Table {
                    note: Some(format!("the profiler could not analyze this trace: {e}")),
                    ..Table::default()
                },
                (None, true) => Table {
                    note: Some("the profiler is analyzing the whole trace…".to_owned()),
                    ..Table::default()
                },
            },
            Tab::Overview | Tab::Speedup => return None,
        };
        t.arrange(self.ui.lists[tab.index()].sort, &self.ui.filter);
        Some(t)
    }

    /// The selected row of the current tab, clamped to the rows there are.
    pub fn selected(&self, rows: usize) -> usize {
        self.ui.lists[self.ui.tab.index()]
            .selected
            .min(rows.saturating_sub(1))
    }

    /// Handles one key; the one place keys mean something.
    pub fn key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c')) {
            return Action::Quit;
        }
        if self.ui.editing_filter {
            match key.code {
                KeyCode::Enter => self.ui.editing_filter = false,
                KeyCode::Esc => {
                    self.ui.editing_filter = false;
                    self.ui.filter.clear();
                }
                KeyCode::Backspace => {
                    self.ui.filter.pop();
                }
                KeyCode::Char(c) => self.ui.filter.push(c),
                _ => {}
            }
            return Action::None;
        }
        if let Some(goto) = &mut self.ui.goto {
            match key.code {
                KeyCode::Enter => {
                    let text = std::mem::take(goto);
                    self.ui.goto = None;
                    match parse_time(&text) {
                        Some(ns) => self.seek_to(ns),
                        None => {
                            self.ui.message = Some(format!(
                                "not a time: {text:?} (seconds, as 12.5, or minutes:seconds, as 1:02.5)"
                            ))
                        }
                    }
                }
                KeyCode::Esc => self.ui.goto = None,
                KeyCode::Backspace => {
                    goto.pop();
                }
                KeyCode::Char(c) if c.is_ascii_digit() || c == '.' || c == ':' => goto.push(c),
                _ => {}
            }
            return Action::None;
        }
        self.ui.message = None;
        if self.ui.help {
            // Any key closes help; q still quits.
            self.ui.help = false;
            return if matches!(key.code, KeyCode::Char('q')) {
                Action::Quit
            } else {
                Action::None
            };
        }
        let shift = key.modifiers.contains(KeyModifiers::SHIFT);
        match key.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Esc => {
                if self.ui.seeking.is_some() {
                    // Stay at what can be shown now.
                    self.ui.seeking = None;
                    self.ui.position_ns = self.ui.position_ns.min(self.end_ns());
                } else if self.ui.detail {
                    self.ui.detail = false;
                } else if !self.ui.filter.is_empty() {
                    self.ui.filter.clear();
                } else {
                    return Action::Quit;
                }
            }
            KeyCode::Char('?') => self.ui.help = true,
            KeyCode::Tab => self.switch((self.ui.tab.index() + 1) % Tab::ALL.len()),
            KeyCode::BackTab => {
                self.switch((self.ui.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len())
            }
            KeyCode::Char(c @ '1'..='9') => {
                let i = c as usize - '1' as usize;
                if i < Tab::ALL.len() {
                    self.switch(i);
                }
            }
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::PageDown => self.move_selection(10),
            KeyCode::PageUp => self.move_selection(-10),
            KeyCode::Enter => self.ui.detail = !self.ui.detail,
            KeyCode::Char('s') => {
                let cols = self
                    .table(self.ui.tab, &Window::default())
                    .map_or(1, |t| t.columns.len());
                let l = &mut self.ui.lists[self.ui.tab.index()];
                l.sort = (l.sort + 1) % cols;
            }
            KeyCode::Char('/') => self.ui.editing_filter = true,
            KeyCode::Char(' ') => self.toggle_pause(),
            KeyCode::Char('+') | KeyCode::Char('=') => {
                self.ui.speed = (self.ui.speed + 1).min(SPEEDS.len() - 1)
            }
            KeyCode::Char('-') => self.ui.speed = self.ui.speed.saturating_sub(1),
            KeyCode::Char('[') => self.step(-1),
            KeyCode::Char(']') => self.step(1),
            KeyCode::Left | KeyCode::Char('h') => self.seek_by(if shift { -10 } else { -1 }),
            KeyCode::Right | KeyCode::Char('l') => self.seek_by(if shift { 10 } else { 1 }),
            KeyCode::Char('H') => self.seek_by(-10),
            KeyCode::Char('L') => self.seek_by(10),
            KeyCode::Home => self.seek_to(0),
            KeyCode::End => self.seek_to(u64::MAX),
            KeyCode::Char('g') if self.model.is_replay() => self.ui.goto = Some(String::new()),
            KeyCode::Char('w') if self.ui.tab == Tab::Advice => return Action::WritePolicy,
            _ => {}
        }
        Action::None
    }

    fn switch(&mut self, tab: usize) {
        self.ui.tab = Tab::ALL[tab];
        self.ui.detail = false;
    }

    fn move_selection(&mut self, by: isize) {
        let window = self.window();
        let rows = self.table(self.ui.tab, &window).map_or(0, |t| t.rows.len());
        let l = &mut self.ui.lists[self.ui.tab.index()];
        let cur = l.selected.min(rows.saturating_sub(1)) as isize;
        l.selected = (cur + by).clamp(0, rows.saturating_sub(1) as isize) as usize;
    }

    fn toggle_pause(&mut self) {
        self.ui.paused = !self.ui.paused;
        if !self.model.is_replay() {
            self.ui.frozen = if self.ui.paused {
                self.model.snapshots.len().checked_sub(1)
            } else {
                None
            };
        } else if !self.ui.paused && self.ui.position_ns >= self.end_ns() && self.model.loaded {
            // Play again from the start once at the end.
            self.ui.position_ns = 0;
        }
    }

    /// Replay: moves by `periods` periods and pauses there.
    pub fn step(&mut self, periods: i64) {
        if !self.model.is_replay() {
            // Live: step through the history while paused.
            let n = self.model.snapshots.len();
            if n == 0 {
                return;
            }
            self.ui.paused = true;
            let cur = self.ui.frozen.unwrap_or(n - 1) as i64;
            self.ui.frozen = Some((cur + periods).clamp(0, n as i64 - 1) as usize);
            return;
        }
        self.ui.paused = true;
        let period = self.model.period_ns().max(1);
        let index = (self.ui.position_ns / period) as i64 + periods;
        let index = index.max(0) as u64;
        self.seek_to(index * period);
    }

    /// Replay: moves by `secs` seconds.
    pub fn seek_by(&mut self, secs: i64) {
        if !self.model.is_replay() {
            return;
        }
        let delta = secs.unsigned_abs() * 1_000_000_000;
        let to = if secs < 0 {
            self.ui.position_ns.saturating_sub(delta)
        } else {
            self.ui.position_ns.saturating_add(delta)
        };
        self.seek_to(to);
    }

    /// Replay: goes to `ns` from the start (`u64::MAX`: the end). Where neither the index nor
    /// the reader from the start has got yet, the view waits for them ([`Seeking`]); past
    /// the trace's known end, it goes to the end and says so.
    pub fn seek_to(&mut self, ns: u64) {
        if !self.model.is_replay() {
            return;
        }
        let end = self.end_ns();
        self.ui.seeking = None;
        if ns <= end {
            self.ui.position_ns = ns;
        } else if self.model.loaded || self.model.indexed {
            self.ui.position_ns = end;
            if ns != u64::MAX {
                self.ui.message = Some(format!(
                    "the trace ends at {}: showing its last period",
                    crate::fmt::clock(self.model.replay_end_ns())
                ));
            }
        } else if ns == u64::MAX {
            self.ui.seeking = Some(Seeking::End);
        } else {
            self.ui.position_ns = ns;
            self.ui.seeking = Some(Seeking::To(ns));
        }
    }
}

impl App {
    /// Writes a policy into `dir` as `hue-recolor.toml` (or `hue-recolor-N.toml` if that
    /// exists: never over a file the user has) and says so: in replay the profiler's
    /// suggested policy, live the rules the candidates seen so far allow
    /// ([`advice::live_policy`]).
    pub fn write_policy(&mut self, dir: &std::path::Path) {
        if let Mode::Live { addr } = &self.model.mode {
            let so_far = match self.cursor() {
                Some(c) => Window::of(&self.model.snapshots[..=c]),
                None => Window::default(),
            };
            let (text, written, left_out) =
                advice::live_policy(&so_far, &self.model.groups, &addr.to_string());
            if written == 0 {
                self.ui.message = Some(format!(
                    "no handler is safe to recolor from what was seen so far ({left_out} share \
                     state with others): nothing written; `hue suggest` on a trace says more"
                ));
                return;
            }
            let Some(path) = free_policy_path(dir) else {
                self.ui.message = Some(format!("too many hue-recolor files in {}", dir.display()));
                return;
            };
            self.ui.message = Some(match write_new(&path, &text) {
                // Where and how to try it first: a narrow terminal cuts the rest.
                Ok(()) => format!(
                    "wrote {}: try HUE_RECOLOR={} your-program ({written} rule{} from the live \
                     look, {left_out} not safe so far left out; check first: hue suggest on a \
                     trace)",
                    path.display(),
                    path.display(),
                    if written == 1 { "" } else { "s" },
                ),
                Err(e) => format!("cannot write {}: {e}", path.display()),
            });
            return;
        }
        let Some(Ok(a)) = &self.model.analysis else {
            self.ui.message = Some("the profiler has not finished analyzing the trace".into());
            return;
        };
        let path = free_policy_path(dir);
        let Some(path) = path else {
            self.ui.message = Some(format!("too many hue-recolor files in {}", dir.display()));
            return;
        };
        let what = if a.report.suggestions.is_empty() {
            "no suggestions: wrote the policy the trace ran under"
        } else if a.report.advised != a.report.policy {
            "nothing to gain on the traced machine: wrote the policy the trace ran under, the suggestions as comments,"
        } else {
            "wrote the suggested policy"
        };
        self.ui.message = Some(match write_new(&path, &a.report.advised_toml()) {
            Ok(()) => format!(
                "{what} to {}; try it: HUE_RECOLOR={} your-program",
                path.display(),
                path.display()
            ),
            Err(e) => format!("cannot write {}: {e}", path.display()),
        });
    }
}

/// `hue-recolor.toml` in `dir`, or `hue-recolor-N.toml` if that exists (never a file the user
/// has); `None` after 100 of them.
fn free_policy_path(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    (0..100)
        .map(|i| {
            dir.join(if i == 0 {
                "hue-recolor.toml".to_owned()
            } else {
                format!("hue-recolor-{i}.toml")
            })
        })
        .find(|p| !p.exists())
}

/// Writes `text` into a new file at `path`; fails rather than replace one that appeared since
/// [`free_policy_path`] looked.
fn write_new(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?
        .write_all(text.as_bytes())
}

/// `12.5` (seconds) or `1:02.5` (minutes and seconds) in nanoseconds.
fn parse_time(text: &str) -> Option<u64> {
    let (min, sec) = match text.split_once(':') {
        Some((m, s)) => (m.parse::<u64>().ok()?, s),
        None => (0, text),
    };
    let sec: f64 = sec.parse().ok()?;
    if !(sec.is_finite() && sec >= 0.0) {
        return None;
    }
    Some(min * 60_000_000_000 + (sec * 1e9) as u64)
}
