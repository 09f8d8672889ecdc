//! Lumora IR schemas: validation with JSON paths and limits.
//!
//! A schema is kept as its compact JSON text plus an index of its nodes
//! (see [`index`](super::index)): the bytes that were pushed (without
//! whitespace) are what devices get, so every key the server does not know
//! about survives untouched, in the order it came. A `serde_json::Value`
//! of it is only made when a library user asks for one.

use super::checksum::calculate_checksum;
use super::error_code::ErrorCode;
use super::index::canonical::{self, NodeCrcs, Previous};
use super::index::compact::{looks_spaced, minify, trimmed_len};
use super::index::scan::scan;
use super::index::splice::{Reindexed, reindex};
use super::index::{FastHasher, Field, Index, Kind};
use super::json::{self, JsonError};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::hash::BuildHasherDefault;
use std::sync::{Arc, OnceLock};

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

impl SchemaError {
    /// The protocol's code for it, the same over HTTP and to devices:
    /// `INVALID_MESSAGE` for bytes that are not JSON, else
    /// `SCHEMA_VALIDATION_FAILED` (JSON the schema rules or limits refuse:
    /// too large, too deep, a number no checksum can hold, a broken rule).
    pub fn code(&self) -> ErrorCode {
        match self {
            SchemaError::Json(JsonError::Syntax(_)) => ErrorCode::InvalidMessage,
            SchemaError::Json(JsonError::TooDeep { .. } | JsonError::OutOfRange(_))
            | SchemaError::TooLarge { .. }
            | SchemaError::Invalid { .. } => ErrorCode::SchemaValidationFailed,
        }
    }
}

/// A validated Lumora IR schema.
///
/// Equality compares the JSON values. The checksum is computed on first
/// use and cached, because both the server and devices need it for every
/// update.
#[derive(Debug, Clone)]
pub struct Schema {
    /// The compact JSON text (shared as it is by every frame carrying it).
    bytes: Arc<Vec<u8>>,
    index: Arc<Index>,
    /// The parsed value, when it was given or asked for.
    value: OnceLock<Value>,
    checksum: OnceLock<String>,
    /// CRCs of every node's canonical subtree, made with the checksum, so
    /// the next schema's checksum can reuse the unchanged ones.
    crcs: OnceLock<NodeCrcs>,
    /// The text is as it was pushed, less whitespace (not rewritten from a
    /// value): the next push's text can be indexed from this one's.
    as_pushed: bool,
}

impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes || *self.value_ref() == *other.value_ref()
    }
}

impl Schema {
    /// Parses and validates an encoded schema, enforcing the size and depth
    /// limits before anything recursive runs. Whitespace between tokens is
    /// dropped; everything else is kept as it was written.
    pub fn from_slice(bytes: &[u8]) -> Result<Schema, SchemaError> {
        Schema::read(bytes, None, None)
    }

    /// [`Schema::from_slice`], keeping `bytes` as the schema's text when it
    /// has no whitespace to drop (no copy).
    pub fn from_vec(bytes: Vec<u8>) -> Result<Schema, SchemaError> {
        Schema::read(&[], Some(bytes), None)
    }

    /// [`Schema::from_vec`] of the text that follows `previous` (the schema
    /// it will replace): where the two texts differ in a few nodes or
    /// top-level values, only those are read again, and the bytes between
    /// them are compared, not parsed (a pretty-printed text is compared in
    /// its compact form). The result is the same as [`Schema::from_vec`]'s.
    pub fn from_vec_after(
        bytes: Vec<u8>,
        previous: Option<&Schema>,
    ) -> Result<Schema, SchemaError> {
        Schema::read(&[], Some(bytes), previous)
    }

