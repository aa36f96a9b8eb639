//! Process-wide string interning for handler, state and event names.
//!
//! Names are interned once (when a `Handler` or `Shared` is made, or the first time a
//! `tracing` callsite fires in a callback) and kept for the life of the process; the hot path
//! and the records carry only the small integer id.

use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};

#[derive(Default)]
pub(crate) struct Interner {
    inner: RwLock<Table>,
}

#[derive(Default)]
struct Table {
    by_name: HashMap<&'static str, u32>,
    names: Vec<&'static str>,
}

impl Interner {
    pub(crate) fn intern(&self, name: &str) -> u32 {
        if let Some(&id) = self.read().by_name.get(name) {
            return id;
        }
        let mut w = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(&id) = w.by_name.get(name) {
            return id;
        }
        let id = u32::try_from(w.names.len()).expect("more than 4 billion names");
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        w.names.push(name);
        w.by_name.insert(name, id);
        id
    }

    pub(crate) fn name(&self, id: u32) -> Option<&'static str> {
        self.read().names.get(id as usize).copied()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) fn handlers() -> &'static Interner {
    static I: OnceLock<Interner> = OnceLock::new();
    I.get_or_init(Interner::default)
}

pub(crate) fn states() -> &'static Interner {
    static I: OnceLock<Interner> = OnceLock::new();
    I.get_or_init(Interner::default)
}

pub(crate) fn events() -> &'static Interner {
    static I: OnceLock<Interner> = OnceLock::new();
    I.get_or_init(Interner::default)
}
