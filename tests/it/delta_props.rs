//! Property tests of the delta rules on randomly generated trees: for every pair of
//! valid schemas, `apply(old, delta(old, new)) == new` (same JSON value, same
//! checksum), the delta survives the wire, it stays small, and the checksum
//! computed reusing the previous schema's subtree CRCs equals the one
//! computed from scratch.
//!
//! Schemas are random trees (unique ids, up to 6 node levels, optional
//! `props` / `children` / `metadata`, extra node keys, extra top-level keys).
//! A second schema is made by applying a list of random edits to the first:
//! prop and field changes, removals, insertions, moves between parents and to
//! or from the top level, reorders, and top-level key changes.

use lumora_hr_mini::protocol::{
    DEFAULT_INCREMENTAL_THRESHOLD, Schema, SchemaDelta, UpdatePlan, apply_schema_delta,
    calculate_checksum, calculate_schema_delta, choose_update, create_incremental_update,
    deserialize_message, serialize_message, should_use_incremental_update,
};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

// ---------------------------------------------------------------- generators

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{1,6}",
        1 => "\\PC{1,4}",
        1 => Just("generatedAt".to_string()),
        1 => Just("id".to_string()),
        1 => Just("children".to_string()),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e4..1e4f64).prop_map(Value::from),
        (POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO).prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::from),
        "[\"\\\\\n\t\u{1}\u{7f}\u{2028}a-c]{0,4}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(key(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    btree_map(key(), json_value(), 0..4).prop_map(|m| m.into_iter().collect())
}

fn node_type() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("View".to_string()),
        Just("Text".to_string()),
        Just("Button".to_string()),
        Just("Image".to_string()),
        "[A-Z][a-z]{0,7}",
    ]
}

