//! Charts drawn with plotters: SVG as a string (no font engine needed to write it) and PNG
//! through `ab_glyph` with the font this crate ships (DejaVu Sans, `fonts/`), so no system
//! font is needed.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, ErrorKind, Result};
use crate::speedup::Speedup;

/// DejaVu Sans (Bitstream Vera licence with DejaVu changes: `fonts/DejaVuSans-LICENSE`).
static FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// The default size of a chart, in pixels: readable at 100% in a browser or a paper column.
pub const SIZE: (u32, u32) = (1000, 640);

pub(crate) fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in and known good; a failure would show as missing text.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

fn rgb((r, g, b): (u8, u8, u8)) -> RGBColor {
    RGBColor(r, g, b)
}

const GREY: RGBColor = RGBColor(110, 110, 110);

pub(crate) fn chart_error(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Chart, format!("cannot draw the chart: {e}"))
}

/// The speedup chart as SVG.
pub fn speedup_svg(s: &Speedup) -> Result<String> {
    register_font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw_speedup(&root, s).map_err(chart_error)?;
        root.present().map_err(chart_error)?;
    }
    Ok(out)
}

/// The speedup chart as PNG.
pub fn speedup_png(s: &Speedup) -> Result<Vec<u8>> {
    register_font();
    let (w, h) = SIZE;
    let mut rgb_buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb_buf, SIZE).into_drawing_area();
        draw_speedup(&root, s).map_err(chart_error)?;
        root.present().map_err(chart_error)?;
    }
    encode_png(&rgb_buf, w, h)
}

/// RGB pixels to PNG bytes.
fn encode_png(rgb_buf: &[u8], w: u32, h: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(chart_error)?;
        writer.write_image_data(rgb_buf).map_err(chart_error)?;
        writer.finish().map_err(chart_error)?;
    }
    Ok(out)
}

/// A number as the chart prints it: `1.23x`.
fn times(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}x")
    } else {
        "unbounded".to_owned()
    }
}

