//! A session's recent updates, bounded in count and bytes, kept so that a
//! device that was away can be sent exactly what it missed — the frames
//! already encoded for the broadcast, not new ones.

use super::outbox::Frame;
use std::collections::VecDeque;
use std::sync::Arc;

/// One broadcast update.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// Its sequence number.
    pub sequence: u64,
    /// Checksum of the schema it applies to (the one at `sequence - 1`);
    /// `None` when there was none (the first update of a session).
    pub base_checksum: Option<Arc<str>>,
    /// The encoded `update` frame, as broadcast.
    pub frame: Frame,
}

/// Why a device cannot be brought up to date from the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gap {
    /// The device claims a sequence number the session has not reached.
    Ahead,
    /// The checksum the device sent is not the schema at its number.
    Checksum,
    /// The updates it missed are no longer kept.
    TooOld,
}

impl Gap {
    /// A few words for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Gap::Ahead => "sequence number ahead of the session",
            Gap::Checksum => "checksum differs from the session's at that number",
            Gap::TooOld => "the missed updates are no longer kept",
        }
    }
}

/// The last updates of a session, oldest first, contiguous.
#[derive(Debug, Clone)]
pub struct History {
    entries: VecDeque<HistoryEntry>,
    bytes: usize,
    max_updates: usize,
    max_bytes: usize,
}

impl History {
    /// An empty history keeping at most `max_updates` updates and
    /// `max_bytes` bytes of frames.
    pub fn new(max_updates: usize, max_bytes: usize) -> History {
        History {
            entries: VecDeque::new(),
            bytes: 0,
            max_updates,
            max_bytes,
        }
    }

