//! `--push-stall`: how long the loop keeps others waiting while 10 MiB
//! pushes arrive back to back.
//!
//! One connection pushes a 63,500-node schema (about 10.4 MB) and a copy
//! that differs in 64 nodes in turn, each POST sent as soon as the last one
//! was answered, so every push is a full update; one device is connected to
//! that session and gets them. Meanwhile three probes, each on its own
//! thread and connection, measure how long an answer takes:
//!
//! - `GET /health` on a keep-alive connection, one request 5 ms after the
//!   answer to the last;
//! - a `ping` message of the device of the pushed session (its `pong` may
//!   wait behind an update on the same socket, and the device reads the
//!   10 MB update before it can see the pong);
//! - a `ping` of a device of another session (the loop's own delay).
//!
//! Devices ping every 20 ms (the rate limit is 100 messages per second).
//! The probes run for a second before the pushes start (the idle figures)
//! and stop shortly after the last push. Bounded by `--pushes` (default 40)
//! and `--stall-seconds` (default 30).

use crate::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

const HEALTH_GAP: Duration = Duration::from_millis(5);
const PING_GAP: Duration = Duration::from_millis(20);
/// Longest wait for one answer before the probe gives up.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
const IDLE: Duration = Duration::from_secs(1);

/// When a probe started and how long its answer took.
type Waits = Vec<(Instant, Duration)>;

/// Reads one HTTP response (head and `Content-Length` body) from a
/// keep-alive connection; `buf` keeps what came after it. Status and body.
pub(crate) fn read_response(
    s: &mut std::net::TcpStream,
    buf: &mut Vec<u8>,
) -> io::Result<(u16, String)> {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                buf.drain(..end + 4 + len);
                return Ok((status, body));
            }
        }
        match s.read(&mut chunk) {
            Ok(0) => return Err(io::Error::other("the server closed the connection")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// `GET /health` until `stop`, one at a time.
fn health_probe(addr: SocketAddr, stop: &AtomicBool) -> io::Result<Waits> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(PROBE_TIMEOUT))?;
    let req = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let mut buf = Vec::new();
    let mut waits = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        s.write_all(req.as_bytes())?;
        let (status, body) = read_response(&mut s, &mut buf)?;
        waits.push((t0, t0.elapsed()));
        if status != 200 {
            return Err(io::Error::other(format!("GET /health: {status} {body}")));
        }
        std::thread::sleep(HEALTH_GAP);
    }
    Ok(waits)
}

