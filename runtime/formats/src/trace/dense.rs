//! Small ids for tables indexed by id.
//!
//! The runtime interns handler, state and event names into small dense ids, so a reader may
//! keep per-id tables in a `Vec`. A file may still hold any `u32` (the checked-in v1 trace
//! holds `u32::MAX`, a hostile one anything): indexing a `Vec` by such an id would try to
//! allocate gigabytes. [`DenseIds`] keeps ids below [`DENSE_ID_LIMIT`] as they are and gives
//! larger ones the next free small id in the order they first appear, so every pass over a
//! file maps them the same way.

use std::collections::HashMap;

use super::record::{NameKind, Record};

/// Ids below this stay as they are; larger ones are renumbered from here.
pub const DENSE_ID_LIMIT: u32 = 1 << 16;

/// Renumbers ids of [`DENSE_ID_LIMIT`] and above, per kind (handler, state, event), in the
/// order they first appear. Create one per pass over a file.
#[derive(Clone, Debug, Default)]
pub struct DenseIds {
    maps: [HashMap<u32, u32>; 3],
}

impl DenseIds {
    /// A renumbering with nothing seen yet.
    pub fn new() -> DenseIds {
        DenseIds::default()
    }

    #[inline]
    fn id(&mut self, kind: usize, id: u32) -> u32 {
        if id < DENSE_ID_LIMIT {
            return id;
        }
        let map = &mut self.maps[kind];
        let next = DENSE_ID_LIMIT.saturating_add(map.len() as u32);
        *map.entry(id).or_insert(next)
    }

    /// `record` with its large ids renumbered, or `None` when it holds none (the common
    /// case: no copy is made).
    #[inline]
    pub fn remap(&mut self, record: &Record) -> Option<Record> {
        const H: usize = 0;
        const S: usize = 1;
        const E: usize = 2;
        let big = |id: u32| id >= DENSE_ID_LIMIT;
        let mut r = match record {
            Record::Callback(c) if big(c.handler) => record.clone(),
            Record::Access(a) if big(a.handler) || big(a.state) || a.holder.is_some_and(big) => {
                record.clone()
            }
            Record::Panic(p) if big(p.handler) => record.clone(),
            Record::Blocking(b) if big(b.handler) => record.clone(),
            Record::Event(e) if big(e.name) => record.clone(),
            Record::Name(n) if big(n.id) => record.clone(),
            _ => return None,
        };
        match &mut r {
            Record::Callback(c) => c.handler = self.id(H, c.handler),
            Record::Access(a) => {
                a.handler = self.id(H, a.handler);
                a.state = self.id(S, a.state);
                a.holder = a.holder.map(|h| self.id(H, h));
            }
            Record::Panic(p) => p.handler = self.id(H, p.handler),
            Record::Blocking(b) => b.handler = self.id(H, b.handler),
            Record::Event(e) => e.name = self.id(E, e.name),
            Record::Name(n) => {
                let kind = match n.kind {
                    NameKind::Handler => H,
                    NameKind::State => S,
                    _ => E,
                };
                n.id = self.id(kind, n.id);
            }
            _ => {}
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{CallbackRecord, Name, Origin};

    fn callback(handler: u32) -> Record {
        Record::Callback(CallbackRecord {
            id: 1,
            parent: None,
            origin: Origin::Outside,
            handler,
            color: 0,
            key: None,
            worker: 0,
            queued: 0,
            runnable: 0,
            started: 0,
            ended: 1,
            cpu: None,
        })
    }

    #[test]
    fn small_ids_stay_and_large_ones_are_renumbered_consistently() {
        let mut d = DenseIds::new();
        assert_eq!(d.remap(&callback(7)), None);
        let name = Record::Name(Name {
            kind: NameKind::Handler,
            id: u32::MAX,
            name: "x".into(),
        });
        let Some(Record::Name(n)) = d.remap(&name) else {
            panic!("renumbered")
        };
        assert_eq!(n.id, DENSE_ID_LIMIT);
        let Some(Record::Callback(c)) = d.remap(&callback(u32::MAX)) else {
            panic!("renumbered")
        };
        assert_eq!(c.handler, DENSE_ID_LIMIT, "the same id as its name");
        let Some(Record::Callback(c)) = d.remap(&callback(u32::MAX - 1)) else {
            panic!("renumbered")
        };
        assert_eq!(c.handler, DENSE_ID_LIMIT + 1);
    }
}
