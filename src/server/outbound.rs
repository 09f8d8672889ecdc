//! A connection's outbound queue: shared frames (one encoding per broadcast,
//! referenced by every device) and owned bytes (HTTP responses, tungstenite's
//! control replies), written in order with vectored writes.
//!
//! The queue is bounded by the number of pending update frames. Passing the
//! bound drops the pending updates (never a frame already half written) and
//! flags the connection for a resync once it drains.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::sync::Arc;

/// Bytes shared by every connection they are queued on.
pub type SharedFrame = Arc<[u8]>;

/// What a queued chunk is, which decides whether overflow may drop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// A schema update; dropped on overflow and replaced by a resync.
    Update,
    /// Anything else (responses, pongs, errors, closes); never dropped.
    Control,
}

#[derive(Debug)]
enum Bytes {
    Shared(SharedFrame),
    Owned(Vec<u8>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Shared(b) => b,
            Bytes::Owned(b) => b,
        }
    }
}

/// Result of pushing an update frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued.
    Queued,
    /// The bound was passed: pending updates were dropped and the
    /// connection needs a full resync when it drains.
    Overflowed,
}

/// Outcome of writing to the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flushed {
    /// Everything queued was written.
    Drained,
    /// The socket is full; wait for WRITABLE.
    Blocked,
}

/// The queue.
#[derive(Debug, Default)]
pub struct OutQueue {
    chunks: VecDeque<(ChunkKind, Bytes)>,
    /// Bytes of the front chunk already written.
    offset: usize,
    updates: usize,
    /// Bytes of all queued chunks (including the written part of the front).
    bytes: usize,
    /// Bytes of queued update chunks.
    update_bytes: usize,
}

/// At most this many chunks go into one `writev`.
const MAX_IOV: usize = 32;

impl OutQueue {
    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Bytes still to write.
    pub fn pending_bytes(&self) -> usize {
        self.bytes - self.offset
    }

    /// Pending update frames.
    pub fn pending_updates(&self) -> usize {
        self.updates
    }

    /// Bytes of pending control data (responses, pongs, errors). Control
    /// data is never dropped, so a peer that keeps asking without reading
    /// must be stopped by its owner once this grows too large.
    pub fn control_backlog(&self) -> usize {
        let written = match self.chunks.front() {
            Some((ChunkKind::Control, _)) => self.offset,
            _ => 0,
        };
        self.bytes.saturating_sub(self.update_bytes + written)
    }

    /// Queues owned control bytes (never dropped).
    pub fn push_owned(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        self.bytes += bytes.len();
        self.chunks
            .push_back((ChunkKind::Control, Bytes::Owned(bytes)));
    }

    /// Queues a shared control frame (never dropped).
    pub fn push_shared_control(&mut self, frame: SharedFrame) {
        self.bytes += frame.len();
        self.chunks
            .push_back((ChunkKind::Control, Bytes::Shared(frame)));
    }

    /// Queues a shared update frame, unless `max_updates` are already
    /// pending: then every pending update not yet started is dropped.
    pub fn push_update(&mut self, frame: SharedFrame, max_updates: usize) -> Pushed {
        if self.updates >= max_updates {
            self.drop_updates();
            return Pushed::Overflowed;
        }
        self.bytes += frame.len();
        self.update_bytes += frame.len();
        self.updates += 1;
        self.chunks
            .push_back((ChunkKind::Update, Bytes::Shared(frame)));
        Pushed::Queued
    }

    /// Drops every update frame that has not started going out.
    pub fn drop_updates(&mut self) {
        let started = self.offset > 0;
        let mut i = 0;
        let (mut bytes, mut updates, mut update_bytes) =
            (self.bytes, self.updates, self.update_bytes);
        self.chunks.retain(|(kind, b)| {
            let keep = *kind == ChunkKind::Control || (i == 0 && started);
            if !keep {
                bytes -= b.as_slice().len();
                update_bytes -= b.as_slice().len();
                updates -= 1;
            }
            i += 1;
            keep
        });
        self.bytes = bytes;
        self.updates = updates;
        self.update_bytes = update_bytes;
    }

    /// Writes as much as the socket takes.
    pub fn write_to<W: Write>(&mut self, w: &mut W) -> io::Result<Flushed> {
        while !self.chunks.is_empty() {
            let mut iov: [IoSlice<'_>; MAX_IOV] = [IoSlice::new(&[]); MAX_IOV];
            let mut n = 0;
            for (i, (_, b)) in self.chunks.iter().take(MAX_IOV).enumerate() {
                let s = b.as_slice();
                iov[i] = IoSlice::new(if i == 0 { &s[self.offset..] } else { s });
                n += 1;
            }
            let written = match w.write_vectored(&iov[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.consume(written);
        }
        Ok(Flushed::Drained)
    }

    fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let Some((kind, front)) = self.chunks.front() else {
                return;
            };
            let left = front.as_slice().len() - self.offset;
            if n < left {
                self.offset += n;
                return;
            }
            n -= left;
            self.bytes -= front.as_slice().len();
            if *kind == ChunkKind::Update {
                self.updates -= 1;
                self.update_bytes -= front.as_slice().len();
            }
            self.offset = 0;
            self.chunks.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `cap` bytes per call, then blocks.
    struct Trickle {
        out: Vec<u8>,
        cap: usize,
        calls_left: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.calls_left == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.calls_left -= 1;
            let n = buf.len().min(self.cap);
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn frame(s: &str) -> SharedFrame {
        Arc::from(s.as_bytes())
    }

    #[test]
    fn writes_in_order_across_partial_writes() {
        let mut q = OutQueue::default();
        q.push_owned(b"hello ".to_vec());
        assert_eq!(q.push_update(frame("big "), 4), Pushed::Queued);
        q.push_shared_control(frame("world"));
        let mut w = Trickle {
            out: Vec::new(),
            cap: 3,
            calls_left: 2,
        };
        assert_eq!(q.write_to(&mut w).unwrap(), Flushed::Blocked);
        assert_eq!(q.pending_bytes(), 15 - 6);
        w.calls_left = 100;
        assert_eq!(q.write_to(&mut w).unwrap(), Flushed::Drained);
        assert_eq!(w.out, b"hello big world");
        assert!(q.is_empty());
        assert_eq!(q.pending_bytes(), 0);
        assert_eq!(q.pending_updates(), 0);
    }

    #[test]
    fn overflow_drops_unstarted_updates_but_keeps_control_and_started() {
        let mut q = OutQueue::default();
        q.push_update(frame("u1"), 3);
        q.push_owned(b"c1".to_vec());
        q.push_update(frame("u2"), 3);
        q.push_update(frame("u3"), 3);
        let mut w = Trickle {
            out: Vec::new(),
            cap: 1,
            calls_left: 1,
        };
        q.write_to(&mut w).unwrap(); // "u" of u1 is out: u1 must stay whole
        assert_eq!(q.push_update(frame("u4"), 3), Pushed::Overflowed);
        assert_eq!(q.pending_updates(), 1);
        assert_eq!(q.control_backlog(), 2, "c1 only");
        w.calls_left = 100;
        w.cap = 100;
        q.write_to(&mut w).unwrap();
        assert_eq!(w.out, b"u1c1");
    }
}
