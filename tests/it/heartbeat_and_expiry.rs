//! Heartbeat (WebSocket pings, idle timeout) and session expiry / extension
//!, with the timers shortened through `Config`.

use crate::common::{Device, TestServer, http, schema, text};
use crate::support::{
    DeviceExt, Frame, RawWs, SOON, counters, now_ms, stats, wait_for, wait_until,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tungstenite::Message;

fn heartbeat(ping_ms: u64, idle_ms: u64) -> TestServer {
    TestServer::with(|c| {
        c.hub.ping_interval = Duration::from_millis(ping_ms);
        c.hub.idle_timeout = Duration::from_millis(idle_ms);
    })
}

fn connected_raw(server: &TestServer, session: &str, id: &str) -> RawWs {
    let mut raw = RawWs::open(server.addr, &format!("/ws?session={session}"));
    raw.send_json(&Device::connect_msg(session, id));
    assert_eq!(raw.recv_json(SOON)["type"], "connected");
    raw
}

fn device_count(server: &TestServer, session: &str) -> usize {
    server.handle.connected_devices(session).unwrap().len()
}

#[test]
fn devices_receive_websocket_pings() {
    let server = heartbeat(200, 60_000);
    let session = server.session();
    let (mut d, _) = Device::connected(server.addr, &session, "d1");
    let mut pings = 0;
    wait_until(SOON, "three ping frames", || {
        match d.try_read(Duration::from_millis(50)) {
            Some(Message::Ping(_)) => pings += 1,
            Some(other) => panic!("unexpected {other:?}"),
            None => {}
        }
        pings == 3
    });
    // A device that has not sent `connect` yet is pinged too.
    let mut raw = RawWs::open(server.addr, &format!("/ws?session={session}"));
    let f = raw.read_frame(SOON).expect("a frame");
    assert_eq!(f.opcode, Frame::PING, "{f:?}");
}

#[test]
fn a_silent_device_is_closed_after_the_idle_timeout() {
    let server = heartbeat(150, 500);
    let session = server.session();
    let other = server.session();
    // Registered, then silent: it never answers the pings it gets.
    let mut silent = connected_raw(&server, &session, "silent");
    // Upgraded but never even sent `connect` (its 10 s connect deadline is
    // further away than the idle timeout).
    let mut mute = RawWs::open(server.addr, &format!("/ws?session={other}"));
    assert_eq!(device_count(&server, &session), 1);

    for raw in [&mut silent, &mut mute] {
        let mut pings = 0;
        let close = loop {
            let f = raw.read_frame(SOON).expect("closed without a close frame");
            match f.opcode {
                Frame::PING => pings += 1,
                Frame::CLOSE => break f.close(),
                _ => panic!("unexpected {f:?}"),
            }
        };
        assert_eq!(close, (1000, "Connection timeout".to_string()));
        assert!(pings >= 1, "pinged before being dropped");
        // The server then ends the TCP connection.
        assert!(raw.read_frame(SOON).is_none());
    }
    assert_eq!(device_count(&server, &session), 0);
    assert_eq!(stats(&server).total_devices, 0);
}

#[test]
fn a_device_answering_pings_stays_connected() {
    let server = heartbeat(100, 400);
    let session = server.session();
    let (mut d, _) = Device::connected(server.addr, &session, "d1");
    // A raw device that answers pings by hand, with nothing else.
    let mut raw = connected_raw(&server, &session, "raw");
    let start = Instant::now();
    let mut pings = (0, 0);
    // Keep going past several idle timeouts, and until both were pinged a
    // few times (tungstenite answers pings during `read`).
    while start.elapsed() < Duration::from_millis(1500) || pings.0 < 5 || pings.1 < 5 {
        assert!(start.elapsed() < SOON, "too few pings: {pings:?}");
        match d.try_read(Duration::from_millis(20)) {
            Some(Message::Ping(_)) => pings.0 += 1,
            Some(other) => panic!("unexpected {other:?}"),
            None => {}
        }
        // The raw device reads whatever is there and answers pings.
        if let Some(f) = raw.try_frame(Duration::from_millis(20)) {
            let f = f.expect("the raw device was disconnected");
            assert_eq!(f.opcode, Frame::PING, "{f:?}");
            pings.1 += 1;
            raw.send_frame(0xA, &f.payload);
        }
    }
    assert_eq!(device_count(&server, &session), 2);
    assert!(d.ping_pong(&session).is_empty());
    assert_eq!(server.handle.cleanup_stale_connections().unwrap(), 0);
    let h = server.handle.session_health(&session).unwrap();
    assert_eq!(h.healthy_devices, 2, "{h:?}");
}

#[test]
fn an_expiring_session_closes_its_devices_with_4410() {
    // Long enough for the device to connect on a busy machine.
    let ttl = Duration::from_millis(1500);
    let server = TestServer::with(|c| c.hub.session_ttl = ttl);
    let (_, created) = http(server.addr, "POST", "/session/new", None);
    let session = created["sessionId"].as_str().unwrap().to_string();
    let expires_at = created["expiresAt"].as_u64().unwrap();
    let (mut d, _) = Device::connected(server.addr, &session, "d1");
    let idle = server.session(); // an expiring session without devices

    let m = d.recv();
    assert_eq!(m["type"], "error", "{m}");
    assert_eq!(m["payload"]["code"], "SESSION_EXPIRED");
    assert_eq!(m["payload"]["severity"], "fatal");
    assert_eq!(m["payload"]["recoverable"], false);
    // Never early (the two clocks may differ by a few ms).
    assert!(now_ms() + 20 >= expires_at, "expired early");
    assert_eq!(d.expect_close(), (4410, "Session expired".into()));

    // Gone for the API too, and cleaned up by the timer (no request needed).
    wait_until(SOON, "both sessions to be cleaned up", || {
        stats(&server).sessions == 0
    });
    assert_eq!(counters(&server).sessions_expired, 2);
    for id in [&session, &idle] {
        let (status, body) = http(server.addr, "GET", &format!("/session/{id}"), None);
        assert!(
            status == 410 && body["code"] == "SESSION_EXPIRED",
            "{status} {body}"
        );
    }
    let (status, _) = server.push(&session, &schema(json!([text("a", "1")])));
    assert_eq!(status, 410);
}

#[test]
fn an_expired_session_refuses_devices_with_4410() {
    let server = TestServer::with(|c| c.hub.session_ttl = Duration::from_millis(200));
    let session = server.session();
    wait_until(SOON, "the session to expire", || {
        http(server.addr, "GET", &format!("/session/{session}"), None).0 != 200
    });
    let mut d = server.device(&session);
    assert_eq!(d.expect_close(), (4410, "Session expired".into()));
}

#[test]
fn extending_keeps_devices_past_the_original_expiry() {
    let ttl = Duration::from_millis(1500);
    let server = TestServer::with(|c| c.hub.session_ttl = ttl);
    let (_, created) = http(server.addr, "POST", "/session/new", None);
    let session = created["sessionId"].as_str().unwrap().to_string();
    let first = created["expiresAt"].as_u64().unwrap();
    let (mut d, _) = Device::connected(server.addr, &session, "d1");

    let (status, r) = http(
        server.addr,
        "POST",
        &format!("/session/{session}/extend?seconds=3"),
        None,
    );
    assert_eq!(status, 200, "{r}");
    let second = r["expiresAt"].as_u64().unwrap();
    assert!(second > first + 1000, "{first} → {second}");

    // Well past the original expiry: still there and served.
    wait_until(SOON, "the original expiry to pass", || {
        assert!(d.try_recv(Duration::from_millis(20)).is_none());
        now_ms() > first + 300
    });
    assert!(d.ping_pong(&session).is_empty());
    let (status, s) = http(server.addr, "GET", &format!("/session/{session}"), None);
    assert_eq!(status, 200);
    assert_eq!(s["connectedDevices"], 1);
    assert_eq!(s["expiresAt"], second);

    // Then it expires at the new time.
    let m: Value = wait_for(SOON, "the expiry", || d.try_recv(Duration::from_millis(50)));
    assert_eq!(m["payload"]["code"], "SESSION_EXPIRED", "{m}");
    assert!(now_ms() + 20 >= second, "expired before the extended time");
    assert_eq!(d.expect_close().0, 4410);
}

#[test]
fn extending_through_the_handle() {
    let server = TestServer::with(|c| c.hub.session_ttl = Duration::from_secs(60));
    let created = server.handle.create_session().unwrap();
    let later = server
        .handle
        .extend_session(&created.session_id, Duration::from_secs(3600))
        .unwrap();
    assert!(later >= created.expires_at_ms + 3_500_000);
    let s = server.handle.get_session(&created.session_id).unwrap();
    assert_eq!(s.expires_at_ms, later);
    assert!(
        server
            .handle
            .extend_session("nope", Duration::from_secs(1))
            .is_err()
    );
}
