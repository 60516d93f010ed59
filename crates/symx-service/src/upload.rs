//! Uploads: metadata first, then file parts streamed to spool files (never whole in memory
//! while receiving), then one blocking step that builds the index and commits atomically.

use crate::catalog::ArtifactView;
use crate::error::{Result, ServiceError};
use crate::urls::UrlKey;
use crate::{Inner, Symx};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Instant;
use symx_storage::{ArtifactRecord, CommitOutcome, FileRecord, NewArtifact, NewBlob};
use symx_types::{ArtifactId, ArtifactKind, ErrorCode, Tenant, UploadMetadata};
use tokio::io::AsyncWriteExt;

/// The unit separator joins the parts of a lookup value (validated fields hold no control
/// characters, so it cannot occur inside one).
pub(crate) const SEP: char = '\u{1f}';

/// What an upload did.
#[derive(Clone, Debug)]
pub struct UploadOutcome {
    pub artifact: ArtifactView,
    /// The artifact that `overwrite` replaced.
    pub replaced: Option<ArtifactId>,
    /// The same content was already stored under this identity; nothing changed.
    pub unchanged: bool,
}

struct SpooledPart {
    name: String,
    path: PathBuf,
    file: tokio::fs::File,
    size: u64,
}

/// An upload in progress. Drop it to abandon the upload: its spool files go with it.
pub struct UploadSession {
    symx: Symx,
    tenant: Tenant,
    meta: UploadMetadata,
    dir: tempfile::TempDir,
    parts: Vec<SpooledPart>,
    total: u64,
    /// The minified file may be left out (Elastic uploads send the map alone).
    map_only: bool,
    /// When the upload began (its average rate is checked against the minimum).
    started: std::time::Instant,
    _slot: crate::limits::UploadSlot,
}

impl std::fmt::Debug for UploadSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadSession")
            .field("type", &self.meta.upload_type)
            .field("bytes", &self.total)
            .finish()
    }
}

impl Symx {
    /// Starts an upload: validates the metadata before any byte of content is accepted.
    /// `declared_size`, when the client states it, is checked against the limit up front.
    pub async fn begin_upload(
        &self,
        tenant: Tenant,
        meta: UploadMetadata,
        declared_size: Option<u64>,
    ) -> Result<UploadSession> {
        meta.validate()?;
        let limit = self.inner.config.limits.max_upload_bytes;
        if let Some(n) = declared_size
            && n > limit
        {
            return Err(too_large(n, limit));
        }
        // A place among the uploads in progress, taken at once or refused at once: receiving
        // holds no build slot (see `finish`), so a stalled client delays no one else.
        let slot = self
            .inner
            .upload_slots
            .take(&tenant)
            .map_err(|m| ServiceError::new(ErrorCode::Unavailable, m))?;
        let dir = tempfile::Builder::new()
            .prefix("upload-")
            .tempdir_in(&self.inner.spool_dir)?;
        Ok(UploadSession {
            symx: self.clone(),
            tenant,
            meta,
            dir,
            parts: Vec::new(),
            total: 0,
            map_only: false,
            started: std::time::Instant::now(),
            _slot: slot,
        })
    }
}

fn too_large(n: u64, limit: u64) -> ServiceError {
    ServiceError::new(
        ErrorCode::ResourceExhausted,
        format!("upload of {n} bytes exceeds the limit of {limit} bytes"),
    )
}

