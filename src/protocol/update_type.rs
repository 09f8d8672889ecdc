//! What an update is, and what a push did: typed names for the wire strings
//! `full`, `incremental`, `none` and `pending`.

use serde::{Serialize, Serializer};
use std::fmt;

/// The two kinds of `update` message: the whole schema or a delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateKind {
    /// The whole schema.
    Full,
    /// A delta against the previous schema.
    Incremental,
}

impl UpdateKind {
    /// `full` or `incremental`, as in an update's `payload.type`.
    pub fn as_str(self) -> &'static str {
        UpdateType::from(self).as_str()
    }
}

impl fmt::Display for UpdateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for UpdateKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What a push did, as in a push reply's `updateType`: an update of either
/// kind went out, nothing needed to, or it is held by coalescing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateType {
    /// The whole schema was sent.
    Full,
    /// A delta was sent.
    Incremental,
    /// Devices hold this schema already: nothing was sent.
    None,
    /// Held by coalescing until the window ends.
    Pending,
}

impl UpdateType {
    /// Every value, in declaration order.
    pub const ALL: [UpdateType; 4] = [
        UpdateType::Full,
        UpdateType::Incremental,
        UpdateType::None,
        UpdateType::Pending,
    ];

    /// The wire name: `full`, `incremental`, `none` or `pending`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateType::Full => "full",
            UpdateType::Incremental => "incremental",
            UpdateType::None => "none",
            UpdateType::Pending => "pending",
        }
    }

    /// The value with this wire name.
    pub fn parse(name: &str) -> Option<UpdateType> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The kind of update sent, when one was.
    pub fn kind(self) -> Option<UpdateKind> {
        match self {
            UpdateType::Full => Some(UpdateKind::Full),
            UpdateType::Incremental => Some(UpdateKind::Incremental),
            UpdateType::None | UpdateType::Pending => None,
        }
    }
}

impl From<UpdateKind> for UpdateType {
    fn from(kind: UpdateKind) -> Self {
        match kind {
            UpdateKind::Full => UpdateType::Full,
            UpdateKind::Incremental => UpdateType::Incremental,
        }
    }
}

impl fmt::Display for UpdateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for UpdateType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_and_serialize_as_json_strings() {
        let names: Vec<&str> = UpdateType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(names, ["full", "incremental", "none", "pending"]);
        for t in UpdateType::ALL {
            assert_eq!(UpdateType::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
            assert_eq!(t.to_string(), t.as_str());
        }
        assert_eq!(UpdateType::parse("Full"), None);
        assert_eq!(UpdateType::parse(""), None);
    }

    #[test]
    fn kinds_are_the_types_that_send_something() {
        for kind in [UpdateKind::Full, UpdateKind::Incremental] {
            let t = UpdateType::from(kind);
            assert_eq!(t.kind(), Some(kind));
            assert_eq!(kind.as_str(), t.as_str());
            assert_eq!(serde_json::to_value(kind).unwrap(), t.as_str());
        }
        assert_eq!(UpdateType::None.kind(), None);
        assert_eq!(UpdateType::Pending.kind(), None);
    }
}
