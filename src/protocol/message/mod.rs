//! Protocol messages as types: the envelope and its error here, the payload
//! types in `payload.rs`, the builders in `builders.rs`. The bottom of the
//! protocol's layers: validation (`validate.rs`), the allocation-free
//! reader (`hot.rs`) and encoding and decoding (`codec.rs`) use these types;
//! nothing here uses them.
//!
//! Every message is `{type, sessionId, timestamp, version, payload}`. The
//! envelope is written by hand so the `type` tag sits beside `payload`
//! exactly as on the wire, without serde's buffering of flattened enums.

mod builders;
mod payload;

pub use builders::*;
pub use payload::*;

use super::delta::SchemaDelta;
use super::error_code::ErrorCode;
use super::json::JsonError;
use super::schema::Schema;
use super::update_type::UpdateKind;
use serde::de::Error as _;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Reads a JSON number as whole milliseconds: fractions are dropped and
/// negatives read as 0, since a timestamp is informational.
pub(crate) fn number_to_u64(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_i64().map(|i| i.max(0) as u64))
        .or_else(|| v.as_f64().map(|f| f.max(0.0) as u64))
}

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: &str = "1.0.0";

/// Milliseconds since the Unix epoch by the system clock, for callers that
/// stamp messages with the wall clock ([`Message::at_wall_clock`]). Nothing
/// else in the protocol reads a clock.
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
    /// A message with [`PROTOCOL_VERSION`], not stamped yet (timestamp 0):
    /// give it its time with [`at`](Message::at) or
    /// [`at_wall_clock`](Message::at_wall_clock). No clock is read here.
    pub fn new(session_id: impl Into<String>, payload: Payload) -> Message {
        Message {
            session_id: session_id.into(),
            timestamp: 0,
            version: PROTOCOL_VERSION.to_string(),
            payload,
        }
    }

    /// The same message stamped `timestamp` (ms since the epoch): for
    /// callers that own the clock, such as the server's sans-I/O core, and
    /// for tests.
    pub fn at(mut self, timestamp: u64) -> Message {
        self.timestamp = timestamp;
        self
    }

    /// The same message stamped with the system clock now ([`now_ms`]): the
    /// convenience for library users who do not keep a clock of their own.
    pub fn at_wall_clock(self) -> Message {
        self.at(now_ms())
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

    #[test]
    fn builders_read_no_clock_and_stamping_is_explicit() {
        let built = [
            create_ping_message("s", None),
            create_pong_message("s", 5),
            create_log_message("s", "hi", LogLevel::Info),
            create_connected_message("s", "c", None, 0),
            create_ack_message("s", 1, true, None, None),
        ];
        for m in built {
            assert_eq!(m.timestamp, 0, "{m:?}");
            assert_eq!(m.clone().at(42).timestamp, 42);
            let before = now_ms();
            let stamped = m.at_wall_clock().timestamp;
            assert!(before <= stamped && stamped <= now_ms());
        }
    }
}
