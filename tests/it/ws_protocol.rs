//! The WebSocket endpoint: close codes, the `connect`
//! handshake, message handling, rate limiting, and shutdown.

use crate::common::{Device, TestServer, schema, text};
use crate::support::{DeviceExt, Frame, RawWs, SOON, counters, wait_for, wait_until};
use serde_json::{Value, json};
use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tungstenite::Message;

/// Asserts an `error` message: its code, and that `recoverable` matches the
/// severity (fatal ⇔ not recoverable).
fn assert_error(m: &Value, code: &str, severity: &str) {
    assert_eq!(m["type"], "error", "{m}");
    let p = &m["payload"];
    assert_eq!(p["code"], code, "{m}");
    assert_eq!(p["severity"], severity, "{m}");
    assert_eq!(p["recoverable"], severity != "fatal", "{m}");
    assert!(!p["message"].as_str().unwrap().is_empty(), "{m}");
    assert!(m["timestamp"].as_u64().unwrap() > 0, "{m}");
    assert_eq!(m["version"], "1.0.0");
}

#[test]
fn no_session_parameter_is_an_error_then_4400() {
    let server = TestServer::start();
    for path in ["/ws", "/ws?session=", "/ws?other=1"] {
        let mut d = Device::open(server.addr, path);
        let m = d.recv();
        assert_eq!(m["type"], "error", "{path}: {m}");
        assert_eq!(m["payload"]["severity"], "fatal");
        assert_eq!(
            d.expect_close(),
            (4400, "Session ID required".into()),
            "{path}"
        );
    }
}

#[test]
fn unknown_session_is_4404() {
    let server = TestServer::start();
    let mut d = Device::open(
        server.addr,
        "/ws?session=00000000-0000-4000-8000-000000000000",
    );
    assert_eq!(d.expect_close(), (4404, "Session not found".into()));
    // A deleted session is unknown too.
    let session = server.session();
    server.handle.delete_session(&session).unwrap();
    let mut d = server.device(&session);
    assert_eq!(d.expect_close().0, 4404);
}

#[test]
fn first_message_must_be_connect() {
    let server = TestServer::start();
    let session = server.session();
    for kind in ["ping", "log", "ack"] {
        let payload = match kind {
            "log" => json!({"message": "hi", "level": "info"}),
            "ack" => json!({"sequenceNumber": 0, "success": true}),
            _ => json!({}),
        };
        let mut d = server.device(&session);
        d.send(&Device::msg(&session, kind, payload));
        assert_error(&d.recv(), "AUTHENTICATION_FAILED", "fatal");
        assert_eq!(d.expect_close().0, 4401, "first message {kind}");
    }
    let (_, s) = crate::common::http(server.addr, "GET", &format!("/session/{session}"), None);
    assert_eq!(s["connectedDevices"], 0);
}

#[test]
fn a_first_frame_that_is_not_a_message_is_recoverable_and_connect_may_follow() {
    let server = TestServer::start();
    let session = server.session();
    let mut d = server.device(&session);
    d.send_raw("{not json");
    let m = d.recv();
    assert_error(&m, "INVALID_MESSAGE", "error");
    assert_eq!(m["payload"]["recoverable"], true, "{m}");
    d.send(&Device::connect_msg(&session, "late"));
    let m = d.recv_type("connected");
    assert_eq!(m["sessionId"], session.as_str(), "{m}");
}

