//! A synthetic but realistic stream of callback records, shared by the size test in
//! `tests/trace_format.rs` and the `trace` bench (both include this file with `#[path]`).
//!
//! Shaped like a server's trace: one global id counter shared by the workers (so a worker's
//! ids increase with gaps), per-worker times that increase by µs-scale gaps and durations,
//! a handful of handlers, 1000 connections each with its own color (a 64-bit hash) and key,
//! most callbacks queued by a recent callback, a few with CPU time measured. Each worker's
//! records arrive in batches, and batches of different workers interleave.

use hue_formats::trace::{CallbackRecord, Origin, Record};

/// A deterministic xorshift64 generator: the stream is the same on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The color of connection `conn`: a 64-bit hash, as `Color::of(&conn)` gives.
pub fn color_of(conn: u64) -> u64 {
    let mut x = conn.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (x ^ (x >> 31)) & !(1 << 63)
}

/// `n` callback records over `workers` workers and `colors` connections, as batches of at most
/// `batch` records of one worker each.
pub fn callback_batches(n: usize, workers: u16, colors: u64, batch: usize) -> Vec<Vec<Record>> {
    let mut rng = Rng::new(0x5eed);
    let mut clocks = vec![1_000_000u64; workers as usize];
    let mut recent: Vec<u64> = Vec::with_capacity(256);
    let mut pending: Vec<Vec<Record>> = vec![Vec::new(); workers as usize];
    let mut out = Vec::new();
    for id in 1..=n as u64 {
        let w = rng.below(workers as u64) as usize;
        let (origin, parent) = match rng.below(10) {
            0 => (Origin::Io, None),
            1 => (Origin::Timer, None),
            _ if !recent.is_empty() => {
                let back = rng.below(recent.len().min(64) as u64) as usize;
                (Origin::Callback, Some(recent[recent.len() - 1 - back]))
            }
            _ => (Origin::Outside, None),
        };
        if recent.len() == 256 {
            recent.drain(..128);
        }
        recent.push(id);
        let conn = rng.below(colors);
        let long = rng.below(20) == 0;
        let wall = if long {
            50_000 + rng.below(200_000)
        } else {
            1_000 + rng.below(15_000)
        };
        let started = clocks[w] + 300 + rng.below(3_000);
        let runnable = started - rng.below(2_000);
        let queued = if rng.below(4) == 0 {
            runnable - rng.below(40_000)
        } else {
            runnable
        };
        let ended = started + wall;
        clocks[w] = ended;
        pending[w].push(Record::Callback(CallbackRecord {
            id,
            parent,
            origin,
            handler: rng.below(8) as u32,
            color: color_of(conn),
            key: Some(conn),
            worker: w as u16,
            queued,
            runnable,
            started,
            ended,
            cpu: long.then(|| wall - rng.below(wall / 10 + 1)),
        }));
        if pending[w].len() == batch {
            out.push(std::mem::take(&mut pending[w]));
        }
    }
    out.extend(pending.into_iter().filter(|b| !b.is_empty()));
    out
}
