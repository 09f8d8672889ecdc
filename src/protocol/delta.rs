//! Schema deltas: compute, apply, and choose between a full update,
//! an incremental one, or none.
//!
//! Applying a delta is: delete `removed` ids (with subtrees) anywhere, replace
//! each `modified` node (with subtree) wherever its id is, append `added` to
//! the top-level `nodes`, then set or delete (`null`) top-level keys from
//! `metadataChanges`. [`calculate_schema_delta`] only emits what that order
//! can express exactly, so `apply(old, delta(old, new)) == new` always holds:
//!
//! - a node whose own fields (everything but `children`) changed is sent
//!   whole; its ancestors are not;
//! - a node whose children were only removed (survivors keep their order)
//!   is left alone and the lost children go to `removed`;
//! - any other change to a child list (insertion, reorder, move in) sends
//!   the parent whole, since `added` can only append at the top level;
//! - at the top level, the longest prefix of the new list that keeps old
//!   relative order stays in place; the rest is removed and re-added.

use super::index;
use super::json;
use super::schema::{Schema, SchemaError};
use super::update_type::UpdateType;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::fmt;

/// Default of `should_use_incremental_update`'s threshold.
pub const DEFAULT_INCREMENTAL_THRESHOLD: usize = 10;

/// The difference between two schemas, as sent in an incremental update.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaDelta {
    /// Nodes appended to the top-level `nodes`, in order.
    #[serde(default)]
    pub added: Vec<Value>,
    /// Nodes that replace the node with the same id, subtree included.
    #[serde(default)]
    pub modified: Vec<Value>,
    /// Ids deleted with their subtrees.
    #[serde(default)]
    pub removed: Vec<String>,
    /// Top-level keys (anything but `nodes`) set, or deleted when `null`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_changes: Option<Map<String, Value>>,
}

impl SchemaDelta {
    /// `added + modified + removed`, the count that the threshold applies to.
    pub fn change_count(&self) -> usize {
        self.added.len() + self.modified.len() + self.removed.len()
    }

    /// True when the delta changes nothing.
    pub fn is_empty(&self) -> bool {
        self.change_count() == 0 && self.metadata_changes.as_ref().is_none_or(Map::is_empty)
    }
}

/// Why a delta could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaError {
    /// A `modified` entry is not an object with a string `id`.
    MalformedNode {
        /// Which list: `added` or `modified`.
        list: &'static str,
        /// Position in that list.
        index: usize,
    },
    /// A `modified` id is nowhere in the schema.
    UnknownNode(String),
    /// `metadataChanges` tried to touch `nodes`.
    NodesInMetadataChanges,
    /// The result is not a valid schema (e.g. an added id already exists).
    InvalidResult(SchemaError),
}

impl fmt::Display for DeltaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeltaError::MalformedNode { list, index } => {
                write!(f, "delta.{list}[{index}] is not a node with a string id")
            }
            DeltaError::UnknownNode(id) => {
                write!(
                    f,
                    "delta modifies node {id:?}, which the schema does not have"
                )
            }
            DeltaError::NodesInMetadataChanges => {
                write!(f, "delta.metadataChanges may not change nodes")
            }
            DeltaError::InvalidResult(e) => {
                write!(f, "applying the delta gives an invalid schema: {e}")
            }
        }
    }
}

impl std::error::Error for DeltaError {}

fn node_id(node: &Value) -> Option<&str> {
    node.get("id").and_then(Value::as_str)
}

/// Computes a delta from `old` to `new`, or `None` when only a full update can
/// express the change (a top-level key newly set to `null`, which
/// `metadataChanges` would read as a deletion).
///
/// Node fingerprints skip unchanged subtrees; only the changed nodes are
/// parsed into values.
pub fn calculate_schema_delta(old: &Schema, new: &Schema) -> Option<SchemaDelta> {
    let raw = index::delta::calculate(old, new)?;
    Some(EncodedDelta::new(&raw, old, new).to_delta())
}

