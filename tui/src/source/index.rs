//! An index of a trace's chunks by time, so that a replay can start reading at any time
//! instead of from the start.
//!
//! A chunk is decoded on its own (FORMAT.md: nothing carries over), so a reader can start at
//! any chunk ([`TraceReader::seek`]); what a chunk does not say about itself is what the
//! index keeps:
//!
//! - **Time.** A frame carries no time, and records of several workers are interleaved, so a
//!   chunk's records are not in time order and a period's records may sit in several
//!   neighbouring chunks. The index keeps, per chunk, the latest time (as
//!   [`Replay::time`] sorts records) of any record in it *or before it*: the first chunk
//!   where that reaches a period's start is where reading for that period must begin
//!   ([`Index::start`] says why that is enough).
//! - **Names.** A `Name` record comes once, before the first record that uses its id, maybe
//!   many chunks before the seek point: the index keeps every name in file order and, per
//!   chunk, how many came before it.
//! - **Drops.** A snapshot carries the records dropped so far: the index keeps their sum
//!   before each chunk.
//! - **Large ids.** Ids of [`DENSE_ID_LIMIT`] and above are renumbered in the order they
//!   first appear in the file, so a reader that starts later would number them differently.
//!   The runtime never writes such ids; where a file does, chunks after the first one that
//!   holds one are not start points (a seek there waits for the reader from the start).
//!
//! Building it decodes every chunk once (no aggregation): a chunk's times are known only by
//! decoding its records, because each record's times are deltas from the one before it.

use std::ops::ControlFlow;
use std::path::Path;

use hue_formats::aggregate::Replay;
#[cfg(doc)]
use hue_formats::trace::DENSE_ID_LIMIT;
use hue_formats::trace::{ChunkPos, DenseIds, DropRecord, Name, Record, TraceError, TraceReader};

/// One chunk that holds records.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Where it starts.
    pos: ChunkPos,
    /// The latest time of a record in it or in any chunk before it (`None`: no timed record
    /// yet). Never decreases from one chunk to the next.
    latest_ns: Option<u64>,
    /// Names defined before it.
    names: usize,
    /// Records dropped before it.
    drops: u64,
}

/// Where to start reading a trace for the periods from a given time on, and what the chunks
/// before that start said that a reader starting there must know.
#[derive(Clone, Debug)]
pub struct Start<'a> {
    /// The chunk to start at.
    pub pos: ChunkPos,
    /// The names defined before it, in file order.
    pub names: &'a [Name],
    /// Records dropped before it.
    pub drops: u64,
}

impl Start<'_> {
    /// The records to feed a fresh [`Replay`] before the first record at [`Start::pos`], so
    /// that it knows what a replay from the start would know by then: the names and the
    /// drop count (neither has a time, so neither opens a period).
    pub fn preamble(&self) -> impl Iterator<Item = Record> + '_ {
        let drops = (self.drops > 0).then_some(Record::Drops(DropRecord {
            worker: 0,
            records: self.drops,
        }));
        self.names.iter().cloned().map(Record::Name).chain(drops)
    }
}

/// The chunks of a trace by time; see the module comment. Built a few chunks at a time
/// ([`Index::grow`]), so that it can answer for the part already indexed while it grows.
pub struct Index {
    reader: TraceReader,
    chunks: Vec<Entry>,
    names: Vec<Name>,
    /// The first chunk that holds an id of [`DENSE_ID_LIMIT`] or above, if one does.
    first_large_id: Option<usize>,
    ids: DenseIds,
    latest: Option<u64>,
    drops: u64,
}

impl Index {
    /// Starts indexing the trace at `path`: nothing indexed yet.
    pub fn open(path: &Path) -> Result<Index, TraceError> {
        Ok(Index {
            reader: TraceReader::open(path)?,
            chunks: Vec::new(),
            names: Vec::new(),
            first_large_id: None,
            ids: DenseIds::new(),
            latest: None,
            drops: 0,
        })
    }

