//! State shared between handlers: [`Shared`] (one value) and [`Keyed`] (a value per key).
//!
//! Both are always memory-safe: a lock guards them. The lock exists for safety, not for
//! coordination: under a correct coloring, handlers that touch the same state never run at
//! once, so the lock is never contended, and a contended access is a **conflict**. The runtime
//! counts every conflict.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, TryLockError};

use crossbeam_utils::CachePadded;

use crate::color::{Fnv, Key, mix};

/// Named state that handlers reach through [`crate::Cx::read`] and [`crate::Cx::write`].
///
/// Cloning a `Shared` gives another handle to the same state. A handler that panics while
/// writing leaves the value as the panic left it; the lock is not poisoned.
pub struct Shared<T> {
    inner: Arc<SharedInner<T>>,
}

struct SharedInner<T> {
    name: String,
    value: RwLock<T>,
    conflicts: AtomicU64,
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
        Shared {
            inner: Arc::new(SharedInner {
                name: name.into(),
                value: RwLock::new(value),
                conflicts: AtomicU64::new(0),
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
    pub fn inspect<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self
            .inner
            .value
            .read()
            .unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        let guard = match self.inner.value.try_read() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.inner.conflicts.fetch_add(1, Ordering::Relaxed);
                self.inner
                    .value
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
            }
        };
        f(&guard)
    }

    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut guard = match self.inner.value.try_write() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.inner.conflicts.fetch_add(1, Ordering::Relaxed);
                self.inner
                    .value
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
            }
        };
        f(&mut guard)
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

type Shard<T> = CachePadded<Mutex<HashMap<u64, Arc<Mutex<T>>, BuildHasherDefault<Fnv>>>>;

struct KeyedInner<T> {
    name: String,
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
        Keyed {
            inner: Arc::new(KeyedInner {
                name: name.into(),
                shards: (0..KEYED_SHARDS).map(|_| CachePadded::default()).collect(),
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
        lock_shard(self.shard(k)).remove(&k).is_some()
    }

    /// How many keys have a value.
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| lock_shard(s).len()).sum()
    }

    /// Whether no key has a value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads `key`'s value from outside any handler. Not recorded.
    pub fn inspect<R>(&self, key: impl Into<Key>, f: impl FnOnce(Option<&T>) -> R) -> R {
        let k = key.into().0;
        let value = lock_shard(self.shard(k)).get(&k).cloned();
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
        let value = lock_shard(self.shard(key.0))
            .entry(key.0)
            .or_default()
            .clone();
        let mut guard = match value.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.inner.conflicts.fetch_add(1, Ordering::Relaxed);
                value.lock().unwrap_or_else(PoisonError::into_inner)
            }
        };
        f(&mut guard)
    }
}

fn lock_shard<T>(
    s: &Shard<T>,
) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Mutex<T>>, BuildHasherDefault<Fnv>>> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}
