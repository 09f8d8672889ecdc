//! The WebSocket handshake of one device, written by hand: the request, the
//! 101 (or the refusal), and frames that arrive with it.

use super::*;

impl Fleet {
    pub(super) fn handshake(
        &mut self,
        i: usize,
        on_event: &mut impl FnMut(usize, &DeviceState, FleetEvent<'_>),
    ) -> Outcome {
        let slot = &mut self.slots[i];
        let Link::Handshake {
            sock,
            request,
            written,
            key,
            inbuf,
        } = &mut slot.link
        else {
            return Outcome::Fine;
        };
        if let Ok(Some(e)) | Err(e) = sock.take_error() {
            return Outcome::Lost(format!("cannot connect to {}: {e}", self.addr));
        }
        while *written < request.len() {
            match sock.write(&request[*written..]) {
                Ok(n) => *written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Outcome::Fine,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Outcome::Fine,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Outcome::Lost(format!("cannot connect to {}: {e}", self.addr)),
            }
        }
        // The server may send the 101, a close frame (4404, 4410, 4426...)
        // and its FIN all at once: read everything there is, and only then
        // look at it, so that the close frame is never lost to the EOF.
        let mut buf = [0u8; 4096];
        let mut ended: Option<String> = None;
        loop {
            match sock.read(&mut buf) {
                Ok(0) => {
                    ended = Some("the server closed the connection during the handshake".into());
                    break;
                }
                Ok(n) => {
                    inbuf.extend_from_slice(&buf[..n]);
                    if inbuf.len() > MAX_HANDSHAKE + MAX_MESSAGE {
                        return Outcome::Lost("handshake answer too large".into());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if inbuf.is_empty() => {
                    return Outcome::Lost(format!("handshake failed: {e}"));
                }
                Err(e) => {
                    ended = Some(format!("handshake failed: {e}"));
                    break;
                }
            }
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let head_len = match response.parse(inbuf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if inbuf.len() <= MAX_HANDSHAKE => {
                return match ended {
                    Some(reason) => Outcome::Lost(reason),
                    None => Outcome::Fine,
                };
            }
            _ => return Outcome::Lost("the server's handshake answer is not HTTP".into()),
        };
        let status = response.code.unwrap_or(0);
        if status != 101 {
            let reason = format!(
                "the server refused the WebSocket upgrade: HTTP {status} {}",
                response.reason.unwrap_or("")
            );
            // Capacity is temporary; anything else will not change by retrying.
            return if status == 503 {
                Outcome::Lost(reason)
            } else {
                Outcome::Closed(0, reason)
            };
        }
        let accept = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
            .map(|h| h.value);
        let expected = tungstenite::handshake::derive_accept_key(key.as_bytes());
        if accept != Some(expected.as_bytes()) {
            return Outcome::Closed(0, "the server's Sec-WebSocket-Accept is wrong".into());
        }
        let leftover = inbuf.split_off(head_len);
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0)
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let ws = WebSocketContext::from_partially_read(leftover, Role::Client, Some(config));
        let Link::Handshake { sock, .. } = std::mem::replace(&mut slot.link, Link::Idle) else {
            return Outcome::Fine;
        };
        slot.link = Link::Open {
            sock,
            ws: Box::new(ws),
            wants_write: true,
            closed_with: None,
        };
        if let Some(reason) = ended {
            // The connection is gone: what came with the 101 (typically a
            // close frame saying why) is all there will be.
            return match self.read(i, on_event) {
                Outcome::Fine => Outcome::Lost(reason),
                other => other,
            };
        }
        let connect = slot.state.connect_message();
        match self.send(i, vec![connect]) {
            Outcome::Fine => self.read(i, on_event),
            other => other,
        }
    }
}
