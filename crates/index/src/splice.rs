//! The index of a pushed text that differs from the one before it in a
//! few places, made without reading the rest again.
//!
//! A tool that saves a schema after a small edit writes the same bytes
//! before and after it, most often with a new `metadata.generatedAt` as
//! well. The two texts are compared byte by byte (far cheaper than parsing
//! them), and where they differ, one unit around the difference is scanned
//! again in place, exactly as a whole scan would scan it: the smallest node
//! holding everything that differs up to the common end, else the deepest
//! node or top-level member value (not `nodes`) holding the first
//! difference, after which comparing goes on. The entries between the
//! units are the old ones, moved by the change in length before them; the
//! ancestors of rescanned nodes get new sizes, ends and subtree
//! fingerprints. The result is the index a whole scan of the new text
//! gives (a property test checks it), or `None` when the shortcut does not
//! apply and a whole scan must decide: a difference between nodes or in
//! the document's own syntax (a node added or removed at the top level, a
//! key renamed), or a unit whose new text is invalid, not compact, has
//! keys that need normalizing, or does not end where the old text resumes.
//!
//! Why it is sound: the new text is the old one with some JSON values (the
//! units) replaced by others, each scanned in its place with the same
//! parent, position and depth; every byte outside them is compared equal
//! to a byte of the old text, which was valid. A unit's edges are plain
//! ASCII (a `{`, `,`, `:` or `[` before it; a `,`, `]` or `}` after it), so
//! the new text is valid UTF-8 when every unit's text is.

use crate::scan::{scan_member_value, scan_node, subtree_fingerprint};
use crate::{Index, Kind, Node, Siblings, Span, TOP};
use std::ops::Range;

/// One rescanned value.
struct Unit {
    /// Its old text, `start..end`.
    start: usize,
    end: usize,
    /// Its new text ends here (it starts where the old one did, moved by
    /// the units before it).
    new_end: usize,
    what: What,
}

enum What {
    /// The node at this old entry, with so many entries, is now these
    /// entries (the first is the node; parents inside count from it).
    Node {
        entry: usize,
        size: usize,
        nodes: Vec<Node>,
    },
    /// The value of this member of the document's object.
    Member { member: usize, kind: Kind },
}

/// A text's index made from the one before it.
#[derive(Debug, PartialEq, Eq)]
pub struct Reindexed {
    /// The index, as a whole scan gives it.
    pub index: Index,
    /// The entries that were scanned again (every other one is a node of
    /// the old text, moved), in order.
    pub rescanned: Vec<Range<usize>>,
}

/// The index of `new`, from `old` (a compact text) and its index; `None`
/// when a whole scan of `new` is needed. (Never inlined into a caller:
/// built here, at this crate's opt-level.)
#[inline(never)]
pub fn reindex(old: &[u8], old_index: &Index, new: &[u8]) -> Option<Reindexed> {
    if old == new {
        return Some(Reindexed {
            index: old_index.clone(),
            rescanned: Vec::new(),
        });
    }
    if new.len() >= u32::MAX as usize || old_index.root != Kind::Object {
        return None;
    }
    let units = units(old, old_index, new)?;
    Some(build(old_index, &units))
}

/// The units to rescan, in text order, rescanned.
fn units(old: &[u8], index: &Index, new: &[u8]) -> Option<Vec<Unit>> {
    let prefix = common_prefix(old, new);
    let most = old.len().min(new.len()) - prefix;
    let suffix = common_suffix(&old[old.len() - most..], &new[new.len() - most..]);
    let mut units = Vec::new();
    // old[..o] has become new[..n].
    let (mut o, mut n) = (0, 0);
    let mut run = prefix;
    let mut cover = true;
    loop {
        let q = o + run;
        if q == old.len() && n + run == new.len() {
            return Some(units);
        }
        // Where the common end starts, seen from here.
        let suffix = suffix.min(old.len() - q).min(new.len() - (n + run));
        let (old_end, new_end) = (old.len() - suffix, new.len() - suffix);
        // The smallest node holding all that is left to differ, ending where
        // the common end resumes; else the innermost unit at `q`.
        // That node is tried once at most (a text made to fail it at every
        // step would otherwise have big nodes read again and again): the
        // other units are disjoint and only the last may fail, so all the
        // rescans together read the text three times at most.
        let covering = covering_node(index, q, old_end)
            .filter(|&k| cover && index.nodes[k].span.start as usize >= o);
        let unit = covering
            .and_then(|k| {
                cover = false;
                rescan_node(index, k, new, n + (index.nodes[k].span.start as usize - o))
            })
            .filter(|u| {
                u.new_end + (old.len() - u.end) == new.len()
                    && u.end >= old_end
                    && u.new_end >= new_end
            })
            .or_else(|| innermost_unit(old, index, q, o, new, n))?;
        std::str::from_utf8(&new[unit.start + n - o..unit.new_end]).ok()?;
        (o, n) = (unit.end, unit.new_end);
        units.push(unit);
        if old.len() - o == new.len() - n && old.len() - o <= suffix {
            // The rest is in the common end.
            return Some(units);
        }
        run = common_prefix(&old[o..], &new[n..]);
    }
}

