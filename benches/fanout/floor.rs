//! The floor: a bare mio loop that writes one pre-framed WebSocket frame to
//! every socket per update and reads the acks back.

use crate::*;

/// Magic first bytes of the floor's control connection; after it, each
/// update is triggered by its sequence number (8 bytes, little endian) and
/// answered by one byte once every socket has been written.
pub(crate) const CTRL_MAGIC: &[u8] = b"CTRL";
pub(crate) const LISTEN: Token = Token(usize::MAX - 1);

pub(crate) enum FloorState {
    /// Reading the HTTP upgrade request (or the control magic).
    Handshake(Vec<u8>),
    /// Waiting for the device's `connect` frame.
    AwaitConnect,
    /// A device: acks are read and dropped.
    Ready,
    /// The control connection.
    Control(Vec<u8>),
}

pub(crate) struct FloorConn {
    pub(crate) sock: TcpStream,
    pub(crate) state: FloorState,
    pub(crate) pending: Vec<u8>,
}

/// A pre-framed update of exactly `size` bytes (a valid text frame holding
/// valid JSON) with a space-padded sequence number at a known offset.
pub(crate) fn floor_frame(size: usize) -> (Vec<u8>, usize) {
    let head = r#"{"type":"update","sessionId":"floor","timestamp":0,"version":"1.0.0","payload":{"type":"incremental","sequenceNumber":"#;
    let seq_field = 12;
    let tail_start = r#","checksum":"00000000","delta":{"added":[],"removed":[],"modified":[{"id":"n","type":"Text","props":{"text":""#;
    let tail_end = r#""}}]}}}"#;
    let header = if size <= 127 { 2 } else { 4 };
    let fixed = header + head.len() + seq_field + tail_start.len() + tail_end.len();
    let filler = size.saturating_sub(fixed);
    let mut payload = String::with_capacity(size);
    payload.push_str(head);
    let seq_at = payload.len();
    payload.push_str(&" ".repeat(seq_field - 1));
    payload.push('0');
    payload.push_str(tail_start);
    payload.push_str(&"x".repeat(filler));
    payload.push_str(tail_end);
    // The server's own frame encoder: the floor sends the same bytes.
    let mut frame = Vec::with_capacity(payload.len() + 4);
    push_text_frame_header(&mut frame, payload.len());
    let seq_at = frame.len() + seq_at;
    frame.extend_from_slice(payload.as_bytes());
    (frame, seq_at)
}

/// `lean`: stop reading at a short read, as the server does (one `recvfrom`
/// per ack); otherwise read until `WouldBlock` (two), the textbook loop.
pub(crate) fn floor_serve(
    mut listener: TcpListener,
    frame_bytes: usize,
    lean: bool,
) -> io::Result<()> {
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTEN, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut conns: slab::Slab<FloorConn> = slab::Slab::new();
    let (mut frame, seq_at) = floor_frame(frame_bytes);
    let connected = encode_text_frame(br#"{"type":"connected"}"#);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            if event.token() == LISTEN {
                loop {
                    match listener.accept() {
                        Ok((mut sock, _)) => {
                            let _ = sock.set_nodelay(true);
                            let entry = conns.vacant_entry();
                            poll.registry().register(
                                &mut sock,
                                Token(entry.key()),
                                Interest::READABLE,
                            )?;
                            entry.insert(FloorConn {
                                sock,
                                state: FloorState::Handshake(Vec::new()),
                                pending: Vec::new(),
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                continue;
            }
            let key = event.token().0;
            if event.is_writable() {
                if let Some(c) = conns.get_mut(key) {
                    floor_flush(c, &poll, key)?;
                }
            }
            // Read until WouldBlock (edge-triggered), or with `lean` until a
            // short read when the event did not report a FIN.
            let stop_short = lean && !(event.is_read_closed() || event.is_error());
            let mut eof = false;
            let mut got = Vec::new();
            if let Some(c) = conns.get_mut(key) {
                loop {
                    match c.sock.read(&mut buf) {
                        Ok(0) => {
                            eof = true;
                            break;
                        }
                        Ok(n) => {
                            if !matches!(c.state, FloorState::Ready) {
                                got.extend_from_slice(&buf[..n]);
                            }
                            if stop_short && n < buf.len() {
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
            } else {
                continue;
            }
            if !got.is_empty() {
                let mut triggers = Vec::new();
                let c = &mut conns[key];
                match &mut c.state {
                    FloorState::Handshake(acc) => {
                        acc.extend_from_slice(&got);
                        if acc.starts_with(CTRL_MAGIC) {
                            let rest = acc[CTRL_MAGIC.len()..].to_vec();
                            c.state = FloorState::Control(rest);
                        } else if let Some(end) = find(acc, b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&acc[..end]).to_string();
                            let key_line = head
                                .lines()
                                .find_map(|l| {
                                    let (n, v) = l.split_once(':')?;
                                    n.eq_ignore_ascii_case("sec-websocket-key")
                                        .then(|| v.trim().to_string())
                                })
                                .unwrap_or_default();
                            let resp = format!(
                                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                                tungstenite::handshake::derive_accept_key(key_line.as_bytes())
                            );
                            c.state = FloorState::AwaitConnect;
                            floor_write(c, &poll, key, resp.as_bytes())?;
                        }
                    }
                    FloorState::AwaitConnect => {
                        c.state = FloorState::Ready;
                        floor_write(c, &poll, key, &connected)?;
                    }
                    FloorState::Ready => {}
                    FloorState::Control(acc) => acc.extend_from_slice(&got),
                }
                if let FloorState::Control(acc) = &mut c.state {
                    while acc.len() >= 8 {
                        let seq = u64::from_le_bytes(acc[..8].try_into().unwrap());
                        acc.drain(..8);
                        triggers.push(seq);
                    }
                }
                for seq in triggers {
                    // Patch the sequence number into the one pre-built frame.
                    let digits = seq.to_string();
                    let field = &mut frame[seq_at..seq_at + 12];
                    field.fill(b' ');
                    field[12 - digits.len()..].copy_from_slice(digits.as_bytes());
                    for (k, d) in conns.iter_mut() {
                        if matches!(d.state, FloorState::Ready) {
                            floor_write(d, &poll, k, &frame)?;
                        }
                    }
                    floor_write(&mut conns[key], &poll, key, b"k")?;
                }
            }
            if eof {
                let mut c = conns.remove(key);
                let _ = poll.registry().deregister(&mut c.sock);
                if matches!(c.state, FloorState::Control(_)) {
                    return Ok(());
                }
            }
        }
    }
}

pub(crate) fn floor_write(
    c: &mut FloorConn,
    poll: &Poll,
    key: usize,
    bytes: &[u8],
) -> io::Result<()> {
    if !c.pending.is_empty() {
        c.pending.extend_from_slice(bytes);
        return Ok(());
    }
    let n = match c.sock.write(bytes) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(_) => return Ok(()), // the read side will see the error
    };
    if n < bytes.len() {
        c.pending.extend_from_slice(&bytes[n..]);
        poll.registry().reregister(
            &mut c.sock,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        )?;
    }
    Ok(())
}

pub(crate) fn floor_flush(c: &mut FloorConn, poll: &Poll, key: usize) -> io::Result<()> {
    while !c.pending.is_empty() {
        match c.sock.write(&c.pending) {
            Ok(n) => {
                c.pending.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(_) => return Ok(()),
        }
    }
    poll.registry()
        .reregister(&mut c.sock, Token(key), Interest::READABLE)
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub(crate) fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}
