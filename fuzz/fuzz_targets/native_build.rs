//! Uploaded object bytes (ELF, Mach-O, PE, PDB) must never panic the index builder, and every
//! index it builds must open and answer lookups.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: {
    // libfuzzer-sys aborts on every panic. symx-native turns a panic inside a dependency's
    // reader into an error (hostile input reaches their bugs; the server must answer, not
    // crash), so those unwind to that guard; a panic in symx's own code still aborts.
    let abort_on_panic = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_dependency = info
            .location()
            .is_some_and(|l| l.file().contains("/.cargo/registry/"));
        if !in_dependency {
            abort_on_panic(info);
        }
    }));
}, |data: &[u8]| {
    if let Ok(all) = symx_native::build_all(data) {
        for built in all {
            let idx = symx_native::NativeIndex::open(built.bytes).expect("a built index opens");
            for addr in [0u64, 1, 0x1000, u64::MAX] {
                let _ = idx.lookup_relative(addr).count();
            }
        }
    }
});
