//! `serde_json` reading a document into `IgnoredAny`, built at opt-level
//! 3: the floor a push is compared with, as a program built for speed
//! reads JSON (the benches also measure it built as the server is).

use serde::de::IgnoredAny;

/// Reads `bytes` as JSON, keeping nothing.
#[inline(never)]
pub fn scan(bytes: &[u8]) -> Result<IgnoredAny, serde_json::Error> {
    serde_json::from_slice::<IgnoredAny>(bytes)
}
