//! The sans-I/O heart of the server: sessions, devices, sequence numbers,
//! the current schema, pushes, device messages and health.
//!
//! Every method takes the time as an argument and appends what should happen
//! (frames to send, connections to close, timers to set) to an outbox of
//! [`Effect`]s; nothing here touches a socket or reads a clock, so the whole
//! protocol can be driven from unit tests.

pub mod device;
pub mod encoded;
pub mod history;
pub mod ids;
pub mod outbox;
pub mod persist;
pub mod rate_limit;
pub mod recent;
mod refused;
mod resume;
pub mod session;

pub use device::{Device, DeviceInfo, DeviceState};
pub use ids::{IdSource, RandomIds, SequentialIds};
pub use outbox::{ConnId, Effect, Frame, HubTimer, SharedFrame, encode_message, encode_text_frame};
pub use session::{HeldPush, Session};

use crate::protocol::message::deserialize_message_full;
use crate::protocol::validate::parse_version;
use crate::protocol::{
    ErrorCode, LogLevel, PROTOCOL_VERSION, Payload, Schema, Severity, UpdateBody, UpdatePlan,
    choose_update, create_error_message, create_pong_message, create_update_message,
    deserialize_message_ref,
};
use rate_limit::{RateLimiter, Verdict};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The time, both monotonic (for deadlines) and wall-clock (for the wire).
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time.
    pub mono: Instant,
    /// Milliseconds since the Unix epoch.
    pub wall_ms: u64,
}

impl Now {
    /// The current time.
    pub fn current() -> Now {
        Now {
            mono: Instant::now(),
            wall_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        }
    }

    /// This time plus `d` (both clocks).
    pub fn plus(self, d: Duration) -> Now {
        Now {
            mono: self.mono + d,
            wall_ms: self.wall_ms.saturating_add(d.as_millis() as u64),
        }
    }
}

/// The hub's share of the server configuration.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Coalescing window for pushes; zero disables it.
    pub coalesce: Duration,
    /// Session lifetime from creation or extension.
    pub session_ttl: Duration,
    /// Time a device has after the upgrade to send `connect`.
    pub connect_timeout: Duration,
    /// Heartbeat interval (used to judge health).
    pub ping_interval: Duration,
    /// Silence after which a device is dropped.
    pub idle_timeout: Duration,
    /// Messages per second per connection.
    pub rate_limit: u32,
    /// How long a connection may stay over the rate limit before 1008.
    pub rate_limit_close_after: Duration,
    /// `should_use_incremental_update`'s threshold.
    pub incremental_threshold: usize,
    /// Most sessions at once.
    pub max_sessions: usize,
    /// Updates kept per session for devices that resume (64).
    pub history_updates: usize,
    /// Bytes of update frames kept per session for resuming devices
    /// (4 MiB); the smaller bound of the two wins.
    pub history_bytes: usize,
    /// Emit [`Effect::Persist`] with a snapshot whenever a session changes
    /// (the server sets this when it keeps a state directory).
    pub persist: bool,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            coalesce: Duration::from_millis(100),
            session_ttl: Duration::from_secs(8 * 3600),
            connect_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            rate_limit: 100,
            rate_limit_close_after: Duration::from_secs(5),
            incremental_threshold: crate::protocol::DEFAULT_INCREMENTAL_THRESHOLD,
            max_sessions: 1000,
            history_updates: 64,
            history_bytes: 4 * 1024 * 1024,
            persist: false,
        }
    }
}

/// Why a hub operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubError {
    /// No such session.
    SessionNotFound,
    /// The session expired.
    SessionExpired,
    /// The session cap is reached.
    TooManySessions(usize),
    /// The session has no schema yet.
    NoSchema,
    /// No such device in the session.
    DeviceNotFound,
}

impl fmt::Display for HubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HubError::SessionNotFound => f.write_str("session not found"),
            HubError::SessionExpired => f.write_str("session expired"),
            HubError::TooManySessions(n) => write!(f, "too many sessions (limit {n})"),
            HubError::NoSchema => f.write_str("the session has no schema yet"),
            HubError::DeviceNotFound => f.write_str("device not found in this session"),
        }
    }
}

impl std::error::Error for HubError {}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// `full`, `incremental`, `none` or `pending` (held by coalescing).
    pub update_type: &'static str,
    /// Devices the update was queued to.
    pub clients_updated: usize,
    /// The session's sequence number after the push.
    pub sequence_number: u64,
    /// Checksum of the pushed schema.
    pub checksum: String,
    /// True when held back by coalescing.
    pub batched: bool,
    /// Encoded size of the update frame (0 when nothing was sent).
    pub bytes: usize,
}

/// A newly created session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCreated {
    /// Its id.
    pub session_id: String,
    /// Creation, ms since the epoch.
    pub created_at_ms: u64,
    /// Expiry, ms since the epoch.
    pub expires_at_ms: u64,
}

