//! The checksum from the bytes: RFC 8785 canonical JSON (keys sorted,
//! numbers as ECMAScript prints them, minimal string escapes) written from
//! the indexed text, with the CRC-32 of every node's subtree kept.
//!
//! When the previous schema is given, a node whose subtree fingerprint it
//! has is not written again: its CRC is combined in where its bytes would
//! be (a "hole" in the buffer), and its descendants' CRCs are copied. After
//! a one-node edit only that node and its ancestors' own fields are
//! canonicalized. The result is the same as the server's
//! `calculate_checksum` on the parsed value (a property test there checks
//! it, and the tests below check reuse against writing from scratch).

use super::scan::plain_run;
use super::{FastHasher, Field, Index, Kind, Siblings, Span, string_at};
use crate::jcs::{write_jcs_string, write_js_number};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// CRC-32 and length of each node's canonical subtree, by entry; `(0, 0)`
/// for a small node not kept (its parent's CRC covers it).
pub type NodeCrcs = Vec<(u32, u64)>;

/// The schema a checksum may reuse subtrees of.
pub struct Previous<'a> {
    /// Its index.
    pub index: &'a Index,
    /// Its nodes' subtree CRCs, as [`checksum`] returned them.
    pub crcs: &'a [(u32, u64)],
}

/// The CRC of the canonical text and every node's subtree CRC; `None`
/// when an object repeats a key (the caller then goes through a parsed
/// value, where the last one wins).
pub fn checksum(
    bytes: &[u8],
    index: &Index,
    previous: Option<Previous<'_>>,
) -> Option<(u32, NodeCrcs)> {
    checksum_keeping(bytes, index, previous, KEEP_AS_CRC)
}

/// [`checksum`], keeping the CRCs of nodes of at least `keep` bytes.
fn checksum_keeping(
    bytes: &[u8],
    index: &Index,
    previous: Option<Previous<'_>>,
    keep: usize,
) -> Option<(u32, NodeCrcs)> {
    let mut c = Canon::new(bytes, index, previous, false);
    c.keep = keep;
    c.root();
    if c.repeated {
        return None;
    }
    let (crc, _) = c.region(0, 0);
    Some((crc, c.crcs))
}

/// The canonical text itself (of any JSON text with its index).
pub fn text(bytes: &[u8], index: &Index) -> Vec<u8> {
    let mut c = Canon::new(bytes, index, None, true);
    c.root();
    c.out
}

impl<'a> Canon<'a> {
    fn new(bytes: &'a [u8], index: &'a Index, previous: Option<Previous<'a>>, text: bool) -> Self {
        let mut reuse: HashMap<u64, u32, BuildHasherDefault<FastHasher>> = HashMap::default();
        if let Some(p) = &previous {
            if p.crcs.len() == p.index.nodes.len() {
                reuse.reserve(p.index.nodes.len());
                for (j, n) in p.index.nodes.iter().enumerate().rev() {
                    if p.crcs[j].1 > 0 {
                        reuse.insert(n.subtree, j as u32);
                    }
                }
            }
        }
        Canon {
            b: bytes,
            ix: index,
            out: Vec::with_capacity(if text { bytes.len() } else { 4096 }),
            holes: Vec::new(),
            crcs: vec![(0, 0); index.nodes.len()],
            reuse,
            previous,
            members: Vec::new(),
            tmp: Vec::new(),
            repeated: false,
            text,
            keep: KEEP_AS_CRC,
        }
    }
}

/// A part of the canonical text known only by its CRC and length.
struct Hole {
    at: usize,
    crc: u32,
    len: u64,
}

/// One member of an object being written: key contents and value.
#[derive(Clone, Copy)]
struct M {
    key: Span,
    escaped: bool,
    /// No escapes and no characters beyond U+FFFF: byte order is JCS
    /// order.
    simple: bool,
    /// The key's first eight bytes, big-endian (zero-padded): most keys
    /// are told apart by one comparison of these.
    prefix: u64,
    value: usize,
    /// Where the value ends.
    end: usize,
    /// `"key":value` is canonical as written (a plain key and a string
    /// without escapes, a literal or a short integer): copied whole.
    verbatim: bool,
    /// An object or array value, already canonicalized into `tmp` at
    /// this range (so that it is read once, not skipped and then read).
    written: (u32, u32),
}

