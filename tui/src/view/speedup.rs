//! Predicted speedup by core count: the ideal line, the coloring as recorded, with the
//! suggestions, and the bound no schedule beats.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph, Widget, Wrap};

use crate::App;
use crate::source::analysis::CORES;

/// Draws the speedup chart of `app`'s analysis into `area`.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" predicted speedup by cores (x: cores, log scale; y: speedup over one core) ");
    let a = match (&app.model.analysis, app.model.is_replay()) {
        (_, false) => {
            Paragraph::new(
                "Speedup by core count is predicted by simulating a trace: record one \
                 (HUE_TRACE_FILE=run.hue your-program) and replay it with hue top --replay run.hue. \
                 Live, the Advice view shows the color bound.",
            )
            .wrap(Wrap { trim: true })
            .block(block)
            .render(area, buf);
            return;
        }
        (None, true) => {
            Paragraph::new("the profiler is simulating the trace on 1 to 64 cores…")
                .block(block)
                .render(area, buf);
            return;
        }
        (Some(Err(e)), true) => {
            Paragraph::new(format!("the profiler could not analyze this trace: {e}"))
                .wrap(Wrap { trim: true })
                .block(block)
                .render(area, buf);
            return;
        }
        (Some(Ok(a)), true) => a,
    };
    let x = |cores: usize| (cores as f64).log2();
    let ideal: Vec<(f64, f64)> = CORES.iter().map(|&n| (x(n), n as f64)).collect();
    let recorded: Vec<(f64, f64)> = a
        .recorded
        .iter()
        .map(|p| (x(p.cores), p.burdened))
        .collect();
    let bound: Vec<(f64, f64)> = a.recorded.iter().map(|p| (x(p.cores), p.bound)).collect();
    let suggested: Option<Vec<(f64, f64)>> = a
        .suggested
        .as_ref()
        .map(|s| s.iter().map(|p| (x(p.cores), p.burdened)).collect());
    let top = a
        .recorded
        .iter()
        .chain(a.suggested.iter().flatten())
        .map(|p| p.bound.max(p.burdened))
        .fold(1.0f64, f64::max);
    // Headroom above the highest line: one drawn on the chart's upper bound is not seen.
    let top = (top * 1.1).ceil().max(2.0);
    let ideal: Vec<(f64, f64)> = ideal.into_iter().filter(|(_, y)| *y <= top).collect();
    let mut sets = vec![
        Dataset::default()
            .name("ideal: N x on N cores")
            .marker(Marker::Dot)
            .graph_type(GraphType::Line)
            .style(theme.dim())
            .data(&ideal),
        Dataset::default()
            .name("bound: work ÷ max(span, color)")
            .marker(Marker::Bar)
            .graph_type(GraphType::Line)
            .style(theme.cpu_wait())
            .data(&bound),
        Dataset::default()
            .name("as recorded")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.busy())
            .data(&recorded),
    ];
    if let Some(s) = &suggested {
        sets.push(
            Dataset::default()
                .name("with the suggestions")
                .marker(Marker::Block)
                .graph_type(GraphType::Line)
                .style(theme.hot())
                .data(s),
        );
    }
    let at = |pts: &[hue_profiler::Point], n: usize| {
        pts.iter()
            .find(|p| p.cores == n)
            .map_or("-".to_owned(), |p| format!("{:.2}x", p.burdened))
    };
    // Each line's glyph as well as its colour, so that NO_COLOR tells them apart.
    let mut key = vec![
        Span::styled("• ideal  ", theme.dim()),
        Span::styled("▄ bound: work ÷ max(span, color)  ", theme.cpu_wait()),
        Span::styled("⠤ as recorded  ", theme.busy()),
    ];
    if suggested.is_some() {
        key.push(Span::styled("█ with the suggestions", theme.hot()));
    }
    let mut lines = vec![Line::from(key)];
    lines.push(Line::from(format!(
        "as recorded: {} at 2 cores, {} at 8, {} at 64 (burdened: each hand-off between workers pays its measured cost)",
        at(&a.recorded, 2),
        at(&a.recorded, 8),
        at(&a.recorded, 64)
    )));
    if let Some(s) = &a.suggested {
        lines.push(Line::from(format!(
            "with the suggestions: {} at 2 cores, {} at 8, {} at 64",
            at(s, 2),
            at(s, 8),
            at(s, 64)
        )));
    }
    if let Some(m) = &a.report.machine
        && let Some(b) = m.speedup_bound()
    {
        lines.push(Line::from(format!(
            "the traced machine ({} cores) had room for at most {b:.2}x over the traced run, whatever the coloring",
            m.cores
        )));
    }
    if let Some(v) = a.report.no_room {
        let clients = if a.report.validated_if_clients.is_some() {
            " (its other processes counted as its clients)"
        } else {
            ""
        };
        lines.push(Line::from(format!(
            "nothing to gain on the traced machine: at most {v:.2}x with the suggestions{clients}, and hue advises recoloring there only above {:.2}x (what it was measured to cost a server with no core free); the policy written keeps the traced coloring, the suggestions as comments",
            1.0 + hue_profiler::RECOLORING_TOLL
        )));
    }
    if let Some(sample) = &a.report.sample {
        lines.push(Line::from(sample.sentence()));
    }
    // The notes as tall as they wrap to (at most 8 lines), the chart the rest.
    let width = usize::from(area.width.max(1));
    let rows: usize = lines
        .iter()
        .map(|l| (l.width() * 11 / 10).max(1).div_ceil(width))
        .sum();
    let [chart, legend] =
        Layout::vertical([Constraint::Min(8), Constraint::Length(rows.min(8) as u16)]).areas(area);
    // ratatui spaces labels evenly: 1, 8 and 64 sit exactly at log2 0, 3 and 6.
    let labels: Vec<Span> = ["1", "8", "64"].into_iter().map(Span::raw).collect();
    let ylabels: Vec<Span> = [0.0, top / 2.0, top]
        .iter()
        .map(|v| Span::raw(format!("{v:.1}x")))
        .collect();
    Chart::new(sets)
        .block(block)
        .x_axis(
            Axis::default()
                .title("cores (1 2 4 8 16 32 64 evenly spaced)")
                .bounds([0.0, x(64)])
                .labels(labels)
                .style(Style::new()),
        )
        .y_axis(Axis::default().bounds([0.0, top]).labels(ylabels))
        // The legend goes under the chart, not over the lines it names.
        .legend_position(None)
        .render(chart, buf);
    Paragraph::new(lines)
        .wrap(Wrap { trim: true })
        .render(legend, buf);
}
