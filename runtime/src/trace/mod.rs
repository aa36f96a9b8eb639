//! Traces: the records the runtime makes, and the `.hue` file that holds them.

mod record;

pub use record::*;
