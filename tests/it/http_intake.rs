//! Requests are judged on their head: `Expect: 100-continue` gets `100
//! Continue` only when the request can succeed and its final error status
//! otherwise, a refused request's body is never buffered, and the bodies
//! buffered at once across all connections are bounded.

use crate::amplification::ServerProcess;
use crate::common::{TestServer, schema, text};
use crate::hostile::{REMOTE, connect_from, only_127_0_0_1, read_until_closed};
use crate::support::{SOON, stats};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// A POST head with `Content-Type: application/json`, the given extra
/// header lines and `Content-Length: length`.
fn post_head(path: &str, extra: &[&str], length: usize) -> Vec<u8> {
    let mut h = format!("POST {path} HTTP/1.1\r\n");
    if !extra
        .iter()
        .any(|l| l.to_ascii_lowercase().starts_with("host:"))
    {
        h.push_str("Host: 127.0.0.1\r\n");
    }
    if !extra
        .iter()
        .any(|l| l.to_ascii_lowercase().starts_with("content-type:"))
    {
        h.push_str("Content-Type: application/json\r\n");
    }
    for l in extra {
        h.push_str(l);
        h.push_str("\r\n");
    }
    h.push_str(&format!("Content-Length: {length}\r\n\r\n"));
    h.into_bytes()
}

/// Reads one response head (up to and including the blank line).
fn read_head(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(SOON)).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "no response head ({other:?}); got {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    head
}

/// What a curl-like client does: the head with `Expect: 100-continue`,
/// then the body only once `100 Continue` arrived.
#[test]
fn an_acceptable_push_with_expect_gets_100_continue_then_its_answer() {
    let server = TestServer::start();
    let session = server.session();
    let body = schema(json!([text("a", "hello")])).to_string();
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(&post_head(
        &format!("/send/{session}"),
        &["Expect: 100-continue", "Connection: close"],
        body.len(),
    ))
    .unwrap();
    let interim = read_head(&mut s);
    assert_eq!(
        interim,
        CONTINUE,
        "interim answer: {:?}",
        String::from_utf8_lossy(&interim)
    );
    s.write_all(body.as_bytes()).unwrap();
    let out = read_until_closed(&mut s, SOON);
    assert_eq!(out.status(), 200, "{}", String::from_utf8_lossy(&out.bytes));

    // Expect on HTTP/1.0 is ignored (no interim answer); a request whose
    // body is already there needs none either: one final answer each.
    for version in ["1.0", "1.1"] {
        let mut s = TcpStream::connect(server.addr).unwrap();
        let mut req = post_head(
            &format!("/send/{session}"),
            &["Expect: 100-continue", "Connection: close"],
            body.len(),
        );
        let req_text = String::from_utf8(req.clone()).unwrap();
        req = req_text
            .replacen("HTTP/1.1", &format!("HTTP/{version}"), 1)
            .into_bytes();
        if version == "1.1" {
            req.extend_from_slice(body.as_bytes());
        }
        s.write_all(&req).unwrap();
        if version == "1.0" {
            s.write_all(body.as_bytes()).unwrap();
        }
        let out = read_until_closed(&mut s, SOON);
        assert!(!out.bytes.starts_with(CONTINUE), "HTTP/{version}");
        assert_eq!(out.status(), 200, "HTTP/{version}");
    }
}

