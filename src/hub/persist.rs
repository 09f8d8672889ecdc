//! What the hub asks to keep on disk, and the byte format of a session's
//! state file. Pure: bytes in, bytes out; the files themselves are the
//! server's business (`server::state`).
//!
//! A session file is a text line naming the format and its version, a
//! one-line JSON header, then the body: the schema's JSON followed by the
//! history's update frames, exactly as broadcast. The header gives every
//! length and the CRC-32 of the body, and ends with the CRC-32 of the
//! header's own text before it, so a truncated or altered file is
//! recognised, never half-loaded.
//!
//! ```text
//! lumora-hr-mini session state 2
//! {"bodyCrc":"…","createdAt":…,"expiresAt":…,"history":[{"baseChecksum":"…","bytes":383,"sequenceNumber":6},…],"schemaBytes":7133,"sequenceNumber":7,"sessionId":"…","headerCrc":"…"}
//! <schema JSON><frame 6><frame 7>
//! ```
//!
//! Version 1 (written by earlier builds) is the same without `headerCrc`;
//! it is still read.

use super::history::HistoryEntry;
use super::outbox::Frame;
use crate::protocol::Schema;
use serde_json::{Value, json};
use std::fmt;
use std::sync::Arc;

/// First line of every session file (the number is the format version).
pub const SESSION_MAGIC: &str = "lumora-hr-mini session state ";
/// The server record's format version (`server.json`).
pub const FORMAT_VERSION: u32 = 1;
/// The session file format version this build writes; it reads it and
/// version 1, whose header has no CRC of its own.
pub const SESSION_FORMAT_VERSION: u32 = 2;
/// How a version-2 header ends: `,"headerCrc":"XXXXXXXX"}`, the CRC of
/// the header text before it.
const HEADER_CRC_KEY: &[u8] = b",\"headerCrc\":\"";
const HEADER_CRC_TAIL: usize = HEADER_CRC_KEY.len() + 8 + 2;

/// A session as it is kept: everything a restart needs to serve it and to
/// resume its devices. Its bytes are shared with the live session, so
/// taking one costs a few reference counts.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSnapshot {
    /// The session id.
    pub id: Arc<str>,
    /// Creation, ms since the epoch.
    pub created_at_ms: u64,
    /// Expiry, ms since the epoch.
    pub expires_at_ms: u64,
    /// Sequence number of the last broadcast.
    pub sequence: u64,
    /// The last broadcast schema.
    pub schema: Option<Arc<Schema>>,
    /// Its JSON, when the session has it encoded already (shared, so the
    /// writer need not serialize it again).
    pub schema_json: Option<super::outbox::SharedFrame>,
    /// The recent updates, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// One thing to write down.
#[derive(Debug, Clone, PartialEq)]
pub enum PersistOp {
    /// The session changed: keep this version of it.
    Save(Box<SessionSnapshot>),
    /// The session is gone (deleted or expired).
    Remove(Arc<str>),
    /// The server's own record: its state lineage and startup session.
    Server {
        /// `serverEpoch`.
        epoch: Arc<str>,
        /// The startup session's id.
        startup: Option<Arc<str>>,
    },
}

/// Why a state file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// Empty file.
    Empty,
    /// Not a state file of this program.
    Foreign,
    /// A state file of another format version: the version found, and
    /// those this build reads.
    Version(String, &'static str),
    /// Shorter or longer than its header says.
    Truncated,
    /// The body's or the header's CRC differs from the one written.
    Corrupt,
    /// The header or the schema does not parse.
    Invalid(String),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Empty => f.write_str("the file is empty"),
            FormatError::Foreign => f.write_str("not a lumora-hr-mini state file"),
            FormatError::Version(v, reads) => {
                write!(f, "state format version {v}, this build reads {reads}")
            }
            FormatError::Truncated => f.write_str("the file is truncated"),
            FormatError::Corrupt => f.write_str("the file's checksum does not match"),
            FormatError::Invalid(e) => write!(f, "invalid content: {e}"),
        }
    }
}

impl std::error::Error for FormatError {}