#[test]
fn no_connect_within_the_timeout_is_4401() {
    let server = TestServer::with(|c| c.hub.connect_timeout = Duration::from_millis(300));
    let session = server.session();
    let mut d = server.device(&session);
    assert_error(&d.recv(), "AUTHENTICATION_FAILED", "fatal");
    assert_eq!(d.expect_close().0, 4401);
    // A device that connects in time is not affected by its deadline.
    let (mut ok, _) = Device::connected(server.addr, &session, "d1");
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(600) {
        assert!(ok.ping_pong(&session).is_empty());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_message_for_another_session_is_session_not_found_then_4400() {
    let server = TestServer::start();
    let session = server.session();
    let other = server.session();
    // As the first message...
    let mut d = server.device(&session);
    d.send(&Device::connect_msg(&other, "d1"));
    assert_error(&d.recv(), "SESSION_NOT_FOUND", "fatal");
    assert_eq!(d.expect_close().0, 4400);
    // ... and after connecting.
    let (mut d, _) = Device::connected(server.addr, &session, "d2");
    d.send(&Device::msg(&other, "ping", json!({})));
    assert_error(&d.recv(), "SESSION_NOT_FOUND", "fatal");
    assert_eq!(d.expect_close().0, 4400);
    let (_, s) = crate::common::http(server.addr, "GET", &format!("/session/{session}"), None);
    assert_eq!(s["connectedDevices"], 0, "{s}");
}

#[test]
fn another_major_version_is_refused_with_4426() {
    let server = TestServer::start();
    let session = server.session();
    // In the envelope...
    let mut d = server.device(&session);
    let mut connect = Device::connect_msg(&session, "d1");
    connect["version"] = json!("2.0.0");
    d.send(&connect);
    let m = d.recv();
    assert_error(&m, "UNSUPPORTED_VERSION", "fatal");
    assert_eq!(d.expect_close().0, 4426);
    // ... or as the client version.
    let mut d = server.device(&session);
    let mut connect = Device::connect_msg(&session, "d1");
    connect["payload"]["clientVersion"] = json!("2.0.0");
    d.send(&connect);
    assert_error(&d.recv(), "UNSUPPORTED_VERSION", "fatal");
    assert_eq!(d.expect_close().0, 4426);
    let (_, s) = crate::common::http(server.addr, "GET", &format!("/session/{session}"), None);
    assert_eq!(s["connectedDevices"], 0);
}

#[test]
fn another_minor_version_is_accepted_with_exactly_one_warning() {
    let server = TestServer::start();
    let session = server.session();
    let mut d = server.device(&session);
    let mut connect = Device::connect_msg(&session, "d1");
    connect["version"] = json!("1.1.0");
    connect["payload"]["clientVersion"] = json!("1.1.0");
    d.send(&connect);
    let mut before = Vec::new();
    let connected = loop {
        let m = d.recv();
        if m["type"] == "connected" {
            break m;
        }
        before.push(m);
    };
    assert_eq!(connected["payload"]["sequenceNumber"], 0);
    // Later messages in 1.1.0 are not warned about again.
    let mut ping = Device::msg(&session, "ping", json!({}));
    ping["version"] = json!("1.1.0");
    d.send(&ping);
    loop {
        let m = d.recv();
        if m["type"] == "pong" {
            break;
        }
        before.push(m);
    }
    assert_eq!(before.len(), 1, "exactly one warning: {before:?}");
    assert_error(&before[0], "UNSUPPORTED_VERSION", "warning");

    // A different patch is not worth a word.
    let mut d = server.device(&session);
    let mut connect = Device::connect_msg(&session, "d2");
    connect["version"] = json!("1.0.7");
    connect["payload"]["clientVersion"] = json!("1.0.9");
    d.send(&connect);
    assert_eq!(d.recv()["type"], "connected");
    assert!(d.ping_pong(&session).is_empty());
}

#[test]
fn oversized_messages_close_with_1009() {
    let server = TestServer::with(|c| c.max_message_bytes = 1024);
    let session = server.session();
    let (mut d, _) = Device::connected(server.addr, &session, "d1");
    // Just under the limit is handled (and refused as a message).
    d.send_raw(&"x".repeat(1000));
    assert_error(&d.recv(), "INVALID_MESSAGE", "error");
    d.send_raw(&format!("\"{}\"", "x".repeat(2000)));
    assert_eq!(d.expect_close().0, 1009);
    let (_, s) = crate::common::http(server.addr, "GET", &format!("/session/{session}"), None);
    assert_eq!(s["connectedDevices"], 0);
}

#[test]
fn shutdown_closes_devices_with_1001_and_run_returns() {
    let server = TestServer::start();
    let session = server.session();
    let addr = server.addr;
    let (mut d1, _) = Device::connected(addr, &session, "d1");
    let (mut d2, _) = Device::connected(addr, &session, "d2");
    let mut pending = server.device(&session); // upgraded, no `connect` yet
    let idle_http = std::net::TcpStream::connect(addr).unwrap();

    server.handle.shutdown();
    assert_eq!(d1.expect_close().0, 1001);
    assert_eq!(d2.expect_close().0, 1001);
    assert_eq!(pending.expect_close().0, 1001);

    // `run` returns (bounded: the grace period is 500 ms by default).
    let (tx, rx) = mpsc::channel();
    let mut server = server;
    std::thread::spawn(move || tx.send(server.stop()).unwrap());
    let result = rx.recv_timeout(SOON).expect("run did not return");
    assert!(result.is_ok(), "{result:?}");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening"
    );
    drop(idle_http);
}

#[test]
fn malformed_and_invalid_messages_are_recoverable() {
    let server = TestServer::start();
    let session = server.session();
    let (mut d, _) = Device::connected(server.addr, &session, "d1");
    let bad: Vec<String> = vec![
        "{not json".into(),
        "".into(),
        "[1,2,3]".into(),
        "42".into(),
        json!({"type": "ping", "sessionId": session, "version": "1.0.0", "payload": {}})
            .to_string(),
        json!({"type": "teleport", "sessionId": session, "timestamp": 1, "version": "1.0.0", "payload": {}})
            .to_string(),
        json!({"type": "ack", "sessionId": session, "timestamp": 1, "version": "1.0.0", "payload": {"success": "yes"}})
            .to_string(),
        json!({"type": "log", "sessionId": session, "timestamp": "now", "version": "1.0.0", "payload": {"level": "info"}})
            .to_string(),
        // Server-to-device types are not accepted from a device.
        Device::msg(&session, "pong", json!({"serverTime": 1})).to_string(),
    ];
    for text in &bad {
        d.send_raw(text);
        let m = d.recv();
        assert_error(
            &m,
            "INVALID_MESSAGE",
            m["payload"]["severity"].as_str().unwrap(),
        );
        assert_eq!(m["payload"]["recoverable"], true, "{text} → {m}");
        assert_ne!(m["payload"]["severity"], "fatal", "{text} → {m}");
    }
    // Every problem is reported, not just the first.
    d.send_raw(
        &json!({"type": "log", "sessionId": session, "timestamp": "now", "version": "1.0.0", "payload": {}})
            .to_string(),
    );
    let m = d.recv();
    let msg = m["payload"]["message"].as_str().unwrap();
    assert!(
        msg.contains("timestamp")
            && msg.contains("payload.message")
            && msg.contains("payload.level"),
        "{msg}"
    );
    // Still connected and served.
    assert!(d.ping_pong(&session).is_empty());
    assert!(counters(&server).invalid_messages >= bad.len() as u64);
}

#[test]
fn binary_frames_are_invalid_messages() {
    let server = TestServer::start();
    let session = server.session();
    let (mut d, _) = Device::connected(server.addr, &session, "d1");
    let ping = Device::msg(&session, "ping", json!({})).to_string();
    d.ws.send(Message::binary(ping.into_bytes())).unwrap();
    let m = d.recv();
    assert_error(&m, "INVALID_MESSAGE", "error");
    assert!(d.ping_pong(&session).is_empty());
}

#[test]
fn log_is_accepted_silently_and_a_second_connect_is_a_warning() {
    let server = TestServer::start();
    let session = server.session();
    let (mut d, _) = Device::connected(server.addr, &session, "d1");
    for level in ["debug", "info", "warn", "error"] {
        d.send(&Device::msg(
            &session,
            "log",
            json!({"message": format!("hello at {level}"), "level": level}),
        ));
    }
    assert!(d.ping_pong(&session).is_empty(), "log gets no reply");
    d.send(&Device::connect_msg(&session, "d1"));
    let m = d.recv();
    assert_error(&m, "INVALID_MESSAGE", "warning");
    assert!(d.ping_pong(&session).is_empty());
    let (_, s) = crate::common::http(server.addr, "GET", &format!("/session/{session}"), None);
    assert_eq!(s["connectedDevices"], 1);
}

#[test]
fn ping_pong_and_acks() {
    let server = TestServer::start();
    let session = server.session();
    let (mut d, _) = Device::connected(server.addr, &session, "d1");
    let before = crate::support::now_ms();
    d.send(&Device::msg(
        &session,
        "ping",
        json!({"status": "rendering"}),
    ));
    let pong = d.recv();
    assert_eq!(pong["type"], "pong");
    assert_eq!(pong["sessionId"], session);
    let t = pong["payload"]["serverTime"].as_u64().unwrap();
    assert!(t >= before && t <= crate::support::now_ms(), "{pong}");

    server.push(&session, &schema(json!([text("a", "1")])));
    d.recv_type("update");
    d.send(&Device::msg(
        &session,
        "ack",
        json!({"sequenceNumber": 1, "success": true, "applyTime": 2.5}),
    ));
    let health = wait_for(SOON, "the ack in health", || {
        let h = server.handle.session_health(&session).unwrap();
        (h.devices[0].last_ack_sequence == Some(1)).then_some(h)
    });
    assert!(health.devices[0].healthy);
    assert_eq!(counters(&server).acks, 1);

    d.send(&Device::msg(
        &session,
        "ack",
        json!({"sequenceNumber": 1, "success": false, "error": "boom"}),
    ));
    wait_until(SOON, "the failed ack", || {
        counters(&server).failed_acks == 1
    });
    let h = server.handle.session_health(&session).unwrap();
    assert!(!h.devices[0].healthy);
    assert_eq!(h.unhealthy_devices, 1);

    // WebSocket-level pings are answered too.
    d.ws.send(Message::Ping(b"hi".to_vec().into())).unwrap();
    let pong = wait_for(SOON, "a pong frame", || match d.try_read(SOON) {
        Some(Message::Pong(p)) => Some(p),
        _ => None,
    });
    assert_eq!(&pong[..], b"hi");
}

#[test]
fn reload_sends_the_current_schema_at_the_current_sequence_number() {
    let server = TestServer::start();
    let session = server.session();
    let (mut d, _) = Device::connected(server.addr, &session, "d1");
    // Nothing to reload yet: a warning, and the connection stays.
    d.send(&Device::msg(
        &session,
        "reload",
        json!({"reason": "manual"}),
    ));
    let m = d.recv();
    assert_eq!(m["type"], "error", "{m}");
    assert_ne!(m["payload"]["severity"], "fatal");

    let v1 = schema(json!([text("a", "1"), text("b", "2")]));
    let v2 = schema(json!([text("a", "1"), text("b", "3")]));
    server.push(&session, &v1);
    server.push(&session, &v2);
    assert_eq!(d.recv_type("update")["payload"]["sequenceNumber"], 1);
    assert_eq!(d.recv_type("update")["payload"]["type"], "incremental");
    for reason in ["error", "manual", "incompatible"] {
        d.send(&Device::msg(&session, "reload", json!({"reason": reason})));
        let u = d.recv();
        assert_eq!(u["type"], "update", "{u}");
        assert_eq!(u["payload"]["type"], "full");
        assert_eq!(u["payload"]["sequenceNumber"], 2);
        assert_eq!(u["payload"]["schema"], v2);
        assert_eq!(
            u["payload"]["checksum"],
            lumora_hr_mini::protocol::calculate_checksum(&v2)
        );
    }
    // The sequence number did not move, and the other device saw nothing.
    let (_, s) = crate::common::http(server.addr, "GET", &format!("/session/{session}"), None);
    assert_eq!(s["sequenceNumber"], 2);
}

#[test]
fn a_device_closing_is_removed() {
    let server = TestServer::start();
    let session = server.session();
    let (mut d, _) = Device::connected(server.addr, &session, "d1");
    let (_keep, _) = Device::connected(server.addr, &session, "d2");
    d.ws.close(None).unwrap();
    // The server answers the close handshake.
    let end = wait_for(SOON, "the close reply", || match d.ws.read() {
        Ok(Message::Close(_)) => Some(true),
        Ok(_) => None,
        Err(tungstenite::Error::ConnectionClosed) => Some(true),
        Err(e) => panic!("{e}"),
    });
    assert!(end);
    wait_until(SOON, "the device to leave the session", || {
        server.handle.connected_devices(&session).unwrap().len() == 1
    });
    // A raw client that just vanishes is removed too.
    let mut raw = RawWs::open(server.addr, &format!("/ws?session={session}"));
    raw.send_json(&Device::connect_msg(&session, "d3"));
    assert_eq!(raw.recv_json(SOON)["type"], "connected");
    assert_eq!(server.handle.connected_devices(&session).unwrap().len(), 2);
    drop(raw);
    wait_until(SOON, "the vanished device to leave", || {
        server.handle.connected_devices(&session).unwrap().len() == 1
    });
}

#[test]
fn a_flood_is_dropped_with_one_warning() {
    let server = TestServer::start();
    let session = server.session();
    let (mut d, _) = Device::connected(server.addr, &session, "d1");
    const FLOOD: u64 = 300;
    let ping = Message::text(Device::msg(&session, "ping", json!({})).to_string());
    for _ in 0..FLOOD {
        d.ws.write(ping.clone()).unwrap();
    }
    d.ws.flush().unwrap();
    // connect + the flood
    wait_until(SOON, "the flood to be read", || {
        counters(&server).messages_received == FLOOD + 1
    });
    let (mut pongs, mut warnings) = (0u64, 0u64);
    while let Some(m) = d.try_recv(Duration::from_millis(300)) {
        match m["type"].as_str().unwrap() {
            "pong" => pongs += 1,
            "error" => {
                assert_error(&m, "RATE_LIMIT_EXCEEDED", "warning");
                warnings += 1;
            }
            other => panic!("unexpected {other}: {m}"),
        }
    }
    let dropped = counters(&server).rate_limited;
    assert_eq!(pongs + dropped, FLOOD, "every message answered or dropped");
    // A full bucket of 100 (one token went to `connect`), plus what refilled
    // while the server worked through the flood.
    assert!((99..FLOOD).contains(&pongs), "{pongs} pongs");
    // The flood was read well within a second: one warning (two if the
    // machine stalled across a second boundary).
    assert!((1..=2).contains(&warnings), "{warnings} warnings");
    // Dropping is not fatal: once the bucket refills, pings are answered.
    assert!(d.ping_pong(&session).is_empty());
}

#[test]
fn a_sustained_flood_is_closed_with_1008() {
    let server = TestServer::with(|c| c.hub.rate_limit_close_after = Duration::from_secs(1));
    let session = server.session();
    let (mut d, _) = Device::connected(server.addr, &session, "d1");
    let ping = Message::text(Device::msg(&session, "ping", json!({})).to_string());
    let start = Instant::now();
    let mut warnings = 0u64;
    let mut sent = 0u64;
    let close = 'flood: loop {
        assert!(start.elapsed() < SOON, "no 1008 after {sent} messages");
        // ~2,000 messages a second: far over the limit of 100.
        for _ in 0..10 {
            if d.ws.write(ping.clone()).is_err() {
                break;
            }
            sent += 1;
        }
        let _ = d.ws.flush();
        loop {
            match d.try_read(Duration::from_millis(5)) {
                None => break,
                Some(Message::Text(t)) => {
                    let m: Value = serde_json::from_str(t.as_str()).unwrap();
                    if m["type"] == "error" {
                        assert_error(&m, "RATE_LIMIT_EXCEEDED", "warning");
                        warnings += 1;
                    }
                }
                Some(Message::Close(f)) => break 'flood f.map(|f| u16::from(f.code)),
                Some(_) => {}
            }
        }
    };
    let elapsed = start.elapsed();
    assert_eq!(close, Some(1008));
    // Closed only after being over the limit for the whole second.
    assert!(
        elapsed >= Duration::from_secs(1),
        "closed after {elapsed:?}"
    );
    // At most one warning per second of flooding.
    let bound = elapsed.as_secs() + 1;
    assert!(
        (1..=bound).contains(&warnings),
        "{warnings} warnings in {elapsed:?}"
    );
    wait_until(SOON, "the device to be gone", || {
        server
            .handle
            .connected_devices(&session)
            .unwrap()
            .is_empty()
    });
}

