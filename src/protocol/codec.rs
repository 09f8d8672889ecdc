//! Messages to and from JSON text: `serialize_message`, `deserialize_message`
//! (with or without validation) and the decoding of a parsed value. The top
//! of the protocol's layers: it uses the message types (`message/`), their
//! rules (`validate.rs`) and the allocation-free reader (`hot.rs`), and none
//! of those uses it.

use super::hot::deserialize_message_ref;
use super::json;
use super::message::{Message, MessageType, Payload, ProtocolError, number_to_u64};
use super::validate::validate_message;
use serde_json::{Map, Value};

/// Encodes a message as compact JSON text.
pub fn serialize_message(message: &Message) -> String {
    // Serializing these types cannot fail: every map key is a string.
    serde_json::to_string(message).unwrap_or_default()
}

/// Decodes a message. With `validate`, the message rules are checked first
/// and every problem is reported; without, only what decoding needs.
///
/// `ack` and `ping`, the messages devices send all the time, are read by
/// [`deserialize_message_ref`](super::hot::deserialize_message_ref) without
/// building a JSON tree; anything else, or anything unusual, takes the
/// general path.
pub fn deserialize_message(bytes: &[u8], validate: bool) -> Result<Message, ProtocolError> {
    if let Some(message) = deserialize_message_ref(bytes) {
        return Ok(message.into_message());
    }
    deserialize_message_full(bytes, validate)
}

/// [`deserialize_message`] without the fast path: a JSON tree, validated,
/// then converted.
pub(crate) fn deserialize_message_full(
    bytes: &[u8],
    validate: bool,
) -> Result<Message, ProtocolError> {
    let value = json::parse_bounded(bytes, json::MAX_JSON_DEPTH).map_err(ProtocolError::Json)?;
    if validate {
        validate_message(&value).map_err(ProtocolError::Invalid)?;
    }
    message_from_value(value)
}

/// Turns a JSON value into a [`Message`] (no validation beyond decoding).
pub fn message_from_value(value: Value) -> Result<Message, ProtocolError> {
    let invalid = |m: String| ProtocolError::Invalid(vec![m]);
    let Value::Object(mut obj) = value else {
        return Err(invalid("message: expected an object".into()));
    };
    let mut take_string = |key: &str| match obj.remove(key) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(invalid(format!("{key}: expected a string"))),
    };
    let kind = take_string("type")?;
    let session_id = take_string("sessionId")?;
    let version = take_string("version")?;
    let kind = MessageType::parse(&kind)
        .ok_or_else(|| invalid(format!("type: unknown message type {kind:?}")))?;
    let timestamp = obj
        .get("timestamp")
        .and_then(number_to_u64)
        .ok_or_else(|| invalid("timestamp: expected a number".into()))?;
    // A missing or `null` payload reads as `{}` (valid for `ping`/`pong`).
    let payload = match obj.remove("payload") {
        Some(Value::Null) | None => Value::Object(Map::new()),
        Some(p) => p,
    };
    let payload = decode_payload(kind, payload).map_err(|e| invalid(format!("payload: {e}")))?;
    Ok(Message {
        session_id,
        timestamp,
        version,
        payload,
    })
}

fn decode_payload(kind: MessageType, p: Value) -> Result<Payload, serde_json::Error> {
    use serde_json::from_value as de;
    Ok(match kind {
        MessageType::Connect => Payload::Connect(de(p)?),
        MessageType::Connected => Payload::Connected(de(p)?),
        MessageType::Update => Payload::Update(de(p)?),
        MessageType::Ack => Payload::Ack(de(p)?),
        MessageType::Reload => Payload::Reload(de(p)?),
        MessageType::Error => Payload::Error(de(p)?),
        MessageType::Ping => Payload::Ping(de(p)?),
        MessageType::Pong => Payload::Pong(de(p)?),
        MessageType::Log => Payload::Log(de(p)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::message::*;
    use crate::protocol::{ErrorCode, Schema, SchemaDelta};
    use serde_json::json;
    use std::sync::Arc;

    fn schema() -> Arc<Schema> {
        Arc::new(
            Schema::from_value(
                json!({"version": "1", "metadata": {}, "nodes": [{"id": "a", "type": "T"}]}),
            )
            .unwrap(),
        )
    }

    fn roundtrip(m: Message) {
        let text = serialize_message(&m);
        let back =
            deserialize_message(text.as_bytes(), true).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(back, m);
    }

    #[test]
    fn every_builder_round_trips_and_validates() {
        roundtrip(create_connect_message(
            "s",
            "d",
            "ios",
            Some("iPhone"),
            PROTOCOL_VERSION,
        ));
        roundtrip(create_connect_message(
            "s",
            "d",
            "other",
            None,
            PROTOCOL_VERSION,
        ));
        roundtrip(create_connected_message("s", "c", Some(schema()), 3));
        roundtrip(create_connected_message("s", "c", None, 0));
        roundtrip(create_full_update("s", schema(), 1, true));
        let delta = SchemaDelta {
            removed: vec!["a".into()],
            ..Default::default()
        };
        roundtrip(create_incremental_update("s", delta, 2, "0badf00d", false));
        roundtrip(create_ack_message("s", 2, false, Some("boom"), Some(1.5)));
        roundtrip(create_reload_message("s", ReloadReason::Manual, None));
        roundtrip(create_error_message(
            "s",
            ErrorCode::RateLimitExceeded,
            "slow down",
            Severity::Warning,
            true,
            Some(json!({"limit": 100})),
        ));
        roundtrip(create_ping_message("s", Some(PingStatus::Rendering)));
        roundtrip(create_ping_message("s", None));
        roundtrip(create_pong_message("s", 42));
        roundtrip(create_log_message("s", "hello", LogLevel::Warn));
    }

    #[test]
    fn wire_shape_is_camel_case_with_type_beside_payload() {
        let m = create_full_update("sess", schema(), 7, true).at(99);
        let v: Value = serde_json::from_str(&serialize_message(&m)).unwrap();
        assert_eq!(v["type"], "update");
        assert_eq!(v["sessionId"], "sess");
        assert_eq!(v["timestamp"], 99);
        assert_eq!(v["version"], "1.0.0");
        assert_eq!(v["payload"]["type"], "full");
        assert_eq!(v["payload"]["sequenceNumber"], 7);
        assert_eq!(v["payload"]["preserveState"], true);
        assert_eq!(v["payload"]["checksum"], schema().checksum());
        assert_eq!(v["payload"]["schema"]["nodes"][0]["id"], "a");
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(
            deserialize_message(b"{", true),
            Err(ProtocolError::Json(_))
        ));
        assert!(matches!(
            deserialize_message(b"[]", false),
            Err(ProtocolError::Invalid(_))
        ));
        let no_type = br#"{"sessionId":"s","timestamp":1,"version":"1.0.0","payload":{}}"#;
        assert!(deserialize_message(no_type, true).is_err());
        assert!(deserialize_message(no_type, false).is_err());
        let bad_schema = br#"{"type":"update","sessionId":"s","timestamp":1,"version":"1.0.0","payload":{"type":"full","schema":{"nodes":3},"preserveState":true,"sequenceNumber":1,"checksum":"x"}}"#;
        let e = deserialize_message(bad_schema, true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("version: missing required field"), "{e}");
    }

    #[test]
    fn float_timestamps_are_tolerated() {
        let m = deserialize_message(
            br#"{"type":"ping","sessionId":"s","timestamp":1.7e12,"version":"1.0.0","payload":{}}"#,
            true,
        )
        .unwrap();
        assert_eq!(m.timestamp, 1_700_000_000_000);
    }
}
