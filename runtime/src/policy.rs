//! Recolor policies: `hue-recolor.toml`, a coloring rule per handler, applied by the runtime
//! when callbacks are queued, so a suggestion can be tried without editing code.
//!
//! ```toml
//! # hue-recolor.toml
//! version = 1
//!
//! [rules]
//! encrypt = "by-key"           # one color per key (connection, request)
//! parse = "unique"             # every callback its own color
//! accept = "serial"            # the default color
//! respond = "keep"             # whatever the program says
//! query = { group = "db" }     # one color shared by every handler of group "db"
//! log = { group = "db" }
//! ```
//!
//! Rules override the color a program asks for; handlers without a rule keep theirs. The
//! policy in force is recorded in the trace header.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Deserialize;
use toml::Spanned;

use crate::color::Color;
use crate::handler::{Handler, Target};

/// The policy file format version this runtime reads.
pub const POLICY_VERSION: i64 = 1;

/// How a handler's callbacks are colored.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// The color the program asks for.
    Keep,
    /// The default color: serial with everything else in it.
    Serial,
    /// A color per key ([`crate::Key::color`]); callbacks without a key keep their color.
    ByKey,
    /// A fresh color for every callback.
    Unique,
    /// One color shared by every handler of the named group.
    Group(String),
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Keep => f.write_str("keep"),
            Rule::Serial => f.write_str("serial"),
            Rule::ByKey => f.write_str("by-key"),
            Rule::Unique => f.write_str("unique"),
            Rule::Group(g) => write!(f, "group {g:?}"),
        }
    }
}

impl Rule {
    /// The rule as a TOML value (`"by-key"`, `{ group = "db" }`).
    pub fn to_toml(&self) -> String {
        match self {
            Rule::Group(g) => format!("{{ group = {} }}", toml_string(g)),
            other => format!("\"{other}\""),
        }
    }

    /// The color of group `name`.
    pub fn group_color(name: &str) -> Color {
        Color::of(&("hue-recolor group", name))
    }
}

/// A recolor policy: rules by handler name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    rules: BTreeMap<String, Rule>,
    /// Where it came from, for messages ("hue-recolor.toml", "builder").
    source: String,
}

/// A policy file that could not be read, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The file (or "policy" for text not from a file).
    pub source: String,
    /// 1-based line and column of the problem, when it has a place.
    pub position: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.source, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for PolicyError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    version: Option<Spanned<i64>>,
    #[serde(default)]
    rules: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
}

fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, col)
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn toml_key(s: &str) -> String {
    let bare = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare { s.to_owned() } else { toml_string(s) }
}

impl Policy {
    /// An empty policy (every handler keeps its color).
    pub fn new() -> Policy {
        Policy {
            rules: BTreeMap::new(),
            source: "policy".to_owned(),
        }
    }

    /// The same policy with `rule` for `handler`.
    pub fn with_rule(mut self, handler: impl Into<String>, rule: Rule) -> Policy {
        self.rules.insert(handler.into(), rule);
        self
    }

    /// Reads a policy file.
    pub fn load(path: impl AsRef<Path>) -> Result<Policy, PolicyError> {
        let path = path.as_ref();
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            source: source.clone(),
            position: None,
            message: format!("cannot read the policy: {e}"),
        })?;
        Policy::parse(&text, &source)
    }

    /// Parses policy text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Policy, PolicyError> {
        let err = |span: Option<std::ops::Range<usize>>, message: String| PolicyError {
            source: source.to_owned(),
            position: span.map(|s| position(text, s.start)),
            message,
        };
        let file: PolicyFile =
            toml::from_str(text).map_err(|e| err(e.span(), e.message().trim().to_owned()))?;
        if let Some(v) = file
            .version
            .as_ref()
            .filter(|v| *v.get_ref() != POLICY_VERSION)
        {
            return Err(err(
                Some(v.span()),
                format!(
                    "policy version {} is not supported; this hue reads version {POLICY_VERSION}",
                    v.get_ref()
                ),
            ));
        }
        let mut rules = BTreeMap::new();
        for (name, value) in file.rules {
            let handler = name.get_ref().clone();
            let bad = || {
                err(
                    Some(value.span()),
                    format!(
                        "invalid rule {} for handler `{handler}`: expected \"keep\", \"serial\", \
                         \"by-key\", \"unique\" or {{ group = \"NAME\" }}",
                        value.get_ref()
                    ),
                )
            };
            let rule = match value.get_ref() {
                toml::Value::String(s) => match s.as_str() {
                    "keep" => Rule::Keep,
                    "serial" => Rule::Serial,
                    "by-key" => Rule::ByKey,
                    "unique" => Rule::Unique,
                    _ => return Err(bad()),
                },
                toml::Value::Table(t) => match (t.len(), t.get("group")) {
                    (1, Some(toml::Value::String(g))) if !g.is_empty() => Rule::Group(g.clone()),
                    _ => return Err(bad()),
                },
                _ => return Err(bad()),
            };
            rules.insert(handler, rule);
        }
        Ok(Policy {
            rules,
            source: source.to_owned(),
        })
    }

    /// The rules, by handler name.
    pub fn rules(&self) -> impl Iterator<Item = (&str, &Rule)> {
        self.rules.iter().map(|(h, r)| (h.as_str(), r))
    }

    /// The rule for `handler`, if any.
    pub fn rule(&self, handler: &str) -> Option<&Rule> {
        self.rules.get(handler)
    }

    /// Whether the policy has no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Where the policy came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Rules whose handler is not among `known` (a likely typo): warn about these.
    pub fn unknown_handlers<'a>(&'a self, known: &[&str]) -> Vec<&'a str> {
        self.rules
            .keys()
            .filter(|h| !known.contains(&h.as_str()))
            .map(String::as_str)
            .collect()
    }

    /// The policy as `hue-recolor.toml` text; [`Policy::parse`] reads it back unchanged.
    pub fn to_toml(&self) -> String {
        let mut out = format!("version = {POLICY_VERSION}\n\n[rules]\n");
        for (h, r) in &self.rules {
            out.push_str(&format!("{} = {}\n", toml_key(h), r.to_toml()));
        }
        out
    }
}

