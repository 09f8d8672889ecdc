//! The state directory: sessions that outlive a restart.
//!
//! Layout, under the configured directory (`--state-dir`, by default
//! `$XDG_STATE_HOME/lumora-hr-mini`, else `~/.local/state/lumora-hr-mini`):
//!
//! ```text
//! port-3000/                       one directory per port (0700)
//!   server.json                    {"format", "version", "serverEpoch", "startupSession"}
//!   session-<id>.state             one file per session (0600), see hub::persist
//!   session-<id>.state.bad-<time>  a file that could not be read, kept aside
//! ```
//!
//! Writes go to a temporary file that is fsynced, renamed over the old one,
//! and the directory fsynced: a crash leaves the old file or the new one.
//! They happen on a writer thread, which receives immutable snapshots from
//! the loop (the loop stays the only owner of the state) and coalesces
//! them: a change is written at most `interval` after it happened, a file
//! at most once per `interval`, and everything pending at shutdown.
//! Nothing here is ever fatal: a problem is a warning and the server keeps
//! serving from memory.

use crate::hub::persist::{
    FORMAT_VERSION, FormatError, PersistOp, SessionSnapshot, decode_session, encode_head,
    schema_bytes, session_file_parts,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::{Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SERVER_FILE: &str = "server.json";
const SERVER_FORMAT: &str = "lumora-hr-mini server state";
const SESSION_PREFIX: &str = "session-";
const SESSION_SUFFIX: &str = ".state";

/// The default base directory: `$XDG_STATE_HOME/lumora-hr-mini`, else
/// `$HOME/.local/state/lumora-hr-mini`; `None` when neither is set.
pub fn default_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = xdg.or_else(|| {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(|h| h.join(".local").join("state"))
    })?;
    Some(base.join("lumora-hr-mini"))
}

/// The directory of the server on `port` under `base`.
pub fn port_dir(base: &Path, port: u16) -> PathBuf {
    base.join(format!("port-{port}"))
}

/// What was found in the state directory at start.
#[derive(Debug, Default)]
pub struct Restored {
    /// The state lineage, when `server.json` was read.
    pub epoch: Option<String>,
    /// The startup session's id, when one was recorded.
    pub startup: Option<String>,
    /// Unexpired sessions.
    pub sessions: Vec<SessionSnapshot>,
    /// Files that could not be read and were moved aside.
    pub set_aside: usize,
    /// The ids of expired sessions, whose files were deleted.
    pub expired: Vec<Arc<str>>,
    /// The directory's lock, held while this server writes there
    /// ([`Writer::start`] keeps it).
    pub lock: Option<File>,
    /// How long reading the directory took.
    pub took: Duration,
}

/// Takes the directory's lock (`flock` on its `lock` file), so that a second
/// server given the same directory and port (on another address, say)
/// neither reads nor overwrites this one's files.
fn lock(dir: &Path) -> Result<File, String> {
    use std::os::fd::AsRawFd as _;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(dir.join(LOCK_FILE))
        .map_err(|e| {
            format!(
                "cannot lock state directory {dir} ({lock}: {e}); sessions are kept in memory only and will not survive a restart: remove {lock} or give another --state-dir",
                dir = dir.display(),
                lock = dir.join(LOCK_FILE).display()
            )
        })?;
    // SAFETY: flock on a descriptor this function owns.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    // Only a lock held elsewhere refuses; a file system without locks
    // (some network ones) is used as before.
    if !locked && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock {
        return Err(format!(
            "state directory {} is in use by another server on this port (another address?); \
             this one keeps its sessions in memory only: give it its own --state-dir",
            dir.display()
        ));
    }
    Ok(file)
}

/// The lock file's name in a port's directory.
const LOCK_FILE: &str = "lock";

/// A state file's bytes; an error for anything but a regular file. It is
/// opened without blocking, so a FIFO (or a device) put in the directory is
/// refused at once instead of hanging the start.
fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Opens (creating it if needed) the state directory `dir` and reads what
/// it holds. `Err` is a one-line warning: no state will be kept.
pub fn open(dir: &Path, now_ms: u64) -> Result<Restored, String> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            format!(
                "cannot use state directory {}: {e}; sessions will not survive a restart",
                dir.display()
            )
        })?;
    tighten(dir, 0o700);
    let entries = fs::read_dir(dir).map_err(|e| {
        format!(
            "cannot read state directory {}: {e}; sessions will not survive a restart",
            dir.display()
        )
    })?;
    let mut restored = Restored {
        lock: Some(lock(dir)?),
        ..Restored::default()
    };
    let server = dir.join(SERVER_FILE);
    let mut server_state = "missing";
    match read_regular(&server) {
        Ok(bytes) => match decode_server(&bytes) {
            Ok((epoch, startup)) => {
                restored.epoch = Some(epoch);
                restored.startup = startup;
            }
            Err(e) => {
                set_aside(&server, &e, &mut restored);
                server_state = "unreadable";
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            set_aside(&server, &e.to_string(), &mut restored);
            server_state = "unreadable";
        }
    }
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        if name.starts_with('.') && name.ends_with(".tmp") {
            // A write interrupted by a crash; the old file is intact.
            let _ = fs::remove_file(&path);
            continue;
        }
        if !(name.starts_with(SESSION_PREFIX) && name.ends_with(SESSION_SUFFIX)) {
            continue;
        }
        let result = read_regular(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| decode_session(&b).map_err(|e: FormatError| e.to_string()));
        match result {
            Ok(s) if file_name(&s.id) != name => set_aside(
                &path,
                "its name does not match its session id",
                &mut restored,
            ),
            Ok(s) if s.expires_at_ms <= now_ms => {
                let _ = fs::remove_file(&path);
                restored.expired.push(s.id);
            }
            Ok(s) => {
                tighten(&path, 0o600);
                restored.sessions.push(s);
            }
            Err(e) => set_aside(&path, &e, &mut restored),
        }
    }
    if restored.epoch.is_none() && !restored.sessions.is_empty() {
        // Sessions without the server's record: keep them, but in a new
        // lineage, so no device resumes on a guess.
        log::warn!(
            "state: {} is {server_state}, so the {} stored session(s) are restored without it: their devices get a full resync, and a new startup session is made (the old one stays until it expires or is deleted)",
            server.display(),
            restored.sessions.len()
        );
    }
    Ok(restored)
}

