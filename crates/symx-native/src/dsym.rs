//! dSYM archives: zips of one or more `.dSYM` bundles, as Xcode exports them and datadog-ci
//! uploads them. The DWARF files sit at `<name>.dSYM/Contents/Resources/DWARF/<binary>`; each
//! is a Mach-O file, thin or fat.
//!
//! Archives are hostile input. Before anything is extracted, [`DsymArchive::open`] checks the
//! central directory against [`Limits`]: entry count, total declared expansion, per-entry
//! compression ratio (a zip bomb inflates far beyond what DWARF does: dSYMs compress about 4 to
//! 6 times), and paths that leave the archive (absolute, `..`). Extraction then refuses to
//! write past an entry's declared size, so a lying header gains nothing.

use crate::Error;
use std::io::{Read, Seek, Write};
use zip::ZipArchive;

/// Bounds on what an archive may hold.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Entries in the central directory (a dSYM bundle has a handful; 10,000 leaves room for
    /// archives of many bundles).
    pub max_entries: usize,
    /// Sum of the declared uncompressed sizes of all entries.
    pub max_total_bytes: u64,
    /// Uncompressed / compressed size above which an entry (of more than 1 MiB) is a bomb.
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            // Twice the 500 MB upload limit: DWARF rarely compresses beyond 6x, and a bigger
            // expansion would hold the spool disk for little gain.
            max_total_bytes: 4 << 30,
            max_ratio: 100,
        }
    }
}

/// A DWARF file inside the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DwarfEntry {
    /// The path inside the archive.
    pub path: String,
    /// Declared uncompressed size.
    pub size: u64,
    index: usize,
}

/// An opened, checked archive.
pub struct DsymArchive<R> {
    zip: ZipArchive<R>,
    dwarf: Vec<DwarfEntry>,
}

impl<R> std::fmt::Debug for DsymArchive<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DsymArchive")
            .field("dwarf", &self.dwarf)
            .finish()
    }
}

pub(crate) fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidArchive(msg.into())
}

/// True for `<anything>.dSYM/Contents/Resources/DWARF/<file>`.
fn is_dwarf_path(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    let n = parts.len();
    n >= 5
        && parts[n - 5].ends_with(".dSYM")
        && parts[n - 4] == "Contents"
        && parts[n - 3] == "Resources"
        && parts[n - 2] == "DWARF"
        && !parts[n - 1].is_empty()
        // AppleDouble files (`._name`) and `__MACOSX/` copies carry Finder metadata, no code.
        && !parts[n - 1].starts_with("._")
        && parts[0] != "__MACOSX"
}

/// One entry of a checked archive.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub name: String,
    pub size: u64,
    pub index: usize,
    pub is_dir: bool,
}

/// Opens a zip archive and checks its central directory against `limits` (entry count, total
/// expansion, per-entry ratio, unsafe paths); extracts nothing. Shared by dSYM archives and
/// source bundles.
pub(crate) fn open_checked<R: Read + Seek>(
    reader: R,
    limits: &Limits,
) -> Result<(ZipArchive<R>, Vec<Entry>), Error> {
    let mut zip =
        ZipArchive::new(reader).map_err(|e| invalid(format!("not a readable zip archive: {e}")))?;
    if zip.len() > limits.max_entries {
        return Err(invalid(format!(
            "{} entries, more than the limit of {}",
            zip.len(),
            limits.max_entries
        )));
    }
    let mut total: u64 = 0;
    let mut entries = Vec::with_capacity(zip.len());
    for index in 0..zip.len() {
        let entry = zip
            .by_index_raw(index)
            .map_err(|e| invalid(format!("entry {index}: {e}")))?;
        let name = entry.name().to_owned();
        // `enclosed_name` takes `/tmp/x` for `tmp/x`: absolute names and drive letters are
        // refused here, as the module docs say.
        let absolute = name.starts_with('/')
            || (name.len() >= 2
                && name.as_bytes()[1] == b':'
                && name.as_bytes()[0].is_ascii_alphabetic());
        if absolute || entry.enclosed_name().is_none() || name.contains('\\') {
            return Err(invalid(format!(
                "entry `{name}` has an unsafe path (absolute, `..` or backslashes)"
            )));
        }
        let (size, packed) = (entry.size(), entry.compressed_size());
        total = total.saturating_add(size);
        if total > limits.max_total_bytes {
            return Err(invalid(format!(
                "entries expand to more than the limit of {} bytes (at `{name}`)",
                limits.max_total_bytes
            )));
        }
        if size > 1 << 20 && size / packed.max(1) > limits.max_ratio {
            return Err(invalid(format!(
                "entry `{name}` expands {size} bytes from {packed} (more than {}:1): \
                 rejected as a zip bomb",
                limits.max_ratio
            )));
        }
        entries.push(Entry {
            is_dir: entry.is_dir(),
            name,
            size,
            index,
        });
    }
    Ok((zip, entries))
}