/// The deepest node or member value (other than `nodes`) holding `q`, if
/// it starts at or after `o`, rescanned (`old[o..]` is `new[n..]`).
fn innermost_unit(
    old: &[u8],
    index: &Index,
    q: usize,
    o: usize,
    new: &[u8],
    n: usize,
) -> Option<Unit> {
    if let Some(k) = covering_node(index, q, q) {
        let start = index.nodes[k].span.start as usize;
        return (start >= o).then(|| rescan_node(index, k, new, n + start - o))?;
    }
    let (member, m) = index
        .members
        .iter()
        .enumerate()
        .find(|(_, m)| (m.value.start as usize) <= q && q < m.value.end as usize)?;
    let start = m.value.start as usize;
    // A difference in `nodes` but in no node: the list itself changed.
    if start < o || &old[m.key.range()] == b"nodes" {
        return None;
    }
    let (kind, new_end) = scan_member_value(new, n + start - o)?;
    Some(Unit {
        start,
        end: m.value.end as usize,
        new_end,
        what: What::Member { member, kind },
    })
}

/// Node `k` scanned again from `at` in the new text.
fn rescan_node(index: &Index, k: usize, new: &[u8], at: usize) -> Option<Unit> {
    let node = &index.nodes[k];
    let (nodes, end) = scan_node(new, at, Vec::new(), (node.parent, node.pos, node.depth));
    Some(Unit {
        start: node.span.start as usize,
        end: node.span.end as usize,
        new_end: end?,
        what: What::Node {
            entry: k,
            size: node.size as usize,
            nodes,
        },
    })
}

/// The new index: the old entries and members, moved, with the units'.
fn build(old: &Index, units: &[Unit]) -> Reindexed {
    // Where an old place or entry is now: moved as far as the last unit
    // that ends at or before it (a place inside a unit is never asked
    // for). A unit's new end minus its old one is that distance.
    let ends = Shifts::new(
        units
            .iter()
            .map(|u| (u.end, u.new_end as i64 - u.end as i64)),
    );
    let place = |at: u32| (at as i64 + ends.before(at as usize)) as u32;
    let span = |s: Span| Span {
        start: place(s.start),
        end: place(s.end),
    };
    let node_units: Vec<(usize, usize, &Vec<Node>)> = units
        .iter()
        .filter_map(|u| match &u.what {
            What::Node { entry, size, nodes } => Some((*entry, *size, nodes)),
            What::Member { .. } => None,
        })
        .collect();
    // Entries: each rescanned node adds the change in its subtree's size.
    let lists = Shifts::new(node_units.iter().scan(0i64, |grown, (k, size, nodes)| {
        *grown += nodes.len() as i64 - *size as i64;
        Some((k + size, *grown))
    }));
    let entry = |at: usize| (at as i64 + lists.before(at)) as usize;
    let grown = lists.before(usize::MAX);
    let mut nodes = Vec::with_capacity((old.nodes.len() as i64 + grown) as usize);
    let mut rescanned = Vec::with_capacity(node_units.len());
    let mut next = node_units.iter().peekable();
    let mut j = 0;
    while j < old.nodes.len() {
        if let Some(&&(k, size, unit)) = next.peek() {
            if k == j {
                let base = nodes.len() as u32;
                let parent = match unit[0].parent {
                    TOP => TOP,
                    p => entry(p as usize) as u32,
                };
                nodes.extend(unit.iter().cloned().enumerate().map(|(i, mut n)| {
                    n.parent = if i == 0 { parent } else { n.parent + base };
                    n
                }));
                rescanned.push(base as usize..nodes.len());
                next.next();
                j += size;
                continue;
            }
        }
        let mut n = old.nodes[j].clone();
        n.span = span(n.span);
        n.id = span(n.id);
        n.children = span(n.children);
        n.size = (entry(j + n.size as usize) - entry(j)) as u32;
        if n.parent != TOP {
            n.parent = entry(n.parent as usize) as u32;
        }
        nodes.push(n);
        j += 1;
    }
    // The ancestors of rescanned nodes, innermost first (a descendant comes
    // after its ancestors), get the subtree fingerprint of their new
    // children.
    // Each is listed once: the walk up from a unit stops at an ancestor
    // already listed (so many units deep in one tree cost no more than the
    // tree's nodes).
    let mut listed = vec![false; nodes.len()];
    let mut ancestors: Vec<usize> = Vec::new();
    for &(k, _, _) in &node_units {
        let mut at = old.nodes[k].parent;
        while at != TOP {
            let a = entry(at as usize);
            if listed[a] {
                break;
            }
            listed[a] = true;
            ancestors.push(a);
            at = old.nodes[at as usize].parent;
        }
    }
    ancestors.sort_unstable_by(|a, b| b.cmp(a));
    for a in ancestors {
        let children = Siblings {
            nodes: &nodes,
            next: a + 1,
            end: a + nodes[a].size as usize,
        };
        nodes[a].subtree = subtree_fingerprint(nodes[a].own, children.map(|c| nodes[c].subtree));
    }
    let mut members = old.members.clone();
    for m in &mut members {
        m.key = span(m.key);
        m.value = span(m.value);
    }
    for u in units {
        if let What::Member { member, kind } = u.what {
            members[member].kind = kind;
        }
    }
    Reindexed {
        index: Index {
            root: old.root,
            members,
            nodes,
        },
        rescanned,
    }
}

