//! A connection's outbound queue: shared frames (one encoding per broadcast,
//! referenced by every device) and owned bytes (HTTP responses, tungstenite's
//! control replies), written in order with vectored writes.
//!
//! A frame may be queued as several parts (a small head and tail around a
//! schema encoded once for the whole session); the parts of one frame always
//! stay together, so frames never interleave.
//!
//! What a peer can make the queue hold is bounded three ways, by kind:
//! - updates: by the number of pending update frames. Passing the bound drops
//!   the pending updates (never a frame already half written) and flags the
//!   connection for a resync once it drains. At most one pending update
//!   carries the whole schema: a second full resync is not queued.
//! - replies (responses, pongs, errors): by bytes; the owner stops a peer that
//!   keeps asking without reading.
//! - the connection's `connected` message: one per connection, and its schema
//!   part is the session's shared encoding, so it is neither a reply nor
//!   droppable.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

/// Bytes shared by every connection they are queued on (the hub's type:
/// it encodes them).
pub use crate::hub::SharedFrame;

/// What a queued chunk is, which decides whether overflow may drop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// A schema update; dropped on overflow and replaced by a resync.
    Update,
    /// Replies (responses, pongs, errors, closes); never dropped.
    Control,
    /// The `connected` message that opens the session for the device; never
    /// dropped, and not counted as a reply.
    Welcome,
}

#[derive(Debug)]
enum Bytes {
    Shared(SharedFrame),
    Owned(Vec<u8>),
    /// Built into the binary (the web device's files).
    Static(&'static [u8]),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Shared(b) => b,
            Bytes::Owned(b) => b,
            Bytes::Static(b) => b,
        }
    }
}

#[derive(Debug)]
struct Chunk {
    kind: ChunkKind,
    bytes: Bytes,
    /// The first part of its frame (the others follow it directly).
    starts_frame: bool,
    /// Part of a frame that carries the whole schema.
    full: bool,
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
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already written.
    offset: usize,
    /// Pending update frames.
    updates: usize,
    /// Pending frames (of any kind) that carry the whole schema.
    fulls: usize,
    /// Bytes of all queued chunks (including the written part of the front).
    bytes: usize,
    /// Bytes of queued control chunks (including the written part of the
    /// front, when it is one).
    control_bytes: usize,
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

    /// True when a frame carrying the whole schema (a full update or
    /// `connected` with it) has not been completely written yet: whatever
    /// the device holds, it will hold the schema once that frame and the
    /// updates queued after it arrive, so another full resync adds nothing.
    pub fn has_pending_full(&self) -> bool {
        self.fulls > 0
    }

    /// Bytes of pending control data (responses, pongs, errors). Control
    /// data is never dropped, so a peer that keeps asking without reading
    /// must be stopped by its owner once this grows too large. Update frames
    /// and the `connected` message do not count.
    pub fn control_backlog(&self) -> usize {
        let written = match self.chunks.front() {
            Some(c) if c.kind == ChunkKind::Control => self.offset,
            _ => 0,
        };
        self.control_bytes - written
    }

    fn push_chunk(&mut self, kind: ChunkKind, bytes: Bytes, starts_frame: bool, full: bool) {
        let len = bytes.as_slice().len();
        self.bytes += len;
        if kind == ChunkKind::Control {
            self.control_bytes += len;
        }
        self.chunks.push_back(Chunk {
            kind,
            bytes,
            starts_frame,
            full,
        });
    }

    /// Queues one frame made of `parts`, written back to back.
    fn push_frame(
        &mut self,
        kind: ChunkKind,
        parts: impl IntoIterator<Item = SharedFrame>,
        full: bool,
    ) {
        let mut first = true;
        for part in parts {
            if part.is_empty() {
                continue;
            }
            self.push_chunk(kind, Bytes::Shared(part), first, full);
            first = false;
        }
        if !first {
            self.fulls += usize::from(full);
            if kind == ChunkKind::Update {
                self.updates += 1;
            }
        }
    }

    /// Queues owned control bytes (never dropped).
    pub fn push_owned(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        self.push_chunk(ChunkKind::Control, Bytes::Owned(bytes), true, false);
    }

