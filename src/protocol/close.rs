//! WebSocket close codes the server sends and the device client reads,
//! each with its meaning and, where it has one, the reason sent with it.

/// A close code with a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Close {
    /// 1000: the session was deleted, or the connection was idle too long.
    Normal,
    /// 1001: the server is shutting down.
    GoingAway,
    /// 1002: a frame broke the WebSocket protocol.
    ProtocolError,
    /// 1005: the close frame carried no code (never sent, only reported).
    NoStatus,
    /// 1007: a text frame was not valid UTF-8.
    InvalidPayload,
    /// 1008: over the rate limit for too long.
    PolicyViolation,
    /// 1009: a message larger than the limit.
    MessageTooBig,
    /// 1011: the server could not go on (an internal error).
    InternalError,
    /// 4400: no session id in the URL, or a message naming another session.
    SessionRequired,
    /// 4401: the first message was not `connect`, or it did not come in time.
    NotAuthenticated,
    /// 4404: no session with this id.
    SessionNotFound,
    /// 4410: the session expired.
    SessionExpired,
    /// 4426: another major protocol version.
    UnsupportedVersion,
}

/// The reason sent with [`Close::Normal`] when a device was silent too long.
pub const CONNECTION_TIMEOUT: &str = "Connection timeout";
/// The reason sent with [`Close::Normal`] when the session was deleted.
pub const SESSION_CLOSED: &str = "Session closed";

impl Close {
    /// Every code, in declaration order.
    pub const ALL: [Close; 13] = [
        Close::Normal,
        Close::GoingAway,
        Close::ProtocolError,
        Close::NoStatus,
        Close::InvalidPayload,
        Close::PolicyViolation,
        Close::MessageTooBig,
        Close::InternalError,
        Close::SessionRequired,
        Close::NotAuthenticated,
        Close::SessionNotFound,
        Close::SessionExpired,
        Close::UnsupportedVersion,
    ];

    /// The number on the wire.
    pub fn code(self) -> u16 {
        match self {
            Close::Normal => 1000,
            Close::GoingAway => 1001,
            Close::ProtocolError => 1002,
            Close::NoStatus => 1005,
            Close::InvalidPayload => 1007,
            Close::PolicyViolation => 1008,
            Close::MessageTooBig => 1009,
            Close::InternalError => 1011,
            Close::SessionRequired => 4400,
            Close::NotAuthenticated => 4401,
            Close::SessionNotFound => 4404,
            Close::SessionExpired => 4410,
            Close::UnsupportedVersion => 4426,
        }
    }

    /// The named code with this number, if the project uses it.
    pub fn from_code(code: u16) -> Option<Close> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The reason the server sends with this code, when it always sends the
    /// same one (1000 and 4401 have two, named at their call sites).
    pub fn reason(self) -> Option<&'static str> {
        Some(match self {
            Close::GoingAway => "Server shutting down",
            Close::ProtocolError => "Protocol error",
            Close::InvalidPayload => "Invalid UTF-8",
            Close::PolicyViolation => "Rate limit exceeded",
            Close::MessageTooBig => "Message too big",
            Close::InternalError => "Internal error",
            Close::SessionRequired => "Session ID required",
            Close::SessionNotFound => "Session not found",
            Close::SessionExpired => "Session expired",
            Close::UnsupportedVersion => "Unsupported protocol version",
            Close::Normal | Close::NotAuthenticated | Close::NoStatus => return None,
        })
    }
}

impl From<Close> for u16 {
    fn from(c: Close) -> u16 {
        c.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        for c in Close::ALL {
            assert_eq!(Close::from_code(c.code()), Some(c));
            assert_eq!(u16::from(c), c.code());
        }
        let mut codes: Vec<u16> = Close::ALL.iter().map(|c| c.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Close::ALL.len());
        for unknown in [0, 999, 1003, 1010, 4000, 4402, 4499, u16::MAX] {
            assert_eq!(Close::from_code(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn the_specified_codes_have_their_numbers_and_reasons() {
        assert_eq!(Close::SessionRequired.code(), 4400);
        assert_eq!(Close::NotAuthenticated.code(), 4401);
        assert_eq!(Close::SessionNotFound.code(), 4404);
        assert_eq!(Close::SessionExpired.code(), 4410);
        assert_eq!(Close::UnsupportedVersion.code(), 4426);
        assert_eq!(Close::GoingAway.code(), 1001);
        assert_eq!(Close::SessionRequired.reason(), Some("Session ID required"));
        assert_eq!(Close::SessionNotFound.reason(), Some("Session not found"));
        assert_eq!(Close::SessionExpired.reason(), Some("Session expired"));
        assert_eq!(Close::Normal.reason(), None);
        assert_eq!(Close::GoingAway.reason(), Some("Server shutting down"));
    }

    #[test]
    fn reasons_fit_a_close_frame() {
        // A close frame's reason is at most 123 bytes.
        for c in Close::ALL {
            assert!(c.reason().is_none_or(|r| !r.is_empty() && r.len() <= 123));
        }
    }
}
