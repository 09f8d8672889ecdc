//! The big schemas both push benchmarks use (`benches/protocol.rs` and the
//! fan-out tool's `--push-cpu` / `--push-stall`), so that their figures
//! compare: 4 node levels of 6 (screen, section, row, widget, each with a
//! few string and number props), written with keys in the order a tool
//! emits them.

use serde_json::{Value, json};

const FANOUT: usize = 6;
const LEVELS: usize = 4;

fn node(id: usize, level: usize, children: Vec<Value>) -> Value {
    let kinds = ["Screen", "Section", "Row", "Text", "Button", "Image"];
    let kind = if level < LEVELS {
        kinds[level - 1]
    } else {
        kinds[3 + id % 3]
    };
    let mut n = json!({
        "id": format!("node-{id}"),
        "type": kind,
        "props": {
            "text": format!("Item number {id}"),
            "color": "#336699",
            "fontSize": 12 + id % 8,
            "padding": (id % 5) as f64 * 2.5,
            "accessibilityLabel": format!("label {id}"),
        },
    });
    if kind == "Button" {
        n["events"] = json!({"onPress": format!("handler{id}")});
    }
    if level < LEVELS {
        n["children"] = Value::Array(children);
    }
    n
}

/// Up to `FANOUT` nodes at `depth`, each with its subtree, until `total`
/// nodes exist.
fn level(next: &mut usize, total: usize, depth: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..FANOUT {
        if *next >= total {
            break;
        }
        let id = *next;
        *next += 1;
        let children = if depth < LEVELS {
            level(next, total, depth + 1)
        } else {
            Vec::new()
        };
        out.push(node(id, depth, children));
    }
    out
}

/// A schema of `total` nodes:
/// 10,000 nodes encode to about 1.6 MB, 63,500 to about 10.4 MB.
pub fn schema_value(total: usize) -> Value {
    let mut next = 0;
    let mut nodes = Vec::new();
    while next < total {
        nodes.extend(level(&mut next, total, 1));
    }
    json!({
        "version": "1.0",
        "metadata": {"sourceFramework": "react", "sourceFile": "App.tsx", "generatedAt": 1_700_000_000_000u64},
        "theme": {"primary": "#3366ff", "background": "#ffffff"},
        "nodes": nodes,
    })
}

/// Key order of a UI tool's output (`id`, `type`, `props`, ...,
/// `children` last), as both benchmarks push them; keys not listed go
/// after these, by name.
const KEY_ORDER: [&str; 14] = [
    "version",
    "metadata",
    "theme",
    "nodes",
    "id",
    "type",
    "props",
    "text",
    "color",
    "fontSize",
    "padding",
    "accessibilityLabel",
    "events",
    "children",
];

/// `v` as compact JSON with its keys in [`KEY_ORDER`] (not sorted, so the
/// server's checksum has the sorting to do that real pushes give it).
pub fn tool_json(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let rank = |k: &str| {
                    KEY_ORDER
                        .iter()
                        .position(|o| *o == k)
                        .unwrap_or(KEY_ORDER.len())
                };
                let mut members: Vec<(&String, &Value)> = m.iter().collect();
                members.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)).then(a.0.cmp(b.0)));
                out.push('{');
                for (i, (k, v)) in members.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// Compact JSON with a line and two spaces of indent per level after every
/// `{`, `[` and `,`, and a space after every `:` (outside strings).
pub fn pretty(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for c in compact.chars() {
        out.push(c);
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => depth = depth.saturating_sub(1),
            ':' => out.push(' '),
            _ => {}
        }
        if matches!(c, '{' | '[' | ',') {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', 2 * depth));
        }
    }
    out
}
