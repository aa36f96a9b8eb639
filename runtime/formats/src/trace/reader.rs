//! Reading a `.hue` file as a stream of records.
//!
//! The reader takes one chunk at a time:
//!
//! 1. Read the 17-byte frame. End of file before it: the file is truncated (no end marker);
//!    inside it: the chunk is truncated.
//! 2. Check the frame's own checksum, then its length and record count against the limits,
//!    before allocating anything for the payload.
//! 3. Read the payload, growing the buffer only as bytes arrive, so a length field that
//!    claims more than the file holds costs no more memory than the file's bytes.
//! 4. Check the payload's checksum, then decode the whole chunk. Only a chunk that decodes
//!    completely hands out records, so every record returned comes from a good chunk.
//!
//! The first error ends the stream: later chunks are not trusted after a bad one (a torn
//! length field would misplace every following frame).

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::iter::FusedIterator;
use std::ops::ControlFlow;
use std::path::Path;

use super::error::{TraceError, TraceErrorKind};
use super::format::{
    ChunkKind, FORMAT_VERSION, FRAME_LEN, Frame, MAGIC, MAX_CHUNK_BYTES, MAX_CHUNK_RECORDS,
    OLDEST_VERSION, PREAMBLE_LEN,
};
use super::record::{Header, Record};
use super::v1;

/// The payload buffer grows by at most this much ahead of the bytes that actually arrived.
const READ_STEP: usize = 1 << 20;

/// Reads a `.hue` trace: its [`header`](TraceReader::header), then its records, as an
/// iterator of `Result<Record, TraceError>`.
///
/// It returns every record of every good chunk. At the first torn or corrupt chunk it yields
/// one error naming the chunk's byte offset and what is wrong, then ends. After the stream
/// ends, [`complete`](TraceReader::complete) tells whether the writer finished the file, and
/// [`summary`](TraceReader::summary) what was read.
///
/// ```no_run
/// use hue_formats::trace::TraceReader;
///
/// let mut reader = TraceReader::open("trace.hue")?;
/// for record in reader.by_ref() {
///     match record {
///         Ok(record) => println!("{record:?}"),
///         Err(e) => eprintln!("{e}"), // e.g. "trace.hue: chunk at byte 4711 is truncated (...)"
///     }
/// }
/// println!("{}", reader.summary());
/// # Ok::<(), hue_formats::trace::TraceError>(())
/// ```
pub struct TraceReader<R: Read = File> {
    inner: R,
    /// The file's name in error messages.
    name: String,
    header: Header,
    codec: Codec,
    /// The payload of the chunk being read; reused.
    payload: Vec<u8>,
    /// Decoded records of the current chunk not yet returned.
    pending: VecDeque<Record>,
    /// Offset of the next chunk.
    offset: u64,
    /// Where the chunk whose records are pending starts.
    chunk_at: ChunkPos,
    /// Records decoded so far (returned or pending), checked against the end marker.
    decoded: u64,
    summary: ReadSummary,
    /// The stream has ended, after the end marker or an error.
    done: bool,
}

/// What a [`TraceReader`] has read so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadSummary {
    /// The file's format version.
    pub version: u16,
    /// Records returned.
    pub records: u64,
    /// Records chunks read and checked.
    pub chunks: u64,
    /// Bytes read and checked: the end of the last good chunk.
    pub bytes: u64,
    /// Whether the end marker was reached: the writer finished the file and every record it
    /// wrote was read.
    pub complete: bool,
    /// Where reading stopped on an error: the byte offset of the bad chunk.
    pub stopped_at: Option<u64>,
}

impl fmt::Display for ReadSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} records in {} chunks, {} bytes (format version {})",
            self.records, self.chunks, self.bytes, self.version
        )?;
        match (self.complete, self.stopped_at) {
            (true, None) => f.write_str("; complete"),
            (true, Some(at)) => write!(f, "; complete, but bad data follows at byte {at}"),
            (false, Some(at)) => write!(f, "; stopped at byte {at}"),
            (false, None) => f.write_str("; not read to the end"),
        }
    }
}