    /// Queues control bytes built into the binary, by reference, right
    /// after what was queued last (an HTTP answer's body after its head).
    /// They count as replies like owned ones, but cost no memory.
    pub fn push_static(&mut self, bytes: &'static [u8]) {
        if bytes.is_empty() {
            return;
        }
        self.push_chunk(ChunkKind::Control, Bytes::Static(bytes), false, false);
    }

    /// Queues a shared control frame (never dropped).
    pub fn push_shared_control(&mut self, frame: SharedFrame) {
        self.push_frame(ChunkKind::Control, [frame], false);
    }

    /// Queues the connection's `connected` message, made of `parts`; `full`
    /// when it carries the schema. Never dropped, not counted as a reply.
    pub fn push_welcome(&mut self, parts: impl IntoIterator<Item = SharedFrame>, full: bool) {
        self.push_frame(ChunkKind::Welcome, parts, full);
    }

    /// Queues an update frame made of `parts` (`full` when it carries the
    /// whole schema), unless `max_updates` are already pending: then every
    /// pending update not yet started is dropped.
    pub fn push_update(
        &mut self,
        parts: impl IntoIterator<Item = SharedFrame>,
        full: bool,
        max_updates: usize,
    ) -> Pushed {
        if self.updates >= max_updates {
            self.drop_updates();
            return Pushed::Overflowed;
        }
        self.push_frame(ChunkKind::Update, parts, full);
        Pushed::Queued
    }

    /// Drops every update frame that has not started going out.
    pub fn drop_updates(&mut self) {
        // The front frame has started when some of it was written: bytes of
        // its first chunk, or whole chunks already gone from the front.
        let mut started = self
            .chunks
            .front()
            .is_some_and(|c| self.offset > 0 || !c.starts_frame);
        let (mut bytes, mut updates, mut fulls) = (self.bytes, self.updates, self.fulls);
        let mut first = true;
        self.chunks.retain(|c| {
            if c.starts_frame && !first {
                started = false;
            }
            first = false;
            let keep = c.kind != ChunkKind::Update || started;
            if !keep {
                bytes -= c.bytes.as_slice().len();
                if c.starts_frame {
                    updates -= 1;
                    fulls -= usize::from(c.full);
                }
            }
            keep
        });
        self.bytes = bytes;
        self.updates = updates;
        self.fulls = fulls;
    }

