//! What a push reply says when coalescing holds a push: never a sequence
//! number or checksum that will not happen, and "no change" names the
//! update devices really hold.

use crate::common::{Device, TestServer, schema, text};
use crate::support::{DeviceExt, stats};
use lumora_hr_mini::protocol::calculate_checksum;
use serde_json::{Value, json};
use std::time::Duration;

/// A window long enough that the pushes of a test all land in it, even on
/// a busy machine.
const WINDOW: Duration = Duration::from_secs(3);

fn v(label: &str) -> Value {
    schema(json!([text("t", label)]))
}

fn seq(server: &TestServer, session: &str) -> u64 {
    let (_, s) = crate::common::http(server.addr, "GET", &format!("/session/{session}"), None);
    s["sequenceNumber"].as_u64().expect("sequenceNumber")
}

#[test]
fn pushing_back_what_devices_hold_drops_the_held_push_and_says_no_change() {
    let server = TestServer::with(|c| c.hub.coalesce = WINDOW);
    let session = server.session();
    let (mut device, _) = Device::connected(server.addr, &session, "d1");
    let (a, b) = (v("a"), v("b"));
    let (status, r) = server.push(&session, &a);
    assert_eq!((status, &r["sequenceNumber"]), (200, &json!(1)), "{r}");
    device.recv_type("update");

    // B is held: the reply names the held schema and the update it will be
    // compared with, and promises no new sequence number.
    let (status, r) = server.push(&session, &b);
    assert_eq!(status, 202, "{r}");
    assert_eq!(r["heldChecksum"], calculate_checksum(&b));
    assert_eq!(r["currentSequenceNumber"], 1);
    assert_eq!(r["currentChecksum"], calculate_checksum(&a));
    assert!(
        r.get("sequenceNumber").is_none() && r.get("checksum").is_none(),
        "{r}"
    );

    // A again: what devices hold. Latest wins, so nothing will go out.
    let (status, r) = server.push(&session, &a);
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["updateType"], "none");
    assert_eq!(r["sequenceNumber"], 1);
    assert_eq!(r["checksum"], calculate_checksum(&a));

    // The window ends (the held push would have flushed by now): nothing
    // went out, and the next push becomes #2.
    std::thread::sleep(WINDOW + Duration::from_millis(200));
    assert!(device.ping_pong(&session).is_empty(), "nothing was held");
    assert_eq!(seq(&server, &session), 1);
    assert_eq!(stats(&server).counters.broadcasts, 1);
    let c = v("c");
    let (status, r) = server.push(&session, &c);
    assert_eq!((status, &r["sequenceNumber"]), (200, &json!(2)), "{r}");
    assert_eq!(r["checksum"], calculate_checksum(&c));
}

#[test]
fn pushing_the_held_schema_again_says_it_is_held_not_current() {
    let server = TestServer::with(|c| c.hub.coalesce = WINDOW);
    let session = server.session();
    let (mut device, _) = Device::connected(server.addr, &session, "d1");
    let (a, b) = (v("a"), v("b"));
    server.push(&session, &a);
    device.recv_type("update");
    server.push(&session, &b);
    let (status, r) = server.push(&session, &b);
    assert_eq!(status, 202, "{r}");
    assert_eq!(
        r,
        json!({"success": true, "batched": true, "updateType": "pending", "clientsUpdated": 0,
               "heldChecksum": calculate_checksum(&b), "currentSequenceNumber": 1,
               "currentChecksum": calculate_checksum(&a)})
    );
    // The session shows what devices hold, not the held schema.
    let (_, s) = crate::common::http(server.addr, "GET", &format!("/session/{session}"), None);
    assert_eq!(s["checksum"], calculate_checksum(&a), "{s}");
    // B goes out once, when the window ends.
    let u = device.recv_type("update");
    assert_eq!(u["payload"]["sequenceNumber"], 2);
    assert_eq!(u["payload"]["checksum"], calculate_checksum(&b));
}
