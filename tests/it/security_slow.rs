//! Slow clients: a request must arrive whole within
//! `request_timeout` (1 s here instead of 10 s), however it is trickled,
//! and an idle keep-alive connection is closed after `keep_alive_timeout`.

use crate::common::TestServer;
use crate::hostile::{Outcome, assert_still_serves, read_response, read_until_closed};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(1);

fn server() -> TestServer {
    TestServer::with(|c| {
        c.request_timeout = TIMEOUT;
        c.keep_alive_timeout = TIMEOUT;
    })
}

/// Writes `bytes` one every 100 ms (then endless filler), watching for the
/// server's answer; returns what came back and when the server closed.
fn trickle(stream: &mut TcpStream, bytes: &[u8], filler: u8) -> (Outcome, Duration) {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut next = bytes.iter().copied().chain(std::iter::repeat(filler));
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not closed after {:?}",
            started.elapsed()
        );
        // Once the server has shut its side, writes may fail: keep reading.
        let _ = stream.write_all(&[next.next().unwrap()]);
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let elapsed = started.elapsed();
    (
        Outcome {
            bytes: received,
            closed: true,
        },
        elapsed,
    )
}

fn assert_timed_out(what: &str, out: &Outcome, elapsed: Duration) {
    eprintln!("{what}: closed after {elapsed:?}");
    assert_eq!(out.status(), 408, "{what}");
    let text = String::from_utf8_lossy(&out.bytes);
    assert!(text.contains("REQUEST_TIMEOUT"), "{text}");
    assert!(text.contains("Connection: close"), "{text}");
    assert!(
        elapsed >= TIMEOUT - Duration::from_millis(100),
        "{what}: closed after only {elapsed:?}"
    );
    assert!(
        elapsed < TIMEOUT * 5,
        "{what}: closed only after {elapsed:?}"
    );
}

#[test]
fn slowloris_heads_get_408_then_close() {
    let server = server();
    let mut s = TcpStream::connect(server.addr).unwrap();
    let (out, elapsed) = trickle(
        &mut s,
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
        b'a',
    );
    assert_timed_out("head trickled one byte per 100 ms", &out, elapsed);

    // Nothing at all after connecting is no better.
    let mut s = TcpStream::connect(server.addr).unwrap();
    let started = Instant::now();
    let out = read_until_closed(&mut s, Duration::from_secs(10));
    assert!(out.closed);
    assert_timed_out("silent connection", &out, started.elapsed());
    assert_still_serves(&server);
}

#[test]
fn slow_bodies_get_408_then_close() {
    let server = server();
    let session = server.session();
    let mut s = TcpStream::connect(server.addr).unwrap();
    let head = format!(
        "POST /send/{session} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    let (out, elapsed) = trickle(&mut s, b"{\"version\": \"1\", \"nodes\": [", b' ');
    assert_timed_out("body trickled one byte per 100 ms", &out, elapsed);
    assert_still_serves(&server);
}

#[test]
fn keep_alive_connections_have_the_same_limits() {
    let server = server();
    // The second request on a connection gets its own clock, and the
    // same deadline.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).0, 200);
    let (out, elapsed) = trickle(&mut s, b"GET /health HTTP/1.1\r\nX-Slow: ", b'a');
    assert_timed_out("second request trickled", &out, elapsed);

    // So does a big body (read into a buffer of its own, past 64 KiB)
    // stalled on a reused connection: a 408, not a quiet close.
    let session = server.session();
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).0, 200);
    let head = format!(
        "POST /send/{session} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    let (out, elapsed) = trickle(&mut s, b"{\"version\": \"1\", \"nodes\": [", b' ');
    assert_timed_out("big body trickled on a reused connection", &out, elapsed);

    // An idle keep-alive connection is closed quietly.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).0, 200);
    let started = Instant::now();
    let out = read_until_closed(&mut s, Duration::from_secs(10));
    let elapsed = started.elapsed();
    eprintln!("idle keep-alive connection closed after {elapsed:?}");
    assert!(out.closed && out.bytes.is_empty(), "{:?}", out.bytes);
    assert!(elapsed >= TIMEOUT - Duration::from_millis(100) && elapsed < TIMEOUT * 5);
    assert_still_serves(&server);
}
