//! The telemetry error type, shared by the server and the client.

use std::fmt;
use std::io;

/// An error from the telemetry server or client.
#[derive(Debug)]
pub struct TelemetryError {
    kind: TelemetryErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TelemetryErrorKind {
    /// The server was asked to listen on an address other machines can reach, without
    /// `ServerOptions::allow_non_loopback` (hue-runtime).
    NonLoopback,
    /// Another socket already listens on the address.
    AddrInUse,
    /// Binding or setting up the listening socket failed for another reason.
    Bind,
    /// Starting the server's network thread failed.
    Spawn,
    /// Connecting to the server failed (nothing listens there, say).
    Connect,
    /// The peer is not a hue telemetry server: its greeting is not `HUE-TELEMETRY <version>`.
    NotTelemetry,
    /// The peer is a hue telemetry server that speaks another protocol version.
    Version,
    /// The server refused the viewer (it serves as many viewers as it allows).
    Refused,
    /// The server closed the connection.
    Closed,
    /// No complete snapshot arrived within the read timeout. The client stays usable: the
    /// next call continues where this one stopped.
    TimedOut,
    /// The server sent bytes that are not a valid frame; the connection is unusable.
    Protocol,
    /// Reading from or writing to the connection failed.
    Io,
}

impl TelemetryError {
    /// An error of `kind` with its message.
    pub fn new(kind: TelemetryErrorKind, message: impl Into<String>) -> TelemetryError {
        TelemetryError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error of `kind` with its message, caused by `source`.
    pub fn with_source(
        kind: TelemetryErrorKind,
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> TelemetryError {
        TelemetryError {
            kind,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// What kind of error this is.
    pub fn kind(&self) -> TelemetryErrorKind {
        self.kind
    }

    /// Whether this is a read timeout ([`TelemetryErrorKind::TimedOut`]), after which the client
    /// can simply try again.
    pub fn is_timeout(&self) -> bool {
        self.kind == TelemetryErrorKind::TimedOut
    }
}

impl fmt::Display for TelemetryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(src) = &self.source {
            write!(f, ": {src}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TelemetryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

/// Whether `e` is what a read timeout on a blocking socket (or a read on a non-blocking one)
/// reports: `WouldBlock` on Unix, `TimedOut` on Windows.
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Whether `e` means the peer went away.
pub fn is_hang_up(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}
