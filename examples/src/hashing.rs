//! The first demo workload: hashing blocks per connection.
//!
//! Each of `connections` simulated connections asks for `blocks` blocks of an in-memory file.
//! Per block, three handlers run in a chain:
//!
//! - `read` finds the block in the cached file (cheap, default color);
//! - `hash` computes its SHA-256 (the expensive part);
//! - `send` folds the digest into the connection's running digest (cheap, default color).
//!
//! Run [`Coloring::Uncolored`], everything is in the default color: one core's worth of work,
//! whatever the worker count. Run [`Coloring::ByConnection`], `hash` is colored by connection:
//! callbacks of one connection still run in order, different connections hash in parallel.
//! That one-line change is the whole point of libasync-smp:
//!
//! ```text
//! let hash_at = match coloring {
//!     Coloring::Uncolored => HASH.color(Color::DEFAULT),
//!     Coloring::ByConnection => HASH.color(Color::of(&conn)),
//! };
//! ```
//!
//! Each connection's final digest depends on the order its blocks were hashed in, so the two
//! colorings must produce the same digests: [`Summary::digest`] checks that coloring changed
//! speed, not results.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hue_runtime::{Color, Cx, Handler, Keyed, Runtime};
use sha2::{Digest, Sha256};

/// How the `hash` handler is colored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coloring {
    /// Everything in the default color.
    Uncolored,
    /// `hash` colored by connection.
    ByConnection,
}

impl Coloring {
    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Coloring::Uncolored => "uncolored",
            Coloring::ByConnection => "hash by connection",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Worker threads.
    pub workers: usize,
    /// Simulated connections.
    pub connections: u64,
    /// Blocks each connection asks for.
    pub blocks: u64,
    /// Bytes per block.
    pub block_size: usize,
    /// How `hash` is colored.
    pub coloring: Coloring,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            workers: 1,
            connections: 64,
            blocks: 128,
            block_size: 64 * 1024,
            coloring: Coloring::Uncolored,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The configuration it ran with.
    pub config: Config,
    /// Callbacks the runtime ran.
    pub callbacks: u64,
    /// Wall time from the first callback queued to the runtime going idle.
    pub elapsed: Duration,
    /// A digest over every connection's final digest: equal for every coloring and worker
    /// count, or the coloring changed the program's results.
    pub digest: [u8; 32],
    /// Colors stolen between workers.
    pub steals: u64,
}

impl Summary {
    /// Callbacks per second.
    pub fn callbacks_per_sec(&self) -> f64 {
        self.callbacks as f64 / self.elapsed.as_secs_f64()
    }

    /// Bytes hashed per second.
    pub fn bytes_per_sec(&self) -> f64 {
        (self.config.connections * self.config.blocks * self.config.block_size as u64) as f64
            / self.elapsed.as_secs_f64()
    }
}

/// One connection's requests are closed-loop: it asks for block `i + 1` once block `i` was
/// sent, like a client waiting for each reply, so at most one block per connection is in
/// flight.
struct Job {
    file: Arc<Vec<u8>>,
    digests: Keyed<[u8; 32]>,
    block_size: usize,
    blocks: u64,
    coloring: Coloring,
    read: Handler,
    hash: Handler,
    send: Handler,
}

impl Job {
    fn read(self: Arc<Self>, cx: &mut Cx<'_>, conn: u64, block: u64) {
        // "Reading" a block finds it in the cached file; the bytes are not copied.
        let off = ((conn + block) % 3) as usize * self.block_size;
        // The one line that colors the workload.
        let hash_at = match self.coloring {
            Coloring::Uncolored => self.hash.color(Color::DEFAULT),
            Coloring::ByConnection => self.hash.color(Color::of(&conn)),
        };
        cx.spawn(hash_at.key(conn), move |cx| {
            let d: [u8; 32] = Sha256::digest(&self.file[off..off + self.block_size]).into();
            cx.spawn(self.send.key(conn), move |cx| self.send(cx, conn, block, d));
        });
    }

    fn send(self: Arc<Self>, cx: &mut Cx<'_>, conn: u64, block: u64, d: [u8; 32]) {
        cx.keyed(&self.digests, conn, |acc| {
            let mut h = Sha256::new();
            h.update(*acc);
            h.update(d);
            *acc = h.finalize().into();
        });
        if block + 1 < self.blocks {
            cx.spawn(self.read.key(conn), move |cx| {
                self.read(cx, conn, block + 1)
            });
        }
    }
}

/// Runs the workload on a runtime of its own and returns what it did.
pub fn run(config: &Config) -> Result<Summary, hue_runtime::Error> {
    let rt = Runtime::builder().workers(config.workers).build()?;
    let read = Handler::new("read");
    let hash = Handler::new("hash");
    let send = Handler::new("send");
    // A deterministic "file": every connection reads the same bytes at different offsets.
    let file: Arc<Vec<u8>> = Arc::new(
        (0..config.block_size * 4)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761) as u8)
            .collect(),
    );
    let digests: Keyed<[u8; 32]> = Keyed::new("connection-digest");
    let job = Arc::new(Job {
        file,
        digests: digests.clone(),
        block_size: config.block_size,
        blocks: config.blocks,
        coloring: config.coloring,
        read,
        hash,
        send,
    });
    let start = Instant::now();
    for conn in 0..config.connections {
        let job = job.clone();
        rt.spawn(read.key(conn), move |cx| job.read(cx, conn, 0))?;
    }
    rt.wait_idle();
    let elapsed = start.elapsed();
    let steals = rt.metrics().steals();
    let report = rt.shutdown();
    let mut all = Sha256::new();
    for conn in 0..config.connections {
        digests.inspect(conn, |d| all.update(d.copied().unwrap_or_default()));
    }
    Ok(Summary {
        config: config.clone(),
        callbacks: report.callbacks_run,
        elapsed,
        digest: all.finalize().into(),
        steals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coloring_changes_speed_not_results() {
        let base = Config {
            connections: 8,
            blocks: 4,
            block_size: 4096,
            ..Config::default()
        };
        let one = run(&base).unwrap();
        assert_eq!(one.callbacks, 8 * 4 * 3);
        for (workers, coloring) in [(2, Coloring::Uncolored), (2, Coloring::ByConnection)] {
            let s = run(&Config {
                workers,
                coloring,
                ..base.clone()
            })
            .unwrap();
            assert_eq!(
                s.digest, one.digest,
                "{coloring:?} on {workers} workers changed results"
            );
            assert_eq!(s.callbacks, one.callbacks);
        }
    }
}
