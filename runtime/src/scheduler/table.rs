//! The table of live colors.
//!
//! Only colors with work queued or running have an entry (invariant 5): the owner of a color
//! that drains removes it ([`ColorTable::retire`]), and the next callback queued in that color
//! makes a fresh entry. The default color is permanent and is reached without a lookup, since
//! everything starts there.
//!
//! Lock order: a shard, then a color's queue. Producers push *while holding the shard lock*,
//! and `retire` checks idleness under both locks, so a producer can never append to a queue
//! that has just been removed from the table (which would let two queues of one color exist
//! and run in parallel).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crossbeam_utils::CachePadded;

use super::color_queue::ColorQueue;
use crate::callback::Callback;
use crate::sync::lock;
use hue_formats::{Color, mix};

/// A runnable color, as it sits on a worker's run queue.
pub(crate) type Runnable = Arc<ColorQueue<Callback>>;

/// 64 shards keep two workers (or a few outside threads) from meeting on one lock often;
/// measured on 2 cores, going from 16 to 64 shards changed nothing, so this is not tuned.
const SHARDS: usize = 64;

type Shard = CachePadded<Mutex<HashMap<u64, Runnable>>>;

pub(crate) struct ColorTable {
    default: Runnable,
    shards: Box<[Shard]>,
    workers: usize,
}

impl ColorTable {
    pub(crate) fn new(workers: usize) -> ColorTable {
        ColorTable {
            default: Arc::new(ColorQueue::new(
                Color::DEFAULT,
                home_of(Color::DEFAULT, workers),
            )),
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(Mutex::new(HashMap::new())))
                .collect(),
            workers,
        }
    }

    /// Queues `cb` in `color`. Returns the color if it just became runnable: the caller must
    /// put it on a run queue.
    pub(crate) fn push(&self, color: Color, cb: Callback) -> Option<Runnable> {
        if color.is_default() {
            return self.default.push(cb).then(|| self.default.clone());
        }
        let mut shard = lock(&self.shards[shard_of(color)]);
        let cq = shard
            .entry(color.raw())
            .or_insert_with(|| Arc::new(ColorQueue::new(color, home_of(color, self.workers))));
        cq.push(cb).then(|| cq.clone())
    }

    /// Called by a color's owner after releasing it: forgets the color if it is still idle.
    pub(crate) fn retire(&self, cq: &Runnable) {
        if cq.color().is_default() {
            return;
        }
        let mut shard = lock(&self.shards[shard_of(cq.color())]);
        let ours = shard
            .get(&cq.color().raw())
            .is_some_and(|cur| Arc::ptr_eq(cur, cq));
        if ours && cq.is_idle() {
            shard.remove(&cq.color().raw());
        }
    }

    /// How many colors have an entry (the default color always does).
    pub(crate) fn live(&self) -> usize {
        1 + self.shards.iter().map(|s| lock(s).len()).sum::<usize>()
    }

    /// Removes every queued callback and forgets every color. Shutdown only: no worker may be
    /// running.
    pub(crate) fn drain(&self) -> Vec<Callback> {
        let mut out = self.default.drain();
        for s in self.shards.iter() {
            for (_, cq) in lock(s).drain() {
                out.extend(cq.drain());
            }
        }
        out
    }
}

fn shard_of(color: Color) -> usize {
    (mix(color.raw()) >> 58) as usize % SHARDS
}

/// The home worker of a color: a hash, so that a color goes back to the worker whose cache
/// it warmed last time, and colors spread evenly over workers.
pub(crate) fn home_of(color: Color, workers: usize) -> usize {
    (mix(color.raw()) % workers as u64) as usize
}
