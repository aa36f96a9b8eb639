//! I/O readiness from a mio `Poll`, driven by the workers themselves.
//!
//! There is no reactor thread. A worker that runs out of work takes the *driver* (the `Poll`
//! behind a mutex, [`Reactor::try_driver`]) and sleeps in `Poll::poll` instead of on its parker,
//! until a registered source is ready, the earliest timer is due or it is woken (the sleep
//! protocol in `scheduler/idle.rs`). On waking it fires due timers, releases the driver and
//! queues each ready source's callback on its own run queue: the thread the kernel woke runs
//! the callback, with no hand-off to another thread. Workers that are busy look at the driver
//! now and then without blocking (`Worker::find_work`), so readiness is not left waiting while
//! every worker runs callbacks.
//!
//! Rationale: with a reactor thread of its own, every readiness event crossed from that thread
//! to a worker (a futex wake-up and a context switch on each side); on the web server that was
//! half of the server's CPU time per request. tokio's workers drive their I/O the same way.
//! The cost: I/O is looked at only by workers that run out of work or reach their periodic
//! look (once a millisecond, between batches), so a long callback on the only awake worker delays the
//! readiness of other sources until it returns, as in tokio. A worker that found more ready
//! work than it takes at once wakes a sleeping worker to steal it.
//!
//! # One callback per source at a time
//!
//! Readiness bits accumulate in `pending`; a callback is queued only if none is queued
//! already (`queued`). The callback clears `queued` *before* taking the bits, so an event that
//! arrives while it runs queues another callback, which runs after it (same color, FIFO). With
//! edge-triggered readiness this never loses an event, and a busy source never floods its
//! color's queue.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError, Weak};
use std::time::Duration;

pub use mio::Interest;
use mio::{Events, Poll, Registry, Token, Waker};

use crate::cx::Cx;
use crate::error::{Error, ErrorKind, Result};
use crate::handler::Target;
use crate::scheduler::Queue;
use crate::scheduler::WorkerContext;
use crate::sync::lock;
use crate::timer::Timers;

const WAKE_TOKEN: Token = Token(usize::MAX);

/// What a source is ready for.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Ready(u8);

const READABLE: u8 = 1;
const WRITABLE: u8 = 2;
const READ_CLOSED: u8 = 4;
const WRITE_CLOSED: u8 = 8;
const ERROR: u8 = 16;

impl Ready {
    /// Data can be read (or a connection accepted) without blocking.
    pub fn is_readable(self) -> bool {
        self.0 & READABLE != 0
    }

    /// Data can be written without blocking.
    pub fn is_writable(self) -> bool {
        self.0 & WRITABLE != 0
    }

    /// The peer closed its writing half (reads will reach end of file).
    pub fn is_read_closed(self) -> bool {
        self.0 & READ_CLOSED != 0
    }

    /// The writing half is closed (writes will fail).
    pub fn is_write_closed(self) -> bool {
        self.0 & WRITE_CLOSED != 0
    }

    /// The source reported an error.
    pub fn is_error(self) -> bool {
        self.0 & ERROR != 0
    }

    fn of(ev: &mio::event::Event) -> Ready {
        let mut b = 0;
        for (on, bit) in [
            (ev.is_readable(), READABLE),
            (ev.is_writable(), WRITABLE),
            (ev.is_read_closed(), READ_CLOSED),
            (ev.is_write_closed(), WRITE_CLOSED),
            (ev.is_error(), ERROR),
        ] {
            if on {
                b |= bit;
            }
        }
        Ready(b)
    }
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (READABLE, "readable"),
            (WRITABLE, "writable"),
            (READ_CLOSED, "read-closed"),
            (WRITE_CLOSED, "write-closed"),
            (ERROR, "error"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(b, _)| self.0 & b != 0)
            .map(|(_, n)| *n)
            .collect();
        write!(f, "Ready({})", set.join("|"))
    }
}

