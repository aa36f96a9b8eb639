//! The telemetry server: the handle the runtime publishes snapshots through.
//!
//! # Publishing never waits for a viewer
//!
//! 1. [`TelemetryServer::publish`] serializes the snapshot once into a shared frame.
//! 2. It offers the frame to every viewer's [`Outbox`], a queue bounded in bytes. A full
//!    outbox drops the snapshot and counts it, for the viewer (its next snapshot's
//!    `dropped_snapshots`) and in [`ServerStats::dropped_snapshots`].
//! 3. It wakes the network thread (an `eventfd` write) and returns.
//! 4. The network thread (`network.rs`) writes each viewer's frames as fast as its socket
//!    takes them, and disconnects a viewer whose socket took nothing for
//!    [`ServerOptions::stall_timeout`] while frames waited.
//!
//! The only waits in `publish` are two kinds of locks that the network thread holds for a
//! push, a pop or a list update, never across I/O.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use mio::net::TcpListener;
use mio::{Interest, Poll, Waker};

use super::Snapshot;
use super::network::{self, LISTENER, WAKER};
use super::outbox::Outbox;
use super::wire::Frame;
use super::{TelemetryError, TelemetryErrorKind};
use crate::sync::lock;

/// How a [`TelemetryServer`] listens and whom it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerOptions {
    /// Allow listening on an address other machines can reach (anything but `127.0.0.0/8`
    /// and `::1`). Off by default: snapshots name every handler and state of the program, and
    /// the protocol has no authentication.
    pub allow_non_loopback: bool,
    /// The most connections served at once, viewers and connections still greeting
    /// together; further ones are refused with a reason. Default 8.
    pub max_viewers: usize,
    /// The most bytes of snapshots queued for one viewer; a snapshot that does not fit is
    /// dropped for that viewer and counted. Default 1 MiB: about a minute of snapshots of a
    /// program with 50 handlers (about 17 KB each) at one per second, 6 s at ten per second.
    /// Frames are shared between viewers, so this bounds what a stuck viewer costs in memory.
    pub max_queued_bytes_per_viewer: usize,
    /// How long a new connection has to send its hello before it is disconnected. Default
    /// 2 s; a real viewer answers within a round trip.
    pub handshake_timeout: Duration,
    /// How long a viewer's socket may take no bytes while snapshots wait for it before the
    /// viewer is disconnected. Default 5 s: long enough for a terminal that is briefly
    /// suspended, short enough that a vanished viewer does not hold a slot for long.
    pub stall_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            allow_non_loopback: false,
            max_viewers: 8,
            max_queued_bytes_per_viewer: 1 << 20,
            handshake_timeout: Duration::from_secs(2),
            stall_timeout: Duration::from_secs(5),
        }
    }
}

/// What a [`TelemetryServer`] has done since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Viewers connected now (past the handshake).
    pub viewers: usize,
    /// Connections accepted, including those later refused or rejected.
    pub accepted: u64,
    /// Snapshots given to [`TelemetryServer::publish`].
    pub published: u64,
    /// Snapshots dropped for a viewer whose queue was full, summed over viewers.
    pub dropped_snapshots: u64,
    /// Viewers disconnected because their socket took nothing for
    /// [`ServerOptions::stall_timeout`] while snapshots waited.
    pub disconnected_slow: u64,
    /// Connections closed because they sent something the protocol does not allow: anything
    /// but the hello, or any byte after it, or because they hung up before the hello.
    pub rejected_garbage: u64,
    /// Connections closed because they sent no hello within
    /// [`ServerOptions::handshake_timeout`].
    pub handshake_timeouts: u64,
    /// Connections refused because [`ServerOptions::max_viewers`] were connected.
    pub refused: u64,
    /// Snapshots not sent to anyone because their frame would exceed
    /// [`MAX_FRAME_LEN`](super::MAX_FRAME_LEN).
    pub oversized_snapshots: u64,
}

