//! Resume: a device that names what it holds in `connect` gets only what
//! it missed — or, when that cannot be proven, the whole schema.

use crate::common::{Device, TestServer, schema, text};
use lumora_hr_mini::client::{DeviceState, Event, Join};
use serde_json::{Value, json};
use std::net::SocketAddr;

/// A device: a real WebSocket, the library's device logic on top, and a
/// count of the schema bytes it was sent.
pub struct Phone {
    pub ws: Device,
    pub state: DeviceState,
    pub schema_bytes: usize,
    pub updates: Vec<Value>,
}

impl Phone {
    /// Connects with `state`'s own `connect` (with its resume point, if
    /// any); returns the phone and how it joined.
    pub fn connect(addr: SocketAddr, session: &str, state: DeviceState) -> (Phone, Join, Value) {
        let mut ws = Device::open(addr, &format!("/ws?session={session}"));
        ws.send_raw(&state.connect_message());
        let mut phone = Phone {
            ws,
            state,
            schema_bytes: 0,
            updates: Vec::new(),
        };
        let connected = phone.next_of("connected");
        let join = phone.feed(&connected);
        (phone, join.expect("connected"), connected)
    }

    /// Reads the next message of `kind`, feeding everything to the device.
    pub fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let m = self.ws.recv();
            if m["type"] == kind {
                return m;
            }
            self.feed(&m);
        }
    }

    fn feed(&mut self, m: &Value) -> Option<Join> {
        if let Some(s) = m["payload"].get("initialSchema") {
            self.schema_bytes += s.to_string().len();
        }
        if m["type"] == "update" {
            if let Some(s) = m["payload"].get("schema") {
                self.schema_bytes += s.to_string().len();
            }
            self.updates.push(m.clone());
        }
        let (event, replies) = self.state.on_text(m.to_string().as_bytes());
        for r in replies {
            // The server may be gone (killed): the device keeps its state.
            let _ = self.ws.ws.send(tungstenite::Message::text(r));
        }
        match event {
            Event::Connected { join, initial, .. } => {
                if let Some(a) = initial {
                    assert!(a.ok(), "initial schema: {:?}", a.error);
                }
                Some(join)
            }
            Event::Update(a) => {
                assert!(a.ok(), "update #{}: {:?}", a.sequence, a.error);
                None
            }
            _ => None,
        }
    }

    /// Applies updates until the device holds `sequence`.
    pub fn until(&mut self, sequence: u64) {
        while self.state.sequence() != sequence {
            let m = self.ws.recv();
            self.feed(&m);
        }
    }

    /// A protocol ping: the next message must be its pong, so nothing
    /// else was queued before it.
    pub fn nothing_else_queued(&mut self, session: &str) {
        self.ws.send(&Device::msg(session, "ping", json!({})));
        let m = self.ws.recv();
        assert_eq!(m["type"], "pong", "expected nothing but the pong, got {m}");
    }

    /// Applies whatever arrives until the connection ends (the server was
    /// killed); returns the device's state.
    pub fn until_closed(mut self) -> DeviceState {
        loop {
            match self.ws.ws.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    let m: Value = serde_json::from_str(t.as_str()).unwrap();
                    self.feed(&m);
                }
                Ok(_) => {}
                Err(_) => return self.state,
            }
        }
    }

    /// Drops the connection (the device keeps its state).
    pub fn drop_connection(self) -> DeviceState {
        let Phone { ws, state, .. } = self;
        drop(ws);
        state
    }
}

pub fn v(n: u32) -> Value {
    schema(json!([
        {"id": "root", "type": "View", "children": [text("title", &format!("version {n}")), text("body", "same")]}
    ]))
}

pub fn new_state(session: &str, name: &str) -> DeviceState {
    DeviceState::new(session, name, name, "headless")
}

fn checksum(s: &TestServer, session: &str) -> String {
    let (_, body) = crate::common::http(s.addr, "GET", &format!("/session/{session}"), None);
    body["checksum"].as_str().unwrap().to_string()
}