/// A node's own fields (no `id`, no `children`). `props` and `metadata` are
/// sometimes absent; `state`, `events`, `lifecycle` sometimes present.
fn node_body() -> impl Strategy<Value = Map<String, Value>> {
    (
        node_type(),
        prop::option::weighted(0.8, object()),
        prop::option::weighted(0.3, object()),
        prop::option::weighted(0.2, json_value()),
        prop::option::weighted(0.2, json_value()),
        prop::option::weighted(0.1, json_value()),
    )
        .prop_map(|(ty, props, metadata, state, events, lifecycle)| {
            let mut m = Map::new();
            m.insert("type".into(), Value::String(ty));
            let optional = [
                ("props", props.map(Value::Object)),
                ("metadata", metadata.map(Value::Object)),
                ("state", state),
                ("events", events),
                ("lifecycle", lifecycle),
            ];
            for (k, v) in optional {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            m
        })
}

/// A subtree without ids; leaves sometimes have `children: []`, sometimes no
/// `children` key at all. Up to 6 node levels.
fn subtree() -> impl Strategy<Value = Value> {
    let leaf = (node_body(), any::<bool>()).prop_map(|(mut m, empty_children)| {
        if empty_children {
            m.insert("children".into(), json!([]));
        }
        Value::Object(m)
    });
    leaf.prop_recursive(5, 40, 4, |inner| {
        (node_body(), vec(inner, 0..4)).prop_map(|(mut m, kids)| {
            m.insert("children".into(), Value::Array(kids));
            Value::Object(m)
        })
    })
}

/// Gives every node of `nodes` a unique id `{prefix}{n}`, in pre-order.
fn assign_ids(nodes: &mut [Value], prefix: &str, next: &mut usize) {
    for n in nodes {
        n["id"] = Value::String(format!("{prefix}{next}"));
        *next += 1;
        if let Some(Value::Array(kids)) = n.get_mut("children") {
            assign_ids(kids, prefix, next);
        }
    }
}

fn schema_value() -> impl Strategy<Value = Value> {
    (
        "[0-9]\\.[0-9]",
        object(),
        vec(subtree(), 0..5),
        prop::option::of(json_value()),
        prop::option::of(json_value()),
        prop::option::of(json_value()),
        btree_map("x[a-z]{1,4}", json_value(), 0..2),
    )
        .prop_map(
            |(version, metadata, mut nodes, theme, navigation, nav_schema, extra)| {
                assign_ids(&mut nodes, "n", &mut 0);
                let mut s = Map::new();
                s.insert("version".into(), Value::String(version));
                s.insert("metadata".into(), Value::Object(metadata));
                s.insert("nodes".into(), Value::Array(nodes));
                for (k, v) in [
                    ("theme", theme),
                    ("navigation", navigation),
                    ("navigationSchema", nav_schema),
                ] {
                    if let Some(v) = v {
                        s.insert(k.into(), v);
                    }
                }
                s.extend(extra);
                Value::Object(s)
            },
        )
}

fn schema() -> impl Strategy<Value = Schema> {
    schema_value().prop_map(|v| Schema::from_value(v).expect("generated schemas are valid"))
}

// --------------------------------------------------------------------- edits

/// A top-level key edit.
#[derive(Debug, Clone)]
enum KeyEdit {
    Metadata(Map<String, Value>),
    GeneratedAt(Value),
    Version(String),
    Remove(&'static str),
    Set(&'static str, Value),
    SetNull(&'static str),
}

const TOP_KEYS: [&str; 6] = [
    "theme",
    "navigation",
    "navigationSchema",
    "animations",
    "xa",
    "metadata",
];

#[derive(Debug, Clone)]
enum Edit {
    /// `props[key] = value`, or `props[key][sub] = value` when `nested`.
    SetProp {
        node: Index,
        key: String,
        sub: String,
        nested: bool,
        value: Value,
    },
    /// Another own field: set (`Some`) or delete (`None`).
    SetField {
        node: Index,
        field: &'static str,
        value: Option<Value>,
    },
    /// Delete a node with its subtree.
    Remove { node: Index },
    /// Delete a leaf and add a new leaf elsewhere: same node count.
    RemoveAndAdd {
        leaf: Index,
        parent: Index,
        pos: Index,
        body: Map<String, Value>,
    },
    /// Move a subtree under another parent (or the top level).
    Move {
        node: Index,
        parent: Index,
        pos: Index,
    },
    /// Insert a new subtree anywhere in a child list (or the top level).
    Insert {
        parent: Index,
        pos: Index,
        tree: Value,
    },
    /// Swap children of a node with at least two (or of the top level).
    Reorder {
        parent: Index,
        swaps: Vec<(Index, Index)>,
        reverse: bool,
    },
    /// Add `children: []` to a node without the key, or drop an empty one.
    ToggleChildren { node: Index },
    /// A top-level key change.
    Key(KeyEdit),
}

fn field_edit() -> impl Strategy<Value = (&'static str, Option<Value>)> {
    prop_oneof![
        node_type().prop_map(|t| ("type", Some(Value::String(t)))),
        prop::option::of(object().prop_map(Value::Object)).prop_map(|v| ("props", v)),
        prop::option::of(object().prop_map(Value::Object)).prop_map(|v| ("metadata", v)),
        prop::option::of(json_value()).prop_map(|v| ("state", v)),
        prop::option::of(json_value()).prop_map(|v| ("events", v)),
        prop::option::of(json_value()).prop_map(|v| ("lifecycle", v)),
    ]
}

fn key_edit() -> impl Strategy<Value = KeyEdit> {
    let top = || prop::sample::select(&TOP_KEYS[..5]);
    prop_oneof![
        object().prop_map(KeyEdit::Metadata),
        json_value().prop_map(KeyEdit::GeneratedAt),
        "[0-9]\\.[0-9]".prop_map(KeyEdit::Version),
        prop::sample::select(&TOP_KEYS[..]).prop_map(KeyEdit::Remove),
        (top(), json_value()).prop_map(|(k, v)| KeyEdit::Set(k, v)),
        // Rare: the one change a delta cannot express.
        top().prop_map(KeyEdit::SetNull),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<Index>(), key(), key(), any::<bool>(), json_value()).prop_map(
            |(node, key, sub, nested, value)| Edit::SetProp { node, key, sub, nested, value }
        ),
        2 => (any::<Index>(), field_edit())
            .prop_map(|(node, (field, value))| Edit::SetField { node, field, value }),
        2 => any::<Index>().prop_map(|node| Edit::Remove { node }),
        2 => (any::<Index>(), any::<Index>(), any::<Index>(), node_body()).prop_map(
            |(leaf, parent, pos, body)| Edit::RemoveAndAdd { leaf, parent, pos, body }
        ),
        3 => (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(node, parent, pos)| Edit::Move { node, parent, pos }),
        2 => (any::<Index>(), any::<Index>(), subtree())
            .prop_map(|(parent, pos, tree)| Edit::Insert { parent, pos, tree }),
        2 => (any::<Index>(), vec((any::<Index>(), any::<Index>()), 1..3), any::<bool>())
            .prop_map(|(parent, swaps, reverse)| Edit::Reorder { parent, swaps, reverse }),
        1 => any::<Index>().prop_map(|node| Edit::ToggleChildren { node }),
        2 => key_edit().prop_map(Edit::Key),
    ]
}

/// Paths of every node, pre-order: indices from the top-level list down.
fn paths(nodes: &[Value]) -> Vec<Vec<usize>> {
    fn walk(nodes: &[Value], prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        for (i, n) in nodes.iter().enumerate() {
            prefix.push(i);
            out.push(prefix.clone());
            if let Some(Value::Array(kids)) = n.get("children") {
                walk(kids, prefix, out);
            }
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    walk(nodes, &mut Vec::new(), &mut out);
    out
}

fn node_mut<'a>(nodes: &'a mut [Value], path: &[usize]) -> &'a mut Value {
    let mut cur = &mut nodes[path[0]];
    for &i in &path[1..] {
        cur = &mut cur["children"][i];
    }
    cur
}

/// The child list at `parent` (`None` = top level), created when absent.
fn list_mut<'a>(nodes: &'a mut Vec<Value>, parent: Option<&[usize]>) -> &'a mut Vec<Value> {
    let Some(path) = parent else {
        return nodes;
    };
    let node = node_mut(nodes, path);
    let obj = node.as_object_mut().expect("node object");
    match obj
        .entry("children")
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        Value::Array(kids) => kids,
        _ => unreachable!("children is an array"),
    }
}

