//! Device messages after `connect`: admission (rate limit), dispatch of ack, ping,
//! reload and log, and the error and close answers.

use super::*;

/// Acks are far smaller than this; a message over the rate limit that is
/// larger is not read to find out whether it is one.
const SMALL_MESSAGE: usize = 4096;

impl Hub {
    /// Counts one message against the connection's rate limit; returns
    /// its session when the message may be handled. An ack of an update
    /// the device has not acked yet is not counted: the server asked for
    /// it, by sending the update (a burst of pushes is a burst of acks),
    /// and there are at most as many as updates sent.
    pub(super) fn admit_message(
        &mut self,
        conn: ConnId,
        ack_of: Option<u64>,
        now: Now,
        fx: &mut Vec<Effect>,
    ) -> Option<Arc<str>> {
        let owed = ack_of.is_some_and(|n| self.ack_is_owed(conn, n));
        let device = self.device_mut(conn)?;
        let session = device.session.clone();
        let verdict = (!owed).then(|| device.rate.check(now.mono));
        self.counters.messages_received += 1;
        let Some(verdict) = verdict else {
            return Some(session);
        };
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
                self.close_with_reason(conn, Close::PolicyViolation, fx);
            }
        }
        self.counters.rate_limited += 1;
        None
    }

    /// Whether `sequence` acks an update this device was sent and has not
    /// acked: newer than what it held when it joined and than its last
    /// ack, not newer than its session's last. Each update sent is owed at
    /// most one.
    fn ack_is_owed(&self, conn: ConnId, sequence: u64) -> bool {
        let Some(device) = self.device(conn) else {
            return false;
        };
        let Some(info) = device.info() else {
            return false;
        };
        let sent = self
            .sessions
            .get(&*device.session)
            .map_or(0, |s| s.sequence);
        let acked = info.last_ack_sequence.unwrap_or(0).max(info.joined_at);
        sequence > acked && sequence <= sent
    }

    /// A text message from a device.
    pub fn on_text(&mut self, conn: ConnId, text: &[u8], now: Now, fx: &mut Vec<Effect>) {
        // Acks and pings (nearly every message) are read without allocating.
        // Over the limit, a small message is read before the limit decides:
        // an owed ack is not counted against it; anything else is dropped
        // unread, as before.
        let over = self
            .device(conn)
            .is_some_and(|d| !d.rate.has_room(now.mono));
        let early = (over && text.len() <= SMALL_MESSAGE).then(|| decode(text));
        let ack_of = match &early {
            Some(Ok(Decoded {
                payload: Payload::Ack(a),
                ..
            })) => Some(a.sequence_number),
            _ => None,
        };
        let Some(session) = self.admit_message(conn, ack_of, now, fx) else {
            return;
        };
        let Decoded {
            session_id,
            version,
            payload,
        } = match early.unwrap_or_else(|| decode(text)) {
            Ok(d) => d,
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
        };
        if *session_id != *session {
            self.refuse(
                conn,
                &session,
                ErrorCode::SessionNotFound,
                "the message names another session than the connection URL",
                (Close::SessionRequired, "Session ID mismatch"),
                now,
                fx,
            );
            return;
        }
        // The envelope and `connect`'s clientVersion are both checked, but a
        // connection hears about a minor difference only once.
        let mut warned = false;
        if !self.check_version(conn, &session, &version, &mut warned, now, fx) {
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
                    (Close::NotAuthenticated, "Connect required"),
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
                let sent = self.sessions.get(&*session).map_or(0, |s| s.sequence);
                if ack.sequence_number > sent {
                    // Not recorded: the health view would show a device
                    // ahead of its session.
                    let msg = format!(
                        "ack of update #{} ignored: this session has sent updates up to #{sent}",
                        ack.sequence_number
                    );
                    self.refuse_invalid(conn, &session, &msg, now, fx);
                    return;
                }
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
                    // A late ack of an older update does not hide a newer
                    // one's (a failure of #2 after the success of #3).
                    if info.last_ack_sequence <= Some(ack.sequence_number) {
                        info.last_ack_sequence = Some(ack.sequence_number);
                        info.last_ack_success = Some(ack.success);
                        info.last_apply_time = ack.apply_time;
                    }
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

    /// A fatal error message, then close with `close` (code, reason).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn refuse(
        &mut self,
        conn: ConnId,
        session: &str,
        code: ErrorCode,
        message: &str,
        close: (Close, &'static str),
        now: Now,
        fx: &mut Vec<Effect>,
    ) {
        self.send_error(conn, session, code, message, Severity::Fatal, now, fx);
        self.close(conn, close.0, close.1, fx);
    }

    /// Counts an invalid message and answers `INVALID_MESSAGE` (recoverable:
    /// the connection stays open).
    pub(super) fn refuse_invalid(
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
    pub(super) fn send_error(
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
    pub(super) fn close(
        &mut self,
        conn: ConnId,
        code: Close,
        reason: &'static str,
        fx: &mut Vec<Effect>,
    ) {
        self.disconnect(conn);
        fx.push(Effect::Close { conn, code, reason });
    }

    /// [`Hub::close`] with the reason that `code` always carries.
    pub(super) fn close_with_reason(&mut self, conn: ConnId, code: Close, fx: &mut Vec<Effect>) {
        self.disconnect(conn);
        fx.push(Effect::close(conn, code));
    }

    pub(super) fn describe(&self, conn: ConnId) -> String {
        match self.device(conn) {
            Some(d) => match d.info() {
                Some(i) => format!("{} ({})", printable(i.label(), LABEL_CHARS), d.peer),
                None => format!("connection from {}", d.peer),
            },
            None => "connection".into(),
        }
    }
}