    /// Records a broadcast. A frame larger than the byte bound, or one that
    /// does not follow the last entry, leaves only what can be replayed.
    pub fn record(&mut self, entry: HistoryEntry) {
        if self
            .entries
            .back()
            .is_some_and(|last| last.sequence + 1 != entry.sequence)
        {
            self.clear();
        }
        if self.max_updates == 0 || entry.frame.len() > self.max_bytes {
            self.clear();
            return;
        }
        self.bytes += entry.frame.len();
        self.entries.push_back(entry);
        while self.entries.len() > self.max_updates || self.bytes > self.max_bytes {
            match self.entries.pop_front() {
                Some(old) => self.bytes -= old.frame.len(),
                None => break,
            }
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// The kept updates, oldest first.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = &HistoryEntry> {
        self.entries.iter()
    }

    /// Bytes of frames kept.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// What a device holding (`sequence`, `checksum`) must be sent to reach
    /// the session's `current` number and `current_checksum`: the frames in
    /// order (none when it is up to date).
    pub fn replay(
        &self,
        sequence: u64,
        checksum: &str,
        current: u64,
        current_checksum: Option<&str>,
    ) -> Result<Vec<Frame>, Gap> {
        if sequence > current {
            return Err(Gap::Ahead);
        }
        if sequence == current {
            return match current_checksum {
                Some(c) if c == checksum => Ok(Vec::new()),
                _ => Err(Gap::Checksum),
            };
        }
        let first = self.entries.front().ok_or(Gap::TooOld)?.sequence;
        let last = self.entries.back().ok_or(Gap::TooOld)?.sequence;
        if last != current || sequence + 1 < first {
            return Err(Gap::TooOld);
        }
        let start = (sequence + 1 - first) as usize;
        let next = &self.entries[start];
        if next.base_checksum.as_deref() != Some(checksum) {
            return Err(Gap::Checksum);
        }
        Ok(self
            .entries
            .range(start..)
            .map(|e| e.frame.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(sequence: u64, base: Option<&str>, len: usize) -> HistoryEntry {
        HistoryEntry {
            sequence,
            base_checksum: base.map(Into::into),
            frame: Frame::Whole(vec![sequence as u8; len].into()),
        }
    }

    fn filled(n: u64, max_updates: usize, max_bytes: usize) -> History {
        let mut h = History::new(max_updates, max_bytes);
        for s in 1..=n {
            let base = (s > 1).then(|| format!("c{}", s - 1));
            h.record(entry(s, base.as_deref(), 10));
        }
        h
    }

    #[test]
    fn replays_exactly_the_missed_updates_in_order() {
        let h = filled(10, 64, 1 << 20);
        let frames = h.replay(5, "c5", 10, Some("c10")).unwrap();
        let seqs: Vec<u8> = frames
            .iter()
            .map(|f| match f {
                Frame::Whole(b) => b[0],
                Frame::WithSchema { head, .. } => head[0],
            })
            .collect();
        assert_eq!(seqs, vec![6, 7, 8, 9, 10]);
        assert_eq!(h.replay(10, "c10", 10, Some("c10")).unwrap().len(), 0);
        assert_eq!(h.replay(1, "c1", 10, Some("c10")).unwrap().len(), 9);
    }

    #[test]
    fn refuses_what_it_cannot_prove() {
        let h = filled(10, 64, 1 << 20);
        assert_eq!(h.replay(11, "c11", 10, Some("c10")), Err(Gap::Ahead));
        assert_eq!(h.replay(10, "c9", 10, Some("c10")), Err(Gap::Checksum));
        assert_eq!(h.replay(5, "c4", 10, Some("c10")), Err(Gap::Checksum));
        // State 0 has no checksum: nothing resumes from it.
        assert_eq!(h.replay(0, "", 10, Some("c10")), Err(Gap::Checksum));
        assert_eq!(
            History::new(64, 1 << 20).replay(3, "c3", 5, Some("c5")),
            Err(Gap::TooOld)
        );
    }

    #[test]
    fn bounded_by_count_and_bytes() {
        let h = filled(100, 8, 1 << 20);
        assert_eq!(h.entries().len(), 8);
        assert_eq!(h.entries().next().unwrap().sequence, 93);
        assert_eq!(h.replay(92, "c92", 100, Some("c100")).unwrap().len(), 8);
        assert_eq!(h.replay(91, "c91", 100, Some("c100")), Err(Gap::TooOld));
        let h = filled(100, 64, 35);
        assert_eq!((h.entries().len(), h.bytes()), (3, 30));
        // A frame over the byte bound leaves nothing to replay through it.
        let mut h = filled(5, 64, 100);
        h.record(entry(6, Some("c5"), 101));
        assert_eq!(h.entries().len(), 0);
        assert_eq!(h.replay(5, "c5", 6, Some("c6")), Err(Gap::TooOld));
        h.record(entry(7, Some("c6"), 10));
        assert_eq!(h.replay(6, "c6", 7, Some("c7")).unwrap().len(), 1);
        // A gap in the numbers starts over.
        h.record(entry(9, Some("c8"), 10));
        assert_eq!(h.entries().len(), 1);
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn seq_of(f: &Frame) -> u64 {
            let Frame::Whole(b) = f else {
                panic!("whole frames only here")
            };
            u64::from_le_bytes(b[..8].try_into().unwrap())
        }

        proptest! {
            /// Whatever the bounds and frame sizes, a replay is exactly the
            /// updates after the device's number, in order, within the
            /// bounds; and it succeeds whenever they are all kept.
            #[test]
            fn a_replay_is_exactly_what_was_missed(
                lens in proptest::collection::vec(8usize..64, 1..80),
                max_updates in 0usize..24,
                max_bytes in 8usize..600,
                from in 0u64..90,
            ) {
                let mut h = History::new(max_updates, max_bytes);
                let n = lens.len() as u64;
                for (i, len) in lens.iter().enumerate() {
                    let s = i as u64 + 1;
                    let mut bytes = s.to_le_bytes().to_vec();
                    bytes.resize(*len, 0);
                    h.record(HistoryEntry {
                        sequence: s,
                        base_checksum: (s > 1).then(|| format!("c{}", s - 1).into()),
                        frame: Frame::Whole(bytes.into()),
                    });
                }
                prop_assert!(h.entries().len() <= max_updates);
                prop_assert!(h.bytes() <= max_bytes);
                let kept = h.entries().len() as u64;
                let result = h.replay(from, &format!("c{from}"), n, Some(&format!("c{n}")));
                match result {
                    Ok(frames) => {
                        prop_assert!(from <= n);
                        let seqs: Vec<u64> = frames.iter().map(seq_of).collect();
                        prop_assert_eq!(seqs, ((from + 1)..=n).collect::<Vec<_>>());
                    }
                    Err(Gap::Ahead) => prop_assert!(from > n),
                    Err(Gap::TooOld) => prop_assert!(from < n && n - from > kept),
                    Err(Gap::Checksum) => prop_assert_eq!(from, 0),
                }
                if from >= 1 && from <= n && n - from <= kept {
                    let (held, current) = (format!("c{from}"), format!("c{n}"));
                    let again = h.replay(from, &held, n, Some(&current));
                    prop_assert!(again.is_ok());
                    // The wrong checksum never replays.
                    prop_assert_eq!(h.replay(from, "bad", n, Some(&format!("c{n}"))), Err(Gap::Checksum));
                }
            }
        }
    }
}
