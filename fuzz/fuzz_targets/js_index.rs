//! Stored index bytes (a corrupted disk, a bug in an older version) must never panic a lookup.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(idx) = symx_sourcemap::JsIndex::open(data) {
        let _ = idx.minified_line_lengths();
        for line in 0..4 {
            for col in [0, 1, 7, 100] {
                let _ = idx.resolve(line, col, 2);
                let _ = idx.function_at(line, col);
            }
        }
    }
});
