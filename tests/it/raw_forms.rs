//! Schemas pushed as text in any form JSON allows: whitespace anywhere,
//! strings and keys with escapes (`\u00e9`, surrogate pairs, `\/`),
//! members in any order, repeated keys. The server reads the bytes
//! themselves (an index, not a parsed tree), so each form is checked
//! against the reference reading of the same text, `serde_json`'s:
//! accepted alike, the same value, the same checksum, and deltas between
//! two forms that apply exactly.

use lumora_hr_mini::protocol::{
    DEFAULT_INCREMENTAL_THRESHOLD, PlannedUpdate, Schema, apply_schema_delta, calculate_checksum,
    calculate_schema_delta, plan_update,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// A small deterministic generator (the test's randomness comes from the
/// proptest seed it starts from).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const TEXTS: [&str; 8] = ["", "a", "é", "\"q\"", "\\", "\u{1}\n", "😀x", "\u{2028}/"];

fn scalar(r: &mut Rng) -> Value {
    match r.below(7) {
        0 => Value::Null,
        1 => json!(r.chance(50)),
        2 => json!(r.below(2000) as i64 - 1000),
        3 => json!((r.below(20_000) as f64 - 10_000.0) / 64.0),
        4 => json!(1e21 * (r.below(5) as f64 + 1.0)),
        _ => json!(TEXTS[r.below(TEXTS.len() as u64) as usize]),
    }
}

fn plain(r: &mut Rng, depth: u32) -> Value {
    if depth == 0 || r.chance(60) {
        return scalar(r);
    }
    if r.chance(50) {
        Value::Array((0..r.below(3)).map(|_| plain(r, depth - 1)).collect())
    } else {
        let mut m = Map::new();
        for _ in 0..r.below(4) {
            m.insert(
                TEXTS[r.below(8) as usize].to_string() + "k",
                plain(r, depth - 1),
            );
        }
        Value::Object(m)
    }
}

fn node(r: &mut Rng, next_id: &mut u32, depth: u32) -> Value {
    *next_id += 1;
    let mut n = Map::new();
    n.insert(
        "id".into(),
        json!(format!("n{next_id}{}", TEXTS[r.below(8) as usize])),
    );
    n.insert(
        "type".into(),
        json!(["Text", "View", "Bütton"][r.below(3) as usize]),
    );
    if r.chance(80) {
        n.insert(
            "props".into(),
            plain(r, 2)
                .as_object()
                .cloned()
                .map_or(json!({"v": 1}), Value::Object),
        );
    }
    if r.chance(30) {
        n.insert("metadata".into(), json!({"line": r.below(100)}));
    }
    if depth > 0 && r.chance(60) {
        let kids = (0..r.below(4))
            .map(|_| node(r, next_id, depth - 1))
            .collect();
        n.insert("children".into(), Value::Array(kids));
    }
    Value::Object(n)
}

fn schema(r: &mut Rng) -> Value {
    let mut id = 0;
    let nodes: Vec<Value> = (0..r.below(4) + 1).map(|_| node(r, &mut id, 3)).collect();
    let mut v = json!({"version": "1.0", "metadata": {"generatedAt": r.below(9), "sourceFile": "A.tsx"}, "nodes": nodes});
    if r.chance(40) {
        v["theme"] = plain(r, 2);
    }
    v
}

/// `v` edited in a few random places (props, a removed or added child, a
/// top-level key).
fn edited(r: &mut Rng, v: &Value) -> Value {
    let mut v = v.clone();
    for _ in 0..r.below(3) + 1 {
        match r.below(4) {
            0 => v["metadata"]["sourceFile"] = json!(format!("B{}.tsx", r.below(3))),
            1 => {
                let nodes = v["nodes"].as_array_mut().unwrap();
                let at = r.below(nodes.len() as u64) as usize;
                nodes[at]["props"] = json!({"edited": r.below(5)});
            }
            2 => {
                let nodes = v["nodes"].as_array_mut().unwrap();
                if let Some(kids) = nodes[0].get_mut("children").and_then(Value::as_array_mut) {
                    if !kids.is_empty() {
                        kids.remove(r.below(kids.len() as u64) as usize);
                    }
                }
            }
            _ => v["nodes"]
                .as_array_mut()
                .unwrap()
                .push(json!({"id": format!("new{}", r.below(1000)), "type": "Text"})),
        }
    }
    v
}

/// `v` as text in a random form: whitespace, escapes, member order and
/// (sometimes) a repeated key whose first value is overridden.
fn render(v: &Value, r: &mut Rng, out: &mut String) {
    let ws = |r: &mut Rng, out: &mut String| {
        if r.chance(20) {
            out.push_str([" ", "\n", "\t", "\r\n  "][r.below(4) as usize]);
        }
    };
    ws(r, out);
    match v {
        Value::String(s) => string(s, r, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render(item, r, out);
            }
            ws(r, out);
            out.push(']');
        }
        Value::Object(m) => {
            let mut members: Vec<(&String, &Value)> = m.iter().collect();
            if r.chance(50) {
                members.reverse();
            }
            out.push('{');
            let mut first = true;
            for (k, v) in members {
                if r.chance(5) {
                    // A repeated key: the later member is the one that counts.
                    if !first {
                        out.push(',');
                    }
                    string(k, r, out);
                    out.push_str(":\"overridden\"");
                    first = false;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                ws(r, out);
                string(k, r, out);
                ws(r, out);
                out.push(':');
                render(v, r, out);
            }
            ws(r, out);
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
    ws(r, out);
}

fn string(s: &str, r: &mut Rng, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || r.chance(15) => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{:04x}", u));
                }
            }
            '/' if r.chance(50) => out.push_str("\\/"),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn text_of(v: &Value, seed: u64) -> String {
    let mut out = String::new();
    render(v, &mut Rng(seed), &mut out);
    out
}

/// The reference reading of `text` and the server's agree.
fn check_reading(text: &str) -> Result<Option<Schema>, TestCaseError> {
    let reference: Value = serde_json::from_str(text).expect("rendered text is JSON");
    let theirs = Schema::from_value(reference.clone());
    let ours = Schema::from_slice(text.as_bytes());
    prop_assert_eq!(
        ours.is_ok(),
        theirs.is_ok(),
        "{}: {:?} vs {:?}",
        text,
        ours.as_ref().err(),
        theirs.as_ref().err()
    );
    let Ok(ours) = ours else { return Ok(None) };
    prop_assert_eq!(ours.as_value(), &reference, "{}", text);
    prop_assert_eq!(ours.checksum(), calculate_checksum(&reference), "{}", text);
    let compact: Value = serde_json::from_slice(ours.bytes()).unwrap();
    prop_assert_eq!(&compact, &reference, "the bytes sent are the same value");
    Ok(Some(ours))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn every_form_reads_like_the_reference(seed in any::<u64>(), form in any::<u64>()) {
        let v = schema(&mut Rng(seed));
        check_reading(&text_of(&v, form))?;
        // And the compact text as serde_json writes it.
        check_reading(&v.to_string())?;
    }

    #[test]
    fn deltas_between_forms_apply_exactly(seed in any::<u64>(), a in any::<u64>(), b in any::<u64>()) {
        let mut r = Rng(seed);
        let v1 = schema(&mut r);
        let v2 = edited(&mut r, &v1);
        let (Some(old), Some(new)) = (check_reading(&text_of(&v1, a))?, check_reading(&text_of(&v2, b))?) else {
            return Ok(());
        };
        // Reusing the old schema's subtree CRCs gives the same checksum.
        let fresh = Schema::from_slice(new.bytes()).unwrap();
        prop_assert_eq!(fresh.checksum_after(&old), new.checksum());
        if let Some(d) = calculate_schema_delta(&old, &new) {
            let applied = apply_schema_delta(&old, &d).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(applied.as_value(), new.as_value());
        }
        match plan_update(Some(&old), &new, DEFAULT_INCREMENTAL_THRESHOLD) {
            PlannedUpdate::Incremental(d) => {
                let applied = apply_schema_delta(&old, &d.to_delta()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(applied.checksum(), new.checksum());
                prop_assert!(d.json.len() < new.bytes().len());
            }
            PlannedUpdate::Unchanged => prop_assert_eq!(old.checksum(), new.checksum()),
            PlannedUpdate::Full => {}
        }
    }
}

#[test]
fn malformed_and_hostile_texts_are_refused_like_the_reference() {
    for text in [
        r#"{"version":"1","metadata":{},"nodes":[{"id":"a","type":"T",}]}"#,
        r#"{"version":"1","metadata":{},"nodes":[{"id":"a","type":"T"}]"#,
        r#"{"version":"1","metadata":{},"nodes":[{"id":"\ud800","type":"T"}]}"#,
        r#"{"version":"1","metadata":{},"nodes":[{"id":"a","type":"T","props":{"n":1e999}}]}"#,
        r#"{"version":"1","metadata":{},"nodes":[{"id":"a","type":"T","props":{"n":01}}]}"#,
        "{\"version\":\"1\",\"metadata\":{},\"nodes\":[{\"id\":\"a\u{1}\",\"type\":\"T\"}]}",
        r#"{"version":"1","metadata":{},"nodes":[]} []"#,
    ] {
        assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
        assert!(Schema::from_slice(text.as_bytes()).is_err(), "{text}");
    }
    // An escaped field name is the field; a repeated one counts once,
    // the last value winning.
    let s = Schema::from_slice(
        br#"{"version":"1","metadata":{},"nodes":[{"\u0069d":"x","id":"a","type":"T"},{"id":"\u0078","type":"T"}]}"#,
    )
    .unwrap();
    assert_eq!(s.as_value()["nodes"][0]["id"], "a");
    assert_eq!(s.node_count(), 2);
    let dup = Schema::from_slice(
        br#"{"version":"1","metadata":{},"nodes":[{"id":"a","type":"T"},{"id":"\u0061","type":"T"}]}"#,
    )
    .unwrap_err();
    assert_eq!(dup.to_string(), r#"nodes[1].id: duplicate id "a""#);
}
