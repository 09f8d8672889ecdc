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
            .filter(|(_, d)| now.mono.saturating_duration_since(d.last_seen) >= idle)
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
}
