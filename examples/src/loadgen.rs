//! The closed-loop load generator the workloads share.
//!
//! Each of [`Load::threads`] threads drives its share of the connections with its own mio
//! `Poll`. Every connection keeps up to [`Load::depth`] requests outstanding (pipelined, as
//! wrk's pipeline script or h2load's `-m` do; the first `depth` go out in one write); each
//! response, matched to its request in order, is checked and replaced by the next request,
//! until the request budget (shared by all threads) is spent or the time is up. The generator
//! connects to the address it is given, which `run` functions take from a listener on
//! `127.0.0.1`.
//!
//! # What it costs
//!
//! In the papers the clients ran on other machines. Here the generator shares the server's
//! cores, so it is built to cost as little as an honest client can:
//!
//! - A protocol frames each response from its head ([`Protocol::frame`]) and says whether it
//!   wants the whole response to check or only the head. A body it does not look at is
//!   discarded: on Linux with `recv(MSG_TRUNC)`, which drops the bytes in the kernel without
//!   copying them out (tcp(7)); elsewhere read into a scratch buffer. The file server's client
//!   checks every head and opens one block in `verify_every`; the others' bodies are
//!   discarded, counted in [`Report::discarded`].
//! - A protocol that discards reads only the bytes it framed ([`Protocol::read_ahead`] 0), so
//!   no body it will discard is copied; the HTTP clients read up to 64 KiB at once, several
//!   pipelined responses per read.
//! - A read shorter than asked means a TCP socket is drained, so the generator waits for the
//!   next readiness event instead of reading once more to see `WouldBlock`.
//! - The requests that replace the responses of one readiness event go out in one write;
//!   `WRITABLE` interest is registered only while a write waits for room.
//!
//! Each thread measures its own CPU time, so the benchmark can state what load generation cost
//! on the cores it shares with the server.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token};

use crate::error::{Error, Result};
use crate::{Load, SERVER_THREADS, cpu};

/// How much a read may take beyond what the response being received still needs, unless the
/// protocol says otherwise.
const READ_AHEAD: usize = 64 * 1024;

/// What the response at the front of a connection's input is, as far as the protocol can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// Not enough to tell yet: at least `need` more bytes are needed.
    Partial {
        /// At least 1.
        need: usize,
    },
    /// A response of this many bytes (head and body): once all of it is in,
    /// [`Protocol::check`] gets it.
    Check(usize),
    /// The first `head` bytes (all in already) are the response's head, which the protocol
    /// has checked; the `body` bytes after it are received and dropped unread.
    Discard {
        /// Bytes of head, at the front of the input.
        head: usize,
        /// Bytes of body to discard.
        body: usize,
    },
}

/// What a workload's client says and checks.
pub(crate) trait Protocol: Send + 'static {
    /// Bytes sent once when connection `conn` opens.
    fn hello(&mut self, _conn: usize, _out: &mut Vec<u8>) {}

    /// Appends the next request of connection `conn` to `out`. Several may be outstanding;
    /// their responses come back in the order they were asked for.
    fn request(&mut self, conn: usize, out: &mut Vec<u8>);

    /// Frames the response at the front of `buf`: the answer to connection `conn`'s oldest
    /// outstanding request. Called again with more input while it returns [`Frame::Partial`];
    /// once it has returned [`Frame::Check`] or [`Frame::Discard`], it is not called again for
    /// that response, so it may take the request off its queue and check the head here.
    fn frame(&mut self, conn: usize, buf: &[u8]) -> Result<Frame>;

    /// Checks a whole response that [`Protocol::frame`] framed with [`Frame::Check`].
    fn check(&mut self, conn: usize, response: &[u8]) -> Result<()>;

    /// How many bytes a read may take beyond what the response being received still needs.
    /// Large, several pipelined responses come in one read; 0, no body that will be discarded
    /// is ever copied into the generator's buffers.
    fn read_ahead(&self) -> usize {
        READ_AHEAD
    }

    /// Responses checked in depth.
    fn verified(&self) -> u64 {
        0
    }
}

