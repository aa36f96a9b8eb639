//! Colorings the profiler can simulate and check: the one a trace recorded, or that one
//! changed by a recolor [`Policy`], applied to each callback by the same definition the
//! runtime applies at queue time ([`ColorRule`], in `hue-formats`).

use hue_formats::policy::{ColorRule, Recolored};
use hue_formats::{Color, Key, Policy, Rule};
use serde::Serialize;

use crate::profile::HandlerStats;

/// How callbacks are colored in a simulation: as recorded, or recolored by a policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coloring {
    policy: Option<Policy>,
}

impl Coloring {
    /// The colors the trace recorded.
    pub fn recorded() -> Coloring {
        Coloring { policy: None }
    }

    /// The recorded colors, changed by `policy` for the handlers it has rules for.
    pub fn with_policy(policy: Policy) -> Coloring {
        Coloring {
            policy: (!policy.is_empty()).then_some(policy),
        }
    }

    /// The policy, if any.
    pub fn policy(&self) -> Option<&Policy> {
        self.policy.as_ref()
    }

    /// The rule for handler `name` (keep if none).
    pub fn rule(&self, name: &str) -> Rule {
        self.policy
            .as_ref()
            .and_then(|p| p.rule(name))
            .cloned()
            .unwrap_or(Rule::Keep)
    }

    pub(crate) fn recolor(&self) -> Recolor {
        Recolor {
            policy: self.policy.clone(),
            table: Vec::new(),
        }
    }
}

/// The color a simulated callback runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SimColor {
    /// A color callbacks may share.
    Fixed(u64),
    /// A color of its own (rule `unique`).
    Fresh,
}

/// A [`Coloring`] ready for the per-callback path: rules by handler id, filled in as the
/// trace names its handlers.
pub(crate) struct Recolor {
    policy: Option<Policy>,
    table: Vec<ColorRule>,
}

impl Recolor {
    /// Handler `id` is called `name`.
    pub(crate) fn name(&mut self, id: u32, name: &str) {
        let Some(policy) = &self.policy else { return };
        let rule = policy.rule(name).map_or(ColorRule::Keep, Rule::color_rule);
        let i = id as usize;
        if i >= self.table.len() {
            self.table.resize(i + 1, ColorRule::Keep);
        }
        self.table[i] = rule;
    }

    /// The color of a callback of handler `handler` recorded in `color` with `key`.
    #[inline]
    pub(crate) fn color(&self, handler: u32, color: u64, key: Option<u64>) -> SimColor {
        let rule = self.table.get(handler as usize).copied();
        match rule
            .unwrap_or(ColorRule::Keep)
            .apply(Color::from_raw(color), key.map(Key))
        {
            Recolored::Color(c) => SimColor::Fixed(c.raw()),
            Recolored::Fresh => SimColor::Fresh,
        }
    }
}

/// What the colors of one handler's callbacks have in common: what the safety check compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// All in one color (0: the default color).
    Single(u64),
    /// Each in its key's color.
    PerKey,
    /// Each in a color of its own.
    Fresh,
    /// Anything else: no two of its callbacks are known to be serialized.
    Mixed,
}

impl Class {
    /// The class of `h`'s callbacks as the trace recorded them.
    pub fn recorded(h: &HandlerStats) -> Class {
        let c = &h.coloring;
        let n = h.callbacks;
        if n == 0 || c.default == n {
            Class::Single(0)
        } else if c.by_key == n {
            Class::PerKey
        } else if c.other == n {
            c.single_other.map_or(Class::Mixed, Class::Single)
        } else {
            Class::Mixed
        }
    }

    /// The class of `h`'s callbacks under `rule`.
    pub fn under(h: &HandlerStats, rule: &Rule) -> Class {
        match rule {
            Rule::Keep => Class::recorded(h),
            Rule::Serial => Class::Single(0),
            Rule::Unique => Class::Fresh,
            Rule::Group(g) => Class::Single(Rule::group_color(g).raw()),
            Rule::ByKey if h.keyed == h.callbacks => Class::PerKey,
            // Callbacks without a key keep their color.
            Rule::ByKey if h.keyed == 0 => Class::recorded(h),
            Rule::ByKey => Class::Mixed,
        }
    }
}
