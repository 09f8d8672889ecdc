//! The compact form of a pushed text: the same tokens without the
//! whitespace between them (what devices get, and what the next push is
//! compared with).
//!
//! It is made without reading the text as JSON first: dropping whitespace
//! between tokens keeps the token sequence, so the compact text is valid
//! exactly when the text is, unless a whitespace run is all that parts
//! two bytes that would then read as one token (`1 2`, `tr ue`, `- 5`);
//! [`minify`] refuses those. A caller that finds the compact text invalid
//! reads the text as pushed, whose errors name its own lines and columns.

use super::scan::plain_run;

/// `bytes` without whitespace between tokens; `None` when a whitespace run
/// outside strings stands between two bytes that can both be part of a
/// number or literal (ASCII letters and digits, `-`, `+`, `.`: `1 2`, and
/// also `[1 true]`, which is invalid either way). Strings are copied as
/// they are. (Never inlined into a caller: built here, at this crate's
/// opt-level.)
#[inline(never)]
pub fn minify(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let run = token_run(bytes, i);
        match &bytes[i..run] {
            // Most runs between whitespace are one byte (`:`, `,`, `{`):
            // pushed, not copied (the room is there: the text is no
            // longer than `bytes`).
            &[c] => out.push(c),
            run => out.extend_from_slice(run),
        }
        i = run;
        match bytes.get(i) {
            None => break,
            Some(b'"') => {
                let end = string_end(bytes, i);
                out.extend_from_slice(&bytes[i..end]);
                i = end;
            }
            Some(b' ' | b'\n' | b'\r' | b'\t') => {
                let end = whitespace_end(bytes, i);
                if let (Some(&before), Some(&after)) = (out.last(), bytes.get(end)) {
                    if joins(before) && joins(after) {
                        return None;
                    }
                }
                i = end;
            }
            // Another control byte: kept (the text is then invalid, as
            // it was).
            Some(&c) => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

/// The first byte at or after `i` that is a quote, whitespace or another
/// control byte (eight at a time).
#[inline(always)]
fn token_run(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let quote = w ^ (ONES * u64::from(b'"'));
        // Bytes below 0x21 (space and the control bytes), and quotes;
        // the lowest flagged byte is exact.
        let special =
            ((w.wrapping_sub(ONES * 0x21) & !w) | (quote.wrapping_sub(ONES) & !quote)) & HIGH;
        if special != 0 {
            return i + (special.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && b[i] > b' ' && b[i] != b'"' {
        i += 1;
    }
    i
}

/// Just past the string whose opening quote is at `i` (or the end of an
/// unterminated one).
#[inline(always)]
fn string_end(b: &[u8], mut i: usize) -> usize {
    i += 1;
    loop {
        i = plain_run(b, i);
        match b.get(i) {
            Some(b'"') => return i + 1,
            Some(b'\\') => i += 2,
            Some(_) => i += 1,
            None => return b.len(),
        }
    }
}

/// How long `bytes` is without the whitespace after its last token (a
/// file's final line break): what is left is valid JSON exactly when
/// `bytes` is, and reads the same.
pub fn trimmed_len(bytes: &[u8]) -> usize {
    let mut end = bytes.len();
    while end > 0 && matches!(bytes[end - 1], b' ' | b'\n' | b'\r' | b'\t') {
        end -= 1;
    }
    end
}

/// Whether `bytes` has whitespace between tokens in its first 4 KiB (a
/// pretty-printed text, or one spaced like `{"a": 1}`); a compact text has
/// none. A hint for which reading to try first, never a verdict: strings
/// are followed as [`minify`] follows them.
pub fn looks_spaced(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    let mut i = 0;
    while i < head.len() {
        match head[i] {
            b' ' | b'\n' | b'\r' | b'\t' => return true,
            b'"' => i = string_end(head, i),
            _ => i += 1,
        }
    }
    false
}

/// A byte that can go on a number or literal (`true`, `false`, `null`).
fn joins(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.')
}

/// Just past the whitespace run at `i` (indentation eight at a time).
#[inline(always)]
fn whitespace_end(b: &[u8], mut i: usize) -> usize {
    const SPACES: u64 = 0x2020_2020_2020_2020;
    while i < b.len() && matches!(b[i], b'\n' | b'\r' | b'\t') {
        i += 1;
    }
    while let Some(chunk) = b.get(i..i + 8) {
        // The bytes that are not spaces are the nonzero ones here.
        let other = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])) ^ SPACES;
        if other != 0 {
            i += (other.trailing_zeros() / 8) as usize;
            break;
        }
        i += 8;
    }
    while i < b.len() && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whitespace dropped outside strings, one byte at a time: what
    /// [`minify`] must give when it gives anything.
    fn reference(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b' ' | b'\n' | b'\r' | b'\t' => i += 1,
                b'"' => {
                    let start = i;
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    i = (i + 1).min(bytes.len());
                    out.extend_from_slice(&bytes[start..i]);
                }
                c => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        out
    }

    /// Whether some whitespace run outside strings has bytes that join
    /// on both sides.
    fn splits_a_token(bytes: &[u8]) -> bool {
        let (mut i, mut last) = (0, None);
        while i < bytes.len() {
            match bytes[i] {
                b' ' | b'\n' | b'\r' | b'\t' => {
                    let mut j = i;
                    while j < bytes.len() && matches!(bytes[j], b' ' | b'\n' | b'\r' | b'\t') {
                        j += 1;
                    }
                    if last.is_some_and(joins) && bytes.get(j).is_some_and(|&c| joins(c)) {
                        return true;
                    }
                    i = j;
                }
                b'"' => {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    last = Some(b'"');
                    i += 1;
                }
                c => {
                    last = Some(c);
                    i += 1;
                }
            }
        }
        false
    }

    #[test]
    fn drops_whitespace_between_tokens_only() {
        let text = " { \"a b\" : [ 1 , \"x \\\" y\" ,\n\t true ] }\n";
        assert_eq!(
            minify(text.as_bytes()).as_deref(),
            Some(&b"{\"a b\":[1,\"x \\\" y\",true]}"[..])
        );
        for split in [
            "[1 2]",
            "[tr ue]",
            "[- 5]",
            "[1 .5]",
            "[1\n e5]",
            "[true false]",
        ] {
            assert_eq!(minify(split.as_bytes()), None, "{split}");
        }
        for kept in ["[1 ,2]", "[\"a\" \"b\"]", "{\"a\" :1}", "[1\"a\"]", "[ ]"] {
            assert!(minify(kept.as_bytes()).is_some(), "{kept}");
        }
    }

    #[test]
    fn matches_the_byte_at_a_time_reference() {
        let alphabet = [
            b' ', b' ', b' ', b'\n', b'\t', b'\r', b'"', b'\\', b'1', b'e', b'-', b'.', b'a', b'{',
            b'}', b'[', b']', b':', b',', 0x01, 0xc3, 0xa9,
        ];
        let mut r = crate::test_rng::Rng(11);
        for _ in 0..40_000 {
            let len = r.below(64);
            let text: Vec<u8> = (0..len)
                .map(|_| alphabet[r.below(alphabet.len())])
                .collect();
            match minify(&text) {
                Some(m) => {
                    assert_eq!(m, reference(&text), "{text:?}");
                    assert!(!splits_a_token(&text), "{text:?}");
                }
                None => assert!(splits_a_token(&text), "{text:?}"),
            }
        }
    }

    #[test]
    fn long_indentation_and_runs_past_eight_bytes() {
        let text = format!(
            "{{\n{}\"key_longer_than_eight\": [\n{}12345678901,\n{}\"{}\"\n]\n}}",
            " ".repeat(37),
            " ".repeat(16),
            "\t ".repeat(9),
            "s".repeat(100)
        );
        let m = minify(text.as_bytes()).unwrap();
        assert_eq!(m, reference(text.as_bytes()));
        assert!(looks_spaced(text.as_bytes()));
        assert!(!looks_spaced(&m));
        assert!(looks_spaced(br#"{"a": 1}"#));
        assert!(!looks_spaced(br#"{"a b":" \" \n","c":1}"#));
    }
}
