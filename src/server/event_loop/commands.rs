//! Commands from handles, watched files, signals and shutdown.

use super::*;

impl EventLoop {
    pub(super) fn commands(&mut self, now: Now) {
        while let Ok(cmd) = self.commands.try_recv() {
            let fx = &mut self.fx;
            match cmd {
                Command::CreateSession(r) => {
                    let _ = r.send(self.hub.create_session(now));
                }
                Command::CreateStartupSession(r) => {
                    let _ = r.send(self.hub.startup_or_create(now).map(|(s, _)| s));
                }
                Command::GetSession(id, r) => {
                    let _ = r.send(self.hub.session_view(&id, now));
                }
                Command::DeleteSession(id, r) => {
                    let _ = r.send(self.hub.delete_session(&id, fx));
                }
                Command::Push {
                    session,
                    schema,
                    preserve_state,
                    reply,
                } => {
                    let _ = reply.send(self.hub.push(&session, *schema, preserve_state, now, fx));
                }
                Command::PushToDevice {
                    session,
                    connection_id,
                    reply,
                } => {
                    let _ = reply.send(self.hub.push_to_device(&session, &connection_id, now, fx));
                }
                Command::Health(id, r) => {
                    let _ = r.send(self.hub.health_view(&id, now));
                }
                Command::Extend(id, by, r) => {
                    let _ = r.send(self.hub.extend_session(&id, by, now));
                }
                Command::Cleanup(r) => {
                    let _ = r.send(Ok(self.hub.cleanup_stale(now, fx)));
                }
                Command::ResyncAll(r) => {
                    let _ = r.send(Ok(self.hub.resync_all(now, fx)));
                }
                Command::Stats(r) => {
                    self.stats.uptime_ms = self.started.elapsed().as_millis() as u64;
                    self.stats.connections_open = self.conns.len();
                    self.stats.timers_pending = self.wheel.len();
                    self.stats.buffered_body_bytes = self.body_budget.in_use();
                    let _ = r.send(Ok(api::Stats::new(&self.hub, &self.stats)));
                }
                Command::Watch {
                    session,
                    path,
                    reply,
                } => {
                    let registry = self.poll.registry();
                    let added =
                        self.watches
                            .add(registry, WATCH, session, path, &mut self.hub, now, fx);
                    if let Ok(wake) = added {
                        self.arm_watch(wake);
                    }
                    let _ = reply.send(added.map(|_| ()));
                }
                Command::Shutdown => self.begin_shutdown(now),
            }
            self.apply_effects(now);
        }
    }

    /// A watched file's timer: pushes it when it changed and has settled.
    pub(super) fn watch(&mut self, i: usize, now: Now) {
        let wake = self.watches.on_timer(i, &mut self.hub, now, &mut self.fx);
        self.arm_watch(wake);
        self.apply_effects(now);
    }

    /// The inotify descriptor is readable.
    pub(super) fn watch_events(&mut self, now: Now) {
        let mut wakes = Vec::new();
        self.watches.on_ready(now, &mut wakes);
        for wake in wakes {
            self.arm_watch(Some(wake));
        }
    }

    pub(super) fn arm_watch(&mut self, wake: Option<(usize, Instant)>) {
        if let Some((i, at)) = wake {
            self.wheel.insert(at, Timer::Watch(i));
        }
    }

    pub(super) fn signal(&mut self, now: Now) {
        let got = self.signals.as_mut().and_then(|s| s.pending().next());
        if let Some(signal) = got {
            let name = match signal {
                signal_hook::consts::SIGINT => "SIGINT",
                signal_hook::consts::SIGTERM => "SIGTERM",
                signal_hook::consts::SIGHUP => "SIGHUP (the terminal closed)",
                _ => "a signal",
            };
            log::info!("{name} received; shutting down");
            self.begin_shutdown(now);
        }
    }

    /// Stops accepting, closes devices with 1001 and everyone else at once;
    /// `run` returns when all are gone or the grace period ends.
    pub(super) fn begin_shutdown(&mut self, now: Now) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.shutdown_deadline = Some(now.mono + self.config.shutdown_grace);
        let _ = self.poll.registry().deregister(&mut self.listener);
        let keys: Vec<(usize, u64, bool)> = self
            .conns
            .iter()
            .map(|(k, c)| (k, c.generation, c.is_websocket()))
            .collect();
        for (key, generation, ws) in keys {
            if ws {
                self.close_ws(
                    ConnId { key, generation },
                    Close::GoingAway,
                    Close::GoingAway.reason().unwrap_or_default(),
                    now,
                );
            } else {
                self.begin_close(key, now);
            }
        }
        self.apply_effects(now);
    }
}
