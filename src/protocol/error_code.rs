//! The protocol's error codes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Every error code a message or an HTTP error body may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// Malformed JSON or a message that fails validation.
    InvalidMessage,
    /// The peer speaks another major protocol version.
    UnsupportedVersion,
    /// No session with that id (or the message names another session).
    SessionNotFound,
    /// The session's lifetime ran out.
    SessionExpired,
    /// The first message was not `connect`, or a credential was refused.
    AuthenticationFailed,
    /// A pushed schema breaks the schema rules.
    SchemaValidationFailed,
    /// An update could not be applied.
    UpdateFailed,
    /// A device's schema does not match the announced checksum.
    ChecksumMismatch,
    /// Too many messages or requests.
    RateLimitExceeded,
    /// Something went wrong inside the server.
    InternalError,
}

impl ErrorCode {
    /// All ten codes.
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::InvalidMessage,
        ErrorCode::UnsupportedVersion,
        ErrorCode::SessionNotFound,
        ErrorCode::SessionExpired,
        ErrorCode::AuthenticationFailed,
        ErrorCode::SchemaValidationFailed,
        ErrorCode::UpdateFailed,
        ErrorCode::ChecksumMismatch,
        ErrorCode::RateLimitExceeded,
        ErrorCode::InternalError,
    ];

    /// The wire spelling, e.g. `SESSION_NOT_FOUND`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidMessage => "INVALID_MESSAGE",
            ErrorCode::UnsupportedVersion => "UNSUPPORTED_VERSION",
            ErrorCode::SessionNotFound => "SESSION_NOT_FOUND",
            ErrorCode::SessionExpired => "SESSION_EXPIRED",
            ErrorCode::AuthenticationFailed => "AUTHENTICATION_FAILED",
            ErrorCode::SchemaValidationFailed => "SCHEMA_VALIDATION_FAILED",
            ErrorCode::UpdateFailed => "UPDATE_FAILED",
            ErrorCode::ChecksumMismatch => "CHECKSUM_MISMATCH",
            ErrorCode::RateLimitExceeded => "RATE_LIMIT_EXCEEDED",
            ErrorCode::InternalError => "INTERNAL_ERROR",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spelling_matches_serde() {
        for c in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
        }
        assert_eq!(ErrorCode::parse("NOPE"), None);
    }
}
