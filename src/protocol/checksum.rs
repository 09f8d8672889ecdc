//! Schema checksums: CRC-32 of the RFC 8785 (JCS) canonical JSON of
//! a schema, leaving out the top-level `metadata.generatedAt`.
//!
//! The canonical text is written from the schema's JSON text by
//! [`index::canonical`](super::index::canonical) (which also keeps every
//! node's subtree CRC, so a [`Schema`](super::Schema)'s next checksum only
//! canonicalizes what changed), with the two JCS rules that need care,
//! strings and numbers, in `index::jcs`. This file has the value-level
//! functions.

use super::index::{canonical, scan::scan};
use serde_json::Value;

/// The canonical text that [`calculate_checksum`] hashes.
pub fn canonical_json(schema: &Value) -> String {
    let bytes = serde_json::to_vec(schema).unwrap_or_default();
    let text = match scan(&bytes) {
        Ok(s) => canonical::text(&bytes, &s.index),
        Err(_) => bytes,
    };
    // Only valid UTF-8 is ever written: strings are copied or re-escaped
    // whole, and everything else is ASCII.
    String::from_utf8(text).unwrap_or_default()
}

/// The checksum of a schema: 8 lowercase hex digits. (A value nesting
/// deeper than the JSON depth limit, which no schema does, is hashed as
/// serialized.)
pub fn calculate_checksum(schema: &Value) -> String {
    let bytes = serde_json::to_vec(schema).unwrap_or_default();
    let crc = scan(&bytes)
        .ok()
        .and_then(|s| canonical::checksum(&bytes, &s.index, None))
        .map_or_else(|| crc32fast::hash(&bytes), |(crc, _)| crc);
    format!("{crc:08x}")
}

/// True when `expected` is the checksum of `schema` (case-insensitive hex).
pub fn validate_checksum(schema: &Value, expected: &str) -> bool {
    calculate_checksum(schema).eq_ignore_ascii_case(expected)
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
