//! Big schemas for the push measurements (those of `benches/protocol.rs`,
//! from `benches/shared/schemas.rs`, so that the figures over HTTP compare
//! with its push table) and the edits pushed.

use crate::*;

pub(crate) use crate::schemas::{pretty, schema_value, tool_json};

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
