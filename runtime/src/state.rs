//! State shared between handlers: [`Shared`] (one value) and [`Keyed`] (a value per key).
//!
//! Both are always memory-safe: a lock guards them. The lock exists for safety, not for
//! coordination: under a correct coloring, handlers that touch the same state never run at
//! once, so the lock is never contended, and a contended access is a **conflict**. The runtime
//! counts every conflict.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, LockResult, Mutex, PoisonError, RwLock, TryLockError, TryLockResult};

use crossbeam_utils::CachePadded;

use crate::intern;
use crate::mix_hasher::MixHasher;
use crate::recorder;
use crate::sync::SpinMutex;
use hue_formats::{Key, mix};

/// Named state that handlers reach through [`crate::Cx::read`] and [`crate::Cx::write`].
///
/// Cloning a `Shared` gives another handle to the same state. A handler that panics while
/// writing leaves the value as the panic left it; the lock is not poisoned.
pub struct Shared<T> {
    inner: Arc<SharedInner<T>>,
}

struct SharedInner<T> {
    name: String,
    /// Interned name id, as the trace records it.
    id: u32,
    value: RwLock<T>,
    conflicts: AtomicU64,
    /// Handler id of the last callback to enter (`NO_HOLDER` if none): when an access finds
    /// the state taken, this names who took it.
    holder: AtomicU32,
    /// Threads inside `inspect`. A handler that finds the state taken while someone inspects
    /// it from outside waited for the inspector, not for a parallel callback: no conflict.
    inspecting: AtomicU32,
}

const NO_HOLDER: u32 = u32::MAX;

/// What a traced access knows before it asks for the lock: the clock reading and the running
/// handler. `None` when tracing is off or the access is not made from a callback.
fn probe() -> Option<(u64, Option<u32>)> {
    recorder::with(|r| r.now()).map(|t| (t, recorder::current().map(|c| c.handler)))
}

/// Records a traced access once the state is released.
#[allow(clippy::too_many_arguments)]
fn record(
    probe: Option<(u64, Option<u32>)>,
    state: u32,
    key: Option<u64>,
    write: bool,
    entered: Option<u64>,
    left: Option<u64>,
    holder: Option<u32>,
) {
    if let (Some((at, _)), Some(left)) = (probe, left) {
        let entered = entered.unwrap_or(at);
        let contended = holder.is_some();
        let holder = holder.filter(|&h| h != NO_HOLDER);
        recorder::with(|r| r.access(state, key, write, at, entered, left, contended, holder));
    }
}

fn now_if(probe: Option<(u64, Option<u32>)>) -> Option<u64> {
    probe.and_then(|_| recorder::with(|r| r.now()))
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Shared<T> {
    /// New state called `name` (the name appears in traces and verdicts).
    pub fn new(name: impl Into<String>, value: T) -> Shared<T> {
        let name = name.into();
        Shared {
            inner: Arc::new(SharedInner {
                id: intern::states().intern(&name),
                name,
                value: RwLock::new(value),
                conflicts: AtomicU64::new(0),
                holder: AtomicU32::new(NO_HOLDER),
                inspecting: AtomicU32::new(0),
            }),
        }
    }

    /// The state's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// How many accesses found the state in use by a callback running in parallel.
    pub fn conflicts(&self) -> u64 {
        self.inner.conflicts.load(Ordering::Relaxed)
    }

    /// Reads the value from outside any handler (after a run, in a test). Not recorded.
    ///
    /// A callback that finds the state taken by an inspection waits for it, but that wait is
    /// not counted as a conflict (no coloring could have avoided it).
    pub fn inspect<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        self.inner.inspecting.fetch_add(1, Ordering::SeqCst);
        let res = f(&self
            .inner
            .value
            .read()
            .unwrap_or_else(PoisonError::into_inner));
        self.inner.inspecting.fetch_sub(1, Ordering::SeqCst);
        res
    }

    /// After a failed `try_*` lock: whether to count a conflict, and whom to blame.
    fn contention(&self) -> Option<u32> {
        if self.inner.inspecting.load(Ordering::SeqCst) > 0 {
            return None;
        }
        self.inner.conflicts.fetch_add(1, Ordering::Relaxed);
        Some(self.inner.holder.load(Ordering::Relaxed))
    }

    pub(crate) fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        let probe = probe();
        let v = &self.inner.value;
        let got = self.acquire(v.try_read(), || v.read());
        self.traced(probe, false, got, |g| f(g))
    }

    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let probe = probe();
        let v = &self.inner.value;
        let got = self.acquire(v.try_write(), || v.write());
        self.traced(probe, true, got, |g| f(g))
    }

    /// The guard of a `try_*` lock, or of the blocking one if the state was taken; with the
    /// handler blamed for the conflict, if it counts as one.
    fn acquire<G>(
        &self,
        tried: TryLockResult<G>,
        block: impl FnOnce() -> LockResult<G>,
    ) -> (G, Option<u32>) {
        match tried {
            Ok(g) => (g, None),
            Err(TryLockError::Poisoned(p)) => (p.into_inner(), None),
            Err(TryLockError::WouldBlock) => {
                let holder = self.contention();
                (block().unwrap_or_else(PoisonError::into_inner), holder)
            }
        }
    }

    /// Runs `f` inside the state and records the access (when tracing is on).
    fn traced<G, R>(
        &self,
        probe: Option<(u64, Option<u32>)>,
        write: bool,
        (mut guard, holder): (G, Option<u32>),
        f: impl FnOnce(&mut G) -> R,
    ) -> R {
        let entered = holder.and_then(|_| now_if(probe));
        self.enter(probe);
        let res = f(&mut guard);
        let left = now_if(probe);
        drop(guard);
        record(probe, self.inner.id, None, write, entered, left, holder);
        res
    }

    fn enter(&self, probe: Option<(u64, Option<u32>)>) {
        if let Some((_, Some(h))) = probe {
            self.inner.holder.store(h, Ordering::Relaxed);
        }
    }
}