    /// Reads `owned` if given, else `borrowed`.
    fn read(
        borrowed: &[u8],
        owned: Option<Vec<u8>>,
        previous: Option<&Schema>,
    ) -> Result<Schema, SchemaError> {
        let bytes = owned.as_deref().unwrap_or(borrowed);
        if bytes.len() > MAX_SCHEMA_BYTES {
            return Err(SchemaError::TooLarge {
                size: bytes.len(),
                limit: MAX_SCHEMA_BYTES,
            });
        }
        // Only a text kept as pushed is one the next can be compared with.
        let previous = previous.filter(|p| p.as_pushed);
        // Whitespace after the last token (the final line break of most
        // files) is left out at once: the rest is read, and kept, alone.
        let end = trimmed_len(bytes);
        let text = &bytes[..end];
        let keep = |owned: Option<Vec<u8>>| match owned {
            Some(mut all) => {
                all.truncate(end);
                all
            }
            None => borrowed[..end].to_vec(),
        };
        // A pretty-printed (or spaced) text is made compact first and read
        // in that form (as an edit of the last one, or whole), not read
        // twice.
        let spaced = looks_spaced(text);
        if spaced {
            if let Some(schema) = Schema::read_compact(bytes, previous)? {
                return Ok(schema);
            }
        } else if let Some(r) = previous.and_then(|p| reindex(&p.bytes, &p.index, text)) {
            return Schema::edited(keep(owned), r);
        }
        // Read as pushed: the compact text was refused (the errors then
        // name this text's lines and columns), or has a field name to
        // normalize, or there was no sign of whitespace. A refusal is the
        // whole text's, trailing whitespace included (an error at its end
        // names where the text ends).
        let scanned = match scan(text) {
            Ok(scanned) => scanned,
            Err(e) if end == bytes.len() => return Err(SchemaError::Json(e)),
            Err(e) => return Err(SchemaError::Json(scan(bytes).err().unwrap_or(e))),
        };
        if scanned.normalize {
            // A repeated or escaped field name: read it as `serde_json`
            // does (the last one wins) and index that.
            let value =
                json::parse_bounded(bytes, json::MAX_JSON_DEPTH).map_err(SchemaError::Json)?;
            return Schema::from_value(value);
        }
        if scanned.whitespace && !spaced {
            if let Some(schema) = Schema::read_compact(bytes, previous)? {
                return Ok(schema);
            }
        }
        // A valid text with whitespace was read compact above: its compact
        // form is never refused.
        debug_assert!(!scanned.whitespace, "a valid spaced text kept as pushed");
        let text = keep(owned);
        validate(&text, &scanned.index)?;
        Ok(Schema::new(
            Arc::new(text),
            scanned.index,
            OnceLock::new(),
            true,
        ))
    }

    /// The schema of `bytes` read in its compact form: as an edit of
    /// `previous` where it lines up with it, else whole; the rules' error
    /// when they refuse it. `None` when that form is refused (a whitespace
    /// run would join two tokens, or it is not valid JSON) or has a field
    /// name to normalize: the caller reads the text as pushed, which is
    /// then refused, or normalized, alike.
    fn read_compact(
        bytes: &[u8],
        previous: Option<&Schema>,
    ) -> Result<Option<Schema>, SchemaError> {
        let Some(compact) = minify(bytes) else {
            return Ok(None);
        };
        if let Some(r) = previous.and_then(|p| reindex(&p.bytes, &p.index, &compact)) {
            return Schema::edited(compact, r).map(Some);
        }
        match scan(&compact) {
            Ok(scanned) if !scanned.normalize => {
                validate(&compact, &scanned.index)?;
                Ok(Some(Schema::new(
                    Arc::new(compact),
                    scanned.index,
                    OnceLock::new(),
                    true,
                )))
            }
            _ => Ok(None),
        }
    }

    /// The schema of `text`, whose index was made from the last schema's.
    fn edited(text: Vec<u8>, r: Reindexed) -> Result<Schema, SchemaError> {
        validate_rescanned(&text, &r.index, &r.rescanned)?;
        Ok(Schema::new(Arc::new(text), r.index, OnceLock::new(), true))
    }

    /// Validates a value (from a bounded parse, or built in code).
    pub fn from_value(value: Value) -> Result<Schema, SchemaError> {
        // Serializing a value cannot fail: every map key is a string.
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        // Keys come out unescaped unless they must be escaped (no field
        // name must) and a map has no repeated keys: the index is right.
        let index = scan(&bytes).map_err(SchemaError::Json)?.index;
        validate(&bytes, &index)?;
        Ok(Schema::new(
            Arc::new(bytes),
            index,
            OnceLock::from(value),
            false,
        ))
    }

    fn new(bytes: Arc<Vec<u8>>, index: Index, value: OnceLock<Value>, as_pushed: bool) -> Schema {
        Schema {
            as_pushed,
            bytes,
            index: Arc::new(index),
            value,
            checksum: OnceLock::new(),
            crcs: OnceLock::new(),
        }
    }

    /// The schema's compact JSON: what a full update carries.
    pub fn bytes(&self) -> &Arc<Vec<u8>> {
        &self.bytes
    }

