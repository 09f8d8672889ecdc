//! Every endpoint of the HTTP API, with good and bad input, over
//! real sockets.

use crate::common::{Device, TestServer, http, schema, text};
use crate::support::{DeviceExt, HttpConn, SOON, header, now_ms, request, wait_until};
use lumora_hr_mini::protocol::calculate_checksum;
use serde_json::{Value, json};
use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
        && b[14] == b'4'
        && s.chars()
            .filter(|c| *c != '-')
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

#[test]
fn new_session_is_201_with_a_ws_url_naming_it() {
    let server = TestServer::start();
    let before = now_ms();
    let (status, body) = http(server.addr, "POST", "/session/new", None);
    assert_eq!(status, 201, "{body}");
    let id = body["sessionId"].as_str().unwrap();
    assert!(is_uuid_v4(id), "{id}");
    let ws_url = body["wsUrl"].as_str().unwrap();
    assert_eq!(ws_url, format!("ws://{}/ws?session={id}", server.addr));
    // Default lifetime: 8 h.
    let expires = body["expiresAt"].as_u64().unwrap();
    let eight_h = 8 * 3600 * 1000;
    assert!(
        expires >= before + eight_h && expires <= now_ms() + eight_h,
        "{expires}"
    );

    // The URL works as given.
    let path = ws_url.split_once(&server.addr.to_string()).unwrap().1;
    let mut d = Device::open(server.addr, path);
    d.send(&Device::connect_msg(id, "d1"));
    let connected = d.recv_type("connected");
    assert_eq!(connected["payload"]["sequenceNumber"], 0);
    assert!(connected["payload"].get("initialSchema").is_none());

    // Two sessions never share an id; an empty JSON body is fine too.
    let (status, _, second) = request(
        server.addr,
        "POST",
        "/session/new",
        &[("Content-Type", "application/json")],
        Some(b"{}"),
    );
    assert_eq!(status, 201);
    assert_ne!(second["sessionId"], body["sessionId"]);
}

#[test]
fn send_full_incremental_and_none() {
    let server = TestServer::start();
    let session = server.session();
    let (mut device, _) = Device::connected(server.addr, &session, "d1");

    let v1 = schema(
        json!([{"id": "root", "type": "View", "children": [text("a", "1"), text("b", "2")]}]),
    );
    let (status, reply) = server.push(&session, &v1);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply,
        json!({"success": true, "clientsUpdated": 1, "updateType": "full", "sequenceNumber": 1, "checksum": calculate_checksum(&v1)})
    );
    let update = device.recv_type("update");
    assert_eq!(update["payload"]["type"], "full");
    assert_eq!(update["payload"]["schema"], v1);
    assert_eq!(update["payload"]["preserveState"], true);

    let v2 = schema(
        json!([{"id": "root", "type": "View", "children": [text("a", "1"), text("b", "changed")]}]),
    );
    let (status, reply) = server.push(&session, &v2);
    assert_eq!(status, 200);
    assert_eq!(reply["updateType"], "incremental");
    assert_eq!(reply["sequenceNumber"], 2);
    assert_eq!(reply["checksum"], calculate_checksum(&v2));
    assert!(reply.get("batched").is_none(), "{reply}");
    let update = device.recv_type("update");
    assert_eq!(update["payload"]["type"], "incremental");
    assert_eq!(update["payload"]["checksum"], calculate_checksum(&v2));

    // Same UI regenerated (only generatedAt differs): nothing to send.
    let mut v2_again = v2.clone();
    v2_again["metadata"]["generatedAt"] = json!(999);
    let (status, reply) = server.push(&session, &v2_again);
    assert_eq!(status, 200);
    assert_eq!(reply["updateType"], "none");
    assert_eq!(reply["clientsUpdated"], 0);
    assert_eq!(reply["sequenceNumber"], 2);
    assert!(device.ping_pong(&session).is_empty(), "nothing was sent");
}