impl M {
    #[inline(always)]
    fn new(b: &[u8], key: Span, escaped: bool, value: usize, (end, plain): (usize, bool)) -> M {
        let k = &b[key.range()];
        let start = key.start as usize;
        let prefix = match b.get(start..start + 8) {
            // Eight bytes from the key's start (the text goes on after a
            // short key), the ones past its end cleared.
            Some(word) => {
                let w = u64::from_be_bytes(word.try_into().unwrap_or([0; 8]));
                match k.len() {
                    0 => 0,
                    n @ 1..8 => w & !(u64::MAX >> (8 * n)),
                    _ => w,
                }
            }
            None => k
                .iter()
                .take(8)
                .enumerate()
                .fold(0u64, |p, (i, &c)| p | u64::from(c) << (56 - 8 * i)),
        };
        // A short ASCII key (the usual one) needs no look at its bytes.
        let ascii = k.len() <= 8 && prefix & 0x8080_8080_8080_8080 == 0;
        let simple = !escaped && (ascii || !k.iter().any(|&c| c >= 0xF0));
        M {
            key,
            escaped,
            simple,
            prefix,
            value,
            end,
            verbatim: !escaped && plain,
            written: (0, 0),
        }
    }
}

/// A node whose canonical text is at least this long is kept as a CRC
/// (and its text dropped from the buffer): every byte is hashed once,
/// not once per ancestor. Smaller ones stay text, re-hashed with their
/// parent, which costs less than combining CRCs.
const KEEP_AS_CRC: usize = 4096;

struct Canon<'a> {
    b: &'a [u8],
    ix: &'a Index,
    out: Vec<u8>,
    holes: Vec<Hole>,
    crcs: NodeCrcs,
    reuse: HashMap<u64, u32, BuildHasherDefault<FastHasher>>,
    previous: Option<Previous<'a>>,
    /// Members of the objects being written (a stack: each object's are
    /// on top while it is written).
    members: Vec<M>,
    /// Canonical text of values waiting for their turn (a stack, like
    /// `members`).
    tmp: Vec<u8>,
    repeated: bool,
    /// The whole text is wanted: nothing is kept as a CRC only.
    text: bool,
    /// [`KEEP_AS_CRC`] (smaller in tests, to reuse at every level).
    keep: usize,
}

