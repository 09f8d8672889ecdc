//! `/stats`: the loop's numbers and the hub's, as one typed document (keys
//! in field order).

use crate::hub::{Hub, SessionSummary};
use serde::Serialize;

/// Loop-level numbers reported by `/stats`.
#[derive(Debug, Clone, Default)]
pub struct LoopStats {
    /// Milliseconds since the server started.
    pub uptime_ms: u64,
    /// Connections accepted since start.
    pub connections_accepted: u64,
    /// Connections refused at capacity.
    pub connections_refused: u64,
    /// Connections open now.
    pub connections_open: usize,
    /// HTTP requests answered.
    pub http_requests: u64,
    /// WebSocket upgrades completed.
    pub websocket_upgrades: u64,
    /// Slow devices whose pending updates were dropped for a resync.
    pub slow_device_resyncs: u64,
    /// Timers pending in the timer wheel.
    pub timers_pending: usize,
    /// Request-body bytes reserved now (see `Config::max_buffered_body_bytes`).
    pub buffered_body_bytes: usize,
}

/// The `/stats` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Sessions open.
    pub sessions: usize,
    /// Registered devices, over all sessions.
    pub total_devices: usize,
    /// Each session.
    pub session_details: Vec<SessionSummary>,
    /// Milliseconds since the server started.
    #[serde(rename = "uptime")]
    pub uptime_ms: u64,
    /// Connections.
    pub connections: ConnectionStats,
    /// Timers pending in the timer wheel.
    pub timers_pending: usize,
    /// Running totals.
    pub counters: StatCounters,
}

/// `/stats`' `connections`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionStats {
    /// Open now.
    pub open: usize,
    /// Accepted since start.
    pub accepted: u64,
    /// Refused at capacity.
    pub refused: u64,
    /// WebSocket upgrades completed.
    pub websocket_upgrades: u64,
    /// Request-body bytes reserved now.
    pub buffered_body_bytes: usize,
}

/// `/stats`' `counters`: the hub's running totals and the loop's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatCounters {
    /// HTTP requests answered.
    pub http_requests: u64,
    /// Pushes accepted.
    pub pushes: u64,
    /// Updates broadcast (one per sequence number).
    pub broadcasts: u64,
    /// Update frames queued to devices.
    pub updates_queued: u64,
    /// Single-device full resyncs asked for.
    pub resyncs: u64,
    /// Of those, the ones not queued (a full schema was queued already).
    pub resyncs_skipped: u64,
    /// Times a schema was serialized for the wire.
    pub schema_encodings: u64,
    /// Slow devices whose pending updates were dropped for a resync.
    pub slow_device_resyncs: u64,
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

impl Stats {
    /// The document for this hub and loop.
    pub fn new(hub: &Hub, s: &LoopStats) -> Stats {
        let c = hub.counters();
        Stats {
            sessions: hub.session_count(),
            total_devices: hub.device_count(),
            session_details: hub.session_summaries(),
            uptime_ms: s.uptime_ms,
            connections: ConnectionStats {
                open: s.connections_open,
                accepted: s.connections_accepted,
                refused: s.connections_refused,
                websocket_upgrades: s.websocket_upgrades,
                buffered_body_bytes: s.buffered_body_bytes,
            },
            timers_pending: s.timers_pending,
            counters: StatCounters {
                http_requests: s.http_requests,
                pushes: c.pushes,
                broadcasts: c.broadcasts,
                updates_queued: c.updates_queued,
                resyncs: c.resyncs,
                resyncs_skipped: c.resyncs_skipped,
                schema_encodings: c.schema_encodings,
                slow_device_resyncs: s.slow_device_resyncs,
                messages_received: c.messages_received,
                acks: c.acks,
                failed_acks: c.failed_acks,
                rate_limited: c.rate_limited,
                invalid_messages: c.invalid_messages,
                sessions_expired: c.sessions_expired,
            },
        }
    }
}
