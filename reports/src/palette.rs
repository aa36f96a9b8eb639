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

/// The colour of the handler at `rank` in the profile (0 = busiest).
pub fn handler(rank: Option<usize>) -> (u8, u8, u8) {
    rank.and_then(|r| HANDLER_COLORS.get(r).copied())
        .unwrap_or(OTHER)
}

/// `#rrggbb`.
pub fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}