/// What a load run measured.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) requests: u64,
    /// Response bytes received, checked or not.
    pub(crate) bytes: u64,
    /// Of `bytes`, the body bytes received and dropped unread ([`Frame::Discard`]).
    pub(crate) discarded: u64,
    pub(crate) elapsed: Duration,
    pub(crate) verified: u64,
    pub(crate) generator_cpu: Duration,
    /// CPU time of the runtime's threads over the same window.
    pub(crate) server_cpu: Duration,
}

struct ThreadReport {
    requests: u64,
    bytes: u64,
    discarded: u64,
    verified: u64,
    cpu: Duration,
    /// When this thread left the starting barrier.
    began: Instant,
    last: Instant,
    errors: u64,
    first_error: Option<Error>,
}

/// Drives the server at `addr` with `load`, one protocol instance per thread from `make`.
/// Fails if any response failed its check, or if none came back at all.
pub(crate) fn run<P: Protocol>(
    addr: SocketAddr,
    load: &Load,
    make: impl Fn(usize) -> P,
) -> Result<Report> {
    let threads = load.threads.min(load.connections).max(1);
    let budget = Arc::new(AtomicU64::new(load.requests));
    // Every thread connects first; the clock starts when all are connected.
    let ready = Arc::new(Barrier::new(threads + 1));
    let mut joins = Vec::with_capacity(threads);
    for t in 0..threads {
        let conns: Vec<usize> = (t..load.connections).step_by(threads).collect();
        let proto = make(t);
        let budget = budget.clone();
        let ready = ready.clone();
        let (duration, depth) = (load.duration, load.depth.max(1));
        let join = std::thread::Builder::new()
            .name(format!("hue-loadgen-{t}"))
            .spawn(move || drive(addr, conns, proto, &budget, &ready, duration, depth))
            .map_err(|e| Error::io("starting a load generator thread failed", e))?;
        joins.push(join);
    }
    ready.wait();
    // The earliest of this thread's and the generator threads' clocks after the barrier: a
    // thread may finish its share before this one, preempted on a busy machine, reads it.
    let mut start = Instant::now();
    let server_cpu_before = cpu::threads_named(SERVER_THREADS);
    let mut report = Report::default();
    let mut last: Option<Instant> = None;
    let mut errors = 0;
    let mut first_error = None;
    for j in joins {
        let r = j
            .join()
            .map_err(|_| Error::protocol("a load generator thread panicked"))??;
        report.requests += r.requests;
        report.bytes += r.bytes;
        report.discarded += r.discarded;
        report.verified += r.verified;
        report.generator_cpu += r.cpu;
        start = start.min(r.began);
        last = Some(last.map_or(r.last, |l| l.max(r.last)));
        errors += r.errors;
        if first_error.is_none() {
            first_error = r.first_error;
        }
    }
    report.server_cpu = cpu::threads_named(SERVER_THREADS).saturating_sub(server_cpu_before);
    report.elapsed = last.map_or(Duration::ZERO, |l| l.saturating_duration_since(start));
    if let Some(e) = first_error {
        return Err(Error::new(
            e.kind(),
            format!("{errors} responses failed their checks; the first: {e}"),
        ));
    }
    if report.requests == 0 {
        return Err(Error::protocol(format!(
            "the load generator got no response in {:?}",
            load.duration
        )));
    }
    Ok(report)
}