/// Picks a node path, or `None` when the tree is empty.
fn pick(nodes: &[Value], i: &Index) -> Option<Vec<usize>> {
    let all = paths(nodes);
    (!all.is_empty()).then(|| all[i.index(all.len())].clone())
}

/// Picks a child list: the top level (`None`) or any node.
fn pick_parent(nodes: &[Value], i: &Index) -> Option<Vec<usize>> {
    let all = paths(nodes);
    let k = i.index(all.len() + 1);
    (k > 0).then(|| all[k - 1].clone())
}

fn detach(nodes: &mut Vec<Value>, path: &[usize]) -> Value {
    let (last, parent) = path.split_last().expect("non-empty path");
    let parent = (!parent.is_empty()).then_some(parent);
    list_mut(nodes, parent).remove(*last)
}

fn insert_at(nodes: &mut Vec<Value>, parent: &Index, pos: &Index, node: Value) {
    let parent = pick_parent(nodes, parent);
    let list = list_mut(nodes, parent.as_deref());
    let at = pos.index(list.len() + 1);
    list.insert(at, node);
}

fn apply_edits(old: &Schema, edits: &[Edit]) -> Schema {
    let mut v = old.as_value().clone();
    let mut fresh = 0usize;
    for edit in edits {
        let obj = v.as_object_mut().expect("schema object");
        if let Edit::Key(k) = edit {
            match k {
                KeyEdit::Metadata(m) => {
                    obj.insert("metadata".into(), Value::Object(m.clone()));
                }
                KeyEdit::GeneratedAt(g) => {
                    obj["metadata"]["generatedAt"] = g.clone();
                }
                KeyEdit::Version(s) => {
                    obj.insert("version".into(), Value::String(s.clone()));
                }
                KeyEdit::Remove(k) => {
                    if *k != "metadata" {
                        obj.remove(*k);
                    }
                }
                KeyEdit::Set(k, val) => {
                    obj.insert(k.to_string(), val.clone());
                }
                KeyEdit::SetNull(k) => {
                    obj.insert(k.to_string(), Value::Null);
                }
            }
            continue;
        }
        let Some(Value::Array(nodes)) = obj.get_mut("nodes") else {
            unreachable!("nodes is an array")
        };
        match edit {
            Edit::SetProp {
                node,
                key,
                sub,
                nested,
                value,
            } => {
                let Some(p) = pick(nodes, node) else { continue };
                let n = node_mut(nodes, &p).as_object_mut().expect("node");
                let props = n
                    .entry("props")
                    .or_insert_with(|| Value::Object(Map::new()));
                if *nested {
                    let inner = props
                        .as_object_mut()
                        .expect("props object")
                        .entry(key.clone())
                        .or_insert_with(|| json!({}));
                    if !inner.is_object() {
                        *inner = json!({});
                    }
                    inner[sub.as_str()] = value.clone();
                } else {
                    props[key.as_str()] = value.clone();
                }
            }
            Edit::SetField { node, field, value } => {
                let Some(p) = pick(nodes, node) else { continue };
                let n = node_mut(nodes, &p).as_object_mut().expect("node");
                match value {
                    Some(v) => n.insert(field.to_string(), v.clone()),
                    None => n.remove(*field),
                };
            }
            Edit::Remove { node } => {
                if let Some(p) = pick(nodes, node) {
                    detach(nodes, &p);
                }
            }
            Edit::RemoveAndAdd {
                leaf,
                parent,
                pos,
                body,
            } => {
                let leaves: Vec<_> = paths(nodes)
                    .into_iter()
                    .filter(|p| {
                        node_mut(nodes, p)
                            .get("children")
                            .and_then(Value::as_array)
                            .is_none_or(Vec::is_empty)
                    })
                    .collect();
                if leaves.is_empty() {
                    continue;
                }
                detach(nodes, &leaves[leaf.index(leaves.len())]);
                let mut new = body.clone();
                new.insert("id".into(), Value::String(format!("new{fresh}")));
                fresh += 1;
                insert_at(nodes, parent, pos, Value::Object(new));
            }
            Edit::Move { node, parent, pos } => {
                let Some(p) = pick(nodes, node) else { continue };
                let moved = detach(nodes, &p);
                // Chosen among what is left, so never inside itself.
                insert_at(nodes, parent, pos, moved);
            }
            Edit::Insert { parent, pos, tree } => {
                let mut t = [tree.clone()];
                assign_ids(&mut t, &format!("ins{fresh}_"), &mut 0);
                fresh += 1;
                let [t] = t;
                insert_at(nodes, parent, pos, t);
            }
            Edit::Reorder {
                parent,
                swaps,
                reverse,
            } => {
                let parents: Vec<Option<Vec<usize>>> = std::iter::once(None)
                    .chain(paths(nodes).into_iter().map(Some))
                    .filter(|p| {
                        let len = match p {
                            None => nodes.len(),
                            Some(p) => node_mut(nodes, p)
                                .get("children")
                                .and_then(Value::as_array)
                                .map_or(0, Vec::len),
                        };
                        len >= 2
                    })
                    .collect();
                if parents.is_empty() {
                    continue;
                }
                let chosen = parents[parent.index(parents.len())].clone();
                let list = list_mut(nodes, chosen.as_deref());
                if *reverse {
                    list.reverse();
                }
                for (a, b) in swaps {
                    let len = list.len();
                    list.swap(a.index(len), b.index(len));
                }
            }
            Edit::ToggleChildren { node } => {
                let Some(p) = pick(nodes, node) else { continue };
                let n = node_mut(nodes, &p).as_object_mut().expect("node");
                match n.get("children") {
                    None => {
                        n.insert("children".into(), json!([]));
                    }
                    Some(Value::Array(kids)) if kids.is_empty() => {
                        n.remove("children");
                    }
                    _ => {}
                }
            }
            Edit::Key(_) => unreachable!("handled above"),
        }
    }
    Schema::from_value(v).expect("edits keep schemas valid")
}

