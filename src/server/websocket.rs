//! The WebSocket side of a connection: the upgrade handshake (checked here,
//! answered with tungstenite's `derive_accept_key`), tungstenite's state
//! for the upgraded connection and its limits,
//! and the adapter that lets tungstenite read from the socket while every
//! byte it writes goes through the connection's own ordered out-queue.

use super::http::{Method, Request, Response};
use super::outbound::OutQueue;
use mio::net::TcpStream;
use std::io::{self, Read, Write};
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};

/// True when the request asks for a WebSocket upgrade.
pub fn wants_upgrade(req: &Request) -> bool {
    req.header_has_token("upgrade", "websocket")
}

/// Checks an upgrade request (RFC 6455 §4.2.1) and returns the 101 response
/// bytes, or the error response to send instead.
pub fn accept_upgrade(req: &Request) -> Result<Vec<u8>, Response> {
    if req.method != Method::Get {
        return Err(
            Response::error(405, "METHOD_NOT_ALLOWED", "WebSocket upgrades use GET")
                .with_header("Allow", Method::allow_header(&[Method::Get])),
        );
    }
    if req.minor_version < 1 || !req.header_has_token("connection", "upgrade") {
        return Err(Response::error(
            400,
            "BAD_REQUEST",
            "a WebSocket upgrade needs HTTP/1.1 and `Connection: Upgrade`",
        ));
    }
    if req.header("sec-websocket-version") != Some("13") {
        return Err(Response::error(
            426,
            "UPGRADE_REQUIRED",
            "only WebSocket version 13 is supported",
        )
        .with_header("Sec-WebSocket-Version", "13"));
    }
    let key = req.header("sec-websocket-key").unwrap_or("");
    if !is_valid_key(key) {
        return Err(Response::error(
            400,
            "BAD_REQUEST",
            "Sec-WebSocket-Key must be 16 bytes in base64",
        ));
    }
    Ok(format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    )
    .into_bytes())
}

/// A base64 encoding of exactly 16 bytes: 22 alphabet characters and `==`.
fn is_valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    b.len() == 24
        && b.ends_with(b"==")
        && b[..22]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

/// tungstenite's read buffer per connection. It is allocated (and zeroed)
/// eagerly, so it is most of what an idle device costs; devices send small
/// messages (an ack or a ping is about 150 bytes), and a larger frame makes
/// tungstenite reserve its announced length anyway, so 512 bytes cost only
/// extra reads for the occasional long `log` line.
pub const READ_BUFFER_BYTES: usize = 512;

/// tungstenite limits sized for thousands of small device connections: a
/// small eager read buffer, frames and messages capped at `max_message`, and
/// writes passed straight to the out-queue.
pub fn config(max_message: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(max_message + 1024)
        .max_frame_size(Some(max_message))
        .max_message_size(Some(max_message))
}

/// tungstenite's server-side state for a connection just upgraded, fed
/// first with `leftover`, the bytes that arrived after the upgrade request.
pub fn context(leftover: Vec<u8>, max_message: usize) -> WebSocketContext {
    WebSocketContext::from_partially_read(leftover, Role::Server, Some(config(max_message)))
}

/// What tungstenite sees as its stream: reads come from the socket, writes
/// (pong and close replies, our pings and closes) are appended to the
/// out-queue, so they stay in order with the shared update frames.
pub struct WsIo<'a> {
    /// The socket, for reading.
    pub sock: &'a mut TcpStream,
    /// The connection's queue, for writing.
    pub out: &'a mut OutQueue,
    /// Answer `WouldBlock` without a system call once a read has come back
    /// short (see [`WsIo::read`]). Off by default; the loop turns it on for a
    /// readiness event that did not also report the peer's FIN.
    pub stop_when_drained: bool,
    drained: bool,
}

impl<'a> WsIo<'a> {
    /// An adapter that reads until the socket says `WouldBlock`.
    pub fn new(sock: &'a mut TcpStream, out: &'a mut OutQueue) -> WsIo<'a> {
        WsIo {
            sock,
            out,
            stop_when_drained: false,
            drained: false,
        }
    }
}

impl Read for WsIo<'_> {
    /// A TCP read that returns fewer bytes than asked for has emptied the
    /// socket's receive queue, and bytes arriving after it raise a new
    /// readiness event (epoll signals every arrival, also edge-triggered).
    /// So, with `stop_when_drained`, the read after a short one answers
    /// `WouldBlock` itself: one `recvfrom` per device message instead of two
    /// (the second always came back `EAGAIN`). Not used when the event also
    /// carried the peer's FIN: that FIN may already sit behind the data,
    /// with no further event to announce it, so those reads go on to EOF.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.drained {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.sock.read(buf)?;
        if self.stop_when_drained && n > 0 && n < buf.len() {
            self.drained = true;
        }
        Ok(n)
    }
}

impl Write for WsIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.push_owned(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::http::{Limits, Parsed, parse_request};

    fn req(text: &str) -> Request {
        let limits = Limits {
            max_head: 4096,
            max_headers: 32,
            max_body: 0,
        };
        match parse_request(text.as_bytes(), &limits).unwrap() {
            Parsed::Complete { request, .. } => request,
            Parsed::Partial => panic!("partial"),
        }
    }

    const GOOD: &str = "GET /ws?session=x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn accepts_the_rfc_example() {
        let r = req(GOOD);
        assert!(wants_upgrade(&r));
        let resp = String::from_utf8(accept_upgrade(&r).unwrap()).unwrap();
        assert!(
            resp.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            "{resp}"
        );
    }

    #[test]
    fn refuses_bad_version_and_key() {
        let r = req(&GOOD.replace("Version: 13", "Version: 8"));
        let e = accept_upgrade(&r).unwrap_err();
        assert_eq!(e.status, 426);
        let r = req(&GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "short"));
        assert_eq!(accept_upgrade(&r).unwrap_err().status, 400);
        let r = req(&GOOD.replace("GET", "POST"));
        assert_eq!(accept_upgrade(&r).unwrap_err().status, 405);
        let r = req(&GOOD.replace("keep-alive, Upgrade", "keep-alive"));
        assert_eq!(accept_upgrade(&r).unwrap_err().status, 400);
    }
}
