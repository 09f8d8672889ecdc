//! A device's protocol state with no I/O: what it holds (schema, sequence
//! number), what it makes of each server message, and what it answers.

use crate::protocol::{
    ErrorPayload, Message, PROTOCOL_VERSION, Payload, PingStatus, ReloadReason, Resume,
    ResumePoint, Schema, SchemaDelta, UpdateBody, UpdateKind, apply_schema_delta,
    create_ack_message, create_connect_message, create_ping_message, create_reload_message,
    deserialize_message, serialize_message,
};
use std::time::Instant;

/// An update as the device applied it (or failed to).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The update's sequence number.
    pub sequence: u64,
    /// Full or incremental.
    pub kind: UpdateKind,
    /// For incremental updates: nodes added, modified and removed.
    pub changes: Option<(usize, usize, usize)>,
    /// The checksum the server announced.
    pub checksum: String,
    /// `None` when applied and verified; else why not (a reload was asked).
    pub error: Option<String>,
    /// Time to apply and verify, in ms.
    pub apply_ms: f64,
}

impl Applied {
    /// True when applied with a matching checksum.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// How a connection took up the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Join {
    /// No resume was asked for (nothing held yet).
    Fresh,
    /// The server granted the resume: the device kept its schema at `at`
    /// and `missed` updates follow.
    Resumed {
        /// The sequence number held.
        at: u64,
        /// Updates the server will send to catch up.
        missed: u64,
    },
    /// A resume was asked for and refused: the full schema came instead.
    FullResync(String),
}

/// What a server message meant.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `connected`, possibly with the current schema (checked like an update).
    Connected {
        /// The session's sequence number.
        sequence: u64,
        /// The initial schema, as applied.
        initial: Option<Applied>,
        /// Resumed or not.
        join: Join,
    },
    /// An `update`.
    Update(Applied),
    /// An `error` from the server.
    ServerError(ErrorPayload),
    /// A `pong`.
    Pong,
    /// Something this device does not act on, or could not decode.
    Other(String),
}

/// One device's view of its session.
#[derive(Debug, Clone)]
pub struct DeviceState {
    session_id: String,
    device_id: String,
    name: String,
    platform: String,
    schema: Option<Schema>,
    sequence: u64,
    /// `serverEpoch` of the server the schema came from.
    epoch: Option<String>,
}

impl DeviceState {
    /// A device that has not connected yet.
    pub fn new(session_id: &str, device_id: &str, name: &str, platform: &str) -> DeviceState {
        DeviceState {
            session_id: session_id.into(),
            device_id: device_id.into(),
            name: name.into(),
            platform: platform.into(),
            schema: None,
            sequence: 0,
            epoch: None,
        }
    }

    /// The schema held now.
    pub fn schema(&self) -> Option<&Schema> {
        self.schema.as_ref()
    }

    /// The sequence number of the schema held.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `connect` message (first thing sent on every connection); it
    /// names what the device holds, so that the server can resume it.
    pub fn connect_message(&self) -> String {
        let mut m = create_connect_message(
            &self.session_id,
            &self.device_id,
            &self.platform,
            Some(&self.name),
            PROTOCOL_VERSION,
        );
        if let (Payload::Connect(c), Some(point)) = (&mut m.payload, self.resume_point()) {
            c.resume = Some(Resume::From(point));
        }
        stamped(m)
    }

    /// What the device would resume from: its schema, number and the
    /// epoch of the server that sent them.
    pub fn resume_point(&self) -> Option<ResumePoint> {
        Some(ResumePoint {
            sequence_number: self.sequence,
            checksum: self.schema.as_ref()?.checksum().to_string(),
            server_epoch: self.epoch.clone()?,
        })
    }

    /// A protocol `ping`.
    pub fn ping_message(&self) -> String {
        stamped(create_ping_message(
            &self.session_id,
            Some(PingStatus::Idle),
        ))
    }

