//! Closing connections: close frames, the closing phase, removal with its timers.

use super::*;
use crate::server::conn::Goodbye;

impl EventLoop {
    /// Sends a close frame and moves the connection to Closing.
    pub(super) fn close_ws(&mut self, conn: ConnId, code: Close, reason: &'static str, now: Now) {
        self.hub.disconnect(conn);
        let Some(c) = self.live_ws(conn) else {
            return;
        };
        if let Some((ctx, mut io)) = c.websocket() {
            let frame = CloseFrame {
                code: code.code().into(),
                reason: reason.into(),
            };
            let _ = ctx.close(&mut io, Some(frame));
        }
        self.begin_close(conn.key, now);
    }

    /// Closing: flush, shut down writes, wait briefly for the peer's EOF.
    pub(super) fn begin_close(&mut self, key: usize, now: Now) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if matches!(c.phase, Phase::Closing(_)) {
            return;
        }
        let deadline = now.mono + self.config.close_timeout;
        c.phase = Phase::Closing(Goodbye::Flushing);
        let generation = c.generation;
        self.wheel
            .set(key, kind::CLOSE, deadline, Timer::Close(key, generation));
        self.flush(key, now);
    }

    pub(super) fn remove(&mut self, key: usize) {
        if !self.conns.contains(key) {
            return;
        }
        let mut c = self.conns.remove(key);
        self.wheel.cancel_owner(key);
        if self.conns.capacity() > 4 * self.conns.len().max(256) {
            // Frees the tail of the storage a burst of connections left.
            self.conns.shrink_to_fit();
        }
        self.hub.disconnect(ConnId {
            key,
            generation: c.generation,
        });
        let _ = self.poll.registry().deregister(&mut c.sock);
        log::debug!("connection from {} closed", c.peer);
    }
}
