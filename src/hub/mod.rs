//! The sans-I/O heart of the server: sessions, devices, sequence numbers,
//! the current schema, pushes, device messages and health.
//!
//! Every method takes the time as an argument and appends what should happen
//! (frames to send, connections to close, timers to set) to an outbox of
//! [`Effect`]s; nothing here touches a socket or reads a clock (the loop
//! passes [`Now`]; ids come from an injected [`IdSource`], and the only
//! clock read, for the log's `prepared in` times, is an injected stopwatch),
//! so the whole protocol can be driven from unit tests.

mod clock;
mod config;
mod connections;
mod counters;
pub mod device;
pub mod encoded;
mod error;
pub mod history;
pub mod ids;
mod lifecycle;
mod messages;
pub mod outbox;
pub mod persist;
mod push;
pub mod rate_limit;
pub mod recent;
mod refused;
mod resume;
pub(crate) mod sanitize;
pub mod session;
mod timers;
mod views;

pub use clock::Now;
pub use config::HubConfig;
pub use counters::Counters;
pub use device::{Device, DeviceInfo, DeviceState};
pub use error::HubError;
pub use ids::{IdSource, RandomIds, SequentialIds};
pub use lifecycle::SessionCreated;
pub use outbox::{ConnId, Effect, Frame, HubTimer, SharedFrame, encode_message, encode_text_frame};
pub use push::PushOutcome;
use sanitize::{LABEL_CHARS, TEXT_CHARS, printable, truncate};
pub use session::{HeldPush, Session};
pub use views::{DeviceHealth, DeviceView, HealthView, SessionSummary, SessionView};

use crate::protocol::close::{CONNECTION_TIMEOUT, Close, SESSION_CLOSED};
use crate::protocol::validate::parse_version;
use crate::protocol::{
    Decoded, ErrorCode, LogLevel, PROTOCOL_VERSION, Payload, Schema, Severity,
    create_error_message, create_pong_message, decode,
};
use rate_limit::{RateLimiter, Verdict};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Hashes the loop's slab keys, which index `Hub::devices`. They are small
/// integers chosen by the server, not by peers, so SipHash's resistance to
/// chosen keys buys nothing, and the map is looked up several times for every
/// message a device sends: one multiplication (Fibonacci hashing) spreads
/// consecutive keys over both the low bits (bucket) and the high bits (tag).
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used for `usize` keys; correct for anything else all the same.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0 ^ n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Recently expired session ids remembered so devices get 4410, not 4404.
const EXPIRED_MEMORY: usize = 1024;

/// Sessions and devices.
#[derive(Debug)]
pub struct Hub {
    cfg: HubConfig,
    sessions: HashMap<Arc<str>, Session>,
    devices: HashMap<usize, Device, BuildHasherDefault<KeyHasher>>,
    expired: VecDeque<Arc<str>>,
    counters: Counters,
    /// The session created by the command line at start, named by
    /// `GET /session/startup`.
    startup: Option<Arc<str>>,
    /// Session and connection ids.
    ids: Box<dyn IdSource>,
    /// Reads a monotonic clock, only to report how long a push took to
    /// prepare (the log's `prepared in`); decisions use the `Now` passed in.
    stopwatch: fn() -> Instant,
    /// `serverEpoch`: this state lineage (random, or restored from disk).
    epoch: Arc<str>,
    /// Changes to write down, taken by the loop (when `cfg.persist`).
    persist_ops: Vec<persist::PersistOp>,
    /// The last broadcasts, for the landing page.
    recent: recent::Recent,
}

impl Hub {
    /// An empty hub with random ids.
    pub fn new(cfg: HubConfig) -> Hub {
        Hub::with_ids(cfg, Box::new(RandomIds))
    }

    /// An empty hub whose session and connection ids come from `ids`.
    pub fn with_ids(cfg: HubConfig, ids: Box<dyn IdSource>) -> Hub {
        Hub {
            cfg,
            sessions: HashMap::new(),
            devices: HashMap::default(),
            expired: VecDeque::new(),
            counters: Counters::default(),
            startup: None,
            ids,
            stopwatch: Instant::now,
            epoch: uuid::Uuid::new_v4().to_string().into(),
            persist_ops: Vec::new(),
            recent: recent::Recent::default(),
        }
    }

    /// The same hub measuring its `prepared in` times with `stopwatch`
    /// instead of the system's monotonic clock (tests make them exact).
    pub fn with_stopwatch(mut self, stopwatch: fn() -> Instant) -> Hub {
        self.stopwatch = stopwatch;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &HubConfig {
        &self.cfg
    }

    /// Running totals.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Number of sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Number of registered devices across sessions.
    pub fn device_count(&self) -> usize {
        self.sessions.values().map(|s| s.devices.len()).sum()
    }

    /// A session by id.
    pub fn session(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// Every session, in no set order.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// The last broadcasts of all sessions, newest first (at most
    /// [`recent::KEEP`]).
    pub fn recent_updates(&self) -> impl Iterator<Item = &recent::UpdateRecord> {
        self.recent.iter()
    }

    /// Whether a session of this id is live: `SessionNotFound` or
    /// `SessionExpired` otherwise.
    pub fn check_session(&self, id: &str, now: Now) -> Result<(), HubError> {
        self.lookup(id, now).map(|_| ())
    }

    /// The hub's record of a connection, if it is a live WebSocket.
    pub fn device(&self, conn: ConnId) -> Option<&Device> {
        self.devices
            .get(&conn.key)
            .filter(|d| d.generation == conn.generation)
    }

    fn device_mut(&mut self, conn: ConnId) -> Option<&mut Device> {
        self.devices
            .get_mut(&conn.key)
            .filter(|d| d.generation == conn.generation)
    }

    fn lookup(&self, id: &str, now: Now) -> Result<&Session, HubError> {
        match self.sessions.get(id) {
            Some(s) if s.expires_at <= now.mono => Err(HubError::SessionExpired),
            Some(s) => Ok(s),
            None if self.expired.iter().any(|e| &**e == id) => Err(HubError::SessionExpired),
            None => Err(HubError::SessionNotFound),
        }
    }

    fn lookup_mut(&mut self, id: &str, now: Now) -> Result<&mut Session, HubError> {
        self.lookup(id, now)?;
        self.sessions.get_mut(id).ok_or(HubError::SessionNotFound)
    }
}

#[cfg(test)]
mod tests;
