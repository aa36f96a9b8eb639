//! What a queued callback is.

use crate::cx::Cx;
use crate::handler::Handler;
use hue_formats::Key;
use hue_formats::trace::Origin;

/// The boxed work of a callback.
pub(crate) type Work = Box<dyn FnOnce(&mut Cx<'_>) + Send>;

/// A queued callback: its work plus the few words that say what it is.
///
/// This is what a per-callback trace record is made from, so it stays small and `Copy`-cheap
/// apart from the box: no strings, no `Arc`s.
pub(crate) struct Callback {
    pub(crate) work: Work,
    pub(crate) handler: Handler,
    pub(crate) key: Option<Key>,
    /// Raw clock reading when it was queued; 0 when tracing is off.
    pub(crate) queued: u64,
    /// Id of the callback that queued it; 0 if none (or tracing is off).
    pub(crate) parent: u64,
    pub(crate) origin: Origin,
}
