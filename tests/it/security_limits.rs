//! Hostile input against a real server: oversized and
//! malformed requests, bad WebSocket upgrades and frames, and peers that
//! send without reading. Each test ends with the normal device flow to show
//! the server still serves.

use crate::common::{Device, TestServer};
use crate::hostile::{
    Outcome, assert_still_serves, read_response, read_until_closed, timed_health,
};
use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::Message;

/// Sends `bytes` at once and collects what comes back until the server
/// closes the connection.
fn blast(server: &TestServer, bytes: &[u8]) -> Outcome {
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(bytes).unwrap();
    let out = read_until_closed(&mut s, Duration::from_secs(10));
    assert!(out.closed, "the server keeps the connection open");
    out
}

#[test]
fn oversized_heads_are_refused_with_431() {
    let server = TestServer::start();
    let pad = "a".repeat(20 * 1024);
    let big = format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: {pad}\r\n\r\n");
    assert_eq!(blast(&server, big.as_bytes()).status(), 431);

    // The same head arriving without its end: refused once past 16 KiB.
    let unfinished = format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: {pad}");
    assert_eq!(blast(&server, unfinished.as_bytes()).status(), 431);

    let mut many = String::from("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for i in 0..200 {
        many.push_str(&format!("X-H{i}: {i}\r\n"));
    }
    many.push_str("\r\n");
    let out = blast(&server, many.as_bytes());
    assert_eq!(out.status(), 431);
    let body = String::from_utf8_lossy(&out.bytes);
    assert!(body.contains("REQUEST_HEADER_FIELDS_TOO_LARGE"), "{body}");

    // 64 headers exactly are fine.
    let mut at_limit = String::from("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for i in 0..62 {
        at_limit.push_str(&format!("X-H{i}: {i}\r\n"));
    }
    at_limit.push_str("Connection: close\r\n\r\n");
    assert_eq!(blast(&server, at_limit.as_bytes()).status(), 200);
    assert_still_serves(&server);
}

#[test]
fn garbage_gets_400_and_the_connection_is_closed() {
    let server = TestServer::start();
    let inputs: [&[u8]; 5] = [
        b"\x00\x01\x02\x03garbage\r\n\r\n",
        // A TLS ClientHello sent to the plain HTTP port.
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xaa\xbb\r\n\r\n",
        b"GET /health\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n",
        b"POST /session/new HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n",
    ];
    for input in inputs {
        let out = blast(&server, input);
        assert_eq!(out.status(), 400, "{:?}", String::from_utf8_lossy(input));
    }
    // Other refusals that close: chunked bodies (411), huge bodies (413),
    // other HTTP versions (505).
    let chunked = b"POST /session/new HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(blast(&server, chunked).status(), 411);
    let huge =
        b"POST /session/new HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999\r\n\r\n";
    assert_eq!(blast(&server, huge).status(), 413);
    assert_eq!(
        blast(&server, b"GET /health HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n").status(),
        505
    );
    assert_still_serves(&server);
}

const UPGRADE: &str = "GET /ws?session=x HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Sends one request and reads one response (the connection may stay
/// open: a refused upgrade is still a well-framed request).
fn one_response(server: &TestServer, req: &str) -> (u16, String) {
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let (status, body) = read_response(&mut s);
    (status, body.to_string())
}

#[test]
fn bad_websocket_upgrades_are_refused() {
    let server = TestServer::start();
    let session = server.session();
    let upgrade = UPGRADE.replace("session=x", &format!("session={session}"));
    for key in [
        "short",
        "",
        "dGhlIHNhbXBsZSBub25jZQ",
        "dGhlIHNhbXBsZSBub25jZQ=!",
    ] {
        let req = upgrade.replace("dGhlIHNhbXBsZSBub25jZQ==", key);
        let (status, body) = one_response(&server, &req);
        assert_eq!(status, 400, "key {key:?}: {body}");
    }
    let req = upgrade.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "");
    assert_eq!(one_response(&server, &req).0, 400);
    for version in ["8", "14", "banana"] {
        let req = upgrade.replace("Version: 13", &format!("Version: {version}"));
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let out = read_until_closed(&mut s, Duration::from_millis(500));
        assert_eq!(out.status(), 426, "version {version}");
        let head = String::from_utf8_lossy(&out.bytes);
        assert!(head.contains("Sec-WebSocket-Version: 13\r\n"), "{head}");
    }
    let plain = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    assert_eq!(blast(&server, plain.as_bytes()).status(), 426);
    // The same request with a good key and version upgrades.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(upgrade.as_bytes()).unwrap();
    let out = read_until_closed(&mut s, Duration::from_millis(300));
    assert_eq!(out.status(), 101);
    assert_still_serves(&server);
}

