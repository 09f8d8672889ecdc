//! The loop's timers: WebSocket pings, idle checks, HTTP deadlines; hub timers handed back to the hub.

use super::*;

impl EventLoop {
    pub(super) fn timers(&mut self, now: Now) {
        let mut due = Vec::new();
        self.wheel.expire(now.mono, &mut due);
        for timer in due {
            match timer {
                Timer::Hub(t) => {
                    self.hub.on_timer(t, now, &mut self.fx);
                    self.apply_effects(now);
                }
                Timer::Ping(key, generation) => self.ping(ConnId { key, generation }, now),
                Timer::Idle(key, generation) => self.idle_check(ConnId { key, generation }, now),
                Timer::Http(key, generation) => self.http_deadline(key, generation, now),
                Timer::Close(key, generation) => {
                    if self
                        .conns
                        .get(key)
                        .is_some_and(|c| c.generation == generation)
                    {
                        self.remove(key);
                    }
                }
                Timer::Accept => self.accept(now),
                Timer::Watch(i) => self.watch(i, now),
            }
        }
    }

    pub(super) fn ping(&mut self, conn: ConnId, now: Now) {
        let interval = self.config.hub.ping_interval;
        let Some(c) = self.live_ws(conn) else {
            return;
        };
        if let Some((ctx, mut io)) = c.websocket() {
            let _ = ctx.write(&mut io, WsMessage::Ping(Default::default()));
            let _ = ctx.flush(&mut io);
        }
        self.wheel.set(
            conn.key,
            kind::PING,
            now.mono + interval,
            Timer::Ping(conn.key, conn.generation),
        );
        self.flush(conn.key, now);
    }

    /// The idle timer of a WebSocket connection fired: the hub decides
    /// (close it, or look again at the time it names).
    pub(super) fn idle_check(&mut self, conn: ConnId, now: Now) {
        if self.live_ws(conn).is_none() {
            return;
        }
        match self.hub.idle_check(conn, now, &mut self.fx) {
            Some(at) => self.wheel.set(
                conn.key,
                kind::IDLE,
                at,
                Timer::Idle(conn.key, conn.generation),
            ),
            None => self.apply_effects(now),
        }
    }

    pub(super) fn http_deadline(&mut self, key: usize, generation: u64, now: Now) {
        let Some(c) = self
            .conns
            .get_mut(key)
            .filter(|c| c.generation == generation)
        else {
            return;
        };
        let Phase::Http(h) = &mut c.phase else {
            return;
        };
        match h.on_timer(now.mono) {
            HttpTimer::Expired => {}
            HttpTimer::Stale => return,
            HttpTimer::Rearm(at) => {
                return self
                    .wheel
                    .set(key, kind::HTTP, at, Timer::Http(key, generation));
            }
        }
        if h.between_requests() && h.served > 0 {
            // An idle keep-alive connection: just close it.
            return self.remove(key);
        }
        let resp = Response::error(
            408,
            "REQUEST_TIMEOUT",
            &format!(
                "the request did not arrive whole within {} of its first byte (the server's --request-timeout): send it at once",
                crate::cli::units::format_duration(self.config.request_timeout)
            ),
        );
        c.out.push_owned(resp.encode(false));
        self.begin_close(key, now);
    }
}
