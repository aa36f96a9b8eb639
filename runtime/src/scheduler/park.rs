//! Parking a worker thread.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::sync::lock;

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
            t = self
                .cv
                .wait(t)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *t = false;
    }

    /// Like [`Parker::park`], giving up after `timeout`. Returns whether it took a token.
    pub(crate) fn park_timeout(&self, timeout: Duration) -> bool {
        let (mut t, _) = self
            .cv
            .wait_timeout_while(lock(&self.token), timeout, |t| !*t)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::replace(&mut *t, false)
    }

    pub(crate) fn unpark(&self) {
        *lock(&self.token) = true;
        self.cv.notify_one();
    }
}