/// Serves [`Snapshot`]s to viewers on a TCP address, from a network thread of its own.
///
/// Dropping the server (or [`shutdown`](TelemetryServer::shutdown)) stops the thread and
/// closes every connection.
///
/// ```
/// use hue_runtime::telemetry::{ServerOptions, Snapshot, TelemetryClient, TelemetryServer};
///
/// let server = TelemetryServer::bind("127.0.0.1:0".parse().unwrap(), ServerOptions::default())?;
/// let mut viewer = TelemetryClient::connect(server.local_addr())?;
/// while server.stats().viewers == 0 {
///     std::thread::yield_now();
/// }
/// server.publish(&Snapshot { seq: 1, ..Snapshot::default() });
/// assert_eq!(viewer.next_snapshot()?.seq, 1);
/// # Ok::<(), hue_runtime::telemetry::TelemetryError>(())
/// ```
pub struct TelemetryServer {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    /// Wakes the network thread after a publish and at shutdown.
    waker: Waker,
    /// `None` once stopped.
    thread: Option<JoinHandle<()>>,
}

/// State shared by the server handle and its network thread.
pub(crate) struct Shared {
    pub(crate) options: ServerOptions,
    /// Viewers past the handshake and the latest frame: written by the network thread when a
    /// viewer joins or leaves and by `publish`, read by `publish`.
    pub(crate) board: Mutex<Board>,
    /// Set by the handle (then the waker) to stop the network thread.
    pub(crate) stop: AtomicBool,
    pub(crate) counters: Counters,
}

pub(crate) struct Board {
    pub(crate) viewers: Vec<Arc<Outbox>>,
    /// The last frame published, which a viewer gets first when it joins, so a viewer of a
    /// slow period has something to show at once.
    pub(crate) latest: Option<Arc<Frame>>,
}

