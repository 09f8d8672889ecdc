//! The web device keeps the UI state a user made (typed text, switches,
//! scroll offsets, focus and selection) when an update rebuilds those
//! elements, drops it on `preserveState: false`, and forgets a node's
//! state when the node goes. Headless Chromium on a real server; the text
//! is typed with the DevTools protocol's `Input.insertText`, as a keyboard
//! would.

use crate::browser::{connected_page, push, wait_ack};
use crate::chromium::Browser;
use crate::common::{http, schema};
use serde_json::{Value, json};

/// A form: a title, a text field, a switch, a multi-line field the user
/// leaves alone, and a short scrolling list. `pad` is the root's padding:
/// changing it rebuilds every element under it. `rows`: the rows' text
/// (a new one changes 30 nodes: a full update).
fn form(title: &str, pad: u32, with_name: Option<&str>, rows: &str) -> Value {
    let items: Vec<Value> = (0..30)
        .map(|i| json!({"id": format!("row-{i}"), "type": "Text", "props": {"text": format!("{rows} {i}"), "style": {"height": 20}}}))
        .collect();
    let mut children = vec![json!({"id": "title", "type": "Text", "props": {"text": title}})];
    if let Some(value) = with_name {
        let mut props = json!({"placeholder": "Name"});
        if !value.is_empty() {
            props["value"] = json!(value);
        }
        children.push(json!({"id": "name", "type": "TextInput", "props": props}));
    }
    children.extend([
        json!({"id": "agree", "type": "Switch", "props": {"value": false}}),
        json!({"id": "notes", "type": "TextInput", "props": {"multiline": true, "defaultValue": "from the schema"}}),
        json!({"id": "list", "type": "ScrollView", "props": {"style": {"height": 60}}, "children": items}),
    ]);
    schema(
        json!([{"id": "app", "type": "View", "props": {"style": {"padding": pad}}, "children": children}]),
    )
}

/// `document.querySelector` of the node with this id, as JavaScript.
fn q(id: &str) -> String {
    format!("document.querySelector('#lm-root [data-id=\"{id}\"]')")
}

/// What the test reads back: the fields' values, the switch, the list's
/// offset, what has focus and its selection, and whether the elements are
/// the ones marked before the update (`old`) or new ones.
fn ui(b: &mut Browser) -> Value {
    b.eval(&format!(
        "(() => {{ const n = {name}, a = document.activeElement; return {{ \
         title: {title}.textContent, name: n && n.value, nameOld: !!(n && n.__old), \
         agree: {agree}.checked, notes: {notes}.value, list: {list}.scrollTop, \
         listOld: !!{list}.__old, focus: a && a.dataset ? a.dataset.id || null : null, \
         sel: n ? [n.selectionStart, n.selectionEnd] : null }}; }})()",
        name = q("name"),
        title = q("title"),
        agree = q("agree"),
        notes = q("notes"),
        list = q("list"),
    ))
}

#[test]
fn typed_text_switches_scroll_and_focus_survive_updates_unless_told_not_to() {
    let Some((mut b, server, session)) = connected_page("typed_text_switches_scroll_and_focus")
    else {
        return;
    };
    // Focus follows the page as if its window had it (headless has none).
    b.call(
        "Emulation.setFocusEmulationEnabled",
        json!({"enabled": true}),
    );
    push(&server, &session, &form("Form v1", 8, Some(""), "row"));
    wait_ack(&server, &mut b, &session, 1);

    // The user types, flips the switch, scrolls the list and selects text.
    b.eval(&format!("{}.focus()", q("name")));
    b.call("Input.insertText", json!({"text": "Ada Lovelace"}));
    b.eval(&format!("{}.click()", q("agree")));
    b.eval(&format!(
        "new Promise((done) => {{ const l = {l}; l.addEventListener('scroll', done, {{once: true}}); l.scrollTop = 100; }})",
        l = q("list")
    ));
    b.eval(&format!(
        "(() => {{ const n = {n}; n.focus(); n.setSelectionRange(4, 8); n.__old = 1; {l}.__old = 1; }})()",
        n = q("name"),
        l = q("list")
    ));
    let before = ui(&mut b);
    assert_eq!(before["name"], "Ada Lovelace", "{before}");
    assert_eq!(before["agree"], true, "{before}");
    assert_eq!(before["list"], 100, "{before}");
    assert_eq!(before["focus"], "name", "{before}");

    // An update that rebuilds the whole form (the root's style changed):
    // every element is new, and the user's state is on them.
    let r = push(&server, &session, &form("Form v2", 9, Some(""), "row"));
    assert_eq!(r["updateType"], "incremental", "{r}");
    wait_ack(&server, &mut b, &session, 2);
    let after = ui(&mut b);
    assert_eq!(after["title"], "Form v2", "{after}");
    assert_eq!(after["nameOld"], false, "the field was rebuilt: {after}");
    assert_eq!(after["listOld"], false, "the list was rebuilt: {after}");
    assert_eq!(after["name"], "Ada Lovelace", "{after}");
    assert_eq!(after["agree"], true, "{after}");
    assert_eq!(after["list"], 100, "{after}");
    assert_eq!(after["focus"], "name", "{after}");
    assert_eq!(after["sel"], json!([4, 8]), "{after}");
    // Untouched by the user: the schema's value.
    assert_eq!(after["notes"], "from the schema", "{after}");

    // `preserveState=false`: the schema afresh, even for elements the
    // update does not name (only the title changed).
    let (status, r) = http(
        server.addr,
        "POST",
        &format!("/send/{session}?preserveState=false"),
        Some(&form("Form v3", 9, Some(""), "row")),
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["updateType"], "incremental", "{r}");
    wait_ack(&server, &mut b, &session, 3);
    let reset = ui(&mut b);
    assert_eq!(reset["title"], "Form v3", "{reset}");
    assert_eq!(reset["name"], "", "{reset}");
    assert_eq!(reset["agree"], false, "{reset}");
    assert_eq!(reset["list"], 0, "{reset}");
    // And the reset stays reset: the next preserving update keeps it so.
    push(&server, &session, &form("Form v4", 10, Some(""), "row"));
    wait_ack(&server, &mut b, &session, 4);
    assert_eq!(ui(&mut b)["name"], "", "{}", ui(&mut b));

    // A node's state goes with it: typed into, removed, added back with a
    // value of its own, it shows that value.
    b.eval(&format!("{}.focus()", q("name")));
    b.call("Input.insertText", json!({"text": "Grace"}));
    assert_eq!(ui(&mut b)["name"], "Grace");
    push(&server, &session, &form("Form v5", 10, None, "row"));
    wait_ack(&server, &mut b, &session, 5);
    assert_eq!(ui(&mut b)["name"], Value::Null);
    push(
        &server,
        &session,
        &form("Form v6", 10, Some("from the schema"), "row"),
    );
    wait_ack(&server, &mut b, &session, 6);
    let back = ui(&mut b);
    assert_eq!(back["name"], "from the schema", "{back}");

    // A full update rebuilds everything from the schema; the user's state
    // is kept there too.
    b.eval(&format!("{n}.focus(); {n}.select()", n = q("name")));
    b.call("Input.insertText", json!({"text": "Hopper"}));
    let r = push(
        &server,
        &session,
        &form("Form v7", 10, Some("from the schema"), "line"),
    );
    assert_eq!(r["updateType"], "full", "{r}");
    wait_ack(&server, &mut b, &session, 7);
    let full = ui(&mut b);
    assert_eq!(full["title"], "Form v7", "{full}");
    assert_eq!(full["name"], "Hopper", "{full}");
    assert_eq!(full["focus"], "name", "{full}");
}
