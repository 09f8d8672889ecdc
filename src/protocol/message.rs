//! Protocol messages (SPEC §5): types, builders, (de)serialization.
//!
//! Every message is `{type, sessionId, timestamp, version, payload}`. The
//! envelope is written by hand so the `type` tag sits beside `payload`
//! exactly as on the wire, without serde's buffering of flattened enums.

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
    /// All kinds, in SPEC order.
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

/// `connect` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectPayload {
    /// Stable id chosen by the device.
    pub device_id: String,
    /// `ios`, `android`, `web` or anything else.
    pub platform: String,
    /// Human-friendly name shown in logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// The device's protocol version.
    pub client_version: String,
    /// What the device holds, to resume instead of starting over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<super::Resume>,
}

/// What the server offers, announced in `connected`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// Incremental updates are sent.
    pub incremental_updates: bool,
    /// Payloads are compressed (never, in this server).
    pub compression: bool,
    /// Updates may ask devices to keep UI state.
    pub state_preservation: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            incremental_updates: true,
            compression: false,
            state_preservation: true,
        }
    }
}

/// `connected` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectedPayload {
    /// Server-assigned id of this connection.
    pub connection_id: String,
    /// The session's current schema, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_schema: Option<Arc<Schema>>,
    /// What the server offers.
    pub capabilities: Capabilities,
    /// The session's current sequence number.
    pub sequence_number: u64,
    /// Checksum of `initial_schema`, present with it (and, when resumed,
    /// the checksum the missed updates lead to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// The server's state lineage, to name in a later `resume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_epoch: Option<String>,
    /// True when the device's `resume` was granted: no `initialSchema`,
    /// the missed updates follow.
    #[serde(default)]
    pub resumed: bool,
}

/// The body of an update: the whole schema or a delta.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateBody {
    /// `type: "full"` with `schema`.
    Full(Arc<Schema>),
    /// `type: "incremental"` with `delta`.
    Incremental(SchemaDelta),
}

/// `update` payload.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdatePayload {
    /// Full schema or delta.
    pub body: UpdateBody,
    /// Whether devices should keep UI state across this update.
    pub preserve_state: bool,
    /// The session's sequence number after this update.
    pub sequence_number: u64,
    /// Checksum of the schema the device holds after applying this update.
    pub checksum: String,
}

/// The wire shape of an update payload, decoded before choosing the body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateWire {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    schema: Option<Schema>,
    #[serde(default)]
    delta: Option<SchemaDelta>,
    preserve_state: bool,
    sequence_number: u64,
    checksum: String,
}

impl Serialize for UpdatePayload {
    fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
        let mut st = s.serialize_struct("UpdatePayload", 5)?;
        match &self.body {
            UpdateBody::Full(schema) => {
                st.serialize_field("type", "full")?;
                st.serialize_field("schema", schema.as_value())?;
            }
            UpdateBody::Incremental(delta) => {
                st.serialize_field("type", "incremental")?;
                st.serialize_field("delta", delta)?;
            }
        }
        st.serialize_field("preserveState", &self.preserve_state)?;
        st.serialize_field("sequenceNumber", &self.sequence_number)?;
        st.serialize_field("checksum", &self.checksum)?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for UpdatePayload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = UpdateWire::deserialize(d)?;
        let body = match (w.kind.as_str(), w.schema, w.delta) {
            ("full", Some(schema), _) => UpdateBody::Full(Arc::new(schema)),
            ("incremental", _, Some(delta)) => UpdateBody::Incremental(delta),
            ("full", None, _) => return Err(D::Error::missing_field("schema")),
            ("incremental", _, None) => return Err(D::Error::missing_field("delta")),
            (other, _, _) => {
                return Err(D::Error::unknown_variant(other, &["full", "incremental"]));
            }
        };
        Ok(UpdatePayload {
            body,
            preserve_state: w.preserve_state,
            sequence_number: w.sequence_number,
            checksum: w.checksum,
        })
    }
}