#[test]
fn refused_pushes_get_one_code_over_http_and_on_devices_and_say_what_is_wrong() {
    let server = TestServer::start();
    let session = server.session();
    server.push(&session, &schema(json!([text("a", "1")])));
    let (mut device, _) = Device::connected(server.addr, &session, "d1");
    let with = |value: &str| {
        format!(
            r#"{{"version":"1","metadata":{{}},"nodes":[{{"id":"a","type":"Text","props":{{"x":{value}}}}}]}}"#
        )
    };
    let deep = format!(
        r#"{{"version":"1","metadata":{{"x":{}{}}},"nodes":[]}}"#,
        "[".repeat(600),
        "]".repeat(600)
    );
    let cases = [
        // JSON, but no checksum can hold the number.
        (
            with("1E400"),
            "SCHEMA_VALIDATION_FAILED",
            "number out of range at line 1 column 76: numbers must fit a 64-bit float",
        ),
        (
            with(r#""\ud800""#),
            "INVALID_MESSAGE",
            r"lone surrogate \uD800: a \uD800-\uDBFF escape must be followed by a \uDC00-\uDFFF one",
        ),
        (
            with(r#""\udc00\ud800""#),
            "INVALID_MESSAGE",
            r"lone surrogate \uDC00: a \uDC00-\uDFFF escape must follow a \uD800-\uDBFF one",
        ),
        (
            with(r#""\ud800\u0041""#),
            "INVALID_MESSAGE",
            r"lone surrogate \uD800",
        ),
        (
            deep,
            "SCHEMA_VALIDATION_FAILED",
            "JSON nesting deeper than 512 levels",
        ),
    ];
    for (body, code, message) in cases {
        let (status, reply) = server.push_text(&session, &body);
        assert_eq!(status, 400, "{reply}");
        assert_eq!(reply["code"], code, "{reply}");
        let text = reply["error"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{reply}");
        let told = device.recv_type("error");
        assert_eq!(
            told["payload"]["code"], code,
            "the device was told otherwise: {told}"
        );
        let text = told["payload"]["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{told}");
    }
}

#[test]
fn send_refuses_invalid_schemas_naming_the_path() {
    let server = TestServer::start();
    let session = server.session();
    let v1 = schema(json!([text("a", "1")]));
    server.push(&session, &v1);
    let (mut device, _) = Device::connected(server.addr, &session, "d1");

    let dup = schema(json!([
        text("x", "1"),
        {"id": "box", "type": "View", "children": [text("y", "2"), text("x", "3")]}
    ]));
    let (status, body) = server.push(&session, &dup);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "SCHEMA_VALIDATION_FAILED");
    let msg = body["error"].as_str().unwrap();
    assert!(msg.contains("nodes[1].children[1].id"), "{msg}");
    assert!(msg.contains("duplicate"), "{msg}");

    let cases: Vec<(Value, &str)> = vec![
        (json!({"version": "1.0", "metadata": {}}), "nodes"),
        (schema(json!([{"id": "", "type": "Text"}])), "nodes[0].id"),
        (schema(json!([{"id": "a"}])), "nodes[0].type"),
        (
            schema(json!([{"id": "a", "type": "View", "children": {}}])),
            "nodes[0].children",
        ),
        (
            schema(json!([{"id": "a", "type": "View", "props": []}])),
            "nodes[0].props",
        ),
        (json!([1, 2]), ""),
    ];
    for (bad, path) in cases {
        let (status, body) = server.push(&session, &bad);
        assert_eq!(status, 400, "{bad} → {body}");
        assert_eq!(body["code"], "SCHEMA_VALIDATION_FAILED", "{bad} → {body}");
        assert!(
            body["error"].as_str().unwrap().contains(path),
            "{bad} → {body}"
        );
    }

    // Malformed JSON.
    for raw in [
        &b"{\"version\": "[..],
        b"not json",
        b"",
        b"{\"a\":1} trailing",
    ] {
        let (status, _, body) = request(
            server.addr,
            "POST",
            &format!("/send/{session}"),
            &[("Content-Type", "application/json")],
            Some(raw),
        );
        assert_eq!(status, 400, "{:?} → {body}", String::from_utf8_lossy(raw));
        assert!(
            body["code"].is_string() && body["error"].is_string(),
            "{body}"
        );
    }

    // Nothing changed for the device or the session: it was only told, once
    // per refused push, with a recoverable error.
    let told = device.ping_pong(&session);
    assert_eq!(told.len(), 1 + 6 + 4, "{told:?}");
    for m in &told {
        assert_eq!(m["type"], "error", "{m}");
        assert_eq!(m["payload"]["severity"], "error", "{m}");
        assert_eq!(m["payload"]["recoverable"], true, "{m}");
    }
    let (_, s) = http(server.addr, "GET", &format!("/session/{session}"), None);
    assert_eq!(s["sequenceNumber"], 1);
    assert_eq!(s["checksum"], calculate_checksum(&v1));
}

#[test]
fn send_to_an_unknown_session_is_404() {
    let server = TestServer::start();
    let (status, body) = server.push(
        "00000000-0000-4000-8000-000000000000",
        &schema(json!([text("a", "1")])),
    );
    assert_eq!(status, 404);
    assert_eq!(body["code"], "SESSION_NOT_FOUND");
    assert!(body["error"].is_string());
}

#[test]
fn preserve_state_false_reaches_the_device() {
    let server = TestServer::start();
    let session = server.session();
    let (mut device, _) = Device::connected(server.addr, &session, "d1");
    let push = |s: &Value, query: &str| {
        http(
            server.addr,
            "POST",
            &format!("/send/{session}{query}"),
            Some(s),
        )
    };
    let (status, _) = push(&schema(json!([text("a", "1")])), "?preserveState=false");
    assert_eq!(status, 200);
    let u = device.recv_type("update");
    assert_eq!(u["payload"]["preserveState"], false);
    // An incremental update carries it too.
    push(&schema(json!([text("a", "2")])), "?preserveState=false");
    let u = device.recv_type("update");
    assert_eq!(u["payload"]["type"], "incremental");
    assert_eq!(u["payload"]["preserveState"], false);
    // Absent → true.
    push(&schema(json!([text("a", "3")])), "");
    let u = device.recv_type("update");
    assert_eq!(u["payload"]["preserveState"], true);
}

#[test]
fn get_session_lists_connected_devices() {
    let server = TestServer::start();
    let session = server.session();
    let path = format!("/session/{session}");
    let (status, s) = http(server.addr, "GET", &path, None);
    assert_eq!(status, 200);
    assert_eq!(s["sessionId"], session);
    assert_eq!(s["connectedDevices"], 0);
    assert_eq!(s["sequenceNumber"], 0);
    assert_eq!(s["devices"], json!([]));
    assert!(s["createdAt"].as_u64().unwrap() < s["expiresAt"].as_u64().unwrap());

    let before = now_ms();
    let (_d1, c1) = Device::connected(server.addr, &session, "phone-1");
    let (_d2, c2) = Device::connected(server.addr, &session, "phone-2");
    let (status, s) = http(server.addr, "GET", &path, None);
    assert_eq!(status, 200);
    assert_eq!(s["connectedDevices"], 2);
    let devices = s["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2);
    for (c, id) in [(&c1, "phone-1"), (&c2, "phone-2")] {
        let d = devices
            .iter()
            .find(|d| d["deviceId"] == id)
            .unwrap_or_else(|| panic!("{id} missing from {s}"));
        assert_eq!(d["connectionId"], c["payload"]["connectionId"]);
        assert_eq!(d["platform"], "ios");
        assert_eq!(d["deviceName"], format!("test {id}"));
        let at = d["connectedAt"].as_u64().unwrap();
        assert!(at >= before && at <= now_ms(), "{d}");
    }
    assert_ne!(c1["payload"]["connectionId"], c2["payload"]["connectionId"]);

    // A device that only upgraded (no `connect` yet) is not listed.
    let _pending = Device::open(server.addr, &format!("/ws?session={session}"));
    let (_, s) = http(server.addr, "GET", &path, None);
    assert_eq!(s["connectedDevices"], 2);

    let (status, body) = http(server.addr, "GET", "/session/nope", None);
    assert_eq!(status, 404);
    assert_eq!(body["code"], "SESSION_NOT_FOUND");
}

#[test]
fn session_health_reports_devices() {
    let server = TestServer::start();
    let session = server.session();
    let path = format!("/session/{session}/health");
    let (status, h) = http(server.addr, "GET", &path, None);
    assert_eq!(status, 200);
    assert_eq!(h["sessionId"], session);
    assert_eq!(h["totalDevices"], 0);
    assert_eq!(h["devices"], json!([]));

    server.push(&session, &schema(json!([text("a", "1")])));
    let (mut good, c) = Device::connected(server.addr, &session, "good");
    let (mut bad, _) = Device::connected(server.addr, &session, "bad");
    good.send(&Device::msg(
        &session,
        "ack",
        json!({"sequenceNumber": 1, "success": true, "applyTime": 3}),
    ));
    bad.send(&Device::msg(
        &session,
        "ack",
        json!({"sequenceNumber": 1, "success": false, "error": "render failed"}),
    ));
    // A ping/pong after each ack proves the server has handled it.
    good.ping_pong(&session);
    bad.ping_pong(&session);

    let (status, h) = http(server.addr, "GET", &path, None);
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["totalDevices"], 2);
    assert_eq!(h["healthyDevices"], 1);
    assert_eq!(h["unhealthyDevices"], 1);
    let devices = h["devices"].as_array().unwrap();
    let g = devices.iter().find(|d| d["deviceId"] == "good").unwrap();
    assert_eq!(g["connectionId"], c["payload"]["connectionId"]);
    assert_eq!(g["healthy"], true);
    assert_eq!(g["lastAckSequence"], 1);
    assert!(g["lastPing"].as_u64().unwrap() > 0);
    assert!(g["timeSinceLastPing"].is_u64());
    let b = devices.iter().find(|d| d["deviceId"] == "bad").unwrap();
    assert_eq!(b["healthy"], false, "a failed ack makes a device unhealthy");
    assert_eq!(b["lastAckSequence"], 1);

    let (status, body) = http(server.addr, "GET", "/session/nope/health", None);
    assert_eq!(status, 404);
    assert_eq!(body["code"], "SESSION_NOT_FOUND");
}

#[test]
fn extend_moves_the_expiry_later() {
    let server = TestServer::with(|c| c.hub.session_ttl = Duration::from_secs(60));
    let (_, created) = http(server.addr, "POST", "/session/new", None);
    let session = created["sessionId"].as_str().unwrap().to_string();
    let first = created["expiresAt"].as_u64().unwrap();

    let (status, r) = http(
        server.addr,
        "POST",
        &format!("/session/{session}/extend?seconds=3600"),
        None,
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["success"], true);
    let second = r["expiresAt"].as_u64().unwrap();
    assert!(second >= first + 3_500_000, "{first} → {second}");
    let (_, s) = http(server.addr, "GET", &format!("/session/{session}"), None);
    assert_eq!(s["expiresAt"], second);

    // Seconds in a JSON body work too.
    let (status, r) = http(
        server.addr,
        "POST",
        &format!("/session/{session}/extend"),
        Some(&json!({"seconds": 7200})),
    );
    assert_eq!(status, 200, "{r}");
    let third = r["expiresAt"].as_u64().unwrap();
    assert!(third >= second + 3_500_000, "{second} → {third}");

    // Default: the session lifetime from now, which never shortens it.
    let (status, r) = http(
        server.addr,
        "POST",
        &format!("/session/{session}/extend"),
        None,
    );
    assert_eq!(status, 200);
    assert!(r["expiresAt"].as_u64().unwrap() >= third);

    for bad in ["-5", "0", "abc", "99999999", "604801"] {
        let (status, r) = http(
            server.addr,
            "POST",
            &format!("/session/{session}/extend?seconds={bad}"),
            None,
        );
        assert_eq!(status, 400, "seconds={bad}: {r}");
        assert_eq!(
            r["error"],
            "seconds must be a number above 0 and at most 604800 (7 days, or the session lifetime when longer)",
            "seconds={bad}"
        );
    }
    // A mistyped parameter is refused, not read as "no number".
    let (status, r) = http(
        server.addr,
        "POST",
        &format!("/session/{session}/extend?sec=5"),
        None,
    );
    assert_eq!(
        (status, r["code"].as_str()),
        (400, Some("BAD_REQUEST")),
        "{r}"
    );
    assert!(r["error"].as_str().unwrap().contains("\"sec\""), "{r}");
    // A body that is not `{"seconds": N}` is refused, not taken as none.
    for (body, code) in [
        (r#"{"seconds": 3600"#, "INVALID_MESSAGE"),
        ("garbage", "INVALID_MESSAGE"),
        (r#"{"secs": 3600}"#, "BAD_REQUEST"),
        (r#"{"seconds": 3600, "extra": 1}"#, "BAD_REQUEST"),
        ("[1, 2]", "BAD_REQUEST"),
        (r#"{"seconds": "3600"}"#, "BAD_REQUEST"),
        ("{}", "BAD_REQUEST"),
    ] {
        let (status, r) = crate::common::http_text(
            server.addr,
            "POST",
            &format!("/session/{session}/extend"),
            Some(body),
        );
        assert_eq!(
            (status, r["code"].as_str()),
            (400, Some(code)),
            "{body}: {r}"
        );
    }
    // An extension never shortens a session.
    let (status, r) = http(
        server.addr,
        "POST",
        &format!("/session/{session}/extend?seconds=60"),
        None,
    );
    assert_eq!(status, 200, "{r}");
    assert!(r["expiresAt"].as_u64().unwrap() >= third, "{r}");
    let (status, r) = http(server.addr, "POST", "/session/nope/extend", None);
    assert_eq!(status, 404);
    assert_eq!(r["code"], "SESSION_NOT_FOUND");
}

#[test]
fn an_explicit_extension_may_reach_a_session_lifetime_longer_than_a_week() {
    let server = TestServer::with(|c| c.hub.session_ttl = Duration::from_secs(30 * 86_400));
    let session = server.session();
    let (status, r) = http(
        server.addr,
        "POST",
        &format!("/session/{session}/extend?seconds={}", 14 * 86_400),
        None,
    );
    assert_eq!(status, 200, "{r}");
    let (status, r) = http(
        server.addr,
        "POST",
        &format!("/session/{session}/extend?seconds={}", 30 * 86_400 + 1),
        None,
    );
    assert_eq!(status, 400, "{r}");
    assert!(
        r["error"].as_str().unwrap().contains("at most 2592000"),
        "{r}"
    );
}

#[test]
fn delete_closes_devices_with_1000_and_forgets_the_session() {
    let server = TestServer::start();
    let session = server.session();
    let other = server.session();
    let (mut d1, _) = Device::connected(server.addr, &session, "d1");
    let (mut d2, _) = Device::connected(server.addr, &session, "d2");
    let (mut bystander, _) = Device::connected(server.addr, &other, "d3");

    let (status, body) = http(server.addr, "DELETE", &format!("/session/{session}"), None);
    assert_eq!(status, 200);
    assert_eq!(body, json!({"success": true}));
    assert_eq!(d1.expect_close(), (1000, "Session closed".into()));
    assert_eq!(d2.expect_close(), (1000, "Session closed".into()));

    let (status, body) = http(server.addr, "GET", &format!("/session/{session}"), None);
    assert_eq!(status, 404);
    assert_eq!(body["code"], "SESSION_NOT_FOUND");
    let (status, _) = http(server.addr, "DELETE", &format!("/session/{session}"), None);
    assert_eq!(status, 404);
    let (status, _) = server.push(&session, &schema(json!([text("a", "1")])));
    assert_eq!(status, 404);

    // The other session is untouched.
    assert!(bystander.ping_pong(&other).is_empty());
    let (_, h) = http(server.addr, "GET", "/health", None);
    assert_eq!(h["sessions"], 1);
    assert_eq!(h["totalDevices"], 1);
}

#[test]
fn stats_and_health() {
    let server = TestServer::start();
    let (status, h) = http(server.addr, "GET", "/health", None);
    assert_eq!(status, 200);
    assert_eq!(h, json!({"status": "ok", "sessions": 0, "totalDevices": 0}));

    let a = server.session();
    let b = server.session();
    let (_d1, _) = Device::connected(server.addr, &a, "d1");
    let (_d2, _) = Device::connected(server.addr, &a, "d2");
    let (_d3, _) = Device::connected(server.addr, &b, "d3");
    server.push(&a, &schema(json!([text("x", "1")])));

    let (status, h) = http(server.addr, "GET", "/health", None);
    assert_eq!(status, 200);
    assert_eq!(h, json!({"status": "ok", "sessions": 2, "totalDevices": 3}));

    let (status, s) = http(server.addr, "GET", "/stats", None);
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["sessions"], 2);
    assert_eq!(s["totalDevices"], 3);
    assert!(s["uptime"].is_u64(), "{s}");
    let details = s["sessionDetails"].as_array().unwrap();
    assert_eq!(details.len(), 2);
    let da = details.iter().find(|d| d["id"] == a.as_str()).unwrap();
    assert_eq!(da["devices"], 2);
    assert!(da["createdAt"].as_u64().unwrap() < da["expiresAt"].as_u64().unwrap());
    let db = details.iter().find(|d| d["id"] == b.as_str()).unwrap();
    assert_eq!(db["devices"], 1);
    assert_eq!(s["counters"]["pushes"], 1);
    assert_eq!(s["counters"]["broadcasts"], 1);
    assert_eq!(s["counters"]["updatesQueued"], 2);

    // The handle sees the same document.
    let via_handle = server.handle.stats().unwrap();
    assert_eq!(via_handle.sessions, 2);
    assert_eq!(via_handle.total_devices, 3);
}

#[test]
fn wrong_methods_are_405_with_allow() {
    let server = TestServer::start();
    let session = server.session();
    let cases = [
        ("GET", "/session/new".to_string(), "POST"),
        ("PUT", "/stats".to_string(), "GET, HEAD"),
        ("POST", "/health".to_string(), "GET, HEAD"),
        ("GET", format!("/send/{session}"), "POST"),
        ("PATCH", format!("/session/{session}"), "GET, HEAD, DELETE"),
        ("DELETE", format!("/session/{session}/health"), "GET, HEAD"),
        ("HEAD", "/ws".to_string(), "GET"),
        ("GET", format!("/session/{session}/extend"), "POST"),
    ];
    for (method, path, allow) in cases {
        let (status, head, body) = request(server.addr, method, &path, &[], None);
        assert_eq!(status, 405, "{method} {path}: {head}");
        assert_eq!(
            header(&head, "allow").as_deref(),
            Some(allow),
            "{method} {path}"
        );
        if method == "HEAD" {
            assert!(body.is_null(), "HEAD {path}: a body: {body}");
            continue;
        }
        assert_eq!(body["code"], "METHOD_NOT_ALLOWED");
        assert!(body["error"].is_string());
    }
}

#[test]
fn head_is_answered_like_get_without_the_body_and_the_next_answer_follows_intact() {
    let server = TestServer::start();
    let session = server.session();
    // The landing page shows times (its length may move between the two
    // requests), and a refusal's message names the method: for those only
    // a length is checked.
    for (path, same_length) in [
        ("/health".to_string(), true),
        ("/".to_string(), false),
        ("/web/device.js".to_string(), true),
        (format!("/s/{session}"), true),
        (format!("/session/{session}"), true),
        // Refused: a head alone too.
        (format!("/send/{session}"), false),
        ("/nowhere".to_string(), false),
    ] {
        let (_, get_head, get_body) = crate::common::raw_http(
            server.addr,
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        let (status, head, rest) = crate::common::raw_http(
            server.addr,
            format!(
                "HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        let get_status: u16 = get_head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        assert_eq!(status, get_status, "HEAD {path}: {head}");
        // The length the GET's body has, and none of it.
        let length = header(&head, "content-length").unwrap_or_default();
        if same_length {
            assert_eq!(length, get_body.len().to_string(), "HEAD {path}: {head}");
        } else {
            assert!(
                length.parse::<usize>().is_ok_and(|n| n > 0),
                "HEAD {path}: {head}"
            );
        }
        assert!(
            rest.starts_with(b"HTTP/1.1 200 OK\r\n"),
            "HEAD {path}: a body came before the next answer: {:?}",
            String::from_utf8_lossy(&rest[..rest.len().min(80)])
        );
    }
}

#[test]
fn unknown_paths_are_404() {
    let server = TestServer::start();
    // `/` is the landing page (tests/it/landing.rs); anything else unknown
    // is 404.
    for (method, path) in [
        ("GET", "/nope"),
        ("POST", "/send"),
        ("POST", "/send/"),
        ("GET", "/session/a/b/c"),
        ("GET", "/statsx"),
    ] {
        let (status, head, body) = request(server.addr, method, path, &[], None);
        assert_eq!(status, 404, "{method} {path}: {head}");
        assert_eq!(body["code"], "NOT_FOUND", "{method} {path}");
        assert_eq!(
            header(&head, "content-type").as_deref(),
            Some("application/json")
        );
    }
}

#[test]
fn non_json_post_bodies_are_415() {
    let server = TestServer::start();
    let session = server.session();
    let body = schema(json!([text("a", "1")])).to_string();
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let headers: Vec<(&str, &str)> = ct.map(|c| ("Content-Type", c)).into_iter().collect();
        let (status, r) = post_send(&server, &session, &headers, body.as_bytes());
        assert_eq!(status, 415, "{ct:?}: {r}");
        assert_eq!(r["code"], "UNSUPPORTED_MEDIA_TYPE");
    }
    // Parameters after the media type are fine.
    let (status, r) = post_send(
        &server,
        &session,
        &[("Content-Type", "application/json; charset=utf-8")],
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{r}");
    // And nothing was pushed by the refused requests.
    assert_eq!(r["sequenceNumber"], 1);
}

#[test]
fn compressed_post_bodies_are_415_from_the_head() {
    let server = TestServer::start();
    let session = server.session();
    let body = schema(json!([text("a", "1")])).to_string();
    for coding in ["gzip", "br", "deflate", "gzip, identity", "x-unknown"] {
        let (status, _, r) = request(
            server.addr,
            "POST",
            &format!("/send/{session}"),
            &[
                ("Content-Type", "application/json"),
                ("Content-Encoding", coding),
            ],
            Some(body.as_bytes()),
        );
        assert_eq!(status, 415, "{coding}: {r}");
        assert_eq!(r["code"], "UNSUPPORTED_MEDIA_TYPE", "{coding}: {r}");
        let message = r["error"].as_str().unwrap_or_default();
        assert!(message.contains("uncompressed"), "{coding}: {r}");
    }
    // A second header is part of the same list; a second Content-Type must
    // say JSON too.
    for all in [
        [
            ("Content-Type", "application/json"),
            ("Content-Encoding", "identity"),
            ("Content-Encoding", "gzip"),
        ],
        [
            ("Content-Type", "application/json"),
            ("Content-Type", "text/plain"),
            ("Content-Encoding", "identity"),
        ],
    ] {
        let (status, r) = post_send(&server, &session, &all, body.as_bytes());
        assert_eq!(status, 415, "{all:?}: {r}");
        assert_eq!(r["code"], "UNSUPPORTED_MEDIA_TYPE", "{all:?}: {r}");
    }
    // Decided from the head: the answer comes with none of the body sent.
    let mut s = TcpStream::connect(server.addr).unwrap();
    let head = format!(
        "POST /send/{session} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 5000\r\n\r\n"
    );
    std::io::Write::write_all(&mut s, head.as_bytes()).unwrap();
    assert_eq!(crate::hostile::read_response(&mut s).0, 415);
    // `identity` is no coding at all.
    let (status, _, r) = request(
        server.addr,
        "POST",
        &format!("/send/{session}"),
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "Identity"),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(status, 200, "{r}");
    // Nothing was pushed by the refused requests.
    assert_eq!(r["sequenceNumber"], 1);
}

#[test]
fn bodies_over_the_limit_are_413() {
    let server = TestServer::with(|c| c.max_body_bytes = 1024);
    let session = server.session();
    let small = schema(json!([text("a", "1")]));
    assert_eq!(server.push(&session, &small).0, 200);
    let big = schema(json!([text("a", &"x".repeat(2000))]));
    let (status, body) = server.push(&session, &big);
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "PAYLOAD_TOO_LARGE");

    // Refused on the announced length alone, before the body arrives.
    let mut c = HttpConn::open(server.addr);
    c.send_raw(
        format!(
            "POST /send/{session} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n"
        )
        .as_bytes(),
    );
    let (status, _, body) = c.read_response().expect("a response");
    assert_eq!(status, 413);
    assert_eq!(body["code"], "PAYLOAD_TOO_LARGE");
    assert!(
        c.closed_by_server(),
        "the rest of the input cannot be trusted"
    );
}

#[test]
fn other_request_errors() {
    let server = TestServer::with(|c| {
        c.request_timeout = Duration::from_millis(300);
        c.max_head_bytes = 2048;
    });
    // Chunked bodies: 411.
    let (status, _, body) = request(
        server.addr,
        "POST",
        "/session/new",
        &[("Transfer-Encoding", "chunked")],
        None,
    );
    assert_eq!(status, 411, "{body}");
    // A head over the limit: 431.
    let long = "a".repeat(4000);
    let (status, _, _) = request(server.addr, "GET", "/health", &[("X-Long", &long)], None);
    assert_eq!(status, 431);
    // Garbage: 400.
    let (status, _, _) = crate::common::raw_http(server.addr, b"\x01\x02 nonsense\r\n\r\n");
    assert_eq!(status, 400);
    // A request that never completes: 408 after the request timeout.
    let mut c = HttpConn::open(server.addr);
    c.send_raw(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    let (status, _, body) = c.read_response().expect("a 408");
    assert_eq!(status, 408, "{body}");
    assert!(c.closed_by_server());
    // Host must name this machine; Origin is refused on the control API.
    let (status, _, _) = crate::common::raw_http(
        server.addr,
        b"GET /stats HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 403);
    let (status, _, _) = request(
        server.addr,
        "POST",
        "/session/new",
        &[("Origin", "http://evil.example")],
        None,
    );
    assert_eq!(status, 403);
    // ... but GET /health answers a browser.
    let (status, _, _) = request(
        server.addr,
        "GET",
        "/health",
        &[("Origin", "http://evil.example")],
        None,
    );
    assert_eq!(status, 200);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let server = TestServer::start();
    let mut c = HttpConn::open(server.addr);
    let (status, head, created) = c.call("POST", "/session/new", None);
    assert_eq!(status, 201);
    assert_eq!(
        header(&head, "connection").as_deref(),
        Some("keep-alive"),
        "{head}"
    );
    let session = created["sessionId"].as_str().unwrap().to_string();
    let (status, _, r) = c.call(
        "POST",
        &format!("/send/{session}"),
        Some(&schema(json!([text("a", "1")]))),
    );
    assert_eq!(status, 200, "{r}");
    // An error keeps the connection usable too.
    let (status, _, _) = c.call("GET", "/nope", None);
    assert_eq!(status, 404);
    let (status, _, s) = c.call("GET", &format!("/session/{session}"), None);
    assert_eq!(status, 200);
    assert_eq!(s["sequenceNumber"], 1);

    // Pipelined: two requests in one write, two responses in order.
    c.send_raw(
        format!(
            "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\nGET /session/{session} HTTP/1.1\r\nHost: localhost\r\n\r\n"
        )
        .as_bytes(),
    );
    let (s1, _, b1) = c.read_response().unwrap();
    let (s2, _, b2) = c.read_response().unwrap();
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(b1["status"], "ok");
    assert_eq!(b2["sessionId"], session.as_str());

    // `Connection: close` is honoured.
    c.send_raw(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let (status, head, _) = c.read_response().unwrap();
    assert_eq!(status, 200);
    assert_eq!(header(&head, "connection").as_deref(), Some("close"));
    assert!(c.closed_by_server());
    let stats = server.handle.stats().unwrap();
    assert!(stats.counters.http_requests >= 7);
}

#[test]
fn connections_beyond_the_limit_get_503() {
    let server = TestServer::with(|c| c.max_connections = 3);
    // Three idle connections fill the server.
    let held: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    wait_until(SOON, "3 connections open", || {
        server.handle.stats().unwrap().connections.open == 3
    });
    // The refusal is written at accept; send nothing so that closing the
    // socket cannot turn into a reset over unread input.
    let mut refused = TcpStream::connect(server.addr).unwrap();
    refused.set_read_timeout(Some(SOON)).unwrap();
    let mut buf = Vec::new();
    let _ = refused.read_to_end(&mut buf);
    let (status, _, body) = crate::common::parse_response(&buf);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "SERVICE_UNAVAILABLE");
    // Room again once one goes away.
    drop(held);
    wait_until(SOON, "connections closed", || {
        server.handle.stats().unwrap().connections.open == 0
    });
    let (status, _, _) = request(server.addr, "GET", "/health", &[], None);
    assert_eq!(status, 200);
    let stats = server.handle.stats().unwrap();
    assert!(stats.connections.refused >= 1);
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    let server = TestServer::with(|c| c.keep_alive_timeout = Duration::from_millis(300));
    let mut c = HttpConn::open(server.addr);
    let (status, _, _) = c.call("GET", "/health", None);
    assert_eq!(status, 200);
    // Blocks until the server closes it (the read timeout is 10 s).
    assert!(
        c.closed_by_server(),
        "an idle keep-alive connection is closed"
    );
}

#[test]
fn too_many_sessions_is_429() {
    let server = TestServer::with(|c| c.hub.max_sessions = 2);
    server.session();
    let second = server.session();
    let (status, body) = http(server.addr, "POST", "/session/new", None);
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "RATE_LIMIT_EXCEEDED");
    // Deleting one makes room.
    server.handle.delete_session(&second).unwrap();
    assert_eq!(http(server.addr, "POST", "/session/new", None).0, 201);
}

/// `POST /send/<session>` with these headers and body: status and reply.
fn post_send(
    server: &TestServer,
    session: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let (status, _, r) = request(
        server.addr,
        "POST",
        &format!("/send/{session}"),
        headers,
        Some(body),
    );
    (status, r)
}
