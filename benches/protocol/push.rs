//! The protocol part of a push, against a floor measured in the same run.
//!
//! The floor is what reading the pushed bytes once costs: `serde_json`
//! scanning them into `IgnoredAny`. A push's protocol work is what the
//! server does with the body of `POST /send/:id`: parse and validate it
//! (`Schema::from_vec_after` the session's schema: an edit inside one node
//! is read as such, the rest compared, not parsed), compare checksums and compute the delta
//! (`choose_update`, the current schema's checksum being cached as in the
//! server), and encode the update message once. The stages are also timed
//! on their own. HTTP, framing and the socket writes are not included
//! (`cargo bench --bench fanout` measures those).
//!
//! The floor is measured twice: built as the server is (this bench, at
//! the release profile's opt-level "z"; `serde_json`'s reading code is
//! generic, so it is compiled where it is called), and built for speed
//! (`benches/floor`, at opt-level 3). The goals are judged against both.

use super::{edit_prop, schema_value};
use lumora_hr_mini::protocol::{
    DEFAULT_INCREMENTAL_THRESHOLD, EncodedDelta, MAX_SCHEMA_BYTES, PlannedUpdate, Schema,
    UpdatePlan, calculate_schema_delta, choose_update, create_full_update,
    create_incremental_update, plan_update, serialize_message,
};
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

const SAMPLES: usize = 7;
const SAMPLE_TARGET: Duration = Duration::from_millis(20);
const SESSION: &str = "6f1c2f0e-8d3a-4b7e-9c51-0a2b3c4d5e6f";

/// CPU time of this thread, in seconds: unlike the wall clock, it does not
/// count the time other processes on a busy machine hold the CPU.
fn cpu_now() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Median CPU seconds per call of `f` over [`SAMPLES`] samples, each the
/// mean of enough calls to last about [`SAMPLE_TARGET`] (at least one).
/// Results are freed after the clock stops.
fn median<R>(mut f: impl FnMut() -> R) -> f64 {
    let start = cpu_now();
    black_box(f());
    let once = (cpu_now() - start).max(1e-9);
    let calls = ((SAMPLE_TARGET.as_secs_f64() / once) as usize).clamp(1, 100_000);
    let mut samples: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let mut results = Vec::with_capacity(calls);
            let start = cpu_now();
            for _ in 0..calls {
                results.push(black_box(f()));
            }
            let elapsed = cpu_now() - start;
            drop(results);
            elapsed / calls as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[SAMPLES / 2]
}

/// Median CPU seconds of `f` on fresh input from `setup`, one call per
/// sample; `setup` and freeing run outside the clock.
fn median_with_setup<I, R>(mut setup: impl FnMut() -> I, mut f: impl FnMut(&I) -> R) -> f64 {
    let mut samples: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let input = setup();
            let start = cpu_now();
            let result = black_box(f(black_box(&input)));
            let elapsed = cpu_now() - start;
            drop((result, input));
            elapsed
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[SAMPLES / 2]
}

/// A value as a tool writes it (keys in a tool's order, not sorted, so
/// that the checksum has the sorting to do that real pushes give it).
fn tool_json(v: &Value) -> Vec<u8> {
    super::schemas::tool_json(v).into_bytes()
}

/// The floor: reading the pushed bytes once.
#[inline(never)]
fn floor_scan(body: &[u8]) -> IgnoredAny {
    serde_json::from_slice::<IgnoredAny>(body).expect("json")
}

/// What the server does with a pushed body when the session holds `old`:
/// the size of the encoded update (0 for "nothing changed"). As in the
/// hub: a full update is the schema's own bytes between a small head and
/// tail (here the head is the message serialized around an empty schema),
/// an incremental one the delta's JSON in the message.
#[inline(never)]
fn push_work(old: Option<&Schema>, body: &[u8]) -> usize {
    // The body is copied, as the server reads it from the socket.
    let new = Schema::from_vec_after(body.to_vec(), old).expect("valid");
    match plan_update(old, &new, DEFAULT_INCREMENTAL_THRESHOLD) {
        PlannedUpdate::Unchanged => 0,
        PlannedUpdate::Full => {
            let _ = new.checksum();
            let head = serialize_message(&create_full_update(SESSION, empty(), 2, true));
            head.len() + new.bytes().len()
        }
        PlannedUpdate::Incremental(delta) => incremental_frame(new.checksum(), &delta),
    }
}

/// The update of a delta, as the hub makes it: the message around an
/// empty delta, and the delta's JSON; its length.
fn incremental_frame(checksum: &str, delta: &EncodedDelta) -> usize {
    let head = serialize_message(&create_incremental_update(
        SESSION,
        Default::default(),
        2,
        checksum,
        true,
    ));
    let mut frame = Vec::with_capacity(head.len() + delta.json.len());
    frame.extend_from_slice(head.as_bytes());
    frame.extend_from_slice(&delta.json);
    frame.len()
}

