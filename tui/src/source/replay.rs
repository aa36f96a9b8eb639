//! Replaying a trace: its records go through [`hue_formats::aggregate::Replay`], the same
//! aggregator live telemetry uses, into one snapshot per period.
//!
//! The trace is read in a thread of its own and its periods are sent as they close, so the
//! first screen shows while the rest is still being read; seeking moves within what has been
//! read (every period read is kept: a snapshot is a few kilobytes, a 10-minute trace at
//! 100 ms periods a few tens of megabytes).

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::thread::{self, JoinHandle};

use hue_formats::aggregate::Replay;
use hue_formats::telemetry::Snapshot;
use hue_formats::trace::{Header, TraceReader};

use super::Event;
use crate::error::{Error, ErrorKind, Result};

/// The period a replay is cut into: as fine as the finest live period, so a step is small.
pub const PERIOD_NS: u64 = 100_000_000;

/// How many periods are sent to the app at once while reading.
const BATCH: usize = 20;

/// A trace opened for replay: its header read, its records not yet.
pub struct Opened {
    /// The file.
    pub path: PathBuf,
    /// Its header (program, workers, cores).
    pub header: Header,
    reader: TraceReader,
}

/// Opens `path` and reads its header; fails with a sentence naming the file if it is not a
/// readable hue trace.
pub fn open(path: &Path) -> Result<Opened> {
    let reader = TraceReader::open(path)
        .map_err(|e| Error::with_source(ErrorKind::Trace, format!("cannot replay: {e}"), e))?;
    Ok(Opened {
        path: path.to_owned(),
        header: reader.header().clone(),
        reader,
    })
}

impl Opened {
    /// Reads the whole trace into snapshots here and now; the second value says where and why
    /// reading stopped early, if it did.
    pub fn read_all(self) -> (Vec<Snapshot>, Option<String>) {
        let mut all = Vec::new();
        let stopped = self.read(|batch| {
            all.extend(batch);
            true
        });
        (all, stopped)
    }

    /// Reads the trace in a thread, sending its periods to `tx` as they close and then
    /// [`Event::ReplayEnd`].
    pub fn spawn(self, tx: Sender<Event>) -> JoinHandle<()> {
        thread::Builder::new()
            .name("hue-top-replay".into())
            .spawn(move || {
                let stopped = self.read(|batch| tx.send(Event::Snapshots(batch)).is_ok());
                let _ = tx.send(Event::ReplayEnd { stopped });
            })
            .expect("spawning the replay thread")
    }

    /// Feeds every record to the aggregator, handing closed periods to `send` in batches
    /// (it returns false to stop early).
    fn read(mut self, mut send: impl FnMut(Vec<Snapshot>) -> bool) -> Option<String> {
        let mut replay = Replay::new(PERIOD_NS, usize::from(self.header.workers));
        let mut out = Vec::new();
        let mut gone = false;
        let err = self.reader.for_each_record(|r| {
            if gone {
                return;
            }
            replay.push(r, &mut out);
            if out.len() >= BATCH {
                gone = !send(std::mem::take(&mut out));
            }
        });
        replay.finish(&mut out);
        if !gone && !out.is_empty() {
            send(out);
        }
        let summary = self.reader.summary();
        match err {
            Some(e) => Some(format!(
                "{} is cut short: {e}; showing the {} records before it",
                self.path.display(),
                summary.records
            )),
            None if !summary.complete => Some(format!(
                "{} ends without its end marker (the program did not finish it); showing the \
                 {} records it holds",
                self.path.display(),
                summary.records
            )),
            None => None,
        }
    }
}
