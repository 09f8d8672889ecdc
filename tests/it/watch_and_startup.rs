//! `Handle::watch_file` (pushes from the timer wheel) and the startup
//! session named by `GET /session/startup`.

use crate::common::{Device, TestServer, http, schema, text, wait_until};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// A file in the temp folder, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!(
            "lumora-watch-{}-{name}-{}.json",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        TempFile(path)
    }

    fn write(&self, contents: &str) {
        std::fs::write(&self.0, contents).expect("write temp file");
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn sequence(server: &TestServer, session: &str) -> u64 {
    server
        .handle
        .get_session(session)
        .expect("session")
        .sequence_number
}

#[test]
fn watched_file_is_pushed_at_start_and_on_change_but_not_when_broken() {
    let server = TestServer::start();
    let session = server.session();
    let file = TempFile::new("app");
    file.write(&schema(json!([text("a", "one")])).to_string());

    server.handle.watch_file(&session, &file.0).expect("watch");
    assert_eq!(sequence(&server, &session), 1, "pushed at once");

    // A different size too: file times can be as coarse as the kernel tick.
    file.write(&schema(json!([text("a", "second")])).to_string());
    wait_until(Duration::from_secs(10), "the change to be pushed", || {
        sequence(&server, &session) == 2
    });
    let current = server.handle.get_session(&session).unwrap();
    let expected =
        lumora_hr_mini::protocol::calculate_checksum(&schema(json!([text("a", "second")])));
    assert_eq!(current.checksum, Some(expected));

    // Broken files are not pushed: the session's devices are told why (the
    // positive signal that the watcher read it), and nothing else changes.
    let (mut device, _) = Device::connected(server.addr, &session, "watcher");
    file.write("{\"version\": \"1\", \"nodes\": [{\"type\": \"Text\"}]}");
    let refused = device.recv_type("error");
    assert_eq!(
        refused["payload"]["code"], "SCHEMA_VALIDATION_FAILED",
        "{refused}"
    );
    assert_eq!(sequence(&server, &session), 2);
    file.write(&schema(json!([text("a", "three")])).to_string());
    wait_until(
        Duration::from_secs(10),
        "the fixed file to be pushed",
        || sequence(&server, &session) == 3,
    );
}

#[test]
fn watching_an_unknown_session_is_refused() {
    let server = TestServer::start();
    let file = TempFile::new("x");
    assert!(server.handle.watch_file("nope", &file.0).is_err());
}

#[test]
fn startup_session_endpoint_names_the_startup_session() {
    let server = TestServer::start();
    let (status, body) = http(server.addr, "GET", "/session/startup", None);
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "SESSION_NOT_FOUND");

    let _other = server.session();
    let created = server.handle.create_startup_session().expect("create");
    let _another = server.session();
    let (status, body) = http(server.addr, "GET", "/session/startup", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sessionId"], created.session_id.as_str());
    assert_eq!(body["sequenceNumber"], 0);
    assert!(
        body["wsUrl"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/ws?session={}", created.session_id))
    );

    let (status, _) = http(server.addr, "DELETE", "/session/startup", None);
    assert_eq!(status, 405);

    server.handle.delete_session(&created.session_id).unwrap();
    let (status, body) = http(server.addr, "GET", "/session/startup", None);
    assert_eq!(status, 404, "{body}");
}
