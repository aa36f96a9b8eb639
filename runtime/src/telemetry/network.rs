//! The telemetry server's network thread: accepting, greeting, writing frames, timeouts.
//!
//! One thread polls the listener, every connection and a waker, with non-blocking sockets
//! and edge-triggered readiness, so every read and write goes on until `WouldBlock`.
//!
//! # A connection's life
//!
//! 1. Accepted, unless `ServerOptions::max_viewers` connections are open: then it gets a
//!    `HUE-TELEMETRY-REFUSED` line and is closed.
//! 2. Greeting: the server writes its banner and reads one line, which must be the hello,
//!    within `ServerOptions::handshake_timeout`. Anything else closes the connection.
//! 3. Viewer: its `Outbox` joins the board, holding the latest frame; from now on every
//!    publish offers it a frame. Frames are written one at a time through `out`, with the
//!    viewer's drop count patched in as each is taken from the outbox.
//! 4. Closed when the viewer hangs up, sends anything (the protocol has nothing for it to
//!    say), or its socket takes no bytes for `ServerOptions::stall_timeout` while frames
//!    wait. A viewer closed with bytes unsent is reset rather than closed gracefully, so the
//!    kernel does not keep its unread frames.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token};

use super::is_hang_up;
use super::outbox::Outbox;
use super::server::{Counters, Shared};
use super::wire::{self, MAX_HELLO_LEN};
use crate::sync::lock;

pub(crate) const LISTENER: Token = Token(usize::MAX - 1);
pub(crate) const WAKER: Token = Token(usize::MAX);

/// Runs until the handle sets `shared.stop`.
pub(crate) fn run(mut poll: Poll, listener: TcpListener, shared: &Shared) {
    let mut network = Network {
        listener,
        conns: HashMap::new(),
        next_token: 0,
        shared,
        banner: wire::banner(),
    };
    let mut events = Events::with_capacity(256);
    loop {
        let timeout = network
            .next_deadline()
            .map(|at| at.saturating_duration_since(Instant::now()));
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            tracing::error!(
                error = %e,
                "the telemetry thread's poll failed; viewers get no more snapshots"
            );
            break;
        }
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        let registry = poll.registry();
        let now = Instant::now();
        let mut published = false;
        for event in events.iter() {
            match event.token() {
                LISTENER => network.accept(registry, now),
                WAKER => published = true,
                token => network.drive(registry, token, now),
            }
        }
        if published {
            let viewers: Vec<Token> = network
                .conns
                .iter()
                .filter(|(_, conn)| matches!(conn.phase, Phase::Viewer { .. }))
                .map(|(&token, _)| token)
                .collect();
            for token in viewers {
                network.drive(registry, token, now);
            }
        }
        network.expire(registry, now);
    }
    network.close_all(poll.registry());
}

/// Everything the network thread owns; only `shared` is seen by other threads.
struct Network<'a> {
    listener: TcpListener,
    conns: HashMap<Token, Conn>,
    next_token: usize,
    shared: &'a Shared,
    banner: Vec<u8>,
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    /// Bytes being written: the rest of the banner, then one frame at a time.
    out: Vec<u8>,
    /// How much of `out` the socket has taken.
    written: usize,
    phase: Phase,
}

enum Phase {
    /// Banner sent or being sent; waiting for the hello.
    Greeting {
        /// What the peer sent so far, at most about [`MAX_HELLO_LEN`] bytes.
        line: Vec<u8>,
        deadline: Instant,
    },
    Viewer {
        outbox: Arc<Outbox>,
        /// Since when the socket has refused bytes while some waited; `None` while it keeps up.
        stalled_since: Option<Instant>,
    },
}

