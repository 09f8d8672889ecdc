//! One connection's state machine: reading HTTP requests → WebSocket
//! (`Conn::upgrade`) → closing. The loop owns the socket registration; this file owns what a
//! connection holds in each state and the byte-moving it does.

use super::body_budget::Reservation;
use super::http::Head;
use super::outbound::{Flushed, OutQueue};
use super::websocket::{self, WsIo};
use crate::protocol::Close;
use mio::net::TcpStream;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::time::Instant;
use tungstenite::protocol::WebSocketContext;

/// Where a connection is.
pub enum Phase {
    /// Reading a request, or idle between keep-alive requests.
    Http(HttpPhase),
    /// Upgraded to WebSocket.
    WebSocket(Box<WsPhase>),
    /// Saying goodbye: flush what is queued, shut down writing, read until
    /// the peer closes or the close timer fires.
    Closing(Goodbye),
}

/// The steps of closing a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goodbye {
    /// Writing what is still queued.
    Flushing,
    /// The queue drained and writing is shut down; waiting for the peer's
    /// end of stream (or the close timer).
    WriteShutDown,
}

/// HTTP state.
pub struct HttpPhase {
    /// Bytes read but not yet consumed by a complete request.
    pub inbuf: Vec<u8>,
    /// When the current request (or keep-alive idleness) times out.
    pub deadline: Instant,
    /// Responses sent on this connection so far.
    pub served: u32,
    /// Request handling paused because the peer is not reading responses;
    /// resumed when the queue drains.
    pub paused: bool,
    /// When the connection's one live deadline timer fires. Timers cannot
    /// be cancelled, so a deadline moving later keeps the pending timer
    /// (which re-arms when it fires) instead of adding one per request.
    pub timer_at: Option<Instant>,
    /// The admitted head of the request at the front of `inbuf`, waiting
    /// for its body, with the room reserved for that body.
    pub pending: Option<Box<Pending>>,
}

/// A request whose head was admitted and whose body is still arriving.
#[derive(Debug)]
pub struct Pending {
    /// The head.
    pub head: Head,
    /// Room for the body in the server's body budget (none for an empty
    /// body); given back when this is dropped.
    pub room: Option<Reservation>,
    /// A big body's own buffer (its head is consumed from `inbuf`): the
    /// body is read straight into it, no further than its end, and
    /// becomes the request's body as it is (a pushed schema keeps it as
    /// its text). `None`: the body follows the head in `inbuf`.
    pub body: Option<Vec<u8>>,
}

impl Pending {
    /// Bytes of the request still to be read, of `arrived` in `inbuf`.
    pub fn missing(&self, arrived: usize) -> usize {
        match &self.body {
            Some(body) => self.head.body_len - body.len(),
            None => self.head.total().saturating_sub(arrived),
        }
    }
}

/// What a fired deadline timer means for an HTTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpTimer {
    /// The deadline has passed.
    Expired,
    /// The deadline moved later: schedule the timer again for this time.
    Rearm(Instant),
    /// An older timer; the live one is still pending.
    Stale,
}

impl HttpPhase {
    /// A connection just accepted, due by `deadline` (timer to be set).
    pub fn new(deadline: Instant) -> HttpPhase {
        HttpPhase {
            inbuf: Vec::new(),
            deadline,
            served: 0,
            paused: false,
            timer_at: Some(deadline),
            pending: None,
        }
    }

    /// No request is in progress: nothing buffered, and no admitted head
    /// waiting for its body (a big body is read into a buffer of its own,
    /// so `inbuf` is empty while it arrives).
    pub fn between_requests(&self) -> bool {
        self.inbuf.is_empty() && self.pending.is_none()
    }

    /// How many bytes `inbuf` may hold before the next read stops: the
    /// request at its front is read no further than its head (up to the
    /// head limit, one byte more to tell a head that is too large) until
    /// the head is admitted; then to the end of its body, plus at most one
    /// head of a pipelined request.
    pub fn read_cap(&self, max_head: usize) -> usize {
        match &self.pending {
            Some(p) => p.head.total() + max_head,
            None => max_head + 1,
        }
    }

