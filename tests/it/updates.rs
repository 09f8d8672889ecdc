//! Updates: sequence numbers, coalescing, the handle's push
//! calls, and slow devices that stop reading.

use crate::common::{Device, TestServer, schema, text};
use crate::support::{DeviceExt, Frame, RawWs, SOON, counters, stats, wait_until};
use lumora_hr_mini::protocol::{
    Schema, SchemaDelta, UpdateType, apply_schema_delta, calculate_checksum,
};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a device holds after applying an update (full or incremental).
fn apply(current: Option<&Schema>, update: &Value) -> Schema {
    let p = &update["payload"];
    let next = match p["type"].as_str().unwrap() {
        "full" => Schema::from_value(p["schema"].clone()).unwrap(),
        "incremental" => {
            let delta: SchemaDelta = serde_json::from_value(p["delta"].clone()).unwrap();
            apply_schema_delta(current.expect("a delta needs a base"), &delta).unwrap()
        }
        other => panic!("unknown update type {other}"),
    };
    assert_eq!(p["checksum"], next.checksum(), "checksum after applying");
    next
}

/// A device that tracks its schema and checks the sequence has no gaps.
struct Follower {
    device: Device,
    schema: Option<Schema>,
    sequence: u64,
}

impl Follower {
    fn join(server: &TestServer, session: &str, id: &str) -> Follower {
        let (device, c) = Device::connected(server.addr, session, id);
        let p = &c["payload"];
        let schema = p
            .get("initialSchema")
            .map(|s| Schema::from_value(s.clone()).unwrap());
        if let Some(s) = &schema {
            assert_eq!(p["checksum"], s.checksum());
        }
        Follower {
            device,
            schema,
            sequence: p["sequenceNumber"].as_u64().unwrap(),
        }
    }

    /// Receives the next update; returns it.
    fn next(&mut self) -> Value {
        let u = self.device.recv_type("update");
        let seq = u["payload"]["sequenceNumber"].as_u64().unwrap();
        assert_eq!(seq, self.sequence + 1, "gap or repeat: {u}");
        self.sequence = seq;
        self.schema = Some(apply(self.schema.as_ref(), &u));
        u
    }

    fn holds(&self, v: &Value) -> bool {
        self.schema.as_ref().map(Schema::as_value) == Some(v)
    }
}

fn nodes(n: usize, label: &str) -> Value {
    Value::Array(
        (0..n)
            .map(|i| text(&format!("n{i}"), &format!("{label} {i}")))
            .collect(),
    )
}

#[test]
fn sequence_numbers_count_broadcasts_without_gaps() {
    let server = TestServer::start();
    let session = server.session();
    let mut early = Follower::join(&server, &session, "early");
    assert_eq!(early.sequence, 0);

    let v1 = schema(nodes(12, "one"));
    let mut v2 = v1.clone();
    v2["nodes"][3]["props"]["text"] = json!("changed");
    let v3 = schema(nodes(12, "three")); // every node changes: full
    let mut v4 = v3.clone();
    v4["nodes"].as_array_mut().unwrap().remove(5);
    v4["nodes"]
        .as_array_mut()
        .unwrap()
        .push(text("extra", "new"));
    let mut v5 = v4.clone();
    v5["theme"] = json!({"primary": "#ff0000"}); // top-level key only

    let mut late: Option<Follower> = None;
    let plan = [
        (&v1, "full", 1),
        (&v2, "incremental", 2),
        (&v2, "none", 2),
        (&v3, "full", 3),
        (&v4, "incremental", 4),
        (&v4, "none", 4),
        (&v5, "incremental", 5),
    ];
    for (i, (v, kind, seq)) in plan.into_iter().enumerate() {
        let (status, r) = server.push(&session, v);
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["updateType"], kind, "push {i}: {r}");
        assert_eq!(r["sequenceNumber"], seq, "push {i}: {r}");
        assert_eq!(r["checksum"], calculate_checksum(v));
        if kind != "none" {
            let u = early.next();
            assert_eq!(u["payload"]["type"], kind);
            assert!(early.holds(v), "early device after push {i}");
            if let Some(l) = late.as_mut() {
                l.next();
                assert!(l.holds(v), "late device after push {i}");
            }
        }
        if i == 1 {
            // Joins at sequence 2 with the schema in `connected`.
            let l = Follower::join(&server, &session, "late");
            assert_eq!(l.sequence, 2);
            assert!(l.holds(&v2));
            late = Some(l);
        }
    }
    // `none` sent nothing.
    assert!(early.device.ping_pong(&session).is_empty());
    assert!(late.unwrap().device.ping_pong(&session).is_empty());
    let s = stats(&server);
    assert_eq!(s.counters.broadcasts, 5);
    assert_eq!(s.counters.pushes, 7);
    // Sessions count on their own.
    let other = server.session();
    let (_, r) = server.push(&other, &v1);
    assert_eq!(r["sequenceNumber"], 1);
}

