//! The hub's timers: connect deadlines, heartbeats, coalescing windows, the expiry sweep.

use super::*;

impl Hub {
    /// A timer the hub asked for has fired.
    pub fn on_timer(&mut self, timer: HubTimer, now: Now, fx: &mut Vec<Effect>) {
        match timer {
            HubTimer::ConnectDeadline(conn) => {
                let Some(device) = self.device(conn) else {
                    return;
                };
                if device.info().is_none() {
                    let session = device.session.clone();
                    let msg = format!(
                        "no `connect` message within {} s of the upgrade",
                        self.cfg.connect_timeout.as_secs_f64()
                    );
                    self.refuse(
                        conn,
                        &session,
                        ErrorCode::AuthenticationFailed,
                        &msg,
                        (Close::NotAuthenticated, "Connect timeout"),
                        now,
                        fx,
                    );
                }
            }
            HubTimer::FlushHeld(id) => {
                let held = self.sessions.get_mut(&id).and_then(|s| s.held.take());
                if let Some(h) = held {
                    self.broadcast(&id, h.schema, h.preserve_state, now, fx);
                }
            }
            HubTimer::SessionSweep => {
                let due: Vec<Arc<str>> = self
                    .sessions
                    .values()
                    .filter(|s| s.expires_at <= now.mono)
                    .map(|s| s.id.clone())
                    .collect();
                for id in due {
                    self.expire_session(&id, now, fx);
                }
                self.schedule_sweep(now, fx);
            }
        }
    }

    /// Arms the periodic session-expiry sweep; the loop calls this once at
    /// start, and each sweep re-arms itself. Expiry is checked every eighth
    /// of the session lifetime, between 10 ms and 1 s.
    pub fn schedule_sweep(&self, now: Now, fx: &mut Vec<Effect>) {
        let every =
            (self.cfg.session_ttl / 8).clamp(Duration::from_millis(10), Duration::from_secs(1));
        fx.push(Effect::Schedule {
            at: now.mono + every,
            timer: HubTimer::SessionSweep,
        });
    }

    /// Closes every connection silent for the idle timeout or longer;
    /// returns how many.
    pub fn cleanup_stale(&mut self, now: Now, fx: &mut Vec<Effect>) -> usize {
        let idle = self.cfg.idle_timeout;
        let stale: Vec<ConnId> = self
            .devices
            .iter()
            .filter(|(_, d)| silent_too_long(d.last_seen, idle, now))
            .map(|(&key, d)| ConnId {
                key,
                generation: d.generation,
            })
            .collect();
        for &conn in &stale {
            self.close(conn, Close::Normal, CONNECTION_TIMEOUT, fx);
        }
        stale.len()
    }

    /// The idle-timeout policy for one WebSocket connection, asked when its
    /// idle timer fires: a device silent for `idle_timeout` (or one the hub
    /// does not know) is closed with 1000 "Connection timeout" (an effect);
    /// otherwise the answer is when to look again.
    pub fn idle_check(&mut self, conn: ConnId, now: Now, fx: &mut Vec<Effect>) -> Option<Instant> {
        let idle = self.cfg.idle_timeout;
        match self.device(conn).map(|d| d.last_seen) {
            Some(seen) if !silent_too_long(seen, idle, now) => Some(seen + idle),
            _ => {
                log::info!("closing a device silent for {} s", idle.as_secs_f64());
                self.close(conn, Close::Normal, CONNECTION_TIMEOUT, fx);
                None
            }
        }
    }
}

/// Whether a device last heard from at `last_seen` has been silent for
/// `idle` or more: the one definition of "idle".
fn silent_too_long(last_seen: Instant, idle: Duration, now: Now) -> bool {
    now.mono.saturating_duration_since(last_seen) >= idle
}
