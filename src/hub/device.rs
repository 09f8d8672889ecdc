//! A WebSocket connection as the hub sees it: waiting for `connect`, or a
//! registered device with its health bookkeeping.

use super::rate_limit::RateLimiter;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// What is known once a device has sent `connect`.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// Server-assigned id (UUID v4) sent back in `connected`.
    pub connection_id: String,
    /// The device's own id.
    pub device_id: String,
    /// `ios`, `android`, `web`, ...
    pub platform: String,
    /// Human-friendly name, if given.
    pub device_name: Option<String>,
    /// Its protocol version.
    pub client_version: String,
    /// When `connect` arrived, ms since the epoch.
    pub connected_at_ms: u64,
    /// Position in the session's device list.
    pub index: usize,
    /// Last sequence number acknowledged.
    pub last_ack_sequence: Option<u64>,
    /// The sequence the device held when it joined (the `connected`
    /// schema's, or its resume point): updates after it are the ones it
    /// was sent, and owes acks for.
    pub joined_at: u64,
    /// Whether that ack reported success.
    pub last_ack_success: Option<bool>,
    /// Apply time the device reported for it, ms.
    pub last_apply_time: Option<f64>,
    /// Last protocol `ping`, ms since the epoch.
    pub last_ping_ms: Option<u64>,
}

impl DeviceInfo {
    /// The name used in logs: the device name, else its id.
    pub fn label(&self) -> &str {
        self.device_name.as_deref().unwrap_or(&self.device_id)
    }
}

/// Where a connection is in the protocol.
#[derive(Debug, Clone)]
pub enum DeviceState {
    /// Upgraded, waiting for `connect` (closed with 4401 at the deadline).
    AwaitingConnect,
    /// Registered in its session.
    Registered(Box<DeviceInfo>),
}

/// One WebSocket connection.
#[derive(Debug)]
pub struct Device {
    /// Generation of the connection (see `ConnId`).
    pub generation: u64,
    /// The session named in the URL.
    pub session: Arc<str>,
    /// Remote address, for logs.
    pub peer: SocketAddr,
    /// Protocol state.
    pub state: DeviceState,
    /// Message rate limit.
    pub rate: RateLimiter,
    /// Last frame of any kind received.
    pub last_seen: Instant,
    /// The same, ms since the epoch.
    pub last_seen_ms: u64,
}

impl Device {
    /// Registered info, if registered.
    pub fn info(&self) -> Option<&DeviceInfo> {
        match &self.state {
            DeviceState::Registered(info) => Some(info),
            DeviceState::AwaitingConnect => None,
        }
    }
}
