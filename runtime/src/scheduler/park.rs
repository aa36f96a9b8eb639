//! Parking a worker thread.

use std::time::Duration;

use crate::sync::model::{Condvar, Mutex, lock, wait};

/// A one-token parker: `unpark` leaves a token, `park` waits for one and takes it. A token left
/// before `park` makes it return at once, so an unpark can never be lost between a worker's
/// last look for work and its sleep.
#[derive(Default)]
pub(crate) struct Parker {
    token: Mutex<bool>,
    cv: Condvar,
}

impl Parker {
    pub(crate) fn park(&self) {
        let mut t = lock(&self.token);
        while !*t {
            t = wait(&self.cv, t);
        }
        *t = false;
    }

    /// Like [`Parker::park`], giving up after `timeout`. Returns whether it took a token.
    #[cfg(not(hue_loom))]
    pub(crate) fn park_timeout(&self, timeout: Duration) -> bool {
        let (mut t, _) = self
            .cv
            .wait_timeout_while(lock(&self.token), timeout, |t| !*t)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::replace(&mut *t, false)
    }

    /// Under loom, which has no clock: the timeout expires at once. Waiting changes nothing
    /// before the deadline, so a deadline that expires at any point of any interleaving is
    /// this check made at that point; loom places it everywhere.
    #[cfg(hue_loom)]
    pub(crate) fn park_timeout(&self, _timeout: Duration) -> bool {
        std::mem::replace(&mut *lock(&self.token), false)
    }

    pub(crate) fn unpark(&self) {
        *lock(&self.token) = true;
        self.cv.notify_one();
    }

    /// Whether a token is waiting (the loom models: a wake-up left behind).
    #[cfg(all(test, hue_loom))]
    pub(crate) fn has_token(&self) -> bool {
        *lock(&self.token)
    }
}
