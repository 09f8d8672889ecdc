//! The hub driven directly: no sockets, time passed in.

use super::*;
use crate::protocol::{Message, UpdateBody, UpdateType, deserialize_message};
use serde_json::json;

fn peer() -> SocketAddr {
    "127.0.0.1:5000".parse().unwrap()
}

fn schema(text: &str) -> Schema {
    Schema::from_value(json!({"version": "1", "metadata": {}, "nodes": [
        {"id": "root", "type": "View", "children": [{"id": "t", "type": "Text", "props": {"text": text}}]}
    ]}))
    .unwrap()
}

fn decode(frame: &Frame) -> Message {
    // Server frames here are short text frames: 2-byte header, or 4 with a
    // 16-bit length.
    let frame = frame.to_vec();
    let offset = if frame[1] == 126 {
        4
    } else if frame[1] == 127 {
        10
    } else {
        2
    };
    deserialize_message(&frame[offset..], true).unwrap()
}

struct Fixture {
    hub: Hub,
    now: Now,
    session: String,
    fx: Vec<Effect>,
}

impl Fixture {
    fn new(cfg: HubConfig) -> Fixture {
        let now = Now::current();
        let mut hub = Hub::with_ids(cfg, Box::new(SequentialIds::default()));
        let fx = Vec::new();
        let session = hub.create_session(now).unwrap().session_id;
        Fixture {
            hub,
            now,
            session,
            fx,
        }
    }

    fn advance(&mut self, ms: u64) {
        self.now = self.now.plus(Duration::from_millis(ms));
    }

    fn connect(&mut self, key: usize) -> ConnId {
        let conn = ConnId {
            key,
            generation: key as u64,
        };
        self.hub
            .ws_opened(conn, Some(&self.session), peer(), self.now, &mut self.fx);
        let msg = crate::protocol::create_connect_message(
            &self.session,
            &format!("d{key}"),
            "ios",
            None,
            "1.0.0",
        );
        let text = crate::protocol::serialize_message(&msg);
        self.hub
            .on_text(conn, text.as_bytes(), self.now, &mut self.fx);
        conn
    }

    fn take(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.fx)
    }
}

fn no_coalesce() -> HubConfig {
    HubConfig {
        coalesce: Duration::ZERO,
        ..HubConfig::default()
    }
}

