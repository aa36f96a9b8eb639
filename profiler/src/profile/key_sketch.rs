//! Distinct keys per handler, estimated in fixed memory.

/// Bits of the per-handler key sketch (linear counting): exact in practice up to a few dozen
/// keys, within a few % to a few thousand, for 512 bytes per handler and a hash and a bit
/// set per callback (a small sketch stays in cache while records stream through).
pub(crate) const KEY_SKETCH_BITS: usize = 1 << 12;

/// Distinct keys, estimated by linear counting over a bitmap.
pub(crate) struct KeySketch {
    pub(crate) bits: Box<[u64; KEY_SKETCH_BITS / 64]>,
}

impl Default for KeySketch {
    fn default() -> KeySketch {
        KeySketch {
            bits: Box::new([0; KEY_SKETCH_BITS / 64]),
        }
    }
}

impl KeySketch {
    #[inline]
    pub(crate) fn insert(&mut self, key: u64) {
        // Linear counting needs bits that look random: splitmix64's finalizer. A bare
        // multiply spreads sequential keys (connection numbers) too evenly, so that none
        // collide and the estimate comes out high (13% at 900 keys), and keys that differ
        // only in their high bits land on few bits.
        let mut z = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let h = (z >> (64 - KEY_SKETCH_BITS.trailing_zeros())) as usize;
        self.bits[h / 64] |= 1 << (h % 64);
    }

    pub(crate) fn estimate(&self) -> u64 {
        let m = KEY_SKETCH_BITS as f64;
        let ones: u32 = self.bits.iter().map(|w| w.count_ones()).sum();
        let zeros = m - f64::from(ones);
        if zeros < 1.0 {
            // Saturated: at least this many.
            return (m * m.ln()) as u64;
        }
        (m * (m / zeros).ln()).round() as u64
    }
}
