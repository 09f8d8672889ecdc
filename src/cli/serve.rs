//! `lumora-hr-mini [serve]`: bind, start the loop in a thread, create the
//! startup session, print the banner, start `--watch`, then wait for the
//! loop to stop (SIGINT/SIGTERM, or `q` on a terminal, where the main
//! thread reads the keyboard shortcuts of [`keys`] meanwhile).

use super::args::ServeOptions;
use super::banner::Banner;
use super::keys;
use super::logging;
use crate::protocol::now_ms;
use crate::server::{Server, WatchError};
use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// The example app of the repository, named by the banner's push command
/// when nothing is watched and it is there.
const EXAMPLE: &str = "examples/app.json";

/// The allocator's settings for a process that handles schemas of up to
/// 10 MiB over and over (the binary only; a library user's allocator is
/// left alone). By default glibc maps each block of 128 KiB and more on
/// its own and gives it back when freed, so every push of a big schema
/// takes fresh pages the kernel must zero (its body, its text, its
/// index). From the heap, with up to 48 MiB of freed memory kept at its
/// top, the next push reuses them. Measured (`cargo bench --bench fanout
/// -- --push-cpu --runs 3`, both builds in one session): 10,000-node
/// one-prop edit 3.15 -> 2.75 ms of server CPU (floor 1.41 ms); 10 MiB full
/// update 25.0 -> 22.6 ms, page faults 2,800 -> 1,430 per push, RSS after
/// the run 64 -> 54 MiB.
fn keep_pages_for_big_pushes() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets the allocator's parameters; it is called
    // before the server allocates anything big.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 48 << 20);
    }
}

/// Runs the server until it is stopped; returns the exit status.
pub fn run(opts: ServeOptions, program: &str) -> ExitCode {
    let started = Instant::now();
    logging::init(opts.verbosity);
    keep_pages_for_big_pushes();
    // A directory cannot be watched; say so now, not in the log later.
    for path in &opts.watch {
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            complain!("error: --watch {}", WatchError::IsADirectory(path.clone()));
            return ExitCode::from(2);
        }
    }
    let config = opts.config;
    let (host, port, strict) = (config.host, config.port, config.strict_port);
    let attempts = config.port_attempts;
    let public_host = config.public_host.is_some();
    let server = match Server::bind(config) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            if strict {
                complain!(
                    "error: port {port} on {host} is taken (--strict-port); stop the other server or choose another --port"
                );
            } else {
                complain!(
                    "error: ports {port}-{} on {host} are all taken; choose another --port",
                    port.saturating_add(attempts.saturating_sub(1))
                );
            }
            return ExitCode::from(1);
        }
        Err(e) => {
            let hint = match e.kind() {
                io::ErrorKind::AddrNotAvailable => format!(
                    " ({host} is not an address of this machine: `ip addr` lists them; --host 0.0.0.0 listens on all)"
                ),
                io::ErrorKind::PermissionDenied if port < 1024 => {
                    " (ports below 1024 need privileges: choose a --port of 1024 or more)"
                        .to_string()
                }
                _ => String::new(),
            };
            complain!("error: cannot listen on {host} port {port}: {e}{hint}");
            return ExitCode::from(1);
        }
    };
    let handle = server.handle();
    let listening = server.local_addr();
    let port_taken = server.requested_port_taken();
    let advertised = server.advertised_address().to_string();
    let network = if listening.ip().is_unspecified() && !public_host {
        crate::net::lan_addresses()
    } else {
        Vec::new()
    };
    // Shortcuts only on a terminal; then the server thread closes its end
    // of `done` when it ends, which wakes the main thread's poll.
    let raw = keys::RawMode::enter(libc::STDIN_FILENO);
    let done = match raw.as_ref().map(|_| UnixStream::pair()).transpose() {
        Ok(pair) => pair,
        Err(e) => {
            complain!("error: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let (done_rx, done_tx) = done.unzip();
    let thread = match std::thread::Builder::new()
        .name("server".into())
        .spawn(move || {
            let result = server.run();
            drop(done_tx);
            result
        }) {
        Ok(t) => t,
        Err(e) => {
            complain!("error: cannot start the server thread: {e}");
            return ExitCode::from(1);
        }
    };
    let session = match handle.create_startup_session() {
        Ok(s) => s,
        Err(e) => {
            complain!("error: cannot create the startup session: {e}");
            handle.shutdown();
            let _ = thread.join();
            return ExitCode::from(1);
        }
    };
    let example = Path::new(EXAMPLE);
    let mut banner = Banner {
        listening,
        port_taken,
        advertised: &advertised,
        session_id: &session.session_id,
        expires_at_ms: session.expires_at_ms,
        now_ms: now_ms(),
        program,
        watch: &opts.watch,
        example: example.is_file().then_some(example),
        keys: raw.is_some(),
        network: &network,
        qr: !opts.no_qr,
        columns: super::banner::terminal_columns(),
        qr_target: opts.qr,
        color: logging::stdout_color(),
        startup: started.elapsed(),
    };
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(banner.render().as_bytes());
    let _ = stdout.flush();
    drop(stdout);
    for path in &opts.watch {
        if let Err(e) = handle.watch_file(&session.session_id, path) {
            log::error!("cannot watch {}: {e}", path.display());
        }
    }
    if let (Some(done), Some(raw)) = (&done_rx, &raw) {
        let page = format!("{}/", banner.control_url());
        keys::run(raw, &handle, done, &mut banner, &page);
    }
    let joined = thread.join();
    drop(raw);
    match joined {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            complain!("error: the server stopped: {e}");
            ExitCode::from(1)
        }
        Err(_) => ExitCode::from(1),
    }
}
