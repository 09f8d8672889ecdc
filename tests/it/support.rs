//! Helpers for the server integration tests, on top of `common`:
//! condition waits, a keep-alive HTTP client, a hand-made WebSocket client
//! (for devices that must *not* answer pings), and small device extras.
#![allow(dead_code)]

use crate::common::{Device, TestServer, parse_response};
use lumora_hr_mini::server::stats::{StatCounters, Stats};
use serde_json::Value;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tungstenite::Message;

/// Generous bound for anything that should happen "soon": the machine is
/// small and shared, so this is about liveness, never performance.
pub const SOON: Duration = Duration::from_secs(10);

pub use crate::common::{wait_for, wait_until};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// `/stats` through the handle.
pub fn stats(server: &TestServer) -> Stats {
    server.handle.stats().expect("stats")
}

/// The counters of `/stats`.
pub fn counters(server: &TestServer) -> StatCounters {
    stats(server).counters
}

/// A header's value in a response head (case-insensitive name).
pub fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// A one-shot request with extra headers and a raw body (`Connection:
/// close`); returns status, head and JSON body (Null when not JSON).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> (u16, String, Value) {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    let (status, head, body) = crate::common::raw_http(addr, &bytes);
    (
        status,
        head,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

/// One HTTP/1.1 connection used for several requests (keep-alive).
pub struct HttpConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl HttpConn {
    pub fn open(addr: SocketAddr) -> HttpConn {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(SOON)).unwrap();
        HttpConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends one keep-alive request.
    pub fn send(&mut self, method: &str, path: &str, body: Option<&Value>) {
        let body = body.map(|b| b.to_string());
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
        if let Some(b) = &body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            ));
        } else {
            req.push_str("\r\n");
        }
        self.send_raw(req.as_bytes());
    }

    /// Reads one response, framed by its Content-Length. `None` when the
    /// server closed the connection before a response began.
    pub fn read_response(&mut self) -> Option<(u16, String, Value)> {
        loop {
            if let Some(split) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..split]).to_string();
                let len: usize = header(&head, "content-length")
                    .map(|v| v.parse().unwrap())
                    .unwrap_or(0);
                let total = split + 4 + len;
                if self.buf.len() >= total {
                    let (status, head, body) = parse_response(&self.buf[..total]);
                    self.buf.drain(..total);
                    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    return Some((status, head, json));
                }
            }
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    assert!(self.buf.is_empty(), "connection closed mid-response");
                    return None;
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("reading a response: {e}"),
            }
        }
    }

    /// Sends a request and reads its response.
    pub fn call(&mut self, method: &str, path: &str, body: Option<&Value>) -> (u16, String, Value) {
        self.send(method, path, body);
        self.read_response().expect("a response")
    }

    /// True once the server has closed the connection (EOF or reset).
    pub fn closed_by_server(&mut self) -> bool {
        let mut b = [0u8; 64];
        match self.stream.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        }
    }
}

/// A WebSocket frame as read by [`RawWs`].
#[derive(Debug, Clone)]
pub struct Frame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    pub const TEXT: u8 = 0x1;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;

    pub fn json(&self) -> Value {
        assert_eq!(self.opcode, Frame::TEXT, "not a text frame: {self:?}");
        serde_json::from_slice(&self.payload).expect("json")
    }

    /// Close code and reason.
    pub fn close(&self) -> (u16, String) {
        assert_eq!(self.opcode, Frame::CLOSE, "not a close frame: {self:?}");
        assert!(self.payload.len() >= 2, "close frame without a code");
        let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
        (
            code,
            String::from_utf8_lossy(&self.payload[2..]).to_string(),
        )
    }
}

/// A WebSocket client written by hand on a plain socket. Unlike tungstenite
/// it answers nothing on its own (no pongs), so it can play a silent device,
/// and it only reads when asked, so it can play a device that never reads.
pub struct RawWs {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawWs {
    /// Connects and completes the upgrade of `path`.
    pub fn open(addr: SocketAddr, path: &str) -> RawWs {
        RawWs::open_with(addr, path, &[])
    }