impl UploadSession {
    /// Appends `data` to file part `part` (chunks of one part arrive in order).
    pub async fn write(&mut self, part: &str, data: &[u8]) -> Result<()> {
        let allowed = self.meta.upload_type.parts();
        if !allowed.iter().any(|(name, _)| *name == part) {
            let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
            return Err(ServiceError::invalid(
                part,
                format!(
                    "unexpected file part `{part}` for type {}: expected {}",
                    self.meta.upload_type,
                    names.join(", ")
                ),
            ));
        }
        self.total += data.len() as u64;
        let limits = &self.symx.inner.config.limits;
        if self.total > limits.max_upload_bytes {
            return Err(too_large(self.total, limits.max_upload_bytes));
        }
        // A client that keeps the upload alive with a byte now and then holds a place and a
        // spool file for nothing: past the idle bound, its average rate must keep up.
        let elapsed = self.started.elapsed();
        let min_rate = limits.upload_min_bytes_per_sec;
        if min_rate > 0
            && elapsed.as_secs() >= limits.upload_idle_secs
            && (self.total as f64) < min_rate as f64 * elapsed.as_secs_f64()
        {
            return Err(ServiceError::new(
                ErrorCode::DeadlineExceeded,
                format!(
                    "the upload averaged {:.0} bytes/s over {} s, below the minimum of {min_rate} (limits.upload_min_bytes_per_sec)",
                    self.total as f64 / elapsed.as_secs_f64(),
                    elapsed.as_secs()
                ),
            ));
        }
        let idx = match self.parts.iter().position(|p| p.name == part) {
            Some(i) => i,
            None => {
                let path = self.dir.path().join(part);
                let file = tokio::fs::File::create(&path).await?;
                self.parts.push(SpooledPart {
                    name: part.to_owned(),
                    path,
                    file,
                    size: 0,
                });
                self.parts.len() - 1
            }
        };
        let p = &mut self.parts[idx];
        p.size += data.len() as u64;
        p.file.write_all(data).await?;
        Ok(())
    }

    /// Lets a JavaScript upload leave out `minified_file`, as Elastic's API does: the map
    /// alone is indexed (function names then come from the map's `names` only).
    pub fn map_only(mut self) -> Self {
        self.map_only = true;
        self
    }

    /// Builds the index and commits the artifact. Returns once the commit is durable.
    pub async fn finish(mut self) -> Result<UploadOutcome> {
        for (name, required) in self.meta.upload_type.parts() {
            let optional = self.map_only && *name == "minified_file";
            if *required && !optional && !self.parts.iter().any(|p| p.name == *name) {
                return Err(ServiceError::invalid(
                    *name,
                    format!("Missing required file: {name}"),
                ));
            }
        }
        let mut files = Vec::with_capacity(self.parts.len());
        for p in &mut self.parts {
            p.file.flush().await?;
            p.file.sync_all().await?;
            files.push((p.name.clone(), p.path.clone(), p.size));
        }
        let symx = self.symx.clone();
        // The bytes are all here: wait for a build slot (builds are memory-heavy; a few at
        // once).
        let _build = symx
            .inner
            .uploads
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ServiceError::new(ErrorCode::Unavailable, "service is shutting down"))?;
        let kind = self.meta.kind();
        let total = self.total;
        // Then for its memory: estimated from the files before any is decoded (refused
        // outright past `limits.max_build_memory`), taken from the budget all builds share.
        let need = {
            let (inner, files) = (symx.inner.clone(), files.clone());
            symx.blocking(move || inner.estimate_build(kind, &files))
                .await?
        };
        let permits = mib(need).clamp(1, mib(symx.inner.config.limits.max_build_memory));
        let _memory = symx
            .inner
            .build_memory
            .clone()
            .acquire_many_owned(permits)
            .await
            .map_err(|_| ServiceError::new(ErrorCode::Unavailable, "service is shutting down"))?;
        let result = {
            let inner = symx.inner.clone();
            let (tenant, meta) = (self.tenant.clone(), self.meta.clone());
            symx.blocking(move || inner.commit_upload(tenant, meta, files))
                .await
        };
        drop(self.dir);
        let m = &symx.inner.metrics;
        match &result {
            Ok(o) => {
                let outcome = if o.unchanged {
                    "unchanged"
                } else if o.replaced.is_some() {
                    "replaced"
                } else {
                    "created"
                };
                m.uploads
                    .with_label_values(&[kind.mapkind(), outcome])
                    .inc();
                m.upload_bytes.inc_by(total);
                symx.after_write();
                if let Some(old) = &o.replaced {
                    symx.inner
                        .indexes
                        .invalidate(&(o.artifact.tenant.clone(), old.clone()));
                }
            }
            Err(e) => {
                let outcome = match e.code {
                    ErrorCode::AlreadyExists => "exists",
                    ErrorCode::InvalidArgument => "invalid",
                    _ => "error",
                };
                m.uploads
                    .with_label_values(&[kind.mapkind(), outcome])
                    .inc();
            }
        }
        result
    }
}

