//! Writing a `.hue` file: a header, then one or more chunks per batch, then an end marker.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::error::TraceError;
use super::format::{
    ChunkKind, FORMAT_VERSION, FRAME_LEN, Frame, MAGIC, PREAMBLE_LEN, TARGET_CHUNK_BYTES,
    TARGET_CHUNK_RECORDS,
};
use super::record::{Header, Record};
use super::v1;

/// Writes records into a `.hue` trace.
///
/// Each [`write_batch`](TraceWriter::write_batch) writes whole chunks (checksummed, each
/// decodable on its own) with one `write_all` per chunk, so a crash leaves a file whose
/// every complete chunk is readable. [`finish`](TraceWriter::finish) writes the end marker;
/// a file without one (the writer was dropped, or the process died) reads as truncated.
///
/// Encoding reuses the writer's buffers: after the first few batches it allocates nothing.
///
/// ```
/// use hue_formats::trace::{DropRecord, FORMAT_VERSION, Header, Record, TraceReader, TraceWriter};
///
/// let header = Header {
///     version: FORMAT_VERSION,
///     start_unix_ns: 1_700_000_000_000_000_000,
///     ticks_per_sec: 3.0e9,
///     workers: 4,
///     program: "demo".into(),
///     policy: String::new(),
///     batch: Some(64),
///     stealing: Some(true),
///     cores: Some(2),
///     color_cost_ns: Some(120),
///     handoff_ns: Some(25_000),
/// };
/// let mut file = Vec::new();
/// let mut writer = TraceWriter::new(&mut file, &header)?;
/// writer.write_batch(&[Record::Drops(DropRecord { worker: 0, records: 3 })])?;
/// let bytes = writer.finish()?;
/// assert_eq!(bytes, file.len() as u64);
///
/// let mut reader = TraceReader::new(&file[..])?;
/// assert_eq!(reader.header().program, "demo");
/// let records: Vec<Record> = reader.by_ref().collect::<Result<_, _>>()?;
/// assert_eq!(records.len(), 1);
/// assert!(reader.complete());
/// # Ok::<(), hue_formats::trace::TraceError>(())
/// ```
pub struct TraceWriter<W: Write = File> {
    inner: W,
    /// The file's name in error messages.
    name: String,
    encoder: v1::Encoder,
    /// The chunk being built: [`FRAME_LEN`] bytes for its frame, then its payload.
    buf: Vec<u8>,
    /// Records in the chunk being built.
    chunk_records: u32,
    /// Bytes written so far: the offset of the next chunk.
    bytes: u64,
    /// Records in the chunks written so far.
    records: u64,
    /// Records chunks written so far.
    chunks: u64,
    /// A write failed: the file may end in a partial chunk, so nothing more may follow it.
    failed: bool,
}

impl TraceWriter<File> {
    /// Creates (or truncates) the file at `path` and writes the header.
    ///
    /// The file's version is always [`FORMAT_VERSION`]; `header.version` is not used.
    pub fn create(path: impl AsRef<Path>, header: &Header) -> Result<Self, TraceError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let file = File::create(path).map_err(|e| {
            TraceError::io(None, format!("{name}: cannot create the trace file"), e)
        })?;
        TraceWriter::with_name(file, name, header)
    }
}

impl<W: Write> TraceWriter<W> {
    /// Writes the header into `inner` and returns a writer of records into it. Errors call
    /// the file `trace`; [`with_name`](Self::with_name) names it.
    ///
    /// The file's version is always [`FORMAT_VERSION`]; `header.version` is not used.
    pub fn new(inner: W, header: &Header) -> Result<Self, TraceError> {
        TraceWriter::with_name(inner, "trace", header)
    }

    /// Like [`new`](Self::new), with the name errors give the file.
    pub fn with_name(
        inner: W,
        name: impl Into<String>,
        header: &Header,
    ) -> Result<Self, TraceError> {
        let mut w = TraceWriter {
            inner,
            name: name.into(),
            encoder: v1::Encoder::new(),
            buf: Vec::with_capacity(TARGET_CHUNK_BYTES + (64 << 10)),
            chunk_records: 0,
            bytes: 0,
            records: 0,
            chunks: 0,
            failed: false,
        };
        w.buf.extend_from_slice(&MAGIC);
        w.buf.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        w.buf.resize(PREAMBLE_LEN + FRAME_LEN, 0);
        v1::encode_header(header, &mut w.buf);
        w.write_chunk(PREAMBLE_LEN, ChunkKind::HEADER)?;
        Ok(w)
    }

