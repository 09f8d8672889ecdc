//! Save → device latency of `--watch`, with the inotify watcher and with
//! the polling one (`--watch-poll`).
//!
//! Starts the release binary (`--host 127.0.0.1 --watch FILE`, default
//! coalescing) once per watcher, connects one WebSocket device over
//! loopback, then saves the file N times at random moments (250-500 ms
//! apart), alternating the two ways editors save: written in place
//! (`std::fs::write`: truncate, write, close) and written to a temp file
//! renamed over the original. Each save changes one node's text. The time
//! is taken just before the save starts and when the device has read the
//! update with that version's checksum; every update is acked.
//!
//! ```sh
//! cargo bench --bench watch                     # both watchers, 100 saves each
//! cargo bench --bench watch -- --saves 50 --watcher poll
//! ```

use lumora_hr_mini::protocol::calculate_checksum;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tungstenite::{Message, WebSocket};

const SERVER_BIN: &str = env!("CARGO_BIN_EXE_lumora-hr-mini");
const APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/app.json");
/// A save not received within this long counts as lost.
const LOST_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Watcher {
    Inotify,
    Poll,
}

impl Watcher {
    fn name(self) -> &'static str {
        match self {
            Watcher::Inotify => "inotify",
            Watcher::Poll => "polling",
        }
    }
}

struct Opts {
    saves: usize,
    watchers: Vec<Watcher>,
    bin: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: cargo bench --bench watch -- [--saves N] [--watcher inotify|poll|both] [--bin PATH]\n\
         Save -> device receipt latency of --watch (p50/p99/max), per watcher."
    );
    std::process::exit(2)
}

fn parse_opts() -> Opts {
    let mut opts = Opts {
        saves: 100,
        watchers: vec![Watcher::Inotify, Watcher::Poll],
        bin: PathBuf::from(SERVER_BIN),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            // What `cargo bench` passes to every bench target.
            "--bench" => {}
            "--saves" => {
                opts.saves = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| usage())
            }
            "--watcher" => {
                opts.watchers = match args.next().as_deref() {
                    Some("inotify") => vec![Watcher::Inotify],
                    Some("poll") => vec![Watcher::Poll],
                    Some("both") => vec![Watcher::Inotify, Watcher::Poll],
                    _ => usage(),
                }
            }
            "--bin" => opts.bin = args.next().map(PathBuf::from).unwrap_or_else(|| usage()),
            _ => usage(),
        }
    }
    opts
}

/// A small xorshift generator: random moments without a crate.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The server process; killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn start_server(bin: &Path, file: &Path, watcher: Watcher) -> (Server, SocketAddr) {
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.args(["--host", "127.0.0.1", "--strict-port", "--no-qr", "-q"])
        .args(["--port", &port.to_string()])
        .arg("--watch")
        .arg(file)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if watcher == Watcher::Poll {
        cmd.arg("--watch-poll");
    }
    let server = Server(cmd.spawn().expect("spawn the server"));
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    (server, addr)
}

fn get_json(addr: SocketAddr, path: &str) -> Value {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("response");
    let body = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| &buf[i + 4..])
        .unwrap_or(&[]);
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

fn msg(session: &str, kind: &str, payload: Value) -> Value {
    json!({"type": kind, "sessionId": session, "timestamp": 1, "version": "1.0.0", "payload": payload})
}

