//! Pushes: choosing full, incremental or none, coalescing, broadcasting one shared frame,
//! and single-device resyncs.

use super::*;
use crate::protocol::{PlannedUpdate, UpdateKind, UpdateType, plan_update};

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// Full, incremental, none or pending (held by coalescing).
    pub update_type: UpdateType,
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

pub(super) fn unchanged(session: &Session, schema: &Schema) -> PushOutcome {
    PushOutcome {
        update_type: UpdateType::None,
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
pub(super) fn held(session: &Session, checksum: &str) -> PushOutcome {
    PushOutcome {
        update_type: UpdateType::Pending,
        clients_updated: 0,
        sequence_number: session.sequence,
        checksum: checksum.to_string(),
        batched: true,
        bytes: 0,
    }
}

impl Hub {
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
    pub(super) fn broadcast(
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
                update_type: UpdateType::None,
                clients_updated: 0,
                sequence_number: 0,
                checksum: schema.checksum().to_string(),
                batched: false,
                bytes: 0,
            };
        };
        let started = (self.stopwatch)();
        let plan = plan_update(session.schema.as_deref(), &schema, threshold);
        let kind = match plan {
            PlannedUpdate::Unchanged => return unchanged(session, &schema),
            PlannedUpdate::Full => UpdateKind::Full,
            PlannedUpdate::Incremental(_) => UpdateKind::Incremental,
        };
        let base_checksum = session.schema.as_ref().map(|s| Arc::from(s.checksum()));
        session.sequence += 1;
        session.encoded.invalidate(session.sequence);
        let frame = match &plan {
            PlannedUpdate::Unchanged | PlannedUpdate::Full => session.encoded.full_update(
                &session.id,
                &schema,
                session.sequence,
                preserve_state,
                now.wall_ms,
                &mut self.counters.schema_encodings,
            ),
            PlannedUpdate::Incremental(delta) => encoded::incremental_update(
                &session.id,
                delta,
                (session.sequence, preserve_state),
                schema.checksum(),
                now.wall_ms,
            ),
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
            (self.stopwatch)()
                .saturating_duration_since(started)
                .as_secs_f64()
                * 1000.0
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
            update_type: kind.into(),
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
    pub(super) fn send_full(
        &mut self,
        conn: ConnId,
        now: Now,
        fx: &mut Vec<Effect>,
    ) -> Result<(), HubError> {
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
}
