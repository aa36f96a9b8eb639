//! The TCP plumbing the three servers share: the `accept` stage, the `read` stage, buffered
//! output and the `write` stage, idle timeouts, the connection limit and closing.
//!
//! A server is a [`Server<S>`] around a [`Service`] that knows the protocol. The service gets
//! the bytes the `read` stage read and answers through [`Server::send`].
//!
//! # A connection's life
//!
//! 1. `accept` (listener readiness, default color) accepts every waiting connection. Over the
//!    limit, it writes the service's refusal and closes. Otherwise it hands the socket to
//!    `open` in the connection's color, which makes the connection's [`Conn`] (in a [`Keyed`]
//!    by connection id), registers the socket with the `read` stage in the same color and arms
//!    the idle timer there too.
//! 2. `read` (socket readiness, the connection's color) first writes output still waiting,
//!    then reads what the socket has (up to a budget; above it, it re-arms itself so other
//!    connections get their turn), and hands the bytes to the service. It does not read while
//!    more than [`HIGH_WATER`] bytes of output wait: a client that does not read its responses
//!    stops being read, and costs the server that much memory at most.
//! 3. The service's stages answer with [`Server::send`]: from the connection's color the
//!    response is written at once; from any other color it goes to the `write` stage in the
//!    connection's color (see the crate's Architecture Invariant). Answers to pipelined
//!    requests are written together: while other requests parsed from the connection's input
//!    still wait for their answers, a response waits in the output buffer, and the last
//!    answer writes them all with one `write`. What the socket does not take stays buffered,
//!    and `WRITABLE` interest brings the `read` stage back to write it.
//! 4. Closing. A response sent with [`Then::Close`] is the last: once it is all written, the
//!    server shuts its writing half and discards input until the peer closes (a "lingering
//!    close": closing with unread input would send a reset that can destroy the response
//!    before the peer reads it). A peer that closes its writing half gets the answers to what
//!    it sent, then the connection closes. A socket error closes at once. The idle timer
//!    closes a connection with no progress for [`Limits::idle_timeout`]: it fires every
//!    quarter of it and closes after four in a row that saw no progress (reads and writes
//!    count it; no clock is read per read or write, which the web server did twice per
//!    request, BENCHMARKS.md "Workloads").
//!
//! # Pending work
//!
//! `Conn::pending` counts input handed to the service and not yet parsed, plus requests parsed
//! and not yet answered (those alone are `Conn::unanswered`). A connection whose peer has closed closes when it reaches zero and
//! its output is written; the idle timer leaves it alone while it is above zero.
//!
//! # Locks
//!
//! The runtime holds a socket's lock while that socket's `read` callback runs, and the
//! callback takes the connection's [`Keyed`] entry. So every other stage takes the socket
//! (through [`Io`]) only *after* releasing the entry: a stage never holds both, and a wrong
//! coloring costs conflicts, never a deadlock.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use hue_runtime::net::{TcpListener, TcpStream};
use hue_runtime::{Color, Cx, Handle, Handler, Interest, Io, IoEvent, Keyed, TimerId};

use crate::Limits;
use crate::error::{Error, Result};

/// Output waiting beyond which a connection is not read until it drains.
const HIGH_WATER: usize = 1 << 20;

/// Bytes one `read` callback takes from a socket before letting other connections run.
const READ_BUDGET: usize = 256 * 1024;

/// Looks of the idle timer per [`Limits::idle_timeout`]: a connection closes after this many
/// in a row that saw no progress, so between the timeout and a look later.
const IDLE_LOOKS: u32 = 4;

/// How often the idle timer looks, for an idle timeout of `limit` (at least every
/// millisecond: a timer due at once would fire back to back).
fn idle_look(limit: std::time::Duration) -> std::time::Duration {
    (limit / IDLE_LOOKS).max(std::time::Duration::from_millis(1))
}

/// How the service takes a chunk of input.
pub(crate) enum Input {
    /// It parsed the chunk in the `read` stage itself and started this many requests.
    Parsed(u32),
    /// It queued a stage that will call [`Server::parsed`].
    Deferred,
    /// The input is not the protocol at all: close the connection now.
    Close,
}

