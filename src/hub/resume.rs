//! The hub's side of durable sessions and resume: snapshots for the state
//! directory, restoring sessions at start, and deciding what a device that
//! names a resume point in `connect` is sent.

use super::history::{Gap, History};
use super::outbox::{Frame, encode_message};
use super::persist::{PersistOp, SessionSnapshot};
use super::{Hub, HubError, Now, Session, SessionCreated};
use crate::protocol::{Payload, Resume, Schema, create_connected_message};
use std::sync::Arc;
use std::time::Duration;

/// How a device joins its session.
#[derive(Debug)]
pub(super) enum Join {
    /// Resumed: send `connected` without schema, then these updates.
    Resumed(Vec<Frame>),
    /// No resume asked for: the whole current schema in `connected`.
    Fresh,
    /// A resume that cannot be granted (why): the whole schema.
    Refused(String),
    /// A `resume` that is not one (why): the whole schema and a warning.
    Malformed(String),
}

/// What a device asking to resume from `resume` gets in `session`.
pub(super) fn join(session: &Session, epoch: &str, resume: Option<&Resume>) -> Join {
    let point = match resume {
        None => return Join::Fresh,
        Some(Resume::Malformed(why)) => return Join::Malformed(format!("malformed resume: {why}")),
        Some(Resume::From(p)) => p,
    };
    if point.server_epoch != epoch {
        return Join::Refused("another server epoch".into());
    }
    let current = session.schema.as_deref().map(Schema::checksum);
    match session.history.replay(
        point.sequence_number,
        &point.checksum,
        session.sequence,
        current,
    ) {
        Ok(frames) => Join::Resumed(frames),
        Err(gap) => Join::Refused(match gap {
            Gap::Ahead => format!(
                "device at #{} is ahead of the session's #{}",
                point.sequence_number, session.sequence
            ),
            other => other.as_str().to_string(),
        }),
    }
}

/// `connected` for a granted resume: no `initialSchema`, `resumed: true`,
/// the session's current number and the checksum the missed updates lead
/// to.
pub(super) fn resumed_connected(
    session: &Session,
    connection_id: &str,
    epoch: &str,
    now: Now,
) -> Frame {
    let mut m = create_connected_message(&session.id, connection_id, None, session.sequence)
        .at(now.wall_ms);
    if let Payload::Connected(c) = &mut m.payload {
        c.checksum = session.schema.as_deref().map(|s| s.checksum().to_string());
        c.server_epoch = Some(epoch.to_string());
        c.resumed = true;
    }
    Frame::Whole(encode_message(&m))
}

