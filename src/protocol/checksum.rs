//! Schema checksums: CRC-32 of the RFC 8785 (JCS) canonical JSON of
//! a schema, leaving out the top-level `metadata.generatedAt`.
//!
//! Numbers are formatted by `ryu-js`, which follows ECMAScript's
//! `Number.prototype.toString` exactly; everything else in JCS is simple enough
//! to write here and stream straight into the CRC without a buffer.
//!
//! This is the checksum of a parsed value. A [`Schema`](super::Schema)'s own
//! checksum is written from its bytes, reusing unchanged subtrees
//! ([`index::canonical`](super::index::canonical)); both give the same
//! digits.

use serde_json::{Map, Value};

/// Where canonical bytes go: a buffer for [`canonical_json`], the CRC state
/// for [`calculate_checksum`].
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Feeds the CRC in 8 KiB blocks: canonical JSON is written a few bytes at
/// a time, and hashing each tiny piece separately costs several times more.
struct CrcSink {
    hasher: crc32fast::Hasher,
    buf: Vec<u8>,
}

const CRC_BLOCK: usize = 8192;

impl Sink for CrcSink {
    fn put(&mut self, bytes: &[u8]) {
        if self.buf.len() + bytes.len() > CRC_BLOCK {
            self.hasher.update(&self.buf);
            self.buf.clear();
            if bytes.len() > CRC_BLOCK {
                self.hasher.update(bytes);
                return;
            }
        }
        self.buf.extend_from_slice(bytes);
    }
}

/// The canonical text that [`calculate_checksum`] hashes.
pub fn canonical_json(schema: &Value) -> String {
    let mut out = Vec::new();
    write_schema(schema, &mut out);
    // Only valid UTF-8 is ever written: JSON strings are Rust strings and
    // everything else is ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// The checksum of a schema: 8 lowercase hex digits.
pub fn calculate_checksum(schema: &Value) -> String {
    let mut sink = CrcSink {
        hasher: crc32fast::Hasher::new(),
        buf: Vec::with_capacity(CRC_BLOCK),
    };
    write_schema(schema, &mut sink);
    sink.hasher.update(&sink.buf);
    format!("{:08x}", sink.hasher.finalize())
}

/// True when `expected` is the checksum of `schema` (case-insensitive hex).
pub fn validate_checksum(schema: &Value, expected: &str) -> bool {
    calculate_checksum(schema).eq_ignore_ascii_case(expected)
}

fn write_schema(schema: &Value, out: &mut impl Sink) {
    match schema {
        Value::Object(map) => write_object(map, out, Level::Schema),
        other => write_value(other, out),
    }
}

/// Which object is being written: the schema itself, its top-level
/// `metadata` (which drops `generatedAt`), or any other object.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Schema,
    SchemaMetadata,
    Plain,
}

fn write_value(value: &Value, out: &mut impl Sink) {
    match value {
        Value::Null => out.put(b"null"),
        Value::Bool(true) => out.put(b"true"),
        Value::Bool(false) => out.put(b"false"),
        Value::Number(n) => {
            // JCS reads every number as an IEEE double, so integers beyond
            // 2^53 round exactly as JavaScript's JSON.parse would.
            let f = n.as_f64().unwrap_or(0.0);
            let mut buf = ryu_js::Buffer::new();
            out.put(buf.format(f).as_bytes());
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.put(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.put(b",");
                }
                write_value(item, out);
            }
            out.put(b"]");
        }
        Value::Object(map) => write_object(map, out, Level::Plain),
    }
}

/// Writes `{...}` with keys in UTF-16 code-unit order.
fn write_object<S: Sink>(map: &Map<String, Value>, out: &mut S, level: Level) {
    out.put(b"{");
    let mut first = true;
    let mut member = |k: &str, v: &Value, out: &mut S| {
        if level == Level::SchemaMetadata && k == "generatedAt" {
            return;
        }
        if !first {
            out.put(b",");
        }
        first = false;
        write_string(k, out);
        out.put(b":");
        match v {
            Value::Object(inner) if level == Level::Schema && k == "metadata" => {
                write_object(inner, out, Level::SchemaMetadata)
            }
            _ => write_value(v, out),
        }
    };
    for (k, v) in sorted_members(map) {
        member(k, v, out);
    }
    out.put(b"}");
}

/// The members of an object in JCS order (UTF-16 code units of the keys).
fn sorted_members(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    // Maps keep the order keys arrived in (devices see the pushed order), so
    // members are sorted here; for ASCII keys byte order is UTF-16 order.
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    if members.iter().all(|(k, _)| k.is_ascii()) {
        members.sort_unstable_by(|a, b| a.0.cmp(b.0));
    } else {
        members.sort_unstable_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    }
    members
}

/// `s` as a JCS string, appended to `out`.
pub(crate) fn write_jcs_string(s: &str, out: &mut Vec<u8>) {
    write_string(s, out);
}

/// JSON.stringify's minimal escaping: `"`, `\`, the five short control
/// escapes, other controls as lowercase `\u00xx`; all else is literal UTF-8.
fn write_string(s: &str, out: &mut impl Sink) {
    out.put(b"\"");
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.put(&bytes[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.put(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ]);
        } else {
            out.put(esc);
        }
        start = i + 1;
    }
    out.put(&bytes[start..]);
    out.put(b"\"");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn skips_generated_at_only_at_top_level_metadata() {
        let v = json!({"metadata": {"generatedAt": 5, "a": 1}, "nodes": [{"metadata": {"generatedAt": 7}}]});
        assert_eq!(
            canonical_json(&v),
            r#"{"metadata":{"a":1},"nodes":[{"metadata":{"generatedAt":7}}]}"#
        );
        let only = json!({"metadata": {"generatedAt": 5}});
        assert_eq!(canonical_json(&only), r#"{"metadata":{}}"#);
    }

    #[test]
    fn escapes_like_json_stringify() {
        let v = json!({"s": "a\"b\\c\n\u{1}\u{1f}\u{7f}é\u{2028}"});
        assert_eq!(
            canonical_json(&v),
            "{\"s\":\"a\\\"b\\\\c\\n\\u0001\\u001f\u{7f}é\u{2028}\"}"
        );
    }

    #[test]
    fn checksum_is_eight_lowercase_hex_digits_and_validates() {
        let v = json!({"version": "1", "metadata": {}, "nodes": []});
        let c = calculate_checksum(&v);
        assert_eq!(c.len(), 8);
        assert!(
            c.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert!(validate_checksum(&v, &c));
        assert!(validate_checksum(&v, &c.to_uppercase()));
        assert!(!validate_checksum(&v, "00000000"));
        assert_eq!(
            c,
            format!("{:08x}", crc32fast::hash(canonical_json(&v).as_bytes()))
        );
    }
}