/// Takes away group and other access from a directory or file of ours
/// that has it (made by hand, or by an older build), leaving `mode`: they
/// hold the sessions' ids, the devices' only credential.
fn tighten(path: &Path, mode: u32) {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let Ok(meta) = fs::metadata(path) else { return };
    // SAFETY: geteuid has no preconditions.
    let ours = meta.uid() == unsafe { libc::geteuid() };
    if ours && meta.mode() & 0o077 != 0 {
        match fs::set_permissions(path, fs::Permissions::from_mode(mode)) {
            Ok(()) => log::info!(
                "state: {} was open to other users ({:o}); it is {mode:o} now",
                path.display(),
                meta.mode() & 0o777
            ),
            Err(e) => log::warn!(
                "state: {} is open to other users ({:o}) and cannot be made private: {e}",
                path.display(),
                meta.mode() & 0o777
            ),
        }
    }
}

/// Moves an unreadable file aside with a timestamped name and says so.
fn set_aside(path: &Path, why: &str, restored: &mut Restored) {
    let stamp = utc_stamp(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".bad-{stamp}"));
    let aside = PathBuf::from(aside);
    match fs::rename(path, &aside) {
        Ok(()) => log::warn!(
            "state: cannot read {} ({why}); moved it to {} and started without it",
            path.display(),
            aside.display()
        ),
        Err(e) => log::warn!(
            "state: cannot read {} ({why}) nor move it aside ({e}); ignoring it",
            path.display()
        ),
    }
    restored.set_aside += 1;
}

/// `20261204T181200Z` for a time in seconds since the epoch.
fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn file_name(id: &str) -> String {
    format!("{SESSION_PREFIX}{id}{SESSION_SUFFIX}")
}

