//! Schemas that encode to more than 1 MiB (the limit is 10 MiB) reach
//! devices whichever way they go out: `connected`, `reload`, and the full
//! resync of a device that fell behind. None of them is an "unread reply".

use crate::common::{Device, TestServer, schema};
use crate::support::{SOON, counters, wait_until};
use lumora_hr_mini::protocol::calculate_checksum;
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpStream};

/// A valid schema of about `bytes` bytes of JSON: `bytes / 1000` text
/// nodes of ~1 KB each, the text starting with `tag`.
pub fn big_schema(bytes: usize, tag: &str) -> Value {
    let filler = "x".repeat(960);
    let nodes: Vec<Value> = (0..bytes / 1000)
        .map(|i| json!({"id": format!("n{i}"), "type": "Text", "props": {"text": format!("{tag} {i} {filler}")}}))
        .collect();
    schema(Value::Array(nodes))
}

fn checksum(s: &Value) -> String {
    calculate_checksum(s)
}

#[test]
fn a_device_joins_a_session_whose_schema_is_over_1_mib() {
    let server = TestServer::start();
    let session = server.session();
    let s = big_schema(2_400_000, "join");
    assert!(s.to_string().len() > 2_300_000);
    let (status, reply) = server.push(&session, &s);
    assert_eq!(status, 200, "{reply}");
    let (_device, connected) = Device::connected(server.addr, &session, "big");
    assert_eq!(connected["payload"]["sequenceNumber"], 1);
    assert_eq!(connected["payload"]["checksum"], checksum(&s));
    assert_eq!(connected["payload"]["initialSchema"], s);
    // A second device too, from the same shared encoding.
    let (_d2, c2) = Device::connected(server.addr, &session, "big-2");
    assert_eq!(c2["payload"]["initialSchema"], s);
    assert_ne!(
        c2["payload"]["connectionId"],
        connected["payload"]["connectionId"]
    );
    assert_eq!(counters(&server).schema_encodings, 1);
}

#[test]
fn reload_of_a_schema_over_1_mib_is_answered_in_full() {
    let server = TestServer::start();
    let session = server.session();
    let s = big_schema(2_400_000, "reload");
    assert_eq!(server.push(&session, &s).0, 200);
    let (mut device, _) = Device::connected(server.addr, &session, "reloader");
    let reload = Device::msg(&session, "reload", json!({"reason": "manual"}));
    device.send(&reload);
    let full = device.recv_type("update");
    assert_eq!(full["payload"]["type"], "full");
    assert_eq!(full["payload"]["sequenceNumber"], 1);
    assert_eq!(full["payload"]["checksum"], checksum(&s));
    assert_eq!(full["payload"]["schema"], s);
    // Several at once, unread: each answered by a full update or folded
    // into one already on its way; the device ends with the schema and
    // later updates still apply.
    for _ in 0..5 {
        device.send(&reload);
    }
    wait_until(SOON, "the reloads are handled", || {
        counters(&server).resyncs == 6
    });
    let mut edited = s.clone();
    edited["nodes"][0]["props"]["text"] = json!("edited");
    let (status, reply) = server.push(&session, &edited);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["updateType"], "incremental");
    let mut fulls = 0;
    loop {
        let m = device.recv_type("update");
        if m["payload"]["sequenceNumber"] == 2 {
            assert_eq!(m["payload"]["type"], "incremental");
            assert_eq!(m["payload"]["checksum"], checksum(&edited));
            break;
        }
        assert_eq!(m["payload"]["schema"], s);
        fulls += 1;
    }
    let skipped = counters(&server).resyncs_skipped;
    assert_eq!(fulls + skipped, 5, "{fulls} sent, {skipped} folded");
    assert_eq!(counters(&server).schema_encodings, 1);
}

/// A TCP connection whose receive buffer is small, set before the
/// handshake so the window stays small: a device that reads slowly.
#[cfg(target_os = "linux")]
pub fn small_window_stream(to: SocketAddr) -> TcpStream {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(to) = to else {
        panic!("IPv4 only")
    };
    let remote = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: to.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*to.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let size: libc::c_int = 4096;
    // SAFETY: a fresh socket is owned by the TcpStream at once (closed on
    // panic); setsockopt reads one c_int, connect the sockaddr_in passed
    // with its exact length.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let stream = TcpStream::from_raw_fd(fd);
        let rc = libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw const size).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "SO_RCVBUF: {}", std::io::Error::last_os_error());
        let rc = libc::connect(fd, (&raw const remote).cast(), len);
        assert_eq!(rc, 0, "connect {to}: {}", std::io::Error::last_os_error());
        stream
    }
}

#[test]
fn a_slow_device_is_resynced_with_a_schema_over_1_mib() {
    let server = TestServer::with(|c| c.max_queued_updates = 2);
    let session = server.session();
    let first = big_schema(2_400_000, "v0");
    assert_eq!(server.push(&session, &first).0, 200);
    let stream = small_window_stream(server.addr);
    stream.set_read_timeout(Some(SOON)).unwrap();
    let url = format!("ws://{}/ws?session={session}", server.addr);
    let (ws, _) = tungstenite::client::client(url.as_str(), stream).expect("handshake");
    let mut device = Device { ws };
    device.send(&Device::connect_msg(&session, "slow"));
    // The device reads nothing more while full updates of big schemas pile
    // up behind its `connected`: its queue overflows.
    let mut last = first.clone();
    let mut version = 1;
    while crate::support::stats(&server).counters.slow_device_resyncs == 0 {
        assert!(version < 12, "the queue never overflowed");
        last = big_schema(2_400_000, &format!("v{version}"));
        let (status, reply) = server.push(&session, &last);
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["updateType"], "full");
        version += 1;
    }
    let current = version as u64;
    // Catching up: `connected`, maybe some updates, and last a full update
    // of the current schema at the current sequence number.
    let connected = device.recv_type("connected");
    assert!(connected["payload"]["initialSchema"].is_object());
    loop {
        let m = device.recv_type("update");
        let seq = m["payload"]["sequenceNumber"].as_u64().unwrap();
        if seq == current && m["payload"]["type"] == "full" {
            assert_eq!(m["payload"]["checksum"], checksum(&last));
            assert_eq!(m["payload"]["schema"], last);
            break;
        }
        assert!(seq < current, "update #{seq} after #{current}");
    }
    wait_until(SOON, "the resync is counted", || {
        counters(&server).resyncs >= 1
    });
}
