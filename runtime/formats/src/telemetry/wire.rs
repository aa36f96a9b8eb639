//! The bytes on the wire (runtime/formats/TELEMETRY.md): the greeting lines and the snapshot frames.

use std::io::Write;

use super::Snapshot;

/// The telemetry protocol version this crate speaks, sent in the server's banner and the
/// viewer's hello.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest frame body either side accepts: 16 MiB. A snapshot lists at most
/// [`MAX_COLORS`](super::MAX_COLORS) colors but every handler and state, so it grows with the
/// program; a thousand handlers with long names come to well under 1 MiB. A length above this
/// means the stream is corrupt, and the client says so instead of allocating it.
pub const MAX_FRAME_LEN: usize = 16 << 20;

/// The longest hello the server reads, newline included. The real one has 8 bytes; the limit
/// bounds what a client speaking another protocol can make the server buffer.
pub const MAX_HELLO_LEN: usize = 64;

/// The longest first line the client reads, newline included: a banner or a refusal with its
/// reason.
pub const MAX_GREETING_LEN: usize = 256;

/// What starts the server's banner; the version follows after a space.
pub const BANNER_WORD: &str = "HUE-TELEMETRY";

/// What starts the line a server sends instead of its banner when it refuses a viewer.
/// Unversioned on purpose: every version of the client can show the reason.
pub const REFUSED_WORD: &str = "HUE-TELEMETRY-REFUSED";

/// What starts the viewer's hello; the version follows after a space.
pub const HELLO_WORD: &str = "HELLO";

/// The server's banner: `HUE-TELEMETRY 1\n`.
pub fn banner() -> Vec<u8> {
    format!("{BANNER_WORD} {PROTOCOL_VERSION}\n").into_bytes()
}

/// The viewer's hello: `HELLO 1\n`.
pub fn hello() -> Vec<u8> {
    format!("{HELLO_WORD} {PROTOCOL_VERSION}\n").into_bytes()
}

/// The line refusing a viewer, `reason` being a sentence for its user.
pub fn refusal(reason: &str) -> Vec<u8> {
    format!("{REFUSED_WORD} {reason}\n").into_bytes()
}

/// The first line a telemetry server sends, as the client reads it.
#[derive(Debug, PartialEq, Eq)]
pub enum Greeting<'a> {
    /// `HUE-TELEMETRY <version>`; the version as sent, maybe not a number.
    Banner(&'a str),
    /// `HUE-TELEMETRY-REFUSED <reason>`.
    Refused(&'a str),
    /// Anything else: not a hue telemetry server.
    Foreign,
}

/// Reads the server's first line, without its newline.
pub fn parse_greeting(line: &[u8]) -> Greeting<'_> {
    let Ok(line) = std::str::from_utf8(line) else {
        return Greeting::Foreign;
    };
    let mut words = line.splitn(2, ' ');
    match (words.next(), words.next()) {
        (Some(REFUSED_WORD), reason) => Greeting::Refused(reason.unwrap_or("")),
        (Some(BANNER_WORD), Some(version)) => Greeting::Banner(version),
        _ => Greeting::Foreign,
    }
}

/// Whether `line` (without its newline) is the hello of this protocol version.
pub fn is_hello(line: &[u8]) -> bool {
    line == format!("{HELLO_WORD} {PROTOCOL_VERSION}").as_bytes()
}

/// A snapshot serialized once by the publisher and shared by every viewer's queue.
///
/// Each viewer's copy differs in one field, `dropped_snapshots`, which counts the snapshots
/// dropped for that viewer. serde writes fields in declaration order and that field is the
/// last of [`Snapshot`], so the JSON ends with `,"dropped_snapshots":0}`: the frame keeps the
/// JSON up to the colon, and the network thread appends each viewer's count and the closing
/// brace as it writes. That costs a few bytes per viewer instead of a serialization.
pub struct Frame {
    /// The JSON up to and including `"dropped_snapshots":` or, if the field is not where the
    /// patch expects it, the whole JSON.
    json: Vec<u8>,
    /// Whether `json` stops before the drop count.
    patchable: bool,
}