/// Where a chunk starts and what came before it: all a [`TraceReader`] needs to start
/// reading there ([`TraceReader::seek`]) as if it had read the file up to it. Chunks are
/// decoded on their own (nothing carries over, FORMAT.md), so a reader can start at any one;
/// the counts keep the end marker's check and the [`ReadSummary`] true.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkPos {
    /// Byte offset of the chunk's frame.
    pub offset: u64,
    /// Records in the records chunks before it.
    pub records: u64,
    /// Records chunks before it.
    pub chunks: u64,
}

/// The record decoder of the file's version. A new version adds a variant here and keeps the
/// old ones, so files of every supported version stay readable.
enum Codec {
    V1(v1::Decoder),
}

impl TraceReader<File> {
    /// Opens the file at `path` and reads its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, TraceError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let file = File::open(path)
            .map_err(|e| TraceError::io(None, format!("{name}: cannot open the trace"), e))?;
        TraceReader::with_name(file, name)
    }
}

impl<R: Read> TraceReader<R> {
    /// Reads the header from `inner`. Errors call the file `trace`;
    /// [`with_name`](Self::with_name) names it.
    pub fn new(inner: R) -> Result<Self, TraceError> {
        TraceReader::with_name(inner, "trace")
    }

    /// Like [`new`](Self::new), with the name errors give the file.
    pub fn with_name(mut inner: R, name: impl Into<String>) -> Result<Self, TraceError> {
        let name = name.into();
        let mut preamble = [0u8; PREAMBLE_LEN];
        let n = read_full(&mut inner, &mut preamble).map_err(|e| {
            TraceError::io(Some(0), format!("{name}: reading the header failed"), e)
        })?;
        let magic_len = n.min(MAGIC.len());
        if preamble[..magic_len] != MAGIC[..magic_len] {
            return Err(TraceError::new(
                TraceErrorKind::NotATrace,
                Some(0),
                format!(
                    "{name} is not a hue trace: it starts with {}, not the .hue magic {}",
                    hex(&preamble[..magic_len]),
                    hex(&MAGIC)
                ),
            ));
        }
        if n < PREAMBLE_LEN {
            let what = if n == 0 {
                format!("{name} is empty: it holds no trace header")
            } else {
                format!(
                    "{name} is truncated at byte {n}, inside the {PREAMBLE_LEN} bytes of magic and version"
                )
            };
            return Err(TraceError::new(TraceErrorKind::Truncated, Some(0), what));
        }
        let version = u16::from_le_bytes([preamble[8], preamble[9]]);
        // Every version this hue reads has an arm here; dropping one makes its files
        // "too old" below instead of misread.
        let codec = match version {
            1 => Codec::V1(v1::Decoder::new()),
            _ => {
                let too_old = if version < OLDEST_VERSION {
                    " (the file is too old)"
                } else {
                    ""
                };
                return Err(TraceError::new(
                    TraceErrorKind::Version,
                    Some(8),
                    format!(
                        "{name} is format version {version}; this hue reads versions \
                         {OLDEST_VERSION}..={FORMAT_VERSION}{too_old}"
                    ),
                ));
            }
        };
        let mut reader = TraceReader {
            inner,
            name,
            header: Header {
                version,
                start_unix_ns: 0,
                ticks_per_sec: 0.0,
                workers: 0,
                program: String::new(),
                policy: String::new(),
                batch: None,
                stealing: None,
                cores: None,
                color_cost_ns: None,
                handoff_ns: None,
            },
            codec,
            payload: Vec::new(),
            pending: VecDeque::new(),
            offset: PREAMBLE_LEN as u64,
            chunk_at: ChunkPos {
                offset: PREAMBLE_LEN as u64,
                records: 0,
                chunks: 0,
            },
            decoded: 0,
            summary: ReadSummary {
                version,
                ..ReadSummary::default()
            },
            done: false,
        };
        let at = reader.offset;
        let frame = reader.read_frame()?;
        if frame.kind != ChunkKind::HEADER {
            return Err(reader.corrupt(
                at,
                format!(
                    "the first chunk should be the file header but has kind 0x{:02x}",
                    frame.kind.0
                ),
            ));
        }
        let header = match reader.codec {
            Codec::V1(_) => v1::decode_header(&reader.payload),
        };
        reader.header = header.map_err(|bad| {
            reader.corrupt(at, format!("the file header cannot be decoded: {bad}"))
        })?;
        Ok(reader)
    }