/// A server's listening socket, registered with the `accept` stage. Dropping it stops
/// accepting: new connections are refused from then on.
pub(crate) struct Listening {
    io: Io<TcpListener>,
    addr: SocketAddr,
}

impl Listening {
    /// The address it listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        // Fails only if the runtime is gone, which closed the listener already.
        let _ = self.io.deregister();
    }
}

/// What happens after a response is sent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Then {
    KeepOpen,
    /// This response is the connection's last; close once it is written.
    Close,
}

/// What a service sends on a connection: the responses to `answers` requests (at least one,
/// parsed earlier and not yet answered, in order), one after the other in `data`, and what
/// happens after them.
pub(crate) struct Reply {
    pub(crate) data: Vec<u8>,
    pub(crate) answers: u32,
    pub(crate) then: Then,
}

/// A protocol served over [`Server`].
pub(crate) trait Service: Send + Sync + Sized + 'static {
    /// Per-connection protocol state, kept in the connection's [`Conn`].
    type State: Default + Send + 'static;

    /// Written to a connection refused over the limit, before it is closed.
    fn refusal(&self) -> &'static [u8];

    /// Takes bytes the `read` stage read from connection `id`. Runs inside the `read` stage,
    /// which holds the socket: it must not call [`Server::send`] or [`Server::close`]; it
    /// queues stages that do.
    fn input(server: &Arc<Server<Self>>, cx: &mut Cx<'_>, id: u64, data: Vec<u8>) -> Input;
}

/// The handlers the plumbing runs.
pub(crate) struct Stages {
    pub(crate) accept: Handler,
    pub(crate) open: Handler,
    pub(crate) read: Handler,
    pub(crate) write: Handler,
    pub(crate) timeout: Handler,
}

impl Stages {
    pub(crate) fn new() -> Stages {
        Stages {
            accept: Handler::new("accept"),
            open: Handler::new("open"),
            read: Handler::new("read"),
            write: Handler::new("write"),
            timeout: Handler::new("timeout"),
        }
    }
}

/// Connection counters of a server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnStats {
    /// Connections accepted and served.
    pub accepted: u64,
    /// Connections refused because the server was at its limit.
    pub refused: u64,
    /// Connections open now.
    pub open: u64,
    /// Closed after the peer closed its side.
    pub closed_by_peer: u64,
    /// Closed after a last response (`Connection: close`, an error response).
    pub closed_after_response: u64,
    /// Closed by the idle timeout.
    pub timed_out: u64,
    /// Closed because the socket failed (the peer vanished: reset, broken pipe).
    pub reset: u64,
}

#[derive(Clone, Copy)]
enum Why {
    Peer,
    Done,
    Timeout,
    Reset,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    refused: AtomicU64,
    closed_by_peer: AtomicU64,
    closed_after_response: AtomicU64,
    timed_out: AtomicU64,
    reset: AtomicU64,
}

/// Buffers a thread keeps for responses: written ones come back here, and the next response
/// rendered on the thread reuses one, warm in its cache and already grown, instead of growing a
/// new one (a copy at each doubling, and fresh pages for the big ones).
const POOL_BUFFERS: usize = 8;
/// A buffer bigger than this is given back to the allocator instead.
const POOL_MAX_CAPACITY: usize = 256 * 1024;

thread_local! {
    static POOL: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty buffer for a response, from this thread's pool if it has one.
pub(crate) fn out_buffer() -> Vec<u8> {
    POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default()
}

/// Gives a written buffer back to this thread's pool.
fn recycle(mut buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > POOL_MAX_CAPACITY {
        return;
    }
    buf.clear();
    // During thread teardown the pool may be gone: then the buffer is simply freed.
    let _ = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL_BUFFERS {
            p.push(buf);
        }
    });
}

/// Output not yet written: `buf[pos..]`.
#[derive(Default)]
struct Outbuf {
    buf: Vec<u8>,
    pos: usize,
}