    pub(crate) fn index(&self) -> &Index {
        &self.index
    }

    /// The schema as a JSON value, parsed on first use and kept.
    pub fn as_value(&self) -> &Value {
        self.value.get_or_init(|| self.parse())
    }

    /// Gives back the JSON value.
    pub fn into_value(self) -> Value {
        match self.value.into_inner() {
            Some(v) => v,
            None => json::parse_bounded(&self.bytes, json::MAX_JSON_DEPTH).unwrap_or(Value::Null),
        }
    }

    /// The value if it is kept, else a parse of it that is not kept (so
    /// that serializing or comparing a schema does not grow it).
    pub(crate) fn value_ref(&self) -> Cow<'_, Value> {
        match self.value.get() {
            Some(v) => Cow::Borrowed(v),
            None => Cow::Owned(self.parse()),
        }
    }

    fn parse(&self) -> Value {
        // The bytes were scanned: valid JSON within the depth limit.
        json::parse_bounded(&self.bytes, json::MAX_JSON_DEPTH).unwrap_or(Value::Null)
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
        self.checksum_with(Some(previous))
    }

    fn checksum_with(&self, previous: Option<&Schema>) -> &str {
        self.checksum.get_or_init(|| {
            let previous = previous.and_then(|p| {
                p.crcs.get().map(|crcs| Previous {
                    index: &p.index,
                    crcs,
                })
            });
            match canonical::checksum(&self.bytes, &self.index, previous) {
                Some((crc, crcs)) => {
                    let _ = self.crcs.set(crcs);
                    format!("{crc:08x}")
                }
                // An object repeats a key: the value (last one wins) says
                // what the schema is.
                None => calculate_checksum(&self.value_ref()),
            }
        })
    }

    /// The top-level nodes, as values (parsing the schema on first use).
    pub fn nodes(&self) -> &[Value] {
        self.as_value()
            .get("nodes")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Number of nodes in the whole tree.
    pub fn node_count(&self) -> usize {
        self.index.nodes.len()
    }
}

/// Checks a value against the schema rules, naming the first offending JSON path.
pub fn validate_schema(value: &Value) -> Result<(), SchemaError> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let index = scan(&bytes).map_err(SchemaError::Json)?.index;
    validate(&bytes, &index)
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> SchemaError {
    SchemaError::Invalid {
        path: path.into(),
        message: message.into(),
    }
}

/// The schema rules, on the index: the first broken one in document order.
fn validate(bytes: &[u8], ix: &Index) -> Result<(), SchemaError> {
    validate_ids_by(bytes, ix, false)
}

/// New entries up to which [`validate_rescanned`] looks for their ids among
/// all the others (one pass with a binary search per entry) rather than
/// validating the whole index (a hash table of every id). Measured on the
/// 63,500-node schema with leaves edited (`cargo bench --bench protocol --
/// --push`, "leaves edited"): the pass is the cheaper up to about 256 new
/// entries in CPU time (1.2-1.3 ms less at 64 and 65, even at 256) and up
/// to past 1,024 in instructions (68.9 against 74.2 M at 64, 118.4 against
/// 122.6 M at 256, 259.0 against 261.3 M at 1,024).
const MAX_RESCANNED: usize = 256;

/// [`validate`] of an index made from a valid schema's (`reindex`), where
/// only the `rescanned` entries are new: the rules run on those and on the
/// document's members, and their ids are looked for among all the others
/// (which were distinct). Anything amiss, or too many new entries, and the
/// whole index is validated, so the answer (and the first error named) is
/// always [`validate`]'s.
fn validate_rescanned(
    bytes: &[u8],
    ix: &Index,
    rescanned: &[std::ops::Range<usize>],
) -> Result<(), SchemaError> {
    let mut fresh: Vec<u64> = rescanned
        .iter()
        .flat_map(|r| ix.nodes[r.clone()].iter().map(|n| n.id_hash))
        .collect();
    if fresh.len() > MAX_RESCANNED || document_rules(bytes, ix).is_err() {
        return validate(bytes, ix);
    }
    let rules_hold = rescanned
        .iter()
        .flat_map(Clone::clone)
        .all(|e| node_rules(ix, e).is_ok());
    fresh.sort_unstable();
    let n = fresh.len();
    fresh.dedup();
    // Each new id's hash is met once (by itself) when no id repeats.
    let met = ix
        .nodes
        .iter()
        .filter(|node| fresh.binary_search(&node.id_hash).is_ok())
        .count();
    if !rules_hold || fresh.len() < n || met > n {
        return validate(bytes, ix);
    }
    Ok(())
}

