//! `fanout`: the load tool behind the README's "Performance" table
//! (SPEC §12). It is a bench target with `harness = false`, so it is built
//! with the release profile, never goes into the `lumora-hr-mini` binary,
//! and finds that binary through `CARGO_BIN_EXE_lumora-hr-mini`.
//!
//! ```text
//! cargo bench --bench fanout                                   # 1,000 devices, 200 updates, 1 run
//! cargo bench --bench fanout -- --devices 1000 --runs 5        # medians over 5 runs
//! cargo bench --bench fanout -- --devices 10000 --updates 30   # 10,000 devices
//! cargo bench --bench fanout -- --startup 20                   # binary size + start-up only
//! cargo bench --bench fanout -- --help
//! ```
//!
//! Every run has two phases over the same number of loopback sockets,
//! driven by the same client code on one thread (non-blocking sockets in a
//! `mio` loop, hand-written handshake, masked frames as RFC 6455 requires):
//!
//! - **floor**: a bare `mio` loop (in a child process) that, per update,
//!   writes one pre-framed ~600-byte WebSocket frame to every socket and
//!   reads whatever comes back (the devices' ~150-byte acks) until
//!   `WouldBlock`: the kernel cost of fan-out with no server logic at all
//!   (`--lean-floor`: it stops at a short read instead, one `recvfrom` per
//!   ack, as the server does);
//! - **server**: the real server, sent the same number of updates over
//!   HTTP (`POST /send/:id`, mostly one-node edits that go out as
//!   incremental updates, every `--full-every`th a full one).
//!
//! Devices ack every update: once every device has it by default (the
//! server then reads the acks one by one, woken for each, as with real
//! devices acking after applying an update), or with `--ack-at-once` as
//! soon as the client has read a batch. The tool prints the server's CPU
//! time (user + system, from `/proc/<pid>/task/*/schedstat`, nanoseconds)
//! per delivered update, attributed per update round and split by update
//! type; the latency from just before the POST (or floor trigger) is
//! written to the return of the client's `poll` that reported the frame;
//! when the push was answered (every socket written); the server's RSS idle
//! and with N devices (`/proc/<pid>/status`); delivered vs expected; and the
//! ratio server ÷ floor. Medians over `--runs`. The server (or floor) runs
//! on CPU 0 and the client on CPU 1 (`--no-pin` to turn off).
//!
//! The server runs as a child process by default (`--server bin`: the real
//! release binary with `--host 127.0.0.1 --port P --strict-port
//! --coalesce-ms 0`), so RSS is the server's alone and CPU is read the same
//! way as the floor's. `--server lib` runs the library's `Server::bind` in
//! a re-executed copy of this tool instead (immune to command-line changes,
//! and it can raise `max_connections` for 10,000 devices plus the HTTP
//! client); `--server thread` runs it in a thread of this process and reads
//! that thread's CPU clock (`pthread_getcpuclockid`); memory is then not
//! reported, and the floor also runs in a thread for a like-for-like ratio.
//!
//! Everything is on 127.0.0.1, bounded in count and time, and stops by
//! itself. Nothing here is asserted: numbers on a shared 2-core VM are
//! noisy, so repeat runs and compare medians.

use lumora_hr_mini::server::{Config, Server};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SERVER_BIN: &str = env!("CARGO_BIN_EXE_lumora-hr-mini");

const USAGE: &str = "\
fanout: fan-out CPU, latency and memory of lumora-hr-mini against a bare mio floor

usage: cargo bench --bench fanout -- [options]

  --devices N        WebSocket devices (default 1000; 100, 1000, 10000 are the reference sizes)
  --updates K        updates per phase (default 200)
  --runs R           repetitions; medians are reported (default 1)
  --server KIND      bin (default): the release binary as a child process
  --bin PATH         with --server bin (and --startup): run this binary instead, e.g. an
                     older build to compare against
                     lib: Server::bind in a child process (this tool re-executed)
                     thread: Server::bind in a thread of this process (no memory figures)
  --no-floor         skip the floor phase
  --lean-floor       the floor stops reading at a short read, as the server does (one
                     recvfrom per ack); by default it reads until WouldBlock (two)
  --no-pin           do not pin the server (or floor) to CPU 0 and the client to CPU 1
  --ack-at-once      devices ack as soon as the client has read a batch of updates, so
                     acks reach the server while it is still writing the broadcast; by
                     default they ack once every device has the update, and the server
                     reads them one by one, woken for each (as with real devices, which
                     ack after applying an update)
  --full-every F     every F-th update is a full one (default 25; 0 = never)
  --interval-ms MS   least time between two pushes (default 12; the server allows
                     100 messages/s per device, and every update is acked)
  --gap-ms MS        quiet time after every device has its update (default 3)
  --frame-bytes B    size of the floor's pre-framed update (default 600)
  --startup N        report the binary size and the median of N start-ups
                     (spawn -> port accepts); alone, skips the fan-out phases
";

// ===== options =================================================================

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerKind {
    Bin,
    Lib,
    Thread,
}