/// The reactor's state shared with every thread that registers sources or arms timers.
pub(crate) struct Reactor {
    registry: Registry,
    waker: Arc<Waker>,
    sources: Mutex<HashMap<usize, Arc<dyn Dispatch>>>,
    next_token: AtomicUsize,
    pub(crate) timers: Timers,
    stopped: AtomicBool,
    /// Set when `poll` failed for good: I/O and timers stop, workers park on their parkers.
    broken: AtomicBool,
    driver: Mutex<Driver>,
}

/// The `Poll` and its event buffer: whoever holds this drives I/O.
pub(crate) struct Driver {
    poll: Poll,
    events: Events,
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE_TOKEN)?);
        Ok(Reactor {
            registry,
            waker,
            sources: Mutex::new(HashMap::new()),
            next_token: AtomicUsize::new(0),
            timers: Timers::default(),
            stopped: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            driver: Mutex::new(Driver {
                poll,
                events: Events::with_capacity(256),
            }),
        })
    }

    /// What makes a sleeping driver's `poll` return (the sleep protocol uses it).
    pub(crate) fn waker(&self) -> Arc<Waker> {
        self.waker.clone()
    }

    /// The driver, unless another worker holds it or I/O has stopped.
    pub(crate) fn try_driver(&self) -> Option<MutexGuard<'_, Driver>> {
        if self.stopped.load(Ordering::Relaxed) || self.broken.load(Ordering::Relaxed) {
            return None;
        }
        match self.driver.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    pub(crate) fn sources(&self) -> usize {
        lock(&self.sources).len()
    }

    /// Stops I/O and timers: no driver is handed out from now on. Shutdown then wakes every
    /// worker, the one in `poll` too.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    /// Deregisters and drops every source. After `stop`.
    pub(crate) fn close_sources(&self) -> usize {
        let sources: Vec<_> = lock(&self.sources).drain().map(|(_, s)| s).collect();
        for s in &sources {
            s.close(&self.registry);
        }
        sources.len()
    }
}

impl Driver {
    /// Waits up to `timeout` (`None`: until something happens) for readiness and appends the
    /// ready sources to `ready`. Wake-ups through the waker only make it return.
    pub(crate) fn poll(
        &mut self,
        reactor: &Reactor,
        timeout: Option<Duration>,
        ready: &mut Vec<(usize, Ready)>,
    ) {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return,
            Err(e) => {
                tracing::error!(error = %e, "the I/O driver's poll failed; I/O and timers stop");
                reactor.broken.store(true, Ordering::SeqCst);
                return;
            }
        }
        ready.extend(
            self.events
                .iter()
                .filter(|ev| ev.token() != WAKE_TOKEN)
                .map(|ev| (ev.token().0, Ready::of(ev))),
        );
    }
}

impl Reactor {
    /// Queues the callbacks of the sources in `ready` through `q`: on `local`'s run queue
    /// when a worker drove the poll.
    pub(crate) fn dispatch(
        &self,
        ready: &[(usize, Ready)],
        q: &dyn Queue,
        local: Option<&WorkerContext>,
    ) {
        if ready.is_empty() || self.stopped.load(Ordering::Relaxed) {
            return;
        }
        let found: Vec<(Arc<dyn Dispatch>, Ready)> = {
            let sources = lock(&self.sources);
            ready
                .iter()
                .filter_map(|(token, r)| sources.get(token).map(|s| (s.clone(), *r)))
                .collect()
        };
        for (s, r) in found {
            s.on_event(r, q, local);
        }
    }
}

pub(crate) trait Dispatch: Send + Sync {
    fn on_event(self: Arc<Self>, ready: Ready, q: &dyn Queue, local: Option<&WorkerContext>);
    fn close(&self, registry: &Registry);
}

type OnReady<S> = Box<dyn FnMut(&mut Cx<'_>, &mut IoEvent<'_, S>) + Send>;

struct Source<S> {
    token: usize,
    target: Target,
    pending: AtomicU8,
    queued: AtomicBool,
    io: Mutex<Option<S>>,
    on_ready: Mutex<OnReady<S>>,
    reactor: Weak<Reactor>,
}

