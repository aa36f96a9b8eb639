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
    let totals_height = 1 + window
        .machine
        .as_ref()
        .map_or(0, |m| machine_line(m).len() as u16);
    let [bars, spark, totals, hot] = Layout::vertical([
        Constraint::Length(shown + 4),
        Constraint::Length(3),
        Constraint::Length(totals_height),
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
    // The text beside a bar: " 82% busy  31% serial   3% cpu-wait  48.2k cb/s".
    const TEXT: usize = 52;
    let bar_width = (inner.width as usize).saturating_sub(TEXT).clamp(10, 40);
    // With room to spare, each worker's busy share per period, oldest left.
    let history = (inner.width as usize).saturating_sub(bar_width + TEXT + 2);
    let periods = app.shown();
    let past = &periods[periods.len().saturating_sub(history)..];
    let mut lines = Vec::new();
    for k in w.workers.iter().take(shown) {
        let span = w.span_ns.max(1) as f64;
        let busy = (k.busy_ns as f64 / span).min(1.0);
        // Serialization-bound time is idle time (searching or asleep; nearly all asleep, after
        // a spin of at most 10 µs): it is drawn instead of that much of the sleep.
        let serial_ns = k.serial_bound_ns.unwrap_or(0);
        let serial = (serial_ns as f64 / span).min(1.0 - busy);
        let wait = (k.cpu_wait_ns as f64 / span).min(1.0 - busy - serial);
        let parked =
            (k.parked_ns.saturating_sub(serial_ns) as f64 / span).min(1.0 - busy - serial - wait);
        let cells = |x: f64| (x * bar_width as f64).round() as usize;
        let b = cells(busy);
        let s = cells(serial).min(bar_width.saturating_sub(b));
        let c = cells(wait).min(bar_width.saturating_sub(b + s));
        let p = cells(parked).min(bar_width.saturating_sub(b + s + c));
        let idle = bar_width.saturating_sub(b + s + c + p);
        let serial_text = match k.serial_bound_ns {
            Some(_) => fmt::pct(serial),
            None => "-".to_owned(),
        };
        lines.push(Line::from(vec![
            Span::raw(format!("w{:<3}", k.worker)),
            Span::styled(theme::BUSY.to_string().repeat(b), theme.busy()),
            Span::styled(theme::SERIAL.to_string().repeat(s), theme.serial()),
            Span::styled(theme::CPU_WAIT.to_string().repeat(c), theme.cpu_wait()),
            Span::styled(theme::IDLE.to_string().repeat(idle), theme.idle()),
            Span::raw(theme::PARKED.to_string().repeat(p)),
            Span::raw(format!(
                " {:>4} busy {:>4} serial {:>4} cpu-wait {:>6} cb/s",
                fmt::pct(busy),
                serial_text,
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
        Span::styled(format!("{} serial-bound  ", theme::SERIAL), theme.serial()),
        Span::styled(format!("{} cpu-wait  ", theme::CPU_WAIT), theme.cpu_wait()),
        Span::styled(format!("{} no callback  ", theme::IDLE), theme.idle()),
        Span::raw("blank: asleep"),
    ]));
    let measured = w.workers.iter().any(|k| k.serial_bound_ns.is_some());
    let mut meaning = if measured {
        "serial-bound: idle while another worker held a color with callbacks waiting".to_owned()
    } else {
        "serial-bound: not measured (the program's runtime predates it)".to_owned()
    };
    // Replayed, it is computed from the callbacks' records, not measured by the workers
    // (hue_formats' `aggregate/serial_bound.rs`): said where there is room.
    const FROM_TRACE: &str = " (replay: from the callbacks' queued and start times)";
    if measured
        && app.model.is_replay()
        && meaning.chars().count() + FROM_TRACE.chars().count() <= inner.width as usize
    {
        meaning.push_str(FROM_TRACE);
    }
    lines.push(Line::from(Span::styled(meaning, theme.dim())));
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(inner, buf);
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

/// The totals line: callbacks/s, active colors, conflicts, panics, records dropped and, live,
/// snapshots missed; in shorter words where the long ones do not fit in `width` (a wrapped
/// line would push the machine's last line out of its box).
fn totals_line(app: &App, w: &Window, width: usize) -> String {
    let missed = if app.model.is_replay() {
        String::new()
    } else {
        format!("  missed {}", w.dropped_snapshots + app.model.missed)
    };
    let [rate, colors] = [
        fmt::count(w.per_sec(w.callbacks)),
        w.active_colors.to_string(),
    ];
    let rest = format!(
        "conflicts {}  panics {}  dropped {}{missed}",
        w.conflicts, w.panics, w.dropped_records
    );
    let long = format!(" callbacks/s {rate}  active colors {colors}  {rest}");
    if long.chars().count() <= width {
        long
    } else {
        format!(" cb/s {rate}  colors {colors}  {rest}")
    }
}

fn render_totals(app: &App, w: &Window, theme: Theme, area: Rect, buf: &mut Buffer) {
    let bad = w.conflicts > 0 || w.panics > 0 || w.dropped_records > 0;
    let style = if bad {
        theme.hot()
    } else {
        ratatui::style::Style::new()
    };
    let mut lines = vec![Line::from(totals_line(app, w, area.width.into())).style(style)];
    if let Some(m) = &w.machine {
        lines.extend(machine_line(m).into_iter().map(Line::from));
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(area, buf);
}

/// The machine lines: what the process and other processes used over the window, and what
/// that leaves this program on this machine (`MachineUse::speedup_bound`, the rule `hue demo`
/// and `hue suggest` apply to a trace), worded as qualified as they word it. One to three
/// lines, each short enough for an 80-column terminal, so nothing is cut off.
pub fn machine_line(m: &hue_profiler::MachineUse) -> Vec<String> {
    let others = m.other_process_cores().map_or_else(
        || ", others not measured".to_owned(),
        |o| format!(", others {o:.2}"),
    );
    let mut lines = vec![format!(
        " machine, last {}: process {:.2} of {} cores{others}",
        fmt::dur(m.wall_ns as f64),
        m.process_cores(),
        m.cores
    )];
    match m.speedup_bound() {
        Some(_) if m.mostly_idle() && !m.cpu_held_workers_back() => {
            lines[0].push_str(": mostly idle,");
            lines.push("   so the machine is not what holds it back".to_owned());
        }
        Some(b) => lines.push(format!(
            "   → on this machine at most {b:.2}x this throughput, whatever the coloring"
        )),
        None => {}
    }
    if let Some(share) = m.workers_cpu_wait_share()
        && m.cpu_held_workers_back()
    {
        lines.push(format!(
            "   workers waited for a CPU {} of their ready time: the cores held them back",
            fmt::pct(share)
        ));
    }
    lines
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
    // Short enough that at 80 columns the box's four lines hold it all.
    let mut lines = vec![Line::from(vec![
        Span::styled(if core >= HOT_COLOR { "! " } else { "  " }, theme.hot()),
        Span::styled(names::color(top, &app.model.groups), theme.heading()),
        Span::raw(format!(
            "  busy {} of a core  serial wait {}/callback  {}/s",
            fmt::pct(core),
            fmt::dur(if top.callbacks == 0 {
                0.0
            } else {
                top.serial_wait_ns as f64 / top.callbacks as f64
            }),
            fmt::count(w.per_sec(top.callbacks))
        )),
    ])];
    // Where the box is too short for every line (a short terminal, many workers), the bound
    // is said in fewer words and the busiest handlers (the Handlers view lists them) go.
    let inner = block.inner(area);
    let fits = |lines: &[Line]| {
        let width = usize::from(inner.width.max(1));
        let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(width)).sum();
        rows <= usize::from(inner.height)
    };
    let mut bound_short = None;
    if top.busy_ns > 0 && total > 0 {
        let bound = total as f64 / top.busy_ns as f64;
        let share = fmt::pct(top.busy_ns as f64 / total as f64);
        lines.push(Line::from(format!(
            "  it holds {share} of the work: as colored, no number of cores runs this mix of \
             work more than {bound:.1}x faster than one core (color bound)"
        )));
        bound_short = Some(Line::from(format!(
            "  holds {share} of the work: at most {bound:.1}x one core's speed (color bound)"
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
            "  busiest handlers, share of all work: {}",
            list.join(", ")
        )));
        if !fits(&lines) {
            lines.pop();
        }
    }
    if let Some(short) = bound_short
        && !fits(&lines)
    {
        lines[1] = short;
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: true })
        .block(block)
        .render(area, buf);
}
