//! The thread-safe handle: other threads send commands over a channel and
//! wake the loop, which is the only owner of state, and wait for its answer.

use super::mailbox::{self, Sender};
use super::stats::Stats;
use super::watch::{self, WatchError};
use crate::hub::{DeviceView, HealthView, HubError, PushOutcome, SessionCreated, SessionView};
use crate::protocol::Schema;
use mio::Waker;
use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Why a handle call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandleError {
    /// The server has stopped (or never ran).
    Stopped,
    /// The hub refused.
    Hub(HubError),
    /// The file cannot be watched (`watch_file`).
    Watch(WatchError),
}

impl fmt::Display for HandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandleError::Stopped => f.write_str("the server is not running"),
            HandleError::Hub(e) => write!(f, "{e}"),
            HandleError::Watch(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for HandleError {}

impl From<HubError> for HandleError {
    fn from(e: HubError) -> Self {
        HandleError::Hub(e)
    }
}

/// What the loop answers, whatever the call: one channel type for every
/// call, so the channel code is compiled once rather than once per answer
/// type (several KiB of binary each).
type Answer = Result<Box<dyn Any + Send>, HubError>;

/// Where the loop sends the answer to a call returning `T`.
pub(crate) struct Reply<T> {
    tx: Sender<Answer>,
    answer: PhantomData<fn(T)>,
}

impl<T: Send + 'static> Reply<T> {
    /// Sends the answer; fails when the caller has gone.
    pub(crate) fn send(&self, answer: Result<T, HubError>) -> Result<(), ()> {
        let boxed = answer.map(|v| Box::new(v) as Box<dyn Any + Send>);
        self.tx.send(boxed).map_err(|_| ())
    }
}

/// A request to the loop.
pub(crate) enum Command {
    CreateSession(Reply<SessionCreated>),
    CreateStartupSession(Reply<SessionCreated>),
    GetSession(String, Reply<SessionView>),
    DeleteSession(String, Reply<()>),
    Push {
        session: String,
        schema: Box<Schema>,
        preserve_state: bool,
        reply: Reply<PushOutcome>,
    },
    PushToDevice {
        session: String,
        connection_id: String,
        reply: Reply<()>,
    },
    Health(String, Reply<HealthView>),
    Extend(String, Duration, Reply<u64>),
    Cleanup(Reply<usize>),
    ResyncAll(Reply<usize>),
    Stats(Reply<Stats>),
    Watch {
        session: String,
        path: PathBuf,
        reply: Reply<()>,
    },
    Shutdown,
}

/// A cloneable, `Send` handle on a running server.
#[derive(Clone)]
pub struct Handle {
    pub(crate) tx: Sender<Command>,
    pub(crate) waker: Arc<Waker>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Handle")
    }
}

impl Handle {
    fn call<T: 'static>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, HandleError> {
        let (tx, rx) = mailbox::channel();
        let reply = Reply {
            tx,
            answer: PhantomData,
        };
        self.tx
            .send(make(reply))
            .map_err(|_| HandleError::Stopped)?;
        self.waker.wake().map_err(|_| HandleError::Stopped)?;
        let answer = rx
            .recv()
            .map_err(|_| HandleError::Stopped)?
            .map_err(HandleError::Hub)?;
        // The loop answers a Reply<T> with a T; anything else cannot happen.
        answer
            .downcast::<T>()
            .map(|v| *v)
            .map_err(|_| HandleError::Stopped)
    }

    /// Creates a session.
    pub fn create_session(&self) -> Result<SessionCreated, HandleError> {
        self.call(Command::CreateSession)
    }

    /// Creates a session and makes it the server's startup session, the one
    /// `GET /session/startup` names (what the command line does at start).
    pub fn create_startup_session(&self) -> Result<SessionCreated, HandleError> {
        self.call(Command::CreateStartupSession)
    }

    /// Pushes the schema in the file at `path` to a session now and whenever
    /// the file changes: on Linux when a writer closes it or a file is
    /// renamed onto it (inotify, a few milliseconds later), elsewhere or
    /// with [`Config::watch_poll`](super::Config::watch_poll) once a change
    /// has held for 100 ms (polled every 100 ms). A file that is not a valid
    /// schema is logged with its path and the error, and not pushed; a
    /// missing one is pushed when it appears. Watching stops when the
    /// session is gone. Fails with [`HandleError::Watch`] for a directory.
    pub fn watch_file(&self, id: &str, path: impl Into<PathBuf>) -> Result<(), HandleError> {
        let path = path.into();
        watch::refuse_directory(&path).map_err(HandleError::Watch)?;
        self.call(|reply| Command::Watch {
            session: id.into(),
            path,
            reply,
        })
    }

    /// The session as `GET /session/:id` shows it (without `pageUrl`).
    pub fn get_session(&self, id: &str) -> Result<SessionView, HandleError> {
        self.call(|r| Command::GetSession(id.into(), r))
    }

    /// Deletes a session (devices get close 1000).
    pub fn delete_session(&self, id: &str) -> Result<(), HandleError> {
        self.call(|r| Command::DeleteSession(id.into(), r))
    }

    /// Pushes a schema to a session (`pushSchemaUpdate`).
    pub fn push_update(
        &self,
        id: &str,
        schema: Schema,
        preserve_state: bool,
    ) -> Result<PushOutcome, HandleError> {
        self.call(|reply| Command::Push {
            session: id.into(),
            schema: Box::new(schema),
            preserve_state,
            reply,
        })
    }

    /// Resends the current schema in full to one device, by `connectionId`.
    pub fn push_update_to_device(&self, id: &str, connection_id: &str) -> Result<(), HandleError> {
        self.call(|reply| Command::PushToDevice {
            session: id.into(),
            connection_id: connection_id.into(),
            reply,
        })
    }

    /// The session's registered devices (the `devices` of `GET /session/:id`).
    pub fn connected_devices(&self, id: &str) -> Result<Vec<DeviceView>, HandleError> {
        Ok(self.get_session(id)?.devices)
    }

    /// Device health as `GET /session/:id/health` shows it.
    pub fn session_health(&self, id: &str) -> Result<HealthView, HandleError> {
        self.call(|r| Command::Health(id.into(), r))
    }

    /// Extends a session by `by` from now; returns the new expiry (ms).
    pub fn extend_session(&self, id: &str, by: Duration) -> Result<u64, HandleError> {
        self.call(|r| Command::Extend(id.into(), by, r))
    }

    /// Closes devices silent for the idle timeout; returns how many.
    pub fn cleanup_stale_connections(&self) -> Result<usize, HandleError> {
        self.call(Command::Cleanup)
    }

    /// Sends every connected device its session's current schema in full
    /// (at the current sequence number); returns how many devices.
    pub fn resync_all(&self) -> Result<usize, HandleError> {
        self.call(Command::ResyncAll)
    }

    /// The `/stats` document.
    pub fn stats(&self) -> Result<Stats, HandleError> {
        self.call(Command::Stats)
    }

    /// Asks the server to stop: devices get close 1001 and `run` returns
    /// within the shutdown grace period.
    pub fn shutdown(&self) {
        if self.tx.send(Command::Shutdown).is_ok() {
            let _ = self.waker.wake();
        }
    }
}
