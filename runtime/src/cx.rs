//! The callback context.

use std::time::Duration;

use crate::callback::Callback;
use crate::error::Result;
use crate::handler::{Handler, Target};
use crate::reactor::{Interest, Io, IoEvent};
use crate::runtime::Handle;
use crate::scheduler::{Runnable, WorkerContext};
use crate::state::{Keyed, Shared};
use crate::timer::TimerId;
use hue_formats::trace::Origin;
use hue_formats::{Color, Key};

/// What a running callback can do: queue more callbacks, arm timers, reach shared state, and
/// learn where it runs.
///
/// A `Cx` lives on the worker's stack for one callback; it cannot be sent to another thread
/// or kept. To queue work from elsewhere, take a [`Handle`] with [`Cx::handle`].
pub struct Cx<'a> {
    worker: &'a WorkerContext,
    color: &'a Runnable,
    handler: Handler,
    key: Option<Key>,
    /// The running callback's trace id (0 when tracing is off).
    id: u64,
}

impl<'a> Cx<'a> {
    pub(crate) fn new(
        worker: &'a WorkerContext,
        color: &'a Runnable,
        handler: Handler,
        key: Option<Key>,
        id: u64,
    ) -> Cx<'a> {
        Cx {
            worker,
            color,
            handler,
            key,
            id,
        }
    }

    /// The handler of the running callback.
    pub fn handler(&self) -> Handler {
        self.handler
    }

    /// The color of the running callback.
    pub fn color(&self) -> Color {
        self.color.color()
    }

    /// The color a callback queued at `target` would run in: `target`'s own, or what the
    /// recolor policy in force makes of it. A stage that hands work to another stage's color
    /// asks this rather than assuming the color the program gave it, since a policy may have
    /// moved it. Queues nothing.
    pub fn color_for(&self, target: impl Into<Target>) -> Color {
        self.worker.inner.color_for(target.into())
    }

    /// The key the running callback works for, if it was given one.
    pub fn key(&self) -> Option<Key> {
        self.key
    }

    /// The index of the worker running this callback (0-based).
    pub fn worker(&self) -> usize {
        self.worker.index
    }

    /// Queues `f` at `target`.
    ///
    /// Queueing in the running callback's own color touches no shared structure: such
    /// callbacks join the color's queue together when the running callback returns (that is
    /// when they count as queued). Any other color goes through the table and, if it becomes
    /// runnable, onto its home worker's run queue. This cannot fail: if the runtime is
    /// stopping, the callback stays queued and shutdown reports it as dropped.
    pub fn spawn(
        &mut self,
        target: impl Into<Target>,
        f: impl FnOnce(&mut Cx<'_>) + Send + 'static,
    ) {
        let t = self.worker.inner.recolor(target.into());
        let own = t.color == self.color.color();
        // Callbacks queued into the running color count as queued when it returns (they are
        // stamped then); others now.
        let queued = if self.worker.tracing && !own {
            self.worker.inner.clock.raw()
        } else {
            0
        };
        let cb = Callback {
            work: Box::new(f),
            handler: t.handler,
            key: t.key,
            queued,
            parent: self.id,
            origin: Origin::Callback,
        };
        if own {
            // The running color is owned by this worker: buffer, and append when this
            // callback returns (one lock for all of them).
            self.worker.own_color.borrow_mut().push(cb);
        } else if let Some(cq) =
            self.worker
                .inner
                .colors
                .push(t.color, cb, Some(&mut self.worker.spare.borrow_mut()))
        {
            self.worker.schedule(cq, Some(t.handler));
        }
    }

    /// Queues `f` at `target` after `delay`. Fails only if the runtime is shutting down.
    pub fn after(
        &mut self,
        delay: Duration,
        target: impl Into<Target>,
        f: impl FnOnce(&mut Cx<'_>) + Send + 'static,
    ) -> Result<TimerId> {
        let inner = &*self.worker.inner;
        inner
            .reactor
            .timers
            .once(inner, delay, target.into(), Box::new(f))
    }

    /// Queues `f` at `target` every `period`, until cancelled. A tick whose previous callback
    /// has not started yet is skipped rather than queued behind it.
    pub fn every(
        &mut self,
        period: Duration,
        target: impl Into<Target>,
        f: impl FnMut(&mut Cx<'_>) + Send + 'static,
    ) -> Result<TimerId> {
        let inner = &*self.worker.inner;
        inner
            .reactor
            .timers
            .every(inner, period, target.into(), Box::new(f))
    }

    /// Cancels a timer. Returns `false` if it already fired (one-shot) or was cancelled.
    pub fn cancel(&mut self, timer: TimerId) -> bool {
        let inner = &*self.worker.inner;
        inner.reactor.timers.cancel(inner, timer)
    }

    /// Registers an I/O source; see [`Handle::register`].
    pub fn register<S>(
        &mut self,
        source: S,
        interest: Interest,
        target: impl Into<Target>,
        on_ready: impl FnMut(&mut Cx<'_>, &mut IoEvent<'_, S>) + Send + 'static,
    ) -> Result<Io<S>>
    where
        S: mio::event::Source + Send + 'static,
    {
        self.handle().register(source, interest, target, on_ready)
    }

    /// Reads shared state. Readers of one `Shared` may run in parallel; a reader that finds a
    /// writer inside waits, and the wait is counted as a conflict.
    pub fn read<T, R>(&mut self, state: &Shared<T>, f: impl FnOnce(&T) -> R) -> R {
        state.read(f)
    }

    /// Writes shared state. A writer that finds anyone else inside waits, and the wait is
    /// counted as a conflict: under a correct coloring it never happens.
    pub fn write<T, R>(&mut self, state: &Shared<T>, f: impl FnOnce(&mut T) -> R) -> R {
        state.write(f)
    }

    /// Reaches the part of `state` that belongs to `key`, made with `T::default()` on first
    /// use.
    pub fn keyed<T: Default, R>(
        &mut self,
        state: &Keyed<T>,
        key: impl Into<Key>,
        f: impl FnOnce(&mut T) -> R,
    ) -> R {
        state.with(key.into(), f)
    }

    /// Like [`Cx::keyed`], but only if `key` has a value already (say, its connection is still
    /// open): returns `None` rather than making one.
    pub fn keyed_existing<T, R>(
        &mut self,
        state: &Keyed<T>,
        key: impl Into<Key>,
        f: impl FnOnce(&mut T) -> R,
    ) -> Option<R> {
        state.with_existing(key.into(), f)
    }

    /// A handle to this runtime, for queueing work from other threads.
    pub fn handle(&self) -> Handle {
        Handle::from_inner(self.worker.inner.clone())
    }

    /// Asks the runtime to stop: whoever waits in [`crate::Runtime::wait_stopped`] wakes up.
    pub fn stop(&mut self) {
        self.worker.inner.request_stop();
    }
}
