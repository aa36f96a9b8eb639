//! The telemetry client: connects to a server and reads its snapshots.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::Snapshot;
use super::error::{TelemetryError, TelemetryErrorKind, is_hang_up, is_timeout};
use super::wire::{self, Greeting, MAX_FRAME_LEN, MAX_GREETING_LEN, PROTOCOL_VERSION};

/// A viewer of a telemetry server (`hue_runtime::telemetry::TelemetryServer`): reads the
/// snapshots it publishes.
///
/// Reads block until a snapshot arrives, or up to the timeout set with
/// [`set_read_timeout`](TelemetryClient::set_read_timeout). A read that times out in the
/// middle of a frame keeps what it read, so the next call continues the same frame.
pub struct TelemetryClient {
    stream: TcpStream,
    server: SocketAddr,
    /// The frame being read: its length prefix, how much of it has arrived, then its body.
    header: [u8; 4],
    header_read: usize,
    body: Vec<u8>,
    body_read: usize,
    /// Set once the stream is out of step with the frames (an impossible length), after which
    /// every read fails.
    broken: bool,
}

impl TelemetryClient {
    /// How long [`connect`](TelemetryClient::connect) waits to connect and for the greeting.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

    /// Connects to the telemetry server at `addr` and greets it, waiting at most
    /// [`CONNECT_TIMEOUT`](TelemetryClient::CONNECT_TIMEOUT).
    ///
    /// Fails with a sentence naming `addr` if nothing listens there, if the peer is not a hue
    /// telemetry server or speaks another protocol version, or if it refuses the viewer.
    pub fn connect(addr: SocketAddr) -> Result<TelemetryClient, TelemetryError> {
        TelemetryClient::connect_timeout(addr, TelemetryClient::CONNECT_TIMEOUT)
    }

