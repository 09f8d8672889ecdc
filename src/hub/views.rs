//! What the HTTP API shows of sessions and devices.

use super::*;

impl Hub {
    /// `GET /session/:id`.
    pub fn session_json(&self, id: &str, now: Now) -> Result<Value, HubError> {
        let s = self.lookup(id, now)?;
        let devices: Vec<Value> = self
            .registered(s)
            .map(|(_, d, i)| {
                json!({
                    "connectionId": i.connection_id,
                    "deviceId": i.device_id,
                    "platform": i.platform,
                    "deviceName": i.device_name,
                    "connectedAt": i.connected_at_ms,
                    "address": d.peer.to_string(),
                })
            })
            .collect();
        Ok(json!({
            "sessionId": &*s.id,
            "createdAt": s.created_at_ms,
            "expiresAt": s.expires_at_ms,
            "connectedDevices": devices.len(),
            "sequenceNumber": s.sequence,
            "checksum": s.schema.as_ref().map(|x| x.checksum()),
            "hasSchema": s.latest().is_some(),
            "devices": devices,
        }))
    }

    /// `GET /session/:id/health`. A device is healthy when it was heard from
    /// within 1.5 ping intervals and its last ack (if any) succeeded.
    pub fn health_json(&self, id: &str, now: Now) -> Result<Value, HubError> {
        let s = self.lookup(id, now)?;
        let fresh = self.cfg.ping_interval.mul_f64(1.5);
        let devices: Vec<Value> = self
            .registered(s)
            .map(|(_, d, i)| {
                let since = now.mono.saturating_duration_since(d.last_seen);
                let healthy = since < fresh && i.last_ack_success != Some(false);
                json!({
                    "connectionId": i.connection_id,
                    "deviceId": i.device_id,
                    "deviceName": i.device_name,
                    "platform": i.platform,
                    "healthy": healthy,
                    "lastPing": d.last_seen_ms,
                    "timeSinceLastPing": since.as_millis() as u64,
                    "lastAckSequence": i.last_ack_sequence,
                    "lastAckSuccess": i.last_ack_success,
                    "lastApplyTime": i.last_apply_time,
                    "sequenceLag": i.last_ack_sequence.map(|a| s.sequence.saturating_sub(a)),
                })
            })
            .collect();
        let healthy = devices.iter().filter(|d| d["healthy"] == true).count();
        Ok(json!({
            "sessionId": &*s.id,
            "sequenceNumber": s.sequence,
            "totalDevices": devices.len(),
            "healthyDevices": healthy,
            "unhealthyDevices": devices.len() - healthy,
            "devices": devices,
        }))
    }

    /// Session details for `/stats`.
    pub fn session_details(&self) -> Vec<Value> {
        self.sessions
            .values()
            .map(|s| {
                json!({
                    "id": &*s.id,
                    "devices": s.devices.len(),
                    "createdAt": s.created_at_ms,
                    "expiresAt": s.expires_at_ms,
                    "sequenceNumber": s.sequence,
                })
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
