//! The use cases of symx: upload, list, get, delete, restore, symbolicate and reprocess, over
//! [`symx_storage`] and the format crates, with the hot caches and the configuration.
//!
//! This crate knows no transport: no tonic, no axum, no HTTP types. The gRPC and HTTP edges
//! convert their messages to the domain types here and map [`ServiceError`] codes to their
//! status codes. CPU-heavy work (index builds, frame resolution, storage IO) runs on the
//! blocking pool, bounded by a semaphore, never on the async worker threads.
//!
//! [`Symx`] is a facade: it composes one part per flow and only delegates. The modules depend
//! one way (ARCHITECTURE.md has the map; `tests/e2e/architecture.rs` fails on a cycle):
//! `resolve` (symbolication), `ingest` (uploads) and `catalog` (list, get, delete, restore)
//! stand on `indexes` (loaded indexes, caches, which artifact a lookup finds), which stands on
//! `build` (index builds, shared by upload and rebuild) and `lookups` (the keys artifacts are
//! found by); `access` (keys, admission) stands beside them.

mod access;
mod build;
mod catalog;
pub mod config;
mod error;
pub mod fleet;
mod indexes;
mod ingest;
mod lookups;
mod mapped;
pub mod metrics;
mod missing;
mod pool;
mod repo;
mod resolve;
mod shared;
mod symbols;
pub mod urls;

pub use access::{
    Admission, ApiKeyView, KEY_CACHE_TTL, NewApiKey, Principal, Refusal, Scope, join_token,
    split_token,
};
pub use catalog::query::{Filters, ListPage, ListQuery, SourceMapFile, SourceMapSelector};
pub use catalog::view::{ArtifactFile, ArtifactView};
pub use config::{Config, ConfigError};
pub use error::{Result, ServiceError};
pub use indexes::cache::IndexCache;
pub use ingest::{UploadOutcome, UploadSession};
pub use missing::{MissingEntry, MissingKey, MissingQuery, MissingSeen, UploadNews};
pub use resolve::request::{
    Explanation, Frame, FrameResult, Reason, StackTrace, SymbolicateRequest, SymbolicateResponse,
};
pub use symbols::{DebugFile, DebugFileQuery, FileWanted, ModuleId};

use access::admission::Limiter;
use access::keys::Keys;
use build::Builder;
use catalog::Catalog;
use indexes::Indexes;
use ingest::Ingest;
use metrics::Metrics;
use pool::Pool;
use resolve::Resolver;
use std::sync::Arc;
use std::time::Duration;
use symx_storage::{Storage, StorageOptions};
use symx_types::{ArtifactId, ArtifactKind, Tenant};

/// The service: cheap to clone, shared by every edge.
#[derive(Clone, Debug)]
pub struct Symx {
    inner: Arc<Inner>,
}