#[derive(Debug, Clone)]
struct Opts {
    devices: usize,
    updates: usize,
    runs: usize,
    server: ServerKind,
    floor: bool,
    full_every: usize,
    interval: Duration,
    gap: Duration,
    frame_bytes: usize,
    startup: usize,
    fanout: bool,
    bin: String,
    lean_floor: bool,
    pin: bool,
    ack_at_once: bool,
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        devices: 1000,
        updates: 200,
        runs: 1,
        server: ServerKind::Bin,
        floor: true,
        full_every: 25,
        interval: Duration::from_millis(12),
        gap: Duration::from_millis(3),
        frame_bytes: 600,
        startup: 0,
        fanout: true,
        bin: SERVER_BIN.to_string(),
        lean_floor: false,
        pin: std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2),
        ack_at_once: false,
    };
    let mut devices_given = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<usize, String> {
            it.next()
                .ok_or(format!("{name} needs a value"))?
                .parse::<usize>()
                .map_err(|e| format!("{name}: {e}"))
        };
        match a.as_str() {
            "--bench" => {} // added by `cargo bench`
            "--devices" => {
                o.devices = num("--devices")?.max(1);
                devices_given = true;
            }
            "--updates" => o.updates = num("--updates")?.max(1),
            "--runs" => o.runs = num("--runs")?.max(1),
            "--no-floor" => o.floor = false,
            "--lean-floor" => o.lean_floor = true,
            "--no-pin" => o.pin = false,
            "--ack-at-once" => o.ack_at_once = true,
            "--floor" => o.floor = true,
            "--full-every" => o.full_every = num("--full-every")?,
            "--interval-ms" => o.interval = Duration::from_millis(num("--interval-ms")? as u64),
            "--gap-ms" => o.gap = Duration::from_millis(num("--gap-ms")? as u64),
            "--frame-bytes" => o.frame_bytes = num("--frame-bytes")?.clamp(64, 60_000),
            "--startup" => o.startup = num("--startup")?.max(1),
            "--bin" => o.bin = it.next().ok_or("--bin needs a path")?.clone(),
            "--server" => {
                o.server = match it.next().map(String::as_str) {
                    Some("bin") => ServerKind::Bin,
                    Some("lib") => ServerKind::Lib,
                    Some("thread") => ServerKind::Thread,
                    other => return Err(format!("--server: bin, lib or thread, not {other:?}")),
                }
            }
            "--help" | "-h" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    o.fanout = o.startup == 0 || devices_given;
    Ok(o)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Internal modes: this tool re-executed as a server child.
    match args.first().map(String::as_str) {
        Some("--serve-lib") => return serve_lib_child(&args[1..]),
        Some("--serve-floor") => return serve_floor_child(&args[1..]),
        _ => {}
    }
    let opts = match parse_opts(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let nofile = raise_nofile_limit();
    if opts.startup > 0 {
        if let Err(e) = size_and_startup(&opts.bin, opts.startup) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
    if opts.fanout {
        let per_process = match opts.server {
            ServerKind::Thread => 2 * opts.devices + 64,
            _ => opts.devices + 64,
        };
        if (per_process as u64) > nofile {
            eprintln!(
                "error: {} devices need about {per_process} file descriptors in one process; \
                 the limit is {nofile} (use --server bin or lib, or fewer devices)",
                opts.devices
            );
            std::process::exit(1);
        }
        if let Err(e) = fanout(&opts) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

/// Raises the soft limit on open files to the hard limit (children inherit
/// it); returns the new soft limit.
fn raise_nofile_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
        lim.rlim_cur
    }
}

// ===== probes: CPU and memory of a server ========================================

/// How to read a server's CPU time and memory.
enum Probe {
    /// A child process: every thread's run time from schedstat; VmRSS.
    Process(u32),
    /// A thread of this process: its CPU-time clock.
    Thread(libc::clockid_t),
}

impl Probe {
    /// CPU time used so far (user + system), in nanoseconds.
    fn cpu_ns(&self) -> u64 {
        match self {
            Probe::Process(pid) => process_cpu_ns(*pid),
            Probe::Thread(clock) => clock_ns(*clock),
        }
    }

    /// Resident memory in KiB (processes only).
    fn rss_kib(&self) -> Option<u64> {
        match self {
            Probe::Process(pid) => status_kib(*pid, "VmRSS:"),
            Probe::Thread(_) => None,
        }
    }
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS:`, `RssAnon:`, `RssFile:`).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Sum of the first field of `/proc/<pid>/task/*/schedstat` (time on CPU,
/// ns); falls back to utime + stime from `/proc/<pid>/stat` (clock ticks).
fn process_cpu_ns(pid: u32) -> u64 {
    let mut total = 0u64;
    let mut any = false;
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in dir.flatten() {
            let path = task.path().join("schedstat");
            if let Ok(s) = std::fs::read_to_string(path) {
                if let Some(ns) = s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    total += ns;
                    any = true;
                }
            }
        }
    }
    if any {
        return total;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * 1_000_000_000 / hz
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a pointer to a local timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn this_thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn thread_clock<T>(handle: &std::thread::JoinHandle<T>) -> libc::clockid_t {
    use std::os::unix::thread::JoinHandleExt;
    let mut clock: libc::clockid_t = 0;
    // SAFETY: the thread is alive (joined only later) and `clock` is a local.
    unsafe { libc::pthread_getcpuclockid(handle.as_pthread_t() as libc::pthread_t, &mut clock) };
    clock
}

// ===== servers: start, wait until accepting, stop ===================================

/// A running server (or floor) under test.
struct Target {
    addr: SocketAddr,
    probe: Probe,
    child: Option<Child>,
    stop: Option<Box<dyn FnOnce()>>,
    log: Option<std::path::PathBuf>,
    startup: Duration,
}

impl Target {
    fn shutdown(mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child);
        }
        if let Some(stop) = self.stop.take() {
            stop();
        }
        if let Some(log) = self.log.take() {
            let _ = std::fs::remove_file(log);
        }
    }
}

/// SIGTERM, up to 2 s to exit, then SIGKILL. Only ever our own child.
fn stop_child(child: &mut Child) {
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A port that was free a moment ago (the child binds it with strict port).
fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Polls `addr` until a TCP connection succeeds; the time since `t0`.
fn wait_accepting(
    addr: SocketAddr,
    t0: Instant,
    child: &mut Child,
    log: Option<&std::path::Path>,
) -> io::Result<Duration> {
    let deadline = t0 + Duration::from_secs(10);
    loop {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(t0.elapsed());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let tail = log
                .and_then(|p| std::fs::read_to_string(p).ok())
                .unwrap_or_default();
            return Err(io::Error::other(format!(
                "the server exited before accepting ({status}):\n{tail}"
            )));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("the server did not accept within 10 s"));
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

fn log_path(what: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("lumora-fanout-{}-{what}.log", std::process::id()))
}

fn spawn_child(mut cmd: Command, port: u16, what: &str) -> io::Result<Target> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let log = log_path(what);
    let file = std::fs::File::create(&log)?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(file));
    let t0 = Instant::now();
    let mut child = cmd.spawn()?;
    let startup = wait_accepting(addr, t0, &mut child, Some(&log))?;
    Ok(Target {
        addr,
        probe: Probe::Process(child.id()),
        child: Some(child),
        stop: None,
        log: Some(log),
        startup,
    })
}

fn lib_config(port: u16, max_connections: usize) -> Config {
    let mut config = Config {
        host: [127, 0, 0, 1].into(),
        port,
        strict_port: true,
        max_connections,
        ..Config::default()
    };
    config.hub.coalesce = Duration::ZERO;
    config
}

/// With `--pin` (the default on 2+ CPUs): the server (or floor) runs on CPU
/// 0 and the client on CPU 1. A child process or thread inherits the CPU
/// mask of the thread that creates it, so this thread moves to CPU 0 to
/// start it and back to CPU 1 afterwards. Unpinned, the scheduler often
/// wakes the client on the server's CPU (wake-affine) in the middle of a
/// fan-out, and the two take turns on one core while the other idles.
fn on_server_cpu<T>(opts: &Opts, start: impl FnOnce() -> T) -> T {
    if opts.pin {
        pin_this_thread(SERVER_CPU);
    }
    let result = start();
    if opts.pin {
        pin_this_thread(CLIENT_CPU);
    }
    result
}

const SERVER_CPU: usize = 0;
const CLIENT_CPU: usize = 1;

fn pin_this_thread(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes within
    // it; sched_setaffinity(0, ..) applies to the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn start_server(opts: &Opts) -> io::Result<Target> {
    on_server_cpu(opts, || start_server_here(opts))
}

fn start_server_here(opts: &Opts) -> io::Result<Target> {
    // Devices, the HTTP client and the readiness probe, with room to spare.
    let max_connections = (opts.devices + 16).max(Config::default().max_connections);
    match opts.server {
        ServerKind::Bin => {
            let port = free_port()?;
            let mut cmd = Command::new(&opts.bin);
            cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--strict-port", "--coalesce-ms", "0"]);
            if max_connections > Config::default().max_connections {
                cmd.args(["--max-connections", &max_connections.to_string()]);
            }
            spawn_child(cmd, port, "server").map_err(|e| {
                io::Error::other(format!(
                    "{e}\n(the binary may not know one of the flags: try --server lib)"
                ))
            })
        }
        ServerKind::Lib => {
            let port = free_port()?;
            let mut cmd = Command::new(std::env::current_exe()?);
            cmd.args([
                "--serve-lib",
                &port.to_string(),
                &max_connections.to_string(),
            ]);
            spawn_child(cmd, port, "server")
        }
        ServerKind::Thread => {
            let t0 = Instant::now();
            let server = Server::bind(lib_config(0, max_connections))?;
            let addr = server.local_addr();
            let handle = server.handle();
            let thread = std::thread::spawn(move || server.run());
            let startup = t0.elapsed();
            let clock = thread_clock(&thread);
            Ok(Target {
                addr,
                probe: Probe::Thread(clock),
                child: None,
                stop: Some(Box::new(move || {
                    handle.shutdown();
                    let _ = thread.join();
                })),
                log: None,
                startup,
            })
        }
    }
}

fn start_floor(opts: &Opts) -> io::Result<Target> {
    on_server_cpu(opts, || start_floor_here(opts))
}

fn start_floor_here(opts: &Opts) -> io::Result<Target> {
    match opts.server {
        ServerKind::Thread => {
            let listener = widen_backlog(TcpListener::bind(([127, 0, 0, 1], 0).into())?)?;
            let addr = listener.local_addr()?;
            let bytes = opts.frame_bytes;
            let lean = opts.lean_floor;
            let thread = std::thread::spawn(move || floor_serve(listener, bytes, lean));
            let clock = thread_clock(&thread);
            Ok(Target {
                addr,
                probe: Probe::Thread(clock),
                child: None,
                // The floor ends when the control connection closes.
                stop: Some(Box::new(move || {
                    let _ = thread.join();
                })),
                log: None,
                startup: Duration::ZERO,
            })
        }
        _ => {
            let port = free_port()?;
            let mut cmd = Command::new(std::env::current_exe()?);
            cmd.args([
                "--serve-floor",
                &port.to_string(),
                &opts.frame_bytes.to_string(),
                if opts.lean_floor { "lean" } else { "full" },
            ]);
            spawn_child(cmd, port, "floor")
        }
    }
}

/// `--serve-lib PORT MAX_CONNECTIONS`: the library server, no logging.
fn serve_lib_child(args: &[String]) {
    let port: u16 = args.first().and_then(|p| p.parse().ok()).unwrap_or(0);
    let max: usize = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(10_000);
    match Server::bind(lib_config(port, max)).and_then(Server::run) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("serve-lib: {e}");
            std::process::exit(1);
        }
    }
}

/// A listen backlog of 1,024 for the floor, as the server has (mio's 128
/// overflows when 256 devices connect at once, and dropped SYNs are retried
/// after a second).
fn widen_backlog(listener: TcpListener) -> io::Result<TcpListener> {
    use std::os::fd::AsRawFd;
    // SAFETY: listen(2) on a socket we own.
    if unsafe { libc::listen(listener.as_raw_fd(), 1024) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(listener)
}

/// `--serve-floor PORT FRAME_BYTES`: the bare loop.
fn serve_floor_child(args: &[String]) {
    let port: u16 = args.first().and_then(|p| p.parse().ok()).unwrap_or(0);
    let bytes: usize = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(600);
    let lean = args.get(2).is_some_and(|a| a == "lean");
    let result = TcpListener::bind(([127, 0, 0, 1], port).into())
        .and_then(widen_backlog)
        .and_then(|listener| floor_serve(listener, bytes, lean));
    if let Err(e) = result {
        eprintln!("serve-floor: {e}");
        std::process::exit(1);
    }
}

// ===== the floor: a bare mio loop ==================================================

/// Magic first bytes of the floor's control connection; after it, each
/// update is triggered by its sequence number (8 bytes, little endian) and
/// answered by one byte once every socket has been written.
const CTRL_MAGIC: &[u8] = b"CTRL";
const LISTEN: Token = Token(usize::MAX - 1);

enum FloorState {
    /// Reading the HTTP upgrade request (or the control magic).
    Handshake(Vec<u8>),
    /// Waiting for the device's `connect` frame.
    AwaitConnect,
    /// A device: acks are read and dropped.
    Ready,
    /// The control connection.
    Control(Vec<u8>),
}

struct FloorConn {
    sock: TcpStream,
    state: FloorState,
    pending: Vec<u8>,
}

/// A pre-framed update of exactly `size` bytes (a valid text frame holding
/// valid JSON) with a space-padded sequence number at a known offset.
fn floor_frame(size: usize) -> (Vec<u8>, usize) {
    let head = r#"{"type":"update","sessionId":"floor","timestamp":0,"version":"1.0.0","payload":{"type":"incremental","sequenceNumber":"#;
    let seq_field = 12;
    let tail_start = r#","checksum":"00000000","delta":{"added":[],"removed":[],"modified":[{"id":"n","type":"Text","props":{"text":""#;
    let tail_end = r#""}}]}}}"#;
    let header = if size <= 127 { 2 } else { 4 };
    let fixed = header + head.len() + seq_field + tail_start.len() + tail_end.len();
    let filler = size.saturating_sub(fixed);
    let mut payload = String::with_capacity(size);
    payload.push_str(head);
    let seq_at = payload.len();
    payload.push_str(&" ".repeat(seq_field - 1));
    payload.push('0');
    payload.push_str(tail_start);
    payload.push_str(&"x".repeat(filler));
    payload.push_str(tail_end);
    let mut frame = text_frame_header(payload.len());
    let seq_at = frame.len() + seq_at;
    frame.extend_from_slice(payload.as_bytes());
    (frame, seq_at)
}

fn text_frame_header(len: usize) -> Vec<u8> {
    let mut f = vec![0x81];
    if len < 126 {
        f.push(len as u8);
    } else if len <= u16::MAX as usize {
        f.push(126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(127);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
    f
}

/// `lean`: stop reading at a short read, as the server does (one `recvfrom`
/// per ack); otherwise read until `WouldBlock` (two), the textbook loop.
fn floor_serve(mut listener: TcpListener, frame_bytes: usize, lean: bool) -> io::Result<()> {
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTEN, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut conns: slab::Slab<FloorConn> = slab::Slab::new();
    let (mut frame, seq_at) = floor_frame(frame_bytes);
    let connected = {
        let mut f = text_frame_header(20);
        f.extend_from_slice(br#"{"type":"connected"}"#);
        f
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            if event.token() == LISTEN {
                loop {
                    match listener.accept() {
                        Ok((mut sock, _)) => {
                            let _ = sock.set_nodelay(true);
                            let entry = conns.vacant_entry();
                            poll.registry().register(
                                &mut sock,
                                Token(entry.key()),
                                Interest::READABLE,
                            )?;
                            entry.insert(FloorConn {
                                sock,
                                state: FloorState::Handshake(Vec::new()),
                                pending: Vec::new(),
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                continue;
            }
            let key = event.token().0;
            if event.is_writable() {
                if let Some(c) = conns.get_mut(key) {
                    floor_flush(c, &poll, key)?;
                }
            }
            // Read until WouldBlock (edge-triggered), or with `lean` until a
            // short read when the event did not report a FIN.
            let stop_short = lean && !(event.is_read_closed() || event.is_error());
            let mut eof = false;
            let mut got = Vec::new();
            if let Some(c) = conns.get_mut(key) {
                loop {
                    match c.sock.read(&mut buf) {
                        Ok(0) => {
                            eof = true;
                            break;
                        }
                        Ok(n) => {
                            if !matches!(c.state, FloorState::Ready) {
                                got.extend_from_slice(&buf[..n]);
                            }
                            if stop_short && n < buf.len() {
                                break;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => {
                            eof = true;
                            break;
                        }
                    }
                }
            } else {
                continue;
            }
            if !got.is_empty() {
                let mut triggers = Vec::new();
                let c = &mut conns[key];
                match &mut c.state {
                    FloorState::Handshake(acc) => {
                        acc.extend_from_slice(&got);
                        if acc.starts_with(CTRL_MAGIC) {
                            let rest = acc[CTRL_MAGIC.len()..].to_vec();
                            c.state = FloorState::Control(rest);
                        } else if let Some(end) = find(acc, b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&acc[..end]).to_string();
                            let key_line = head
                                .lines()
                                .find_map(|l| {
                                    let (n, v) = l.split_once(':')?;
                                    n.eq_ignore_ascii_case("sec-websocket-key")
                                        .then(|| v.trim().to_string())
                                })
                                .unwrap_or_default();
                            let resp = format!(
                                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                                tungstenite::handshake::derive_accept_key(key_line.as_bytes())
                            );
                            c.state = FloorState::AwaitConnect;
                            floor_write(c, &poll, key, resp.as_bytes())?;
                        }
                    }
                    FloorState::AwaitConnect => {
                        c.state = FloorState::Ready;
                        floor_write(c, &poll, key, &connected)?;
                    }
                    FloorState::Ready => {}
                    FloorState::Control(acc) => acc.extend_from_slice(&got),
                }
                if let FloorState::Control(acc) = &mut c.state {
                    while acc.len() >= 8 {
                        let seq = u64::from_le_bytes(acc[..8].try_into().unwrap());
                        acc.drain(..8);
                        triggers.push(seq);
                    }
                }
                for seq in triggers {
                    // Patch the sequence number into the one pre-built frame.
                    let digits = seq.to_string();
                    let field = &mut frame[seq_at..seq_at + 12];
                    field.fill(b' ');
                    field[12 - digits.len()..].copy_from_slice(digits.as_bytes());
                    for (k, d) in conns.iter_mut() {
                        if matches!(d.state, FloorState::Ready) {
                            floor_write(d, &poll, k, &frame)?;
                        }
                    }
                    floor_write(&mut conns[key], &poll, key, b"k")?;
                }
            }
            if eof {
                let mut c = conns.remove(key);
                let _ = poll.registry().deregister(&mut c.sock);
                if matches!(c.state, FloorState::Control(_)) {
                    return Ok(());
                }
            }
        }
    }
}

fn floor_write(c: &mut FloorConn, poll: &Poll, key: usize, bytes: &[u8]) -> io::Result<()> {
    if !c.pending.is_empty() {
        c.pending.extend_from_slice(bytes);
        return Ok(());
    }
    let n = match c.sock.write(bytes) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(_) => return Ok(()), // the read side will see the error
    };
    if n < bytes.len() {
        c.pending.extend_from_slice(&bytes[n..]);
        poll.registry().reregister(
            &mut c.sock,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        )?;
    }
    Ok(())
}

fn floor_flush(c: &mut FloorConn, poll: &Poll, key: usize) -> io::Result<()> {
    while !c.pending.is_empty() {
        match c.sock.write(&c.pending) {
            Ok(n) => {
                c.pending.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(_) => return Ok(()),
        }
    }
    poll.registry()
        .reregister(&mut c.sock, Token(key), Interest::READABLE)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

// ===== the client: N devices on one thread ==========================================

const TRIGGER: Token = Token(usize::MAX - 1);
/// Events taken per `poll`. A frame's receipt time is when the `poll` that
/// reported it returned (an upper bound on its arrival that does not count
/// the client's own work on the rest of the batch); small batches keep that
/// bound tight: 64 events are handled in well under a millisecond.
const EVENTS_PER_POLL: usize = 64;
/// Handshakes in flight at once (the listen backlog is 1,024).
const CONNECT_WINDOW: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DevState {
    Connecting,
    Upgrading,
    AwaitConnected,
    Ready,
    Dead,
}

struct Dev {
    sock: TcpStream,
    state: DevState,
    key: String,
    rbuf: Vec<u8>,
    wpend: Vec<u8>,
    last_seq: u64,
    retries: u32,
}

/// What starts an update: an HTTP push, or the floor's control bytes.
enum TriggerKind {
    Http {
        /// One pre-built `POST /send/:id` request per update.
        requests: Vec<Vec<u8>>,
    },
    Floor,
}

struct Trigger {
    kind: TriggerKind,
    sock: TcpStream,
    wpend: Vec<u8>,
    rbuf: Vec<u8>,
    busy: bool,
    /// Update class of the last answer: 0 small, 1 full, 2 other.
    class: usize,
    errors: usize,
    /// When the last answer arrived.
    answered: Option<Instant>,
}

struct Client {
    poll: Poll,
    events: Events,
    /// When the last `poll` returned: what a device read in this batch had
    /// arrived by then (see `EVENTS_PER_POLL`).
    polled_at: Instant,
    addr: SocketAddr,
    session: String,
    devs: Vec<Dev>,
    rng: u64,
    scratch: Vec<u8>,
    payload: Vec<u8>,
    frame: Vec<u8>,
    ready: usize,
    dead: usize,
    /// Updates read but not acked yet: (device, sequence number).
    pending_acks: Vec<(usize, u64)>,
    /// Ack after every `poll` batch instead of after the round.
    ack_at_once: bool,
    trigger: Option<Trigger>,
    // The round in progress.
    expect_seq: u64,
    round_t0: Instant,
    round_wall_ms: u64,
    round_received: usize,
    round_lat: Vec<u64>,
    round_frame_bytes: usize,
    delivered: u64,
}

impl Client {
    fn new(addr: SocketAddr, session: &str) -> io::Result<Client> {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1;
        Ok(Client {
            poll: Poll::new()?,
            events: Events::with_capacity(EVENTS_PER_POLL),
            polled_at: Instant::now(),
            addr,
            session: session.to_string(),
            devs: Vec::new(),
            rng: seed,
            scratch: vec![0; 256 * 1024],
            payload: Vec::with_capacity(256),
            frame: Vec::with_capacity(256),
            ready: 0,
            dead: 0,
            pending_acks: Vec::new(),
            ack_at_once: false,
            trigger: None,
            expect_seq: 0,
            round_t0: Instant::now(),
            round_wall_ms: 0,
            round_received: 0,
            round_lat: Vec::new(),
            round_frame_bytes: 0,
            delivered: 0,
        })
    }

    fn rand(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn new_key(&mut self) -> String {
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&self.rand().to_le_bytes());
        raw[8..].copy_from_slice(&self.rand().to_le_bytes());
        base64(&raw)
    }

    fn open(&mut self, i: usize) -> io::Result<()> {
        let mut sock = TcpStream::connect(self.addr)?;
        self.poll.registry().register(
            &mut sock,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let key = self.new_key();
        if i < self.devs.len() {
            let d = &mut self.devs[i];
            let _ = self.poll.registry().deregister(&mut d.sock);
            d.sock = sock;
            d.state = DevState::Connecting;
            d.key = key;
            d.rbuf.clear();
            d.wpend.clear();
        } else {
            self.devs.push(Dev {
                sock,
                state: DevState::Connecting,
                key,
                rbuf: Vec::new(),
                wpend: Vec::new(),
                last_seq: 0,
                retries: 0,
            });
        }
        Ok(())
    }

    /// Opens `n` devices, `CONNECT_WINDOW` handshakes at a time, and waits
    /// until every one has its `connected` message.
    fn connect_all(&mut self, n: usize) -> io::Result<Duration> {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(60);
        let mut opened = 0;
        while self.ready < n {
            let in_flight = opened - self.ready;
            let can_open = CONNECT_WINDOW.saturating_sub(in_flight).min(n - opened);
            for _ in 0..can_open {
                self.open(opened)?;
                opened += 1;
            }
            self.pump(Duration::from_millis(50))?;
            if self.dead > 0 {
                return Err(io::Error::other(format!(
                    "{} device(s) could not connect",
                    self.dead
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "only {} of {n} devices connected within 60 s",
                    self.ready
                )));
            }
        }
        Ok(t0.elapsed())
    }

    /// Waits for events for up to `timeout` and handles them.
    fn pump(&mut self, timeout: Duration) -> io::Result<()> {
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        self.polled_at = Instant::now();
        let tokens: Vec<(Token, bool, bool, bool)> = self
            .events
            .iter()
            .map(|e| {
                let closed = e.is_read_closed() || e.is_error();
                (
                    e.token(),
                    e.is_writable(),
                    e.is_readable() || closed,
                    closed,
                )
            })
            .collect();
        // Ack once caught up (with `--ack-at-once`), or once every device
        // has its update of this round.
        let caught_up = tokens.len() < EVENTS_PER_POLL
            && (self.ack_at_once || self.round_received >= self.ready);
        for (token, writable, readable, closed) in tokens {
            if token == TRIGGER {
                self.trigger_event(writable, readable)?;
            } else {
                self.dev_event(token.0, writable, readable, closed)?;
            }
        }
        if caught_up {
            self.send_acks()?;
        }
        Ok(())
    }

    /// Acks what was read. The client acks once every device has its update
    /// (or the round gave up waiting): a read costs it a fraction of an
    /// ack's write (a loopback write also delivers into the server's
    /// socket), so while it only reads it keeps up with the server's
    /// fan-out, and its receipt times are the server's, not its own
    /// backlog's. The server reads just as many acks; it could not read
    /// them earlier anyway, since it writes a broadcast in one go.
    fn send_acks(&mut self) -> io::Result<()> {
        for (i, seq) in std::mem::take(&mut self.pending_acks) {
            if self.devs[i].state != DevState::Ready {
                continue;
            }
            self.payload.clear();
            let _ = write!(
                Bytes(&mut self.payload),
                r#"{{"type":"ack","sessionId":"{}","timestamp":{},"version":"1.0.0","payload":{{"sequenceNumber":{seq},"success":true}}}}"#,
                self.session,
                self.round_wall_ms
            );
            let payload = std::mem::take(&mut self.payload);
            self.send_masked(i, 0x1, &payload)?;
            self.payload = payload;
        }
        Ok(())
    }

    /// Handles events until `done` holds or `until` passes.
    fn pump_until(&mut self, until: Instant, done: impl Fn(&Client) -> bool) -> io::Result<bool> {
        loop {
            if done(self) {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= until {
                return Ok(false);
            }
            self.pump(until - now)?;
        }
    }

    fn dev_event(
        &mut self,
        i: usize,
        writable: bool,
        readable: bool,
        closed: bool,
    ) -> io::Result<()> {
        if i >= self.devs.len() || self.devs[i].state == DevState::Dead {
            return Ok(());
        }
        if self.devs[i].state == DevState::Connecting {
            if !writable && !readable {
                return Ok(());
            }
            let d = &mut self.devs[i];
            if let Ok(Some(_)) | Err(_) = d.sock.take_error() {
                return self.retry(i);
            }
            match d.sock.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                Err(_) => return self.retry(i),
            }
            let _ = d.sock.set_nodelay(true);
            let req = format!(
                "GET /ws?session={} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
                self.session, self.addr, d.key
            );
            d.state = DevState::Upgrading;
            self.write_dev(i, req.as_bytes())?;
        } else if writable && !self.devs[i].wpend.is_empty() {
            let d = &mut self.devs[i];
            while !d.wpend.is_empty() {
                match d.sock.write(&d.wpend) {
                    Ok(n) => {
                        d.wpend.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => return self.kill(i),
                }
            }
            if d.wpend.is_empty() {
                self.poll
                    .registry()
                    .reregister(&mut d.sock, Token(i), Interest::READABLE)?;
            }
        }
        if readable {
            self.dev_read(i, closed)?;
        }
        Ok(())
    }

    fn retry(&mut self, i: usize) -> io::Result<()> {
        if self.devs[i].retries >= 3 {
            return self.kill(i);
        }
        self.devs[i].retries += 1;
        self.open(i)
    }

    fn kill(&mut self, i: usize) -> io::Result<()> {
        let d = &mut self.devs[i];
        if d.state != DevState::Dead {
            if d.state == DevState::Ready {
                self.ready -= 1;
            }
            d.state = DevState::Dead;
            self.dead += 1;
            let _ = self.poll.registry().deregister(&mut d.sock);
        }
        Ok(())
    }

    /// Reads what arrived; like the server, stops at a short read unless the
    /// event also reported the peer's FIN (`closed`).
    fn dev_read(&mut self, i: usize, closed: bool) -> io::Result<()> {
        let now = self.polled_at;
        let mut eof = false;
        let mut buf = std::mem::take(&mut self.devs[i].rbuf);
        loop {
            match self.devs[i].sock.read(&mut self.scratch) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    buf.extend_from_slice(&self.scratch[..n]);
                    if n < self.scratch.len() && !closed {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    eof = true;
                    break;
                }
            }
        }
        let mut off = 0;
        if self.devs[i].state == DevState::Upgrading {
            let Some(end) = find(&buf, b"\r\n\r\n") else {
                self.devs[i].rbuf = buf;
                return if eof { self.retry(i) } else { Ok(()) };
            };
            let head = String::from_utf8_lossy(&buf[..end]);
            let accept = tungstenite::handshake::derive_accept_key(self.devs[i].key.as_bytes());
            if !head.starts_with("HTTP/1.1 101") || !head.contains(&accept) {
                eprintln!(
                    "device {i}: upgrade refused: {}",
                    head.lines().next().unwrap_or("")
                );
                return self.kill(i);
            }
            off = end + 4;
            self.devs[i].key = String::new();
            self.devs[i].state = DevState::AwaitConnected;
            let d = &mut self.devs[i];
            if d.wpend.is_empty() {
                self.poll
                    .registry()
                    .reregister(&mut d.sock, Token(i), Interest::READABLE)?;
            }
            let msg = format!(
                r#"{{"type":"connect","sessionId":"{}","timestamp":{},"version":"1.0.0","payload":{{"deviceId":"load-{i}","platform":"web","deviceName":"load {i}","clientVersion":"1.0.0"}}}}"#,
                self.session,
                wall_ms()
            );
            self.send_masked(i, 0x1, msg.as_bytes())?;
        }
        while let Some((op, start, end)) = parse_frame(&buf[off..]) {
            let payload_at = off + start..off + end;
            let frame_len = end;
            off += end;
            match op {
                0x1 => self.on_text(i, &buf[payload_at], frame_len, now)?,
                0x9 => {
                    let p = buf[payload_at].to_vec();
                    self.send_masked(i, 0xA, &p)?;
                }
                0x8 => {
                    eof = true;
                    break;
                }
                _ => {}
            }
        }
        buf.drain(..off.min(buf.len()));
        self.devs[i].rbuf = buf;
        if eof {
            if self.devs[i].state == DevState::Upgrading {
                return self.retry(i);
            }
            return self.kill(i);
        }
        Ok(())
    }

    fn on_text(&mut self, i: usize, text: &[u8], frame_len: usize, now: Instant) -> io::Result<()> {
        match self.devs[i].state {
            DevState::AwaitConnected => {
                if text.starts_with(br#"{"type":"connected""#) {
                    self.devs[i].state = DevState::Ready;
                    self.ready += 1;
                } else if text.starts_with(br#"{"type":"error""#) {
                    eprintln!("device {i}: {}", String::from_utf8_lossy(text));
                    return self.kill(i);
                }
            }
            DevState::Ready if text.starts_with(br#"{"type":"update""#) => {
                let Some(seq) = sequence_number(text) else {
                    return Ok(());
                };
                self.delivered += 1;
                if seq == self.expect_seq && self.devs[i].last_seq != seq {
                    self.round_received += 1;
                    self.round_lat
                        .push(now.saturating_duration_since(self.round_t0).as_nanos() as u64);
                    if self.round_frame_bytes == 0 {
                        self.round_frame_bytes = frame_len;
                    }
                }
                self.devs[i].last_seq = seq;
                self.pending_acks.push((i, seq));
            }
            _ => {}
        }
        Ok(())
    }

    /// Frames `payload` with a fresh mask (RFC 6455 §5.3) and sends it.
    fn send_masked(&mut self, i: usize, opcode: u8, payload: &[u8]) -> io::Result<()> {
        let mask = (self.rand() as u32).to_le_bytes();
        let mut f = std::mem::take(&mut self.frame);
        f.clear();
        f.push(0x80 | opcode);
        let len = payload.len();
        if len < 126 {
            f.push(0x80 | len as u8);
        } else if len <= u16::MAX as usize {
            f.push(0x80 | 126);
            f.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            f.push(0x80 | 127);
            f.extend_from_slice(&(len as u64).to_be_bytes());
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(j, b)| b ^ mask[j & 3]));
        let r = self.write_dev(i, &f);
        self.frame = f;
        r
    }

    fn write_dev(&mut self, i: usize, bytes: &[u8]) -> io::Result<()> {
        let d = &mut self.devs[i];
        if !d.wpend.is_empty() {
            d.wpend.extend_from_slice(bytes);
            return Ok(());
        }
        let n = match d.sock.write(bytes) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(_) => return self.kill(i),
        };
        if n < bytes.len() {
            d.wpend.extend_from_slice(&bytes[n..]);
            self.poll.registry().reregister(
                &mut d.sock,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )?;
        }
        Ok(())
    }

    // ----- the trigger connection ----------------------------------------------

    fn set_trigger(&mut self, kind: TriggerKind) -> io::Result<()> {
        let std_sock = std::net::TcpStream::connect(self.addr)?;
        std_sock.set_nodelay(true)?;
        std_sock.set_nonblocking(true)?;
        let mut sock = TcpStream::from_std(std_sock);
        self.poll
            .registry()
            .register(&mut sock, TRIGGER, Interest::READABLE)?;
        self.trigger = Some(Trigger {
            kind,
            sock,
            wpend: Vec::new(),
            rbuf: Vec::new(),
            busy: false,
            class: 0,
            errors: 0,
            answered: None,
        });
        if matches!(self.trigger.as_ref().unwrap().kind, TriggerKind::Floor) {
            self.trigger_write(CTRL_MAGIC)?;
        }
        Ok(())
    }

    fn fire(&mut self, round: usize, seq: u64) -> io::Result<()> {
        let t = self.trigger.as_mut().expect("trigger");
        t.busy = true;
        let bytes = match &t.kind {
            TriggerKind::Http { requests } => requests[round].clone(),
            TriggerKind::Floor => seq.to_le_bytes().to_vec(),
        };
        self.trigger_write(&bytes)
    }

    fn trigger_write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let t = self.trigger.as_mut().expect("trigger");
        t.wpend.extend_from_slice(bytes);
        self.trigger_event(true, false)
    }

    fn trigger_event(&mut self, writable: bool, readable: bool) -> io::Result<()> {
        let Some(t) = self.trigger.as_mut() else {
            return Ok(());
        };
        if writable && !t.wpend.is_empty() {
            while !t.wpend.is_empty() {
                match t.sock.write(&t.wpend) {
                    Ok(n) => {
                        t.wpend.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            let interest = if t.wpend.is_empty() {
                Interest::READABLE
            } else {
                Interest::READABLE | Interest::WRITABLE
            };
            self.poll
                .registry()
                .reregister(&mut t.sock, TRIGGER, interest)?;
        }
        if !readable {
            return Ok(());
        }
        loop {
            match t.sock.read(&mut self.scratch) {
                Ok(0) => return Err(io::Error::other("the server closed the push connection")),
                Ok(n) => t.rbuf.extend_from_slice(&self.scratch[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        match t.kind {
            TriggerKind::Floor => {
                if !t.rbuf.is_empty() {
                    t.rbuf.clear();
                    t.busy = false;
                    t.answered = Some(self.polled_at);
                    t.class = 0;
                }
            }
            TriggerKind::Http { .. } => {
                let Some(end) = find(&t.rbuf, b"\r\n\r\n") else {
                    return Ok(());
                };
                let head = String::from_utf8_lossy(&t.rbuf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if t.rbuf.len() < end + 4 + len {
                    return Ok(());
                }
                let body = String::from_utf8_lossy(&t.rbuf[end + 4..end + 4 + len]).to_string();
                if !head.starts_with("http/1.1 200") {
                    t.errors += 1;
                    if t.errors <= 3 {
                        eprintln!("push refused: {} {body}", head.lines().next().unwrap_or(""));
                    }
                }
                t.class = if body.contains(r#""updateType":"incremental""#) {
                    0
                } else if body.contains(r#""updateType":"full""#) {
                    1
                } else {
                    2
                };
                t.rbuf.drain(..end + 4 + len);
                t.busy = false;
                t.answered = Some(self.polled_at);
            }
        }
        Ok(())
    }

    /// Sends `updates` updates and measures each round.
    fn rounds(
        &mut self,
        updates: usize,
        first_seq: u64,
        probe: &Probe,
        opts: &Opts,
    ) -> io::Result<Rounds> {
        let n = self.ready;
        let mut out = Rounds::default();
        let client_cpu0 = this_thread_cpu_ns();
        let mut cpu_marks = Vec::with_capacity(updates + 1);
        let mut last_t0 = Instant::now() - opts.interval;
        for round in 0..updates {
            let start_at = last_t0 + opts.interval;
            self.pump_until(start_at, |_| false)?;
            cpu_marks.push(probe.cpu_ns());
            self.expect_seq = first_seq + round as u64;
            self.round_received = 0;
            self.round_lat.clear();
            self.round_frame_bytes = 0;
            self.round_wall_ms = wall_ms();
            let t0 = Instant::now();
            self.round_t0 = t0;
            last_t0 = t0;
            self.fire(round, self.expect_seq)?;
            let complete = self.pump_until(t0 + Duration::from_secs(10), |c| {
                c.round_received >= n && !c.trigger.as_ref().is_some_and(|t| t.busy)
            })?;
            self.send_acks()?;
            if !complete {
                eprintln!(
                    "update {round}: only {} of {n} devices got it within 10 s",
                    self.round_received
                );
            }
            self.pump_until(Instant::now() + opts.gap, |_| false)?;
            let class = self.trigger.as_ref().map_or(2, |t| t.class);
            out.class.push(class);
            out.received.push(self.round_received as u64);
            out.frame_bytes.push(self.round_frame_bytes);
            let answered = self.trigger.as_ref().and_then(|t| t.answered);
            out.answered
                .push(answered.map_or(0, |a| a.saturating_duration_since(t0).as_nanos() as u64));
            out.lat[class.min(1)].extend_from_slice(&self.round_lat);
        }
        // Let the server read the last acks before the last reading.
        self.pump_until(Instant::now() + Duration::from_millis(100), |_| false)?;
        cpu_marks.push(probe.cpu_ns());
        out.cpu = cpu_marks.windows(2).map(|w| w[1] - w[0]).collect();
        out.client_cpu = this_thread_cpu_ns() - client_cpu0;
        out.expected = (n * updates) as u64;
        out.push_errors = self.trigger.as_ref().map_or(0, |t| t.errors);
        Ok(out)
    }
}

/// `Vec<u8>` as a `fmt::Write` target.
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An unmasked frame at the start of `b`: (opcode, payload start, end).
fn parse_frame(b: &[u8]) -> Option<(u8, usize, usize)> {
    if b.len() < 2 {
        return None;
    }
    let op = b[0] & 0x0f;
    let mut len = (b[1] & 0x7f) as usize;
    let mut p = 2;
    if len == 126 {
        len = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize;
        p = 4;
    } else if len == 127 {
        len = u64::from_be_bytes(b.get(2..10)?.try_into().ok()?) as usize;
        p = 10;
    }
    if b[1] & 0x80 != 0 {
        p += 4;
    }
    (b.len() >= p + len).then_some((op, p, p + len))
}

/// The `sequenceNumber` of an update (searched from the end: it follows
/// the schema or delta).
fn sequence_number(text: &[u8]) -> Option<u64> {
    let key = br#""sequenceNumber":"#;
    let at = rfind(text, key)? + key.len();
    let digits = text[at..]
        .iter()
        .skip_while(|c| **c == b' ')
        .take_while(|c| c.is_ascii_digit());
    let mut v = 0u64;
    let mut any = false;
    for d in digits {
        v = v * 10 + u64::from(d - b'0');
        any = true;
    }
    any.then_some(v)
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(A[(v >> 18) as usize & 63] as char);
        out.push(A[(v >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            A[(v >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            A[v as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

// ===== schemas and HTTP ==========================================================

/// Top-level nodes of the test schema; a one-node edit gives an incremental
/// update of about 600 bytes, a full update is a few KiB.
const NODES: usize = 12;

fn node(i: usize, text: &str) -> Value {
    json!({
        "id": format!("node-{i}"),
        "type": "Text",
        "props": {
            "text": text,
            "style": {"color": "#336699", "fontSize": 16, "fontWeight": "600", "padding": 12,
                      "margin": 8, "backgroundColor": "#ffffff", "borderRadius": 6,
                      "textAlign": "left", "lineHeight": 1.4},
            "accessibilityLabel": format!("Label for node {i}, read aloud by screen readers"),
        },
        "metadata": {"sourceLine": 10 + i, "component": "TextBlock"}
    })
}

/// The schemas pushed: [initial, update 1, ..., update K]. Update r edits
/// one node (incremental), except every `full_every`-th, which edits all
/// (more than the incremental threshold, so a full update).
fn schemas(updates: usize, full_every: usize) -> Vec<String> {
    let mut texts: Vec<String> = (0..NODES).map(|i| format!("initial text {i}")).collect();
    let mut out = Vec::with_capacity(updates + 1);
    for r in 0..=updates {
        if r > 0 {
            if full_every > 0 && r % full_every == 0 {
                for (i, t) in texts.iter_mut().enumerate() {
                    *t = format!("rewritten in update {r} ({i})");
                }
            } else {
                texts[r % NODES] = format!("edited in update {r}");
            }
        }
        let nodes: Vec<Value> = texts.iter().enumerate().map(|(i, t)| node(i, t)).collect();
        out.push(
            json!({
                "version": "1.0",
                "metadata": {"sourceFramework": "react", "sourceFile": "App.tsx", "generatedAt": 1},
                "nodes": nodes,
            })
            .to_string(),
        );
    }
    out
}

fn post_request(addr: SocketAddr, path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One blocking request with `Connection: close`; status and body.
fn http_once(addr: SocketAddr, method: &str, path: &str, body: &str) -> io::Result<(u16, String)> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

// ===== phases and results ==========================================================

#[derive(Debug, Default)]
struct Rounds {
    /// Per round: server CPU ns, class (0 small, 1 full, 2 other),
    /// devices that got it, frame size.
    cpu: Vec<u64>,
    class: Vec<usize>,
    received: Vec<u64>,
    frame_bytes: Vec<usize>,
    /// Latencies (ns) of small and of full updates.
    lat: [Vec<u64>; 2],
    /// Per round: time (ns) until the push was answered, i.e. until the
    /// server had written the update to every socket (or queued it).
    answered: Vec<u64>,
    client_cpu: u64,
    expected: u64,
    push_errors: usize,
}

impl Rounds {
    fn delivered(&self) -> u64 {
        self.received.iter().sum()
    }

    /// Server CPU µs per delivered update of `class` (None = all).
    fn cpu_per_msg_us(&self, class: Option<usize>) -> Option<f64> {
        let (mut ns, mut msgs) = (0u64, 0u64);
        for i in 0..self.cpu.len() {
            if class.is_none_or(|c| self.class[i] == c) {
                ns += self.cpu[i];
                msgs += self.received[i];
            }
        }
        (msgs > 0).then(|| ns as f64 / msgs as f64 / 1000.0)
    }

    fn mean_frame(&self, class: usize) -> Option<usize> {
        let sizes: Vec<usize> = (0..self.class.len())
            .filter(|&i| self.class[i] == class && self.frame_bytes[i] > 0)
            .map(|i| self.frame_bytes[i])
            .collect();
        (!sizes.is_empty()).then(|| sizes.iter().sum::<usize>() / sizes.len())
    }

    fn count(&self, class: usize) -> usize {
        self.class.iter().filter(|&&c| c == class).count()
    }

    fn latencies(&self, class: Option<usize>) -> Vec<u64> {
        let mut v: Vec<u64> = match class {
            Some(c) => self.lat[c].clone(),
            None => self.lat.concat(),
        };
        v.sort_unstable();
        v
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64
}

#[derive(Debug, Default, Clone, Copy)]
struct Memory {
    idle_kib: u64,
    base_kib: u64,
    devices_kib: u64,
    after_kib: u64,
}

struct Phase {
    rounds: Rounds,
    connect: Duration,
    memory: Option<Memory>,
}

fn settle(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn floor_phase(opts: &Opts) -> io::Result<Phase> {
    let target = start_floor(opts)?;
    let result = (|| {
        let mut client = Client::new(target.addr, "floor")?;
        client.ack_at_once = opts.ack_at_once;
        client.set_trigger(TriggerKind::Floor)?;
        let connect = client.connect_all(opts.devices)?;
        let rounds = client.rounds(opts.updates, 1, &target.probe, opts)?;
        Ok(Phase {
            rounds,
            connect,
            memory: None,
        })
    })();
    target.shutdown();
    result
}

fn server_phase(opts: &Opts) -> io::Result<Phase> {
    let target = start_server(opts)?;
    let result = (|| {
        settle(200);
        let idle_kib = target.probe.rss_kib();
        let (status, body) = http_once(target.addr, "POST", "/session/new", "")?;
        let session = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["sessionId"].as_str().map(str::to_string))
            .ok_or_else(|| io::Error::other(format!("POST /session/new: {status} {body}")))?;
        let bodies = schemas(opts.updates, opts.full_every);
        let path = format!("/send/{session}");
        let (status, body) = http_once(target.addr, "POST", &path, &bodies[0])?;
        if status != 200 {
            return Err(io::Error::other(format!("initial push: {status} {body}")));
        }
        settle(50);
        let base_kib = target.probe.rss_kib();
        let mut client = Client::new(target.addr, &session)?;
        client.ack_at_once = opts.ack_at_once;
        let requests = bodies[1..]
            .iter()
            .map(|b| post_request(target.addr, &path, b))
            .collect();
        client.set_trigger(TriggerKind::Http { requests })?;
        let connect = client.connect_all(opts.devices)?;
        client.pump_until(Instant::now() + Duration::from_millis(200), |_| false)?;
        let devices_kib = target.probe.rss_kib();
        // The initial push was update 1.
        let rounds = client.rounds(opts.updates, 2, &target.probe, opts)?;
        let after_kib = target.probe.rss_kib();
        let memory = match (idle_kib, base_kib, devices_kib, after_kib) {
            (Some(idle_kib), Some(base_kib), Some(devices_kib), Some(after_kib)) => Some(Memory {
                idle_kib,
                base_kib,
                devices_kib,
                after_kib,
            }),
            _ => None,
        };
        Ok(Phase {
            rounds,
            connect,
            memory,
        })
    })();
    target.shutdown();
    result
}

fn ms(ns: f64) -> String {
    format!("{:.2} ms", ns / 1e6)
}

fn lat_line(r: &Rounds, class: Option<usize>) -> String {
    let v = r.latencies(class);
    format!(
        "p50 {} p99 {} max {}",
        ms(percentile(&v, 0.50)),
        ms(percentile(&v, 0.99)),
        ms(percentile(&v, 1.0))
    )
}

/// Median time from the push to its answer (every socket written).
fn answered_line(r: &Rounds) -> String {
    let mut v: Vec<u64> = r.answered.iter().copied().filter(|&a| a > 0).collect();
    v.sort_unstable();
    format!("push answered after {} (median)", ms(percentile(&v, 0.5)))
}

fn opt_us(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2} µs"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn fanout(opts: &Opts) -> io::Result<()> {
    let n = opts.devices;
    println!(
        "fan-out: {n} devices, {} updates per phase (every {} full), {} run(s), server = {:?}, floor = {}, acks {}, {} CPUs{}",
        opts.updates,
        if opts.full_every == 0 {
            "none".to_string()
        } else {
            format!("{}th", opts.full_every)
        },
        opts.runs,
        opts.server,
        if !opts.floor {
            "off"
        } else if opts.lean_floor {
            "lean (one read per ack)"
        } else {
            "reads until WouldBlock"
        },
        if opts.ack_at_once {
            "at once"
        } else {
            "after the round"
        },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if opts.pin {
            format!(" (server on CPU {SERVER_CPU}, client on CPU {CLIENT_CPU})")
        } else {
            " (not pinned)".to_string()
        },
    );
    let mut floor_us = Vec::new();
    let mut server_small = Vec::new();
    let mut server_full = Vec::new();
    let mut server_all = Vec::new();
    let mut ratios = Vec::new();
    let mut lat_small = [Vec::new(), Vec::new(), Vec::new()];
    let mut lat_all = [Vec::new(), Vec::new(), Vec::new()];
    let mut lat_floor = [Vec::new(), Vec::new(), Vec::new()];
    let mut mem = [Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    let mut undelivered = 0u64;
    let wall = Instant::now();
    for run in 1..=opts.runs {
        // Alternate the order so neither phase always runs on a warmer machine.
        let floor_first = run % 2 == 1;
        let mut floor = None;
        if opts.floor && floor_first {
            floor = Some(floor_phase(opts)?);
        }
        let server = server_phase(opts)?;
        if opts.floor && !floor_first {
            floor = Some(floor_phase(opts)?);
        }
        println!("run {run}/{}:", opts.runs);
        if let Some(f) = &floor {
            let r = &f.rounds;
            let cpu = r.cpu_per_msg_us(None);
            println!(
                "  floor : {}/{} delivered ({} B frames), CPU {} per message; latency {}; {}; client {:.2} µs/msg; connect {:.0} ms",
                r.delivered(),
                r.expected,
                r.mean_frame(0).unwrap_or(0),
                opt_us(cpu),
                lat_line(r, None),
                answered_line(r),
                r.client_cpu as f64 / r.delivered().max(1) as f64 / 1000.0,
                f.connect.as_secs_f64() * 1000.0
            );
            floor_us.push(cpu.unwrap_or(f64::NAN));
            let v = r.latencies(None);
            for (k, q) in [0.5, 0.99, 1.0].into_iter().enumerate() {
                lat_floor[k].push(percentile(&v, q) / 1e6);
            }
            undelivered += r.expected - r.delivered().min(r.expected);
        }
        let r = &server.rounds;
        let small = r.cpu_per_msg_us(Some(0));
        println!(
            "  server: {}/{} delivered ({} incremental of ~{} B, {} full of ~{} B{}), CPU per message: incremental {}, full {}, all {}",
            r.delivered(),
            r.expected,
            r.count(0),
            r.mean_frame(0).unwrap_or(0),
            r.count(1),
            r.mean_frame(1).unwrap_or(0),
            if r.push_errors > 0 {
                format!(", {} pushes refused", r.push_errors)
            } else {
                String::new()
            },
            opt_us(small),
            opt_us(r.cpu_per_msg_us(Some(1))),
            opt_us(r.cpu_per_msg_us(None)),
        );
        println!(
            "          latency incremental {}; all {}; {}; client {:.2} µs/msg; connect {:.0} ms",
            lat_line(r, Some(0)),
            lat_line(r, None),
            answered_line(r),
            r.client_cpu as f64 / r.delivered().max(1) as f64 / 1000.0,
            server.connect.as_secs_f64() * 1000.0
        );
        undelivered += r.expected - r.delivered().min(r.expected);
        server_small.push(small.unwrap_or(f64::NAN));
        server_full.push(r.cpu_per_msg_us(Some(1)).unwrap_or(f64::NAN));
        server_all.push(r.cpu_per_msg_us(None).unwrap_or(f64::NAN));
        for (k, q) in [0.5, 0.99, 1.0].into_iter().enumerate() {
            lat_small[k].push(percentile(&r.latencies(Some(0)), q) / 1e6);
            lat_all[k].push(percentile(&r.latencies(None), q) / 1e6);
        }
        if let Some(m) = server.memory {
            let per_device = (m.devices_kib as f64 - m.base_kib as f64) * 1024.0 / n as f64;
            println!(
                "          RSS idle {} KiB, with schema {} KiB, with {n} devices {} KiB (+{:.0} B/device), after updates {} KiB",
                m.idle_kib, m.base_kib, m.devices_kib, per_device, m.after_kib
            );
            mem[0].push(m.idle_kib as f64);
            mem[1].push(m.base_kib as f64);
            mem[2].push(m.devices_kib as f64);
            mem[3].push(per_device);
            mem[4].push(m.after_kib as f64);
        }
        if let (Some(f), Some(s)) = (
            floor.as_ref().and_then(|f| f.rounds.cpu_per_msg_us(None)),
            small,
        ) {
            println!("  ratio : server incremental / floor = {:.2}", s / f);
            ratios.push(s / f);
        }
    }
    println!(
        "\nmedians over {} run(s) at {n} devices ({:.0} s in all):",
        opts.runs,
        wall.elapsed().as_secs_f64()
    );
    if opts.floor {
        println!(
            "  floor CPU/message            {:.2} µs   latency p50 {:.2} / p99 {:.2} / max {:.2} ms",
            median(floor_us.clone()),
            median(lat_floor[0].clone()),
            median(lat_floor[1].clone()),
            median(lat_floor[2].clone())
        );
    }
    println!(
        "  server CPU/message           incremental {:.2} µs, full {:.2} µs, all {:.2} µs",
        median(server_small),
        median(server_full),
        median(server_all)
    );
    if opts.floor {
        println!(
            "  ratio incremental / floor    {:.2}   (goal <= 1.25)",
            median(ratios)
        );
    }
    println!(
        "  latency incremental          p50 {:.2} / p99 {:.2} / max {:.2} ms",
        median(lat_small[0].clone()),
        median(lat_small[1].clone()),
        median(lat_small[2].clone())
    );
    println!(
        "  latency all updates          p50 {:.2} / p99 {:.2} / max {:.2} ms   (goal p99 <= 10, max <= 15)",
        median(lat_all[0].clone()),
        median(lat_all[1].clone()),
        median(lat_all[2].clone())
    );
    if !mem[0].is_empty() {
        println!(
            "  server RSS                   idle {:.0} KiB (goal <= 2048), {n} devices {:.0} KiB, {:.0} B/device (goal <= 8192), after updates {:.0} KiB",
            median(mem[0].clone()),
            median(mem[2].clone()),
            median(mem[3].clone()),
            median(mem[4].clone())
        );
    }
    println!("  undelivered updates          {undelivered}");
    Ok(())
}

// ===== binary size and start-up ======================================================

fn size_and_startup(bin: &str, runs: usize) -> io::Result<()> {
    let bytes = std::fs::read(bin)?;
    let sections = elf_section_names(&bytes);
    let stripped = if sections.is_empty() {
        "not an ELF file?"
    } else if sections
        .iter()
        .any(|s| s == ".symtab" || s.starts_with(".debug"))
    {
        "NOT stripped"
    } else {
        "stripped"
    };
    println!(
        "binary: {bin}\n  size {} bytes = {:.3} MiB ({}; goal <= 1 MiB stripped)",
        bytes.len(),
        bytes.len() as f64 / (1024.0 * 1024.0),
        stripped
    );
    let mut times = Vec::with_capacity(runs);
    let mut idle = Vec::new();
    for _ in 0..runs {
        let port = free_port()?;
        let mut cmd = Command::new(bin);
        cmd.args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--strict-port",
        ]);
        let target = spawn_child(cmd, port, "startup")?;
        times.push(target.startup.as_secs_f64() * 1000.0);
        if idle.len() < 3 {
            settle(100);
            if let (Probe::Process(pid), Some(kib)) = (&target.probe, target.probe.rss_kib()) {
                idle.push([
                    kib as f64,
                    status_kib(*pid, "RssAnon:").unwrap_or(0) as f64,
                    status_kib(*pid, "RssFile:").unwrap_or(0) as f64,
                ]);
            }
        }
        target.shutdown();
    }
    // What any dynamically linked glibc program costs here, for scale.
    let sleep_rss = Command::new("sleep")
        .arg("5")
        .spawn()
        .ok()
        .map(|mut child| {
            settle(100);
            let rss = [
                status_kib(child.id(), "VmRSS:"),
                status_kib(child.id(), "RssAnon:"),
                status_kib(child.id(), "RssFile:"),
            ];
            let _ = child.kill();
            let _ = child.wait();
            rss
        });
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    println!(
        "  start-up (spawn -> port accepts), {runs} runs: median {:.2} ms, min {:.2} ms, max {:.2} ms (goal <= 10 ms)",
        median(times),
        sorted[0],
        sorted[sorted.len() - 1]
    );
    let col = |k: usize| median(idle.iter().map(|r| r[k]).collect());
    println!(
        "  idle RSS after start-up: {:.0} KiB (goal <= 2048): {:.0} KiB anonymous + {:.0} KiB file-backed (median of {})",
        col(0),
        col(1),
        col(2),
        idle.len()
    );
    if let Some([Some(rss), anon, file]) = sleep_rss {
        println!(
            "  for scale, /bin/sleep: {rss} KiB: {} KiB anonymous + {} KiB file-backed (libc, ld.so)",
            anon.unwrap_or(0),
            file.unwrap_or(0)
        );
    }
    Ok(())
}

/// Section names of a 64-bit little-endian ELF file (empty if it is not one).
fn elf_section_names(elf: &[u8]) -> Vec<String> {
    let u16_at = |o: usize| {
        elf.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize)
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
    };
    if !elf.starts_with(b"\x7fELF") || elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        return Vec::new();
    }
    let (Some(shoff), Some(shentsize), Some(shnum), Some(shstrndx)) =
        (u64_at(0x28), u16_at(0x3a), u16_at(0x3c), u16_at(0x3e))
    else {
        return Vec::new();
    };
    let header = |i: usize| shoff + i * shentsize;
    let Some(strtab) = u64_at(header(shstrndx) + 0x18) else {
        return Vec::new();
    };
    (0..shnum)
        .filter_map(|i| {
            let name = strtab + u32_at(header(i))?;
            let bytes = elf.get(name..)?;
            let end = bytes.iter().position(|&b| b == 0)?;
            Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
        })
        .collect()
}
