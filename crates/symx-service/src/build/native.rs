//! Native uploads: reading identifiers, checking them against the metadata (or filling them
//! in), and building one index per object: per architecture slice of every DWARF file of a
//! dSYM archive, else one. The format work is `symx_native`'s; this module decides which
//! files, which identifiers and which errors.

use crate::error::{Result, ServiceError};
use crate::lookups::Lookup;
use crate::mapped::Mapped;
use std::path::Path;
use symx_native::{BuiltNative, ObjectInfo, dsym};
use symx_types::{ArtifactKind, UploadMetadata};

/// What a native upload yields: indexes (named `native/<n>`), lookup entries, the debug id
/// shown in listings.
#[derive(Debug, Default)]
pub(crate) struct NativeBuild {
    pub indexes: Vec<(String, Vec<u8>)>,
    pub lookups: Vec<Lookup>,
    pub debug_id: Option<String>,
}

/// The name of a native index of an artifact (one per object).
pub(crate) fn index_name(n: usize) -> String {
    format!("native/{n}")
}

/// A PDB GUID as 32 lowercase hex digits, whatever way it was written (braces, dashes, case).
fn guid_hex(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl NativeBuild {
    fn add(&mut self, built: BuiltNative) {
        let info = &built.info;
        self.lookups.push(Lookup::debug_id(&info.debug_id));
        if let Some(code) = info.code_id.as_deref().filter(|c| !c.is_empty()) {
            self.lookups.push(Lookup::code_id(code));
        }
        if let Some(go) = &info.go_build_id {
            self.lookups
                .push(Lookup::GoBuildId(go.to_ascii_lowercase()));
        }
        self.debug_id.get_or_insert_with(|| info.debug_id.clone());
        let name = index_name(self.indexes.len());
        self.indexes.push((name, built.bytes));
    }
}

/// Checks `given` (a metadata field) against the file's value, or fills it in.
fn check_or_fill(
    field: &mut Option<String>,
    name: &str,
    found: Option<&str>,
    what: &str,
    same: impl Fn(&str, &str) -> bool,
) -> Result<()> {
    match (field.as_deref().filter(|s| !s.is_empty()), found) {
        (Some(given), Some(found)) if !same(given, found) => Err(ServiceError::invalid(
            name,
            format!("{name} {given} does not match the file's {what} {found}"),
        )),
        (None, Some(found)) => {
            *field = Some(found.to_owned());
            Ok(())
        }
        _ => Ok(()),
    }
}

fn eq_hex(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Builds the indexes of a native upload whose file part `part` is spooled at `path`.
/// `scratch` is a directory for files extracted from archives.
pub(crate) fn build(
    kind: ArtifactKind,
    meta: &mut UploadMetadata,
    part: &str,
    path: &Path,
    scratch: &Path,
    limits: &dsym::Limits,
) -> Result<NativeBuild> {
    let at_part = |e: symx_native::Error| ServiceError {
        field: Some(part.into()),
        ..ServiceError::from(e)
    };
    let mut out = NativeBuild::default();
    match kind {
        ArtifactKind::Ios => {
            let file = std::fs::File::open(path)?;
            let mut archive =
                dsym::DsymArchive::open(std::io::BufReader::new(file), limits).map_err(at_part)?;
            let mut found: Vec<(String, String)> = Vec::new();
            for (i, entry) in archive.dwarf_files().to_vec().into_iter().enumerate() {
                let extracted = scratch.join(format!("dwarf-{i}"));
                let mut w = std::io::BufWriter::new(std::fs::File::create(&extracted)?);
                archive.extract(&entry, &mut w).map_err(at_part)?;
                std::io::Write::flush(&mut w)?;
                drop(w);
                let mapped = Mapped::open(&extracted)?;
                let slices = symx_native::build_all(&mapped)
                    .map_err(|e| ServiceError::invalid(part, format!("{}: {e}", entry.path)))?;
                for built in slices {
                    let info = &built.info;
                    if info.format != "macho" {
                        return Err(ServiceError::invalid(
                            part,
                            format!("{} is {}, not a Mach-O file", entry.path, info.format),
                        ));
                    }
                    if !info.has_debug_info {
                        return Err(ServiceError::invalid(
                            part,
                            format!(
                                "{} ({}) has no DWARF debug information",
                                entry.path, info.arch
                            ),
                        ));
                    }
                    found.push((info.debug_id.to_ascii_lowercase(), info.arch.clone()));
                    out.add(built);
                }
                std::fs::remove_file(&extracted)?;
            }
            let mut given: Vec<String> = meta
                .uuids
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .map(|u| u.trim().to_ascii_lowercase())
                .filter(|u| !u.is_empty())
                .collect();
            let mut have: Vec<String> = found.iter().map(|(u, _)| u.clone()).collect();
            given.sort();
            given.dedup();
            have.sort();
            have.dedup();
            if given.is_empty() {
                meta.uuids = Some(have.join(","));
            } else if given != have {
                let listed: Vec<String> = found.iter().map(|(u, a)| format!("{u} ({a})")).collect();
                return Err(ServiceError::invalid(
                    "uuids",
                    format!(
                        "uuids {} do not match the archive's UUIDs {}",
                        given.join(","),
                        listed.join(", ")
                    ),
                ));
            }
            if meta.arch.as_deref().is_none_or(str::is_empty) {
                let mut arches: Vec<&str> = found.iter().map(|(_, a)| a.as_str()).collect();
                arches.dedup();
                meta.arch = Some(arches.join(","));
            }
        }
        ArtifactKind::Elf | ArtifactKind::Ndk | ArtifactKind::Flutter | ArtifactKind::Pe => {
            let mapped = Mapped::open(path)?;
            let mut built = symx_native::build_all(&mapped).map_err(at_part)?;
            if built.len() != 1 {
                return Err(ServiceError::invalid(
                    part,
                    format!("{part} holds {} objects; expected one", built.len()),
                ));
            }
            let built = built.remove(0);
            check_ids(kind, meta, part, &built.info, &mapped)?;
            // Which file of the module this is (the server's reading, never the client's).
            meta.object_class = Some(built.info.class.clone());
            if meta.arch.as_deref().is_none_or(str::is_empty) {
                meta.arch = Some(built.info.arch.clone());
            }
            out.add(built);
        }
        _ => {
            return Err(ServiceError::internal(format!(
                "{} is not a native kind",
                kind.mapkind()
            )));
        }
    }
    Ok(out)
}

/// Checks the identifiers of an ELF or PE/PDB file against the metadata, filling what the
/// metadata omits.
fn check_ids(
    kind: ArtifactKind,
    meta: &mut UploadMetadata,
    part: &str,
    info: &ObjectInfo,
    bytes: &[u8],
) -> Result<()> {
    let code_id = info.code_id.as_deref().filter(|c| !c.is_empty());
    match kind {
        ArtifactKind::Pe => {
            if info.format != "pdb" && info.format != "pe" {
                return Err(ServiceError::invalid(
                    part,
                    format!("{part} must be a PDB or PE file, got {}", info.format),
                ));
            }
            let Some((guid, age)) = info.pdb_signature() else {
                return Err(ServiceError::invalid(
                    part,
                    format!("{part} carries no PDB signature (a PE needs a CodeView record)"),
                ));
            };
            let given = meta.pdb_sig.as_deref().map(guid_hex).unwrap_or_default();
            if !given.is_empty() && given != guid {
                return Err(ServiceError::invalid(
                    "pdb_sig",
                    format!(
                        "pdb_sig {} does not match the file's PDB GUID {guid}",
                        meta.pdb_sig.as_deref().unwrap_or_default()
                    ),
                ));
            }
            if given.is_empty() {
                meta.pdb_sig = Some(guid);
            }
            match meta.pdb_age {
                Some(a) if a != i64::from(age) => {
                    return Err(ServiceError::invalid(
                        "pdb_age",
                        format!("pdb_age {a} does not match the file's PDB age {age}"),
                    ));
                }
                Some(_) => {}
                None => meta.pdb_age = Some(i64::from(age)),
            }
        }
        _ => {
            if info.format != "elf" {
                return Err(ServiceError::invalid(
                    part,
                    format!("{part} must be an ELF file, got {}", info.format),
                ));
            }
            let (field, name) = match kind {
                ArtifactKind::Elf => (&mut meta.gnu_build_id, "gnu_build_id"),
                _ => (&mut meta.build_id, "build_id"),
            };
            // NDK `build_id` is "a build ID" to the upload document: datadog-ci's NDK uploads
            // send the GNU build id there, `unity-symbols upload` sends Unity's build id. Only
            // a value shaped like the file's GNU build id (hex of the same length) is checked
            // against it; any other is the app's build id and kept as given (the file's code
            // id still finds the artifact).
            let app_build_id = kind == ArtifactKind::Ndk
                && match (field.as_deref().filter(|s| !s.is_empty()), code_id) {
                    (Some(given), Some(found)) => {
                        given.len() != found.len() || !given.bytes().all(|b| b.is_ascii_hexdigit())
                    }
                    _ => false,
                };
            // Flutter uploads carry no build id field of their own to fill; NDK and ELF do.
            if app_build_id {
            } else if kind == ArtifactKind::Flutter {
                if let (Some(given), Some(found)) =
                    (field.as_deref().filter(|s| !s.is_empty()), code_id)
                    && !eq_hex(given, found)
                {
                    return Err(ServiceError::invalid(
                        name,
                        format!("{name} {given} does not match the file's GNU build id {found}"),
                    ));
                }
            } else {
                check_or_fill(field, name, code_id, "GNU build id", eq_hex)?;
            }
            if kind == ArtifactKind::Elf {
                check_or_fill(
                    &mut meta.go_build_id,
                    "go_build_id",
                    info.go_build_id.as_deref(),
                    "Go build id",
                    |a, b| a == b,
                )?;
                // Without any build id, the file is known by its content: the first 128 bits
                // of its sha256 (the document's 32 hex characters).
                if code_id.is_none()
                    && info.go_build_id.is_none()
                    && meta.file_hash.as_deref().is_none_or(str::is_empty)
                {
                    use sha2::Digest;
                    let digest = sha2::Sha256::digest(bytes);
                    meta.file_hash = Some(hex::encode(&digest[..16]));
                }
            }
        }
    }
    Ok(())
}

/// The optional part (and the index built of it) of a native upload that holds a source
/// bundle of its file.
pub(crate) const SOURCES_PART: &str = "sources";

/// The `sources` index of a source bundle spooled at `path`: its files and their entries, as
/// JSON (the symbol server finds a path there without opening the archive). Refuses a
/// bundle past the archive limits, naming the part.
pub(crate) fn sources_index(path: &Path, limits: &dsym::Limits) -> Result<Vec<u8>> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let files = symx_native::sources::bundle_files(file, limits).map_err(|e| ServiceError {
        field: Some(SOURCES_PART.into()),
        ..ServiceError::from(e)
    })?;
    serde_json::to_vec(&files)
        .map_err(|e| ServiceError::internal(format!("cannot store the sources index: {e}")))
}

/// The files of a stored `sources` index.
pub(crate) fn read_sources_index(bytes: &[u8]) -> Result<Vec<symx_native::sources::SourceFile>> {
    serde_json::from_slice(bytes)
        .map_err(|e| ServiceError::internal(format!("a stored sources index: {e}")))
}