/// Why a connection is closed.
enum Close {
    /// The peer hung up or reset the connection.
    HungUp,
    /// The peer broke the protocol.
    Garbage(&'static str),
    HandshakeTimeout,
    Slow,
    Failed(io::Error),
    /// The server is shutting down.
    Shutdown,
}

impl Network<'_> {
    fn accept(&mut self, registry: &Registry, now: Instant) {
        let options = &self.shared.options;
        loop {
            let (mut stream, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors, say. The connection stays in the backlog and the
                    // next one to arrive brings another readiness event.
                    tracing::warn!(error = %e, "accepting a telemetry viewer failed");
                    return;
                }
            };
            Counters::bump(&self.shared.counters.accepted);
            if self.conns.len() >= options.max_viewers {
                let reason = format!(
                    "too many viewers: this program serves at most {} at once",
                    options.max_viewers
                );
                // Counted first: the peer may look at the stats once it reads the line.
                Counters::bump(&self.shared.counters.refused);
                // A fresh socket's buffer takes a short line; if not, the peer sees a close.
                let _ = stream.write(&wire::refusal(&reason));
                tracing::debug!(%peer, "telemetry viewer refused: {reason}");
                continue;
            }
            let token = Token(self.next_token);
            self.next_token += 1;
            if let Err(e) =
                registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            {
                tracing::warn!(%peer, error = %e, "registering a telemetry viewer failed");
                continue;
            }
            // Frames are written whole; don't let Nagle hold back the end of one.
            let _ = stream.set_nodelay(true);
            let conn = Conn {
                stream,
                peer,
                out: self.banner.clone(),
                written: 0,
                phase: Phase::Greeting {
                    line: Vec::new(),
                    deadline: now + options.handshake_timeout,
                },
            };
            self.conns.insert(token, conn);
            self.drive(registry, token, now);
        }
    }

    /// Reads and writes what `token`'s socket allows, closing it if it broke the protocol or
    /// went away.
    fn drive(&mut self, registry: &Registry, token: Token, now: Instant) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        let res = conn.read(self.shared).and_then(|()| conn.flush(now));
        if let Err(why) = res {
            self.close(registry, token, why);
        }
    }

    /// Closes connections whose handshake or viewer has run out of time.
    fn expire(&mut self, registry: &Registry, now: Instant) {
        let stall = self.shared.options.stall_timeout;
        let expired: Vec<(Token, Close)> = self
            .conns
            .iter()
            .filter_map(|(&token, conn)| match &conn.phase {
                Phase::Greeting { deadline, .. } if *deadline <= now => {
                    Some((token, Close::HandshakeTimeout))
                }
                Phase::Viewer {
                    stalled_since: Some(since),
                    ..
                } if *since + stall <= now => Some((token, Close::Slow)),
                _ => None,
            })
            .collect();
        for (token, why) in expired {
            self.close(registry, token, why);
        }
    }

    /// The earliest time `expire` has something to do.
    fn next_deadline(&self) -> Option<Instant> {
        let stall = self.shared.options.stall_timeout;
        self.conns
            .values()
            .filter_map(|conn| match &conn.phase {
                Phase::Greeting { deadline, .. } => Some(*deadline),
                Phase::Viewer { stalled_since, .. } => stalled_since.map(|since| since + stall),
            })
            .min()
    }

    fn close(&mut self, registry: &Registry, token: Token, mut why: Close) {
        let Some(mut conn) = self.conns.remove(&token) else {
            return;
        };
        let _ = registry.deregister(&mut conn.stream);
        let counters = &self.shared.counters;
        let peer = conn.peer;
        match &conn.phase {
            Phase::Viewer {
                outbox,
                stalled_since,
            } => {
                lock(&self.shared.board)
                    .viewers
                    .retain(|o| !Arc::ptr_eq(o, outbox));
                counters.viewers.fetch_sub(1, Ordering::Relaxed);
                if stalled_since.is_some() {
                    reset_on_close(&conn.stream);
                }
            }
            // A port probe, or a client that gave up on the banner (a close with the banner
            // unread arrives as a reset): either way not a viewer.
            Phase::Greeting { .. } if matches!(why, Close::HungUp) => {
                why = Close::Garbage("hung up before its hello");
            }
            Phase::Greeting { .. } => {}
        }
        match why {
            Close::HungUp => tracing::debug!(%peer, "telemetry viewer hung up"),
            Close::Shutdown => {}
            Close::Garbage(what) => {
                Counters::bump(&counters.rejected_garbage);
                tracing::debug!(%peer, "telemetry connection closed: it {what}");
            }
            Close::HandshakeTimeout => {
                Counters::bump(&counters.handshake_timeouts);
                tracing::debug!(%peer, "telemetry connection closed: no hello in time");
            }
            Close::Slow => {
                Counters::bump(&counters.disconnected_slow);
                tracing::info!(
                    %peer,
                    "telemetry viewer disconnected: it read nothing for {:?}",
                    self.shared.options.stall_timeout
                );
            }
            Close::Failed(e) => tracing::debug!(%peer, error = %e, "telemetry connection failed"),
        }
    }

    fn close_all(&mut self, registry: &Registry) {
        let tokens: Vec<Token> = self.conns.keys().copied().collect();
        for token in tokens {
            self.close(registry, token, Close::Shutdown);
        }
        lock(&self.shared.board).latest = None;
    }
}

