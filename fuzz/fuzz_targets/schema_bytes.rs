//! Any bytes as a pushed schema: the server's one-pass reading
//! (`Schema::from_slice`, which never builds a JSON tree) accepts exactly
//! what `serde_json` plus the schema rules accept, reads the same value,
//! and gives the checksum computed from that value.
//!
//! Bytes after a NUL (which no JSON text holds) are a patch: the text with
//! the patch written into it somewhere is read after the text, as a push
//! after the one before (`Schema::from_vec_after`, which reads an edit
//! inside one node as such), and must give what reading it alone gives.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lumora_hr_mini::protocol::{Schema, calculate_checksum, json};

fuzz_target!(|data: &[u8]| {
    let (data, patch) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    if !patch.is_empty() {
        if let Ok(before) = Schema::from_slice(data) {
            edited_after(&before, data, patch);
        }
    }
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

/// `text` with `patch` written at a place the patch picks, over up to 7
/// bytes: read after `before` and alone, the same answer.
fn edited_after(before: &Schema, text: &[u8], patch: &[u8]) {
    let pick = patch.iter().fold(0usize, |h, &b| h.wrapping_mul(31).wrapping_add(b as usize));
    let at = pick % (text.len() + 1);
    let cut = ((pick >> 8) % 8).min(text.len() - at);
    let mut new = text[..at].to_vec();
    new.extend_from_slice(patch);
    new.extend_from_slice(&text[at + cut..]);
    let _ = before.checksum();
    let after = Schema::from_vec_after(new.clone(), Some(before));
    let alone = Schema::from_slice(&new);
    match (&after, &alone) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.bytes(), b.bytes(), "text");
            assert_eq!(a.as_value(), b.as_value(), "value");
            assert_eq!(a.checksum_after(before), b.checksum(), "checksum");
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "refusal"),
        _ => panic!(
            "read after the last push {:?}, alone {:?}",
            after.as_ref().err(),
            alone.as_ref().err()
        ),
    }
}