/// The smallest schema, standing for the head of a full update.
fn empty() -> Arc<Schema> {
    static EMPTY: std::sync::OnceLock<Arc<Schema>> = std::sync::OnceLock::new();
    EMPTY
        .get_or_init(|| {
            Arc::new(Schema::from_slice(br#"{"version":"1","metadata":{},"nodes":[]}"#).unwrap())
        })
        .clone()
}

/// The index path (through `nodes` and `children` arrays) of every node,
/// depth first.
fn node_paths(v: &Value) -> Vec<Vec<usize>> {
    fn walk(nodes: &[Value], prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        for (i, n) in nodes.iter().enumerate() {
            prefix.push(i);
            out.push(prefix.clone());
            if let Some(Value::Array(kids)) = n.get("children") {
                walk(kids, prefix, out);
            }
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    if let Some(Value::Array(nodes)) = v.get("nodes") {
        walk(nodes, &mut Vec::new(), &mut out);
    }
    out
}

/// The node at `path`.
fn node_at<'a>(v: &'a mut Value, path: &[usize]) -> &'a mut Value {
    let mut node = &mut v["nodes"][path[0]];
    for &i in &path[1..] {
        node = &mut node["children"][i];
    }
    node
}

/// The kinds of push measured.
#[derive(Clone, Copy)]
enum Edit {
    /// One prop of one node deep in the tree.
    Prop,
    /// A leaf moved from one parent to another (the new parent is sent).
    Move,
    /// One node's `type` changed.
    Type,
    /// Only `metadata.sourceFile` changed.
    Metadata,
    /// One prop, and `metadata.generatedAt` (as a tool that stamps every
    /// save writes it).
    PropStamped,
    /// One prop, the text pretty-printed (as an editor saves a file).
    PropPretty,
    /// One prop, the compact text ending in a line break (as most editors
    /// and many tools end a file).
    PropNewline,
}

impl Edit {
    fn name(self) -> &'static str {
        match self {
            Edit::Prop => "one-prop edit",
            Edit::Move => "move a leaf",
            Edit::Type => "type change",
            Edit::Metadata => "metadata only",
            Edit::PropStamped => "one-prop edit, new generatedAt",
            Edit::PropPretty => "one-prop edit, pretty-printed",
            Edit::PropNewline => "one-prop edit, a final newline",
        }
    }

    fn apply(self, v: &mut Value, total: usize) {
        match self {
            Edit::Prop => edit_prop(v, total / 2 + 3),
            Edit::Type => {
                let paths = node_paths(v);
                node_at(v, &paths[paths.len() / 2 + 1])["type"] = json!("Badge");
            }
            Edit::Metadata => v["metadata"]["sourceFile"] = json!("Other.tsx"),
            Edit::PropPretty | Edit::PropNewline => edit_prop(v, total / 2 + 3),
            Edit::PropStamped => {
                edit_prop(v, total / 2 + 3);
                v["metadata"]["generatedAt"] = json!(1_700_000_123_456u64);
            }
            Edit::Move => {
                // Two parents of leaves near the middle: the last child of
                // the first moves to the end of the second.
                let parents: Vec<Vec<usize>> = node_paths(v)
                    .into_iter()
                    .filter(|p| {
                        node_at(v, p)
                            .get("children")
                            .and_then(Value::as_array)
                            .is_some_and(|k| k.len() >= 2)
                    })
                    .collect();
                let (from, to) = (&parents[parents.len() / 2], &parents[parents.len() / 2 + 1]);
                let leaf = node_at(v, from)["children"]
                    .as_array_mut()
                    .and_then(Vec::pop)
                    .expect("a child");
                node_at(v, to)["children"]
                    .as_array_mut()
                    .expect("children")
                    .push(leaf);
            }
        }
    }
}

/// A chain of `levels` nested nodes, each with two leaves beside the next
/// level.
fn deep_value(levels: usize) -> Value {
    let mut inner: Option<Value> = None;
    for level in (0..levels).rev() {
        let mut children = vec![
            json!({"id": format!("deep-{level}-a"), "type": "Text", "props": {"text": format!("level {level}")}}),
            json!({"id": format!("deep-{level}-b"), "type": "Icon", "props": {"name": "star", "size": 16}}),
        ];
        if let Some(n) = inner.take() {
            children.push(n);
        }
        inner = Some(json!({
            "id": format!("deep-{level}"),
            "type": "Column",
            "props": {"gap": level % 8},
            "children": children,
        }));
    }
    json!({
        "version": "1.0",
        "metadata": {"sourceFramework": "react", "sourceFile": "Deep.tsx", "generatedAt": 1},
        "nodes": [inner.expect("levels > 0")],
    })
}

struct Row {
    name: String,
    floor: f64,
    total: f64,
    goal: f64,
    stages: [f64; 4],
    kind: &'static str,
    /// The floor built at opt-level 3.
    floor3: f64,
}

/// The name of the case with `k` leaves of the biggest schema edited.
fn leaves_edited(k: usize) -> String {
    format!("63500 nodes, {k} leaves edited")
}

fn ms(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.3}", s * 1e3)
    } else {
        format!("{:.2}", s * 1e3)
    }
}

