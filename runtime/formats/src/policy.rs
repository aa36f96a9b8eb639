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

use serde::{Deserialize, Serialize, Serializer};
use toml::Spanned;

use crate::color::{Color, Key};

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

    /// What the rule does to one callback's color, with the group's color worked out once:
    /// the form the runtime's queueing path and the profiler's simulator both apply.
    pub fn color_rule(&self) -> ColorRule {
        match self {
            Rule::Keep => ColorRule::Keep,
            Rule::Serial => ColorRule::Fixed(Color::DEFAULT),
            Rule::ByKey => ColorRule::ByKey,
            Rule::Unique => ColorRule::Fresh,
            Rule::Group(g) => ColorRule::Fixed(Rule::group_color(g)),
        }
    }
}

/// A [`Rule`] ready for a per-callback path: the one definition of what each rule does to
/// the color a program asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorRule {
    /// The color the program asked for.
    Keep,
    /// Always this color (`serial`: the default color; a group: the group's color).
    Fixed(Color),
    /// The key's color ([`Key::color`]); a callback without a key keeps the color it asked for.
    ByKey,
    /// A color of its own for every callback (`unique`): no two of them are serialized, so
    /// they may start in any order.
    Fresh,
}

/// The color a [`ColorRule`] gives one callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recolored {
    /// This color.
    Color(Color),
    /// A color no other callback has: the caller makes one (the runtime with
    /// [`Color::fresh`], a simulator with a counter).
    Fresh,
}

impl ColorRule {
    /// The color of a callback that asked for `asked`, with `key`.
    #[inline]
    pub fn apply(self, asked: Color, key: Option<Key>) -> Recolored {
        match self {
            ColorRule::Keep => Recolored::Color(asked),
            ColorRule::Fixed(c) => Recolored::Color(c),
            ColorRule::ByKey => Recolored::Color(key.map_or(asked, Key::color)),
            ColorRule::Fresh => Recolored::Fresh,
        }
    }
}

/// A recolor policy: rules by handler name. Serialized (JSON output, say) as its
/// `hue-recolor.toml` text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    rules: BTreeMap<String, Rule>,
    /// Where it came from, for messages ("hue-recolor.toml", "builder").
    source: String,
}

impl Serialize for Policy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.is_empty() {
            s.serialize_str("")
        } else {
            s.serialize_str(&self.to_toml())
        }
    }
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

/// One rule as a `hue-recolor.toml` line's text (no newline): `handler = rule`, the handler
/// quoted where TOML needs it.
pub fn rule_line(handler: &str, rule: &Rule) -> String {
    format!("{} = {}", toml_key(handler), rule.to_toml())
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

    /// [`Policy::to_toml`] with `header` (comment lines, each starting with `#` and ending with
    /// a newline) before it and, above each rule, the comment `note` gives its handler, if any
    /// (one line, without the `#`). [`Policy::parse`] reads it back to the same rules.
    pub fn to_toml_annotated(&self, header: &str, note: impl Fn(&str) -> Option<String>) -> String {
        let mut out = format!("{header}version = {POLICY_VERSION}\n\n[rules]\n");
        for (h, r) in &self.rules {
            if let Some(n) = note(h) {
                out.push_str(&format!("# {}\n", n.replace('\n', " ")));
            }
            out.push_str(&rule_line(h, r));
            out.push('\n');
        }
        out
    }

    /// The policy as `hue-recolor.toml` text; [`Policy::parse`] reads it back unchanged.
    pub fn to_toml(&self) -> String {
        let mut out = format!("version = {POLICY_VERSION}\n\n[rules]\n");
        for (h, r) in &self.rules {
            out.push_str(&rule_line(h, r));
            out.push('\n');
        }
        out
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
    fn each_rule_recolors_as_documented() {
        let asked = Color::of("asked");
        let apply = |r: Rule, key| r.color_rule().apply(asked, key);
        assert_eq!(apply(Rule::Keep, Some(Key(3))), Recolored::Color(asked));
        assert_eq!(apply(Rule::Serial, None), Recolored::Color(Color::DEFAULT));
        assert_eq!(
            apply(Rule::ByKey, Some(Key(7))),
            Recolored::Color(Key(7).color())
        );
        assert_eq!(
            apply(Rule::ByKey, None),
            Recolored::Color(asked),
            "no key: keeps its color"
        );
        assert_eq!(apply(Rule::Unique, Some(Key(7))), Recolored::Fresh);
        let g = apply(Rule::Group("db".into()), None);
        assert_eq!(g, Recolored::Color(Rule::group_color("db")));
        assert_ne!(g, apply(Rule::Group("log".into()), None));
    }

    #[test]
    fn unknown_handlers_are_listed() {
        let p = Policy::parse(EXAMPLE, "x.toml").unwrap();
        let mut unknown = p.unknown_handlers(&["encrypt", "parse", "accept", "respond", "query"]);
        unknown.sort();
        assert_eq!(unknown, ["my handler"]);
    }
}