impl Canon<'_> {
    fn root(&mut self) {
        if self.ix.root != Kind::Object {
            self.value(0);
            return;
        }
        let b = self.b;
        let base = self.members.len();
        for m in &self.ix.members {
            let value = m.value.start as usize;
            push_inline(
                &mut self.members,
                M::new(
                    b,
                    m.key,
                    m.key_escaped,
                    value,
                    (m.value.end as usize, false),
                ),
                64,
            );
        }
        self.sort_members(base);
        put(&mut self.out, b'{');
        for k in base..self.members.len() {
            let m = self.members[k];
            if k > base {
                put(&mut self.out, b',');
            }
            self.key(m);
            let key = string_at(b, m.key, m.escaped);
            let kind = self
                .ix
                .members
                .iter()
                .find(|x| x.value.start as usize == m.value)
                .map_or(Kind::Absent, |x| x.kind);
            match (&*key, kind) {
                ("metadata", Kind::Object) => {
                    self.object(m.value, None, Some("generatedAt"));
                }
                ("nodes", Kind::Array) => {
                    let ix = self.ix;
                    self.node_list(ix.top());
                }
                _ => {
                    self.value(m.value);
                }
            }
        }
        put(&mut self.out, b'}');
        self.members.truncate(base);
    }

    /// `[` the nodes `]`.
    fn node_list(&mut self, nodes: Siblings<'_>) {
        put(&mut self.out, b'[');
        for (i, e) in nodes.enumerate() {
            if i > 0 {
                put(&mut self.out, b',');
            }
            self.node(e);
        }
        put(&mut self.out, b']');
    }

    /// One node and its subtree, or the hole of a reused one.
    fn node(&mut self, e: usize) {
        let n = &self.ix.nodes[e];
        if let Some(p) = &self.previous {
            if let Some(&j) = self.reuse.get(&n.subtree) {
                let (j, size) = (j as usize, n.size as usize);
                if p.index.nodes[j].size as usize == size && p.crcs[j].1 > 0 {
                    self.crcs[e..e + size].copy_from_slice(&p.crcs[j..j + size]);
                    let (crc, len) = p.crcs[j];
                    self.holes.push(Hole {
                        at: self.out.len(),
                        crc,
                        len,
                    });
                    return;
                }
            }
        }
        let (start, first_hole) = (self.out.len(), self.holes.len());
        if n.kind == Kind::Object {
            let children = (n.fields[Field::Children as usize] == Kind::Array).then_some(e);
            self.object(n.span.start as usize, children, None);
        } else {
            self.value(n.span.start as usize);
        }
        if !self.text && (self.out.len() - start >= self.keep || self.holes.len() > first_hole) {
            let (crc, len) = self.region(start, first_hole);
            self.crcs[e] = (crc, len);
            self.out.truncate(start);
            self.holes.truncate(first_hole);
            self.holes.push(Hole {
                at: start,
                crc,
                len,
            });
        }
    }

    /// CRC and length of the canonical text from `start` to the end,
    /// holes from `first_hole` on included.
    fn region(&self, start: usize, first_hole: usize) -> (u32, u64) {
        let mut h = crc32fast::Hasher::new();
        let (mut pos, mut len) = (start, 0u64);
        for hole in &self.holes[first_hole..] {
            h.update(&self.out[pos..hole.at]);
            h.combine(&crc32fast::Hasher::new_with_initial_len(hole.crc, hole.len));
            len += (hole.at - pos) as u64 + hole.len;
            pos = hole.at;
        }
        h.update(&self.out[pos..]);
        len += (self.out.len() - pos) as u64;
        (h.finalize(), len)
    }

    /// An object at `i`, keys sorted; returns where it ends. `node`: this
    /// is that node's object, whose `children` are written node by node.
    /// `skip`: a key left out (the top-level metadata's `generatedAt`).
    fn object(&mut self, mut i: usize, node: Option<usize>, skip: Option<&str>) -> usize {
        let b = self.b;
        let base = self.members.len();
        let tmp_base = self.tmp.len();
        i += 1;
        if b[i] != b'}' {
            loop {
                let (key_end, escaped) = string_end(b, i);
                let key = Span {
                    start: i as u32 + 1,
                    end: key_end as u32 - 1,
                };
                let value = key_end + 1;
                let mut written = (0, 0);
                let (end, plain) = match node {
                    Some(e) if &b[key.range()] == b"children" => {
                        (self.ix.nodes[e].children.end as usize, false)
                    }
                    _ if matches!(b[value], b'{' | b'[') => {
                        // Written now, in place, then moved aside until
                        // its turn in key order.
                        let start = self.out.len();
                        let end = self.value(value);
                        let at = self.tmp.len();
                        self.tmp.extend_from_slice(&self.out[start..]);
                        self.out.truncate(start);
                        written = (at as u32, self.tmp.len() as u32);
                        (end, false)
                    }
                    _ => skip_value(b, value),
                };
                let mut m = M::new(b, key, escaped, value, (end, plain));
                m.written = written;
                push_inline(&mut self.members, m, 64);
                i = end + 1;
                if b[end] != b',' {
                    break;
                }
            }
        } else {
            i += 1;
        }
        self.sort_members(base);
        put(&mut self.out, b'{');
        let mut first = true;
        for k in base..self.members.len() {
            let m = self.members[k];
            if let Some(skip) = skip {
                if string_at(b, m.key, m.escaped) == skip {
                    continue;
                }
            }
            if !first {
                put(&mut self.out, b',');
            }
            first = false;
            if m.verbatim {
                copy_short(&mut self.out, b, m.key.start as usize - 1, m.end);
                continue;
            }
            if m.written.1 > m.written.0 {
                self.key(m);
                let (at, to) = (m.written.0 as usize, m.written.1 as usize);
                self.out.extend_from_slice(&self.tmp[at..to]);
                continue;
            }
            self.key(m);
            match node {
                Some(e) if !m.escaped && &b[m.key.range()] == b"children" => {
                    let ix = self.ix;
                    self.node_list(ix.children(e));
                }
                _ => {
                    self.value(m.value);
                }
            }
        }
        put(&mut self.out, b'}');
        self.members.truncate(base);
        self.tmp.truncate(tmp_base);
        i
    }

    /// Sorts the members from `base` in JCS order (UTF-16 code units of
    /// the keys) and notes a repeated key.
    fn sort_members(&mut self, base: usize) {
        let b = self.b;
        let ms = &mut self.members[base..];
        if ms.len() > 16 {
            ms.sort_unstable_by(|x, y| key_order(b, x, y));
            if ms
                .windows(2)
                .any(|w| key_order(b, &w[0], &w[1]) == Ordering::Equal)
            {
                self.repeated = true;
            }
            return;
        }
        // Objects are small: an insertion sort, told apart by the keys'
        // first eight bytes where it can.
        for i in 1..ms.len() {
            let mut j = i;
            while j > 0 {
                let (x, y) = (&ms[j - 1], &ms[j]);
                let order = if x.simple && y.simple && x.prefix != y.prefix {
                    x.prefix.cmp(&y.prefix)
                } else {
                    key_order(b, x, y)
                };
                match order {
                    Ordering::Greater => ms.swap(j - 1, j),
                    Ordering::Equal => {
                        self.repeated = true;
                        break;
                    }
                    Ordering::Less => break,
                }
                j -= 1;
            }
        }
    }

    fn key(&mut self, m: M) {
        if m.escaped {
            self.string(m.key, true);
            put(&mut self.out, b':');
        } else {
            // `"key":` as it stands in the compact text.
            let (start, end) = (m.key.start as usize - 1, m.key.end as usize + 2);
            copy_short(&mut self.out, self.b, start, end);
        }
    }

    fn string(&mut self, contents: Span, escaped: bool) {
        if escaped {
            write_jcs_string(&string_at(self.b, contents, true), &mut self.out);
        } else {
            // With its quotes, as it stands in the text.
            let (start, end) = (contents.start as usize - 1, contents.end as usize + 1);
            copy_short(&mut self.out, self.b, start, end);
        }
    }

    /// Any value at `i`; returns where it ends.
    fn value(&mut self, i: usize) -> usize {
        let b = self.b;
        match b[i] {
            b'"' => {
                let (end, escaped) = string_end(b, i);
                let contents = Span {
                    start: i as u32 + 1,
                    end: end as u32 - 1,
                };
                self.string(contents, escaped);
                end
            }
            b'{' => self.object(i, None, None),
            b'[' => {
                put(&mut self.out, b'[');
                let mut i = i + 1;
                if b[i] == b']' {
                    put(&mut self.out, b']');
                    return i + 1;
                }
                loop {
                    i = self.value(i);
                    if b[i] == b',' {
                        put(&mut self.out, b',');
                        i += 1;
                    } else {
                        put(&mut self.out, b']');
                        return i + 1;
                    }
                }
            }
            b't' | b'n' => {
                self.out.extend_from_slice(&b[i..i + 4]);
                i + 4
            }
            b'f' => {
                self.out.extend_from_slice(b"false");
                i + 5
            }
            _ => {
                let end = scalar_end(b, i);
                write_number(&b[i..end], &mut self.out);
                end
            }
        }
    }
}