impl Hub {
    /// `serverEpoch`: the id of this server's state lineage.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    pub(super) fn new_history(&self) -> History {
        History::new(self.cfg.history_updates, self.cfg.history_bytes)
    }

    /// The changes to write down since the last call (empty unless
    /// `persist` is configured).
    pub fn take_persist_ops(&mut self) -> Vec<PersistOp> {
        std::mem::take(&mut self.persist_ops)
    }

    /// Queues a snapshot of session `id` for the state directory.
    pub(super) fn persist(&mut self, id: &str) {
        if !self.cfg.persist {
            return;
        }
        let Some(s) = self.sessions.get(id) else {
            return;
        };
        let snapshot = SessionSnapshot {
            id: s.id.clone(),
            created_at_ms: s.created_at_ms,
            expires_at_ms: s.expires_at_ms,
            sequence: s.sequence,
            schema: s.schema.clone(),
            schema_json: s.encoded.schema_json_if_made(s.sequence),
            history: s.history.entries().cloned().collect(),
        };
        self.persist_ops.push(PersistOp::Save(Box::new(snapshot)));
    }

    /// Queues the removal of a session's file.
    pub(super) fn forget(&mut self, id: &Arc<str>) {
        if self.cfg.persist {
            self.persist_ops.push(PersistOp::Remove(id.clone()));
        }
    }

    fn persist_server(&mut self) {
        if self.cfg.persist {
            self.persist_ops.push(PersistOp::Server {
                epoch: self.epoch.clone(),
                startup: self.startup.clone(),
            });
        }
    }

    /// Takes back what the state directory held: the state lineage (a new
    /// one is recorded when `epoch` is `None`), the startup session, the
    /// sessions, and the ids of those found expired. Expired sessions are
    /// forgotten, but answered as expired (410, close 4410), as they would
    /// have been had the server run on: an old QR code says "expired",
    /// not "not found".
    pub fn restore(
        &mut self,
        epoch: Option<String>,
        startup: Option<String>,
        sessions: Vec<SessionSnapshot>,
        expired: Vec<Arc<str>>,
        now: Now,
    ) {
        for id in expired {
            self.remember_expired(id);
        }
        let known_epoch = epoch.is_some();
        if let Some(e) = epoch {
            self.epoch = e.into();
        }
        let (mut sessions, expired): (Vec<_>, Vec<_>) = sessions
            .into_iter()
            .partition(|s| s.expires_at_ms > now.wall_ms);
        for s in expired {
            self.forget(&s.id);
            self.remember_expired(s.id);
        }
        // Over --max-sessions (a lower limit than before, or sessions made
        // after the startup one was deleted): the startup session and the
        // newest are restored, and a slot is left for a new startup
        // session when it is not among them, so the server always starts.
        let is_startup = |s: &SessionSnapshot| startup.as_deref() == Some(&*s.id);
        let room = self.cfg.max_sessions.saturating_sub(self.sessions.len());
        if sessions.len() > room.saturating_sub(1) {
            let has_startup = sessions.iter().any(is_startup);
            // Other sessions kept: the startup one has its slot either way.
            let others = room.saturating_sub(1);
            let mut times: Vec<u64> = sessions
                .iter()
                .filter(|s| !is_startup(s))
                .map(|s| s.created_at_ms)
                .collect();
            if times.len() > others {
                times.sort_unstable();
                let newest_from = times.get(times.len() - others).copied().unwrap_or(u64::MAX);
                let mut kept = 0;
                sessions.retain(|s| {
                    let keep = is_startup(s) || (s.created_at_ms >= newest_from && kept < others);
                    kept += usize::from(keep && !is_startup(s));
                    keep
                });
                // Kept on disk for a server with a higher --max-sessions.
                log::warn!(
                    "state: {} stored session(s) not restored (the oldest): more than --max-sessions ({}) allows{}; \
                     their files stay for a server with a higher limit",
                    times.len() - kept,
                    self.cfg.max_sessions,
                    if has_startup {
                        ""
                    } else {
                        " with a new startup session"
                    },
                );
            }
        }
        for s in sessions {
            let left = Duration::from_millis(s.expires_at_ms - now.wall_ms);
            let mut history = self.new_history();
            for e in s.history {
                history.record(e);
            }
            let session = Session {
                id: s.id.clone(),
                created_at_ms: s.created_at_ms,
                expires_at: now.mono + left,
                expires_at_ms: s.expires_at_ms,
                schema: s.schema,
                sequence: s.sequence,
                held: None,
                last_broadcast: None,
                devices: Vec::new(),
                encoded: Default::default(),
                history,
            };
            self.sessions.insert(s.id, session);
        }
        self.startup = startup
            .and_then(|id| self.sessions.get_key_value(id.as_str()))
            .map(|(k, _)| k.clone());
        if !known_epoch {
            self.persist_server();
        }
    }

    /// The startup session: the restored one while it has not expired,
    /// else a new one.
    pub fn startup_or_create(&mut self, now: Now) -> Result<(SessionCreated, bool), HubError> {
        if let Some(s) = self
            .startup
            .as_deref()
            .and_then(|id| self.lookup(id, now).ok())
        {
            return Ok((
                SessionCreated {
                    session_id: s.id.to_string(),
                    created_at_ms: s.created_at_ms,
                    expires_at_ms: s.expires_at_ms,
                },
                true,
            ));
        }
        let created = self.create_startup_session(now)?;
        self.persist_server();
        Ok((created, false))
    }
}