/// [`validate`], with ids told apart by their hashes (`exact` false; a
/// hash seen twice for different ids starts again with `exact`) or by
/// their text.
fn validate_ids_by(bytes: &[u8], ix: &Index, exact: bool) -> Result<(), SchemaError> {
    document_rules(bytes, ix)?;
    // Ids are told apart by the hash of their text the scan took (a table
    // of 8-byte entries that stays in the cache); a hash seen twice starts
    // again comparing the ids as text, which finds the duplicate (or, for
    // two ids with one hash, none).
    let mut ids: HashSet<u64, BuildHasherDefault<FastHasher>> =
        HashSet::with_capacity_and_hasher(ix.nodes.len(), Default::default());
    let mut texts: HashSet<Cow<'_, str>, BuildHasherDefault<FastHasher>> = HashSet::default();
    for (e, node) in ix.nodes.iter().enumerate() {
        node_rules(ix, e)?;
        if exact {
            if !texts.insert(ix.id(bytes, e)) {
                return Err(duplicate(bytes, ix, e));
            }
            continue;
        }
        if !ids.insert(node.id_hash) {
            return validate_ids_by(bytes, ix, true);
        }
    }
    Ok(())
}

/// The rules on the document's own members.
fn document_rules(bytes: &[u8], ix: &Index) -> Result<(), SchemaError> {
    if ix.root != Kind::Object {
        return Err(invalid(
            "schema",
            format!("expected an object, got {}", ix.root.name()),
        ));
    }
    for (key, want) in [
        ("version", Kind::String),
        ("metadata", Kind::Object),
        ("nodes", Kind::Array),
    ] {
        match ix.member(bytes, key) {
            None => return Err(invalid(key, "missing required field")),
            Some(m) if m.kind == want || (want == Kind::String && m.kind == Kind::EmptyString) => {}
            Some(m) => {
                return Err(invalid(
                    key,
                    format!("expected {}, got {}", want.name(), m.kind.name()),
                ));
            }
        }
    }
    Ok(())
}

/// The rules on one node (entry `e`): its depth, kind and field kinds.
/// (Inlined: it runs once per node of every whole validation.)
#[inline(always)]
fn node_rules(ix: &Index, e: usize) -> Result<(), SchemaError> {
    let node = &ix.nodes[e];
    if node.depth as usize > MAX_NODE_DEPTH {
        return Err(invalid(
            ix.path(e),
            format!("nodes nest deeper than {MAX_NODE_DEPTH} levels"),
        ));
    }
    if node.kind != Kind::Object {
        return Err(invalid(
            ix.path(e),
            format!("expected a node object, got {}", node.kind.name()),
        ));
    }
    let field = |f: Field, name: &str, want: Kind| -> Result<(), SchemaError> {
        let at = || format!("{}.{name}", ix.path(e));
        match (node.fields[f as usize], want) {
            (Kind::Absent, Kind::String) => Err(invalid(at(), "missing required field")),
            (Kind::EmptyString, Kind::String) => Err(invalid(at(), "must not be empty")),
            (Kind::Absent, _) => Ok(()),
            (k, w) if k == w => Ok(()),
            (k, w) => Err(invalid(
                at(),
                format!("expected {}, got {}", w.name(), k.name()),
            )),
        }
    };
    let f = |x: Field| node.fields[x as usize];
    let well_formed = f(Field::Id) == Kind::String
        && f(Field::Type) == Kind::String
        && matches!(f(Field::Props), Kind::Absent | Kind::Object)
        && matches!(f(Field::Children), Kind::Absent | Kind::Array)
        && matches!(f(Field::Metadata), Kind::Absent | Kind::Object);
    if !well_formed {
        field(Field::Id, "id", Kind::String)?;
        field(Field::Type, "type", Kind::String)?;
        field(Field::Props, "props", Kind::Object)?;
        field(Field::Children, "children", Kind::Array)?;
        field(Field::Metadata, "metadata", Kind::Object)?;
    }
    Ok(())
}

