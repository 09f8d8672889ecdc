//! Reading WebSocket frames and handing messages to the hub.

use super::*;

impl EventLoop {
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
}