thread_local! {
    /// The token of the source whose callback runs on this thread, if any: lets `Io` methods
    /// refuse (instead of deadlocking) when called from the source's own callback.
    static IN_SOURCE: Cell<Option<usize>> = const { Cell::new(None) };
}

impl<S: mio::event::Source + Send + 'static> Dispatch for Source<S> {
    fn on_event(self: Arc<Self>, ready: Ready, q: &dyn Queue, local: Option<&WorkerContext>) {
        self.pending.fetch_or(ready.0, Ordering::SeqCst);
        if self.queued.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = self.clone();
        q.push_via(
            self.target,
            Box::new(move |cx| me.dispatch(cx)),
            hue_formats::trace::Origin::Io,
            local,
        );
    }

    fn close(&self, registry: &Registry) {
        if let Some(mut s) = lock(&self.io).take() {
            let _ = registry.deregister(&mut s);
        }
    }
}

impl<S: mio::event::Source + Send + 'static> Source<S> {
    fn dispatch(self: &Arc<Self>, cx: &mut Cx<'_>) {
        self.queued.store(false, Ordering::SeqCst);
        let bits = self.pending.swap(0, Ordering::SeqCst);
        if bits == 0 {
            return;
        }
        let Some(reactor) = self.reactor.upgrade() else {
            return;
        };
        let mut io = lock(&self.io);
        let Some(source) = io.as_mut() else {
            return; // closed while this callback was queued
        };
        let mut on_ready = lock(&self.on_ready);
        let handle = Io {
            source: self.clone(),
        };
        let mut ev = IoEvent {
            source,
            ready: Ready(bits),
            registry: &reactor.registry,
            token: self.token,
            close: false,
            io: &handle,
        };
        let prev = IN_SOURCE.with(|c| c.replace(Some(self.token)));
        // Restore the marker even if `on_ready` panics (the worker catches the panic).
        struct Restore(Option<usize>);
        impl Drop for Restore {
            fn drop(&mut self) {
                IN_SOURCE.with(|c| c.set(self.0));
            }
        }
        let _restore = Restore(prev);
        on_ready(cx, &mut ev);
        if ev.close {
            drop(on_ready);
            let mut s = io.take().expect("checked above");
            let _ = reactor.registry.deregister(&mut s);
            drop(io);
            lock(&reactor.sources).remove(&self.token);
        }
    }
}

/// One readiness event, handed to a source's callback with the source itself.
pub struct IoEvent<'a, S> {
    source: &'a mut S,
    ready: Ready,
    registry: &'a Registry,
    token: usize,
    close: bool,
    io: &'a Io<S>,
}

impl<S: mio::event::Source> IoEvent<'_, S> {
    /// The source (a `TcpListener`, a `TcpStream`).
    pub fn source(&mut self) -> &mut S {
        self.source
    }

    /// What the source is ready for.
    pub fn ready(&self) -> Ready {
        self.ready
    }

    /// Changes what readiness the source is watched for (add `WRITABLE` while output waits).
    pub fn set_interest(&mut self, interest: Interest) -> Result<()> {
        self.registry
            .reregister(self.source, Token(self.token), interest)
            .map_err(|e| Error::io(ErrorKind::Io, "re-registering an I/O source failed", e))
    }

    /// Deregisters and drops the source once this callback returns (closing a socket).
    pub fn close(&mut self) {
        self.close = true;
    }

    /// A handle to this source that other callbacks can use.
    pub fn io(&self) -> Io<S> {
        self.io.clone()
    }
}

/// A handle to a registered source, usable from any callback or thread.
pub struct Io<S> {
    source: Arc<Source<S>>,
}

impl<S> Clone for Io<S> {
    fn clone(&self) -> Self {
        Io {
            source: self.source.clone(),
        }
    }
}

