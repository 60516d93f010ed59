//! The symbol server: stored native files served back by their identifiers, to debuggers,
//! profilers and other symbolicators (the HTTP edge speaks debuginfod, Microsoft's SSQP and
//! Symbolicator's layouts; the gRPC edge serves `symx fetch`).
//!
//! A query names a module by one identifier and says which file of it is wanted: the one with
//! the debug information, or the one with the code. The files of a module are separate
//! artifacts told apart by their `object_class` (a stripped binary, its `.debug` file, the
//! unstripped binary; a PE and its PDB), so the choice is made from the catalog, without
//! reading a file. What is served is a stored file, a byte range of one (an ELF section), or
//! one architecture of a dSYM archive's DWARF file (extracted to a spool file first): always
//! streamed a piece at a time, so a 2 GB debug file costs a few MB of memory.

use crate::build::native::{SOURCES_PART, read_sources_index};
use crate::error::{Result, ServiceError};
use crate::indexes::Indexes;
use crate::lookups::Lookup;
use crate::mapped::Mapped;
use crate::metrics::Metrics;
use crate::pool::Pool;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use symx_native::layout::{ElfSection, Range};
use symx_storage::{ArtifactRecord, BlobReader, Storage};
use symx_types::{ArtifactId, ArtifactKind, Tenant};

/// Bytes read per piece of a served file.
const PIECE: usize = 1 << 20;

/// Which file of a module a client wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileWanted {
    /// The file with the debug information (a `.debug` file, a dSYM's DWARF file, a PDB; an
    /// unstripped binary when that is all there is).
    Debuginfo,
    /// The file with the code (a binary, a PE).
    Executable,
    /// The source bundle uploaded with one of the module's files (Symbolicator's
    /// `sourcebundle`).
    SourceBundle,
}

/// The identifier a client names a module by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleId {
    /// An ELF file by its GNU build id (hex).
    BuildId(String),
    /// A Mach-O object by its UUID (32 hex digits).
    MachUuid(String),
    /// A PDB, or the PE that names it, by the PDB GUID (32 hex digits) and age.
    Pdb { guid: String, age: u32 },
    /// A PE file by its code id: the timestamp (8 hex digits), then the size of the image.
    PeCode(String),
    /// Any of the above, told apart by its shape and tried in turn (`symx fetch`, the unified
    /// layout): a build id, a Mach-O UUID, a PDB GUID and age, a PE code id.
    Any(String),
}

/// What a client asks the symbol server for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebugFileQuery {
    pub module: ModuleId,
    pub want: FileWanted,
    /// The file name the client asked under (SSQP paths name it): a stored file with another
    /// recorded name is not this one.
    pub name: Option<String>,
    /// One ELF section of the module's files (debuginfod's `/section/<name>`): from the
    /// debug file when it holds the bytes, else from the binary.
    pub section: Option<String>,
    /// One source file, by the path the debug information names it by (debuginfod's
    /// `/source/<path>`), from the source bundle uploaded with one of the module's files.
    pub source: Option<String>,
}

/// A file found for a query, ready to stream.
pub struct DebugFile {
    pub artifact: ArtifactId,
    pub kind: ArtifactKind,
    /// The name to save it under: the uploaded file name, else one made of its identifier.
    pub name: String,
    /// Its length in bytes.
    pub size: u64,
    /// A tag of its content: the stored file's sha256, and the range when it is part of one.
    pub etag: String,
    /// When it was uploaded (Unix ms).
    pub uploaded_at_ms: u64,
    source: Source,
    pool: Pool,
    served: prometheus::IntCounter,
}

impl std::fmt::Debug for DebugFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DebugFile")
            .field("artifact", &self.artifact)
            .field("name", &self.name)
            .field("size", &self.size)
            .finish()
    }
}

/// Where a served file's bytes come from, positioned at its start.
struct Source {
    reader: Box<dyn Read + Send>,
    left: u64,
    /// The whole stored file is served: its sha256 is checked as it goes by.
    check: Option<(Sha256, [u8; 32])>,
    /// A spool directory that lives as long as the stream (an extracted dSYM slice).
    _spool: Option<tempfile::TempDir>,
}

