//! HTTP/1.1 as RFC 9112 has it: absolute-form targets, Host required and
//! well-formed, malformed versions, unknown expectations; and a wrong
//! bearer token refused from every peer, loopback included.

use crate::common::{TestServer, raw_http, schema, text};
use crate::hostile::{REMOTE, connect_from, exchange, only_127_0_0_1, request};
use crate::support::header;
use std::net::TcpStream;

fn status(server: &TestServer, req: &str) -> (u16, String) {
    let (status, head, body) = raw_http(server.addr, req.as_bytes());
    (
        status,
        format!("{head}\n{}", String::from_utf8_lossy(&body)),
    )
}

#[test]
fn an_absolute_form_target_is_served_and_its_authority_checked_like_host() {
    let server = TestServer::start();
    let port = server.addr.port();
    for target in [
        format!("http://127.0.0.1:{port}/health"),
        format!("HTTP://localhost:{port}/health?x=1"),
        format!("http://[::1]:{port}/health"),
    ] {
        let (s, text) = status(
            &server,
            &format!(
                "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
            ),
        );
        assert_eq!(s, 200, "{target}: {text}");
    }
    // The control API too: a session is created through an absolute URL.
    let (s, text) = status(
        &server,
        &format!(
            "POST http://127.0.0.1:{port}/session/new HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(s, 201, "{text}");
    // The target's authority is what is checked (the Host header is
    // ignored for an absolute-form target).
    let (s, text) = status(
        &server,
        "GET http://evil.example/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(s, 403, "{text}");
    for bad in [
        "http://user@127.0.0.1/health",
        "http://[::1]evil.example/health",
        "http:///health",
        "ftp://127.0.0.1/health",
        "health",
    ] {
        let (s, text) = status(
            &server,
            &format!("GET {bad} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(s, 400, "{bad}: {text}");
    }
}

#[test]
fn a_malformed_host_is_a_bad_request_never_loopback() {
    let server = TestServer::start();
    for host in [
        "[::1]evil.example",
        "[::1]@evil.example",
        "[::1]:3000x",
        "127.0.0.1@evil.example",
        "localhost:http",
        "::1",
        "[not-an-ip]",
        "local host",
        "localhost:3000:3000",
    ] {
        let (s, text) = status(
            &server,
            &format!("GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(s, 400, "Host {host:?}: {text}");
        assert!(text.contains("BAD_REQUEST"), "{text}");
    }
    for host in ["[::1]", "[::1]:3000", "localhost:", "127.0.0.1:3000"] {
        let (s, text) = status(
            &server,
            &format!("GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(s, 200, "Host {host:?}: {text}");
    }
}

#[test]
fn http_1_1_without_host_is_a_bad_request_and_1_0_without_it_is_served() {
    let server = TestServer::start();
    let (s, text) = status(&server, "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(s, 400, "{text}");
    assert!(text.contains("Host"), "the error names the header: {text}");
    let (s, text) = status(&server, "GET /health HTTP/1.0\r\n\r\n");
    assert_eq!(s, 200, "{text}");
}

#[test]
fn a_malformed_version_is_400_and_a_well_formed_unsupported_one_505() {
    let server = TestServer::start();
    for version in [
        "HTTP/9.Z",
        "HTTP/1",
        "HTTP/1.1.1",
        "HTTP/x.1",
        "http/1.1",
        "HTTP/11.1",
    ] {
        let (s, text) = status(
            &server,
            &format!("GET /health {version}\r\nHost: 127.0.0.1\r\n\r\n"),
        );
        assert_eq!(s, 400, "{version}: {text}");
    }
    for version in ["HTTP/2.0", "HTTP/1.2", "HTTP/3.0", "HTTP/0.9"] {
        let (s, text) = status(
            &server,
            &format!("GET /health {version}\r\nHost: 127.0.0.1\r\n\r\n"),
        );
        assert_eq!(s, 505, "{version}: {text}");
    }
}

#[test]
fn an_unknown_expectation_is_417_and_a_body_on_a_bodiless_route_413() {
    let server = TestServer::start();
    let (s, text) = status(
        &server,
        "POST /session/new HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 200-ok\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(s, 417, "{text}");
    let (s, text) = status(
        &server,
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    assert_eq!(s, 413, "{text}");
    assert!(text.contains("no body"), "{text}");
}

#[test]
fn a_wrong_bearer_token_is_refused_from_every_peer_loopback_included() {
    let server = TestServer::with(|c| {
        c.token = Some("s3cret".into());
        c.is_local_peer = only_127_0_0_1;
    });
    let wrong = ["Authorization: Bearer WRONG"];
    // This machine.
    let (s, head, body) = raw_http(server.addr, &request("POST", "/session/new", &wrong, None));
    assert_eq!(s, 401, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&head, "www-authenticate").as_deref(), Some("Bearer"));
    for (method, path) in [("GET", "/stats"), ("GET", "/session/startup")] {
        let (s, _) = exchange(
            TcpStream::connect(server.addr).unwrap(),
            &request(method, path, &wrong, None),
        );
        assert_eq!(s, 401, "{method} {path}");
    }
    // Another machine.
    let (s, reply) = exchange(
        connect_from(REMOTE, server.addr),
        &request("GET", "/stats", &wrong, None),
    );
    assert_eq!(s, 401, "{reply}");
    // The right token, in any case of the scheme name, passes from both;
    // no token passes from this machine only.
    for auth in [
        "Authorization: Bearer s3cret",
        "Authorization: bearer s3cret",
    ] {
        let (s, _) = exchange(
            TcpStream::connect(server.addr).unwrap(),
            &request("GET", "/stats", &[auth], None),
        );
        assert_eq!(s, 200, "{auth}");
        let (s, _) = exchange(
            connect_from(REMOTE, server.addr),
            &request("GET", "/stats", &[auth], None),
        );
        assert_eq!(s, 200, "{auth} from afar");
    }
    let (s, _) = exchange(
        TcpStream::connect(server.addr).unwrap(),
        &request("GET", "/stats", &[], None),
    );
    assert_eq!(s, 200);

    // A server without a token has no right token: one presented is wrong.
    let open = TestServer::start();
    let (s, reply) = exchange(
        TcpStream::connect(open.addr).unwrap(),
        &request("GET", "/stats", &wrong, None),
    );
    assert_eq!(s, 401, "{reply}");
    assert!(
        reply["error"].as_str().unwrap_or("").contains("--token"),
        "{reply}"
    );
}

#[test]
fn push_with_a_wrong_token_fails_with_a_message_about_the_token() {
    let server = TestServer::with(|c| c.token = Some("s3cret".into()));
    let session = server.session();
    let file = std::env::temp_dir().join(format!("lumora-token-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(
        &file,
        schema(serde_json::json!([text("a", "x")])).to_string(),
    )
    .unwrap();
    let url = format!("http://{}", server.addr);
    let push = |extra: &[&str]| {
        let out = crate::common::binary(&["push", "--server", &url, "--token", "WRONG"])
            .args(extra)
            .arg(&file)
            .output()
            .expect("run push");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    // Through the startup-session lookup, and straight to a session.
    for extra in [&[][..], &["--session", &session][..]] {
        let (code, err) = push(extra);
        assert_eq!(code, 1, "{extra:?}: {err}");
        assert!(err.contains("AUTHENTICATION_FAILED"), "{err}");
        assert!(err.contains("--token"), "says what to check: {err}");
        assert!(!err.contains("no startup session"), "{err}");
    }
    let _ = std::fs::remove_file(&file);
    let (status, info) =
        crate::common::http(server.addr, "GET", &format!("/session/{session}"), None);
    assert_eq!(status, 200);
    assert_eq!(info["sequenceNumber"], 0, "nothing was pushed");
}
