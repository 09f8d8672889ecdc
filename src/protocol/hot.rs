//! A fast path for the two messages devices send all the time: `ack` (one
//! per update per device) and `ping` (a heartbeat).
//!
//! [`deserialize_message`](super::deserialize_message) builds a
//! `serde_json::Value` tree, validates it and converts it: a dozen small
//! allocations for a 150-byte ack. [`deserialize_message_ref`] reads the
//! same bytes in one pass straight into typed fields, borrowing the strings
//! from the input, and allocates nothing (an `ack` carrying an `error`
//! string is the one exception).
//!
//! It only answers when the answer is certain: for anything it does not
//! recognise as a plainly valid `ack` or `ping` (another type, a missing or
//! mistyped field, a duplicate key, an escaped key or string, a
//! non-integer timestamp, nesting deeper than serde_json's default 128
//! levels, ...) it returns `None`, and the full path decides — and reports
//! every problem. Whenever it returns `Some`, the full path would have
//! returned the same message (see the tests below, which check that on
//! random variations).

use super::message::{AckPayload, Message, Payload, PingPayload, PingStatus};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// An `ack` or `ping` whose strings borrow from the bytes it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRef<'a> {
    /// The session it names.
    pub session_id: &'a str,
    /// When it was made, ms since the epoch.
    pub timestamp: u64,
    /// Protocol version of the sender.
    pub version: &'a str,
    /// `Payload::Ack` or `Payload::Ping`.
    pub payload: Payload,
}

impl MessageRef<'_> {
    /// The owned message (what `deserialize_message` returns for the same
    /// bytes).
    pub fn into_message(self) -> Message {
        Message {
            session_id: self.session_id.to_string(),
            timestamp: self.timestamp,
            version: self.version.to_string(),
            payload: self.payload,
        }
    }
}

/// Decodes a valid `ack` or `ping` without building a JSON tree; `None`
/// means "use [`deserialize_message`](super::deserialize_message)", not
/// "invalid".
pub fn deserialize_message_ref(bytes: &[u8]) -> Option<MessageRef<'_>> {
    // One UTF-8 check for the whole text rather than one per string (the
    // full path reports invalid UTF-8).
    let text = std::str::from_utf8(bytes).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    let message = de.deserialize_map(EnvelopeVisitor).ok()?;
    de.end().ok()?;
    Some(message)
}

/// Stores the first value of a key; a second one gives up (the full path
/// keeps the last, and reports nothing, so let it decide).
fn once<T, E: de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::custom("duplicate key"));
    }
    *slot = Some(value);
    Ok(())
}

fn non_empty<E: de::Error>(s: &str) -> Result<&str, E> {
    if s.is_empty() {
        Err(E::custom("empty string"))
    } else {
        Ok(s)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = MessageRef<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MessageRef<'de>, A::Error> {
        let mut kind: Option<&'de str> = None;
        let mut session_id: Option<&'de str> = None;
        let mut timestamp: Option<u64> = None;
        let mut version: Option<&'de str> = None;
        // Outer `Some`: the key was seen; inner `None`: it was `null`.
        let mut payload: Option<Option<PayloadFields<'de>>> = None;
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "type" => once(&mut kind, map.next_value::<&'de str>()?)?,
                "sessionId" => once(&mut session_id, non_empty(map.next_value()?)?)?,
                "timestamp" => once(&mut timestamp, map.next_value::<u64>()?)?,
                "version" => once(&mut version, non_empty(map.next_value()?)?)?,
                "payload" => once(
                    &mut payload,
                    map.next_value::<Option<PayloadFields<'de>>>()?,
                )?,
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        let missing = || de::Error::custom("missing field");
        let payload = match kind.ok_or_else(missing)? {
            "ack" => {
                let p = payload.flatten().ok_or_else(missing)?;
                Payload::Ack(AckPayload {
                    sequence_number: p.sequence_number.ok_or_else(missing)?,
                    success: p.success.ok_or_else(missing)?,
                    error: p.error.map(str::to_string),
                    apply_time: p.apply_time,
                })
            }
            // Nothing in a ping is required: no payload, or `null`, is `{}`.
            "ping" => Payload::Ping(PingPayload {
                status: match payload.flatten().unwrap_or_default().status {
                    None => None,
                    Some("idle") => Some(PingStatus::Idle),
                    Some("rendering") => Some(PingStatus::Rendering),
                    Some("updating") => Some(PingStatus::Updating),
                    Some(_) => return Err(de::Error::custom("unknown status")),
                },
            }),
            _ => return Err(de::Error::custom("not a hot message type")),
        };
        Ok(MessageRef {
            session_id: session_id.ok_or_else(missing)?,
            timestamp: timestamp.ok_or_else(missing)?,
            version: version.ok_or_else(missing)?,
            payload,
        })
    }
}

/// The payload fields of `ack` and `ping` (the type may come after the
/// payload, so both are read and the type picks). A field of the other
/// type must still be well-typed here, else the full path decides.
#[derive(Default)]
struct PayloadFields<'a> {
    sequence_number: Option<u64>,
    success: Option<bool>,
    error: Option<&'a str>,
    apply_time: Option<f64>,
    status: Option<&'a str>,
}

