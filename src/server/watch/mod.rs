//! `--watch FILE`: schema files pushed to a session now and whenever they
//! change, without another thread.
//!
//! Each file is watched one of two ways, chosen when it is added and said
//! in the log (`watching FILE (inotify)` / `(polling every 100 ms: why)`):
//!
//! - **inotify** (Linux): one descriptor in the poll loop watches the
//!   file's directory. A version is complete when a writer closes the file
//!   (`IN_CLOSE_WRITE`) or a file is renamed onto its name (`IN_MOVED_TO`);
//!   it is read [`QUIET`] later, so the events of one save make one read.
//!   A write not yet closed (`IN_MODIFY`) is never read.
//! - **polling** ([`poll`]): every 100 ms from the timer wheel, where
//!   inotify is unavailable (other systems, no descriptors or watches left,
//!   network file systems, a symbolic link) or [`Config::watch_poll`] asks.
//!
//! Both end in [`Watch::check`]: read the file, skip a content identical to
//! the last one seen while it is still the session's latest, validate,
//! push. A broken file is logged and not
//! pushed; a missing one is reported once and picked up when it appears.
//!
//! [`Config::watch_poll`]: super::Config::watch_poll

#[cfg(target_os = "linux")]
mod inotify;
#[cfg(target_os = "linux")]
mod link;
mod poll;

use crate::hub::{Effect, Hub, HubError, Now};
use crate::protocol::{MAX_SCHEMA_BYTES, Schema, SchemaError, UpdateType};
use mio::{Registry, Token};
use poll::{Look, Poller};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Instant, SystemTime};

/// How long after a completed write (or rename) the file is read: the
/// events of one save (an editor's temp file, rename and backup) arrive
/// within microseconds, so a few milliseconds make them one push.
#[cfg(target_os = "linux")]
const QUIET: std::time::Duration = std::time::Duration::from_millis(5);
/// How long after a removal the file is looked at: an editor that moves
/// the old file away and writes a new one is not reported as a removal.
#[cfg(target_os = "linux")]
const GONE_QUIET: std::time::Duration = std::time::Duration::from_millis(50);

/// A timer the loop should arm: call [`Watches::on_timer`] with this index
/// at this time.
pub(crate) type Wake = (usize, Instant);

/// Why a file cannot be watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchError {
    /// The path names a directory; a schema file is needed.
    IsADirectory(PathBuf),
}

impl fmt::Display for WatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchError::IsADirectory(p) => write!(
                f,
                "{} is a directory; give the schema file to watch (e.g. {})",
                p.display(),
                p.join("app.json").display()
            ),
        }
    }
}

impl std::error::Error for WatchError {}

/// Refuses a path that names a directory (checked by the caller, before
/// the loop is asked to watch it).
pub(crate) fn refuse_directory(path: &Path) -> Result<(), WatchError> {
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) || path.file_name().is_none() {
        return Err(WatchError::IsADirectory(path.to_path_buf()));
    }
    Ok(())
}

/// Every watched file, and the inotify descriptor they share.
#[derive(Debug)]
pub(crate) struct Watches {
    list: Vec<Watch>,
    force_poll: bool,
    #[cfg(target_os = "linux")]
    inotify: Option<inotify::Inotify>,
    #[cfg(target_os = "linux")]
    events: Vec<inotify::Event>,
}

#[derive(Debug)]
enum How {
    #[cfg(target_os = "linux")]
    Inotify {
        wd: inotify::Wd,
        name: std::ffi::OsString,
        /// A write was seen and not yet closed.
        writing: bool,
        /// Where the folder led when watched, if through a symbolic link
        /// (resolved again every [`link::RELOOK`]).
        link: Option<PathBuf>,
    },
    Poll(Poller),
    Stopped,
}

/// What the last read of a file found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Not read yet.
    Nothing,
    Missing,
    NotAFile,
    TooLarge,
    Unreadable(io::ErrorKind),
    /// Content with this hash (pushed, or reported broken).
    Content(u64),
}

/// One watched file.
#[derive(Debug)]
struct Watch {
    session: String,
    path: PathBuf,
    how: How,
    /// When the pending timer should act (`None`: no timer pending). The
    /// wheel cannot cancel, so an earlier wish adds a timer and a timer
    /// firing before `due` is stale.
    due: Option<Instant>,
    seen: Seen,
    /// The session's latest schema when this file was last read.
    latest_then: Option<Weak<Schema>>,
    /// When a folder reached through a link is next resolved again.
    relook_at: Option<Instant>,
}

