//! Linux inotify: one non-blocking descriptor, registered in the poll loop,
//! with one watch per directory holding a watched file. Watching the
//! directory, not the file, sees every way a file is saved: written in
//! place, replaced by a rename, deleted and created again.
//!
//! This file only talks to the kernel and decodes its events; what they
//! mean for a watched file is decided in `mod.rs`.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What a directory watch asks for. `IN_MODIFY` is not a trigger: it only
/// tells that a writer is busy, so the file is not read before it closes.
const MASK: u32 = libc::IN_CLOSE_WRITE
    | libc::IN_MOVED_TO
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_CREATE
    | libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR;

/// A watch descriptor (one per watched directory).
pub(super) type Wd = i32;

/// What an event says about a name in a watched directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Written and closed, or renamed into place: a complete version.
    Complete,
    /// Deleted or renamed away.
    Gone,
    /// Written to by a writer that has not closed it yet.
    Writing,
    /// Created (its content follows, closed with `Complete`).
    Created,
    /// Permissions or times changed.
    Attrib,
    /// The directory itself was deleted, moved or unmounted: the watch is
    /// or should be gone.
    DirGone,
    /// The kernel's queue overflowed: events were lost.
    Overflow,
    /// Anything else.
    Other,
}

/// Classifies an event mask.
pub(super) fn kind(mask: u32) -> Kind {
    if mask & libc::IN_Q_OVERFLOW != 0 {
        Kind::Overflow
    } else if mask
        & (libc::IN_IGNORED | libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_UNMOUNT)
        != 0
    {
        Kind::DirGone
    } else if mask & (libc::IN_CLOSE_WRITE | libc::IN_MOVED_TO) != 0 {
        Kind::Complete
    } else if mask & (libc::IN_DELETE | libc::IN_MOVED_FROM) != 0 {
        Kind::Gone
    } else if mask & libc::IN_MODIFY != 0 {
        Kind::Writing
    } else if mask & libc::IN_CREATE != 0 {
        Kind::Created
    } else if mask & libc::IN_ATTRIB != 0 {
        Kind::Attrib
    } else {
        Kind::Other
    }
}

/// One decoded event: the watch, its kind, and the name in the directory
/// (empty for events about the directory itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Event {
    pub(super) wd: Wd,
    pub(super) kind: Kind,
    pub(super) name: Vec<u8>,
}

impl Event {
    pub(super) fn name_is(&self, name: &OsStr) -> bool {
        self.name == name.as_bytes()
    }
}

/// Size of `struct inotify_event` before its name.
const HEADER: usize = 16;

/// Decodes the events in `buf` as the kernel lays them out: `wd`, `mask`,
/// `cookie`, `len` (native-endian 32-bit each), then `len` bytes of name
/// padded with NULs. A truncated tail is ignored.
pub(super) fn decode(buf: &[u8], out: &mut Vec<Event>) {
    let word = |at: usize| -> [u8; 4] {
        let mut w = [0u8; 4];
        w.copy_from_slice(&buf[at..at + 4]);
        w
    };
    let mut at = 0;
    while buf.len() - at >= HEADER {
        let wd = i32::from_ne_bytes(word(at));
        let mask = u32::from_ne_bytes(word(at + 4));
        let len = u32::from_ne_bytes(word(at + 12)) as usize;
        let Some(name) = buf.get(at + HEADER..at + HEADER + len) else {
            return;
        };
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        out.push(Event {
            wd,
            kind: kind(mask),
            name: name[..end].to_vec(),
        });
        at += HEADER + len;
    }
}

/// The inotify descriptor.
#[derive(Debug)]
pub(super) struct Inotify {
    fd: OwnedFd,
}

impl Inotify {
    pub(super) fn new() -> io::Result<Inotify> {
        // SAFETY: no pointers; the result is a new descriptor or -1.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Inotify { fd })
    }

    pub(super) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Watches the directory `dir`; the same directory always gets the same
    /// descriptor.
    pub(super) fn watch_dir(&self, dir: &Path) -> io::Result<Wd> {
        let c = CString::new(dir.as_os_str().as_bytes().to_vec())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in the path"))?;
        // SAFETY: `c` is a valid NUL-terminated string for the call.
        let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), MASK) };
        if wd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(wd)
    }

    /// Stops a directory watch (its `IN_IGNORED` follows).
    pub(super) fn unwatch(&self, wd: Wd) {
        // SAFETY: no pointers; an unknown `wd` only returns EINVAL.
        unsafe { libc::inotify_rm_watch(self.fd.as_raw_fd(), wd) };
    }

    /// Reads every pending event (until the descriptor would block).
    pub(super) fn read(&self, out: &mut Vec<Event>) -> io::Result<()> {
        // Large enough for at least one event with the longest name.
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: `buf` is valid for writes of its length.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast::<libc::c_void>(),
                    buf.len(),
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock => Ok(()),
                    io::ErrorKind::Interrupted => continue,
                    _ => Err(e),
                };
            }
            if n == 0 {
                return Ok(());
            }
            decode(&buf[..n as usize], out);
        }
    }
}

