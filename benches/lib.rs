//! Benchmarks of dp-audit live in this crate's `[[bench]]` targets
//! (`samplers.rs`, `scrub.rs`); the library itself is empty. A separate
//! crate keeps their heavy dependencies out of `cargo test -p dp-audit`.
