//! One pass over a schema's bytes: strict JSON syntax (what `serde_json`
//! accepts, no more, no less), the node index and the fingerprints.
//!
//! The document, the `nodes` array, node objects and their `children`
//! arrays are read by the functions below, which recurse once per node
//! level (bounded: nesting past [`MAX_JSON_DEPTH`] is refused before the
//! next level is entered). Every other value is checked by one flat loop
//! with an explicit stack, and only its kind and extent are kept.

use super::hash::{self, avalanche, feed, hash_words, step};
use super::{Field, Index, Kind, Member, Node, Span, TOP, string_at};
use crate::{JsonError, MAX_JSON_DEPTH};

/// What one pass found.
pub struct Scanned {
    /// The index of the text's nodes.
    pub index: Index,
    /// Whitespace between tokens: [`crate::compact::minify`] would shorten
    /// the text.
    pub whitespace: bool,
    /// A key that the rules read is written with escapes or repeated: the
    /// text must go through a JSON value (last one wins, as `serde_json`
    /// reads it) before the index can be trusted.
    pub normalize: bool,
}

/// Seeds keeping the different things hashed apart.
const SEED_VALUE: u64 = 0x5EED_0001;
const SEED_MEMBER: u64 = 0x5EED_0002;
const SEED_CHILDREN: u64 = 0x5EED_0003;
const SEED_ID: u64 = 0x5EED_0004;
const NO_CHILDREN: u64 = 0x5EED_000A;

/// Scans `bytes` (a whole document).
pub fn scan(bytes: &[u8]) -> Result<Scanned, JsonError> {
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(syntax(bytes, e.valid_up_to(), "invalid UTF-8"));
    }
    if bytes.len() >= u32::MAX as usize {
        return Err(syntax(bytes, 0, "document too large to index"));
    }
    if bytes.starts_with("\u{feff}".as_bytes()) {
        // What some editors put first in a UTF-8 file; refused as
        // `serde_json` refuses it, with a word on what to do.
        return Err(syntax(
            bytes,
            0,
            "byte order mark (U+FEFF; save the file as UTF-8 without one)",
        ));
    }
    // Room for as many nodes as the text could hold (a node takes more
    // than 40 bytes), so the list never moves while it grows: pages that
    // are never written are never backed by memory, and the rest is given
    // back below without a copy. A big list is in huge pages.
    let mut index = Index::default();
    index.nodes.reserve(bytes.len() / 40 + 1);
    crate::pages::advise(&mut index.nodes);
    let mut s = Scanner {
        b: bytes,
        i: 0,
        index,
        whitespace: false,
        normalize: false,
        stack: Vec::new(),
    };
    s.document()?;
    s.index.nodes.shrink_to_fit();
    Ok(Scanned {
        index: s.index,
        whitespace: s.whitespace,
        normalize: s.normalize,
    })
}

/// One node of `bytes` scanned on its own, as [`scan`] would have scanned
/// it in place: the value at `at` is the element `pos` of the node list of
/// `parent` (an entry of `nodes`, or [`TOP`]), `level` deep. Its entries
/// are appended to `nodes`, which holds every entry before it. Returns
/// where the value ends, or `None` when it is not valid JSON, has
/// whitespace between tokens or a key the rules read written with escapes
/// or repeated (a whole scan must then decide).
pub(crate) fn scan_node(
    bytes: &[u8],
    at: usize,
    nodes: Vec<Node>,
    (parent, pos, level): (u32, u32, u32),
) -> (Vec<Node>, Option<usize>) {
    let mut s = Scanner {
        b: bytes,
        i: at,
        index: Index {
            nodes,
            ..Index::default()
        },
        whitespace: false,
        normalize: false,
        stack: Vec::new(),
    };
    // A node `level` deep is at JSON depth 2 * level + 1 (the document,
    // then a list and an object per level).
    let depth = 2 * level as usize + 1;
    let ok = s.node(parent, pos, level, depth).is_ok() && !s.whitespace && !s.normalize;
    #[cfg(test)]
    RESCANNED.with(|r| r.set(r.get() + (s.i - at)));
    (s.index.nodes, ok.then_some(s.i))
}