/// Running totals for `/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Pushes accepted.
    pub pushes: u64,
    /// Updates broadcast (one per sequence number).
    pub broadcasts: u64,
    /// Update frames queued to devices (broadcasts × devices, plus resyncs).
    pub updates_queued: u64,
    /// Single-device full resyncs asked for (reload, slow device, a push to
    /// one device).
    pub resyncs: u64,
    /// Of those, the ones not queued because the device already had a
    /// frame carrying the whole schema queued.
    pub resyncs_skipped: u64,
    /// Times a schema was serialized for the wire: at most once per session
    /// state, however many broadcasts, `connected` and resyncs carry it.
    pub schema_encodings: u64,
    /// Text messages received from devices.
    pub messages_received: u64,
    /// Acks received.
    pub acks: u64,
    /// Acks reporting failure.
    pub failed_acks: u64,
    /// Messages dropped by the rate limit.
    pub rate_limited: u64,
    /// Messages refused as invalid.
    pub invalid_messages: u64,
    /// Sessions that expired.
    pub sessions_expired: u64,
}

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
            epoch: uuid::Uuid::new_v4().to_string().into(),
            persist_ops: Vec::new(),
            recent: recent::Recent::default(),
        }
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

    // ----- sessions -----------------------------------------------------

    /// Creates a session with a fresh UUID v4 id.
    pub fn create_session(&mut self, now: Now) -> Result<SessionCreated, HubError> {
        let created = self.insert_session(now)?;
        log::info!("session created ({} active)", self.sessions.len());
        Ok(created)
    }

    /// Creates the startup session (see [`Hub::set_startup_session`])
    /// without logging it: the command line's banner shows it.
    pub fn create_startup_session(&mut self, now: Now) -> Result<SessionCreated, HubError> {
        let created = self.insert_session(now)?;
        self.set_startup_session(&created.session_id)?;
        Ok(created)
    }

    fn insert_session(&mut self, now: Now) -> Result<SessionCreated, HubError> {
        if self.sessions.len() >= self.cfg.max_sessions {
            return Err(HubError::TooManySessions(self.cfg.max_sessions));
        }
        let id: Arc<str> = self.ids.next_id().into();
        let expires = now.plus(self.cfg.session_ttl);
        self.sessions.insert(
            id.clone(),
            Session {
                id: id.clone(),
                created_at_ms: now.wall_ms,
                expires_at: expires.mono,
                expires_at_ms: expires.wall_ms,
                schema: None,
                sequence: 0,
                held: None,
                last_broadcast: None,
                devices: Vec::new(),
                encoded: Default::default(),
                history: self.new_history(),
            },
        );
        self.persist(&id);
        log::debug!("session {id} created");
        Ok(SessionCreated {
            session_id: id.to_string(),
            created_at_ms: now.wall_ms,
            expires_at_ms: expires.wall_ms,
        })
    }

    /// Pushes the expiry of a session to `now + by`; returns the new expiry
    /// in ms since the epoch.
    pub fn extend_session(&mut self, id: &str, by: Duration, now: Now) -> Result<u64, HubError> {
        let session = self.lookup_mut(id, now)?;
        let expires = now.plus(by);
        if expires.mono > session.expires_at {
            session.expires_at = expires.mono;
            session.expires_at_ms = expires.wall_ms;
        }
        let expires_at_ms = session.expires_at_ms;
        self.persist(id);
        Ok(expires_at_ms)
    }

    /// Deletes a session; its devices are closed with 1000 "Session closed".
    pub fn delete_session(&mut self, id: &str, fx: &mut Vec<Effect>) -> Result<(), HubError> {
        let session = self.sessions.remove(id).ok_or(HubError::SessionNotFound)?;
        self.forget(&session.id);
        let n = self.drop_devices_of(&session.id, fx, |conn, fx| {
            fx.push(Effect::Close {
                conn,
                code: 1000,
                reason: "Session closed",
            });
        });
        log::info!("session deleted; {n} device(s) disconnected");
        Ok(())
    }

    fn expire_session(&mut self, id: &str, now: Now, fx: &mut Vec<Effect>) {
        let Some(session) = self.sessions.remove(id) else {
            return;
        };
        self.forget(&session.id);
        let frame = encode_message(
            &create_error_message(
                &session.id,
                ErrorCode::SessionExpired,
                "Session expired",
                Severity::Fatal,
                false,
                None,
            )
            .at(now.wall_ms),
        );
        let n = self.drop_devices_of(&session.id, fx, |conn, fx| {
            fx.push(Effect::Send {
                conn,
                frame: frame.clone(),
            });
            fx.push(Effect::Close {
                conn,
                code: 4410,
                reason: "Session expired",
            });
        });
        if self.expired.len() >= EXPIRED_MEMORY {
            self.expired.pop_front();
        }
        self.expired.push_back(session.id);
        self.counters.sessions_expired += 1;
        log::info!("session expired; {n} device(s) disconnected");
    }

    /// Forgets every connection of a session (registered or not), letting
    /// `each` say goodbye to it first. Returns how many there were.
    fn drop_devices_of(
        &mut self,
        session: &str,
        fx: &mut Vec<Effect>,
        mut each: impl FnMut(ConnId, &mut Vec<Effect>),
    ) -> usize {
        let mut gone = Vec::new();
        self.devices.retain(|&key, d| {
            if &*d.session == session {
                gone.push(ConnId {
                    key,
                    generation: d.generation,
                });
                false
            } else {
                true
            }
        });
        for &conn in &gone {
            each(conn, fx);
        }
        gone.len()
    }

    // ----- pushes -------------------------------------------------------

    /// Accepts a schema for a session: broadcast now (full, incremental or
    /// nothing), or hold it when the coalescing window is open.
    pub fn push(
        &mut self,
        id: &str,
        schema: Schema,
        preserve_state: bool,
        now: Now,
        fx: &mut Vec<Effect>,
    ) -> Result<PushOutcome, HubError> {
        let coalesce = self.cfg.coalesce;
        self.lookup(id, now)?;
        self.counters.pushes += 1;
        let session = self.lookup_mut(id, now)?;
        let schema = Arc::new(schema);
        let same =
            |s: Option<&Arc<Schema>>| s.is_some_and(|s| s.checksum() == schema.checksum_after(s));
        if same(session.schema.as_ref()) {
            // What devices hold already: a push held before it is superseded
            // (latest wins), and nothing needs to go out.
            session.held = None;
            return Ok(unchanged(session, &schema));
        }
        if same(session.held.as_ref().map(|h| &h.schema)) {
            return Ok(held(session, schema.checksum()));
        }
        if let Some(last) = session.last_broadcast {
            let window_end = last + coalesce;
            if !coalesce.is_zero() && now.mono < window_end {
                if session.held.is_none() {
                    fx.push(Effect::Schedule {
                        at: window_end,
                        timer: HubTimer::FlushHeld(session.id.clone()),
                    });
                }
                let outcome = held(session, schema.checksum());
                session.held = Some(HeldPush {
                    schema,
                    preserve_state,
                });
                return Ok(outcome);
            }
        }
        session.held = None;
        Ok(self.broadcast(id, schema, preserve_state, now, fx))
    }

    /// Sends `schema` to every registered device of a session, encoded once.
    fn broadcast(
        &mut self,
        id: &str,
        schema: Arc<Schema>,
        preserve_state: bool,
        now: Now,
        fx: &mut Vec<Effect>,
    ) -> PushOutcome {
        let threshold = self.cfg.incremental_threshold;
        let Some(session) = self.sessions.get_mut(id) else {
            return PushOutcome {
                update_type: "none",
                clients_updated: 0,
                sequence_number: 0,
                checksum: schema.checksum().to_string(),
                batched: false,
                bytes: 0,
            };
        };
        let started = Instant::now();
        let plan = choose_update(session.schema.as_deref(), &schema, threshold);
        let body = match plan {
            UpdatePlan::Unchanged => return unchanged(session, &schema),
            UpdatePlan::Full => UpdateBody::Full(schema.clone()),
            UpdatePlan::Incremental(delta) => UpdateBody::Incremental(delta),
        };
        let kind = plan_kind(&body);
        let base_checksum = session.schema.as_ref().map(|s| Arc::from(s.checksum()));
        session.sequence += 1;
        session.encoded.invalidate(session.sequence);
        let frame = match body {
            UpdateBody::Full(_) => session.encoded.full_update(
                &session.id,
                &schema,
                session.sequence,
                preserve_state,
                now.wall_ms,
                &mut self.counters.schema_encodings,
            ),
            UpdateBody::Incremental(_) => Frame::Whole(encode_message(
                &create_update_message(
                    &session.id,
                    body,
                    preserve_state,
                    session.sequence,
                    schema.checksum(),
                )
                .at(now.wall_ms),
            )),
        };
        let bytes = frame.len();
        let devices = session.devices.len();
        session.schema = Some(schema.clone());
        session.last_broadcast = Some(now.mono);
        session.history.record(history::HistoryEntry {
            sequence: session.sequence,
            base_checksum,
            frame: frame.clone(),
        });
        if devices > 0 {
            fx.push(Effect::Broadcast {
                conns: session.devices.clone(),
                frame,
            });
        }
        self.counters.broadcasts += 1;
        self.counters.updates_queued += devices as u64;
        log::info!(
            "update #{} {kind}: {bytes} bytes to {devices} device(s), prepared in {:.2} ms",
            session.sequence,
            started.elapsed().as_secs_f64() * 1000.0
        );
        self.recent.push(recent::UpdateRecord {
            session: session.id.clone(),
            sequence: session.sequence,
            kind,
            bytes,
            devices,
            checksum: schema.checksum().into(),
            at_ms: now.wall_ms,
        });
        let outcome = PushOutcome {
            update_type: kind,
            clients_updated: devices,
            sequence_number: session.sequence,
            checksum: schema.checksum().to_string(),
            batched: false,
            bytes,
        };
        self.persist(id);
        outcome
    }

    /// Resends a session's current schema (full, current sequence number) to
    /// the device with this `connectionId`.
    pub fn push_to_device(
        &mut self,
        id: &str,
        connection_id: &str,
        now: Now,
        fx: &mut Vec<Effect>,
    ) -> Result<(), HubError> {
        let session = self.lookup(id, now)?;
        let conn = session
            .devices
            .iter()
            .copied()
            .find(|c| {
                self.device(*c)
                    .and_then(Device::info)
                    .is_some_and(|i| i.connection_id == connection_id)
            })
            .ok_or(HubError::DeviceNotFound)?;
        self.send_full(conn, now, fx)
    }

    /// A full update of the last broadcast schema, at the current sequence
    /// number, to one registered device.
    fn send_full(&mut self, conn: ConnId, now: Now, fx: &mut Vec<Effect>) -> Result<(), HubError> {
        let device = self.devices.get(&conn.key);
        let device = device
            .filter(|d| d.generation == conn.generation)
            .ok_or(HubError::DeviceNotFound)?;
        let session = self
            .sessions
            .get_mut(&*device.session)
            .ok_or(HubError::SessionNotFound)?;
        let schema = session.schema.clone().ok_or(HubError::NoSchema)?;
        let frame = session.encoded.resync(
            &session.id,
            &schema,
            session.sequence,
            now.wall_ms,
            &mut self.counters.schema_encodings,
        );
        fx.push(Effect::Resync { conn, frame });
        self.counters.resyncs += 1;
        self.counters.updates_queued += 1;
        Ok(())
    }

    /// The loop did not queue a resync: the device already had a frame
    /// carrying the whole schema queued.
    pub fn resync_skipped(&mut self) {
        self.counters.resyncs_skipped += 1;
        self.counters.updates_queued = self.counters.updates_queued.saturating_sub(1);
    }

    /// Sends every registered device its session's current schema in full,
    /// at the current sequence number (one encoding per session, shared);
    /// returns how many devices it went to. Devices of sessions without a
    /// schema get nothing.
    pub fn resync_all(&mut self, now: Now, fx: &mut Vec<Effect>) -> usize {
        let mut sent = 0;
        for session in self.sessions.values_mut() {
            let Some(schema) = session.schema.clone() else {
                continue;
            };
            if session.devices.is_empty() {
                continue;
            }
            let frame = session.encoded.resync(
                &session.id,
                &schema,
                session.sequence,
                now.wall_ms,
                &mut self.counters.schema_encodings,
            );
            sent += session.devices.len();
            for &conn in &session.devices {
                fx.push(Effect::Resync {
                    conn,
                    frame: frame.clone(),
                });
            }
        }
        self.counters.resyncs += sent as u64;
        self.counters.updates_queued += sent as u64;
        sent
    }

    /// A slow device's queue drained after its updates were dropped: send
    /// it the current schema in full.
    pub fn resync(&mut self, conn: ConnId, now: Now, fx: &mut Vec<Effect>) {
        if self.device(conn).and_then(Device::info).is_some() {
            let _ = self.send_full(conn, now, fx);
        }
    }

    // ----- device connections --------------------------------------------

    /// A WebSocket upgrade completed on `/ws?session=...`.
    pub fn ws_opened(
        &mut self,
        conn: ConnId,
        session: Option<&str>,
        peer: SocketAddr,
        now: Now,
        fx: &mut Vec<Effect>,
    ) {
        let Some(id) = session.filter(|s| !s.is_empty()) else {
            let frame = encode_message(
                &create_error_message(
                    "unknown",
                    ErrorCode::SessionNotFound,
                    "Session ID required: connect to /ws?session=<id>",
                    Severity::Fatal,
                    false,
                    None,
                )
                .at(now.wall_ms),
            );
            fx.push(Effect::Send { conn, frame });
            fx.push(Effect::Close {
                conn,
                code: 4400,
                reason: "Session ID required",
            });
            return;
        };
        let session = match self.lookup(id, now) {
            Ok(s) => s.id.clone(),
            Err(HubError::SessionExpired) => {
                fx.push(Effect::Close {
                    conn,
                    code: 4410,
                    reason: "Session expired",
                });
                return;
            }
            Err(_) => {
                fx.push(Effect::Close {
                    conn,
                    code: 4404,
                    reason: "Session not found",
                });
                return;
            }
        };
        self.devices.insert(
            conn.key,
            Device {
                generation: conn.generation,
                session,
                peer,
                state: DeviceState::AwaitingConnect,
                rate: RateLimiter::new(
                    self.cfg.rate_limit,
                    self.cfg.rate_limit_close_after,
                    now.mono,
                ),
                last_seen: now.mono,
                last_seen_ms: now.wall_ms,
            },
        );
        fx.push(Effect::Schedule {
            at: now.mono + self.cfg.connect_timeout,
            timer: HubTimer::ConnectDeadline(conn),
        });
    }

    /// Any frame arrived from this connection (heartbeat bookkeeping).
    pub fn on_activity(&mut self, conn: ConnId, now: Now) {
        if let Some(d) = self.device_mut(conn) {
            d.last_seen = now.mono;
            d.last_seen_ms = now.wall_ms;
        }
    }

    /// A binary frame arrived: the protocol is text only.
    pub fn on_binary(&mut self, conn: ConnId, now: Now, fx: &mut Vec<Effect>) {
        // A message like any other for the rate limit: each one is answered.
        if let Some(session) = self.admit_message(conn, now, fx) {
            self.refuse_invalid(
                conn,
                &session,
                "binary frames are not supported; send JSON in text frames",
                now,
                fx,
            );
        }
    }

    /// The connection is gone.
    pub fn disconnect(&mut self, conn: ConnId) {
        if self.device(conn).is_none() {
            return;
        }
        let Some(device) = self.devices.remove(&conn.key) else {
            return;
        };
        if self.devices.capacity() > 4 * self.devices.len().max(64) {
            // A burst of connections is over: give its table back.
            self.devices.shrink_to_fit();
        }
        let DeviceState::Registered(info) = device.state else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&*device.session) else {
            return;
        };
        if let Some(moved) = session.remove_device(info.index) {
            if let Some(DeviceState::Registered(m)) =
                self.devices.get_mut(&moved.key).map(|d| &mut d.state)
            {
                m.index = info.index;
            }
        }
        log::info!(
            "device disconnected: {} ({}, {}); {} device(s) left in session",
            printable(info.label(), LABEL_CHARS),
            printable(&info.platform, LABEL_CHARS),
            device.peer,
            session.devices.len()
        );
    }

    /// Counts one message against the connection's rate limit; returns
    /// its session when the message may be handled.
    fn admit_message(&mut self, conn: ConnId, now: Now, fx: &mut Vec<Effect>) -> Option<Arc<str>> {
        let device = self.device_mut(conn)?;
        let verdict = device.rate.check(now.mono);
        let session = device.session.clone();
        self.counters.messages_received += 1;
        match verdict {
            Verdict::Allow => return Some(session),
            Verdict::Drop => {}
            Verdict::DropAndWarn => {
                let msg = format!(
                    "more than {} messages per second; excess messages are dropped",
                    self.cfg.rate_limit
                );
                log::warn!("rate limit: {}", self.describe(conn));
                self.send_error(
                    conn,
                    &session,
                    ErrorCode::RateLimitExceeded,
                    &msg,
                    Severity::Warning,
                    now,
                    fx,
                );
            }
            Verdict::Close => {
                log::warn!(
                    "rate limit: closing {} after 5 s over the limit",
                    self.describe(conn)
                );
                self.close(conn, 1008, "Rate limit exceeded", fx);
            }
        }
        self.counters.rate_limited += 1;
        None
    }

    /// A text message from a device.
    pub fn on_text(&mut self, conn: ConnId, text: &[u8], now: Now, fx: &mut Vec<Effect>) {
        let Some(session) = self.admit_message(conn, now, fx) else {
            return;
        };
        // Acks and pings (nearly every message) are read without allocating;
        // the strings then borrow from `text`, else from the owned message.
        let owned: (String, String);
        let (session_id, version, payload) = match deserialize_message_ref(text) {
            Some(m) => (m.session_id, m.version, m.payload),
            None => match deserialize_message_full(text, true) {
                Ok(m) => {
                    owned = (m.session_id, m.version);
                    (owned.0.as_str(), owned.1.as_str(), m.payload)
                }
                Err(e) => {
                    let mut msg = e.to_string();
                    truncate(&mut msg, 1024);
                    log::debug!(
                        "invalid message from {}: {}",
                        self.describe(conn),
                        printable(&msg, TEXT_CHARS)
                    );
                    self.refuse_invalid(conn, &session, &msg, now, fx);
                    return;
                }
            },
        };
        if *session_id != *session {
            self.refuse(
                conn,
                &session,
                ErrorCode::SessionNotFound,
                "the message names another session than the connection URL",
                (4400, "Session ID mismatch"),
                now,
                fx,
            );
            return;
        }
        // The envelope and `connect`'s clientVersion are both checked, but a
        // connection hears about a minor difference only once.
        let mut warned = false;
        if !self.check_version(conn, &session, version, &mut warned, now, fx) {
            return;
        }
        let registered = self.device(conn).and_then(Device::info).is_some();
        match (registered, payload) {
            (false, Payload::Connect(p)) => {
                if self.check_version(conn, &session, &p.client_version, &mut warned, now, fx) {
                    self.register(conn, p, now, fx);
                }
            }
            (false, other) => {
                let msg = format!(
                    "the first message must be `connect`, not `{}`",
                    other.message_type().as_str()
                );
                self.refuse(
                    conn,
                    &session,
                    ErrorCode::AuthenticationFailed,
                    &msg,
                    (4401, "Connect required"),
                    now,
                    fx,
                );
            }
            (true, Payload::Connect(_)) => {
                self.send_error(
                    conn,
                    &session,
                    ErrorCode::InvalidMessage,
                    "already connected",
                    Severity::Warning,
                    now,
                    fx,
                );
            }
            (true, Payload::Ping(_)) => {
                if let Some(DeviceState::Registered(info)) =
                    self.device_mut(conn).map(|d| &mut d.state)
                {
                    info.last_ping_ms = Some(now.wall_ms);
                }
                let frame =
                    encode_message(&create_pong_message(&session, now.wall_ms).at(now.wall_ms));
                fx.push(Effect::Send { conn, frame });
            }
            (true, Payload::Ack(ack)) => {
                self.counters.acks += 1;
                if !ack.success {
                    self.counters.failed_acks += 1;
                    log::warn!(
                        "{} failed to apply update #{}: {}",
                        self.describe(conn),
                        ack.sequence_number,
                        printable(
                            ack.error.as_deref().unwrap_or("no reason given"),
                            TEXT_CHARS
                        )
                    );
                }
                if let Some(DeviceState::Registered(info)) =
                    self.device_mut(conn).map(|d| &mut d.state)
                {
                    info.last_ack_sequence = Some(ack.sequence_number);
                    info.last_ack_success = Some(ack.success);
                    info.last_apply_time = ack.apply_time;
                }
            }
            (true, Payload::Reload(r)) => {
                log::info!(
                    "{} asked for a reload ({:?}{})",
                    self.describe(conn),
                    r.reason,
                    r.error
                        .map(|e| format!(": {}", printable(&e, TEXT_CHARS)))
                        .unwrap_or_default()
                );
                if self.send_full(conn, now, fx) == Err(HubError::NoSchema) {
                    self.send_error(
                        conn,
                        &session,
                        ErrorCode::UpdateFailed,
                        "nothing to reload: the session has no schema yet",
                        Severity::Warning,
                        now,
                        fx,
                    );
                }
            }
            (true, Payload::Log(l)) => {
                let who = self.describe(conn);
                let level = match l.level {
                    LogLevel::Debug => log::Level::Debug,
                    LogLevel::Info => log::Level::Info,
                    LogLevel::Warn => log::Level::Warn,
                    LogLevel::Error => log::Level::Error,
                };
                log::log!(target: "device", level, "[{who}] {}", printable(&l.message, TEXT_CHARS));
            }
            (true, Payload::Error(e)) => {
                log::warn!(
                    "{} reported {}: {}",
                    self.describe(conn),
                    printable(&e.code.to_string(), LABEL_CHARS),
                    printable(&e.message, TEXT_CHARS)
                );
            }
            (true, other @ (Payload::Connected(_) | Payload::Update(_) | Payload::Pong(_))) => {
                let msg = format!(
                    "`{}` is sent by the server, not by devices",
                    other.message_type().as_str()
                );
                self.refuse_invalid(conn, &session, &msg, now, fx);
            }
        }
    }

    /// Refuses another major version (4426); warns once about another minor
    /// (before registration, unless `warned` says it was done already).
    fn check_version(
        &mut self,
        conn: ConnId,
        session: &str,
        version: &str,
        warned: &mut bool,
        now: Now,
        fx: &mut Vec<Effect>,
    ) -> bool {
        if version == PROTOCOL_VERSION {
            // Nearly every message: the same version as ours, nothing to say.
            return true;
        }
        let ours = parse_version(PROTOCOL_VERSION);
        match parse_version(version) {
            theirs if theirs.major == ours.major => {
                if theirs.minor != ours.minor
                    && !*warned
                    && self.device(conn).and_then(Device::info).is_none()
                {
                    *warned = true;
                    let msg = format!(
                        "protocol version {version} differs from the server's {PROTOCOL_VERSION} in the minor version; continuing"
                    );
                    self.send_error(
                        conn,
                        session,
                        ErrorCode::UnsupportedVersion,
                        &msg,
                        Severity::Warning,
                        now,
                        fx,
                    );
                }
                true
            }
            _ => {
                let msg = format!(
                    "protocol version {version:?} is not supported; the server speaks {PROTOCOL_VERSION}"
                );
                self.refuse(
                    conn,
                    session,
                    ErrorCode::UnsupportedVersion,
                    &msg,
                    (4426, "Unsupported protocol version"),
                    now,
                    fx,
                );
                false
            }
        }
    }

    fn register(
        &mut self,
        conn: ConnId,
        p: crate::protocol::ConnectPayload,
        now: Now,
        fx: &mut Vec<Effect>,
    ) {
        let Some(device) = self
            .devices
            .get_mut(&conn.key)
            .filter(|d| d.generation == conn.generation)
        else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&*device.session) else {
            self.close(conn, 4404, "Session not found", fx);
            return;
        };
        let index = session.add_device(conn);
        let join = resume::join(session, &self.epoch, p.resume.as_ref());
        let info = DeviceInfo {
            connection_id: self.ids.next_id(),
            device_id: p.device_id,
            platform: p.platform,
            device_name: p.device_name,
            client_version: p.client_version,
            connected_at_ms: now.wall_ms,
            index,
            last_ack_sequence: None,
            last_ack_success: None,
            last_apply_time: None,
            last_ping_ms: None,
        };
        let how = match &join {
            resume::Join::Resumed(missed) => format!(
                "resumed at #{} ({} missed)",
                session.sequence - missed.len() as u64,
                missed.len()
            ),
            resume::Join::Fresh => "connected".to_string(),
            resume::Join::Refused(why) | resume::Join::Malformed(why) => {
                format!("connected, full resync ({why})")
            }
        };
        let malformed = match join {
            resume::Join::Resumed(missed) => {
                let frame =
                    resume::resumed_connected(session, &info.connection_id, &self.epoch, now);
                fx.push(Effect::SendConnected { conn, frame });
                self.counters.updates_queued += missed.len() as u64;
                for frame in missed {
                    fx.push(Effect::Broadcast {
                        conns: vec![conn],
                        frame,
                    });
                }
                None
            }
            join => {
                let frame = session.encoded.connected(
                    &session.id,
                    &info.connection_id,
                    session.schema.as_ref(),
                    session.sequence,
                    (now.wall_ms, &self.epoch),
                    &mut self.counters.schema_encodings,
                );
                fx.push(Effect::SendConnected { conn, frame });
                match join {
                    resume::Join::Malformed(why) => Some(why),
                    _ => None,
                }
            }
        };
        log::info!(
            "device {how}: {} ({}, {}); {} device(s) in session",
            printable(info.label(), LABEL_CHARS),
            printable(&info.platform, LABEL_CHARS),
            device.peer,
            session.devices.len()
        );
        let session = session.id.clone();
        device.state = DeviceState::Registered(Box::new(info));
        if let Some(why) = malformed {
            // Answered, and the device still gets the whole schema.
            self.counters.invalid_messages += 1;
            let msg = format!("resume ignored ({why}); the full schema was sent instead");
            self.send_error(
                conn,
                &session,
                ErrorCode::InvalidMessage,
                &msg,
                Severity::Warning,
                now,
                fx,
            );
        }
    }

    /// A fatal error message, then close with `close` (code, reason).
    #[allow(clippy::too_many_arguments)]
    fn refuse(
        &mut self,
        conn: ConnId,
        session: &str,
        code: ErrorCode,
        message: &str,
        close: (u16, &'static str),
        now: Now,
        fx: &mut Vec<Effect>,
    ) {
        self.send_error(conn, session, code, message, Severity::Fatal, now, fx);
        self.close(conn, close.0, close.1, fx);
    }

    /// Counts an invalid message and answers `INVALID_MESSAGE` (recoverable:
    /// the connection stays open).
    fn refuse_invalid(
        &mut self,
        conn: ConnId,
        session: &str,
        message: &str,
        now: Now,
        fx: &mut Vec<Effect>,
    ) {
        self.counters.invalid_messages += 1;
        self.send_error(
            conn,
            session,
            ErrorCode::InvalidMessage,
            message,
            Severity::Error,
            now,
            fx,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn send_error(
        &self,
        conn: ConnId,
        session: &str,
        code: ErrorCode,
        message: &str,
        severity: Severity,
        now: Now,
        fx: &mut Vec<Effect>,
    ) {
        let recoverable = severity != Severity::Fatal;
        let frame = encode_message(
            &create_error_message(session, code, message, severity, recoverable, None)
                .at(now.wall_ms),
        );
        fx.push(Effect::Send { conn, frame });
    }

    /// Asks the loop to close `conn` and forgets it.
    fn close(&mut self, conn: ConnId, code: u16, reason: &'static str, fx: &mut Vec<Effect>) {
        self.disconnect(conn);
        fx.push(Effect::Close { conn, code, reason });
    }

    fn describe(&self, conn: ConnId) -> String {
        match self.device(conn) {
            Some(d) => match d.info() {
                Some(i) => format!("{} ({})", printable(i.label(), LABEL_CHARS), d.peer),
                None => format!("connection from {}", d.peer),
            },
            None => "connection".into(),
        }
    }

    // ----- timers ---------------------------------------------------------

    /// A timer the hub asked for has fired.
    pub fn on_timer(&mut self, timer: HubTimer, now: Now, fx: &mut Vec<Effect>) {
        match timer {
            HubTimer::ConnectDeadline(conn) => {
                let Some(device) = self.device(conn) else {
                    return;
                };
                if device.info().is_none() {
                    let session = device.session.clone();
                    let msg = format!(
                        "no `connect` message within {} s of the upgrade",
                        self.cfg.connect_timeout.as_secs_f64()
                    );
                    self.refuse(
                        conn,
                        &session,
                        ErrorCode::AuthenticationFailed,
                        &msg,
                        (4401, "Connect timeout"),
                        now,
                        fx,
                    );
                }
            }
            HubTimer::FlushHeld(id) => {
                let held = self.sessions.get_mut(&id).and_then(|s| s.held.take());
                if let Some(h) = held {
                    self.broadcast(&id, h.schema, h.preserve_state, now, fx);
                }
            }
            HubTimer::SessionSweep => {
                let due: Vec<Arc<str>> = self
                    .sessions
                    .values()
                    .filter(|s| s.expires_at <= now.mono)
                    .map(|s| s.id.clone())
                    .collect();
                for id in due {
                    self.expire_session(&id, now, fx);
                }
                self.schedule_sweep(now, fx);
            }
        }
    }

    /// Arms the periodic session-expiry sweep; the loop calls this once at
    /// start, and each sweep re-arms itself. Expiry is checked every eighth
    /// of the session lifetime, between 10 ms and 1 s.
    pub fn schedule_sweep(&self, now: Now, fx: &mut Vec<Effect>) {
        let every =
            (self.cfg.session_ttl / 8).clamp(Duration::from_millis(10), Duration::from_secs(1));
        fx.push(Effect::Schedule {
            at: now.mono + every,
            timer: HubTimer::SessionSweep,
        });
    }

    /// Closes every connection silent for the idle timeout or longer;
    /// returns how many.
    pub fn cleanup_stale(&mut self, now: Now, fx: &mut Vec<Effect>) -> usize {
        let idle = self.cfg.idle_timeout;
        let stale: Vec<ConnId> = self
            .devices
            .iter()
            .filter(|(_, d)| now.mono.saturating_duration_since(d.last_seen) >= idle)
            .map(|(&key, d)| ConnId {
                key,
                generation: d.generation,
            })
            .collect();
        for &conn in &stale {
            self.close(conn, 1000, "Connection timeout", fx);
        }
        stale.len()
    }

    // ----- views (HTTP API) ------------------------------------------------

    /// `GET /session/:id`.
    pub fn session_json(&self, id: &str, now: Now) -> Result<Value, HubError> {
        let s = self.lookup(id, now)?;
        let devices: Vec<Value> = self
            .registered(s)
            .map(|(_, d, i)| {
                json!({
                    "connectionId": i.connection_id,
                    "deviceId": i.device_id,
                    "platform": i.platform,
                    "deviceName": i.device_name,
                    "connectedAt": i.connected_at_ms,
                    "address": d.peer.to_string(),
                })
            })
            .collect();
        Ok(json!({
            "sessionId": &*s.id,
            "createdAt": s.created_at_ms,
            "expiresAt": s.expires_at_ms,
            "connectedDevices": devices.len(),
            "sequenceNumber": s.sequence,
            "checksum": s.schema.as_ref().map(|x| x.checksum()),
            "hasSchema": s.latest().is_some(),
            "devices": devices,
        }))
    }

    /// `GET /session/:id/health`. A device is healthy when it was heard from
    /// within 1.5 ping intervals and its last ack (if any) succeeded.
    pub fn health_json(&self, id: &str, now: Now) -> Result<Value, HubError> {
        let s = self.lookup(id, now)?;
        let fresh = self.cfg.ping_interval.mul_f64(1.5);
        let devices: Vec<Value> = self
            .registered(s)
            .map(|(_, d, i)| {
                let since = now.mono.saturating_duration_since(d.last_seen);
                let healthy = since < fresh && i.last_ack_success != Some(false);
                json!({
                    "connectionId": i.connection_id,
                    "deviceId": i.device_id,
                    "deviceName": i.device_name,
                    "platform": i.platform,
                    "healthy": healthy,
                    "lastPing": d.last_seen_ms,
                    "timeSinceLastPing": since.as_millis() as u64,
                    "lastAckSequence": i.last_ack_sequence,
                    "lastAckSuccess": i.last_ack_success,
                    "lastApplyTime": i.last_apply_time,
                    "sequenceLag": i.last_ack_sequence.map(|a| s.sequence.saturating_sub(a)),
                })
            })
            .collect();
        let healthy = devices.iter().filter(|d| d["healthy"] == true).count();
        Ok(json!({
            "sessionId": &*s.id,
            "sequenceNumber": s.sequence,
            "totalDevices": devices.len(),
            "healthyDevices": healthy,
            "unhealthyDevices": devices.len() - healthy,
            "devices": devices,
        }))
    }

    /// Makes `id` the startup session, the one `GET /session/startup` names
    /// (so `lumora-hr-mini push` finds it without being told its id).
    pub fn set_startup_session(&mut self, id: &str) -> Result<(), HubError> {
        let (key, _) = self
            .sessions
            .get_key_value(id)
            .ok_or(HubError::SessionNotFound)?;
        self.startup = Some(key.clone());
        Ok(())
    }

    /// The startup session's id, if one was set (it may since have been
    /// deleted or have expired: look it up to know).
    pub fn startup_session(&self) -> Option<&str> {
        self.startup.as_deref()
    }

    /// Session details for `/stats`.
    pub fn session_details(&self) -> Vec<Value> {
        self.sessions
            .values()
            .map(|s| {
                json!({
                    "id": &*s.id,
                    "devices": s.devices.len(),
                    "createdAt": s.created_at_ms,
                    "expiresAt": s.expires_at_ms,
                    "sequenceNumber": s.sequence,
                })
            })
            .collect()
    }

    fn registered<'a>(
        &'a self,
        s: &'a Session,
    ) -> impl Iterator<Item = (ConnId, &'a Device, &'a DeviceInfo)> + 'a {
        s.devices.iter().filter_map(move |&c| {
            let d = self.device(c)?;
            Some((c, d, d.info()?))
        })
    }
}

