//! Any bytes: decoding never panics, and whatever decodes re-encodes to the
//! same message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lumora_hr_mini::protocol::{deserialize_message, serialize_message};

fuzz_target!(|data: &[u8]| {
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
