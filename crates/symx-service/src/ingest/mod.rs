//! Uploads: metadata first, then file parts streamed to spool files (never whole in memory
//! while receiving), then a blocking step that estimates the build's memory, and one that
//! builds the indexes ([`kinds`]: one build function per kind, returning indexes and typed
//! lookups) and commits atomically ([`commit`]).

mod commit;
mod kinds;

pub use commit::UploadOutcome;

use crate::access::admission::{UploadSlot, UploadSlots};
use crate::build::Builder;
use crate::config::LimitsConfig;
use crate::error::{Result, ServiceError};
use crate::indexes::Indexes;
use crate::metrics::Metrics;
use crate::pool::{Pool, shutting_down};
use std::path::PathBuf;
use std::sync::Arc;
use symx_storage::Storage;
use symx_types::{ErrorCode, Tenant, UploadMetadata};
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

/// The write path: uploads in progress, their builds and commits.
#[derive(Debug)]
pub(crate) struct Ingest {
    limits: LimitsConfig,
    storage: Arc<Storage>,
    indexes: Arc<Indexes>,
    builder: Arc<Builder>,
    pool: Pool,
    metrics: Metrics,
    /// Index builds of uploads at once (`limits.concurrent_uploads`), taken once the bytes
    /// have arrived.
    builds: Arc<Semaphore>,
    /// The memory of index builds in progress, in MiB (`limits.max_build_memory`): a build
    /// takes its estimate before it starts, so builds together stay within the limit.
    build_memory: Arc<Semaphore>,
    /// Uploads in progress, per tenant and in all.
    slots: Arc<UploadSlots>,
    spool_dir: PathBuf,
}

struct SpooledPart {
    name: String,
    path: PathBuf,
    file: tokio::fs::File,
    size: u64,
}

/// An upload in progress. Drop it to abandon the upload: its spool files go with it.
pub struct UploadSession {
    ingest: Arc<Ingest>,
    tenant: Tenant,
    meta: UploadMetadata,
    dir: tempfile::TempDir,
    parts: Vec<SpooledPart>,
    total: u64,
    /// The minified file may be left out (Elastic uploads send the map alone).
    map_only: bool,
    /// When the upload began (its average rate is checked against the minimum).
    started: std::time::Instant,
    _slot: UploadSlot,
}

impl std::fmt::Debug for UploadSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadSession")
            .field("type", &self.meta.upload_type)
            .field("bytes", &self.total)
            .finish()
    }
}

impl Ingest {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        limits: LimitsConfig,
        storage: Arc<Storage>,
        indexes: Arc<Indexes>,
        builder: Arc<Builder>,
        pool: Pool,
        metrics: Metrics,
        spool_dir: PathBuf,
    ) -> Self {
        Self {
            builds: Arc::new(Semaphore::new(limits.concurrent_uploads)),
            build_memory: Arc::new(Semaphore::new(mib(limits.max_build_memory) as usize)),
            slots: UploadSlots::new(&limits),
            limits,
            storage,
            indexes,
            builder,
            pool,
            metrics,
            spool_dir,
        }
    }

    /// Starts an upload: validates the metadata before any byte of content is accepted.
    /// `declared_size`, when the client states it, is checked against the limit up front.
    pub(crate) async fn begin_upload(
        self: &Arc<Self>,
        tenant: Tenant,
        meta: UploadMetadata,
        declared_size: Option<u64>,
    ) -> Result<UploadSession> {
        meta.validate()?;
        let limit = self.limits.max_upload_bytes;
        if let Some(n) = declared_size
            && n > limit
        {
            return Err(too_large(n, limit));
        }
        // A place among the uploads in progress, taken at once or refused at once: receiving
        // holds no build slot (see `finish`), so a stalled client delays no one else.
        let slot = self
            .slots
            .take(&tenant)
            .map_err(|m| ServiceError::new(ErrorCode::Unavailable, m))?;
        let dir = tempfile::Builder::new()
            .prefix("upload-")
            .tempdir_in(&self.spool_dir)?;
        Ok(UploadSession {
            ingest: self.clone(),
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
        let limits = &self.ingest.limits;
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
        let ingest = self.ingest.clone();
        // The bytes are all here: wait for a build slot (builds are memory-heavy; a few at
        // once).
        let _build = ingest
            .builds
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| shutting_down())?;
        let kind = self.meta.kind();
        let total = self.total;
        // Then for its memory: estimated from the files before any is decoded (refused
        // outright past `limits.max_build_memory`), taken from the budget all builds share.
        let need = {
            let (builder, files) = (ingest.builder.clone(), files.clone());
            ingest
                .pool
                .run(move || builder.estimate(kind, &files))
                .await?
        };
        let permits = mib(need).clamp(1, mib(ingest.limits.max_build_memory));
        let _memory = ingest
            .build_memory
            .clone()
            .acquire_many_owned(permits)
            .await
            .map_err(|_| shutting_down())?;
        let result = {
            let (builder, storage) = (ingest.builder.clone(), ingest.storage.clone());
            let indexes = ingest.indexes.clone();
            let (tenant, meta) = (self.tenant.clone(), self.meta.clone());
            ingest
                .pool
                .run(move || {
                    let out = commit::build_and_commit(
                        &builder,
                        &storage,
                        indexes.shared(),
                        tenant,
                        meta,
                        files,
                    )?;
                    indexes.keep_local(&out.artifact.tenant, &out.artifact.id);
                    indexes.announce(&out.artifact.tenant, &out.artifact.id);
                    Ok(out)
                })
                .await
        };
        drop(self.dir);
        let m = &ingest.metrics;
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
                let tenant = &o.artifact.tenant;
                ingest
                    .indexes
                    .after_write(o.replaced.iter().map(|old| (tenant, old)));
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

/// Bytes in whole MiB, rounded up, as the build-memory budget counts them.
pub(crate) fn mib(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(1 << 20)).unwrap_or(u32::MAX)
}
