//! Peers that ask without reading the answers: memory stays bounded.

use crate::common::TestServer;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::Message;

fn stats_requests(server: &TestServer) -> u64 {
    server.handle.stats().unwrap().counters.http_requests
}

#[test]
fn pipelined_requests_wait_while_responses_are_unread() {
    let server = TestServer::with(|c| c.max_pending_replies = 16 * 1024);
    const N: usize = 60_000;
    let mut sock = TcpStream::connect(server.addr).unwrap();
    let mut writer = sock.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let req = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        let all: Vec<u8> = req.iter().copied().cycle().take(req.len() * N).collect();
        writer.write_all(&all)
    });
    // Without reading, the server must stop answering at some point: the
    // count of handled requests stops growing well short of N.
    let mut last = 0;
    let mut stable_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && stable_since.elapsed() < Duration::from_millis(500) {
        std::thread::sleep(Duration::from_millis(50));
        let n = stats_requests(&server);
        if n != last {
            last = n;
            stable_since = Instant::now();
        }
    }
    let paused_at = stats_requests(&server);
    assert!(
        paused_at < N as u64,
        "the server kept answering an unread pipeline: {paused_at}"
    );
    // Reading everything resumes the work: every request is answered. All
    // responses are the same size, so counting bytes counts responses.
    let sample = {
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut b = vec![0u8; 4096];
        let n = s.read(&mut b).unwrap();
        b.truncate(n);
        b
    };
    assert!(sample.starts_with(b"HTTP/1.1 200 OK"));
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let expected = sample.len() * N;
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0usize;
    while total < expected {
        let n = sock.read(&mut buf).expect("responses keep coming");
        assert!(n > 0, "connection closed after {total} of {expected} bytes");
        total += n;
    }
    assert_eq!(total, expected);
    sender.join().unwrap().unwrap();
}

#[test]
fn a_device_that_pings_without_reading_is_disconnected() {
    let server = TestServer::with(|c| c.max_pending_replies = 64 * 1024);
    let session = server.session();
    let stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let url = format!("ws://{}/ws?session={session}", server.addr);
    let (mut ws, _) = tungstenite::client::client(url.as_str(), stream).unwrap();
    let payload = vec![7u8; 120];
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sent = 0u64;
    let cut_off = loop {
        if Instant::now() > deadline {
            break false;
        }
        match ws.send(Message::Ping(payload.clone().into())) {
            Ok(()) => sent += 1,
            Err(_) => break true,
        }
    };
    assert!(cut_off, "still connected after {sent} unread pings");
    // Everyone else is still served.
    let (status, body) = crate::common::http(server.addr, "GET", "/health", None);
    assert_eq!(status, 200, "{body}");
}