#[test]
fn connect_in_the_same_packet_as_the_upgrade() {
    // A client may send its first frames right behind the upgrade request,
    // before it has seen the 101: they must not be lost.
    let server = TestServer::start();
    let session = server.session();
    let connect = Device::connect_msg(&session, "eager").to_string();
    let ping = Device::msg(&session, "ping", json!({})).to_string();
    let mut early = crate::support::masked_frame(Frame::TEXT, connect.as_bytes());
    early.extend(crate::support::masked_frame(Frame::TEXT, ping.as_bytes()));
    early.extend(crate::support::masked_frame(Frame::PING, b"x"));
    let mut raw = RawWs::open_with(server.addr, &format!("/ws?session={session}"), &early);
    // The pong frame may overtake the messages: control frames are answered
    // as they are parsed, messages once the batch is handled.
    let mut texts = Vec::new();
    let mut pong_frame = None;
    while texts.len() < 2 || pong_frame.is_none() {
        let f = raw.read_frame(SOON).expect("connection ended");
        match f.opcode {
            Frame::TEXT => texts.push(f.json()["type"].as_str().unwrap().to_string()),
            0xA => pong_frame = Some(f.payload),
            _ => panic!("unexpected {f:?}"),
        }
    }
    assert_eq!(texts, ["connected", "pong"]);
    assert_eq!(pong_frame.unwrap(), b"x");
}

