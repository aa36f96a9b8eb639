//! The hasher of the runtime's maps keyed by a `u64` (colors in the color table, keys in
//! [`crate::Keyed`]): one [`mix`] of the value, where SipHash (the default) was a sixth of the
//! cost of a callback in a fresh color and the stable FNV of `Color::of` hashes byte by byte.
//! Not stable across versions; nothing outside the process sees these hashes.

use std::hash::Hasher;

use hue_formats::mix;

#[derive(Default)]
pub(crate) struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0 ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, raw: u64) {
        // Rotated: the maps' shards are picked by bits of the same mix (the color table's top
        // six, `Keyed`'s low six), alike within a shard, and a map's tag byte comes from the
        // top bits of the hash and its bucket from the low ones: after the rotation both come
        // from bits the shard did not pick.
        self.0 = mix(raw).rotate_left(32);
    }
}
