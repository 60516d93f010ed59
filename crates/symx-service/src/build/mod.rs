//! Index builds, shared by the write path (an upload builds its indexes once) and the read path
//! (an index of an older format version is built again from the stored raw artifact): the
//! build-memory estimate and its bound, the format crates' builds with their errors placed on
//! the upload field at fault, and the build metrics. Nothing here reads or writes storage.

pub(crate) mod native;

use crate::config::LimitsConfig;
use crate::error::{Result, ServiceError};
use crate::mapped::Mapped;
use crate::metrics::Metrics;
use std::path::{Path, PathBuf};
use std::time::Instant;
use symx_types::{ArtifactKind, ErrorCode, UploadMetadata};

/// A spooled upload file: part name, path, size in bytes.
pub(crate) type SpooledFile = (String, PathBuf, u64);

/// Builds indexes within the configured bounds.
#[derive(Debug)]
pub(crate) struct Builder {
    limits: LimitsConfig,
    metrics: Metrics,
    /// Scratch space for files extracted from archives (beside the database).
    spool_dir: PathBuf,
}

impl Builder {
    pub(crate) fn new(limits: LimitsConfig, metrics: Metrics, spool_dir: PathBuf) -> Self {
        Self {
            limits,
            metrics,
            spool_dir,
        }
    }

    /// The bounds on dSYM archives, from the configuration.
    pub(crate) fn archive_limits(&self) -> symx_native::dsym::Limits {
        symx_native::dsym::Limits {
            max_entries: self.limits.max_archive_entries,
            max_total_bytes: self.limits.max_archive_bytes,
            ..symx_native::dsym::Limits::default()
        }
    }

    /// The peak memory the index build of an upload's spooled `files` will take, from a pass
    /// over them that decodes nothing; refused past `limits.max_build_memory`, naming the
    /// file and what costs the most.
    pub(crate) fn estimate(&self, kind: ArtifactKind, files: &[SpooledFile]) -> Result<u64> {
        let path_of = |name: &str| files.iter().find(|f| f.0 == name).map(|f| f.1.as_path());
        match kind {
            ArtifactKind::Js | ArtifactKind::React => {
                let Some(map_path) = path_of("source_map") else {
                    return Ok(0);
                };
                let map = Mapped::open(map_path)?;
                if map.is_empty() {
                    return Ok(0);
                }
                let minified = path_of("minified_file").map(Mapped::open).transpose()?;
                self.source_map_memory(&map, minified.as_deref())
            }
            ArtifactKind::Il2cpp => self.il2cpp_memory(files.iter().map(|f| f.2).sum()),
            ArtifactKind::Jvm => match path_of("jvm_mapping_file") {
                Some(path) => self.jvm_memory(&Mapped::open(path)?),
                None => Ok(0),
            },
            ArtifactKind::Ios => {
                // Entries are built one at a time: the largest decides.
                let Some(path) = path_of("symbols_archive") else {
                    return Ok(0);
                };
                let file = std::io::BufReader::new(std::fs::File::open(path)?);
                let largest = symx_native::dsym::DsymArchive::open(file, &self.archive_limits())
                    .map(|a| a.dwarf_files().iter().map(|e| e.size).max().unwrap_or(0))
                    // Not an archive it can read: the build refuses it, naming why.
                    .unwrap_or(0);
                let need = symx_native::estimate_with_debug(largest, largest);
                self.check_memory("symbols_archive", need, || {
                    format!("a DWARF file of {largest} bytes")
                })?;
                Ok(need)
            }
            _ => {
                let mut need = 0u64;
                for (part, path, _) in files {
                    let mapped = Mapped::open(path)?;
                    let one = symx_native::estimate_build_memory(&mapped);
                    self.check_memory(part, one, || {
                        format!("{} bytes with their debug information", mapped.len())
                    })?;
                    need = need.saturating_add(one);
                }
                Ok(need)
            }
        }
    }

    /// The build memory of a source map and its minified file (a Hermes bytecode bundle is
    /// stored, never scanned: it counts nothing), refused past `limits.max_build_memory`.
    pub(crate) fn source_map_memory(&self, map: &[u8], minified: Option<&[u8]>) -> Result<u64> {
        let minified = minified.filter(|m| !symx_sourcemap::is_hermes_bytecode(m));
        let shape = symx_sourcemap::measure(map).map_err(|e| ServiceError {
            field: Some("source_map".into()),
            ..ServiceError::from(e)
        })?;
        let need = shape.build_bytes(minified);
        self.check_memory("source_map", need, || shape.largest(minified))?;
        Ok(need)
    }