fn encode_server(epoch: &str, startup: Option<&str>) -> Vec<u8> {
    let mut v = json!({
        "format": SERVER_FORMAT,
        "version": FORMAT_VERSION,
        "serverEpoch": epoch,
        "startupSession": startup,
    })
    .to_string()
    .into_bytes();
    v.push(b'\n');
    v
}

fn decode_server(bytes: &[u8]) -> Result<(String, Option<String>), String> {
    if bytes.is_empty() {
        return Err(FormatError::Empty.to_string());
    }
    let v: Value = serde_json::from_slice(bytes).map_err(|_| FormatError::Foreign.to_string())?;
    if v.get("format").and_then(Value::as_str) != Some(SERVER_FORMAT) {
        return Err(FormatError::Foreign.to_string());
    }
    if v.get("version").and_then(Value::as_u64) != Some(u64::from(FORMAT_VERSION)) {
        return Err(FormatError::Version(
            v.get("version").map(Value::to_string).unwrap_or_default(),
            "version 1",
        )
        .to_string());
    }
    let epoch = v
        .get("serverEpoch")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| "invalid content: no serverEpoch".to_string())?;
    let startup = v
        .get("startupSession")
        .and_then(Value::as_str)
        .map(String::from);
    Ok((epoch.to_string(), startup))
}

/// Writes `parts`, one after the other, to `dir/name` crash-safely:
/// temporary file (0600), fsync, rename, fsync of the directory.
pub fn write_atomic(dir: &Path, name: &str, parts: &[&[u8]]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        for part in parts {
            f.write_all(part)?;
        }
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, dir.join(name))?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// What the loop hands to the writer thread: changes, and whether to stop.
/// A mutex and a condition variable rather than a channel: the writer takes
/// everything queued at once, and it keeps the binary small.
#[derive(Default)]
struct Queue {
    ops: Mutex<(Vec<PersistOp>, bool)>,
    ready: Condvar,
}

/// The writer thread's end of the state directory.
pub struct Writer {
    dir: PathBuf,
    queue: Arc<Queue>,
    thread: Option<JoinHandle<()>>,
    /// The directory's lock, released when the writer goes.
    _lock: Option<File>,
}

impl Writer {
    /// Starts the writer for `dir`, holding its `lock` from [`open`].
    pub fn start(dir: PathBuf, interval: Duration, lock: Option<File>) -> io::Result<Writer> {
        let queue = Arc::new(Queue::default());
        let q = queue.clone();
        let writes_to = dir.clone();
        let thread = std::thread::Builder::new()
            .name("state-writer".into())
            .spawn(move || write_loop(&writes_to, interval, &q))?;
        Ok(Writer {
            dir,
            queue,
            thread: Some(thread),
            _lock: lock,
        })
    }

    /// The directory it writes to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Hands a change to the writer (never waits for a write).
    pub fn send(&self, op: PersistOp) {
        if let Ok(mut q) = self.queue.ops.lock() {
            q.0.push(op);
            self.queue.ready.notify_one();
        }
    }

    /// Writes everything pending and stops the thread.
    pub fn finish(&mut self) {
        if let Ok(mut q) = self.queue.ops.lock() {
            q.1 = true;
            self.queue.ready.notify_one();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.finish();
    }
}

enum Pending {
    Save(Box<SessionSnapshot>),
    Remove,
}

/// Waits for changes (until `due` when some are pending); returns them and
/// whether to stop.
fn take(queue: &Queue, due: Option<Instant>) -> (Vec<PersistOp>, bool) {
    let Ok(mut q) = queue.ops.lock() else {
        return (Vec::new(), true);
    };
    while q.0.is_empty() && !q.1 {
        match due {
            None => match queue.ready.wait(q) {
                Ok(g) => q = g,
                Err(_) => return (Vec::new(), true),
            },
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match queue.ready.wait_timeout(q, left) {
                    Ok((g, _)) => q = g,
                    Err(_) => return (Vec::new(), true),
                }
            }
        }
    }
    (std::mem::take(&mut q.0), q.1)
}

