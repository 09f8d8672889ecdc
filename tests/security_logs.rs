//! What the server logs: session ids only at debug level, and
//! nothing a device sends can write control characters to the terminal.
//! Its own test binary: it installs a process-wide logger.

#[path = "it/common.rs"]
mod common;
#[path = "it/hostile.rs"]
mod hostile;

use common::{Device, TestServer, schema, text};
use hostile::{REMOTE, connect_from, exchange, only_127_0_0_1, request, wait_until};
use serde_json::json;
use std::sync::Mutex;
use std::time::Duration;

static RECORDS: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        // The server's own lines (tungstenite traces frames, client and
        // server side, at trace level; those are not ours to judge).
        let ours = record.target().starts_with("lumora_hr_mini") || record.target() == "device";
        if !ours {
            return;
        }
        RECORDS
            .lock()
            .unwrap()
            .push((record.level(), record.args().to_string()));
    }
    fn flush(&self) {}
}

#[test]
fn session_ids_stay_at_debug_and_device_text_is_escaped() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    let server = TestServer::with(|c| c.is_local_peer = only_127_0_0_1);
    let session = server.session();
    let s1 = schema(json!([text("a", "one")]));
    server.push(&session, &s1);

    // A device whose name, log message and errors carry terminal escapes
    // and forged log lines.
    let evil = "\u{1b}[2J\u{1b}[31mPWNED\r\nINFO fake line\u{7}";
    let mut d = Device::open(server.addr, &format!("/ws?session={session}"));
    d.send(&json!({"type": "connect", "sessionId": session, "timestamp": 1, "version": "1.0.0",
        "payload": {"deviceId": evil, "platform": evil, "deviceName": evil, "clientVersion": "1.0.0"}}));
    d.recv_type("connected");
    for level in ["debug", "info", "warn", "error"] {
        d.send(&Device::msg(
            &session,
            "log",
            json!({"message": evil, "level": level}),
        ));
    }
    d.send(&Device::msg(
        &session,
        "ack",
        json!({"sequenceNumber": 1, "success": false, "error": evil}),
    ));
    d.send(&Device::msg(
        &session,
        "reload",
        json!({"reason": "error", "error": evil}),
    ));
    d.recv_type("update");
    d.send(&Device::msg(
        &session,
        "error",
        json!({"code": "INTERNAL_ERROR", "message": evil, "severity": "error", "recoverable": true}),
    ));
    d.send_raw(&format!("{{\"type\": \"{evil}\"}}"));
    d.recv_type("error");
    let s2 = schema(json!([text("a", "two")]));
    server.push(&session, &s2);
    d.recv_type("update");

    // A remote peer guessing at the control API, and a device with a
    // wrong session id.
    let (status, _) = exchange(
        connect_from(REMOTE, server.addr),
        &request("GET", &format!("/session/{session}"), &[], None),
    );
    assert_eq!(status, 403);
    drop(d);
    wait_until(Duration::from_secs(10), "the device to be gone", || {
        server.handle.stats().unwrap().total_devices == 0
    });
    let (status, _) = common::http(server.addr, "DELETE", &format!("/session/{session}"), None);
    assert_eq!(status, 200);
    // A round trip through the loop: everything before it has been logged.
    server.handle.stats().unwrap();

    let records = RECORDS.lock().unwrap().clone();
    assert!(
        records.iter().any(|(_, m)| m.contains("PWNED")),
        "the device's text was logged at all: {records:#?}"
    );
    for (level, message) in &records {
        assert!(
            !message.chars().any(|c| c.is_control()),
            "control characters reach the terminal: {level} {message:?}"
        );
        if *level <= log::Level::Info {
            assert!(
                !message.contains(&session),
                "session id logged at {level}: {message}"
            );
        }
    }
    assert!(
        records
            .iter()
            .any(|(l, m)| *l == log::Level::Debug && m.contains(&session)),
        "the id is available at debug level"
    );
}
