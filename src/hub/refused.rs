//! A push the server refused (not JSON, not a valid schema) is told to the
//! session's devices, so a device can show it over its last good UI until
//! the next good update arrives.

use super::{Effect, Hub, Now, encode_message};
use crate::protocol::{SchemaError, Severity, create_error_message};
use serde_json::json;

impl Hub {
    /// Sends an `error` (severity `error`, recoverable; `code`
    /// `INVALID_MESSAGE` for bad JSON, else `SCHEMA_VALIDATION_FAILED`;
    /// `message` names the JSON path; `details.path` holds it alone) to
    /// every registered device of session `id`, encoded once. Returns how
    /// many devices were told: 0 for an unknown or expired session.
    pub fn push_refused(
        &mut self,
        id: &str,
        error: &SchemaError,
        now: Now,
        fx: &mut Vec<Effect>,
    ) -> usize {
        let Ok(session) = self.lookup(id, now) else {
            return 0;
        };
        if session.devices.is_empty() {
            return 0;
        }
        let details = match error {
            SchemaError::Invalid { path, .. } => Some(json!({ "path": path })),
            _ => None,
        };
        let code = error.code();
        let message = format!("push refused: {error}");
        let frame = encode_message(
            &create_error_message(&session.id, code, &message, Severity::Error, true, details)
                .at(now.wall_ms),
        );
        for &conn in &session.devices {
            fx.push(Effect::Send {
                conn,
                frame: frame.clone(),
            });
        }
        session.devices.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{ConnId, HubConfig};
    use crate::protocol::{ErrorCode, Payload, Schema, deserialize_message};
    use std::net::SocketAddr;

    #[test]
    fn devices_of_the_session_get_one_shared_error() {
        let mut hub = Hub::new(HubConfig::default());
        let now = Now::current();
        let id = hub.create_session(now).unwrap().session_id;
        let mut fx = Vec::new();
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut conns = Vec::new();
        for key in 0..2 {
            let conn = ConnId { key, generation: 1 };
            hub.ws_opened(conn, Some(&id), peer, now, &mut fx);
            let connect = crate::protocol::serialize_message(
                &crate::protocol::create_connect_message(&id, "d", "web", None, "1.0.0"),
            );
            hub.on_text(conn, connect.as_bytes(), now, &mut fx);
            conns.push(conn);
        }
        fx.clear();
        let err = Schema::from_slice(br#"{"version":"1","metadata":{},"nodes":[{"id":"a"}]}"#)
            .unwrap_err();
        assert_eq!(hub.push_refused(&id, &err, now, &mut fx), 2);
        assert_eq!(fx.len(), 2);
        let frames: Vec<_> = fx
            .iter()
            .map(|e| match e {
                Effect::Send { conn, frame } => (*conn, frame.clone()),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(frames[0].0, conns[0]);
        assert!(std::sync::Arc::ptr_eq(&frames[0].1, &frames[1].1));
        let frame = &frames[0].1;
        let text = &frame[if frame[1] == 126 { 4 } else { 2 }..];
        let msg = deserialize_message(text, true).unwrap();
        let Payload::Error(e) = msg.payload else {
            panic!("not an error: {msg:?}")
        };
        assert_eq!(e.code, ErrorCode::SchemaValidationFailed);
        assert_eq!(e.severity, Severity::Error);
        assert!(e.recoverable);
        assert!(e.message.contains("nodes[0].type"), "{}", e.message);
        assert_eq!(e.details.unwrap()["path"], "nodes[0].type");

        fx.clear();
        assert_eq!(hub.push_refused("no-such-session", &err, now, &mut fx), 0);
        assert!(fx.is_empty());
    }
}
