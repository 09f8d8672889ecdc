//! A session's current state, encoded for the wire once.
//!
//! The schema's JSON is the big part of every frame that carries the whole
//! schema: a full broadcast, each device's `connected`, every resync
//! (`reload`, a slow device catching up, a push to one device). It is
//! serialized once per session state (sequence number), on first use, and
//! shared by all of them; each frame adds only a small head and tail of its
//! own. The resync frame itself is also kept whole, so a resync costs a
//! reference, not an encoding. Everything is dropped when the state changes.
//!
//! Heads and tails come from the message serializer itself: the message is
//! serialized with a tiny placeholder schema and cut where the placeholder
//! is, so the spliced frame is byte for byte what serializing the whole
//! message would give, whatever the message's layout.

use super::outbox::{Frame, SharedFrame, encode_message, push_text_frame_header};
use crate::protocol::{
    EncodedDelta, Message, Payload, Schema, SchemaDelta, UpdateBody, create_connected_message,
    create_full_update, create_update_message, serialize_message,
};
use std::sync::{Arc, OnceLock};

/// The encodings of one session state.
#[derive(Debug, Default)]
pub struct EncodedState {
    /// Sequence number the encodings belong to.
    sequence: u64,
    /// The schema's JSON.
    schema: Option<SharedFrame>,
    /// The full update sent to a single device (`preserveState: true`).
    resync: Option<Frame>,
}

impl EncodedState {
    /// Forgets every encoding: the session now holds state `sequence`.
    pub fn invalidate(&mut self, sequence: u64) {
        self.sequence = sequence;
        self.schema = None;
        self.resync = None;
    }

    /// The schema's JSON for state `sequence`, when it is encoded already.
    pub fn schema_json_if_made(&self, sequence: u64) -> Option<SharedFrame> {
        self.schema.clone().filter(|_| self.sequence == sequence)
    }

    /// True when the schema of state `sequence` is encoded already.
    pub fn has_schema(&self, sequence: u64) -> bool {
        self.sequence == sequence && self.schema.is_some()
    }

    /// The JSON of `schema`, the session's schema at `sequence`; counts an
    /// encoding in `encodings` when it had to be made.
    fn schema_json(&mut self, schema: &Schema, sequence: u64, encodings: &mut u64) -> SharedFrame {
        if self.sequence != sequence {
            self.invalidate(sequence);
        }
        if let Some(s) = &self.schema {
            return s.clone();
        }
        // The schema's bytes are its compact JSON: shared, not copied.
        let json: SharedFrame = schema.bytes().clone();
        *encodings += 1;
        self.schema = Some(json.clone());
        json
    }

    /// A full update of `schema` (the session's schema at `sequence`),
    /// for a broadcast or a resync.
    pub fn full_update(
        &mut self,
        session_id: &str,
        schema: &Arc<Schema>,
        sequence: u64,
        preserve_state: bool,
        now_ms: u64,
        encodings: &mut u64,
    ) -> Frame {
        let message = |schema: Arc<Schema>| {
            create_full_update(session_id, schema, sequence, preserve_state).at(now_ms)
        };
        let frame = placeholder().and_then(|(p, mark)| {
            let mut m = message(p.clone());
            if let Payload::Update(u) = &mut m.payload {
                u.checksum = schema.checksum().to_string();
            }
            self.splice(&m, mark, schema, sequence, encodings)
        });
        let frame = frame.unwrap_or_else(|| {
            *encodings += 1;
            Frame::Whole(encode_message(&message(schema.clone())))
        });
        if preserve_state && self.sequence == sequence && self.resync.is_none() {
            // The same bytes a resync would send.
            self.resync = Some(frame.clone());
        }
        frame
    }

    /// The full update a single device is resynced with: made once per
    /// session state and shared by every resync of it (so its timestamp is
    /// that of the first one, like a broadcast queued to a slow device).
    pub fn resync(
        &mut self,
        session_id: &str,
        schema: &Arc<Schema>,
        sequence: u64,
        now_ms: u64,
        encodings: &mut u64,
    ) -> Frame {
        if self.sequence == sequence {
            if let Some(f) = &self.resync {
                return f.clone();
            }
        }
        self.full_update(session_id, schema, sequence, true, now_ms, encodings)
    }

