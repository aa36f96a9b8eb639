//! How durations and lists of names read in the sentences the profiler's results carry
//! (evidence, reasons); `hue-reports` prints them the same way.

/// `ns` in the unit that reads best: `850 ns`, `12.3 µs`, `4.56 ms`, `1.23 s`.
pub fn duration(ns: u64) -> String {
    let f = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", f / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2} ms", f / 1e6)
    } else {
        format!("{:.2} s", f / 1e9)
    }
}

/// Names as code, joined as a sentence does: `` `a` ``, `` `a` and `b` ``,
/// `` `a`, `b` and `c` ``.
pub fn quoted_list<S: AsRef<str>>(items: &[S]) -> String {
    let q: Vec<String> = items.iter().map(|s| format!("`{}`", s.as_ref())).collect();
    match q.len() {
        0 => String::new(),
        1 => q[0].clone(),
        n => format!("{} and {}", q[..n - 1].join(", "), q[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_unit_reads_as_expected() {
        let d = super::duration;
        assert_eq!(
            [d(850), d(12_345), d(4_560_000), d(1_230_000_000)],
            ["850 ns", "12.3 µs", "4.56 ms", "1.23 s"]
        );
    }

    #[test]
    fn lists_read_as_a_sentence() {
        let l = super::quoted_list::<&str>;
        assert_eq!(l(&[]), "");
        assert_eq!(l(&["a"]), "`a`");
        assert_eq!(l(&["a", "b", "c"]), "`a`, `b` and `c`");
    }
}