fn unchanged(session: &Session, schema: &Schema) -> PushOutcome {
    PushOutcome {
        update_type: "none",
        clients_updated: 0,
        sequence_number: session.sequence,
        checksum: schema.checksum().to_string(),
        batched: false,
        bytes: 0,
    }
}

/// A push held by coalescing: nothing is promised. `sequence_number` is the
/// current update's, and `checksum` the held schema's; when the window
/// ends it is compared with what devices hold and sent only if it differs.
fn held(session: &Session, checksum: &str) -> PushOutcome {
    PushOutcome {
        update_type: "pending",
        clients_updated: 0,
        sequence_number: session.sequence,
        checksum: checksum.to_string(),
        batched: true,
        bytes: 0,
    }
}

fn plan_kind(body: &UpdateBody) -> &'static str {
    match body {
        UpdateBody::Full(_) => "full",
        UpdateBody::Incremental(_) => "incremental",
    }
}

/// Longest device name, id or platform printed in a log line.
const LABEL_CHARS: usize = 64;
/// Longest device-supplied text (log message, error) printed in a log line.
const TEXT_CHARS: usize = 2048;

/// Device-supplied text made safe for the developer's terminal: control
/// characters (ANSI escapes, carriage returns, newlines that would forge
/// log lines) are written as escapes, and the text is cut at `max_chars`.
fn printable(s: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    let short = s.len() <= max_chars;
    if short && !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().min(max_chars) + 8);
    for (i, c) in s.chars().enumerate() {
        if i == max_chars {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod printable_tests {
    use super::printable;

    #[test]
    fn device_text_cannot_drive_the_terminal_or_forge_lines() {
        assert_eq!(printable("Pixel 8 ✓", 64), "Pixel 8 ✓");
        assert_eq!(
            printable("\u{1b}[2J\rINFO fake\nline", 64),
            "\\u{1b}[2J\\rINFO fake\\nline"
        );
        assert_eq!(printable("ééééé", 3), "ééé…");
        assert_eq!(printable(&"x".repeat(10_000), 5), "xxxxx…");
    }
}
