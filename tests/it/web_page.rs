//! The web device page over plain HTTP (no browser): who may fetch it, its
//! headers, caching and compression; the page URL in the API; refused
//! pushes told to devices.

use crate::common::{Device, TestServer, http, raw_http, schema, text};
use crate::support::{header, request};
use serde_json::json;
use std::io::Read as _;

fn get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    raw_http(server.addr, req.as_bytes())
}

fn gunzip_with_the_system_tool(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(bytes).ok()?;
    let mut out = Vec::new();
    child.stdout.take()?.read_to_end(&mut out).ok()?;
    child.wait().ok()?.success().then_some(out)
}

#[test]
fn the_page_and_its_files_are_served_cached_and_compressed() {
    let server = TestServer::start();
    let session = server.session();
    let (status, head, body) = get(&server, &format!("/s/{session}"), &[]);
    assert_eq!(status, 200, "{head}");
    assert_eq!(
        header(&head, "content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert!(header(&head, "content-encoding").is_none());
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains("/web/device.js") && html.contains("/web/device.css"));
    assert!(
        !html.contains(&session),
        "the page is the same for every session"
    );
    let csp = header(&head, "content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    assert_eq!(
        header(&head, "referrer-policy").as_deref(),
        Some("no-referrer")
    );
    assert_eq!(header(&head, "cache-control").as_deref(), Some("no-cache"));

    for (path, kind, source) in [
        ("/web/device.js", "text/javascript", "web/device.js"),
        ("/web/device.css", "text/css", "web/device.css"),
        (
            &format!("/s/{session}/") as &str,
            "text/html",
            "web/device.html",
        ),
    ] {
        let source = std::fs::read(crate::chromium::repo().join(source)).unwrap();
        let (status, head, plain) = get(&server, path, &[]);
        assert_eq!(status, 200, "{path}");
        assert!(header(&head, "content-type").unwrap().starts_with(kind));
        assert_eq!(plain, source, "{path}");
        let etag = header(&head, "etag").unwrap();
        // Revalidation: 304 without a body.
        let (status, head304, body) = get(&server, path, &[("If-None-Match", &etag)]);
        assert_eq!(status, 304, "{path}: {head304}");
        assert!(body.is_empty());
        assert_eq!(header(&head304, "etag").as_deref(), Some(etag.as_str()));
        // Compressed for clients that accept it; the same bytes unpacked.
        let (status, headgz, gz) = get(&server, path, &[("Accept-Encoding", "gzip, deflate")]);
        assert_eq!(status, 200);
        assert_eq!(header(&headgz, "content-encoding").as_deref(), Some("gzip"));
        assert_eq!(header(&headgz, "vary").as_deref(), Some("Accept-Encoding"));
        assert!(
            gz.len() < plain.len() * 2 / 3,
            "{path}: {} of {}",
            gz.len(),
            plain.len()
        );
        if let Some(unpacked) = gunzip_with_the_system_tool(&gz) {
            assert_eq!(unpacked, plain, "{path}");
        }
        let gz_tag = header(&headgz, "etag").unwrap();
        assert_ne!(gz_tag, etag);
        let (status, _, _) = get(
            &server,
            path,
            &[("Accept-Encoding", "gzip"), ("If-None-Match", &gz_tag)],
        );
        assert_eq!(status, 304);
    }
    let (status, _, _) = get(&server, "/web/nope.js", &[]);
    assert_eq!(status, 404);
    let (status, _, _) = get(&server, "/web/../Cargo.toml", &[]);
    assert_eq!(status, 404);
    let (status, head, _) = request(server.addr, "POST", "/web/device.js", &[], None);
    assert_eq!(status, 405);
    assert_eq!(header(&head, "allow").as_deref(), Some("GET, HEAD"));
}

#[test]
fn the_api_gives_the_page_url_beside_the_ws_url() {
    let server = TestServer::start();
    let (status, created) = http(server.addr, "POST", "/session/new", None);
    assert_eq!(status, 201);
    let id = created["sessionId"].as_str().unwrap();
    let addr = server.addr;
    assert_eq!(created["wsUrl"], format!("ws://{addr}/ws?session={id}"));
    assert_eq!(created["pageUrl"], format!("http://{addr}/s/{id}"));
    let (_, info) = http(addr, "GET", &format!("/session/{id}"), None);
    assert_eq!(info["pageUrl"], created["pageUrl"]);
}

#[test]
fn refused_pushes_reach_the_devices_as_recoverable_errors() {
    let server = TestServer::start();
    let session = server.session();
    let (mut device, _) = Device::connected(server.addr, &session, "d1");
    let good = schema(json!([text("a", "hello")]));
    assert_eq!(server.push(&session, &good).0, 200);
    assert_eq!(device.recv_type("update")["payload"]["sequenceNumber"], 1);

    let broken = schema(json!([{"id": "a", "type": "Text", "children": [{"id": "b"}]}]));
    let (status, reply) = server.push(&session, &broken);
    assert_eq!(status, 400);
    let err = device.recv_type("error");
    let p = &err["payload"];
    assert_eq!(p["code"], "SCHEMA_VALIDATION_FAILED");
    assert_eq!(p["severity"], "error");
    assert_eq!(p["recoverable"], true);
    assert_eq!(p["details"]["path"], "nodes[0].children[0].type");
    let message = p["message"].as_str().unwrap();
    assert!(
        message.contains("nodes[0].children[0].type")
            && message.contains(reply["error"].as_str().unwrap()),
        "{message} / {reply}"
    );

    let (status, _, _) = request(
        server.addr,
        "POST",
        &format!("/send/{session}"),
        &[("Content-Type", "application/json")],
        Some(b"{not json"),
    );
    assert_eq!(status, 400);
    let err = device.recv_type("error");
    assert_eq!(err["payload"]["code"], "INVALID_MESSAGE");
    assert_eq!(err["payload"]["severity"], "error");

    // Nothing changed: the next good push is #2 and the device gets it.
    let next = schema(json!([text("a", "again")]));
    let (_, r) = server.push(&session, &next);
    assert_eq!(r["sequenceNumber"], 2);
    assert_eq!(device.recv_type("update")["payload"]["sequenceNumber"], 2);
}

#[cfg(target_os = "linux")]
#[test]
fn the_page_is_for_the_lan_and_opens_no_door_to_the_control_api() {
    use crate::hostile::{REMOTE, connect_from, exchange, only_127_0_0_1};
    let server = TestServer::with(|c| c.is_local_peer = only_127_0_0_1);
    let session = server.session();
    let fetch = |path: &str| {
        let mut s = connect_from(REMOTE, server.addr);
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        use std::io::Write as _;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        crate::common::parse_response(&buf)
    };
    assert_eq!(fetch(&format!("/s/{session}")).0, 200);
    assert_eq!(fetch("/web/device.js").0, 200);
    // The same peer still cannot use the control API.
    let (status, _) = exchange(
        connect_from(REMOTE, server.addr),
        &crate::hostile::request("GET", &format!("/session/{session}"), &[], None),
    );
    assert_eq!(status, 403);
    // And a page for a Host that is not this machine is refused (DNS
    // rebinding).
    let (status, _, _) = raw_http(
        server.addr,
        format!("GET /s/{session} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(status, 403);
}