impl Outbuf {
    fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn push(&mut self, data: Vec<u8>) {
        if self.pending() == 0 {
            // Nothing waits: the data's own buffer becomes the queue (all the answers to
            // pipelined requests come in one buffer), no copy.
            self.pos = 0;
            self.buf = data;
            return;
        }
        self.buf.extend_from_slice(&data);
    }

    /// Puts `front` (written earlier, partly) before what is queued.
    fn push_front(&mut self, mut front: Outbuf) {
        if self.pending() > 0 {
            front.buf.extend_from_slice(&self.buf[self.pos..]);
        }
        *self = front;
    }

    /// Writes as much as the socket takes; returns how many bytes went.
    fn flush(&mut self, s: &mut TcpStream) -> io::Result<usize> {
        let start = self.pos;
        while self.pos < self.buf.len() {
            match s.write(&self.buf[self.pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let wrote = self.pos - start;
        if self.pending() == 0 {
            // The next push brings its own buffer; this one goes back to the thread's pool.
            recycle(std::mem::take(&mut self.buf));
            self.pos = 0;
        }
        Ok(wrote)
    }
}

/// One connection's state. Touched only in the connection's color.
pub(crate) struct Conn<T> {
    /// False in an entry made by a late access after the connection closed (see
    /// [`Server::with_conn`]).
    open: bool,
    io: Option<Io<TcpStream>>,
    pub(crate) peer: Option<SocketAddr>,
    out: Outbuf,
    /// `WRITABLE` is in the socket's interest.
    writable_wanted: bool,
    /// The peer closed its writing half.
    peer_closed: bool,
    /// The last response is queued: send nothing more, read nothing more.
    closing: bool,
    /// The last response is written and our writing half shut: discard input until EOF.
    draining: bool,
    pending: u32,
    /// Requests parsed and not yet answered: each will be answered by one [`Server::send`].
    unanswered: u32,
    /// Reads and writes that moved bytes, counted for the idle timer.
    progress: u64,
    /// `progress` when the idle timer last looked.
    progress_seen: u64,
    /// The idle timer's looks in a row that saw no progress.
    quiet_looks: u32,
    timer: Option<TimerId>,
    /// The service's state for this connection.
    pub(crate) state: T,
}

impl<T: Default> Default for Conn<T> {
    fn default() -> Conn<T> {
        Conn {
            open: false,
            io: None,
            peer: None,
            out: Outbuf::default(),
            writable_wanted: false,
            peer_closed: false,
            closing: false,
            draining: false,
            pending: 0,
            unanswered: 0,
            progress: 0,
            progress_seen: 0,
            quiet_looks: 0,
            timer: None,
            state: T::default(),
        }
    }
}

impl<T> Conn<T> {
    /// Whether the connection is finished: the peer has closed and nothing is left to do.
    fn finished(&self) -> bool {
        self.peer_closed && self.pending == 0 && self.out.pending() == 0
    }

    /// A chunk of input became `requests` requests. Returns whether the connection is finished.
    fn parsed(&mut self, requests: u32) -> bool {
        self.pending = self.pending.saturating_sub(1) + requests;
        self.unanswered += requests;
        self.finished()
    }
}

/// A TCP server for one [`Service`].
pub(crate) struct Server<S: Service> {
    pub(crate) service: S,
    conns: Keyed<Conn<S::State>>,
    /// The color of connection `id`: its `read`, `write` and `timeout` stages run there.
    color: fn(u64) -> Color,
    stages: Stages,
    pub(crate) limits: Limits,
    open: AtomicUsize,
    next_id: AtomicU64,
    counters: Counters,
}

impl<S: Service> Server<S> {
    pub(crate) fn new(service: S, color: fn(u64) -> Color, limits: Limits) -> Arc<Server<S>> {
        Arc::new(Server {
            service,
            conns: Keyed::new("connections"),
            color,
            stages: Stages::new(),
            limits,
            open: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            counters: Counters::default(),
        })
    }

    /// Listens on `addr` and registers the `accept` stage. The listener's callback holds the
    /// server weakly: the server goes away with its last strong reference.
    pub(crate) fn listen(self: &Arc<Self>, handle: &Handle, addr: SocketAddr) -> Result<Listening> {
        let listener = TcpListener::bind(addr)
            .map_err(|e| Error::io(format!("binding a listener on {addr} failed"), e))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::io("reading the listener's address failed", e))?;
        let weak = Arc::downgrade(self);
        let io = handle.register(
            listener,
            Interest::READABLE,
            self.stages.accept,
            move |cx, ev| match weak.upgrade() {
                Some(server) => server.accept(cx, ev),
                None => ev.close(),
            },
        )?;
        Ok(Listening { io, addr: local })
    }

    /// The color of connection `id`, as the program colors it.
    pub(crate) fn color_of(&self, id: u64) -> Color {
        (self.color)(id)
    }

    /// The color connection `id`'s state lives in: where its `read` stage runs, after the
    /// recolor policy in force (which may have moved the connection's stages out of
    /// [`Server::color_of`]). Output goes to the socket from this color only.
    fn conn_color(&self, cx: &Cx<'_>, id: u64) -> Color {
        cx.color_for(self.stages.read.color(self.color_of(id)).key(id))
    }

    pub(crate) fn stats(&self) -> ConnStats {
        let c = &self.counters;
        ConnStats {
            accepted: c.accepted.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            open: self.open.load(Ordering::Relaxed) as u64,
            closed_by_peer: c.closed_by_peer.load(Ordering::Relaxed),
            closed_after_response: c.closed_after_response.load(Ordering::Relaxed),
            timed_out: c.timed_out.load(Ordering::Relaxed),
            reset: c.reset.load(Ordering::Relaxed),
        }
    }

    /// Conflicts on the connections' state.
    pub(crate) fn conflicts(&self) -> u64 {
        self.conns.conflicts()
    }

    /// Runs `f` on connection `id`'s state, if the connection is open.
    ///
    /// `Keyed` makes an entry on any access, so a callback that runs after its connection
    /// closed finds a fresh entry with `open` false; it removes it again, and the table holds
    /// only open connections.
    pub(crate) fn with_conn<R>(
        &self,
        cx: &mut Cx<'_>,
        id: u64,
        f: impl FnOnce(&mut Conn<S::State>) -> R,
    ) -> Option<R> {
        let r = cx.keyed(&self.conns, id, |c| if c.open { Some(f(c)) } else { None });
        if r.is_none() {
            self.conns.remove(id);
        }
        r
    }

    // --- accept -------------------------------------------------------------------------

    fn accept(self: &Arc<Self>, cx: &mut Cx<'_>, ev: &mut IoEvent<'_, TcpListener>) {
        loop {
            match ev.source().accept() {
                Ok((stream, peer)) => self.admit(cx, stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    // Out of descriptors, most likely. The waiting connections stay in the
                    // backlog; the next connection to arrive brings this stage back.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    return;
                }
            }
        }
    }

    fn admit(self: &Arc<Self>, cx: &mut Cx<'_>, mut stream: TcpStream, peer: SocketAddr) {
        // Responses are written whole; Nagle's algorithm would hold the last bit of each back
        // until the peer's delayed acknowledgement.
        let _ = stream.set_nodelay(true);
        if self.open.load(Ordering::Relaxed) >= self.limits.max_connections {
            // The refusal is a few dozen bytes into an empty socket buffer: one write takes it.
            let _ = stream.write(self.service.refusal());
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.open.fetch_add(1, Ordering::Relaxed);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        // Everything else happens in the connection's color, so that `accept` never touches
        // a connection's state while its `read` may be running.
        let server = self.clone();
        let target = self.stages.open.color(self.color_of(id)).key(id);
        cx.spawn(target, move |cx| server.open(cx, id, stream, peer));
    }

    /// The `open` stage: the connection's state, its registration and its idle timer.
    fn open(self: &Arc<Self>, cx: &mut Cx<'_>, id: u64, stream: TcpStream, peer: SocketAddr) {
        cx.keyed(&self.conns, id, |c| {
            c.open = true;
            c.peer = Some(peer);
        });
        let weak = Arc::downgrade(self);
        let registered = cx.register(
            stream,
            Interest::READABLE,
            self.stages.read.color(self.color_of(id)).key(id),
            move |cx, ev| match weak.upgrade() {
                Some(server) => server.on_ready(cx, ev, id),
                None => ev.close(),
            },
        );
        let io = match registered {
            Ok(io) => io,
            Err(e) => {
                tracing::warn!(error = %e, "registering a connection failed; closing it");
                cx.keyed(&self.conns, id, |c| c.open = false);
                self.conns.remove(id);
                self.open.fetch_sub(1, Ordering::Relaxed);
                self.counters.reset.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        self.with_conn(cx, id, |c| c.io = Some(io));
        if let Some(idle) = self.limits.idle_timeout {
            self.arm_timer(cx, id, idle_look(idle));
        }
    }

    // --- read ---------------------------------------------------------------------------

    fn on_ready(self: &Arc<Self>, cx: &mut Cx<'_>, ev: &mut IoEvent<'_, TcpStream>, id: u64) {
        enum Step {
            Nothing,
            Deliver,
            Close(Why),
        }
        let mut chunk = Vec::new();
        let step = self.with_conn(cx, id, |c| {
            if c.io.is_none() {
                c.io = Some(ev.io());
            }
            // 1. Output the socket would not take before.
            if c.out.pending() > 0 {
                match c.out.flush(ev.source()) {
                    Ok(0) => {}
                    Ok(_) => c.progress += 1,
                    Err(_) => return Step::Close(Why::Reset),
                }
            }
            if c.closing && !c.draining && c.out.pending() == 0 {
                let _ = ev.source().shutdown(Shutdown::Write);
                c.draining = true;
            }
            // 2. Input, unless too much output waits for this peer. Reading resumes here: a
            //    paused connection has output queued, and only this stage writes queued output.
            let mut more = false;
            if !c.peer_closed && (c.out.pending() <= HIGH_WATER || c.draining) {
                let short_read_drains = !ev.ready().is_read_closed();
                match read_some(ev.source(), &mut chunk, c.closing, short_read_drains) {
                    Ok(r) => {
                        c.peer_closed |= r.eof;
                        more = r.more;
                        if r.got > 0 {
                            c.progress += 1;
                        }
                    }
                    Err(_) => return Step::Close(Why::Reset),
                }
            }
            // 3. Interest: WRITABLE while output waits; re-arming makes the I/O driver look at
            //    the socket again, for input left behind by the budget.
            let want = c.out.pending() > 0;
            if want != c.writable_wanted || more {
                let interest = if want {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                if ev.set_interest(interest).is_err() {
                    return Step::Close(Why::Reset);
                }
                c.writable_wanted = want;
            }
            // 4. What next.
            if c.draining && c.peer_closed {
                return Step::Close(Why::Done);
            }
            let deliver = !chunk.is_empty() && !c.closing;
            if deliver {
                c.pending += 1;
                return Step::Deliver;
            }
            if c.finished() {
                return Step::Close(Why::Peer);
            }
            Step::Nothing
        });
        match step {
            None => ev.close(),
            Some(Step::Nothing) => {}
            Some(Step::Close(why)) => self.close(cx, id, Some(ev), why),
            Some(Step::Deliver) => match S::input(self, cx, id, chunk) {
                Input::Deferred => {}
                Input::Parsed(n) => {
                    if self.account(cx, id, n) {
                        self.close(cx, id, Some(ev), Why::Peer);
                    }
                }
                Input::Close => self.close(cx, id, Some(ev), Why::Done),
            },
        }
    }

    /// The service parsed one chunk of input into `requests` requests. Returns whether the
    /// connection is finished.
    fn account(&self, cx: &mut Cx<'_>, id: u64, requests: u32) -> bool {
        self.with_conn(cx, id, |c| c.parsed(requests))
            .unwrap_or(false)
    }

    /// The service's parse stage, given the chunk `read` handed it: runs `split` on
    /// connection `id`'s protocol state and counts the requests it made, in one access to the
    /// connection's entry. Each request is then answered by [`Server::send`] (several may be
    /// answered by one send). Returns the requests and the peer's address; `None` if the
    /// connection is closed, or closes now (its peer has gone and nothing is left to answer).
    pub(crate) fn parse_chunk<R>(
        self: &Arc<Self>,
        cx: &mut Cx<'_>,
        id: u64,
        split: impl FnOnce(&mut S::State) -> Vec<R>,
    ) -> Option<(Vec<R>, Option<SocketAddr>)> {
        let (requests, peer, finished) = self.with_conn(cx, id, |c| {
            let requests = split(&mut c.state);
            let finished = c.parsed(requests.len() as u32);
            (requests, c.peer, finished)
        })?;
        if finished {
            self.close(cx, id, None, Why::Peer);
            return None;
        }
        Some((requests, peer))
    }

    // --- write --------------------------------------------------------------------------

    /// Sends `reply` on connection `id`. From the connection's color it writes at once; from
    /// another color it queues the `write` stage there.
    pub(crate) fn send(self: &Arc<Self>, cx: &mut Cx<'_>, id: u64, reply: Reply) {
        if cx.color() == self.conn_color(cx, id) {
            self.write(cx, id, reply);
        } else {
            self.send_later(cx, id, reply);
        }
    }

    /// Like [`Server::send`], but always through the `write` stage, queued in the color the
    /// connection's state lives in ([`Server::conn_color`]): under a policy that recolored the
    /// other stages but has no rule for `write` (one that never ran in the trace it came
    /// from), `write` still follows the connection.
    pub(crate) fn send_later(self: &Arc<Self>, cx: &mut Cx<'_>, id: u64, reply: Reply) {
        let server = self.clone();
        let target = self.stages.write.color(self.conn_color(cx, id)).key(id);
        cx.spawn(target, move |cx| server.write(cx, id, reply));
    }

    fn write(self: &Arc<Self>, cx: &mut Cx<'_>, id: u64, reply: Reply) {
        let Reply {
            data,
            answers,
            then,
        } = reply;
        // Queue behind waiting output, or take the socket and write what waits.
        let direct = self.with_conn(cx, id, |c| {
            c.pending = c.pending.saturating_sub(answers);
            c.unanswered = c.unanswered.saturating_sub(answers);
            if c.closing {
                return None; // the connection's last response is already out
            }
            if then == Then::Close {
                c.closing = true;
            }
            c.out.push(data);
            if c.unanswered > 0 && !c.closing {
                // More answers to pipelined requests are coming: the last writes them all.
                return None;
            }
            match &c.io {
                Some(io) if !c.writable_wanted => Some((io.clone(), std::mem::take(&mut c.out))),
                // The socket is not writable now (or not known yet): `read` writes this once
                // it is.
                _ => None,
            }
        });
        let Some(Some((io, mut out))) = direct else {
            return;
        };
        let wrote = match io.with(|s| out.flush(s)) {
            Err(_) => return, // closed meanwhile
            Ok(Err(_)) => return self.close(cx, id, None, Why::Reset),
            Ok(Ok(n)) => n,
        };
        #[derive(Default)]
        struct After {
            interest: bool,
            shutdown: bool,
            close: bool,
        }
        let after = self.with_conn(cx, id, |c| {
            if wrote > 0 {
                c.progress += 1;
            }
            c.out.push_front(out);
            let mut a = After::default();
            if c.out.pending() > 0 {
                if !c.writable_wanted {
                    c.writable_wanted = true;
                    a.interest = true;
                }
            } else if c.closing && !c.draining {
                c.draining = true;
                a.shutdown = true;
                a.close = c.peer_closed;
            } else {
                a.close = c.finished();
            }
            a
        });
        let Some(after) = after else { return };
        if after.shutdown {
            let _ = io.with(|s| s.shutdown(Shutdown::Write));
        }
        if after.close {
            let why = if after.shutdown { Why::Done } else { Why::Peer };
            return self.close(cx, id, None, why);
        }
        if after.interest
            && io
                .set_interest(Interest::READABLE | Interest::WRITABLE)
                .is_err()
        {
            self.close(cx, id, None, Why::Reset);
        }
    }

    // --- idle timeout -------------------------------------------------------------------

    fn arm_timer(self: &Arc<Self>, cx: &mut Cx<'_>, id: u64, delay: std::time::Duration) {
        let server = self.clone();
        // Like `write`, the timer follows the connection's state wherever a policy put it.
        let target = self.stages.timeout.color(self.conn_color(cx, id)).key(id);
        let Ok(timer) = cx.after(delay, target, move |cx| server.on_timer(cx, id)) else {
            return; // the runtime is shutting down
        };
        if self.with_conn(cx, id, |c| c.timer = Some(timer)).is_none() {
            cx.cancel(timer);
        }
    }

    fn on_timer(self: &Arc<Self>, cx: &mut Cx<'_>, id: u64) {
        let Some(limit) = self.limits.idle_timeout else {
            return;
        };
        let idle = self.with_conn(cx, id, |c| {
            c.timer = None;
            // Working for the connection (input not yet answered) counts as progress.
            if c.pending > 0 || c.progress != c.progress_seen {
                c.progress_seen = c.progress;
                c.quiet_looks = 0;
                return false;
            }
            c.quiet_looks += 1;
            c.quiet_looks >= IDLE_LOOKS
        });
        match idle {
            None => {}
            Some(true) => self.close(cx, id, None, Why::Timeout),
            Some(false) => self.arm_timer(cx, id, idle_look(limit)),
        }
    }

    // --- close --------------------------------------------------------------------------

    /// Closes connection `id`. `ev` is the connection's own readiness event when called from
    /// its `read` stage (which holds the socket, so only the event can close it).
    fn close(&self, cx: &mut Cx<'_>, id: u64, ev: Option<&mut IoEvent<'_, TcpStream>>, why: Why) {
        let taken = cx.keyed(&self.conns, id, |c| {
            if !c.open {
                return None;
            }
            c.open = false;
            Some((c.io.take(), c.timer.take()))
        });
        self.conns.remove(id);
        let Some((io, timer)) = taken else {
            if let Some(ev) = ev {
                ev.close();
            }
            return;
        };
        if let Some(t) = timer {
            cx.cancel(t);
        }
        match ev {
            Some(ev) => ev.close(),
            // Dropping the socket closes it.
            None => drop(io.map(|io| io.deregister())),
        }
        self.open.fetch_sub(1, Ordering::Relaxed);
        let c = &self.counters;
        match why {
            Why::Peer => &c.closed_by_peer,
            Why::Done => &c.closed_after_response,
            Why::Timeout => &c.timed_out,
            Why::Reset => &c.reset,
        }
        .fetch_add(1, Ordering::Relaxed);
    }
}

struct ReadResult {
    got: usize,
    eof: bool,
    /// Stopped at the budget with input possibly left.
    more: bool,
}

/// Reads what `s` has, up to [`READ_BUDGET`], appending to `into` (or dropping it if
/// `discard`).
///
/// With `short_read_drains`, a read that fills less than the room it was given ends the loop:
/// the socket had no more, and with edge-triggered readiness the next bytes to arrive make a
/// new event, so reading on until `WouldBlock` would only cost a `recv` that finds nothing
/// (tokio stops the same way). Not when the peer has closed its side: no event follows the
/// end of file, so the loop reads on until it sees it.
fn read_some(
    s: &mut TcpStream,
    into: &mut Vec<u8>,
    discard: bool,
    short_read_drains: bool,
) -> io::Result<ReadResult> {
    let mut r = ReadResult {
        got: 0,
        eof: false,
        more: false,
    };
    let mut scratch = [0u8; 4096];
    loop {
        if r.got >= READ_BUDGET {
            r.more = true;
            return Ok(r);
        }
        let (res, room) = if discard {
            (s.read(&mut scratch), scratch.len())
        } else {
            // Most requests fit in one small read; grow for bulk uploads.
            let start = into.len();
            let room = if start < 4096 { 4096 } else { 16 * 1024 };
            into.resize(start + room, 0);
            let res = s.read(&mut into[start..]);
            into.truncate(start + *res.as_ref().unwrap_or(&0));
            (res, room)
        };
        match res {
            Ok(0) => {
                r.eof = true;
                return Ok(r);
            }
            Ok(n) => {
                r.got += n;
                if short_read_drains && n < room {
                    return Ok(r);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(r),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
