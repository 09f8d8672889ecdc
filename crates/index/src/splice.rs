//! The index of a pushed text that differs from the one before it inside
//! one node, made without reading the rest again.
//!
//! A tool that saves a schema after a small edit writes the same bytes
//! before and after the edit. The common prefix and suffix of the two
//! texts are found by comparing bytes (far cheaper than parsing them); the
//! smallest node of the old text that holds everything between them is the
//! only part scanned. Its new text is scanned in place, exactly as a whole
//! scan would scan it; the entries before it are the old ones, those after
//! it are the old ones moved by the change in length, and its ancestors
//! get new sizes, ends and subtree fingerprints. The result is the index a
//! whole scan of the new text gives (a property test checks it), or `None`
//! when the shortcut does not apply and a whole scan must decide: the edit
//! is not inside one node (the version, the top-level metadata), or the new
//! text there is invalid, not compact, or has keys that need normalizing.
//!
//! Why it is sound: the new text is the old one with one JSON value (the
//! node) replaced by another, scanned in the same place with the same
//! parent, position and depth; everything outside it is byte for byte what
//! was valid before. The bytes at both edges of the node are plain ASCII
//! (a `{`, `,` or `[` before it; a `,` or `]` after it), so the new text
//! is valid UTF-8 when the node's text is.

use crate::scan::{scan_node, subtree_fingerprint};
use crate::{Index, Siblings, Span, TOP};

/// The index of `new`, from `old` (a compact text) and its index; `None`
/// when a whole scan of `new` is needed.
pub fn reindex(old: &[u8], old_index: &Index, new: &[u8]) -> Option<Index> {
    if new.len() >= u32::MAX as usize || old_index.nodes.is_empty() {
        return None;
    }
    if old == new {
        return Some(old_index.clone());
    }
    let prefix = common_prefix(old, new);
    let most = old.len().min(new.len()) - prefix;
    let suffix = common_suffix(&old[old.len() - most..], &new[new.len() - most..]);
    // What changed: old[prefix..old_end] became new[prefix..new_end].
    let old_end = old.len() - suffix;
    let k = covering_node(old_index, prefix, old_end)?;
    let node = &old_index.nodes[k];
    let (start, end) = (node.span.start as usize, node.span.end as usize);
    let delta = new.len() as i64 - old.len() as i64;
    let new_end = usize::try_from(end as i64 + delta).ok()?;
    std::str::from_utf8(new.get(start..new_end)?).ok()?;
    let old_size = node.size as usize;
    let mut nodes = Vec::with_capacity(old_index.nodes.len() + 16);
    nodes.extend_from_slice(&old_index.nodes[..k]);
    let (mut nodes, scanned_to) = scan_node(new, start, nodes, (node.parent, node.pos, node.depth));
    if scanned_to? != new_end {
        return None;
    }
    let new_size = nodes.len() - k;
    let entries = new_size as i64 - old_size as i64;
    // Every place in the text after the node moves by the change in
    // length; places before it stay.
    let shift = |span: Span| Span {
        start: moved(span.start, end, delta),
        end: moved(span.end, end, delta),
    };
    // The entries after the node: the same nodes, further on in the text
    // and in the list.
    for n in &old_index.nodes[k + old_size..] {
        let mut n = n.clone();
        n.span = shift(n.span);
        n.id = shift(n.id);
        n.children = shift(n.children);
        if n.parent != TOP && n.parent as usize >= k + old_size {
            n.parent = (n.parent as i64 + entries) as u32;
        }
        nodes.push(n);
    }
    // Its ancestors, innermost first: longer or shorter, and a new subtree.
    let mut at = nodes[k].parent;
    while at != TOP {
        let a = at as usize;
        nodes[a].size = (nodes[a].size as i64 + entries) as u32;
        let children = Siblings {
            nodes: &nodes,
            next: a + 1,
            end: a + nodes[a].size as usize,
        };
        let subtree = subtree_fingerprint(nodes[a].own, children.map(|c| nodes[c].subtree));
        let n = &mut nodes[a];
        n.span = shift(n.span);
        n.id = shift(n.id);
        n.children = shift(n.children);
        n.subtree = subtree;
        at = n.parent;
    }
    let mut members = old_index.members.clone();
    for m in &mut members {
        m.key = shift(m.key);
        m.value = shift(m.value);
    }
    Some(Index {
        root: old_index.root,
        members,
        nodes,
    })
}

/// A place in the old text, in the new one: after the edited node's end
/// (`end`), moved by the change in length.
fn moved(at: u32, end: usize, delta: i64) -> u32 {
    if at as usize >= end {
        (at as i64 + delta) as u32
    } else {
        at
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
    use crate::scan::scan;
    use serde_json::{Value, json};

    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) % n.max(1) as u64) as usize
        }
    }

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
        for round in 0..400 {
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
                    edit(&mut r, &mut v, &mut id);
                    serde_json::to_vec(&v).unwrap()
                };
                edits += 1;
                let whole = scan(&new);
                let Some(index) = reindex(&old, &old_index, &new) else {
                    continue;
                };
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

    #[test]
    fn an_edit_outside_every_node_needs_a_whole_scan() {
        let old = br#"{"version":"1","metadata":{"a":1},"nodes":[{"id":"a","type":"T"}]}"#;
        let new = br#"{"version":"1","metadata":{"a":2},"nodes":[{"id":"a","type":"T"}]}"#;
        let index = scan(old).unwrap().index;
        assert_eq!(reindex(old, &index, new), None);
        // The same text: the same index.
        assert_eq!(reindex(old, &index, old), Some(index.clone()));
        // Inside the node, but no longer one value there.
        let split = br#"{"version":"1","metadata":{"a":1},"nodes":[{"id":"a"},{"type":"T"}]}"#;
        assert_eq!(reindex(old, &index, split), None);
    }
}
