//! Why a hub call failed; mapped to HTTP statuses and close codes by the server.

use super::*;

/// Why a hub operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubError {
    /// No such session.
    SessionNotFound,
    /// The session expired.
    SessionExpired,
    /// The session cap is reached.
    TooManySessions(usize),
    /// The session has no schema yet.
    NoSchema,
    /// No such device in the session.
    DeviceNotFound,
}

impl fmt::Display for HubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HubError::SessionNotFound => f.write_str("session not found"),
            HubError::SessionExpired => f.write_str("session expired"),
            HubError::TooManySessions(n) => write!(
                f,
                "too many sessions (limit {n}): delete one (DELETE /session/ID) or start the server with a higher --max-sessions"
            ),
            HubError::NoSchema => f.write_str("the session has no schema yet"),
            HubError::DeviceNotFound => f.write_str("device not found in this session"),
        }
    }
}

impl std::error::Error for HubError {}
