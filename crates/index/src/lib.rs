//! A schema as the bytes it arrived as, plus a flat index of its nodes.
//!
//! The pushed JSON is read once ([`scan`]): the syntax is checked, and every
//! node (an element of `nodes` or of a node's `children`) gets an entry,
//! in document order (pre-order), with where it is in the bytes, the kinds
//! of its known fields and two fingerprints. Nothing is copied or built
//! per value: ids, props and everything else stay slices of the bytes.
//!
//! The rest of the schema path works on this index: validation
//! (the server's `protocol/schema.rs`), the delta (`protocol/index/delta.rs`),
//! the checksum ([`canonical`]), and the full update, which sends the bytes
//! as they are.
//!
//! A crate of its own so that it can be built for speed (opt-level 3, see
//! the server's `Cargo.toml`) while the rest of the binary is built for
//! size: every byte of a push goes through [`scan`] once and through
//! [`canonical`] once.
//!
//! Fingerprints: `own` hashes a node's fields other than `children` (their
//! compact bytes; member order does not matter), `subtree` the node with
//! all its descendants. Equal bytes always have equal fingerprints;
//! different ones differ except for a 64-bit hash collision. Values that
//! are equal but written differently (`1.0` and `1`, reordered props) only
//! cost work: the node is sent when it need not be, never the reverse.

#![warn(missing_docs)]
// Every unsafe block says why it is sound, and unsafe functions do not
// silently make their whole body unsafe.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod canonical;
pub mod compact;
mod error;
pub mod hash;
pub mod jcs;
pub mod pages;
pub mod scan;
pub mod splice;
#[cfg(test)]
mod test_rng;

pub use error::{JsonError, MAX_JSON_DEPTH};
pub use hash::FastHasher;

use std::borrow::Cow;
use std::ops::Range;

/// A byte range of the schema's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Offset of the first byte.
    pub start: u32,
    /// Offset just past the last byte.
    pub end: u32,
}

impl Span {
    /// The same range, for slicing.
    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// The JSON kind of a value, or of a field that may be absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// No such field.
    #[default]
    Absent,
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool,
    /// A number.
    Number,
    /// A string of at least one character.
    String,
    /// `""`.
    EmptyString,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl Kind {
    /// The JSON type name, for error messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Absent => "nothing",
            Kind::Null => "null",
            Kind::Bool => "boolean",
            Kind::Number => "number",
            Kind::String | Kind::EmptyString => "string",
            Kind::Array => "array",
            Kind::Object => "object",
        }
    }
}

/// The node fields the schema rules name, in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `id`.
    Id = 0,
    /// `type`.
    Type = 1,
    /// `props`.
    Props = 2,
    /// `children`.
    Children = 3,
    /// `metadata`.
    Metadata = 4,
}

impl Field {
    /// The field a key names, if the rules name it.
    pub fn from_key(key: &[u8]) -> Option<Field> {
        Some(match key {
            b"id" => Field::Id,
            b"type" => Field::Type,
            b"props" => Field::Props,
            b"children" => Field::Children,
            b"metadata" => Field::Metadata,
            _ => return None,
        })
    }
}

/// Marker for "no parent": a top-level node.
pub const TOP: u32 = u32::MAX;

/// One node of the tree (or a non-object where a node should be).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    /// The whole value, `{` to `}`.
    pub span: Span,
    /// `Object` for a node; anything else is invalid.
    pub kind: Kind,
    /// Kinds of the known fields, indexed by [`Field`].
    pub fields: [Kind; 5],
    /// The `id` string's contents (between the quotes, escapes as written).
    pub id: Span,
    /// The id contains escapes: read it through [`Index::id`].
    pub id_escaped: bool,
    /// Hash of the id's text (unescaped), taken while its bytes are at
    /// hand: validation tells ids apart by it without reading them again.
    pub id_hash: u64,
    /// The `children` array, `[` to `]`, when it is an array.
    pub children: Span,
    /// Parent entry, or [`TOP`].
    pub parent: u32,
    /// Position in the parent's list (`nodes` or `children`).
    pub pos: u32,
    /// Node level: 1 for top-level nodes.
    pub depth: u32,
    /// Entries in this subtree, itself included: the next sibling is at
    /// `this + size`.
    pub size: u32,
    /// Hash of the fields other than `children`.
    pub own: u64,
    /// Hash of the node and its whole subtree.
    pub subtree: u64,
}

/// One member of the schema object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// The key's contents (between the quotes).
    pub key: Span,
    /// The key contains escapes: read it through [`string_at`].
    pub key_escaped: bool,
    /// The value.
    pub value: Span,
    /// The value's kind.
    pub kind: Kind,
}

/// The index of one schema's bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    /// The kind of the whole document (a schema must be an object).
    pub root: Kind,
    /// The members of the schema object, in order.
    pub members: Vec<Member>,
    /// Every node, pre-order.
    pub nodes: Vec<Node>,
}

impl Index {
    /// The entries of the top-level nodes, in order.
    pub fn top(&self) -> Siblings<'_> {
        Siblings {
            nodes: &self.nodes,
            next: 0,
            end: self.nodes.len(),
        }
    }

    /// The entries of `parent`'s children, in order (none when its
    /// `children` is not an array).
    pub fn children(&self, parent: usize) -> Siblings<'_> {
        Siblings {
            nodes: &self.nodes,
            next: parent + 1,
            end: parent + self.nodes[parent].size as usize,
        }
    }

    /// A node's id, unescaped (borrowed unless it had escapes).
    pub fn id<'a>(&self, bytes: &'a [u8], node: usize) -> Cow<'a, str> {
        let n = &self.nodes[node];
        string_at(bytes, n.id, n.id_escaped)
    }

    /// The member named `key` (the first, if the key is repeated).
    pub fn member(&self, bytes: &[u8], key: &str) -> Option<&Member> {
        self.members
            .iter()
            .find(|m| string_at(bytes, m.key, m.key_escaped) == key)
    }

    /// The JSON path of a node, e.g. `nodes[1].children[0]`.
    pub fn path(&self, node: usize) -> String {
        let mut chain = Vec::new();
        let mut at = node as u32;
        while at != TOP {
            let n = &self.nodes[at as usize];
            chain.push(n.pos);
            at = n.parent;
        }
        let mut path = String::from("nodes");
        for (i, pos) in chain.iter().rev().enumerate() {
            if i > 0 {
                path.push_str(".children");
            }
            path.push_str(&format!("[{pos}]"));
        }
        path
    }
}

/// The entries of one list of sibling nodes.
pub struct Siblings<'a> {
    nodes: &'a [Node],
    next: usize,
    end: usize,
}

impl Iterator for Siblings<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.next >= self.end.min(self.nodes.len()) {
            return None;
        }
        let at = self.next;
        self.next += self.nodes[at].size.max(1) as usize;
        Some(at)
    }
}

/// The text of a JSON string's contents at `span` (between its quotes).
pub fn string_at(bytes: &[u8], span: Span, escaped: bool) -> Cow<'_, str> {
    if !escaped {
        // Scanned text is valid UTF-8 and a string's contents without
        // escapes is a whole number of characters.
        return match std::str::from_utf8(&bytes[span.range()]) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => Cow::Owned(String::from_utf8_lossy(&bytes[span.range()]).into_owned()),
        };
    }
    let quoted = &bytes[span.start as usize - 1..span.end as usize + 1];
    Cow::Owned(serde_json::from_slice::<String>(quoted).unwrap_or_default())
}