fn measure(name: String, old: Option<&Schema>, new_value: &Value, goal: f64) -> Option<Row> {
    if let Ok(only) = std::env::var("PUSH_ONLY") {
        if !name.contains(&only) {
            return None;
        }
    }
    let mut body = tool_json(new_value);
    if name.contains("pretty-printed") {
        body = super::schemas::pretty(&String::from_utf8_lossy(&body)).into_bytes();
    }
    if name.contains("final newline") {
        body.push(b'\n');
    }
    assert!(
        body.len() <= MAX_SCHEMA_BYTES,
        "{name}: {} bytes",
        body.len()
    );
    if let Some(old) = old {
        let _ = old.checksum();
    }
    let parsed = Schema::from_slice(&body).expect("valid");
    let kind = match choose_update(old, &parsed, DEFAULT_INCREMENTAL_THRESHOLD) {
        UpdatePlan::Unchanged => "none",
        UpdatePlan::Full => "full",
        UpdatePlan::Incremental(_) => "incremental",
    };
    if std::env::var_os("PUSH_ONCE").is_some() {
        // One call of each, for instruction counts: `valgrind
        // --tool=callgrind --toggle-collect='*push_work*'` (or
        // `*floor_scan*`, or `*lumora_floor*` for the opt-level-3 floor).
        black_box(floor_scan(&body));
        black_box(lumora_floor::scan(&body).expect("json"));
        black_box(push_work(old, &body));
        return None;
    }
    let floor = median(|| floor_scan(black_box(&body)));
    let floor3 = median(|| lumora_floor::scan(black_box(&body)).expect("json"));
    let total = median(|| push_work(old, black_box(&body)));
    let parse = median(|| Schema::from_vec_after(black_box(&body).to_vec(), old).expect("valid"));
    let fresh = || Schema::from_vec_after(body.to_vec(), old).expect("valid");
    // As in the server: the new schema's checksum reuses the current one's
    // subtree CRCs, and includes making the fingerprints.
    let checksum = median_with_setup(fresh, |s| match old {
        Some(old) => s.checksum_after(old).len(),
        None => s.checksum().len(),
    });
    let delta = match old {
        Some(old) => median_with_setup(
            || {
                let s = fresh();
                let _ = s.checksum_after(old);
                s
            },
            |s| calculate_schema_delta(old, s),
        ),
        None => 0.0,
    };
    let mut encode_only = push_work_encode_only(old, &parsed);
    let encode = median(&mut encode_only);
    Some(Row {
        name: format!("{name} ({:.2} MB)", body.len() as f64 / 1e6),
        floor,
        floor3,
        total,
        goal,
        stages: [parse, checksum, delta, encode],
        kind,
    })
}

/// The encoding stage alone (the plan is made outside the clock), as in
/// [`push_work`].
fn push_work_encode_only(old: Option<&Schema>, new: &Schema) -> impl FnMut() -> usize {
    let plan = plan_update(old, new, DEFAULT_INCREMENTAL_THRESHOLD);
    let bytes = new.bytes().clone();
    let checksum = new.checksum().to_string();
    move || match &plan {
        PlannedUpdate::Unchanged => 0,
        PlannedUpdate::Full => {
            serialize_message(&create_full_update(SESSION, empty(), 2, true)).len() + bytes.len()
        }
        PlannedUpdate::Incremental(delta) => incremental_frame(&checksum, delta),
    }
}

/// What holding `count` schemas of about 1 MiB costs, as the server holds
/// a session's current schema: parsed, then with its checksum (node
/// fingerprints and subtree CRCs) made.
fn memory(count: usize) {
    let value = schema_value(6_400);
    let body = tool_json(&value);
    drop(value);
    let json = (body.len() * count) as f64;
    let before = super::live_bytes();
    let held: Vec<Schema> = (0..count)
        .map(|_| Schema::from_slice(&body).expect("valid"))
        .collect();
    let parsed = super::live_bytes();
    for s in &held {
        let _ = s.checksum();
    }
    let summed = super::live_bytes();
    println!(
        "memory (bytes allocated): {count} schemas of {:.2} MB ({:.1} MB of JSON): parsed +{:.1} MB ({:.2}x), checksums +{:.1} MB more ({:.2}x in all)",
        body.len() as f64 / 1e6,
        json / 1e6,
        (parsed - before) as f64 / 1e6,
        (parsed - before) as f64 / json,
        (summed - parsed) as f64 / 1e6,
        (summed - before) as f64 / json,
    );
    drop(held);
}

