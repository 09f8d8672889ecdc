//! Durable state and resume, measured (`cargo bench --bench state`):
//!
//! 1. restore: `Server::bind` with a state directory holding N sessions of
//!    1 MiB schemas (what a restart costs before the first connection);
//! 2. stall: the longest ping → pong round trip of a device while a 10 MiB
//!    session is written to disk over and over, against the same run with
//!    no state directory (the loop's share of persistence is taking a
//!    snapshot and handing it to the writer thread);
//! 3. resume: bytes sent to 1,000 devices that reconnect after a restart
//!    with nothing missed, against what a full resync sends.
//!
//! Everything runs on loopback in one process; state goes to a temporary
//! directory.

use lumora_hr_mini::hub::persist::{SessionSnapshot, encode_session};
use lumora_hr_mini::protocol::{Schema, UpdateType};
use lumora_hr_mini::server::{Config, Server};
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

fn schema_of(bytes: usize, salt: &str) -> Schema {
    let per = 120;
    let nodes: Vec<Value> = (0..bytes / per)
        .map(|i| json!({"id": format!("n{i}"), "type": "Text", "props": {"text": format!("{salt} item {i} {}", "x".repeat(40))}}))
        .collect();
    Schema::from_value(json!({"version": "1", "metadata": {}, "nodes": nodes})).unwrap()
}

