//! Live telemetry: aggregated snapshots served on a loopback TCP address.
//!
//! The runtime publishes a [`Snapshot`] every period through a [`TelemetryServer`], which
//! sends it to every connected viewer from a thread of its own; a [`TelemetryClient`] reads
//! them (`hue top`, tests). The wire protocol is in `runtime/TELEMETRY.md`.
//!
//! **Architecture Invariant:** publishing never waits for a viewer. A viewer that reads too
//! slowly loses snapshots (counted, and told how many), and one that reads nothing is
//! disconnected; neither slows the runtime.
//!
//! - `snapshot.rs`: what a snapshot holds.
//! - `wire.rs`: the greeting lines and frames, shared by both ends.
//! - `server.rs`: the handle the runtime publishes through; `outbox.rs`: a viewer's bounded
//!   queue; `network.rs`: the thread that greets viewers and writes their frames.
//! - `client.rs`: the viewer's end.

mod client;
mod error;
mod network;
mod outbox;
mod server;
mod snapshot;
mod wire;

pub use client::TelemetryClient;
pub use error::{TelemetryError, TelemetryErrorKind};
pub use server::{ServerOptions, ServerStats, TelemetryServer};
pub use snapshot::*;
pub use wire::{MAX_FRAME_LEN, PROTOCOL_VERSION};