impl Conn {
    /// Reads until the socket has nothing more; during the greeting this is the hello, which
    /// makes the connection a viewer.
    fn read(&mut self, shared: &Shared) -> Result<(), Close> {
        let mut buf = [0; MAX_HELLO_LEN];
        loop {
            let n = match self.stream.read(&mut buf) {
                Ok(0) => return Err(Close::HungUp),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_hang_up(&e) => return Err(Close::HungUp),
                Err(e) => return Err(Close::Failed(e)),
            };
            let Phase::Greeting { line, .. } = &mut self.phase else {
                return Err(Close::Garbage("sent bytes after its hello"));
            };
            line.extend_from_slice(&buf[..n]);
            let Some(end) = line.iter().position(|&b| b == b'\n') else {
                if line.len() >= MAX_HELLO_LEN {
                    return Err(Close::Garbage("sent a long line instead of the hello"));
                }
                continue;
            };
            if !wire::is_hello(&line[..end]) {
                return Err(Close::Garbage("sent something other than the hello"));
            }
            if end + 1 < line.len() {
                return Err(Close::Garbage("sent bytes after its hello"));
            }
            self.phase = Phase::Viewer {
                outbox: join(shared),
                stalled_since: None,
            };
            tracing::debug!(peer = %self.peer, "telemetry viewer joined");
        }
    }

    /// Writes what the socket takes: the rest of `out`, then, for a viewer, frame after frame
    /// from its outbox.
    fn flush(&mut self, now: Instant) -> Result<(), Close> {
        loop {
            if self.written == self.out.len() {
                self.out.clear();
                self.written = 0;
                let Phase::Viewer {
                    outbox,
                    stalled_since,
                } = &mut self.phase
                else {
                    return Ok(());
                };
                match outbox.pop() {
                    Some((frame, dropped)) => frame.write_to(&mut self.out, dropped),
                    None => {
                        *stalled_since = None;
                        return Ok(());
                    }
                }
            }
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => return Err(Close::Failed(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    self.written += n;
                    if let Phase::Viewer { stalled_since, .. } = &mut self.phase {
                        *stalled_since = None;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Phase::Viewer { stalled_since, .. } = &mut self.phase {
                        stalled_since.get_or_insert(now);
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_hang_up(&e) => return Err(Close::HungUp),
                Err(e) => return Err(Close::Failed(e)),
            }
        }
    }
}

/// Adds a viewer to the board with the latest frame queued, so it sees the latest snapshot
/// and every later one. Under the board lock, so no publish falls between the two.
fn join(shared: &Shared) -> Arc<Outbox> {
    let outbox = Arc::new(Outbox::new(shared.options.max_queued_bytes_per_viewer));
    let mut board = lock(&shared.board);
    if let Some(latest) = &board.latest {
        outbox.offer(latest);
    }
    board.viewers.push(outbox.clone());
    shared.counters.viewers.fetch_add(1, Ordering::Relaxed);
    outbox
}

/// Makes closing `stream` reset the connection and discard unsent bytes, instead of the
/// kernel holding them (up to megabytes) for a peer that is not reading.
fn reset_on_close(stream: &TcpStream) {
    use std::os::fd::AsRawFd;

    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the descriptor is an open socket owned by `stream`, which outlives the call;
    // `linger` is an initialized `struct linger`, the type SO_LINGER takes, passed with its
    // exact size, and the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        tracing::debug!(error = %e, "setting SO_LINGER on a telemetry viewer failed");
    }
}