// -------------------------------------------------------------------- checks

/// True when `new` sets some top-level key to `null` that was not `null`
/// (or absent) in `old`: the one change `metadataChanges` cannot express.
fn newly_null(old: &Schema, new: &Schema) -> bool {
    let (Some(o), Some(n)) = (old.as_value().as_object(), new.as_value().as_object()) else {
        return false;
    };
    n.iter()
        .any(|(k, v)| k != "nodes" && v.is_null() && o.get(k) != Some(&Value::Null))
}

/// Every node of a schema by id.
fn index(schema: &Schema) -> HashMap<String, Value> {
    fn walk(nodes: &[Value], out: &mut HashMap<String, Value>) {
        for n in nodes {
            out.insert(n["id"].as_str().expect("id").to_string(), n.clone());
            if let Some(Value::Array(kids)) = n.get("children") {
                walk(kids, out);
            }
        }
    }
    let mut out = HashMap::new();
    walk(schema.nodes(), &mut out);
    out
}

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

fn check_applies(
    old: &Schema,
    new: &Schema,
    d: &SchemaDelta,
    what: &str,
) -> Result<(), TestCaseError> {
    let applied = apply_schema_delta(old, d)
        .map_err(|e| fail(format!("{what}: apply failed: {e}\ndelta: {d:?}")))?;
    prop_assert_eq!(
        applied.as_value(),
        new.as_value(),
        "{}: apply(old, delta) != new\ndelta: {:?}",
        what,
        d
    );
    prop_assert_eq!(applied.checksum(), new.checksum(), "{}: checksum", what);
    Ok(())
}

