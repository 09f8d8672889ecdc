//! Lumora IR schemas: validation with JSON paths and limits.
//!
//! A schema is kept as the `serde_json::Value` it arrived as, so every key the
//! server does not know about survives untouched; [`Schema`] only guarantees
//! that the value passed validation.

use super::checksum::{SubtreeCrcs, checksum_reusing};
use super::fingerprint::{NodeFp, fingerprint_nodes};
use super::json::{self, JsonError, type_name};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

/// Largest encoded schema accepted (10 MiB).
pub const MAX_SCHEMA_BYTES: usize = 10 * 1024 * 1024;
/// Deepest node nesting accepted: a top-level node is level 1.
pub const MAX_NODE_DEPTH: usize = 128;

/// Why a value is not a valid schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaError {
    /// Encoded size over [`MAX_SCHEMA_BYTES`].
    TooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not JSON, or nest too deeply to parse safely.
    Json(JsonError),
    /// A schema rule is broken at `path` (e.g. `nodes[0].children[3].id`).
    Invalid {
        /// JSON path of the first offending value.
        path: String,
        /// What is wrong there.
        message: String,
    },
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaError::TooLarge { size, limit } => {
                write!(f, "schema is {size} bytes, over the {limit}-byte limit")
            }
            SchemaError::Json(e) => write!(f, "{e}"),
            SchemaError::Invalid { path, message } => write!(f, "{path}: {message}"),
        }
    }
}

impl std::error::Error for SchemaError {}

/// A validated Lumora IR schema.
///
/// Equality compares the JSON value. The checksum is computed on first use
/// and cached, because both the server and devices need it for every update.
#[derive(Debug, Clone)]
pub struct Schema {
    value: Value,
    checksum: OnceLock<String>,
    /// Fingerprints of the nodes, made on first use (by a delta or the
    /// checksum).
    fingerprints: OnceLock<Vec<NodeFp>>,
    /// CRCs of every subtree's canonical JSON, made with the checksum, so
    /// the next schema's checksum can reuse the unchanged ones.
    subtree_crcs: OnceLock<SubtreeCrcs>,
}

impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Schema {
    /// Parses and validates an encoded schema, enforcing the size and depth
    /// limits before anything recursive runs.
    pub fn from_slice(bytes: &[u8]) -> Result<Schema, SchemaError> {
        if bytes.len() > MAX_SCHEMA_BYTES {
            return Err(SchemaError::TooLarge {
                size: bytes.len(),
                limit: MAX_SCHEMA_BYTES,
            });
        }
        let value = json::parse_bounded(bytes, json::MAX_JSON_DEPTH).map_err(SchemaError::Json)?;
        Schema::from_value(value)
    }

    /// Validates an already parsed value. The value must come from a bounded
    /// parse (or be built in code): validation itself stops at
    /// [`MAX_NODE_DEPTH`] node levels.
    pub fn from_value(value: Value) -> Result<Schema, SchemaError> {
        validate_schema(&value)?;
        Ok(Schema {
            value,
            checksum: OnceLock::new(),
            fingerprints: OnceLock::new(),
            subtree_crcs: OnceLock::new(),
        })
    }

    /// The schema as JSON.
    pub fn as_value(&self) -> &Value {
        &self.value
    }

    /// Gives back the JSON value.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// The top-level nodes.
    pub fn nodes(&self) -> &[Value] {
        self.value
            .get("nodes")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The schema's checksum, computed once.
    pub fn checksum(&self) -> &str {
        self.checksum_with(None)
    }

    /// The schema's checksum, computed (once) reusing the CRCs of every
    /// subtree it shares with `previous`, whose checksum is computed first
    /// if need be: after a small edit only the changed nodes are
    /// canonicalized again. The same value as [`Schema::checksum`].
    pub fn checksum_after(&self, previous: &Schema) -> &str {
        if self.checksum.get().is_none() {
            let _ = previous.checksum();
        }
        self.checksum_with(previous.subtree_crcs.get())
    }

    fn checksum_with(&self, reuse: Option<&SubtreeCrcs>) -> &str {
        self.checksum.get_or_init(|| {
            let (checksum, crcs) = checksum_reusing(&self.value, self.fingerprints(), reuse);
            let _ = self.subtree_crcs.set(crcs);
            checksum
        })
    }

    /// The fingerprints of the top-level nodes (with their subtrees'),
    /// computed once.
    pub(crate) fn fingerprints(&self) -> &[NodeFp] {
        self.fingerprints
            .get_or_init(|| fingerprint_nodes(self.nodes()))
    }

    /// Number of nodes in the whole tree.
    pub fn node_count(&self) -> usize {
        fn count(nodes: &[Value]) -> usize {
            nodes.iter().map(|n| 1 + count(children_of(n))).sum()
        }
        count(self.nodes())
    }
}

/// A node's children, or none when the key is absent.
pub(crate) fn children_of(node: &Value) -> &[Value] {
    node.get("children")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Checks a value against the schema rules, naming the first offending JSON path.
pub fn validate_schema(value: &Value) -> Result<(), SchemaError> {
    let obj = value.as_object().ok_or_else(|| {
        invalid(
            "schema",
            format!("expected an object, got {}", type_name(value)),
        )
    })?;
    require(obj, "", "version", "string", Value::is_string)?;
    require(obj, "", "metadata", "object", Value::is_object)?;
    require(obj, "", "nodes", "array", Value::is_array)?;
    let mut ids = HashSet::new();
    let mut path = String::from("nodes");
    validate_nodes(children_field(obj, "nodes"), &mut path, 1, &mut ids)
}

fn children_field<'a>(obj: &'a Map<String, Value>, key: &str) -> &'a [Value] {
    obj.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> SchemaError {
    SchemaError::Invalid {
        path: path.into(),
        message: message.into(),
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// A required key of the given JSON type.
fn require(
    obj: &Map<String, Value>,
    prefix: &str,
    key: &str,
    ty: &str,
    is: fn(&Value) -> bool,
) -> Result<(), SchemaError> {
    match obj.get(key) {
        None => Err(invalid(join(prefix, key), "missing required field")),
        Some(v) if is(v) => Ok(()),
        Some(v) => Err(invalid(
            join(prefix, key),
            format!("expected {ty}, got {}", type_name(v)),
        )),
    }
}

/// An optional key that, when present, has the given JSON type.
fn optional(
    obj: &Map<String, Value>,
    prefix: &str,
    key: &str,
    ty: &str,
    is: fn(&Value) -> bool,
) -> Result<(), SchemaError> {
    match obj.get(key) {
        Some(v) if !is(v) => Err(invalid(
            join(prefix, key),
            format!("expected {ty}, got {}", type_name(v)),
        )),
        _ => Ok(()),
    }
}

fn non_empty_string<'a>(
    obj: &'a Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<&'a str, SchemaError> {
    match obj.get(key) {
        None => Err(invalid(join(prefix, key), "missing required field")),
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(invalid(join(prefix, key), "must not be empty")),
        Some(v) => Err(invalid(
            join(prefix, key),
            format!("expected string, got {}", type_name(v)),
        )),
    }
}

/// Validates a list of nodes at `depth` (1 = top level). `path` is the list's
/// own path and is restored before returning, so one buffer serves the tree.
fn validate_nodes<'a>(
    nodes: &'a [Value],
    path: &mut String,
    depth: usize,
    ids: &mut HashSet<&'a str>,
) -> Result<(), SchemaError> {
    let base = path.len();
    for (i, node) in nodes.iter().enumerate() {
        use std::fmt::Write;
        let _ = write!(path, "[{i}]");
        if depth > MAX_NODE_DEPTH {
            return Err(invalid(
                path.clone(),
                format!("nodes nest deeper than {MAX_NODE_DEPTH} levels"),
            ));
        }
        let obj = node.as_object().ok_or_else(|| {
            invalid(
                path.clone(),
                format!("expected a node object, got {}", type_name(node)),
            )
        })?;
        let id = non_empty_string(obj, path, "id")?;
        non_empty_string(obj, path, "type")?;
        optional(obj, path, "props", "object", Value::is_object)?;
        optional(obj, path, "children", "array", Value::is_array)?;
        optional(obj, path, "metadata", "object", Value::is_object)?;
        if !ids.insert(id) {
            return Err(invalid(join(path, "id"), format!("duplicate id {id:?}")));
        }
        if let Some(children) = obj.get("children").and_then(Value::as_array) {
            path.push_str(".children");
            validate_nodes(children, path, depth + 1, ids)?;
        }
        path.truncate(base);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> String {
        Schema::from_value(v).unwrap_err().to_string()
    }

    fn node(id: &str) -> Value {
        json!({"id": id, "type": "View"})
    }

    #[test]
    fn minimal_schema_is_valid() {
        let s = Schema::from_value(json!({"version": "1.0", "metadata": {}, "nodes": []})).unwrap();
        assert_eq!(s.node_count(), 0);
    }

    #[test]
    fn names_duplicate_ids_anywhere_in_the_tree() {
        let v = json!({"version": "1", "metadata": {}, "nodes": [
            {"id": "root", "type": "View", "children": [node("a"), node("b"), node("c"), node("btn")]},
            {"id": "other", "type": "View", "children": [
                {"id": "x", "type": "View", "children": [node("btn")]}
            ]}
        ]});
        assert_eq!(
            err(v),
            r#"nodes[1].children[0].children[0].id: duplicate id "btn""#
        );
    }

    #[test]
    fn names_missing_and_mistyped_fields() {
        assert_eq!(err(json!([])), "schema: expected an object, got array");
        assert_eq!(
            err(json!({"metadata": {}, "nodes": []})),
            "version: missing required field"
        );
        assert_eq!(
            err(json!({"version": "1", "metadata": {}, "nodes": {}})),
            "nodes: expected array, got object"
        );
        assert_eq!(
            err(json!({"version": "1", "metadata": {}, "nodes": [{"id": "", "type": "T"}]})),
            "nodes[0].id: must not be empty"
        );
        assert_eq!(
            err(
                json!({"version": "1", "metadata": {}, "nodes": [{"id": "a", "type": "T", "children": [{"id": "b", "type": 3}]}]})
            ),
            "nodes[0].children[0].type: expected string, got number"
        );
        assert_eq!(
            err(
                json!({"version": "1", "metadata": {}, "nodes": [{"id": "a", "type": "T", "props": []}]})
            ),
            "nodes[0].props: expected object, got array"
        );
        assert_eq!(
            err(json!({"version": "1", "metadata": {}, "nodes": [7]})),
            "nodes[0]: expected a node object, got number"
        );
    }

    fn chain(depth: usize) -> Value {
        let mut n = node(&format!("n{depth}"));
        for d in (1..depth).rev() {
            n = json!({"id": format!("n{d}"), "type": "View", "children": [n]});
        }
        json!({"version": "1", "metadata": {}, "nodes": [n]})
    }

    #[test]
    fn depth_limit_is_exactly_128_node_levels() {
        let ok = chain(MAX_NODE_DEPTH);
        let text = serde_json::to_vec(&ok).unwrap();
        assert!(Schema::from_slice(&text).is_ok());
        let too_deep = serde_json::to_vec(&chain(MAX_NODE_DEPTH + 1)).unwrap();
        let e = Schema::from_slice(&too_deep).unwrap_err().to_string();
        assert!(e.ends_with("nodes nest deeper than 128 levels"), "{e}");
    }

    #[test]
    fn absurd_depth_is_an_error_not_a_crash() {
        let mut s = String::from(r#"{"version":"1","metadata":{},"nodes":["#);
        s.push_str(&r#"{"id":"x","type":"T","children":["#.repeat(100_000));
        assert!(matches!(
            Schema::from_slice(s.as_bytes()),
            Err(SchemaError::Json(JsonError::TooDeep { .. }))
        ));
    }

    #[test]
    fn size_limit() {
        let big = vec![b' '; MAX_SCHEMA_BYTES + 1];
        assert!(matches!(
            Schema::from_slice(&big),
            Err(SchemaError::TooLarge { .. })
        ));
    }

    #[test]
    fn unknown_keys_are_kept() {
        let v = json!({"version": "1", "metadata": {"x": 1}, "nodes": [
            {"id": "a", "type": "T", "state": {"n": 1}, "events": [1, 2]}
        ], "navigationSchema": {"routes": []}, "theme": null});
        let s = Schema::from_value(v.clone()).unwrap();
        let back: Value =
            serde_json::from_slice(&serde_json::to_vec(s.as_value()).unwrap()).unwrap();
        assert_eq!(back, v);
    }
}
