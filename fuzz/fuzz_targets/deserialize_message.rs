//! Any bytes: decoding never panics, whatever decodes re-encodes to the
//! same message, and the allocation-free fast path for `ack`/`ping` only
//! answers when the general path (JSON tree, validation) gives the same.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lumora_hr_mini::protocol::json::{MAX_JSON_DEPTH, parse_bounded};
use lumora_hr_mini::protocol::{
    deserialize_message, deserialize_message_ref, message_from_value, serialize_message,
    validate_message,
};

fuzz_target!(|data: &[u8]| {
    if let Some(fast) = deserialize_message_ref(data) {
        let value = parse_bounded(data, MAX_JSON_DEPTH)
            .unwrap_or_else(|e| panic!("fast path accepted bytes that are not JSON: {e}"));
        validate_message(&value)
            .unwrap_or_else(|e| panic!("fast path accepted an invalid message: {e:?}"));
        let full = message_from_value(value).expect("a valid message decodes");
        assert_eq!(fast.into_message(), full, "fast and full paths disagree");
    }
    for validate in [true, false] {
        let Ok(message) = deserialize_message(data, validate) else {
            continue;
        };
        let text = serialize_message(&message);
        let again = deserialize_message(text.as_bytes(), validate)
            .unwrap_or_else(|e| panic!("re-decoding failed (validate={validate}): {e}\n{text}"));
        assert_eq!(again, message, "round trip changed the message: {text}");
    }
});
