//! Rendering: `impl Widget for &App`, one module per view, one table for every list.

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget, Wrap};

use crate::app::{App, SPEEDS, Seeking, Tab};
use crate::fmt;
use crate::state::{Link, Mode};

pub mod overview;
pub mod speedup;
pub mod table;
pub mod theme;

/// The smallest terminal `hue top` draws in.
pub const MIN_SIZE: (u16, u16) = (80, 24);

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
            let text = format!(
                "hue top needs a terminal of at least {}x{}; this one is {}x{}. Enlarge it, or press q to quit.",
                MIN_SIZE.0, MIN_SIZE.1, area.width, area.height
            );
            Paragraph::new(text)
                .wrap(Wrap { trim: true })
                .render(area, buf);
            return;
        }
        let [header, tabs, body, status] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(10),
            Constraint::Length(2),
        ])
        .areas(area);
        render_header(self, header, buf);
        render_tabs(self, tabs, buf);
        let window = self.window();
        if self.shown().is_empty() {
            render_waiting(self, body, buf);
        } else {
            match self.ui.tab {
                Tab::Overview => overview::render(self, &window, body, buf),
                Tab::Speedup => speedup::render(self, body, buf),
                tab => {
                    let t = self.table(tab, &window).unwrap_or_default();
                    let l = self.ui.lists[tab.index()];
                    table::List {
                        table: &t,
                        title: tab.title(),
                        selected: self.selected(t.rows.len()),
                        sort: l.sort,
                        detail: self.ui.detail,
                        theme: self.theme,
                    }
                    .render(body, buf);
                }
            }
        }
        render_status(self, status, buf);
        if self.ui.help {
            render_help(self, area, buf);
        }
    }
}

fn render_header(app: &App, area: Rect, buf: &mut Buffer) {
    let source = match &app.model.mode {
        Mode::Live { addr } => format!("live {addr}"),
        Mode::Replay { path, header } => format!(
            "{} — replay {}",
            header.program,
            path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned()
            )
        ),
    };
    let workers = app.model.workers();
    let period = app.model.period_ns();
    let mut text = format!("hue top — {source}");
    if workers > 0 {
        text.push_str(&format!(
            "   {workers} worker{}",
            if workers == 1 { "" } else { "s" }
        ));
    }
    if period > 0 {
        text.push_str(&format!("   period {}", fmt::dur(period as f64)));
    }
    let [left, right] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(8)]).areas(area);
    Paragraph::new(Span::styled(text, app.theme.heading())).render(left, buf);
    Paragraph::new("? help")
        .alignment(Alignment::Right)
        .render(right, buf);
}

fn render_tabs(app: &App, area: Rect, buf: &mut Buffer) {
    let mut spans = Vec::new();
    for (i, t) in Tab::ALL.iter().enumerate() {
        let text = format!(" {} {} ", i + 1, t.title());
        if *t == app.ui.tab {
            spans.push(Span::styled(text, app.theme.selected()));
        } else {
            spans.push(Span::raw(text));
        }
    }
    if !app.ui.filter.is_empty() || app.ui.editing_filter {
        let cursor = if app.ui.editing_filter { "▏" } else { "" };
        spans.push(Span::raw(format!("   filter: {}{cursor}", app.ui.filter)));
    }
    Paragraph::new(Line::from(spans)).render(area, buf);
}

fn render_waiting(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let lines: Vec<Line> = match (&app.model.mode, &app.model.link) {
        (Mode::Live { addr }, link) => {
            let why = match link {
                Link::Waiting(w) | Link::Lost(w) => w.clone(),
                Link::Connected => "connected; waiting for the first snapshot".to_owned(),
            };
            vec![
                Line::styled(
                    format!("Waiting for a hue program at {addr}."),
                    theme.heading(),
                ),
                Line::raw(""),
                Line::styled(why, theme.problem()),
                Line::raw(""),
                Line::raw("Turn telemetry on in the program you want to watch:"),
                Line::raw(format!("    HUE_TELEMETRY={addr} your-program")),
                Line::raw(format!("    hue demo --telemetry {addr}")),
                Line::raw("or call Builder::telemetry(addr) on its runtime."),
                Line::raw(""),
                Line::raw(
                    "This screen retries on its own and follows the program when it starts (or restarts).",
                ),
            ]
        }
        (Mode::Replay { path, .. }, _) if app.ui.seeking.is_some() => {
            let to = match app.ui.seeking {
                Some(Seeking::To(ns)) => fmt::clock(ns),
                _ => "the end".to_owned(),
            };
            // How far the index (or, without one, the reader from the start) has got.
            let (done, by) = if app.model.seek_failed.is_some() {
                ("read", "the reader")
            } else {
                ("indexed", "the index")
            };
            vec![
                Line::styled(
                    format!("Seeking to {to} in {}…", path.display()),
                    theme.heading(),
                ),
                Line::raw(""),
                Line::raw(format!(
                    "The trace is {done} up to {} so far; the view goes to {to} as soon as {by} \
                     gets there.",
                    fmt::clock(app.model.replay_end_ns())
                )),
                Line::raw(""),
                Line::styled(
                    "Esc: stay at what can be shown now; any other seek replaces this one.",
                    theme.dim(),
                ),
            ]
        }
        (Mode::Replay { path, .. }, _) => {
            if app.model.loaded {
                vec![Line::raw(format!(
                    "{} holds no callbacks, samples or accesses: nothing to replay.",
                    path.display()
                ))]
            } else if app.model.periods.is_empty() {
                vec![Line::raw(format!("reading {}…", path.display()))]
            } else {
                vec![Line::raw(format!(
                    "reading {} at {}…",
                    path.display(),
                    fmt::clock(app.ui.position_ns)
                ))]
            }
        }
    };
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(Block::default().borders(Borders::ALL))
        .render(area, buf);
}

