//! The payload of each message type, as on the wire.

use super::*;

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
    pub resume: Option<crate::protocol::Resume>,
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

impl UpdateBody {
    /// Which kind of update this body makes.
    pub fn kind(&self) -> UpdateKind {
        match self {
            UpdateBody::Full(_) => UpdateKind::Full,
            UpdateBody::Incremental(_) => UpdateKind::Incremental,
        }
    }
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
                st.serialize_field("schema", &*schema.value_ref())?;
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
        self.value_ref().serialize(s)
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

pub(super) fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => number_to_u64(&v)
            .map(Some)
            .ok_or_else(|| D::Error::custom("expected a number")),
    }
}
