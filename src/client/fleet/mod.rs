//! Many headless devices in one thread: a `mio` loop over non-blocking
//! sockets. Each device connects, does the WebSocket handshake by hand
//! (request, `101`, `Sec-WebSocket-Accept` check), then speaks the protocol
//! through tungstenite's `WebSocketContext`, which also answers the
//! server's heartbeat pings. Lost connections are retried with capped,
//! jittered exponential backoff; a session that was closed, expired or
//! never existed ends the device.
//!
//! Per device the cost is a socket, a small read buffer and the schema it
//! holds, so a thousand devices fit easily in one process.
//!
//! This file has the configuration, the events and the loop; `handshake.rs`
//! the hand-written upgrade, `frames.rs` reading, sending and what a read or
//! write ended in.

mod frames;
mod handshake;

use super::WsUrl;
use super::device::{Applied, DeviceState, Event, Join};
use crate::protocol::ErrorPayload;
use crate::protocol::close::{CONNECTION_TIMEOUT, Close};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::{Message, Role, WebSocketConfig, WebSocketContext};

const SIGNALS: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
/// Largest handshake response head accepted.
const MAX_HANDSHAKE: usize = 16 * 1024;
/// Largest message accepted from the server (a 10 MiB schema plus its
/// envelope).
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// How to run the devices.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Where to connect.
    pub url: WsUrl,
    /// How many devices.
    pub count: usize,
    /// `deviceName`; numbered `NAME-1`… when `count` > 1.
    pub name: String,
    /// `platform` in `connect`.
    pub platform: String,
    /// Interval of the protocol `ping`.
    pub ping_interval: Duration,
    /// Time from starting to connect until `connected` must have arrived.
    pub connect_timeout: Duration,
    /// First reconnection delay (doubled per failure, with jitter).
    pub backoff_min: Duration,
    /// Longest reconnection delay.
    pub backoff_max: Duration,
    /// Stop on SIGINT/SIGTERM.
    pub handle_signals: bool,
}

impl FleetConfig {
    /// Defaults for `count` devices at `url`.
    pub fn new(url: WsUrl, count: usize) -> FleetConfig {
        FleetConfig {
            url,
            count,
            name: "headless".into(),
            platform: "headless".into(),
            ping_interval: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
            handle_signals: false,
        }
    }
}

/// Something that happened to one device.
#[derive(Debug)]
pub enum FleetEvent<'a> {
    /// `connected` arrived (after a reconnection when `reconnected`).
    Connected {
        /// The session's sequence number.
        sequence: u64,
        /// The schema it came with, as applied.
        initial: Option<&'a Applied>,
        /// True when this is not the first connection.
        reconnected: bool,
        /// Resumed, or how it started over.
        join: &'a Join,
    },
    /// An update was applied (or failed and a reload was asked).
    Update(&'a Applied),
    /// The server sent an `error`.
    ServerError(&'a ErrorPayload),
    /// The connection was lost or could not be made; retrying.
    Disconnected {
        /// Why.
        reason: &'a str,
        /// When the next attempt is.
        retry_in: Duration,
    },
    /// The server ended the session for this device; no retry.
    Ended {
        /// The close code (0 when the upgrade itself was refused).
        code: u16,
        /// Why.
        reason: &'a str,
    },
}

/// Why [`Fleet::run`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetEnd {
    /// SIGINT/SIGTERM, or [`StopHandle::stop`].
    Stopped,
    /// Every device was ended by the server; the last close code and reason.
    SessionEnded {
        /// Close code (1000 closed, 4404 not found, 4410 expired, ...; see
        /// [`Close::from_code`]); 0 when the upgrade itself was refused.
        code: u16,
        /// Close reason.
        reason: String,
    },
}

/// Totals over all devices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Devices run.
    pub devices: usize,
    /// Devices holding a live, registered connection now.
    pub connected: usize,
    /// Schemas received in `connected` (the session's current schema, on
    /// each connection, reconnections included).
    pub initial_schemas: u64,
    /// Updates received (full and incremental).
    pub updates: u64,
    /// Updates (or initial schemas) that failed to apply or whose checksum
    /// did not match, each answered with a reload.
    pub checksum_failures: u64,
    /// Connection attempts after the first one.
    pub reconnects: u64,
}

