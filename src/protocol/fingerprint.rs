//! Node fingerprints: a 64-bit hash of each node's own fields (everything
//! but `children`) and of its whole subtree, computed once per schema.
//!
//! They let the delta skip unchanged subtrees with one comparison instead
//! of walking both trees value by value, and let the checksum reuse the
//! CRC of every subtree the previous schema already had (see
//! [`checksum`](super::checksum)). Equal values always have equal
//! fingerprints (object members are combined in any order, as JSON object
//! equality ignores order); different values have different ones except
//! for a 64-bit hash collision. A fingerprint that differs for equal values
//! (e.g. `0.0` and `-0.0`) only costs work, never correctness.

use serde_json::Value;
use std::hash::{DefaultHasher, Hash, Hasher};

/// The fingerprints of one node and, in order, of its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeFp {
    /// Hash of the node's fields other than `children`.
    pub own: u64,
    /// Hash of the node with its whole subtree.
    pub subtree: u64,
    /// The children's fingerprints, one per element of `children`.
    pub children: Vec<NodeFp>,
}

/// Fingerprints of a list of nodes (the schema's `nodes` or a `children`).
pub(crate) fn fingerprint_nodes(nodes: &[Value]) -> Vec<NodeFp> {
    nodes.iter().map(fingerprint_node).collect()
}

fn fingerprint_node(node: &Value) -> NodeFp {
    let Some(obj) = node.as_object() else {
        // Not a node (never in a valid schema): its value is all there is.
        let fp = value_fp(node);
        return NodeFp {
            own: fp,
            subtree: fp,
            children: Vec::new(),
        };
    };
    let mut members = 0u64;
    let mut count = 0u64;
    let mut kids: Option<&Value> = None;
    for (k, v) in obj {
        if k == "children" {
            kids = Some(v);
            continue;
        }
        count += 1;
        members = members.wrapping_add(member_fp(k, v));
    }
    let own = finish(|h| {
        7u8.hash(h);
        count.hash(h);
        members.hash(h);
    });
    let (children, kids_fp) = match kids {
        None => (Vec::new(), 0xA),
        Some(Value::Array(items)) => {
            let children = fingerprint_nodes(items);
            let fp = finish(|h| {
                0xBu8.hash(h);
                children.len().hash(h);
                for c in &children {
                    c.subtree.hash(h);
                }
            });
            (children, fp)
        }
        Some(other) => (Vec::new(), value_fp(other) ^ 0xC),
    };
    let subtree = finish(|h| {
        own.hash(h);
        kids_fp.hash(h);
    });
    NodeFp {
        own,
        subtree,
        children,
    }
}

fn finish(f: impl FnOnce(&mut DefaultHasher)) -> u64 {
    // `DefaultHasher::new()` has fixed keys: fingerprints are the same in
    // every run, so they may be compared across schemas.
    let mut h = DefaultHasher::new();
    f(&mut h);
    h.finish()
}

fn member_fp(k: &str, v: &Value) -> u64 {
    finish(|h| {
        k.hash(h);
        value_into(h, v);
    })
}

/// The fingerprint of any JSON value.
pub(crate) fn value_fp(v: &Value) -> u64 {
    finish(|h| value_into(h, v))
}

/// Feeds a value into `h`: scalars and arrays are streamed (a prefix-free
/// encoding: a tag, lengths, and `str`'s terminated bytes); each object
/// member gets a hasher of its own so that member order does not matter.
fn value_into(h: &mut DefaultHasher, v: &Value) {
    match v {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => (1u8, *b).hash(h),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                (2u8, u).hash(h)
            } else if let Some(i) = n.as_i64() {
                (3u8, i).hash(h)
            } else {
                (4u8, n.as_f64().unwrap_or(0.0).to_bits()).hash(h)
            }
        }
        Value::String(s) => (5u8, s.as_str()).hash(h),
        Value::Array(items) => {
            (6u8, items.len()).hash(h);
            for item in items {
                value_into(h, item);
            }
        }
        Value::Object(map) => {
            let sum = map
                .iter()
                .fold(0u64, |acc, (k, v)| acc.wrapping_add(member_fp(k, v)));
            (8u8, map.len(), sum).hash(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_values_have_equal_fingerprints_whatever_the_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"id":"a","type":"T","props":{"x":1,"y":[1,"s"]}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"props":{"y":[1,"s"],"x":1},"type":"T","id":"a"}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(fingerprint_node(&a), fingerprint_node(&b));
    }

    #[test]
    fn a_change_anywhere_changes_the_subtree_but_not_the_parent_s_own() {
        let tree = |text: &str| {
            json!({"id": "p", "type": "Column", "children": [
                {"id": "c", "type": "Text", "props": {"text": text}}
            ]})
        };
        let (a, b) = (fingerprint_node(&tree("a")), fingerprint_node(&tree("b")));
        assert_eq!(a.own, b.own);
        assert_ne!(a.subtree, b.subtree);
        assert_ne!(a.children[0].own, b.children[0].own);
        // Values that differ only in type or structure differ.
        for (x, y) in [
            (json!(1), json!(1.5)),
            (json!("1"), json!(1)),
            (json!([1, 2]), json!([2, 1])),
            (json!({"a": 1, "b": 2}), json!({"a": 2, "b": 1})),
            (json!(null), json!(false)),
            (json!([]), json!({})),
        ] {
            assert_ne!(value_fp(&x), value_fp(&y), "{x} vs {y}");
        }
        // No children and an empty list are different nodes.
        let none = fingerprint_node(&json!({"id": "a", "type": "T"}));
        let empty = fingerprint_node(&json!({"id": "a", "type": "T", "children": []}));
        assert_eq!(none.own, empty.own);
        assert_ne!(none.subtree, empty.subtree);
    }
}
