//! The JSON bodies of the HTTP API keep their documented key order, read
//! from the raw bytes (not through a parsed map, whose order is the JSON
//! library's choice), and the handle's typed views say what HTTP says.

use crate::common::{Device, TestServer, raw_http, schema, text};
use crate::support::{SOON, wait_for};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

/// Every object's keys, in text order, objects in the order they open
/// (an object nested in another comes right after it).
fn object_keys(text: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    // Some(index into `out`) for an object, None for an array.
    let mut stack: Vec<Option<usize>> = Vec::new();
    let mut expect_key = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '{' => {
                out.push(Vec::new());
                stack.push(Some(out.len() - 1));
                expect_key = true;
            }
            '[' => {
                stack.push(None);
                expect_key = false;
            }
            '}' | ']' => {
                stack.pop();
                expect_key = false;
            }
            ',' => expect_key = matches!(stack.last(), Some(Some(_))),
            '"' => {
                let mut s = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            s.push(c);
                            s.extend(chars.next());
                        }
                        '"' => break,
                        c => s.push(c),
                    }
                }
                if let (true, Some(Some(i))) = (expect_key, stack.last()) {
                    out[*i].push(s);
                }
                expect_key = false;
            }
            _ => {}
        }
    }
    out
}

/// One request; status and the body as text.
fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    let (status, _, body) = raw_http(addr, req.as_bytes());
    (status, String::from_utf8(body).expect("UTF-8 body"))
}

fn keys(lists: &[&[&str]]) -> Vec<Vec<String>> {
    lists
        .iter()
        .map(|l| l.iter().map(|k| k.to_string()).collect())
        .collect()
}

