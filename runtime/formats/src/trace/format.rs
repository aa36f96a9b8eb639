//! The parts of the `.hue` layout every version shares: the magic, the version field, the
//! chunk frame and its checksums, varints, and the limits a reader enforces.
//!
//! `runtime/formats/FORMAT.md` is the byte-level description; this file is its implementation. The
//! record encoding of one version lives in its own module (`v1.rs`).
//!
//! A file is:
//!
//! ```text
//! magic (8 bytes) | version (u16 LE) | frame | frame | ...
//! frame = kind (u8) | payload length (u32 LE) | records (u32 LE)
//!       | payload CRC32 (u32 LE) | frame CRC32 (u32 LE, over the 13 bytes before it) | payload
//! ```
//!
//! The frame has its own checksum so that a damaged length field is reported as corruption,
//! not misread as a torn file (a longer length would otherwise run past the end of the file).

/// The first eight bytes of every `.hue` file. As in PNG, the non-ASCII first byte and the
/// CR LF / ^Z / LF tail make a file damaged by a text-mode transfer fail the magic check.
pub(crate) const MAGIC: [u8; 8] = *b"\x89HUE\r\n\x1a\n";

/// The version this hue writes, and the newest it reads.
pub const FORMAT_VERSION: u16 = 1;

/// The oldest version this hue reads.
pub(crate) const OLDEST_VERSION: u16 = 1;

/// Bytes before the first frame: magic and version.
pub(crate) const PREAMBLE_LEN: usize = MAGIC.len() + 2;

/// Bytes of a frame before its payload.
pub(crate) const FRAME_LEN: usize = 17;

/// The largest payload a reader accepts. A length field is only trusted after the frame
/// checksum passes, but a crafted file can pass it; this bounds what one chunk can make the
/// reader allocate. Writers stay far below it: they close a chunk at 1 MiB.
pub const MAX_CHUNK_BYTES: u32 = 64 << 20;

/// The most records a reader accepts in one chunk. A reader decodes a whole chunk before it
/// returns any of its records (so a bad chunk yields none), and this bounds that buffer:
/// 1 Mi records of 104 bytes each (`size_of::<Record>()`), about 100 MiB at worst.
pub const MAX_CHUNK_RECORDS: u32 = 1 << 20;

/// The longest string (name, message, program, policy) a reader accepts and a writer writes;
/// a writer cuts longer strings at a character boundary.
pub const MAX_STRING_BYTES: usize = 1 << 20;

/// A writer closes a chunk once its payload reaches this size. Large enough that the frame
/// and the per-chunk color dictionary cost little per record, small enough that a torn file
/// loses little and a reader's buffer stays small.
pub(crate) const TARGET_CHUNK_BYTES: usize = 1 << 20;

/// A writer closes a chunk after this many records (16x below [`MAX_CHUNK_RECORDS`]).
pub(crate) const TARGET_CHUNK_RECORDS: u32 = 1 << 16;

/// What a frame holds. Kinds below 0x80 are *critical*: a reader that does not know one must
/// stop. Kinds from 0x80 up are *ancillary*: a reader that does not know one skips it, which
/// lets a version gain optional chunks without a version bump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChunkKind(pub(crate) u8);

impl ChunkKind {
    /// The header: the first frame of every file.
    pub(crate) const HEADER: ChunkKind = ChunkKind(b'H');
    /// A batch of records.
    pub(crate) const RECORDS: ChunkKind = ChunkKind(b'R');
    /// The end marker: the last frame of a finished file.
    pub(crate) const END: ChunkKind = ChunkKind(b'E');
    /// Ancillary: one [`super::MachineSample`].
    pub(crate) const MACHINE: ChunkKind = ChunkKind(0x81);

    pub(crate) fn is_ancillary(self) -> bool {
        self.0 >= 0x80
    }
}

/// A frame's fields, before its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) kind: ChunkKind,
    pub(crate) len: u32,
    pub(crate) records: u32,
    pub(crate) crc: u32,
}

impl Frame {
    /// The frame's bytes, with the frame checksum.
    pub(crate) fn encode(&self) -> [u8; FRAME_LEN] {
        let mut out = [0u8; FRAME_LEN];
        out[0] = self.kind.0;
        out[1..5].copy_from_slice(&self.len.to_le_bytes());
        out[5..9].copy_from_slice(&self.records.to_le_bytes());
        out[9..13].copy_from_slice(&self.crc.to_le_bytes());
        let check = crc32fast::hash(&out[..13]);
        out[13..17].copy_from_slice(&check.to_le_bytes());
        out
    }

    /// The frame in `bytes`, or `None` if its checksum does not match.
    pub(crate) fn decode(bytes: &[u8; FRAME_LEN]) -> Option<Frame> {
        let le =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        if crc32fast::hash(&bytes[..13]) != le(13) {
            return None;
        }
        Some(Frame {
            kind: ChunkKind(bytes[0]),
            len: le(1),
            records: le(5),
            crc: le(9),
        })
    }
}

/// Zigzag-maps a signed difference so that small magnitudes of either sign get short varints.
#[inline]
pub(crate) fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