/// Applies `delta` to `schema` in the protocol's order (removed, modified,
/// added, metadata changes) and validates the result.
///
/// Removing an id that is not there is not an error (it may have gone with
/// an ancestor); modifying one is, because the result could not be right.
pub fn apply_schema_delta(schema: &Schema, delta: &SchemaDelta) -> Result<Schema, DeltaError> {
    for (index, node) in delta.modified.iter().enumerate() {
        if node_id(node).is_none() {
            return Err(DeltaError::MalformedNode {
                list: "modified",
                index,
            });
        }
    }
    if let Some(changes) = &delta.metadata_changes {
        if changes.contains_key("nodes") {
            return Err(DeltaError::NodesInMetadataChanges);
        }
    }
    let mut value = schema.as_value().clone();
    let Some(obj) = value.as_object_mut() else {
        return Err(DeltaError::InvalidResult(SchemaError::Invalid {
            path: "schema".into(),
            message: "expected an object".into(),
        }));
    };
    if let Some(Value::Array(nodes)) = obj.get_mut("nodes") {
        if !delta.removed.is_empty() {
            let ids: HashSet<&str> = delta.removed.iter().map(String::as_str).collect();
            remove_ids(nodes, &ids);
        }
        if !delta.modified.is_empty() {
            let mut pending: HashMap<&str, &Value> = delta
                .modified
                .iter()
                .filter_map(|n| node_id(n).map(|id| (id, n)))
                .collect();
            replace_ids(nodes, &mut pending);
            // An id inside another modified node's new subtree is found on a
            // second look, as if the list had been applied in order.
            for (id, node) in pending {
                let mut one = HashMap::from([(id, node)]);
                replace_ids(nodes, &mut one);
                if !one.is_empty() {
                    return Err(DeltaError::UnknownNode(id.to_string()));
                }
            }
        }
        nodes.extend(delta.added.iter().cloned());
    }
    if let Some(changes) = &delta.metadata_changes {
        for (key, v) in changes {
            if v.is_null() {
                obj.remove(key);
            } else {
                obj.insert(key.clone(), v.clone());
            }
        }
    }
    Schema::from_value(value).map_err(DeltaError::InvalidResult)
}

fn remove_ids(nodes: &mut Vec<Value>, ids: &HashSet<&str>) {
    nodes.retain(|n| node_id(n).is_none_or(|id| !ids.contains(id)));
    for n in nodes {
        if let Some(Value::Array(children)) = n.get_mut("children") {
            remove_ids(children, ids);
        }
    }
}

fn replace_ids(nodes: &mut [Value], pending: &mut HashMap<&str, &Value>) {
    for n in nodes {
        if pending.is_empty() {
            return;
        }
        if let Some(replacement) = node_id(n).and_then(|id| pending.remove(id)) {
            *n = replacement.clone();
        } else if let Some(Value::Array(children)) = n.get_mut("children") {
            replace_ids(children, pending);
        }
    }
}

/// True when `0 < added + modified + removed < threshold`.
pub fn should_use_incremental_update(delta: &SchemaDelta, threshold: usize) -> bool {
    let n = delta.change_count();
    n > 0 && n < threshold
}

/// What a push should send to devices.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdatePlan {
    /// Same checksum as the current schema: send nothing.
    Unchanged,
    /// Send the whole schema.
    Full,
    /// Send this delta.
    Incremental(SchemaDelta),
}

impl UpdatePlan {
    /// What the push does: `none`, `full` or `incremental`.
    pub fn kind(&self) -> UpdateType {
        match self {
            UpdatePlan::Unchanged => UpdateType::None,
            UpdatePlan::Full => UpdateType::Full,
            UpdatePlan::Incremental(_) => UpdateType::Incremental,
        }
    }
}

/// A delta as the server sends it: its JSON, written from the new
/// schema's bytes (changed nodes as they were pushed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedDelta {
    /// The delta object's JSON.
    pub json: Vec<u8>,
    /// `added + modified + removed`.
    pub changes: usize,
}

impl EncodedDelta {
    fn new(raw: &index::delta::RawDelta, old: &Schema, new: &Schema) -> EncodedDelta {
        EncodedDelta {
            json: raw.to_json(old, new),
            changes: raw.change_count(),
        }
    }

    /// The delta as values (parsing the changed nodes).
    pub fn to_delta(&self) -> SchemaDelta {
        json::parse_bounded(&self.json, json::MAX_JSON_DEPTH)
            .ok()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    }
}

/// The server's choice, with the delta already encoded.
#[derive(Debug, Clone, PartialEq)]
pub enum PlannedUpdate {
    /// Same checksum as the current schema: send nothing.
    Unchanged,
    /// Send the whole schema.
    Full,
    /// Send this delta.
    Incremental(EncodedDelta),
}