/// Stops a running fleet from another thread.
#[derive(Clone, Debug)]
pub struct StopHandle {
    flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl StopHandle {
    /// Asks the fleet to close its connections and return.
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    Connect,
    Deadline,
    Ping,
}

/// A connection in progress or open.
enum Link {
    /// Waiting to (re)connect.
    Idle,
    /// TCP connecting, sending the upgrade request, reading the answer.
    Handshake {
        sock: TcpStream,
        request: Vec<u8>,
        written: usize,
        key: String,
        inbuf: Vec<u8>,
    },
    /// WebSocket open.
    Open {
        sock: TcpStream,
        ws: Box<WebSocketContext>,
        wants_write: bool,
        /// The close frame the server sent, if any.
        closed_with: Option<(u16, String)>,
    },
    /// Ended by the server.
    Ended,
}

struct Slot {
    state: DeviceState,
    link: Link,
    /// Bumped per connection attempt; timers of older attempts are ignored.
    epoch: u64,
    failures: u32,
    registered: bool,
    ever_connected: bool,
}

/// Devices sharing one poll loop.
pub struct Fleet {
    cfg: FleetConfig,
    addr: SocketAddr,
    poll: Poll,
    slots: Vec<Slot>,
    timers: BinaryHeap<Reverse<(Instant, usize, u64, TimerKind)>>,
    summary: Summary,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    rng: u64,
    last_end: Option<(u16, String)>,
}

/// What a slot's outcome after an event is.
enum Outcome {
    Fine,
    Lost(String),
    Closed(u16, String),
}

impl Fleet {
    /// Resolves the server address and prepares `cfg.count` devices.
    pub fn new(cfg: FleetConfig) -> io::Result<Fleet> {
        let addr = (cfg.url.url.host.as_str(), cfg.url.url.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address for the host"))?;
        if cfg.count >= usize::MAX - 2 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "too many devices",
            ));
        }
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let prefix = uuid::Uuid::new_v4().simple().to_string();
        let slots = (0..cfg.count)
            .map(|i| {
                let (name, id) = if cfg.count == 1 {
                    (cfg.name.clone(), format!("{}-{}", cfg.name, &prefix[..8]))
                } else {
                    (
                        format!("{}-{}", cfg.name, i + 1),
                        format!("{}-{}-{}", cfg.name, &prefix[..8], i + 1),
                    )
                };
                Slot {
                    state: DeviceState::new(&cfg.url.session, &id, &name, &cfg.platform),
                    link: Link::Idle,
                    epoch: 0,
                    failures: 0,
                    registered: false,
                    ever_connected: false,
                }
            })
            .collect();
        let rng = uuid::Uuid::new_v4().as_u64_pair().0 | 1;
        Ok(Fleet {
            summary: Summary {
                devices: cfg.count,
                ..Summary::default()
            },
            cfg,
            addr,
            poll,
            slots,
            timers: BinaryHeap::new(),
            stop: Arc::new(AtomicBool::new(false)),
            waker,
            rng,
            last_end: None,
        })
    }

    /// A handle that stops [`run`](Fleet::run) from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            flag: self.stop.clone(),
            waker: self.waker.clone(),
        }
    }

    /// Totals so far.
    pub fn summary(&self) -> Summary {
        let mut s = self.summary.clone();
        s.connected = self.slots.iter().filter(|s| s.registered).count();
        s
    }

    /// The devices' states (schema, sequence number).
    pub fn devices(&self) -> impl Iterator<Item = &DeviceState> {
        self.slots.iter().map(|s| &s.state)
    }

    /// Runs until stopped or until the server has ended every device.
    /// `on_event` hears about everything that happens, with the device's
    /// index and state.
    pub fn run(
        &mut self,
        mut on_event: impl FnMut(usize, &DeviceState, FleetEvent<'_>),
    ) -> io::Result<FleetEnd> {
        let mut signals = None;
        if self.cfg.handle_signals {
            let mut s = signal_hook_mio::v1_0::Signals::new([
                signal_hook::consts::SIGINT,
                signal_hook::consts::SIGTERM,
            ])?;
            self.poll
                .registry()
                .register(&mut s, SIGNALS, Interest::READABLE)?;
            signals = Some(s);
        }
        let now = Instant::now();
        for i in 0..self.slots.len() {
            self.timers.push(Reverse((now, i, 0, TimerKind::Connect)));
        }
        let mut events = Events::with_capacity(1024);
        loop {
            if self.stop.load(Ordering::SeqCst) {
                self.close_all();
                return Ok(FleetEnd::Stopped);
            }
            if self.slots.iter().all(|s| matches!(s.link, Link::Ended)) {
                let (code, reason) = self.last_end.clone().unwrap_or((0, String::new()));
                return Ok(FleetEnd::SessionEnded { code, reason });
            }
            let timeout = self
                .timers
                .peek()
                .map(|Reverse((at, ..))| at.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            for event in events.iter() {
                match event.token() {
                    SIGNALS => {
                        let got = signals
                            .as_mut()
                            .is_some_and(|s| s.pending().next().is_some());
                        if got {
                            self.stop.store(true, Ordering::SeqCst);
                        }
                    }
                    WAKER => {}
                    Token(i) if i < self.slots.len() => {
                        let outcome =
                            self.ready(i, event.is_readable(), event.is_writable(), &mut on_event);
                        self.settle(i, outcome, &mut on_event);
                    }
                    Token(_) => {}
                }
            }
            self.fire_timers(&mut on_event);
        }
    }

    fn fire_timers(&mut self, on_event: &mut impl FnMut(usize, &DeviceState, FleetEvent<'_>)) {
        let now = Instant::now();
        while let Some(&Reverse((at, i, epoch, kind))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(slot) = self.slots.get_mut(i) else {
                continue;
            };
            if slot.epoch != epoch || matches!(slot.link, Link::Ended) {
                continue;
            }
            let outcome = match kind {
                TimerKind::Connect => self.connect(i, now),
                TimerKind::Deadline if !slot.registered && !matches!(slot.link, Link::Idle) => {
                    Outcome::Lost(format!(
                        "no answer within {} s",
                        self.cfg.connect_timeout.as_secs_f64()
                    ))
                }
                TimerKind::Deadline => Outcome::Fine,
                TimerKind::Ping => {
                    let text = slot.state.ping_message();
                    self.timers.push(Reverse((
                        now + self.cfg.ping_interval,
                        i,
                        epoch,
                        TimerKind::Ping,
                    )));
                    self.send(i, vec![text])
                }
            };
            self.settle(i, outcome, on_event);
        }
    }

    /// Starts a connection attempt.
    fn connect(&mut self, i: usize, now: Instant) -> Outcome {
        let slot = &mut self.slots[i];
        if slot.ever_connected || slot.failures > 0 {
            self.summary.reconnects += 1;
        }
        let mut sock = match TcpStream::connect(self.addr) {
            Ok(s) => s,
            Err(e) => return Outcome::Lost(format!("cannot connect to {}: {e}", self.addr)),
        };
        if let Err(e) = self.poll.registry().register(
            &mut sock,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            return Outcome::Lost(format!("cannot register the socket: {e}"));
        }
        let key = tungstenite::handshake::client::generate_key();
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nUser-Agent: lumora-hr-mini/{}\r\n\r\n",
            self.cfg.url.url.path,
            self.cfg.url.url.authority(),
            env!("CARGO_PKG_VERSION"),
        )
        .into_bytes();
        slot.link = Link::Handshake {
            sock,
            request,
            written: 0,
            key,
            inbuf: Vec::new(),
        };
        self.timers.push(Reverse((
            now + self.cfg.connect_timeout,
            i,
            slot.epoch,
            TimerKind::Deadline,
        )));
        Outcome::Fine
    }

    /// Socket readiness for device `i`.
    fn ready(
        &mut self,
        i: usize,
        readable: bool,
        writable: bool,
        on_event: &mut impl FnMut(usize, &DeviceState, FleetEvent<'_>),
    ) -> Outcome {
        match &mut self.slots[i].link {
            Link::Handshake { .. } => self.handshake(i, on_event),
            Link::Open { .. } => {
                if writable {
                    if let o @ (Outcome::Lost(_) | Outcome::Closed(..)) = self.send(i, Vec::new()) {
                        return o;
                    }
                }
                if readable {
                    self.read(i, on_event)
                } else {
                    Outcome::Fine
                }
            }
            Link::Idle | Link::Ended => Outcome::Fine,
        }
    }

    /// `min × 2^(failures−1)`, capped, then a random 50–100 % of it so a
    /// crowd of devices does not reconnect in step.
    fn backoff(&mut self, failures: u32) -> Duration {
        let base = self
            .cfg
            .backoff_min
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
            .min(self.cfg.backoff_max);
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let fraction = 0.5 + (self.rng % 1000) as f64 / 2000.0;
        base.mul_f64(fraction)
    }

    /// Sends a close frame on every open connection (best effort).
    fn close_all(&mut self) {
        for slot in &mut self.slots {
            if let Link::Open { sock, ws, .. } = &mut slot.link {
                let frame = CloseFrame {
                    code: Close::Normal.code().into(),
                    reason: "Device stopped".into(),
                };
                let _ = ws.close(sock, Some(frame));
                let _ = ws.flush(sock);
            }
        }
    }
}
