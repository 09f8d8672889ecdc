//! One connection's state machine: reading HTTP requests → WebSocket →
//! closing. The loop owns the socket registration; this file owns what a
//! connection holds in each state and the byte-moving it does.

use super::outbound::{Flushed, OutQueue};
use super::websocket::WsIo;
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
    Closing {
        /// Whether writing was shut down (after the queue drained).
        shut_down: bool,
    },
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
}

/// WebSocket state.
pub struct WsPhase {
    /// tungstenite's protocol state (framing, control frames, limits).
    pub ctx: WebSocketContext,
    /// Pending updates were dropped: send a full resync once the queue drains.
    pub needs_resync: bool,
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
    let mut chunk = [0u8; 8192];
    loop {
        if buf.len() >= cap {
            return Ok(ReadStatus::Capped);
        }
        let want = chunk.len().min(cap - buf.len());
        match sock.read(&mut chunk[..want]) {
            Ok(0) => return Ok(ReadStatus::Eof),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadStatus::Drained),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reads and throws away whatever arrives (a closing connection); true at EOF.
pub fn discard_available(sock: &mut TcpStream) -> io::Result<bool> {
    let mut chunk = [0u8; 4096];
    loop {
        match sock.read(&mut chunk) {
            Ok(0) => return Ok(true),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

impl Conn {
    /// Writes queued bytes; see [`OutQueue::write_to`].
    pub fn flush(&mut self) -> io::Result<Flushed> {
        self.out.write_to(&mut self.sock)
    }

    /// tungstenite's state and its I/O adapter, while upgraded.
    pub fn websocket(&mut self) -> Option<(&mut WebSocketContext, WsIo<'_>)> {
        match &mut self.phase {
            Phase::WebSocket(ws) => Some((
                &mut ws.ctx,
                WsIo {
                    sock: &mut self.sock,
                    out: &mut self.out,
                },
            )),
            _ => None,
        }
    }

    /// True while upgraded and not closing.
    pub fn is_websocket(&self) -> bool {
        matches!(self.phase, Phase::WebSocket(_))
    }
}
