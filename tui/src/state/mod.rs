//! The model: the snapshots received or replayed, where the view stands among them, and
//! what the source says about itself. Rendering lives in [`crate::view`].

use std::net::SocketAddr;
use std::path::PathBuf;

use hue_formats::telemetry::Snapshot;
use hue_formats::trace::Header;

use crate::source::Event;
use crate::source::analysis::Analysis;
use crate::source::replay::PERIOD_NS;

pub mod advice;
pub mod names;
pub mod periods;
pub mod rows;
pub mod table;
pub mod window;

pub use periods::Periods;
pub use window::Window;

/// How many live snapshots are kept: ten minutes at 250 ms periods.
pub const LIVE_HISTORY: usize = 2400;

/// Where the snapshots come from.
#[derive(Clone, Debug)]
pub enum Mode {
    /// A running program's telemetry.
    Live {
        /// The telemetry server's address.
        addr: SocketAddr,
    },
    /// A recorded trace.
    Replay {
        /// The file.
        path: PathBuf,
        /// Its header.
        header: Header,
    },
}

/// The state of a live connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// Never connected yet; why.
    Waiting(String),
    /// Connected.
    Connected,
    /// Was connected, lost it; why. Reconnecting.
    Lost(String),
}

/// What the app knows.
#[derive(Clone, Debug)]
pub struct Model {
    /// Where the snapshots come from.
    pub mode: Mode,
    /// Live: the snapshots, oldest first (the last [`LIVE_HISTORY`]).
    pub snapshots: Vec<Snapshot>,
    /// Replay: the periods read, from the start and around seeks.
    pub periods: Periods,
    /// Replay: the end of the last period the index has reached (any period before it can
    /// be read at once); the trace's end once [`Model::indexed`].
    pub length_ns: Option<u64>,
    /// Replay: the whole trace is indexed.
    pub indexed: bool,
    /// Replay: why the seeker cannot read ahead, if it cannot.
    pub seek_failed: Option<String>,
    /// Live: the connection.
    pub link: Link,
    /// Live: snapshots missed (gaps in `seq`) since connecting.
    pub missed: u64,
    /// Replay: the whole trace has been read.
    pub loaded: bool,
    /// Replay: where and why reading stopped early.
    pub stopped: Option<String>,
    /// Replay: the profiler's analysis, once done (`Err`: why it failed).
    pub analysis: Option<Result<Analysis, String>>,
    /// The groups of the policy the traced run was under, to name their colors.
    pub groups: names::Groups,
}

impl Model {
    /// A model for `mode`, with nothing received yet.
    pub fn new(mode: Mode) -> Model {
        let link = match &mode {
            Mode::Live { addr } => Link::Waiting(format!("connecting to {addr}…")),
            Mode::Replay { .. } => Link::Connected,
        };
        let groups = match &mode {
            Mode::Replay { header, .. } => names::Groups::from_policy(&header.policy),
            Mode::Live { .. } => names::Groups::default(),
        };
        Model {
            analysis: None,
            groups,
            mode,
            snapshots: Vec::new(),
            periods: Periods::default(),
            length_ns: None,
            indexed: false,
            seek_failed: None,
            link,
            missed: 0,
            loaded: false,
            stopped: None,
        }
    }

    /// Whether this is a replay.
    pub fn is_replay(&self) -> bool {
        matches!(self.mode, Mode::Replay { .. })
    }

    /// Takes in what a source said.
    pub fn apply(&mut self, event: Event) {
        match event {
            Event::Waiting(why) => {
                self.link = match &self.link {
                    Link::Lost(_) => Link::Lost(why),
                    _ => Link::Waiting(why),
                }
            }
            Event::Connected(_) => self.link = Link::Connected,
            Event::Disconnected(why) => self.link = Link::Lost(why),
            Event::Snapshot(s) => {
                if let Some(last) = self.snapshots.last()
                    && s.seq > last.seq + 1
                    && s.at_ns > last.at_ns
                {
                    self.missed += s.seq - last.seq - 1;
                }
                // A restarted program starts its clock again: keep one run's history.
                if self.snapshots.last().is_some_and(|l| s.at_ns < l.at_ns) {
                    self.snapshots.clear();
                }
                self.snapshots.push(s);
                if self.snapshots.len() > LIVE_HISTORY {
                    let extra = self.snapshots.len() - LIVE_HISTORY;
                    self.snapshots.drain(..extra);
                }
            }
            Event::Snapshots(batch) => self.periods.insert(batch),
            Event::Indexed { end_ns, complete } => {
                // The period holding the latest record is the last (a replay folds a late
                // record into a period before it, never after).
                self.length_ns = end_ns.map(|t| (t / PERIOD_NS + 1) * PERIOD_NS);
                self.indexed = complete;
            }
            Event::SeekFailed(why) => self.seek_failed = Some(why),
            Event::Analysis(a) => self.analysis = Some(*a),
            Event::ReplayEnd { stopped } => {
                self.loaded = true;
                self.stopped = stopped;
            }
        }
    }

    /// The period of the snapshots (the latest one's).
    pub fn period_ns(&self) -> u64 {
        match self.mode {
            Mode::Live { .. } => self.snapshots.last(),
            Mode::Replay { .. } => self.periods.last(),
        }
        .map_or(0, |s| s.period_ns)
    }

    /// Replay: the end of the last period that can be shown now: the furthest the index or
    /// a reader has got.
    pub fn replay_end_ns(&self) -> u64 {
        let read = self.periods.last().map_or(0, |s| s.at_ns);
        self.length_ns.map_or(read, |l| l.max(read))
    }

    /// Workers, from the trace's header or the latest snapshot.
    pub fn workers(&self) -> usize {
        match &self.mode {
            Mode::Replay { header, .. } => usize::from(header.workers),
            Mode::Live { .. } => self.snapshots.last().map_or(0, |s| s.workers.len()),
        }
    }
}