    /// The file's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Whether the end marker has been read: the writer finished the file and every record
    /// in it was read. `false` until the stream has been read to its end.
    pub fn complete(&self) -> bool {
        self.summary.complete
    }

    /// What has been read so far.
    pub fn summary(&self) -> &ReadSummary {
        &self.summary
    }

    /// The next record; `Some(Err(..))` once at a bad chunk or a truncated end, then `None`.
    pub fn next_record(&mut self) -> Option<Result<Record, TraceError>> {
        loop {
            if let Some(record) = self.pending.pop_front() {
                self.summary.records += 1;
                return Some(Ok(record));
            }
            if let Err(e) = self.next_chunk()? {
                return Some(Err(e));
            }
        }
    }

    /// Calls `f` on every record left, in order, by reference (a record is over 100 bytes:
    /// not moving each one out is most of what this saves over [`TraceReader::next_record`]).
    /// Returns the error that stopped the reading, if one did; the records before it were
    /// all handed to `f`.
    pub fn for_each_record(&mut self, mut f: impl FnMut(&Record)) -> Option<TraceError> {
        loop {
            for record in &self.pending {
                f(record);
            }
            self.summary.records += self.pending.len() as u64;
            self.pending.clear();
            if let Err(e) = self.next_chunk()? {
                return Some(e);
            }
        }
    }

    /// Where the next chunk starts (once the records of the current one have been taken).
    pub fn chunk_pos(&self) -> ChunkPos {
        ChunkPos {
            offset: self.offset,
            records: self.decoded,
            chunks: self.summary.chunks,
        }
    }

    /// Calls `f` on each chunk left that holds records (records chunks, machine samples), in
    /// order, with where the chunk starts and its records, until `f` breaks; the records left
    /// of a chunk partly taken with [`next_record`](Self::next_record) come first, with that
    /// chunk's position. Returns the error that stopped the reading, if one did; the chunks
    /// before it were all handed to `f`. Called again after `f` broke, it goes on with the
    /// next chunk.
    pub fn for_each_chunk(
        &mut self,
        mut f: impl FnMut(ChunkPos, &[Record]) -> ControlFlow<()>,
    ) -> Option<TraceError> {
        loop {
            if !self.pending.is_empty() {
                let flow = f(self.chunk_at, self.pending.make_contiguous());
                self.summary.records += self.pending.len() as u64;
                self.pending.clear();
                if flow.is_break() {
                    return None;
                }
            }
            if let Err(e) = self.next_chunk()? {
                return Some(e);
            }
        }
    }

    /// Whether the stream has ended: the end marker or an error was read.
    pub fn ended(&self) -> bool {
        self.done && self.pending.is_empty()
    }

    /// Reads the next chunk into `pending`: `None` once reading has ended; an error ends it
    /// (and records where).
    fn next_chunk(&mut self) -> Option<Result<(), TraceError>> {
        if self.done {
            return None;
        }
        let at = self.offset;
        self.chunk_at = self.chunk_pos();
        let res = self.read_chunk();
        if let Err(e) = &res {
            self.done = true;
            self.summary.stopped_at = e.offset().or(Some(at));
        }
        Some(res)
    }