/// Connects a device to the startup session once the file was pushed.
fn device(addr: SocketAddr) -> (WebSocket<TcpStream>, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let session = loop {
        let s = get_json(addr, "/session/startup");
        if s["sequenceNumber"].as_u64().unwrap_or(0) >= 1 {
            break s["sessionId"].as_str().expect("session id").to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the file was not pushed at start"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream.set_read_timeout(Some(LOST_AFTER)).expect("timeout");
    let url = format!("ws://{addr}/ws?session={session}");
    let (mut ws, _) = tungstenite::client::client(url.as_str(), stream).expect("handshake");
    let connect = msg(
        &session,
        "connect",
        json!({"deviceId": "bench", "platform": "headless", "clientVersion": "1.0.0"}),
    );
    ws.send(Message::text(connect.to_string())).expect("send");
    loop {
        if let Message::Text(t) = ws.read().expect("connected") {
            let v: Value = serde_json::from_str(t.as_str()).expect("json");
            if v["type"] == "connected" {
                break;
            }
        }
    }
    (ws, session)
}

/// Sets the text of the node `id` anywhere in the tree.
fn set_text(nodes: &mut Value, id: &str, text: &str) -> bool {
    let Some(list) = nodes.as_array_mut() else {
        return false;
    };
    for node in list {
        if node["id"] == id {
            node["props"]["text"] = Value::from(text);
            return true;
        }
        if set_text(&mut node["children"], id, text) {
            return true;
        }
    }
    false
}

/// Waits for the update carrying `checksum`; acks every update read.
fn receive(ws: &mut WebSocket<TcpStream>, session: &str, checksum: &str) -> Option<Instant> {
    loop {
        let m = match ws.read() {
            Ok(Message::Text(t)) => t,
            Ok(_) => continue,
            Err(_) => return None,
        };
        let at = Instant::now();
        let v: Value = serde_json::from_str(m.as_str()).ok()?;
        if v["type"] != "update" {
            continue;
        }
        let p = &v["payload"];
        let ack = msg(
            session,
            "ack",
            json!({"sequenceNumber": p["sequenceNumber"], "success": true, "applyTime": 0.1}),
        );
        let _ = ws.send(Message::text(ack.to_string()));
        if p["checksum"] == checksum {
            return Some(at);
        }
    }
}

struct Run {
    latencies: Vec<Duration>,
    lost: usize,
}

fn run(opts: &Opts, watcher: Watcher, rng: &mut Rng) -> Run {
    let dir = std::env::temp_dir().join(format!("lumora-bench-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("app.json");
    let mut app: Value =
        serde_json::from_slice(&std::fs::read(APP).expect("examples/app.json")).expect("json");
    std::fs::write(&file, serde_json::to_vec_pretty(&app).expect("json")).expect("write");
    let (server, addr) = start_server(&opts.bin, &file, watcher);
    let (mut ws, session) = device(addr);
    let mut out = Run {
        latencies: Vec::new(),
        lost: 0,
    };
    for n in 0..opts.saves {
        std::thread::sleep(Duration::from_millis(250 + rng.below(250)));
        assert!(
            set_text(&mut app["nodes"], "header-title", &format!("Save {n}")),
            "no header-title node in examples/app.json"
        );
        let checksum = calculate_checksum(&app);
        let bytes = serde_json::to_vec_pretty(&app).expect("json");
        let t0 = Instant::now();
        if n % 2 == 0 {
            std::fs::write(&file, &bytes).expect("write");
        } else {
            let tmp = dir.join(".app.json.tmp");
            std::fs::write(&tmp, &bytes).expect("write");
            std::fs::rename(&tmp, &file).expect("rename");
        }
        match receive(&mut ws, &session, &checksum) {
            Some(at) => out.latencies.push(at - t0),
            None => {
                out.lost += 1;
                // Start afresh: the device may be mid-message.
                (ws, _) = device(addr);
            }
        }
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// The value at quantile `q` (nearest rank).
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn main() {
    let opts = parse_opts();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    let mut rng = Rng(seed);
    println!(
        "save -> device receipt, {} saves per watcher (in place and temp+rename alternately), loopback, one device",
        opts.saves
    );
    println!(
        "{:<8} {:>6} {:>5} {:>9} {:>9} {:>9} {:>9}",
        "watcher", "saves", "lost", "min", "p50", "p99", "max"
    );
    for &w in &opts.watchers {
        let mut r = run(&opts, w, &mut rng);
        r.latencies.sort();
        let l = &r.latencies;
        if l.is_empty() {
            println!("{:<8} every save was lost", w.name());
            continue;
        }
        println!(
            "{:<8} {:>6} {:>5} {:>9} {:>9} {:>9} {:>9}",
            w.name(),
            l.len(),
            r.lost,
            ms(l[0]),
            ms(quantile(l, 0.5)),
            ms(quantile(l, 0.99)),
            ms(l[l.len() - 1]),
        );
    }
}