#[test]
fn coalescing_holds_quick_pushes_and_sends_only_the_latest() {
    // The default window is 100 ms; 500 ms leaves room for a busy
    // machine between a broadcast and the pushes meant to land in its window.
    let window = Duration::from_millis(500);
    let server = TestServer::with(|c| c.hub.coalesce = window);
    let session = server.session();
    let mut d = Follower::join(&server, &session, "d1");

    let a = schema(nodes(3, "a"));
    let (status, r) = server.push(&session, &a);
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["updateType"], "full");
    assert!(r.get("batched").is_none());

    let b = schema(nodes(3, "b"));
    let c = schema(nodes(4, "c"));
    let mut last = c.clone();
    last["nodes"][0]["props"]["text"] = json!("final");
    for v in [&b, &c, &last] {
        let (status, r) = server.push(&session, v);
        assert_eq!(status, 202, "{r}");
        assert_eq!(
            r,
            json!({"success": true, "batched": true, "updateType": "pending", "clientsUpdated": 0,
                   "heldChecksum": calculate_checksum(v), "currentSequenceNumber": 1,
                   "currentChecksum": calculate_checksum(&a)})
        );
    }
    // A device joining now gets what devices last received.
    let mut joiner = Follower::join(&server, &session, "d2");
    assert_eq!(joiner.sequence, 1);
    assert!(joiner.holds(&a));

    d.next();
    assert!(d.holds(&a));
    // One more update when the window closes: the latest push, as a delta
    // against what devices hold.
    let u = d.next();
    let received = Instant::now();
    assert_eq!(u["payload"]["checksum"], calculate_checksum(&last));
    assert!(d.holds(&last));
    joiner.next();
    assert!(joiner.holds(&last));
    // The held push is gone: pushing it again changes nothing.
    let (status, r) = server.push(&session, &last);
    assert_eq!((status, &r["updateType"]), (200, &json!("none")), "{r}");
    assert!(d.device.ping_pong(&session).is_empty(), "exactly one more");
    let s = stats(&server);
    assert_eq!(s.counters.broadcasts, 2);
    assert_eq!(s.session_details[0].sequence_number, 2);

    // Once a window has passed with no broadcast, a push goes out at once.
    wait_until(SOON, "the window to pass", || received.elapsed() > window);
    let next = schema(nodes(4, "next"));
    let (status, r) = server.push(&session, &next);
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["sequenceNumber"], 3);
    assert_eq!(r["clientsUpdated"], 2);
    d.next();
    assert!(d.holds(&next));
}

#[test]
fn a_held_push_reverted_to_the_broadcast_schema_sends_nothing() {
    let window = Duration::from_millis(300);
    let server = TestServer::with(|c| c.hub.coalesce = window);
    let session = server.session();
    let mut d = Follower::join(&server, &session, "d1");
    let a = schema(nodes(2, "a"));
    let b = schema(nodes(2, "b"));
    assert_eq!(server.push(&session, &a).0, 200);
    d.next();
    let received = Instant::now();
    // B is held, then A replaces it: the latest is what devices already have.
    assert_eq!(server.push(&session, &b).0, 202);
    let (status, r) = server.push(&session, &a);
    assert!(status == 202 || r["updateType"] == "none", "{status} {r}");
    wait_until(SOON, "the window to pass", || {
        received.elapsed() > window + Duration::from_millis(100)
    });
    // Whatever comes next must be the next push, with the next number.
    let c = schema(nodes(2, "c"));
    let (status, _) = server.push(&session, &c);
    assert!(status == 200 || status == 202);
    let u = d.next();
    assert_eq!(u["payload"]["sequenceNumber"], 2);
    assert!(d.holds(&c));
}

#[test]
fn pushes_through_the_handle() {
    let server = TestServer::start();
    let session = server.session();
    let mut d = Follower::join(&server, &session, "d1");
    let (_other, connected) = Device::connected(server.addr, &session, "d2");

    let v1 = schema(nodes(2, "x"));
    let out = server
        .handle
        .push_update(&session, Schema::from_value(v1.clone()).unwrap(), false)
        .unwrap();
    assert_eq!(out.update_type, UpdateType::Full);
    assert_eq!(out.sequence_number, 1);
    assert_eq!(out.clients_updated, 2);
    assert_eq!(out.checksum, calculate_checksum(&v1));
    let u = d.next();
    assert_eq!(u["payload"]["preserveState"], false);

    // A resend to one device: full, current number, to that device only.
    let id = d.device_connection_id(&server, &session, "d1");
    server.handle.push_update_to_device(&session, &id).unwrap();
    let u = d.device.recv_type("update");
    assert_eq!(u["payload"]["type"], "full");
    assert_eq!(u["payload"]["sequenceNumber"], 1);
    assert_eq!(u["payload"]["schema"], v1);
    assert!(
        server
            .handle
            .push_update_to_device(&session, "no-such-connection")
            .is_err()
    );
    let other_id = connected["payload"]["connectionId"].as_str().unwrap();
    assert_ne!(other_id, id);
    assert!(
        server
            .handle
            .push_update_to_device("no-such-session", other_id)
            .is_err()
    );
}

