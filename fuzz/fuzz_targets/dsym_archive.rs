//! Uploaded dSYM archive bytes must never panic the archive reader, and extraction never
//! writes past the limits.
#![no_main]
use libfuzzer_sys::fuzz_target;
use symx_native::dsym::{DsymArchive, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_total_bytes: 1 << 20,
        ..Limits::default()
    };
    if let Ok(mut archive) = DsymArchive::open(std::io::Cursor::new(data), &limits) {
        for entry in archive.dwarf_files().to_vec() {
            let mut out = Vec::new();
            if archive.extract(&entry, &mut out).is_ok() {
                assert!(out.len() as u64 <= limits.max_total_bytes);
            }
        }
    }
});