#[test]
fn connect_is_answered_and_broadcasts_reach_every_device_with_one_frame() {
    let mut f = Fixture::new(no_coalesce());
    let a = f.connect(1);
    let b = f.connect(2);
    let fx = f.take();
    let connected = fx
        .iter()
        .filter(|e| matches!(e, Effect::SendConnected { .. }))
        .count();
    assert_eq!(connected, 2);
    let out = f
        .hub
        .push(&f.session.clone(), schema("x"), true, f.now, &mut f.fx)
        .unwrap();
    assert_eq!(
        (out.update_type, out.sequence_number, out.clients_updated),
        (UpdateType::Full, 1, 2)
    );
    match f.take().as_slice() {
        [Effect::Broadcast { conns, frame }] => {
            let mut conns = conns.clone();
            conns.sort_by_key(|c| c.key);
            assert_eq!(conns, vec![a, b]);
            assert_eq!(decode(frame).message_type().as_str(), "update");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ids_come_from_the_injected_source() {
    let mut f = Fixture::new(no_coalesce());
    assert_eq!(f.session, "00000000-0000-4000-8000-000000000001");
    f.connect(1);
    let Some(Effect::SendConnected { frame, .. }) = f
        .take()
        .into_iter()
        .find(|e| matches!(e, Effect::SendConnected { .. }))
    else {
        panic!("no connected message");
    };
    let connected = serde_json::to_value(decode(&frame)).unwrap();
    assert_eq!(
        connected["payload"]["connectionId"],
        "00000000-0000-4000-8000-000000000002"
    );
}

#[test]
fn disconnect_keeps_the_device_list_consistent() {
    let mut f = Fixture::new(no_coalesce());
    let conns: Vec<ConnId> = (1..=5).map(|k| f.connect(k)).collect();
    f.hub.disconnect(conns[1]);
    f.hub.disconnect(conns[0]);
    f.hub.disconnect(conns[0]); // twice is harmless
    f.take();
    f.hub
        .push(&f.session.clone(), schema("x"), true, f.now, &mut f.fx)
        .unwrap();
    let Some(Effect::Broadcast { conns: to, .. }) = f.take().pop() else {
        panic!()
    };
    let mut keys: Vec<usize> = to.iter().map(|c| c.key).collect();
    keys.sort();
    assert_eq!(keys, vec![3, 4, 5]);
    assert_eq!(f.hub.device_count(), 3);
}

#[test]
fn coalescing_holds_then_broadcasts_the_latest_as_a_delta() {
    let mut f = Fixture::new(HubConfig::default());
    let id = f.session.clone();
    f.connect(1);
    assert_eq!(
        f.hub
            .push(&id, schema("a"), true, f.now, &mut f.fx)
            .unwrap()
            .sequence_number,
        1
    );
    f.take();
    f.advance(10);
    let held = f
        .hub
        .push(&id, schema("b"), true, f.now, &mut f.fx)
        .unwrap();
    assert_eq!(
        (held.update_type, held.batched, held.sequence_number),
        (UpdateType::Pending, true, 1)
    );
    f.advance(10);
    f.hub
        .push(&id, schema("c"), true, f.now, &mut f.fx)
        .unwrap();
    let timers: Vec<Effect> = f.take();
    assert_eq!(
        timers.len(),
        1,
        "one flush timer for the window: {timers:?}"
    );
    let Effect::Schedule { at, timer } = timers[0].clone() else {
        panic!()
    };
    assert_eq!(
        at,
        f.now.mono - Duration::from_millis(20) + Duration::from_millis(100)
    );
    f.hub
        .on_timer(timer, f.now.plus(Duration::from_millis(80)), &mut f.fx);
    let Some(Effect::Broadcast { frame, .. }) = f.take().pop() else {
        panic!()
    };
    let Payload::Update(u) = decode(&frame).payload else {
        panic!()
    };
    assert_eq!(u.sequence_number, 2);
    assert_eq!(u.checksum, schema("c").checksum());
    assert!(matches!(u.body, UpdateBody::Incremental(_)));
}

#[test]
fn expiry_closes_devices_with_4410_and_remembers_the_id() {
    let mut f = Fixture::new(HubConfig {
        session_ttl: Duration::from_secs(60),
        ..no_coalesce()
    });
    let id = f.session.clone();
    let conn = f.connect(1);
    f.take();
    let sweep = |f: &mut Fixture| {
        f.hub.on_timer(HubTimer::SessionSweep, f.now, &mut f.fx);
        let fx = f.take();
        assert!(
            fx.iter().any(|e| matches!(
                e,
                Effect::Schedule {
                    timer: HubTimer::SessionSweep,
                    ..
                }
            )),
            "the sweep re-arms itself: {fx:?}"
        );
        fx
    };
    // Extended meanwhile: the sweep at the original expiry leaves it alone.
    f.advance(30_000);
    f.hub
        .extend_session(&id, Duration::from_secs(60), f.now)
        .unwrap();
    f.advance(30_000);
    assert_eq!(sweep(&mut f).len(), 1, "only the re-arm");
    assert_eq!(f.hub.session_count(), 1);
    f.advance(30_000);
    f.fx = sweep(&mut f);
    let fx = f.take();
    assert!(
        fx.contains(&Effect::Close {
            conn,
            code: Close::SessionExpired,
            reason: "Session expired"
        }),
        "{fx:?}"
    );
    assert_eq!(f.hub.session_count(), 0);
    assert_eq!(
        f.hub.push(&id, schema("x"), true, f.now, &mut f.fx),
        Err(HubError::SessionExpired)
    );
    let late = ConnId {
        key: 9,
        generation: 9,
    };
    f.hub.ws_opened(late, Some(&id), peer(), f.now, &mut f.fx);
    assert_eq!(
        f.take(),
        vec![Effect::Close {
            conn: late,
            code: Close::SessionExpired,
            reason: "Session expired"
        }]
    );
}

#[test]
fn first_message_must_be_connect_and_the_deadline_is_enforced() {
    let mut f = Fixture::new(no_coalesce());
    let a = ConnId {
        key: 1,
        generation: 1,
    };
    f.hub
        .ws_opened(a, Some(&f.session.clone()), peer(), f.now, &mut f.fx);
    let ping =
        crate::protocol::serialize_message(&crate::protocol::create_ping_message(&f.session, None));
    f.hub.on_text(a, ping.as_bytes(), f.now, &mut f.fx);
    let fx = f.take();
    assert!(
        fx.contains(&Effect::Close {
            conn: a,
            code: Close::NotAuthenticated,
            reason: "Connect required"
        }),
        "{fx:?}"
    );

    let b = ConnId {
        key: 2,
        generation: 2,
    };
    f.hub
        .ws_opened(b, Some(&f.session.clone()), peer(), f.now, &mut f.fx);
    let Some(Effect::Schedule { timer, .. }) = f.take().pop() else {
        panic!()
    };
    f.hub
        .on_timer(timer, f.now.plus(Duration::from_secs(10)), &mut f.fx);
    assert!(f.take().contains(&Effect::Close {
        conn: b,
        code: Close::NotAuthenticated,
        reason: "Connect timeout"
    }));
}

#[test]
fn stale_generations_are_ignored() {
    let mut f = Fixture::new(no_coalesce());
    let old = f.connect(1);
    f.hub.disconnect(old);
    let new = ConnId {
        key: 1,
        generation: 99,
    };
    f.hub
        .ws_opened(new, Some(&f.session.clone()), peer(), f.now, &mut f.fx);
    f.take();
    // A deadline meant for the old connection must not touch the new one.
    f.hub.on_timer(
        HubTimer::ConnectDeadline(old),
        f.now.plus(Duration::from_secs(60)),
        &mut f.fx,
    );
    assert!(f.take().is_empty());
    f.hub.on_text(old, b"{}", f.now, &mut f.fx);
    assert!(f.take().is_empty());
}

#[test]
fn joins_and_reloads_share_the_state_encoded_once_until_it_changes() {
    let mut f = Fixture::new(no_coalesce());
    let session = f.session.clone();
    f.hub
        .push(&session, schema("x"), true, f.now, &mut f.fx)
        .unwrap();
    assert_eq!(f.hub.counters().schema_encodings, 1, "the broadcast");
    let a = f.connect(1);
    let reload = crate::protocol::serialize_message(&crate::protocol::create_reload_message(
        &session,
        crate::protocol::ReloadReason::Manual,
        None,
    ));
    for _ in 0..3 {
        f.hub.on_text(a, reload.as_bytes(), f.now, &mut f.fx);
    }
    let schema_part = |frame: &Frame| match frame {
        Frame::WithSchema { schema, .. } => schema.clone(),
        Frame::Whole(_) => panic!("not spliced around the shared schema"),
    };
    let fx = f.take();
    let connected: Vec<_> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::SendConnected { frame, .. } => Some(schema_part(frame)),
            _ => None,
        })
        .collect();
    let resyncs: Vec<_> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Resync { conn, frame } => Some((*conn, frame.clone())),
            _ => None,
        })
        .collect();
    assert_eq!((connected.len(), resyncs.len()), (1, 3));
    for (conn, frame) in &resyncs {
        assert_eq!(*conn, a);
        assert_eq!(frame, &resyncs[0].1, "one shared resync frame");
        assert!(Arc::ptr_eq(&schema_part(frame), &connected[0]));
        let Payload::Update(u) = decode(frame).payload else {
            panic!("not an update")
        };
        assert_eq!((u.sequence_number, u.preserve_state), (1, true));
    }
    assert_eq!(f.hub.counters().schema_encodings, 1, "nothing re-encoded");
    assert_eq!(f.hub.counters().resyncs, 3);
    // The state changes: the next resync is a new encoding of the new schema.
    f.hub
        .push(&session, schema("y"), true, f.now, &mut f.fx)
        .unwrap();
    f.take();
    f.hub.on_text(a, reload.as_bytes(), f.now, &mut f.fx);
    let Some(Effect::Resync { frame, .. }) = f.take().pop() else {
        panic!("no resync")
    };
    let Payload::Update(u) = decode(&frame).payload else {
        panic!("not an update")
    };
    assert_eq!(u.sequence_number, 2);
    assert_eq!(u.checksum, schema("y").checksum());
    assert_eq!(f.hub.counters().schema_encodings, 2);
}

