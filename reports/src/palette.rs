//! Colours a reader can tell apart: Okabe and Ito's palette, safe for the common forms of
//! colour blindness. A handler keeps its colour in every chart of one report: it is chosen
//! by the handler's rank in the profile (busiest first), never by the chart.

/// Okabe–Ito, without black (kept for the recorded coloring) and yellow (too light on white).
pub const HANDLER_COLORS: [(u8, u8, u8); 6] = [
    (0, 114, 178),   // blue
    (213, 94, 0),    // vermillion
    (0, 158, 115),   // bluish green
    (204, 121, 167), // reddish purple
    (230, 159, 0),   // orange
    (86, 180, 233),  // sky blue
];

/// Handlers past the palette, and "other".
pub const OTHER: (u8, u8, u8) = (153, 153, 153);

/// The recorded coloring, the ideal line and bounds.
pub const INK: (u8, u8, u8) = (0, 0, 0);

/// The runtime's colors (serial lanes, not handlers) in the utilization and wait charts: the
/// default color dark grey, the next busiest in Paul Tol's "muted" scheme (also safe for
/// colour-blind readers, and muted so that no color is read as a handler), "other colors"
/// light grey.
pub const COLOR_SLOTS: [(u8, u8, u8); 5] = [
    (51, 34, 136),   // indigo
    (68, 170, 153),  // teal
    (221, 204, 119), // sand
    (136, 34, 85),   // wine
    (153, 153, 51),  // olive
];

/// The default color, in the color charts.
pub const DEFAULT_COLOR: (u8, u8, u8) = (77, 77, 77);

/// Colors past the tracked ones, in the color charts.
pub const OTHER_COLORS: (u8, u8, u8) = (200, 200, 200);

/// The fills of the tracked runtime colors `raw` (busiest first), in order: the default
/// color [`DEFAULT_COLOR`], the others [`COLOR_SLOTS`] in turn.
pub fn color_fills(raw: &[u64]) -> Vec<(u8, u8, u8)> {
    let mut next = COLOR_SLOTS.iter().copied();
    raw.iter()
        .map(|&c| {
            if c == 0 {
                DEFAULT_COLOR
            } else {
                next.next().unwrap_or(OTHER_COLORS)
            }
        })
        .collect()
}

/// The colour of the handler at `rank` in the profile (0 = busiest).
pub fn handler(rank: Option<usize>) -> (u8, u8, u8) {
    rank.and_then(|r| HANDLER_COLORS.get(r).copied())
        .unwrap_or(OTHER)
}

/// `#rrggbb`.
pub fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}
