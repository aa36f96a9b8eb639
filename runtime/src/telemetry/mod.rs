//! Live telemetry's serving end: aggregated snapshots served on a loopback TCP address.
//!
//! The runtime publishes a [`Snapshot`] every period through a [`TelemetryServer`], which
//! sends it to every connected viewer from a thread of its own. What a snapshot holds, the
//! frames on the wire and the viewer's [`TelemetryClient`] are `hue-formats`'
//! (`runtime/formats/TELEMETRY.md`), re-exported here.
//!
//! **Architecture Invariant:** publishing never waits for a viewer. A viewer that reads too
//! slowly loses snapshots (counted, and told how many), and one that reads nothing is
//! disconnected; neither slows the runtime.
//!
//! - `server.rs`: the handle the runtime publishes through; `outbox.rs`: a viewer's bounded
//!   queue; `network.rs`: the thread that greets viewers and writes their frames.

mod network;
mod outbox;
mod server;

pub use hue_formats::telemetry::*;
pub use server::{ServerOptions, ServerStats, TelemetryServer};
