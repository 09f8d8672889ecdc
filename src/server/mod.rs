//! The server: one thread, one `mio` poll loop, HTTP and WebSocket on one
//! port.
//!
//! - [`config`]: every limit and default
//! - `event_loop`: the poll loop (moves bytes and timers only)
//! - `conn`: a connection's state machine
//! - [`http`] / [`api`]: requests, routing, the control-API guard;
//!   `replies` and [`stats`]: the typed JSON bodies it answers with
//! - [`websocket`]: upgrade and tungstenite plumbing
//! - [`outbound`]: bounded out-queues of shared frames
//! - [`timer`]: the timer wheel
//! - [`handle`]: the thread-safe handle
//! - `watch`: `--watch FILE`, by inotify in the loop or polled from the timer wheel
//! - [`web`]: the web device page and its files; [`urls`]: device URLs

pub mod api;
mod body_budget;
pub mod config;
mod conn;
mod event_loop;
pub mod handle;
pub mod http;
mod inflate;
pub mod landing;
mod mailbox;
pub mod outbound;
mod replies;
pub mod state;
pub mod stats;
pub mod timer;
pub mod urls;
mod watch;
pub mod web;
pub mod websocket;

pub use config::Config;
pub use handle::{Handle, HandleError};
pub use watch::WatchError;

use crate::hub::Now;
use event_loop::{EventLoop, LISTENER, WAKER};
use mio::net::TcpListener;
use mio::{Interest, Poll, Waker};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// A bound server, ready to [`run`](Server::run).
pub struct Server {
    event_loop: EventLoop,
    local_addr: SocketAddr,
    handle: Handle,
    port_note: Option<u16>,
}

impl Server {
    /// Binds the listener (trying the next ports when the port is taken,
    /// unless `strict_port`) and prepares the loop. Accepting starts with
    /// `run`, but connections are queued by the kernel from now on.
    pub fn bind(mut config: Config) -> io::Result<Server> {
        crate::fd_limit::raise();
        let (mut listener, local_addr) = bind_listener(&config)?;
        let state = open_state(&mut config, local_addr.port());
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (tx, rx) = mailbox::channel();
        let advertised = advertised_address(&config, local_addr);
        let port_note =
            (config.port != 0 && local_addr.port() != config.port).then_some(config.port);
        let handle = Handle { tx, waker };
        let mut event_loop = EventLoop::new(poll, listener, config, rx, advertised);
        if let Some((writer, restored)) = state {
            let (took, expired) = (restored.took, restored.expired.len());
            event_loop.hub.restore(
                restored.epoch,
                restored.startup,
                restored.sessions,
                restored.expired,
                Now::current(),
            );
            log::info!(
                "state: {} session(s) restored from {} in {:.1} ms{}",
                event_loop.hub.session_count(),
                writer.dir().display(),
                took.as_secs_f64() * 1000.0,
                match expired {
                    0 => String::new(),
                    n => format!(", {n} expired one(s) deleted"),
                }
            );
            event_loop.state = Some(writer);
        }
        Ok(Server {
            event_loop,
            local_addr,
            handle,
            port_note,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// When the configured port was taken: the port that was asked for.
    pub fn requested_port_taken(&self) -> Option<u16> {
        self.port_note
    }

    /// `host:port` that devices are told to use in `wsUrl`.
    pub fn advertised_address(&self) -> &str {
        &self.event_loop.advertised
    }

    /// A handle for other threads (usable before `run` starts; calls wait
    /// until the loop answers).
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Runs the loop on this thread until shutdown.
    pub fn run(self) -> io::Result<()> {
        self.event_loop.run()
    }
}

/// Opens the state directory of the server on `port`, reads what it holds
/// and starts its writer; `None` (with a warning) when there is none to
/// use. Sets `config.hub.persist` accordingly.
fn open_state(config: &mut Config, port: u16) -> Option<(state::Writer, state::Restored)> {
    let base = config.state_dir.as_ref()?;
    let dir = state::port_dir(base, port);
    let started = std::time::Instant::now();
    let mut restored = match state::open(&dir, Now::current().wall_ms) {
        Ok(r) => r,
        Err(warning) => {
            log::warn!("state: {warning}");
            return None;
        }
    };
    let writer = match state::Writer::start(
        dir.clone(),
        config.state_write_interval,
        restored.lock.take(),
    ) {
        Ok(w) => w,
        Err(e) => {
            log::warn!(
                "state: cannot start the writer thread: {e}; sessions will not survive a restart"
            );
            return None;
        }
    };
    config.hub.persist = true;
    restored.took = started.elapsed();
    Some((writer, restored))
}

fn bind_listener(config: &Config) -> io::Result<(TcpListener, SocketAddr)> {
    let attempts = if config.strict_port || config.port == 0 {
        1
    } else {
        config.port_attempts.max(1)
    };
    let mut last = None;
    for i in 0..attempts {
        let Some(port) = config.port.checked_add(i) else {
            break;
        };
        match TcpListener::bind(SocketAddr::new(config.host, port)) {
            Ok(l) => {
                set_backlog(&l, config.listen_backlog)?;
                let addr = l.local_addr()?;
                return Ok((l, addr));
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::AddrInUse, "no free port")))
}

/// Widens the accept queue of a listening socket: on Linux, `listen` on a
/// socket that already listens only changes its backlog.
fn set_backlog(listener: &TcpListener, backlog: u32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let backlog = backlog.clamp(1, i32::MAX as u32) as libc::c_int;
    // SAFETY: listen(2) on a socket descriptor we own; no pointers involved.
    if unsafe { libc::listen(listener.as_raw_fd(), backlog) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `host:port` for `wsUrl`: `--public-host`, else the LAN address when
/// bound to all interfaces, else the bound address.
fn advertised_address(config: &Config, local: SocketAddr) -> String {
    let host = match &config.public_host {
        Some(h) => h.clone(),
        None if local.ip().is_unspecified() => crate::net::lan_address()
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "127.0.0.1".into()),
        None => local.ip().to_string(),
    };
    let bracketed = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => format!("[{host}]"),
        _ => host,
    };
    format!("{bracketed}:{}", local.port())
}