/// A connection's input not yet consumed: `buf[start..end]`. The buffer grows to what the
/// reads need and is zeroed only when it grows, never per read.
#[derive(Default)]
struct Inbox {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Inbox {
    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn len(&self) -> usize {
        self.end - self.start
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Room for `want` more bytes after the data, moving the data to the front or growing the
    /// buffer if there is not.
    fn space(&mut self, want: usize) -> &mut [u8] {
        if self.buf.len() - self.end < want && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < want {
            self.buf.resize(self.end + want, 0);
        }
        &mut self.buf[self.end..self.end + want]
    }

    fn filled(&mut self, n: usize) {
        self.end += n;
    }
}

/// Where a connection is in the response at the front of its input.
#[derive(Clone, Copy, Debug)]
enum Receiving {
    /// Framing the next response.
    Head,
    /// A response of this many bytes, to be checked once it is all in.
    Whole(usize),
    /// This many body bytes still to discard.
    Discard(usize),
}

/// What one [`Client::receive`] took in.
#[derive(Default)]
struct Received {
    responses: u64,
    bytes: u64,
    discarded: u64,
    /// The server closed the connection.
    closed: bool,
}

struct Client {
    conn: usize,
    token: Token,
    stream: TcpStream,
    out: Vec<u8>,
    out_pos: usize,
    /// `WRITABLE` is in the registered interest (a write is waiting for room).
    want_write: bool,
    input: Inbox,
    receiving: Receiving,
    /// Requests sent whose response is not all in.
    outstanding: usize,
    done: bool,
}

impl Client {
    /// Writes what waits; if the socket is full, asks for `WRITABLE` until it is written.
    fn flush(&mut self, registry: &Registry) -> io::Result<()> {
        while self.out_pos < self.out.len() {
            match (&self.stream).write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.want_write {
                        registry.reregister(
                            &mut self.stream,
                            self.token,
                            Interest::READABLE | Interest::WRITABLE,
                        )?;
                        self.want_write = true;
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        if self.want_write {
            registry.reregister(&mut self.stream, self.token, Interest::READABLE)?;
            self.want_write = false;
        }
        Ok(())
    }

    /// Takes in what the socket has: frames, checks and discards responses, until the socket
    /// is drained (`WouldBlock` or a short read), the server closes, or every request is
    /// answered (then nothing more can come but a close, and `closing` says whether the
    /// event saw one).
    fn receive<P: Protocol>(
        &mut self,
        proto: &mut P,
        scratch: &mut [u8],
        closing: bool,
        got: &mut Received,
    ) -> Result<()> {
        let read_ahead = proto.read_ahead();
        let mut drained = false;
        loop {
            let need = self.take_buffered(proto, got)?;
            // A close that comes later is an event of its own (the poll is edge-triggered: it
            // reports what arrives after it last reported the socket).
            let answered = self.outstanding == 0 && self.input.len() == 0 && !closing;
            if drained || answered {
                return Ok(());
            }
            let (result, asked) = match self.receiving {
                Receiving::Discard(left) => discard(&self.stream, left, scratch),
                Receiving::Head | Receiving::Whole(_) => {
                    let want = need.saturating_add(read_ahead);
                    let space = self.input.space(want);
                    ((&self.stream).read(space), want)
                }
            };
            match result {
                Ok(0) => {
                    got.closed = true;
                    return Ok(());
                }
                Ok(n) => {
                    drained = n < asked;
                    match self.receiving {
                        Receiving::Discard(left) => {
                            got.bytes += n as u64;
                            got.discarded += n as u64;
                            if n >= left {
                                self.finish(got);
                            } else {
                                self.receiving = Receiving::Discard(left - n);
                            }
                        }
                        Receiving::Head | Receiving::Whole(_) => self.input.filled(n),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("reading a response failed", e)),
            }
        }
    }

    /// Frames, checks and discards what the input holds; returns how many more bytes the
    /// response at the front needs (at least 1).
    fn take_buffered<P: Protocol>(&mut self, proto: &mut P, got: &mut Received) -> Result<usize> {
        loop {
            match self.receiving {
                Receiving::Head => {
                    if self.outstanding == 0 {
                        if self.input.len() > 0 {
                            return Err(Error::protocol(
                                "the server sent bytes that answer no request",
                            ));
                        }
                        return Ok(1);
                    }
                    match proto.frame(self.conn, self.input.data())? {
                        Frame::Partial { need } => return Ok(need.max(1)),
                        Frame::Check(len) => self.receiving = Receiving::Whole(len.max(1)),
                        Frame::Discard { head, body } => {
                            let head = head.min(self.input.len());
                            self.input.consume(head);
                            got.bytes += head as u64;
                            self.receiving = Receiving::Discard(body);
                        }
                    }
                }
                Receiving::Whole(len) => {
                    let have = self.input.len();
                    if have < len {
                        return Ok(len - have);
                    }
                    proto.check(self.conn, &self.input.data()[..len])?;
                    self.input.consume(len);
                    got.bytes += len as u64;
                    self.finish(got);
                }
                Receiving::Discard(left) => {
                    // Bytes a read took ahead: consumed unread, like the ones the kernel drops.
                    let take = left.min(self.input.len());
                    self.input.consume(take);
                    got.bytes += take as u64;
                    got.discarded += take as u64;
                    if take == left {
                        self.finish(got);
                    } else {
                        self.receiving = Receiving::Discard(left - take);
                        return Ok(left - take);
                    }
                }
            }
        }
    }

    fn finish(&mut self, got: &mut Received) {
        self.receiving = Receiving::Head;
        self.outstanding -= 1;
        got.responses += 1;
    }
}

/// Receives and drops up to `len` bytes: returns what the receive returned and how many bytes
/// it asked for. On Linux the kernel drops them without copying them out (tcp(7):
/// `MSG_TRUNC`).
#[cfg(target_os = "linux")]
fn discard(stream: &TcpStream, len: usize, _scratch: &mut [u8]) -> (io::Result<usize>, usize) {
    use std::os::fd::AsRawFd;
    // SAFETY: a `recv` on a socket this client owns and keeps open. With `MSG_TRUNC` a TCP
    // socket drops the bytes and writes nothing to the buffer (tcp(7)), so none is passed.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::MSG_TRUNC,
        )
    };
    let result = if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    };
    (result, len)
}

/// Receives and drops up to `len` bytes, through `scratch`: returns what the read returned and
/// how many bytes it asked for.
#[cfg(not(target_os = "linux"))]
fn discard(stream: &TcpStream, len: usize, scratch: &mut [u8]) -> (io::Result<usize>, usize) {
    let asked = len.min(scratch.len());
    ((&*stream).read(&mut scratch[..asked]), asked)
}

/// A scratch buffer for [`discard`]: none on Linux, where the kernel drops the bytes.
fn discard_scratch() -> Vec<u8> {
    if cfg!(target_os = "linux") {
        Vec::new()
    } else {
        vec![0u8; 64 * 1024]
    }
}

/// What one thread's connections share.
struct Shared<'a, P> {
    proto: P,
    budget: &'a AtomicU64,
    deadline: Instant,
    depth: usize,
    scratch: Vec<u8>,
    r: ThreadReport,
}

impl<P: Protocol> Shared<'_, P> {
    /// One request off the shared budget, if any is left.
    fn claim(&self) -> bool {
        self.budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Tops connection `c` up to `depth` outstanding requests, budget allowing.
    fn refill(&mut self, c: &mut Client) {
        while c.outstanding < self.depth && self.claim() {
            self.proto.request(c.conn, &mut c.out);
            c.outstanding += 1;
        }
    }

    /// Handles a readiness event of `c`; marks it done when it has nothing outstanding.
    fn event(&mut self, c: &mut Client, ev: &Event, registry: &Registry) -> Result<()> {
        if ev.is_writable() {
            c.flush(registry)
                .map_err(|e| Error::io("sending a request failed", e))?;
        }
        if !(ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
            return Ok(());
        }
        let mut got = Received::default();
        let closing = ev.is_read_closed() || ev.is_error();
        c.receive(&mut self.proto, &mut self.scratch, closing, &mut got)?;
        self.r.requests += got.responses;
        self.r.bytes += got.bytes;
        self.r.discarded += got.discarded;
        if got.responses > 0 {
            self.r.last = Instant::now();
            if self.r.last < self.deadline && !got.closed {
                self.refill(c);
            }
        }
        if got.closed && c.outstanding > 0 {
            return Err(Error::protocol(format!(
                "the server closed a connection with {} requests outstanding",
                c.outstanding
            )));
        }
        if c.outstanding == 0 {
            c.done = true;
            return Ok(());
        }
        c.flush(registry)
            .map_err(|e| Error::io("sending a request failed", e))
    }

    fn fail(&mut self, c: &mut Client, e: Error) {
        self.r.errors += 1;
        self.r.first_error.get_or_insert(e);
        c.done = true;
    }
}

fn drive<P: Protocol>(
    addr: SocketAddr,
    conns: Vec<usize>,
    proto: P,
    budget: &AtomicU64,
    ready: &Barrier,
    duration: Duration,
    depth: usize,
) -> Result<ThreadReport> {
    let cpu_start = cpu::this_thread();
    let setup = connect_all(addr, &conns);
    // Meet the other threads whatever happened, or they would wait forever.
    ready.wait();
    let began = Instant::now();
    let (mut poll, mut clients) = setup?;
    let mut t = Shared {
        proto,
        budget,
        deadline: Instant::now() + duration,
        depth,
        scratch: discard_scratch(),
        r: ThreadReport {
            requests: 0,
            bytes: 0,
            discarded: 0,
            verified: 0,
            cpu: Duration::ZERO,
            began,
            last: began,
            errors: 0,
            first_error: None,
        },
    };
    let mut active = 0;
    for c in &mut clients {
        t.proto.hello(c.conn, &mut c.out);
        t.refill(c);
        if c.outstanding == 0 {
            c.done = true;
        } else {
            active += 1;
        }
        c.flush(poll.registry())
            .map_err(|e| Error::io("sending to the server failed", e))?;
    }
    let mut events = Events::with_capacity(1024);
    while active > 0 {
        let now = Instant::now();
        if now >= t.deadline {
            break;
        }
        if let Err(e) = poll.poll(&mut events, Some(t.deadline - now)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::io("the load generator's poll failed", e));
        }
        for ev in events.iter() {
            let c = &mut clients[ev.token().0];
            if c.done {
                continue;
            }
            if let Err(e) = t.event(c, ev, poll.registry()) {
                t.fail(c, e);
            }
            if c.done {
                active -= 1;
            }
        }
    }
    let mut r = t.r;
    if active > 0 {
        r.last = Instant::now();
    }
    r.verified = t.proto.verified();
    drop(clients);
    r.cpu = cpu::this_thread().saturating_sub(cpu_start);
    Ok(r)
}

