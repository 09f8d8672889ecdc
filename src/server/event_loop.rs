//! The single `mio` poll loop: accepts, moves bytes between sockets and
//! connection state, drives timers, and hands every decision to the hub or
//! the API router. Nothing here decides protocol behaviour.

use super::api::{self, Ctx, LoopStats, Routed};
use super::body_budget::BodyBudget;
use super::config::Config;
use super::conn::{self, Conn, HttpPhase, HttpTimer, Phase, ReadStatus, WsPhase, WsReadEnd};
use super::handle::Command;
use super::http::{self, Limits, Response};
use super::mailbox::Receiver;
use super::outbound::{Flushed, Pushed};
use super::timer::TimerWheel;
use super::watch::Watches;
use super::websocket::{self, WsIo};
use crate::hub::{ConnId, Effect, Hub, HubTimer, Now};
use crate::protocol::close::{CONNECTION_TIMEOUT, Close};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::{Message as WsMessage, Role, WebSocketContext};

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
            let mut signals = signal_hook_mio::v1_0::Signals::new([
                signal_hook::consts::SIGINT,
                signal_hook::consts::SIGTERM,
            ])?;
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

    // ----- accepting --------------------------------------------------------

    fn accept(&mut self, now: Now) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        for _ in 0..ACCEPT_BUDGET {
            match self.listener.accept() {
                Ok((sock, peer)) => self.admit(sock, peer, now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Usually out of file descriptors: pending connections stay
                    // in the backlog, and no new event will say so, so retry.
                    log::warn!("accept failed: {e}; retrying in 100 ms");
                    self.wheel
                        .insert(now.mono + Duration::from_millis(100), Timer::Accept);
                    return;
                }
            }
        }
        // More may be waiting, but connected clients get a turn first; the
        // rest is accepted on the next turn of the loop.
        self.wheel.insert(now.mono, Timer::Accept);
    }

    fn admit(&mut self, mut sock: TcpStream, peer: SocketAddr, now: Now) {
        if self.conns.len() >= self.config.max_connections {
            self.stats.connections_refused += 1;
            let warn = self
                .last_capacity_warning
                .is_none_or(|t| now.mono.saturating_duration_since(t) >= Duration::from_secs(1));
            if warn {
                self.last_capacity_warning = Some(now.mono);
                log::warn!(
                    "connection limit reached ({} open); refusing new connections with 503",
                    self.config.max_connections
                );
            }
            let resp = Response::error(
                503,
                "SERVICE_UNAVAILABLE",
                "the server is at its connection limit; try again later",
            );
            // Read what already arrived (a request sent right after connecting)
            // so that closing sends FIN, not a reset that may destroy the
            // response before the client reads it.
            let mut discard = [0u8; 4096];
            let _ = std::io::Read::read(&mut sock, &mut discard);
            // Best effort: a fresh socket's buffer takes a small response.
            let _ = sock.write(&resp.encode(false));
            return;
        }
        let _ = sock.set_nodelay(true);
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut sock, Token(key), Interest::READABLE)
        {
            log::warn!("cannot register connection from {peer}: {e}");
            return;
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        let deadline = now.mono + self.config.request_timeout;
        entry.insert(Conn {
            sock,
            generation,
            peer,
            phase: Phase::Http(HttpPhase::new(deadline)),
            out: Default::default(),
            wants_write: false,
        });
        self.wheel
            .set(key, kind::HTTP, deadline, Timer::Http(key, generation));
        self.stats.connections_accepted += 1;
        log::debug!("connection from {peer}");
    }

    // ----- reading ----------------------------------------------------------

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
            Phase::Closing { .. } => match conn::discard_available(&mut conn.sock) {
                Ok(false) => {}
                Ok(true) | Err(_) => self.remove(key),
            },
        }
    }

    fn read_http(&mut self, key: usize, now: Now) {
        let limits = Limits {
            max_head: self.config.max_head_bytes,
            max_headers: self.config.max_headers,
            max_body: self.config.max_body_bytes,
        };
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let generation = conn.generation;
        let Phase::Http(h) = &mut conn.phase else {
            return;
        };
        let was_empty = h.inbuf.is_empty();
        // A body is read only once its head was admitted.
        let cap = h.read_cap(limits.max_head);
        let status = match conn::read_available(&mut conn.sock, &mut h.inbuf, cap) {
            Ok(s) => s,
            Err(_) => return self.remove(key),
        };
        if was_empty && !h.inbuf.is_empty() && h.served > 0 {
            // The next request's first byte starts its own 10 s clock.
            if h.set_deadline(now.mono + self.config.request_timeout) {
                self.wheel
                    .set(key, kind::HTTP, h.deadline, Timer::Http(key, generation));
            }
        }
        // Bytes of `inbuf` taken by the requests handled below, removed once
        // at the end: draining after each of many pipelined requests would
        // move the rest of a large buffer every time.
        let mut start = 0;
        loop {
            self.stats.connections_open = self.conns.len();
            self.stats.timers_pending = self.wheel.len();
            self.stats.buffered_body_bytes = self.body_budget.in_use();
            self.stats.uptime_ms = self.started.elapsed().as_millis() as u64;
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            let Phase::Http(h) = &mut conn.phase else {
                break;
            };
            if conn.out.control_backlog() > self.config.max_pending_replies {
                // The peer pipelines requests without reading the answers:
                // stop until the queue drains.
                h.paused = true;
                break;
            }
            let peer = conn.peer;
            let local_hosts = &mut self.local_hosts;
            let mut is_local = |name: &str| is_local_address(local_hosts, name);
            let mut ctx = Ctx {
                hub: &mut self.hub,
                fx: &mut self.fx,
                now,
                config: &self.config,
                peer,
                advertised: &self.advertised,
                is_local_host: &mut is_local,
                stats: &self.stats,
            };
            let arrived = h.inbuf.len() - start;
            // The head of the request at the front: admitted earlier, or
            // parsed and judged now, before any of its body is buffered.
            let pending =
                match h.pending.take() {
                    Some(p) => Ok(p),
                    None => match http::parse_head(&h.inbuf[start..], &limits) {
                        Ok(None) => {
                            if status == ReadStatus::Eof {
                                self.begin_close(key, now);
                            }
                            break;
                        }
                        Err(e) => {
                            log::debug!("bad request from {}: {e:?}", conn.peer);
                            conn.out.push_owned(e.response().encode(false));
                            self.begin_close(key, now);
                            break;
                        }
                        Ok(Some(head)) => {
                            let verdict = api::admit(&head.request, head.body_len, &mut ctx)
                                .and_then(|()| match head.body_len {
                                    0 => Ok(None),
                                    n => self.body_budget.reserve(n).map(Some),
                                });
                            match verdict {
                                Ok(room) => {
                                    if head.request.expects_continue && arrived < head.total() {
                                        conn.out.push_owned(CONTINUE.to_vec());
                                    }
                                    h.inbuf.reserve_exact(
                                        (start + head.total()).saturating_sub(h.inbuf.len()),
                                    );
                                    Ok(Box::new(conn::Pending { head, room }))
                                }
                                Err(resp) => Err((head, resp)),
                            }
                        }
                    },
                };
            let (request, routed) = match pending {
                Ok(p) if arrived < p.head.total() => {
                    h.pending = Some(p);
                    if status == ReadStatus::Eof {
                        self.begin_close(key, now);
                    }
                    break;
                }
                Ok(p) => {
                    let total = p.head.total();
                    let request = p.head.into_request(&h.inbuf[start..]);
                    start += total;
                    let routed = api::handle(&request, &mut ctx);
                    drop(p.room);
                    (request, routed)
                }
                // Refused from its head, with the whole request here: it is
                // answered like any other.
                Err((head, resp)) if arrived >= head.total() => {
                    start += head.total();
                    (head.request, Routed::Respond(resp))
                }
                // Refused with its body still to come: answered at once and
                // closed; what arrives meanwhile is read and thrown away.
                Err((head, resp)) => {
                    log::debug!(
                        "{} {} {} from {peer}, refused from its head",
                        head.request.method,
                        head.request.path,
                        resp.status
                    );
                    h.served += 1;
                    self.stats.http_requests += 1;
                    conn.out.push_owned(resp.encode(false));
                    self.begin_close(key, now);
                    break;
                }
            };
            h.served += 1;
            self.stats.http_requests += 1;
            log::debug!(
                "{} {} {} from {peer}",
                request.method,
                request.path,
                match &routed {
                    Routed::Respond(r) => r.status,
                    Routed::Upgrade { .. } => 101,
                }
            );
            match routed {
                Routed::Respond(resp) => {
                    let keep = request.keep_alive() && self.shutdown_deadline.is_none();
                    conn.out.push_owned(resp.encode(keep));
                    if !keep {
                        self.begin_close(key, now);
                        break;
                    }
                    let timeout = if start == h.inbuf.len() {
                        self.config.keep_alive_timeout
                    } else {
                        self.config.request_timeout
                    };
                    if h.set_deadline(now.mono + timeout) {
                        self.wheel
                            .set(key, kind::HTTP, h.deadline, Timer::Http(key, generation));
                    }
                }
                Routed::Upgrade { handshake, session } => {
                    conn.out.push_owned(handshake);
                    let leftover = h.inbuf.split_off(start);
                    let has_leftover = !leftover.is_empty();
                    let ctx = WebSocketContext::from_partially_read(
                        leftover,
                        Role::Server,
                        Some(websocket::config(self.config.max_message_bytes)),
                    );
                    conn.phase = Phase::WebSocket(Box::new(WsPhase {
                        ctx,
                        needs_resync: false,
                    }));
                    self.stats.websocket_upgrades += 1;
                    let id = ConnId { key, generation };
                    self.hub
                        .ws_opened(id, session.as_deref(), peer, now, &mut self.fx);
                    let ping = self.config.hub.ping_interval;
                    let idle = self.config.hub.idle_timeout;
                    self.wheel.cancel(key, kind::HTTP);
                    self.wheel.set(
                        key,
                        kind::PING,
                        now.mono + ping,
                        Timer::Ping(key, generation),
                    );
                    self.wheel.set(
                        key,
                        kind::IDLE,
                        now.mono + idle,
                        Timer::Idle(key, generation),
                    );
                    if has_leftover {
                        self.again.push((key, generation));
                    }
                    break;
                }
            }
        }
        if let Some(Phase::Http(h)) = self.conns.get_mut(key).map(|c| &mut c.phase) {
            h.consume(start);
            if status == ReadStatus::Capped && !h.paused {
                // Stopped at the cap: more may be waiting, with no new
                // readiness event to say so.
                self.again.push((key, generation));
            }
        }
        self.apply_effects(now);
        self.flush(key, now);
    }

    fn read_ws(&mut self, key: usize, now: Now, closed: bool) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let id = ConnId {
            key,
            generation: conn.generation,
        };
        let Phase::WebSocket(ws) = &mut conn.phase else {
            return;
        };
        let mut budget = READ_BUDGET;
        let mut io = WsIo::new(&mut conn.sock, &mut conn.out);
        io.stop_when_drained = !closed;
        let end = loop {
            if budget == 0 {
                self.again.push((key, id.generation));
                break WsReadEnd::Open;
            }
            budget -= 1;
            match ws.ctx.read(&mut io) {
                Ok(msg) => {
                    self.hub.on_activity(id, now);
                    match msg {
                        WsMessage::Text(text) => {
                            self.hub.on_text(id, text.as_bytes(), now, &mut self.fx)
                        }
                        WsMessage::Binary(_) => self.hub.on_binary(id, now, &mut self.fx),
                        WsMessage::Close(_) => {
                            let _ = ws.ctx.flush(&mut io);
                            break WsReadEnd::PeerClosed;
                        }
                        WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => {}
                    }
                }
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    break WsReadEnd::Open;
                }
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(tungstenite::Error::Capacity(e)) => {
                    log::debug!("{}: {e}", conn.peer);
                    break WsReadEnd::Refused(Close::MessageTooBig);
                }
                Err(tungstenite::Error::Utf8(_)) => {
                    break WsReadEnd::Refused(Close::InvalidPayload);
                }
                Err(tungstenite::Error::Protocol(e)) => {
                    log::debug!("{}: WebSocket protocol error: {e}", conn.peer);
                    break WsReadEnd::Refused(Close::ProtocolError);
                }
                Err(_) => break WsReadEnd::Gone,
            }
        };
        // tungstenite answers ping frames by itself; a peer that pings
        // without reading would otherwise grow its queue without bound.
        let flooding = conn.out.control_backlog() > self.config.max_pending_replies;
        if flooding {
            log::warn!(
                "{} sends frames but does not read the replies; disconnecting",
                conn.peer
            );
        }
        if end == WsReadEnd::Gone || flooding {
            self.apply_effects(now);
            return self.remove(key);
        }
        match end {
            WsReadEnd::PeerClosed => {
                self.hub.disconnect(id);
                self.begin_close(key, now);
            }
            WsReadEnd::Refused(code) => {
                self.close_ws(id, code, code.reason().unwrap_or_default(), now)
            }
            WsReadEnd::Open | WsReadEnd::Gone => {}
        }
        self.apply_effects(now);
        self.flush(key, now);
    }

    // ----- writing ------------------------------------------------------------

    /// Writes what is queued; keeps WRITABLE interest only while bytes wait.
    fn flush(&mut self, key: usize, now: Now) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let result = conn.flush();
        let wants_write = match result {
            Ok(Flushed::Drained) => false,
            Ok(Flushed::Blocked) => true,
            Err(_) => return self.remove(key),
        };
        if wants_write != conn.wants_write {
            let interest = if wants_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if self
                .poll
                .registry()
                .reregister(&mut conn.sock, Token(key), interest)
                .is_err()
            {
                return self.remove(key);
            }
            conn.wants_write = wants_write;
        }
        if wants_write {
            return;
        }
        let generation = conn.generation;
        match &mut conn.phase {
            Phase::Http(h) if h.paused => {
                h.paused = false;
                self.again.push((key, generation));
            }
            Phase::Closing { shut_down, .. } if !*shut_down => {
                *shut_down = true;
                let _ = conn.sock.shutdown(std::net::Shutdown::Write);
            }
            Phase::WebSocket(ws) if ws.needs_resync => {
                ws.needs_resync = false;
                self.hub
                    .resync(ConnId { key, generation }, now, &mut self.fx);
                self.apply_effects(now);
            }
            _ => {}
        }
    }

    /// Carries out what the hub asked for.
    fn apply_effects(&mut self, now: Now) {
        while !self.fx.is_empty() {
            let effects = std::mem::take(&mut self.fx);
            for effect in effects {
                match effect {
                    Effect::Send { conn, frame } => {
                        let limit = self.config.max_pending_replies;
                        if let Some(c) = self.live_ws(conn) {
                            c.out.push_shared_control(frame);
                            if c.out.control_backlog() > limit {
                                log::warn!(
                                    "{} sends requests but does not read the replies; disconnecting",
                                    c.peer
                                );
                                self.remove(conn.key);
                                continue;
                            }
                            self.flush(conn.key, now);
                        }
                    }
                    Effect::SendConnected { conn, frame } => {
                        if let Some(c) = self.live_ws(conn) {
                            // One per connection, its schema part shared with
                            // the session: not an unread reply, whatever its size.
                            c.out.push_welcome(frame.parts(), frame.carries_schema());
                            self.flush(conn.key, now);
                        }
                    }
                    Effect::Resync { conn, frame } => self.deliver(conn, &frame, true, now),
                    Effect::Broadcast { conns, frame } => {
                        for conn in conns {
                            self.deliver(conn, &frame, false, now);
                        }
                    }
                    Effect::Close { conn, code, reason } => self.close_ws(conn, code, reason, now),
                    Effect::Schedule { at, timer } => self.schedule(at, timer),
                }
            }
        }
        if let Some(writer) = &self.state {
            // Snapshots of what changed, for the writer thread.
            for op in self.hub.take_persist_ops() {
                writer.send(op);
            }
        }
    }

    /// Queues an update frame and writes at once; a device too far behind
    /// has its pending updates dropped and is resynced when it drains. A
    /// `resync` is not queued when the device will get the whole schema
    /// anyway (one is queued, or it is marked for one).
    fn deliver(&mut self, conn: ConnId, frame: &crate::hub::Frame, resync: bool, now: Now) {
        let max = self.config.max_queued_updates;
        let Some(c) = self.live_ws(conn) else {
            return;
        };
        let Phase::WebSocket(ws) = &mut c.phase else {
            return;
        };
        if ws.needs_resync || (resync && c.out.has_pending_full()) {
            // Its earlier updates were dropped, so a delta would not apply to
            // what it holds; it gets the current schema in full once drained.
            // Or a frame with the whole schema is on its way already.
            if resync {
                self.hub.resync_skipped();
            }
            return;
        }
        if c.out
            .push_update(frame.parts(), frame.carries_schema(), max)
            == Pushed::Overflowed
        {
            log::warn!(
                "{} is not reading; dropping its pending updates until it catches up",
                c.peer
            );
            ws.needs_resync = true;
            self.stats.slow_device_resyncs += 1;
        }
        self.flush(conn.key, now);
    }

    /// Sets a timer the hub asked for; a connection's goes with it.
    fn schedule(&mut self, at: Instant, timer: HubTimer) {
        match timer {
            HubTimer::ConnectDeadline(conn) => {
                if self
                    .conns
                    .get(conn.key)
                    .is_some_and(|c| c.generation == conn.generation)
                {
                    self.wheel
                        .set(conn.key, kind::CONNECT, at, Timer::Hub(timer));
                }
            }
            HubTimer::FlushHeld(_) | HubTimer::SessionSweep => {
                self.wheel.insert(at, Timer::Hub(timer))
            }
        }
    }

    fn live_ws(&mut self, conn: ConnId) -> Option<&mut Conn> {
        self.conns
            .get_mut(conn.key)
            .filter(|c| c.generation == conn.generation && c.is_websocket())
    }

    // ----- closing --------------------------------------------------------------

    /// Sends a close frame and moves the connection to Closing.
    fn close_ws(&mut self, conn: ConnId, code: Close, reason: &'static str, now: Now) {
        self.hub.disconnect(conn);
        let Some(c) = self.live_ws(conn) else {
            return;
        };
        if let Some((ctx, mut io)) = c.websocket() {
            let frame = CloseFrame {
                code: code.code().into(),
                reason: reason.into(),
            };
            let _ = ctx.close(&mut io, Some(frame));
        }
        self.begin_close(conn.key, now);
    }

    /// Closing: flush, shut down writes, wait briefly for the peer's EOF.
    fn begin_close(&mut self, key: usize, now: Now) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if matches!(c.phase, Phase::Closing { .. }) {
            return;
        }
        let deadline = now.mono + self.config.close_timeout;
        c.phase = Phase::Closing { shut_down: false };
        let generation = c.generation;
        self.wheel
            .set(key, kind::CLOSE, deadline, Timer::Close(key, generation));
        self.flush(key, now);
    }

    fn remove(&mut self, key: usize) {
        if !self.conns.contains(key) {
            return;
        }
        let mut c = self.conns.remove(key);
        self.wheel.cancel_owner(key);
        if self.conns.capacity() > 4 * self.conns.len().max(256) {
            // Frees the tail of the storage a burst of connections left.
            self.conns.shrink_to_fit();
        }
        self.hub.disconnect(ConnId {
            key,
            generation: c.generation,
        });
        let _ = self.poll.registry().deregister(&mut c.sock);
        log::debug!("connection from {} closed", c.peer);
    }

    // ----- timers -----------------------------------------------------------------

    fn timers(&mut self, now: Now) {
        let mut due = Vec::new();
        self.wheel.expire(now.mono, &mut due);
        for timer in due {
            match timer {
                Timer::Hub(t) => {
                    self.hub.on_timer(t, now, &mut self.fx);
                    self.apply_effects(now);
                }
                Timer::Ping(key, generation) => self.ping(ConnId { key, generation }, now),
                Timer::Idle(key, generation) => self.idle_check(ConnId { key, generation }, now),
                Timer::Http(key, generation) => self.http_deadline(key, generation, now),
                Timer::Close(key, generation) => {
                    if self
                        .conns
                        .get(key)
                        .is_some_and(|c| c.generation == generation)
                    {
                        self.remove(key);
                    }
                }
                Timer::Accept => self.accept(now),
                Timer::Watch(i) => self.watch(i, now),
            }
        }
    }

    fn ping(&mut self, conn: ConnId, now: Now) {
        let interval = self.config.hub.ping_interval;
        let Some(c) = self.live_ws(conn) else {
            return;
        };
        if let Some((ctx, mut io)) = c.websocket() {
            let _ = ctx.write(&mut io, WsMessage::Ping(Default::default()));
            let _ = ctx.flush(&mut io);
        }
        self.wheel.set(
            conn.key,
            kind::PING,
            now.mono + interval,
            Timer::Ping(conn.key, conn.generation),
        );
        self.flush(conn.key, now);
    }

    fn idle_check(&mut self, conn: ConnId, now: Now) {
        let idle = self.config.hub.idle_timeout;
        if self.live_ws(conn).is_none() {
            return;
        }
        let last_seen = self
            .hub
            .device(conn)
            .map(|d| d.last_seen)
            .unwrap_or(now.mono - idle);
        if now.mono.saturating_duration_since(last_seen) >= idle {
            log::info!("closing a device silent for {} s", idle.as_secs_f64());
            self.close_ws(conn, Close::Normal, CONNECTION_TIMEOUT, now);
        } else {
            self.wheel.set(
                conn.key,
                kind::IDLE,
                last_seen + idle,
                Timer::Idle(conn.key, conn.generation),
            );
        }
    }

    fn http_deadline(&mut self, key: usize, generation: u64, now: Now) {
        let Some(c) = self
            .conns
            .get_mut(key)
            .filter(|c| c.generation == generation)
        else {
            return;
        };
        let Phase::Http(h) = &mut c.phase else {
            return;
        };
        match h.on_timer(now.mono) {
            HttpTimer::Expired => {}
            HttpTimer::Stale => return,
            HttpTimer::Rearm(at) => {
                return self
                    .wheel
                    .set(key, kind::HTTP, at, Timer::Http(key, generation));
            }
        }
        if h.inbuf.is_empty() && h.served > 0 {
            // An idle keep-alive connection: just close it.
            return self.remove(key);
        }
        let resp = Response::error(408, "REQUEST_TIMEOUT", "the request did not arrive in time");
        c.out.push_owned(resp.encode(false));
        self.begin_close(key, now);
    }

    // ----- commands and shutdown ------------------------------------------------------

    fn commands(&mut self, now: Now) {
        while let Ok(cmd) = self.commands.try_recv() {
            let fx = &mut self.fx;
            match cmd {
                Command::CreateSession(r) => {
                    let _ = r.send(self.hub.create_session(now));
                }
                Command::CreateStartupSession(r) => {
                    let _ = r.send(self.hub.startup_or_create(now).map(|(s, _)| s));
                }
                Command::GetSession(id, r) => {
                    let _ = r.send(self.hub.session_json(&id, now));
                }
                Command::DeleteSession(id, r) => {
                    let _ = r.send(self.hub.delete_session(&id, fx));
                }
                Command::Push {
                    session,
                    schema,
                    preserve_state,
                    reply,
                } => {
                    let _ = reply.send(self.hub.push(&session, *schema, preserve_state, now, fx));
                }
                Command::PushToDevice {
                    session,
                    connection_id,
                    reply,
                } => {
                    let _ = reply.send(self.hub.push_to_device(&session, &connection_id, now, fx));
                }
                Command::Health(id, r) => {
                    let _ = r.send(self.hub.health_json(&id, now));
                }
                Command::Extend(id, by, r) => {
                    let _ = r.send(self.hub.extend_session(&id, by, now));
                }
                Command::Cleanup(r) => {
                    let _ = r.send(Ok(self.hub.cleanup_stale(now, fx)));
                }
                Command::ResyncAll(r) => {
                    let _ = r.send(Ok(self.hub.resync_all(now, fx)));
                }
                Command::Stats(r) => {
                    self.stats.uptime_ms = self.started.elapsed().as_millis() as u64;
                    self.stats.connections_open = self.conns.len();
                    self.stats.timers_pending = self.wheel.len();
                    self.stats.buffered_body_bytes = self.body_budget.in_use();
                    let _ = r.send(Ok(api::stats_json(&self.hub, &self.stats)));
                }
                Command::Watch {
                    session,
                    path,
                    reply,
                } => {
                    let registry = self.poll.registry();
                    let added =
                        self.watches
                            .add(registry, WATCH, session, path, &mut self.hub, now, fx);
                    if let Ok(wake) = added {
                        self.arm_watch(wake);
                    }
                    let _ = reply.send(added.map(|_| ()));
                }
                Command::Shutdown => self.begin_shutdown(now),
            }
            self.apply_effects(now);
        }
    }

    /// A watched file's timer: pushes it when it changed and has settled.
    fn watch(&mut self, i: usize, now: Now) {
        let wake = self.watches.on_timer(i, &mut self.hub, now, &mut self.fx);
        self.arm_watch(wake);
        self.apply_effects(now);
    }

    /// The inotify descriptor is readable.
    fn watch_events(&mut self, now: Now) {
        let mut wakes = Vec::new();
        self.watches.on_ready(now, &mut wakes);
        for wake in wakes {
            self.arm_watch(Some(wake));
        }
    }

    fn arm_watch(&mut self, wake: Option<(usize, Instant)>) {
        if let Some((i, at)) = wake {
            self.wheel.insert(at, Timer::Watch(i));
        }
    }

    fn signal(&mut self, now: Now) {
        let got = self
            .signals
            .as_mut()
            .is_some_and(|s| s.pending().next().is_some());
        if got {
            log::info!("signal received; shutting down");
            self.begin_shutdown(now);
        }
    }

    /// Stops accepting, closes devices with 1001 and everyone else at once;
    /// `run` returns when all are gone or the grace period ends.
    fn begin_shutdown(&mut self, now: Now) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.shutdown_deadline = Some(now.mono + self.config.shutdown_grace);
        let _ = self.poll.registry().deregister(&mut self.listener);
        let keys: Vec<(usize, u64, bool)> = self
            .conns
            .iter()
            .map(|(k, c)| (k, c.generation, c.is_websocket()))
            .collect();
        for (key, generation, ws) in keys {
            if ws {
                self.close_ws(
                    ConnId { key, generation },
                    Close::GoingAway,
                    Close::GoingAway.reason().unwrap_or_default(),
                    now,
                );
            } else {
                self.begin_close(key, now);
            }
        }
        self.apply_effects(now);
    }
}

/// True when `name` is an IP address of this machine: binding a UDP socket
/// to it succeeds only then, and sends nothing. Multicast and broadcast
/// addresses also bind but name no machine, so they are not local. Answers
/// are cached.
fn is_local_address(cache: &mut HashMap<String, bool>, name: &str) -> bool {
    if let Some(&known) = cache.get(name) {
        return known;
    }
    let unicast = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) => !v4.is_multicast() && !v4.is_broadcast(),
        IpAddr::V6(v6) => !v6.is_multicast(),
    };
    let local = name
        .parse::<IpAddr>()
        .is_ok_and(|ip| !ip.is_unspecified() && unicast(&ip) && UdpSocket::bind((ip, 0)).is_ok());
    if cache.len() < 256 {
        cache.insert(name.to_string(), local);
    }
    local
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