#[cfg(test)]
thread_local! {
    /// Bytes read by [`scan_node`] and [`scan_member_value`] on this thread
    /// (for tests bounding what reading an edit costs).
    pub(crate) static RESCANNED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The value at `at` of a member of the schema object other than `nodes`,
/// scanned on its own as [`scan`] would have scanned it in place: its kind
/// and where it ends, or `None` when it is not valid JSON or has
/// whitespace between tokens.
pub(crate) fn scan_member_value(bytes: &[u8], at: usize) -> Option<(Kind, usize)> {
    let mut s = Scanner {
        b: bytes,
        i: at,
        index: Index::default(),
        whitespace: false,
        normalize: false,
        stack: Vec::new(),
    };
    // Members of the document's object are at JSON depth 2.
    let value = s.value(2);
    #[cfg(test)]
    RESCANNED.with(|r| r.set(r.get() + (s.i - at)));
    let (kind, _) = value.ok()?;
    (!s.whitespace && !s.normalize).then_some((kind, s.i))
}

/// The subtree fingerprint of a node whose own fingerprint is `own` and
/// whose `children` array holds nodes with these subtree fingerprints,
/// as [`scan`] computes it.
pub(crate) fn subtree_fingerprint(own: u64, children: impl Iterator<Item = u64>) -> u64 {
    let mut h = SEED_CHILDREN;
    let mut n = 0u64;
    for c in children {
        h = step(h, c);
        n += 1;
    }
    hash_words(&[own, avalanche(step(h, n))])
}

fn syntax(bytes: &[u8], at: usize, what: &str) -> JsonError {
    JsonError::Syntax(format!("{what} {}", position(bytes, at)))
}

/// `at line L column C` of byte offset `at`.
fn position(bytes: &[u8], at: usize) -> String {
    let before = &bytes[..at.min(bytes.len())];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let column = 1 + before.len()
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
    format!("at line {line} column {column}")
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    index: Index,
    whitespace: bool,
    normalize: bool,
    /// Open containers of the flat loop (`{` or `[`).
    stack: Vec<u8>,
}

type Res<T> = Result<T, JsonError>;

impl Scanner<'_> {
    fn err(&self, what: &str) -> JsonError {
        syntax(self.b, self.i, what)
    }

    fn too_deep(&self) -> JsonError {
        JsonError::TooDeep {
            limit: MAX_JSON_DEPTH,
        }
    }

    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline(always)]
    fn skip_ws(&mut self) {
        if let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.skip_ws_run();
        }
    }

    #[inline(never)]
    fn skip_ws_run(&mut self) {
        self.whitespace = true;
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    fn document(&mut self) -> Res<()> {
        self.skip_ws();
        match self.peek() {
            Some(b'{') => {
                self.index.root = Kind::Object;
                self.root_object()?;
            }
            Some(_) => self.index.root = self.value(1)?.0,
            None => return Err(self.err("EOF while parsing a value")),
        }
        self.skip_ws();
        if self.i != self.b.len() {
            return Err(self.err("trailing characters"));
        }
        Ok(())
    }

    fn root_object(&mut self) -> Res<()> {
        self.i += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            let (key, key_escaped) = self.key()?;
            self.skip_ws();
            let start = self.i;
            let kind = if &self.b[key.range()] == b"nodes" && self.peek() == Some(b'[') {
                self.node_list(TOP, 1, 2)?;
                Kind::Array
            } else {
                self.value(2)?.0
            };
            let value = Span {
                start: start as u32,
                end: self.i as u32,
            };
            self.normalize |= key_escaped;
            self.index.members.push(Member {
                key,
                key_escaped,
                value,
                kind,
            });
            if self.end_of_member(b'}')? {
                break;
            }
        }
        let m = &self.index.members;
        let b = self.b;
        let repeated = if m.len() <= 16 {
            (1..m.len()).any(|i| (0..i).any(|j| b[m[i].key.range()] == b[m[j].key.range()]))
        } else {
            let mut keys: Vec<&[u8]> = m.iter().map(|x| &b[x.key.range()]).collect();
            keys.sort_unstable();
            keys.windows(2).any(|w| w[0] == w[1])
        };
        self.normalize |= repeated;
        Ok(())
    }

    /// A list of nodes (at `[`); returns the hash of the children's
    /// subtree fingerprints. `depth` is the list's JSON depth.
    fn node_list(&mut self, parent: u32, level: u32, depth: usize) -> Res<u64> {
        if depth > MAX_JSON_DEPTH {
            return Err(self.too_deep());
        }
        self.i += 1;
        self.skip_ws();
        let mut h = SEED_CHILDREN;
        let mut n = 0u64;
        if self.peek() == Some(b']') {
            self.i += 1;
        } else {
            loop {
                self.skip_ws();
                let e = self.node(parent, n as u32, level, depth + 1)?;
                h = step(h, self.index.nodes[e].subtree);
                n += 1;
                if self.end_of_member(b']')? {
                    break;
                }
            }
        }
        Ok(avalanche(step(h, n)))
    }

    /// One element of a node list; returns its entry.
    fn node(&mut self, parent: u32, pos: u32, level: u32, depth: usize) -> Res<usize> {
        let e = self.index.nodes.len();
        self.index.nodes.push(Node {
            parent,
            pos,
            depth: level,
            ..Node::default()
        });
        let start = self.i;
        if self.peek() != Some(b'{') {
            let (kind, _) = self.value(depth)?;
            let fp = hash::hash(SEED_VALUE, &self.b[start..self.i]);
            let n = &mut self.index.nodes[e];
            n.kind = kind;
            n.span = Span {
                start: start as u32,
                end: self.i as u32,
            };
            n.own = fp;
            n.subtree = fp;
            n.size = 1;
            return Ok(e);
        }
        if depth > MAX_JSON_DEPTH {
            return Err(self.too_deep());
        }
        self.i += 1;
        let mut fields = [Kind::Absent; 5];
        let (mut id, mut id_escaped) = (Span::default(), false);
        let mut children = Span::default();
        let mut kids_fp = NO_CHILDREN;
        let (mut sum, mut count) = (0u64, 0u64);
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
        } else {
            loop {
                self.skip_ws();
                let (key, key_escaped) = self.key()?;
                self.normalize |= key_escaped;
                self.skip_ws();
                let vstart = self.i;
                let field = Field::from_key(&self.b[key.range()]);
                if let Some(f) = field {
                    self.normalize |= fields[f as usize] != Kind::Absent;
                }
                if field == Some(Field::Children) && self.peek() == Some(b'[') {
                    kids_fp = self.node_list(e as u32, level + 1, depth + 1)?;
                    fields[Field::Children as usize] = Kind::Array;
                    children = Span {
                        start: vstart as u32,
                        end: self.i as u32,
                    };
                } else {
                    let (kind, escaped) = self.value(depth + 1)?;
                    let raw = &self.b[vstart..self.i];
                    match field {
                        Some(Field::Children) => kids_fp = hash::hash(SEED_CHILDREN, raw),
                        Some(Field::Id) if matches!(kind, Kind::String | Kind::EmptyString) => {
                            id = Span {
                                start: vstart as u32 + 1,
                                end: self.i as u32 - 1,
                            };
                            id_escaped = escaped;
                        }
                        _ => {}
                    }
                    if let Some(f) = field {
                        fields[f as usize] = kind;
                    }
                    if field != Some(Field::Children) {
                        count += 1;
                        // `"key":value`, one run of the compact text.
                        let member = &self.b[key.start as usize - 1..self.i];
                        let h = feed(SEED_MEMBER, member);
                        sum = sum.wrapping_add(avalanche(h));
                    }
                }
                if self.end_of_member(b'}')? {
                    break;
                }
            }
        }
        let id_hash = if id_escaped {
            hash::hash(SEED_ID, string_at(self.b, id, true).as_bytes())
        } else {
            hash::hash(SEED_ID, &self.b[id.range()])
        };
        let own = hash_words(&[7, count, sum]);
        let subtree = hash_words(&[own, kids_fp]);
        let size = (self.index.nodes.len() - e) as u32;
        let n = &mut self.index.nodes[e];
        n.span = Span {
            start: start as u32,
            end: self.i as u32,
        };
        n.kind = Kind::Object;
        n.fields = fields;
        n.id = id;
        n.id_escaped = id_escaped;
        n.id_hash = id_hash;
        n.children = children;
        n.own = own;
        n.subtree = subtree;
        n.size = size;
        Ok(e)
    }

    /// After a member or element: `,` (more follow) or `close` (the end).
    #[inline(always)]
    fn end_of_member(&mut self, close: u8) -> Res<bool> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                Ok(false)
            }
            Some(c) if c == close => {
                self.i += 1;
                Ok(true)
            }
            None => Err(self.err(if close == b'}' {
                "EOF while parsing an object"
            } else {
                "EOF while parsing a list"
            })),
            Some(_) => Err(self.err(if close == b'}' {
                "expected `,` or `}`"
            } else {
                "expected `,` or `]`"
            })),
        }
    }

    /// An object key and its `:`; returns the key's contents and whether
    /// they have escapes.
    #[inline(always)]
    fn key(&mut self) -> Res<(Span, bool)> {
        match self.peek() {
            Some(b'"') => {}
            None => return Err(self.err("EOF while parsing an object")),
            Some(_) => return Err(self.err("key must be a string")),
        }
        let start = self.i + 1;
        let escaped = self.string()?;
        let key = Span {
            start: start as u32,
            end: self.i as u32 - 1,
        };
        self.skip_ws();
        match self.peek() {
            Some(b':') => self.i += 1,
            None => return Err(self.err("EOF while parsing an object")),
            Some(_) => return Err(self.err("expected `:`")),
        }
        Ok((key, escaped))
    }

    /// Any value; returns its kind and, for a string, whether it has
    /// escapes. `depth` is the JSON depth it would have as a container.
    fn value(&mut self, depth: usize) -> Res<(Kind, bool)> {
        match self.peek() {
            Some(b'{') => {
                self.container(depth)?;
                Ok((Kind::Object, false))
            }
            Some(b'[') => {
                self.container(depth)?;
                Ok((Kind::Array, false))
            }
            _ => self.scalar(),
        }
    }

    /// An object or array of plain values (at its `{` or `[`), checked by
    /// one loop with an explicit stack.
    fn container(&mut self, depth: usize) -> Res<()> {
        enum At {
            Open,
            Element,
            After,
        }
        let base = self.stack.len();
        let mut at = At::Open;
        loop {
            match at {
                At::Open => {
                    if depth + (self.stack.len() - base) > MAX_JSON_DEPTH {
                        return Err(self.too_deep());
                    }
                    let open = self.b[self.i];
                    self.stack.push(open);
                    self.i += 1;
                    self.skip_ws();
                    if self.peek() == Some(closer(open)) {
                        self.i += 1;
                        self.stack.pop();
                        at = At::After;
                    } else {
                        at = At::Element;
                    }
                }
                At::Element => {
                    if self.stack.last() == Some(&b'{') {
                        self.skip_ws();
                        self.key()?;
                    }
                    self.skip_ws();
                    match self.peek() {
                        Some(b'{' | b'[') => at = At::Open,
                        _ => {
                            self.scalar()?;
                            at = At::After;
                        }
                    }
                }
                At::After => {
                    if self.stack.len() == base {
                        return Ok(());
                    }
                    let top = self.stack[self.stack.len() - 1];
                    if self.end_of_member(closer(top))? {
                        self.stack.pop();
                    } else {
                        at = At::Element;
                    }
                }
            }
        }
    }

    /// A string, number or literal.
    #[inline(always)]
    fn scalar(&mut self) -> Res<(Kind, bool)> {
        match self.peek() {
            Some(b'"') => {
                let start = self.i;
                let escaped = self.string()?;
                let kind = if self.i - start == 2 {
                    Kind::EmptyString
                } else {
                    Kind::String
                };
                Ok((kind, escaped))
            }
            Some(b't') => self.literal(b"true", Kind::Bool),
            Some(b'f') => self.literal(b"false", Kind::Bool),
            Some(b'n') => self.literal(b"null", Kind::Null),
            Some(b'-' | b'0'..=b'9') => {
                self.number()?;
                Ok((Kind::Number, false))
            }
            None => Err(self.err("EOF while parsing a value")),
            Some(_) => Err(self.err("expected value")),
        }
    }

    fn literal(&mut self, word: &[u8], kind: Kind) -> Res<(Kind, bool)> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok((kind, false))
        } else {
            Err(self.err("expected ident"))
        }
    }

    /// A string (at its opening quote); returns whether it has escapes.
    #[inline(always)]
    fn string(&mut self) -> Res<bool> {
        self.i += 1;
        let mut escaped = false;
        loop {
            self.i = plain_run(self.b, self.i);
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                None => return Err(self.err("EOF while parsing a string")),
                Some(_) => {
                    return Err(self
                        .err("control character (\\u0000-\\u001F) found while parsing a string"));
                }
            }
        }
    }

    /// One escape (at its backslash). Surrogates must come in pairs.
    fn escape(&mut self) -> Res<()> {
        match self.b.get(self.i + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.i += 2;
                Ok(())
            }
            Some(b'u') => {
                self.i += 2;
                let n = self.hex4()?;
                if (0xDC00..=0xDFFF).contains(&n) {
                    return Err(self.err(&format!(
                        "lone surrogate \\u{n:04X}: a \\uDC00-\\uDFFF escape must follow a \\uD800-\\uDBFF one"
                    )));
                }
                if (0xD800..=0xDBFF).contains(&n) {
                    let lone = || {
                        format!(
                            "lone surrogate \\u{n:04X}: a \\uD800-\\uDBFF escape must be followed by a \\uDC00-\\uDFFF one"
                        )
                    };
                    if self.b.get(self.i) != Some(&b'\\') || self.b.get(self.i + 1) != Some(&b'u') {
                        return Err(self.err(&lone()));
                    }
                    self.i += 2;
                    if !(0xDC00..=0xDFFF).contains(&self.hex4()?) {
                        return Err(self.err(&lone()));
                    }
                }
                Ok(())
            }
            None => Err(self.err("EOF while parsing a string")),
            Some(_) => {
                self.i += 1;
                Err(self.err("invalid escape"))
            }
        }
    }

    fn hex4(&mut self) -> Res<u16> {
        let mut n = 0u16;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                None => return Err(self.err("EOF while parsing a string")),
                Some(_) => return Err(self.err("invalid escape")),
            };
            n = n << 4 | u16::from(d);
            self.i += 1;
        }
        Ok(n)
    }

    /// A number: JSON's grammar, and a finite double (as `serde_json`
    /// refuses `1e400`).
    fn number(&mut self) -> Res<()> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.i += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.err("invalid number"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.err("invalid number")),
        }
        let mut exact = true;
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            exact = false;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number"));
            }
            self.digits();
        }
        if (!exact || self.i - start > 300)
            && serde_json::from_slice::<f64>(&self.b[start..self.i]).is_err()
        {
            self.i = start;
            return Err(JsonError::OutOfRange(position(self.b, start)));
        }
        Ok(())
    }

    #[inline(always)]
    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }
}