/// The schema's JSON as it goes into the file: the session's shared
/// encoding when there is one, else serialized now.
pub fn schema_bytes(s: &SessionSnapshot) -> std::borrow::Cow<'_, [u8]> {
    match (&s.schema_json, &s.schema) {
        (Some(json), _) => std::borrow::Cow::Borrowed(&json[..]),
        (None, Some(x)) => std::borrow::Cow::Borrowed(&x.bytes()[..]),
        (None, None) => std::borrow::Cow::Borrowed(&[]),
    }
}

/// The format line and the header of a session file whose body is
/// `schema` followed by the history's frames.
pub fn encode_head(s: &SessionSnapshot, schema: &[u8]) -> Vec<u8> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(schema);
    let history: Vec<Value> = s
        .history
        .iter()
        .map(|e| {
            for part in frame_parts(&e.frame) {
                crc.update(part);
            }
            json!({
                "sequenceNumber": e.sequence,
                "baseChecksum": e.base_checksum.as_deref(),
                "bytes": e.frame.len(),
            })
        })
        .collect();
    let header = json!({
        "sessionId": &*s.id,
        "createdAt": s.created_at_ms,
        "expiresAt": s.expires_at_ms,
        "sequenceNumber": s.sequence,
        "schemaBytes": schema.len(),
        "history": history,
        "bodyCrc": format!("{:08x}", crc.finalize()),
    })
    .to_string();
    // The header's own CRC goes last, over the text before it.
    let open = header.strip_suffix('}').unwrap_or(&header);
    let header_crc = crc32fast::hash(open.as_bytes());
    let mut out = format!(
        "{SESSION_MAGIC}{SESSION_FORMAT_VERSION}\n{open},\"headerCrc\":\"{header_crc:08x}\"}}\n"
    )
    .into_bytes();
    out.shrink_to_fit();
    out
}

/// The pieces of a session file, in order (the head, the schema, every
/// part of every frame), to be written one after the other.
pub fn session_file_parts<'a>(
    s: &'a SessionSnapshot,
    head: &'a [u8],
    schema: &'a [u8],
) -> Vec<&'a [u8]> {
    let mut parts = vec![head, schema];
    for e in &s.history {
        parts.extend(frame_parts(&e.frame));
    }
    parts
}

/// Encodes a session file in one buffer.
pub fn encode_session(s: &SessionSnapshot) -> Vec<u8> {
    let schema = schema_bytes(s);
    let head = encode_head(s, &schema);
    session_file_parts(s, &head, &schema).concat()
}

/// A frame's bytes, in order.
fn frame_parts(frame: &Frame) -> Vec<&[u8]> {
    match frame {
        Frame::Whole(b) => vec![&b[..]],
        Frame::WithSchema { head, schema, tail } => vec![&head[..], &schema[..], &tail[..]],
    }
}

/// Splits the first line off `bytes`.
fn line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&b| b == b'\n')?;
    Some((&bytes[..at], &bytes[at + 1..]))
}

/// Reads the version line of a session file: its version and the rest.
fn check_magic<'a>(bytes: &'a [u8], magic: &str) -> Result<(u32, &'a [u8]), FormatError> {
    if bytes.is_empty() {
        return Err(FormatError::Empty);
    }
    let Some((first, rest)) = line(bytes) else {
        return Err(if magic.as_bytes().starts_with(bytes) {
            FormatError::Truncated
        } else {
            FormatError::Foreign
        });
    };
    let version = first
        .strip_prefix(magic.as_bytes())
        .ok_or(FormatError::Foreign)?;
    match version {
        b"1" => Ok((1, rest)),
        b"2" => Ok((2, rest)),
        _ => Err(FormatError::Version(
            String::from_utf8_lossy(version).chars().take(16).collect(),
            "versions 1 and 2",
        )),
    }
}

/// A version-2 header's own CRC, checked (version 1 has none).
fn check_header_crc(version: u32, header: &[u8]) -> Result<(), FormatError> {
    if version < 2 {
        return Ok(());
    }
    let Some(at) = header.len().checked_sub(HEADER_CRC_TAIL) else {
        return Err(FormatError::Corrupt);
    };
    let (open, tail) = header.split_at(at);
    let written = tail
        .strip_prefix(HEADER_CRC_KEY)
        .and_then(|t| t.strip_suffix(b"\"}"));
    // As written: eight lowercase hex digits.
    let expected = format!("{:08x}", crc32fast::hash(open));
    if written == Some(expected.as_bytes()) {
        Ok(())
    } else {
        Err(FormatError::Corrupt)
    }
}

