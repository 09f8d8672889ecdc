//! Messages to and from JSON text: `serialize_message`, `deserialize_message`
//! (with or without validation) and the decoding of a parsed value.

use super::*;

/// Reads a JSON number as whole milliseconds: fractions are dropped and
/// negatives read as 0, since a timestamp is informational.
pub(super) fn number_to_u64(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_i64().map(|i| i.max(0) as u64))
        .or_else(|| v.as_f64().map(|f| f.max(0.0) as u64))
}

/// Encodes a message as compact JSON text.
pub fn serialize_message(message: &Message) -> String {
    // Serializing these types cannot fail: every map key is a string.
    serde_json::to_string(message).unwrap_or_default()
}

/// Decodes a message. With `validate`, the message rules are checked first
/// and every problem is reported; without, only what decoding needs.
///
/// `ack` and `ping`, the messages devices send all the time, are read by
/// [`deserialize_message_ref`](crate::protocol::hot::deserialize_message_ref) without
/// building a JSON tree; anything else, or anything unusual, takes the
/// general path.
pub fn deserialize_message(bytes: &[u8], validate: bool) -> Result<Message, ProtocolError> {
    if let Some(message) = crate::protocol::hot::deserialize_message_ref(bytes) {
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

pub(super) fn decode_payload(kind: MessageType, p: Value) -> Result<Payload, serde_json::Error> {
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