#[test]
fn views_say_what_the_hub_holds() {
    let mut f = Fixture::new(no_coalesce());
    let id = f.session.clone();
    let view = f.hub.session_view(&id, f.now).unwrap();
    assert_eq!(
        (
            view.connected_devices,
            view.sequence_number,
            view.has_schema
        ),
        (0, 0, false)
    );
    assert_eq!(view.checksum, None);
    let a = f.connect(1);
    f.connect(2);
    let pushed = schema("x");
    let checksum = pushed.checksum().to_string();
    f.hub.push(&id, pushed, true, f.now, &mut f.fx).unwrap();

    let view = f.hub.session_view(&id, f.now).unwrap();
    assert_eq!(&*view.session_id, id);
    assert_eq!((view.connected_devices, view.sequence_number), (2, 1));
    assert_eq!(view.checksum.as_deref(), Some(checksum.as_str()));
    assert!(view.has_schema);
    let mut devices: Vec<&str> = view.devices.iter().map(|d| d.device_id.as_str()).collect();
    devices.sort();
    assert_eq!(devices, ["d1", "d2"]);
    assert!(view.devices.iter().all(|d| d.address == peer()));

    // d1 reports a failed apply: unhealthy at once; d2 stays healthy.
    let ack = json!({"type": "ack", "sessionId": id, "timestamp": 1, "version": "1.0.0",
                     "payload": {"sequenceNumber": 1, "success": false, "applyTime": 2.5}});
    f.hub
        .on_text(a, ack.to_string().as_bytes(), f.now, &mut f.fx);
    let h = f.hub.health_view(&id, f.now).unwrap();
    assert_eq!(
        (h.total_devices, h.healthy_devices, h.unhealthy_devices),
        (2, 1, 1)
    );
    let d1 = h.devices.iter().find(|d| d.device_id == "d1").unwrap();
    assert!(!d1.healthy);
    assert_eq!(
        (d1.last_ack_sequence, d1.last_ack_success, d1.sequence_lag),
        (Some(1), Some(false), Some(0))
    );
    assert_eq!(d1.last_apply_time_ms, Some(2.5));
    let d2 = h.devices.iter().find(|d| d.device_id == "d2").unwrap();
    assert!(d2.healthy);
    assert_eq!((d2.last_ack_sequence, d2.sequence_lag), (None, None));

    // Silent for more than 1.5 ping intervals: nobody is healthy.
    f.advance(46_000);
    let h = f.hub.health_view(&id, f.now).unwrap();
    assert_eq!((h.healthy_devices, h.unhealthy_devices), (0, 2));
    assert!(
        h.devices
            .iter()
            .all(|d| d.time_since_last_ping_ms >= 46_000)
    );

    let summaries = f.hub.session_summaries();
    assert_eq!(summaries.len(), 1);
    assert_eq!(
        (
            &*summaries[0].id,
            summaries[0].devices,
            summaries[0].sequence_number
        ),
        (id.as_str(), 2, 1)
    );
}

