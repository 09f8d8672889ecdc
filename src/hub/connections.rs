//! Device connections: the upgrade, activity, the `connect` handshake (version check,
//! registration, resume) and disconnection.

use super::*;

impl Hub {
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
            fx.push(Effect::close(conn, Close::SessionRequired));
            return;
        };
        let session = match self.lookup(id, now) {
            Ok(s) => s.id.clone(),
            Err(HubError::SessionExpired) => {
                fx.push(Effect::close(conn, Close::SessionExpired));
                return;
            }
            Err(_) => {
                fx.push(Effect::close(conn, Close::SessionNotFound));
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
        if let Some(session) = self.admit_message(conn, None, now, fx) {
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

    /// Refuses another major version (4426); warns once about another minor
    /// (before registration, unless `warned` says it was done already).
    pub(super) fn check_version(
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
                    (
                        Close::UnsupportedVersion,
                        Close::UnsupportedVersion.reason().unwrap_or_default(),
                    ),
                    now,
                    fx,
                );
                false
            }
        }
    }

    pub(super) fn register(
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
            self.close_with_reason(conn, Close::SessionNotFound, fx);
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
            joined_at: match &join {
                resume::Join::Resumed(missed) => session.sequence - missed.len() as u64,
                _ => session.sequence,
            },
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
}