    /// Drops the first `n` bytes of `inbuf` (requests handled); a buffer
    /// left empty is freed (an idle keep-alive connection holds none), one
    /// left much larger than what it holds (after a big body) is shrunk.
    pub fn consume(&mut self, n: usize) {
        self.inbuf.drain(..n.min(self.inbuf.len()));
        if self.inbuf.is_empty() {
            self.inbuf = Vec::new();
            return;
        }
        const KEEP: usize = 64 * 1024;
        if self.inbuf.capacity() > KEEP.max(2 * self.inbuf.len()) {
            self.inbuf.shrink_to(KEEP.max(self.inbuf.len()));
        }
    }

    /// Moves the deadline; true when a timer must be inserted for it
    /// (no pending timer fires by then).
    pub fn set_deadline(&mut self, deadline: Instant) -> bool {
        self.deadline = deadline;
        if self.timer_at.is_none_or(|t| deadline < t) {
            self.timer_at = Some(deadline);
            return true;
        }
        false
    }

    /// A deadline timer fired at `now`.
    pub fn on_timer(&mut self, now: Instant) -> HttpTimer {
        if now >= self.deadline {
            return HttpTimer::Expired;
        }
        match self.timer_at {
            Some(t) if t > now => HttpTimer::Stale,
            _ => {
                self.timer_at = Some(self.deadline);
                HttpTimer::Rearm(self.deadline)
            }
        }
    }
}

/// WebSocket state.
pub struct WsPhase {
    /// tungstenite's protocol state (framing, control frames, limits).
    pub ctx: WebSocketContext,
    /// Pending updates were dropped: send a full resync once the queue drains.
    pub needs_resync: bool,
}

/// How reading a WebSocket connection ended: one outcome, so a read
/// cannot be both refused and gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsReadEnd {
    /// Everything available (or the read budget) was read; still open.
    Open,
    /// The peer sent a close frame (answered by tungstenite).
    PeerClosed,
    /// The peer broke a rule: close with this code (and its reason).
    Refused(Close),
    /// The connection failed; drop it.
    Gone,
}

/// A connection.
pub struct Conn {
    /// The socket.
    pub sock: TcpStream,
    /// Distinguishes this connection from earlier ones at the same slab key.
    pub generation: u64,
    /// Remote address.
    pub peer: SocketAddr,
    /// State.
    pub phase: Phase,
    /// Bytes waiting to be written.
    pub out: OutQueue,
    /// Whether WRITABLE interest is registered (only while bytes are pending).
    pub wants_write: bool,
}

/// What reading found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStatus {
    /// Everything available was read.
    Drained,
    /// Stopped at the byte cap with more possibly waiting.
    Capped,
    /// The peer closed its side.
    Eof,
}

