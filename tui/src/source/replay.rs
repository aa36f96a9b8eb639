//! Replaying a trace: its records go through [`hue_formats::aggregate::Replay`], the same
//! aggregator live telemetry uses, into one snapshot per period.
//!
//! Two threads read the trace:
//!
//! - **From the start**, every record in order; periods are sent as they close, so the first
//!   screen shows while the rest is still being read, and this reader's word is the one on
//!   where a cut trace stops.
//! - **The seeker** first indexes the trace's chunks by time ([`Index`], one decoding pass
//!   with no aggregation), then, for each period the app [wants](Replayer::want) that has
//!   not been read, reads a few seconds around it starting at the chunk the index gives
//!   ([`stream_periods`], sending each period as it closes): the same snapshots the reader from the start makes for those
//!   periods, long before it gets there.
//!
//! Every period read is kept (a snapshot is a few kilobytes, a 10-minute trace at 100 ms
//! periods a few tens of megabytes).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hue_formats::aggregate::Replay;
use hue_formats::telemetry::Snapshot;
use hue_formats::trace::{Header, TraceError, TraceReader};

use super::Event;
use super::index::Index;
use crate::error::{Error, ErrorKind, Result};
use crate::state::periods::index_of;
use crate::state::window::WINDOW_NS;

/// The period a replay is cut into: as fine as the finest live period, so a step is small.
pub const PERIOD_NS: u64 = 100_000_000;

/// How many periods are sent to the app at once while reading.
const BATCH: usize = 20;

/// Periods a seek reads up to and including the one wanted: the window a view sums.
pub const SEEK_BEFORE: u64 = WINDOW_NS / PERIOD_NS;