    /// Indexes the whole trace at `path`.
    pub fn build(path: &Path) -> Result<Index, TraceError> {
        let mut index = Index::open(path)?;
        while !index.complete() {
            index.grow(usize::MAX);
        }
        Ok(index)
    }

    /// Whether the trace has been indexed to its end or to its first bad chunk (where a
    /// replay from the start stops too; the error is for that reader to report).
    pub fn complete(&self) -> bool {
        self.reader.ended()
    }

    /// Indexes up to `chunks` more chunks.
    pub fn grow(&mut self, chunks: usize) {
        let mut left = chunks;
        let _stopped_early = self.reader.for_each_chunk(|pos, records| {
            let entry = Entry {
                pos,
                latest_ns: None,
                names: self.names.len(),
                drops: self.drops,
            };
            for r in records {
                match r {
                    Record::Name(n) => self.names.push(n.clone()),
                    Record::Drops(d) => self.drops += d.records,
                    _ => {}
                }
                if let Some(t) = Replay::time(r) {
                    self.latest = self.latest.max(Some(t));
                }
                if self.first_large_id.is_none() && self.ids.remap(r).is_some() {
                    self.first_large_id = Some(self.chunks.len());
                }
            }
            self.chunks.push(Entry {
                latest_ns: self.latest,
                ..entry
            });
            left -= 1;
            if left == 0 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
    }

    /// Whether [`Index::start`] can answer for `from_ns` already: the index has reached a
    /// record at or after it, or the end.
    pub fn reaches(&self, from_ns: u64) -> bool {
        self.complete() || self.end_ns().is_some_and(|t| t >= from_ns)
    }

    /// The latest time of any record indexed, ns (`None`: no timed record).
    pub fn end_ns(&self) -> Option<u64> {
        self.chunks.last().and_then(|c| c.latest_ns)
    }

    /// Chunks indexed.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Whether no chunk holds records.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Where to start reading so that a [`Replay`] fed [`Start::preamble`] and then the
    /// records from [`Start::pos`] on makes, for every period that starts at or after
    /// `from_ns`, the same snapshot as a replay of the whole file. `None` if no chunk indexed
    /// holds a record at or after `from_ns` (the index does not [reach](Index::reaches) it
    /// yet, or the trace has none), or the start would follow a large id.
    ///
    /// The start is the first chunk whose records, or those of a chunk before it, reach
    /// `from_ns`. Why that is enough:
    ///
    /// 1. Every record before the start has a time before `from_ns`, so a replay from the
    ///    start of the file folded it into a period before `from_ns`: into its own, or, if it
    ///    was late, into the oldest period still open, which is before `from_ns` too (the
    ///    periods a replay closes trail the latest time it has seen, which is before
    ///    `from_ns`). An untimed record (a blocking mark) went into the newest open period,
    ///    again before `from_ns`. A callback's run and waits, which a replay also spreads
    ///    over the open periods they reach (for the serialization-bound time), end by the
    ///    time it is sorted by, so they reach no period at or after `from_ns` either; those of
    ///    a callback after the start reach back only into periods open in both replays at or
    ///    after `from_ns` (2), or into ones before it, which are not compared.
    /// 2. From the start on, both replays see the same records. They differ only in the
    ///    latest time seen, and only while it is the whole file's, from records before the
    ///    start, which is before `from_ns`: then neither closes a period at or after
    ///    `from_ns`, and a late record goes into a period before `from_ns` in both (the
    ///    later replay's oldest open period is never after the other's). Once the later
    ///    replay's latest time catches up they are the same. So each period at or after
    ///    `from_ns` gets the same records and closes at the same record in both, and a
    ///    blocking mark goes into the same newest open period wherever that is at or after
    ///    `from_ns` (the periods open at or after it are the same in both).
    /// 3. Names and the drop count come from the preamble; ids are the file's own (no large
    ///    id before the start), so handlers are listed in the same order.
    pub fn start(&self, from_ns: u64) -> Option<Start<'_>> {
        let k = self
            .chunks
            .partition_point(|c| c.latest_ns.is_none_or(|t| t < from_ns));
        let entry = self.chunks.get(k)?;
        if self.first_large_id.is_some_and(|first| k > first) {
            return None;
        }
        Some(Start {
            pos: entry.pos,
            names: &self.names[..entry.names],
            drops: entry.drops,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hue_formats::trace::{CallbackRecord, DENSE_ID_LIMIT, NameKind, Origin, TraceWriter};

    fn callback(id: u64, handler: u32, worker: u16, ended: u64) -> Record {
        Record::Callback(CallbackRecord {
            id,
            parent: None,
            origin: Origin::Outside,
            handler,
            color: 0,
            key: None,
            worker,
            queued: ended - 10,
            runnable: ended - 10,
            started: ended - 5,
            ended,
            cpu: None,
        })
    }

    fn name(id: u32, n: &str) -> Record {
        Record::Name(Name {
            kind: NameKind::Handler,
            id,
            name: n.to_owned(),
        })
    }

    /// `batches` written one chunk each to a file named after `test`; its index.
    fn index(test: &str, batches: &[Vec<Record>]) -> Index {
        let path =
            std::env::temp_dir().join(format!("hue-tui-index-{}-{test}.hue", std::process::id()));
        let mut w = TraceWriter::create(&path, &hue_testkit::header(2, "index", "")).unwrap();
        for b in batches {
            w.write_batch(b).unwrap();
        }
        w.finish().unwrap();
        let index = Index::build(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        index
    }

    #[test]
    fn the_start_is_the_first_chunk_whose_records_or_earlier_ones_reach_the_time() {
        // Worker 1's chunk at 500 comes before worker 0's chunk that goes back to 100.
        let index = index(
            "start",
            &[
                vec![name(0, "a"), callback(1, 0, 0, 100)],
                vec![callback(2, 0, 1, 500)],
                vec![name(1, "b"), callback(3, 1, 0, 200)],
                vec![callback(4, 1, 0, 900)],
            ],
        );
        assert_eq!(index.len(), 4);
        assert_eq!(index.end_ns(), Some(900));
        let chunk = |from| index.start(from).map(|s| s.pos.chunks);
        assert_eq!(chunk(0), Some(0));
        assert_eq!(chunk(100), Some(0));
        assert_eq!(chunk(101), Some(1));
        // 300: chunk 2's records end at 200, but chunk 1 already reached 500, so a record
        // of 300 may sit in chunk 2: start at chunk 1.
        assert_eq!(chunk(300), Some(1));
        assert_eq!(chunk(501), Some(3));
        assert_eq!(chunk(901), None);
        let s = index.start(501).unwrap();
        assert_eq!(s.names.len(), 2, "names from every chunk before");
        let s = index.start(300).unwrap();
        assert_eq!(s.names.len(), 1);
    }

    #[test]
    fn drops_before_the_start_are_in_its_preamble() {
        let drops = |n| {
            Record::Drops(DropRecord {
                worker: 0,
                records: n,
            })
        };
        let index = index(
            "drops",
            &[
                vec![name(0, "a"), callback(1, 0, 0, 100), drops(3)],
                vec![drops(4), callback(2, 0, 0, 200)],
                vec![callback(3, 0, 0, 300)],
            ],
        );
        let pre: Vec<Record> = index.start(250).unwrap().preamble().collect();
        assert_eq!(pre, [name(0, "a"), drops(7)]);
        let pre: Vec<Record> = index.start(0).unwrap().preamble().collect();
        assert!(pre.is_empty());
    }

    #[test]
    fn no_start_after_a_large_id() {
        let big = DENSE_ID_LIMIT + 7;
        let index = index(
            "large",
            &[
                vec![callback(1, 0, 0, 100)],
                vec![name(big, "far"), callback(2, big, 0, 200)],
                vec![callback(3, 0, 0, 300)],
            ],
        );
        assert!(
            index.start(150).is_some(),
            "the chunk that holds it is a start"
        );
        assert!(index.start(250).is_none(), "the one after it is not");
    }
}