/// How far places move: from each place on (in order), by so much in all.
struct Shifts {
    at: Vec<usize>,
    /// The distance from `at[i]` on; `by[0]` is 0, before the first.
    by: Vec<i64>,
}

impl Shifts {
    fn new(shifts: impl Iterator<Item = (usize, i64)>) -> Shifts {
        let (mut at, mut by) = (Vec::new(), vec![0]);
        for (place, total) in shifts {
            at.push(place);
            by.push(total);
        }
        Shifts { at, by }
    }

    /// How far `place` moves.
    fn before(&self, place: usize) -> i64 {
        self.by[self.at.partition_point(|&a| a <= place)]
    }
}

/// The smallest node whose text holds `from..to`, the bytes that changed
/// (its first and last byte may be among them).
fn covering_node(index: &Index, from: usize, to: usize) -> Option<usize> {
    // The last node starting at or before `from` (entries are in document
    // order), then out through its ancestors until one ends at or after
    // `to`: nodes that start before `from` and are not its ancestors end
    // before it.
    let nodes = &index.nodes;
    let last = nodes.partition_point(|n| n.span.start as usize <= from);
    let mut at = u32::try_from(last.checked_sub(1)?).ok()?;
    while at != TOP {
        let n = &nodes[at as usize];
        if n.span.start as usize <= from && to <= n.span.end as usize && from < n.span.end as usize
        {
            return Some(at as usize);
        }
        at = n.parent;
    }
    None
}

