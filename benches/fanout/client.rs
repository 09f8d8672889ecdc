//! The client: N devices on one thread (non-blocking sockets in a mio loop,
//! hand-written handshake, masked frames), driving update rounds.

use crate::*;

pub(crate) const TRIGGER: Token = Token(usize::MAX - 1);
/// Events taken per `poll`. A frame's receipt time is when the `poll` that
/// reported it returned (an upper bound on its arrival that does not count
/// the client's own work on the rest of the batch); small batches keep that
/// bound tight: 64 events are handled in well under a millisecond.
pub(crate) const EVENTS_PER_POLL: usize = 64;
/// Handshakes in flight at once (the listen backlog is 1,024).
pub(crate) const CONNECT_WINDOW: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DevState {
    Connecting,
    Upgrading,
    AwaitConnected,
    Ready,
    Dead,
}

pub(crate) struct Dev {
    pub(crate) sock: TcpStream,
    pub(crate) state: DevState,
    pub(crate) key: String,
    pub(crate) rbuf: Vec<u8>,
    pub(crate) wpend: Vec<u8>,
    pub(crate) last_seq: u64,
    pub(crate) retries: u32,
}

/// What starts an update: an HTTP push, or the floor's control bytes.
pub(crate) enum TriggerKind {
    Http {
        /// One pre-built `POST /send/:id` request per update.
        requests: Vec<Vec<u8>>,
    },
    Floor,
}

pub(crate) struct Trigger {
    pub(crate) kind: TriggerKind,
    pub(crate) sock: TcpStream,
    pub(crate) wpend: Vec<u8>,
    pub(crate) rbuf: Vec<u8>,
    pub(crate) busy: bool,
    /// Update class of the last answer: 0 small, 1 full, 2 other.
    pub(crate) class: usize,
    pub(crate) errors: usize,
    /// When the last answer arrived.
    pub(crate) answered: Option<Instant>,
}

pub(crate) struct Client {
    pub(crate) poll: Poll,
    pub(crate) events: Events,
    /// When the last `poll` returned: what a device read in this batch had
    /// arrived by then (see `EVENTS_PER_POLL`).
    pub(crate) polled_at: Instant,
    pub(crate) addr: SocketAddr,
    pub(crate) session: String,
    pub(crate) devs: Vec<Dev>,
    pub(crate) rng: u64,
    pub(crate) scratch: Vec<u8>,
    pub(crate) payload: Vec<u8>,
    pub(crate) frame: Vec<u8>,
    pub(crate) ready: usize,
    pub(crate) dead: usize,
    /// Updates read but not acked yet: (device, sequence number).
    pub(crate) pending_acks: Vec<(usize, u64)>,
    /// Ack after every `poll` batch instead of after the round.
    pub(crate) ack_at_once: bool,
    /// Ack only when the round is over (`rounds` reads the server's CPU
    /// first), never while it is still being pumped.
    pub(crate) hold_acks: bool,
    pub(crate) trigger: Option<Trigger>,
    // The round in progress.
    pub(crate) expect_seq: u64,
    pub(crate) round_t0: Instant,
    pub(crate) round_wall_ms: u64,
    pub(crate) round_received: usize,
    pub(crate) round_lat: Vec<u64>,
    pub(crate) round_frame_bytes: usize,
    pub(crate) delivered: u64,
}

impl Client {
    pub(crate) fn new(addr: SocketAddr, session: &str) -> io::Result<Client> {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1;
        Ok(Client {
            poll: Poll::new()?,
            events: Events::with_capacity(EVENTS_PER_POLL),
            polled_at: Instant::now(),
            addr,
            session: session.to_string(),
            devs: Vec::new(),
            rng: seed,
            scratch: vec![0; 256 * 1024],
            payload: Vec::with_capacity(256),
            frame: Vec::with_capacity(256),
            ready: 0,
            dead: 0,
            pending_acks: Vec::new(),
            ack_at_once: false,
            hold_acks: false,
            trigger: None,
            expect_seq: 0,
            round_t0: Instant::now(),
            round_wall_ms: 0,
            round_received: 0,
            round_lat: Vec::new(),
            round_frame_bytes: 0,
            delivered: 0,
        })
    }

    pub(crate) fn rand(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn new_key(&mut self) -> String {
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&self.rand().to_le_bytes());
        raw[8..].copy_from_slice(&self.rand().to_le_bytes());
        base64(&raw)
    }

