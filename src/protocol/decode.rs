//! The one way a server reads a device's message: `ack` and `ping` (nearly
//! every message) through the allocation-free reader of `hot.rs`, borrowing
//! their strings from the text; anything else, or anything that reader
//! declines, through the full, validated decoder of `codec.rs`.

use super::codec::deserialize_message_full;
use super::hot::deserialize_message_ref;
use super::message::{Payload, ProtocolError};
use std::borrow::Cow;

/// A decoded message's envelope strings and payload.
#[derive(Debug)]
pub struct Decoded<'a> {
    /// The session it names.
    pub session_id: Cow<'a, str>,
    /// The sender's protocol version.
    pub version: Cow<'a, str>,
    /// What it carries.
    pub payload: Payload,
}

/// Decodes and validates one message from a device.
pub fn decode(text: &[u8]) -> Result<Decoded<'_>, ProtocolError> {
    if let Some(m) = deserialize_message_ref(text) {
        return Ok(Decoded {
            session_id: Cow::Borrowed(m.session_id),
            version: Cow::Borrowed(m.version),
            payload: m.payload,
        });
    }
    let m = deserialize_message_full(text, true)?;
    Ok(Decoded {
        session_id: Cow::Owned(m.session_id),
        version: Cow::Owned(m.version),
        payload: m.payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_and_pings_borrow_everything_else_is_owned_or_refused() {
        let ping = br#"{"type":"ping","sessionId":"s","timestamp":1,"version":"1.0.0"}"#;
        let d = decode(ping).unwrap();
        assert!(matches!(d.session_id, Cow::Borrowed("s")));
        assert!(matches!(d.payload, Payload::Ping(_)));
        let log = br#"{"type":"log","sessionId":"s","timestamp":1,"version":"1.0.0","payload":{"message":"hi","level":"info"}}"#;
        let d = decode(log).unwrap();
        assert!(matches!(d.session_id, Cow::Owned(_)));
        assert!(matches!(d.payload, Payload::Log(_)));
        // The fast reader declines, the full path refuses with the reason.
        let bad = br#"{"type":"ack","sessionId":"s","timestamp":1,"version":"1.0.0","payload":{}}"#;
        let e = decode(bad).unwrap_err().to_string();
        assert!(e.contains("sequenceNumber"), "{e}");
    }
}
