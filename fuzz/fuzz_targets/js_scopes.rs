//! Any text must scan without panicking, and scopes must be well-formed.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let scopes = symx_sourcemap::scopes::find_scopes(text);
        for s in &scopes {
            assert!(s.start <= s.end, "scope ends before it starts: {s:?}");
        }
        let _ = symx_sourcemap::scopes::breakpoints(&scopes);
    }
});