/// Decodes a session file.
pub fn decode_session(bytes: &[u8]) -> Result<SessionSnapshot, FormatError> {
    let (version, rest) = check_magic(bytes, SESSION_MAGIC)?;
    let (header, body) = line(rest).ok_or(FormatError::Truncated)?;
    check_header_crc(version, header)?;
    let header: Value =
        serde_json::from_slice(header).map_err(|e| FormatError::Invalid(e.to_string()))?;
    let bad = |what: &str| FormatError::Invalid(format!("header: {what}"));
    let num = |key: &str| {
        header
            .get(key)
            .and_then(Value::as_u64)
            .ok_or_else(|| bad(key))
    };
    let id = header
        .get("sessionId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("sessionId"))?;
    let schema_len = usize::try_from(num("schemaBytes")?).map_err(|_| bad("schemaBytes"))?;
    let entries = header
        .get("history")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("history"))?;
    let mut lens = Vec::with_capacity(entries.len());
    let mut total = schema_len;
    for e in entries {
        let len = e
            .get("bytes")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| bad("history bytes"))?;
        total = total.checked_add(len).ok_or_else(|| bad("history bytes"))?;
        lens.push(len);
    }
    if body.len() != total {
        return Err(FormatError::Truncated);
    }
    let crc = format!("{:08x}", crc32fast::hash(body));
    if header.get("bodyCrc").and_then(Value::as_str) != Some(crc.as_str()) {
        return Err(FormatError::Corrupt);
    }
    let schema = match schema_len {
        0 => None,
        n => Some(Arc::new(
            Schema::from_slice(&body[..n]).map_err(|e| FormatError::Invalid(e.to_string()))?,
        )),
    };
    let mut at = schema_len;
    let mut history = Vec::with_capacity(entries.len());
    for (e, len) in entries.iter().zip(lens) {
        let sequence = e
            .get("sequenceNumber")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("history sequenceNumber"))?;
        let base_checksum = match e.get("baseChecksum") {
            Some(Value::String(s)) => Some(Arc::from(s.as_str())),
            Some(Value::Null) | None => None,
            Some(_) => return Err(bad("history baseChecksum")),
        };
        history.push(HistoryEntry {
            sequence,
            base_checksum,
            frame: Frame::Whole(Arc::new(body[at..at + len].to_vec())),
        });
        at += len;
    }
    Ok(SessionSnapshot {
        id: id.into(),
        created_at_ms: num("createdAt")?,
        expires_at_ms: num("expiresAt")?,
        sequence: num("sequenceNumber")?,
        schema,
        schema_json: None,
        history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> SessionSnapshot {
        let schema = Schema::from_value(json!({"version": "1", "metadata": {}, "nodes": [
            {"id": "a", "type": "Text", "props": {"text": "é\n\"x\""}}
        ]}))
        .unwrap();
        SessionSnapshot {
            id: "0f1e2d3c-0000-4000-8000-000000000001".into(),
            created_at_ms: 1_700_000_000_000,
            expires_at_ms: 1_700_028_800_000,
            sequence: 3,
            schema: Some(Arc::new(schema)),
            schema_json: None,
            history: vec![
                HistoryEntry {
                    sequence: 2,
                    base_checksum: Some("11111111".into()),
                    frame: Frame::Whole(b"\x81\x03two".to_vec().into()),
                },
                HistoryEntry {
                    sequence: 3,
                    base_checksum: Some("22222222".into()),
                    frame: Frame::WithSchema {
                        head: b"\x81\x05th".to_vec().into(),
                        schema: b"re".to_vec().into(),
                        tail: b"e\n".to_vec().into(),
                    },
                },
            ],
        }
    }

    #[test]
    fn round_trips() {
        let s = snapshot();
        let bytes = encode_session(&s);
        let back = decode_session(&bytes).unwrap();
        // Frames come back whole, with the same bytes.
        assert_eq!(encode_session(&back), bytes);
        assert_eq!(
            (&back.id, back.sequence, &back.schema),
            (&s.id, 3, &s.schema)
        );
        assert_eq!(back.history[1].base_checksum.as_deref(), Some("22222222"));
        assert_eq!(back.history[1].frame.len(), 8);
        // The session's shared encoding of the schema gives the same file.
        let json = serde_json::to_vec(s.schema.as_ref().unwrap().as_value()).unwrap();
        let cached = SessionSnapshot {
            schema_json: Some(json.into()),
            ..s.clone()
        };
        assert_eq!(encode_session(&cached), bytes);
        let empty = SessionSnapshot {
            schema: None,
            history: Vec::new(),
            sequence: 0,
            ..s
        };
        assert_eq!(decode_session(&encode_session(&empty)).unwrap(), empty);
    }

    #[test]
    fn every_damage_is_named() {
        let good = encode_session(&snapshot());
        assert_eq!(decode_session(b""), Err(FormatError::Empty));
        assert_eq!(decode_session(b"{\"a\":1}"), Err(FormatError::Foreign));
        assert_eq!(
            decode_session(b"\x00\x01garbage\n"),
            Err(FormatError::Foreign)
        );
        assert_eq!(
            decode_session(b"lumora-hr-mini session state 3\n{}\n"),
            Err(FormatError::Version("3".into(), "versions 1 and 2"))
        );
        assert_eq!(
            decode_session(b"lumora-hr-mini sess"),
            Err(FormatError::Truncated)
        );
        for cut in [40, good.len() / 2, good.len() - 1] {
            assert!(
                matches!(
                    decode_session(&good[..cut]),
                    Err(FormatError::Truncated | FormatError::Invalid(_))
                ),
                "cut at {cut}"
            );
        }
        let mut flipped = good.clone();
        let last = flipped.len() - 2;
        flipped[last] ^= 1;
        assert_eq!(decode_session(&flipped), Err(FormatError::Corrupt));
        let mut longer = good.clone();
        longer.push(b'x');
        assert_eq!(decode_session(&longer), Err(FormatError::Truncated));
        // Any byte of the header changed, its CRC among them, is seen: an
        // edited number would otherwise be restored as it stands.
        let header_start = good.iter().position(|&b| b == b'\n').unwrap() + 1;
        let header_end = header_start
            + good[header_start..]
                .iter()
                .position(|&b| b == b'\n')
                .unwrap();
        let mut header_changes = 0;
        for at in header_start..header_end {
            let mut edited = good.clone();
            if edited[at].is_ascii_digit() {
                edited[at] = if edited[at] == b'9' {
                    b'1'
                } else {
                    edited[at] + 1
                };
            } else {
                edited[at] ^= 0x20;
            }
            header_changes += 1;
            assert!(
                matches!(
                    decode_session(&edited),
                    Err(FormatError::Corrupt | FormatError::Truncated)
                ),
                "header byte {at} changed: {:?}",
                decode_session(&edited)
            );
        }
        assert!(header_changes > 100);
    }

    #[test]
    fn version_1_files_are_still_read() {
        // As earlier builds wrote them: no headerCrc.
        let s = snapshot();
        let v2 = encode_session(&s);
        let text = String::from_utf8_lossy(&v2).into_owned();
        let (head, _) = text.split_once("\n{").unwrap();
        assert_eq!(head, "lumora-hr-mini session state 2");
        let at = v2
            .windows(HEADER_CRC_KEY.len())
            .position(|w| w == HEADER_CRC_KEY)
            .unwrap();
        let mut v1 = b"lumora-hr-mini session state 1".to_vec();
        v1.extend_from_slice(&v2[head.len()..at]);
        v1.extend_from_slice(&v2[at + HEADER_CRC_TAIL - 1..]);
        assert!(v1.len() == v2.len() - HEADER_CRC_TAIL + 1);
        assert_eq!(encode_session(&decode_session(&v1).unwrap()), v2);
        // A version-2 file without its header CRC is damaged.
        let mut stripped = v1;
        stripped[29] = b'2';
        assert_eq!(decode_session(&stripped), Err(FormatError::Corrupt));
    }
}
