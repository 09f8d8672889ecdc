//! Writing: flushing out-queues, applying the hub's effects, delivering shared frames, scheduling hub timers.

use super::*;
use crate::server::conn::Goodbye;

impl EventLoop {
    /// Writes what is queued; keeps WRITABLE interest only while bytes wait.
    pub(super) fn flush(&mut self, key: usize, now: Now) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let result = conn.flush();
        let wants_write = match result {
            Ok(Flushed::Drained) => false,
            Ok(Flushed::Blocked) => true,
            Err(_) => return self.remove(key),
        };
        if wants_write != conn.wants_write {
            let interest = if wants_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if self
                .poll
                .registry()
                .reregister(&mut conn.sock, Token(key), interest)
                .is_err()
            {
                return self.remove(key);
            }
            conn.wants_write = wants_write;
        }
        if wants_write {
            return;
        }
        let generation = conn.generation;
        match &mut conn.phase {
            Phase::Http(h) if h.paused => {
                h.paused = false;
                self.again.push((key, generation));
            }
            Phase::Closing(step @ Goodbye::Flushing) => {
                *step = Goodbye::WriteShutDown;
                let _ = conn.sock.shutdown(std::net::Shutdown::Write);
            }
            Phase::WebSocket(ws) if ws.needs_resync => {
                ws.needs_resync = false;
                self.hub
                    .resync(ConnId { key, generation }, now, &mut self.fx);
                self.apply_effects(now);
            }
            _ => {}
        }
    }

    /// Carries out what the hub asked for.
    pub(super) fn apply_effects(&mut self, now: Now) {
        while !self.fx.is_empty() {
            let effects = std::mem::take(&mut self.fx);
            for effect in effects {
                match effect {
                    Effect::Send { conn, frame } => {
                        let limit = self.config.max_pending_replies;
                        if let Some(c) = self.live_ws(conn) {
                            c.out.push_shared_control(frame);
                            if c.out.control_backlog() > limit {
                                log::warn!(
                                    "{} sends requests but does not read the replies; disconnecting",
                                    c.peer
                                );
                                self.remove(conn.key);
                                continue;
                            }
                            self.flush(conn.key, now);
                        }
                    }
                    Effect::SendConnected { conn, frame } => {
                        if let Some(c) = self.live_ws(conn) {
                            // One per connection, its schema part shared with
                            // the session: not an unread reply, whatever its size.
                            c.out.push_welcome(frame.parts(), frame.carries_schema());
                            self.flush(conn.key, now);
                        }
                    }
                    Effect::Resync { conn, frame } => self.deliver(conn, &frame, true, now),
                    Effect::Broadcast { conns, frame } => {
                        for conn in conns {
                            self.deliver(conn, &frame, false, now);
                        }
                    }
                    Effect::Close { conn, code, reason } => self.close_ws(conn, code, reason, now),
                    Effect::Schedule { at, timer } => self.schedule(at, timer),
                }
            }
        }
        if let Some(writer) = &self.state {
            // Snapshots of what changed, for the writer thread.
            for op in self.hub.take_persist_ops() {
                writer.send(op);
            }
        }
    }

    /// Queues an update frame and writes at once; a device too far behind
    /// has its pending updates dropped and is resynced when it drains. A
    /// `resync` is not queued when the device will get the whole schema
    /// anyway (one is queued, or it is marked for one).
    pub(super) fn deliver(
        &mut self,
        conn: ConnId,
        frame: &crate::hub::Frame,
        resync: bool,
        now: Now,
    ) {
        let max = self.config.max_queued_updates;
        let Some(c) = self.live_ws(conn) else {
            return;
        };
        let Phase::WebSocket(ws) = &mut c.phase else {
            return;
        };
        if ws.needs_resync || (resync && c.out.has_pending_full()) {
            // Its earlier updates were dropped, so a delta would not apply to
            // what it holds; it gets the current schema in full once drained.
            // Or a frame with the whole schema is on its way already.
            if resync {
                self.hub.resync_skipped();
            }
            return;
        }
        if c.out
            .push_update(frame.parts(), frame.carries_schema(), max)
            == Pushed::Overflowed
        {
            log::warn!(
                "{} is not reading; dropping its pending updates until it catches up",
                c.peer
            );
            ws.needs_resync = true;
            self.stats.slow_device_resyncs += 1;
        }
        self.flush(conn.key, now);
    }

    /// Sets a timer the hub asked for; a connection's goes with it.
    pub(super) fn schedule(&mut self, at: Instant, timer: HubTimer) {
        match timer {
            HubTimer::ConnectDeadline(conn) => {
                if self
                    .conns
                    .get(conn.key)
                    .is_some_and(|c| c.generation == conn.generation)
                {
                    self.wheel
                        .set(conn.key, kind::CONNECT, at, Timer::Hub(timer));
                }
            }
            HubTimer::FlushHeld(_) | HubTimer::SessionSweep => {
                self.wheel.insert(at, Timer::Hub(timer))
            }
        }
    }

    pub(super) fn live_ws(&mut self, conn: ConnId) -> Option<&mut Conn> {
        self.conns
            .get_mut(conn.key)
            .filter(|c| c.generation == conn.generation && c.is_websocket())
    }
}