    /// Reads and decodes the next chunk into `pending`.
    fn read_chunk(&mut self) -> Result<(), TraceError> {
        let at = self.offset;
        let frame = self.read_frame()?;
        match frame.kind {
            ChunkKind::RECORDS => {
                let res = match &mut self.codec {
                    Codec::V1(dec) => {
                        dec.decode_chunk(&self.payload, frame.records, &mut self.pending)
                    }
                };
                if let Err(bad) = res {
                    return Err(self.corrupt(
                        at,
                        format!(
                            "record {} (payload byte {}) cannot be decoded: {}",
                            bad.record, bad.at, bad.bad
                        ),
                    ));
                }
                self.decoded += frame.records as u64;
                self.summary.chunks += 1;
            }
            ChunkKind::END => {
                let counts = match &self.codec {
                    Codec::V1(_) => v1::decode_end(&self.payload),
                };
                let (records, chunks) = counts.map_err(|bad| {
                    self.corrupt(at, format!("its end marker cannot be decoded: {bad}"))
                })?;
                if (records, chunks) != (self.decoded, self.summary.chunks) {
                    return Err(self.corrupt(
                        at,
                        format!(
                            "its end marker says the file holds {records} records in {chunks} \
                             chunks, but {} records in {} chunks came before it",
                            self.decoded, self.summary.chunks
                        ),
                    ));
                }
                self.summary.complete = true;
                self.done = true;
                // Anything after the end marker was not written by the writer that finished.
                let mut probe = [0u8; 1];
                let n = read_full(&mut self.inner, &mut probe).map_err(|e| {
                    TraceError::io(
                        Some(self.offset),
                        format!("{}: reading failed", self.name),
                        e,
                    )
                })?;
                if n > 0 {
                    return Err(TraceError::new(
                        TraceErrorKind::Corrupt,
                        Some(self.offset),
                        format!(
                            "{}: data follows the end marker at byte {} (every record before it was read)",
                            self.name, self.offset
                        ),
                    ));
                }
            }
            ChunkKind::HEADER => {
                return Err(self.corrupt(at, "it is a second header".to_owned()));
            }
            ChunkKind::MACHINE => {
                let m = match &self.codec {
                    Codec::V1(_) => v1::decode_machine(&self.payload),
                };
                // Ancillary: a sample that cannot be decoded is skipped, not an error.
                if let Ok(m) = m {
                    self.pending.push_back(Record::Machine(m));
                }
            }
            kind if kind.is_ancillary() => {} // an optional chunk of a later writer: skip it
            kind => {
                return Err(self.corrupt(
                    at,
                    format!(
                        "its kind 0x{:02x} is not one this hue knows (is the file from a newer hue?)",
                        kind.0
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Reads one frame and its payload (into `self.payload`) and checks both checksums.
    fn read_frame(&mut self) -> Result<Frame, TraceError> {
        let at = self.offset;
        let mut bytes = [0u8; FRAME_LEN];
        let n = read_full(&mut self.inner, &mut bytes).map_err(|e| {
            TraceError::io(
                Some(at),
                format!("{}: reading the chunk at byte {at} failed", self.name),
                e,
            )
        })?;
        if n == 0 {
            return Err(TraceError::new(
                TraceErrorKind::Truncated,
                Some(at),
                format!(
                    "{}: the file ends at byte {at} without an end marker: its writer did not \
                     finish ({} records in {} chunks were read)",
                    self.name, self.decoded, self.summary.chunks
                ),
            ));
        }
        if n < FRAME_LEN {
            return Err(self.truncated(at, FRAME_LEN as u64, n as u64));
        }
        let frame = Frame::decode(&bytes)
            .ok_or_else(|| self.corrupt(at, "its header's checksum does not match".to_owned()))?;
        if frame.len > MAX_CHUNK_BYTES {
            return Err(self.corrupt(
                at,
                format!(
                    "it declares {} bytes, more than the {} MiB a chunk may hold",
                    frame.len,
                    MAX_CHUNK_BYTES >> 20
                ),
            ));
        }
        if frame.records > MAX_CHUNK_RECORDS {
            return Err(self.corrupt(
                at,
                format!(
                    "it declares {} records, more than the {MAX_CHUNK_RECORDS} a chunk may hold",
                    frame.records
                ),
            ));
        }
        let len = frame.len as usize;
        let got = self.read_payload(len).map_err(|e| {
            TraceError::io(
                Some(at),
                format!("{}: reading the chunk at byte {at} failed", self.name),
                e,
            )
        })?;
        if got < len {
            return Err(self.truncated(at, (FRAME_LEN + len) as u64, (FRAME_LEN + got) as u64));
        }
        let crc = crc32fast::hash(&self.payload);
        if crc != frame.crc {
            return Err(self.corrupt(
                at,
                format!(
                    "checksum mismatch (stored 0x{:08x}, computed 0x{crc:08x})",
                    frame.crc
                ),
            ));
        }
        self.offset += (FRAME_LEN + len) as u64;
        self.summary.bytes = self.offset;
        Ok(frame)
    }

    /// Reads up to `len` bytes into `self.payload`; returns how many arrived.
    fn read_payload(&mut self, len: usize) -> io::Result<usize> {
        self.payload.clear();
        while self.payload.len() < len {
            let filled = self.payload.len();
            let want = (len - filled).min(READ_STEP);
            self.payload.resize(filled + want, 0);
            let n = read_full(&mut self.inner, &mut self.payload[filled..])?;
            self.payload.truncate(filled + n);
            if n < want {
                break;
            }
        }
        Ok(self.payload.len())
    }

    fn truncated(&self, at: u64, expected: u64, found: u64) -> TraceError {
        TraceError::new(
            TraceErrorKind::Truncated,
            Some(at),
            format!(
                "{}: chunk at byte {at} is truncated (expected {expected} bytes, found {found})",
                self.name
            ),
        )
    }

    fn corrupt(&self, at: u64, what: String) -> TraceError {
        TraceError::new(
            TraceErrorKind::Corrupt,
            Some(at),
            format!("{}: chunk at byte {at} is corrupt: {what}", self.name),
        )
    }
}

impl<R: Read + Seek> TraceReader<R> {
    /// Goes to the chunk at `pos` (from [`chunk_pos`](Self::chunk_pos) or
    /// [`for_each_chunk`](Self::for_each_chunk) of a reader of the same file) and reads on
    /// from there, as if every chunk before it had been read: records pending are dropped,
    /// the summary counts what came before `pos`, and a stream that had ended goes on.
    /// A `pos` that is not where a chunk starts reads as a corrupt chunk there.
    pub fn seek(&mut self, pos: ChunkPos) -> Result<(), TraceError> {
        self.inner.seek(SeekFrom::Start(pos.offset)).map_err(|e| {
            TraceError::io(
                Some(pos.offset),
                format!("{}: cannot go to byte {}", self.name, pos.offset),
                e,
            )
        })?;
        self.pending.clear();
        self.offset = pos.offset;
        self.chunk_at = pos;
        self.decoded = pos.records;
        self.summary = ReadSummary {
            version: self.summary.version,
            records: pos.records,
            chunks: pos.chunks,
            bytes: pos.offset,
            complete: false,
            stopped_at: None,
        };
        self.done = false;
        Ok(())
    }
}

impl<R: Read> Iterator for TraceReader<R> {
    type Item = Result<Record, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record()
    }
}

impl<R: Read> FusedIterator for TraceReader<R> {}

/// Bytes as `89 48 55 45`.
fn hex(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if hex.is_empty() {
        "nothing".to_owned()
    } else {
        hex.join(" ")
    }
}

/// Reads until `buf` is full or the reader is at its end; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