    /// The build memory of a ProGuard/R8 mapping, refused past `limits.max_build_memory`.
    pub(crate) fn jvm_memory(&self, mapping: &[u8]) -> Result<u64> {
        let estimate = symx_proguard::estimate_build_memory(mapping);
        self.check_memory("jvm_mapping_file", estimate.bytes, || estimate.largest())?;
        Ok(estimate.bytes)
    }

    /// The build memory of an IL2CPP line mapping of `len` bytes, refused past
    /// `limits.max_build_memory`.
    pub(crate) fn il2cpp_memory(&self, len: u64) -> Result<u64> {
        let need = symx_il2cpp::estimate_build_memory(len);
        self.check_memory("il2cpp_mapping_file", need, || {
            format!("{len} bytes of JSON entries")
        })?;
        Ok(need)
    }

    /// Refuses a build estimated to take more than `limits.max_build_memory`, naming the
    /// file and what costs the most (`largest`).
    pub(crate) fn check_memory(
        &self,
        field: &str,
        need: u64,
        largest: impl FnOnce() -> String,
    ) -> Result<()> {
        let max = self.limits.max_build_memory;
        if need <= max {
            return Ok(());
        }
        Err(ServiceError {
            field: Some(field.into()),
            ..ServiceError::new(
                ErrorCode::ResourceExhausted,
                format!(
                    "{field}: building its index would take about {} MiB ({}), more than limits.max_build_memory ({} MiB)",
                    need >> 20,
                    largest(),
                    max >> 20
                ),
            )
        })
    }

    /// Runs an index build, counting it and its time in the metrics.
    fn timed<T, E>(
        &self,
        kind: ArtifactKind,
        build: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let started = Instant::now();
        let out = build();
        self.metrics
            .index_build_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .index_builds
            .with_label_values(&[kind.mapkind()])
            .inc();
        out
    }

    /// The `SYMXJSIX` index of a source map and its minified file; errors name the file.
    pub(crate) fn source_map(
        &self,
        kind: ArtifactKind,
        map: &[u8],
        minified: Option<&[u8]>,
    ) -> Result<symx_sourcemap::BuiltIndex> {
        self.timed(kind, || symx_sourcemap::build_index(map, minified))
            .map_err(|e| {
                let field = match e {
                    symx_sourcemap::Error::InvalidMinified(_) => "minified_file",
                    _ => "source_map",
                };
                at_field(field, e)
            })
    }

    /// The `SYMXJVM` index of a ProGuard/R8 mapping.
    pub(crate) fn jvm_mapping(&self, mapping: &[u8]) -> Result<symx_proguard::BuiltJvm> {
        self.timed(ArtifactKind::Jvm, || symx_proguard::build_index(mapping))
            .map_err(|e| at_field("jvm_mapping_file", e))
    }

    /// The `SYMXI2C` index of a Unity IL2CPP line mapping.
    pub(crate) fn il2cpp_mapping(&self, mapping: &[u8]) -> Result<symx_il2cpp::Built> {
        self.timed(ArtifactKind::Il2cpp, || symx_il2cpp::build_index(mapping))
            .map_err(|e| at_field("il2cpp_mapping_file", e))
    }

    /// The native indexes of the file of part `part` at `path` (checking and filling in the
    /// identifiers of `meta`).
    pub(crate) fn native_file(
        &self,
        kind: ArtifactKind,
        meta: &mut UploadMetadata,
        part: &str,
        path: &Path,
    ) -> Result<native::NativeBuild> {
        let scratch = tempfile::Builder::new()
            .prefix("extract-")
            .tempdir_in(&self.spool_dir)?;
        let limits = self.archive_limits();
        self.timed(kind, || {
            native::build(kind, meta, part, path, scratch.path(), &limits)
        })
    }

    /// The native indexes of a stored file held in memory (a rebuild: the file is spooled
    /// to scratch space first, as archives and objects are read from a file).
    pub(crate) fn native_bytes(
        &self,
        kind: ArtifactKind,
        meta: &mut UploadMetadata,
        part: &str,
        bytes: &[u8],
    ) -> Result<native::NativeBuild> {
        let scratch = tempfile::Builder::new()
            .prefix("rebuild-")
            .tempdir_in(&self.spool_dir)?;
        let path = scratch.path().join("file");
        std::fs::write(&path, bytes)?;
        self.native_file(kind, meta, part, &path)
    }
}

/// A format crate's error, placed on the upload field at fault.
fn at_field(field: &str, e: impl Into<ServiceError>) -> ServiceError {
    ServiceError {
        field: Some(field.into()),
        ..e.into()
    }
}