    /// [`connect`](TelemetryClient::connect), waiting at most `timeout` to connect and as long
    /// again for the greeting.
    pub fn connect_timeout(
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<TelemetryClient, TelemetryError> {
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
            let hint = if e.kind() == io::ErrorKind::ConnectionRefused {
                " (nothing listens there: is the program running, with telemetry on?)"
            } else {
                ""
            };
            TelemetryError::with_source(
                TelemetryErrorKind::Connect,
                format!("cannot connect to the telemetry server at {addr}{hint}"),
                e,
            )
        })?;
        let mut client = TelemetryClient {
            stream,
            server: addr,
            header: [0; 4],
            header_read: 0,
            body: Vec::new(),
            body_read: 0,
            broken: false,
        };
        client.set_read_timeout(Some(timeout))?;
        client.greet(timeout)?;
        client.set_read_timeout(None)?;
        Ok(client)
    }

    /// The address of the server.
    pub fn server_addr(&self) -> SocketAddr {
        self.server
    }

    /// How long [`next_snapshot`](TelemetryClient::next_snapshot) waits; `None` (the
    /// default) waits for ever. A zero duration is an error, as for [`TcpStream`].
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), TelemetryError> {
        self.stream
            .set_read_timeout(timeout)
            .map_err(|e| self.io_error("setting the read timeout", e))
    }

    /// Waits for the next snapshot.
    ///
    /// Its `dropped_snapshots` counts the snapshots the server dropped for this viewer so far
    /// because it read too slowly; `seq` says which ones. Fails with
    /// [`TelemetryErrorKind::TimedOut`] if the read timeout passes first (call again to
    /// continue), [`TelemetryErrorKind::Closed`] if the server closed the connection.
    pub fn next_snapshot(&mut self) -> Result<Snapshot, TelemetryError> {
        if self.broken {
            return Err(TelemetryError::new(
                TelemetryErrorKind::Protocol,
                format!(
                    "the stream from the telemetry server at {} is corrupt (see the earlier \
                     error); reconnect",
                    self.server
                ),
            ));
        }
        while self.header_read < 4 {
            let mid_frame = self.header_read > 0;
            let n = read_some(
                &mut self.stream,
                self.server,
                &mut self.header[self.header_read..],
                mid_frame,
            )?;
            self.header_read += n;
            if self.header_read == 4 {
                let len = u32::from_be_bytes(self.header) as usize;
                if len > MAX_FRAME_LEN {
                    self.broken = true;
                    return Err(TelemetryError::new(
                        TelemetryErrorKind::Protocol,
                        format!(
                            "the telemetry server at {} sent a frame of {len} bytes, over the \
                             limit of {MAX_FRAME_LEN}: the stream is corrupt",
                            self.server
                        ),
                    ));
                }
                self.body.clear();
                self.body.resize(len, 0);
                self.body_read = 0;
            }
        }
        while self.body_read < self.body.len() {
            let n = read_some(
                &mut self.stream,
                self.server,
                &mut self.body[self.body_read..],
                true,
            )?;
            self.body_read += n;
        }
        self.header_read = 0;
        serde_json::from_slice(&self.body).map_err(|e| {
            TelemetryError::with_source(
                TelemetryErrorKind::Protocol,
                format!(
                    "the telemetry server at {} sent a frame of {} bytes that is not a snapshot",
                    self.server,
                    self.body.len()
                ),
                e,
            )
        })
    }

    /// Reads the server's banner and answers with the hello.
    fn greet(&mut self, timeout: Duration) -> Result<(), TelemetryError> {
        let server = self.server;
        let expected = String::from_utf8_lossy(&wire::banner())
            .trim_end()
            .to_owned();
        let mut line = Vec::with_capacity(MAX_GREETING_LEN);
        let mut buf = [0; MAX_GREETING_LEN];
        let end = loop {
            if let Some(end) = line.iter().position(|&b| b == b'\n') {
                break end;
            }
            if line.len() >= MAX_GREETING_LEN {
                return Err(not_telemetry(server, &line, &expected));
            }
            match self.stream.read(&mut buf[..MAX_GREETING_LEN - line.len()]) {
                Ok(0) if line.is_empty() => {
                    return Err(TelemetryError::new(
                        TelemetryErrorKind::Closed,
                        format!(
                            "{server} closed the connection without a greeting; a hue \
                             telemetry server greets with \"{expected}\""
                        ),
                    ));
                }
                Ok(0) => return Err(not_telemetry(server, &line, &expected)),
                Ok(n) => line.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) && line.is_empty() => {
                    return Err(TelemetryError::new(
                        TelemetryErrorKind::NotTelemetry,
                        format!(
                            "{server} sent no greeting within {timeout:?}: it is not a hue \
                             telemetry server (which greets with \"{expected}\" at once), or \
                             one too busy to answer"
                        ),
                    ));
                }
                Err(e) if is_timeout(&e) => return Err(not_telemetry(server, &line, &expected)),
                Err(e) => return Err(self.io_error("reading the greeting", e)),
            }
        };
        let first = line[..end].strip_suffix(b"\r").unwrap_or(&line[..end]);
        match wire::parse_greeting(first) {
            Greeting::Banner(version) if version == PROTOCOL_VERSION.to_string() => {}
            Greeting::Banner(version) => {
                return Err(TelemetryError::new(
                    TelemetryErrorKind::Version,
                    format!(
                        "the telemetry server at {server} speaks protocol version {}, this \
                         client speaks version {PROTOCOL_VERSION}; use a hue built from the \
                         same release as the program",
                        excerpt(version.as_bytes())
                    ),
                ));
            }
            Greeting::Refused(reason) => {
                return Err(TelemetryError::new(
                    TelemetryErrorKind::Refused,
                    format!(
                        "the telemetry server at {server} refused this viewer: {}",
                        reason.escape_debug()
                    ),
                ));
            }
            Greeting::Foreign => return Err(not_telemetry(server, first, &expected)),
        }
        if end + 1 < line.len() {
            return Err(TelemetryError::new(
                TelemetryErrorKind::Protocol,
                format!(
                    "the telemetry server at {server} sent bytes after its banner before this \
                     viewer's hello"
                ),
            ));
        }
        self.stream
            .write_all(&wire::hello())
            .map_err(|e| self.io_error("sending the hello", e))
    }

    fn io_error(&self, doing: &str, e: io::Error) -> TelemetryError {
        let kind = if is_hang_up(&e) {
            TelemetryErrorKind::Closed
        } else {
            TelemetryErrorKind::Io
        };
        TelemetryError::with_source(
            kind,
            format!("{doing} for the telemetry server at {} failed", self.server),
            e,
        )
    }
}

impl fmt::Debug for TelemetryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryClient")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// One `read` into `buf` (not empty), retried if interrupted; the end of the stream is an error.
fn read_some(
    stream: &mut TcpStream,
    server: SocketAddr,
    buf: &mut [u8],
    mid_frame: bool,
) -> Result<usize, TelemetryError> {
    let closed = || {
        let when = if mid_frame {
            " in the middle of a snapshot"
        } else {
            ""
        };
        format!("the telemetry server at {server} closed the connection{when}")
    };
    loop {
        return match stream.read(buf) {
            Ok(0) => Err(TelemetryError::new(TelemetryErrorKind::Closed, closed())),
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => Err(TelemetryError::new(
                TelemetryErrorKind::TimedOut,
                format!(
                    "no snapshot from the telemetry server at {server} within the read timeout"
                ),
            )),
            Err(e) if is_hang_up(&e) => Err(TelemetryError::with_source(
                TelemetryErrorKind::Closed,
                closed(),
                e,
            )),
            Err(e) => Err(TelemetryError::with_source(
                TelemetryErrorKind::Io,
                format!("reading from the telemetry server at {server} failed"),
                e,
            )),
        };
    }
}

fn not_telemetry(server: SocketAddr, line: &[u8], expected: &str) -> TelemetryError {
    TelemetryError::new(
        TelemetryErrorKind::NotTelemetry,
        format!(
            "{server} is not a hue telemetry server: it greeted with \"{}\" instead of \
             \"{expected}\"",
            excerpt(line)
        ),
    )
}

/// `bytes` as printable text, cut short if long.
fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 40;
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text
        .chars()
        .take(MAX)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}
