//! Protocol messages: the envelope and its error here; the payload types in
//! `payload.rs`, encoding and decoding in `codec.rs`, the builders in
//! `builders.rs`.
//!
//! Every message is `{type, sessionId, timestamp, version, payload}`. The
//! envelope is written by hand so the `type` tag sits beside `payload`
//! exactly as on the wire, without serde's buffering of flattened enums.

mod builders;
mod codec;
mod payload;

pub use builders::*;
pub use codec::*;
pub use payload::*;

use super::delta::SchemaDelta;
use super::error_code::ErrorCode;
use super::json::{self, JsonError};
use super::schema::Schema;
use super::validate::validate_message;
use serde::de::Error as _;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: &str = "1.0.0";

/// Milliseconds since the Unix epoch, for message timestamps.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The nine message kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// Device → server: first message, registers the device.
    Connect,
    /// Server → device: answer to `connect`.
    Connected,
    /// Server → device: a full or incremental schema update.
    Update,
    /// Device → server: an update was applied (or not).
    Ack,
    /// Either way: ask for / announce a full resync.
    Reload,
    /// Either way: something went wrong.
    Error,
    /// Device → server: application-level heartbeat.
    Ping,
    /// Server → device: answer to `ping`.
    Pong,
    /// Device → server: a line for the developer's terminal.
    Log,
}

impl MessageType {
    /// All kinds, in the order the protocol lists them.
    pub const ALL: [MessageType; 9] = [
        MessageType::Connect,
        MessageType::Connected,
        MessageType::Update,
        MessageType::Ack,
        MessageType::Reload,
        MessageType::Error,
        MessageType::Ping,
        MessageType::Pong,
        MessageType::Log,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Connect => "connect",
            MessageType::Connected => "connected",
            MessageType::Update => "update",
            MessageType::Ack => "ack",
            MessageType::Reload => "reload",
            MessageType::Error => "error",
            MessageType::Ping => "ping",
            MessageType::Pong => "pong",
            MessageType::Log => "log",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<MessageType> {
        MessageType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// One protocol message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The session it belongs to.
    pub session_id: String,
    /// When it was made, ms since the epoch.
    pub timestamp: u64,
    /// Protocol version of the sender.
    pub version: String,
    /// Type and content.
    pub payload: Payload,
}

impl Message {
    /// A message stamped now with [`PROTOCOL_VERSION`].
    pub fn new(session_id: impl Into<String>, payload: Payload) -> Message {
        Message {
            session_id: session_id.into(),
            timestamp: now_ms(),
            version: PROTOCOL_VERSION.to_string(),
            payload,
        }
    }

    /// The same message with another timestamp (for callers that own the
    /// clock, such as the server's sans-I/O core).
    pub fn at(mut self, timestamp: u64) -> Message {
        self.timestamp = timestamp;
        self
    }

    /// The message's type.
    pub fn message_type(&self) -> MessageType {
        self.payload.message_type()
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Message", 5)?;
        st.serialize_field("type", self.message_type().as_str())?;
        st.serialize_field("sessionId", &self.session_id)?;
        st.serialize_field("timestamp", &self.timestamp)?;
        st.serialize_field("version", &self.version)?;
        st.serialize_field("payload", &self.payload)?;
        st.end()
    }
}

/// Why bytes are not a message.
#[derive(Debug, Clone, PartialEq)]
pub enum ProtocolError {
    /// Not JSON, or nested too deeply.
    Json(JsonError),
    /// JSON that breaks the message rules; every problem found.
    Invalid(Vec<String>),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Json(e) => write!(f, "{e}"),
            ProtocolError::Invalid(problems) => {
                write!(f, "invalid message: {}", problems.join("; "))
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
