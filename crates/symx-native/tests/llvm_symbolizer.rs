//! The ELF fixture (tests/fixtures/native/elf, built by its build.sh with g++ -O2 -g) resolved
//! by our index, compared with llvm-symbolizer's answers stored beside it.

use serde::Deserialize;
use std::path::PathBuf;
use symx_native::{NativeIndex, build_index, inspect};

#[derive(Deserialize)]
struct Expected {
    address: u64,
    frames: Vec<Frame>,
}

#[derive(Deserialize)]
struct Frame {
    function: String,
    file: String,
    line: u32,
}

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/native/elf")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// llvm-symbolizer names inlined frames by their short DWARF name (`line_total`), symbolic by
/// the demangled linkage name (`shop::line_total(shop::Order const&)`): compare the last path
/// component without parameters.
fn base(function: &str) -> &str {
    let no_params = function.split('(').next().unwrap_or(function);
    no_params.rsplit("::").next().unwrap_or(no_params)
}

fn check(file: &str) {
    let built = build_index(&fixture(file)).expect("index builds");
    let idx = NativeIndex::open(built.bytes.as_slice()).expect("index opens");
    let expected: Vec<Expected> =
        serde_json::from_slice(&fixture("expected.json")).expect("expected.json");
    assert!(expected.len() > 40);
    let mut inline_chains = 0;
    for e in &expected {
        let got: Vec<_> = idx.lookup_vaddr(e.address).collect();
        assert_eq!(
            got.len(),
            e.frames.len(),
            "{file} {:#x}: {got:?}",
            e.address
        );
        for (g, w) in got.iter().zip(&e.frames) {
            assert_eq!(
                base(g.function),
                base(&w.function),
                "{file} {:#x}",
                e.address
            );
            assert_eq!(g.line, w.line, "{file} {:#x} {}", e.address, w.function);
            let gf = g.file.unwrap_or_default();
            assert!(
                gf.ends_with(&w.file),
                "{file} {:#x}: {gf} vs {}",
                e.address,
                w.file
            );
        }
        if got.len() > 1 {
            inline_chains += 1;
            assert!(got[..got.len() - 1].iter().all(|f| f.inlined));
            assert!(!got[got.len() - 1].inlined);
        }
    }
    assert!(
        inline_chains >= 3,
        "the fixture must exercise inline chains"
    );
}

#[test]
fn full_binary_matches_llvm_symbolizer() {
    check("crash");
}

#[test]
fn split_debug_file_matches_llvm_symbolizer() {
    check("crash.debug");
}

#[test]
fn identifiers_are_read_from_the_file() {
    let full = inspect(&fixture("crash")).expect("inspect");
    let debug = inspect(&fixture("crash.debug")).expect("inspect");
    let stripped = inspect(&fixture("crash.stripped")).expect("inspect");
    assert_eq!(full.format, "elf");
    assert_eq!(full.arch, "x86_64");
    // The GNU build id (`readelf -n`) is the code id, and the same in all three files.
    let code_id = full.code_id.clone().expect("build id");
    assert_eq!(code_id.len(), 40);
    assert_eq!(debug.code_id.as_deref(), Some(code_id.as_str()));
    assert_eq!(stripped.code_id.as_deref(), Some(code_id.as_str()));
    assert_eq!(full.debug_id, debug.debug_id);
    assert!(full.has_debug_info && debug.has_debug_info && !stripped.has_debug_info);
}

#[test]
fn demangled_names_keep_the_mangled_one() {
    let built = build_index(&fixture("crash")).expect("index builds");
    let idx = NativeIndex::open(built.bytes).expect("opens");
    let expected: Vec<Expected> =
        serde_json::from_slice(&fixture("expected.json")).expect("expected.json");
    let total = expected
        .iter()
        .find(|e| e.frames.len() == 1 && e.frames[0].function.starts_with("shop::total"))
        .expect("an address in shop::total");
    let f = idx.lookup_vaddr(total.address).next().expect("a frame");
    assert_eq!(f.function, "shop::total(shop::Order const*, int)");
    assert_eq!(f.mangled, Some("_ZN4shop5totalEPKNS_5OrderEi"));
    assert!(f.function_offset.is_some());
    // `main` is no mangled name.
    let main = expected
        .iter()
        .find(|e| e.frames.last().is_some_and(|f| f.function == "main"))
        .expect("an address in main");
    let outermost = idx.lookup_vaddr(main.address).last().expect("frames");
    assert_eq!((outermost.function, outermost.mangled), ("main", None));
}

#[test]
fn garbage_and_truncated_objects_are_errors() {
    assert!(build_index(b"not an object").is_err());
    let full = fixture("crash");
    for cut in [4, 64, 1000, full.len() / 2] {
        let _ = build_index(&full[..cut]);
    }
    assert!(
        NativeIndex::open(&b"SYMXNAT2\0\0\0\0\0\0\0\0\xff\xff\0\0\0\0\0\0garbage"[..]).is_err()
    );
    let built = build_index(&full).expect("builds");
    for cut in [0, 20, 30, built.bytes.len() / 2, built.bytes.len() - 1] {
        if let Ok(idx) = NativeIndex::open(&built.bytes[..cut]) {
            let _ = idx.lookup_vaddr(0x1190).count();
        }
    }
}

/// An index written by an older version says so (the service then rebuilds it from the stored
/// file instead of failing the frame).
#[test]
fn older_index_versions_are_told_apart_from_corruption() {
    let mut old = build_index(&fixture("crash")).expect("builds").bytes;
    old[7] = b'2';
    assert!(matches!(
        NativeIndex::open(&old[..]),
        Err(symx_native::Error::IndexVersion(v)) if v == "SYMXNAT2"
    ));
    let mut corrupt = build_index(&fixture("crash")).expect("builds").bytes;
    corrupt[0] = b'X';
    assert!(matches!(
        NativeIndex::open(&corrupt[..]),
        Err(symx_native::Error::BadIndex(_))
    ));
}