/// Every refusal the head can decide is the final answer to the head
/// alone: the client never has to send the body, and the connection
/// closes.
#[test]
fn a_refused_request_with_expect_gets_its_final_status_without_sending_the_body() {
    let server = TestServer::with(|c| {
        c.token = Some("s3cret".into());
        c.is_local_peer = only_127_0_0_1;
        c.max_body_bytes = 1024 * 1024;
    });
    let session = server.session();
    let send = format!("/send/{session}");
    let cases: Vec<(&str, String, Vec<&str>, usize, u16)> = vec![
        ("too large", send.clone(), vec![], 2 * 1024 * 1024, 413),
        (
            "not JSON",
            send.clone(),
            vec!["Content-Type: text/plain"],
            1000,
            415,
        ),
        ("unknown session", "/send/nope".into(), vec![], 1000, 404),
        ("unknown route", "/upload".into(), vec![], 1000, 404),
        ("method not allowed", "/stats".into(), vec![], 1000, 405),
        (
            "foreign Host",
            send.clone(),
            vec!["Host: evil.example"],
            1000,
            403,
        ),
        (
            "browser Origin",
            send.clone(),
            vec!["Origin: http://evil.example"],
            1000,
            403,
        ),
        (
            "wrong token",
            send.clone(),
            vec!["Authorization: Bearer wrong"],
            1000,
            401,
        ),
    ];
    for (what, path, extra, length, want) in &cases {
        let mut extra = extra.clone();
        extra.push("Expect: 100-continue");
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.write_all(&post_head(path, &extra, *length)).unwrap();
        let out = read_until_closed(&mut s, SOON);
        assert!(out.closed, "{what}: the connection closes");
        assert!(!out.bytes.starts_with(CONTINUE), "{what}: no 100 Continue");
        assert_eq!(
            out.status(),
            *want,
            "{what}: {}",
            String::from_utf8_lossy(&out.bytes)
        );
    }
    // Another machine without the token.
    let mut s = connect_from(REMOTE, server.addr);
    s.write_all(&post_head(&send, &["Expect: 100-continue"], 1000))
        .unwrap();
    let out = read_until_closed(&mut s, SOON);
    assert_eq!(out.status(), 403, "{}", String::from_utf8_lossy(&out.bytes));
    assert!(!out.bytes.starts_with(CONTINUE));

    // ... and with it, the same push is welcome.
    let body = schema(json!([text("a", "from afar")])).to_string();
    let mut s = connect_from(REMOTE, server.addr);
    s.write_all(&post_head(
        &send,
        &[
            "Expect: 100-continue",
            "Authorization: Bearer s3cret",
            "Connection: close",
        ],
        body.len(),
    ))
    .unwrap();
    assert_eq!(read_head(&mut s), CONTINUE);
    s.write_all(body.as_bytes()).unwrap();
    assert_eq!(read_until_closed(&mut s, SOON).status(), 200);
}