    /// Handles one text message from the server; returns what it meant and
    /// the messages to send back (acks, reloads).
    pub fn on_text(&mut self, text: &[u8]) -> (Event, Vec<String>) {
        let message = match deserialize_message(text, false) {
            Ok(m) => m,
            Err(e) => {
                return (
                    Event::Other(format!("undecodable message: {e}")),
                    Vec::new(),
                );
            }
        };
        match message.payload {
            Payload::Connected(c) => {
                let asked = self.resume_point();
                let join = match &asked {
                    Some(p) if c.resumed => Join::Resumed {
                        at: p.sequence_number,
                        missed: c.sequence_number.saturating_sub(p.sequence_number),
                    },
                    Some(p) => {
                        Join::FullResync(if c.server_epoch.as_ref() != Some(&p.server_epoch) {
                            "the server's state is new".to_string()
                        } else if p.sequence_number > c.sequence_number {
                            format!(
                                "the server is at #{}, behind the device's #{}",
                                c.sequence_number, p.sequence_number
                            )
                        } else if p.sequence_number == c.sequence_number {
                            format!("the device's checksum differs at #{}", p.sequence_number)
                        } else {
                            format!("the server cannot replay from #{}", p.sequence_number)
                        })
                    }
                    None => Join::Fresh,
                };
                self.epoch = c.server_epoch.clone();
                if matches!(join, Join::Resumed { .. }) {
                    // Keep what is held; the missed updates follow.
                    return (
                        Event::Connected {
                            sequence: c.sequence_number,
                            initial: None,
                            join,
                        },
                        Vec::new(),
                    );
                }
                let initial = c.initial_schema.map(|schema| {
                    let started = Instant::now();
                    let schema = Schema::clone(&schema);
                    let expected = c.checksum.clone().unwrap_or_default();
                    self.finish(
                        c.sequence_number,
                        UpdateKind::Full,
                        None,
                        expected,
                        Ok(schema),
                        started,
                    )
                });
                if initial.is_none() {
                    self.schema = None;
                    self.sequence = c.sequence_number;
                }
                let mut out = Vec::new();
                if let Some(a) = initial.as_ref().filter(|a| !a.ok()) {
                    out.push(self.reload_message(a.error.as_deref()));
                }
                (
                    Event::Connected {
                        sequence: c.sequence_number,
                        initial,
                        join,
                    },
                    out,
                )
            }
            Payload::Update(u) => {
                let started = Instant::now();
                let (kind, changes, result) = match u.body {
                    UpdateBody::Full(schema) => {
                        (UpdateKind::Full, None, Ok(Schema::clone(&schema)))
                    }
                    UpdateBody::Incremental(delta) => (
                        UpdateKind::Incremental,
                        Some((delta.added.len(), delta.modified.len(), delta.removed.len())),
                        self.apply_delta(u.sequence_number, &delta),
                    ),
                };
                let applied = self.finish(
                    u.sequence_number,
                    kind,
                    changes,
                    u.checksum,
                    result,
                    started,
                );
                let ack = create_ack_message(
                    &self.session_id,
                    applied.sequence,
                    applied.ok(),
                    applied.error.as_deref(),
                    Some(round3(applied.apply_ms)),
                );
                let mut out = vec![stamped(ack)];
                if !applied.ok() {
                    out.push(self.reload_message(applied.error.as_deref()));
                }
                (Event::Update(applied), out)
            }
            Payload::Error(e) => (Event::ServerError(e), Vec::new()),
            Payload::Pong(_) => (Event::Pong, Vec::new()),
            other => (
                Event::Other(format!("`{}` message", other.message_type().as_str())),
                Vec::new(),
            ),
        }
    }

    fn apply_delta(&self, sequence: u64, delta: &SchemaDelta) -> Result<Schema, String> {
        let Some(current) = &self.schema else {
            return Err("incremental update but no schema to apply it to".into());
        };
        if sequence != self.sequence + 1 {
            return Err(format!(
                "missed updates: holding #{}, got incremental #{sequence}",
                self.sequence
            ));
        }
        apply_schema_delta(current, delta).map_err(|e| e.to_string())
    }

