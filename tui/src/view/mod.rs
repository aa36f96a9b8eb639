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
        // The status line grows (up to 3 lines) rather than cut a long message or problem.
        let said = status_text(self);
        let said_lines = said.as_ref().map_or(1, |(text, _)| {
            (text
                .chars()
                .count()
                .div_ceil(usize::from(area.width.max(1))))
            .clamp(1, 3) as u16
        });
        let [header, tabs, body, status] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(10),
            Constraint::Length(said_lines + 1),
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
                        filter: &self.ui.filter,
                        selected: self.selected(t.rows.len()),
                        sort: l.sort,
                        detail: self.ui.detail,
                        theme: self.theme,
                    }
                    .render(body, buf);
                }
            }
        }
        render_status(self, said, said_lines, status, buf);
        if self.ui.help {
            render_help(self, area, buf);
        }
    }
}

fn render_header(app: &App, area: Rect, buf: &mut Buffer) {
    let workers = app.model.workers();
    let period = app.model.period_ns();
    let mut facts = String::new();
    if workers > 0 {
        facts.push_str(&format!(
            "   {workers} worker{}",
            if workers == 1 { "" } else { "s" }
        ));
    }
    if period > 0 {
        facts.push_str(&format!("   period {}", fmt::dur(period as f64)));
    }
    let [left, right] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(8)]).areas(area);
    let text = match &app.model.mode {
        Mode::Live { addr } => format!("hue top — live {addr}{facts}"),
        Mode::Replay { path, header } => {
            let file = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            // The program (a whole command line, maybe) gives way first: the file, the
            // workers and the period stay whole.
            let rest = format!(" — replay {file}{facts}");
            let room = usize::from(left.width)
                .saturating_sub("hue top — ".chars().count() + rest.chars().count());
            let program = if header.program.chars().count() <= room {
                header.program.clone()
            } else {
                let mut p: String = header
                    .program
                    .chars()
                    .take(room.saturating_sub(1))
                    .collect();
                p.push('…');
                p
            };
            format!("hue top — {program}{rest}")
        }
    };
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
    // The filter where it fits (the lists' titles and, while typing, the status line say it
    // too).
    if !app.ui.filter.is_empty() || app.ui.editing_filter {
        let cursor = if app.ui.editing_filter { "▏" } else { "" };
        let text = format!("   filter: {}{cursor}", app.ui.filter);
        let used: usize = spans.iter().map(|s| s.width()).sum();
        if used + text.chars().count() <= usize::from(area.width) {
            spans.push(Span::raw(text));
        }
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

/// The first line of the status area: what is being typed, a message, a problem, or (live)
/// where the view stands; with its style.
fn status_text(app: &App) -> Option<(String, ratatui::style::Style)> {
    let theme = app.theme;
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
    if app.ui.editing_filter {
        Some((
            format!(
                "filter rows by name: {}▏  Enter keeps it, Esc clears it",
                app.ui.filter
            ),
            ratatui::style::Style::new(),
        ))
    } else if let Some(goto) = &app.ui.goto {
        Some((
            format!("go to (seconds, or m:ss.s), Enter to go, Esc to cancel: {goto}▏"),
            ratatui::style::Style::new(),
        ))
    } else if let Some(m) = &app.ui.message {
        Some((m.clone(), theme.hot()))
    } else if let Some(p) = problem {
        Some((p, theme.problem()))
    } else if !app.model.is_replay() {
        let state = match (app.ui.paused, app.cursor()) {
            (true, Some(c)) => {
                // Where in the history the view stands, so that a step shows it moved.
                let n = app.model.snapshots.len();
                let at = fmt::clock(app.model.snapshots[c].at_ns);
                match n - 1 - c {
                    0 => format!("paused at {at}, the latest: [ ] step, space follows again"),
                    back => format!(
                        "paused at {at}, {back} period{} back: [ ] step, space follows again",
                        if back == 1 { "" } else { "s" }
                    ),
                }
            }
            (true, None) => "paused: space follows again".to_owned(),
            (false, _) => "following".to_owned(),
        };
        Some((format!(" {state}"), ratatui::style::Style::new()))
    } else {
        None
    }
}

fn render_status(
    app: &App,
    said: Option<(String, ratatui::style::Style)>,
    said_lines: u16,
    area: Rect,
    buf: &mut Buffer,
) {
    let theme = app.theme;
    let [first, second] =
        Layout::vertical([Constraint::Length(said_lines), Constraint::Length(1)]).areas(area);
    if let Some((text, style)) = said {
        Paragraph::new(Span::styled(text, style))
            .wrap(Wrap { trim: false })
            .render(first, buf);
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
