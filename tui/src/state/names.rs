//! Colors by names a person recognizes: `default`, a policy group's name, `handler:key` for a
//! by-key color, `handler:*` for the family of one handler's by-key colors.

use hue_formats::{Policy, Rule};

use super::window::ColorRow;

/// Bit 63 of a raw color: a color from `Color::fresh` (one per callback, `unique`).
const FRESH_BIT: u64 = 1 << 63;

/// The colors of the groups of a recolor policy, to name them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Groups(Vec<(u64, String)>);

impl Groups {
    /// The groups of the policy in `toml` (a trace's header holds the one it ran under); none
    /// if it is empty or does not parse.
    pub fn from_policy(toml: &str) -> Groups {
        let Ok(policy) = Policy::parse(toml, "the trace's policy") else {
            return Groups::default();
        };
        let mut groups: Vec<(u64, String)> = policy
            .rules()
            .filter_map(|(_, r)| match r {
                Rule::Group(g) => Some((Rule::group_color(g).raw(), g.clone())),
                _ => None,
            })
            .collect();
        groups.sort();
        groups.dedup();
        Groups(groups)
    }

    fn get(&self, raw: u64) -> Option<&str> {
        self.0
            .iter()
            .find(|(c, _)| *c == raw)
            .map(|(_, g)| g.as_str())
    }
}

/// The by-key family a color belongs to: the one handler that ran in it, if it is that
/// handler's key's color.
pub fn family(c: &ColorRow) -> Option<&str> {
    match (c.key, &c.handlers[..]) {
        (Some(_), [h]) => Some(h),
        _ => None,
    }
}

/// A color's name.
pub fn color(c: &ColorRow, groups: &Groups) -> String {
    if c.color == 0 {
        return "default".to_owned();
    }
    if let Some(g) = groups.get(c.color) {
        return format!("group {g}");
    }
    match (c.key, &c.handlers[..]) {
        (Some(k), [h]) => return format!("{h}:{k}"),
        (Some(k), _) => return format!("key {k}"),
        _ => {}
    }
    // Hashes (`Color::of`) differ in their top bits; a color made from a small number
    // (`Color::from_raw`) only in its low ones.
    let short = match c.color >> 32 {
        0 => format!("{:08x}", c.color),
        top => format!("{top:08x}"),
    };
    let who = match &c.handlers[..] {
        [] => String::new(),
        [h] => format!(" ({h})"),
        [h, ..] => format!(" ({h}, …)"),
    };
    if c.color & FRESH_BIT != 0 {
        format!("unique{who}")
    } else {
        format!("#{short}{who}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(color: u64) -> ColorRow {
        ColorRow {
            color,
            handlers: vec!["step".into()],
            ..ColorRow::default()
        }
    }

    #[test]
    fn colors_made_from_small_numbers_are_told_apart() {
        let groups = Groups::default();
        assert_eq!(color(&row(7), &groups), "#00000007 (step)");
        assert_ne!(color(&row(7), &groups), color(&row(8), &groups));
        // A hash: its top bits.
        assert_eq!(
            color(&row(0x5cc9_6779_0000_0001), &groups),
            "#5cc96779 (step)"
        );
    }
}