impl Follower {
    fn device_connection_id(&self, server: &TestServer, session: &str, device_id: &str) -> String {
        server
            .handle
            .connected_devices(session)
            .unwrap()
            .into_iter()
            .find(|d| d.device_id == device_id)
            .unwrap()
            .connection_id
    }
}

/// A schema of about 200 KB whose every node changes with `fill`.
fn big(fill: char) -> Value {
    let blob: String = std::iter::repeat_n(fill, 50_000).collect();
    schema(json!([
        {"id": "root", "type": "View", "children": [text("a", &blob), text("b", &blob)]},
        text("c", &blob),
        text("d", &blob),
    ]))
}

#[test]
fn a_device_that_stops_reading_is_resynced_with_the_latest_schema() {
    let server = TestServer::with(|c| c.max_queued_updates = 4);
    let session = server.session();

    // The slow device: registered, then it reads nothing until the end.
    let mut slow = RawWs::open(server.addr, &format!("/ws?session={session}"));
    slow.send_json(&Device::connect_msg(&session, "slow"));
    assert_eq!(slow.recv_json(SOON)["type"], "connected");

    // The fast device reads everything on its own thread.
    let received = Arc::new(Mutex::new(Vec::<(u64, String)>::new()));
    let last_seq = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let fast = {
        let (mut d, _) = Device::connected(server.addr, &session, "fast");
        let (received, last_seq, stop) = (received.clone(), last_seq.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if let Some(m) = d.try_recv(Duration::from_millis(50)) {
                    assert_eq!(m["type"], "update", "{m}");
                    let seq = m["payload"]["sequenceNumber"].as_u64().unwrap();
                    let sum = m["payload"]["checksum"].as_str().unwrap().to_string();
                    received.lock().unwrap().push((seq, sum));
                    last_seq.store(seq, Ordering::SeqCst);
                }
            }
        })
    };

    let schemas = [big('a'), big('b')];
    let mut pushed = Vec::new();
    let mut push = |v: &Value| {
        let (status, r) = server.push(&session, v);
        assert_eq!(status, 200, "{r}");
        let seq = r["sequenceNumber"].as_u64().unwrap();
        pushed.push((seq, calculate_checksum(v)));
        // Paced by the fast device, so it never falls behind itself.
        wait_until(SOON, "the fast device to receive the update", || {
            last_seq.load(Ordering::SeqCst) == seq
        });
    };
    // Push until the slow device's socket and queue are full and it has been
    // marked for a resync, then a few more.
    let mut i = 0;
    while counters(&server).slow_device_resyncs == 0 {
        assert!(i < 300, "the slow device never overflowed");
        push(&schemas[i % 2]);
        i += 1;
    }
    for _ in 0..6 {
        push(&schemas[i % 2]);
        i += 1;
    }
    let latest = big('z');
    push(&latest);
    let final_seq = pushed.last().unwrap().0;

    // The fast device got every update, in order, with the right checksums.
    stop.store(true, Ordering::SeqCst);
    fast.join().unwrap();
    assert_eq!(*received.lock().unwrap(), pushed);

    // The slow device now reads: what was in flight, then (once its queue
    // has drained) the current schema in full. It plays a real device: an
    // incremental update after a gap cannot be applied, so it waits for the
    // full one; once it holds something, no update may follow a gap (the
    // server stops queueing deltas to a device marked for resync). A ping/pong round with no update in it means it is done
    // (a resync is queued when the queue drains, so before the next pong).
    let mut state: Option<(u64, Schema)> = None;
    let mut seen = Vec::new();
    loop {
        slow.send_json(&Device::msg(&session, "ping", json!({})));
        let mut any = false;
        loop {
            let f = slow.read_frame(SOON).expect("the slow device was dropped");
            if f.opcode != Frame::TEXT {
                continue;
            }
            let m = f.json();
            match m["type"].as_str().unwrap() {
                "pong" => break,
                "update" => any = true,
                other => panic!("unexpected {other}: {m}"),
            }
            let p = &m["payload"];
            let seq = p["sequenceNumber"].as_u64().unwrap();
            let kind = p["type"].as_str().unwrap().to_string();
            seen.push((seq, kind.clone()));
            let base = match (&state, kind.as_str()) {
                (_, "full") => None,
                (Some((s, schema)), _) if *s + 1 == seq => Some(schema),
                (Some((s, _)), _) => panic!(
                    "an incremental update #{seq} after a gap (held #{s}): it cannot apply; {seen:?}"
                ),
                _ => continue, // before anything applicable: wait for the resync
            };
            state = Some((seq, apply(base, &m)));
        }
        if !any {
            break;
        }
    }
    let (seq, schema) = state.expect("the slow device got updates");
    assert_eq!(seq, final_seq, "{seen:?}");
    assert_eq!(schema.as_value(), &latest, "{seen:?}");
    // Updates were dropped, and a full update made up for them.
    assert!(seen.len() < pushed.len(), "nothing dropped? {seen:?}");
    assert!(
        seen.iter().any(|(s, k)| k == "full" && *s > 1),
        "no resync: {seen:?}"
    );
    assert!(counters(&server).resyncs >= 1);
    let s = stats(&server);
    assert!(s.counters.slow_device_resyncs > 0);
    let devices = server.handle.connected_devices(&session).unwrap();
    assert!(
        devices.iter().any(|d| d.device_id == "slow"),
        "the slow device is still connected: {devices:?}"
    );
}