    /// Verifies the checksum and keeps the result when it matches.
    fn finish(
        &mut self,
        sequence: u64,
        kind: UpdateKind,
        changes: Option<(usize, usize, usize)>,
        checksum: String,
        result: Result<Schema, String>,
        started: Instant,
    ) -> Applied {
        let error = match result {
            Ok(schema) if schema.checksum() == checksum => {
                self.schema = Some(schema);
                self.sequence = sequence;
                None
            }
            Ok(schema) => Some(format!(
                "checksum mismatch: expected {checksum}, got {}",
                schema.checksum()
            )),
            Err(e) => Some(e),
        };
        Applied {
            sequence,
            kind,
            changes,
            checksum,
            error,
            apply_ms: started.elapsed().as_secs_f64() * 1000.0,
        }
    }

    fn reload_message(&self, error: Option<&str>) -> String {
        stamped(create_reload_message(
            &self.session_id,
            ReloadReason::Error,
            error,
        ))
    }
}

/// A message as sent: stamped with the system clock now, as text.
fn stamped(m: Message) -> String {
    serialize_message(&m.at_wall_clock())
}

fn round3(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{calculate_checksum, create_full_update, create_incremental_update};
    use serde_json::{Value, json};
    use std::sync::Arc;

    fn schema(text: &str) -> Schema {
        Schema::from_value(json!({"version": "1", "metadata": {}, "nodes": [
            {"id": "root", "type": "View", "children": [{"id": "t", "type": "Text", "props": {"text": text}}]}
        ]}))
        .unwrap()
    }

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn applies_full_then_incremental_and_acks() {
        let mut d = DeviceState::new("s", "d1", "bot", "web");
        assert_eq!(parse(&d.connect_message())["payload"]["deviceName"], "bot");
        let v1 = schema("one");
        let full = serialize_message(&create_full_update("s", Arc::new(v1.clone()), 1, true));
        let (event, out) = d.on_text(full.as_bytes());
        let Event::Update(a) = event else { panic!() };
        assert!(a.ok() && a.kind == UpdateKind::Full && a.sequence == 1);
        assert_eq!(out.len(), 1);
        let ack = parse(&out[0]);
        assert_eq!(ack["type"], "ack");
        assert_eq!(ack["payload"]["success"], true);

        let v2 = schema("two");
        let delta = crate::protocol::calculate_schema_delta(&v1, &v2).unwrap();
        let inc = serialize_message(&create_incremental_update(
            "s",
            delta,
            2,
            v2.checksum(),
            true,
        ));
        let (event, out) = d.on_text(inc.as_bytes());
        let Event::Update(a) = event else { panic!() };
        assert!(a.ok(), "{:?}", a.error);
        assert_eq!(a.changes, Some((0, 1, 0)));
        assert_eq!(out.len(), 1);
        assert_eq!(
            d.schema().unwrap().checksum(),
            calculate_checksum(v2.as_value())
        );
        assert_eq!(d.sequence(), 2);
    }

    #[test]
    fn a_wrong_checksum_or_a_gap_asks_for_a_reload() {
        let mut d = DeviceState::new("s", "d1", "bot", "web");
        let v1 = schema("one");
        let mut bad = parse(&serialize_message(&create_full_update(
            "s",
            Arc::new(v1.clone()),
            1,
            true,
        )));
        bad["payload"]["checksum"] = json!("00000000");
        let (event, out) = d.on_text(bad.to_string().as_bytes());
        let Event::Update(a) = event else { panic!() };
        assert!(a.error.as_deref().unwrap().contains("checksum mismatch"));
        assert_eq!(out.len(), 2);
        assert_eq!(parse(&out[0])["payload"]["success"], false);
        assert_eq!(parse(&out[1])["type"], "reload");
        assert!(d.schema().is_none());

        let full = serialize_message(&create_full_update("s", Arc::new(v1.clone()), 1, true));
        d.on_text(full.as_bytes());
        let v2 = schema("two");
        let delta = crate::protocol::calculate_schema_delta(&v1, &v2).unwrap();
        let skipped = serialize_message(&create_incremental_update(
            "s",
            delta,
            3,
            v2.checksum(),
            true,
        ));
        let (event, out) = d.on_text(skipped.as_bytes());
        let Event::Update(a) = event else { panic!() };
        assert!(a.error.unwrap().contains("missed updates"));
        assert_eq!(parse(&out[1])["type"], "reload");
        assert_eq!(d.sequence(), 1);
    }
}
