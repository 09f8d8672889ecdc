//! The web device in a real browser: headless Chromium opens `/s/<id>` on a
//! real server, and each push is checked in the rendered DOM, in the acks
//! the server recorded, and in the error overlay. No timing is asserted;
//! the one-node update time on 1,000 nodes is measured and printed.

use crate::chromium::{Browser, repo};
use crate::common::{TestServer, http, raw_http, schema};
use serde_json::{Value, json};
use std::io::Write as _;

/// `lastAckSequence` and `lastAckSuccess` of the session's web device.
pub(crate) fn web_ack(server: &TestServer, session: &str) -> Option<(u64, bool)> {
    let (_, h) = http(
        server.addr,
        "GET",
        &format!("/session/{session}/health"),
        None,
    );
    let devices = h["devices"].as_array()?;
    let d = devices.iter().find(|d| d["platform"] == "web")?;
    Some((
        d["lastAckSequence"].as_u64()?,
        d["lastAckSuccess"].as_bool()?,
    ))
}

/// Waits until the page acked `seq` with success.
pub(crate) fn wait_ack(server: &TestServer, b: &mut Browser, session: &str, seq: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if web_ack(server, session) == Some((seq, true)) {
            return;
        }
        if std::time::Instant::now() >= deadline {
            let page = b.eval("JSON.stringify({state: lumora.state, seq: lumora.sequence, last: lumora.last, bar: document.getElementById('lm-bar').textContent})");
            panic!(
                "no successful ack of #{seq}: server has {:?}; page: {page}",
                web_ack(server, session)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A browser showing a fresh session's page on a fresh server, connected;
/// `None` (the test then passes, loudly) when no browser is installed.
pub(crate) fn connected_page(test: &str) -> Option<(Browser, TestServer, String)> {
    let mut b = Browser::start(test)?;
    let server = TestServer::start();
    let session = server.session();
    b.open(&format!("http://{}/s/{session}", server.addr));
    b.wait_true(
        "window.lumora && lumora.state === 'connected'",
        "the page to connect",
        "document.body.textContent",
    );
    Some((b, server, session))
}

pub(crate) fn push(server: &TestServer, session: &str, s: &Value) -> Value {
    let (status, reply) = server.push(session, s);
    assert_eq!(status, 200, "{reply}");
    reply
}

/// The node with this id as the page shows it: text, tag, parent id, or
/// null when it is not in the document.
fn node_js(id: &str) -> String {
    format!(
        "(() => {{ const e = document.querySelector('#lm-root [data-id=\"{id}\"]'); \
         return e ? {{text: e.textContent, tag: e.tagName, type: e.dataset.type, \
         parent: e.parentElement.dataset.id || null, style: e.getAttribute('style') || ''}} : null; }})()"
    )
}

fn app(title: &str, deepest: &str, items: Value, extra: Vec<Value>) -> Value {
    let mut top = vec![json!({
        "id": "app", "type": "View", "props": {"style": {"padding": 12, "backgroundColor": "#fafafa"}},
        "children": [
            {"id": "header", "type": "Row", "props": {"style": {"justifyContent": "space-between"}}, "children": [
                {"id": "title", "type": "Text", "props": {"text": title, "style": {"fontSize": 20, "fontWeight": "700", "color": "#123456"}}},
                {"id": "logo", "type": "Image", "props": {"src": "data:image/gif;base64,R0lGODlhAQABAAAAACw=", "alt": "logo"}}
            ]},
            {"id": "list", "type": "ScrollView", "children": items},
            {"id": "deep", "type": "View", "children": [
                {"id": "deeper", "type": "View", "children": [
                    {"id": "deepest", "type": "Text", "props": {"text": deepest}}
                ]}
            ]},
            {"id": "evil", "type": "Text", "props": {
                "text": "<img src=x onerror=\"window.pwned=1\"><b>bold</b>",
                "style": {"backgroundImage": "url(http://203.0.113.9/x.png)", "color": "url(http://203.0.113.9/y)"}
            }},
            {"id": "bad-src", "type": "Image", "props": {"src": "javascript:window.pwned=2"}},
            {"id": "chart", "type": "FancyChart", "props": {"title": "Sales"}, "children": [
                {"id": "chart-label", "type": "Text", "props": {"text": "Q1"}}
            ]},
            {"id": "submit", "type": "Button", "props": {"title": "Save"}},
            {"id": "chip", "type": "Chip", "props": {"label": "Open", "selected": true}},
            {"id": "badge", "type": "Badge", "props": {"text": "4 tasks"}}
        ]
    })];
    top.extend(extra);
    schema(Value::Array(top))
}

fn item(id: &str, text: &str) -> Value {
    json!({"id": id, "type": "Text", "props": {"text": text}})
}

#[test]
fn web_device_renders_every_kind_of_update_acks_and_shows_refused_pushes() {
    let Some(mut b) = Browser::start("web_device_renders_every_kind_of_update") else {
        return;
    };
    let server = TestServer::start();
    let session = server.session();
    let (_, created) = http(server.addr, "GET", &format!("/session/{session}"), None);
    let url = created["pageUrl"].as_str().expect("pageUrl").to_string();
    assert_eq!(url, format!("http://{}/s/{session}", server.addr));
    b.open(&url);
    b.wait_true(
        "window.lumora && lumora.state === 'connected'",
        "the page to connect",
        "document.getElementById('lm-st') && document.getElementById('lm-st').textContent",
    );
    let (_, info) = http(server.addr, "GET", &format!("/session/{session}"), None);
    let dev = &info["devices"][0];
    assert_eq!(dev["platform"], "web", "{info}");
    assert!(
        dev["deviceName"]
            .as_str()
            .is_some_and(|n| n.contains("Chrome")),
        "{info}"
    );

    // 1. Full update.
    let items = json!([item("item-1", "Milk"), item("item-2", "Eggs")]);
    let r = push(
        &server,
        &session,
        &app("Today", "level 3", items.clone(), vec![]),
    );
    assert_eq!(r["updateType"], "full");
    wait_ack(&server, &mut b, &session, 1);
    let title = b.eval(&node_js("title"));
    assert_eq!(title["text"], "Today");
    assert_eq!(title["parent"], "header");
    assert!(
        title["style"].as_str().unwrap().contains("font-size: 20px"),
        "{title}"
    );
    assert_eq!(b.eval(&node_js("deepest"))["text"], "level 3");
    assert_eq!(b.eval(&node_js("submit"))["tag"], "BUTTON");
    assert_eq!(b.eval(&node_js("submit"))["text"], "Save");
    assert_eq!(b.eval(&node_js("logo"))["tag"], "IMG");
    // Unknown types are labelled boxes with their children.
    let chart = b.eval(&node_js("chart"));
    assert_eq!(chart["type"], "FancyChart");
    assert_eq!(b.eval(&node_js("chart-label"))["parent"], "chart");
    assert_eq!(
        b.eval("document.querySelector('[data-id=chart]').dataset.label"),
        "FancyChart"
    );
    // Chips and badges are pills with their label, not unknown boxes.
    let pills = b.eval(
        "['chip', 'badge'].map((id) => { const e = document.querySelector(`[data-id=${id}]`); \
         return [e.textContent, e.classList.contains('lm-c'), e.classList.contains('lm-cs'), \
         getComputedStyle(e).borderRadius]; })",
    );
    assert_eq!(
        pills,
        json!([
            ["Open", true, true, "999px"],
            ["4 tasks", true, false, "999px"]
        ])
    );
    // Text is text: nothing injected, no script run, no remote style.
    let evil = b.eval(&node_js("evil"));
    assert_eq!(
        evil["text"],
        "<img src=x onerror=\"window.pwned=1\"><b>bold</b>"
    );
    assert_eq!(evil["style"], "", "{evil}");
    assert_eq!(
        b.eval("document.querySelectorAll('#lm-root b, #lm-root img[src=x]').length"),
        0
    );
    assert_eq!(b.eval(&node_js("bad-src"))["tag"], "DIV");
    assert_eq!(b.eval("typeof window.pwned"), "undefined");
    // The status bar.
    let bar = b.eval("document.getElementById('lm-bar').textContent");
    let bar = bar.as_str().unwrap();
    assert!(
        bar.contains("connected") && bar.contains("#1") && bar.contains("checksum ok"),
        "{bar}"
    );

    // 2. A prop change deep in the tree: only that node is rebuilt.
    b.eval("document.querySelector('[data-id=\"item-1\"]').lmMark = 1; document.querySelector('[data-id=\"deepest\"]').lmMark = 1");
    let r = push(
        &server,
        &session,
        &app("Today", "level three", items.clone(), vec![]),
    );
    assert_eq!(r["updateType"], "incremental");
    wait_ack(&server, &mut b, &session, 2);
    assert_eq!(b.eval(&node_js("deepest"))["text"], "level three");
    assert_eq!(b.eval(&node_js("deepest"))["parent"], "deeper");
    assert_eq!(
        b.eval("document.querySelector('[data-id=\"item-1\"]').lmMark === 1"),
        true
    );
    assert_eq!(
        b.eval("document.querySelector('[data-id=\"deepest\"]').lmMark === undefined"),
        true
    );

    // 3. Nodes added: one nested, one at the top level.
    let items3 = json!([
        item("item-1", "Milk"),
        item("item-2", "Eggs"),
        item("item-3", "Bread")
    ]);
    let r = push(
        &server,
        &session,
        &app("Today", "level three", items3, vec![item("footer", "v2")]),
    );
    assert_eq!(r["updateType"], "incremental");
    wait_ack(&server, &mut b, &session, 3);
    assert_eq!(b.eval(&node_js("item-3"))["parent"], "list");
    assert_eq!(b.eval(&node_js("item-3"))["text"], "Bread");
    assert_eq!(b.eval(&node_js("footer"))["text"], "v2");

    // 4. A node removed.
    let items4 = json!([item("item-1", "Milk"), item("item-3", "Bread")]);
    let r = push(
        &server,
        &session,
        &app(
            "Today",
            "level three",
            items4.clone(),
            vec![item("footer", "v2")],
        ),
    );
    assert_eq!(r["updateType"], "incremental");
    wait_ack(&server, &mut b, &session, 4);
    assert_eq!(b.eval(&node_js("item-2")), Value::Null);
    assert_eq!(b.eval(&node_js("item-3"))["parent"], "list");

    // 5. A node moved to another parent.
    let mut moved = app(
        "Today",
        "level three",
        json!([item("item-3", "Bread")]),
        vec![item("footer", "v2")],
    );
    moved["nodes"][0]["children"][0]["children"]
        .as_array_mut()
        .unwrap()
        .push(item("item-1", "Milk"));
    let r = push(&server, &session, &moved);
    assert_eq!(r["updateType"], "incremental");
    wait_ack(&server, &mut b, &session, 5);
    assert_eq!(b.eval(&node_js("item-1"))["parent"], "header");
    assert_eq!(
        b.eval("document.querySelectorAll('[data-id=\"item-1\"]').length"),
        1
    );

    // 6. A metadata-only change.
    let mut meta = moved.clone();
    meta["metadata"]["sourceFile"] = json!("Other.tsx");
    let r = push(&server, &session, &meta);
    assert_eq!(r["updateType"], "incremental");
    wait_ack(&server, &mut b, &session, 6);
    assert_eq!(b.eval("document.title"), "Other.tsx · Lumora device");
    assert_eq!(b.eval("lumora.schema.metadata.sourceFile"), "Other.tsx");
    assert_eq!(b.eval("document.getElementById('lm-err').hidden"), true);

    // 7. A broken schema: refused, told to the page, shown over the UI.
    let mut broken = meta.clone();
    broken["nodes"][0]["children"][1]["children"][0]
        .as_object_mut()
        .unwrap()
        .remove("type");
    let (status, reply) = server.push(&session, &broken);
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["code"], "SCHEMA_VALIDATION_FAILED");
    b.wait_true(
        "document.getElementById('lm-err').hidden === false",
        "the error overlay",
        "document.getElementById('lm-err').textContent",
    );
    let overlay = b.eval("document.getElementById('lm-err').textContent");
    let overlay = overlay.as_str().unwrap();
    assert!(
        overlay.contains("SCHEMA_VALIDATION_FAILED")
            && overlay.contains("nodes[0].children[1].children[0].type"),
        "{overlay}"
    );
    // The last good UI is still there underneath.
    assert_eq!(b.eval(&node_js("item-3"))["text"], "Bread");
    assert_eq!(web_ack(&server, &session), Some((6, true)));
    // Not JSON at all: told too, with its own code.
    let body = b"{\"nodes\": [";
    let req = format!(
        "POST /send/{session} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    let (status, _, _) = raw_http(server.addr, &bytes);
    assert_eq!(status, 400);
    b.wait_true(
        "document.getElementById('lm-err').textContent.includes('INVALID_MESSAGE')",
        "the overlay for invalid JSON",
        "document.getElementById('lm-err').textContent",
    );

    // 8. The next good update clears it.
    let mut good = meta.clone();
    good["nodes"][0]["children"][0]["children"][0]["props"]["text"] = json!("Tomorrow");
    push(&server, &session, &good);
    wait_ack(&server, &mut b, &session, 7);
    assert_eq!(b.eval("document.getElementById('lm-err').hidden"), true);
    assert_eq!(b.eval(&node_js("title"))["text"], "Tomorrow");

    // 9. A page whose schema diverged fails the checksum, acks the failure,
    // reloads and ends up right.
    b.eval("lumora.schema.version = 'tampered'; 1");
    let mut next = good.clone();
    next["nodes"][0]["children"][0]["children"][0]["props"]["text"] = json!("Later");
    let r = push(&server, &session, &next);
    assert_eq!(r["updateType"], "incremental");
    wait_ack(&server, &mut b, &session, 8);
    assert_eq!(b.eval("lumora.schema.version"), "1.0");
    assert_eq!(b.eval(&node_js("title"))["text"], "Later");
    let (_, stats) = http(server.addr, "GET", "/stats", None);
    assert!(
        stats["counters"]["failedAcks"].as_u64().unwrap() >= 1,
        "{stats}"
    );
    assert!(
        stats["counters"]["resyncs"].as_u64().unwrap() >= 1,
        "{stats}"
    );

    // 10. Tap shows id and type; the bar collapses.
    b.eval("document.querySelector('[data-id=\"submit\"]').click(); 1");
    assert_eq!(
        b.eval("document.getElementById('lm-ins').textContent"),
        "Button #submit"
    );
    assert_eq!(b.eval("document.getElementById('lm-ins').hidden"), false);
    b.eval("document.getElementById('lm-bar-t').click(); 1");
    assert_eq!(
        b.eval("document.getElementById('lm-bar').classList.contains('min')"),
        true
    );

    // 11. A dropped connection: the page reconnects and holds the schema.
    let first_conn = info["devices"][0]["connectionId"].clone();
    b.eval("lumora.reconnect(); 1");
    b.wait_true(
        "lumora.state === 'connected'",
        "the page to reconnect",
        "lumora.state",
    );
    crate::common::wait_until(crate::support::SOON, "a new connection", || {
        let (_, s) = http(server.addr, "GET", &format!("/session/{session}"), None);
        s["devices"].as_array().is_some_and(|d| {
            d.len() == 1 && d[0]["connectionId"] != first_conn && d[0]["platform"] == "web"
        })
    });
    assert_eq!(b.eval(&node_js("title"))["text"], "Later");
    assert_eq!(b.eval("lumora.sequence"), 8);
    // It resumed (the server knew its state): no full schema was resent,
    // and the next update applies on top of what it held.
    assert_eq!(b.eval("lumora.resumes"), 1);
    let mut after = next.clone();
    after["nodes"][0]["children"][0]["children"][0]["props"]["text"] = json!("After");
    assert_eq!(push(&server, &session, &after)["updateType"], "incremental");
    wait_ack(&server, &mut b, &session, 9);
    assert_eq!(b.eval(&node_js("title"))["text"], "After");

    // 12. Offline while two updates go out: on reconnect it resumes and
    // gets just the missed ones.
    b.call("Network.enable", json!({}));
    b.call(
        "Network.emulateNetworkConditions",
        json!({"offline": true, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}),
    );
    b.eval("lumora.reconnect(); 1");
    crate::common::wait_until(crate::support::SOON, "the page to be gone", || {
        let (_, s) = http(server.addr, "GET", &format!("/session/{session}"), None);
        s["devices"].as_array().is_some_and(|d| d.is_empty())
    });
    let mut missed = after.clone();
    missed["nodes"][0]["children"][0]["children"][0]["props"]["text"] = json!("Missed 1");
    push(&server, &session, &missed);
    missed["nodes"][0]["children"][0]["children"][0]["props"]["text"] = json!("Missed 2");
    push(&server, &session, &missed);
    b.call(
        "Network.emulateNetworkConditions",
        json!({"offline": false, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}),
    );
    wait_ack(&server, &mut b, &session, 11);
    assert_eq!(b.eval(&node_js("title"))["text"], "Missed 2");
    assert_eq!(b.eval("lumora.resumes"), 2);
}

#[test]
fn the_pages_checksum_code_matches_every_vector() {
    let Some((mut b, _server, _session)) =
        connected_page("the_pages_checksum_code_matches_every_vector")
    else {
        return;
    };
    let vectors = std::fs::read_to_string(repo().join("tests/vectors/checksum.json")).unwrap();
    let n: usize = serde_json::from_str::<Value>(&vectors).unwrap()["cases"]
        .as_array()
        .unwrap()
        .len();
    assert!(n >= 7);
    // The file's text is parsed by the page itself, as the page parses a
    // message, so numbers go through the browser's JSON.parse.
    let literal = serde_json::to_string(&vectors).unwrap();
    let results = b.eval(&format!(
        "JSON.parse({literal}).cases.map((c) => ({{name: c.name, \
         canonical: lumora.canonical(c.schema) === c.canonical, \
         checksum: lumora.checksum(c.schema), expected: c.checksum}}))"
    ));
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), n);
    for r in results {
        assert_eq!(r["canonical"], true, "{r}");
        assert_eq!(r["checksum"], r["expected"], "{r}");
    }
}

#[test]
fn one_node_update_on_a_thousand_nodes_is_measured_in_the_browser() {
    let Some((mut b, server, session)) = connected_page("one_node_update_on_a_thousand_nodes")
    else {
        return;
    };
    // 10 sections x 10 rows x 9 leaves + parents = 1,000 nodes.
    let tree = |edit: usize| -> Value {
        let sections: Vec<Value> = (0..10)
            .map(|s| {
                let rows: Vec<Value> = (0..10)
                    .map(|r| {
                        let leaves: Vec<Value> = (0..8)
                            .map(|l| {
                                let i = (s * 10 + r) * 8 + l;
                                let t = if i == 437 {
                                    format!("edited {edit}")
                                } else {
                                    format!("leaf {i}")
                                };
                                json!({"id": format!("n{i}"), "type": "Text", "props": {"text": t, "style": {"padding": 2}}})
                            })
                            .collect();
                        json!({"id": format!("r{s}-{r}"), "type": "Row", "children": leaves})
                    })
                    .collect();
                json!({"id": format!("s{s}"), "type": "View", "children": rows})
            })
            .collect();
        let mut nodes = sections;
        for extra in 0..90 {
            nodes.push(json!({"id": format!("x{extra}"), "type": "Text", "props": {"text": "x"}}));
        }
        schema(Value::Array(nodes))
    };
    let count = b.eval("0");
    assert_eq!(count, 0);
    push(&server, &session, &tree(0));
    wait_ack(&server, &mut b, &session, 1);
    assert_eq!(
        b.eval("document.querySelectorAll('#lm-root .lm').length"),
        1000
    );
    let mut times = Vec::new();
    for edit in 1..=7u64 {
        let r = push(&server, &session, &tree(edit as usize));
        assert_eq!(r["updateType"], "incremental");
        wait_ack(&server, &mut b, &session, 1 + edit);
        assert_eq!(
            b.eval(&node_js("n437"))["text"],
            format!("edited {edit}").as_str()
        );
        times.push(b.eval("lumora.last.ms").as_f64().unwrap());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let _ = writeln!(
        std::io::stderr(),
        "web device: one-node incremental update on 1,000 nodes (parse, apply, \
         re-render, checksum), headless Chromium: median {:.2} ms, min {:.2}, max {:.2} \
         over {} updates",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        times.len()
    );
}
