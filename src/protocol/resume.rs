//! Resuming a session after a dropped connection or a server restart: what
//! a device says it holds in `connect`, read leniently so that a malformed
//! `resume` costs a full resync, never the connection.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// `connect.payload.resume`: the state a device holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumePoint {
    /// Sequence number of the schema held.
    pub sequence_number: u64,
    /// Its checksum.
    pub checksum: String,
    /// `serverEpoch` of the server that sent it.
    pub server_epoch: String,
}

/// A `resume` object as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// A well-formed resume point.
    From(ResumePoint),
    /// Something else; why it is not a resume point. Serialized as `null`.
    Malformed(String),
}

impl Serialize for Resume {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Resume::From(p) => p.serialize(s),
            Resume::Malformed(_) => s.serialize_none(),
        }
    }
}

impl<'de> Deserialize<'de> for Resume {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        // Only an object: serde would also take `[7, "…", "…"]` for the
        // struct, which is not what the protocol says a resume is.
        if !value.is_object() {
            return Ok(Resume::Malformed(format!(
                "expected an object {{sequenceNumber, checksum, serverEpoch}}, got {}",
                super::json::type_name(&value)
            )));
        }
        Ok(match serde_json::from_value::<ResumePoint>(value) {
            Ok(p) => Resume::From(p),
            Err(e) => Resume::Malformed(e.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn well_formed_and_malformed_resume_objects() {
        let r: Resume = serde_json::from_value(
            json!({"sequenceNumber": 4, "checksum": "0badf00d", "serverEpoch": "e"}),
        )
        .unwrap();
        assert_eq!(
            r,
            Resume::From(ResumePoint {
                sequence_number: 4,
                checksum: "0badf00d".into(),
                server_epoch: "e".into()
            })
        );
        for bad in [
            json!(7),
            json!("x"),
            json!({}),
            json!({"sequenceNumber": -1, "checksum": "a", "serverEpoch": "e"}),
            json!({"sequenceNumber": 1, "checksum": 5, "serverEpoch": "e"}),
            json!({"sequenceNumber": 1.5, "checksum": "a", "serverEpoch": "e"}),
            // The fields in order, as serde would read a struct from a list.
            json!([4, "0badf00d", "e"]),
        ] {
            let r: Resume = serde_json::from_value(bad.clone()).unwrap();
            assert!(matches!(r, Resume::Malformed(_)), "{bad}");
        }
    }
}
