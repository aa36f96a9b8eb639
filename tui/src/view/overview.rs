//! The overview: each worker's time by what it did, utilization over time, totals, and the
//! hottest color with the bound it puts on speedup.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline, Widget, Wrap};

use super::theme::{self, Theme};
use crate::App;
use crate::fmt;
use crate::state::rows::HOT_COLOR;
use crate::state::window::utilization;
use crate::state::{Window, names};

/// Draws the overview of `app` into `area`.
pub fn render(app: &App, window: &Window, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let workers = window.workers.len().max(1) as u16;
    let shown = workers.min(area.height.saturating_sub(12).max(1));
    let [bars, spark, totals, hot] = Layout::vertical([
        Constraint::Length(shown + 3),
        Constraint::Length(3),
        Constraint::Length(2),
        Constraint::Min(4),
    ])
    .areas(area);
    render_workers(app, window, shown as usize, theme, bars, buf);
    render_history(app, theme, spark, buf);
    render_totals(app, window, theme, totals, buf);
    render_hottest(app, window, theme, hot, buf);
}

fn render_workers(app: &App, w: &Window, shown: usize, theme: Theme, area: Rect, buf: &mut Buffer) {
    let block = Block::default().borders(Borders::ALL).title(format!(
        " workers: time over the last {} ",
        fmt::dur(w.span_ns as f64)
    ));
    let inner = block.inner(area);
    block.render(area, buf);
    let bar_width = (inner.width as usize).saturating_sub(44).clamp(10, 40);
    // With room to spare, each worker's busy share per period, oldest left.
    let history = (inner.width as usize).saturating_sub(bar_width + 44 + 2);
    let periods = app.shown();
    let past = &periods[periods.len().saturating_sub(history)..];
    let mut lines = Vec::new();
    for k in w.workers.iter().take(shown) {
        let span = w.span_ns.max(1) as f64;
        let busy = (k.busy_ns as f64 / span).min(1.0);
        let wait = (k.cpu_wait_ns as f64 / span).min(1.0 - busy);
        let parked = (k.parked_ns as f64 / span).min(1.0 - busy - wait);
        let cells = |x: f64| (x * bar_width as f64).round() as usize;
        let (b, c) = (cells(busy), cells(wait));
        let p = cells(parked).min(bar_width.saturating_sub(b + c));
        let idle = bar_width.saturating_sub(b + c + p);
        lines.push(Line::from(vec![
            Span::raw(format!("w{:<3}", k.worker)),
            Span::styled(theme::BUSY.to_string().repeat(b), theme.busy()),
            Span::styled(theme::CPU_WAIT.to_string().repeat(c), theme.cpu_wait()),
            Span::styled(theme::IDLE.to_string().repeat(idle), theme.idle()),
            Span::raw(theme::PARKED.to_string().repeat(p)),
            Span::raw(format!(
                " {:>4} busy {:>4} cpu-wait {:>6} cb/s",
                fmt::pct(busy),
                fmt::pct(wait),
                fmt::count(w.per_sec(k.callbacks))
            )),
            Span::styled(
                if history >= 10 {
                    let cells: String = past
                        .iter()
                        .map(|s| {
                            let busy = s
                                .workers
                                .iter()
                                .find(|x| x.worker == k.worker)
                                .map_or(0.0, |x| x.busy_ns as f64 / s.period_ns.max(1) as f64);
                            LEVELS[((busy.clamp(0.0, 1.0) * 8.0).round() as usize).min(8)]
                        })
                        .collect();
                    format!("  {cells}")
                } else {
                    String::new()
                },
                theme.busy(),
            ),
        ]));
    }
    if w.workers.len() > shown {
        lines.push(Line::from(format!(
            "    … {} more workers (a taller terminal shows them)",
            w.workers.len() - shown
        )));
    }
    lines.push(Line::from(vec![
        Span::styled(format!("{} running callbacks  ", theme::BUSY), theme.busy()),
        Span::styled(
            format!("{} waiting for a CPU  ", theme::CPU_WAIT),
            theme.cpu_wait(),
        ),
        Span::styled(format!("{} no callback  ", theme::IDLE), theme.idle()),
        Span::raw("blank: asleep"),
    ]));
    Paragraph::new(lines).render(inner, buf);
}

/// Busy shares as block heights, empty to full.
const LEVELS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

