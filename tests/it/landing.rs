//! The landing page, `GET /`, over real HTTP: sessions with a QR code of
//! their web device page, links, devices with health, the last updates;
//! escaped; only for this machine or a bearer of the token.

use crate::common::{Device, TestServer, parse_response, raw_http, schema, text};
use crate::hostile::request;
use lumora_hr_mini::cli::qr::{Ecc, QrCode};
use serde_json::json;

fn get_page(server: &TestServer) -> (u16, String, String) {
    let (status, head, body) = raw_http(server.addr, &request("GET", "/", &[], None));
    (status, head, String::from_utf8(body).expect("utf-8 page"))
}

/// The dark modules drawn by the first `<svg>` of a page (one
/// `Mx yhNv1h-Nz` run each).
fn svg_modules(page: &str, quiet: usize) -> Vec<(usize, usize)> {
    let svg = page.split("<svg").nth(1).expect("an svg");
    let d = svg
        .split(" d=\"")
        .nth(1)
        .and_then(|d| d.split('"').next())
        .expect("a path");
    let mut dark = Vec::new();
    for run in d.split('M').filter(|r| !r.is_empty()) {
        let (xy, rest) = run.split_once('h').expect("h");
        let (x, y) = xy.split_once(' ').expect("x y");
        let (x, y): (usize, usize) = (x.parse().expect("x"), y.parse().expect("y"));
        let n: usize = rest
            .split('v')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("n");
        dark.extend((x..x + n).map(|x| (x - quiet, y - quiet)));
    }
    dark
}

#[test]
fn shows_sessions_devices_and_updates_escaped_with_a_qr_code_of_the_page() {
    let server = TestServer::start();
    let (status, _, page) = get_page(&server);
    assert_eq!(status, 200);
    assert!(page.contains("No sessions."), "{page}");
    assert!(page.contains("None yet"), "{page}");

    let session = server.session();
    let v1 = schema(json!([text("t", "one")]));
    let (status, r) = server.push(&session, &v1);
    assert_eq!(status, 200, "{r}");
    let mut connect = Device::connect_msg(&session, "evil-1");
    connect["payload"]["deviceName"] = json!("<img src=x onerror=alert(1)>");
    connect["payload"]["platform"] = json!("android\"><script>");
    let mut device = Device::open(server.addr, &format!("/ws?session={session}"));
    device.send(&connect);
    device.recv_type("connected");

    let (status, head, page) = get_page(&server);
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    assert!(page.starts_with("<!doctype html>"));
    assert!(!page.contains("<script"), "no script, and nothing injected");
    assert!(page.contains("1 session · 1 device"), "{page}");
    assert!(page.contains(&format!("Session <code>{session}</code>")));
    // Links to the web device, the JSON views, and the URLs as text.
    assert!(
        page.contains(&format!("<a href=\"/s/{session}\">")),
        "{page}"
    );
    assert!(page.contains(&format!("http://{}/s/{session}", server.addr)));
    assert!(page.contains(&format!("ws://{}/ws?session={session}", server.addr)));
    assert!(page.contains(&format!("<a href=\"/session/{session}/health\">")));
    assert!(page.contains(&format!(
        "update #1, checksum <code>{}</code>",
        lumora_hr_mini::protocol::calculate_checksum(&v1)
    )));
    // The device, escaped, with its health.
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{page}"
    );
    assert!(!page.contains("<img"), "{page}");
    assert!(page.contains("android&quot;&gt;&lt;script&gt;"), "{page}");
    assert!(page.contains("<span class=\"ok\">healthy</span>"), "{page}");
    // The last update.
    assert!(page.contains("<td>#1 full</td>"), "{page}");
    // The QR code holds the web device page's URL.
    let url = format!("http://{}/s/{session}", server.addr);
    let code = QrCode::encode(url.as_bytes(), Ecc::Low).expect("encodes");
    let mut expected = Vec::new();
    for y in 0..code.size() {
        for x in 0..code.size() {
            if code.get(x, y) {
                expected.push((x, y));
            }
        }
    }
    assert_eq!(svg_modules(&page, 4), expected);

    // An ack shows up as the device's last ack.
    device.send(&Device::msg(
        &session,
        "ack",
        json!({"sequenceNumber": 1, "success": true, "applyTime": 1.25}),
    ));
    let deadline = std::time::Instant::now() + crate::support::SOON;
    loop {
        let (_, _, page) = get_page(&server);
        if page.contains("<td>#1 ok</td><td>1.25 ms</td>") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ack not shown:\n{page}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[cfg(target_os = "linux")]
#[test]
fn other_machines_need_the_token() {
    use crate::hostile::{REMOTE, connect_from, only_127_0_0_1};
    use std::io::{Read, Write};
    let fetch = |server: &TestServer, headers: &[&str]| -> (u16, String) {
        let mut s = connect_from(REMOTE, server.addr);
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(&request("GET", "/", headers, None))
            .expect("write");
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let (status, _, body) = parse_response(&buf);
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    let server = TestServer::with(|c| c.is_local_peer = only_127_0_0_1);
    let session = server.session();
    let (status, body) = fetch(&server, &[]);
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains(&session), "no id leaks: {body}");

    let server = TestServer::with(|c| {
        c.is_local_peer = only_127_0_0_1;
        c.token = Some("s3cret".into());
    });
    let session = server.session();
    let (status, body) = fetch(&server, &["Authorization: Bearer nope"]);
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains(&session), "no id leaks: {body}");
    let (status, body) = fetch(&server, &["Authorization: Bearer s3cret"]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&session));
}

/// With many sessions the page stays small and quick to make: the
/// startup session and the newest are shown whole, the next 100 listed, the
/// rest counted; a session's devices are listed up to 50.
#[test]
fn many_sessions_and_devices_are_shown_in_part() {
    let server = TestServer::start();
    let ids: Vec<String> = (0..129).map(|_| server.session()).collect();
    // Created a millisecond later than all the others: the newest.
    let before = crate::support::now_ms();
    while crate::support::now_ms() == before {
        std::hint::spin_loop();
    }
    let busy = server.session();
    let devices: Vec<Device> = (0..53)
        .map(|i| Device::connected(server.addr, &busy, &format!("phone-{i}")).0)
        .collect();
    let (status, _, page) = get_page(&server);
    assert_eq!(status, 200);
    assert_eq!(page.matches("<svg").count(), 8, "sessions drawn whole");
    assert!(
        page.contains(&format!("Session <code>{busy}</code>")),
        "the newest not drawn"
    );
    let drawn = ids
        .iter()
        .filter(|id| page.contains(&format!("Session <code>{id}</code>")))
        .count();
    assert!((6..=7).contains(&drawn), "{drawn} of the others drawn");
    assert_eq!(
        page.matches("\">web device</a></td>").count(),
        100,
        "sessions listed"
    );
    let (_, stats) = crate::common::http(server.addr, "GET", "/stats", None);
    let total = stats["sessions"].as_u64().expect("sessions in /stats") as usize;
    assert!(
        page.contains(&format!(
            "and {} more sessions not listed here",
            total - 108
        )),
        "{total} sessions"
    );
    // The busy session's devices: 50 rows, the rest counted.
    assert_eq!(page.matches("<td>test phone-").count(), 50);
    assert!(page.contains("and 3 more devices not listed here"));
    assert!(page.len() < 150_000, "{} bytes", page.len());
    drop(devices);
}