/// curl itself, when it is installed: it sends `Expect: 100-continue` for
/// large bodies and waits up to a second for the interim answer.
#[test]
fn curl_gets_100_continue_for_a_big_push_and_a_final_answer_for_a_refused_one() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("curl is not installed; the raw-socket tests cover this");
        return;
    }
    let server = TestServer::start();
    let session = server.session();
    let nodes: Vec<Value> = (0..20_000)
        .map(|i| text(&format!("n{i}"), "some text to make it big"))
        .collect();
    let body = schema(Value::Array(nodes)).to_string();
    assert!(body.len() > 1024 * 1024);
    let file = std::env::temp_dir().join(format!("lumora-expect-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, &body).unwrap();
    let curl = |path: &str| {
        let out = Command::new("curl")
            .args(["-sS", "-v", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(["-H", "Content-Type: application/json"])
            .args(["-H", "Expect: 100-continue"])
            .arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(format!("http://{}{path}", server.addr))
            .output()
            .expect("run curl");
        (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, log) = curl(&format!("/send/{session}"));
    let (refused_code, refused_log) = curl("/send/no-such-session");
    let _ = std::fs::remove_file(&file);
    assert_eq!(code, "200", "{log}");
    assert!(log.contains("> Expect: 100-continue"), "{log}");
    assert!(log.contains("< HTTP/1.1 100 Continue"), "{log}");
    assert_eq!(refused_code, "404", "{refused_log}");
    assert!(!refused_log.contains("100 Continue"), "{refused_log}");
}

/// Twenty clients send the head of a refused request and a 10 MiB body at
/// once, without waiting (all but its last byte, so that a server that
/// buffers bodies would still be holding every one of them). Each gets its
/// refusal from the head, and the server's memory does not grow by what
/// they sent.
#[test]
fn twenty_refused_ten_mib_bodies_are_answered_from_the_head_and_never_buffered() {
    const BODY: usize = 10 * 1024 * 1024;
    const CLIENTS: usize = 20;
    let server = ServerProcess::start();
    let (status, created) = crate::common::http(server.addr, "POST", "/session/new", None);
    assert_eq!(status, 201);
    let session = created["sessionId"].as_str().unwrap().to_string();
    let before = server.status_kib("VmRSS");
    let send = format!("/send/{session}");
    // (path, extra headers, announced length, expected status)
    let refusals: [(&str, Vec<&str>, usize, u16); 6] = [
        (&send, vec!["Host: evil.example"], BODY, 403),
        (&send, vec!["Content-Type: text/plain"], BODY, 415),
        (&send, vec!["Origin: http://evil.example"], BODY, 403),
        ("/send/no-such-session", vec![], BODY, 404),
        ("/stats", vec![], BODY, 405),
        (&send, vec![], BODY + 1, 413),
    ];
    let chunk = vec![b' '; 64 * 1024];
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for i in 0..CLIENTS {
        let (path, extra, length, want) = &refusals[i % refusals.len()];
        let head = post_head(path, extra, *length);
        let mut s = TcpStream::connect(server.addr).unwrap();
        let mut r = s.try_clone().unwrap();
        let want = *want;
        readers.push(std::thread::spawn(move || {
            (want, read_until_closed(&mut r, Duration::from_secs(30)))
        }));
        let chunk = chunk.clone();
        writers.push(std::thread::spawn(move || {
            // The server may stop reading and close: errors are expected.
            if s.write_all(&head).is_err() {
                return s;
            }
            let mut left = BODY - 1;
            while left > 0 {
                let n = left.min(chunk.len());
                if s.write_all(&chunk[..n]).is_err() {
                    break;
                }
                left -= n;
            }
            s
        }));
    }
    // Every body has been sent (or refused by a reset): a server that
    // buffers would now hold CLIENTS × 10 MiB.
    let open: Vec<TcpStream> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let during = server.status_kib("VmRSS");
    for r in readers {
        let (want, out) = r.join().unwrap();
        assert_eq!(
            out.status(),
            want,
            "{}",
            String::from_utf8_lossy(&out.bytes[..out.bytes.len().min(300)])
        );
    }
    drop(open);
    let grown_mib = during.saturating_sub(before) / 1024;
    let sent_mib = (CLIENTS * BODY / (1024 * 1024)) as u64;
    assert!(
        grown_mib < sent_mib / 10,
        "RSS grew by {grown_mib} MiB ({before} → {during} KiB) while {sent_mib} MiB of refused bodies arrived"
    );
    // And it still serves.
    let (status, _) = crate::common::http(server.addr, "GET", "/health", None);
    assert_eq!(status, 200);
}

/// The bodies buffered at once are bounded: past the bound a new body is
/// refused with 503 from its head, and accepted again once room is free.
#[test]
fn buffered_bodies_are_bounded_across_connections() {
    let server = TestServer::with(|c| {
        c.max_body_bytes = 64 * 1024;
        c.max_buffered_body_bytes = 100 * 1024;
    });
    let session = server.session();
    let send = format!("/send/{session}");
    let body = schema(json!([text("a", &"x".repeat(60 * 1024))])).to_string();
    assert!(body.len() > 60 * 1024 && body.len() <= 64 * 1024);
    // A holds room for its body: it waits for 100 Continue, then sends half.
    let mut a = TcpStream::connect(server.addr).unwrap();
    a.write_all(&post_head(
        &send,
        &["Expect: 100-continue", "Connection: close"],
        body.len(),
    ))
    .unwrap();
    assert_eq!(read_head(&mut a), CONTINUE);
    a.write_all(&body.as_bytes()[..body.len() / 2]).unwrap();
    crate::common::wait_until(SOON, "A's body is buffered", || {
        stats(&server).connections.buffered_body_bytes == body.len()
    });
    // B does not fit next to it.
    let mut b = TcpStream::connect(server.addr).unwrap();
    b.write_all(&post_head(&send, &["Expect: 100-continue"], body.len()))
        .unwrap();
    let out = read_until_closed(&mut b, SOON);
    assert_eq!(out.status(), 503, "{}", String::from_utf8_lossy(&out.bytes));
    assert!(String::from_utf8_lossy(&out.bytes).contains("Retry-After:"));
    // A small body still fits.
    let small = schema(json!([text("s", "small")]));
    let (status, reply) = crate::common::http(server.addr, "POST", &send, Some(&small));
    assert_eq!(status, 200, "{reply}");
    // A finishes; then B's push is accepted.
    a.write_all(&body.as_bytes()[body.len() / 2..]).unwrap();
    assert_eq!(read_until_closed(&mut a, SOON).status(), 200);
    crate::common::wait_until(SOON, "nothing buffered", || {
        stats(&server).connections.buffered_body_bytes == 0
    });
    let mut b = TcpStream::connect(server.addr).unwrap();
    b.write_all(&post_head(
        &send,
        &["Expect: 100-continue", "Connection: close"],
        body.len(),
    ))
    .unwrap();
    assert_eq!(read_head(&mut b), CONTINUE);
    b.write_all(body.as_bytes()).unwrap();
    let out = read_until_closed(&mut b, SOON);
    // Same schema as A's: nothing to change, but accepted.
    assert_eq!(out.status(), 200, "{}", String::from_utf8_lossy(&out.bytes));
    // A connection that goes away mid-body gives its room back.
    let mut c = TcpStream::connect(server.addr).unwrap();
    c.write_all(&post_head(&send, &[], body.len())).unwrap();
    c.write_all(&body.as_bytes()[..1000]).unwrap();
    crate::common::wait_until(SOON, "C's body is buffered", || {
        stats(&server).connections.buffered_body_bytes == body.len()
    });
    drop(c);
    crate::common::wait_until(SOON, "C's room is given back", || {
        stats(&server).connections.buffered_body_bytes == 0
    });
}

/// Reads one whole response (head and `Content-Length` body): status and
/// body.
fn read_response(s: &mut TcpStream) -> (u16, Vec<u8>) {
    let head = String::from_utf8(read_head(s)).unwrap();
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    s.read_exact(&mut body).unwrap();
    (status, body)
}

/// A big body is read into a buffer of its own, no further than its end:
/// the requests pipelined after it are answered in order, however the
/// bytes are split into writes (in the head, at its end, inside the
/// body, at the body's end, one byte at a time at the edges).
#[test]
fn requests_pipelined_after_a_big_body_are_answered_in_order_however_the_bytes_arrive() {
    let server = TestServer::start();
    let nodes: Vec<Value> = (0..3000)
        .map(|i| text(&format!("n{i}"), &format!("text number {i}")))
        .collect();
    let big = schema(Value::Array(nodes));
    let body = big.to_string();
    assert!(body.len() > 150 * 1024, "{} B", body.len());
    let health = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_vec();
    for (round, splits) in [
        vec![],
        vec![10],
        vec![1, 2, 3],
        vec![60, 61, 62, 63],
        vec![100, 70_000, 140_000],
        vec![4096, 65_536, 65_537, 200_000],
    ]
    .into_iter()
    .enumerate()
    {
        let session = server.session();
        let push = || {
            let mut r = post_head(&format!("/send/{session}"), &[], body.len());
            r.extend_from_slice(body.as_bytes());
            r
        };
        let first = push();
        let mut all = first.clone();
        all.extend_from_slice(&health);
        all.extend_from_slice(&push());
        all.extend_from_slice(&health);
        // Splits: the given offsets, the end of the first head and of the
        // first body, and a byte either side of them.
        let head_end = first.len() - body.len();
        let mut cuts: Vec<usize> = splits.clone();
        cuts.extend([
            head_end - 1,
            head_end,
            head_end + 1,
            first.len() - 1,
            first.len(),
        ]);
        cuts.extend([first.len() + 1]);
        cuts.retain(|&c| c > 0 && c < all.len());
        cuts.sort_unstable();
        cuts.dedup();
        if splits.is_empty() {
            cuts.clear(); // all in one write
        }
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.set_nodelay(true).unwrap();
        let mut at = 0;
        for &c in cuts.iter().chain([all.len()].iter()) {
            s.write_all(&all[at..c]).unwrap();
            s.flush().unwrap();
            at = c;
        }
        let answers: Vec<(u16, Value)> = (0..4)
            .map(|_| {
                let (status, body) = read_response(&mut s);
                (status, serde_json::from_slice(&body).unwrap())
            })
            .collect();
        assert_eq!(answers[0].0, 200, "round {round}: {:?}", answers[0]);
        assert_eq!(answers[0].1["updateType"], "full", "round {round}");
        assert_eq!(
            answers[0].1["checksum"],
            lumora_hr_mini::protocol::calculate_checksum(&big),
            "round {round}"
        );
        assert_eq!(answers[1].0, 200, "round {round}: {:?}", answers[1]);
        assert_eq!(
            answers[1].1["status"], "ok",
            "round {round}: {:?}",
            answers[1]
        );
        assert_eq!(answers[2].0, 200, "round {round}: {:?}", answers[2]);
        assert_eq!(answers[2].1["updateType"], "none", "round {round}");
        assert_eq!(answers[3].0, 200, "round {round}");
    }
}
