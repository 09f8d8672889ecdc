//! Helpers for the `security_*` attack tests: raw sockets (optionally from
//! another loopback address, to play a remote machine), reading single
//! responses off keep-alive connections, waiting for conditions, and the
//! normal device flow every attack test ends with.
#![allow(dead_code)]

use crate::common::{Device, TestServer, parse_response, schema, text};
use serde_json::{Value, json};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The address tests use to play a machine on the LAN. It is a loopback
/// address (Linux routes all of 127/8 to `lo` without setup), so servers
/// in these tests narrow `Config::is_local_peer` to [`only_127_0_0_1`].
pub const REMOTE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// `Config::is_local_peer` for tests: only 127.0.0.1 is "this machine".
pub fn only_127_0_0_1(ip: std::net::IpAddr) -> bool {
    ip == std::net::IpAddr::V4(Ipv4Addr::LOCALHOST)
}

pub use crate::common::wait_until;

/// A TCP connection to `to` whose source address is `from`.
#[cfg(target_os = "linux")]
pub fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(to) = to else {
        panic!("IPv4 only")
    };
    let sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a fresh socket is owned by the TcpStream at once (closed on
    // panic); bind and connect read only the sockaddr_in passed with its
    // exact length.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let stream = TcpStream::from_raw_fd(fd);
        let local = sockaddr(from, 0);
        let rc = libc::bind(fd, (&raw const local).cast(), len);
        assert_eq!(rc, 0, "bind {from}: {}", std::io::Error::last_os_error());
        let remote = sockaddr(*to.ip(), to.port());
        let rc = libc::connect(fd, (&raw const remote).cast(), len);
        assert_eq!(rc, 0, "connect {to}: {}", std::io::Error::last_os_error());
        stream
    }
}

/// A request with `Host: 127.0.0.1`, `Connection: close`, the given extra
/// header lines, and a JSON body if one is given.
pub fn request(method: &str, path: &str, headers: &[&str], body: Option<&Value>) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\n");
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("host:"))
    {
        r.push_str("Host: 127.0.0.1\r\n");
    }
    r.push_str("Connection: close\r\n");
    for h in headers {
        r.push_str(h);
        r.push_str("\r\n");
    }
    let body = body.map(|b| b.to_string());
    if let Some(b) = &body {
        r.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    r.push_str("\r\n");
    if let Some(b) = &body {
        r.push_str(b);
    }
    r.into_bytes()
}

/// Sends `req` on `stream` and reads until the server closes: status and
/// JSON body (Null when not JSON).
pub fn exchange(mut stream: TcpStream, req: &[u8]) -> (u16, Value) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(req).unwrap();
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf);
    let (status, _, body) = parse_response(&buf);
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// What a connection produced before the server closed it.
pub struct Outcome {
    /// Every byte received.
    pub bytes: Vec<u8>,
    /// Whether the server closed (EOF or reset) before the timeout.
    pub closed: bool,
}

impl Outcome {
    /// The status of the first response.
    pub fn status(&self) -> u16 {
        parse_response(&self.bytes).0
    }
}

/// Reads what arrives on `stream` until EOF/reset or `timeout`.
pub fn read_until_closed(stream: &mut TcpStream, timeout: Duration) -> Outcome {
    let deadline = Instant::now() + timeout;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Outcome {
                bytes,
                closed: false,
            };
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Outcome {
                    bytes,
                    closed: true,
                };
            }
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                return Outcome {
                    bytes,
                    closed: true,
                };
            }
        }
    }
}

/// One response from a keep-alive connection (by Content-Length).
pub fn read_response(stream: &mut TcpStream) -> (u16, Value) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("response head");
        assert!(n == 1, "connection closed inside a response head");
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("response body");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// `GET /health` on a fresh connection; its status and how long it took.
pub fn timed_health(addr: SocketAddr) -> (u16, Duration) {
    let started = Instant::now();
    let (status, _) = exchange(
        TcpStream::connect(addr).unwrap(),
        &request("GET", "/health", &[], None),
    );
    (status, started.elapsed())
}

/// Open connections as the server counts them (through the handle, so
/// the count does not include a connection of its own).
pub fn open_connections(server: &TestServer) -> u64 {
    server.handle.stats().unwrap().connections.open as u64
}

/// The normal flow after an attack: a new session, a device connected to
/// it, a push, the device receiving it.
pub fn assert_still_serves(server: &TestServer) {
    let session = server.session();
    let (mut device, connected) = Device::connected(server.addr, &session, "after-attack");
    assert_eq!(connected["type"], "connected");
    let s = schema(json!([text("greeting", "still serving")]));
    let (status, reply) = server.push(&session, &s);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["clientsUpdated"], 1, "{reply}");
    let update = device.recv_type("update");
    assert_eq!(update["payload"]["type"], "full");
    assert_eq!(update["payload"]["schema"], s);
}