fn duplicate(bytes: &[u8], ix: &Index, e: usize) -> SchemaError {
    invalid(
        format!("{}.id", ix.path(e)),
        format!("duplicate id {:?}", ix.id(bytes, e)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> String {
        let message = Schema::from_value(v.clone()).unwrap_err().to_string();
        // Ids compared by text give the same first error as by hash.
        let bytes = serde_json::to_vec(&v).unwrap();
        if let Ok(s) = scan(&bytes) {
            let exact = validate_ids_by(&bytes, &s.index, true).unwrap_err();
            assert_eq!(exact.to_string(), message);
        }
        message
    }

    fn node(id: &str) -> Value {
        json!({"id": id, "type": "View"})
    }

    /// A push read after the schema before it is the schema read alone:
    /// the same text, index, checksum, and the same refusals.
    #[test]
    fn a_push_read_after_the_last_one_is_the_same_schema() {
        let before = br#"{"version":"1","metadata":{},"nodes":[{"id":"a","type":"View","children":[{"id":"b","type":"Text","props":{"text":"hi"}}]},{"id":"c","type":"Text"}]}"#;
        let last = Schema::from_slice(before).unwrap();
        let _ = last.checksum();
        let text = |s: &str| {
            String::from_utf8(before.to_vec())
                .unwrap()
                .replace("\"hi\"", s)
        };
        // Node b given these children.
        let kids = |k: &str| {
            String::from_utf8(before.to_vec()).unwrap().replace(
                r#""text":"hi"}}"#,
                &format!(r#""text":"hi"}},"children":[{k}]}}"#),
            )
        };
        for edit in ["\"hello\"", "\"h\\u00e9\"", "[1,2]", "\"\""] {
            let new = text(edit).into_bytes();
            let after = Schema::from_vec_after(new.clone(), Some(&last)).unwrap();
            let alone = Schema::from_slice(&new).unwrap();
            assert_eq!(after.bytes(), alone.bytes());
            assert_eq!(after.index(), alone.index());
            assert_eq!(after.checksum_after(&last), alone.checksum(), "{edit}");
        }
        // Refused inside the one node read, and by rules over the whole
        // tree (an id that is now repeated).
        for new in [
            String::from_utf8(before.to_vec())
                .unwrap()
                .replace(r#""type":"Text","props""#, r#""type":7,"props""#),
            String::from_utf8(before.to_vec())
                .unwrap()
                .replace(r#""id":"b""#, r#""id":"c""#),
            text("\"x\" \"y\""),
            // A new node deep inside whose id is one before it, or after it.
            kids(r#"{"id":"a","type":"X"}"#),
            kids(r#"{"id":"c","type":"X"}"#),
            // Two new nodes with one id.
            kids(r#"{"id":"z","type":"X"},{"id":"z","type":"Y"}"#),
            // Too deep only with the new nodes.
            kids(&format!(
                "{}{}{}",
                (0..130)
                    .map(|i| format!(r#"{{"id":"d{i}","type":"X","children":["#))
                    .collect::<String>(),
                r#"{"id":"end","type":"X"}"#,
                "]}".repeat(130)
            )),
        ] {
            let after = Schema::from_vec_after(new.clone().into_bytes(), Some(&last)).unwrap_err();
            assert_eq!(
                after,
                Schema::from_slice(new.as_bytes()).unwrap_err(),
                "{new}"
            );
        }
        // A pretty-printed edit is read as an edit once compact.
        let pretty = text("\"pretty\"")
            .replace(',', ",\n  ")
            .replace("\":", "\": ")
            .into_bytes();
        let after = Schema::from_vec_after(pretty.clone(), Some(&last)).unwrap();
        let alone = Schema::from_slice(&pretty).unwrap();
        assert_eq!(
            (after.bytes(), after.index()),
            (alone.bytes(), alone.index())
        );
        assert_eq!(after.checksum_after(&last), alone.checksum());
        // A schema rewritten from a value is not a base to read after: its
        // text is not what was pushed.
        let rewritten = Schema::from_value(serde_json::from_slice(before).unwrap()).unwrap();
        let new = text("\"again\"").into_bytes();
        let after = Schema::from_vec_after(new.clone(), Some(&rewritten)).unwrap();
        assert_eq!(after.index(), Schema::from_slice(&new).unwrap().index());
    }

    /// Many nodes read again at once (up to [`MAX_RESCANNED`] and past it):
    /// the same schema or the same refusal as reading the text alone.
    #[test]
    fn many_edited_nodes_are_validated_as_a_whole_read_would() {
        let text = |ids: &dyn Fn(usize) -> String, kind: &dyn Fn(usize) -> String| {
            let leaves: Vec<String> = (0..1_000)
                .map(|i| {
                    format!(
                        r#"{{"id":"{}","type":{},"props":{{"n":{i}}}}}"#,
                        ids(i),
                        kind(i)
                    )
                })
                .collect();
            format!(
                r#"{{"version":"1","metadata":{{}},"nodes":[{}]}}"#,
                leaves.join(",")
            )
        };
        let plain = |_: usize| "\"Text\"".to_string();
        let last = Schema::from_slice(text(&|i| format!("l{i}"), &plain).as_bytes()).unwrap();
        let _ = last.checksum();
        for edited in [60, MAX_RESCANNED - 6, MAX_RESCANNED + 40] {
            // Every third leaf, `edited` of them, gets a new id.
            assert!(3 * edited < 1_000);
            let new = move |i: usize| i % 3 == 0 && i / 3 < edited;
            let renamed = move |i: usize| {
                if new(i) {
                    format!("m{i}")
                } else {
                    format!("l{i}")
                }
            };
            let cases: Vec<(&str, String)> = vec![
                ("new ids", text(&renamed, &plain)),
                (
                    "a new id that an unedited leaf has",
                    text(
                        &|i| {
                            if i == 3 * (edited - 1) {
                                "l1".into()
                            } else {
                                renamed(i)
                            }
                        },
                        &plain,
                    ),
                ),
                (
                    "two new leaves with one id",
                    text(
                        &|i| {
                            if new(i) && i < 6 {
                                "same".into()
                            } else {
                                renamed(i)
                            }
                        },
                        &plain,
                    ),
                ),
                (
                    "a new leaf with a bad type",
                    text(&renamed, &|i| {
                        if i == 3 * (edited / 2) {
                            "7".into()
                        } else {
                            plain(i)
                        }
                    }),
                ),
            ];
            for (what, t) in cases {
                let after = Schema::from_vec_after(t.clone().into_bytes(), Some(&last));
                let alone = Schema::from_slice(t.as_bytes());
                match (after, alone) {
                    (Ok(a), Ok(b)) => {
                        assert_eq!(a.index(), b.index(), "{edited}: {what}");
                        assert_eq!(a.checksum_after(&last), b.checksum(), "{edited}: {what}");
                    }
                    (a, b) => assert_eq!(a.err(), b.err(), "{edited}: {what}"),
                }
            }
        }
    }

    /// A text with whitespace (pretty-printed, or spaced anywhere, even
    /// inside a token) pushed alone or after the last push: the answer of
    /// reading it as pushed, then dropping its whitespace (byte by byte).
    #[test]
    fn spaced_texts_read_as_their_whole_reading_would() {
        fn whole(text: &[u8]) -> Result<(Vec<u8>, Index), SchemaError> {
            let scanned = scan(text).map_err(SchemaError::Json)?;
            let compact: Vec<u8> = if scanned.normalize {
                let value =
                    json::parse_bounded(text, json::MAX_JSON_DEPTH).map_err(SchemaError::Json)?;
                let s = Schema::from_value(value)?;
                return Ok((s.bytes().to_vec(), s.index().clone()));
            } else {
                let mut out = Vec::new();
                let mut in_string = false;
                let mut k = 0;
                while k < text.len() {
                    let c = text[k];
                    if in_string {
                        out.push(c);
                        if c == b'\\' && k + 1 < text.len() {
                            out.push(text[k + 1]);
                            k += 1;
                        } else if c == b'"' {
                            in_string = false;
                        }
                    } else if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                        in_string = c == b'"';
                        out.push(c);
                    }
                    k += 1;
                }
                out
            };
            let index = scan(&compact).map_err(SchemaError::Json)?.index;
            validate(&compact, &index)?;
            Ok((compact, index))
        }
        let got =
            |r: Result<Schema, SchemaError>| r.map(|s| (s.bytes().to_vec(), s.index().clone()));
        let before = br#"{"version":"1","metadata":{"n":-1.50},"nodes":[{"id":"a","type":"View","children":[{"id":"b","type":"Text","props":{"text":"hi there","n":[1,2e3,true,null]}}]},{"id":"c","type":"Text","props":{"k":"v"}}]}"#;
        let last = Schema::from_slice(before).unwrap();
        let spaces: [&[u8]; 5] = [b" ", b"\n  ", b"\t", b"\r\n", b"\n            "];
        let mut seed = 5u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let (mut accepted, mut refused) = (0, 0);
        for round in 0..3000 {
            let mut text = before.to_vec();
            // An edit of a value now and then: "hi there" to another text.
            if round % 3 == 0 {
                let at = text.windows(2).position(|w| w == b"hi").unwrap();
                text[at] = b'a' + next(26) as u8;
            }
            // Whitespace after structural bytes (pretty-printing), and a
            // few runs anywhere (inside strings, numbers and literals too).
            let mut spaced = Vec::new();
            for &c in &text {
                spaced.push(c);
                if matches!(c, b'{' | b'[' | b',' | b':') && next(2) == 0 {
                    spaced.extend_from_slice(spaces[next(5) as usize]);
                }
                if next(90) == 0 {
                    spaced.extend_from_slice(spaces[next(5) as usize]);
                }
            }
            if next(2) == 0 {
                spaced.splice(0..0, b"\n".iter().copied());
            }
            let want = whole(&spaced);
            assert_eq!(
                got(Schema::from_slice(&spaced)),
                want,
                "{}",
                String::from_utf8_lossy(&spaced)
            );
            assert_eq!(
                got(Schema::from_vec_after(spaced.clone(), Some(&last))),
                want,
                "after: {}",
                String::from_utf8_lossy(&spaced)
            );
            match want {
                Ok(_) => accepted += 1,
                Err(_) => refused += 1,
            }
        }
        // Both kinds were met.
        assert!(
            accepted > 300 && refused > 300,
            "{accepted} accepted, {refused} refused"
        );
        // Whitespace only past the first 4 KiB, where the first look does
        // not reach: found by the whole read, then read compact alike.
        let long = String::from_utf8(before.to_vec())
            .unwrap()
            .replace("hi there", &"x".repeat(5000));
        for late in [
            long.replace("\"c\",", "\"c\",\n "),
            long.replace("\"k\":", "\"k\": "),
        ] {
            assert!(!looks_spaced(late.as_bytes()) && late.contains(' '));
            let want = whole(late.as_bytes());
            assert!(want.is_ok());
            assert_eq!(got(Schema::from_slice(late.as_bytes())), want);
            assert_eq!(
                got(Schema::from_vec_after(late.into_bytes(), Some(&last))),
                want
            );
        }
        // Whitespace only after the last token (a file's final line
        // break): read as the whole read reads it, refusals included (an
        // error at the end names the whole text's end), and the buffer
        // kept, not copied.
        let edited = String::from_utf8(before.to_vec())
            .unwrap()
            .replace("hi there", "ho there")
            .into_bytes();
        for tail in ["\n", "\r\n", " \n\t "] {
            for body in [&before[..], &edited[..], &before[..60], b"", b"{"] {
                let mut t = body.to_vec();
                t.extend_from_slice(tail.as_bytes());
                // Spaced only at its end: not read compact first.
                assert!(!looks_spaced(&t[..trimmed_len(&t)]));
                let want = whole(&t);
                assert_eq!(got(Schema::from_slice(&t)), want, "{t:?}");
                assert_eq!(got(Schema::from_vec_after(t.clone(), Some(&last))), want);
                let at = t.as_ptr();
                if let Ok(s) = Schema::from_vec_after(t, Some(&last)) {
                    assert_eq!(s.bytes().as_ptr(), at, "no copy");
                }
            }
        }
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
    fn an_owned_compact_text_is_kept_as_it_is() {
        let text = br#"{"version":"1","metadata":{},"nodes":[{"id":"a","type":"T"}]}"#.to_vec();
        let at = text.as_ptr();
        let s = Schema::from_vec(text.clone()).unwrap();
        assert_eq!(s, Schema::from_slice(&text).unwrap());
        let owned = Schema::from_vec(text).unwrap();
        assert_eq!(owned.bytes().as_ptr(), at, "no copy");
        // With whitespace it is made compact (a new text).
        let pretty =
            Schema::from_vec(b" { \"version\" : \"1\", \"metadata\": {}, \"nodes\": [] }".to_vec());
        assert_eq!(
            pretty.unwrap().bytes().as_slice(),
            br#"{"version":"1","metadata":{},"nodes":[]}"#
        );
        assert!(matches!(
            Schema::from_vec(vec![b' '; MAX_SCHEMA_BYTES + 1]),
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