    /// `connected` for one connection: its own head (timestamp,
    /// `connectionId`) around the session's shared schema encoding.
    pub fn connected(
        &mut self,
        session_id: &str,
        connection_id: &str,
        schema: Option<&Arc<Schema>>,
        sequence: u64,
        (now_ms, epoch): (u64, &str),
        encodings: &mut u64,
    ) -> Frame {
        let message = |schema: Option<Arc<Schema>>| {
            let mut m =
                create_connected_message(session_id, connection_id, schema, sequence).at(now_ms);
            if let Payload::Connected(c) = &mut m.payload {
                c.server_epoch = Some(epoch.to_string());
            }
            m
        };
        let Some(schema) = schema else {
            return Frame::Whole(encode_message(&message(None)));
        };
        let frame = placeholder().and_then(|(p, mark)| {
            let mut m = message(Some(p.clone()));
            if let Payload::Connected(c) = &mut m.payload {
                c.checksum = Some(schema.checksum().to_string());
            }
            self.splice(&m, mark, schema, sequence, encodings)
        });
        frame.unwrap_or_else(|| {
            *encodings += 1;
            Frame::Whole(encode_message(&message(Some(schema.clone()))))
        })
    }

    /// `message` (carrying the placeholder, whose JSON is `mark`) with
    /// `schema`'s shared JSON in the placeholder's place; `None` if the
    /// placeholder is not found exactly once.
    fn splice(
        &mut self,
        message: &Message,
        mark: &str,
        schema: &Schema,
        sequence: u64,
        encodings: &mut u64,
    ) -> Option<Frame> {
        let text = serialize_message(message);
        let at = text.find(mark)?;
        let (before, after) = (&text[..at], &text[at + mark.len()..]);
        if after.contains(mark) {
            return None;
        }
        let json = self.schema_json(schema, sequence, encodings);
        let mut head = Vec::with_capacity(before.len() + 10);
        push_text_frame_header(&mut head, before.len() + json.len() + after.len());
        head.extend_from_slice(before.as_bytes());
        Some(Frame::WithSchema {
            head: head.into(),
            schema: json,
            tail: Arc::new(after.as_bytes().to_vec()),
        })
    }
}

/// An incremental update carrying `delta` (already JSON): the message is
/// serialized around a placeholder delta, which the delta's bytes replace,
/// so the changed nodes go out as they were pushed, never re-encoded.
pub fn incremental_update(
    session_id: &str,
    delta: &EncodedDelta,
    (sequence, preserve_state): (u64, bool),
    checksum: &str,
    now_ms: u64,
) -> Frame {
    let message = |body| {
        create_update_message(session_id, body, preserve_state, sequence, checksum).at(now_ms)
    };
    let placeholder = SchemaDelta {
        removed: vec![MARK.to_string()],
        ..SchemaDelta::default()
    };
    let spliced = serde_json::to_string(&placeholder).ok().and_then(|mark| {
        let text = serialize_message(&message(UpdateBody::Incremental(placeholder)));
        let at = text.find(&mark)?;
        let (before, after) = (&text[..at], &text[at + mark.len()..]);
        if after.contains(&mark) {
            return None;
        }
        let len = before.len() + delta.json.len() + after.len();
        let mut frame = Vec::with_capacity(len + 10);
        push_text_frame_header(&mut frame, len);
        frame.extend_from_slice(before.as_bytes());
        frame.extend_from_slice(&delta.json);
        frame.extend_from_slice(after.as_bytes());
        Some(Frame::Whole(frame.into()))
    });
    spliced.unwrap_or_else(|| {
        Frame::Whole(encode_message(&message(UpdateBody::Incremental(
            delta.to_delta(),
        ))))
    })
}

/// The placeholder schema's one distinctive string (control characters are
/// escaped in JSON, so no real session or connection id contains it).
const MARK: &str = "\u{1}lumora: the schema goes here\u{1}";