/// A masked client frame.
fn frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mask = [0x11, 0x22, 0x33, 0x44];
    let mut f = vec![(u8::from(fin) << 7) | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

#[test]
fn websocket_messages_over_the_cap_close_with_1009() {
    let server = TestServer::start();
    let session = server.session();
    let (mut watcher, _) = Device::connected(server.addr, &session, "watcher");

    // One 70 KiB text message.
    let (mut d, _) = Device::connected(server.addr, &session, "big");
    d.ws.send(Message::text("x".repeat(70 * 1024))).unwrap();
    assert_eq!(d.expect_close().0, 1009);

    // A frame announcing a terabyte: refused from its header alone.
    let (mut d, _) = Device::connected(server.addr, &session, "liar");
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    d.ws.get_mut().write_all(&header).unwrap();
    assert_eq!(d.expect_close().0, 1009);

    // Small fragments adding up to more than 64 KiB.
    let (mut d, _) = Device::connected(server.addr, &session, "fragments");
    let chunk = vec![b'y'; 8 * 1024];
    let mut bytes = frame(0x1, false, &chunk);
    for _ in 0..9 {
        bytes.extend(frame(0x0, false, &chunk));
    }
    let _ = d.ws.get_mut().write_all(&bytes);
    assert_eq!(d.expect_close().0, 1009);

    // The other device did not notice.
    watcher.send(&Device::msg(&session, "ping", serde_json::json!({})));
    watcher.recv_type("pong");
    assert_still_serves(&server);
}

/// How a peer that sends without reading was stopped (with the bytes it
/// got out, printed).
#[derive(Debug)]
#[allow(dead_code)] // the counts are read through Debug
enum Stopped {
    /// Writes blocked for 2 s: the server stopped reading.
    HeldBack(usize),
    /// The server disconnected it.
    CutOff(usize),
    /// Not at all: every byte up to the maximum was taken.
    Never,
}

/// Writes `unit` over and over without reading anything back, for at most
/// `max_bytes`, until writes block for 2 s or fail.
fn send_without_reading(stream: &mut TcpStream, unit: &[u8], max_bytes: usize) -> Stopped {
    stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let batch: Vec<u8> = unit
        .iter()
        .copied()
        .cycle()
        .take(unit.len() * (65536 / unit.len()))
        .collect();
    let mut sent = 0;
    while sent < max_bytes {
        match stream.write(&batch) {
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Stopped::HeldBack(sent);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Stopped::CutOff(sent),
        }
    }
    Stopped::Never
}

const FLOOD_MAX: usize = 32 * 1024 * 1024;

#[test]
fn a_client_that_pipelines_without_reading_is_held_back() {
    let server = TestServer::start();
    let mut s = TcpStream::connect(server.addr).unwrap();
    let req = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let stopped = send_without_reading(&mut s, req, FLOOD_MAX);
    let (status, latency) = timed_health(server.addr);
    eprintln!(
        "pipelining client: {stopped:?} (bytes sent); /health meanwhile: {status} in {latency:?}"
    );
    assert!(
        matches!(stopped, Stopped::HeldBack(_)),
        "a pipelining client is paused, not dropped or let through: {stopped:?}"
    );
    assert_eq!(status, 200);
    assert!(latency < Duration::from_secs(2), "{latency:?}");
    drop(s);
    assert_still_serves(&server);
}

#[test]
fn a_device_that_pings_without_reading_is_stopped() {
    let server = TestServer::start();
    let session = server.session();
    let (mut d, _) = Device::connected(server.addr, &session, "pinger");
    let ping = frame(0x9, true, &[b'p'; 125]);
    let stopped = send_without_reading(d.ws.get_mut(), &ping, FLOOD_MAX);
    let (status, latency) = timed_health(server.addr);
    eprintln!(
        "pinging device: {stopped:?} (bytes sent); /health meanwhile: {status} in {latency:?}"
    );
    assert!(
        !matches!(stopped, Stopped::Never),
        "the server read {FLOOD_MAX} bytes of pings whose pongs nobody reads"
    );
    assert_eq!(status, 200);
    assert!(latency < Duration::from_secs(2), "{latency:?}");
    drop(d);
    assert_still_serves(&server);
}

#[test]
fn a_device_flooding_messages_is_rate_limited_then_closed_with_1008() {
    let server = TestServer::with(|c| c.hub.rate_limit_close_after = Duration::from_secs(2));
    let session = server.session();
    let (mut bystander, _) = Device::connected(server.addr, &session, "bystander");
    let (mut flooder, _) = Device::connected(server.addr, &session, "flooder");

    let flood_session = session.clone();
    let flood = std::thread::spawn(move || {
        // 1,000 pings a second in batches of 10, reading replies between
        // batches, until the server closes the connection.
        flooder
            .ws
            .get_mut()
            .set_read_timeout(Some(Duration::from_millis(2)))
            .unwrap();
        let ping = Device::msg(&flood_session, "ping", serde_json::json!({})).to_string();
        let (mut sent, mut pongs, mut warnings) = (0u32, 0u32, 0u32);
        let started = Instant::now();
        let mut next = started;
        loop {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "not closed after {sent} messages"
            );
            for _ in 0..10 {
                if flooder.ws.send(Message::text(ping.clone())).is_err() {
                    break;
                }
                sent += 1;
            }
            loop {
                match flooder.ws.read() {
                    Ok(Message::Text(t)) => {
                        let m: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                        match m["type"].as_str() {
                            Some("pong") => pongs += 1,
                            Some("error") => {
                                assert_eq!(m["payload"]["code"], "RATE_LIMIT_EXCEEDED");
                                assert_eq!(m["payload"]["severity"], "warning");
                                warnings += 1;
                            }
                            _ => {}
                        }
                    }
                    Ok(Message::Close(f)) => {
                        let code = f.map(|f| u16::from(f.code));
                        return (code, sent, pongs, warnings, started.elapsed());
                    }
                    Ok(_) => {}
                    Err(tungstenite::Error::Io(e))
                        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                    {
                        break;
                    }
                    Err(e) => panic!("connection ended without a close frame: {e}"),
                }
            }
            next += Duration::from_millis(10);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    });

    // Once the flood is being dropped by the rate limit (and while it goes
    // on: it ends only with the 1008 close), the bystander is served.
    crate::common::wait_until(
        crate::support::SOON,
        "the flood to hit the rate limit",
        || crate::support::counters(&server).rate_limited > 0,
    );
    for _ in 0..3 {
        let started = Instant::now();
        bystander.send(&Device::msg(&session, "ping", serde_json::json!({})));
        bystander.recv_type("pong");
        eprintln!("bystander ping during the flood: {:?}", started.elapsed());
    }

    let (code, sent, pongs, warnings, elapsed) = flood.join().unwrap();
    eprintln!(
        "flooder: {sent} messages sent, {pongs} answered, {warnings} rate-limit warnings, closed with {code:?} after {elapsed:?}"
    );
    assert_eq!(code, Some(1008));
    assert!(warnings >= 1, "no RATE_LIMIT_EXCEEDED warning");
    assert!(
        warnings as f64 <= elapsed.as_secs_f64() + 1.0,
        "at most one warning a second"
    );
    assert!(
        (pongs as f64) < 100.0 * elapsed.as_secs_f64() + 150.0,
        "{pongs} answered in {elapsed:?}: the limit let too many through"
    );
    bystander.send(&Device::msg(&session, "ping", serde_json::json!({})));
    bystander.recv_type("pong");
    assert_still_serves(&server);
}

#[test]
fn binary_frames_count_against_the_rate_limit() {
    let server = TestServer::start();
    let session = server.session();
    let (mut d, _) = Device::connected(server.addr, &session, "binary");
    let started = Instant::now();
    let burst: Vec<u8> = (0..500).flat_map(|_| frame(0x2, true, b"\x00")).collect();
    d.ws.get_mut().write_all(&burst).unwrap();
    d.ws.get_mut()
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let (mut answered, mut warnings) = (0u32, 0u32);
    loop {
        match d.ws.read() {
            Ok(Message::Text(t)) => {
                let m: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                match m["payload"]["code"].as_str() {
                    Some("INVALID_MESSAGE") => answered += 1,
                    Some("RATE_LIMIT_EXCEEDED") => warnings += 1,
                    other => panic!("unexpected {other:?}: {m}"),
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let elapsed = started.elapsed();
    eprintln!("500 binary frames: {answered} answered, {warnings} warnings in {elapsed:?}");
    assert_eq!(warnings, 1);
    assert!(
        f64::from(answered) <= 100.0 + 100.0 * elapsed.as_secs_f64() + 5.0,
        "{answered} answered"
    );
    drop(d);
    assert_still_serves(&server);
}

#[test]
fn a_refused_client_that_keeps_sending_is_dropped() {
    let server = TestServer::start();
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(b"\x00garbage\r\n\r\n").unwrap();
    s.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let started = Instant::now();
    let chunk = vec![b'z'; 64 * 1024];
    let ended = loop {
        match s.write(&chunk) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => break e,
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still accepting bytes after 10 s"
        );
    };
    eprintln!("sender cut off after {:?}: {ended}", started.elapsed());
    let (status, latency) = timed_health(server.addr);
    assert_eq!(status, 200);
    assert!(latency < Duration::from_secs(2), "{latency:?}");
    assert_still_serves(&server);
}
