//! The error of reading or writing a `.hue` file.

use std::fmt;
use std::io;

/// An error reading or writing a `.hue` trace.
///
/// Its message is a sentence that names the file and, where there is one, the byte offset
/// of the chunk at fault: `trace.hue: chunk at byte 123456 is truncated (expected 4096
/// bytes, found 100)`.
#[derive(Debug)]
pub struct TraceError {
    kind: TraceErrorKind,
    offset: Option<u64>,
    message: String,
    source: Option<io::Error>,
}

/// What went wrong with a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TraceErrorKind {
    /// Opening, reading or writing the file failed.
    Io,
    /// The file does not start with the `.hue` magic bytes.
    NotATrace,
    /// The file is a trace in a format version this hue does not read.
    Version,
    /// The file ends in the middle of a chunk or without an end marker: its writer did not
    /// finish (it crashed, or the file is still being written).
    Truncated,
    /// A chunk's checksum does not match or its content makes no sense.
    Corrupt,
}

impl TraceError {
    pub(crate) fn new(
        kind: TraceErrorKind,
        offset: Option<u64>,
        message: impl Into<String>,
    ) -> TraceError {
        TraceError {
            kind,
            offset,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn io(
        offset: Option<u64>,
        message: impl Into<String>,
        source: io::Error,
    ) -> TraceError {
        TraceError {
            kind: TraceErrorKind::Io,
            offset,
            message: message.into(),
            source: Some(source),
        }
    }

    /// What kind of error this is.
    pub fn kind(&self) -> TraceErrorKind {
        self.kind
    }

    /// The byte offset in the file the error is about: the start of the bad chunk, or where
    /// the file ends too early. `None` for errors that are about no place in the file (the
    /// file cannot be opened, say).
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(src) = &self.source {
            write!(f, ": {src}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TraceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}
