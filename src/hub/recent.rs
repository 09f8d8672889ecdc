//! The last broadcasts, newest first, for the landing page: a small
//! bounded list, so memory does not grow with the number of pushes.

use crate::protocol::UpdateKind;
use std::collections::VecDeque;
use std::sync::Arc;

/// How many broadcasts are remembered, over all sessions.
pub const KEEP: usize = 20;

/// One broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateRecord {
    /// The session.
    pub session: Arc<str>,
    /// Its sequence number.
    pub sequence: u64,
    /// Full or incremental.
    pub kind: UpdateKind,
    /// Size of the update frame.
    pub bytes: usize,
    /// Devices it went to.
    pub devices: usize,
    /// Checksum of the schema after it.
    pub checksum: Arc<str>,
    /// When it went out, ms since the epoch.
    pub at_ms: u64,
}

/// The last [`KEEP`] broadcasts.
#[derive(Debug, Default)]
pub struct Recent(VecDeque<UpdateRecord>);

impl Recent {
    /// Remembers a broadcast, forgetting the oldest beyond [`KEEP`].
    pub fn push(&mut self, record: UpdateRecord) {
        if self.0.len() == KEEP {
            self.0.pop_back();
        }
        self.0.push_front(record);
    }

    /// Newest first.
    pub fn iter(&self) -> impl Iterator<Item = &UpdateRecord> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_few() {
        let mut r = Recent::default();
        for sequence in 1..=KEEP as u64 + 5 {
            r.push(UpdateRecord {
                session: "s".into(),
                sequence,
                kind: UpdateKind::Full,
                bytes: 1,
                devices: 0,
                checksum: "c".into(),
                at_ms: sequence,
            });
        }
        let seqs: Vec<u64> = r.iter().map(|u| u.sequence).collect();
        assert_eq!(seqs.len(), KEEP);
        assert_eq!(seqs[0], KEEP as u64 + 5);
        assert_eq!(seqs[KEEP - 1], 6);
    }
}
