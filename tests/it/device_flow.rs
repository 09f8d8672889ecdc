//! The whole device flow against a real server: connect, full and
//! incremental updates applied with the library, checksums, acks, health.

use crate::common::{Device, TestServer, schema, text};
use lumora_hr_mini::protocol::{Schema, SchemaDelta, apply_schema_delta, calculate_checksum};
use serde_json::{Value, json};

fn apply(current: &Schema, update: &Value) -> Schema {
    let payload = &update["payload"];
    match payload["type"].as_str().unwrap() {
        "full" => Schema::from_value(payload["schema"].clone()).unwrap(),
        "incremental" => {
            let delta: SchemaDelta = serde_json::from_value(payload["delta"].clone()).unwrap();
            apply_schema_delta(current, &delta).unwrap()
        }
        other => panic!("unknown update type {other}"),
    }
}

#[test]
fn device_follows_full_then_incremental_updates() {
    let server = TestServer::start();
    let session = server.session();

    let v1 = schema(
        json!([{"id": "root", "type": "View", "children": [text("a", "one"), text("b", "two")]}]),
    );
    let (status, reply) = server.push(&session, &v1);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["updateType"], "full");
    assert_eq!(reply["sequenceNumber"], 1);
    assert_eq!(reply["clientsUpdated"], 0);

    let (mut device, connected) = Device::connected(server.addr, &session, "d1");
    assert_eq!(connected["payload"]["sequenceNumber"], 1);
    assert_eq!(
        connected["payload"]["capabilities"]["incrementalUpdates"],
        true
    );
    let mut current = Schema::from_value(connected["payload"]["initialSchema"].clone()).unwrap();
    assert_eq!(current.as_value(), &v1);
    assert_eq!(connected["payload"]["checksum"], calculate_checksum(&v1));

    // A one-prop edit deep in the tree goes out as a delta.
    let v2 = schema(
        json!([{"id": "root", "type": "View", "children": [text("a", "ONE"), text("b", "two")]}]),
    );
    let (_, reply) = server.push(&session, &v2);
    assert_eq!(reply["updateType"], "incremental");
    assert_eq!(reply["clientsUpdated"], 1);
    let update = device.recv_type("update");
    assert_eq!(update["payload"]["sequenceNumber"], 2);
    assert_eq!(
        update["payload"]["delta"]["modified"],
        json!([text("a", "ONE")])
    );
    current = apply(&current, &update);
    assert_eq!(current.as_value(), &v2);
    assert_eq!(update["payload"]["checksum"], current.checksum());
    device.send(&Device::msg(
        &session,
        "ack",
        json!({"sequenceNumber": 2, "success": true, "applyTime": 1.5}),
    ));

    // Same schema again: nothing is sent, the sequence number stays.
    let (_, reply) = server.push(&session, &v2);
    assert_eq!(reply["updateType"], "none");
    assert_eq!(reply["sequenceNumber"], 2);

    // A structural change: a node removed, another added.
    let v3 = schema(
        json!([{"id": "root", "type": "View", "children": [text("b", "two"), text("c", "three")]}, text("footer", "f")]),
    );
    let (_, reply) = server.push(&session, &v3);
    assert_eq!(reply["sequenceNumber"], 3);
    let update = device.recv_type("update");
    current = apply(&current, &update);
    assert_eq!(current.as_value(), &v3);
    assert_eq!(update["payload"]["checksum"], current.checksum());

    // Ping → pong; the ack shows up in health.
    device.send(&Device::msg(&session, "ping", json!({"status": "idle"})));
    let pong = device.recv_type("pong");
    assert!(pong["payload"]["serverTime"].as_u64().unwrap() > 0);
    let health = server.handle.session_health(&session).unwrap();
    assert_eq!(health.total_devices, 1);
    assert_eq!(health.devices[0].last_ack_sequence, Some(2));
    assert!(health.devices[0].healthy);
}

#[test]
fn reload_resends_the_current_schema_without_a_new_sequence_number() {
    let server = TestServer::start();
    let session = server.session();
    let v1 = schema(json!([text("a", "x")]));
    server.push(&session, &v1);
    let (mut device, _) = Device::connected(server.addr, &session, "d1");
    device.send(&Device::msg(
        &session,
        "reload",
        json!({"reason": "error", "error": "checksum mismatch"}),
    ));
    let update = device.recv_type("update");
    assert_eq!(update["payload"]["type"], "full");
    assert_eq!(update["payload"]["sequenceNumber"], 1);
    assert_eq!(update["payload"]["schema"], v1);
}
