//! Servers under test: start the real server (binary, library child or
//! thread) or the floor, wait until it accepts, stop it.

use crate::*;

/// A running server (or floor) under test.
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    pub(crate) probe: Probe,
    pub(crate) child: Option<Child>,
    pub(crate) stop: Option<Box<dyn FnOnce()>>,
    pub(crate) log: Option<std::path::PathBuf>,
    pub(crate) startup: Duration,
}

impl Target {
    pub(crate) fn shutdown(mut self) {
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
pub(crate) fn stop_child(child: &mut Child) {
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
pub(crate) fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Polls `addr` until a TCP connection succeeds; the time since `t0`.
pub(crate) fn wait_accepting(
    addr: SocketAddr,
    t0: Instant,
    child: &mut Child,
    log: Option<&std::path::Path>,
) -> io::Result<Duration> {
    let deadline = t0 + Duration::from_secs(30);
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
            return Err(io::Error::other("the server did not accept within 30 s"));
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

pub(crate) fn log_path(what: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("lumora-fanout-{}-{what}.log", std::process::id()))
}

pub(crate) fn spawn_child(mut cmd: Command, port: u16, what: &str) -> io::Result<Target> {
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

pub(crate) fn lib_config(port: u16, max_connections: usize) -> Config {
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
pub(crate) fn on_server_cpu<T>(opts: &Opts, start: impl FnOnce() -> T) -> T {
    if opts.pin {
        pin_this_thread(SERVER_CPU);
    }
    let result = start();
    if opts.pin {
        pin_this_thread(CLIENT_CPU);
    }
    result
}

pub(crate) const SERVER_CPU: usize = 0;
pub(crate) const CLIENT_CPU: usize = 1;

pub(crate) fn pin_this_thread(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes within
    // it; sched_setaffinity(0, ..) applies to the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

pub(crate) fn start_server(opts: &Opts) -> io::Result<Target> {
    on_server_cpu(opts, || start_server_here(opts))
}

pub(crate) fn start_server_here(opts: &Opts) -> io::Result<Target> {
    // Devices, the HTTP client and the readiness probe, with room to spare.
    let max_connections = (opts.devices + 16).max(Config::default().max_connections);
    match opts.server {
        ServerKind::Bin => {
            let port = free_port()?;
            let mut cmd = if opts.callgrind {
                callgrind_command(&opts.bin)
            } else {
                Command::new(&opts.bin)
            };
            cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--strict-port", "--coalesce-ms", "0"])
                // Keep no sessions in the real home directory.
                .env(
                    "XDG_STATE_HOME",
                    std::env::temp_dir().join("lumora-hr-mini-bench-state"),
                );
            if (opts.push_cpu || opts.push_stall) && !opts.with_state {
                // The push modes measure the loop's work alone, not the
                // state writer's (`--with-state` to include it).
                cmd.arg("--no-state");
            }
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

pub(crate) fn start_floor(opts: &Opts) -> io::Result<Target> {
    on_server_cpu(opts, || start_floor_here(opts))
}

pub(crate) fn start_floor_here(opts: &Opts) -> io::Result<Target> {
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
pub(crate) fn serve_lib_child(args: &[String]) {
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
pub(crate) fn widen_backlog(listener: TcpListener) -> io::Result<TcpListener> {
    use std::os::fd::AsRawFd;
    // SAFETY: listen(2) on a socket we own.
    if unsafe { libc::listen(listener.as_raw_fd(), 1024) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(listener)
}

/// `--serve-floor PORT FRAME_BYTES`: the bare loop.
pub(crate) fn serve_floor_child(args: &[String]) {
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
