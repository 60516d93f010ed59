//! Uploaded source map + minified file bytes must never panic the index builder, and every
//! index it builds must open and answer lookups.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Split the input: the first byte says where the minified file starts.
    let cut = data.first().map(|b| *b as usize * data.len() / 256).unwrap_or(0);
    let (map, minified) = data.split_at(cut.min(data.len()));
    if let Ok(built) = symx_sourcemap::build_index(map, Some(minified)) {
        let idx = symx_sourcemap::JsIndex::open(built.bytes).expect("a built index opens");
        for line in 1..4 {
            for col in [1, 2, 10, 1000] {
                let _ = idx.resolve(line, col, 3);
            }
        }
    }
});
