//! The single `mio` poll loop: accepts, moves bytes between sockets and
//! connection state, drives timers, and hands every decision to the hub or
//! the API router. Nothing here decides protocol behaviour (the idle
//! timeout, for one, is `Hub::idle_check`'s call).
//!
//! This file has the loop itself and the dispatch of readiness; `accept`,
//! `read_http`, `read_ws`, `effects` (writing, applying the hub's effects),
//! `closing`, `timers` and `commands` (handles, watched files, signals,
//! shutdown) each add one part of `impl EventLoop`.

mod accept;
mod closing;
mod commands;
mod effects;
mod read_http;
mod read_ws;
mod timers;

#[cfg(test)]
use read_http::is_local_address;

use super::api::{self, Ctx, LoopStats, Routed};
use super::body_budget::BodyBudget;
use super::config::Config;
use super::conn::{self, Conn, HttpPhase, HttpTimer, Phase, ReadStatus, WsReadEnd};
use super::handle::Command;
use super::http::{self, Limits, Response};
use super::mailbox::Receiver;
use super::outbound::{Flushed, Pushed};
use super::timer::TimerWheel;
use super::watch::Watches;
use super::websocket::WsIo;
use crate::hub::{ConnId, Effect, Hub, HubTimer, Now};
use crate::protocol::close::Close;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use tungstenite::protocol::Message as WsMessage;
use tungstenite::protocol::frame::CloseFrame;

pub(crate) const LISTENER: Token = Token(usize::MAX - 1);
pub(crate) const WAKER: Token = Token(usize::MAX - 2);
const SIGNALS: Token = Token(usize::MAX - 3);
const WATCH: Token = Token(usize::MAX - 4);

/// Messages handled per connection per readiness event before others get a
/// turn; the rest is picked up on the next loop iteration.
const READ_BUDGET: usize = 64;

/// The interim answer to `Expect: 100-continue` for an admitted head.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Connections accepted per readiness event, so a connection flood cannot
/// starve the connections already open.
const ACCEPT_BUDGET: usize = 256;

/// Timers of the loop itself, plus the hub's.
#[derive(Debug)]
enum Timer {
    Hub(HubTimer),
    /// Send a WebSocket ping frame.
    Ping(usize, u64),
    /// Check whether the device has been silent too long.
    Idle(usize, u64),
    /// HTTP request or keep-alive deadline.
    Http(usize, u64),
    /// Give up on a closing connection.
    Close(usize, u64),
    /// Try accepting again after a resource error (e.g. out of descriptors).
    Accept,
    /// A watched file's settle or poll timer (index into `watches`).
    Watch(usize),
}

/// Kinds of a connection's own timers in the wheel: at most one of each,
/// all cancelled when the connection goes.
mod kind {
    pub const HTTP: usize = 0;
    pub const PING: usize = 1;
    pub const IDLE: usize = 2;
    pub const CLOSE: usize = 3;
    pub const CONNECT: usize = 4;
}

/// The loop and everything it owns.
pub(crate) struct EventLoop {
    pub(crate) poll: Poll,
    pub(crate) listener: TcpListener,
    pub(crate) config: Config,
    pub(crate) hub: Hub,
    pub(crate) commands: Receiver<Command>,
    pub(crate) advertised: String,
    conns: Slab<Conn>,
    wheel: TimerWheel<Timer>,
    next_generation: u64,
    stats: LoopStats,
    started: Instant,
    local_hosts: HashMap<String, bool>,
    /// Connections with input left unread (budget or cap reached).
    again: Vec<(usize, u64)>,
    fx: Vec<Effect>,
    shutdown_deadline: Option<Instant>,
    last_capacity_warning: Option<Instant>,
    signals: Option<signal_hook_mio::v1_0::Signals>,
    watches: Watches,
    body_budget: BodyBudget,
    /// The state directory's writer, when sessions are kept.
    pub(crate) state: Option<super::state::Writer>,
}