/// Reads into `buf` until the socket would block, the peer closes, or `buf`
/// holds `cap` bytes.
pub fn read_available(
    sock: &mut TcpStream,
    buf: &mut Vec<u8>,
    cap: usize,
) -> io::Result<ReadStatus> {
    // Reads go straight into the buffer: 8 KiB at a time, or, when room
    // was reserved for a body that is coming, up to 256 KiB per read (a
    // 10 MiB body in ~40 reads, not 1,280, and copied once).
    const SMALL: usize = 8192;
    const LARGE: usize = 256 * 1024;
    loop {
        let len = buf.len();
        if len >= cap {
            return Ok(ReadStatus::Capped);
        }
        let room = (buf.capacity() - len).clamp(SMALL, LARGE);
        let want = room.min(cap - len);
        buf.reserve(want);
        let read = read_into_spare(sock, buf, want);
        match read {
            Ok(0) => return Ok(ReadStatus::Eof),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadStatus::Drained),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// One `read(2)` into the buffer's spare capacity (at least `want` bytes
/// reserved), with no zeroing first: the kernel writes the bytes and the
/// length grows by what it wrote.
fn read_into_spare(sock: &mut TcpStream, buf: &mut Vec<u8>, want: usize) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let spare = buf.spare_capacity_mut();
    let want = want.min(spare.len());
    // SAFETY: `spare` is `want` (or more) bytes of this vector's own
    // allocation, past its length; read(2) writes at most `want` of them
    // and returns how many, and only that many are then counted as the
    // vector's initialized length.
    let n = unsafe { libc::read(sock.as_raw_fd(), spare.as_mut_ptr().cast(), want) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    // SAFETY: the first `n` bytes of the spare capacity were just written
    // by the kernel (n <= want <= spare capacity).
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// Reads and throws away whatever arrives (a closing connection); true at
/// EOF. At most 64 reads a call, so a peer that keeps sending cannot hold
/// the loop; the close timer ends such a connection.
pub fn discard_available(sock: &mut TcpStream) -> io::Result<bool> {
    let mut chunk = [0u8; 4096];
    for _ in 0..64 {
        match sock.read(&mut chunk) {
            Ok(0) => return Ok(true),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

impl Conn {
    /// Writes queued bytes; see [`OutQueue::write_to`].
    pub fn flush(&mut self) -> io::Result<Flushed> {
        self.out.write_to(&mut self.sock)
    }

    /// tungstenite's state and its I/O adapter, while upgraded.
    pub fn websocket(&mut self) -> Option<(&mut WebSocketContext, WsIo<'_>)> {
        match &mut self.phase {
            Phase::WebSocket(ws) => Some((&mut ws.ctx, WsIo::new(&mut self.sock, &mut self.out))),
            _ => None,
        }
    }

    /// Switches from HTTP to WebSocket: queues the 101 `handshake` and
    /// starts tungstenite with the bytes that followed the request
    /// (`leftover`, the device's first frames if it did not wait). True when
    /// there are such bytes, still to be read.
    pub fn upgrade(&mut self, handshake: Vec<u8>, leftover: Vec<u8>, max_message: usize) -> bool {
        self.out.push_owned(handshake);
        let unread = !leftover.is_empty();
        self.phase = Phase::WebSocket(Box::new(WsPhase {
            ctx: websocket::context(leftover, max_message),
            needs_resync: false,
        }));
        unread
    }

    /// True while upgraded and not closing.
    pub fn is_websocket(&self) -> bool {
        matches!(self.phase, Phase::WebSocket(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_emptied_input_buffer_is_freed() {
        let mut h = HttpPhase::new(Instant::now());
        h.inbuf.reserve(16 * 1024);
        h.inbuf.extend_from_slice(b"GET / HTTP/1.1\r\n\r\nGET");
        h.consume(18);
        assert_eq!(h.inbuf, b"GET");
        assert!(h.inbuf.capacity() >= 16 * 1024, "kept while it holds bytes");
        h.consume(3);
        assert_eq!(h.inbuf.capacity(), 0, "an idle connection holds no buffer");
    }

    #[test]
    fn one_live_deadline_timer_per_connection() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut h = HttpPhase::new(t0 + 10 * s);
        // Keep-alive requests keep pushing the deadline later: no new timers.
        assert!(!h.set_deadline(t0 + 30 * s));
        assert!(!h.set_deadline(t0 + 31 * s));
        // Earlier than the pending timer: one is needed.
        let mut h2 = HttpPhase::new(t0 + 30 * s);
        assert!(h2.set_deadline(t0 + 10 * s));
        // The pending timer fires before the deadline: re-armed once.
        assert_eq!(h.on_timer(t0 + 10 * s), HttpTimer::Rearm(t0 + 31 * s));
        assert_eq!(h.on_timer(t0 + 11 * s), HttpTimer::Stale);
        assert_eq!(h.on_timer(t0 + 31 * s), HttpTimer::Expired);
        // The later timer of h2 is stale once the earlier one re-armed.
        assert!(!h2.set_deadline(t0 + 40 * s));
        assert_eq!(h2.on_timer(t0 + 10 * s), HttpTimer::Rearm(t0 + 40 * s));
        assert_eq!(h2.on_timer(t0 + 30 * s), HttpTimer::Stale);
    }
}
