//! The delta between two indexed schemas, written as JSON straight from
//! their bytes.
//!
//! The rules are those of [`crate::protocol::delta`] (what a delta can
//! express exactly); here they run on the node index: fingerprints decide
//! what changed, so unchanged subtrees are skipped with one comparison,
//! and a changed node goes out as the bytes it was pushed as.

use super::{Field, Kind, string_at};
use crate::protocol::schema::Schema;
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// What changed, as entries of the two indexes.
#[derive(Debug, Default)]
pub(crate) struct RawDelta {
    /// New top-level nodes appended.
    pub added: Vec<usize>,
    /// New nodes replacing the old ones with their ids.
    pub modified: Vec<usize>,
    /// Old nodes deleted.
    pub removed: Vec<usize>,
    /// Top-level keys set (a member of the new schema) or deleted (a
    /// member of the old one).
    pub meta: Vec<Meta>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Meta {
    Set(usize),
    Delete(usize),
}

impl RawDelta {
    /// `added + modified + removed`.
    pub fn change_count(&self) -> usize {
        self.added.len() + self.modified.len() + self.removed.len()
    }

    /// The delta's JSON, as [`SchemaDelta`](crate::protocol::SchemaDelta)
    /// serializes: `added`, `modified`, `removed`, then
    /// `metadataChanges` when there are any.
    pub fn to_json(&self, old: &Schema, new: &Schema) -> Vec<u8> {
        let (ob, nb) = (old.bytes(), new.bytes());
        let (oi, ni) = (old.index(), new.index());
        let mut out = Vec::with_capacity(64);
        let list = |out: &mut Vec<u8>, name: &[u8], items: &[usize]| {
            out.extend_from_slice(name);
            for (i, &e) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&nb[ni.nodes[e].span.range()]);
            }
            out.push(b']');
        };
        list(&mut out, b"{\"added\":[", &self.added);
        list(&mut out, b",\"modified\":[", &self.modified);
        out.extend_from_slice(b",\"removed\":[");
        for (i, &e) in self.removed.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(&ob[oi.nodes[e].id.range()]);
            out.push(b'"');
        }
        out.push(b']');
        if !self.meta.is_empty() {
            out.extend_from_slice(b",\"metadataChanges\":{");
            for (i, change) in self.meta.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let (bytes, m) = match *change {
                    Meta::Set(k) => (nb, &ni.members[k]),
                    Meta::Delete(k) => (ob, &oi.members[k]),
                };
                out.push(b'"');
                out.extend_from_slice(&bytes[m.key.range()]);
                out.extend_from_slice(b"\":");
                match change {
                    Meta::Set(_) => out.extend_from_slice(&nb[m.value.range()]),
                    Meta::Delete(_) => out.extend_from_slice(b"null"),
                }
            }
            out.push(b'}');
        }
        out.push(b'}');
        out
    }
}

/// The delta from `old` to `new`, or `None` when only a full update can
/// say it (a top-level key newly set to `null`, which `metadataChanges`
/// would read as a deletion).
pub(crate) fn calculate(old: &Schema, new: &Schema) -> Option<RawDelta> {
    let (ob, nb) = (old.bytes(), new.bytes());
    let (oi, ni) = (old.index(), new.index());
    let mut d = RawDelta::default();
    for (k, m) in ni.members.iter().enumerate() {
        let key = string_at(nb, m.key, m.key_escaped);
        if key == "nodes" {
            continue;
        }
        let same = oi
            .member(ob, &key)
            .is_some_and(|o| ob[o.value.range()] == nb[m.value.range()]);
        if !same {
            if m.kind == Kind::Null {
                return None;
            }
            d.meta.push(Meta::Set(k));
        }
    }
    for (k, m) in oi.members.iter().enumerate() {
        let key = string_at(ob, m.key, m.key_escaped);
        if key != "nodes" && ni.member(nb, &key).is_none() {
            d.meta.push(Meta::Delete(k));
        }
    }

    let old_top: Vec<usize> = oi.top().collect();
    let mut at: HashMap<Cow<'_, str>, usize, BuildHasherDefault<super::FastHasher>> =
        HashMap::with_capacity_and_hasher(old_top.len(), Default::default());
    for (j, &o) in old_top.iter().enumerate() {
        at.insert(oi.id(ob, o), j);
    }
    let mut kept = vec![false; old_top.len()];
    let mut last: Option<usize> = None;
    let mut diff = Diff { old, new, d };
    let mut rest = None;
    for n in ni.top() {
        match at.get(&ni.id(nb, n)) {
            Some(&j) if last.is_none_or(|l| j > l) => {
                kept[j] = true;
                last = Some(j);
                diff.node(old_top[j], n);
            }
            _ => {
                rest = Some(n);
                break;
            }
        }
    }
    let mut d = diff.d;
    d.removed.extend(
        old_top
            .iter()
            .zip(&kept)
            .filter(|(_, k)| !**k)
            .map(|(&o, _)| o),
    );
    if let Some(first) = rest {
        d.added.extend(ni.top().skip_while(|&n| n != first));
    }
    Some(d)
}

struct Diff<'a> {
    old: &'a Schema,
    new: &'a Schema,
    d: RawDelta,
}

impl Diff<'_> {
    /// Two nodes with the same id at the same place in the tree.
    fn node(&mut self, o: usize, n: usize) {
        let (on, nn) = (&self.old.index().nodes[o], &self.new.index().nodes[n]);
        if on.subtree == nn.subtree {
            return;
        }
        let lists = |k: [Kind; 5]| k[Field::Children as usize] == Kind::Array;
        if on.own != nn.own || !lists(on.fields) || !lists(nn.fields) || !self.children(o, n) {
            self.d.modified.push(n);
        }
    }

    /// Diffs child lists in place when the new list is the old one with
    /// some children removed (order kept); false, having emitted nothing,
    /// when it is not.
    fn children(&mut self, o: usize, n: usize) -> bool {
        let (ob, nb) = (self.old.bytes(), self.new.bytes());
        let (oi, ni) = (self.old.index(), self.new.index());
        let old: Vec<usize> = oi.children(o).collect();
        let mut matched = Vec::new();
        let mut j = 0;
        for c in ni.children(n) {
            let id = ni.id(nb, c);
            while j < old.len() && oi.id(ob, old[j]) != id {
                j += 1;
            }
            if j == old.len() {
                return false;
            }
            matched.push((j, c));
            j += 1;
        }
        let mut next = matched.iter().peekable();
        for (i, &oc) in old.iter().enumerate() {
            if next.peek().is_some_and(|m| m.0 == i) {
                next.next();
            } else {
                self.d.removed.push(oc);
            }
        }
        for (i, c) in matched {
            self.node(old[i], c);
        }
        true
    }
}
