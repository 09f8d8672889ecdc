//! Builders of each message type, named like the reference library's
//! (`createConnectMessage` → [`create_connect_message`], ...). They read no
//! clock: a built message is stamped by its sender, with
//! [`Message::at`] (a time it owns) or [`Message::at_wall_clock`].

use super::*;

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