/// Appends one byte (a separator or bracket, every few bytes of the
/// canonical text).
#[inline(always)]
fn put(out: &mut Vec<u8>, c: u8) {
    push_inline(out, c, 4096);
}

/// `out.extend_from_slice(&text[from..to])`, inlined for the short
/// copies the canonical text is mostly made of (`"key":value` of a few
/// dozen bytes): two fixed 16-byte copies instead of a call to `memcpy`.
/// They may write past `to - from` into `out`'s spare room (which the
/// length then does not cover) and read past `to` inside `text`.
#[inline(always)]
fn copy_short(out: &mut Vec<u8>, text: &[u8], from: usize, to: usize) {
    let n = to - from;
    if n > 32 || text.len() < from + 32 {
        out.extend_from_slice(&text[from..to]);
        return;
    }
    if out.capacity() - out.len() < 32 {
        out.reserve(4096);
    }
    let len = out.len();
    // SAFETY: `from + 32 <= text.len()`, so both 16-byte reads are inside
    // `text`; `capacity - len >= 32` (reserved just above), so both writes
    // are inside `out`'s allocation; `n <= 32` of the written bytes become
    // part of the vector, all of them initialized by the copies.
    unsafe {
        let (src, dst) = (text.as_ptr().add(from), out.as_mut_ptr().add(len));
        std::ptr::copy_nonoverlapping(src, dst, 16);
        if n > 16 {
            std::ptr::copy_nonoverlapping(src.add(16), dst.add(16), 16);
        }
        out.set_len(len + n);
    }
}