fn closer(open: u8) -> u8 {
    if open == b'{' { b'}' } else { b']' }
}

/// The end of the run of plain string bytes starting at `i`: the first
/// quote, backslash or control character (or the end).
///
/// Eight bytes at a time: each test below sets a byte's high bit when that
/// byte is a quote, a backslash or below 0x20, and may also set it in
/// bytes after such a byte, never before; so the lowest set bit is the
/// first special byte.
#[inline(always)]
pub(super) fn plain_run(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        // One load: `chunk` is exactly eight bytes long.
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let quote = w ^ (ONES * u64::from(b'"'));
        let slash = w ^ (ONES * u64::from(b'\\'));
        let special = ((quote.wrapping_sub(ONES) & !quote)
            | (slash.wrapping_sub(ONES) & !slash)
            | (w.wrapping_sub(ONES * 0x20) & !w))
            & HIGH;
        if special != 0 {
            return i + (special.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> bool {
        scan(text.as_bytes()).is_ok()
    }

    #[test]
    fn accepts_and_refuses_what_serde_json_does() {
        let cases = [
            "{}",
            "[]",
            "1",
            "-0",
            "0.5e-3",
            "1E+2",
            "\"a\\u00e9\\ud83d\\ude00\\n\"",
            "{\"a\":[1,{\"b\":null}],\"c\":true}",
            " { \"nodes\" : [ { \"id\" : \"a\" , \"children\" : [ ] } ] } ",
            "{\"nodes\":[1,[2],{\"children\":{}}]}",
            "",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            ".5",
            "+1",
            "1e",
            "1e400",
            "-",
            "NaN",
            "tru",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"\\x\"",
            "\"a\u{1}b\"",
            "{\"a\" 1}",
            "{1:2}",
            "[1 2]",
            "{} x",
            "[\"unterminated",
            "{\"nodes\":[{\"id\":\"a\",}]}",
            "{\"nodes\":[{\"children\":[{\"x\":[}]}]}",
        ];
        for text in cases {
            let theirs = serde_json::from_str::<serde_json::Value>(text).is_ok();
            assert_eq!(ok(text), theirs, "{text:?}");
        }
        assert!(scan(b"\"\xff\"").is_err());
    }

    #[test]
    fn indexes_nodes_in_document_order() {
        let text = r#"{"version":"1","nodes":[{"id":"a","children":[{"id":"b"},{"id":"c","children":[{"id":"d"}]}]},{"id":"e"}]}"#;
        let s = scan(text.as_bytes()).unwrap();
        let ix = &s.index;
        let ids: Vec<_> = (0..ix.nodes.len())
            .map(|n| ix.id(text.as_bytes(), n))
            .collect();
        assert_eq!(ids, ["a", "b", "c", "d", "e"]);
        assert_eq!(ix.top().collect::<Vec<_>>(), [0, 4]);
        assert_eq!(ix.children(0).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(ix.children(2).collect::<Vec<_>>(), [3]);
        assert_eq!(ix.path(3), "nodes[0].children[1].children[0]");
        assert_eq!(ix.nodes[3].depth, 3);
        assert!(!s.whitespace && !s.normalize);
        let d = &ix.nodes[3];
        assert_eq!(&text[d.span.range()], r#"{"id":"d"}"#);
    }

    #[test]
    fn fingerprints_ignore_member_order_and_see_every_change() {
        let fp = |t: &str| {
            let s = scan(t.as_bytes()).unwrap();
            (s.index.nodes[0].own, s.index.nodes[0].subtree)
        };
        let a = fp(r#"{"nodes":[{"id":"a","type":"T","children":[{"id":"b"}]}]}"#);
        let b = fp(r#"{"nodes":[{"children":[{"id":"b"}],"type":"T","id":"a"}]}"#);
        assert_eq!(a, b);
        let c = fp(r#"{"nodes":[{"id":"a","type":"T","children":[{"id":"B"}]}]}"#);
        assert_eq!(a.0, c.0);
        assert_ne!(a.1, c.1);
        let none = fp(r#"{"nodes":[{"id":"a","type":"T"}]}"#);
        let empty = fp(r#"{"nodes":[{"id":"a","type":"T","children":[]}]}"#);
        assert_eq!(none.0, empty.0);
        assert_ne!(none.1, empty.1);
        assert_ne!(
            fp(r#"{"nodes":[{"a":1,"b":2}]}"#),
            fp(r#"{"nodes":[{"a":2,"b":1}]}"#)
        );
    }

    #[test]
    fn repeated_or_escaped_keys_ask_for_normalizing() {
        for text in [
            r#"{"nodes":[{"id":"a","id":"b"}]}"#,
            r#"{"nodes":[{"\u0069d":"a"}]}"#,
            r#"{"version":"1","version":"2"}"#,
        ] {
            assert!(scan(text.as_bytes()).unwrap().normalize, "{text}");
        }
        assert!(
            !scan(br#"{"nodes":[{"props":{"a":1,"a":2}}]}"#)
                .unwrap()
                .normalize
        );
    }

    #[test]
    fn a_byte_order_mark_is_refused_with_what_to_do() {
        let text = "\u{feff}{\"version\":\"1\",\"metadata\":{},\"nodes\":[]}";
        assert!(serde_json::from_str::<serde_json::Value>(text).is_err());
        let message = scan(text.as_bytes()).err().unwrap().to_string();
        assert!(message.contains("byte order mark"), "{message}");
        assert!(message.contains("without one"), "{message}");
        assert!(message.ends_with("at line 1 column 1"), "{message}");
    }

    #[test]
    fn plain_run_stops_at_the_first_special_byte() {
        let alphabet = [
            b'a', b'"', b'\\', 0x01, 0x1f, 0x20, 0x7f, 0xc3, 0xa9, 0x21, 0x5d,
        ];
        let mut r = crate::test_rng::Rng(7);
        for _ in 0..20_000 {
            let seed = r.next_u64();
            let len = (seed >> 59) as usize + 1;
            let text: Vec<u8> = (0..len)
                .map(|k| alphabet[((seed >> (k * 3 % 56)) as usize) % alphabet.len()])
                .collect();
            for start in 0..text.len() {
                let want = (start..text.len())
                    .find(|&i| matches!(text[i], b'"' | b'\\' | 0..=0x1f))
                    .unwrap_or(text.len());
                assert_eq!(plain_run(&text, start), want, "{text:?} from {start}");
            }
        }
    }

    #[test]
    fn depth_is_bounded_without_recursion() {
        let deep = "[".repeat(100_000);
        assert_eq!(
            scan(deep.as_bytes()).err(),
            Some(JsonError::TooDeep {
                limit: MAX_JSON_DEPTH
            })
        );
        let mut nodes = String::from(r#"{"nodes":["#);
        nodes.push_str(&r#"{"id":"x","children":["#.repeat(100_000));
        assert_eq!(
            scan(nodes.as_bytes()).err(),
            Some(JsonError::TooDeep {
                limit: MAX_JSON_DEPTH
            })
        );
        let at_limit = format!("{}{}", "[".repeat(512), "]".repeat(512));
        assert!(scan(at_limit.as_bytes()).is_ok());
        let over = format!("{}{}", "[".repeat(513), "]".repeat(513));
        assert!(scan(over.as_bytes()).is_err());
    }
}
