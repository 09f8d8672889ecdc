//! The headless device sees why the server refused it, however the bytes
//! of the refusal arrive: a fake server answers the upgrade with `101` and
//! a close frame (4404, 4410, 4426) in one write — one TCP segment —,
//! with or without closing the socket right after, or byte by byte.

use lumora_hr_mini::client::{Fleet, FleetConfig, FleetEnd, WsUrl};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
enum Delivery {
    /// 101 + close frame in one write, then the socket is closed at once.
    OneSegmentThenFin,
    /// 101 + close frame in one write; the socket stays open until the
    /// device closes it.
    OneSegmentStayOpen,
    /// Every byte in its own write.
    ByteByByte,
}

/// Serves `upgrades` WebSocket upgrades, each answered with `101` and a
/// close frame `code`/`reason` delivered as `how` says.
fn fake_server(code: u16, reason: &'static str, how: Delivery) -> (SocketAddr, JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut byte).unwrap(), 1, "request cut short");
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let key = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_string())
            })
            .expect("Sec-WebSocket-Key");
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let mut bytes = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .into_bytes();
        // Unmasked close frame from the server: FIN + opcode 8.
        bytes.push(0x88);
        bytes.push((2 + reason.len()) as u8);
        bytes.extend_from_slice(&code.to_be_bytes());
        bytes.extend_from_slice(reason.as_bytes());
        match how {
            Delivery::OneSegmentThenFin => {
                s.write_all(&bytes).unwrap();
                drop(s);
            }
            Delivery::OneSegmentStayOpen => {
                s.write_all(&bytes).unwrap();
                // Wait for the device to hang up (it may send its connect
                // and a close reply first).
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink);
            }
            Delivery::ByteByByte => {
                for b in &bytes {
                    s.write_all(std::slice::from_ref(b)).unwrap();
                    std::thread::sleep(Duration::from_millis(1));
                }
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink);
            }
        }
        bytes.len()
    });
    (addr, thread)
}

/// Runs one device against `addr`; stopped after 10 s if it keeps
/// retrying (which is the failure this file is about).
fn run_device(addr: SocketAddr) -> FleetEnd {
    let url = WsUrl::parse(&format!("ws://{addr}/ws?session=unknown")).unwrap();
    let mut cfg = FleetConfig::new(url, 1);
    cfg.backoff_min = Duration::from_millis(20);
    let mut fleet = Fleet::new(cfg).unwrap();
    let stop = fleet.stop_handle();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(Duration::from_secs(10)).is_err() {
            stop.stop();
        }
    });
    let mut retries = Vec::new();
    let end = fleet
        .run(|_, _, event| {
            if let lumora_hr_mini::client::FleetEvent::Disconnected { reason, .. } = event {
                retries.push(reason.to_string());
            }
        })
        .unwrap();
    let _ = done_tx.send(());
    watchdog.join().unwrap();
    assert!(retries.is_empty(), "the device retried: {retries:?}");
    end
}

#[test]
fn a_close_frame_in_the_same_segment_as_the_101_ends_the_device() {
    for how in [
        Delivery::OneSegmentThenFin,
        Delivery::OneSegmentStayOpen,
        Delivery::ByteByByte,
    ] {
        for (code, reason) in [
            (4404, "Session not found"),
            (4410, "Session expired"),
            (4426, "Unsupported protocol version"),
        ] {
            let (addr, server) = fake_server(code, reason, how);
            let end = run_device(addr);
            assert_eq!(
                end,
                FleetEnd::SessionEnded {
                    code,
                    reason: reason.into()
                },
                "{how:?} {code}"
            );
            server.join().unwrap();
        }
    }
}

/// Runs `lumora-hr-mini device URL`; kills it after 15 s (a device that
/// keeps retrying is the failure looked for). Returns exit code and stdout.
fn device_command(url: &str) -> (Option<i32>, String) {
    let mut child = crate::common::binary(&["device", url])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    let _ = child.stdout.take().unwrap().read_to_string(&mut out);
    (code, out)
}

#[test]
fn the_device_command_says_session_not_found_and_exits_1() {
    for how in [Delivery::OneSegmentThenFin, Delivery::OneSegmentStayOpen] {
        let (addr, server) = fake_server(4404, "Session not found", how);
        let (code, stdout) = device_command(&format!("ws://{addr}/ws?session=UNKNOWN"));
        assert_eq!(code, Some(1), "{how:?}: {stdout}");
        assert!(stdout.contains("session not found"), "{how:?}: {stdout}");
        assert!(!stdout.contains("retrying"), "{how:?}: {stdout}");
        server.join().unwrap();
    }
}

#[test]
fn the_device_command_against_a_real_server_with_an_unknown_session() {
    let s = crate::common::TestServer::start();
    let (code, stdout) = device_command(&format!(
        "ws://{}/ws?session=00000000-0000-4000-8000-000000000000",
        s.addr
    ));
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("session not found"), "{stdout}");
    assert!(!stdout.contains("retrying"), "{stdout}");
}
