//! Shared helpers for integration tests: a real server on 127.0.0.1:0 in a
//! thread, a raw HTTP client, and a WebSocket device built on tungstenite.
#![allow(dead_code)]

use lumora_hr_mini::server::{Config, Handle, Server};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

/// A server running in a background thread; shut down on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: Handle,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::with(|_| {})
    }

    pub fn with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config {
            host: "127.0.0.1".parse().unwrap(),
            port: 0,
            ..Config::default()
        };
        config.hub.coalesce = Duration::ZERO;
        tweak(&mut config);
        let server = Server::bind(config).expect("bind");
        let addr = server.local_addr();
        let handle = server.handle();
        let thread = std::thread::spawn(move || server.run());
        TestServer {
            addr,
            handle,
            thread: Some(thread),
        }
    }

    pub fn session(&self) -> String {
        let (status, body) = http(self.addr, "POST", "/session/new", None);
        assert_eq!(status, 201, "{body}");
        body["sessionId"].as_str().unwrap().to_string()
    }

    pub fn push(&self, session: &str, schema: &Value) -> (u16, Value) {
        http(self.addr, "POST", &format!("/send/{session}"), Some(schema))
    }

    /// `POST /send/:id` of `text` as it is (not re-serialized).
    pub fn push_text(&self, session: &str, text: &str) -> (u16, Value) {
        http_text(self.addr, "POST", &format!("/send/{session}"), Some(text))
    }

    pub fn device(&self, session: &str) -> Device {
        Device::open(self.addr, &format!("/ws?session={session}"))
    }

    /// Stops the server and waits for `run` to return.
    pub fn stop(&mut self) -> std::io::Result<()> {
        self.handle.shutdown();
        match self.thread.take() {
            Some(t) => t.join().expect("server thread panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// One HTTP request with `Connection: close`; returns status and JSON body.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    http_text(addr, method, path, body.map(Value::to_string).as_deref())
}

/// [`http`] with a body sent as it is written.
pub fn http_text(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some(b) = &body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    if let Some(b) = &body {
        req.push_str(b);
    }
    let (status, _, body) = raw_http(addr, req.as_bytes());
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, json)
}

/// Sends raw bytes and reads until the server closes; returns status, head
/// and body.
pub fn raw_http(addr: SocketAddr, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse_response(&buf)
}

pub fn parse_response(buf: &[u8]) -> (u16, String, Vec<u8>) {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, buf[split + 4..].to_vec())
}

pub fn schema(nodes: Value) -> Value {
    json!({"version": "1.0", "metadata": {"sourceFramework": "react", "sourceFile": "App.tsx", "generatedAt": 1}, "nodes": nodes})
}

/// A text node.
pub fn text(id: &str, t: &str) -> Value {
    json!({"id": id, "type": "Text", "props": {"text": t}})
}

/// A WebSocket device.
pub struct Device {
    pub ws: WebSocket<TcpStream>,
}

impl Device {
    pub fn open(addr: SocketAddr, path: &str) -> Device {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let url = format!("ws://{addr}{path}");
        let (ws, resp) = tungstenite::client::client(url.as_str(), stream).expect("handshake");
        assert_eq!(resp.status(), 101);
        Device { ws }
    }

    pub fn send(&mut self, v: &Value) {
        self.ws.send(Message::text(v.to_string())).unwrap();
    }

    pub fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_string())).unwrap();
    }

    /// Next JSON message, skipping control frames.
    pub fn recv(&mut self) -> Value {
        loop {
            match self.ws.read().expect("read") {
                Message::Text(t) => return serde_json::from_str(t.as_str()).expect("json"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// Next message of the given type, skipping others.
    pub fn recv_type(&mut self, kind: &str) -> Value {
        loop {
            let m = self.recv();
            if m["type"] == kind {
                return m;
            }
        }
    }

    /// Reads until the server closes; returns the close code and reason.
    pub fn expect_close(&mut self) -> (u16, String) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(Message::Close(Some(f))) => return (u16::from(f.code), f.reason.to_string()),
                Ok(Message::Close(None)) => return (u16::from(CloseCode::Status), String::new()),
                Ok(_) => continue,
                Err(e) => panic!("connection ended without a close frame: {e}"),
            }
        }
        panic!("no close within 10 s");
    }

    pub fn connect_msg(session: &str, device_id: &str) -> Value {
        json!({"type": "connect", "sessionId": session, "timestamp": 1, "version": "1.0.0",
               "payload": {"deviceId": device_id, "platform": "ios", "deviceName": format!("test {device_id}"), "clientVersion": "1.0.0"}})
    }

    /// Opens, sends `connect`, returns the device and its `connected` message.
    pub fn connected(addr: SocketAddr, session: &str, device_id: &str) -> (Device, Value) {
        let mut d = Device::open(addr, &format!("/ws?session={session}"));
        d.send(&Device::connect_msg(session, device_id));
        let m = d.recv_type("connected");
        (d, m)
    }

    pub fn msg(session: &str, kind: &str, payload: Value) -> Value {
        json!({"type": kind, "sessionId": session, "timestamp": 1, "version": "1.0.0", "payload": payload})
    }
}

/// Polls `f` every 10 ms until it returns `Some`, or panics after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `f` until it is true, or panics after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    wait_for(timeout, what, || f().then_some(()))
}

/// The server binary the tests run.
pub const BIN: &str = env!("CARGO_BIN_EXE_lumora-hr-mini");

/// The binary with `args`, as every test starts it: no colours, the tests'
/// own state home (see [`test_state_home`]), no token from the
/// environment, stdin closed, stdout and stderr piped. Callers change what
/// they need before spawning.
pub fn binary(args: &[&str]) -> std::process::Command {
    use std::process::Stdio;
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env("XDG_STATE_HOME", test_state_home())
        .env_remove("LUMORA_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// An `XDG_STATE_HOME` for server processes started by tests, so that no
/// test writes into the real home directory.
pub fn test_state_home() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("lumora-hr-mini-tests-{}", std::process::id()))
}

/// A fresh directory under the system's temporary directory, removed on
/// drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lumora-hr-mini-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The lines of a child's stdout or stderr, read by a thread of their own
/// (so the child never blocks on a full pipe), as a channel.
pub fn lines(stream: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stream)) {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}