impl PlannedUpdate {
    /// What the push does: `none`, `full` or `incremental`.
    pub fn kind(&self) -> UpdateType {
        match self {
            PlannedUpdate::Unchanged => UpdateType::None,
            PlannedUpdate::Full => UpdateType::Full,
            PlannedUpdate::Incremental(_) => UpdateType::Incremental,
        }
    }
}

/// The server's choice: nothing when the checksum is unchanged; a delta
/// when it is small (by `threshold`) or only touches top-level keys, and
/// encodes smaller than the full schema; else the full schema.
pub fn plan_update(current: Option<&Schema>, new: &Schema, threshold: usize) -> PlannedUpdate {
    let Some(old) = current else {
        return PlannedUpdate::Full;
    };
    if old.checksum() == new.checksum_after(old) {
        return PlannedUpdate::Unchanged;
    }
    let Some(raw) = index::delta::calculate(old, new) else {
        return PlannedUpdate::Full;
    };
    let changes = raw.change_count();
    let only_metadata = changes == 0 && !raw.meta.is_empty();
    if !((changes > 0 && changes < threshold) || only_metadata) {
        return PlannedUpdate::Full;
    }
    let delta = EncodedDelta::new(&raw, old, new);
    if new.bytes().len() > delta.json.len() {
        PlannedUpdate::Incremental(delta)
    } else {
        PlannedUpdate::Full
    }
}

