//! What the hub asks the event loop to do: send frames, close connections,
//! set timers. The hub never touches a socket; it fills an outbox.

use crate::protocol::{Message, serialize_message};
use std::sync::Arc;
use std::time::Instant;

/// Bytes of one encoded WebSocket frame, shared by every connection it is
/// queued on (one encoding per broadcast).
pub type SharedFrame = Arc<[u8]>;

/// A connection as the hub knows it: the loop's slab key plus a generation,
/// so that nothing meant for a closed connection reaches a new one that
/// reuses the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId {
    /// Slab key.
    pub key: usize,
    /// Generation of the connection at that key.
    pub generation: u64,
}

/// A timer the hub wants back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubTimer {
    /// The device must have sent `connect` by now.
    ConnectDeadline(ConnId),
    /// Broadcast the push held back by coalescing.
    FlushHeld(Arc<str>),
    /// Expire every session whose time is up, then re-arm. One periodic
    /// sweep instead of a timer per session: a deleted session leaves no
    /// 8-hour timer behind.
    SessionSweep,
}

/// One thing for the loop to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Queue a frame that must not be dropped (replies, errors, `connected`).
    Send {
        /// To whom.
        conn: ConnId,
        /// The frame.
        frame: SharedFrame,
    },
    /// Queue an update for one device (droppable if it falls behind).
    SendUpdate {
        /// To whom.
        conn: ConnId,
        /// The frame.
        frame: SharedFrame,
    },
    /// Queue the same update frame for every listed device.
    Broadcast {
        /// To whom.
        conns: Vec<ConnId>,
        /// The frame, encoded once.
        frame: SharedFrame,
    },
    /// Send a close frame and close the connection.
    Close {
        /// Which.
        conn: ConnId,
        /// WebSocket close code.
        code: u16,
        /// Close reason (short, sent to the peer).
        reason: &'static str,
    },
    /// Call the hub back at `at`.
    Schedule {
        /// When.
        at: Instant,
        /// With what.
        timer: HubTimer,
    },
}

/// Encodes an unmasked, final WebSocket text frame around `payload` (RFC 6455
/// §5.2). Server frames carry no mask, so one encoding serves every device.
pub fn encode_text_frame(payload: &[u8]) -> SharedFrame {
    let mut frame = Vec::with_capacity(payload.len() + 10);
    frame.push(0x81);
    let len = payload.len();
    if len < 126 {
        frame.push(len as u8);
    } else if len <= u16::MAX as usize {
        frame.push(126);
        frame.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        frame.push(127);
        frame.extend_from_slice(&(len as u64).to_be_bytes());
    }
    frame.extend_from_slice(payload);
    frame.into()
}

/// Serializes a message and frames it.
pub fn encode_message(message: &Message) -> SharedFrame {
    encode_text_frame(serialize_message(message).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use tungstenite::protocol::frame::{FrameHeader, coding::OpCode};

    #[test]
    fn frames_parse_with_tungstenite_at_every_length_class() {
        for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 200_000] {
            let payload = vec![b'x'; len];
            let frame = encode_text_frame(&payload);
            let mut cur = Cursor::new(&frame[..]);
            let (header, length) = FrameHeader::parse(&mut cur).unwrap().unwrap();
            assert!(header.is_final);
            assert_eq!(header.mask, None);
            assert_eq!(
                header.opcode,
                OpCode::Data(tungstenite::protocol::frame::coding::Data::Text)
            );
            assert_eq!(length as usize, len);
            assert_eq!(frame.len() - cur.position() as usize, len);
        }
    }
}