impl<S: mio::event::Source + Send + 'static> Io<S> {
    /// Runs `f` on the source. Fails if the source was closed, or if called from the source's
    /// own callback (which has the source already, through its [`IoEvent`]).
    pub fn with<R>(&self, f: impl FnOnce(&mut S) -> R) -> Result<R> {
        self.check_not_inside("Io::with")?;
        let mut io = lock(&self.source.io);
        match io.as_mut() {
            Some(s) => Ok(f(s)),
            None => Err(Error::new(ErrorKind::Io, "the I/O source is closed")),
        }
    }

    /// Changes what readiness the source is watched for.
    pub fn set_interest(&self, interest: Interest) -> Result<()> {
        self.check_not_inside("Io::set_interest")?;
        let reactor = self.reactor()?;
        let mut io = lock(&self.source.io);
        let s = io
            .as_mut()
            .ok_or_else(|| Error::new(ErrorKind::Io, "the I/O source is closed"))?;
        reactor
            .registry
            .reregister(s, Token(self.source.token), interest)
            .map_err(|e| Error::io(ErrorKind::Io, "re-registering an I/O source failed", e))
    }

    /// Deregisters the source and gives it back. A callback already queued for it does
    /// nothing.
    pub fn deregister(&self) -> Result<S> {
        self.check_not_inside("Io::deregister")?;
        let reactor = self.reactor()?;
        let mut s = lock(&self.source.io)
            .take()
            .ok_or_else(|| Error::new(ErrorKind::Io, "the I/O source is closed"))?;
        lock(&reactor.sources).remove(&self.source.token);
        reactor
            .registry
            .deregister(&mut s)
            .map_err(|e| Error::io(ErrorKind::Io, "deregistering an I/O source failed", e))?;
        Ok(s)
    }

    /// Whether the source is still registered.
    pub fn is_open(&self) -> bool {
        lock(&self.source.io).is_some()
    }

    fn reactor(&self) -> Result<Arc<Reactor>> {
        self.source.reactor.upgrade().ok_or_else(Error::shutdown)
    }

    fn check_not_inside(&self, what: &str) -> Result<()> {
        if IN_SOURCE.with(|c| c.get()) == Some(self.source.token) {
            return Err(Error::new(
                ErrorKind::Io,
                format!("{what} called from the source's own callback; use the IoEvent there"),
            ));
        }
        Ok(())
    }
}

impl Reactor {
    /// Registers `source`; its readiness queues callbacks at `target`.
    pub(crate) fn register<S>(
        self: &Arc<Self>,
        mut source: S,
        interest: Interest,
        target: Target,
        on_ready: OnReady<S>,
    ) -> Result<Io<S>>
    where
        S: mio::event::Source + Send + 'static,
    {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(Error::shutdown());
        }
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let src = Arc::new(Source {
            token,
            target,
            pending: AtomicU8::new(0),
            queued: AtomicBool::new(false),
            io: Mutex::new(None),
            on_ready: Mutex::new(on_ready),
            reactor: Arc::downgrade(self),
        });
        // The source goes in the table before it is registered: with edge-triggered readiness,
        // an event that fires between registration and insertion would find no source and
        // be lost for good. Holding `io` until the source is in place makes a callback queued
        // by such an early event wait for it.
        let mut io = lock(&src.io);
        lock(&self.sources).insert(token, src.clone());
        if let Err(e) = self.registry.register(&mut source, Token(token), interest) {
            lock(&self.sources).remove(&token);
            // EBADF, EPERM and EEXIST (Linux numbering): the mistakes a caller can make.
            let why = match e.raw_os_error() {
                Some(9) => "it is not an open socket",
                Some(1) => "it cannot be polled for readiness (a regular file?)",
                Some(17) => "it is already registered",
                _ => "the operating system refused",
            };
            return Err(Error::io(
                ErrorKind::Io,
                format!(
                    "registering an I/O source for handler `{}` failed: {why}",
                    target.handler
                ),
                e,
            ));
        }
        *io = Some(source);
        drop(io);
        // Shutdown may have closed the sources between our check and the insert: close ours.
        if self.stopped.load(Ordering::SeqCst) {
            if let Some(s) = lock(&self.sources).remove(&token) {
                s.close(&self.registry);
            }
            return Err(Error::shutdown());
        }
        Ok(Io { source: src })
    }
}
