//! Live telemetry: aggregated snapshots served on a loopback TCP address.

mod snapshot;

pub use snapshot::*;