fn temp_dir(what: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lumora-bench-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(port: u16, state: Option<&Path>) -> Config {
    let mut c = Config {
        host: "127.0.0.1".parse().unwrap(),
        port,
        strict_port: true,
        state_dir: state.map(Path::to_path_buf),
        ..Config::default()
    };
    c.hub.coalesce = Duration::ZERO;
    c
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn restore(n: usize) {
    let dir = temp_dir("restore");
    let port = free_port();
    let port_dir = dir.join(format!("port-{port}"));
    std::fs::create_dir_all(&port_dir).unwrap();
    let schema = Arc::new(schema_of(1 << 20, "restore"));
    let now = lumora_hr_mini::protocol::now_ms();
    let mut file_bytes = 0;
    for i in 0..n {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        let bytes = encode_session(&SessionSnapshot {
            id: id.as_str().into(),
            created_at_ms: now,
            expires_at_ms: now + 3_600_000,
            sequence: 1,
            schema: Some(schema.clone()),
            schema_json: None,
            history: Vec::new(),
        });
        file_bytes = bytes.len();
        std::fs::write(port_dir.join(format!("session-{id}.state")), bytes).unwrap();
    }
    let mut times = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let server = Server::bind(config(port, Some(&dir))).unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        drop(server);
    }
    let m = median(times);
    println!(
        "restore: {n} sessions of {:.2} MiB files: bind with state {m:.0} ms median of 3 ({:.1} ms per session)",
        file_bytes as f64 / 1048576.0,
        m / n as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn ws(addr: SocketAddr, session: &str) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let url = format!("ws://{addr}/ws?session={session}");
    tungstenite::client::client(url.as_str(), stream).unwrap().0
}

fn msg(session: &str, kind: &str, payload: Value) -> String {
    json!({"type": kind, "sessionId": session, "timestamp": 1, "version": "1.0.0", "payload": payload}).to_string()
}

fn recv(d: &mut WebSocket<TcpStream>) -> Value {
    loop {
        if let Message::Text(t) = d.read().unwrap() {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

/// Longest ping round trip over `rounds` pings while the session's expiry
/// is extended (each extension is a snapshot; with state, a 10 MiB file
/// rewrite on the writer thread) every 20 ms.
fn stall(state: Option<&Path>, rounds: usize, after_delta: bool) -> (f64, f64, f64) {
    let port = free_port();
    let server = Server::bind(config(port, state)).unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    let thread = std::thread::spawn(move || server.run());
    let session = handle.create_session().unwrap().session_id;
    handle
        .push_update(&session, schema_of(10 << 20, "stall"), true)
        .unwrap();
    let mut d = ws(addr, &session);
    d.send(Message::text(msg(
        &session,
        "connect",
        json!({"deviceId": "p", "platform": "bench", "clientVersion": "1.0.0"}),
    )))
    .unwrap();
    while recv(&mut d)["type"] != "connected" {}
    if after_delta {
        // An incremental push leaves no shared encoding of the new schema:
        // the writer serializes it for every write.
        let mut v = schema_of(10 << 20, "stall").into_value();
        v["nodes"][0]["props"]["text"] = json!("edited");
        let out = handle
            .push_update(&session, Schema::from_value(v).unwrap(), true)
            .unwrap();
        assert_eq!(out.update_type, UpdateType::Incremental);
        while recv(&mut d)["type"] != "update" {}
    }
    let extender = {
        let handle = handle.clone();
        let session = session.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        (
            std::thread::spawn(move || {
                while !s2.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ = handle.extend_session(&session, Duration::from_secs(3600));
                    std::thread::sleep(Duration::from_millis(20));
                }
            }),
            stop,
        )
    };
    let mut rtts = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        d.send(Message::text(msg(&session, "ping", json!({}))))
            .unwrap();
        while recv(&mut d)["type"] != "pong" {}
        rtts.push(t.elapsed().as_secs_f64() * 1000.0);
        // Under the 100 messages/s rate limit.
        std::thread::sleep(Duration::from_millis(15));
    }
    extender.1.store(true, std::sync::atomic::Ordering::SeqCst);
    extender.0.join().unwrap();
    handle.shutdown();
    thread.join().unwrap().unwrap();
    rtts.sort_by(f64::total_cmp);
    let p99 = rtts[rtts.len() * 99 / 100];
    let max = rtts[rtts.len() - 1];
    (median(rtts), p99, max)
}

/// Bytes of every text message 1,000 devices receive when they reconnect
/// after a restart: resuming, and (for comparison) without `resume`.
fn resume(devices: usize, schema_bytes: usize) {
    let dir = temp_dir("resume");
    let port = free_port();
    let start = || {
        let server = Server::bind(config(port, Some(&dir))).unwrap();
        let handle = server.handle();
        let thread = std::thread::spawn(move || server.run());
        (handle, thread)
    };
    let (handle, thread) = start();
    let session = handle.create_startup_session().unwrap().session_id;
    let schema = schema_of(schema_bytes, "resume");
    let checksum = schema.checksum().to_string();
    handle.push_update(&session, schema, true).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let connect = |resume: Option<&Value>| {
        let mut p = json!({"deviceId": "d", "platform": "bench", "clientVersion": "1.0.0"});
        if let Some(r) = resume {
            p["resume"] = r.clone();
        }
        msg(&session, "connect", p)
    };
    let mut d = ws(addr, &session);
    d.send(Message::text(connect(None))).unwrap();
    let epoch = recv(&mut d)["payload"]["serverEpoch"].clone();
    drop(d);
    handle.shutdown();
    thread.join().unwrap().unwrap();
    let (handle, thread) = start();
    let point = json!({"sequenceNumber": 1, "checksum": checksum, "serverEpoch": epoch});
    let run = |resume: Option<&Value>| {
        let mut total = 0usize;
        let mut open = Vec::with_capacity(devices);
        let started = Instant::now();
        for _ in 0..devices {
            let mut d = ws(addr, &session);
            d.send(Message::text(connect(resume))).unwrap();
            d.send(Message::text(msg(&session, "ping", json!({}))))
                .unwrap();
            // Everything up to the pong: `connected` and whatever came
            // before the answer to the ping.
            loop {
                if let Message::Text(t) = d.read().unwrap() {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    if v["type"] == "pong" {
                        break;
                    }
                    total += t.len();
                }
            }
            open.push(d);
        }
        (total, started.elapsed())
    };
    let (resumed, t1) = run(Some(&point));
    let (full, t2) = run(None);
    println!(
        "resume: {devices} devices after a restart, nothing missed ({} KiB schema): {resumed} bytes resuming ({} per device, {:.2} s) vs {full} bytes without resume ({:.2} s)",
        schema_bytes >> 10,
        resumed / devices,
        t1.as_secs_f64(),
        t2.as_secs_f64()
    );
    handle.shutdown();
    thread.join().unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let run = |what: &str| only.as_deref().is_none_or(|o| o == what);
    if run("restore") {
        restore(10);
        restore(50);
    }
    if !run("stall") {
        if run("resume") {
            resume(1000, 100 << 10);
        }
        return;
    }
    let dir = temp_dir("stall");
    let rounds = 200;
    for after_delta in [false, true] {
        let (m0, p0, x0) = stall(None, rounds, after_delta);
        let (m1, p1, x1) = stall(Some(&dir), rounds, after_delta);
        let what = if after_delta {
            "after a delta push (the schema's own bytes written)"
        } else {
            "after a full push (its shared encoding written as is)"
        };
        println!(
            "stall, {what}: ping round trip with a 10 MiB session rewritten every 200 ms ({rounds} pings): median {m1:.3} ms, p99 {p1:.2} ms, max {x1:.2} ms; same without state: median {m0:.3} ms, p99 {p0:.2} ms, max {x0:.2} ms"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    if run("resume") {
        resume(1000, 100 << 10);
    }
}