/// `v.push(x)`, inlined: `Vec::push` is a call at the binary's size-first
/// opt-level, and the checksum pushes a byte or a member every few bytes.
/// Room for `grow` more is reserved when `v` is full.
#[inline(always)]
fn push_inline<T: Copy>(v: &mut Vec<T>, x: T, grow: usize) {
    if v.len() == v.capacity() {
        v.reserve(grow);
    }
    let len = v.len();
    // SAFETY: `len < capacity` (reserved just above), so the slot at `len`
    // is inside the allocation; it is written before the length covers it
    // (`T: Copy`: nothing to drop).
    unsafe {
        v.as_mut_ptr().add(len).write(x);
        v.set_len(len + 1);
    }
}

/// JCS key order: UTF-16 code units. Byte order is the same unless a key
/// has escapes or characters beyond U+FFFF.
fn key_order(b: &[u8], x: &M, y: &M) -> Ordering {
    if x.simple && y.simple {
        return match x.prefix.cmp(&y.prefix) {
            Ordering::Equal => b[x.key.range()].cmp(&b[y.key.range()]),
            other => other,
        };
    }
    let (sx, sy) = (
        string_at(b, x.key, x.escaped),
        string_at(b, y.key, y.escaped),
    );
    sx.encode_utf16().cmp(sy.encode_utf16())
}

/// A number as ECMAScript prints it: integers of up to 15 digits are
/// already in that form (but `-0` is `0`); anything else is read as a
/// double, as `serde_json` reads it, and printed by [`write_js_number`].
fn write_number(lit: &[u8], out: &mut Vec<u8>) {
    let (negative, digits) = split_sign(lit);
    let int = leading_digits(digits);
    if int == digits.len() && int <= 15 {
        out.extend_from_slice(if digits == b"0" { b"0" } else { lit });
        return;
    }
    let decimal = digits.get(int) == Some(&b'.')
        && write_short_decimal(negative, &digits[..int], &digits[int + 1..], out);
    if !decimal {
        write_js_number(serde_json::from_slice::<f64>(lit).unwrap_or(0.0), out);
    }
}

/// A number's `-`, if any, and the rest.
#[inline(always)]
fn split_sign(lit: &[u8]) -> (bool, &[u8]) {
    match lit.first() {
        Some(b'-') => (true, &lit[1..]),
        _ => (false, lit),
    }
}

/// How many digits `b` starts with. Loops by hand here: iterator adapters
/// are calls at opt-level "z".
#[inline(always)]
fn leading_digits(b: &[u8]) -> usize {
    let mut k = 0;
    while k < b.len() && b[k].is_ascii_digit() {
        k += 1;
    }
    k
}

/// The decimal `-`? `int` `.` `frac` (`-12.50`; `frac` may still hold an
/// exponent), when it has at most 15 significant digits and is at least
/// 1e-6 (or zero), as ECMAScript prints it, without reading it as a
/// double: such a decimal is the shortest that reads back as its double
/// (no two decimals of 15 digits read as the same double), so ECMAScript
/// prints the same digits, with the fraction's trailing zeros (and a bare
/// `.`) dropped, `-0` as `0`. False, with nothing written, for any other
/// number.
fn write_short_decimal(negative: bool, int: &[u8], frac: &[u8], out: &mut Vec<u8>) -> bool {
    let mut end = 0; // the fraction without its trailing zeros
    for (k, &c) in frac.iter().enumerate() {
        match c {
            b'1'..=b'9' => end = k + 1,
            b'0' => {}
            _ => return false, // an exponent
        }
    }
    let frac = &frac[..end];
    let significant = if int == b"0" {
        if frac.is_empty() {
            put(out, b'0');
            return true;
        }
        let mut zeros = 0;
        while frac[zeros] == b'0' {
            zeros += 1;
        }
        if zeros > 5 {
            return false; // below 1e-6: ECMAScript writes an exponent
        }
        frac.len() - zeros
    } else if frac.is_empty() {
        let mut len = int.len();
        while len > 1 && int[len - 1] == b'0' {
            len -= 1;
        }
        len
    } else {
        int.len() + frac.len()
    };
    if significant > 15 || int.len() > 21 {
        return false;
    }
    if negative {
        put(out, b'-');
    }
    out.extend_from_slice(int);
    if !frac.is_empty() {
        put(out, b'.');
        out.extend_from_slice(frac);
    }
    true
}

