//! What the symbol server reads of stored files must never panic on any bytes: source bundles
//! (listed and extracted within the limits), ELF section headers, Mach-O slices.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::Cursor;
use symx_native::dsym::Limits;
use symx_native::{layout, sources};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_total_bytes: 1 << 20,
        ..Limits::default()
    };
    if let Ok(files) = sources::bundle_files(Cursor::new(data), &limits) {
        for f in &files {
            let mut out = Vec::new();
            if sources::extract(Cursor::new(data), &limits, f, &mut out).is_ok() {
                assert_eq!(out.len() as u64, f.size);
            }
            assert!(sources::find(&files, &f.path).is_some());
        }
    }
    for name in [".debug_info", ".text", ".symtab"] {
        if let Ok(Some(layout::ElfSection::Bytes(r))) = layout::elf_section(Cursor::new(data), name) {
            assert!(r.offset.checked_add(r.size).is_some());
        }
    }
    if let Ok(slices) = layout::macho_slices(data) {
        for s in slices {
            assert_eq!(s.uuid.len(), 32);
            assert!(s.range.offset + s.range.size <= data.len() as u64);
        }
    }
});
