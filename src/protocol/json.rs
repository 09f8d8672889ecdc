//! Bounded JSON parsing shared by schema and message decoding.
//!
//! `serde_json`'s built-in recursion limit (128 containers) is too low for a
//! schema whose nodes may nest 128 deep (each node level costs two JSON
//! levels), and turning it off would let hostile input overflow the stack.
//! So the nesting depth is measured first with a flat byte scan, and only input
//! within [`MAX_JSON_DEPTH`] reaches the recursive parser.

use serde::Deserialize;
use serde_json::Value;

pub use lumora_index::{JsonError, MAX_JSON_DEPTH};

/// Deepest nesting of `[`/`{` in `bytes`, ignoring brackets inside strings.
/// Stops counting as soon as `limit` is passed, so the answer is `> limit`
/// for anything too deep. Malformed input is left to the real parser.
pub fn nesting_depth(bytes: &[u8], limit: usize) -> usize {
    let mut depth = 0usize;
    let mut max = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    max = depth;
                    if max > limit {
                        return max;
                    }
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Parses `bytes` into a [`Value`], refusing nesting deeper than `max_depth`
/// before any recursion happens.
pub fn parse_bounded(bytes: &[u8], max_depth: usize) -> Result<Value, JsonError> {
    if nesting_depth(bytes, max_depth) > max_depth {
        return Err(JsonError::TooDeep { limit: max_depth });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.disable_recursion_limit();
    let value = Value::deserialize(&mut de).map_err(|e| JsonError::Syntax(e.to_string()))?;
    de.end().map_err(|e| JsonError::Syntax(e.to_string()))?;
    Ok(value)
}

/// The JSON type name of a value, for error messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_ignores_brackets_in_strings() {
        assert_eq!(nesting_depth(br#"{"a":"[[[{{{\"[["}"#, 100), 1);
        assert_eq!(nesting_depth(b"[[[]]]", 100), 3);
    }

    #[test]
    fn deep_input_is_refused_without_recursion() {
        let deep = "[".repeat(1_000_000);
        assert_eq!(
            parse_bounded(deep.as_bytes(), 512),
            Err(JsonError::TooDeep { limit: 512 })
        );
    }

    #[test]
    fn depth_at_limit_parses() {
        let s = format!("{}{}", "[".repeat(512), "]".repeat(512));
        assert!(parse_bounded(s.as_bytes(), 512).is_ok());
        let s = format!("{}{}", "[".repeat(513), "]".repeat(513));
        assert!(parse_bounded(s.as_bytes(), 512).is_err());
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        assert!(matches!(
            parse_bounded(b"{} x", 10),
            Err(JsonError::Syntax(_))
        ));
    }
}