/// The checksum of `new` computed reusing `old`'s subtree CRCs equals the
/// one computed from scratch (on fresh copies, so nothing is cached yet).
fn check_incremental_checksum(old: &Schema, new: &Schema) -> Result<(), TestCaseError> {
    let fresh = |s: &Schema| Schema::from_value(s.as_value().clone()).expect("valid");
    let (old, new) = (fresh(old), fresh(new));
    let scratch = calculate_checksum(new.as_value());
    prop_assert_eq!(new.checksum_after(&old), scratch.as_str());
    prop_assert_eq!(old.checksum(), calculate_checksum(old.as_value()));
    // And once more from the result, as the next push would.
    let again = fresh(&new);
    prop_assert_eq!(again.checksum_after(&new), scratch.as_str());
    Ok(())
}

/// The delta invariant and its companions for one pair of schemas.
fn check_pair(old: &Schema, new: &Schema) -> Result<(), TestCaseError> {
    check_incremental_checksum(old, new)?;
    let plan = choose_update(Some(old), new, DEFAULT_INCREMENTAL_THRESHOLD);
    let Some(d) = calculate_schema_delta(old, new) else {
        prop_assert!(
            newly_null(old, new),
            "no delta, yet no top-level key was newly set to null"
        );
        prop_assert!(!matches!(plan, UpdatePlan::Incremental(_)));
        return Ok(());
    };
    check_applies(old, new, &d, "calculate_schema_delta")?;

    // Small: nothing for equal schemas; every listed id is a real change.
    if old.as_value() == new.as_value() {
        prop_assert!(d.is_empty(), "equal schemas gave {:?}", d);
    }
    let before = index(old);
    for m in &d.modified {
        let id = m["id"].as_str().unwrap_or_default();
        prop_assert!(before.contains_key(id), "modified {} not in old", id);
        prop_assert_ne!(&before[id], m, "modified {} did not change", id);
    }
    for id in &d.removed {
        prop_assert!(before.contains_key(id), "removed {} not in old", id);
    }

    // The delta survives serde and the wire.
    let text = serde_json::to_string(&d).map_err(|e| fail(e.to_string()))?;
    let back: SchemaDelta = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
    prop_assert_eq!(&back, &d, "delta serde round trip: {}", text);
    let msg = create_incremental_update("s", d.clone(), 1, new.checksum(), true);
    let wire = serialize_message(&msg);
    let decoded = deserialize_message(wire.as_bytes(), true)
        .map_err(|e| fail(format!("wire: {e}: {wire}")))?;
    prop_assert_eq!(decoded, msg);

    match plan {
        UpdatePlan::Incremental(chosen) => {
            prop_assert!(
                should_use_incremental_update(&chosen, DEFAULT_INCREMENTAL_THRESHOLD)
                    || (chosen.change_count() == 0 && !chosen.is_empty()),
                "incremental chosen for {:?}",
                chosen
            );
            check_applies(old, new, &chosen, "choose_update")?;
        }
        UpdatePlan::Unchanged => prop_assert_eq!(old.checksum(), new.checksum()),
        UpdatePlan::Full => {}
    }
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn delta_applies_after_random_edits(
        old in schema(),
        edits in vec(edit(), 1..6),
    ) {
        let new = apply_edits(&old, &edits);
        check_pair(&old, &new)?;
        check_pair(&new, &old)?;
    }

    #[test]
    fn delta_applies_after_one_edit(old in schema(), e in edit()) {
        let new = apply_edits(&old, std::slice::from_ref(&e));
        check_pair(&old, &new)?;
    }

    #[test]
    fn delta_applies_between_unrelated_schemas(old in schema(), new in schema()) {
        check_pair(&old, &new)?;
        check_pair(&new, &old)?;
        check_pair(&old, &old)?;
    }

    /// A prop change anywhere sends exactly that node, nothing else.
    #[test]
    fn prop_change_sends_only_that_node(
        old in schema(),
        node in any::<Index>(),
        key in key(),
        value in json_value(),
    ) {
        let Some(p) = pick(old.nodes(), &node) else { return Ok(()) };
        let id = node_mut(&mut old.nodes().to_vec(), &p)["id"].clone();
        let edit = Edit::SetProp { node, key, sub: String::new(), nested: false, value };
        let new = apply_edits(&old, &[edit]);
        prop_assume!(old != new);
        let d = calculate_schema_delta(&old, &new).expect("expressible");
        let changed = vec![index(&new)[id.as_str().expect("id")].clone()];
        prop_assert_eq!(&d.modified, &changed);
        prop_assert!(d.added.is_empty() && d.removed.is_empty() && d.metadata_changes.is_none(), "{:?}", d);
        check_applies(&old, &new, &d, "prop change")?;
    }

    /// Removing any node (nested or not) sends just its id.
    #[test]
    fn removal_sends_only_the_id(old in schema(), node in any::<Index>()) {
        let Some(p) = pick(old.nodes(), &node) else { return Ok(()) };
        let mut v = old.as_value().clone();
        let id = {
            let Some(Value::Array(nodes)) = v.get_mut("nodes") else { unreachable!() };
            detach(nodes, &p)["id"].as_str().expect("id").to_string()
        };
        let new = Schema::from_value(v).expect("valid");
        let d = calculate_schema_delta(&old, &new).expect("expressible");
        prop_assert_eq!(&d, &SchemaDelta { removed: vec![id], ..SchemaDelta::default() });
        check_applies(&old, &new, &d, "removal")?;
    }
}

