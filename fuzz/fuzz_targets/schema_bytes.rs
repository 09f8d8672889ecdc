//! Any bytes as a pushed schema: the server's one-pass reading
//! (`Schema::from_slice`, which never builds a JSON tree) accepts exactly
//! what `serde_json` plus the schema rules accept, reads the same value,
//! and gives the checksum computed from that value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lumora_hr_mini::protocol::{Schema, calculate_checksum, json};

fuzz_target!(|data: &[u8]| {
    let ours = Schema::from_slice(data);
    let reference = json::parse_bounded(data, json::MAX_JSON_DEPTH)
        .ok()
        .map(Schema::from_value);
    match (&ours, &reference) {
        (Ok(s), Some(Ok(r))) => {
            assert_eq!(s.as_value(), r.as_value(), "value");
            assert_eq!(s.checksum(), calculate_checksum(r.as_value()), "checksum");
            assert_eq!(s.checksum(), r.checksum(), "checksum of the reference");
        }
        (Err(_), None) | (Err(_), Some(Err(_))) => {}
        _ => panic!(
            "disagree: ours {:?}, reference {:?}",
            ours.as_ref().err(),
            reference.as_ref().map(|r| r.as_ref().err())
        ),
    }
});