impl Inner {
    /// The bounds on dSYM archives, from the configuration.
    pub(crate) fn archive_limits(&self) -> symx_native::dsym::Limits {
        let l = &self.config.limits;
        symx_native::dsym::Limits {
            max_entries: l.max_archive_entries,
            max_total_bytes: l.max_archive_bytes,
            ..symx_native::dsym::Limits::default()
        }
    }

    /// The peak memory the index build of an upload's spooled `files` will take, from a pass
    /// over them that decodes nothing; refused past `limits.max_build_memory`, naming the
    /// file and what costs the most.
    fn estimate_build(&self, kind: ArtifactKind, files: &[(String, PathBuf, u64)]) -> Result<u64> {
        let path_of = |name: &str| files.iter().find(|f| f.0 == name).map(|f| f.1.as_path());
        match kind {
            ArtifactKind::Js | ArtifactKind::React => {
                let Some(map_path) = path_of("source_map") else {
                    return Ok(0);
                };
                let map = crate::mapped::Mapped::open(map_path)?;
                if map.is_empty() {
                    return Ok(0);
                }
                let minified = path_of("minified_file")
                    .map(crate::mapped::Mapped::open)
                    .transpose()?;
                self.source_map_build_memory(&map, minified.as_deref())
            }
            ArtifactKind::Il2cpp => {
                let len = files.iter().map(|f| f.2).sum::<u64>();
                let need = symx_il2cpp::estimate_build_memory(len);
                self.check_build_memory("il2cpp_mapping_file", need, || {
                    format!("{len} bytes of JSON entries")
                })?;
                Ok(need)
            }
            ArtifactKind::Jvm => {
                let Some(path) = path_of("jvm_mapping_file") else {
                    return Ok(0);
                };
                let mapped = crate::mapped::Mapped::open(path)?;
                let estimate = symx_proguard::estimate_build_memory(&mapped);
                self.check_build_memory("jvm_mapping_file", estimate.bytes, || estimate.largest())?;
                Ok(estimate.bytes)
            }
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
                self.check_build_memory("symbols_archive", need, || {
                    format!("a DWARF file of {largest} bytes")
                })?;
                Ok(need)
            }
            _ => {
                let mut need = 0u64;
                for (part, path, _) in files {
                    let mapped = crate::mapped::Mapped::open(path)?;
                    let one = symx_native::estimate_build_memory(&mapped);
                    self.check_build_memory(part, one, || {
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
    pub(crate) fn source_map_build_memory(
        &self,
        map: &[u8],
        minified: Option<&[u8]>,
    ) -> Result<u64> {
        let minified = minified.filter(|m| !symx_sourcemap::is_hermes_bytecode(m));
        let shape = symx_sourcemap::measure(map).map_err(|e| ServiceError {
            field: Some("source_map".into()),
            ..ServiceError::from(e)
        })?;
        let need = shape.build_bytes(minified);
        self.check_build_memory("source_map", need, || shape.largest(minified))?;
        Ok(need)
    }

    /// Refuses a build estimated to take more than `limits.max_build_memory`, naming the
    /// file and what costs the most (`largest`).
    pub(crate) fn check_build_memory(
        &self,
        field: &str,
        need: u64,
        largest: impl FnOnce() -> String,
    ) -> Result<()> {
        let max = self.config.limits.max_build_memory;
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
    fn timed_build<T, E>(
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

    /// The blocking part of an upload: hash the spooled files, read what the kind needs,
    /// build its index, commit. (Hashing here rather than as chunks arrive keeps ~2.5 ms of
    /// sha256 per MiB off the async threads; the files are still in the page cache.)
    fn commit_upload(
        &self,
        tenant: Tenant,
        mut meta: UploadMetadata,
        spooled: Vec<(String, PathBuf, u64)>,
    ) -> Result<UploadOutcome> {
        let files = spooled
            .into_iter()
            .map(|(name, path, size)| {
                let sha = sha256_file(&path)?;
                Ok((name, path, sha, size))
            })
            .collect::<Result<Vec<_>>>()?;
        let kind = meta.kind();
        let path_of = |name: &str| files.iter().find(|f| f.0 == name).map(|f| f.1.clone());
        let mut indexes = Vec::new();
        let mut debug_id = None;
        let mut lookups: Vec<(String, String)> = Vec::new();

        match kind {
            ArtifactKind::Js | ArtifactKind::React => {
                let map_path = path_of("source_map").ok_or_else(|| {
                    ServiceError::invalid("source_map", "Missing required file: source_map")
                })?;
                let map = std::fs::read(&map_path)?;
                if map.is_empty() {
                    return Err(ServiceError::invalid(
                        "source_map",
                        "invalid source map: the file is empty",
                    ));
                }
                let minified = match path_of("minified_file") {
                    Some(p) => Some(std::fs::read(p)?),
                    None => None,
                };
                let built = self
                    .timed_build(kind, || {
                        symx_sourcemap::build_index(&map, minified.as_deref())
                    })
                    .map_err(|e| {
                        let field = match e {
                            symx_sourcemap::Error::InvalidMinified(_) => "minified_file",
                            _ => "source_map",
                        };
                        ServiceError {
                            field: Some(field.into()),
                            ..ServiceError::from(e)
                        }
                    })?;
                let file_id = built.debug_id.map(|d| d.to_string());
                if let (Some(given), Some(found)) =
                    (meta.debug_id.as_deref().filter(|s| !s.is_empty()), &file_id)
                    && !given.eq_ignore_ascii_case(found)
                {
                    return Err(ServiceError::invalid(
                        "debug_id",
                        format!(
                            "debug_id {given} does not match the source map's debug id {found}"
                        ),
                    ));
                }
                debug_id = file_id.or_else(|| meta.debug_id.clone().filter(|s| !s.is_empty()));
                if meta.debug_id.as_deref().is_none_or(str::is_empty) && kind == ArtifactKind::React
                {
                    meta.debug_id = debug_id.clone();
                }
                indexes.push(("js".to_owned(), built.bytes));
                let service = meta.service.clone().unwrap_or_default();
                let version = meta.version.clone().unwrap_or_default();
                if kind == ArtifactKind::Js {
                    // Elastic's list and delete name a map by these hashes: computed once,
                    // here, after the build has freed its memory.
                    let bundle = meta.minified_url.as_deref().unwrap_or_default();
                    let fleet = crate::fleet::summary(&service, &version, bundle, &map);
                    let fleet = serde_json::to_vec(&fleet)
                        .map_err(|e| ServiceError::internal(format!("fleet summary: {e}")))?;
                    indexes.push(("fleet".to_owned(), fleet));
                }
                let url = match kind {
                    ArtifactKind::Js => meta.minified_url.clone().unwrap_or_default(),
                    _ => meta.bundle_name.clone().unwrap_or_default(),
                };
                let key = UrlKey::parse(&url);
                if let Some(full) = key.full() {
                    lookups.push(("url".into(), format!("{service}{SEP}{version}{SEP}{full}")));
                }
                lookups.push((
                    "path".into(),
                    format!("{service}{SEP}{version}{SEP}{}", key.path),
                ));
            }
            ArtifactKind::Il2cpp => {
                let path = path_of("il2cpp_mapping_file").ok_or_else(|| {
                    ServiceError::invalid(
                        "il2cpp_mapping_file",
                        "Missing required file: il2cpp_mapping_file",
                    )
                })?;
                let bytes = std::fs::read(&path)?;
                let built = self
                    .timed_build(kind, || symx_il2cpp::build_index(&bytes))
                    .map_err(|e| ServiceError {
                        field: Some("il2cpp_mapping_file".into()),
                        ..ServiceError::from(e)
                    })?;
                indexes.push(("il2cpp".to_owned(), built.bytes));
            }
            ArtifactKind::Jvm => {
                let path = path_of("jvm_mapping_file").ok_or_else(|| {
                    ServiceError::invalid(
                        "jvm_mapping_file",
                        "Missing required file: jvm_mapping_file",
                    )
                })?;
                let mapped = crate::mapped::Mapped::open(&path)?;
                let built = self
                    .timed_build(kind, || symx_proguard::build_index(&mapped))
                    .map_err(|e| ServiceError {
                        field: Some("jvm_mapping_file".into()),
                        ..ServiceError::from(e)
                    })?;
                // Without a stated build id, the mapping is known by its content (reported
                // back in the artifact's attributes).
                if meta.build_id.as_deref().is_none_or(str::is_empty) {
                    meta.build_id = Some(built.content_id.clone());
                }
                lookups.push((
                    "svv".into(),
                    jvm_release_key(
                        meta.service.as_deref(),
                        meta.version.as_deref(),
                        meta.variant.as_deref(),
                    ),
                ));
                indexes.push(("jvm".to_owned(), built.bytes));
            }
            ArtifactKind::Elf
            | ArtifactKind::Ndk
            | ArtifactKind::Flutter
            | ArtifactKind::Ios
            | ArtifactKind::Pe => {
                let part = meta.upload_type.parts()[0].0;
                let path = path_of(part).ok_or_else(|| {
                    ServiceError::invalid(part, format!("Missing required file: {part}"))
                })?;
                let scratch = tempfile::Builder::new()
                    .prefix("extract-")
                    .tempdir_in(&self.spool_dir)?;
                let limits = self.archive_limits();
                let built = self.timed_build(kind, || {
                    crate::native::build(kind, &mut meta, part, &path, scratch.path(), &limits)
                })?;
                debug_id = built.debug_id;
                lookups.extend(built.lookups);
                indexes.extend(built.indexes);
            }
            _ => {}
        }
        // Repository metadata (a `repository` upload, or the part beside a source map or a
        // mapping): normalised and indexed for source links, found by its commit.
        if let Some(path) = path_of("repository") {
            let bytes = std::fs::read(&path)?;
            let repo = crate::links::parse(
                &bytes,
                meta.git_repository_url.as_deref().filter(|u| !u.is_empty()),
                meta.git_commit_sha.as_deref().filter(|c| !c.is_empty()),
            )?;
            if meta.git_commit_sha.as_deref().is_none_or(str::is_empty) {
                meta.git_commit_sha = Some(repo.commit.clone());
            }
            lookups.push(("commit".into(), repo.commit.clone()));
            lookups.push((
                "repo".into(),
                format!("{}{SEP}{}", repo.repository_url, repo.commit),
            ));
            let json = serde_json::to_vec(&repo)
                .map_err(|e| ServiceError::internal(format!("cannot store the repository: {e}")))?;
            indexes.push(("repo".to_owned(), json));
        }
        if let Some(d) = &debug_id {
            lookups.push(("debug_id".into(), d.to_ascii_lowercase()));
        }
        // Identifiers of kinds resolved by later versions are indexed now, so their artifacts
        // are found without a migration.
        for (field, value) in [
            ("build_id", &meta.build_id),
            ("gnu_build_id", &meta.gnu_build_id),
            ("go_build_id", &meta.go_build_id),
            ("file_hash", &meta.file_hash),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                lookups.push((field.into(), v.to_ascii_lowercase()));
            }
        }
        if let Some(uuids) = meta.uuids.as_deref() {
            for u in uuids.split(',').map(str::trim).filter(|u| !u.is_empty()) {
                lookups.push(("uuid".into(), u.to_ascii_lowercase()));
            }
        }
        if let Some(sig) = meta.pdb_sig.as_deref() {
            let sig = sig.trim_matches(['{', '}']).to_ascii_lowercase();
            lookups.push((
                "pdb".into(),
                format!("{sig}{SEP}{}", meta.pdb_age.unwrap_or(0)),
            ));
        }
        lookups.sort();
        lookups.dedup();

        let identity = meta.identity();
        let mut h = Sha256::new();
        h.update(tenant.as_str());
        h.update([0]);
        h.update(kind.mapkind());
        h.update([0]);
        h.update(&identity);
        for (name, _, sha, _) in &files {
            h.update([0]);
            h.update(name);
            h.update(sha);
        }
        let id = ArtifactId::from_digest(kind, &h.finalize());
        let record = ArtifactRecord {
            id: id.clone(),
            kind,
            metadata: meta.clone(),
            created_at_ms: symx_storage::now_ms(),
            deleted_at_ms: None,
            files: files
                .iter()
                .map(|(name, _, sha, size)| FileRecord {
                    part: name.clone(),
                    sha256: hex::encode(sha),
                    size: *size,
                })
                .collect(),
            debug_id,
            lookups,
            indexes: indexes.iter().map(|(n, _)| n.clone()).collect(),
        };
        let blobs = files
            .iter()
            .map(|(_, path, sha, size)| NewBlob {
                sha256: *sha,
                path: path.clone(),
                size: *size,
            })
            .collect();
        let outcome = self.storage.commit(NewArtifact {
            tenant: tenant.clone(),
            record: record.clone(),
            identity,
            blobs,
            indexes,
            overwrite: meta.overwrite,
        })?;
        let (replaced, unchanged) = match outcome {
            CommitOutcome::Created => (None, false),
            CommitOutcome::Replaced(old) => (Some(old), false),
            CommitOutcome::Unchanged => (None, true),
        };
        let stored = if unchanged {
            self.storage.get(&tenant, &id)?.unwrap_or(record)
        } else {
            record
        };
        Ok(UploadOutcome {
            artifact: ArtifactView::new(&tenant, &stored),
            replaced,
            unchanged,
        })
    }
}

/// The JVM variant of an upload or a stack trace that names none: the one default of the
/// whole product (datadog-ci and `symx upload jvm` send `release` when not told otherwise).
pub(crate) const DEFAULT_JVM_VARIANT: &str = "release";

/// The lookup value of a JVM mapping's release: service, version, variant (absent or empty:
/// [`DEFAULT_JVM_VARIANT`]).
pub(crate) fn jvm_release_key(
    service: Option<&str>,
    version: Option<&str>,
    variant: Option<&str>,
) -> String {
    format!(
        "{}{SEP}{}{SEP}{}",
        service.unwrap_or_default(),
        version.unwrap_or_default(),
        variant
            .filter(|v| !v.is_empty())
            .unwrap_or(DEFAULT_JVM_VARIANT)
    )
}

/// The release key mappings uploaded without a variant were stored under before the default
/// existed (an empty variant); still found by stack traces that name no variant.
pub(crate) fn legacy_jvm_release_key(service: Option<&str>, version: Option<&str>) -> String {
    format!(
        "{}{SEP}{}{SEP}",
        service.unwrap_or_default(),
        version.unwrap_or_default()
    )
}

/// The sha256 of a file, read in 1 MiB pieces.
fn sha256_file(path: &std::path::Path) -> std::io::Result<[u8; 32]> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read(&mut buf)? {
            0 => return Ok(h.finalize().into()),
            n => h.update(&buf[..n]),
        }
    }
}

/// Bytes in whole MiB, rounded up, as the build-memory budget counts them.
pub(crate) fn mib(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(1 << 20)).unwrap_or(u32::MAX)
}
