//! The read side of stored artifacts: the caches of loaded indexes ([`cache`]), one loader per
//! kind, and which artifact a lookup finds.
//!
//! Every loader follows one contract: read the stored index, open it in place; an index of
//! another format version (or none) is built again from the stored raw artifact through
//! [`Builder`] (cached, not persisted: a re-upload persists the new format). Writes anywhere
//! in the service end in [`Indexes::after_write`].

pub(crate) mod cache;
pub(crate) mod local;
pub(crate) mod replica;

use crate::build::Builder;
use crate::error::{Result, ServiceError};
use crate::lookups::{JS_KINDS, Lookup, NATIVE_KINDS, REPO_KINDS};
use crate::metrics::Metrics;
use crate::repo::RepoIndex;
use crate::shared::Shared;
use cache::{IndexCache, LoadedIndex, NativeArtifact, ResolveCache, ResolveKey};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use symx_native::NativeIndex;
use symx_sourcemap::JsIndex;
use symx_storage::{ArtifactRecord, Storage};
use symx_types::{ArtifactId, ArtifactKind, Tenant};

/// Loaded indexes and lookups, through their caches.
#[derive(Debug)]
pub(crate) struct Indexes {
    storage: Arc<Storage>,
    builder: Arc<Builder>,
    /// Indexes by artifact, bounded in bytes (`cache.max_bytes`).
    pub(crate) cache: IndexCache,
    /// Repository indexes by the artifact they serve (an artifact's own, or its commit's),
    /// "none" included; cleared on writes.
    repos: IndexCache,
    /// Which artifact serves a lookup, "none" included (`cache.resolve_ttl_ms`).
    pub(crate) resolves: ResolveCache,
    /// The bucket replicas share, when configured (`[storage.s3]`).
    shared: Option<Arc<Shared>>,
    /// Where files fetched from the bucket are spooled before they are committed here.
    spool: PathBuf,
    metrics: Metrics,
    /// When (Unix ms) a lookup last missed locally and could not reach the bucket.
    bucket_failed_at_ms: std::sync::atomic::AtomicU64,
    /// Held while a change from the bucket is applied.
    applying: std::sync::Mutex<()>,
    /// When this replica last swept the bucket of unused files.
    last_sweep: std::sync::Mutex<Option<std::time::Instant>>,
    /// With a shared bucket: which payloads this replica holds, within its byte budget.
    local: local::LocalCopy,
    /// Lookups that found nothing; uploads answer them ([`Indexes::announce`]).
    pub(crate) missing: Arc<crate::missing::MissingReport>,
    /// Uploads as they are committed here, for watchers; `None` once the service closes
    /// them (at shutdown: their streams end).
    pub(crate) uploads:
        std::sync::Mutex<Option<tokio::sync::broadcast::Sender<crate::missing::UploadNews>>>,
}

impl Indexes {
    pub(crate) fn new(
        storage: Arc<Storage>,
        builder: Arc<Builder>,
        metrics: Metrics,
        config: &crate::config::Config,
        shared: Option<Arc<Shared>>,
        spool: PathBuf,
    ) -> Self {
        let cache = &config.cache;
        let (max_bytes, resolve_ttl) =
            (cache.max_bytes, Duration::from_millis(cache.resolve_ttl_ms));
        let local_max_bytes = config
            .storage
            .s3
            .as_ref()
            .map_or(0, |s3| s3.local_max_bytes);
        let missing = Arc::new(crate::missing::MissingReport::open(
            config.storage.data_dir.join("missing.json"),
            config.limits.max_missing_entries,
        ));
        Self {
            shared,
            spool,
            metrics: metrics.clone(),
            bucket_failed_at_ms: std::sync::atomic::AtomicU64::new(0),
            applying: std::sync::Mutex::new(()),
            last_sweep: std::sync::Mutex::new(None),
            local: local::LocalCopy::new(local_max_bytes),
            missing,
            uploads: std::sync::Mutex::new(Some(tokio::sync::broadcast::channel(1024).0)),
            cache: IndexCache::new(max_bytes, metrics.clone()),
            // Repository indexes are small (a file list); a sixteenth of the budget holds many.
            repos: IndexCache::named(max_bytes / 16, metrics.clone(), "repo"),
            resolves: ResolveCache::new(resolve_ttl, metrics.clone()),
            storage,
            builder,
        }
    }

