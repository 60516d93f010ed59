//! Stack text pasted into `symx symbolicate` (JavaScript, Java, tombstones, Dart, Apple
//! `.crash` and `.ips`) must never panic its parsers, and a JavaScript frame is always read
//! from a line of the text itself.
#![no_main]
use libfuzzer_sys::fuzz_target;

// The CLI's parsers are one dependency-free file of the `symx` binary: compiled here as they
// are, without the CLI's gRPC stack.
#[allow(dead_code)]
#[path = "../../crates/symx-cli/src/stacktrace.rs"]
mod stacktrace;
use stacktrace::{StackLine, is_apple_ips, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = is_apple_ips(text);
    for line in parse(text) {
        if let StackLine::Frame { raw, .. } = line {
            assert!(text.contains(raw.as_str()), "frame from outside the text: {raw:?}");
        }
    }
});
