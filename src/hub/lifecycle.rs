//! Session lifecycle: create (and the startup session), extend, delete, expire.

use super::*;

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

impl Hub {
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

    pub(super) fn insert_session(&mut self, now: Now) -> Result<SessionCreated, HubError> {
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
                code: Close::Normal,
                reason: SESSION_CLOSED,
            });
        });
        log::info!("session deleted; {n} device(s) disconnected");
        Ok(())
    }

    pub(super) fn expire_session(&mut self, id: &str, now: Now, fx: &mut Vec<Effect>) {
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
            fx.push(Effect::close(conn, Close::SessionExpired));
        });
        self.remember_expired(session.id);
        self.counters.sessions_expired += 1;
        log::info!("session expired; {n} device(s) disconnected");
    }

    /// Keeps an expired session's id for a while, so that it is answered
    /// as expired (410, close 4410), not as unknown.
    pub(super) fn remember_expired(&mut self, id: Arc<str>) {
        if self.expired.len() >= EXPIRED_MEMORY {
            self.expired.pop_front();
        }
        self.expired.push_back(id);
    }

    /// Forgets every connection of a session (registered or not), letting
    /// `each` say goodbye to it first. Returns how many there were.
    pub(super) fn drop_devices_of(
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
}