    pub(crate) fn storage(&self) -> &Storage {
        &self.storage
    }

    /// After an upload (or restore) is committed here: the missing lookups it answers leave
    /// the report, and watchers are told.
    pub(crate) fn announce(&self, tenant: &Tenant, id: &ArtifactId) {
        let Ok(Some(record)) = self.storage.get(tenant, id) else {
            return;
        };
        let resolved = self.missing.answered_by(tenant, &record);
        if !resolved.is_empty() {
            tracing::info!(%id, answered = resolved.len(), "an upload answers missing lookups");
        }
        self.metrics.missing_entries.set(self.missing.len() as i64);
        // No watcher is not an error.
        if let Some(tx) = &*self.uploads.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = tx.send(crate::missing::UploadNews {
                tenant: tenant.clone(),
                record: Arc::new(record),
                resolved,
            });
        }
    }

    /// Called after every write: frames may now resolve differently, and `gone` (deleted or
    /// replaced artifacts) must not be served from the cache.
    pub(crate) fn after_write<'a>(
        &self,
        gone: impl IntoIterator<Item = (&'a Tenant, &'a ArtifactId)>,
    ) {
        self.resolves.clear();
        self.repos.clear();
        for (tenant, id) in gone {
            self.cache.invalidate(&(tenant.clone(), id.clone()));
        }
    }

    /// The first live artifact of `kinds` (in order) with the lookup row `lookup`.
    pub(crate) fn first_of(
        &self,
        tenant: &Tenant,
        kinds: &[ArtifactKind],
        lookup: &Lookup,
    ) -> Result<Option<ArtifactId>> {
        let (field, value) = (lookup.field(), lookup.value());
        for kind in kinds {
            if let Some(id) = self
                .storage
                .lookup(tenant, *kind, field, &value)?
                .into_iter()
                .next()
            {
                return Ok(Some(id));
            }
        }
        // Another replica may have taken the upload: its pointer says so before the log does.
        for kind in kinds {
            if self.fetch_by_pointer(tenant, *kind, field, &value)?
                && let Some(id) = self
                    .storage
                    .lookup(tenant, *kind, field, &value)?
                    .into_iter()
                    .next()
            {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Every live artifact of `kind` with the lookup row `lookup`.
    pub(crate) fn all_of(
        &self,
        tenant: &Tenant,
        kind: ArtifactKind,
        lookup: &Lookup,
    ) -> Result<Vec<ArtifactId>> {
        let (field, value) = (lookup.field(), lookup.value());
        let found = self.storage.lookup(tenant, kind, field, &value)?;
        if found.is_empty() && self.fetch_by_pointer(tenant, kind, field, &value)? {
            return Ok(self.storage.lookup(tenant, kind, field, &value)?);
        }
        Ok(found)
    }

    /// [`first_of`](Self::first_of) through the resolve cache, "none" included.
    pub(crate) fn resolve_first(
        &self,
        tenant: &Tenant,
        kinds: &'static [ArtifactKind],
        lookup: Lookup,
    ) -> Result<Option<ArtifactId>> {
        let key = ResolveKey::First(tenant.clone(), kinds, lookup.clone());
        self.resolves
            .get_or_resolve(key, || self.first_of(tenant, kinds, &lookup))
    }

    /// The source map with debug id `debug_id`, through the resolve cache.
    pub(crate) fn js_by_debug_id(
        &self,
        tenant: &Tenant,
        debug_id: &str,
    ) -> Result<Option<ArtifactId>> {
        self.resolve_first(tenant, JS_KINDS, Lookup::debug_id(debug_id))
    }

    /// The index of an artifact, through the cache. An index missing or of another format
    /// version is rebuilt from the stored raw files (once, then cached) rather than failing.
    pub(crate) fn load(&self, tenant: &Tenant, id: &ArtifactId) -> Result<Arc<LoadedIndex>> {
        self.cache.get_or_load(&(tenant.clone(), id.clone()), || {
            self.ensure_local(tenant, id)?;
            match id.kind() {
                k if NATIVE_KINDS.contains(&k) => self.load_native(tenant, id),
                ArtifactKind::Jvm => self.load_jvm(tenant, id),
                ArtifactKind::Il2cpp => self.load_il2cpp(tenant, id),
                _ => self.load_js(tenant, id),
            }
        })
    }

    /// The catalog record of an artifact being loaded (it vanished: purged meanwhile).
    fn record(&self, tenant: &Tenant, id: &ArtifactId) -> Result<ArtifactRecord> {
        self.storage
            .get(tenant, id)?
            .ok_or_else(|| ServiceError::internal(format!("artifact {id} vanished")))
    }

    /// The stored bytes of file `part` of an artifact (for a rebuild).
    fn raw_file(&self, rec: &ArtifactRecord, part: &str) -> Result<Vec<u8>> {
        let file = rec.file(part).ok_or_else(|| {
            ServiceError::internal(format!("artifact {} has no {part} file", rec.id))
        })?;
        Ok(self.storage.read_blob(file)?)
    }

    fn rebuilding(id: &ArtifactId, version: &dyn std::fmt::Display) {
        tracing::warn!(artifact = %id, version = %version, "rebuilding index of an older format");
    }

    fn load_js(&self, tenant: &Tenant, id: &ArtifactId) -> Result<LoadedIndex> {
        if let Some(bytes) = self.storage.read_index(tenant, id, "js")? {
            match JsIndex::open(bytes) {
                Ok(idx) => return Ok(LoadedIndex::Js(idx)),
                Err(symx_sourcemap::Error::IndexVersion(v)) => Self::rebuilding(id, &v),
                Err(e) => return Err(e.into()),
            }
        }
        let rec = self.record(tenant, id)?;
        let map = self.raw_file(&rec, "source_map")?;
        let minified = match rec.file("minified_file") {
            Some(f) => Some(self.storage.read_blob(f)?),
            None => None,
        };
        self.builder.source_map_memory(&map, minified.as_deref())?;
        let built = self
            .builder
            .source_map(rec.kind, &map, minified.as_deref())?;
        Ok(LoadedIndex::Js(JsIndex::open(built.bytes)?))
    }

    fn load_jvm(&self, tenant: &Tenant, id: &ArtifactId) -> Result<LoadedIndex> {
        if let Some(bytes) = self.storage.read_index(tenant, id, "jvm")? {
            match symx_proguard::JvmIndex::open(bytes) {
                Ok(idx) => return Ok(LoadedIndex::Jvm(idx)),
                Err(symx_proguard::Error::IndexVersion(v)) => Self::rebuilding(id, &v),
                Err(e) => return Err(e.into()),
            }
        }
        let rec = self.record(tenant, id)?;
        let mapping = self.raw_file(&rec, "jvm_mapping_file")?;
        self.builder.jvm_memory(&mapping)?;
        let built = self.builder.jvm_mapping(&mapping)?;
        Ok(LoadedIndex::Jvm(symx_proguard::JvmIndex::open(
            built.bytes,
        )?))
    }

    fn load_il2cpp(&self, tenant: &Tenant, id: &ArtifactId) -> Result<LoadedIndex> {
        if let Some(bytes) = self.storage.read_index(tenant, id, "il2cpp")? {
            match symx_il2cpp::Il2cppIndex::open(bytes) {
                Ok(idx) => return Ok(LoadedIndex::Il2cpp(idx)),
                Err(symx_il2cpp::Error::IndexVersion(v)) => Self::rebuilding(id, &v),
                Err(e) => return Err(e.into()),
            }
        }
        let rec = self.record(tenant, id)?;
        let mapping = self.raw_file(&rec, "il2cpp_mapping_file")?;
        self.builder.il2cpp_memory(mapping.len() as u64)?;
        let built = self.builder.il2cpp_mapping(&mapping)?;
        Ok(LoadedIndex::Il2cpp(symx_il2cpp::Il2cppIndex::open(
            built.bytes,
        )?))
    }

    fn load_native(&self, tenant: &Tenant, id: &ArtifactId) -> Result<LoadedIndex> {
        let rec = self.record(tenant, id)?;
        let build_id = rec
            .metadata
            .build_id
            .as_deref()
            .filter(|b| !b.is_empty())
            .map(str::to_ascii_lowercase);
        let mut slices = Vec::new();
        for name in rec.indexes.iter().filter(|n| n.starts_with("native")) {
            let bytes = self.storage.read_index(tenant, id, name)?.ok_or_else(|| {
                ServiceError::internal(format!("artifact {id} lost index {name}"))
            })?;
            match NativeIndex::open(bytes) {
                Ok(idx) => slices.push(idx),
                Err(symx_native::Error::IndexVersion(v)) => {
                    Self::rebuilding(id, &v);
                    slices.clear();
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if slices.is_empty() {
            let part = rec.metadata.upload_type.parts()[0].0;
            let bytes = self.raw_file(&rec, part)?;
            let mut meta = rec.metadata.clone();
            let built = self
                .builder
                .native_bytes(rec.kind, &mut meta, part, &bytes)?;
            slices = built
                .indexes
                .into_iter()
                .map(|(_, bytes)| NativeIndex::open(bytes))
                .collect::<Result<Vec<_>, _>>()?;
        }
        Ok(LoadedIndex::Native(NativeArtifact { slices, build_id }))
    }

    /// The artifact with repository metadata for `commit`, through the resolve cache.
    pub(crate) fn repo_artifact_of_commit(
        &self,
        tenant: &Tenant,
        commit: &str,
    ) -> Option<ArtifactId> {
        self.resolve_first(tenant, REPO_KINDS, Lookup::commit(commit))
            .ok()
            .flatten()
    }

    /// The repository that links an artifact's frames (its own `repository` part, or the one
    /// of its commit), through the repository cache; `None` when there is none.
    pub(crate) fn repo_of(&self, tenant: &Tenant, id: &ArtifactId) -> Option<Arc<LoadedIndex>> {
        self.repos
            .get_or_load(&(tenant.clone(), id.clone()), || self.load_repo(tenant, id))
            .ok()
            .filter(|idx| matches!(&**idx, LoadedIndex::Repo(r) if r.links_anything()))
    }

    fn load_repo(&self, tenant: &Tenant, id: &ArtifactId) -> Result<LoadedIndex> {
        let Some(rec) = self.storage.get(tenant, id)? else {
            return Ok(LoadedIndex::Repo(RepoIndex::none()));
        };
        if rec.indexes.iter().any(|n| n == "repo")
            && let () = self.ensure_local(tenant, id)?
            && let Some(bytes) = self.storage.read_index(tenant, id, "repo")?
        {
            return Ok(LoadedIndex::Repo(RepoIndex::open(&bytes)?));
        }
        if let Some(commit) = rec
            .metadata
            .git_commit_sha
            .as_deref()
            .filter(|c| !c.is_empty())
            && let Some(other) = self.repo_artifact_of_commit(tenant, commit)
            && &other != id
            && let () = self.ensure_local(tenant, &other)?
            && let Some(bytes) = self.storage.read_index(tenant, &other, "repo")?
        {
            return Ok(LoadedIndex::Repo(RepoIndex::open(&bytes)?));
        }
        Ok(LoadedIndex::Repo(RepoIndex::none()))
    }
}
