//! Protocol core timings, with no dependency beyond the crate itself.
//!
//! `cargo bench --bench protocol` builds in release mode and prints, for each
//! operation, the median and the minimum time per call over 15 samples (each
//! sample averages many calls). Schemas are realistic trees: 4 node levels
//! (screen, section, row, widget) with a few string and number props.

use lumora_hr_mini::protocol::{
    DEFAULT_INCREMENTAL_THRESHOLD, Schema, UpdatePlan, calculate_checksum, calculate_schema_delta,
    choose_update, create_full_update, create_ping_message, deserialize_message, serialize_message,
};
use serde_json::{Value, json};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "protocol/push.rs"]
mod push;
#[path = "shared/schemas.rs"]
mod schemas;
use schemas::schema_value;

/// Counts the bytes allocated and not yet freed, so memory figures are
/// what the data holds (`/proc` RSS would also count freed memory the
/// allocator keeps).
struct Counting;

static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

// SAFETY: every call is passed straight to the system allocator; the
// counter is only arithmetic on the sizes it is given.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's contract for `dealloc` is passed on.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, std::sync::atomic::Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's contract for `realloc` is passed on.
        unsafe { std::alloc::System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated and not freed.
fn live_bytes() -> usize {
    LIVE.load(std::sync::atomic::Ordering::Relaxed)
}

const SAMPLES: usize = 15;
/// Aim for samples of about this long, so timer noise does not matter.
const SAMPLE_TARGET: Duration = Duration::from_millis(20);
/// Changes one prop of the node `node-{id}`, wherever it is.
fn edit_prop(v: &mut Value, id: usize) {
    fn walk(nodes: &mut [Value], id: &str) -> bool {
        for n in nodes {
            if n["id"] == id {
                n["props"]["text"] = json!("edited");
                return true;
            }
            if let Some(Value::Array(kids)) = n.get_mut("children") {
                if walk(kids, id) {
                    return true;
                }
            }
        }
        false
    }
    let Some(Value::Array(nodes)) = v.get_mut("nodes") else {
        panic!("schema without nodes");
    };
    assert!(walk(nodes, &format!("node-{id}")), "node-{id} not found");
}

/// A schema of `total` nodes and a copy with one prop changed deep inside.
fn pair(total: usize) -> (Schema, Schema) {
    let old = schema_value(total);
    let mut new = old.clone();
    // Deep in the middle of the tree (not a top-level node).
    edit_prop(&mut new, total / 2 + 3);
    let old = Schema::from_value(old).expect("valid");
    let new = Schema::from_value(new).expect("valid");
    assert_eq!(old.node_count(), total);
    (old, new)
}

fn format_duration(secs: f64) -> String {
    if secs < 1e-6 {
        format!("{:8.1} ns", secs * 1e9)
    } else if secs < 1e-3 {
        format!("{:8.2} µs", secs * 1e6)
    } else {
        format!("{:8.3} ms", secs * 1e3)
    }
}

fn report(name: &str, mut per_call: Vec<f64>, calls: usize) {
    per_call.sort_by(f64::total_cmp);
    println!(
        "{name:<52} median {}   min {}   ({SAMPLES} samples x {calls} calls)",
        format_duration(per_call[per_call.len() / 2]),
        format_duration(per_call[0]),
    );
}

/// Times `f`: 15 samples, each the mean of enough calls to last about
/// [`SAMPLE_TARGET`].
fn bench<R>(name: &str, mut f: impl FnMut() -> R) {
    let start = Instant::now();
    black_box(f());
    let once = start.elapsed().as_secs_f64().max(1e-9);
    let calls = ((SAMPLE_TARGET.as_secs_f64() / once) as usize).clamp(1, 1_000_000);
    for _ in 0..calls.min(100) {
        black_box(f()); // warm-up
    }
    let samples = (0..SAMPLES)
        .map(|_| {
            // Results are kept until the clock stops: freeing them is not
            // part of the operation.
            let mut results = Vec::with_capacity(calls);
            let start = Instant::now();
            for _ in 0..calls {
                results.push(black_box(f()));
            }
            let elapsed = start.elapsed();
            drop(results);
            elapsed.as_secs_f64() / calls as f64
        })
        .collect();
    report(name, samples, calls);
}

/// Like [`bench`] for calls that need fresh input each time: `setup`, and
/// freeing the input and the result, run outside the timed region.
fn bench_with_setup<I, R>(
    name: &str,
    calls: usize,
    mut setup: impl FnMut() -> I,
    mut f: impl FnMut(&I) -> R,
) {
    let samples = (0..SAMPLES)
        .map(|_| {
            let mut total = Duration::ZERO;
            for _ in 0..calls {
                let input = setup();
                let start = Instant::now();
                let result = black_box(f(black_box(&input)));
                total += start.elapsed();
                drop((result, input));
            }
            total.as_secs_f64() / calls as f64
        })
        .collect();
    report(name, samples, calls);
}

fn main() {
    if std::env::args().any(|a| a == "--push") {
        // Only the push table: `cargo bench --bench protocol -- --push`.
        push::run();
        return;
    }
    println!("protocol core, per call (median and min of {SAMPLES} samples)");
    println!();

    for total in [100, 1_000, 10_000] {
        let (old, new) = pair(total);
        let d = calculate_schema_delta(&old, &new).expect("expressible");
        assert_eq!(d.modified.len(), 1, "one-prop edit gives one node");
        bench(
            &format!("calculate_schema_delta, {total} nodes, one prop"),
            || calculate_schema_delta(black_box(&old), black_box(&new)),
        );
    }

    let (old, new) = pair(10_000);
    let new_value = new.as_value().clone();
    let _ = old.checksum();
    assert!(matches!(
        choose_update(Some(&old), &new, DEFAULT_INCREMENTAL_THRESHOLD),
        UpdatePlan::Incremental(_)
    ));
    bench_with_setup(
        "choose_update, 10000 nodes (incl. new checksum)",
        10,
        || Schema::from_value(new_value.clone()).expect("valid"),
        |fresh| choose_update(Some(&old), fresh, DEFAULT_INCREMENTAL_THRESHOLD),
    );
    bench("choose_update, 10000 nodes (checksums cached)", || {
        choose_update(Some(&old), &new, DEFAULT_INCREMENTAL_THRESHOLD)
    });
    let bytes = serde_json::to_vec(new.as_value()).expect("encodes").len();
    bench(
        &format!("calculate_checksum, 10000 nodes ({bytes} B)"),
        || calculate_checksum(black_box(new.as_value())),
    );

    let ping = create_ping_message("6f1c2f0e-8d3a-4b7e-9c51-0a2b3c4d5e6f", None);
    let ping_text = serialize_message(&ping);
    bench("serialize_message, ping", || {
        serialize_message(black_box(&ping))
    });
    bench(
        &format!(
            "deserialize_message(validate), ping ({} B)",
            ping_text.len()
        ),
        || deserialize_message(black_box(ping_text.as_bytes()), true).expect("valid"),
    );

    let (schema, _) = pair(1_000);
    let full = create_full_update(
        "6f1c2f0e-8d3a-4b7e-9c51-0a2b3c4d5e6f",
        Arc::new(schema),
        1,
        true,
    );
    let full_text = serialize_message(&full);
    bench("serialize_message, full update 1000 nodes", || {
        serialize_message(black_box(&full))
    });
    bench(
        &format!(
            "deserialize_message(validate), full update 1000 nodes ({} B)",
            full_text.len()
        ),
        || deserialize_message(black_box(full_text.as_bytes()), true).expect("valid"),
    );
    push::run();
}