/// Pushes whose text differs from the last one inside one node are read
/// as such (only that node is parsed again): they are taken, refused and
/// applied exactly as if read whole, whatever the edit does to the text.
#[test]
fn edits_inside_one_node_are_read_as_a_whole_push_would_be() {
    let server = TestServer::start();
    let session = server.session();
    let mut device = Follower::join(&server, &session, "d");
    let base = r#"{"version":"1","metadata":{},"nodes":[{"id":"list","type":"View","children":[{"id":"a","type":"Text","props":{"text":"one"}},{"id":"b","type":"Text","props":{"text":"two"}}]},{"id":"c","type":"Text"}]}"#;
    let edit = |from: &str, to: &str| {
        assert!(base.contains(from), "{from}");
        base.replacen(from, to, 1)
    };
    let (status, r) = server.push_text(&session, base);
    assert_eq!(
        (status, r["updateType"].as_str()),
        (200, Some("full")),
        "{r}"
    );
    device.next();
    let cases = [
        // (text, status, update type or error path)
        (edit(r#""one""#, r#""uno""#), 200, "incremental"),
        (edit(r#""one""#, r#""\u00fcber\n""#), 200, "incremental"),
        (
            edit(
                r#""type":"Text","props":{"text":"two"}"#,
                r#""type":5,"props":{"text":"two"}"#,
            ),
            400,
            "nodes[0].children[1].type",
        ),
        (edit(r#""id":"b""#, r#""id":"c""#), 400, "nodes[1].id"),
        (
            edit(
                r#""one"}"#,
                r#""one"},"children":[{"id":"a2","type":"Icon"}]"#,
            ),
            200,
            "incremental",
        ),
        (edit(r#""one""#, r#""one" "#), 200, "incremental"),
        (edit(r#""one""#, r#""one"#), 400, "not valid JSON"),
        // A file's final line break, and a byte order mark (refused, with
        // what to do).
        (
            format!("{}\r\n", edit(r#""one""#, r#""eins""#)),
            200,
            "incremental",
        ),
        (
            format!("\u{feff}{base}"),
            400,
            "save the file as UTF-8 without one",
        ),
    ];
    for (i, (text, status, what)) in cases.iter().enumerate() {
        let (got, r) = server.push_text(&session, text);
        assert_eq!(got, *status, "push {i}: {r}");
        let want: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        if *status == 200 {
            assert_eq!(r["updateType"], *what, "push {i}: {r}");
            assert_eq!(r["checksum"], calculate_checksum(&want), "push {i}");
            device.next();
            assert!(device.holds(&want), "push {i}");
        } else {
            let code = if want.is_null() {
                "INVALID_MESSAGE"
            } else {
                "SCHEMA_VALIDATION_FAILED"
            };
            assert_eq!(r["code"], code, "push {i}: {r}");
            let message = r["error"].as_str().unwrap_or_default();
            assert!(message.contains(what), "push {i}: {r}");
        }
        // Refusals leave the session as it was: the next edit is made on
        // the last good text.
        if *status != 200 {
            let (got, r) = server.push_text(&session, base);
            assert_eq!(got, 200, "{r}");
            if r["updateType"] != "none" {
                device.next();
            }
            assert!(device.holds(&serde_json::from_str(base).unwrap()));
        }
    }
}