    pub(crate) fn open(&mut self, i: usize) -> io::Result<()> {
        let mut sock = TcpStream::connect(self.addr)?;
        self.poll.registry().register(
            &mut sock,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let key = self.new_key();
        if i < self.devs.len() {
            let d = &mut self.devs[i];
            let _ = self.poll.registry().deregister(&mut d.sock);
            d.sock = sock;
            d.state = DevState::Connecting;
            d.key = key;
            d.rbuf.clear();
            d.wpend.clear();
        } else {
            self.devs.push(Dev {
                sock,
                state: DevState::Connecting,
                key,
                rbuf: Vec::new(),
                wpend: Vec::new(),
                last_seq: 0,
                retries: 0,
            });
        }
        Ok(())
    }

    /// Opens `n` devices, `CONNECT_WINDOW` handshakes at a time, and waits
    /// until every one has its `connected` message.
    pub(crate) fn connect_all(&mut self, n: usize) -> io::Result<Duration> {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(60);
        let mut opened = 0;
        while self.ready < n {
            let in_flight = opened - self.ready;
            let can_open = CONNECT_WINDOW.saturating_sub(in_flight).min(n - opened);
            for _ in 0..can_open {
                self.open(opened)?;
                opened += 1;
            }
            self.pump(Duration::from_millis(50))?;
            if self.dead > 0 {
                return Err(io::Error::other(format!(
                    "{} device(s) could not connect",
                    self.dead
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "only {} of {n} devices connected within 60 s",
                    self.ready
                )));
            }
        }
        Ok(t0.elapsed())
    }

    /// Waits for events for up to `timeout` and handles them.
    pub(crate) fn pump(&mut self, timeout: Duration) -> io::Result<()> {
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        self.polled_at = Instant::now();
        let tokens: Vec<(Token, bool, bool, bool)> = self
            .events
            .iter()
            .map(|e| {
                let closed = e.is_read_closed() || e.is_error();
                (
                    e.token(),
                    e.is_writable(),
                    e.is_readable() || closed,
                    closed,
                )
            })
            .collect();
        // Ack once caught up (with `--ack-at-once`), or once every device
        // has its update of this round.
        let caught_up = tokens.len() < EVENTS_PER_POLL
            && !self.hold_acks
            && (self.ack_at_once || self.round_received >= self.ready);
        for (token, writable, readable, closed) in tokens {
            if token == TRIGGER {
                self.trigger_event(writable, readable)?;
            } else {
                self.dev_event(token.0, writable, readable, closed)?;
            }
        }
        if caught_up {
            self.send_acks()?;
        }
        Ok(())
    }

    /// Acks what was read. The client acks once every device has its update
    /// (or the round gave up waiting): a read costs it a fraction of an
    /// ack's write (a loopback write also delivers into the server's
    /// socket), so while it only reads it keeps up with the server's
    /// fan-out, and its receipt times are the server's, not its own
    /// backlog's. The server reads just as many acks; it could not read
    /// them earlier anyway, since it writes a broadcast in one go.
    pub(crate) fn send_acks(&mut self) -> io::Result<()> {
        for (i, seq) in std::mem::take(&mut self.pending_acks) {
            if self.devs[i].state != DevState::Ready {
                continue;
            }
            self.payload.clear();
            let _ = write!(
                Bytes(&mut self.payload),
                r#"{{"type":"ack","sessionId":"{}","timestamp":{},"version":"1.0.0","payload":{{"sequenceNumber":{seq},"success":true}}}}"#,
                self.session,
                self.round_wall_ms
            );
            let payload = std::mem::take(&mut self.payload);
            self.send_masked(i, 0x1, &payload)?;
            self.payload = payload;
        }
        Ok(())
    }

    /// Handles events until `done` holds or `until` passes.
    pub(crate) fn pump_until(
        &mut self,
        until: Instant,
        done: impl Fn(&Client) -> bool,
    ) -> io::Result<bool> {
        loop {
            if done(self) {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= until {
                return Ok(false);
            }
            self.pump(until - now)?;
        }
    }

    pub(crate) fn dev_event(
        &mut self,
        i: usize,
        writable: bool,
        readable: bool,
        closed: bool,
    ) -> io::Result<()> {
        if i >= self.devs.len() || self.devs[i].state == DevState::Dead {
            return Ok(());
        }
        if self.devs[i].state == DevState::Connecting {
            if !writable && !readable {
                return Ok(());
            }
            let d = &mut self.devs[i];
            if let Ok(Some(_)) | Err(_) = d.sock.take_error() {
                return self.retry(i);
            }
            match d.sock.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                Err(_) => return self.retry(i),
            }
            let _ = d.sock.set_nodelay(true);
            let req = format!(
                "GET /ws?session={} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
                self.session, self.addr, d.key
            );
            d.state = DevState::Upgrading;
            self.write_dev(i, req.as_bytes())?;
        } else if writable && !self.devs[i].wpend.is_empty() {
            let d = &mut self.devs[i];
            while !d.wpend.is_empty() {
                match d.sock.write(&d.wpend) {
                    Ok(n) => {
                        d.wpend.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => return self.kill(i),
                }
            }
            if d.wpend.is_empty() {
                self.poll
                    .registry()
                    .reregister(&mut d.sock, Token(i), Interest::READABLE)?;
            }
        }
        if readable {
            self.dev_read(i, closed)?;
        }
        Ok(())
    }

    pub(crate) fn retry(&mut self, i: usize) -> io::Result<()> {
        if self.devs[i].retries >= 3 {
            return self.kill(i);
        }
        self.devs[i].retries += 1;
        self.open(i)
    }

    pub(crate) fn kill(&mut self, i: usize) -> io::Result<()> {
        let d = &mut self.devs[i];
        if d.state != DevState::Dead {
            if d.state == DevState::Ready {
                self.ready -= 1;
            }
            d.state = DevState::Dead;
            self.dead += 1;
            let _ = self.poll.registry().deregister(&mut d.sock);
        }
        Ok(())
    }

    /// Reads what arrived; like the server, stops at a short read unless the
    /// event also reported the peer's FIN (`closed`).
    pub(crate) fn dev_read(&mut self, i: usize, closed: bool) -> io::Result<()> {
        let now = self.polled_at;
        let mut eof = false;
        let mut buf = std::mem::take(&mut self.devs[i].rbuf);
        loop {
            match self.devs[i].sock.read(&mut self.scratch) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    buf.extend_from_slice(&self.scratch[..n]);
                    if n < self.scratch.len() && !closed {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    eof = true;
                    break;
                }
            }
        }
        let mut off = 0;
        if self.devs[i].state == DevState::Upgrading {
            let Some(end) = find(&buf, b"\r\n\r\n") else {
                self.devs[i].rbuf = buf;
                return if eof { self.retry(i) } else { Ok(()) };
            };
            let head = String::from_utf8_lossy(&buf[..end]);
            let accept = tungstenite::handshake::derive_accept_key(self.devs[i].key.as_bytes());
            if !head.starts_with("HTTP/1.1 101") || !head.contains(&accept) {
                eprintln!(
                    "device {i}: upgrade refused: {}",
                    head.lines().next().unwrap_or("")
                );
                return self.kill(i);
            }
            off = end + 4;
            self.devs[i].key = String::new();
            self.devs[i].state = DevState::AwaitConnected;
            let d = &mut self.devs[i];
            if d.wpend.is_empty() {
                self.poll
                    .registry()
                    .reregister(&mut d.sock, Token(i), Interest::READABLE)?;
            }
            let msg = format!(
                r#"{{"type":"connect","sessionId":"{}","timestamp":{},"version":"1.0.0","payload":{{"deviceId":"load-{i}","platform":"web","deviceName":"load {i}","clientVersion":"1.0.0"}}}}"#,
                self.session,
                wall_ms()
            );
            self.send_masked(i, 0x1, msg.as_bytes())?;
        }
        while let Some((op, start, end)) = parse_frame(&buf[off..]) {
            let payload_at = off + start..off + end;
            let frame_len = end;
            off += end;
            match op {
                0x1 => self.on_text(i, &buf[payload_at], frame_len, now)?,
                0x9 => {
                    let p = buf[payload_at].to_vec();
                    self.send_masked(i, 0xA, &p)?;
                }
                0x8 => {
                    eof = true;
                    break;
                }
                _ => {}
            }
        }
        buf.drain(..off.min(buf.len()));
        self.devs[i].rbuf = buf;
        if eof {
            if self.devs[i].state == DevState::Upgrading {
                return self.retry(i);
            }
            return self.kill(i);
        }
        Ok(())
    }

    pub(crate) fn on_text(
        &mut self,
        i: usize,
        text: &[u8],
        frame_len: usize,
        now: Instant,
    ) -> io::Result<()> {
        match self.devs[i].state {
            DevState::AwaitConnected => {
                if text.starts_with(br#"{"type":"connected""#) {
                    self.devs[i].state = DevState::Ready;
                    self.ready += 1;
                } else if text.starts_with(br#"{"type":"error""#) {
                    eprintln!("device {i}: {}", String::from_utf8_lossy(text));
                    return self.kill(i);
                }
            }
            DevState::Ready if text.starts_with(br#"{"type":"update""#) => {
                let Some(seq) = sequence_number(text) else {
                    return Ok(());
                };
                self.delivered += 1;
                if seq == self.expect_seq && self.devs[i].last_seq != seq {
                    self.round_received += 1;
                    self.round_lat
                        .push(now.saturating_duration_since(self.round_t0).as_nanos() as u64);
                    if self.round_frame_bytes == 0 {
                        self.round_frame_bytes = frame_len;
                    }
                }
                self.devs[i].last_seq = seq;
                self.pending_acks.push((i, seq));
            }
            _ => {}
        }
        Ok(())
    }

    /// Frames `payload` with a fresh mask (RFC 6455 §5.3) and sends it.
    pub(crate) fn send_masked(&mut self, i: usize, opcode: u8, payload: &[u8]) -> io::Result<()> {
        let mask = (self.rand() as u32).to_le_bytes();
        let mut f = std::mem::take(&mut self.frame);
        f.clear();
        f.push(0x80 | opcode);
        let len = payload.len();
        if len < 126 {
            f.push(0x80 | len as u8);
        } else if len <= u16::MAX as usize {
            f.push(0x80 | 126);
            f.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            f.push(0x80 | 127);
            f.extend_from_slice(&(len as u64).to_be_bytes());
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(j, b)| b ^ mask[j & 3]));
        let r = self.write_dev(i, &f);
        self.frame = f;
        r
    }

