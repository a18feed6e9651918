//! Criterion benches of the crate family beside the peer crates; see `benches/`.
//!
//! Run them with `cargo bench -p benches`; each group holds one case per implementation on
//! the same input, so the report reads as a ratio.
#![forbid(unsafe_code)]
