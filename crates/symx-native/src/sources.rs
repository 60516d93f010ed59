//! Source bundles: zip archives of the source files a debug file names, uploaded beside it so
//! the symbol server can answer debuginfod's `/source/<path>` and Symbolicator's
//! `sourcebundle`.
//!
//! Two shapes are read: Sentry's source bundle (`sentry-cli debug-files bundle-sources`: the
//! magic `SYSB` and a version before the zip, whose offsets count them, so the zip reader
//! takes the file as it is; a `manifest.json` maps each entry to the original path of its
//! file), and a plain zip whose entry names are the paths (`zip -r
//! sources.zip /src/app` stores `src/app/...`: a leading `/` is implied). Both are hostile
//! input, checked like dSYM archives (entry count, expansion, ratio, unsafe names).

use crate::Error;
use crate::dsym::{Limits, extract_entry, invalid, open_checked};
use std::io::{Read, Seek, Write};

/// One source file of a bundle.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceFile {
    /// The file's path as the debug information names it (absolute on the build machine).
    pub path: String,
    /// The entry of the archive that holds it.
    pub entry: String,
    pub size: u64,
}

/// The manifest of a Sentry source bundle (only what is read).
#[derive(serde::Deserialize)]
struct Manifest {
    #[serde(default)]
    files: std::collections::BTreeMap<String, ManifestFile>,
}

#[derive(serde::Deserialize)]
struct ManifestFile {
    #[serde(default)]
    path: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// The source files of a bundle, sorted by path. Refuses archives past `limits`, and bundles
/// without a single file.
pub fn bundle_files<R: Read + Seek>(reader: R, limits: &Limits) -> Result<Vec<SourceFile>, Error> {
    let (mut zip, entries) = open_checked(reader, limits)?;
    let manifest = match entries.iter().find(|e| e.name == "manifest.json") {
        Some(m) if m.size <= 16 << 20 => {
            let mut text = Vec::with_capacity(m.size as usize);
            extract_entry(&mut zip, m.index, &m.name, m.size, &mut text)?;
            Some(
                serde_json::from_slice::<Manifest>(&text)
                    .map_err(|e| invalid(format!("manifest.json: {e}")))?,
            )
        }
        Some(_) => return Err(invalid("manifest.json is larger than 16 MiB")),
        None => None,
    };
    let mut files: Vec<SourceFile> = Vec::new();
    for e in entries.iter().filter(|e| !e.is_dir) {
        let path = match &manifest {
            Some(m) => match m.files.get(&e.name) {
                Some(f) if f.kind.as_deref().is_none_or(|k| k == "source") => {
                    f.path.clone().unwrap_or_else(|| format!("/{}", e.name))
                }
                _ => continue,
            },
            None => format!("/{}", e.name),
        };
        files.push(SourceFile {
            path,
            entry: e.name.clone(),
            size: e.size,
        });
    }
    if files.is_empty() {
        return Err(invalid("the source bundle holds no source file"));
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Writes the entry `entry` (of the size `size` listed by [`bundle_files`]) to `out`.
pub fn extract<R: Read + Seek>(
    reader: R,
    limits: &Limits,
    entry: &SourceFile,
    out: &mut impl Write,
) -> Result<u64, Error> {
    let (mut zip, entries) = open_checked(reader, limits)?;
    let found = entries
        .iter()
        .find(|e| e.name == entry.entry)
        .ok_or_else(|| invalid(format!("no entry `{}` in the bundle", entry.entry)))?;
    extract_entry(&mut zip, found.index, &found.name, found.size, out)
}

/// The file of `files` (sorted by path) a client's path names: the same path, with or without
/// its leading `/`, and with `\` read as `/` (Windows paths).
pub fn find<'a>(files: &'a [SourceFile], asked: &str) -> Option<&'a SourceFile> {
    let norm = |p: &str| p.replace('\\', "/").trim_start_matches('/').to_owned();
    let want = norm(asked);
    files.iter().find(|f| norm(&f.path) == want)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixture as fixture;
    use std::io::Cursor;

    /// The bundle sentry-cli made of the source fixture's debug file: its manifest's path,
    /// and the program's source byte for byte.
    #[test]
    fn a_sentry_source_bundle_lists_and_extracts_its_files() {
        let bundle = fixture("sources/app.src.zip");
        let files = bundle_files(Cursor::new(&bundle), &Limits::default()).expect("bundle");
        assert!(files.iter().all(|f| f.path.starts_with('/')), "{files:?}");
        let asked = files
            .iter()
            .find(|f| f.path.ends_with("/sources/app.c"))
            .expect("app.c")
            .path
            .clone();
        let file = find(&files, &asked).expect("found by its path");
        assert_eq!(find(&files, asked.trim_start_matches('/')), Some(file));
        let mut out = Vec::new();
        extract(Cursor::new(&bundle), &Limits::default(), file, &mut out).expect("extract");
        assert_eq!(out, fixture("sources/app.c"));
        assert!(find(&files, "/nowhere/else.c").is_none());
    }

    #[test]
    fn a_plain_zip_names_its_paths_and_garbage_is_refused() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file("src/app/main.c", zip::write::SimpleFileOptions::default())
            .expect("start");
        w.write_all(b"int main() { return 0; }\n").expect("write");
        let zip = w.finish().expect("finish").into_inner();
        let files = bundle_files(Cursor::new(&zip), &Limits::default()).expect("plain zip");
        assert_eq!(files[0].path, "/src/app/main.c");
        assert!(bundle_files(Cursor::new(b"SYSB\x02\0\0\0garbage"), &Limits::default()).is_err());
        let tight = Limits {
            max_total_bytes: 4,
            ..Limits::default()
        };
        assert!(bundle_files(Cursor::new(&zip), &tight).is_err());
    }
}
