//! Traces: the records the runtime makes, and the `.hue` file that holds them.
//!
//! - [`Record`]: what one callback, state access, panic or worker interval records.
//! - [`TraceWriter`]: writes batches of records as checksummed, length-prefixed chunks.
//! - [`TraceReader`]: streams them back, stopping with a [`TraceError`] that names the byte
//!   offset at the first torn or corrupt chunk.
//!
//! `runtime/formats/FORMAT.md` is the byte-level description of the file and its versioning.
//!
//! **Architecture Invariant:** only `v1.rs` knows how a record is laid out in bytes;
//! `format.rs` holds what every version shares (magic, version field, chunk frame, varints),
//! and the reader picks a record codec by the file's version.

mod dense;
mod error;
mod format;
mod reader;
mod record;
mod v1;
mod writer;

pub use dense::{DENSE_ID_LIMIT, DenseIds};
pub use error::{TraceError, TraceErrorKind};
pub use format::{FORMAT_VERSION, MAX_CHUNK_BYTES, MAX_CHUNK_RECORDS, MAX_STRING_BYTES};
pub use reader::{ChunkPos, ReadSummary, TraceReader};
pub use record::*;
pub use writer::TraceWriter;

pub(crate) use v1::ColorHasher;