/// How many leading bytes `a` and `b` share.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    // Whole blocks first (each a `memcmp`), then byte by byte.
    for block in [4096, 64] {
        while i + block <= n && a[i..i + block] == b[i..i + block] {
            i += block;
        }
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// How many trailing bytes `a` and `b` (of equal length) share.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len();
    let mut i = 0;
    for block in [4096, 64] {
        while i + block <= n && a[n - i - block..n - i] == b[n - i - block..n - i] {
            i += block;
        }
    }
    while i < n && a[n - i - 1] == b[n - i - 1] {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{RESCANNED, scan};
    use serde_json::{Value, json};

    use crate::test_rng::Rng;

    fn tree(r: &mut Rng, id: &mut u32, depth: u32) -> Value {
        *id += 1;
        let mut node = json!({"id": format!("n{id}"), "type": "Text", "props": {"text": format!("t{}", r.below(100)), "n": r.below(9)}});
        if depth > 0 && r.below(3) > 0 {
            let kids = (0..r.below(4)).map(|_| tree(r, id, depth - 1)).collect();
            node["children"] = Value::Array(kids);
        }
        if r.below(4) == 0 {
            node["metadata"] = json!({"k": r.below(5)});
        }
        node
    }

    /// A node of `v` picked at random: a path of child positions.
    fn pick<'a>(r: &mut Rng, v: &'a mut Value) -> &'a mut Value {
        let n = v["nodes"].as_array().map_or(0, Vec::len);
        let mut at = &mut v["nodes"][r.below(n)];
        while r.below(3) > 0 {
            let c = at
                .get("children")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if c == 0 {
                break;
            }
            at = &mut at["children"][r.below(c)];
        }
        at
    }

    /// An edit a tool might make, to the value.
    fn edit(r: &mut Rng, v: &mut Value, id: &mut u32) {
        match r.below(9) {
            0 => pick(r, v)["props"]["text"] = json!(format!("edited {}", r.below(1000))),
            1 => pick(r, v)["type"] = json!("Button"),
            2 => {
                *id += 1;
                let node = pick(r, v);
                let kid = json!({"id": format!("n{id}"), "type": "New"});
                match node.get_mut("children").and_then(Value::as_array_mut) {
                    Some(kids) => kids.insert(0, kid),
                    None => node["children"] = json!([kid]),
                }
            }
            3 => {
                if let Some(kids) = pick(r, v).get_mut("children").and_then(Value::as_array_mut) {
                    if !kids.is_empty() {
                        kids.remove(r.below(kids.len()));
                    }
                }
            }
            4 => pick(r, v)["id"] = json!(format!("n{}", r.below(40))),
            5 => pick(r, v)["props"]["é\"x"] = json!([1.5, null, {"deep": true}]),
            6 => pick(r, v)["metadata"] = json!({"k": r.below(5), "z": "\u{1}"}),
            7 => v["metadata"]["generatedAt"] = json!(r.below(1000)),
            _ => {
                if let Some(o) = pick(r, v).as_object_mut() {
                    o.remove("props");
                }
            }
        }
    }

    /// Text edits that may break anything: bytes replaced by a snippet.
    fn mangle(r: &mut Rng, text: &[u8]) -> Vec<u8> {
        const SNIPPETS: [&[u8]; 16] = [
            b"",
            b"1",
            b",",
            b"{",
            b"}",
            b"]",
            b"[",
            b" ",
            b"\"",
            b"\\",
            b"\"id\":\"n1\",",
            b"\"children\":[{\"id\":\"q\",\"type\":\"T\"}],",
            b"{\"id\":\"z\",\"type\":\"T\"},",
            b"\"type\":\"A\",\"type\":\"B\",",
            b"\"\\u0069d\":\"x\",",
            b"\xff",
        ];
        let at = r.below(text.len());
        let len = r.below(12).min(text.len() - at);
        let mut out = text[..at].to_vec();
        out.extend_from_slice(SNIPPETS[r.below(SNIPPETS.len())]);
        out.extend_from_slice(&text[at + len..]);
        out
    }

    /// Whenever the shortcut answers, its index is the whole scan's, and
    /// it answers only where a whole scan would keep the text as it is.
    #[test]
    fn reindexing_gives_the_index_of_a_whole_scan() {
        let mut r = Rng(5);
        let (mut taken, mut edits, mut mangled_taken) = (0, 0, 0);
        for round in 0..1000 {
            let mut id = 0;
            let nodes: Vec<Value> = (0..1 + r.below(4))
                .map(|_| tree(&mut r, &mut id, 3))
                .collect();
            let mut v = json!({"version": "1", "metadata": {"generatedAt": round}, "nodes": nodes, "after": [1]});
            let mut old = serde_json::to_vec(&v).unwrap();
            let mut old_index = scan(&old).unwrap().index;
            for _ in 0..8 {
                let new = if r.below(4) == 0 {
                    mangle(&mut r, &old)
                } else {
                    // One edit, or a few (a tool's new generatedAt and
                    // an edit, edits in several places).
                    for _ in 0..1 + r.below(2) * r.below(4) {
                        edit(&mut r, &mut v, &mut id);
                    }
                    serde_json::to_vec(&v).unwrap()
                };
                edits += 1;
                let whole = scan(&new);
                RESCANNED.with(|r| r.set(0));
                let reindexed = reindex(&old, &old_index, &new);
                // Never much more than reading the text once, taken or not.
                let read = RESCANNED.with(|r| r.get());
                assert!(
                    read <= 3 * new.len(),
                    "{read} bytes rescanned of {}",
                    new.len()
                );
                let Some(Reindexed { index, rescanned }) = reindexed else {
                    continue;
                };
                // Every other entry is an old one.
                let mut kept = index
                    .nodes
                    .iter()
                    .enumerate()
                    .filter(|(e, _)| !rescanned.iter().any(|r| r.contains(e)));
                assert!(kept.all(|(_, n)| {
                    old_index
                        .nodes
                        .iter()
                        .any(|o| o.own == n.own && o.id_hash == n.id_hash && o.fields == n.fields)
                }));
                let whole = whole.unwrap_or_else(|e| {
                    panic!(
                        "reindexed a text a whole scan refuses ({e}): {}",
                        String::from_utf8_lossy(&new)
                    )
                });
                assert!(
                    !whole.whitespace && !whole.normalize,
                    "{}",
                    String::from_utf8_lossy(&new)
                );
                assert_eq!(index, whole.index, "{}", String::from_utf8_lossy(&new));
                taken += 1;
                if serde_json::from_slice::<Value>(&new).ok().as_ref() != Some(&v) {
                    mangled_taken += 1;
                    v = serde_json::from_slice(&new).unwrap();
                }
                old = new;
                old_index = index;
            }
        }
        // Most edits are inside one node; some text edits are too.
        assert!(taken > edits / 3, "{taken} of {edits}");
        assert!(mangled_taken > 10, "{mangled_taken}");
    }

    /// Many edits under one deep chain: every ancestor is recomputed once,
    /// and the index is still the whole scan's.
    #[test]
    fn many_edits_deep_in_one_tree() {
        let doc = |tag: &str| {
            let leaves: Vec<String> = (0..2000)
                .map(|i| format!(r#"{{"id":"l{i}","type":"T","props":{{"t":"{tag}{i}"}}}}"#))
                .collect();
            let mut node = format!(
                r#"{{"id":"d100","type":"T","children":[{}]}}"#,
                leaves.join(",")
            );
            for level in (0..100).rev() {
                node = format!(r#"{{"id":"d{level}","type":"T","children":[{node}]}}"#);
            }
            // A change after the nodes too: no node holds them all, so each
            // leaf is a unit of its own.
            format!(r#"{{"version":"1","metadata":{{}},"nodes":[{node}],"x":"{tag}"}}"#)
                .into_bytes()
        };
        let (old, new) = (doc("a"), doc("bb"));
        let index = scan(&old).unwrap().index;
        let r = reindex(&old, &index, &new).expect("read as edits");
        assert_eq!(r.rescanned.len(), 2000);
        assert!(r.rescanned.iter().all(|e| e.len() == 1));
        assert_eq!(r.index, scan(&new).unwrap().index);
    }

    #[test]
    fn which_edits_are_read_as_edits() {
        let old = br#"{"version":"1","metadata":{"a":1},"nodes":[{"id":"a","type":"T"},{"id":"b","type":"T"}],"x":[]}"#;
        let index = scan(old).unwrap().index;
        let whole = |new: &[u8]| Some(scan(new).unwrap().index);
        let reindex =
            |old: &[u8], index: &Index, new: &[u8]| reindex(old, index, new).map(|r| r.index);
        // The same text: the same index.
        assert_eq!(reindex(old, &index, old), Some(index.clone()));
        // Member values, nodes, and both.
        for new in [
            &br#"{"version":"1","metadata":{"a":22},"nodes":[{"id":"a","type":"T"},{"id":"b","type":"T"}],"x":[]}"#[..],
            br#"{"version":"2.0","metadata":{"a":1},"nodes":[{"id":"a","type":"T"},{"id":"b","type":"T"}],"x":[]}"#,
            br#"{"version":"1","metadata":[],"nodes":[{"id":"a","type":"T"},{"id":"bb","type":"T"}],"x":[1]}"#,
            br#"{"version":"1","metadata":{"a":1},"nodes":[{"id":"a","type":"U","children":[{"id":"c"}]},{"id":"b","type":"T"}],"x":[]}"#,
        ] {
            assert_eq!(reindex(old, &index, new), whole(new), "{}", String::from_utf8_lossy(new));
        }
        // The node list or the document's own syntax changed.
        for new in [
            &br#"{"version":"1","metadata":{"a":1},"nodes":[{"id":"a","type":"T"}],"x":[]}"#[..],
            br#"{"version":"1","metadata":{"a":1},"nodes":[{"id":"a","type":"T"},{"id":"b","type":"T"},{"id":"c"}],"x":[]}"#,
            br#"{"version":"1","metadata":{"a":1},"nodes":[{"id":"a"},{"type":"T"},{"id":"b","type":"T"}],"x":[]}"#,
            br#"{"version":"1","metadata":{"a":1},"nodes":[{"id":"a","type":"T"},{"id":"b","type":"T"}],"y":[]}"#,
            br#"{"version":"1","metadata":{"a":1},"nodes":[{"id":"a","type":"T"},{"id":"b","type":"T"}],"x":[ ]}"#,
        ] {
            assert_eq!(reindex(old, &index, new), None, "{}", String::from_utf8_lossy(new));
        }
    }
}