/// The inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// `a - b` as a zigzag value. Wrapping, so that any two `u64`s round-trip through
/// [`undelta`]: the format never assumes that times or ids are ordered, it is only shorter
/// when they are.
#[inline]
pub(crate) fn delta(a: u64, b: u64) -> u64 {
    zigzag(a.wrapping_sub(b) as i64)
}

/// The `a` that [`delta`]`(a, b)` came from.
#[inline]
pub(crate) fn undelta(z: u64, b: u64) -> u64 {
    b.wrapping_add(unzigzag(z) as u64)
}

/// Appends `v` as an unsigned LEB128 varint (1 to 10 bytes).
#[inline]
pub(crate) fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends a string as its byte length (varint) and its UTF-8 bytes, cut to
/// [`MAX_STRING_BYTES`] at a character boundary.
pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str) {
    let s = if s.len() > MAX_STRING_BYTES {
        let mut end = MAX_STRING_BYTES;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        &s[..end]
    } else {
        s
    };
    put_varint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// Why a payload could not be decoded. Kept small and `Copy`: it travels through every
/// decoding step's `Result`, and only a corrupt chunk ever formats one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bad {
    /// The payload ended inside a record.
    Eof,
    /// A varint ran past 10 bytes or past 64 bits.
    Varint,
    /// A record kind byte this version does not define.
    RecordKind(u8),
    /// Flag bits this version reserves as 0 were set.
    ReservedBits(u8),
    /// A color reference past the colors defined so far in the chunk.
    ColorRef(u64),
    /// A string longer than [`MAX_STRING_BYTES`] (or than the rest of the payload).
    StringLen(u64),
    /// A string that is not UTF-8.
    Utf8,
    /// An enum field (name kind, event kind) with an unknown value.
    Enum(&'static str, u64),
    /// A value out of its field's range (a worker above `u16::MAX`, an id above `u32::MAX`).
    Range(&'static str, u64),
    /// Bytes left after a structure that should have filled its payload.
    Trailing(usize),
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Bad::Eof => f.write_str("it ends in the middle of a record"),
            Bad::Varint => f.write_str("a variable-length integer is longer than 64 bits"),
            Bad::RecordKind(k) => write!(f, "record kind 0x{k:02x} is not defined"),
            Bad::ReservedBits(b) => write!(f, "reserved flag bits are set (0x{b:02x})"),
            Bad::ColorRef(r) => write!(f, "color reference {r} is past the chunk's color table"),
            Bad::StringLen(n) => write!(f, "a string of {n} bytes is longer than allowed"),
            Bad::Utf8 => f.write_str("a string is not UTF-8"),
            Bad::Enum(what, v) => write!(f, "{what} {v} is not defined"),
            Bad::Range(what, v) => write!(f, "{what} {v} is out of range"),
            Bad::Trailing(n) => write!(f, "{n} bytes are left over after its last field"),
        }
    }
}