#[test]
fn the_scanner_reads_keys_not_values() {
    assert_eq!(
        object_keys(r#"{"b":"x,\"y\":","a":[{"c":1},{"d":{}}],"e":{"f":null}}"#),
        keys(&[&["b", "a", "e"], &["c"], &["d"], &[], &["f"]])
    );
}

#[test]
fn every_reply_keeps_its_key_order() {
    // A window long enough that the second push is surely held.
    let server = TestServer::with(|c| c.hub.coalesce = Duration::from_secs(600));
    let addr = server.addr;
    let startup = server.handle.create_startup_session().unwrap().session_id;

    let (status, body) = call(addr, "POST", "/session/new", None);
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        object_keys(&body),
        keys(&[&["sessionId", "wsUrl", "pageUrl", "createdAt", "expiresAt"]])
    );

    let (mut d, _) = Device::connected(addr, &startup, "d1");
    let (status, body) = call(
        addr,
        "POST",
        &format!("/send/{startup}"),
        Some(&schema(json!([text("t", "a")]))),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        object_keys(&body),
        keys(&[&[
            "success",
            "clientsUpdated",
            "updateType",
            "sequenceNumber",
            "checksum"
        ]])
    );
    d.recv_type("update");
    d.send(&Device::msg(
        &startup,
        "ack",
        json!({"sequenceNumber": 1, "success": true, "applyTime": 1.25}),
    ));
    wait_for(SOON, "the ack in health", || {
        let h = server.handle.session_health(&startup).unwrap();
        (h.devices.first()?.last_ack_sequence == Some(1)).then_some(())
    });

    let (status, body) = call(
        addr,
        "POST",
        &format!("/send/{startup}"),
        Some(&schema(json!([text("t", "b")]))),
    );
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        object_keys(&body),
        keys(&[&[
            "success",
            "batched",
            "updateType",
            "clientsUpdated",
            "heldChecksum",
            "currentSequenceNumber",
            "currentChecksum"
        ]])
    );

    let (status, body) = call(addr, "GET", "/session/startup", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        object_keys(&body),
        keys(&[&[
            "sessionId",
            "wsUrl",
            "pageUrl",
            "createdAt",
            "expiresAt",
            "sequenceNumber"
        ]])
    );

    let (status, body) = call(addr, "GET", &format!("/session/{startup}"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        object_keys(&body),
        keys(&[
            &[
                "sessionId",
                "createdAt",
                "expiresAt",
                "connectedDevices",
                "sequenceNumber",
                "checksum",
                "hasSchema",
                "devices",
                "pageUrl"
            ],
            &[
                "connectionId",
                "deviceId",
                "platform",
                "deviceName",
                "connectedAt",
                "address"
            ]
        ])
    );
    // The handle's view is the same document, `pageUrl` aside.
    let mut over_http: Value = serde_json::from_str(&body).unwrap();
    over_http.as_object_mut().unwrap().remove("pageUrl");
    let view = server.handle.get_session(&startup).unwrap();
    assert_eq!(serde_json::to_value(&view).unwrap(), over_http);
    assert_eq!((view.sequence_number, view.connected_devices), (1, 1));
    assert!(view.has_schema && view.checksum.is_some());
    assert_eq!(view.devices[0].device_id, "d1");
    assert_eq!(view.devices[0].device_name.as_deref(), Some("test d1"));
    assert!(view.devices[0].address.ip().is_loopback());

    let (status, body) = call(addr, "GET", &format!("/session/{startup}/health"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        object_keys(&body),
        keys(&[
            &[
                "sessionId",
                "sequenceNumber",
                "totalDevices",
                "healthyDevices",
                "unhealthyDevices",
                "devices"
            ],
            &[
                "connectionId",
                "deviceId",
                "deviceName",
                "platform",
                "healthy",
                "lastPing",
                "timeSinceLastPing",
                "lastAckSequence",
                "lastAckSuccess",
                "lastApplyTime",
                "sequenceLag"
            ]
        ])
    );
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["devices"][0]["lastApplyTime"], 1.25);
    let h = server.handle.session_health(&startup).unwrap();
    assert_eq!((h.total_devices, h.healthy_devices), (1, 1));
    assert_eq!(h.devices[0].last_apply_time_ms, Some(1.25));
    assert_eq!(h.devices[0].sequence_lag, Some(0));

    let (status, body) = call(addr, "GET", "/stats", None);
    assert_eq!(status, 200, "{body}");
    let sessions: &[&str] = &["id", "devices", "createdAt", "expiresAt", "sequenceNumber"];
    assert_eq!(
        object_keys(&body),
        keys(&[
            &[
                "sessions",
                "totalDevices",
                "sessionDetails",
                "uptime",
                "connections",
                "timersPending",
                "counters"
            ],
            sessions,
            sessions,
            &[
                "open",
                "accepted",
                "refused",
                "websocketUpgrades",
                "bufferedBodyBytes"
            ],
            &[
                "httpRequests",
                "pushes",
                "broadcasts",
                "updatesQueued",
                "resyncs",
                "resyncsSkipped",
                "schemaEncodings",
                "slowDeviceResyncs",
                "messagesReceived",
                "acks",
                "failedAcks",
                "rateLimited",
                "invalidMessages",
                "sessionsExpired"
            ]
        ])
    );
    let stats = server.handle.stats().unwrap();
    assert_eq!((stats.sessions, stats.total_devices), (2, 1));
    assert_eq!((stats.counters.pushes, stats.counters.acks), (2, 1));
    assert_eq!(stats.counters.broadcasts, 1);

    let (status, body) = call(addr, "GET", "/health", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        object_keys(&body),
        keys(&[&["status", "sessions", "totalDevices"]])
    );

    let (status, body) = call(
        addr,
        "POST",
        &format!("/session/{startup}/extend"),
        Some(&json!({"seconds": 60})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(object_keys(&body), keys(&[&["success", "expiresAt"]]));

    let (status, body) = call(addr, "DELETE", &format!("/session/{startup}"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(object_keys(&body), keys(&[&["success"]]));

    let (status, body) = call(addr, "GET", &format!("/session/{startup}"), None);
    assert_eq!(status, 404, "{body}");
    assert_eq!(object_keys(&body), keys(&[&["error", "code"]]));
}
