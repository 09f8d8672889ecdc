//! The control-API lockdown against a real server: Host
//! (DNS rebinding), Origin (browsers), Content-Type (cross-site forms),
//! loopback-or-token, the session cap. Each test ends with the normal
//! device flow to show the server still serves.

use crate::common::{Device, TestServer, schema, text};
use crate::hostile::{assert_still_serves, exchange, request};
use serde_json::{Value, json};
use std::net::TcpStream;

fn send(server: &TestServer, req: &[u8]) -> (u16, Value) {
    exchange(TcpStream::connect(server.addr).unwrap(), req)
}

#[test]
fn a_foreign_host_is_refused_with_the_flag_that_allows_it() {
    let server = TestServer::with(|c| c.allowed_hosts.push("dev.example".into()));
    for (method, path) in [("GET", "/health"), ("POST", "/session/new"), ("GET", "/ws")] {
        let (status, body) = send(
            &server,
            &request(method, path, &["Host: attacker.example:3000"], None),
        );
        assert_eq!(status, 403, "{method} {path}: {body}");
        assert_eq!(body["code"], "FORBIDDEN");
        let msg = body["error"].as_str().unwrap();
        assert!(
            msg.contains("--allowed-host attacker.example"),
            "the error names the flag: {msg}"
        );
    }
    // Loopback names, this machine's addresses and allowed hosts pass.
    for host in [
        "localhost:1",
        "LOCALHOST",
        "127.0.0.1",
        "[::1]:3000",
        "dev.example",
        "DEV.example:80",
    ] {
        let (status, body) = send(
            &server,
            &request("GET", "/health", &[&format!("Host: {host}")], None),
        );
        assert_eq!(status, 200, "Host {host}: {body}");
    }
    // Multicast and broadcast addresses bind a UDP socket on Linux, but
    // they are not this machine.
    for host in ["224.0.0.1", "255.255.255.255", "0.0.0.0"] {
        let (status, _) = send(
            &server,
            &request("GET", "/health", &[&format!("Host: {host}")], None),
        );
        assert_eq!(status, 403, "Host {host}");
    }
    assert_still_serves(&server);
}

#[test]
fn a_foreign_origin_is_refused_on_every_control_endpoint() {
    let server = TestServer::with(|c| c.allowed_origins.push("http://localhost:5173".into()));
    let session = server.session();
    let s = schema(json!([text("a", "x")]));
    let endpoints: Vec<(&str, String, Option<&Value>)> = vec![
        ("POST", "/session/new".into(), None),
        ("POST", format!("/send/{session}"), Some(&s)),
        ("GET", format!("/session/{session}"), None),
        ("GET", format!("/session/{session}/health"), None),
        ("POST", format!("/session/{session}/extend"), None),
        ("DELETE", format!("/session/{session}"), None),
        ("GET", "/stats".into(), None),
    ];
    // Also refused, though without a startup session it would be a 404.
    let (status, _) = send(
        &server,
        &request(
            "GET",
            "/session/startup",
            &["Origin: http://attacker.example"],
            None,
        ),
    );
    assert_eq!(status, 403);
    for (method, path, body) in &endpoints {
        for origin in ["http://attacker.example", "null", "http://localhost:5174"] {
            let (status, reply) = send(
                &server,
                &request(method, path, &[&format!("Origin: {origin}")], *body),
            );
            assert_eq!(status, 403, "{method} {path} from {origin}: {reply}");
            assert_eq!(reply["code"], "FORBIDDEN");
            assert!(
                reply["error"]
                    .as_str()
                    .unwrap()
                    .contains("--allowed-origin")
            );
        }
    }
    // Nothing was done: the session is still there, with no schema pushed.
    let (status, info) =
        crate::common::http(server.addr, "GET", &format!("/session/{session}"), None);
    assert_eq!(status, 200);
    assert_eq!(info["sequenceNumber"], 0);

    // The allowed origin passes on each of them (DELETE last).
    for (method, path, body) in &endpoints {
        let (status, reply) = send(
            &server,
            &request(method, path, &["Origin: http://localhost:5173"], *body),
        );
        assert!((200..300).contains(&status), "{method} {path}: {reply}");
    }

    // /health and /ws are not the control API: an Origin is fine there.
    let (status, _) = send(
        &server,
        &request("GET", "/health", &["Origin: http://attacker.example"], None),
    );
    assert_eq!(status, 200);
    let session = server.session();
    let stream = TcpStream::connect(server.addr).unwrap();
    let mut req = tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://{}/ws?session={session}",
        server.addr
    ))
    .unwrap();
    req.headers_mut()
        .insert("Origin", "http://web-device.example".parse().unwrap());
    let (mut ws, resp) = tungstenite::client::client(req, stream).unwrap();
    assert_eq!(resp.status(), 101);
    ws.send(tungstenite::Message::text(
        Device::connect_msg(&session, "web").to_string(),
    ))
    .unwrap();
    let mut device = Device { ws };
    device.recv_type("connected");

    assert_still_serves(&server);
}

