//! Inputs that once broke the protocol core, kept so they stay fixed.

use lumora_hr_mini::protocol::{
    Payload, Schema, UpdateBody, UpdatePayload, canonical_json, create_full_update,
    deserialize_message, serialize_message,
};
use std::sync::Arc;

/// serde_json's default float parser may be one ULP off for 16-17 digit
/// numbers: `0.09090909090909091` (1/11) was read as `0.09090909090909093`.
/// A schema then changed value on its way through the server, and a Rust
/// device decoding a full update computed another checksum than the one the
/// update carried. Found by `tests/delta_props.rs` (delta serde round trip).
#[test]
fn floats_survive_parsing_and_a_full_update_exactly() {
    let text = br#"{"version":"1","metadata":{},"nodes":[{"id":"a","type":"View","props":{"flex":0.09090909090909091,"w":2045.1483260861298,"tiny":1.416275391369074e-285}}]}"#;
    let schema = Schema::from_slice(text).unwrap();
    let props = &schema.as_value()["nodes"][0]["props"];
    assert_eq!(props["flex"].as_f64(), Some(1.0 / 11.0));
    assert_eq!(props["w"].as_f64(), Some(2045.1483260861298));
    let canonical = canonical_json(schema.as_value());
    for written in [
        "0.09090909090909091",
        "2045.1483260861298",
        "1.416275391369074e-285",
    ] {
        assert!(canonical.contains(written), "{written} in {canonical}");
    }

    let msg = create_full_update("s", Arc::new(schema), 1, true);
    let decoded = deserialize_message(serialize_message(&msg).as_bytes(), true).unwrap();
    assert_eq!(decoded, msg);
    let Payload::Update(UpdatePayload {
        body: UpdateBody::Full(received),
        checksum,
        ..
    }) = decoded.payload
    else {
        panic!("not a full update: {decoded:?}");
    };
    assert_eq!(received.checksum(), checksum);
}