/// Where the string at `i` (its opening quote) ends, and whether it has
/// escapes. The text is valid JSON.
#[inline(always)]
fn string_end(b: &[u8], mut i: usize) -> (usize, bool) {
    i += 1;
    let mut escaped = false;
    loop {
        i = plain_run(b, i);
        match b.get(i) {
            Some(b'\\') => {
                escaped = true;
                i += 2;
            }
            Some(_) => return (i + 1, escaped),
            None => return (i, escaped),
        }
    }
}

/// Where a number or literal at `i` ends.
fn scalar_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && !matches!(b[i], b',' | b'}' | b']') {
        i += 1;
    }
    i
}

/// Where the value at `i` ends, in valid compact JSON, and whether it is
/// canonical as written (a string without escapes, a literal, an integer
/// of up to 15 digits other than `-0`).
fn skip_value(b: &[u8], mut i: usize) -> (usize, bool) {
    match b[i] {
        b'"' => {
            let (end, escaped) = string_end(b, i);
            (end, !escaped)
        }
        b'{' | b'[' => {
            let mut depth = 0usize;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i = string_end(b, i).0;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return (i + 1, false);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            (i, false)
        }
        b't' | b'f' | b'n' => (scalar_end(b, i), true),
        _ => {
            // One pass: where the number ends, and whether it is an
            // integer of up to 15 digits other than `-0`.
            let negative = b[i] == b'-';
            i += usize::from(negative);
            let digits_from = i;
            let mut integer = true;
            while let Some(&c) = b.get(i) {
                match c {
                    b'0'..=b'9' => {}
                    b',' | b'}' | b']' => break,
                    _ => integer = false,
                }
                i += 1;
            }
            let digits = i - digits_from;
            let minus_zero = negative && &b[digits_from..i] == b"0";
            (i, integer && digits <= 15 && !minus_zero)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::scan;
    use crate::test_rng::Rng;
    use serde_json::{Value, json};

    /// The checksum of a value written from scratch, as the server's
    /// `calculate_checksum` takes it.
    fn calculate_checksum(v: &Value) -> String {
        let bytes = serde_json::to_vec(v).unwrap();
        let (crc, _) = checksum(&bytes, &scan(&bytes).unwrap().index, None).unwrap();
        format!("{crc:08x}")
    }

    fn tree(r: &mut Rng, id: &mut u32, depth: u32) -> Value {
        *id += 1;
        let kids: Vec<Value> = if depth == 0 {
            Vec::new()
        } else {
            let n = r.below(4);
            (0..n).map(|_| tree(r, id, depth - 1)).collect()
        };
        let mut node = json!({"type": "T", "id": format!("n{id}"), "props": {"z": 1.5, "a": "é\"", "m": [1, {"y": null, "b": true}]}});
        if !kids.is_empty() {
            node["children"] = Value::Array(kids);
        }
        node
    }

    /// `copy_short` appends what `extend_from_slice` would, for every
    /// length up to past its 32-byte limit, near both ends of the text, and
    /// with the output's spare room from none to plenty.
    #[test]
    fn short_copies_append_exactly_the_range() {
        let text: Vec<u8> = (0..100u8).map(|i| i.wrapping_mul(37)).collect();
        for spare in [0, 1, 31, 32, 33, 100] {
            for from in (0..text.len()).filter(|f| !(8..=50).contains(f)) {
                for to in from..text.len().min(from + 40) {
                    let mut out = Vec::with_capacity(5 + spare);
                    out.extend_from_slice(b"start");
                    copy_short(&mut out, &text, from, to);
                    let mut want = b"start".to_vec();
                    want.extend_from_slice(&text[from..to]);
                    assert_eq!(out, want, "from {from} to {to}, spare {spare}");
                    // What follows lands right after it.
                    out.push(b'!');
                    assert_eq!(out.len(), want.len() + 1);
                    assert_eq!(out[want.len()], b'!');
                }
            }
        }
    }

    /// [`write_short_decimal`] of a whole literal, split as `write_number`
    /// splits it.
    fn short_decimal(lit: &[u8], out: &mut Vec<u8>) -> bool {
        let (negative, digits) = split_sign(lit);
        let int = leading_digits(digits);
        digits.get(int) == Some(&b'.')
            && write_short_decimal(negative, &digits[..int], &digits[int + 1..], out)
    }

    /// Short decimals are written as reading them as doubles and printing
    /// those (the ECMAScript way) would write them.
    #[test]
    fn short_decimals_print_as_their_doubles_do() {
        let mut r = Rng(7);
        let mut next = |n: u64| r.below(n as usize) as u64;
        let (mut fast, mut total) = (0, 0);
        for _ in 0..300_000 {
            let mut lit = String::new();
            if next(3) == 0 {
                lit.push('-');
            }
            let int_len = [1, 1, 1, 2, 3, 6, 12, 15, 16, 20, 21, 22][next(12) as usize];
            let zeros = next(4) == 0;
            for k in 0..int_len {
                let d = if zeros && k > 0 { 0 } else { next(10) };
                lit.push(char::from(b'0' + d as u8));
            }
            if lit.trim_start_matches('-').len() > 1 && lit.trim_start_matches('-').starts_with('0')
            {
                continue; // JSON has no leading zeros
            }
            lit.push('.');
            let frac_len = 1 + next(20);
            for _ in 0..frac_len {
                let d = match next(4) {
                    0 => 0,
                    _ => next(10),
                };
                lit.push(char::from(b'0' + d as u8));
            }
            if next(5) == 0 {
                lit.push_str(&"0".repeat(next(6) as usize));
            }
            total += 1;
            let mut got = Vec::new();
            if short_decimal(lit.as_bytes(), &mut got) {
                fast += 1;
                let mut want = Vec::new();
                write_js_number(lit.parse::<f64>().unwrap(), &mut want);
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    String::from_utf8(want).unwrap(),
                    "{lit}"
                );
            }
        }
        // The fast path takes most of them, but not those it must not.
        assert!(fast > total / 3 && fast < total, "{fast} of {total}");
        for lit in ["1.5e3", "0.0000001", "1234567890123456.5", "1e21", "12"] {
            assert!(!short_decimal(lit.as_bytes(), &mut Vec::new()), "{lit}");
        }
        for (lit, want) in [
            ("-0.0", "0"),
            ("0.000001", "0.000001"),
            ("100.000", "100"),
            ("-2.50", "-2.5"),
        ] {
            let mut got = Vec::new();
            assert!(short_decimal(lit.as_bytes(), &mut got), "{lit}");
            assert_eq!(got, want.as_bytes());
        }
    }

    /// Every way of reusing the previous schema's CRCs gives the checksum
    /// computed from scratch, after edits anywhere in the tree.
    #[test]
    fn reused_subtrees_give_the_scratch_checksum_at_every_keep_size() {
        let mut r = Rng(11);
        for round in 0..60 {
            let mut id = 0;
            let nodes: Vec<Value> = (0..3).map(|_| tree(&mut r, &mut id, 4)).collect();
            let v1 =
                json!({"version": "1", "metadata": {"generatedAt": 1, "k": round}, "nodes": nodes});
            let mut v2 = v1.clone();
            // Edit one node's props somewhere down the first tree.
            let mut at = &mut v2["nodes"][round % 3];
            for _ in 0..(round % 5) {
                if at.get("children").is_none() {
                    break;
                }
                let c = at["children"].as_array().map_or(0, Vec::len);
                at = &mut at["children"][round % c.max(1)];
            }
            at["props"]["a"] = json!(format!("edit {round}"));
            let (b1, b2) = (
                serde_json::to_vec(&v1).unwrap(),
                serde_json::to_vec(&v2).unwrap(),
            );
            let (i1, i2) = (scan(&b1).unwrap().index, scan(&b2).unwrap().index);
            for keep in [1, 40, 300, 4096] {
                let (c1, crcs1) = checksum_keeping(&b1, &i1, None, keep).unwrap();
                assert_eq!(format!("{c1:08x}"), calculate_checksum(&v1));
                let previous = Previous {
                    index: &i1,
                    crcs: &crcs1,
                };
                let (c2, crcs2) = checksum_keeping(&b2, &i2, Some(previous), keep).unwrap();
                assert_eq!(
                    format!("{c2:08x}"),
                    calculate_checksum(&v2),
                    "round {round}, keep {keep}"
                );
                // And again from the result, as the next push would.
                let previous = Previous {
                    index: &i2,
                    crcs: &crcs2,
                };
                let (c3, _) = checksum_keeping(&b1, &i1, Some(previous), keep).unwrap();
                assert_eq!(c3, c1);
            }
        }
    }
}
