//! `--watch FILE`: a schema file pushed to a session whenever it changes.
//!
//! No thread and no OS notification API: the loop's timer wheel calls
//! [`Watch::poll`] every [`INTERVAL`], which compares the file's
//! modification time and size with what it saw last. A change is pushed
//! once the file has stayed the same for [`SETTLE`], so an editor's
//! truncate-then-write is read whole, not half-written.

use crate::hub::{Effect, Hub, HubError, Now};
use crate::protocol::{MAX_SCHEMA_BYTES, Schema};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// How often a watched file is checked.
pub(crate) const INTERVAL: Duration = Duration::from_millis(100);
/// How long a change must hold before it is pushed.
pub(crate) const SETTLE: Duration = Duration::from_millis(100);

/// What identifies a version of the file without reading it; `None` when
/// it cannot be read (missing, permissions).
type Stamp = Option<(SystemTime, u64)>;

/// One watched file.
#[derive(Debug)]
pub(crate) struct Watch {
    session: String,
    path: PathBuf,
    /// What the last check saw, and since when.
    seen: Stamp,
    since: Instant,
    /// The version last acted on (`None` before the first check).
    done: Option<Stamp>,
}

impl Watch {
    pub(crate) fn new(session: String, path: PathBuf) -> Watch {
        Watch {
            session,
            path,
            seen: None,
            since: Instant::now(),
            done: None,
        }
    }

    /// Checks the file; pushes it on the first call and after each settled
    /// change. Returns false when the session is gone and watching stops.
    pub(crate) fn poll(&mut self, hub: &mut Hub, now: Now, fx: &mut Vec<Effect>) -> bool {
        if hub.session(&self.session).is_none() {
            log::warn!(
                "{}: no longer watched: the session is gone",
                self.path.display()
            );
            return false;
        }
        let stamp = std::fs::metadata(&self.path)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        let first = self.done.is_none();
        if stamp != self.seen {
            self.seen = stamp;
            self.since = now.mono;
            if !first {
                return true;
            }
        }
        let settled = now.mono.saturating_duration_since(self.since) >= SETTLE;
        if self.done == Some(stamp) || !(first || settled) {
            return true;
        }
        self.done = Some(stamp);
        let path = self.path.display();
        let Some((_, len)) = stamp else {
            log::warn!("{path}: cannot read the file; waiting for it to appear");
            return true;
        };
        if len > MAX_SCHEMA_BYTES as u64 {
            log::error!("{path}: not pushed: {len} bytes, over the {MAX_SCHEMA_BYTES}-byte limit");
            return true;
        }
        let schema = match std::fs::read(&self.path) {
            Ok(bytes) => Schema::from_slice(&bytes),
            Err(e) => {
                log::warn!("{path}: cannot read the file: {e}");
                return true;
            }
        };
        let schema = match schema {
            Ok(s) => s,
            Err(e) => {
                log::error!("{path}: not pushed: {e}");
                return true;
            }
        };
        if !first {
            log::info!("{path} changed");
        }
        match hub.push(&self.session, schema, true, now, fx) {
            Ok(o) if o.update_type == "none" => log::info!("{path}: no change to push"),
            Ok(_) => {}
            Err(e @ (HubError::SessionNotFound | HubError::SessionExpired)) => {
                log::warn!("{path}: no longer watched: {e}");
                return false;
            }
            Err(e) => log::error!("{path}: not pushed: {e}"),
        }
        true
    }
}
