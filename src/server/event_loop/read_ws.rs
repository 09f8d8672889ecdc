//! A WebSocket connection's start (hub registration, its timers) and
//! reading its frames, handing messages to the hub.

use super::*;

impl EventLoop {
    /// A connection that has just switched to WebSocket (`Conn::upgrade`):
    /// counted, registered with the hub for `session`, its HTTP deadline
    /// replaced by the ping and idle timers. `unread` bytes came with the
    /// upgrade request; no readiness event will announce them, so they are
    /// read on the next turn.
    pub(super) fn websocket_opened(
        &mut self,
        key: usize,
        session: Option<&str>,
        now: Now,
        unread: bool,
    ) {
        let Some(conn) = self.conns.get(key) else {
            return;
        };
        let (generation, peer) = (conn.generation, conn.peer);
        self.stats.websocket_upgrades += 1;
        let id = ConnId { key, generation };
        self.hub.ws_opened(id, session, peer, now, &mut self.fx);
        self.wheel.cancel(key, kind::HTTP);
        let ping = now.mono + self.config.hub.ping_interval;
        self.wheel
            .set(key, kind::PING, ping, Timer::Ping(key, generation));
        let idle = now.mono + self.config.hub.idle_timeout;
        self.wheel
            .set(key, kind::IDLE, idle, Timer::Idle(key, generation));
        if unread {
            self.again.push((key, generation));
        }
    }

    pub(super) fn read_ws(&mut self, key: usize, now: Now, closed: bool) {
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
                        // Its reply is written once the messages read
                        // before it are answered (below).
                        WsMessage::Close(_) => break WsReadEnd::PeerClosed,
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
        // The answers to the messages read come first: nothing may follow
        // a close frame.
        self.apply_effects(now);
        if end == WsReadEnd::Gone || flooding {
            return self.remove(key);
        }
        match end {
            WsReadEnd::PeerClosed => {
                self.answer_close(key);
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

    /// Queues the reply to the peer's close frame (tungstenite has it
    /// ready since it read the frame).
    fn answer_close(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Phase::WebSocket(ws) = &mut conn.phase else {
            return;
        };
        let mut io = WsIo::new(&mut conn.sock, &mut conn.out);
        let _ = ws.ctx.flush(&mut io);
    }
}