/// A device of `session` that pings until `stop`; says on `ready` once
/// connected.
fn ping_probe(
    addr: SocketAddr,
    session: &str,
    stop: &AtomicBool,
    ready: &mpsc::Sender<()>,
) -> io::Result<Waits> {
    use tungstenite::Message;
    let stream = std::net::TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    let url = format!("ws://{addr}/ws?session={session}");
    let (mut ws, _) = tungstenite::client::client(url.as_str(), stream)
        .map_err(|e| io::Error::other(format!("WebSocket handshake: {e}")))?;
    let envelope = |kind: &str, payload: &str| {
        format!(
            r#"{{"type":"{kind}","sessionId":"{session}","timestamp":{},"version":"1.0.0","payload":{payload}}}"#,
            wall_ms()
        )
    };
    let io_err = |e: tungstenite::Error| match e {
        tungstenite::Error::Io(e) => e,
        other => io::Error::other(other.to_string()),
    };
    // Reads until a text message for which `want` holds, or `PROBE_TIMEOUT`.
    let read_until = |ws: &mut tungstenite::WebSocket<std::net::TcpStream>,
                      want: &dyn Fn(&str) -> bool|
     -> io::Result<()> {
        let deadline = Instant::now() + PROBE_TIMEOUT;
        loop {
            match ws.read() {
                Ok(Message::Text(t)) if want(t.as_str()) => return Ok(()),
                Ok(Message::Text(t)) if t.as_str().starts_with(r#"{"type":"error""#) => {
                    return Err(io::Error::other(format!("device: {t}")));
                }
                Ok(Message::Close(c)) => {
                    return Err(io::Error::other(format!("device closed: {c:?}")));
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if Instant::now() > deadline {
                        return Err(io::Error::other("no answer within 30 s"));
                    }
                }
                Err(e) => return Err(io_err(e)),
            }
        }
    };
    let connect = envelope(
        "connect",
        r#"{"deviceId":"stall-probe","platform":"web","deviceName":"stall probe","clientVersion":"1.0.0"}"#,
    );
    ws.send(Message::text(connect)).map_err(io_err)?;
    read_until(&mut ws, &|t| t.starts_with(r#"{"type":"connected""#))?;
    let _ = ready.send(());
    let mut waits = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        ws.send(Message::text(envelope("ping", "null")))
            .map_err(io_err)?;
        read_until(&mut ws, &|t| t.starts_with(r#"{"type":"pong""#))?;
        waits.push((t0, t0.elapsed()));
        std::thread::sleep(PING_GAP);
    }
    let _ = ws.close(None);
    Ok(waits)
}

/// p50, p99 and max (ms) of the waits that started within `from..to`, and
/// how many.
fn wait_stats(waits: &Waits, from: Instant, to: Instant) -> (usize, [f64; 3]) {
    let mut v: Vec<u64> = waits
        .iter()
        .filter(|(t, _)| *t >= from && *t < to)
        .map(|(_, d)| d.as_nanos() as u64)
        .collect();
    v.sort_unstable();
    (v.len(), [0.5, 0.99, 1.0].map(|q| percentile(&v, q) / 1e6))
}

struct StallRun {
    pushes: usize,
    /// Per probe (health, device of the pushed session, of another): idle
    /// and during the pushes.
    stats: [[(usize, [f64; 3]); 2]; 3],
    post_ms: Vec<f64>,
    cpu_ms: Vec<f64>,
}

const PROBES: [&str; 3] = [
    "GET /health",
    "ping -> pong, device of the pushed session",
    "ping -> pong, device of another session",
];

fn stall_run(opts: &Opts, bodies: &[String; 2], pushes: usize) -> io::Result<StallRun> {
    let target = start_server(opts)?;
    let addr = target.addr;
    let result = (|| {
        settle(100);
        let pushed = new_session(addr)?;
        let other = new_session(addr)?;
        let small = schemas(1, 0);
        let (status, body) = http_once(addr, "POST", &format!("/send/{other}"), &small[0])?;
        if status != 200 {
            return Err(io::Error::other(format!(
                "push to the other session: {status} {body}"
            )));
        }
        let path = format!("/send/{pushed}");
        let requests = bodies.each_ref().map(|b| post_request(addr, &path, b));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let mut threads = Vec::new();
        for probe in 0..3 {
            let stop = stop.clone();
            let ready = ready_tx.clone();
            let session = if probe == 1 {
                pushed.clone()
            } else {
                other.clone()
            };
            threads.push(std::thread::spawn(move || {
                let r = if probe == 0 {
                    let _ = ready.send(());
                    health_probe(addr, &stop)
                } else {
                    ping_probe(addr, &session, &stop, &ready)
                };
                if r.is_err() {
                    // Let the others end too.
                    stop.store(true, Ordering::Relaxed);
                    let _ = ready.send(());
                }
                r
            }));
        }
        drop(ready_tx);
        for _ in 0..3 {
            ready_rx
                .recv_timeout(Duration::from_secs(10))
                .map_err(|_| io::Error::other("a probe did not start within 10 s"))?;
        }
        let idle_from = Instant::now();
        std::thread::sleep(IDLE);
        let push_from = Instant::now();
        let mut s = std::net::TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(PROBE_TIMEOUT))?;
        let mut buf = Vec::new();
        let (mut post_ms, mut cpu_ms) = (Vec::new(), Vec::new());
        let mut push_error = None;
        for i in 0..pushes {
            if push_from.elapsed() >= opts.stall_time || stop.load(Ordering::Relaxed) {
                break;
            }
            let cpu0 = target.probe.cpu_ns();
            let t0 = Instant::now();
            s.write_all(&requests[i % 2])?;
            let (status, body) = read_response(&mut s, &mut buf)?;
            post_ms.push(t0.elapsed().as_secs_f64() * 1e3);
            cpu_ms.push((target.probe.cpu_ns() - cpu0) as f64 / 1e6);
            if status != 200 || !body.contains(r#""updateType":"full""#) {
                push_error = Some(format!("push {i}: {status} {body}"));
                break;
            }
        }
        let push_to = Instant::now();
        // The answers to probes sent during the last push.
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        let mut waits = Vec::new();
        for t in threads {
            let w = t
                .join()
                .map_err(|_| io::Error::other("a probe panicked"))??;
            waits.push(w);
        }
        if let Some(e) = push_error {
            return Err(io::Error::other(e));
        }
        let stats = [0, 1, 2].map(|p| {
            [
                wait_stats(&waits[p], idle_from, push_from),
                wait_stats(&waits[p], push_from, push_to),
            ]
        });
        Ok(StallRun {
            pushes: post_ms.len(),
            stats,
            post_ms,
            cpu_ms,
        })
    })();
    target.shutdown();
    result
}

pub(crate) fn push_stall(opts: &Opts) -> io::Result<()> {
    let pushes = if opts.pushes == 0 { 40 } else { opts.pushes };
    let bodies = two_full_schemas(63_500);
    let [a, b] = &bodies;
    if a.len().max(b.len()) > MAX_BODY {
        return Err(io::Error::other("the schemas are over the body limit"));
    }
    println!(
        "push stall: {pushes} pushes of {} B schemas back to back (full updates, at most {} s), 1 device on the pushed session, {} run(s){}",
        a.len(),
        opts.stall_time.as_secs(),
        opts.runs,
        if opts.with_state { "" } else { ", --no-state" },
    );
    let wall = Instant::now();
    let mut worst = [0f64; 3];
    let mut p99s: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut p50s: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for run in 1..=opts.runs {
        let r = stall_run(opts, &bodies, pushes)?;
        println!(
            "run {run}/{}: {} pushes, POST answered after median {:.1} ms (max {:.1}), server CPU per push median {:.1} ms",
            opts.runs,
            r.pushes,
            median(r.post_ms.clone()),
            r.post_ms.iter().cloned().fold(0.0, f64::max),
            median(r.cpu_ms.clone()),
        );
        for (p, name) in PROBES.iter().enumerate() {
            let [(n_idle, idle), (n, busy)] = r.stats[p];
            println!(
                "  {name:<44} during pushes: {n} waits, p50 {:.2} / p99 {:.2} / max {:.2} ms; idle: {n_idle}, p50 {:.2} / max {:.2} ms",
                busy[0], busy[1], busy[2], idle[0], idle[2]
            );
            worst[p] = worst[p].max(busy[2]);
            p99s[p].push(busy[1]);
            p50s[p].push(busy[0]);
        }
    }
    println!(
        "\nover {} run(s) ({:.0} s in all): median of the runs' p50 / p99, and the longest wait",
        opts.runs,
        wall.elapsed().as_secs_f64()
    );
    for (p, name) in PROBES.iter().enumerate() {
        println!(
            "  {name:<44} p50 {:.2} / p99 {:.2} ms, longest {:.2} ms",
            median(p50s[p].clone()),
            median(p99s[p].clone()),
            worst[p]
        );
    }
    Ok(())
}
