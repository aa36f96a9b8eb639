//! Recolor policies on the queueing path: a [`Policy`] (parsed by `hue-formats`, which
//! also defines what each rule does) compiled into a table by handler id, applied when a
//! callback is queued.

use std::sync::atomic::{AtomicBool, Ordering};

use hue_formats::policy::{ColorRule, Recolored};
use hue_formats::{Color, Policy};

use crate::handler::{Handler, Target};

/// A policy ready for the hot path: rules indexed by handler id.
pub(crate) struct Compiled {
    by_handler: Vec<Option<Compiled1>>,
    source: String,
}

struct Compiled1 {
    rule: ColorRule,
    name: String,
    used: AtomicBool,
    warned_no_key: AtomicBool,
}

impl Compiled {
    pub(crate) fn new(policy: &Policy) -> Compiled {
        let mut by_handler: Vec<Option<Compiled1>> = Vec::new();
        for (name, rule) in policy.rules() {
            let id = Handler::new(name).id() as usize;
            if id >= by_handler.len() {
                by_handler.resize_with(id + 1, || None);
            }
            by_handler[id] = Some(Compiled1 {
                rule: rule.color_rule(),
                name: name.to_owned(),
                used: AtomicBool::new(false),
                warned_no_key: AtomicBool::new(false),
            });
        }
        Compiled {
            by_handler,
            source: policy.source().to_owned(),
        }
    }

    /// The target a callback queued at `t` goes to under this policy.
    #[inline]
    pub(crate) fn apply(&self, t: Target) -> Target {
        self.resolve(t, true)
    }

    /// The target a callback queued at `t` would go to, without queueing one: the rule does
    /// not count as used.
    pub(crate) fn peek(&self, t: Target) -> Target {
        self.resolve(t, false)
    }

    #[inline]
    fn resolve(&self, t: Target, queued: bool) -> Target {
        let Some(Some(c)) = self.by_handler.get(t.handler.id() as usize) else {
            return t;
        };
        if queued && !c.used.load(Ordering::Relaxed) {
            c.used.store(true, Ordering::Relaxed);
        }
        if c.rule == ColorRule::ByKey
            && t.key.is_none()
            && !c.warned_no_key.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                handler = %c.name,
                policy = %self.source,
                "rule by-key, but this handler's callbacks carry no key; they keep their color"
            );
        }
        let color = match c.rule.apply(t.color, t.key) {
            Recolored::Color(color) => color,
            Recolored::Fresh => Color::fresh(),
        };
        t.color(color)
    }

    /// Rules whose handler never had a callback queued.
    pub(crate) fn unused(&self) -> Vec<&str> {
        self.by_handler
            .iter()
            .flatten()
            .filter(|c| !c.used.load(Ordering::Relaxed))
            .map(|c| c.name.as_str())
            .collect()
    }

    pub(crate) fn source(&self) -> &str {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hue_formats::{Policy, Rule};

    #[test]
    fn compiled_rules_recolor_targets() {
        let h = |n: &str| Handler::new(&format!("policy-test.{n}"));
        let p = Policy::new()
            .with_rule("policy-test.k", Rule::ByKey)
            .with_rule("policy-test.s", Rule::Serial)
            .with_rule("policy-test.g1", Rule::Group("g".into()))
            .with_rule("policy-test.g2", Rule::Group("g".into()))
            .with_rule("policy-test.u", Rule::Unique)
            .with_rule("policy-test.never", Rule::Keep);
        let c = Compiled::new(&p);
        let some = Color::of("some color");
        assert_eq!(
            c.apply(h("k").color(some).key(7u64)).color,
            hue_formats::Key(7).color()
        );
        assert_eq!(
            c.apply(h("k").color(some)).color,
            some,
            "no key: keeps its color"
        );
        assert_eq!(c.apply(h("s").color(some)).color, Color::DEFAULT);
        assert_eq!(
            c.apply(h("g1").color(some)).color,
            c.apply(h("g2").into()).color
        );
        assert_ne!(c.apply(h("u").into()).color, c.apply(h("u").into()).color);
        assert_eq!(c.apply(h("other").color(some)).color, some);
        assert_eq!(c.unused(), ["policy-test.never"]);
    }

    #[test]
    fn peeking_at_a_rule_resolves_it_without_using_it() {
        let h = Handler::new("policy-test.peek");
        let c = Compiled::new(&Policy::new().with_rule("policy-test.peek", Rule::ByKey));
        let some = Color::of("some color");
        assert_eq!(
            c.peek(h.color(some).key(9u64)).color,
            hue_formats::Key(9).color()
        );
        assert_eq!(c.unused(), ["policy-test.peek"], "peeking queues nothing");
        c.apply(h.color(some).key(9u64));
        assert!(c.unused().is_empty());
    }
}
