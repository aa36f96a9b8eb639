//! Live telemetry: the snapshots a running program serves on a loopback TCP address, and the
//! viewer's end of the connection.
//!
//! The runtime publishes a [`Snapshot`] every period from its telemetry server
//! (`hue-runtime`); a [`TelemetryClient`] reads them (`hue top`, tests). The protocol is in
//! `runtime/formats/TELEMETRY.md`.
//!
//! - `snapshot.rs`: what a snapshot holds.
//! - [`wire`]: the greeting lines and frames, shared by both ends.
//! - `client.rs`: the viewer's end.

mod client;
mod error;
mod snapshot;
pub mod wire;

pub use client::TelemetryClient;
pub use error::{TelemetryError, TelemetryErrorKind, is_hang_up, is_timeout};
pub use snapshot::*;
pub use wire::{MAX_FRAME_LEN, PROTOCOL_VERSION};