/// One part per flow, each holding what it needs (shared parts behind `Arc`s).
#[derive(Debug)]
struct Inner {
    config: Config,
    storage: Arc<Storage>,
    metrics: Metrics,
    pool: Pool,
    indexes: Arc<Indexes>,
    resolver: Resolver,
    ingest: Arc<Ingest>,
    catalog: Catalog,
    keys: Keys,
    limiter: Limiter,
    symbols: Arc<symbols::Symbols>,
    /// When the shared catalog's log was last read in full (`[storage.s3]`).
    last_sync: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Symx {
    /// Opens the store in `config.storage.data_dir` and builds the caches.
    pub fn open(config: Config) -> Result<Self> {
        let data_dir = &config.storage.data_dir;
        let storage = Arc::new(Storage::open(
            &data_dir.join("db"),
            &StorageOptions {
                parallelism: config.cpu_workers() as i32,
                write_buffer_bytes: config.storage.write_buffer_bytes as usize,
                block_cache_bytes: config.storage.block_cache_bytes as usize,
            },
        )?);
        // Upload spool files live beside the database (same filesystem, so large uploads do
        // not fill a small /tmp). Leftovers of a crash are garbage: nothing references them.
        let spool_dir = data_dir.join("spool");
        if spool_dir.exists() {
            std::fs::remove_dir_all(&spool_dir)?;
        }
        std::fs::create_dir_all(&spool_dir)?;
        let metrics = Metrics::new();
        let pool = Pool::new(config.cpu_workers());
        let limits = &config.limits;
        let builder = Arc::new(Builder::new(
            limits.clone(),
            metrics.clone(),
            spool_dir.clone(),
        ));
        let archive_limits = builder.archive_limits();
        let shared = match &config.storage.s3 {
            Some(s3) => Some(Arc::new(shared::Shared::open(s3, metrics.clone())?)),
            None => None,
        };
        let indexes = Arc::new(Indexes::new(
            storage.clone(),
            builder.clone(),
            metrics.clone(),
            &config,
            shared.clone(),
            spool_dir.clone(),
        ));
        indexes.open_local_copy()?;
        let resolver = Resolver::new(
            indexes.clone(),
            metrics.clone(),
            limits.clone(),
            pool.clone(),
        );
        let symbols = Arc::new(symbols::Symbols::new(
            storage.clone(),
            indexes.clone(),
            pool.clone(),
            metrics.clone(),
            spool_dir.clone(),
            archive_limits,
        ));
        let ingest = Arc::new(Ingest::new(
            limits.clone(),
            storage.clone(),
            indexes.clone(),
            builder,
            pool.clone(),
            metrics.clone(),
            spool_dir,
        ));
        let catalog = Catalog::new(indexes.clone(), pool.clone());
        let keys = Keys::open(storage.clone(), pool.clone(), metrics.clone(), shared)?;
        let limiter = Limiter::new(limits);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                storage,
                metrics,
                pool,
                indexes,
                resolver,
                ingest,
                catalog,
                keys,
                limiter,
                symbols,
                last_sync: std::sync::Mutex::new(None),
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Sets the gauges read at scrape time (the index cache's size and entries, its budget,
    /// the store's size on disk); called before the metrics are rendered.
    pub fn publish_gauges(&self) {
        self.inner.indexes.cache.publish();
        let m = &self.inner.metrics;
        m.cache_budget_bytes
            .set(self.inner.config.cache.max_bytes as i64);
        m.storage_bytes.set(self.inner.storage.disk_bytes() as i64);
    }

    pub fn index_cache(&self) -> &IndexCache {
        &self.inner.indexes.cache
    }

    /// Readiness: the store answers and, with a shared bucket, its catalog's log was read
    /// within three poll periods.
    pub async fn ready(&self) -> Result<()> {
        let storage = self.inner.storage.clone();
        self.inner
            .pool
            .run(move || storage.ping().map_err(ServiceError::from))
            .await?;
        if let Some(shared) = self.inner.indexes.shared() {
            let stale = self
                .inner
                .last_sync
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_none_or(|t| t.elapsed() > 3 * shared.poll_every);
            if stale {
                return Err(ServiceError::new(
                    symx_types::ErrorCode::Unavailable,
                    "the shared object storage has not answered within three poll periods",
                ));
            }
        }
        Ok(())
    }

    /// With a shared bucket (`[storage.s3]`): reads its catalog's log at once and then every
    /// `poll_interval_secs`, applying other replicas' uploads, deletes and restores, until the
    /// returned handle is aborted. `None` on the embedded store.
    pub fn spawn_sync_loop(&self) -> Option<tokio::task::JoinHandle<()>> {
        let every = self.inner.indexes.shared()?.poll_every;
        let this = self.clone();
        Some(tokio::spawn(async move {
            let cursor = Arc::new(std::sync::Mutex::new(indexes::replica::LogCursor::default()));
            let started = std::time::Instant::now();
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (indexes, cursor) = (this.inner.indexes.clone(), cursor.clone());
                let read = this
                    .inner
                    .pool
                    .run(move || {
                        let mut cursor = cursor.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(shared) = indexes.shared() {
                            // Once per process (the answer is kept); a failure is asked again.
                            match shared.probe_conditional_put() {
                                Ok(honoured) => tracing::debug!(honoured, "conditional PUT probed"),
                                Err(e) => {
                                    tracing::warn!(error = %e, "conditional PUT probe failed")
                                }
                            }
                        }
                        let applied = indexes.sync_from_bucket(&mut cursor)?;
                        // A snapshot that cannot be written now is tried at the next poll;
                        // the log read above counts as read.
                        if let Err(e) = indexes.snapshot_if_due(&cursor) {
                            tracing::warn!(error = %e, "writing a catalog snapshot failed");
                        }
                        Ok::<_, ServiceError>(applied)
                    })
                    .await;
                let m = &this.inner.metrics;
                let mut last = this
                    .inner
                    .last_sync
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                match read {
                    Ok(n) => {
                        *last = Some(std::time::Instant::now());
                        if n > 0 {
                            tracing::info!(applied = n, "applied other replicas' changes");
                        }
                    }
                    Err(e) => {
                        m.catalog_poll_errors.inc();
                        tracing::warn!(error = %e, "reading the shared catalog failed");
                    }
                }
                let since = last.map_or(started.elapsed(), |t| t.elapsed());
                m.catalog_staleness_seconds.set(since.as_secs() as i64);
            }
        }))
    }

    // --- symbolication (`resolve`) ---

    /// Resolves a batch on the blocking pool.
    pub async fn symbolicate(
        &self,
        tenant: Tenant,
        request: SymbolicateRequest,
    ) -> Result<SymbolicateResponse> {
        self.inner.resolver.symbolicate(tenant, request).await
    }

    /// Resolves a batch on the calling thread (for callers already off the async threads,
    /// and for benchmarks).
    pub fn symbolicate_blocking(
        &self,
        tenant: &Tenant,
        request: &SymbolicateRequest,
    ) -> SymbolicateResponse {
        self.inner.resolver.symbolicate_blocking(tenant, request)
    }

    // --- uploads (`ingest`) ---

    /// Starts an upload: validates the metadata before any byte of content is accepted.
    /// `declared_size`, when the client states it, is checked against the limit up front.
    pub async fn begin_upload(
        &self,
        tenant: Tenant,
        meta: symx_types::UploadMetadata,
        declared_size: Option<u64>,
    ) -> Result<UploadSession> {
        self.inner
            .ingest
            .begin_upload(tenant, meta, declared_size)
            .await
    }

    // --- the catalog ---

    /// Lists artifacts of a kind with the list document's filters and pagination, newest
    /// first.
    pub async fn list(&self, tenant: Tenant, query: ListQuery) -> Result<ListPage> {
        self.inner.catalog.list(tenant, query).await
    }

    /// One artifact by id (deleted ones included, so they can be inspected before restore).
    pub async fn artifact(&self, tenant: Tenant, id: &str) -> Result<ArtifactView> {
        self.inner.catalog.artifact(tenant, id).await
    }

    /// Deletes (softly) what the filters select; with `dry_run`, only says what would go.
    pub async fn delete(
        &self,
        tenant: Tenant,
        kind: ArtifactKind,
        filters: Filters,
        dry_run: bool,
    ) -> Result<Vec<ArtifactView>> {
        self.inner
            .catalog
            .delete(tenant, kind, filters, dry_run)
            .await
    }

    /// Restores soft-deleted artifacts by id.
    pub async fn restore(
        &self,
        tenant: Tenant,
        ids: Vec<String>,
        overwrite: bool,
    ) -> Result<Vec<ArtifactView>> {
        self.inner.catalog.restore(tenant, ids, overwrite).await
    }

    /// The stored bytes of one file (`part`) of a live artifact.
    pub async fn read_file(&self, tenant: Tenant, id: &ArtifactId, part: &str) -> Result<Vec<u8>> {
        self.inner.catalog.read_file(tenant, id, part).await
    }

    /// A stored debug file by an identifier of its module (the symbol server), `None` when no
    /// stored file fits; `protocol` labels the request in the metrics.
    pub async fn debug_file(
        &self,
        tenant: Tenant,
        query: DebugFileQuery,
        protocol: &'static str,
    ) -> Result<Option<DebugFile>> {
        self.inner.symbols.find(tenant, query, protocol).await
    }

    /// The Fleet hashes of a live JavaScript artifact (Elastic's list and delete): stored at
    /// upload; computed from the map for artifacts stored before they were.
    pub async fn fleet_summary(
        &self,
        tenant: Tenant,
        view: &ArtifactView,
    ) -> Result<fleet::FleetSummary> {
        self.inner.catalog.fleet_summary(tenant, view).await
    }

    /// The get document: a JS source map's fields and its minified line lengths.
    pub async fn get_sourcemap(
        &self,
        tenant: Tenant,
        selector: SourceMapSelector,
    ) -> Result<SourceMapFile> {
        self.inner.catalog.get_sourcemap(tenant, selector).await
    }

    // --- keys and admission (`access`) ---

    /// Whether requests must present a key (some key was ever created).
    pub fn auth_required(&self) -> bool {
        self.inner.keys.required()
    }

    /// The caller a presented key stands for. UNAUTHENTICATED when a key is required and
    /// `token` is missing, malformed, unknown, revoked or wrong; the message never says which.
    pub async fn authenticate(&self, token: Option<&str>) -> Result<Principal> {
        self.inner.keys.authenticate(token).await
    }

    /// Creates a key for `tenant` (default: the caller's). Needs `admin`; a key's admin may
    /// only create keys of its own tenant, an open service's caller any.
    pub async fn create_key(
        &self,
        by: &Principal,
        tenant: Option<Tenant>,
        name: &str,
        scopes: &[String],
    ) -> Result<NewApiKey> {
        self.inner.keys.create_key(by, tenant, name, scopes).await
    }

    /// The keys the caller administers: its tenant's (every tenant's on an open service).
    pub async fn list_keys(&self, by: &Principal) -> Result<Vec<ApiKeyView>> {
        self.inner.keys.list_keys(by).await
    }

    /// Revokes a key of the caller's tenant at once (NOT_FOUND for another tenant's key).
    pub async fn revoke_key(&self, by: &Principal, id: &str) -> Result<ApiKeyView> {
        self.inner.keys.revoke_key(by, id).await
    }

    /// Admits a request of `who`: its key's rate limit first, then, for expensive work
    /// (uploads, symbolicate, reprocess), a slot among `limits.max_concurrent_requests`.
    pub fn admit(
        &self,
        who: &Principal,
        expensive: bool,
    ) -> std::result::Result<Admission, Refusal> {
        self.inner.limiter.admit(who, expensive)
    }

    // --- the missing-artifact report and uploads as they happen (`missing`) ---

    /// The lookups of a tenant that found no artifact, newest first (at most `q.limit`),
    /// and how many the tenant's report holds. On the blocking pool: up to `limit` entries
    /// are copied and sorted.
    pub async fn list_missing(
        &self,
        tenant: Tenant,
        q: MissingQuery,
    ) -> Result<(Vec<MissingEntry>, usize)> {
        let indexes = self.inner.indexes.clone();
        self.inner
            .pool
            .run(move || Ok(indexes.missing.list(&tenant, &q)))
            .await
    }

    /// Every upload committed on this replica from now on (all tenants: the caller keeps its
    /// own), with the missing lookups it answered.
    pub fn watch_uploads(&self) -> tokio::sync::broadcast::Receiver<UploadNews> {
        let uploads = self
            .inner
            .indexes
            .uploads
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match &*uploads {
            Some(tx) => tx.subscribe(),
            // Closed: a receiver that ends at once.
            None => tokio::sync::broadcast::channel(1).1,
        }
    }

    /// Ends every watch of uploads (at shutdown: a graceful drain does not wait for them).
    pub fn close_watchers(&self) {
        self.inner
            .indexes
            .uploads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    /// Writes the missing-artifact report to disk if it changed.
    pub fn save_report(&self) {
        if let Err(e) = self.inner.indexes.missing.save() {
            tracing::warn!(error = %e, "the missing-artifact report was not saved");
        }
    }

    // --- housekeeping ---

    /// Purges soft-deleted artifacts older than the configured age. Returns how many went.
    /// With a shared bucket, each one's objects are removed there first (its files once no
    /// other artifact uses them and the grace period has passed); one whose removal fails
    /// stays here and is tried again at the next purge. Files and indexes no upload in the
    /// bucket uses any more are swept from it at most every quarter of the grace period.
    pub async fn purge(&self) -> Result<usize> {
        let storage = self.inner.storage.clone();
        let indexes = self.inner.indexes.clone();
        let age_ms = self
            .inner
            .config
            .storage
            .purge_after_secs
            .saturating_mul(1000);
        let n = self
            .inner
            .pool
            .run(move || {
                let before = symx_storage::now_ms().saturating_sub(age_ms);
                let victims = indexes.leave_bucket(storage.expired(before)?);
                let purged = storage.purge_these(&victims)?;
                indexes.sweep_bucket_if_due();
                Ok::<_, ServiceError>(purged)
            })
            .await?;
        self.inner.metrics.purged.inc_by(n as u64);
        Ok(n)
    }

    /// Runs [`purge`](Self::purge) at start and then every `purge_interval_secs`, and saves
    /// the missing-artifact report every 10 s when it changed, until the returned handle is
    /// aborted.
    pub fn spawn_purge_loop(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        let every = Duration::from_secs(this.inner.config.storage.purge_interval_secs.max(1));
        tokio::spawn(async move {
            // The first tick is at once: a start after a crash removes what the crash left
            // (blob chunks written ahead for an upload that was never acknowledged; without a
            // completion marker they are never reused, and this frees their space).
            let mut tick = tokio::time::interval(every);
            // The missing-artifact report is written every 10 s when it changed.
            let mut save = tokio::time::interval(Duration::from_secs(10));
            loop {
                tokio::select! {
                    _ = tick.tick() => match this.purge().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(purged = n, "purged soft-deleted artifacts"),
                        Err(e) => tracing::error!(error = %e, "purge failed"),
                    },
                    _ = save.tick() => {
                        let report = this.clone();
                        let _ = this
                            .inner
                            .pool
                            .run(move || {
                                report.save_report();
                                Ok(())
                            })
                            .await;
                    }
                }
            }
        })
    }
}
