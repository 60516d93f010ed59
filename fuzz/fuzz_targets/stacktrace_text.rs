//! Stack text pasted into `symx symbolicate` (JavaScript, Java, tombstones, Dart, Apple
//! `.crash` and `.ips`) must never panic its parsers, and a JavaScript frame is always read
//! from a line of the text itself.
#![no_main]
use libfuzzer_sys::fuzz_target;

// The parsers the CLI and the console share (`symx_types::stacktrace`).
use symx_types::stacktrace::{StackLine, is_apple_ips, parse};

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
