//! Uploaded object bytes (ELF, Mach-O, PE, PDB) must never panic the index builder, and every
//! index it builds must open and answer lookups.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(all) = symx_native::build_all(data) {
        for built in all {
            let idx = symx_native::NativeIndex::open(built.bytes).expect("a built index opens");
            for addr in [0u64, 1, 0x1000, u64::MAX] {
                let _ = idx.lookup_relative(addr);
            }
        }
    }
});
