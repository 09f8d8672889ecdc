//! Running totals for `/stats`.

/// Running totals for `/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Pushes accepted.
    pub pushes: u64,
    /// Updates broadcast (one per sequence number).
    pub broadcasts: u64,
    /// Update frames queued to devices (broadcasts × devices, plus resyncs).
    pub updates_queued: u64,
    /// Single-device full resyncs asked for (reload, slow device, a push to
    /// one device).
    pub resyncs: u64,
    /// Of those, the ones not queued because the device already had a
    /// frame carrying the whole schema queued.
    pub resyncs_skipped: u64,
    /// Times a schema was serialized for the wire: at most once per session
    /// state, however many broadcasts, `connected` and resyncs carry it.
    pub schema_encodings: u64,
    /// Text messages received from devices.
    pub messages_received: u64,
    /// Acks received.
    pub acks: u64,
    /// Acks reporting failure.
    pub failed_acks: u64,
    /// Messages dropped by the rate limit.
    pub rate_limited: u64,
    /// Messages refused as invalid.
    pub invalid_messages: u64,
    /// Sessions that expired.
    pub sessions_expired: u64,
}
