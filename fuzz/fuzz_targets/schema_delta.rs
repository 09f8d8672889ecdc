//! Two schemas (the input's two halves): when both are valid, the computed
//! delta turns the first into the second exactly.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lumora_hr_mini::protocol::{
    DEFAULT_INCREMENTAL_THRESHOLD, Schema, UpdatePlan, apply_schema_delta, calculate_schema_delta,
    choose_update,
};

fuzz_target!(|data: &[u8]| {
    let (a, b) = data.split_at(data.len() / 2);
    let (Ok(old), Ok(new)) = (Schema::from_slice(a), Schema::from_slice(b)) else {
        return;
    };
    match calculate_schema_delta(&old, &new) {
        Some(delta) => {
            let applied = apply_schema_delta(&old, &delta)
                .unwrap_or_else(|e| panic!("delta does not apply: {e}\n{delta:?}"));
            assert_eq!(applied, new, "apply(old, delta) != new\n{delta:?}");
            assert_eq!(applied.checksum(), new.checksum());
        }
        None => {
            // Only a top-level key newly set to null cannot be expressed.
            let (Some(o), Some(n)) = (old.as_value().as_object(), new.as_value().as_object())
            else {
                panic!("schemas are objects");
            };
            assert!(
                n.iter().any(|(k, v)| k != "nodes"
                    && v.is_null()
                    && !o.get(k).is_some_and(|was| was.is_null())),
                "no delta for an expressible change"
            );
        }
    }
    if let UpdatePlan::Incremental(delta) =
        choose_update(Some(&old), &new, DEFAULT_INCREMENTAL_THRESHOLD)
    {
        let applied = apply_schema_delta(&old, &delta)
            .unwrap_or_else(|e| panic!("chosen delta does not apply: {e}\n{delta:?}"));
        assert_eq!(applied, new);
    }
});
