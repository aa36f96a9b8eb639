//! Colors and keys.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};

/// The color of a callback: callbacks of one color run one at a time, in the order they were
/// queued; callbacks of different colors may run in parallel.
///
/// [`Color::DEFAULT`] is the one serial color everything starts in, so an unchanged program
/// runs exactly like a single-threaded event loop.
///
/// Colors are plain values: a color with nothing queued and nothing running costs nothing, so
/// a color per connection or per request is normal.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Color(u64);

/// Colors made by [`Color::fresh`] have this bit set; colors made by [`Color::of`] have it
/// clear, so the two families never collide.
const FRESH_BIT: u64 = 1 << 63;

static NEXT_FRESH: AtomicU64 = AtomicU64::new(1);

impl Color {
    /// The default, serial color.
    pub const DEFAULT: Color = Color(0);

    /// The color for a key: equal keys give equal colors, in every run of the program.
    ///
    /// Two different keys may collide on one color (a 63-bit hash); that costs parallelism,
    /// never correctness.
    pub fn of<K: Hash + ?Sized>(key: &K) -> Color {
        let h = stable_hasher().hash_one(key) & !FRESH_BIT;
        // Keep 0 for DEFAULT: a key must not serialize with everything that was never colored.
        Color(if h == 0 { 1 } else { h })
    }

    /// A color no other call to `fresh` returns in this process.
    pub fn fresh() -> Color {
        Color(FRESH_BIT | NEXT_FRESH.fetch_add(1, Ordering::Relaxed))
    }

    /// The color with this raw value (as recorded in a trace).
    pub const fn from_raw(raw: u64) -> Color {
        Color(raw)
    }

    /// The raw value of this color.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// Whether this is [`Color::DEFAULT`].
    pub const fn is_default(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Debug for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Color({self})")
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            f.write_str("default")
        } else {
            write!(f, "{:#x}", self.0)
        }
    }
}

/// The request or connection a callback works for.
///
/// A key lets a recolor policy color a handler "by key" without the program choosing colors
/// itself, and lets the profiler follow one request through its stages.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Key(pub u64);

impl From<u64> for Key {
    fn from(k: u64) -> Key {
        Key(k)
    }
}

impl From<u32> for Key {
    fn from(k: u32) -> Key {
        Key(u64::from(k))
    }
}

impl From<usize> for Key {
    fn from(k: usize) -> Key {
        Key(k as u64)
    }
}

impl Key {
    /// The color this key gets under a by-key coloring.
    pub fn color(self) -> Color {
        Color::of(&self.0)
    }
}

/// A hasher with fixed keys, so `Color::of` gives the same color in every run (traces from
/// two runs can then be compared color by color).
fn stable_hasher() -> std::hash::BuildHasherDefault<StableHasher> {
    std::hash::BuildHasherDefault::default()
}

/// FNV-1a followed by a 64-bit finalizer (from splitmix64) so that small integer keys spread
/// over all bits; the home worker of a color is taken from the low bits.
#[derive(Default)]
pub struct StableHasher(u64);

impl std::hash::Hasher for StableHasher {
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Spreads a color's raw value over 64 bits, for picking a home worker and a table shard.
pub fn mix(raw: u64) -> u64 {
    let mut z = raw.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn of_is_stable_and_never_default() {
        assert_eq!(Color::of(&42u64), Color::of(&42u64));
        assert_ne!(Color::of(&1u64), Color::of(&2u64));
        for k in 0..10_000u64 {
            assert!(!Color::of(&k).is_default());
            assert_eq!(Color::of(&k).raw() & FRESH_BIT, 0);
        }
    }

    #[test]
    fn fresh_colors_are_unique_and_disjoint_from_keyed() {
        let a = Color::fresh();
        let b = Color::fresh();
        assert_ne!(a, b);
        assert_ne!(a.raw() & FRESH_BIT, 0);
    }

    #[test]
    fn display() {
        assert_eq!(Color::DEFAULT.to_string(), "default");
        assert_eq!(Color::from_raw(255).to_string(), "0xff");
    }
}