// ---------------------------------------------------------- explicit cases

fn schema_of(nodes: Value) -> Schema {
    Schema::from_value(json!({
        "version": "1.0",
        "metadata": {"sourceFramework": "react", "generatedAt": 1},
        "nodes": nodes,
        "theme": {"primary": "#fff"},
    }))
    .expect("valid")
}

/// Four levels, with siblings at every level and extra node keys.
fn deep_tree(leaf_text: &str, with_extra_sibling: bool) -> Value {
    let mut list_items = vec![
        json!({"id": "item-1", "type": "Text", "props": {"text": leaf_text, "style": {"size": 14}}}),
        json!({"id": "item-2", "type": "Text", "props": {"text": "two"}}),
    ];
    if with_extra_sibling {
        list_items.push(json!({"id": "item-3", "type": "Text", "props": {"text": "three"}}));
    }
    json!([
        {"id": "header", "type": "View", "children": []},
        {"id": "root", "type": "View", "state": {"count": 0}, "children": [
            {"id": "col", "type": "Column", "events": {"onTap": "x"}, "children": [
                {"id": "list", "type": "List", "props": {"gap": 4}, "children": list_items},
                {"id": "footer", "type": "Text"}
            ]}
        ]}
    ])
}

#[test]
fn deep_prop_change_is_exactly_one_modified_node() {
    let old = schema_of(deep_tree("one", true));
    let new = schema_of(deep_tree("uno", true));
    let d = calculate_schema_delta(&old, &new).expect("expressible");
    assert_eq!(
        d,
        SchemaDelta {
            modified: vec![
                json!({"id": "item-1", "type": "Text", "props": {"text": "uno", "style": {"size": 14}}})
            ],
            ..SchemaDelta::default()
        }
    );
    assert_eq!(apply_schema_delta(&old, &d).unwrap(), new);
}

#[test]
fn removed_nested_node_is_in_removed_and_no_ancestor_is_modified() {
    let old = schema_of(deep_tree("one", true));
    let new = schema_of(deep_tree("one", false));
    let d = calculate_schema_delta(&old, &new).expect("expressible");
    assert_eq!(d.removed, vec!["item-3".to_string()]);
    assert!(d.modified.is_empty(), "ancestors sent: {:?}", d.modified);
    assert!(d.added.is_empty() && d.metadata_changes.is_none());
    let applied = apply_schema_delta(&old, &d).unwrap();
    assert_eq!(applied, new);
    assert_eq!(applied.checksum(), new.checksum());
}

#[test]
fn generated_at_alone_changes_nothing_devices_see() {
    let old = schema_of(deep_tree("one", true));
    let mut v = old.as_value().clone();
    v["metadata"]["generatedAt"] = json!(2);
    let new = Schema::from_value(v).unwrap();
    assert_eq!(old.checksum(), new.checksum());
    assert_eq!(
        choose_update(Some(&old), &new, DEFAULT_INCREMENTAL_THRESHOLD),
        UpdatePlan::Unchanged
    );
    // The delta itself still carries the new metadata, and applies.
    let d = calculate_schema_delta(&old, &new).unwrap();
    assert_eq!(d.change_count(), 0);
    assert_eq!(
        apply_schema_delta(&old, &d).unwrap().as_value(),
        new.as_value()
    );
}