impl Source {
    /// A whole stored file, checked against its sha256 as it streams.
    fn whole(reader: BlobReader) -> Self {
        Self {
            left: reader.len(),
            check: Some((Sha256::new(), reader.sha256())),
            reader: Box::new(reader),
            _spool: None,
        }
    }

    /// A byte range of `reader` (part of a stored file, or of a spool file living in
    /// `spool`); unchecked: a digest covers whole files only.
    fn range(
        mut reader: impl Read + Seek + Send + 'static,
        range: Range,
        spool: Option<tempfile::TempDir>,
    ) -> Result<Self> {
        reader.seek(SeekFrom::Start(range.offset))?;
        Ok(Self {
            reader: Box::new(reader.take(range.size)),
            left: range.size,
            check: None,
            _spool: spool,
        })
    }

    /// The next piece; at the end of a whole file, the content is checked against its sha256
    /// (a mismatch withholds the last piece, so the client sees a cut-short body, never a
    /// complete wrong one).
    fn piece(&mut self) -> Result<Bytes> {
        let n = (self.left as usize).min(PIECE);
        let mut buf = vec![0u8; n];
        self.reader
            .read_exact(&mut buf)
            .map_err(|e| ServiceError::internal(format!("reading a stored file: {e}")))?;
        self.left -= n as u64;
        if let Some((hasher, want)) = &mut self.check {
            hasher.update(&buf);
            if self.left == 0 {
                let got: [u8; 32] = std::mem::take(hasher).finalize().into();
                if got != *want {
                    return Err(ServiceError::internal(
                        "a stored file does not match its sha256",
                    ));
                }
            }
        }
        Ok(Bytes::from(buf))
    }
}

impl DebugFile {
    /// The file's bytes, a piece at a time, each read on the blocking pool. Dropping the
    /// stream stops the reads (and removes any spool file).
    pub fn into_stream(self) -> impl futures::Stream<Item = Result<Bytes>> + Send + 'static {
        let state = Some((self.source, self.pool, self.served));
        futures::stream::unfold(state, |state| async move {
            let (mut source, pool, served) = state?;
            if source.left == 0 {
                return None;
            }
            let read = pool
                .run(move || {
                    let piece = source.piece();
                    Ok((source, piece))
                })
                .await;
            match read {
                Ok((source, Ok(piece))) => {
                    served.inc_by(piece.len() as u64);
                    Some((Ok(piece), Some((source, pool, served))))
                }
                Ok((_, Err(e))) | Err(e) => {
                    tracing::error!(error = %e, "a debug file could not be served");
                    Some((Err(e), None))
                }
            }
        })
    }
}

/// Finds debug files for the edges.
#[derive(Debug)]
pub(crate) struct Symbols {
    storage: Arc<Storage>,
    indexes: Arc<Indexes>,
    pool: Pool,
    metrics: Metrics,
    spool: PathBuf,
    /// The bounds dSYM archives were checked against at upload.
    archive_limits: symx_native::dsym::Limits,
}

