//! Uploaded IL2CPP line mapping bytes must never panic the index builder, and every index it
//! builds must open and answer lookups.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(built) = symx_il2cpp::build_index(data) {
        let idx = symx_il2cpp::Il2cppIndex::open(&built.bytes).expect("a built index opens");
        for line in [0, 1, 100, u32::MAX] {
            let _ = idx.lookup("a.cpp", line);
        }
    }
});
