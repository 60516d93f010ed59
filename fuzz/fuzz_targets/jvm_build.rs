//! Uploaded ProGuard/R8 mapping bytes must never panic the index builder, and every index it
//! builds must open and remap frames.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if symx_proguard::estimate_build_memory(data).bytes > 512 << 20 {
        return;
    }
    if let Ok(built) = symx_proguard::build_index(data) {
        let idx = symx_proguard::JvmIndex::open(built.bytes).expect("a built index opens");
        let mut st = symx_proguard::TraceState::thrown(Some("java.lang.NullPointerException"));
        for line in [0, 1, 7, 1000] {
            let _ = idx.remap_frame(&mut st, "a", "a", line, None);
        }
        let _ = idx.remap_classes_in("a.b cannot be cast to a.c");
    }
});