    /// Writes as much as the socket takes.
    pub fn write_to<W: Write>(&mut self, w: &mut W) -> io::Result<Flushed> {
        while !self.chunks.is_empty() {
            let mut iov: [IoSlice<'_>; MAX_IOV] = [IoSlice::new(&[]); MAX_IOV];
            let mut n = 0;
            for (i, c) in self.chunks.iter().take(MAX_IOV).enumerate() {
                let s = c.bytes.as_slice();
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
        if self.chunks.capacity() > SHRINK_ABOVE {
            // A burst left a large ring behind: give it back.
            self.chunks = VecDeque::new();
        }
        Ok(Flushed::Drained)
    }

    fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.chunks.front() else {
                return;
            };
            let len = front.bytes.as_slice().len();
            let left = len - self.offset;
            if n < left {
                self.offset += n;
                return;
            }
            n -= left;
            self.bytes -= len;
            if front.kind == ChunkKind::Control {
                self.control_bytes -= len;
            }
            let (kind, full) = (front.kind, front.full);
            self.offset = 0;
            self.chunks.pop_front();
            let frame_done = self.chunks.front().is_none_or(|c| c.starts_frame);
            if frame_done {
                self.fulls -= usize::from(full);
                if kind == ChunkKind::Update {
                    self.updates -= 1;
                }
            }
        }
    }
}

/// Chunks a drained queue may keep room for; a larger ring (left by a burst
/// of replies or updates) is freed once everything is written.
const SHRINK_ABOVE: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

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
        Arc::new(s.as_bytes().to_vec())
    }

    #[test]
    fn writes_in_order_across_partial_writes() {
        let mut q = OutQueue::default();
        q.push_owned(b"hello ".to_vec());
        assert_eq!(q.push_update([frame("big ")], false, 4), Pushed::Queued);
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
        q.push_update([frame("u1")], false, 3);
        q.push_owned(b"c1".to_vec());
        q.push_update([frame("u2")], false, 3);
        q.push_update([frame("u3")], false, 3);
        let mut w = Trickle {
            out: Vec::new(),
            cap: 1,
            calls_left: 1,
        };
        q.write_to(&mut w).unwrap(); // "u" of u1 is out: u1 must stay whole
        assert_eq!(q.push_update([frame("u4")], false, 3), Pushed::Overflowed);
        assert_eq!(q.pending_updates(), 1);
        assert_eq!(q.control_backlog(), 2, "c1 only");
        w.calls_left = 100;
        w.cap = 100;
        q.write_to(&mut w).unwrap();
        assert_eq!(w.out, b"u1c1");
    }

    #[test]
    fn a_frame_in_parts_is_written_whole_and_dropped_whole() {
        let mut q = OutQueue::default();
        let schema = frame("SCHEMA");
        q.push_update([frame("h1["), schema.clone(), frame("]")], true, 8);
        q.push_update([frame("h2["), schema.clone(), frame("]")], true, 8);
        assert_eq!(q.pending_updates(), 2);
        assert!(q.has_pending_full());
        let mut w = Trickle {
            out: Vec::new(),
            cap: 1,
            calls_left: 4,
        };
        // "h1[" and one byte of the schema are out: the first frame has
        // started, with its head gone from the queue.
        q.write_to(&mut w).unwrap();
        assert_eq!(w.out, b"h1[S");
        q.drop_updates();
        assert_eq!(q.pending_updates(), 1, "the started frame stays, whole");
        assert!(q.has_pending_full());
        w.calls_left = 100;
        w.cap = 100;
        assert_eq!(q.write_to(&mut w).unwrap(), Flushed::Drained);
        assert_eq!(w.out, b"h1[SCHEMA]");
        assert!(!q.has_pending_full());
        assert_eq!((q.pending_updates(), q.pending_bytes()), (0, 0));
        // The schema bytes were shared, never copied into the queue.
        assert_eq!(Arc::strong_count(&schema), 1);
    }

    #[test]
    fn the_welcome_frame_is_neither_a_reply_nor_droppable() {
        let mut q = OutQueue::default();
        let big: SharedFrame = vec![b'x'; 3 << 20].into();
        q.push_welcome([frame("{"), big, frame("}")], true);
        q.push_owned(b"pong".to_vec());
        assert_eq!(q.control_backlog(), 4);
        assert!(q.has_pending_full());
        q.drop_updates();
        assert_eq!(q.pending_bytes(), 2 + (3 << 20) + 4);
        let mut w = Trickle {
            out: Vec::new(),
            cap: usize::MAX,
            calls_left: 100,
        };
        q.write_to(&mut w).unwrap();
        assert_eq!(w.out.len(), 2 + (3 << 20) + 4);
        assert!(!q.has_pending_full());
        assert_eq!(q.control_backlog(), 0);
    }

    mod model {
        //! The queue against a plain model, over random pushes, partial
        //! writes and drops: frames go out whole and in order, dropped
        //! frames are exactly the unstarted updates, and the counters agree.
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Update { parts: Vec<usize>, full: bool },
            Welcome { parts: Vec<usize>, full: bool },
            Owned(usize),
            Control(usize),
            Write { cap: usize, calls: usize },
            Drop,
        }

        fn op() -> impl Strategy<Value = Op> {
            let parts = prop::collection::vec(1usize..40, 1..4);
            prop_oneof![
                3 => (parts.clone(), any::<bool>()).prop_map(|(parts, full)| Op::Update { parts, full }),
                1 => (parts, any::<bool>()).prop_map(|(parts, full)| Op::Welcome { parts, full }),
                1 => (1usize..30).prop_map(Op::Owned),
                1 => (1usize..30).prop_map(Op::Control),
                3 => (1usize..50, 0usize..6).prop_map(|(cap, calls)| Op::Write { cap, calls }),
                1 => Just(Op::Drop),
            ]
        }

        struct Pending {
            kind: ChunkKind,
            full: bool,
            bytes: Vec<u8>,
        }

        fn drop_model(model: &mut VecDeque<Pending>, offset: usize) {
            let mut i = 0;
            model.retain(|p| {
                let keep = p.kind != ChunkKind::Update || (i == 0 && offset > 0);
                i += 1;
                keep
            });
        }

        proptest! {
            #[test]
            fn queue_matches_the_model(ops in prop::collection::vec(op(), 1..60), max in 1usize..5) {
                let mut q = OutQueue::default();
                let mut model: VecDeque<Pending> = VecDeque::new();
                let mut offset = 0usize; // bytes of the model's front frame written
                let mut w = Trickle { out: Vec::new(), cap: 1, calls_left: 0 };
                let mut expected: Vec<u8> = Vec::new();
                let mut next = 0u8;
                let mut frame_of = |lens: &[usize]| {
                    next = next.wrapping_add(1);
                    let parts: Vec<SharedFrame> =
                        lens.iter().map(|&n| vec![next; n].into()).collect();
                    let bytes: Vec<u8> = parts.iter().flat_map(|p| p.to_vec()).collect();
                    (parts, bytes)
                };
                for op in ops {
                    match op {
                        Op::Update { parts, full } => {
                            let (parts, bytes) = frame_of(&parts);
                            let updates = model.iter().filter(|p| p.kind == ChunkKind::Update).count();
                            let pushed = q.push_update(parts, full, max);
                            if updates >= max {
                                prop_assert_eq!(pushed, Pushed::Overflowed);
                                drop_model(&mut model, offset);
                            } else {
                                prop_assert_eq!(pushed, Pushed::Queued);
                                model.push_back(Pending { kind: ChunkKind::Update, full, bytes });
                            }
                        }
                        Op::Welcome { parts, full } => {
                            let (parts, bytes) = frame_of(&parts);
                            q.push_welcome(parts, full);
                            model.push_back(Pending { kind: ChunkKind::Welcome, full, bytes });
                        }
                        Op::Owned(n) => {
                            let (_, bytes) = frame_of(&[n]);
                            q.push_owned(bytes.clone());
                            model.push_back(Pending { kind: ChunkKind::Control, full: false, bytes });
                        }
                        Op::Control(n) => {
                            let (parts, bytes) = frame_of(&[n]);
                            q.push_shared_control(parts[0].clone());
                            model.push_back(Pending { kind: ChunkKind::Control, full: false, bytes });
                        }
                        Op::Write { cap, calls } => {
                            w.cap = cap;
                            w.calls_left = calls;
                            let before = w.out.len();
                            q.write_to(&mut w).unwrap();
                            let mut n = w.out.len() - before;
                            while n > 0 {
                                let front = model.front().unwrap();
                                let take = (front.bytes.len() - offset).min(n);
                                expected.extend_from_slice(&front.bytes[offset..offset + take]);
                                offset += take;
                                n -= take;
                                if offset == front.bytes.len() {
                                    model.pop_front();
                                    offset = 0;
                                }
                            }
                        }
                        Op::Drop => {
                            q.drop_updates();
                            drop_model(&mut model, offset);
                        }
                    }
                    prop_assert_eq!(&w.out, &expected);
                    let left: usize = model.iter().map(|p| p.bytes.len()).sum::<usize>() - offset;
                    prop_assert_eq!(q.pending_bytes(), left);
                    prop_assert_eq!(
                        q.pending_updates(),
                        model.iter().filter(|p| p.kind == ChunkKind::Update).count()
                    );
                    prop_assert_eq!(q.has_pending_full(), model.iter().any(|p| p.full));
                    let control: usize = model
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| p.kind == ChunkKind::Control)
                        .map(|(i, p)| p.bytes.len() - if i == 0 { offset } else { 0 })
                        .sum();
                    prop_assert_eq!(q.control_backlog(), control);
                    prop_assert_eq!(q.is_empty(), model.is_empty());
                }
            }
        }
    }
}
