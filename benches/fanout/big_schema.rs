//! Big schemas for the push measurements: the generator of
//! `benches/protocol.rs` (4 node levels of 6: screen, section, row, widget,
//! each with a few string and number props), written with keys in the
//! order a tool emits them as its push table does, so that the figures over
//! HTTP compare with that table; and the edits pushed.

use crate::*;

const FANOUT: usize = 6;
const LEVELS: usize = 4;

fn node(id: usize, level: usize, children: Vec<Value>) -> Value {
    let kinds = ["Screen", "Section", "Row", "Text", "Button", "Image"];
    let kind = if level < LEVELS {
        kinds[level - 1]
    } else {
        kinds[3 + id % 3]
    };
    let mut n = json!({
        "id": format!("node-{id}"),
        "type": kind,
        "props": {
            "text": format!("Item number {id}"),
            "color": "#336699",
            "fontSize": 12 + id % 8,
            "padding": (id % 5) as f64 * 2.5,
            "accessibilityLabel": format!("label {id}"),
        },
    });
    if kind == "Button" {
        n["events"] = json!({"onPress": format!("handler{id}")});
    }
    if level < LEVELS {
        n["children"] = Value::Array(children);
    }
    n
}

/// Up to `FANOUT` nodes at `depth`, each with its subtree, until `total`
/// nodes exist.
fn level(next: &mut usize, total: usize, depth: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..FANOUT {
        if *next >= total {
            break;
        }
        let id = *next;
        *next += 1;
        let children = if depth < LEVELS {
            level(next, total, depth + 1)
        } else {
            Vec::new()
        };
        out.push(node(id, depth, children));
    }
    out
}

/// A schema of `total` nodes (`schema_value` of `benches/protocol.rs`):
/// 10,000 nodes encode to about 1.6 MB, 63,500 to about 10.4 MB.
pub(crate) fn schema_value(total: usize) -> Value {
    let mut next = 0;
    let mut nodes = Vec::new();
    while next < total {
        nodes.extend(level(&mut next, total, 1));
    }
    json!({
        "version": "1.0",
        "metadata": {"sourceFramework": "react", "sourceFile": "App.tsx", "generatedAt": 1_700_000_000_000u64},
        "theme": {"primary": "#3366ff", "background": "#ffffff"},
        "nodes": nodes,
    })
}

/// Key order of a UI tool's output (`id`, `type`, `props`, ...,
/// `children` last), as `benches/protocol/push.rs` pushes them; keys not
/// listed go after these, by name.
const KEY_ORDER: [&str; 14] = [
    "version",
    "metadata",
    "theme",
    "nodes",
    "id",
    "type",
    "props",
    "text",
    "color",
    "fontSize",
    "padding",
    "accessibilityLabel",
    "events",
    "children",
];

/// `v` as compact JSON with its keys in [`KEY_ORDER`] (not sorted, so the
/// server's checksum has the sorting to do that real pushes give it).
pub(crate) fn tool_json(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let rank = |k: &str| {
                    KEY_ORDER
                        .iter()
                        .position(|o| *o == k)
                        .unwrap_or(KEY_ORDER.len())
                };
                let mut members: Vec<(&String, &Value)> = m.iter().collect();
                members.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)).then(a.0.cmp(b.0)));
                out.push('{');
                for (i, (k, v)) in members.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// Sets the `text` prop of the node `node-{id}`, wherever it is; false
/// when there is no such node.
pub(crate) fn set_text(v: &mut Value, id: usize, text: &str) -> bool {
    fn walk(nodes: &mut [Value], id: &str, text: &str) -> bool {
        for n in nodes {
            if n["id"] == id {
                n["props"]["text"] = json!(text);
                return true;
            }
            if let Some(Value::Array(kids)) = n.get_mut("children") {
                if walk(kids, id, text) {
                    return true;
                }
            }
        }
        false
    }
    match v.get_mut("nodes") {
        Some(Value::Array(nodes)) => walk(nodes, &format!("node-{id}"), text),
        _ => false,
    }
}

/// Ids of the nodes without children (the widgets), depth first.
pub(crate) fn leaf_ids(v: &Value) -> Vec<usize> {
    fn walk(nodes: &[Value], out: &mut Vec<usize>) {
        for n in nodes {
            match n.get("children") {
                Some(Value::Array(kids)) => walk(kids, out),
                _ => {
                    let id = n["id"].as_str().and_then(|s| s.strip_prefix("node-"));
                    out.extend(id.and_then(|s| s.parse::<usize>().ok()));
                }
            }
        }
    }
    let mut out = Vec::new();
    if let Some(Value::Array(nodes)) = v.get("nodes") {
        walk(nodes, &mut out);
    }
    out
}

/// `initial` and then `pushes` bodies, each with one more leaf's text
/// changed than the one before (leaves spread over the tree): every push
/// is a one-prop edit of one node deep in the tree, against the last one.
pub(crate) fn one_prop_edits(total: usize, pushes: usize) -> Vec<String> {
    let mut v = schema_value(total);
    let leaves = leaf_ids(&v);
    let mut out = vec![tool_json(&v)];
    for r in 1..=pushes {
        let id = leaves[(r * 7_919 + leaves.len() / 2) % leaves.len()];
        assert!(set_text(&mut v, id, &format!("edited in push {r}")));
        out.push(tool_json(&v));
    }
    out
}

/// Nodes whose text differs between the two schemas of
/// [`two_full_schemas`]: more than the incremental threshold (10), so each
/// push of one after the other is a full update.
pub(crate) const FULL_EDITS: usize = 64;

/// Two schemas of `total` nodes that differ in [`FULL_EDITS`] nodes' text
/// (same length, so both stay under the body limit when one does).
pub(crate) fn two_full_schemas(total: usize) -> [String; 2] {
    let a = schema_value(total);
    let mut b = a.clone();
    let leaves = leaf_ids(&a);
    for k in 0..FULL_EDITS {
        let id = leaves[k * (leaves.len() / FULL_EDITS)];
        assert!(set_text(&mut b, id, &format!("Item NUMBER {id}")));
    }
    [tool_json(&a), tool_json(&b)]
}