/// Hex digits of an identifier in any common spelling (dashes, braces, case), lowercase.
fn hex_of(s: &str) -> Option<String> {
    let out: String = s
        .chars()
        .filter(|c| !matches!(c, '-' | '{' | '}'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (!out.is_empty() && out.bytes().all(|b| b.is_ascii_hexdigit())).then_some(out)
}

/// A PDB signature as the debug id lookup rows spell it: `guid-age` with the GUID dashed,
/// lowercase, the age in hex (no age part when it is 0).
fn pdb_debug_id(guid: &str, age: u32) -> String {
    let g = guid;
    let mut s = format!(
        "{}-{}-{}-{}-{}",
        &g[..8],
        &g[8..12],
        &g[12..16],
        &g[16..20],
        &g[20..32]
    );
    if age > 0 {
        s.push_str(&format!("-{age:x}"));
    }
    s
}

impl ModuleId {
    /// The readings of this id, in the order they are tried, normalised (lowercase hex).
    fn readings(&self) -> Vec<ModuleId> {
        match self {
            Self::Any(s) => {
                let Some(h) = hex_of(s) else {
                    return Vec::new();
                };
                let mut out = vec![Self::BuildId(h.clone())];
                if h.len() == 32 {
                    out.push(Self::MachUuid(h.clone()));
                }
                if (33..=40).contains(&h.len())
                    && let Ok(age) = u32::from_str_radix(&h[32..], 16)
                {
                    out.push(Self::Pdb {
                        guid: h[..32].to_owned(),
                        age,
                    });
                }
                if (9..=16).contains(&h.len()) {
                    out.push(Self::PeCode(h));
                }
                out
            }
            Self::BuildId(s) | Self::MachUuid(s) | Self::PeCode(s) => {
                let Some(h) = hex_of(s) else {
                    return Vec::new();
                };
                vec![match self {
                    Self::BuildId(_) => Self::BuildId(h),
                    Self::MachUuid(_) if h.len() == 32 => Self::MachUuid(h),
                    Self::MachUuid(_) => return Vec::new(),
                    _ => Self::PeCode(h),
                }]
            }
            Self::Pdb { guid, age } => match hex_of(guid) {
                Some(g) if g.len() == 32 => vec![Self::Pdb { guid: g, age: *age }],
                _ => Vec::new(),
            },
        }
    }

    /// Where files of this (normalised) id are stored: kinds and the lookup row.
    fn rows(&self) -> Vec<(&'static [ArtifactKind], Lookup)> {
        const ELF: &[ArtifactKind] = &[ArtifactKind::Elf, ArtifactKind::Ndk, ArtifactKind::Flutter];
        const IOS: &[ArtifactKind] = &[ArtifactKind::Ios];
        const PE: &[ArtifactKind] = &[ArtifactKind::Pe];
        match self {
            Self::BuildId(h) => vec![(ELF, Lookup::code_id(h))],
            Self::MachUuid(h) => vec![
                (IOS, Lookup::code_id(h)),
                (IOS, Lookup::debug_id(&pdb_debug_id(h, 0))),
            ],
            Self::Pdb { guid, age } => vec![(PE, Lookup::debug_id(&pdb_debug_id(guid, *age)))],
            Self::PeCode(h) => vec![(PE, Lookup::code_id(h))],
            Self::Any(_) => Vec::new(),
        }
    }
}

/// How well a stored file fits what is wanted: lower is better, `None` does not fit.
fn fit(rec: &ArtifactRecord, module: &ModuleId, want: FileWanted) -> Option<u8> {
    let class = rec.metadata.object_class.as_deref();
    match (module, want) {
        // An ELF: the separate debug file first, then the unstripped binary; a binary
        // without DWARF is no debuginfo. Files stored before their class was recorded come
        // last.
        (ModuleId::BuildId(_), FileWanted::Debuginfo) => match class {
            Some("debug_info") => Some(0),
            Some(c) if c.starts_with("debug_info") => Some(1),
            None => Some(2),
            Some(_) => None,
        },
        // The binary as shipped (stripped) first, then the unstripped one.
        (ModuleId::BuildId(_), FileWanted::Executable) => match class {
            Some(c) if c.ends_with("+code") && !c.starts_with("debug_info") => Some(0),
            Some(c) if c.ends_with("+code") => Some(1),
            None => Some(2),
            Some(_) => None,
        },
        // A dSYM holds the DWARF only.
        (ModuleId::MachUuid(_), FileWanted::Debuginfo) => Some(0),
        (ModuleId::MachUuid(_), FileWanted::Executable) => None,
        (ModuleId::Pdb { .. }, FileWanted::Debuginfo) => (class == Some("pdb")).then_some(0),
        (ModuleId::Pdb { .. }, FileWanted::Executable) | (ModuleId::PeCode(_), _) => {
            (class == Some("pe")).then_some(0)
        }
        (ModuleId::Any(_), _) | (_, FileWanted::SourceBundle) => None,
    }
}

/// A file `name` in `dir` (a spool directory) that `write` fills.
fn spool_file(
    dir: &tempfile::TempDir,
    name: &str,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<()>,
) -> Result<PathBuf> {
    let path = dir.path().join(name);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    write(&mut out)?;
    std::io::Write::flush(&mut out)?;
    Ok(path)
}

/// A file name without its last extension (`app.pdb` -> `app`).
fn stem(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(s, _)| s)
}

/// The last part of a path, either separator.
fn basename(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

impl Symbols {
    pub(crate) fn new(
        storage: Arc<Storage>,
        indexes: Arc<Indexes>,
        pool: Pool,
        metrics: Metrics,
        spool: PathBuf,
        archive_limits: symx_native::dsym::Limits,
    ) -> Self {
        Self {
            storage,
            indexes,
            pool,
            metrics,
            spool,
            archive_limits,
        }
    }

    /// The file a query asks for in a tenant, `None` when no stored file fits. Counted in
    /// `symx_symbol_requests_total{protocol}`.
    pub(crate) async fn find(
        self: &Arc<Self>,
        tenant: Tenant,
        query: DebugFileQuery,
        protocol: &'static str,
    ) -> Result<Option<DebugFile>> {
        let this = self.clone();
        let found = self
            .pool
            .run(move || this.find_blocking(&tenant, &query, protocol))
            .await;
        let outcome = match &found {
            Ok(Some(_)) => "found",
            Ok(None) => "not_found",
            Err(_) => "error",
        };
        self.metrics
            .symbol_requests
            .with_label_values(&[protocol, outcome])
            .inc();
        found
    }

    fn find_blocking(
        &self,
        tenant: &Tenant,
        query: &DebugFileQuery,
        protocol: &'static str,
    ) -> Result<Option<DebugFile>> {
        for module in query.module.readings() {
            let mut candidates: Vec<(u8, ArtifactRecord)> = Vec::new();
            for (kinds, lookup) in module.rows() {
                for kind in kinds {
                    for id in self.indexes.all_of(tenant, *kind, &lookup)? {
                        if candidates.iter().any(|(_, r)| r.id == id) {
                            continue;
                        }
                        let Some(rec) = self.storage.get(tenant, &id)? else {
                            continue;
                        };
                        if rec.deleted_at_ms.is_some() || !self.named(&rec, &module, query) {
                            continue;
                        }
                        let want = if query.section.is_some() {
                            FileWanted::Debuginfo
                        } else {
                            query.want
                        };
                        if query.source.is_some() || want == FileWanted::SourceBundle {
                            // Whichever file of the module the bundle came with.
                            if rec.file(SOURCES_PART).is_some() {
                                candidates.push((0, rec));
                            }
                            continue;
                        }
                        if let Some(rank) = fit(&rec, &module, want).or_else(|| {
                            // A section may come from the binary as well.
                            query
                                .section
                                .as_ref()
                                .and_then(|_| fit(&rec, &module, FileWanted::Executable))
                                .map(|r| r + 10)
                        }) {
                            candidates.push((rank, rec));
                        }
                    }
                }
            }
            // Best fit first, then the newest upload.
            candidates.sort_by(|a, b| {
                a.0.cmp(&b.0)
                    .then(b.1.created_at_ms.cmp(&a.1.created_at_ms))
            });
            for (_, rec) in candidates {
                if let Some(file) = self.open(tenant, rec, &module, query, protocol)? {
                    return Ok(Some(file));
                }
            }
        }
        Ok(None)
    }

    /// Whether a stored file answers to the name the client asked under (case-insensitive;
    /// files uploaded without a name answer to any). Only Windows keys need the name: a
    /// timestamp and an image size can repeat across files, while a build id or a UUID is
    /// the file's own (and a binary ships under another name than it was uploaded with:
    /// `app` for `app.stripped`).
    fn named(&self, rec: &ArtifactRecord, module: &ModuleId, query: &DebugFileQuery) -> bool {
        if !matches!(module, ModuleId::Pdb { .. } | ModuleId::PeCode(_)) {
            return true;
        }
        match (&query.name, rec.metadata.filename.as_deref()) {
            (Some(asked), Some(stored)) => basename(stored).eq_ignore_ascii_case(basename(asked)),
            _ => true,
        }
    }

    /// Opens the wanted bytes of a candidate; `None` when it lacks them (no such section, no
    /// slice with this UUID).
    fn open(
        &self,
        tenant: &Tenant,
        rec: ArtifactRecord,
        module: &ModuleId,
        query: &DebugFileQuery,
        protocol: &'static str,
    ) -> Result<Option<DebugFile>> {
        let part = rec.metadata.upload_type.parts()[0].0;
        let Some(file) = rec.file(part).cloned() else {
            return Ok(None);
        };
        self.indexes.ensure_local(tenant, &rec.id)?;
        let name = rec
            .metadata
            .filename
            .as_deref()
            .map(basename)
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        let id_name = match module {
            ModuleId::BuildId(h) | ModuleId::MachUuid(h) | ModuleId::PeCode(h) => h.clone(),
            ModuleId::Pdb { guid, age } => format!("{guid}{age:x}"),
            ModuleId::Any(s) => s.clone(),
        };
        let make = |source: Source, etag: String, name: String| DebugFile {
            artifact: rec.id.clone(),
            kind: rec.kind,
            name,
            size: source.left,
            etag,
            uploaded_at_ms: rec.created_at_ms,
            source,
            pool: self.pool.clone(),
            served: self.metrics.symbol_bytes.with_label_values(&[protocol]),
        };
        if let Some(path) = &query.source {
            return Ok(self
                .source_file(tenant, &rec, path)?
                .map(|(source, etag, name)| make(source, etag, name)));
        }
        if query.want == FileWanted::SourceBundle {
            let Some(bundle) = rec.file(SOURCES_PART).cloned() else {
                return Ok(None);
            };
            let name = format!("{}.src.zip", name.as_deref().map_or(id_name.as_str(), stem));
            let source = Source::whole(BlobReader::new(self.storage.clone(), bundle.clone())?);
            return Ok(Some(make(source, bundle.sha256, name)));
        }
        let mut reader = BlobReader::new(self.storage.clone(), file.clone())?;
        if let Some(section) = &query.section {
            let range = match symx_native::layout::elf_section(&mut reader, section) {
                Ok(Some(ElfSection::Bytes(range)))
                    if range.offset.saturating_add(range.size) <= file.size =>
                {
                    range
                }
                // No bytes here (NOBITS, absent, not an ELF file): another file may have them.
                _ => return Ok(None),
            };
            let etag = format!("{}-{}-{}", file.sha256, range.offset, range.size);
            let name = format!("{id_name}{section}");
            return Ok(Some(make(Source::range(reader, range, None)?, etag, name)));
        }
        if let ModuleId::MachUuid(uuid) = module {
            // Named as the DWARF file inside the archive (`libapp.dylib`), not the archive.
            return Ok(self
                .mach_slice(reader, uuid)?
                .map(|(source, etag, entry)| make(source, etag, entry)));
        }
        let name = name.unwrap_or_else(|| match query.want {
            FileWanted::Executable => id_name.clone(),
            _ => format!("{id_name}.debug"),
        });
        Ok(Some(make(Source::whole(reader), file.sha256, name)))
    }

    /// A directory in the service's spool for the files one answer extracts; removed with
    /// the answer's stream.
    fn spool_dir(&self) -> Result<tempfile::TempDir> {
        Ok(tempfile::Builder::new()
            .prefix("serve-")
            .tempdir_in(&self.spool)?)
    }

    /// One file of the source bundle stored with `rec`, extracted to a spool file; `None` when
    /// the bundle has no file of that path.
    fn source_file(
        &self,
        tenant: &Tenant,
        rec: &ArtifactRecord,
        path: &str,
    ) -> Result<Option<(Source, String, String)>> {
        let (Some(bundle), Some(index)) = (
            rec.file(SOURCES_PART),
            self.storage.read_index(tenant, &rec.id, SOURCES_PART)?,
        ) else {
            return Ok(None);
        };
        let files = read_sources_index(&index)?;
        let Some(file) = symx_native::sources::find(&files, path) else {
            return Ok(None);
        };
        let reader = BlobReader::new(self.storage.clone(), bundle.clone())?;
        let dir = self.spool_dir()?;
        let spooled = spool_file(&dir, "source", |out| {
            symx_native::sources::extract(
                std::io::BufReader::new(reader),
                &self.archive_limits,
                file,
                out,
            )
            .map(drop)
            .map_err(|e| ServiceError::internal(format!("a stored source bundle: {e}")))
        })?;
        let whole = Range {
            offset: 0,
            size: file.size,
        };
        let source = Source::range(std::fs::File::open(&spooled)?, whole, Some(dir))?;
        let etag = format!("{}-{}", bundle.sha256, file.entry);
        Ok(Some((source, etag, basename(&file.path).to_owned())))
    }

    /// The slice with `uuid` of a dSYM archive's DWARF files, with the DWARF file's name: each
    /// DWARF file is extracted to a spool file until one holds it (the archive was checked
    /// against its limits at upload).
    fn mach_slice(
        &self,
        reader: BlobReader,
        uuid: &str,
    ) -> Result<Option<(Source, String, String)>> {
        let sha = reader.sha256();
        let mut archive = symx_native::dsym::DsymArchive::open(
            std::io::BufReader::new(reader),
            &self.archive_limits,
        )
        .map_err(|e| ServiceError::internal(format!("a stored dSYM archive: {e}")))?;
        let dir = self.spool_dir()?;
        for (i, entry) in archive.dwarf_files().to_vec().into_iter().enumerate() {
            let path = spool_file(&dir, &format!("dwarf-{i}"), |out| {
                archive
                    .extract(&entry, out)
                    .map(drop)
                    .map_err(|e| ServiceError::internal(format!("a stored dSYM archive: {e}")))
            })?;
            let slices = match symx_native::layout::macho_slices(&Mapped::open(&path)?) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(entry = %entry.path, error = %e, "a dSYM entry is not Mach-O");
                    continue;
                }
            };
            if let Some(slice) = slices.into_iter().find(|s| s.uuid == uuid) {
                let etag = format!("{}-{}-{}", hex::encode(sha), i, slice.range.offset);
                let source = Source::range(std::fs::File::open(&path)?, slice.range, Some(dir))?;
                return Ok(Some((source, etag, basename(&entry.path).to_owned())));
            }
            std::fs::remove_file(&path)?;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_in_every_spelling() {
        let any = ModuleId::Any("{3BC9CB97-D09A-52BF-4C4C-44205044422E}1".into()).readings();
        assert!(any.contains(&ModuleId::Pdb {
            guid: "3bc9cb97d09a52bf4c4c44205044422e".into(),
            age: 1
        }));
        assert_eq!(
            pdb_debug_id("3bc9cb97d09a52bf4c4c44205044422e", 1),
            "3bc9cb97-d09a-52bf-4c4c-44205044422e-1"
        );
        assert_eq!(
            pdb_debug_id("3bc9cb97d09a52bf4c4c44205044422e", 0),
            "3bc9cb97-d09a-52bf-4c4c-44205044422e"
        );
        let uuid = ModuleId::Any("4C4C44F1-5555-3144-A194-BBC525239DCD".into()).readings();
        assert!(uuid.contains(&ModuleId::MachUuid(
            "4c4c44f155553144a194bbc525239dcd".into()
        )));
        assert!(uuid.contains(&ModuleId::BuildId(
            "4c4c44f155553144a194bbc525239dcd".into()
        )));
        let pe = ModuleId::Any("6B02C28D5000".into()).readings();
        assert!(pe.contains(&ModuleId::PeCode("6b02c28d5000".into())));
        assert!(ModuleId::Any("not-hex".into()).readings().is_empty());
        assert!(ModuleId::MachUuid("abcd".into()).readings().is_empty());
    }
}
