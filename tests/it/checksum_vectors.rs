//! The published checksum vectors: exact canonical text and CRC.

use lumora_hr_mini::protocol::{Schema, calculate_checksum, canonical_json, validate_checksum};
use serde_json::Value;

#[test]
fn every_vector_matches_canonical_text_and_checksum() {
    let file: Value = serde_json::from_str(include_str!("../vectors/checksum.json")).unwrap();
    let cases = file["cases"].as_array().unwrap();
    assert!(cases.len() >= 7);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        // Parse the schema text the way the server does, not through the
        // already-decoded value, so number handling is exercised end to end.
        let text = serde_json::to_vec(&case["schema"]).unwrap();
        let schema = Schema::from_slice(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            canonical_json(schema.as_value()),
            case["canonical"].as_str().unwrap(),
            "{name}"
        );
        let expected = case["checksum"].as_str().unwrap();
        assert_eq!(calculate_checksum(schema.as_value()), expected, "{name}");
        assert_eq!(schema.checksum(), expected, "{name}");
        assert!(validate_checksum(schema.as_value(), expected), "{name}");
    }
}
