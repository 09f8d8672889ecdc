//! Accepting: new connections in batches, refused at capacity, admitted into the slab.

use super::*;

impl EventLoop {
    pub(super) fn accept(&mut self, now: Now) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        for _ in 0..ACCEPT_BUDGET {
            match self.listener.accept() {
                Ok((sock, peer)) => self.admit(sock, peer, now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Usually out of file descriptors: pending connections stay
                    // in the backlog, and no new event will say so, so retry.
                    log::warn!("accept failed: {e}; retrying in 100 ms");
                    self.wheel
                        .insert(now.mono + Duration::from_millis(100), Timer::Accept);
                    return;
                }
            }
        }
        // More may be waiting, but connected clients get a turn first; the
        // rest is accepted on the next turn of the loop.
        self.wheel.insert(now.mono, Timer::Accept);
    }

    pub(super) fn admit(&mut self, mut sock: TcpStream, peer: SocketAddr, now: Now) {
        if self.conns.len() >= self.config.max_connections {
            self.stats.connections_refused += 1;
            let warn = self
                .last_capacity_warning
                .is_none_or(|t| now.mono.saturating_duration_since(t) >= Duration::from_secs(1));
            if warn {
                self.last_capacity_warning = Some(now.mono);
                log::warn!(
                    "connection limit reached ({} open); refusing new connections with 503",
                    self.config.max_connections
                );
            }
            let resp = Response::error(
                503,
                "SERVICE_UNAVAILABLE",
                "the server is at its connection limit; try again later",
            );
            // Read what already arrived (a request sent right after connecting)
            // so that closing sends FIN, not a reset that may destroy the
            // response before the client reads it.
            let mut discard = [0u8; 4096];
            let _ = std::io::Read::read(&mut sock, &mut discard);
            // Best effort: a fresh socket's buffer takes a small response.
            let _ = sock.write(&resp.encode(false));
            return;
        }
        let _ = sock.set_nodelay(true);
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut sock, Token(key), Interest::READABLE)
        {
            log::warn!("cannot register connection from {peer}: {e}");
            return;
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        let deadline = now.mono + self.config.request_timeout;
        entry.insert(Conn {
            sock,
            generation,
            peer,
            phase: Phase::Http(HttpPhase::new(deadline)),
            out: Default::default(),
            wants_write: false,
        });
        self.wheel
            .set(key, kind::HTTP, deadline, Timer::Http(key, generation));
        self.stats.connections_accepted += 1;
        log::debug!("connection from {peer}");
    }
}