fn render_status(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let [first, second] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    // First line: a message, a problem, or where the view stands.
    let problem = match (&app.model.mode, &app.model.link) {
        (Mode::Live { .. }, Link::Lost(why)) if !app.model.snapshots.is_empty() => {
            Some(format!("connection lost, reconnecting: {why}"))
        }
        (Mode::Replay { .. }, _) => app.model.stopped.clone().or_else(|| {
            app.model.seek_failed.as_ref().map(|why| {
                format!("cannot read ahead ({why}): periods show as the reader from the start gets there")
            })
        }),
        _ => None,
    };
    if let Some(goto) = &app.ui.goto {
        Paragraph::new(format!(
            "go to (seconds, or m:ss.s), Enter to go, Esc to cancel: {goto}▏"
        ))
        .render(first, buf);
    } else if let Some(m) = &app.ui.message {
        Paragraph::new(Span::styled(m.as_str(), theme.hot())).render(first, buf);
    } else if let Some(p) = problem {
        Paragraph::new(Span::styled(p, theme.problem())).render(first, buf);
    } else if !app.model.is_replay() {
        let state = if app.ui.paused {
            "paused: [ ] step through the history, space follows again"
        } else {
            "following"
        };
        Paragraph::new(format!(" {state}")).render(first, buf);
    }
    if app.model.is_replay() {
        render_replay_bar(app, second, buf);
    } else {
        Paragraph::new(Span::styled(
            " Tab/1-6 views  ↑↓ select  Enter detail  s sort  / filter  space pause  q quit",
            theme.dim(),
        ))
        .render(second, buf);
    }
}

fn render_replay_bar(app: &App, area: Rect, buf: &mut Buffer) {
    let end = app.model.replay_end_ns();
    let shown = match app.ui.seeking {
        Some(Seeking::To(ns)) => ns,
        Some(Seeking::End) => end,
        None => app
            .cursor()
            .map_or(0, |c| (c as u64 + 1) * crate::source::replay::PERIOD_NS),
    };
    let icon = if app.ui.paused { "⏸" } else { "▶" };
    let speed = SPEEDS[app.ui.speed];
    let speed = if speed < 1.0 {
        format!("{speed}x")
    } else {
        format!("{speed:.0}x")
    };
    let reading = if app.ui.seeking.is_some() {
        " seeking…"
    } else if app.model.loaded {
        ""
    } else {
        " reading…"
    };
    // Until the trace is read or indexed to its end, its end is not known: only how far
    // the readers got.
    let at_least = if app.model.loaded || app.model.indexed {
        ""
    } else {
        "≥"
    };
    let at = match app.ui.seeking {
        Some(Seeking::End) => "→ end".to_owned(),
        Some(Seeking::To(_)) => format!("→ {}", fmt::clock(shown)),
        None => fmt::clock(shown),
    };
    let left = format!(
        " {icon} {speed:>5}  {at} / {at_least}{}{reading} ",
        fmt::clock(end)
    );
    let right = if area.width >= 120 {
        "  space ⏯  [ ] step  ←→ 1 s  H L 10 s  g go to  +- speed"
    } else {
        " space [ ] ←→ H L g +-"
    };
    let gauge = (area.width as usize).saturating_sub(left.chars().count() + right.chars().count());
    let at = if end == 0 {
        0
    } else {
        ((shown.min(end) as f64 / end as f64) * gauge.saturating_sub(1) as f64).round() as usize
    };
    let bar: String = (0..gauge)
        .map(|i| match i.cmp(&at) {
            std::cmp::Ordering::Less => '━',
            std::cmp::Ordering::Equal => '●',
            std::cmp::Ordering::Greater => '─',
        })
        .collect();
    Paragraph::new(Line::from(vec![
        Span::raw(left),
        Span::styled(bar, app.theme.busy()),
        Span::styled(right, app.theme.dim()),
    ]))
    .render(area, buf);
}

fn render_help(app: &App, area: Rect, buf: &mut Buffer) {
    let mut lines = vec![
        "Tab, Shift-Tab, 1-6   switch views",
        "↑ ↓  j k  PgUp PgDn   select a row",
        "Enter                 detail of the selected row",
        "s                     sort by the next column",
        "/                     filter rows by name (Enter keeps, Esc clears)",
        "space                 pause / play (live: freeze the view)",
        "[ ]                   one period back / forward",
        "?                     this help; any key closes it",
        "q  Esc  Ctrl-C        quit",
        "w                     on Advice: write a policy (live: the safe ones)",
    ];
    if app.model.is_replay() {
        lines.extend([
            "+ -                   replay speed, 0.25x to 16x",
            "← →  h l              1 s back / forward",
            "H L  Shift-← →        10 s back / forward",
            "g                     go to a time; Home End: start, end",
            "Esc                   while a seek waits for the index: stay here",
        ]);
    }
    let w = 74.min(area.width);
    let h = (lines.len() as u16 + 4).min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    Clear.render(r, buf);
    let mut text: Vec<Line> = lines.into_iter().map(Line::raw).collect();
    text.push(Line::raw(""));
    text.push(Line::styled(
        "Numbers are over the last second of periods unless a view says otherwise.",
        app.theme.dim(),
    ));
    Paragraph::new(text)
        .block(Block::default().borders(Borders::ALL).title(" keys "))
        .render(r, buf);
}