    /// Writes `records` as one or more chunks. A batch is normally one worker's buffer
    /// (thousands of records in time order); records of any kind and any worker may be mixed.
    ///
    /// Strings longer than [`MAX_STRING_BYTES`](super::MAX_STRING_BYTES) are cut at a
    /// character boundary. After an error the writer refuses further batches: the file may
    /// end in a partial chunk.
    pub fn write_batch(&mut self, records: &[Record]) -> Result<(), TraceError> {
        self.check_usable()?;
        for record in records {
            if let Record::Machine(m) = record {
                // A chunk of its own (ancillary), after the records before it.
                if self.chunk_records > 0 {
                    self.write_chunk(0, ChunkKind::RECORDS)?;
                }
                self.begin_chunk();
                v1::encode_machine(m, &mut self.buf);
                self.write_chunk(0, ChunkKind::MACHINE)?;
                continue;
            }
            if self.chunk_records == 0 {
                self.begin_chunk();
            }
            self.encoder.encode(record, &mut self.buf);
            self.chunk_records += 1;
            if self.buf.len() - FRAME_LEN >= TARGET_CHUNK_BYTES
                || self.chunk_records >= TARGET_CHUNK_RECORDS
            {
                self.write_chunk(0, ChunkKind::RECORDS)?;
            }
        }
        if self.chunk_records > 0 {
            self.write_chunk(0, ChunkKind::RECORDS)?;
        }
        Ok(())
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> Result<(), TraceError> {
        self.check_usable()?;
        self.inner.flush().map_err(|e| {
            self.failed = true;
            TraceError::io(
                Some(self.bytes),
                format!("{}: flushing the trace failed", self.name),
                e,
            )
        })
    }

    /// Bytes written so far, header included.
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Records written so far.
    pub fn records_written(&self) -> u64 {
        self.records
    }

    /// Writes the end marker and flushes; returns the file's length in bytes.
    pub fn finish(mut self) -> Result<u64, TraceError> {
        self.check_usable()?;
        self.begin_chunk();
        v1::encode_end(self.records, self.chunks, &mut self.buf);
        self.write_chunk(0, ChunkKind::END)?;
        self.flush()?;
        Ok(self.bytes)
    }

    fn check_usable(&self) -> Result<(), TraceError> {
        if self.failed {
            return Err(TraceError::new(
                super::TraceErrorKind::Io,
                Some(self.bytes),
                format!(
                    "{}: an earlier write failed, so the trace ends at byte {} and takes no more records",
                    self.name, self.bytes
                ),
            ));
        }
        Ok(())
    }

    fn begin_chunk(&mut self) {
        self.buf.clear();
        self.buf.resize(FRAME_LEN, 0);
        self.encoder.begin_chunk();
    }

    /// Fills in the frame at `buf[frame_at..]` for the payload after it and writes `buf`.
    fn write_chunk(&mut self, frame_at: usize, kind: ChunkKind) -> Result<(), TraceError> {
        let payload = &self.buf[frame_at + FRAME_LEN..];
        let records = if kind == ChunkKind::RECORDS {
            self.chunk_records
        } else {
            0
        };
        let frame = Frame {
            kind,
            // A chunk is closed at TARGET_CHUNK_BYTES plus one record, and a record's strings
            // are cut at MAX_STRING_BYTES: far below u32::MAX and MAX_CHUNK_BYTES.
            len: payload.len() as u32,
            records,
            crc: crc32fast::hash(payload),
        };
        self.buf[frame_at..frame_at + FRAME_LEN].copy_from_slice(&frame.encode());
        if let Err(e) = self.inner.write_all(&self.buf) {
            self.failed = true;
            return Err(TraceError::io(
                Some(self.bytes),
                format!(
                    "{}: writing the chunk at byte {} failed",
                    self.name,
                    self.bytes + frame_at as u64
                ),
                e,
            ));
        }
        self.bytes += self.buf.len() as u64;
        self.records += records as u64;
        if kind == ChunkKind::RECORDS {
            self.chunks += 1;
        }
        self.chunk_records = 0;
        self.buf.clear();
        Ok(())
    }
}