/// Periods a seek reads after the one wanted, so that playing on from there does not wait:
/// 2 s, at most a few hundred milliseconds of reading even on a dense trace, and what
/// playing at up to 8x shows in the quarter second another seek takes.
pub const SEEK_AFTER: u64 = 20;

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
        let stopped = self.read(&Indexing::new(false), |batch| {
            all.extend(batch);
            true
        });
        (all, stopped)
    }

    /// Starts the two readers: from the start, sending its periods to `tx` as they close
    /// and then [`Event::ReplayEnd`]; and the seeker, sending [`Event::Indexed`] once it can
    /// seek and then the periods around each one [wanted](Replayer::want). Both stop when
    /// `tx`'s receiver is gone.
    pub fn spawn(self, tx: Sender<Event>) -> Replayer {
        let (want, wanted) = mpsc::channel();
        let indexing = Indexing::new(true);
        let seeker = {
            let (path, workers, tx) = (self.path.clone(), self.header.workers, tx.clone());
            let indexing = indexing.clone();
            thread::Builder::new()
                .name("hue-top-seek".into())
                .spawn(move || seek(&path, usize::from(workers), &tx, &wanted, indexing))
                .expect("spawning the seek thread")
        };
        let reader = thread::Builder::new()
            .name("hue-top-replay".into())
            .spawn(move || {
                let stopped =
                    self.read(&indexing, |batch| tx.send(Event::Snapshots(batch)).is_ok());
                let _ = tx.send(Event::ReplayEnd { stopped });
            })
            .expect("spawning the replay thread");
        Replayer {
            want,
            reader,
            seeker,
        }
    }

    /// Feeds every record to the aggregator, handing closed periods to `send` in batches
    /// (it returns false to stop early), stepping aside after the first batch while
    /// `indexing` goes on.
    fn read(
        mut self,
        indexing: &Indexing,
        mut send: impl FnMut(Vec<Snapshot>) -> bool,
    ) -> Option<String> {
        let mut replay = Replay::new(PERIOD_NS, usize::from(self.header.workers));
        let mut out = Vec::new();
        let mut gone = false;
        let mut n = 0u32;
        let mut sent = false;
        let err = self.reader.for_each_record(|r| {
            if gone {
                return;
            }
            n = n.wrapping_add(1);
            if sent && n.is_multiple_of(4096) {
                indexing.step_aside();
            }
            replay.push(r, &mut out);
            // The first period closed is the first screen: send it at once.
            if out.len() >= if sent { BATCH } else { 1 } {
                sent = true;
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

/// The readers of a replay, running ([`Opened::spawn`]).
pub struct Replayer {
    want: Sender<u64>,
    reader: JoinHandle<()>,
    seeker: JoinHandle<()>,
}

impl Replayer {
    /// Asks for the periods around period `index`: the window ending with it and
    /// [`SEEK_AFTER`] after it. Only the latest wish waiting is served.
    pub fn want(&self, index: u64) {
        let _ = self.want.send(index);
    }

    /// Waits for the reader from the start to finish, then stops the seeker.
    pub fn join(self) {
        let _ = self.reader.join();
        drop(self.want);
        let _ = self.seeker.join();
    }
}

/// How many chunks the seeker indexes between looks at what is wanted: a few milliseconds
/// of decoding (runtime chunks hold up to 65 536 records, the bench's 4096).
const INDEX_STEP: usize = 4;

/// How often the seeker tells the app how far the index has got.
const INDEX_PROGRESS: Duration = Duration::from_millis(50);

/// Set while the seeker indexes: the reader from the start then steps aside (once it has
/// sent the first screen's periods), so that the index, which any seek waits for, is done
/// as soon as it can be. Indexing decodes the trace once, without aggregating it, so it
/// gets through the file sooner than the reader (the index and a seek to the end take about
/// half the instructions of reading to the end: BENCHMARKS.md, "Seeking by the index");
/// the reader goes on once it is done.
#[derive(Clone)]
struct Indexing(Arc<AtomicBool>);

impl Indexing {
    fn new(on: bool) -> Indexing {
        Indexing(Arc::new(AtomicBool::new(on)))
    }

    fn done(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    /// Sleeps while indexing goes on.
    fn step_aside(&self) {
        while self.0.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The seeker's hold on [`Indexing`]: however the seeker ends, the reader from the start
/// must not wait for it.
struct EndsIndexing(Indexing);

impl Drop for EndsIndexing {
    fn drop(&mut self) {
        self.0.done();
    }
}

/// The seeker: indexes the trace a few chunks at a time, telling the app how far it got,
/// and serves the latest wish as soon as the index reaches it, until there are no more
/// wishes or no app.
fn seek(
    path: &Path,
    workers: usize,
    tx: &Sender<Event>,
    wanted: &Receiver<u64>,
    indexing: Indexing,
) {
    let indexing = EndsIndexing(indexing);
    let opened = Index::open(path).and_then(|i| Ok((i, TraceReader::open(path)?)));
    let (mut index, mut reader) = match opened {
        Ok(both) => both,
        Err(e) => {
            let _ = tx.send(Event::SeekFailed(e.to_string()));
            return;
        }
    };
    let mut wish = None;
    let mut told = Instant::now();
    loop {
        if index.complete() && wish.is_none() {
            match wanted.recv() {
                Ok(w) => wish = Some(w),
                Err(_) => return,
            }
        }
        loop {
            match wanted.try_recv() {
                Ok(w) => wish = Some(w),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        if let Some(w) = wish {
            let first = w.saturating_sub(SEEK_BEFORE - 1);
            if index.reaches(first * PERIOD_NS) {
                wish = None;
                let mut gone = false;
                let res =
                    stream_periods(&mut reader, &index, workers, first, w + SEEK_AFTER, |b| {
                        gone = tx.send(Event::Snapshots(b)).is_err();
                        // A newer wish stops reading ahead for this one.
                        if let Ok(newer) = wanted.try_recv() {
                            wish = Some(newer);
                            return false;
                        }
                        !gone
                    });
                if let Err(e) = res {
                    gone = tx.send(Event::SeekFailed(e.to_string())).is_err();
                }
                if gone {
                    return;
                }
                continue;
            }
        }
        if !index.complete() {
            index.grow(INDEX_STEP);
            if index.complete() {
                indexing.0.done();
            }
            if index.complete() || told.elapsed() >= INDEX_PROGRESS {
                told = Instant::now();
                let event = Event::Indexed {
                    end_ns: index.end_ns(),
                    complete: index.complete(),
                };
                if tx.send(event).is_err() {
                    return;
                }
            }
        }
    }
}

/// The snapshots of periods `first..=last` (fewer where the trace ends first; none where
/// the index has no start for them), read by `reader` (of the file `index` indexes) from
/// the chunk [`Index::start`] gives, through a fresh [`Replay`] of `workers` workers: the
/// same snapshots a replay of the whole file makes for them. An error reading the start is
/// returned; a chunk that cannot be read after it ends the reading as it ends the reader
/// from the start, which reports it.
pub fn read_periods(
    reader: &mut TraceReader,
    index: &Index,
    workers: usize,
    first: u64,
    last: u64,
) -> std::result::Result<Vec<Snapshot>, TraceError> {
    let mut all = Vec::new();
    stream_periods(reader, index, workers, first, last, |batch| {
        all.extend(batch);
        true
    })?;
    Ok(all)
}

/// [`read_periods`], handing the periods to `send` as they close, oldest first (so the
/// first ones show before the last are read); `send` returns false to stop.
pub fn stream_periods(
    reader: &mut TraceReader,
    index: &Index,
    workers: usize,
    first: u64,
    last: u64,
    mut send: impl FnMut(Vec<Snapshot>) -> bool,
) -> std::result::Result<(), TraceError> {
    let Some(start) = index.start(first * PERIOD_NS) else {
        return Ok(());
    };
    reader.seek(start.pos)?;
    let mut replay = Replay::new(PERIOD_NS, workers);
    let mut out = Vec::new();
    for r in start.preamble() {
        replay.push(&r, &mut out);
    }
    // Hands on the periods of `first..=last` in `out`; whether to go on.
    let mut pass = |out: &mut Vec<Snapshot>| {
        // A fresh replay also makes every period before `first`, empty or partial: not ours.
        let ours: Vec<Snapshot> = out
            .drain(..)
            .filter(|s| (first..=last).contains(&index_of(s)))
            .collect();
        let done = ours.last().is_some_and(|s| index_of(s) >= last);
        (ours.is_empty() || send(ours)) && !done
    };
    while let Some(r) = reader.next_record() {
        let Ok(r) = r else { break };
        replay.push(&r, &mut out);
        if !out.is_empty() && !pass(&mut out) {
            return Ok(());
        }
    }
    // The end of what can be read: the periods still open are whole, as for the reader
    // from the start.
    replay.finish(&mut out);
    pass(&mut out);
    Ok(())
}