pub fn run() {
    println!();
    println!(
        "push: protocol work per push vs the floor (serde_json scanning the body into IgnoredAny); CPU ms, medians of {SAMPLES}"
    );
    let mut rows = Vec::new();
    for total in [100, 1_000, 10_000, 50_000] {
        let old_value = schema_value(total);
        let old = Schema::from_slice(&tool_json(&old_value)).expect("valid");
        let edits: &[Edit] = if total == 10_000 {
            &[
                Edit::Prop,
                Edit::PropStamped,
                Edit::PropPretty,
                Edit::PropNewline,
                Edit::Move,
                Edit::Type,
                Edit::Metadata,
            ]
        } else {
            &[Edit::Prop]
        };
        for &edit in edits {
            let mut new = old_value.clone();
            edit.apply(&mut new, total);
            let goal = if total == 10_000 && matches!(edit, Edit::Prop) {
                2.0
            } else {
                f64::NAN
            };
            rows.extend(measure(
                format!("{total} nodes, {}", edit.name()),
                Some(&old),
                &new,
                goal,
            ));
        }
    }
    let deep = deep_value(100);
    let old = Schema::from_slice(&tool_json(&deep)).expect("valid");
    let mut edited = deep;
    let paths = node_paths(&edited);
    // The first leaf of the deepest level.
    node_at(&mut edited, &paths[paths.len() - 2])["props"]["text"] = json!("edited");
    rows.extend(measure(
        "100 levels deep, one-prop edit at the bottom".into(),
        Some(&old),
        &edited,
        f64::NAN,
    ));
    // The biggest schema accepted, pushed to an empty session.
    let big = schema_value(63_500);
    rows.extend(measure("63500 nodes, first push".into(), None, &big, 3.0));
    // Then with leaves edited all over it (as a generator rewriting the
    // file does): read as that many edits; up to 64 newly scanned nodes
    // are validated alone, more make the whole index validated.
    let wanted =
        |k: usize| std::env::var("PUSH_ONLY").map_or(true, |only| leaves_edited(k).contains(&only));
    let counts = [64, 65, 256, 1024];
    if counts.iter().any(|&k| wanted(k)) {
        let big_old = Schema::from_slice(&tool_json(&big)).expect("valid");
        let leaves: Vec<Vec<usize>> = node_paths(&big)
            .into_iter()
            .filter(|p| {
                let mut node = &big["nodes"][p[0]];
                for &i in &p[1..] {
                    node = &node["children"][i];
                }
                node.get("children").is_none()
            })
            .collect();
        for k in counts {
            if !wanted(k) {
                continue;
            }
            let mut edited = big.clone();
            for i in 0..k {
                let path = &leaves[i * (leaves.len() / k)];
                node_at(&mut edited, path)["props"]["text"] = json!(format!("edited {i}"));
            }
            rows.extend(measure(leaves_edited(k), Some(&big_old), &edited, f64::NAN));
        }
    }
    // A pretty-printed file pushed to an empty session.
    rows.extend(measure(
        "10000 nodes, first push, pretty-printed".into(),
        None,
        &schema_value(10_000),
        f64::NAN,
    ));

    if std::env::var("PUSH_ONLY").map_or(true, |only| "memory".contains(&only)) {
        memory(100);
    }
    println!(
        "{:<52} {:>8} {:>9} {:>7}  {:>8} {:>8} {:>8} {:>8}  {:<11} {:>7} {:>7}  goal (as built; at opt-level 3)",
        "case",
        "floor",
        "push",
        "ratio",
        "parse",
        "checksum",
        "delta",
        "encode",
        "update",
        "floor3",
        "ratio3"
    );
    for r in rows {
        let (ratio, ratio3) = (r.total / r.floor, r.total / r.floor3);
        let goal = if r.goal.is_nan() {
            String::new()
        } else {
            let met = |x: f64| if x <= r.goal { "met" } else { "NOT met" };
            format!("<= {}x: {}; {}", r.goal, met(ratio), met(ratio3))
        };
        println!(
            "{:<52} {:>8} {:>9} {:>6.1}x  {:>8} {:>8} {:>8} {:>8}  {:<11} {:>7} {:>6.1}x  {goal}",
            r.name,
            ms(r.floor),
            ms(r.total),
            ratio,
            ms(r.stages[0]),
            ms(r.stages[1]),
            ms(r.stages[2]),
            ms(r.stages[3]),
            r.kind,
            ms(r.floor3),
            ratio3,
        );
    }
}
