//! A viewer's bounded queue of frames: the publisher pushes, the network thread pops.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::wire::Frame;
use crate::sync::lock;

/// Frames waiting for one viewer.
///
/// Shared by the publisher, which only ever [`offer`](Outbox::offer)s and never waits for
/// room, and the network thread, which [`pop`](Outbox::pop)s as the viewer's socket takes
/// bytes. The lock is held for one push or pop, never across I/O, so the publisher waits at
/// most for the network thread's pop, not for a viewer.
pub(crate) struct Outbox {
    /// The most bytes of frames queued at once.
    limit: usize,
    state: Mutex<State>,
}

struct State {
    frames: VecDeque<Arc<Frame>>,
    /// Sum of `Frame::len` over `frames`.
    bytes: usize,
    /// Snapshots dropped for this viewer since it joined.
    dropped: u64,
}

impl Outbox {
    pub(crate) fn new(limit: usize) -> Outbox {
        Outbox {
            limit,
            state: Mutex::new(State {
                frames: VecDeque::new(),
                bytes: 0,
                dropped: 0,
            }),
        }
    }

    /// Queues `frame` unless that would take the queue past its limit, in which case the
    /// snapshot is dropped for this viewer and counted. Returns whether it was queued.
    ///
    /// An empty queue takes any frame, so a snapshot larger than the limit still reaches a
    /// viewer that keeps up.
    pub(crate) fn offer(&self, frame: &Arc<Frame>) -> bool {
        let mut state = lock(&self.state);
        if !state.frames.is_empty() && state.bytes + frame.byte_len() > self.limit {
            state.dropped += 1;
            return false;
        }
        state.bytes += frame.byte_len();
        state.frames.push_back(frame.clone());
        true
    }

    /// The oldest queued frame, with how many snapshots were dropped for this viewer so far
    /// (what its `dropped_snapshots` says).
    pub(crate) fn pop(&self) -> Option<(Arc<Frame>, u64)> {
        let mut state = lock(&self.state);
        let frame = state.frames.pop_front()?;
        state.bytes -= frame.byte_len();
        Some((frame, state.dropped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::Snapshot;

    fn frame(seq: u64) -> Arc<Frame> {
        Arc::new(
            Frame::encode(&Snapshot {
                seq,
                ..Snapshot::default()
            })
            .unwrap(),
        )
    }

    #[test]
    fn a_full_outbox_drops_and_counts_and_reports_the_count_with_the_next_frame() {
        let size = frame(0).byte_len();
        let outbox = Outbox::new(2 * size);
        let offered: Vec<bool> = (0..4).map(|seq| outbox.offer(&frame(seq))).collect();
        assert_eq!(offered, [true, true, false, false]);
        assert_eq!(outbox.pop().map(|(_, dropped)| dropped), Some(2));
        assert!(outbox.offer(&frame(4)));
        assert!(!outbox.offer(&frame(5)));
        assert_eq!(outbox.pop().map(|(_, dropped)| dropped), Some(3));
        assert_eq!(outbox.pop().map(|(_, dropped)| dropped), Some(3));
        assert!(outbox.pop().is_none());
    }

    #[test]
    fn an_empty_outbox_takes_a_frame_larger_than_its_limit() {
        let outbox = Outbox::new(1);
        assert!(outbox.offer(&frame(0)));
        assert!(!outbox.offer(&frame(1)));
    }
}