/// Reads until the close frame; returns its code.
fn raw_close_code(raw: &mut RawWs) -> u16 {
    loop {
        let f = raw.read_frame(SOON).expect("closed without a close frame");
        match f.opcode {
            Frame::CLOSE => return f.close().0,
            Frame::TEXT | Frame::PING => {}
            _ => panic!("unexpected {f:?}"),
        }
    }
}

#[test]
fn fragmented_messages_are_reassembled_around_control_frames() {
    let server = TestServer::start();
    let session = server.session();
    let mut raw = RawWs::open(server.addr, &format!("/ws?session={session}"));
    let connect = Device::connect_msg(&session, "frag").to_string();
    let (a, b) = connect.as_bytes().split_at(connect.len() / 2);
    let mask = Some([1, 2, 3, 4]);
    let mut bytes = crate::support::frame_bytes(false, Frame::TEXT, a, mask);
    bytes.extend(crate::support::frame_bytes(true, Frame::PING, b"mid", mask));
    bytes.extend(crate::support::frame_bytes(true, 0x0, b, mask));
    raw.stream.write_all(&bytes).unwrap();
    let mut got = (false, false);
    while got != (true, true) {
        let f = raw.read_frame(SOON).expect("connection ended");
        match f.opcode {
            0xA => {
                assert_eq!(f.payload, b"mid");
                got.0 = true;
            }
            Frame::TEXT => {
                assert_eq!(f.json()["type"], "connected");
                got.1 = true;
            }
            _ => panic!("unexpected {f:?}"),
        }
    }
}