impl Watches {
    pub(crate) fn new(force_poll: bool) -> Watches {
        Watches {
            list: Vec::new(),
            force_poll,
            #[cfg(target_os = "linux")]
            inotify: None,
            #[cfg(target_os = "linux")]
            events: Vec::new(),
        }
    }

    /// Starts watching `path` for `session` and pushes it now. `token` is the loop's token for the inotify descriptor,
    /// registered here when first needed. Returns a timer to arm.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add(
        &mut self,
        registry: &Registry,
        token: Token,
        session: String,
        path: PathBuf,
        hub: &mut Hub,
        now: Now,
        fx: &mut Vec<Effect>,
    ) -> Result<Option<Wake>, HubError> {
        if hub.session(&session).is_none() {
            return Err(HubError::SessionNotFound);
        }
        if let Some(twin) = self.same_file(&session, &path) {
            log::warn!(
                "{} is the file already watched as {}: watched once",
                path.display(),
                twin.display()
            );
            return Ok(None);
        }
        let i = self.list.len();
        let how = self.choose(registry, token, &path, now.mono);
        let mut w = Watch {
            session,
            path,
            how,
            due: None,
            seen: Seen::Nothing,
            latest_then: None,
            relook_at: None,
        };
        if !w.check(hub, now, fx) {
            w.how = How::Stopped;
        }
        let wake = match w.how {
            How::Poll(_) => w.want(i, now.mono + poll::INTERVAL),
            #[cfg(target_os = "linux")]
            How::Inotify { link: Some(_), .. } => {
                let at = now.mono + link::RELOOK;
                w.relook_at = Some(at);
                Some((i, at))
            }
            _ => None,
        };
        self.list.push(w);
        Ok(wake)
    }

    /// The path under which `path` (spelled otherwise, or through a link)
    /// is already watched for `session`.
    fn same_file(&self, session: &str, path: &Path) -> Option<&Path> {
        let real = real_path(path)?;
        self.list
            .iter()
            .filter(|w| w.session == session)
            .find(|w| real_path(&w.path).is_some_and(|p| p == real))
            .map(|w| w.path.as_path())
    }

    /// Picks inotify when it can see this file's changes, else polling
    /// (logging why).
    fn choose(&mut self, registry: &Registry, token: Token, path: &Path, now: Instant) -> How {
        let reason = match self.try_inotify(registry, token, path) {
            #[cfg(target_os = "linux")]
            Ok(how @ How::Inotify { link: Some(_), .. }) => {
                log::info!(
                    "watching {} (inotify; its folder is reached through a symbolic link, looked at again every {} s)",
                    path.display(),
                    link::RELOOK.as_secs()
                );
                return how;
            }
            Ok(how) => {
                log::info!("watching {} (inotify)", path.display());
                return how;
            }
            Err(reason) => reason,
        };
        match reason {
            Some(r) => log::info!(
                "watching {} (polling every {} ms: {r})",
                path.display(),
                poll::INTERVAL.as_millis()
            ),
            None => log::info!(
                "watching {} (polling every {} ms)",
                path.display(),
                poll::INTERVAL.as_millis()
            ),
        }
        How::Poll(Poller::new(look(path), now))
    }

    #[cfg(not(target_os = "linux"))]
    fn try_inotify(&mut self, _: &Registry, _: Token, _: &Path) -> Result<How, Option<String>> {
        Err(self.force_poll.then(|| "as configured".to_string()))
    }

    /// inotify for `path`, or why not.
    #[cfg(target_os = "linux")]
    fn try_inotify(
        &mut self,
        registry: &Registry,
        token: Token,
        path: &Path,
    ) -> Result<How, Option<String>> {
        if self.force_poll {
            return Err(Some("as configured".into()));
        }
        let (Some(name), dir) = (path.file_name(), parent_dir(path)) else {
            return Err(None);
        };
        if is_symlink(path) {
            return Err(Some(
                "it is a symbolic link, whose target's changes raise no event in its folder".into(),
            ));
        }
        if let Some(fs) = inotify::remote_file_system(dir) {
            return Err(Some(format!(
                "on a {fs} file system, changes made elsewhere raise no events"
            )));
        }
        if self.inotify.is_none() {
            let ino = inotify::Inotify::new()
                .map_err(|e| Some(format!("inotify is unavailable: {e}")))?;
            let fd = ino.raw_fd();
            registry
                .register(
                    &mut mio::unix::SourceFd(&fd),
                    token,
                    mio::Interest::READABLE,
                )
                .map_err(|e| Some(format!("inotify is unavailable: {e}")))?;
            self.inotify = Some(ino);
        }
        let Some(ino) = &self.inotify else {
            return Err(None);
        };
        let wd = ino.watch_dir(dir).map_err(|e| {
            Some(match e.raw_os_error() {
                Some(libc::ENOSPC) => {
                    "no inotify watches left (raise the sysctl fs.inotify.max_user_watches)".into()
                }
                Some(libc::ENOENT) => format!("its folder {} does not exist", dir.display()),
                _ => format!("cannot watch its folder {}: {e}", dir.display()),
            })
        })?;
        Ok(How::Inotify {
            wd,
            name: name.to_os_string(),
            writing: false,
            link: link::resolved_if_linked(dir),
        })
    }

    /// The inotify descriptor is readable: reads its events and returns the
    /// timers to arm.
    #[cfg(target_os = "linux")]
    pub(crate) fn on_ready(&mut self, now: Now, wakes: &mut Vec<Wake>) {
        use inotify::Kind;
        let Some(ino) = &self.inotify else {
            return;
        };
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        if let Err(e) = ino.read(&mut events) {
            log::error!("inotify failed: {e}; watching by polling from now on");
            self.inotify = None;
            for (i, w) in self.list.iter_mut().enumerate() {
                if matches!(w.how, How::Inotify { .. }) {
                    w.how = How::Poll(Poller::new(Look::Absent, now.mono));
                    wakes.extend(w.want(i, now.mono));
                }
            }
            return;
        }
        for ev in &events {
            for (i, w) in self.list.iter_mut().enumerate() {
                let How::Inotify {
                    wd, name, writing, ..
                } = &mut w.how
                else {
                    continue;
                };
                let at = match ev.kind {
                    Kind::Overflow => {
                        *writing = false;
                        Some(QUIET)
                    }
                    Kind::DirGone if ev.wd == *wd && ev.name.is_empty() => {
                        log::warn!(
                            "{}: its folder was moved or removed; watching by polling every {} ms",
                            w.path.display(),
                            poll::INTERVAL.as_millis()
                        );
                        ino.unwatch(*wd);
                        w.how = How::Poll(Poller::new(Look::Absent, now.mono));
                        Some(std::time::Duration::ZERO)
                    }
                    _ if ev.wd != *wd || !ev.name_is(name) => None,
                    // A symbolic link put in its place (`ln -sf`, a link
                    // renamed onto it): its target's changes raise no event
                    // here, so it is polled from now on.
                    Kind::Complete | Kind::Created if is_symlink(&w.path) => {
                        log::info!(
                            "{}: now a symbolic link, whose target's changes raise no event in its folder; watching by polling every {} ms",
                            w.path.display(),
                            poll::INTERVAL.as_millis()
                        );
                        w.how = How::Poll(Poller::new(Look::Absent, now.mono));
                        Some(std::time::Duration::ZERO)
                    }
                    Kind::Complete => {
                        *writing = false;
                        Some(QUIET)
                    }
                    Kind::Gone => {
                        *writing = false;
                        Some(GONE_QUIET)
                    }
                    Kind::Writing => {
                        *writing = true;
                        None
                    }
                    // Made readable again: worth another look.
                    Kind::Attrib => matches!(w.seen, Seen::Unreadable(_)).then_some(QUIET),
                    Kind::Created | Kind::DirGone | Kind::Other => None,
                };
                if let Some(after) = at {
                    wakes.extend(w.want(i, now.mono + after));
                }
            }
        }
        self.events = events;
    }

    /// Without inotify there is no descriptor to be readable.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn on_ready(&mut self, _: Now, _: &mut Vec<Wake>) {}

    /// A timer of watch `i` fired: reads the file if it is due; returns the
    /// next timer to arm.
    pub(crate) fn on_timer(
        &mut self,
        i: usize,
        hub: &mut Hub,
        now: Now,
        fx: &mut Vec<Effect>,
    ) -> Option<Wake> {
        #[cfg(target_os = "linux")]
        if let Relooked::Done(wake) = self.relook(i, hub, now, fx) {
            return wake;
        }
        let w = self.list.get_mut(i)?;
        match w.due {
            Some(d) if now.mono >= d => w.due = None,
            _ => return None,
        }
        let keep = match &mut w.how {
            How::Stopped => return None,
            #[cfg(target_os = "linux")]
            How::Inotify { writing: true, .. } => true,
            #[cfg(target_os = "linux")]
            How::Inotify { .. } => w.check(hub, now, fx),
            How::Poll(p) => {
                if p.tick(look(&w.path), now.mono) {
                    w.check(hub, now, fx)
                } else {
                    w.session_alive(hub, now)
                }
            }
        };
        if !keep {
            w.how = How::Stopped;
            return None;
        }
        match w.how {
            How::Poll(_) => w.want(i, now.mono + poll::INTERVAL),
            _ => None,
        }
    }
}

