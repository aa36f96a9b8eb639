//! The closed-loop load generator the workloads share.
//!
//! Each of [`Load::threads`] threads drives its share of the connections with its own mio
//! `Poll`: every connection has one request outstanding; when its response is in and checked,
//! the next request goes out, until the request budget (shared by all threads) is spent or the
//! time is up. The generator connects to the address it is given, which `run` functions take
//! from a listener on `127.0.0.1`.
//!
//! Each thread measures its own CPU time, so the benchmark can state what load generation cost
//! on the cores it shares with the server.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::error::{Error, Result};
use crate::{Load, SERVER_THREADS, cpu};

/// What a workload's client says and checks.
pub(crate) trait Protocol: Send + 'static {
    /// Bytes sent once when connection `conn` opens.
    fn hello(&mut self, _conn: usize, _out: &mut Vec<u8>) {}

    /// Appends the next request of connection `conn` to `out`.
    fn request(&mut self, conn: usize, out: &mut Vec<u8>);

    /// The length of the response at the front of `buf`, once all of it is there.
    fn frame(&self, buf: &[u8]) -> Result<Option<usize>>;

    /// Checks the response to connection `conn`'s last request.
    fn check(&mut self, conn: usize, response: &[u8]) -> Result<()>;

    /// Responses checked in depth.
    fn verified(&self) -> u64 {
        0
    }
}

/// What a load run measured.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) requests: u64,
    pub(crate) bytes: u64,
    pub(crate) elapsed: Duration,
    pub(crate) verified: u64,
    pub(crate) generator_cpu: Duration,
    /// CPU time of the runtime's threads over the same window.
    pub(crate) server_cpu: Duration,
}

struct ThreadReport {
    requests: u64,
    bytes: u64,
    verified: u64,
    cpu: Duration,
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
        let duration = load.duration;
        let join = std::thread::Builder::new()
            .name(format!("hue-loadgen-{t}"))
            .spawn(move || drive(addr, conns, proto, &budget, &ready, duration))
            .map_err(|e| Error::io("starting a load generator thread failed", e))?;
        joins.push(join);
    }
    ready.wait();
    let start = Instant::now();
    let server_cpu_before = cpu::threads_named(SERVER_THREADS);
    let mut report = Report::default();
    let mut last = start;
    let mut errors = 0;
    let mut first_error = None;
    for j in joins {
        let r = j
            .join()
            .map_err(|_| Error::protocol("a load generator thread panicked"))??;
        report.requests += r.requests;
        report.bytes += r.bytes;
        report.verified += r.verified;
        report.generator_cpu += r.cpu;
        last = last.max(r.last);
        errors += r.errors;
        if first_error.is_none() {
            first_error = r.first_error;
        }
    }
    report.server_cpu = cpu::threads_named(SERVER_THREADS).saturating_sub(server_cpu_before);
    report.elapsed = last.duration_since(start);
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

struct Client {
    conn: usize,
    stream: TcpStream,
    out: Vec<u8>,
    out_pos: usize,
    input: Vec<u8>,
    done: bool,
}

impl Client {
    fn flush(&mut self) -> io::Result<()> {
        while self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        Ok(())
    }

    /// Reads what is there (through `buf`, which is reused so it need not be zeroed per
    /// read); returns whether the server closed.
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        loop {
            match self.stream.read(buf) {
                Ok(0) => return Ok(true),
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

fn drive<P: Protocol>(
    addr: SocketAddr,
    conns: Vec<usize>,
    mut proto: P,
    budget: &AtomicU64,
    ready: &Barrier,
    duration: Duration,
) -> Result<ThreadReport> {
    let cpu_start = cpu::this_thread();
    let setup = connect_all(addr, &conns);
    // Meet the other threads whatever happened, or they would wait forever.
    ready.wait();
    let (poll, mut clients) = setup?;
    let mut poll = poll;
    let deadline = Instant::now() + duration;
    let mut r = ThreadReport {
        requests: 0,
        bytes: 0,
        verified: 0,
        cpu: Duration::ZERO,
        last: Instant::now(),
        errors: 0,
        first_error: None,
    };
    let claim = || {
        budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    };
    let mut active = 0;
    for c in &mut clients {
        proto.hello(c.conn, &mut c.out);
        if claim() {
            proto.request(c.conn, &mut c.out);
            active += 1;
        } else {
            c.done = true;
        }
        c.flush()
            .map_err(|e| Error::io("sending to the server failed", e))?;
    }
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; 64 * 1024];
    while active > 0 {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if let Err(e) = poll.poll(&mut events, Some(deadline - now)) {
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
            if ev.is_writable()
                && let Err(e) = c.flush()
            {
                fail(&mut r, c, Error::io("sending a request failed", e));
                active -= 1;
                continue;
            }
            if !(ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
                continue;
            }
            let closed = match c.fill(&mut scratch) {
                Ok(closed) => closed,
                Err(e) => {
                    fail(&mut r, c, Error::io("reading a response failed", e));
                    active -= 1;
                    continue;
                }
            };
            // One request is outstanding, so at most one response is complete.
            let frame = match proto.frame(&c.input) {
                Ok(f) => f,
                Err(e) => {
                    fail(&mut r, c, e);
                    active -= 1;
                    continue;
                }
            };
            let Some(n) = frame else {
                if closed {
                    let e = Error::protocol("the server closed a connection mid-response");
                    fail(&mut r, c, e);
                    active -= 1;
                }
                continue;
            };
            if let Err(e) = proto.check(c.conn, &c.input[..n]) {
                fail(&mut r, c, e);
                active -= 1;
                continue;
            }
            r.requests += 1;
            r.bytes += n as u64;
            c.input.drain(..n);
            r.last = Instant::now();
            if r.last < deadline && !closed && claim() {
                proto.request(c.conn, &mut c.out);
                if let Err(e) = c.flush() {
                    fail(&mut r, c, Error::io("sending a request failed", e));
                    active -= 1;
                }
            } else {
                c.done = true;
                active -= 1;
            }
        }
    }
    if active > 0 {
        r.last = Instant::now();
    }
    r.verified = proto.verified();
    drop(clients);
    r.cpu = cpu::this_thread().saturating_sub(cpu_start);
    Ok(r)
}

fn fail(r: &mut ThreadReport, c: &mut Client, e: Error) {
    r.errors += 1;
    r.first_error.get_or_insert(e);
    c.done = true;
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
        poll.registry()
            .register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| Error::io("registering a client socket failed", e))?;
        clients.push(Client {
            conn,
            stream,
            out: Vec::new(),
            out_pos: 0,
            input: Vec::new(),
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