impl Serialize for Schema {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Schema {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Schema::from_value(Value::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// `ack` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AckPayload {
    /// The sequence number being acknowledged.
    pub sequence_number: u64,
    /// Whether the update was applied.
    pub success: bool,
    /// Why it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long applying took, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_time: Option<f64>,
}

/// Why a reload is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReloadReason {
    /// The device could not apply an update (e.g. checksum mismatch).
    Error,
    /// The user asked.
    Manual,
    /// The device cannot follow incremental updates.
    Incompatible,
}

/// `reload` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReloadPayload {
    /// Why.
    pub reason: ReloadReason,
    /// Details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How bad an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational; nothing stops.
    Warning,
    /// Something failed; the connection goes on.
    Error,
    /// The connection is about to close.
    Fatal,
}

/// `error` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorPayload {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable message.
    pub message: String,
    /// How bad.
    pub severity: Severity,
    /// Whether the peer can carry on.
    pub recoverable: bool,
    /// Anything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

/// What a device is doing, reported in `ping`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PingStatus {
    /// Nothing.
    Idle,
    /// Drawing.
    Rendering,
    /// Applying an update.
    Updating,
}

/// `ping` payload.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PingPayload {
    /// What the device is doing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PingStatus>,
}

/// `pong` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PongPayload {
    /// Server clock, ms since the epoch (this server always sends it; the
    /// reference makes it optional).
    #[serde(
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub server_time: Option<u64>,
}

/// Level of a device's `log` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
}

/// `log` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogPayload {
    /// The line.
    pub message: String,
    /// Its level.
    pub level: LogLevel,
}

/// A message's payload, which also decides its `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// `connect`.
    Connect(ConnectPayload),
    /// `connected`.
    Connected(ConnectedPayload),
    /// `update`.
    Update(UpdatePayload),
    /// `ack`.
    Ack(AckPayload),
    /// `reload`.
    Reload(ReloadPayload),
    /// `error`.
    Error(ErrorPayload),
    /// `ping`.
    Ping(PingPayload),
    /// `pong`.
    Pong(PongPayload),
    /// `log`.
    Log(LogPayload),
}

impl Payload {
    /// The `type` this payload travels under.
    pub fn message_type(&self) -> MessageType {
        match self {
            Payload::Connect(_) => MessageType::Connect,
            Payload::Connected(_) => MessageType::Connected,
            Payload::Update(_) => MessageType::Update,
            Payload::Ack(_) => MessageType::Ack,
            Payload::Reload(_) => MessageType::Reload,
            Payload::Error(_) => MessageType::Error,
            Payload::Ping(_) => MessageType::Ping,
            Payload::Pong(_) => MessageType::Pong,
            Payload::Log(_) => MessageType::Log,
        }
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Payload::Connect(p) => p.serialize(s),
            Payload::Connected(p) => p.serialize(s),
            Payload::Update(p) => p.serialize(s),
            Payload::Ack(p) => p.serialize(s),
            Payload::Reload(p) => p.serialize(s),
            Payload::Error(p) => p.serialize(s),
            Payload::Ping(p) => p.serialize(s),
            Payload::Pong(p) => p.serialize(s),
            Payload::Log(p) => p.serialize(s),
        }
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

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => number_to_u64(&v)
            .map(Some)
            .ok_or_else(|| D::Error::custom("expected a number")),
    }
}

/// Reads a JSON number as whole milliseconds: fractions are dropped and
/// negatives read as 0, since a timestamp is informational.
fn number_to_u64(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_i64().map(|i| i.max(0) as u64))
        .or_else(|| v.as_f64().map(|f| f.max(0.0) as u64))
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

/// Encodes a message as compact JSON text.
pub fn serialize_message(message: &Message) -> String {
    // Serializing these types cannot fail: every map key is a string.
    serde_json::to_string(message).unwrap_or_default()
}