    /// Like [`open`](RawWs::open), with `early` bytes (frames) sent in the
    /// same write as the upgrade request.
    pub fn open_with(addr: SocketAddr, path: &str, early: &[u8]) -> RawWs {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(SOON)).unwrap();
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(early);
        stream.write_all(&bytes).unwrap();
        let mut buf = Vec::new();
        let split = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk).expect("handshake response");
            assert!(n > 0, "closed during the handshake");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..split]).to_string();
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        assert_eq!(
            header(&head, "sec-websocket-accept").as_deref(),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
        buf.drain(..split + 4);
        RawWs { stream, buf }
    }

    /// Sends a masked frame.
    pub fn send_frame(&mut self, opcode: u8, payload: &[u8]) {
        self.stream
            .write_all(&masked_frame(opcode, payload))
            .unwrap();
    }

    pub fn send_json(&mut self, v: &Value) {
        self.send_frame(Frame::TEXT, v.to_string().as_bytes());
    }

    /// The next frame, or `None` at EOF. Panics after `timeout`.
    pub fn read_frame(&mut self, timeout: Duration) -> Option<Frame> {
        self.try_frame(timeout)
            .unwrap_or_else(|| panic!("no frame within {timeout:?}"))
    }

    /// `Some(Some(frame))`, `Some(None)` at EOF, or `None` when nothing
    /// arrived within `timeout`.
    pub fn try_frame(&mut self, timeout: Duration) -> Option<Option<Frame>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf) {
                self.buf.drain(..used);
                return Some(Some(frame));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Some(None),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Some(None),
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// The next text message, skipping control frames other than close.
    pub fn recv_json(&mut self, timeout: Duration) -> Value {
        loop {
            let f = self.read_frame(timeout).expect("connection ended");
            match f.opcode {
                Frame::TEXT => return f.json(),
                Frame::CLOSE => panic!("closed: {:?}", f.close()),
                _ => continue,
            }
        }
    }
}

/// A final, masked client frame (clients must mask).
pub fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame_bytes(true, opcode, payload, Some([0x37, 0xfa, 0x21, 0x3d]))
}

/// Any frame: `fin` off for a fragment, `mask` off for a broken client.
pub fn frame_bytes(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
    let bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        f.push(bit | len as u8);
    } else if len <= 0xffff {
        f.push(bit | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(bit | 127);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(m) => {
            f.extend_from_slice(&m);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

/// Parses one server (unmasked) frame from the front of `buf`.
fn parse_frame(buf: &[u8]) -> Option<(Frame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    assert_eq!(buf[1] & 0x80, 0, "server frames must not be masked");
    let (len, mut at) = match buf[1] & 0x7f {
        126 => (
            u16::from_be_bytes(buf.get(2..4)?.try_into().unwrap()) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().unwrap()) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = buf.get(at..at + len)?.to_vec();
    at += len;
    assert_ne!(buf[0] & 0x80, 0, "the server sends unfragmented frames");
    Some((
        Frame {
            opcode: buf[0] & 0x0f,
            payload,
        },
        at,
    ))
}

/// Extras for the tungstenite device of `tests/it/common.rs`.
pub trait DeviceExt {
    /// The next frame of any kind within `timeout`, or `None` if nothing
    /// arrived. Pings are answered by tungstenite as a side effect.
    fn try_read(&mut self, timeout: Duration) -> Option<Message>;
    /// The next text message within `timeout`, skipping control frames.
    fn try_recv(&mut self, timeout: Duration) -> Option<Value>;
    /// Sends a protocol `ping` and returns every message that arrived before
    /// its `pong` (the server answers in order, so this proves nothing else
    /// was pending).
    fn ping_pong(&mut self, session: &str) -> Vec<Value>;
}

impl DeviceExt for Device {
    fn try_read(&mut self, timeout: Duration) -> Option<Message> {
        self.ws.get_ref().set_read_timeout(Some(timeout)).unwrap();
        let r = self.ws.read();
        self.ws.get_ref().set_read_timeout(Some(SOON)).unwrap();
        match r {
            Ok(m) => Some(m),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("read: {e}"),
        }
    }

    fn try_recv(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            match self.try_read(left)? {
                Message::Text(t) => return Some(serde_json::from_str(t.as_str()).expect("json")),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    fn ping_pong(&mut self, session: &str) -> Vec<Value> {
        self.send(&Device::msg(session, "ping", serde_json::json!({})));
        let mut before = Vec::new();
        loop {
            let m = self.recv();
            if m["type"] == "pong" {
                return before;
            }
            before.push(m);
        }
    }
}
