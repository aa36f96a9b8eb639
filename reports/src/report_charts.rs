//! The charts of the HTML report, as SVG strings to inline: utilization over time per worker
//! stacked by color, time per handler, serialization wait by color. Handlers take their
//! colour from [`palette::handler`] by their rank in the profile, as in the speedup charts;
//! the runtime's colors from [`palette::color_fills`], a palette of their own.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use hue_profiler::Profile;

use crate::chart::chart_error;
use crate::error::Result;
use crate::palette;
use crate::timeline::{WorkerTimeline, color_label};

/// The charts' width, pixels: the speedup chart's.
const WIDTH: u32 = crate::chart::SIZE.0;

/// Bars in the per-color wait chart at most (the worst waits), besides "other colors".
pub const WAIT_BARS: usize = 10;

fn rgb((r, g, b): (u8, u8, u8)) -> RGBColor {
    RGBColor(r, g, b)
}

fn svg(
    height: u32,
    draw: impl FnOnce(
        &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    ) -> std::result::Result<(), DrawingAreaErrorKind<std::io::Error>>,
) -> Result<String> {
    crate::chart::register_font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        draw(&root).map_err(chart_error)?;
        root.present().map_err(chart_error)?;
    }
    Ok(out)
}

/// The unit an axis up to `ns` reads best in: (ns per unit, short name, long name).
fn time_unit(ns: u64) -> (f64, &'static str, &'static str) {
    if ns >= 2_000_000_000 {
        (1e9, "s", "seconds")
    } else if ns >= 2_000_000 {
        (1e6, "ms", "milliseconds")
    } else {
        (1e3, "µs", "microseconds")
    }
}

/// Row height of the utilization chart, pixels.
const ROW: u32 = 80;

/// Per worker, the share of each time bin spent running each color, stacked.
pub fn utilization_svg(t: &WorkerTimeline, p: &Profile) -> Result<String> {
    let rows = t.rows.len() as u32;
    let fills: Vec<RGBColor> = palette::color_fills(&t.colors)
        .into_iter()
        .chain([palette::OTHER_COLORS])
        .map(rgb)
        .collect();
    let mut names: Vec<String> = t
        .colors
        .iter()
        .map(|&c| {
            p.colors.iter().find(|s| s.color == c).map_or_else(
                || format!("color {c:#x}"),
                |s| {
                    let handlers = if s.handlers.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " ({}{})",
                            s.handlers.join(", "),
                            if s.more_handlers { ", …" } else { "" }
                        )
                    };
                    format!("{}{handlers}", color_label(s))
                },
            )
        })
        .collect();
    let folded = p.colors.len().saturating_sub(t.colors.len()) as u64 + p.other_colors.colors;
    names.push(format!("{folded} other colors"));
    // "Other colors" takes a legend entry only when there are any.
    let legend_entries = if folded == 0 {
        names.len() - 1
    } else {
        names.len()
    };
    // The legend's places, row after row: its height is known before drawing.
    let mut places = Vec::with_capacity(legend_entries);
    let (mut x, mut y) = (160i32, 8i32);
    for name in names.iter().take(legend_entries) {
        let w = 30 + 7 * name.chars().count() as i32;
        if x + w > WIDTH as i32 - 10 && x > 160 {
            x = 160;
            y += 20;
        }
        places.push((x, y));
        x += w;
    }
    let legend_height = (y + 26) as u32;
    let height = 40 + rows * ROW + 56 + legend_height;
    // The time axis in the unit that gives its labels digits: s, ms or µs.
    let span = t.span.1 - t.span.0;
    let (scale, _, unit) = time_unit(span);
    let secs = span as f64 / scale;
    let bin = t.bin_width() as f64 / scale;
    let x_desc = format!("time since the first callback was queued, {unit}");
    svg(height, |root| {
        let (title, rest) = root.split_vertically(40);
        title.draw_text(
            "Utilization per worker over time, stacked by color",
            &("sans-serif", 20).into_font().color(&BLACK),
            (14, 10),
        )?;
        let (body, legend) = rest.split_vertically(rows * ROW + 56);
        let (plots, _) = body.split_vertically(rows * ROW + 56);
        let breaks: Vec<i32> = (1..rows).map(|r| (r * ROW) as i32).collect();
        let areas = plots.split_by_breakpoints(Vec::<i32>::new(), breaks);
        for (r, area) in areas.iter().enumerate() {
            let last = r + 1 == rows as usize;
            let mut chart = ChartBuilder::on(area)
                .margin_left(8)
                .margin_right(24)
                .margin_top(12)
                .x_label_area_size(if last { 52 } else { 0 })
                .y_label_area_size(150)
                .build_cartesian_2d(0f64..secs.max(1e-9), 0f64..1.0)?;
            // Rows touch: the 0% of one would sit on the 100% of the next.
            let percent = |v: &f64| {
                if *v < 0.01 && !last {
                    String::new()
                } else {
                    format!("{:.0}%", v * 100.0)
                }
            };
            let time_label = |v: &f64| {
                if secs < 20.0 {
                    format!("{v:.1}")
                } else {
                    format!("{v:.0}")
                }
            };
            let mut mesh = chart.configure_mesh();
            mesh.y_labels(3)
                .y_label_formatter(&percent)
                .y_desc(t.rows[r].0.as_str())
                .label_style(("sans-serif", 13))
                .axis_desc_style(("sans-serif", 14))
                .light_line_style(WHITE)
                .bold_line_style(RGBColor(230, 230, 230));
            if last {
                mesh.x_desc(x_desc.as_str())
                    .x_labels(12)
                    .x_label_formatter(&time_label);
            } else {
                mesh.x_labels(0);
            }
            mesh.draw()?;
            // Bottom to top: the busiest color first, "other colors" last.
            let mut below = vec![0f64; crate::timeline::BINS];
            for (slot, fill) in fills.iter().enumerate() {
                let above: Vec<f64> = (0..crate::timeline::BINS)
                    .map(|b| below[b] + t.share(r, b, slot))
                    .collect();
                if above != below {
                    let x = |b: usize| (b as f64 + 0.5) * bin;
                    let polygon: Vec<(f64, f64)> = (0..crate::timeline::BINS)
                        .map(|b| (x(b), above[b].min(1.0)))
                        .chain(
                            (0..crate::timeline::BINS)
                                .rev()
                                .map(|b| (x(b), below[b].min(1.0))),
                        )
                        .collect();
                    chart.draw_series(std::iter::once(Polygon::new(polygon, fill.filled())))?;
                }
                below = above;
            }
        }
        // The legend: a swatch and a name per color.
        for ((name, fill), &(x, y)) in names.iter().zip(&fills).zip(&places) {
            legend.draw(&Rectangle::new([(x, y), (x + 14, y + 14)], fill.filled()))?;
            legend.draw_text(
                name,
                &("sans-serif", 13).into_font().color(&BLACK),
                (x + 20, y),
            )?;
        }
        Ok(())
    })
}

