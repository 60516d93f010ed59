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
                    let _ = idx.lookup_relative(addr).count();
                }
            }
        }
    }
}

/// Real objects with bytes changed (a deterministic spread over the whole file, so the damage
/// lands in section headers, DWARF and symbol tables, not only the ELF header) and real
/// indexes with bytes changed or cut: each gives an answer or an error, never a panic.
#[test]
fn damaged_objects_and_indexes_never_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/native/edges");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in ["edges", "edges-clang", "edges-dwarf4", "edges-symtab"] {
        let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let built = symx_native::build_all(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let index = built[0].bytes.clone();
        let mut reached_build = 0;
        for _ in 0..60 {
            let mut damaged = bytes.clone();
            for _ in 0..4 {
                let at = (next() as usize) % damaged.len();
                damaged[at] = next() as u8;
            }
            let _ = symx_native::inspect_all(&damaged);
            if let Ok(all) = symx_native::build_all(&damaged) {
                reached_build += 1;
                for b in all {
                    let idx = symx_native::NativeIndex::open(b.bytes).expect("a built index opens");
                    for addr in [0u64, 0x1000, 0x1139, 0x11f0, u64::MAX] {
                        let _ = idx.lookup_relative(addr).count();
                    }
                }
            }
        }
        // Most single-byte damage leaves an object the builder reads through.
        assert!(
            reached_build > 10,
            "{name}: only {reached_build} of 60 built"
        );
        for round in 0..200 {
            let mut damaged = index.clone();
            for _ in 0..3 {
                let at = (next() as usize) % damaged.len();
                damaged[at] = next() as u8;
            }
            if round % 4 == 0 {
                damaged.truncate((next() as usize) % (damaged.len() + 1));
            }
            if let Ok(idx) = symx_native::NativeIndex::open(damaged) {
                for addr in [0u64, 0x1000, 0x1139, 0x11f0, u64::MAX] {
                    let _ = idx.lookup_relative(addr).count();
                }
            }
        }
    }
}
