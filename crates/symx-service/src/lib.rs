//! The use cases of symx: upload, list, get, delete, restore, symbolicate and reprocess, over
//! [`symx_storage`] and the format crates, with the hot caches and the configuration.
//!
//! This crate knows no transport: no tonic, no axum, no HTTP types. The gRPC and HTTP edges
//! convert their messages to the domain types here and map [`ServiceError`] codes to their
//! status codes. CPU-heavy work (index builds, frame resolution, storage IO) runs on the
//! blocking pool, bounded by a semaphore, never on the async worker threads.

pub mod auth;
pub mod cache;
mod catalog;
pub mod config;
mod error;
pub mod fleet;
mod jvm;
pub mod limits;
mod links;
mod mapped;
pub mod metrics;
mod native;
mod symbolicate;
mod upload;
pub mod urls;

pub use auth::{ApiKeyView, NewApiKey, Principal, Scope};
pub use catalog::{ArtifactView, Filters, ListPage, ListQuery, SourceMapFile, SourceMapSelector};
pub use config::{Config, ConfigError};
pub use error::{Result, ServiceError};
pub use limits::{Admission, Refusal};
pub use symbolicate::{Frame, FrameResult, StackTrace, SymbolicateRequest, SymbolicateResponse};
pub use upload::{UploadOutcome, UploadSession};

use cache::{IndexCache, ResolveCache};
use metrics::Metrics;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use symx_storage::{Storage, StorageOptions};
use symx_types::ErrorCode;
use tokio::sync::Semaphore;

/// The service: cheap to clone, shared by every edge.
#[derive(Clone, Debug)]
pub struct Symx {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    storage: Arc<Storage>,
    indexes: IndexCache,
    /// Repository indexes by the artifact they serve (an artifact's own, or its commit's),
    /// "none" included; cleared on writes.
    repos: IndexCache,
    resolves: ResolveCache,
    metrics: Metrics,
    cpu: Arc<Semaphore>,
    /// Index builds of uploads at once (`limits.concurrent_uploads`), taken once the bytes
    /// have arrived.
    uploads: Arc<Semaphore>,
    /// The memory of index builds in progress, in MiB (`limits.max_build_memory`): a build
    /// takes its estimate before it starts, so builds together stay within the limit.
    build_memory: Arc<Semaphore>,
    /// Uploads in progress, per tenant and in all.
    upload_slots: Arc<limits::UploadSlots>,
    spool_dir: PathBuf,
    /// Some API key exists: every request must present one (see [`auth`]).
    auth_required: AtomicBool,
    /// API key records recently read (see [`auth`]).
    key_cache: moka::sync::Cache<String, Option<Arc<symx_storage::ApiKeyRecord>>>,
    limiter: limits::Limiter,
}

impl Symx {
    /// Opens the store in `config.storage.data_dir` and builds the caches.
    pub fn open(config: Config) -> Result<Self> {
        let data_dir = &config.storage.data_dir;
        let storage = Storage::open(
            &data_dir.join("db"),
            &StorageOptions {
                parallelism: config.cpu_workers() as i32,
                write_buffer_bytes: config.storage.write_buffer_bytes as usize,
                block_cache_bytes: config.storage.block_cache_bytes as usize,
            },
        )?;
        // Upload spool files live beside the database (same filesystem, so large uploads do
        // not fill a small /tmp). Leftovers of a crash are garbage: nothing references them.
        let spool_dir = data_dir.join("spool");
        if spool_dir.exists() {
            std::fs::remove_dir_all(&spool_dir)?;
        }
        std::fs::create_dir_all(&spool_dir)?;
        let metrics = Metrics::new();
        let indexes = IndexCache::new(config.cache.max_bytes, metrics.clone());
        // Repository indexes are small (a file list); a sixteenth of the budget holds many.
        let repos = IndexCache::named(config.cache.max_bytes / 16, metrics.clone(), "repo");
        let resolves = ResolveCache::new(
            Duration::from_millis(config.cache.resolve_ttl_ms),
            metrics.clone(),
        );
        let auth_required = AtomicBool::new(!storage.api_keys()?.is_empty());
        let cpu = Arc::new(Semaphore::new(config.cpu_workers()));
        let uploads = Arc::new(Semaphore::new(config.limits.concurrent_uploads));
        let build_memory = Arc::new(Semaphore::new(
            upload::mib(config.limits.max_build_memory) as usize
        ));
        let upload_slots = limits::UploadSlots::new(&config.limits);
        let limiter = limits::Limiter::new(&config.limits);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                storage: Arc::new(storage),
                indexes,
                repos,
                resolves,
                metrics,
                cpu,
                uploads,
                build_memory,
                upload_slots,
                spool_dir,
                auth_required,
                key_cache: auth::key_cache(),
                limiter,
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn index_cache(&self) -> &IndexCache {
        &self.inner.indexes
    }

    /// Readiness: the store answers.
    pub async fn ready(&self) -> Result<()> {
        let storage = self.inner.storage.clone();
        self.blocking(move || storage.ping().map_err(ServiceError::from))
            .await
    }

    /// Runs CPU- or IO-heavy work on the blocking pool, at most `cpu_workers` at a time.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _permit =
            self.inner.cpu.clone().acquire_owned().await.map_err(|_| {
                ServiceError::new(ErrorCode::Unavailable, "service is shutting down")
            })?;
        tokio::task::spawn_blocking(f).await?
    }

    /// Purges soft-deleted artifacts older than the configured age. Returns how many went.
    pub async fn purge(&self) -> Result<usize> {
        let storage = self.inner.storage.clone();
        let age_ms = self
            .inner
            .config
            .storage
            .purge_after_secs
            .saturating_mul(1000);
        let n = self
            .blocking(move || {
                let before = symx_storage::now_ms().saturating_sub(age_ms);
                storage.purge(before).map_err(ServiceError::from)
            })
            .await?;
        self.inner.metrics.purged.inc_by(n as u64);
        Ok(n)
    }

    /// Runs [`purge`](Self::purge) at start and then every `purge_interval_secs`, until the
    /// returned handle is aborted.
    pub fn spawn_purge_loop(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        let every = Duration::from_secs(this.inner.config.storage.purge_interval_secs.max(1));
        tokio::spawn(async move {
            // The first tick is at once: a start after a crash removes what the crash left
            // (blob chunks written ahead for an upload that was never acknowledged; without a
            // completion marker they are never reused, and this frees their space).
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match this.purge().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "purged soft-deleted artifacts"),
                    Err(e) => tracing::error!(error = %e, "purge failed"),
                }
            }
        })
    }

    /// Called after every write: frames may now resolve differently.
    fn after_write(&self) {
        self.inner.resolves.clear();
        self.inner.repos.clear();
    }
}