fn connect_all(addr: SocketAddr, conns: &[usize]) -> Result<(Poll, Vec<Client>)> {
    let poll = Poll::new().map_err(|e| Error::io("creating the load generator's poll", e))?;
    let mut clients = Vec::with_capacity(conns.len());
    for (i, &conn) in conns.iter().enumerate() {
        let s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| Error::io(format!("connecting to {addr} failed"), e))?;
        s.set_nodelay(true)
            .and_then(|()| s.set_nonblocking(true))
            .map_err(|e| Error::io("setting up a client socket failed", e))?;
        let mut stream = TcpStream::from_std(s);
        // `WRITABLE` only while a write waits: on loopback every ACK would otherwise wake the
        // poll for nothing.
        poll.registry()
            .register(&mut stream, Token(i), Interest::READABLE)
            .map_err(|e| Error::io("registering a client socket failed", e))?;
        clients.push(Client {
            conn,
            token: Token(i),
            stream,
            out: Vec::new(),
            out_pos: 0,
            want_write: false,
            input: Inbox::default(),
            receiving: Receiving::Head,
            outstanding: 0,
            done: false,
        });
    }
    Ok((poll, clients))
}

/// A small deterministic generator (splitmix64) for request mixes and file contents.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// The splitmix64 finalizer.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
