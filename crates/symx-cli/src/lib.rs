//! The parts of the `symx` CLI that other crates use: the raw stack-text parsers (also a
//! fuzz target, `fuzz/fuzz_targets/stacktrace_text.rs`).

pub mod stacktrace;