fn draw_speedup<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &Speedup,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let (_, height) = root.dim_in_pixel();
    let notes = footnotes(s);
    let (plot, foot) = root.split_vertically(height - 22 * notes.len() as u32 - 10);

    // What the y axis must hold: every curve, band and measured point, and the bounds and
    // ceiling when they are close enough to matter.
    let mut top: f64 = 2.0;
    for c in &s.curves {
        for p in &c.points {
            top = top.max(p.burdened).max(p.speedup);
        }
    }
    for m in &s.measured {
        for &(_, v) in &m.points {
            top = top.max(v);
        }
    }
    let reach = top * 1.5;
    for b in [
        s.span_bound,
        s.color_bound,
        s.machine_ceiling.unwrap_or(0.0),
    ] {
        if b.is_finite() && b <= reach {
            top = top.max(b);
        }
    }
    let top = top * 1.12;
    let max_cores = *crate::speedup::CORES.last().unwrap_or(&64) as f64;

    let mut chart = ChartBuilder::on(&plot)
        .caption(s.title(), ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d((1f64..max_cores).log_scale(), 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc("cores (virtual workers; log scale)")
        .y_desc("speedup (work ÷ predicted time)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.1}x"))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .x_labels(16)
        .y_labels(10)
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;

    // The ideal: N cores, N times faster (the work bound).
    let ideal_end = top.min(max_cores);
    chart
        .draw_series(DashedLineSeries::new(
            vec![(1.0, 1.0), (ideal_end, ideal_end)],
            6,
            4,
            GREY.stroke_width(1),
        ))?
        .label("ideal: N cores, N× (work bound)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], GREY.stroke_width(1)));
    for (value, name) in [
        (s.span_bound, "span bound (longest chain)"),
        (s.color_bound, "color bound as recorded (busiest color)"),
    ] {
        if value.is_finite() && value <= top {
            let style = RGBColor(150, 150, 150).stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(1.0, value), (max_cores, value)],
                    2,
                    5,
                    style,
                ))?
                .label(format!("{name}: {}", times(value)))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        }
    }
    if let Some(cores) = s.machine_cores {
        let c = f64::from(cores).max(1.0);
        let red = RGBColor(170, 51, 119);
        chart
            .draw_series(LineSeries::new(
                vec![(c, 0.0), (c, top)],
                red.mix(0.6).stroke_width(1),
            ))?
            .label(format!("the traced machine: {cores} cores"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], red.mix(0.6).stroke_width(1))
            });
        if let Some(ceiling) = s.machine_ceiling.filter(|&v| v <= top) {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(1.0, ceiling), (max_cores, ceiling)],
                    8,
                    4,
                    red.stroke_width(2),
                ))?
                .label(format!("the traced machine's ceiling: {}", times(ceiling)))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], red.stroke_width(2))
                });
        }
    }

    // The measured error, around the last curve (the one a user would act on).
    if let (Some(band), Some(last)) = (&s.error_band, s.curves.last()) {
        let color = rgb(s.color(s.curves.len() - 1));
        let low = last
            .points
            .iter()
            .map(|p| (p.cores as f64, p.burdened / (1.0 + band.over)));
        let high = last
            .points
            .iter()
            .rev()
            .map(|p| (p.cores as f64, (p.burdened / (1.0 + band.under)).min(top)));
        let polygon: Vec<(f64, f64)> = low.chain(high).collect();
        chart
            .draw_series(std::iter::once(Polygon::new(polygon, color.mix(0.12))))?
            .label(format!("measured error of “{}” (see below)", last.label))
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 24, y + 6)], color.mix(0.25).filled())
            });
    }

    for (i, c) in s.curves.iter().enumerate() {
        let color = rgb(s.color(i));
        let style = color.stroke_width(if i == 0 { 3 } else { 2 });
        let pts: Vec<(f64, f64)> = c
            .points
            .iter()
            .map(|p| (p.cores as f64, p.burdened))
            .collect();
        let label = format!(
            "{}: {} at {} cores",
            c.label,
            times(c.points.last().map_or(0.0, |p| p.burdened)),
            c.points.last().map_or(0, |p| p.cores)
        );
        let dash = s.dash(i);
        let series = match dash {
            0 => chart.draw_series(LineSeries::new(pts.clone(), style))?,
            1 => chart.draw_series(DashedLineSeries::new(pts.clone(), 10, 5, style))?,
            _ => chart.draw_series(DashedLineSeries::new(pts.clone(), 3, 4, style))?,
        };
        series.label(label).legend(move |(x, y)| {
            let end = if dash == 0 { x + 24 } else { x + 10 };
            PathElement::new(vec![(x, y), (end, y)], style)
        });
        // A marker at each doubling and at the traced machine's cores: 64 would blur into a
        // thick line on the log axis.
        let marked = |n: f64| {
            let n = n as usize;
            n.is_power_of_two() || Some(n) == s.machine_cores.map(usize::from)
        };
        chart.draw_series(
            pts.iter()
                .filter(|p| marked(p.0))
                .map(|&p| Circle::new(p, 3, color.filled())),
        )?;
    }

    // Squares for the first measured series, circles for the second (the recorded coloring
    // and a policy are both drawn in black), triangles after.
    for (k, m) in s.measured.iter().enumerate() {
        let color = rgb(s.color(m.curve));
        let style = color.stroke_width(2);
        let mark = move |at: (i32, i32)| -> DynElement<'static, DB, (i32, i32)> {
            let (x, y) = at;
            match k {
                0 => Rectangle::new([(x - 6, y - 6), (x + 6, y + 6)], style).into_dyn(),
                1 => Circle::new((x, y), 7, style).into_dyn(),
                _ => {
                    Polygon::new(vec![(x, y - 7), (x + 7, y + 6), (x - 7, y + 6)], style).into_dyn()
                }
            }
        };
        chart
            .draw_series(
                m.points
                    .iter()
                    .map(|&(w, v)| EmptyElement::at((w as f64, v)) + mark((0, 0))),
            )?
            .label(format!("{} (measured)", m.label))
            .legend(move |(x, y)| mark((x + 12, y)));
    }

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .margin(12)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(200, 200, 200))
        .draw()?;

    for (i, line) in notes.iter().enumerate() {
        foot.draw_text(
            line,
            &("sans-serif", 14).into_font().color(&RGBColor(60, 60, 60)),
            (24, 4 + 22 * i as i32),
        )?;
    }
    Ok(())
}

/// The lines under the chart: what the curves rest on.
pub(crate) fn footnotes(s: &Speedup) -> Vec<String> {
    let mut notes = vec![format!(
        "Burdened predictions from a {}-worker trace: each callback pays {} ns, each hand-off between workers {} ns (measured in the trace).",
        s.workers, s.costs.0, s.costs.1
    )];
    for (value, name) in [(s.span_bound, "span bound"), (s.color_bound, "color bound")] {
        if value.is_finite() && value > s.top_drawn() {
            notes.push(format!("The {name} ({}) is above the chart.", times(value)));
        }
    }
    if let Some(band) = &s.error_band {
        notes.push(format!("Error band: {}.", band.source));
    }
    if let Some(sampled) = &s.sampled {
        notes.push(sampled.clone());
    }
    if !s.measured.is_empty()
        && let Some(c) = s.machine_cores
    {
        notes.push(format!(
            "Measured points above {c} workers share the traced machine's {c} cores: for CPU-bound work they measure contention, not the coloring."
        ));
    }
    notes
}

impl Speedup {
    /// The highest value the chart's curves reach.
    fn top_drawn(&self) -> f64 {
        let mut top: f64 = 2.0;
        for c in &self.curves {
            for p in &c.points {
                top = top.max(p.burdened).max(p.speedup);
            }
        }
        top * 1.5
    }
}
