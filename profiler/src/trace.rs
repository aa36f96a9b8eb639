//! Where a trace comes from: a file, or bytes in memory. The profiler reads a trace more than
//! once (statistics, then one pass per simulated core count), always streaming.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hue_formats::trace::{DenseIds, Header, ReadSummary, Record, TraceError, TraceReader};

use crate::error::{Error, ErrorKind, Result};

/// A `.hue` trace the profiler can read as often as it needs, each time as a stream.
#[derive(Clone, Debug)]
pub struct Trace {
    source: Source,
    name: String,
}

#[derive(Clone, Debug)]
enum Source {
    File(PathBuf),
    Bytes(Arc<[u8]>),
    /// Records already read (and renumbered) from another trace: a sample's window
    /// (`sample.rs`), simulated many times without decoding it again.
    Records(Arc<(Header, Vec<Record>)>),
}

/// A reader of one pass over a [`Trace`]: the file's records, with handler, state and event
/// ids renumbered small where the file holds large ones ([`DenseIds`]), so the profiler's
/// tables can be indexed by id. Every pass renumbers the same way.
pub(crate) struct Reader {
    inner: Inner,
    ids: DenseIds,
}

enum Inner {
    Stream(Box<TraceReader<Box<dyn Read + Send>>>),
    Records {
        records: Arc<(Header, Vec<Record>)>,
        pos: usize,
        summary: ReadSummary,
    },
}

impl Reader {
    pub(crate) fn header(&self) -> &Header {
        match &self.inner {
            Inner::Stream(r) => r.header(),
            Inner::Records { records, .. } => &records.0,
        }
    }

    pub(crate) fn summary(&self) -> &ReadSummary {
        match &self.inner {
            Inner::Stream(r) => r.summary(),
            Inner::Records { summary, .. } => summary,
        }
    }

    /// The next record, or `None` at the end; an error ends the pass.
    pub(crate) fn next_record(&mut self) -> Option<std::result::Result<Record, TraceError>> {
        let ids = &mut self.ids;
        match &mut self.inner {
            Inner::Stream(r) => r
                .next_record()
                .map(|r| r.map(|rec| ids.remap(&rec).unwrap_or(rec))),
            // Renumbered when they were read from their trace.
            Inner::Records { records, pos, .. } => {
                let rec = records.1.get(*pos)?.clone();
                *pos += 1;
                Some(Ok(rec))
            }
        }
    }

    /// Hands every record to `f` by reference; returns the error that ended the pass early.
    pub(crate) fn for_each_record(&mut self, mut f: impl FnMut(&Record)) -> Option<TraceError> {
        let ids = &mut self.ids;
        match &mut self.inner {
            Inner::Stream(r) => r.for_each_record(|rec| match ids.remap(rec) {
                Some(small) => f(&small),
                None => f(rec),
            }),
            Inner::Records { records, pos, .. } => {
                for rec in &records.1[*pos..] {
                    f(rec);
                }
                *pos = records.1.len();
                None
            }
        }
    }
}

impl Trace {
    /// The trace in the file at `path`. Checks that it can be opened and that it starts with a
    /// good header.
    pub fn open(path: impl AsRef<Path>) -> Result<Trace> {
        let path = path.as_ref();
        let trace = Trace {
            source: Source::File(path.to_owned()),
            name: path.display().to_string(),
        };
        trace.reader()?;
        Ok(trace)
    }

    /// A trace held in memory (tests, benchmarks); `name` names it in messages.
    pub fn from_bytes(name: impl Into<String>, bytes: impl Into<Arc<[u8]>>) -> Result<Trace> {
        let trace = Trace {
            source: Source::Bytes(bytes.into()),
            name: name.into(),
        };
        trace.reader()?;
        Ok(trace)
    }

    /// The trace's name in messages: its path, or the name it was given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// One more streaming pass, for a caller that needs what [`crate::Profile`] does not
    /// aggregate (a renderer's own timeline): every record by reference, with the small ids
    /// [`crate::Profile`] uses (so `HandlerStats::id` names a record's handler). Returns the
    /// reader's error that ended the pass early, if one did; what came before was handed over.
    pub fn for_each_record(&self, f: impl FnMut(&Record)) -> Result<Option<TraceError>> {
        Ok(self.reader()?.for_each_record(f))
    }

    /// Records already read from another trace, held in memory (a sample's window): `name`
    /// names it in messages.
    pub(crate) fn from_records(name: String, header: Header, records: Vec<Record>) -> Trace {
        Trace {
            source: Source::Records(Arc::new((header, records))),
            name,
        }
    }

    /// A new pass over the trace, from its header.
    pub(crate) fn reader(&self) -> Result<Reader> {
        let inner: Box<dyn Read + Send> = match &self.source {
            Source::Records(records) => {
                return Ok(Reader {
                    inner: Inner::Records {
                        records: records.clone(),
                        pos: 0,
                        summary: ReadSummary::default(),
                    },
                    ids: DenseIds::new(),
                });
            }
            Source::File(path) => {
                let file = std::fs::File::open(path).map_err(|e| {
                    Error::new(
                        ErrorKind::Trace,
                        format!("{}: cannot open the trace: {e}", self.name),
                    )
                })?;
                // Chunks are read whole (up to 1 MiB each); a buffer only saves the two small
                // reads of each chunk's frame.
                Box::new(std::io::BufReader::with_capacity(64 << 10, file))
            }
            Source::Bytes(bytes) => Box::new(SharedBytes {
                bytes: bytes.clone(),
                pos: 0,
            }),
        };
        let inner = TraceReader::with_name(inner, self.name.clone()).map_err(header_error)?;
        Ok(Reader {
            inner: Inner::Stream(Box::new(inner)),
            ids: DenseIds::new(),
        })
    }
}

/// A trace whose header cannot be read leaves nothing to analyse.
fn header_error(e: TraceError) -> Error {
    // The reader's message names the file and what is wrong with it: it is the message.
    Error::with_source(ErrorKind::Trace, e.to_string(), e)
}

/// `&[u8]` as `Read`, owning a share of the bytes so that readers can move between threads.
struct SharedBytes {
    bytes: Arc<[u8]>,
    pos: usize,
}

impl Read for SharedBytes {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = &self.bytes[self.pos.min(self.bytes.len())..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}