#[test]
fn broken_frames_close_with_the_matching_code() {
    let server = TestServer::with(|c| c.max_message_bytes = 1024);
    let session = server.session();
    let path = format!("/ws?session={session}");
    let connected = |server: &TestServer| {
        let mut raw = RawWs::open(server.addr, &path);
        raw.send_json(&Device::connect_msg(&session, "raw"));
        assert_eq!(raw.recv_json(SOON)["type"], "connected");
        raw
    };
    // Invalid UTF-8 in a text frame: 1007.
    let mut raw = connected(&server);
    raw.send_frame(Frame::TEXT, b"{\"a\": \"\xff\xfe\"}");
    assert_eq!(raw_close_code(&mut raw), 1007);
    // An unmasked client frame: 1002.
    let mut raw = connected(&server);
    let ping = Device::msg(&session, "ping", json!({})).to_string();
    raw.stream
        .write_all(&crate::support::frame_bytes(
            true,
            Frame::TEXT,
            ping.as_bytes(),
            None,
        ))
        .unwrap();
    assert_eq!(raw_close_code(&mut raw), 1002);
    // Small fragments adding up to more than the message limit: 1009.
    let mut raw = connected(&server);
    let chunk = [b'x'; 600];
    let mask = Some([9, 9, 9, 9]);
    let mut bytes = crate::support::frame_bytes(false, Frame::TEXT, &chunk, mask);
    bytes.extend(crate::support::frame_bytes(true, 0x0, &chunk, mask));
    raw.stream.write_all(&bytes).unwrap();
    assert_eq!(raw_close_code(&mut raw), 1009);
    wait_until(SOON, "all three to be gone", || {
        server
            .handle
            .connected_devices(&session)
            .unwrap()
            .is_empty()
    });
}

