//! Inputs `cargo fuzz` found crashing the index builder (`fuzz/run.sh`, `native_build`),
//! kept as regression tests on stable: each must give an answer (an index or an error),
//! never a panic. The files are in `tests/fixtures/native/fuzz/` (see its README).

use std::path::PathBuf;

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/native/fuzz")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn fuzz_found_inputs_do_not_panic_the_builder() {
    for name in ["pdb-crash-1ca71445"] {
        let bytes = fixture(name);
        // Identifiers are read through the same readers.
        let _ = symx_native::inspect_all(&bytes);
        if let Ok(all) = symx_native::build_all(&bytes) {
            for built in all {
                let idx = symx_native::NativeIndex::open(built.bytes).expect("a built index opens");
                for addr in [0u64, 1, 0x1000, u64::MAX] {
                    let _ = idx.lookup_relative(addr);
                }
            }
        }
    }
}
