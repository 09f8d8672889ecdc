//! The web device when things go wrong, in headless Chromium: names that
//! JavaScript objects inherit, a whole schema the page cannot show, and a
//! server that goes silent without closing the connection.

use crate::amplification::ServerProcess;
use crate::browser::{connected_page, push, wait_ack, web_ack};
use crate::chromium::Browser;
use crate::common::schema;
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
