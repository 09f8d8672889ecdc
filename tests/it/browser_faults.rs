//! The web device when things go wrong, in headless Chromium: names that
//! JavaScript objects inherit, a whole schema the page cannot show, and a
//! server that goes silent without closing the connection.

use crate::amplification::ServerProcess;
use crate::browser::{connected_page, push, wait_ack, web_ack};
use crate::chromium::Browser;
use crate::common::schema;
use crate::common::{TestServer, http};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Polls `expression` until it is `true` or `within` has passed; returns
/// how long it took.
fn wait_for(b: &mut Browser, expression: &str, within: Duration, what: &str) -> Duration {
    let started = Instant::now();
    while b.eval(expression) != Value::Bool(true) {
        assert!(
            started.elapsed() < within,
            "timed out waiting for {what}; page state: {}",
            b.eval("lumora.state")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed()
}

#[test]
fn types_and_props_named_like_object_builtins_are_plain_names() {
    let Some((mut b, server, session)) = connected_page("types_and_props_named_like_builtins")
    else {
        return;
    };
    let names = [
        "constructor",
        "Constructor",
        "__proto__",
        "toString",
        "valueOf",
        "hasOwnProperty",
    ];
    let nodes: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"id": format!("n{i}"), "type": t, "props": {
                "text": t, "constructor": "x", "toString": 1,
                "style": {"toString": 1, "__proto__": {"color": "red"}, "constructor": 2, "padding": 3}
            }})
        })
        .collect();
    push(&server, &session, &schema(Value::Array(nodes)));
    wait_ack(&server, &mut b, &session, 1);
    // Each is an unknown type's labelled box, with its text and its one
    // real style.
    let shown = b.eval(
        "[...document.querySelectorAll('#lm-root .lm')].map((e) => \
         [e.dataset.type, e.classList.contains('lm-u'), e.textContent, e.style.padding])",
    );
    let want: Vec<Value> = names.iter().map(|t| json!([t, true, t, "3px"])).collect();
    assert_eq!(shown, Value::Array(want));
    assert_eq!(b.eval("lumora.last.ok"), true);
}