impl Watches {
    /// The relook of watch `i`'s linked folder, when it is due: where the
    /// folder leads now, watched there (and the file read) when it moved.
    #[cfg(target_os = "linux")]
    fn relook(&mut self, i: usize, hub: &mut Hub, now: Now, fx: &mut Vec<Effect>) -> Relooked {
        let Some(w) = self.list.get_mut(i) else {
            return Relooked::NotDue;
        };
        if w.relook_at.is_none_or(|r| now.mono < r) {
            return Relooked::NotDue;
        }
        let How::Inotify {
            wd,
            link: Some(old),
            ..
        } = &mut w.how
        else {
            w.relook_at = None;
            return Relooked::NotDue;
        };
        let at = now.mono + link::RELOOK;
        w.relook_at = Some(at);
        let dir = parent_dir(&w.path);
        let Some(new) = std::fs::canonicalize(dir).ok().filter(|n| n != old) else {
            return Relooked::Done(Some((i, at)));
        };
        let watched = self.inotify.as_ref().map(|ino| ino.watch_dir(dir));
        match watched {
            Some(Ok(new_wd)) => {
                log::info!(
                    "{}: its folder now leads to {}; watching there",
                    w.path.display(),
                    new.display()
                );
                *wd = new_wd;
                *old = new;
            }
            _ => {
                log::warn!(
                    "{}: its folder now leads to {}, which cannot be watched; watching by polling every {} ms",
                    w.path.display(),
                    new.display(),
                    poll::INTERVAL.as_millis()
                );
                w.how = How::Poll(Poller::new(Look::Absent, now.mono));
                w.relook_at = None;
                w.due = None;
                return Relooked::Done(w.want(i, now.mono));
            }
        }
        if !w.check(hub, now, fx) {
            w.how = How::Stopped;
            return Relooked::Done(None);
        }
        Relooked::Done(Some((i, at)))
    }
}

