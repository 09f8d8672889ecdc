//! The schema's bytes and their node index, from the `lumora-index`
//! crate (`crates/index`, built at opt-level 3), and the delta computed on
//! two indexes.

pub(crate) use lumora_index::*;

pub(crate) mod delta;