/// A read position in a payload. Every read is bounds-checked and returns [`Bad`] instead of
/// panicking: payloads come from files.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> Result<u8, Bad> {
        let b = *self.buf.get(self.pos).ok_or(Bad::Eof)?;
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    pub(crate) fn u16_le(&mut self) -> Result<u16, Bad> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    #[inline]
    pub(crate) fn u32_le(&mut self) -> Result<u32, Bad> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    #[inline]
    pub(crate) fn u64_le(&mut self) -> Result<u64, Bad> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Bad> {
        let bytes = self
            .buf
            .get(self.pos..)
            .and_then(|rest| rest.first_chunk::<N>());
        let bytes = *bytes.ok_or(Bad::Eof)?;
        self.pos += N;
        Ok(bytes)
    }

    /// An unsigned LEB128 varint. Rejects encodings longer than 10 bytes and a tenth byte that
    /// would carry bits past the 64th.
    ///
    /// Decoding is most of a reader's time, so varints of up to 8 bytes (all but huge ids,
    /// keys and colors) are read as one little-endian word: the first clear high bit ends the
    /// varint, and three shift-and-mask steps squeeze out the continuation bits. With the
    /// record decoders inlined into the chunk loop, this took the reader from 8.8 to about
    /// 16 M callbacks/s (`benches/trace.rs`).
    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Result<u64, Bad> {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        if let Some(word) = rest.first_chunk::<8>() {
            let w = u64::from_le_bytes(*word);
            if w & 0x80 == 0 {
                self.pos += 1;
                return Ok(w & 0x7f);
            }
            let stops = !w & 0x8080_8080_8080_8080;
            if stops != 0 {
                // The lowest clear high bit is bit 8k+7 of the varint's last byte k.
                let bits = stops.trailing_zeros() + 1;
                let x = if bits == 64 {
                    w
                } else {
                    w & ((1u64 << bits) - 1)
                };
                let mut x = x & 0x7f7f_7f7f_7f7f_7f7f;
                x = (x & 0x007f_007f_007f_007f) | ((x & 0x7f00_7f00_7f00_7f00) >> 1);
                x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x3fff_0000_3fff_0000) >> 2);
                x = (x & 0x0000_0000_0fff_ffff) | ((x & 0x0fff_ffff_0000_0000) >> 4);
                self.pos += (bits / 8) as usize;
                return Ok(x);
            }
        }
        self.varint_bytewise()
    }

    /// The general case: near the end of the payload, or longer than 8 bytes.
    #[cold]
    fn varint_bytewise(&mut self) -> Result<u64, Bad> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(Bad::Varint);
            }
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(Bad::Varint);
            }
        }
    }

    #[inline]
    pub(crate) fn varint_u32(&mut self, what: &'static str) -> Result<u32, Bad> {
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| Bad::Range(what, v))
    }

    #[inline]
    pub(crate) fn varint_u16(&mut self, what: &'static str) -> Result<u16, Bad> {
        let v = self.varint()?;
        u16::try_from(v).map_err(|_| Bad::Range(what, v))
    }

    /// A string written by [`put_str`]. Allocates only after the length is checked against
    /// the bytes actually present.
    pub(crate) fn str(&mut self) -> Result<String, Bad> {
        let n = self.varint()?;
        if n > MAX_STRING_BYTES as u64 || n > self.remaining() as u64 {
            return Err(if n > MAX_STRING_BYTES as u64 {
                Bad::StringLen(n)
            } else {
                Bad::Eof
            });
        }
        let bytes = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(Bad::Utf8),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn varint_bytes(v: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        put_varint(&mut buf, v);
        buf
    }

    #[test]
    fn varint_lengths() {
        for (v, len) in [
            (0, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (u32::MAX as u64, 5),
            (u64::MAX, 10),
        ] {
            assert_eq!(varint_bytes(v).len(), len, "{v}");
        }
    }

    #[test]
    fn overlong_varints_are_rejected() {
        // 11 bytes.
        let mut bytes = vec![0x80; 10];
        bytes.push(0);
        assert_eq!(Cursor::new(&bytes).varint(), Err(Bad::Varint));
        // 10 bytes whose last carries bits past the 64th.
        let mut bytes = vec![0xff; 9];
        bytes.push(0x02);
        assert_eq!(Cursor::new(&bytes).varint(), Err(Bad::Varint));
        // u64::MAX itself is fine.
        assert_eq!(Cursor::new(&varint_bytes(u64::MAX)).varint(), Ok(u64::MAX));
        // Cut short.
        assert_eq!(Cursor::new(&[0x80, 0x80]).varint(), Err(Bad::Eof));
    }

    #[test]
    fn zigzag_small_magnitudes_stay_small() {
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
        assert_eq!(delta(1000, 1003), 5);
    }

    #[test]
    fn frame_checksum_catches_every_single_byte_change() {
        let frame = Frame {
            kind: ChunkKind::RECORDS,
            len: 4096,
            records: 200,
            crc: 0xdead_beef,
        };
        let bytes = frame.encode();
        assert_eq!(Frame::decode(&bytes), Some(frame));
        for i in 0..FRAME_LEN {
            for bit in 0..8 {
                let mut bad = bytes;
                bad[i] ^= 1 << bit;
                assert_eq!(Frame::decode(&bad), None, "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn long_strings_are_cut_at_a_char_boundary() {
        let s = "é".repeat(MAX_STRING_BYTES); // 2 bytes each
        let mut buf = Vec::new();
        put_str(&mut buf, &s);
        let back = Cursor::new(&buf).str().unwrap();
        assert_eq!(back.len(), MAX_STRING_BYTES);
        assert!(s.starts_with(&back));
    }

    proptest! {
        /// Alone (the bytewise path) and followed by other bytes (the word path).
        #[test]
        fn varint_round_trip(v: u64, tail in prop::collection::vec(any::<u8>(), 0..12)) {
            let bytes = varint_bytes(v);
            let mut c = Cursor::new(&bytes);
            prop_assert_eq!(c.varint(), Ok(v));
            prop_assert!(c.is_empty());
            let mut with_tail = bytes.clone();
            with_tail.extend_from_slice(&tail);
            let mut c = Cursor::new(&with_tail);
            prop_assert_eq!(c.varint(), Ok(v));
            prop_assert_eq!(c.pos(), bytes.len());
        }

        /// Both paths agree on every input, valid or not.
        #[test]
        fn word_and_bytewise_varints_agree(bytes in prop::collection::vec(any::<u8>(), 0..16)) {
            let mut word = Cursor::new(&bytes);
            let mut bytewise = Cursor::new(&bytes);
            prop_assert_eq!(word.varint(), bytewise.varint_bytewise());
            prop_assert_eq!(word.pos(), bytewise.pos());
        }

        #[test]
        fn delta_round_trip(a: u64, b: u64) {
            prop_assert_eq!(undelta(delta(a, b), b), a);
        }

        #[test]
        fn cursor_reads_never_panic(bytes: Vec<u8>) {
            let mut c = Cursor::new(&bytes);
            while !c.is_empty() {
                let _ = c.varint();
                let _ = c.str();
                let _ = c.u64_le();
                let _ = c.u8();
            }
        }
    }
}