/// What a timer found for a folder reached through a link.
#[cfg(target_os = "linux")]
enum Relooked {
    /// No relook was due: the timer is the file's own.
    NotDue,
    /// Relooked; the timer to arm next, if any.
    Done(Option<Wake>),
}

/// Whether `path` itself is a symbolic link.
#[cfg(target_os = "linux")]
fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// The folder holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Where `path` really is: the file resolved, or, while it does not exist
/// yet, its folder resolved and its name.
fn real_path(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok().or_else(|| {
        let name = path.file_name()?;
        Some(std::fs::canonicalize(parent_dir(path)).ok()?.join(name))
    })
}

fn look(path: &Path) -> Look {
    Look::take(path, SystemTime::now(), MAX_SCHEMA_BYTES)
}

/// Why a file could not be read.
enum Unread {
    Missing,
    NotAFile,
    TooLarge(u64),
    Io(io::Error),
}

/// Reads a schema file, at most [`MAX_SCHEMA_BYTES`].
fn read_file(path: &Path) -> Result<Vec<u8>, Unread> {
    let unread = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound => Unread::Missing,
        _ => Unread::Io(e),
    };
    // Looked at before it is opened: opening a FIFO would block the loop.
    let meta = std::fs::metadata(path).map_err(unread)?;
    if !meta.is_file() {
        return Err(Unread::NotAFile);
    }
    let limit = MAX_SCHEMA_BYTES as u64;
    if meta.len() > limit {
        return Err(Unread::TooLarge(meta.len()));
    }
    let bytes = std::fs::read(path).map_err(unread)?;
    if bytes.len() as u64 > limit {
        return Err(Unread::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

impl Watch {
    /// Asks for a timer at `at` unless one is due sooner.
    fn want(&mut self, i: usize, at: Instant) -> Option<Wake> {
        if self.due.is_some_and(|d| d <= at) {
            return None;
        }
        self.due = Some(at);
        Some((i, at))
    }

    /// Whether the session still takes pushes; says why watching stops
    /// when it does not.
    fn session_alive(&self, hub: &Hub, now: Now) -> bool {
        match hub.check_session(&self.session, now) {
            Ok(()) => true,
            Err(e) => {
                self.stop(&e);
                false
            }
        }
    }

    fn stop(&self, why: &HubError) {
        let why = match why {
            HubError::SessionExpired => {
                "its session expired (sessions live --session-timeout from creation or the last extend)"
            }
            _ => "its session was deleted",
        };
        log::warn!(
            "{}: no longer watched: {why}; restart the server to watch it in a new session",
            self.path.display()
        );
    }

    /// Whether the session's latest schema is still the one this file last
    /// gave (pushed, or refused while it was the latest): only then is an
    /// unchanged file nothing to do. After another push (another watched
    /// file, `push`), saving this one again makes it the latest.
    fn still_latest(&self, hub: &Hub) -> bool {
        let latest = hub.session(&self.session).and_then(|s| s.latest());
        match (&self.latest_then, latest) {
            (None, None) => true,
            (Some(w), Some(l)) => std::ptr::eq(w.as_ptr(), Arc::as_ptr(l)),
            _ => false,
        }
    }

    fn remember_latest(&mut self, hub: &Hub) {
        let latest = hub.session(&self.session).and_then(|s| s.latest());
        self.latest_then = latest.map(Arc::downgrade);
    }

    /// Reads the file and pushes it when its content is new and valid.
    /// Returns false when the session is gone and watching stops.
    fn check(&mut self, hub: &mut Hub, now: Now, fx: &mut Vec<Effect>) -> bool {
        if !self.session_alive(hub, now) {
            return false;
        }
        let before = self.seen;
        let path = self.path.display();
        let bytes = match read_file(&self.path) {
            Ok(b) => b,
            Err(why) => {
                let seen = match &why {
                    Unread::Missing => Seen::Missing,
                    Unread::NotAFile => Seen::NotAFile,
                    Unread::TooLarge(_) => Seen::TooLarge,
                    Unread::Io(e) => Seen::Unreadable(e.kind()),
                };
                self.seen = seen;
                if seen == before {
                    return true;
                }
                match why {
                    Unread::Missing if before == Seen::Nothing => {
                        log::warn!("{path} does not exist yet; it is pushed when it appears")
                    }
                    Unread::Missing => {
                        log::warn!("{path} was removed; it is pushed again when it comes back")
                    }
                    Unread::NotAFile => {
                        log::warn!("{path} is not a regular file; waiting for one")
                    }
                    Unread::TooLarge(len) => {
                        let e = SchemaError::TooLarge {
                            size: usize::try_from(len).unwrap_or(usize::MAX),
                            limit: MAX_SCHEMA_BYTES,
                        };
                        let told = hub.push_refused(&self.session, &e, now, fx);
                        log::error!(
                            "{path}: not pushed: {len} bytes, over the {MAX_SCHEMA_BYTES}-byte limit ({told} device(s) told)"
                        )
                    }
                    Unread::Io(e) => {
                        log::warn!(
                            "{path}: cannot read the file: {e}; trying again when it changes"
                        )
                    }
                }
                return true;
            }
        };
        let hash = poll::content_hash(&bytes);
        if before == Seen::Content(hash) && self.still_latest(hub) {
            log::debug!("{path}: saved without changes");
            return true;
        }
        self.seen = Seen::Content(hash);
        // Read as an edit of the session's latest schema where it is one.
        let latest = hub.session(&self.session).and_then(|s| s.latest());
        let schema = match Schema::from_vec_after(bytes, latest.map(|s| &**s)) {
            Ok(s) => s,
            Err(e) => {
                let told = hub.push_refused(&self.session, &e, now, fx);
                log::error!("{path}: not pushed: {e} ({told} device(s) told)");
                self.remember_latest(hub);
                return true;
            }
        };
        match before {
            Seen::Nothing => {}
            Seen::Missing => log::info!("{path} appeared"),
            _ => log::info!("{path} changed"),
        }
        match hub.push(&self.session, schema, true, now, fx) {
            Ok(o) if o.update_type == UpdateType::None => log::info!("{path}: no change to push"),
            Ok(_) => {}
            Err(e @ (HubError::SessionNotFound | HubError::SessionExpired)) => {
                self.stop(&e);
                return false;
            }
            Err(e) => log::error!("{path}: not pushed: {e}"),
        }
        self.remember_latest(hub);
        true
    }
}