/// The counters behind [`ServerStats`]. Plain counts read by `stats()`, so `Relaxed`
/// throughout: no other memory is published through them.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) viewers: AtomicUsize,
    pub(crate) accepted: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) dropped_snapshots: AtomicU64,
    pub(crate) disconnected_slow: AtomicU64,
    pub(crate) rejected_garbage: AtomicU64,
    pub(crate) handshake_timeouts: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) oversized_snapshots: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl TelemetryServer {
    /// Listens on `addr` (port 0 picks a free port; see
    /// [`local_addr`](TelemetryServer::local_addr)) and starts the network thread.
    ///
    /// Fails if `addr` is not a loopback address and `options.allow_non_loopback` is off, if
    /// the address is in use, or if the socket or thread cannot be set up.
    pub fn bind(
        addr: SocketAddr,
        options: ServerOptions,
    ) -> Result<TelemetryServer, TelemetryError> {
        if !options.allow_non_loopback && !addr.ip().to_canonical().is_loopback() {
            return Err(TelemetryError::new(
                TelemetryErrorKind::NonLoopback,
                format!(
                    "refusing to serve telemetry on {addr}: it is not a loopback address, so \
                     anyone who can reach this machine could watch the program (snapshots name \
                     its handlers and states, and viewers need no password); use 127.0.0.1 or \
                     ::1, or opt in to remote viewers explicitly (HUE_TELEMETRY_ALLOW_REMOTE=1, or \
                     Builder::telemetry_allow_non_loopback)"
                ),
            ));
        }
        let mut listener = TcpListener::bind(addr).map_err(|e| bind_error(addr, e))?;
        let setup = |e: io::Error| {
            TelemetryError::with_source(
                TelemetryErrorKind::Bind,
                format!("setting up the telemetry server on {addr} failed"),
                e,
            )
        };
        let local_addr = listener.local_addr().map_err(setup)?;
        let poll = Poll::new().map_err(setup)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(setup)?;
        let waker = Waker::new(poll.registry(), WAKER).map_err(setup)?;
        let shared = Arc::new(Shared {
            options,
            board: Mutex::new(Board {
                viewers: Vec::new(),
                latest: None,
            }),
            stop: AtomicBool::new(false),
            counters: Counters::default(),
        });
        let thread = thread::Builder::new()
            .name("hue-telemetry".into())
            .spawn({
                let shared = shared.clone();
                move || network::run(poll, listener, &shared)
            })
            .map_err(|e| {
                TelemetryError::with_source(
                    TelemetryErrorKind::Spawn,
                    "starting the telemetry thread failed",
                    e,
                )
            })?;
        tracing::debug!(addr = %local_addr, "telemetry server listening");
        Ok(TelemetryServer {
            local_addr,
            shared,
            waker,
            thread: Some(thread),
        })
    }

    /// The address the server listens on (with the port chosen if `bind` was given port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Sends `snapshot` to every viewer, without waiting for any of them.
    ///
    /// Its `dropped_snapshots` is replaced, per viewer, by the number of snapshots dropped for
    /// that viewer. A viewer whose queue is full loses this snapshot (counted). A snapshot
    /// whose frame would exceed [`MAX_FRAME_LEN`](super::MAX_FRAME_LEN) is sent to no one
    /// (counted, and logged once).
    pub fn publish(&self, snapshot: &Snapshot) {
        let counters = &self.shared.counters;
        Counters::bump(&counters.published);
        let frame = match Frame::encode(snapshot) {
            Ok(frame) => Arc::new(frame),
            Err(len) => {
                if counters.oversized_snapshots.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        seq = snapshot.seq,
                        bytes = len,
                        "a telemetry snapshot exceeds the frame limit and is not sent; \
                         further ones are only counted"
                    );
                }
                return;
            }
        };
        let mut queued = false;
        {
            let mut board = lock(&self.shared.board);
            for outbox in &board.viewers {
                if outbox.offer(&frame) {
                    queued = true;
                } else {
                    Counters::bump(&counters.dropped_snapshots);
                }
            }
            board.latest = Some(frame);
        }
        if queued && let Err(e) = self.waker.wake() {
            tracing::error!(error = %e, "waking the telemetry thread failed");
        }
    }

    /// What the server has done so far.
    pub fn stats(&self) -> ServerStats {
        let c = &self.shared.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ServerStats {
            viewers: c.viewers.load(Ordering::Relaxed),
            accepted: get(&c.accepted),
            published: get(&c.published),
            dropped_snapshots: get(&c.dropped_snapshots),
            disconnected_slow: get(&c.disconnected_slow),
            rejected_garbage: get(&c.rejected_garbage),
            handshake_timeouts: get(&c.handshake_timeouts),
            refused: get(&c.refused),
            oversized_snapshots: get(&c.oversized_snapshots),
        }
    }

    /// Stops the network thread and closes every connection; the same as dropping the server.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        // Release: pairs with the network thread's Acquire load after the wake-up.
        self.shared.stop.store(true, Ordering::Release);
        if let Err(e) = self.waker.wake() {
            // Joining would wait for a thread that may never wake; it exits at its next event.
            tracing::error!(error = %e, "waking the telemetry thread to stop it failed");
            return;
        }
        if thread.join().is_err() {
            tracing::error!("the telemetry thread panicked");
        }
    }
}

impl Drop for TelemetryServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for TelemetryServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryServer")
            .field("local_addr", &self.local_addr)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn bind_error(addr: SocketAddr, e: io::Error) -> TelemetryError {
    if e.kind() == io::ErrorKind::AddrInUse {
        return TelemetryError::new(
            TelemetryErrorKind::AddrInUse,
            format!(
                "telemetry address {addr} is already in use; stop the program listening there, \
                 or choose another port (port 0 picks a free one)"
            ),
        );
    }
    TelemetryError::with_source(
        TelemetryErrorKind::Bind,
        format!("cannot listen for telemetry viewers on {addr}"),
        e,
    )
}
