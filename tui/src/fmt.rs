//! How numbers read on screen: short, with their unit.

/// A duration in nanoseconds: `38 µs`, `1.2 ms`, `3.40 s`.
pub fn dur(ns: f64) -> String {
    let ns = ns.max(0.0);
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 10_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1_000_000.0 {
        format!("{:.0} µs", ns / 1e3)
    } else if ns < 10_000_000.0 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns < 1_000_000_000.0 {
        format!("{:.0} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// A rate or count: `950`, `48.2k`, `1.20M`.
pub fn count(x: f64) -> String {
    if x < 10.0 && x.fract() != 0.0 {
        format!("{x:.1}")
    } else if x < 10_000.0 {
        format!("{x:.0}")
    } else if x < 1_000_000.0 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{:.2}M", x / 1e6)
    }
}

/// A share, 0 to 1, as a percentage: `51%`.
pub fn pct(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

/// A time from the program's start: `01:03.250`.
pub fn clock(ns: u64) -> String {
    let ms = ns / 1_000_000;
    format!(
        "{:02}:{:02}.{:03}",
        ms / 60_000,
        (ms / 1000) % 60,
        ms % 1000
    )
}