#[test]
fn non_json_posts_are_refused_with_415() {
    let server = TestServer::start();
    let session = server.session();
    let body = json!({"version": "1", "metadata": {}, "nodes": []}).to_string();
    for path in ["/session/new".to_string(), format!("/send/{session}")] {
        for ct in [
            "text/plain",
            "text/plain; charset=utf-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            for payload in [body.as_str(), "a=1", ""] {
                let req = format!(
                    "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{payload}",
                    payload.len()
                );
                let (status, reply) = send(&server, req.as_bytes());
                assert_eq!(status, 415, "{path} as {ct} with {payload:?}: {reply}");
                assert_eq!(reply["code"], "UNSUPPORTED_MEDIA_TYPE");
            }
        }
        // A body with no Content-Type at all is not JSON either.
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(send(&server, req.as_bytes()).0, 415, "{path} untyped");
    }
    // A bodiless POST without a type (curl -X POST) and JSON with a
    // charset are served.
    let (status, _) = send(
        &server,
        b"POST /session/new HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 201);
    let req = format!(
        "POST /send/{session} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: Application/JSON; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(send(&server, req.as_bytes()).0, 200);
    assert_still_serves(&server);
}

#[test]
fn the_session_cap_answers_429_and_frees_up_after_a_delete() {
    let server = TestServer::with(|c| c.hub.max_sessions = 3);
    let ids: Vec<String> = (0..3).map(|_| server.session()).collect();
    let (status, body) = crate::common::http(server.addr, "POST", "/session/new", None);
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "RATE_LIMIT_EXCEEDED");
    let (status, _) =
        crate::common::http(server.addr, "DELETE", &format!("/session/{}", ids[0]), None);
    assert_eq!(status, 200);
    assert_still_serves(&server);
}

#[cfg(target_os = "linux")]
mod remote {
    use super::*;
    use crate::hostile::{REMOTE, connect_from, only_127_0_0_1};

    fn from_remote(server: &TestServer, req: &[u8]) -> (u16, Value) {
        exchange(connect_from(REMOTE, server.addr), req)
    }

    /// A device on "another machine": connected from 127.0.0.2.
    fn remote_device(server: &TestServer, session: &str) -> Device {
        let stream = connect_from(REMOTE, server.addr);
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let url = format!("ws://{}/ws?session={session}", server.addr);
        let (ws, resp) = tungstenite::client::client(url.as_str(), stream).unwrap();
        assert_eq!(resp.status(), 101);
        let mut d = Device { ws };
        d.send(&Device::connect_msg(session, "remote"));
        d.recv_type("connected");
        d
    }

    #[test]
    fn without_a_token_the_control_api_answers_only_this_machine() {
        let server = TestServer::with(|c| c.is_local_peer = only_127_0_0_1);
        let session = server.session();
        for (method, path) in [
            ("POST", "/session/new".to_string()),
            ("GET", format!("/session/{session}")),
            ("GET", "/stats".to_string()),
            ("GET", "/session/startup".to_string()),
            ("DELETE", format!("/session/{session}")),
        ] {
            let req = request(method, &path, &["Authorization: Bearer guess"], None);
            let (status, body) = from_remote(&server, &req);
            assert_eq!(status, 403, "{method} {path}: {body}");
            assert!(body["error"].as_str().unwrap().contains("--token"));
            assert!(!body.to_string().contains(&session), "no id leaks: {body}");
        }
        // /health and the WebSocket are for everyone, and leak no ids.
        let (status, health) = from_remote(&server, &request("GET", "/health", &[], None));
        assert_eq!(status, 200);
        assert_eq!(health["sessions"], 1);
        assert!(!health.to_string().contains(&session));
        let mut device = remote_device(&server, &session);
        let s = schema(json!([text("a", "to the LAN")]));
        assert_eq!(server.push(&session, &s).0, 200);
        assert_eq!(device.recv_type("update")["payload"]["schema"], s);
        assert_still_serves(&server);
    }

    #[test]
    fn with_a_token_remote_peers_need_the_right_bearer() {
        let server = TestServer::with(|c| {
            c.is_local_peer = only_127_0_0_1;
            c.token = Some("correct horse".into());
        });
        let new =
            |auth: &[&str]| from_remote(&server, &request("POST", "/session/new", auth, None));

        let (status, body) = new(&[]);
        assert_eq!(status, 403, "{body}");
        assert!(body["error"].as_str().unwrap().contains("Bearer"));
        for wrong in [
            "Authorization: Bearer correct hors",
            "Authorization: Bearer correct horsee",
            "Authorization: Bearer CORRECT HORSE",
        ] {
            let (status, body) = new(&[wrong]);
            assert_eq!(status, 401, "{wrong}: {body}");
            assert_eq!(body["code"], "AUTHENTICATION_FAILED");
        }
        // An empty bearer or another scheme is no token at all: 403.
        for not_bearer in [
            "Authorization: Bearer ",
            "Authorization: Basic Y29ycmVjdCBob3JzZQ==",
            "Authorization: correct horse",
        ] {
            assert_eq!(new(&[not_bearer]).0, 403, "{not_bearer}");
        }

        // The right token opens the whole control API from the LAN.
        let (status, created) = new(&["Authorization: Bearer correct horse"]);
        assert_eq!(status, 201, "{created}");
        let session = created["sessionId"].as_str().unwrap().to_string();
        let mut device = remote_device(&server, &session);
        let s = schema(json!([text("a", "pushed from the LAN")]));
        let (status, reply) = from_remote(
            &server,
            &request(
                "POST",
                &format!("/send/{session}"),
                &["Authorization: Bearer correct horse"],
                Some(&s),
            ),
        );
        assert_eq!(status, 200, "{reply}");
        assert_eq!(device.recv_type("update")["payload"]["schema"], s);
        let (status, _) = from_remote(
            &server,
            &request(
                "GET",
                "/stats",
                &["Authorization: Bearer correct horse"],
                None,
            ),
        );
        assert_eq!(status, 200);

        // This machine still needs no token.
        assert_still_serves(&server);
    }
}