/// Why inotify would not see changes made to files in `dir`: it lives on
/// a network or user-space file system, where other machines' writes
/// raise no events here.
pub(super) fn remote_file_system(dir: &Path) -> Option<&'static str> {
    let c = CString::new(dir.as_os_str().as_bytes().to_vec()).ok()?;
    // SAFETY: an all-zero statfs is a valid value to be overwritten.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `st` is valid for writes.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    // Magic numbers from the kernel's include/uapi/linux/magic.h and the
    // file systems' sources; only the low 32 bits are meaningful.
    match st.f_type as u32 {
        0x6969 => Some("NFS"),
        0x517B => Some("SMB"),
        0xFF53_4D42 => Some("CIFS"),
        0xFE53_4D42 => Some("SMB2"),
        0x0102_1997 => Some("9P"),
        0x6573_5546 => Some("FUSE"),
        0x00C3_6400 => Some("Ceph"),
        0x5346_414F => Some("AFS"),
        0x7375_7245 => Some("Coda"),
        0x786F_4256 => Some("VirtualBox shared folder"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(wd: i32, mask: u32, name: &[u8], pad: usize) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&wd.to_ne_bytes());
        v.extend_from_slice(&mask.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(&((name.len() + pad) as u32).to_ne_bytes());
        v.extend_from_slice(name);
        v.extend(std::iter::repeat_n(0, pad));
        v
    }

    #[test]
    fn decodes_events_with_padded_names_and_ignores_a_truncated_tail() {
        let mut buf = raw(1, libc::IN_CLOSE_WRITE, b"app.json", 8);
        buf.extend(raw(2, libc::IN_IGNORED, b"", 0));
        buf.extend(raw(1, libc::IN_MODIFY, b"x", 3));
        let full = buf.len();
        buf.extend(&raw(1, libc::IN_DELETE, b"cut", 1)[..18]);
        let mut out = Vec::new();
        decode(&buf, &mut out);
        assert_eq!(
            out,
            vec![
                Event {
                    wd: 1,
                    kind: Kind::Complete,
                    name: b"app.json".to_vec()
                },
                Event {
                    wd: 2,
                    kind: Kind::DirGone,
                    name: vec![]
                },
                Event {
                    wd: 1,
                    kind: Kind::Writing,
                    name: b"x".to_vec()
                },
            ]
        );
        out.clear();
        decode(&buf[..full - 1], &mut out);
        assert_eq!(out.len(), 2, "an event cut short is not decoded");
    }

    #[test]
    fn kinds() {
        assert_eq!(kind(libc::IN_MOVED_TO), Kind::Complete);
        assert_eq!(kind(libc::IN_MOVED_FROM), Kind::Gone);
        assert_eq!(kind(libc::IN_DELETE), Kind::Gone);
        assert_eq!(kind(libc::IN_CREATE), Kind::Created);
        assert_eq!(kind(libc::IN_ATTRIB), Kind::Attrib);
        assert_eq!(kind(libc::IN_Q_OVERFLOW), Kind::Overflow);
        assert_eq!(kind(libc::IN_MOVE_SELF), Kind::DirGone);
        assert_eq!(kind(libc::IN_CREATE | libc::IN_ISDIR), Kind::Created);
        assert_eq!(kind(libc::IN_OPEN), Kind::Other);
    }

    #[test]
    fn a_real_descriptor_reports_a_close_after_write_in_a_watched_directory() {
        let dir = std::env::temp_dir().join(format!("lumora-inotify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ino = Inotify::new().expect("inotify");
        let wd = ino.watch_dir(&dir).expect("watch");
        assert_eq!(ino.watch_dir(&dir).unwrap(), wd, "one watch per directory");
        std::fs::write(dir.join("a.json"), "{}").unwrap();
        let mut out = Vec::new();
        ino.read(&mut out).unwrap();
        assert!(
            out.iter()
                .any(|e| e.wd == wd && e.kind == Kind::Complete && e.name == b"a.json"),
            "{out:?}"
        );
        assert!(
            ino.watch_dir(&dir.join("a.json")).is_err(),
            "not a directory"
        );
        std::fs::remove_file(dir.join("a.json")).unwrap();
        let _ = std::fs::remove_dir(&dir);
    }
}
