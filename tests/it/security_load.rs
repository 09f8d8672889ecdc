//! Many connections: thousands of idle connections do not slow
//! `/health` down, and past `max_connections` new connections get 503
//! until some close.

use crate::common::TestServer;
use crate::hostile::{
    assert_still_serves, exchange, open_connections, read_until_closed, request, timed_health,
    wait_until,
};
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn health_answers_quickly_with_2000_idle_connections() {
    const IDLE: usize = 2000;
    let server = TestServer::with(|c| c.request_timeout = Duration::from_secs(120));
    let idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    wait_until(
        Duration::from_secs(30),
        "2,000 accepted connections",
        || open_connections(&server) >= IDLE as u64,
    );
    let mut samples: Vec<Duration> = (0..50)
        .map(|_| {
            let (status, took) = timed_health(server.addr);
            assert_eq!(status, 200);
            took
        })
        .collect();
    samples.sort();
    let (min, median, max) = (
        samples[0],
        samples[samples.len() / 2],
        samples[samples.len() - 1],
    );
    eprintln!(
        "/health with {IDLE} idle connections open: min {min:?}, median {median:?}, max {max:?} (50 requests, new connection each)"
    );
    // The goal is < 100 ms; asserted generously so a busy machine does not
    // make the test flaky.
    assert!(max < Duration::from_secs(2), "max {max:?}");
    drop(idle);
    assert_still_serves(&server);
}

#[test]
fn past_max_connections_new_ones_get_503_until_some_close() {
    const MAX: usize = 50;
    let server = TestServer::with(|c| c.max_connections = MAX);
    let mut held: Vec<TcpStream> = (0..MAX)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    wait_until(Duration::from_secs(10), "50 accepted connections", || {
        open_connections(&server) >= MAX as u64
    });
    for _ in 0..5 {
        // Read first, then send: the 503 comes without a request.
        let mut s = TcpStream::connect(server.addr).unwrap();
        let out = read_until_closed(&mut s, Duration::from_secs(10));
        assert!(out.closed);
        assert_eq!(out.status(), 503);
        let text = String::from_utf8_lossy(&out.bytes);
        assert!(text.contains("SERVICE_UNAVAILABLE"), "{text}");
    }
    for _ in 0..5 {
        // A client that sends its request first also reads the 503.
        let (status, body) = exchange(
            TcpStream::connect(server.addr).unwrap(),
            &request("GET", "/health", &[], None),
        );
        assert_eq!(status, 503, "{body}");
    }
    let stats = server.handle.stats().unwrap();
    assert!(stats.connections.refused >= 10, "{stats:?}");

    // Closing ten makes room for new ones.
    held.drain(..10);
    wait_until(Duration::from_secs(10), "closed connections to go", || {
        open_connections(&server) <= (MAX - 10) as u64
    });
    let (status, _) = timed_health(server.addr);
    assert_eq!(status, 200);

    // A held connection was never disturbed: it is still served.
    let mut s = held.pop().unwrap();
    s.write_all(&request("GET", "/health", &[], None)).unwrap();
    let out = read_until_closed(&mut s, Duration::from_secs(10));
    assert_eq!(out.status(), 200);

    drop(held);
    assert_still_serves(&server);
}

#[test]
fn keep_alive_requests_do_not_pile_up_timers() {
    let server = TestServer::start();
    let mut s = TcpStream::connect(server.addr).unwrap();
    for _ in 0..2000 {
        s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        assert_eq!(crate::hostile::read_response(&mut s).0, 200);
    }
    let stats = server.handle.stats().unwrap();
    let pending = stats.timers_pending;
    eprintln!("timers pending after 2,000 keep-alive requests: {pending}");
    // A live deadline timer per connection (and maybe one stale), not
    // two per request for 10 to 30 s each.
    assert!(pending < 10, "{stats:?}");
    drop(s);
    assert_still_serves(&server);
}
