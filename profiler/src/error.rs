//! The profiler's error type.

use std::fmt;

/// An error of the profiler: a sentence that names the file, the option or the handler at
/// fault, with the underlying reason in it.
///
/// A trace that is truncated or corrupt part-way is *not* an error: what comes before the bad
/// chunk is analysed and [`crate::Reading::stopped`] says where reading stopped. Errors are
/// for what leaves nothing to analyse (the file cannot be opened, is not a trace, holds no
/// callbacks) and for bad requests (zero cores, an unreadable policy).
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// What kind of [`Error`] this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The trace cannot be read at all: it cannot be opened, is not a `.hue` file, is of an
    /// unknown version, or its header is damaged.
    Trace,
    /// The trace holds no callbacks, so there is nothing to analyse.
    Empty,
    /// A recolor policy cannot be read or does not fit the trace.
    Policy,
    /// An option makes no sense (zero cores, say).
    Config,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error caused by `source`, which [`std::error::Error::source`] gives back. The
    /// message says what failed; `Display` appends the cause unless the message says it.
    pub(crate) fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Error {
        Error {
            kind,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match &self.source {
            Some(src) if !self.message.contains(&src.to_string()) => write!(f, ": {src}"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

/// A `Result` with the profiler's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
