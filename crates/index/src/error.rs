//! What reading JSON bytes can fail with (the server's `protocol` layer
//! re-exports these).

use std::fmt;

/// Deepest container nesting accepted anywhere: 128 node levels need 257
/// JSON levels; the rest leaves room for nested props and message envelopes.
pub const MAX_JSON_DEPTH: usize = 512;

/// Why bytes could not become a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Containers nest deeper than the limit.
    TooDeep {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// Not JSON (syntax error, bad UTF-8, number out of range, ...).
    Syntax(String),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::TooDeep { limit } => {
                write!(f, "JSON nesting deeper than {limit} levels")
            }
            JsonError::Syntax(msg) => write!(f, "malformed JSON: {msg}"),
        }
    }
}

impl std::error::Error for JsonError {}
