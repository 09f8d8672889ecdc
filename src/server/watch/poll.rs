//! The polling watcher: where the kernel's notifications are unavailable
//! (other systems, no inotify descriptors or watches left, network file
//! systems) or not wanted, the timer wheel calls [`Poller::tick`] every
//! [`INTERVAL`]. A change is acted on once the file has looked the same for
//! [`SETTLE`], so a writer's truncate-then-write is read whole.
//!
//! What a look compares: modification and status-change times, size and
//! inode, plus a hash of the content while the modification time is
//! recent. File systems keep times as coarsely as 2 s (FAT) or one kernel
//! tick, so two saves of the same size within that time can leave every
//! stamp unchanged; only their content tells them apart.

use std::hash::Hasher;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// How often a polled file is looked at.
pub(crate) const INTERVAL: Duration = Duration::from_millis(100);
/// How long a change must hold before it is acted on.
pub(crate) const SETTLE: Duration = Duration::from_millis(100);
/// While the modification time is this recent, the content is hashed too.
const COARSE_MTIME: Duration = Duration::from_secs(2);
/// A modification time up to this far in the future counts as recent too
/// (the clocks of a file server and this machine disagree); further ahead
/// it is a date set by hand (`touch -d`), not a write in progress, and the
/// file is not read every look for it.
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// What identifies a version of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Look {
    /// Missing, not a file, or not readable.
    Absent,
    /// A file with these stamps, and its content's hash while recent.
    File { stamp: Stamp, hash: Option<u64> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    mtime: Option<SystemTime>,
    len: u64,
    /// Inode and status-change time (Unix): a rename over the file or a
    /// rewrite changes them even when the modification time does not.
    ino: u64,
    ctime: (i64, i64),
}

impl Look {
    /// Looks at the file at `path`; hashes it (up to `max_bytes`) while its
    /// modification time is within [`COARSE_MTIME`] of `wall`.
    pub(super) fn take(path: &Path, wall: SystemTime, max_bytes: usize) -> Look {
        let Ok(meta) = std::fs::metadata(path) else {
            return Look::Absent;
        };
        if !meta.is_file() {
            return Look::Absent;
        }
        let mtime = meta.modified().ok();
        #[cfg(unix)]
        let (ino, ctime) = {
            use std::os::unix::fs::MetadataExt;
            (meta.ino(), (meta.ctime(), meta.ctime_nsec()))
        };
        #[cfg(not(unix))]
        let (ino, ctime) = (0, (0, 0));
        let stamp = Stamp {
            mtime,
            len: meta.len(),
            ino,
            ctime,
        };
        let recent = match mtime.map(|m| wall.duration_since(m)) {
            Some(Ok(age)) => age < COARSE_MTIME,
            Some(Err(ahead)) => ahead.duration() <= CLOCK_SKEW,
            None => true,
        };
        let hash = (recent && meta.len() <= max_bytes as u64)
            .then(|| std::fs::read(path).ok().map(|b| content_hash(&b)))
            .flatten();
        Look::File { stamp, hash }
    }

    /// Same version: equal stamps, and equal hashes where both were taken
    /// (a hash stops being taken once the modification time is old, which
    /// is no change).
    fn same(&self, other: &Look) -> bool {
        match (self, other) {
            (Look::Absent, Look::Absent) => true,
            (Look::File { stamp: a, hash: ha }, Look::File { stamp: b, hash: hb }) => {
                a == b && (ha.is_none() || hb.is_none() || ha == hb)
            }
            _ => false,
        }
    }
}

/// A 64-bit hash of a file's content (SipHash), to tell versions apart.
pub(super) fn content_hash(bytes: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

/// Polling state of one file.
#[derive(Debug)]
pub(super) struct Poller {
    seen: Look,
    since: Instant,
    /// `seen` differs from the version last acted on.
    pending: bool,
}

impl Poller {
    /// Starts from `look`, the version about to be acted on.
    pub(super) fn new(look: Look, now: Instant) -> Poller {
        Poller {
            seen: look,
            since: now,
            pending: false,
        }
    }

    /// Takes a new look; true when a change has held for [`SETTLE`] and the
    /// file should be read now.
    pub(super) fn tick(&mut self, look: Look, now: Instant) -> bool {
        if !look.same(&self.seen) {
            self.seen = look;
            self.since = now;
            self.pending = true;
            return false;
        }
        // Keep the newest hash (or its absence) for the next comparison.
        self.seen = look;
        if self.pending && now.saturating_duration_since(self.since) >= SETTLE {
            self.pending = false;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(len: u64, hash: Option<u64>) -> Look {
        Look::File {
            stamp: Stamp {
                mtime: Some(SystemTime::UNIX_EPOCH),
                len,
                ino: 1,
                ctime: (0, 0),
            },
            hash,
        }
    }

    #[test]
    fn a_change_is_acted_on_once_it_has_held_for_the_settle_time() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut p = Poller::new(file(10, Some(1)), t0);
        assert!(!p.tick(file(10, Some(1)), ms(100)), "unchanged");
        assert!(!p.tick(file(0, Some(2)), ms(200)), "truncated: wait");
        assert!(!p.tick(file(12, Some(3)), ms(300)), "still being written");
        assert!(p.tick(file(12, Some(3)), ms(400)), "settled");
        assert!(!p.tick(file(12, Some(3)), ms(500)), "acted on once");
    }

    #[test]
    fn a_same_size_rewrite_with_the_same_stamps_is_seen_by_its_hash() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut p = Poller::new(file(10, Some(1)), t0);
        assert!(!p.tick(file(10, Some(2)), ms(100)));
        assert!(p.tick(file(10, Some(2)), ms(200)));
        // The hash stops being taken when the mtime gets old: no change.
        assert!(!p.tick(file(10, None), ms(300)));
        assert!(!p.tick(file(10, None), ms(400)));
    }

    #[test]
    fn a_file_that_disappears_and_comes_back_is_a_change() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut p = Poller::new(file(10, Some(1)), t0);
        assert!(!p.tick(Look::Absent, ms(100)));
        assert!(p.tick(Look::Absent, ms(200)), "the removal is acted on");
        assert!(!p.tick(file(10, Some(1)), ms(300)));
        assert!(p.tick(file(10, Some(1)), ms(400)), "and the return");
    }

    #[test]
    fn looking_at_a_real_file_hashes_it_while_recent() {
        let dir = std::env::temp_dir().join(format!("lumora-poll-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.json");
        std::fs::write(&path, "one").unwrap();
        let now = SystemTime::now();
        let Look::File { hash, stamp } = Look::take(&path, now, 1024) else {
            panic!("a file");
        };
        assert_eq!(hash, Some(content_hash(b"one")));
        assert_eq!(stamp.len, 3);
        let later = now + Duration::from_secs(60);
        assert!(matches!(
            Look::take(&path, later, 1024),
            Look::File { hash: None, .. }
        ));
        // Written by a clock a little ahead: still hashed; a date far
        // ahead: not read at every look.
        let earlier = now - Duration::from_secs(30);
        assert!(matches!(
            Look::take(&path, earlier, 1024),
            Look::File { hash: Some(_), .. }
        ));
        let much_earlier = now - Duration::from_secs(3600);
        assert!(matches!(
            Look::take(&path, much_earlier, 1024),
            Look::File { hash: None, .. }
        ));
        assert_eq!(Look::take(&dir, now, 1024), Look::Absent);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(Look::take(&path, now, 1024), Look::Absent);
        let _ = std::fs::remove_dir(&dir);
    }
}
