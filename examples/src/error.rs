//! The examples' error type.

use std::fmt;
use std::io;

/// An error from a workload: its setup, its runtime, its sockets, or a response that failed
/// its checks.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration cannot be run (zero connections, more connections than the limit).
    Config,
    /// The runtime refused to start, register a socket or take work.
    Runtime,
    /// A socket operation failed.
    Io,
    /// A peer sent bytes that break the protocol (a malformed response, an early close).
    Protocol,
    /// A sealed block failed to decrypt or authenticate, or decrypted to the wrong bytes.
    Verify,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn io(message: impl Into<String>, source: io::Error) -> Error {
        Error {
            kind: ErrorKind::Io,
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config, message)
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Protocol, message)
    }

    pub(crate) fn verify(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Verify, message)
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl From<hue_runtime::Error> for Error {
    fn from(e: hue_runtime::Error) -> Error {
        Error {
            kind: ErrorKind::Runtime,
            message: "the runtime failed".to_owned(),
            source: Some(Box::new(e)),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(src) = &self.source {
            write!(f, ": {src}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

/// A `Result` with the examples' [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
