//! Frames in and out of a connected device: reading and answering, sending,
//! and settling what a read or a write ended in (reconnect with backoff, or stop).

use super::*;

impl Fleet {
    /// Reads every message available and answers them.
    pub(super) fn read(
        &mut self,
        i: usize,
        on_event: &mut impl FnMut(usize, &DeviceState, FleetEvent<'_>),
    ) -> Outcome {
        loop {
            let slot = &mut self.slots[i];
            let Link::Open {
                sock,
                ws,
                closed_with,
                ..
            } = &mut slot.link
            else {
                return Outcome::Fine;
            };
            let message = match ws.read(sock) {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    return self.send(i, Vec::new());
                }
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {
                    continue;
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return match closed_with.take() {
                        Some((code, reason)) => Outcome::Closed(code, reason),
                        None => Outcome::Lost("the connection closed".into()),
                    };
                }
                Err(e) => {
                    return match closed_with.take() {
                        Some((code, reason)) => Outcome::Closed(code, reason),
                        None => Outcome::Lost(format!("connection lost: {e}")),
                    };
                }
            };
            match message {
                Message::Text(text) => {
                    let (event, replies) = slot.state.on_text(text.as_bytes());
                    match &event {
                        Event::Connected {
                            sequence,
                            initial,
                            join,
                        } => {
                            let reconnected = slot.ever_connected;
                            slot.registered = true;
                            slot.ever_connected = true;
                            slot.failures = 0;
                            if let Some(a) = initial {
                                self.summary.initial_schemas += 1;
                                if !a.ok() {
                                    self.summary.checksum_failures += 1;
                                }
                            }
                            self.timers.push(Reverse((
                                Instant::now() + self.cfg.ping_interval,
                                i,
                                slot.epoch,
                                TimerKind::Ping,
                            )));
                            on_event(
                                i,
                                &slot.state,
                                FleetEvent::Connected {
                                    sequence: *sequence,
                                    initial: initial.as_ref(),
                                    reconnected,
                                    join,
                                },
                            );
                        }
                        Event::Update(a) => {
                            self.summary.updates += 1;
                            if !a.ok() {
                                self.summary.checksum_failures += 1;
                            }
                            on_event(i, &slot.state, FleetEvent::Update(a));
                        }
                        Event::ServerError(e) => {
                            on_event(i, &slot.state, FleetEvent::ServerError(e))
                        }
                        Event::Pong | Event::Other(_) => {}
                    }
                    if let o @ (Outcome::Lost(_) | Outcome::Closed(..)) = self.send(i, replies) {
                        return o;
                    }
                }
                Message::Close(frame) => {
                    let (code, reason) = match frame {
                        Some(f) => (u16::from(f.code), f.reason.to_string()),
                        None => (Close::NoStatus.code(), String::new()),
                    };
                    *closed_with = Some((code, reason.clone()));
                    // tungstenite has queued the answering close frame: send
                    // it, and be done without waiting for the server to
                    // drop the TCP connection (it may not, or not soon).
                    let _ = self.send(i, Vec::new());
                    return Outcome::Closed(code, reason);
                }
                Message::Ping(_) | Message::Pong(_) | Message::Binary(_) | Message::Frame(_) => {}
            }
        }
    }

    /// Queues `texts` and writes what the socket takes; keeps WRITABLE
    /// interest only while bytes wait.
    pub(super) fn send(&mut self, i: usize, texts: Vec<String>) -> Outcome {
        let registry: &Registry = self.poll.registry();
        let Link::Open {
            sock,
            ws,
            wants_write,
            closed_with,
        } = &mut self.slots[i].link
        else {
            return Outcome::Fine;
        };
        let lost =
            |e: tungstenite::Error, closed_with: &mut Option<(u16, String)>| match closed_with
                .take()
            {
                Some((code, reason)) => Outcome::Closed(code, reason),
                None => Outcome::Lost(format!("connection lost: {e}")),
            };
        let mut blocked = false;
        for text in texts {
            match ws.write(sock, Message::text(text)) {
                Ok(()) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    blocked = true;
                }
                Err(e) => return lost(e, closed_with),
            }
        }
        match ws.flush(sock) {
            Ok(()) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                blocked = true
            }
            Err(tungstenite::Error::ConnectionClosed) => {}
            Err(e) => return lost(e, closed_with),
        }
        if blocked != *wants_write {
            let interest = if blocked {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if let Err(e) = registry.reregister(sock, Token(i), interest) {
                return Outcome::Lost(format!("cannot register the socket: {e}"));
            }
            *wants_write = blocked;
        }
        Outcome::Fine
    }

    /// Acts on the outcome of an event: nothing, a retry, or the end.
    pub(super) fn settle(
        &mut self,
        i: usize,
        outcome: Outcome,
        on_event: &mut impl FnMut(usize, &DeviceState, FleetEvent<'_>),
    ) {
        let (code, reason) = match outcome {
            Outcome::Fine => return,
            Outcome::Lost(reason) => (None, reason),
            Outcome::Closed(code, reason) => (Some(code), reason),
        };
        let slot = &mut self.slots[i];
        if let Link::Open { sock, .. } | Link::Handshake { sock, .. } = &mut slot.link {
            let _ = self.poll.registry().deregister(sock);
        }
        slot.registered = false;
        slot.epoch += 1;
        let ends = match code {
            // The upgrade itself was refused.
            Some(0) => true,
            Some(code) => match Close::from_code(code) {
                // A deleted session closes normally; so does an idle
                // timeout, which is worth a retry.
                Some(Close::Normal) => reason != CONNECTION_TIMEOUT,
                Some(
                    Close::SessionRequired
                    | Close::SessionNotFound
                    | Close::SessionExpired
                    | Close::UnsupportedVersion,
                ) => true,
                _ => false,
            },
            None => false,
        };
        if ends {
            let code = code.unwrap_or(0);
            slot.link = Link::Ended;
            on_event(
                i,
                &slot.state,
                FleetEvent::Ended {
                    code,
                    reason: &reason,
                },
            );
            self.last_end = Some((code, reason));
            return;
        }
        slot.link = Link::Idle;
        slot.failures = slot.failures.saturating_add(1);
        let delay = self.backoff(self.slots[i].failures);
        let slot = &self.slots[i];
        let reason = match code {
            Some(code) => format!("closed by the server ({code} {reason})"),
            None => reason,
        };
        on_event(
            i,
            &slot.state,
            FleetEvent::Disconnected {
                reason: &reason,
                retry_in: delay,
            },
        );
        self.timers.push(Reverse((
            Instant::now() + delay,
            i,
            slot.epoch,
            TimerKind::Connect,
        )));
    }
}
