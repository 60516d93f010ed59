//! Read-only memory maps of spool files, so index builds read large uploads in place instead
//! of copying them to the heap (a 500 MB debug file must not need 500 MB of RAM).
//!
//! This is the one module of the service with `unsafe`: `memmap2::Mmap::map` is unsafe because
//! another process truncating or rewriting the file while it is mapped would change memory
//! under our feet. The files mapped here are the service's own spool files: created by this
//! process in its private spool directory, fully written and closed before they are mapped,
//! and removed only after the map is dropped. Nothing else writes them.
#![allow(unsafe_code)]

use std::path::Path;

/// A mapped file; empty files are not mapped (mapping zero bytes fails on some systems).
pub(crate) struct Mapped {
    map: Option<memmap2::Mmap>,
}

impl Mapped {
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Ok(Self { map: None });
        }
        // SAFETY: see the module documentation: a private spool file nobody else writes.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(Self { map: Some(map) })
    }
}

impl std::ops::Deref for Mapped {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.map.as_deref().unwrap_or_default()
    }
}