/// [`plan_update`], with the delta as values.
pub fn choose_update(current: Option<&Schema>, new: &Schema, threshold: usize) -> UpdatePlan {
    match plan_update(current, new, threshold) {
        PlannedUpdate::Unchanged => UpdatePlan::Unchanged,
        PlannedUpdate::Full => UpdatePlan::Full,
        PlannedUpdate::Incremental(d) => UpdatePlan::Incremental(d.to_delta()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(nodes: Value) -> Schema {
        Schema::from_value(json!({"version": "1", "metadata": {"sourceFile": "a"}, "nodes": nodes}))
            .unwrap()
    }

    fn n(id: &str, children: Value) -> Value {
        json!({"id": id, "type": "View", "children": children})
    }

    fn roundtrip(old: &Schema, new: &Schema) -> SchemaDelta {
        let d = calculate_schema_delta(old, new).expect("expressible");
        let applied = apply_schema_delta(old, &d).unwrap();
        assert_eq!(applied.as_value(), new.as_value(), "delta {d:?}");
        d
    }

    #[test]
    fn deep_prop_change_sends_only_that_node() {
        let old = schema(json!([n(
            "root",
            json!([n(
                "a",
                json!([{"id": "b", "type": "Text", "props": {"t": 1}}])
            )])
        )]));
        let new = schema(json!([n(
            "root",
            json!([n(
                "a",
                json!([{"id": "b", "type": "Text", "props": {"t": 2}}])
            )])
        )]));
        let d = roundtrip(&old, &new);
        assert_eq!(
            d.modified,
            vec![json!({"id": "b", "type": "Text", "props": {"t": 2}})]
        );
        assert!(d.added.is_empty() && d.removed.is_empty());
    }

    #[test]
    fn removed_nested_node_goes_in_removed() {
        let old = schema(json!([n(
            "root",
            json!([n("a", json!([])), n("b", json!([]))])
        )]));
        let new = schema(json!([n("root", json!([n("b", json!([]))]))]));
        let d = roundtrip(&old, &new);
        assert_eq!(d.removed, vec!["a".to_string()]);
        assert!(d.modified.is_empty());
    }

    #[test]
    fn one_removed_one_added_same_count() {
        let old = schema(json!([n("root", json!([n("a", json!([]))]))]));
        let new = schema(json!([n("root", json!([n("c", json!([]))]))]));
        let d = roundtrip(&old, &new);
        assert_eq!(d.modified.len(), 1, "parent carries the insertion");
    }

    #[test]
    fn moves_and_reorders() {
        let old = schema(json!([
            n("p", json!([n("x", json!([]))])),
            n("q", json!([])),
            n("r", json!([]))
        ]));
        let moved = schema(json!([
            n("p", json!([])),
            n("q", json!([n("x", json!([]))])),
            n("r", json!([]))
        ]));
        roundtrip(&old, &moved);
        let reordered = schema(json!([
            n("r", json!([])),
            n("p", json!([n("x", json!([]))])),
            n("q", json!([]))
        ]));
        let d = roundtrip(&old, &reordered);
        assert_eq!(d.removed, vec!["p".to_string(), "q".to_string()]);
        let to_top = schema(json!([
            n("p", json!([])),
            n("q", json!([])),
            n("r", json!([])),
            n("x", json!([]))
        ]));
        roundtrip(&old, &to_top);
    }

    #[test]
    fn top_level_keys() {
        let old = Schema::from_value(
            json!({"version": "1", "metadata": {}, "nodes": [], "theme": {"a": 1}}),
        )
        .unwrap();
        let new = Schema::from_value(
            json!({"version": "2", "metadata": {}, "nodes": [], "navigation": []}),
        )
        .unwrap();
        let d = roundtrip(&old, &new);
        assert_eq!(d.metadata_changes.unwrap().get("theme"), Some(&Value::Null));
        let null_theme =
            Schema::from_value(json!({"version": "1", "metadata": {}, "nodes": [], "theme": null}))
                .unwrap();
        assert_eq!(calculate_schema_delta(&old, &null_theme), None);
        assert_eq!(choose_update(Some(&old), &null_theme, 10), UpdatePlan::Full);
    }

    #[test]
    fn threshold_semantics() {
        let mut d = SchemaDelta::default();
        assert!(!should_use_incremental_update(&d, 10));
        d.removed.push("a".into());
        assert!(should_use_incremental_update(&d, 10));
        d.removed = (0..15).map(|i| i.to_string()).collect();
        assert!(!should_use_incremental_update(&d, 10));
        assert!(should_use_incremental_update(&d, 20));
        assert!(!should_use_incremental_update(&d, 15));
    }

    #[test]
    fn choice() {
        let big: Vec<Value> = (0..50).map(|i| json!({"id": format!("n{i}"), "type": "Text", "props": {"text": "hello world"}})).collect();
        let old = schema(Value::Array(big.clone()));
        assert_eq!(choose_update(None, &old, 10), UpdatePlan::Full);
        let mut gen_only = old.as_value().clone();
        gen_only["metadata"]["generatedAt"] = json!(5);
        assert_eq!(
            choose_update(Some(&old), &Schema::from_value(gen_only).unwrap(), 10),
            UpdatePlan::Unchanged
        );
        let mut one = big.clone();
        one[3]["props"]["text"] = json!("changed");
        assert_eq!(
            choose_update(Some(&old), &schema(Value::Array(one)), 10).kind(),
            UpdateType::Incremental
        );
        let many: Vec<Value> = big
            .iter()
            .map(|n| {
                let mut n = n.clone();
                n["props"]["text"] = json!("x");
                n
            })
            .collect();
        assert_eq!(
            choose_update(Some(&old), &schema(Value::Array(many)), 10),
            UpdatePlan::Full
        );
        let mut meta = old.as_value().clone();
        meta["theme"] = json!({"dark": true});
        assert_eq!(
            choose_update(Some(&old), &Schema::from_value(meta).unwrap(), 10).kind(),
            UpdateType::Incremental
        );
    }

    #[test]
    fn apply_errors() {
        let s = schema(json!([n("a", json!([]))]));
        let d = SchemaDelta {
            modified: vec![json!({"id": "zz", "type": "T"})],
            ..Default::default()
        };
        assert_eq!(
            apply_schema_delta(&s, &d),
            Err(DeltaError::UnknownNode("zz".into()))
        );
        let d = SchemaDelta {
            modified: vec![json!(3)],
            ..Default::default()
        };
        assert!(matches!(
            apply_schema_delta(&s, &d),
            Err(DeltaError::MalformedNode { .. })
        ));
        let d = SchemaDelta {
            added: vec![json!({"id": "a", "type": "T"})],
            ..Default::default()
        };
        assert!(matches!(
            apply_schema_delta(&s, &d),
            Err(DeltaError::InvalidResult(_))
        ));
        let mut m = Map::new();
        m.insert("nodes".into(), json!([]));
        let d = SchemaDelta {
            metadata_changes: Some(m),
            ..Default::default()
        };
        assert_eq!(
            apply_schema_delta(&s, &d),
            Err(DeltaError::NodesInMetadataChanges)
        );
        let d = SchemaDelta {
            removed: vec!["nope".into()],
            ..Default::default()
        };
        assert_eq!(apply_schema_delta(&s, &d).unwrap(), s);
    }
}
