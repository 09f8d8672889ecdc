//! Bytes on the wire for the client: frame parsing, the sequence number of
//! an update, base64 for the handshake key, wall-clock milliseconds.

use crate::*;

/// `Vec<u8>` as a `fmt::Write` target.
pub(crate) struct Bytes<'a>(pub(crate) &'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

pub(crate) fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An unmasked frame at the start of `b`: (opcode, payload start, end).
pub(crate) fn parse_frame(b: &[u8]) -> Option<(u8, usize, usize)> {
    if b.len() < 2 {
        return None;
    }
    let op = b[0] & 0x0f;
    let mut len = (b[1] & 0x7f) as usize;
    let mut p = 2;
    if len == 126 {
        len = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize;
        p = 4;
    } else if len == 127 {
        len = u64::from_be_bytes(b.get(2..10)?.try_into().ok()?) as usize;
        p = 10;
    }
    if b[1] & 0x80 != 0 {
        p += 4;
    }
    (b.len() >= p + len).then_some((op, p, p + len))
}

/// The `sequenceNumber` of an update (searched from the end: it follows
/// the schema or delta).
pub(crate) fn sequence_number(text: &[u8]) -> Option<u64> {
    let key = br#""sequenceNumber":"#;
    let at = rfind(text, key)? + key.len();
    let digits = text[at..]
        .iter()
        .skip_while(|c| **c == b' ')
        .take_while(|c| c.is_ascii_digit());
    let mut v = 0u64;
    let mut any = false;
    for d in digits {
        v = v * 10 + u64::from(d - b'0');
        any = true;
    }
    any.then_some(v)
}

pub(crate) fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(A[(v >> 18) as usize & 63] as char);
        out.push(A[(v >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            A[(v >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            A[v as usize & 63] as char
        } else {
            '='
        });
    }
    out
}