fn write_loop(dir: &Path, interval: Duration, queue: &Queue) {
    // Below the loop's priority: on a busy machine, encoding and writing a
    // big schema must not take the CPU from the thread serving devices.
    // SAFETY: setpriority only changes this thread's nice value (on Linux,
    // `who = 0` with PRIO_PROCESS names the calling thread).
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
    let mut sessions: HashMap<Arc<str>, Pending> = HashMap::new();
    let mut server: Option<Vec<u8>> = None;
    let mut last_write: Option<Instant> = None;
    let mut failing = false;
    loop {
        // While writes fail, what is pending is tried again once a second.
        let interval = if failing {
            interval.max(Duration::from_secs(1))
        } else {
            interval
        };
        let pending = !sessions.is_empty() || server.is_some();
        // Nothing pending: wait for a change. Pending: until it is due.
        let due = pending.then(|| last_write.map_or_else(Instant::now, |t| t + interval));
        let (ops, stop) = take(queue, due);
        for op in ops {
            match op {
                PersistOp::Save(s) => {
                    sessions.insert(s.id.clone(), Pending::Save(s));
                }
                PersistOp::Remove(id) => {
                    sessions.insert(id, Pending::Remove);
                }
                PersistOp::Server { epoch, startup } => {
                    server = Some(encode_server(&epoch, startup.as_deref()));
                }
            }
        }
        let due_now = last_write.is_none_or(|t| Instant::now() >= t + interval);
        if (stop || due_now) && (!sessions.is_empty() || server.is_some()) {
            let result = flush(dir, &mut sessions, &mut server);
            last_write = Some(Instant::now());
            match result {
                Ok(()) if failing => {
                    failing = false;
                    log::info!("state: writing to {} works again", dir.display());
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    log::warn!(
                        "state: cannot write to {}: {e}; serving from memory, sessions may not survive a restart (retrying quietly)",
                        dir.display()
                    );
                }
                Err(_) => {}
            }
        }
        if stop {
            let unwritten = sessions.len() + usize::from(server.is_some());
            if unwritten > 0 {
                log::warn!(
                    "state: {unwritten} change(s) could not be written to {} before exit; those sessions restart as they were last written",
                    dir.display()
                );
            }
            return;
        }
    }
}

/// Writes every pending change. What fails stays pending, to be tried
/// again (unless a later change of the same file replaces it): a push
/// acknowledged while the disk was full reaches it once there is room.
/// Returns the first error.
fn flush(
    dir: &Path,
    sessions: &mut HashMap<Arc<str>, Pending>,
    server: &mut Option<Vec<u8>>,
) -> io::Result<()> {
    let mut first_error = None;
    if let Some(bytes) = server.take() {
        if let Err(e) = write_atomic(dir, SERVER_FILE, &[&bytes]) {
            first_error.get_or_insert(e);
            *server = Some(bytes);
        }
    }
    let mut failed = Vec::new();
    for (id, pending) in sessions.drain() {
        let name = file_name(&id);
        let result = match &pending {
            Pending::Save(s) => {
                let schema = schema_bytes(s);
                let head = encode_head(s, &schema);
                write_atomic(dir, &name, &session_file_parts(s, &head, &schema))
            }
            Pending::Remove => match fs::remove_file(dir.join(&name)) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
        };
        if let Err(e) = result {
            first_error.get_or_insert(e);
            failed.push((id, pending));
        }
    }
    sessions.extend(failed);
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_times() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
        assert_eq!(utc_stamp(1_796_407_920), "20261204T181200Z");
    }

    #[test]
    fn server_record_round_trips_and_refuses_others() {
        let b = encode_server("e1", Some("s1"));
        assert_eq!(decode_server(&b).unwrap(), ("e1".into(), Some("s1".into())));
        assert!(decode_server(b"").unwrap_err().contains("empty"));
        assert!(decode_server(b"garbage").unwrap_err().contains("not a"));
        let other = br#"{"format":"lumora-hr-mini server state","version":9,"serverEpoch":"e"}"#;
        assert!(decode_server(other).unwrap_err().contains("version 9"));
    }
}
