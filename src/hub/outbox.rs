//! What the hub asks the event loop to do: send frames, close connections,
//! set timers. The hub never touches a socket; it fills an outbox.

use crate::protocol::{Close, Message, serialize_message};
use std::sync::Arc;
use std::time::Instant;

/// Bytes of one encoded WebSocket frame, shared by every connection it is
/// queued on (one encoding per broadcast).
pub type SharedFrame = Arc<Vec<u8>>;

/// An encoded WebSocket frame, ready to queue: one shared buffer, or a
/// message carrying the session's whole schema, assembled from a small head
/// and tail around the schema's JSON, which is encoded once per session
/// state and shared by every frame that carries it (broadcast, `connected`,
/// resyncs).
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// The whole frame in one buffer.
    Whole(SharedFrame),
    /// Frame header and JSON up to the schema, the schema, the JSON after it.
    WithSchema {
        /// Frame header and the message up to the schema.
        head: SharedFrame,
        /// The schema's JSON, shared.
        schema: SharedFrame,
        /// The message after the schema.
        tail: SharedFrame,
    },
}

impl Frame {
    /// Its length on the wire.
    pub fn len(&self) -> usize {
        match self {
            Frame::Whole(b) => b.len(),
            Frame::WithSchema { head, schema, tail } => head.len() + schema.len() + tail.len(),
        }
    }

    /// True for an empty frame (never made by the hub).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when it carries the whole schema.
    pub fn carries_schema(&self) -> bool {
        matches!(self, Frame::WithSchema { .. })
    }

    /// Its parts, in wire order (shared references, no copy).
    pub fn parts(&self) -> impl Iterator<Item = SharedFrame> + '_ {
        let (a, b, c) = match self {
            Frame::Whole(b) => (b, None, None),
            Frame::WithSchema { head, schema, tail } => (head, Some(schema), Some(tail)),
        };
        std::iter::once(a).chain(b).chain(c).cloned()
    }

    /// The frame's bytes in one buffer (a copy; for tests and tools).
    pub fn to_vec(&self) -> Vec<u8> {
        self.parts().flat_map(|p| p.to_vec()).collect()
    }
}

impl From<SharedFrame> for Frame {
    fn from(b: SharedFrame) -> Frame {
        Frame::Whole(b)
    }
}

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
    /// Queue the `connected` message: never dropped, and not an unread
    /// reply (a connection gets one; its schema part is shared).
    SendConnected {
        /// To whom.
        conn: ConnId,
        /// The frame.
        frame: Frame,
    },
    /// Queue a full update of the current schema for one device (droppable
    /// if it falls behind), unless a frame carrying the whole schema is
    /// already queued for it: then it adds nothing.
    Resync {
        /// To whom.
        conn: ConnId,
        /// The frame, shared by every resync of this session state.
        frame: Frame,
    },
    /// Queue the same update frame for every listed device.
    Broadcast {
        /// To whom.
        conns: Vec<ConnId>,
        /// The frame, encoded once.
        frame: Frame,
    },
    /// Send a close frame and close the connection.
    Close {
        /// Which.
        conn: ConnId,
        /// WebSocket close code.
        code: Close,
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

impl Effect {
    /// Close `conn` with `code` and the reason that code always carries.
    pub fn close(conn: ConnId, code: Close) -> Effect {
        Effect::Close {
            conn,
            code,
            reason: code.reason().unwrap_or_default(),
        }
    }
}

/// Encodes an unmasked, final WebSocket text frame around `payload` (RFC 6455
/// §5.2). Server frames carry no mask, so one encoding serves every device.
pub fn encode_text_frame(payload: &[u8]) -> SharedFrame {
    let mut frame = Vec::with_capacity(payload.len() + 10);
    push_text_frame_header(&mut frame, payload.len());
    frame.extend_from_slice(payload);
    frame.into()
}

/// Appends the header of an unmasked, final text frame whose payload is
/// `len` bytes long (2, 4 or 10 bytes).
pub fn push_text_frame_header(out: &mut Vec<u8>, len: usize) {
    out.push(0x81);
    if len < 126 {
        out.push(len as u8);
    } else if len <= u16::MAX as usize {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
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
