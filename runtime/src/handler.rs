//! Handler names, interned once per process.

use std::fmt;

use crate::intern;
use hue_formats::{Color, Key};

/// A named kind of callback (`"accept"`, `"encrypt"`).
///
/// The name is interned when the handler is made; callbacks carry only the small integer id,
/// so queueing a callback does no string work.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handler(u32);

impl Handler {
    /// The handler with this name, interning the name on first use.
    ///
    /// Calling this twice with one name returns the same handler. Names are kept for the life
    /// of the process (there are few of them: one per kind of callback, not per callback).
    pub fn new(name: &str) -> Handler {
        Handler(intern::handlers().intern(name))
    }

    /// The handler's name.
    pub fn name(self) -> &'static str {
        intern::handlers()
            .name(self.0)
            .expect("a Handler is only made by interning its name")
    }

    /// The handler's small integer id (as recorded in a trace).
    pub const fn id(self) -> u32 {
        self.0
    }

    /// The handler with this id, if one was made in this process.
    pub fn from_id(id: u32) -> Option<Handler> {
        intern::handlers().name(id).map(|_| Handler(id))
    }

    /// Where to queue a callback of this handler: in color `color`.
    pub fn color(self, color: Color) -> Target {
        Target {
            handler: self,
            color,
            key: None,
        }
    }

    /// Where to queue a callback of this handler: in the default color, working for `key`.
    pub fn key(self, key: impl Into<Key>) -> Target {
        Target::from(self).key(key)
    }
}

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handler({:?})", self.name())
    }
}

impl fmt::Display for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a callback goes: its handler, its color and, optionally, the key it works for.
///
/// Made from a [`Handler`]: `encrypt.color(Color::of(&conn)).key(conn)`. A bare handler
/// converts to a target in [`Color::DEFAULT`] with no key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Target {
    /// The handler the callback belongs to.
    pub handler: Handler,
    /// The color it is queued in.
    pub color: Color,
    /// The request or connection it works for.
    pub key: Option<Key>,
}

impl Target {
    /// The same target in another color.
    pub fn color(self, color: Color) -> Target {
        Target { color, ..self }
    }

    /// The same target, working for `key`.
    pub fn key(self, key: impl Into<Key>) -> Target {
        Target {
            key: Some(key.into()),
            ..self
        }
    }
}

impl From<Handler> for Target {
    fn from(handler: Handler) -> Target {
        Target {
            handler,
            color: Color::DEFAULT,
            key: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_idempotent() {
        let a = Handler::new("interning_is_idempotent.a");
        let b = Handler::new("interning_is_idempotent.b");
        assert_ne!(a, b);
        assert_eq!(a, Handler::new("interning_is_idempotent.a"));
        assert_eq!(a.name(), "interning_is_idempotent.a");
        assert_eq!(Handler::from_id(a.id()), Some(a));
    }

    #[test]
    fn target_builders() {
        let h = Handler::new("target_builders");
        let t: Target = h.into();
        assert_eq!(t.color, Color::DEFAULT);
        assert_eq!(t.key, None);
        let t = h.key(7u64).color(Color::of(&7u64));
        assert_eq!(t.key, Some(Key(7)));
        assert_eq!(t.color, Color::of(&7u64));
    }
}