fn render_history(app: &App, theme: Theme, area: Rect, buf: &mut Buffer) {
    let width = area.width.saturating_sub(2) as usize;
    let shown = app.shown();
    let snaps = &shown[shown.len().saturating_sub(width)..];
    let data: Vec<u64> = snaps
        .iter()
        .map(|s| (utilization(s) * 100.0).round() as u64)
        .collect();
    let secs = snaps.iter().map(|s| s.period_ns).sum::<u64>();
    Sparkline::default()
        .block(Block::default().borders(Borders::ALL).title(format!(
            " workers busy, one column per period, last {} (full height: all busy) ",
            fmt::dur(secs as f64)
        )))
        .data(&data)
        .max(100)
        .style(theme.busy())
        .render(area, buf);
}

fn render_totals(app: &App, w: &Window, theme: Theme, area: Rect, buf: &mut Buffer) {
    let mut spans = vec![Span::raw(format!(
        " callbacks/s {}  active colors {}  conflicts {}  panics {}  dropped {}",
        fmt::count(w.per_sec(w.callbacks)),
        w.active_colors,
        w.conflicts,
        w.panics,
        w.dropped_records
    ))];
    if !app.model.is_replay() {
        spans.push(Span::raw(format!(
            "  missed {}",
            w.dropped_snapshots + app.model.missed
        )));
    }
    let bad = w.conflicts > 0 || w.panics > 0 || w.dropped_records > 0;
    let style = if bad {
        theme.hot()
    } else {
        ratatui::style::Style::new()
    };
    let mut lines = vec![Line::from(spans).style(style)];
    // The machine line needs the trace's machine samples: replay only, once analyzed.
    if let Some(Ok(a)) = &app.model.analysis
        && let Some(m) = &a.report.machine
    {
        let others = m
            .other_process_cores()
            .map_or(String::new(), |o| format!(", others {o:.2}"));
        let ceiling = m.speedup_bound().map_or(String::new(), |b| {
            format!(" → ceiling {b:.2}x over the run")
        });
        lines.push(Line::from(format!(
            " machine (whole run): process {:.2} of {} cores{others}{ceiling}",
            m.process_cores(),
            m.cores
        )));
    }
    Paragraph::new(lines).render(area, buf);
}

fn render_hottest(app: &App, w: &Window, theme: Theme, area: Rect, buf: &mut Buffer) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" hottest color ");
    let Some(top) = w
        .colors
        .iter()
        .max_by_key(|c| (c.busy_ns, std::cmp::Reverse(c.color)))
    else {
        Paragraph::new("no callbacks ran in this window")
            .block(block)
            .render(area, buf);
        return;
    };
    let core = w.of_a_core(top.busy_ns);
    let total = w.busy_ns();
    let mut lines = vec![Line::from(vec![
        Span::styled(if core >= HOT_COLOR { "! " } else { "  " }, theme.hot()),
        Span::styled(names::color(top, &app.model.groups), theme.heading()),
        Span::raw(format!(
            "  busy {} of one core   serial wait {} per callback   {}/s",
            fmt::pct(core),
            fmt::dur(if top.callbacks == 0 {
                0.0
            } else {
                top.serial_wait_ns as f64 / top.callbacks as f64
            }),
            fmt::count(w.per_sec(top.callbacks))
        )),
    ])];
    if top.busy_ns > 0 && total > 0 {
        let bound = total as f64 / top.busy_ns as f64;
        lines.push(Line::from(format!(
            "  it holds {} of the work: with this coloring and this mix of work, no number of \
             cores makes the program more than {bound:.1}x faster than one core would (color bound)",
            fmt::pct(top.busy_ns as f64 / total as f64)
        )));
    }
    let mut handlers: Vec<_> = w.handlers.iter().filter(|h| h.busy_ns > 0).collect();
    handlers.sort_by_key(|h| (std::cmp::Reverse(h.busy_ns), h.name.as_str()));
    if !handlers.is_empty() {
        let list: Vec<String> = handlers
            .iter()
            .take(5)
            .map(|h| {
                format!(
                    "{} {}",
                    h.name,
                    fmt::pct(h.busy_ns as f64 / total.max(1) as f64)
                )
            })
            .collect();
        lines.push(Line::from(format!(
            "  busiest handlers (share of all work): {}",
            list.join(", ")
        )));
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: true })
        .block(block)
        .render(area, buf);
}
