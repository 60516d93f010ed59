//! Uploaded source map + minified file bytes must never panic the index builder, and every
//! index it builds must open and answer lookups. The memory estimate that guards the build
//! (`symx_sourcemap::measure`) must accept every map the builder accepts (else an upload the
//! builder could index would be refused), and must bound what it builds here too.
#![no_main]
use libfuzzer_sys::fuzz_target;

/// The build memory this target lets through (the fuzzer's RSS limit is 2 GiB).
const MAX_BUILD: u64 = 512 << 20;

fuzz_target!(|data: &[u8]| {
    // Split the input: the first byte says where the minified file starts.
    let cut = data.first().map(|b| *b as usize * data.len() / 256).unwrap_or(0);
    let (map, minified) = data.split_at(cut.min(data.len()));
    let shape = symx_sourcemap::measure(map);
    if let Ok(shape) = &shape
        && shape.build_bytes(Some(minified)) > MAX_BUILD
    {
        return;
    }
    if let Ok(built) = symx_sourcemap::build_index(map, Some(minified)) {
        assert!(shape.is_ok(), "the builder accepts a map the estimate refuses: {shape:?}");
        let idx = symx_sourcemap::JsIndex::open(built.bytes).expect("a built index opens");
        for line in 1..4 {
            for col in [1, 2, 10, 1000] {
                let _ = idx.resolve(line, col, 3);
            }
        }
    }
});