/// A policy ready for the hot path: rules indexed by handler id.
pub(crate) struct Compiled {
    by_handler: Vec<Option<Compiled1>>,
    source: String,
}

struct Compiled1 {
    rule: Rule,
    group: Color,
    name: String,
    used: AtomicBool,
    warned_no_key: AtomicBool,
}

impl Compiled {
    pub(crate) fn new(policy: &Policy) -> Compiled {
        let mut by_handler: Vec<Option<Compiled1>> = Vec::new();
        for (name, rule) in &policy.rules {
            let id = Handler::new(name).id() as usize;
            if id >= by_handler.len() {
                by_handler.resize_with(id + 1, || None);
            }
            let group = match rule {
                Rule::Group(g) => Rule::group_color(g),
                _ => Color::DEFAULT,
            };
            by_handler[id] = Some(Compiled1 {
                rule: rule.clone(),
                group,
                name: name.clone(),
                used: AtomicBool::new(false),
                warned_no_key: AtomicBool::new(false),
            });
        }
        Compiled {
            by_handler,
            source: policy.source.clone(),
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
        let color = match &c.rule {
            Rule::Keep => return t,
            Rule::Serial => Color::DEFAULT,
            Rule::Unique => Color::fresh(),
            Rule::Group(_) => c.group,
            Rule::ByKey => match t.key {
                Some(k) => k.color(),
                None => {
                    if !c.warned_no_key.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            handler = %c.name,
                            policy = %self.source,
                            "rule by-key, but this handler's callbacks carry no key; they keep their color"
                        );
                    }
                    return t;
                }
            },
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

    const EXAMPLE: &str = r#"
version = 1

[rules]
encrypt = "by-key"
parse = "unique"
accept = "serial"
respond = "keep"
query = { group = "db" }
"my handler" = { group = "db" }
"#;

    #[test]
    fn parses_every_rule_and_round_trips() {
        let p = Policy::parse(EXAMPLE, "x.toml").unwrap();
        assert_eq!(p.rule("encrypt"), Some(&Rule::ByKey));
        assert_eq!(p.rule("parse"), Some(&Rule::Unique));
        assert_eq!(p.rule("accept"), Some(&Rule::Serial));
        assert_eq!(p.rule("respond"), Some(&Rule::Keep));
        assert_eq!(p.rule("query"), Some(&Rule::Group("db".into())));
        assert_eq!(p.rule("my handler"), Some(&Rule::Group("db".into())));
        let again = Policy::parse(&p.to_toml(), "x.toml").unwrap();
        assert_eq!(again, p);
    }

    fn error(text: &str) -> String {
        Policy::parse(text, "p.toml").unwrap_err().to_string()
    }

    #[test]
    fn bad_toml_names_line_and_column() {
        let e = error("[rules]\nencrypt = by-key\n");
        assert!(e.starts_with("p.toml:2:11: "), "{e}");
    }

    #[test]
    fn an_invalid_rule_is_named() {
        let e = error("[rules]\nparse = \"unique\"\n\nencrypt = \"bykey\"\n");
        assert!(
            e.starts_with("p.toml:4:11: invalid rule \"bykey\" for handler `encrypt`"),
            "{e}"
        );
        let e = error("[rules]\nq = { group = 3 }\n");
        assert!(e.contains("invalid rule") && e.contains("`q`"), "{e}");
        let e = error("[rules]\nq = { group = \"a\", extra = 1 }\n");
        assert!(e.contains("invalid rule"), "{e}");
    }

    #[test]
    fn unknown_fields_and_versions_are_refused() {
        assert!(error("colour = 1\n").contains("unknown field"));
        let e = error("version = 9\n");
        assert!(e.contains("version 9 is not supported"), "{e}");
        assert!(e.starts_with("p.toml:1:11:"), "{e}");
    }

    #[test]
    fn unknown_handlers_are_listed() {
        let p = Policy::parse(EXAMPLE, "x.toml").unwrap();
        let mut unknown = p.unknown_handlers(&["encrypt", "parse", "accept", "respond", "query"]);
        unknown.sort();
        assert_eq!(unknown, ["my handler"]);
    }

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
            crate::Key(7).color()
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
        assert_eq!(c.peek(h.color(some).key(9u64)).color, crate::Key(9).color());
        assert_eq!(c.unused(), ["policy-test.peek"], "peeking queues nothing");
        c.apply(h.color(some).key(9u64));
        assert!(c.unused().is_empty());
    }
}
