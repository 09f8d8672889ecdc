//! Devices built on the reference protocol library work unchanged: its
//! messages are built here exactly as that library builds them (keys in its
//! order, no `payload` on a status-less ping, optional fields left out or
//! `null`, its version strings), and what the server sends keeps the key
//! order the tool pushed.

use crate::common::{Device, TestServer};
use crate::support::{SOON, request, wait_for};
use lumora_hr_mini::protocol::calculate_checksum;
use serde_json::Value;
use tungstenite::Message;

/// The reference's envelope, in its key order; `payload` is left out when
/// `None` (JavaScript's `JSON.stringify` drops an `undefined` member).
fn envelope(kind: &str, session: &str, version: &str, payload: Option<&str>) -> String {
    let mut m = format!(
        r#"{{"type":"{kind}","sessionId":"{session}","timestamp":1733300000000,"version":"{version}""#
    );
    if let Some(p) = payload {
        m.push_str(&format!(r#","payload":{p}"#));
    }
    m.push('}');
    m
}

/// `createConnectMessage(sessionId, deviceId, platform, deviceName?)` of a
/// library speaking `version`.
fn reference_connect(session: &str, version: &str, device_name: Option<&str>) -> String {
    let name = device_name.map_or(String::new(), |n| format!(r#","deviceName":"{n}""#));
    let payload = format!(
        r#"{{"deviceId":"ref-device","platform":"web"{name},"clientVersion":"{version}"}}"#
    );
    envelope("connect", session, version, Some(&payload))
}

/// The next text message as it was on the wire.
fn recv_text(d: &mut Device) -> String {
    loop {
        match d.ws.read().expect("read") {
            Message::Text(t) => return t.as_str().to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("json")
}

/// Sends `ping` (a well-formed one with a payload) and returns every
/// message that arrived before its `pong`.
fn before_pong(d: &mut Device, session: &str) -> Vec<Value> {
    d.send_raw(&envelope("ping", session, "1.0.0", Some("{}")));
    let mut before = Vec::new();
    loop {
        let m = d.recv();
        if m["type"] == "pong" {
            return before;
        }
        before.push(m);
    }
}

fn connected_device(server: &TestServer, session: &str, version: &str) -> Device {
    let mut d = server.device(session);
    d.send_raw(&reference_connect(session, version, None));
    let m = d.recv();
    assert_eq!(m["type"], "connected", "{version}: {m}");
    d
}

#[test]
fn a_ping_without_payload_or_with_null_payload_gets_a_pong() {
    let server = TestServer::start();
    let session = server.session();
    let mut d = connected_device(&server, &session, "1.0.0");
    // `createPingMessage(sessionId)`: no payload at all.
    d.send_raw(&envelope("ping", &session, "1.0.0", None));
    let m = d.recv();
    assert_eq!(m["type"], "pong", "{m}");
    assert!(m["payload"]["serverTime"].as_u64().unwrap() > 0, "{m}");
    // `payload: null`, and a status of `null`.
    d.send_raw(&envelope("ping", &session, "1.0.0", Some("null")));
    assert_eq!(d.recv()["type"], "pong");
    d.send_raw(&envelope(
        "ping",
        &session,
        "1.0.0",
        Some(r#"{"status":null}"#),
    ));
    assert_eq!(d.recv()["type"], "pong");
    // With a status, as `createPingMessage(sessionId, "idle")` sends it.
    d.send_raw(&envelope(
        "ping",
        &session,
        "1.0.0",
        Some(r#"{"status":"idle"}"#),
    ));
    assert_eq!(d.recv()["type"], "pong");
    // Nothing else was said in between (no error).
    assert_eq!(before_pong(&mut d, &session), Vec::<Value>::new());
}

#[test]
fn a_payload_less_ping_before_connect_is_refused_only_for_not_being_connect() {
    // Before `connect`, a payload-less ping is refused only for not being
    // `connect` (4401), not as an invalid message.
    let server = TestServer::start();
    let session = server.session();
    let mut d = server.device(&session);
    d.send_raw(&envelope("ping", &session, "1.0.0", None));
    let m = d.recv();
    assert_eq!(m["payload"]["code"], "AUTHENTICATION_FAILED", "{m}");
    assert_eq!(d.expect_close().0, 4401);
}

#[test]
fn a_payload_is_still_required_where_something_in_it_is() {
    let server = TestServer::start();
    let session = server.session();
    let mut d = connected_device(&server, &session, "1.0.0");
    d.send_raw(&envelope("log", &session, "1.0.0", None));
    let m = d.recv();
    assert_eq!(m["payload"]["code"], "INVALID_MESSAGE", "{m}");
    assert!(
        m["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("payload: missing required field"),
        "{m}"
    );
    d.send_raw(&envelope("ack", &session, "1.0.0", Some("null")));
    let m = d.recv();
    assert_eq!(m["payload"]["code"], "INVALID_MESSAGE", "{m}");
    // The connection stays open.
    assert_eq!(before_pong(&mut d, &session), Vec::<Value>::new());
}

#[test]
fn optional_fields_may_be_absent_or_null() {
    let server = TestServer::start();
    let session = server.session();
    let mut d = server.device(&session);
    // `deviceName: null` in connect.
    let connect = envelope(
        "connect",
        &session,
        "1.0.0",
        Some(
            r#"{"deviceId":"ref-null","platform":"web","deviceName":null,"clientVersion":"1.0.0"}"#,
        ),
    );
    d.send_raw(&connect);
    assert_eq!(d.recv()["type"], "connected");
    let schema = r#"{"version":"1.0","metadata":{},"nodes":[{"id":"a","type":"Text"}]}"#;
    let (status, _, body) = request(
        server.addr,
        "POST",
        &format!("/send/{session}"),
        &[("Content-Type", "application/json")],
        Some(schema.as_bytes()),
    );
    assert_eq!(status, 200, "{body}");
    let update = d.recv();
    assert_eq!(update["type"], "update", "{update}");
    // `ack` with `error` and `applyTime` null is recorded.
    d.send_raw(&envelope(
        "ack",
        &session,
        "1.0.0",
        Some(r#"{"sequenceNumber":1,"success":true,"error":null,"applyTime":null}"#),
    ));
    // `reload` with `error: null` is answered with a full update.
    d.send_raw(&envelope(
        "reload",
        &session,
        "1.0.0",
        Some(r#"{"reason":"manual","error":null}"#),
    ));
    let full = d.recv();
    assert_eq!(full["type"], "update", "{full}");
    assert_eq!(full["payload"]["type"], "full", "{full}");
    // `error` from the device with `details: null` is only logged.
    d.send_raw(&envelope(
        "error",
        &session,
        "1.0.0",
        Some(r#"{"code":"INTERNAL_ERROR","message":"m","severity":"error","recoverable":true,"details":null}"#),
    ));
    assert_eq!(before_pong(&mut d, &session), Vec::<Value>::new());
    let path = format!("/session/{session}/health");
    wait_for(SOON, "the ack in health", || {
        let (_, _, h) = request(server.addr, "GET", &path, &[], None);
        (h["devices"][0]["lastAckSequence"] == 1).then_some(())
    });
}

#[test]
fn version_strings_are_read_like_the_reference() {
    let server = TestServer::start();
    let session = server.session();
    // Major 1, minor 0: connected, and not a word about the version.
    for version in ["1", "1.0", "1.0.0-beta", "1.0.7", "1.0.0"] {
        let mut d = connected_device(&server, &session, version);
        assert_eq!(
            before_pong(&mut d, &session),
            Vec::<Value>::new(),
            "{version}"
        );
    }
    // Another minor: one recoverable warning, then connected.
    let mut d = server.device(&session);
    d.send_raw(&reference_connect(&session, "1.2", Some("Pixel")));
    let warning = d.recv();
    assert_eq!(warning["type"], "error", "{warning}");
    assert_eq!(warning["payload"]["code"], "UNSUPPORTED_VERSION");
    assert_eq!(warning["payload"]["severity"], "warning");
    assert_eq!(warning["payload"]["recoverable"], true);
    assert_eq!(d.recv()["type"], "connected");
    assert_eq!(before_pong(&mut d, &session), Vec::<Value>::new());
    // Another major: fatal, close 4426.
    let mut d = server.device(&session);
    d.send_raw(&reference_connect(&session, "2.0.0", None));
    let fatal = d.recv();
    assert_eq!(fatal["payload"]["code"], "UNSUPPORTED_VERSION", "{fatal}");
    assert_eq!(fatal["payload"]["severity"], "fatal");
    assert_eq!(d.expect_close().0, 4426);
}

/// The schema as the tool pushed it: keys deliberately not sorted.
const PUSHED_NODE_A: &str =
    r##"{"type":"Text","id":"title","props":{"text":"Hello","color":"#112233","align":"center"}}"##;
const PUSHED_NODE_B: &str = r#"{"type":"Column","id":"body","children":[{"type":"Text","id":"line","props":{"z":1,"a":2}}],"props":{"gap":4}}"#;
const EDITED_NODE_A: &str =
    r##"{"type":"Text","id":"title","props":{"text":"Hi","color":"#112233","align":"center"}}"##;

fn pushed_schema(first: &str) -> String {
    format!(
        r##"{{"nodes":[{first},{PUSHED_NODE_B}],"version":"1.0","theme":{{"primary":"#000000","accent":"#ff0000"}},"metadata":{{"sourceFile":"App.tsx","sourceFramework":"react","generatedAt":1}}}}"##
    )
}

/// The same schema as RFC 8785 writes it: keys sorted, `generatedAt` left
/// out.
fn canonical_schema(text: &str) -> String {
    format!(
        r##"{{"metadata":{{"sourceFile":"App.tsx","sourceFramework":"react"}},"nodes":[{{"id":"title","props":{{"align":"center","color":"#112233","text":"{text}"}},"type":"Text"}},{{"children":[{{"id":"line","props":{{"a":2,"z":1}},"type":"Text"}}],"id":"body","props":{{"gap":4}},"type":"Column"}}],"theme":{{"accent":"#ff0000","primary":"#000000"}},"version":"1.0"}}"##
    )
}

fn push_raw(server: &TestServer, session: &str, body: &str) -> Value {
    let (status, reply) = server.push_text(session, body);
    assert_eq!(status, 200, "{reply}");
    reply
}

#[test]
fn devices_receive_keys_in_the_pushed_order_with_unchanged_checksums() {
    let server = TestServer::start();
    let session = server.session();
    let mut early = connected_device(&server, &session, "1.0.0");

    let first = pushed_schema(PUSHED_NODE_A);
    let reply = push_raw(&server, &session, &first);
    let expected = format!(
        "{:08x}",
        crc32fast::hash(canonical_schema("Hello").as_bytes())
    );
    assert_eq!(reply["checksum"], expected.as_str(), "{reply}");
    assert_eq!(calculate_checksum(&parse(&first)), expected);

    // A full update carries the schema exactly as pushed.
    let full = recv_text(&mut early);
    assert!(full.contains(&format!(r#""schema":{first}"#)), "{full}");
    assert_eq!(parse(&full)["payload"]["checksum"], expected.as_str());

    // So does `initialSchema` for a device joining now.
    let mut late = server.device(&session);
    late.send_raw(&reference_connect(&session, "1.0.0", None));
    let connected = recv_text(&mut late);
    assert!(
        connected.contains(&format!(r#""initialSchema":{first}"#)),
        "{connected}"
    );
    assert_eq!(parse(&connected)["payload"]["checksum"], expected.as_str());

    // A modified node travels in the pushed order too.
    let second = pushed_schema(EDITED_NODE_A);
    let reply = push_raw(&server, &session, &second);
    let expected = format!("{:08x}", crc32fast::hash(canonical_schema("Hi").as_bytes()));
    assert_eq!(reply["checksum"], expected.as_str(), "{reply}");
    assert_eq!(reply["updateType"], "incremental", "{reply}");
    for d in [&mut early, &mut late] {
        let update = recv_text(d);
        assert!(
            update.contains(&format!(r#""modified":[{EDITED_NODE_A}]"#)),
            "{update}"
        );
        assert_eq!(parse(&update)["payload"]["checksum"], expected.as_str());
    }

    // The same value with its keys in another order is no change at all.
    let reordered = parse(&second);
    let mut sorted = serde_json::Map::new();
    let obj = reordered.as_object().unwrap();
    let mut keys: Vec<&String> = obj.keys().collect();
    keys.sort();
    for k in keys {
        sorted.insert(k.clone(), obj[k].clone());
    }
    let reply = push_raw(&server, &session, &Value::Object(sorted).to_string());
    assert_eq!(reply["updateType"], "none", "{reply}");
    assert_eq!(reply["checksum"], expected.as_str());
}