impl EventLoop {
    pub(crate) fn new(
        poll: Poll,
        listener: TcpListener,
        config: Config,
        commands: Receiver<Command>,
        advertised: String,
    ) -> EventLoop {
        let now = Instant::now();
        let hub = Hub::new(config.hub.clone());
        EventLoop {
            wheel: TimerWheel::new(config.timer_tick, 1024, now),
            poll,
            listener,
            hub,
            commands,
            advertised,
            conns: Slab::new(),
            next_generation: 1,
            stats: LoopStats::default(),
            started: now,
            local_hosts: HashMap::new(),
            again: Vec::new(),
            fx: Vec::new(),
            shutdown_deadline: None,
            last_capacity_warning: None,
            signals: None,
            watches: Watches::new(config.watch_poll),
            body_budget: BodyBudget::new(config.max_buffered_body_bytes),
            state: None,
            config,
        }
    }

    /// Runs until shutdown.
    pub(crate) fn run(mut self) -> io::Result<()> {
        if self.config.handle_signals {
            use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
            // A closed terminal (SIGHUP) stops the server the same way, so
            // devices hear 1001 and pending state is written; unless it is
            // ignored (`nohup`), which is kept.
            let hup = (!signal_ignored(SIGHUP)).then_some(SIGHUP);
            let mut signals =
                signal_hook_mio::v1_0::Signals::new([SIGINT, SIGTERM].into_iter().chain(hup))?;
            self.poll
                .registry()
                .register(&mut signals, SIGNALS, Interest::READABLE)?;
            self.signals = Some(signals);
        }
        self.hub.schedule_sweep(Now::current(), &mut self.fx);
        self.apply_effects(Now::current());
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = if self.again.is_empty() {
                self.wheel
                    .next_deadline()
                    .map(|d| d.saturating_duration_since(Instant::now()))
            } else {
                Some(Duration::ZERO)
            };
            let timeout = match self.shutdown_deadline {
                Some(d) => Some(
                    timeout
                        .unwrap_or(Duration::MAX)
                        .min(d.saturating_duration_since(Instant::now())),
                ),
                None => timeout,
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Now::current();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(now),
                    WAKER => self.commands(now),
                    SIGNALS => self.signal(now),
                    WATCH => self.watch_events(now),
                    Token(key) => {
                        if event.is_writable() || event.is_error() {
                            self.flush(key, now);
                        }
                        let closed = event.is_read_closed() || event.is_error();
                        if event.is_readable() || closed {
                            self.readable(key, now, closed);
                        }
                    }
                }
            }
            for (key, generation) in std::mem::take(&mut self.again) {
                if self
                    .conns
                    .get(key)
                    .is_some_and(|c| c.generation == generation)
                {
                    // No fresh readiness event: read until WouldBlock.
                    self.readable(key, now, true);
                }
            }
            self.timers(now);
            if let Some(deadline) = self.shutdown_deadline {
                if self.conns.is_empty() || Instant::now() >= deadline {
                    log::info!("server stopped");
                    return Ok(());
                }
            }
        }
    }

    /// Reads what a connection sent. `closed`: the event also reported the
    /// peer's FIN or an error (then reads go on until EOF or WouldBlock;
    /// see `WsIo::stop_when_drained`).
    fn readable(&mut self, key: usize, now: Now, closed: bool) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        match conn.phase {
            Phase::Http(_) => self.read_http(key, now),
            Phase::WebSocket(_) => self.read_ws(key, now, closed),
            Phase::Closing(_) => match conn::discard_available(&mut conn.sock) {
                Ok(false) => {}
                Ok(true) | Err(_) => self.remove(key),
            },
        }
    }
}

/// Whether `signal` is ignored (as `nohup` leaves SIGHUP): registering a
/// handler would undo that.
fn signal_ignored(signal: libc::c_int) -> bool {
    // SAFETY: a null new action only reads the current one into `old`,
    // a plain struct the call fills.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_addresses_are_unicast_addresses_of_this_machine() {
        let mut cache = HashMap::new();
        assert!(is_local_address(&mut cache, "127.0.0.1"));
        for name in [
            "224.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "192.0.2.1",
            "evil.example",
        ] {
            assert!(!is_local_address(&mut cache, name), "{name}");
        }
        assert_eq!(cache.get("224.0.0.1"), Some(&false));
    }
}