/// Messages that arrive in one read with a close frame, or before a frame
/// that breaks the protocol, are all answered, in order, before the close.
#[test]
fn messages_read_with_a_close_are_answered_before_it() {
    let server = TestServer::start();
    let session = server.session();
    let connect = Device::connect_msg(&session, "hasty").to_string();
    let ping = Device::msg(&session, "ping", json!({})).to_string();
    let frames = |tail: &[u8]| {
        let mut all = crate::support::masked_frame(Frame::TEXT, connect.as_bytes());
        all.extend(crate::support::masked_frame(Frame::TEXT, ping.as_bytes()));
        all.extend_from_slice(tail);
        all
    };
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    let cases: [(&str, Vec<u8>, u16); 2] = [
        (
            "a close frame",
            crate::support::masked_frame(Frame::CLOSE, &close),
            1000,
        ),
        // An unmasked frame: a protocol error.
        (
            "an unmasked frame",
            crate::support::frame_bytes(true, Frame::TEXT, b"{}", None),
            1002,
        ),
    ];
    for (what, tail, code) in cases {
        let mut ws = RawWs::open(server.addr, &format!("/ws?session={session}"));
        ws.stream.write_all(&frames(&tail)).unwrap();
        let mut seen = Vec::new();
        loop {
            let f = ws
                .read_frame(SOON)
                .unwrap_or_else(|| panic!("{what}: ended after {seen:?}"));
            match f.opcode {
                Frame::TEXT => seen.push(f.json()["type"].as_str().unwrap_or("?").to_string()),
                Frame::CLOSE => {
                    assert_eq!(f.close().0, code, "{what}");
                    break;
                }
                _ => {}
            }
        }
        assert_eq!(seen, ["connected", "pong"], "{what}");
    }
}