#[test]
fn a_whole_schema_the_page_cannot_show_leaves_it_as_it_was_and_is_not_asked_for_again() {
    let Some((mut b, server, session)) = connected_page("a_whole_schema_the_page_cannot_show")
    else {
        return;
    };
    let page = |title: &str, rows: &str| {
        let items: Vec<Value> = (0..12)
            .map(|i| json!({"id": format!("r{i}"), "type": "Text", "props": {"text": format!("{rows} {i}")}}))
            .collect();
        schema(json!([
            {"id": "title", "type": "Text", "props": {"text": title}},
            {"id": "list", "type": "View", "children": items}
        ]))
    };
    push(&server, &session, &page("v1", "row"));
    wait_ack(&server, &mut b, &session, 1);
    // From now on building a page fails, and every reload the page asks
    // for is counted.
    b.eval(
        "window.__fail = true; window.__reloads = 0; \
         const create = Document.prototype.createElement; \
         Document.prototype.createElement = function (t) { \
           if (window.__fail) throw new Error('injected failure'); return create.call(this, t); }; \
         const send = WebSocket.prototype.send; \
         WebSocket.prototype.send = function (d) { \
           if (String(d).includes('\"type\":\"reload\"')) window.__reloads++; return send.call(this, d); }",
    );
    // 13 nodes change: a full update.
    let r = push(&server, &session, &page("v2", "line"));
    assert_eq!(r["updateType"], "full", "{r}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while web_ack(&server, &session) != Some((2, false)) {
        assert!(Instant::now() < deadline, "no failed ack of #2");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The reload would have been sent with the ack, in the same task.
    assert_eq!(
        b.eval("window.__reloads"),
        0,
        "asked for the same schema again"
    );
    let seen = b.eval(
        "({title: document.querySelector('[data-id=title]').textContent, \
          held: lumora.schema.nodes[0].props.text, rows: document.querySelectorAll('#lm-root .lm').length, \
          overlay: !document.getElementById('lm-err').hidden, \
          says: document.getElementById('lm-err').textContent})",
    );
    assert_eq!(seen["title"], "v1", "{seen}");
    assert_eq!(
        seen["held"], "v1",
        "the schema held must be what is shown: {seen}"
    );
    assert_eq!(seen["rows"], 14, "{seen}");
    assert_eq!(seen["overlay"], true, "{seen}");
    let says = seen["says"].as_str().unwrap_or_default();
    assert!(
        says.contains("Cannot show update #2") && says.contains("injected failure"),
        "{seen}"
    );
    // Once pages can be built again, the next push puts it right (its
    // delta does not fit what the page holds: the page asks for the whole
    // schema, which it now shows).
    b.eval("window.__fail = false");
    push(&server, &session, &page("v3", "line"));
    wait_ack(&server, &mut b, &session, 3);
    assert_eq!(
        b.eval("document.querySelector('[data-id=title]').textContent + ' ' + document.getElementById('lm-err').hidden"),
        "v3 true"
    );
}

#[test]
fn a_server_gone_silent_is_noticed_within_the_pong_wait_and_the_page_resumes() {
    let Some(mut b) = Browser::start("a_server_gone_silent") else {
        return;
    };
    let server = ServerProcess::start();
    server.push(&schema(
        json!([{"id": "t", "type": "Text", "props": {"text": "hello"}}]),
    ));
    b.open(&format!("http://{}/s/{}", server.addr, server.session));
    wait_for(
        &mut b,
        "window.lumora && lumora.state === 'connected' && lumora.sequence === 1",
        Duration::from_secs(10),
        "the page to connect",
    );
    // The server stops answering but its sockets stay open, as across a
    // network that changed under a phone.
    let pid = server.pid() as libc::pid_t;
    // SAFETY: signals our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    b.eval("lumora.ping()");
    let noticed = wait_for(
        &mut b,
        "lumora.state !== 'connected'",
        Duration::from_secs(20),
        "the dead link to be noticed",
    );
    eprintln!("a silent server noticed {noticed:?} after a ping");
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    wait_for(
        &mut b,
        "lumora.state === 'connected' && lumora.resumes === 1",
        Duration::from_secs(20),
        "the page to reconnect and resume",
    );
    assert_eq!(
        b.eval("document.querySelector('[data-id=t]').textContent"),
        "hello"
    );
}

#[test]
fn a_schema_of_130_000_top_level_nodes_is_shown() {
    let Some((mut b, server, session)) = connected_page("a_schema_of_130_000_top_level_nodes")
    else {
        return;
    };
    // More children than one call's arguments can spread (~120,000 here).
    let nodes: Vec<Value> = (0..130_000)
        .map(|i| json!({"id": format!("n{i}"), "type": "View"}))
        .collect();
    push(&server, &session, &schema(Value::Array(nodes)));
    let deadline = Instant::now() + Duration::from_secs(60);
    while web_ack(&server, &session) != Some((1, true)) {
        assert!(
            Instant::now() < deadline,
            "no successful ack: {:?}, page {}",
            web_ack(&server, &session),
            b.eval("lumora.last")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        b.eval("document.querySelectorAll('#lm-root > .lm').length"),
        130_000
    );
}

/// Keys named `__proto__` (top level and in metadata) are plain keys to
/// the page's checksum too, with `metadata.generatedAt` left out of it.
#[test]
fn a_proto_key_beside_generated_at_keeps_the_checksum() {
    let Some((mut b, server, session)) = connected_page("a_proto_key_beside_generated_at") else {
        return;
    };
    let text = r#"{"version":"1","metadata":{"generatedAt":1,"__proto__":{"y":1}},"__proto__":{"x":1},"nodes":[{"id":"t","type":"Text","props":{"text":"p"}}]}"#;
    let (status, reply) = server.push_text(&session, text);
    assert_eq!(status, 200, "{reply}");
    // A mismatch is a failed ack: the page's checksum lost a key.
    wait_ack(&server, &mut b, &session, 1);
    assert_eq!(b.eval("lumora.last.ok"), true);
}

/// How the page ends: a damaged URL, a deleted session (with what to do,
/// shown over the UI even with the bar folded), and a node stacked high
/// does not cover that notice; the server's idle timeout (1000
/// "Connection timeout", a phone that slept) is not an end: the page
/// resumes.
#[test]
fn the_page_says_why_it_stopped_and_resumes_after_an_idle_timeout() {
    let Some(mut b) = Browser::start("the_page_says_why_it_stopped") else {
        return;
    };
    let server = TestServer::start();
    let shown = |b: &mut Browser| {
        b.eval(
            "JSON.stringify([lumora.state, !document.getElementById('lm-err').hidden, \
             document.getElementById('lm-err-t').textContent, document.getElementById('lm-err-h').textContent])",
        )
    };
    b.open(&format!("http://{}/s/%E0%A4%A", server.addr));
    wait_for(
        &mut b,
        "window.lumora !== undefined && lumora.state.startsWith('closed')",
        Duration::from_secs(10),
        "a damaged URL to be said",
    );
    let s = shown(&mut b).to_string();
    assert!(s.contains("the session id in the URL is damaged"), "{s}");
    assert!(
        s.contains("true") && s.contains("scan its QR code again"),
        "{s}"
    );

    let session = server.session();
    b.open(&format!("http://{}/s/{session}", server.addr));
    wait_for(
        &mut b,
        "lumora.state === 'connected'",
        Duration::from_secs(10),
        "the page to connect",
    );
    // A full-screen node stacked above everything, as a modal backdrop is.
    push(
        &server,
        &session,
        &schema(json!([{"id": "modal", "type": "View", "props": {"style": {
            "position": "absolute", "top": 0, "left": 0, "right": 0, "bottom": 0,
            "zIndex": 1_000_000, "backgroundColor": "rgba(0,0,0,0.9)"}}}])),
    );
    wait_ack(&server, &mut b, &session, 1);
    b.eval("document.getElementById('lm-bar-t').click()");
    let (status, _) = http(server.addr, "DELETE", &format!("/session/{session}"), None);
    assert_eq!(status, 200);
    wait_for(
        &mut b,
        "!document.getElementById('lm-err').hidden",
        Duration::from_secs(10),
        "the deletion to be shown",
    );
    let s = shown(&mut b).to_string();
    assert!(
        s.contains("closed: the session was closed on the server"),
        "{s}"
    );
    assert!(s.contains("deleted on the server"), "{s}");
    assert_eq!(
        b.eval(
            "document.getElementById('lm-err').contains(document.elementFromPoint(innerWidth / 2, innerHeight / 2))"
        ),
        true,
        "the notice is under the node"
    );

    // Idle: the server closes the page's connection with 1000 "Connection
    // timeout" (pings from the server far apart), and the page comes back.
    let idle = TestServer::with(|c| {
        c.hub.idle_timeout = Duration::from_millis(700);
        c.hub.ping_interval = Duration::from_secs(60);
    });
    let session = idle.session();
    push(
        &idle,
        &session,
        &schema(json!([{"id": "t", "type": "Text", "props": {"text": "hi"}}])),
    );
    b.open(&format!("http://{}/s/{session}", idle.addr));
    wait_for(
        &mut b,
        "lumora.state === 'connected' && lumora.resumes >= 1",
        Duration::from_secs(20),
        "the page to resume after the idle timeout",
    );
    assert!(!b.eval("lumora.state").to_string().contains("closed"));
}