    pub(crate) fn write_dev(&mut self, i: usize, bytes: &[u8]) -> io::Result<()> {
        let d = &mut self.devs[i];
        if !d.wpend.is_empty() {
            d.wpend.extend_from_slice(bytes);
            return Ok(());
        }
        let n = match d.sock.write(bytes) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(_) => return self.kill(i),
        };
        if n < bytes.len() {
            d.wpend.extend_from_slice(&bytes[n..]);
            self.poll.registry().reregister(
                &mut d.sock,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )?;
        }
        Ok(())
    }

    // ----- the trigger connection ----------------------------------------------

    pub(crate) fn set_trigger(&mut self, kind: TriggerKind) -> io::Result<()> {
        let std_sock = std::net::TcpStream::connect(self.addr)?;
        std_sock.set_nodelay(true)?;
        std_sock.set_nonblocking(true)?;
        let mut sock = TcpStream::from_std(std_sock);
        self.poll
            .registry()
            .register(&mut sock, TRIGGER, Interest::READABLE)?;
        self.trigger = Some(Trigger {
            kind,
            sock,
            wpend: Vec::new(),
            rbuf: Vec::new(),
            busy: false,
            class: 0,
            errors: 0,
            answered: None,
        });
        if matches!(self.trigger.as_ref().unwrap().kind, TriggerKind::Floor) {
            self.trigger_write(CTRL_MAGIC)?;
        }
        Ok(())
    }

    pub(crate) fn fire(&mut self, round: usize, seq: u64) -> io::Result<()> {
        let t = self.trigger.as_mut().expect("trigger");
        t.busy = true;
        let bytes = match &t.kind {
            TriggerKind::Http { requests } => requests[round].clone(),
            TriggerKind::Floor => seq.to_le_bytes().to_vec(),
        };
        self.trigger_write(&bytes)
    }

    pub(crate) fn trigger_write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let t = self.trigger.as_mut().expect("trigger");
        t.wpend.extend_from_slice(bytes);
        self.trigger_event(true, false)
    }

    pub(crate) fn trigger_event(&mut self, writable: bool, readable: bool) -> io::Result<()> {
        let Some(t) = self.trigger.as_mut() else {
            return Ok(());
        };
        if writable && !t.wpend.is_empty() {
            while !t.wpend.is_empty() {
                match t.sock.write(&t.wpend) {
                    Ok(n) => {
                        t.wpend.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            let interest = if t.wpend.is_empty() {
                Interest::READABLE
            } else {
                Interest::READABLE | Interest::WRITABLE
            };
            self.poll
                .registry()
                .reregister(&mut t.sock, TRIGGER, interest)?;
        }
        if !readable {
            return Ok(());
        }
        loop {
            match t.sock.read(&mut self.scratch) {
                Ok(0) => return Err(io::Error::other("the server closed the push connection")),
                Ok(n) => t.rbuf.extend_from_slice(&self.scratch[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        match t.kind {
            TriggerKind::Floor => {
                if !t.rbuf.is_empty() {
                    t.rbuf.clear();
                    t.busy = false;
                    t.answered = Some(self.polled_at);
                    t.class = 0;
                }
            }
            TriggerKind::Http { .. } => {
                let Some(end) = find(&t.rbuf, b"\r\n\r\n") else {
                    return Ok(());
                };
                let head = String::from_utf8_lossy(&t.rbuf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if t.rbuf.len() < end + 4 + len {
                    return Ok(());
                }
                let body = String::from_utf8_lossy(&t.rbuf[end + 4..end + 4 + len]).to_string();
                if !head.starts_with("http/1.1 200") {
                    t.errors += 1;
                    if t.errors <= 3 {
                        eprintln!("push refused: {} {body}", head.lines().next().unwrap_or(""));
                    }
                }
                t.class = if body.contains(r#""updateType":"incremental""#) {
                    0
                } else if body.contains(r#""updateType":"full""#) {
                    1
                } else {
                    2
                };
                t.rbuf.drain(..end + 4 + len);
                t.busy = false;
                t.answered = Some(self.polled_at);
            }
        }
        Ok(())
    }

    /// Sends `updates` updates and measures each round.
    pub(crate) fn rounds(
        &mut self,
        updates: usize,
        first_seq: u64,
        probe: &Probe,
        opts: &Opts,
    ) -> io::Result<Rounds> {
        self.rounds_with(updates, first_seq, probe, opts, &mut |_| Ok(()))
    }

    /// [`Client::rounds`], calling `between(round)` after each round (once
    /// the server is quiet, before its CPU is read for the next): work of
    /// this thread that must not count for the server, such as a floor
    /// measured alongside.
    pub(crate) fn rounds_with(
        &mut self,
        updates: usize,
        first_seq: u64,
        probe: &Probe,
        opts: &Opts,
        between: &mut dyn FnMut(usize) -> io::Result<()>,
    ) -> io::Result<Rounds> {
        let n = self.ready;
        let mut out = Rounds::default();
        let client_cpu0 = this_thread_cpu_ns();
        let mut cpu_marks = Vec::with_capacity(updates + 1);
        let mut last_t0 = Instant::now() - opts.interval;
        for round in 0..updates {
            let start_at = last_t0 + opts.interval;
            self.pump_until(start_at, |_| false)?;
            cpu_marks.push(probe.cpu_ns());
            self.expect_seq = first_seq + round as u64;
            self.round_received = 0;
            self.round_lat.clear();
            self.round_frame_bytes = 0;
            self.round_wall_ms = wall_ms();
            let t0 = Instant::now();
            self.round_t0 = t0;
            last_t0 = t0;
            self.fire(round, self.expect_seq)?;
            let complete = self.pump_until(t0 + opts.round_timeout, |c| {
                c.round_received >= n && !c.trigger.as_ref().is_some_and(|t| t.busy)
            })?;
            if let Some(&before) = cpu_marks.last() {
                out.cpu_served.push(probe.cpu_ns() - before);
            }
            self.send_acks()?;
            if !complete {
                eprintln!(
                    "update {round}: only {} of {n} devices got it within {} s",
                    self.round_received,
                    opts.round_timeout.as_secs()
                );
            }
            self.pump_until(Instant::now() + opts.gap, |_| false)?;
            between(round)?;
            let class = self.trigger.as_ref().map_or(2, |t| t.class);
            out.class.push(class);
            out.received.push(self.round_received as u64);
            out.frame_bytes.push(self.round_frame_bytes);
            let answered = self.trigger.as_ref().and_then(|t| t.answered);
            out.answered
                .push(answered.map_or(0, |a| a.saturating_duration_since(t0).as_nanos() as u64));
            out.lat[class.min(1)].extend_from_slice(&self.round_lat);
        }
        // Let the server read the last acks before the last reading.
        self.pump_until(Instant::now() + Duration::from_millis(100), |_| false)?;
        cpu_marks.push(probe.cpu_ns());
        out.cpu = cpu_marks.windows(2).map(|w| w[1] - w[0]).collect();
        out.client_cpu = this_thread_cpu_ns() - client_cpu0;
        out.expected = (n * updates) as u64;
        out.push_errors = self.trigger.as_ref().map_or(0, |t| t.errors);
        Ok(out)
    }
}