#[test]
fn acks_of_unsent_updates_are_refused_and_late_ones_do_not_hide_newer_ones() {
    let mut f = Fixture::new(no_coalesce());
    let id = f.session.clone();
    let a = f.connect(1);
    f.hub
        .push(&id, schema("x"), true, f.now, &mut f.fx)
        .unwrap();
    f.hub
        .push(&id, schema("y"), true, f.now, &mut f.fx)
        .unwrap();
    f.take();
    let ack = |f: &mut Fixture, n: u64, ok: bool| {
        let ack = json!({"type": "ack", "sessionId": id, "timestamp": 1, "version": "1.0.0",
                         "payload": {"sequenceNumber": n, "success": ok}});
        f.hub
            .on_text(a, ack.to_string().as_bytes(), f.now, &mut f.fx);
        let h = f.hub.health_view(&id, f.now).unwrap();
        let d = &h.devices[0];
        (d.last_ack_sequence, d.last_ack_success, d.healthy)
    };
    // #99 was never sent: refused, not recorded.
    assert_eq!(ack(&mut f, 99, true), (None, None, true));
    let refused: Vec<String> = f
        .take()
        .iter()
        .filter_map(|e| match e {
            Effect::Send { conn, frame } if *conn == a => {
                Some(String::from_utf8_lossy(&frame[2..]).into_owned())
            }
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    let text = &refused[0];
    assert!(
        text.contains("INVALID_MESSAGE") && text.contains("ack of update #99 ignored"),
        "{text}"
    );
    assert_eq!(ack(&mut f, 2, true), (Some(2), Some(true), true));
    // A late failure of #1 does not make the device look behind or broken.
    assert_eq!(ack(&mut f, 1, false), (Some(2), Some(true), true));
    // A failure of the latest does.
    assert_eq!(ack(&mut f, 2, false), (Some(2), Some(false), false));
}

#[test]
fn acks_the_server_asked_for_are_not_rate_limited_other_messages_are() {
    let mut f = Fixture::new(HubConfig {
        rate_limit: 10,
        ..no_coalesce()
    });
    let id = f.session.clone();
    let a = f.connect(1);
    // 30 updates in one instant: 30 acks, three times the limit.
    for i in 0..30 {
        f.hub
            .push(&id, schema(&format!("v{i}")), true, f.now, &mut f.fx)
            .unwrap();
    }
    f.take();
    let send = |f: &mut Fixture, v: serde_json::Value| {
        f.hub.on_text(a, v.to_string().as_bytes(), f.now, &mut f.fx);
    };
    for n in 1..=30 {
        send(
            &mut f,
            json!({"type": "ack", "sessionId": id, "timestamp": 1, "version": "1.0.0",
                   "payload": {"sequenceNumber": n, "success": true}}),
        );
    }
    let h = f.hub.health_view(&id, f.now).unwrap();
    assert_eq!(
        h.devices[0].last_ack_sequence,
        Some(30),
        "every ack recorded"
    );
    assert_eq!(f.hub.counters().rate_limited, 0);
    // Acking #30 again, or pings, are messages like others.
    for _ in 0..15 {
        send(
            &mut f,
            json!({"type": "ack", "sessionId": id, "timestamp": 1, "version": "1.0.0",
                   "payload": {"sequenceNumber": 30, "success": true}}),
        );
    }
    // The owed acks took the tokens while there were some (`connect` one,
    // then 9 acks), and were let through beyond: these 15 are over it.
    assert_eq!(f.hub.counters().rate_limited, 15);
    // A device that joined at #30 owes no ack of #1-#30: 9 tokens, then
    // dropped like any message.
    let b = f.connect(2);
    for n in 1..=30 {
        let ack = json!({"type": "ack", "sessionId": id, "timestamp": 1, "version": "1.0.0",
                         "payload": {"sequenceNumber": n, "success": false, "error": "x"}});
        f.hub
            .on_text(b, ack.to_string().as_bytes(), f.now, &mut f.fx);
    }
    assert_eq!(f.hub.counters().rate_limited, 15 + 21);
}