/// A tiny valid schema standing where the real one is spliced in, and its
/// JSON.
fn placeholder() -> Option<&'static (Arc<Schema>, String)> {
    static PLACEHOLDER: OnceLock<Option<(Arc<Schema>, String)>> = OnceLock::new();
    PLACEHOLDER
        .get_or_init(|| {
            let value = serde_json::json!({"version": MARK, "metadata": {}, "nodes": []});
            let schema = Schema::from_value(value).ok()?;
            let json = serde_json::to_string(&schema).ok()?;
            Some((Arc::new(schema), json))
        })
        .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::create_full_update;
    use serde_json::json;

    fn schema(n: usize) -> Arc<Schema> {
        let nodes: Vec<_> = (0..n)
            .map(|i| json!({"id": format!("n{i}"), "type": "Text", "props": {"text": "ünï \"q\" \u{1}"}}))
            .collect();
        Arc::new(
            Schema::from_value(json!({"version": "1", "metadata": {"generatedAt": 5}, "nodes": nodes, "theme": {"x": 1.5}}))
                .unwrap(),
        )
    }

    fn framed(message: &Message) -> Vec<u8> {
        encode_message(message).to_vec()
    }

    #[test]
    fn spliced_frames_are_the_whole_message_byte_for_byte() {
        // Lengths around the 126 and 65,536 frame-header thresholds.
        for n in [0, 1, 3, 1_000, 2_000] {
            let s = schema(n);
            let mut e = EncodedState::default();
            let mut encodings = 0;
            let c = e.connected("sess", "conn-1", Some(&s), 7, (42, "ep"), &mut encodings);
            let mut want = create_connected_message("sess", "conn-1", Some(s.clone()), 7).at(42);
            if let Payload::Connected(c) = &mut want.payload {
                c.server_epoch = Some("ep".into());
            }
            assert!(c.carries_schema());
            assert_eq!(c.to_vec(), framed(&want), "connected, {n} nodes");
            for preserve in [true, false] {
                let f = e.full_update("sess", &s, 7, preserve, 43, &mut encodings);
                let want = create_full_update("sess", s.clone(), 7, preserve).at(43);
                assert_eq!(f.to_vec(), framed(&want), "full, {n} nodes");
                assert_eq!(f.len(), f.to_vec().len());
            }
            assert_eq!(encodings, 1, "one schema encoding for everything");
        }
    }

    #[test]
    fn one_encoding_per_state_shared_by_connected_and_resyncs() {
        let s = schema(50);
        let mut e = EncodedState::default();
        let mut encodings = 0;
        let a = e.connected("sess", "a", Some(&s), 3, (1, "ep"), &mut encodings);
        let b = e.connected("sess", "b", Some(&s), 3, (2, "ep"), &mut encodings);
        let r1 = e.resync("sess", &s, 3, 3, &mut encodings);
        let r2 = e.resync("sess", &s, 3, 4, &mut encodings);
        assert_eq!(encodings, 1);
        assert_eq!(r1, r2, "the same shared resync frame");
        let (Frame::WithSchema { schema: sa, .. }, Frame::WithSchema { schema: sb, .. }) = (&a, &b)
        else {
            panic!("not spliced");
        };
        assert!(Arc::ptr_eq(sa, sb));
        assert_ne!(a.to_vec(), b.to_vec(), "each connection has its own id");
        // A new state: encoded again, once.
        let s2 = schema(51);
        e.invalidate(4);
        e.resync("sess", &s2, 4, 5, &mut encodings);
        e.connected("sess", "c", Some(&s2), 4, (6, "ep"), &mut encodings);
        assert_eq!(encodings, 2);
        let want = create_full_update("sess", s2.clone(), 4, true).at(5);
        assert_eq!(
            e.resync("sess", &s2, 4, 9, &mut encodings).to_vec(),
            framed(&want)
        );
    }

    #[test]
    fn connected_without_a_schema_is_one_small_frame() {
        let mut e = EncodedState::default();
        let mut encodings = 0;
        let c = e.connected("sess", "a", None, 0, (1, "ep"), &mut encodings);
        assert!(!c.carries_schema());
        assert_eq!(encodings, 0);
        let mut want = create_connected_message("sess", "a", None, 0).at(1);
        if let Payload::Connected(c) = &mut want.payload {
            c.server_epoch = Some("ep".into());
        }
        assert_eq!(c.to_vec(), framed(&want));
    }
}
