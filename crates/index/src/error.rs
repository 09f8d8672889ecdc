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
    /// Not JSON (syntax error, bad UTF-8, a lone surrogate, ...).
    Syntax(String),
    /// JSON, but a number beyond what a 64-bit float holds (`1E400`):
    /// its canonical form (RFC 8785), and so any checksum, does not exist.
    /// Says where (`at line L column C`).
    OutOfRange(String),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::TooDeep { limit } => {
                write!(f, "JSON nesting deeper than {limit} levels")
            }
            JsonError::Syntax(msg) => write!(f, "malformed JSON: {msg}"),
            JsonError::OutOfRange(at) => write!(
                f,
                "number out of range {at}: numbers must fit a 64-bit float (at most about 1.8e308) to have a checksum"
            ),
        }
    }
}

impl std::error::Error for JsonError {}