/// Horizontal bars, one per row, top to bottom: `(label, value, fill, note)`, each bar's
/// `note` written at its end; `inner` (if any) a second, darker bar inside the first.
struct Bars<'a> {
    title: &'a str,
    /// What the axis measures; its unit (s, ms, µs) follows from the longest bar.
    x_desc: &'a str,
    rows: Vec<BarRow>,
}

struct BarRow {
    label: String,
    value: f64,
    inner: Option<f64>,
    fill: RGBColor,
    note: String,
}

fn bars(b: &Bars<'_>) -> Result<String> {
    let n = b.rows.len().max(1) as i32;
    let height = 40 + 30 * n as u32 + 70;
    let top = b
        .rows
        .iter()
        .map(|r| r.value)
        .fold(0f64, f64::max)
        .max(1e-12)
        * 2.0;
    let (scale, unit, long) = time_unit(top as u64);
    let x_desc = format!("{}, {long}", b.x_desc);
    svg(height, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(b.title, ("sans-serif", 20))
            .margin(12)
            .margin_right(24)
            .x_label_area_size(48)
            .y_label_area_size(220)
            // An integer range includes its end: 0..n-1 is n segments (one bar needs two).
            .build_cartesian_2d(0f64..top, (0..(n - 1).max(1)).into_segmented())?;
        let labels: Vec<&str> = b.rows.iter().map(|r| r.label.as_str()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(x_desc.as_str())
            .x_labels(8)
            .x_label_formatter(&|v| {
                let v = v / scale;
                if top / scale < 20.0 {
                    format!("{v:.1} {unit}")
                } else {
                    format!("{v:.0} {unit}")
                }
            })
            .y_labels(n as usize)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => labels
                    .get((n - 1 - i) as usize)
                    .map_or_else(String::new, |s| (*s).to_owned()),
                SegmentValue::Last => String::new(),
            })
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(230, 230, 230))
            .draw()?;
        for (i, r) in b.rows.iter().enumerate() {
            let y = n - 1 - i as i32;
            let (lo, hi) = (SegmentValue::Exact(y), SegmentValue::Exact(y + 1));
            let mut outer = Rectangle::new(
                [(0.0, lo.clone()), (r.value, hi.clone())],
                if r.inner.is_some() {
                    r.fill.mix(0.35).filled()
                } else {
                    r.fill.filled()
                },
            );
            outer.set_margin(5, 5, 0, 0);
            chart.draw_series(std::iter::once(outer))?;
            if let Some(v) = r.inner {
                let mut inner =
                    Rectangle::new([(0.0, lo.clone()), (v, hi.clone())], r.fill.filled());
                inner.set_margin(9, 9, 0, 0);
                chart.draw_series(std::iter::once(inner))?;
            }
            chart.draw_series(std::iter::once(Text::new(
                r.note.clone(),
                (r.value + top * 0.01, SegmentValue::CenterOf(y)),
                TextStyle::from(("sans-serif", 13).into_font()).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Left,
                        plotters::style::text_anchor::VPos::Center,
                    ),
                ),
            )))?;
        }
        Ok(())
    })
}