#[test]
fn a_device_offline_during_five_pushes_gets_exactly_those_five() {
    let s = TestServer::start();
    let session = s.session();
    s.push(&session, &v(1));
    let (phone, join, connected) = Phone::connect(s.addr, &session, new_state(&session, "d1"));
    assert_eq!(join, Join::Fresh);
    assert_eq!(connected["payload"]["resumed"], false);
    let epoch = connected["payload"]["serverEpoch"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!epoch.is_empty());
    let state = phone.drop_connection();
    for n in 2..=6 {
        let (status, body) = s.push(&session, &v(n));
        assert_eq!(
            (status, body["updateType"].as_str()),
            (200, Some("incremental"))
        );
    }
    let (mut phone, join, connected) = Phone::connect(s.addr, &session, state);
    assert_eq!(join, Join::Resumed { at: 1, missed: 5 });
    let p = &connected["payload"];
    assert_eq!(
        (p["resumed"].as_bool(), p["sequenceNumber"].as_u64()),
        (Some(true), Some(6))
    );
    assert!(p.get("initialSchema").is_none(), "{p}");
    assert_eq!(p["serverEpoch"], epoch.as_str());
    phone.until(6);
    let seqs: Vec<u64> = phone
        .updates
        .iter()
        .map(|u| u["payload"]["sequenceNumber"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![2, 3, 4, 5, 6]);
    assert!(
        phone
            .updates
            .iter()
            .all(|u| u["payload"]["type"] == "incremental")
    );
    assert_eq!(phone.schema_bytes, 0);
    assert_eq!(
        phone.state.schema().unwrap().checksum(),
        checksum(&s, &session)
    );
    phone.nothing_else_queued(&session);
}

#[test]
fn a_device_that_missed_nothing_gets_connected_and_nothing_else() {
    let s = TestServer::start();
    let session = s.session();
    s.push(&session, &v(1));
    s.push(&session, &v(2));
    let (mut phone, _, _) = Phone::connect(s.addr, &session, new_state(&session, "d1"));
    phone.until(2);
    let (mut phone, join, connected) = Phone::connect(s.addr, &session, phone.drop_connection());
    assert_eq!(join, Join::Resumed { at: 2, missed: 0 });
    assert_eq!(
        connected["payload"]["checksum"],
        checksum(&s, &session).as_str()
    );
    phone.nothing_else_queued(&session);
    assert_eq!(phone.schema_bytes, 0);
}

/// Sends `connect` with `resume` as given; returns the `connected` payload.
fn connect_with(s: &TestServer, session: &str, resume: Value) -> (Device, Value) {
    let mut d = s.device(session);
    let mut m = Device::connect_msg(session, "raw");
    m["payload"]["resume"] = resume;
    d.send(&m);
    let c = d.recv_type("connected");
    (d, c["payload"].clone())
}

#[test]
fn resumes_that_cannot_be_proven_get_the_full_schema() {
    let s = TestServer::with(|c| c.hub.history_updates = 3);
    let session = s.session();
    for n in 1..=8 {
        s.push(&session, &v(n));
    }
    let (_, first) = connect_with(&s, &session, Value::Null);
    let epoch = first["serverEpoch"].as_str().unwrap().to_string();
    let current = checksum(&s, &session);
    let point = |seq: u64, sum: &str, epoch: &str| json!({"sequenceNumber": seq, "checksum": sum, "serverEpoch": epoch});
    let v6 = lumora_hr_mini::protocol::Schema::from_value(v(6)).unwrap();
    let v2 = lumora_hr_mini::protocol::Schema::from_value(v(2)).unwrap();
    for (what, resume) in [
        (
            "wrong checksum at the current number",
            point(8, "00000000", &epoch),
        ),
        (
            "wrong checksum at an older number",
            point(6, "00000000", &epoch),
        ),
        ("another number's checksum", point(7, v6.checksum(), &epoch)),
        ("a future number", point(9, &current, &epoch)),
        ("another epoch", point(8, &current, "another-server")),
        ("older than the history", point(2, v2.checksum(), &epoch)),
    ] {
        let (mut d, p) = connect_with(&s, &session, resume);
        assert_eq!(p["resumed"], false, "{what}: {p}");
        assert_eq!(p["checksum"], current.as_str(), "{what}");
        let held = lumora_hr_mini::protocol::Schema::from_value(p["initialSchema"].clone())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(held.checksum(), current, "{what}");
        d.send(&Device::msg(&session, "ping", json!({})));
        assert_eq!(d.recv()["type"], "pong", "{what}: nothing but the pong");
    }
    // Within the history, the same proof succeeds.
    let v6 = lumora_hr_mini::protocol::Schema::from_value(v(6)).unwrap();
    let (_, p) = connect_with(&s, &session, point(6, v6.checksum(), &epoch));
    assert_eq!(p["resumed"], true);
}

#[test]
fn a_malformed_resume_is_answered_and_costs_a_full_resync() {
    let s = TestServer::start();
    let session = s.session();
    s.push(&session, &v(1));
    for bad in [
        json!(5),
        json!("resume"),
        json!([1, 2]),
        json!({}),
        json!({"sequenceNumber": "1", "checksum": "x", "serverEpoch": "e"}),
        json!({"sequenceNumber": -1, "checksum": "x", "serverEpoch": "e"}),
        json!({"sequenceNumber": 1e300, "checksum": "x", "serverEpoch": "e"}),
        json!({"sequenceNumber": 1, "checksum": null, "serverEpoch": "e"}),
    ] {
        let (mut d, p) = connect_with(&s, &session, bad.clone());
        assert_eq!(p["resumed"], false, "{bad}");
        assert!(p.get("initialSchema").is_some(), "{bad}");
        let e = d.recv_type("error");
        assert_eq!(e["payload"]["code"], "INVALID_MESSAGE", "{bad}");
        assert_eq!(e["payload"]["recoverable"], true, "{bad}");
        d.send(&Device::msg(&session, "ping", json!({})));
        assert_eq!(d.recv_type("pong")["type"], "pong", "{bad}: still served");
    }
    // `null` is no resume at all: no warning.
    let (mut d, p) = connect_with(&s, &session, Value::Null);
    assert_eq!(p["resumed"], false);
    d.send(&Device::msg(&session, "ping", json!({})));
    assert_eq!(d.recv()["type"], "pong");
}

#[test]
fn old_clients_without_resume_see_the_same_connected() {
    let s = TestServer::start();
    let session = s.session();
    s.push(&session, &v(1));
    let (_, c) = Device::connected(s.addr, &session, "old");
    let p = &c["payload"];
    assert!(p["initialSchema"].is_object());
    assert_eq!(p["sequenceNumber"], 1);
    assert_eq!(p["resumed"], false);
    assert!(p["serverEpoch"].is_string());
}
