//! What the HTTP API shows of sessions and devices: typed views, read by
//! field. They serialize to the API's JSON with their keys in field order
//! (serde writes a struct's fields in declaration order), whatever the JSON
//! library's map type.

use super::*;
use serde::Serialize;

/// `GET /session/:id`: a session and its registered devices.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// The session id.
    pub session_id: Arc<str>,
    /// Creation, ms since the epoch.
    #[serde(rename = "createdAt")]
    pub created_at_ms: u64,
    /// Expiry, ms since the epoch.
    #[serde(rename = "expiresAt")]
    pub expires_at_ms: u64,
    /// How many devices are registered (`devices.len()`).
    pub connected_devices: usize,
    /// Sequence number of the last broadcast (0 before the first).
    pub sequence_number: u64,
    /// Checksum of what devices last received, if anything.
    pub checksum: Option<String>,
    /// Whether a schema was accepted (broadcast or held by coalescing).
    pub has_schema: bool,
    /// The registered devices.
    pub devices: Vec<DeviceView>,
}

/// One registered device of a [`SessionView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceView {
    /// Server-assigned id, as sent in `connected`.
    pub connection_id: String,
    /// The device's own id.
    pub device_id: String,
    /// `ios`, `android`, `web`, ...
    pub platform: String,
    /// Human-friendly name, if given.
    pub device_name: Option<String>,
    /// When `connect` arrived, ms since the epoch.
    #[serde(rename = "connectedAt")]
    pub connected_at_ms: u64,
    /// The peer's address (`ip:port`).
    pub address: SocketAddr,
}

/// `GET /session/:id/health`: the session's devices and how they are
/// doing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthView {
    /// The session id.
    pub session_id: Arc<str>,
    /// Sequence number of the last broadcast.
    pub sequence_number: u64,
    /// Registered devices.
    pub total_devices: usize,
    /// Of those, the healthy ones.
    pub healthy_devices: usize,
    /// And the others.
    pub unhealthy_devices: usize,
    /// Each device.
    pub devices: Vec<DeviceHealth>,
}

/// One device of a [`HealthView`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceHealth {
    /// Server-assigned id, as sent in `connected`.
    pub connection_id: String,
    /// The device's own id.
    pub device_id: String,
    /// Human-friendly name, if given.
    pub device_name: Option<String>,
    /// `ios`, `android`, `web`, ...
    pub platform: String,
    /// Heard from within 1.5 ping intervals, and its last ack (if any)
    /// succeeded.
    pub healthy: bool,
    /// When it was last heard from, ms since the epoch.
    #[serde(rename = "lastPing")]
    pub last_ping_ms: u64,
    /// How long ago that was, ms.
    #[serde(rename = "timeSinceLastPing")]
    pub time_since_last_ping_ms: u64,
    /// Last sequence number acknowledged.
    pub last_ack_sequence: Option<u64>,
    /// Whether that ack reported success.
    pub last_ack_success: Option<bool>,
    /// The apply time the device reported with it, ms.
    #[serde(rename = "lastApplyTime")]
    pub last_apply_time_ms: Option<f64>,
    /// How many updates it is behind by its last ack.
    pub sequence_lag: Option<u64>,
}

/// One session in `/stats`' `sessionDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    /// The session id.
    pub id: Arc<str>,
    /// Registered devices.
    pub devices: usize,
    /// Creation, ms since the epoch.
    #[serde(rename = "createdAt")]
    pub created_at_ms: u64,
    /// Expiry, ms since the epoch.
    #[serde(rename = "expiresAt")]
    pub expires_at_ms: u64,
    /// Sequence number of the last broadcast.
    pub sequence_number: u64,
}

impl Hub {
    /// `GET /session/:id`.
    pub fn session_view(&self, id: &str, now: Now) -> Result<SessionView, HubError> {
        let s = self.lookup(id, now)?;
        let devices: Vec<DeviceView> = self
            .registered(s)
            .map(|(_, d, i)| DeviceView {
                connection_id: i.connection_id.clone(),
                device_id: i.device_id.clone(),
                platform: i.platform.clone(),
                device_name: i.device_name.clone(),
                connected_at_ms: i.connected_at_ms,
                address: d.peer,
            })
            .collect();
        Ok(SessionView {
            session_id: s.id.clone(),
            created_at_ms: s.created_at_ms,
            expires_at_ms: s.expires_at_ms,
            connected_devices: devices.len(),
            sequence_number: s.sequence,
            checksum: s.schema.as_ref().map(|x| x.checksum().to_string()),
            has_schema: s.latest().is_some(),
            devices,
        })
    }

    /// `GET /session/:id/health`. A device is healthy when it was heard from
    /// within 1.5 ping intervals and its last ack (if any) succeeded.
    pub fn health_view(&self, id: &str, now: Now) -> Result<HealthView, HubError> {
        let s = self.lookup(id, now)?;
        let fresh = self.cfg.ping_interval.mul_f64(1.5);
        let devices: Vec<DeviceHealth> = self
            .registered(s)
            .map(|(_, d, i)| {
                let since = now.mono.saturating_duration_since(d.last_seen);
                DeviceHealth {
                    connection_id: i.connection_id.clone(),
                    device_id: i.device_id.clone(),
                    device_name: i.device_name.clone(),
                    platform: i.platform.clone(),
                    healthy: since < fresh && i.last_ack_success != Some(false),
                    last_ping_ms: d.last_seen_ms,
                    time_since_last_ping_ms: since.as_millis() as u64,
                    last_ack_sequence: i.last_ack_sequence,
                    last_ack_success: i.last_ack_success,
                    last_apply_time_ms: i.last_apply_time,
                    sequence_lag: i.last_ack_sequence.map(|a| s.sequence.saturating_sub(a)),
                }
            })
            .collect();
        let healthy = devices.iter().filter(|d| d.healthy).count();
        Ok(HealthView {
            session_id: s.id.clone(),
            sequence_number: s.sequence,
            total_devices: devices.len(),
            healthy_devices: healthy,
            unhealthy_devices: devices.len() - healthy,
            devices,
        })
    }

    /// Every session, for `/stats`.
    pub fn session_summaries(&self) -> Vec<SessionSummary> {
        self.sessions
            .values()
            .map(|s| SessionSummary {
                id: s.id.clone(),
                devices: s.devices.len(),
                created_at_ms: s.created_at_ms,
                expires_at_ms: s.expires_at_ms,
                sequence_number: s.sequence,
            })
            .collect()
    }

    pub(super) fn registered<'a>(
        &'a self,
        s: &'a Session,
    ) -> impl Iterator<Item = (ConnId, &'a Device, &'a DeviceInfo)> + 'a {
        s.devices.iter().filter_map(move |&c| {
            let d = self.device(c)?;
            Some((c, d, d.info()?))
        })
    }
}