/// Wall time per handler, with the CPU time inside it where it was measured, busiest first.
pub fn handlers_svg(p: &Profile) -> Result<String> {
    let total = p.totals.busy.max(1) as f64;
    let rows = p
        .handlers
        .iter()
        .enumerate()
        .map(|(rank, h)| {
            let ratio = h.cpu_ratio();
            let cpu = ratio.map(|r| h.busy as f64 * r.min(1.0));
            let cpu_note = ratio.map_or_else(
                || "CPU not measured".to_owned(),
                |r| format!("{:.0}% on the CPU", r * 100.0),
            );
            BarRow {
                label: h.name.clone(),
                value: h.busy as f64,
                inner: cpu,
                fill: rgb(palette::handler(Some(rank))),
                note: format!(
                    "{} ({:.1}% of the work), {cpu_note}",
                    hue_profiler::duration(h.busy),
                    h.busy as f64 / total * 100.0
                ),
            }
        })
        .collect();
    bars(&Bars {
        title: "Time per handler: wall time (light), CPU time inside it (dark)",
        x_desc: "time summed over the handler's callbacks",
        rows,
    })
}

/// The mean serialization wait per callback of the colors that waited most, worst first.
pub fn waits_svg(p: &Profile, t: &WorkerTimeline) -> Result<String> {
    let fills = palette::color_fills(&t.colors);
    let mut colors: Vec<_> = p.colors.iter().filter(|c| c.serial_wait > 0).collect();
    colors.sort_by_key(|c| std::cmp::Reverse(c.serial_wait));
    let mut rows: Vec<BarRow> = colors
        .iter()
        .take(WAIT_BARS)
        .map(|c| {
            let mean = c.serial_wait as f64 / c.callbacks.max(1) as f64;
            let fill = t
                .colors
                .iter()
                .position(|&k| k == c.color)
                .map_or(palette::OTHER_COLORS, |i| fills[i]);
            BarRow {
                label: color_label(c),
                value: mean,
                inner: None,
                fill: rgb(fill),
                note: format!(
                    "{} per callback ({} callbacks; {}{})",
                    hue_profiler::duration(mean as u64),
                    c.callbacks,
                    c.handlers
                        .iter()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", "),
                    if c.handlers.len() > 3 || c.more_handlers {
                        ", …"
                    } else {
                        ""
                    }
                ),
            }
        })
        .collect();
    let rest_calls: u64 = colors
        .iter()
        .skip(WAIT_BARS)
        .map(|c| c.callbacks)
        .sum::<u64>()
        + p.other_colors.callbacks;
    let rest_wait: u64 = colors
        .iter()
        .skip(WAIT_BARS)
        .map(|c| c.serial_wait)
        .sum::<u64>()
        + p.other_colors.serial_wait;
    if rest_wait > 0 {
        let mean = rest_wait as f64 / rest_calls.max(1) as f64;
        rows.push(BarRow {
            label: "other colors".to_owned(),
            value: mean,
            inner: None,
            fill: rgb(palette::OTHER_COLORS),
            note: format!(
                "{} per callback ({rest_calls} callbacks)",
                hue_profiler::duration(mean as u64)
            ),
        });
    }
    bars(&Bars {
        title: "Serialization wait by color: ready, but its color was running",
        x_desc: "mean wait per callback",
        rows,
    })
}