/// Decodes a message. With `validate`, the SPEC §5 rules are checked first
/// and every problem is reported; without, only what decoding needs.
///
/// `ack` and `ping`, the messages devices send all the time, are read by
/// [`deserialize_message_ref`](super::hot::deserialize_message_ref) without
/// building a JSON tree; anything else, or anything unusual, takes the
/// general path.
pub fn deserialize_message(bytes: &[u8], validate: bool) -> Result<Message, ProtocolError> {
    if let Some(message) = super::hot::deserialize_message_ref(bytes) {
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

/// `connect` from a device.
pub fn create_connect_message(
    session_id: &str,
    device_id: &str,
    platform: &str,
    device_name: Option<&str>,
    client_version: &str,
) -> Message {
    Message::new(
        session_id,
        Payload::Connect(ConnectPayload {
            device_id: device_id.into(),
            platform: platform.into(),
            device_name: device_name.map(Into::into),
            client_version: client_version.into(),
            resume: None,
        }),
    )
}

/// `connected`, carrying the session's current schema and its checksum when
/// there is one.
pub fn create_connected_message(
    session_id: &str,
    connection_id: &str,
    initial_schema: Option<Arc<Schema>>,
    sequence_number: u64,
) -> Message {
    let checksum = initial_schema.as_ref().map(|s| s.checksum().to_string());
    Message::new(
        session_id,
        Payload::Connected(ConnectedPayload {
            connection_id: connection_id.into(),
            initial_schema,
            capabilities: Capabilities::default(),
            sequence_number,
            checksum,
            server_epoch: None,
            resumed: false,
        }),
    )
}

/// `update` with any body.
pub fn create_update_message(
    session_id: &str,
    body: UpdateBody,
    preserve_state: bool,
    sequence_number: u64,
    checksum: &str,
) -> Message {
    Message::new(
        session_id,
        Payload::Update(UpdatePayload {
            body,
            preserve_state,
            sequence_number,
            checksum: checksum.into(),
        }),
    )
}

/// A full update; the checksum is the schema's own.
pub fn create_full_update(
    session_id: &str,
    schema: Arc<Schema>,
    sequence_number: u64,
    preserve_state: bool,
) -> Message {
    let checksum = schema.checksum().to_string();
    create_update_message(
        session_id,
        UpdateBody::Full(schema),
        preserve_state,
        sequence_number,
        &checksum,
    )
}

/// An incremental update; `checksum` is that of the schema after applying it.
pub fn create_incremental_update(
    session_id: &str,
    delta: SchemaDelta,
    sequence_number: u64,
    checksum: &str,
    preserve_state: bool,
) -> Message {
    create_update_message(
        session_id,
        UpdateBody::Incremental(delta),
        preserve_state,
        sequence_number,
        checksum,
    )
}

/// `ack` from a device.
pub fn create_ack_message(
    session_id: &str,
    sequence_number: u64,
    success: bool,
    error: Option<&str>,
    apply_time: Option<f64>,
) -> Message {
    Message::new(
        session_id,
        Payload::Ack(AckPayload {
            sequence_number,
            success,
            error: error.map(Into::into),
            apply_time,
        }),
    )
}

/// `reload`.
pub fn create_reload_message(
    session_id: &str,
    reason: ReloadReason,
    error: Option<&str>,
) -> Message {
    Message::new(
        session_id,
        Payload::Reload(ReloadPayload {
            reason,
            error: error.map(Into::into),
        }),
    )
}

/// `error`.
pub fn create_error_message(
    session_id: &str,
    code: ErrorCode,
    message: &str,
    severity: Severity,
    recoverable: bool,
    details: Option<Value>,
) -> Message {
    Message::new(
        session_id,
        Payload::Error(ErrorPayload {
            code,
            message: message.into(),
            severity,
            recoverable,
            details,
        }),
    )
}

/// `ping` from a device.
pub fn create_ping_message(session_id: &str, status: Option<PingStatus>) -> Message {
    Message::new(session_id, Payload::Ping(PingPayload { status }))
}

/// `pong` from the server.
pub fn create_pong_message(session_id: &str, server_time: u64) -> Message {
    Message::new(
        session_id,
        Payload::Pong(PongPayload {
            server_time: Some(server_time),
        }),
    )
}

/// `log` from a device.
pub fn create_log_message(session_id: &str, message: &str, level: LogLevel) -> Message {
    Message::new(
        session_id,
        Payload::Log(LogPayload {
            message: message.into(),
            level,
        }),
    )
}

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