impl<'de> Deserialize<'de> for PayloadFields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // `deserialize_map`, not a derive: a derived struct would also
        // accept a JSON array, which the full path refuses.
        d.deserialize_map(PayloadVisitor)
    }
}

struct PayloadVisitor;

impl<'de> Visitor<'de> for PayloadVisitor {
    type Value = PayloadFields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a payload object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PayloadFields<'de>, A::Error> {
        let mut p = PayloadFields::default();
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "sequenceNumber" => once(&mut p.sequence_number, map.next_value()?)?,
                "success" => once(&mut p.success, map.next_value()?)?,
                "error" => once(&mut p.error, map.next_value()?)?,
                "applyTime" => once(&mut p.apply_time, map.next_value()?)?,
                "status" => once(&mut p.status, map.next_value()?)?,
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(p)
    }
}

/// Reads and drops any JSON value through `deserialize_any`, so numbers,
/// strings and escapes are checked exactly as when building a `Value`
/// (`IgnoredAny` only skips syntax: it would let `1e999` through, which
/// the full path refuses as out of range).
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        // Keys as `Skip` too: escaped keys are checked, not borrowed.
        while map.next_key::<Skip>()?.is_some() {
            map.next_value::<Skip>()?;
        }
        Ok(Skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codec::deserialize_message_full;
    use proptest::prelude::*;

    const SID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

    /// The fast path never disagrees with the full path.
    fn agrees(text: &str) -> bool {
        let fast = deserialize_message_ref(text.as_bytes()).map(MessageRef::into_message);
        let full = deserialize_message_full(text.as_bytes(), true);
        if let Some(fast) = &fast {
            assert_eq!(Ok(fast), full.as_ref(), "{text}");
            let lenient = deserialize_message_full(text.as_bytes(), false);
            assert_eq!(Ok(fast), lenient.as_ref(), "{text}");
        }
        fast.is_some()
    }

    #[test]
    fn plain_acks_and_pings_take_the_fast_path() {
        for text in [
            format!(
                r#"{{"type":"ack","sessionId":"{SID}","timestamp":1732000000000,"version":"1.0.0","payload":{{"sequenceNumber":17,"success":true}}}}"#
            ),
            r#"{"payload":{"applyTime":1.5,"success":false,"error":"boom","sequenceNumber":0},"version":"1.2.3","timestamp":0,"sessionId":"s","type":"ack","extra":[1,{"a":null}]}"#
                .to_string(),
            format!(
                r#" {{ "type" : "ping" , "sessionId":"{SID}","timestamp":5,"version":"1.0.0","payload":{{}} }} "#
            ),
            format!(
                r#"{{"type":"ping","sessionId":"{SID}","timestamp":5,"version":"1.0.0","payload":{{"status":"rendering","sequenceNumber":3}}}}"#
            ),
            // As the reference library builds a ping without a status.
            format!(r#"{{"type":"ping","sessionId":"{SID}","timestamp":1,"version":"1.0.0"}}"#),
            format!(
                r#"{{"type":"ping","sessionId":"{SID}","timestamp":1,"version":"1.0.0","payload":null}}"#
            ),
        ] {
            assert!(agrees(&text), "{text}");
        }
    }

    #[test]
    fn anything_unusual_goes_to_the_full_path() {
        let ack = |payload: &str, rest: &str| {
            format!(
                r#"{{"type":"ack","sessionId":"{SID}","timestamp":1,"version":"1.0.0","payload":{payload}{rest}}}"#
            )
        };
        let refused = [
            ack(r#"{"sequenceNumber":1}"#, ""), // missing success
            ack(r#"{"sequenceNumber":-1,"success":true}"#, ""), // negative
            ack(r#"{"sequenceNumber":-0,"success":true}"#, ""), // -0 is a float
            ack(r#"{"sequenceNumber":1.0,"success":true}"#, ""), // not an integer
            ack(r#"{"sequenceNumber":1,"success":true,"error":null}"#, ""),
            ack(
                r#"{"sequenceNumber":1,"success":true,"applyTime":null}"#,
                "",
            ),
            ack(
                r#"{"sequenceNumber":1,"sequenceNumber":2,"success":true}"#,
                "",
            ),
            ack(r#"{"sequenceNumber":1,"success":true,"x":1e999}"#, ""),
            ack(r#"{"sequenceNumber":1,"success":true,"error":"a\nb"}"#, ""),
            ack(r#"{"sequence\u004eumber":1,"success":true}"#, ""),
            ack(r#"[1,true]"#, ""),
            ack("null", ""),
            ack(
                r#"{"sequenceNumber":1,"success":true}"#,
                r#","type":"ping""#,
            ),
            ack(r#"{"sequenceNumber":1,"success":true}"#, "} "), // trailing
            ack(r#"{"sequenceNumber":1,"success":true,"x":"\ud800"}"#, ""),
            r#"{"type":"ping","sessionId":"","timestamp":1,"version":"1.0.0","payload":{}}"#
                .to_string(),
            format!(
                r#"{{"type":"ping","sessionId":"{SID}","timestamp":1.5,"version":"1.0.0","payload":{{}}}}"#
            ),
            format!(
                r#"{{"type":"ping","sessionId":"{SID}","timestamp":1,"version":"1.0.0","payload":{{"status":"busy"}}}}"#
            ),
            format!(
                r#"{{"type":"log","sessionId":"{SID}","timestamp":1,"version":"1.0.0","payload":{{"message":"m","level":"info"}}}}"#
            ),
            // Deeper than serde_json's 128 levels, within the full path's 512.
            format!(
                r#"{{"type":"ping","sessionId":"{SID}","timestamp":1,"version":"1.0.0","payload":{{}},"x":{}{}}}"#,
                "[".repeat(200),
                "]".repeat(200)
            ),
        ];
        for text in refused {
            assert!(!agrees(&text), "fast path took {text}");
        }
    }

    /// Pieces that a message may be made of, valid or not.
    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(r#""type":"ack""#.to_string()),
            Just(r#""type":"ping""#.to_string()),
            Just(r#""type":"log""#.to_string()),
            Just(r#""type":"""#.to_string()),
            Just(format!(r#""sessionId":"{SID}""#)),
            Just(r#""sessionId":"""#.to_string()),
            Just(r#""sessionId":7"#.to_string()),
            Just(r#""timestamp":1732000000000"#.to_string()),
            Just(r#""timestamp":-3"#.to_string()),
            Just(r#""timestamp":2.5"#.to_string()),
            Just(r#""timestamp":"1""#.to_string()),
            Just(r#""version":"1.0.0""#.to_string()),
            Just(r#""version":"2.0""#.to_string()),
            Just(r#""extra":{"a":[1,2,{"b":"c\"d"}]}"#.to_string()),
            Just(r#""extra":1e400"#.to_string()),
            Just(r#""ty\u0070e":"ack""#.to_string()),
            payload().prop_map(|p| format!(r#""payload":{p}"#)),
            Just(r#""payload":null"#.to_string()),
        ]
    }

    fn payload() -> impl Strategy<Value = String> {
        let item = prop_oneof![
            Just(r#""sequenceNumber":3"#),
            Just(r#""sequenceNumber":18446744073709551615"#),
            Just(r#""sequenceNumber":18446744073709551616"#),
            Just(r#""sequenceNumber":-1"#),
            Just(r#""sequenceNumber":"3""#),
            Just(r#""success":true"#),
            Just(r#""success":false"#),
            Just(r#""success":1"#),
            Just(r#""error":"nope""#),
            Just(r#""error":null"#),
            Just(r#""applyTime":12"#),
            Just(r#""applyTime":0.25"#),
            Just(r#""applyTime":1e-7"#),
            Just(r#""applyTime":"x""#),
            Just(r#""status":"idle""#),
            Just(r#""status":"updating""#),
            Just(r#""status":"dancing""#),
            Just(r#""status":null"#),
            Just(r#""other":[true,null,"s"]"#),
        ];
        prop::collection::vec(item, 0..6).prop_map(|items| format!("{{{}}}", items.join(",")))
    }

    proptest! {
        #[test]
        fn fast_and_full_paths_agree(fields in prop::collection::vec(field(), 0..8), ws in any::<bool>()) {
            let sep = if ws { " , " } else { "," };
            let text = format!("{{{}}}", fields.join(sep));
            agrees(&text);
        }

        #[test]
        fn well_formed_messages_mostly_take_the_fast_path(
            kind in prop_oneof![Just("ack"), Just("ping")],
            p in payload(),
            order in any::<bool>(),
        ) {
            let text = if order {
                format!(r#"{{"type":"{kind}","sessionId":"{SID}","timestamp":1,"version":"1.0.0","payload":{p}}}"#)
            } else {
                format!(r#"{{"payload":{p},"version":"1.0.0","timestamp":1,"sessionId":"{SID}","type":"{kind}"}}"#)
            };
            agrees(&text);
        }
    }
}