/// The most bytes a patched count and brace add: `u64::MAX` has 20 digits.
const PATCH_LEN: usize = 21;

impl Frame {
    /// Serializes `snapshot`, or returns its size if the frame would exceed [`MAX_FRAME_LEN`].
    pub fn encode(snapshot: &Snapshot) -> Result<Frame, usize> {
        // Serializing a `Snapshot` cannot fail: it has no maps and no custom `Serialize`.
        let mut json = serde_json::to_vec(snapshot).expect("a Snapshot serializes");
        if json.len() + PATCH_LEN > MAX_FRAME_LEN {
            return Err(json.len());
        }
        let patchable = match patch_point(&json) {
            Some(at) => {
                json.truncate(at);
                true
            }
            None => {
                debug_assert!(
                    false,
                    "dropped_snapshots is no longer the last Snapshot field"
                );
                false
            }
        };
        Ok(Frame { json, patchable })
    }

    /// Bytes this frame holds, for queue limits.
    pub fn byte_len(&self) -> usize {
        4 + self.json.len() + PATCH_LEN
    }

    /// Appends the frame as one viewer gets it: length, then the JSON with `dropped` as its
    /// `dropped_snapshots`.
    pub fn write_to(&self, out: &mut Vec<u8>, dropped: u64) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.json);
        if self.patchable {
            write!(out, "{dropped}}}").expect("writing to a Vec cannot fail");
        }
        let body_len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&body_len.to_be_bytes());
    }
}

/// Where the value of the trailing `"dropped_snapshots"` field starts in `json`, if it is the
/// last field. (A string value cannot contain the bare `"` this looks for: JSON escapes it.)
fn patch_point(json: &[u8]) -> Option<usize> {
    const KEY: &[u8] = b",\"dropped_snapshots\":";
    let body = json.strip_suffix(b"}")?;
    let digits_at = body.len() - body.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    body[..digits_at].ends_with(KEY).then_some(digits_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::HandlerSnapshot;

    fn decode(bytes: &[u8]) -> Snapshot {
        let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert_eq!(len, bytes.len() - 4, "length prefix");
        serde_json::from_slice(&bytes[4..]).unwrap()
    }

    #[test]
    fn each_viewer_gets_its_own_drop_count() {
        let snapshot = Snapshot {
            seq: 7,
            dropped_snapshots: 99,
            handlers: vec![HandlerSnapshot {
                name: r#"tricky,"dropped_snapshots":1}"#.into(),
                ..HandlerSnapshot::default()
            }],
            ..Snapshot::default()
        };
        let frame = Frame::encode(&snapshot).unwrap();
        assert!(
            frame.patchable,
            "dropped_snapshots must stay the last field of Snapshot"
        );
        for dropped in [0, 3, u64::MAX] {
            let mut out = vec![0xAA];
            frame.write_to(&mut out, dropped);
            let got = decode(&out[1..]);
            assert_eq!(
                got,
                Snapshot {
                    dropped_snapshots: dropped,
                    ..snapshot.clone()
                }
            );
        }
    }

    #[test]
    fn greetings_are_told_apart() {
        assert_eq!(parse_greeting(b"HUE-TELEMETRY 1"), Greeting::Banner("1"));
        assert_eq!(
            parse_greeting(b"HUE-TELEMETRY 2 extra"),
            Greeting::Banner("2 extra")
        );
        assert_eq!(
            parse_greeting(b"HUE-TELEMETRY-REFUSED too many viewers"),
            Greeting::Refused("too many viewers")
        );
        assert_eq!(parse_greeting(b"SSH-2.0-OpenSSH_9.6"), Greeting::Foreign);
        assert_eq!(parse_greeting(b"HUE-TELEMETRY"), Greeting::Foreign);
        assert_eq!(parse_greeting(b"\xff\xfe"), Greeting::Foreign);
        assert!(is_hello(b"HELLO 1"));
        assert!(!is_hello(b"HELLO 1\r"));
        assert!(!is_hello(b"HELLO 2"));
        assert_eq!(banner(), b"HUE-TELEMETRY 1\n");
        assert_eq!(hello(), b"HELLO 1\n");
    }
}