/// Writes one entry of a checked archive to `out`; never more than its declared size.
pub(crate) fn extract_entry<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    index: usize,
    name: &str,
    size: u64,
    out: &mut impl Write,
) -> Result<u64, Error> {
    let file = zip
        .by_index(index)
        .map_err(|e| invalid(format!("entry `{name}`: {e}")))?;
    // One byte past the declared size tells a lying header from an honest one.
    let mut limited = file.take(size.saturating_add(1));
    let n = std::io::copy(&mut limited, out)
        .map_err(|e| invalid(format!("entry `{name}` cannot be read: {e}")))?;
    if n != size {
        return Err(invalid(format!(
            "entry `{name}` holds {} bytes, not the {size} its header declares",
            if n > size {
                "more".to_owned()
            } else {
                n.to_string()
            },
        )));
    }
    Ok(n)
}

impl<R: Read + Seek> DsymArchive<R> {
    /// Reads and checks the central directory; extracts nothing.
    pub fn open(reader: R, limits: &Limits) -> Result<Self, Error> {
        let (zip, entries) = open_checked(reader, limits)?;
        let dwarf: Vec<DwarfEntry> = entries
            .into_iter()
            .filter(|e| !e.is_dir && is_dwarf_path(&e.name))
            .map(|e| DwarfEntry {
                path: e.name,
                size: e.size,
                index: e.index,
            })
            .collect();
        if dwarf.is_empty() {
            return Err(invalid(
                "no DWARF file in the archive (expected <name>.dSYM/Contents/Resources/DWARF/<binary>)",
            ));
        }
        Ok(Self { zip, dwarf })
    }

    /// The DWARF files, in archive order.
    pub fn dwarf_files(&self) -> &[DwarfEntry] {
        &self.dwarf
    }

    /// Writes one DWARF file to `out`; never more than its declared size.
    pub fn extract(&mut self, entry: &DwarfEntry, out: &mut impl Write) -> Result<u64, Error> {
        extract_entry(&mut self.zip, entry.index, &entry.path, entry.size, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use zip::write::SimpleFileOptions;

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, SimpleFileOptions::default())
                .expect("start");
            w.write_all(data).expect("write");
        }
        w.finish().expect("finish").into_inner()
    }

    #[test]
    fn finds_dwarf_files_and_skips_the_rest() {
        let zip = archive(&[
            ("a.dSYM/Contents/Info.plist", b"<plist/>"),
            ("a.dSYM/Contents/Resources/DWARF/a", b"dwarf-a"),
            ("x/b.framework.dSYM/Contents/Resources/DWARF/b", b"dwarf-b"),
            ("__MACOSX/a.dSYM/Contents/Resources/DWARF/._a", b"meta"),
        ]);
        let mut a = DsymArchive::open(Cursor::new(zip), &Limits::default()).expect("open");
        let paths: Vec<_> = a.dwarf_files().iter().map(|e| e.path.clone()).collect();
        assert_eq!(
            paths,
            [
                "a.dSYM/Contents/Resources/DWARF/a",
                "x/b.framework.dSYM/Contents/Resources/DWARF/b"
            ]
        );
        let entry = a.dwarf_files()[1].clone();
        let mut out = Vec::new();
        assert_eq!(a.extract(&entry, &mut out).expect("extract"), 7);
        assert_eq!(out, b"dwarf-b");
    }

    #[test]
    fn rejects_path_tricks_bombs_and_empty_archives() {
        let err = |zip: Vec<u8>, limits: &Limits| {
            DsymArchive::open(Cursor::new(zip), limits)
                .expect_err("must fail")
                .to_string()
        };
        let l = Limits::default();
        let e = err(
            archive(&[("../a.dSYM/Contents/Resources/DWARF/a", b"x")]),
            &l,
        );
        assert!(e.contains("unsafe path"), "{e}");
        let e = err(archive(&[("a.dSYM/../../etc/passwd", b"x")]), &l);
        assert!(e.contains("unsafe path"), "{e}");
        for absolute in [
            "/tmp/evil.dSYM/Contents/Resources/DWARF/a",
            "C:/evil.dSYM/Contents/Resources/DWARF/a",
        ] {
            let e = err(archive(&[(absolute, b"x")]), &l);
            assert!(e.contains("unsafe path"), "{absolute}: {e}");
        }
        let e = err(archive(&[("a.dSYM/Contents/Info.plist", b"x")]), &l);
        assert!(e.contains("no DWARF file"), "{e}");
        let zeros = vec![0u8; 8 << 20];
        let e = err(
            archive(&[("a.dSYM/Contents/Resources/DWARF/a", &zeros)]),
            &l,
        );
        assert!(e.contains("zip bomb"), "{e}");
        let small = Limits {
            max_total_bytes: 10,
            ..Limits::default()
        };
        let e = err(
            archive(&[("a.dSYM/Contents/Resources/DWARF/a", b"0123456789ab")]),
            &small,
        );
        assert!(e.contains("more than the limit of 10 bytes"), "{e}");
        let e = err(b"PK\x03\x04 not really".to_vec(), &l);
        assert!(e.contains("not a readable zip archive"), "{e}");
    }
}
