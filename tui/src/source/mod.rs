//! Where snapshots come from: a running program's telemetry ([`live`]) or a recorded trace
//! replayed through the same aggregator ([`replay`]). Each runs in a thread of its own and
//! sends [`Event`]s to the app, which never waits for a source.

use std::net::SocketAddr;

use hue_formats::telemetry::Snapshot;

pub mod analysis;
pub mod index;
pub mod live;
pub mod replay;

/// What a source tells the app.
#[derive(Clone, Debug)]
pub enum Event {
    /// Live: not connected; why (nothing listens, not a hue server, refused, …). The source
    /// keeps trying.
    Waiting(String),
    /// Live: connected to the telemetry server at this address.
    Connected(SocketAddr),
    /// Live: one snapshot.
    Snapshot(Snapshot),
    /// Live: the connection ended, with the reason; the source reconnects.
    Disconnected(String),
    /// Replay: consecutive periods read from the trace, oldest first (from the reader that
    /// starts at the beginning, or around a period the app wanted).
    Snapshots(Vec<Snapshot>),
    /// Replay: how far the trace's chunks are indexed: any period up to `end_ns` can be
    /// read now, wherever the reader from the start is.
    Indexed {
        /// The latest time of a record indexed, ns (`None`: none yet).
        end_ns: Option<u64>,
        /// Whether that is the whole readable trace.
        complete: bool,
    },
    /// Replay: the seeker cannot read ahead (why); periods come only from the reader that
    /// starts at the beginning.
    SeekFailed(String),
    /// Replay: the trace has been read; `stopped` says where and why reading stopped early
    /// (a truncated or corrupt trace), `None` if it was read to its end.
    ReplayEnd {
        /// Where reading stopped early, as a sentence.
        stopped: Option<String>,
    },
    /// Replay: the profiler's analysis of the whole trace, or why it failed.
    Analysis(Box<Result<analysis::Analysis, String>>),
}