/// State partitioned by key (per connection, per request), reached through
/// [`crate::Cx::keyed`].
///
/// Handlers working for different keys never share a value, and never wait for each other:
/// each key's value has its own lock, found through one of 64 shard locks held only for the
/// lookup. Two callbacks reaching the *same* key at once is a conflict, and is counted.
pub struct Keyed<T> {
    inner: Arc<KeyedInner<T>>,
}

type Shard<T> = CachePadded<SpinMutex<KeyMap<T>>>;

/// A shard's map: held for the lookup only, so a spin lock (one `cmpxchg` to take, a store to
/// release), and keys hashed by one `mix` ([`MixHasher`]).
type KeyMap<T> = HashMap<u64, Arc<Mutex<T>>, BuildHasherDefault<MixHasher>>;

struct KeyedInner<T> {
    name: String,
    id: u32,
    shards: Box<[Shard<T>]>,
    conflicts: AtomicU64,
}

const KEYED_SHARDS: usize = 64;

impl<T> Clone for Keyed<T> {
    fn clone(&self) -> Self {
        Keyed {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Keyed<T> {
    /// New keyed state called `name`.
    pub fn new(name: impl Into<String>) -> Keyed<T> {
        let name = name.into();
        Keyed {
            inner: Arc::new(KeyedInner {
                id: intern::states().intern(&name),
                name,
                shards: (0..KEYED_SHARDS)
                    .map(|_| CachePadded::new(SpinMutex::new(HashMap::default())))
                    .collect(),
                conflicts: AtomicU64::new(0),
            }),
        }
    }

    /// The state's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// How many accesses found their key's value in use by a callback running in parallel.
    pub fn conflicts(&self) -> u64 {
        self.inner.conflicts.load(Ordering::Relaxed)
    }

    /// Forgets `key`'s value (when its connection closes, say). Returns whether it had one.
    pub fn remove(&self, key: impl Into<Key>) -> bool {
        let k = key.into().0;
        self.shard(k).lock().remove(&k).is_some()
    }

    /// How many keys have a value.
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// Whether no key has a value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads `key`'s value from outside any handler. Not recorded.
    pub fn inspect<R>(&self, key: impl Into<Key>, f: impl FnOnce(Option<&T>) -> R) -> R {
        let k = key.into().0;
        let value = self.shard(k).lock().get(&k).cloned();
        match value {
            Some(v) => f(Some(&v.lock().unwrap_or_else(PoisonError::into_inner))),
            None => f(None),
        }
    }

    fn shard(&self, k: u64) -> &Shard<T> {
        &self.inner.shards[(mix(k) % KEYED_SHARDS as u64) as usize]
    }

    pub(crate) fn with<R>(&self, key: Key, f: impl FnOnce(&mut T) -> R) -> R
    where
        T: Default,
    {
        let value = self.shard(key.0).lock().entry(key.0).or_default().clone();
        self.access(key, &value, f)
    }

    pub(crate) fn with_existing<R>(&self, key: Key, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let value = self.shard(key.0).lock().get(&key.0).cloned()?;
        Some(self.access(key, &value, f))
    }

    fn access<R>(&self, key: Key, value: &Mutex<T>, f: impl FnOnce(&mut T) -> R) -> R {
        let probe = probe();
        let (mut guard, contended) = match value.try_lock() {
            Ok(g) => (g, false),
            Err(TryLockError::Poisoned(p)) => (p.into_inner(), false),
            Err(TryLockError::WouldBlock) => {
                self.inner.conflicts.fetch_add(1, Ordering::Relaxed);
                (value.lock().unwrap_or_else(PoisonError::into_inner), true)
            }
        };
        let entered = if contended { now_if(probe) } else { None };
        let res = f(&mut guard);
        let left = now_if(probe);
        drop(guard);
        // Per-key values do not track their holder: whoever held it was working for the same
        // key. The record still says the access was contended.
        let holder = contended.then_some(NO_HOLDER);
        record(
            probe,
            self.inner.id,
            Some(key.0),
            true,
            entered,
            left,
            holder,
        );
        res
    }
}
