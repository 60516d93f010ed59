//! The bucket replicas share (`[storage.s3]`): the source of truth when symxd runs as several
//! replicas; each replica's RocksDB is its local copy, rebuilt from the bucket when empty.
//!
//! Layout under the configured prefix (ARCHITECTURE.md, "Replicas"):
//! - `t/<tenant>/blob/<sha256>`: a stored file, content-addressed, immutable;
//! - `t/<tenant>/idx/<artifact id>/<name>`: an index built at upload, immutable;
//! - `log/<unix ms, 13 digits>-<node>-<sequence>`: one catalog change (an upload's record, a
//!   delete, a restore) under a key no other writer uses, so no conditional write is needed
//!   (Garage has neither `If-None-Match` nor versioning); replicas read it in key order;
//! - `t/<tenant>/art/<artifact id>`: an upload's catalog change and the log entry that holds
//!   it (what a pointer leads to, and what a restore or a snapshot's reader fetches);
//! - `t/<tenant>/ptr/<sha256 of kind, field, value>`: the last upload found by a lookup row,
//!   so a replica that has not read the log that far finds it on a miss;
//! - `snap/<unix ms, 13 digits>-<node>`: the whole catalog as of that point of the log
//!   (zstd JSON lines), so a new replica reads one object and the log after it, and the log
//!   before it can go.
//!
//! An upload writes its blobs, indexes, log entry and pointers before it is acknowledged.
//! Everything here is synchronous (callers are on the blocking pool or the poll thread): the
//! bucket's client runs on a small runtime of its own.

use crate::config::S3Config;
use crate::error::{Result, ServiceError};
use crate::metrics::Metrics;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload, WriteMultipart};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use symx_storage::{ArtifactRecord, NewBlob};
use symx_types::{ArtifactId, ArtifactKind, ErrorCode, Tenant};

/// Files up to this size go up in one PUT; larger ones in parts of this size.
const PART: usize = 8 << 20;

/// An upload fetched from the bucket: its files (in spool files), and its indexes by name.
pub(crate) type FetchedUpload = (Vec<NewBlob>, Vec<(String, Vec<u8>)>);

/// One catalog change, as written to the log.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Change {
    /// An upload: its record (files by content hash, indexes by name) and identity.
    Commit {
        tenant: Tenant,
        record: Box<ArtifactRecord>,
        identity: String,
        overwrite: bool,
    },
    Delete {
        tenant: Tenant,
        ids: Vec<ArtifactId>,
    },
    Restore {
        tenant: Tenant,
        ids: Vec<ArtifactId>,
        overwrite: bool,
    },
}

/// A pointer object: which upload a lookup row finds, and the log entry that holds it.
#[derive(Debug, Serialize, Deserialize)]
struct Pointer {
    id: ArtifactId,
    log: String,
}

/// An artifact's object (`t/<tenant>/art/<id>`): the log entry of its upload and the
/// upload's change itself (still readable once the log before a snapshot is gone).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ArtifactEntry {
    pub(crate) id: ArtifactId,
    pub(crate) log: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) change: Option<Change>,
}

/// The first line of a snapshot.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SnapshotHead {
    /// Every log entry before this name (13-digit Unix ms) is in the snapshot.
    pub(crate) covers: String,
    /// The replica that wrote it, and when (Unix ms).
    pub(crate) node: String,
    pub(crate) written_at_ms: u64,
}

/// One artifact in a snapshot, as the catalog held it (deleted or not).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SnapshotLine {
    pub(crate) tenant: Tenant,
    pub(crate) record: ArtifactRecord,
    pub(crate) identity: String,
}

/// Whether the bucket honours conditional PUT: not probed yet, yes, no.
const PROBE_UNKNOWN: u8 = 0;
const PROBE_YES: u8 = 1;
const PROBE_NO: u8 = 2;

/// The bucket, its layout and this replica's name.
pub(crate) struct Shared {
    store: Box<dyn ObjectStore>,
    prefix: String,
    node: String,
    sequence: AtomicU64,
    /// Log entries this process wrote (and applied as it wrote them), of the last windows.
    written: Mutex<std::collections::BTreeSet<String>>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    pub(crate) poll_every: Duration,
    /// How often a replica writes a snapshot of the catalog (when the newest is this old).
    pub(crate) snapshot_every: Duration,
    /// How long an unreferenced file stays in the bucket after its last write or refresh.
    pub(crate) grace: Duration,
    /// Log entries written this long before the newest one read are read again: writers'
    /// clocks and the bucket's listing may lag by this much (`log_window_secs`).
    log_window: Duration,
    conditional_put: AtomicU8,
    metrics: Metrics,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("store", &self.store.to_string())
            .field("prefix", &self.prefix)
            .field("node", &self.node)
            .finish()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Dropped from async code too (a server's shutdown): never block there.
        if let Some(rt) = self.runtime.lock().ok().and_then(|mut r| r.take()) {
            rt.shutdown_background();
        }
    }
}

/// A bucket error: the store is unreachable or refused; the caller may try again.
fn unavailable(what: &str, e: impl std::fmt::Display) -> ServiceError {
    let mut err = ServiceError::new(
        ErrorCode::Unavailable,
        format!("object storage: {what}: {e}"),
    );
    err.retry_after = Some(Duration::from_secs(5));
    err
}

impl Shared {
    pub(crate) fn open(config: &S3Config, metrics: Metrics) -> Result<Self> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_virtual_hosted_style_request(!config.path_style)
            .with_allow_http(config.allow_http)
            .with_retry(object_store::RetryConfig {
                backoff: object_store::BackoffConfig::default(),
                max_retries: 3,
                retry_timeout: Duration::from_secs(15),
            })
            .with_client_options(
                object_store::ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(2))
                    .with_timeout(Duration::from_secs(60))
                    .with_allow_http(config.allow_http),
            );
        if !config.endpoint.is_empty() {
            builder = builder.with_endpoint(&config.endpoint);
        }
        if !config.access_key_id.is_empty() {
            builder = builder
                .with_access_key_id(&config.access_key_id)
                .with_secret_access_key(&config.secret_access_key);
        }
        let store = builder.build().map_err(|e| {
            ServiceError::new(ErrorCode::InvalidArgument, format!("storage.s3: {e}"))
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("symx-s3")
            .enable_all()
            .build()?;
        let node = if config.node.is_empty() {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_default();
            let suffix: [u8; 4] = rand_bytes();
            format!("{}{}", clean(&host), hex::encode(suffix))
        } else {
            clean(&config.node)
        };
        Ok(Self {
            store: Box::new(store),
            prefix: config.prefix.trim_matches('/').to_owned(),
            node,
            sequence: AtomicU64::new(0),
            written: Mutex::default(),
            handle: runtime.handle().clone(),
            runtime: Mutex::new(Some(runtime)),
            poll_every: Duration::from_secs(config.poll_interval_secs),
            snapshot_every: Duration::from_secs(config.snapshot_interval_secs),
            grace: Duration::from_secs(config.grace_secs),
            log_window: Duration::from_secs(config.log_window_secs),
            conditional_put: AtomicU8::new(PROBE_UNKNOWN),
            metrics: {
                metrics.object_store_conditional_put.set(-1);
                metrics
            },
        })
    }

    /// How far back each read of the log starts, in ms (`log_window_secs`).
    pub(crate) fn log_window_ms(&self) -> u64 {
        self.log_window.as_millis() as u64
    }

    /// This replica's name in the log's keys.
    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    /// One request to the bucket, counted and timed by operation and outcome.
    async fn timed<T>(
        &self,
        op: &'static str,
        request: impl std::future::Future<Output = object_store::Result<T>>,
    ) -> object_store::Result<T> {
        let started = Instant::now();
        let out = request.await;
        let outcome = match &out {
            Ok(_) => "ok",
            Err(object_store::Error::NotFound { .. }) => "not_found",
            Err(_) => "error",
        };
        let m = &self.metrics;
        m.object_store_requests
            .with_label_values(&[op, outcome])
            .inc();
        m.object_store_seconds
            .with_label_values(&[op])
            .observe(started.elapsed().as_secs_f64());
        out
    }

    fn count_bytes(&self, direction: &str, n: usize) {
        self.metrics
            .object_store_bytes
            .with_label_values(&[direction])
            .inc_by(n as u64);
    }

    /// Asks the bucket whether it honours conditional PUT (`If-None-Match: *`): a probe
    /// object is created twice, and the second must be refused. Garage, for one, does not.
    /// Where it does, log entries and snapshots are written with it, so no write can replace
    /// another's object even if two writers chose one name. Returns the answer.
    pub(crate) fn probe_conditional_put(&self) -> Result<bool> {
        match self.conditional_put.load(Ordering::Relaxed) {
            PROBE_YES => return Ok(true),
            PROBE_NO => return Ok(false),
            _ => {}
        }
        let key = self.key(&format!("probe/{}", self.node));
        let create = || {
            self.timed(
                "put",
                self.store.put_opts(
                    &key,
                    PutPayload::from_static(b"probe"),
                    PutOptions::from(PutMode::Create),
                ),
            )
        };
        let honoured = self.run(async {
            let _ = self.timed("delete", self.store.delete(&key)).await;
            // Created, then refused the second time: honoured.
            let honoured = match (create().await, create().await) {
                (Ok(_), Err(object_store::Error::AlreadyExists { .. })) => true,
                (Ok(_), Ok(_) | Err(object_store::Error::NotImplemented))
                | (Err(object_store::Error::NotImplemented), _) => false,
                (Err(e), _) | (_, Err(e)) => {
                    return Err(unavailable("probing conditional writes", e));
                }
            };
            let _ = self.timed("delete", self.store.delete(&key)).await;
            Ok(honoured)
        })?;
        self.conditional_put.store(
            if honoured { PROBE_YES } else { PROBE_NO },
            Ordering::Relaxed,
        );
        self.metrics
            .object_store_conditional_put
            .set(i64::from(honoured));
        Ok(honoured)
    }

    /// Writes an object that must not exist yet: conditionally where the bucket honours it,
    /// else plainly (the name is this writer's own).
    async fn put_new(&self, key: &Key, body: Vec<u8>, what: &str) -> Result<()> {
        if self.conditional_put.load(Ordering::Relaxed) != PROBE_YES {
            return self.put_bytes(key, body, what).await;
        }
        let n = body.len();
        self.timed(
            "put",
            self.store
                .put_opts(key, body.into(), PutOptions::from(PutMode::Create)),
        )
        .await
        .map_err(|e| match e {
            object_store::Error::AlreadyExists { .. } => ServiceError::internal(format!(
                "object storage: {what}: {key} exists already (two writers chose one name)"
            )),
            e => unavailable(what, e),
        })?;
        self.count_bytes("out", n);
        Ok(())
    }

    fn key(&self, rest: &str) -> Key {
        if self.prefix.is_empty() {
            Key::from(rest)
        } else {
            Key::from(format!("{}/{rest}", self.prefix))
        }
    }

    fn blob_key(&self, tenant: &Tenant, sha256: &str) -> Key {
        self.key(&format!("t/{}/blob/{sha256}", tenant.as_str()))
    }

    fn index_key(&self, tenant: &Tenant, id: &ArtifactId, name: &str) -> Key {
        self.key(&format!("t/{}/idx/{}/{name}", tenant.as_str(), id.as_str()))
    }

    fn pointer_key(&self, tenant: &Tenant, kind: ArtifactKind, field: &str, value: &str) -> Key {
        let mut h = Sha256::new();
        h.update(kind.mapkind());
        h.update([0]);
        h.update(field);
        h.update([0]);
        h.update(value);
        self.key(&format!(
            "t/{}/ptr/{}",
            tenant.as_str(),
            hex::encode(h.finalize())
        ))
    }

    fn run<F: std::future::Future>(&self, f: F) -> F::Output {
        self.handle.block_on(f)
    }

    /// Stores a file (from its spool file) unless the bucket has it already, written or
    /// refreshed within half the grace period (a purge elsewhere removes an unreferenced file
    /// only once it is older than the grace period: an upload that reuses an old file writes
    /// it again, so the purge sees it as new).
    async fn put_blob(&self, tenant: &Tenant, sha256: &str, path: &std::path::Path) -> Result<()> {
        let key = self.blob_key(tenant, sha256);
        match self.timed("head", self.store.head(&key)).await {
            Ok(meta) if !self.older_than(&meta, self.grace / 2) => return Ok(()),
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(unavailable("reading a file's metadata", e)),
        }
        let size = std::fs::metadata(path)?.len();
        if size <= PART as u64 {
            let bytes = std::fs::read(path)?;
            return self.put_bytes(&key, bytes, "storing a file").await;
        }
        let started = Instant::now();
        let upload = self
            .store
            .put_multipart(&key)
            .await
            .map_err(|e| unavailable("starting a multipart upload", e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut file = std::fs::File::open(path)?;
        let mut buf = vec![0u8; PART];
        loop {
            use std::io::Read;
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            // At most two parts in flight: memory stays at a few parts whatever the size.
            writer
                .wait_for_capacity(2)
                .await
                .map_err(|e| unavailable("storing a part of a file", e))?;
            writer.write(&buf[..n]);
            self.count_bytes("out", n);
        }
        let done = writer.finish().await;
        self.metrics
            .object_store_requests
            .with_label_values(&["put_multipart", if done.is_ok() { "ok" } else { "error" }])
            .inc();
        self.metrics
            .object_store_seconds
            .with_label_values(&["put_multipart"])
            .observe(started.elapsed().as_secs_f64());
        done.map_err(|e| unavailable("completing a multipart upload", e))?;
        Ok(())
    }

    /// Whether an object was last written more than `age` ago.
    fn older_than(&self, meta: &object_store::ObjectMeta, age: Duration) -> bool {
        let at_ms = u64::try_from(meta.last_modified.timestamp_millis()).unwrap_or(0);
        symx_storage::now_ms().saturating_sub(at_ms) > age.as_millis() as u64
    }

    /// Makes an upload durable in the bucket before it is acknowledged: its files (unless
    /// there already) and indexes at once, then its log entry, then the entry's name under
    /// the artifact and its lookup rows' pointers at once. Returns the log entry's name.
    pub(crate) fn publish_upload(
        &self,
        tenant: &Tenant,
        files: &[(String, std::path::PathBuf)],
        indexes: &[(String, Vec<u8>)],
        change: &Change,
        record: &ArtifactRecord,
    ) -> Result<String> {
        use futures::future::try_join_all;
        self.run(async {
            futures::try_join!(
                try_join_all(
                    files
                        .iter()
                        .map(|(sha, path)| self.put_blob(tenant, sha, path))
                ),
                try_join_all(
                    indexes
                        .iter()
                        .map(|(name, bytes)| self.put_index(tenant, &record.id, name, bytes))
                ),
            )
        })?;
        let log = self.append(change)?;
        self.run(async {
            futures::try_join!(
                self.put_artifact(tenant, &record.id, &log, change),
                self.put_pointers_at(tenant, record, &log)
            )
        })?;
        Ok(log)
    }

    /// Writes a file of the bucket to `path` (a spool file), streaming. `None`: not in the
    /// bucket.
    async fn fetch_blob(&self, tenant: &Tenant, blob: &NewBlob) -> Result<Option<()>> {
        use futures::StreamExt;
        use std::io::Write;
        let key = self.blob_key(tenant, &hex::encode(blob.sha256));
        let got = match self.timed("get", self.store.get(&key)).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(unavailable("reading a file", e)),
        };
        let mut out = std::fs::File::create(&blob.path)?;
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| unavailable("reading a file", e))?;
            self.count_bytes("in", chunk.len());
            out.write_all(&chunk)?;
        }
        out.sync_all()?;
        Ok(Some(()))
    }

    /// Fetches an upload's files (each distinct one into `dir`, named by its hash) and its
    /// indexes, all at once. `None`: one of them is no longer in the bucket (the upload was
    /// purged, or replaced and its objects removed).
    pub(crate) fn fetch_upload(
        &self,
        tenant: &Tenant,
        record: &ArtifactRecord,
        dir: &std::path::Path,
    ) -> Result<Option<FetchedUpload>> {
        use futures::future::try_join_all;
        let mut files: Vec<NewBlob> = Vec::new();
        for f in &record.files {
            // Also what keeps the name a plain file name under `dir`.
            let sha256 = symx_storage::parse_sha(&f.sha256).ok_or_else(|| {
                ServiceError::internal(format!("catalog log: file {} has no valid sha256", f.part))
            })?;
            if !files.iter().any(|b| b.sha256 == sha256) {
                files.push(NewBlob {
                    sha256,
                    path: dir.join(&f.sha256),
                    size: f.size,
                });
            }
        }
        let (fetched, indexes) = self.run(async {
            futures::try_join!(
                try_join_all(files.iter().map(|b| self.fetch_blob(tenant, b))),
                try_join_all(record.indexes.iter().map(|name| async move {
                    let key = self.index_key(tenant, &record.id, name);
                    let bytes = self.get_bytes(&key, "reading an index").await?;
                    Ok::<_, ServiceError>(bytes.map(|b| (name.clone(), b.to_vec())))
                })),
            )
        })?;
        if fetched.iter().any(Option::is_none) {
            return Ok(None);
        }
        let Some(indexes) = indexes.into_iter().collect::<Option<Vec<_>>>() else {
            return Ok(None);
        };
        Ok(Some((files, indexes)))
    }

    async fn put_index(
        &self,
        tenant: &Tenant,
        id: &ArtifactId,
        name: &str,
        bytes: &[u8],
    ) -> Result<()> {
        let key = self.index_key(tenant, id, name);
        self.put_bytes(&key, bytes.to_vec(), "storing an index")
            .await
    }

    /// Appends a change to the log under a key of its own; returns the key.
    pub(crate) fn append(&self, change: &Change) -> Result<String> {
        let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
        let name = format!("{:013}-{}-{seq:08}", symx_storage::now_ms(), self.node);
        let key = self.key(&format!("log/{name}"));
        let body = serde_json::to_vec(change).map_err(|e| ServiceError::internal(e.to_string()))?;
        self.run(self.put_new(&key, body, "appending to the catalog log"))?;
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        written.insert(name.clone());
        let keep_from = Self::rewind(&name, 2 * self.log_window_ms());
        *written = written.split_off(&keep_from);
        Ok(name)
    }

    fn artifact_key(&self, tenant: &Tenant, id: &ArtifactId) -> Key {
        self.key(&format!("t/{}/art/{}", tenant.as_str(), id.as_str()))
    }

    /// Records an upload under its artifact: its change and the log entry that holds it.
    async fn put_artifact(
        &self,
        tenant: &Tenant,
        id: &ArtifactId,
        log: &str,
        change: &Change,
    ) -> Result<()> {
        let body = serde_json::to_vec(&ArtifactEntry {
            id: id.clone(),
            log: log.to_owned(),
            change: Some(change.clone()),
        })
        .map_err(|e| ServiceError::internal(e.to_string()))?;
        let key = self.artifact_key(tenant, id);
        self.put_bytes(&key, body, "storing an artifact's log entry")
            .await
    }

    /// The bucket's object of upload `id`, if it has it (not yet purged).
    pub(crate) fn artifact(
        &self,
        tenant: &Tenant,
        id: &ArtifactId,
    ) -> Result<Option<ArtifactEntry>> {
        let key = self.artifact_key(tenant, id);
        self.get_json::<ArtifactEntry>(&key, "an artifact's log entry")
    }

    /// The change that uploaded `id`: from its artifact object, or the log entry it names.
    /// `None` when the bucket no longer has it.
    pub(crate) fn upload_change(&self, tenant: &Tenant, id: &ArtifactId) -> Result<Option<Change>> {
        match self.artifact(tenant, id)? {
            None => Ok(None),
            Some(ArtifactEntry {
                change: Some(change),
                ..
            }) => Ok(Some(change)),
            Some(entry) => self.entry(&entry.log),
        }
    }

    /// An object's bytes (`None`: not in the bucket); `what` names it in errors.
    async fn get_bytes(&self, key: &Key, what: &str) -> Result<Option<bytes::Bytes>> {
        let got = self
            .timed("get", async { self.store.get(key).await?.bytes().await })
            .await;
        match got {
            Ok(bytes) => {
                self.count_bytes("in", bytes.len());
                Ok(Some(bytes))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(unavailable(what, e)),
        }
    }

    /// Writes an object whole; `what` names it in errors.
    async fn put_bytes(&self, key: &Key, body: impl Into<PutPayload>, what: &str) -> Result<()> {
        let body = body.into();
        let n = body.content_length();
        self.timed("put", self.store.put(key, body))
            .await
            .map_err(|e| unavailable(what, e))?;
        self.count_bytes("out", n);
        Ok(())
    }

    /// Removes an object (gone already is fine).
    async fn remove(&self, key: &Key, what: &str) -> Result<()> {
        match self.timed("delete", self.store.delete(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(unavailable(what, e)),
        }
    }

    /// Every object under `prefix`.
    async fn list_all(&self, prefix: &Key, what: &str) -> Result<Vec<object_store::ObjectMeta>> {
        use futures::TryStreamExt;
        self.timed("list", self.store.list(Some(prefix)).try_collect())
            .await
            .map_err(|e| unavailable(what, e))
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, key: &Key, what: &str) -> Result<Option<T>> {
        let Some(bytes) = self.run(self.get_bytes(key, what))? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ServiceError::internal(format!("{what}: {e}")))
    }

    /// Removes the pointers of `record`'s lookup rows that still name it (a deleted artifact
    /// is not found through them; a later upload's pointers are left alone).
    pub(crate) fn drop_pointers(&self, tenant: &Tenant, record: &ArtifactRecord) -> Result<()> {
        for (field, value) in &record.lookups {
            let key = self.pointer_key(tenant, record.kind, field, value);
            if let Some(p) = self.get_json::<Pointer>(&key, "a lookup pointer")?
                && p.id == record.id
            {
                self.run(self.remove(&key, "removing a lookup pointer"))?;
            }
        }
        Ok(())
    }

    /// Points the lookup rows of an upload at its log entry.
    pub(crate) fn put_pointers(
        &self,
        tenant: &Tenant,
        record: &ArtifactRecord,
        log: &str,
    ) -> Result<()> {
        self.run(self.put_pointers_at(tenant, record, log))
    }

    async fn put_pointers_at(
        &self,
        tenant: &Tenant,
        record: &ArtifactRecord,
        log: &str,
    ) -> Result<()> {
        let body = serde_json::to_vec(&Pointer {
            id: record.id.clone(),
            log: log.to_owned(),
        })
        .map_err(|e| ServiceError::internal(e.to_string()))?;
        let body = bytes::Bytes::from(body);
        futures::future::try_join_all(record.lookups.iter().map(|(field, value)| {
            let key = self.pointer_key(tenant, record.kind, field, value);
            let body = body.clone();
            async move { self.put_bytes(&key, body, "storing a lookup pointer").await }
        }))
        .await?;
        Ok(())
    }

    /// The upload the pointer of a lookup row names, and its log entry, if any.
    pub(crate) fn pointer(
        &self,
        tenant: &Tenant,
        kind: ArtifactKind,
        field: &str,
        value: &str,
    ) -> Result<Option<(ArtifactId, String)>> {
        let key = self.pointer_key(tenant, kind, field, value);
        Ok(self
            .get_json::<Pointer>(&key, "a lookup pointer")?
            .map(|p| (p.id, p.log)))
    }

    fn key_record_key(&self, id: &str) -> Key {
        self.key(&format!("keys/{id}"))
    }

    /// Stores an API key record (created or revoked): every replica authenticates with it.
    pub(crate) fn put_key(&self, rec: &symx_storage::ApiKeyRecord) -> Result<()> {
        let body = serde_json::to_vec(rec).map_err(|e| ServiceError::internal(e.to_string()))?;
        let key = self.key_record_key(&rec.id);
        self.run(self.put_bytes(&key, body, "storing an API key"))
    }

    /// An API key record by id.
    pub(crate) fn api_key(&self, id: &str) -> Result<Option<symx_storage::ApiKeyRecord>> {
        if !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(None);
        }
        self.get_json(&self.key_record_key(id), "an API key")
    }

    /// Every API key record.
    pub(crate) fn api_keys(&self) -> Result<Vec<symx_storage::ApiKeyRecord>> {
        let prefix = self.key("keys");
        let listed = self.run(self.list_all(&prefix, "listing API keys"))?;
        let mut out = Vec::with_capacity(listed.len());
        for meta in listed {
            if let Some(rec) = self.get_json(&meta.location, "an API key")? {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// Whether any API key exists.
    pub(crate) fn any_api_key(&self) -> Result<bool> {
        use futures::StreamExt;
        let prefix = self.key("keys");
        self.run(async {
            match self
                .timed("list", async {
                    self.store.list(Some(&prefix)).next().await.transpose()
                })
                .await
            {
                Ok(found) => Ok(found.is_some()),
                Err(e) => Err(unavailable("listing API keys", e)),
            }
        })
    }

    /// One log entry by name; `None` when it is gone (the log before a snapshot is removed).
    pub(crate) fn entry(&self, name: &str) -> Result<Option<Change>> {
        let key = self.key(&format!("log/{name}"));
        self.get_json(&key, &format!("catalog log entry {name}"))
    }

    /// The names of the objects under `dir` (`log`, `snap`) after `after` (a name, or "" for
    /// all), in order.
    fn names_after(&self, dir: &str, after: &str) -> Result<Vec<String>> {
        use futures::TryStreamExt;
        let prefix = self.key(dir);
        let offset = self.key(&format!("{dir}/{after}"));
        let what = format!("listing {dir}/");
        let listed = self.run(async {
            if after.is_empty() {
                self.list_all(&prefix, &what).await
            } else {
                self.timed(
                    "list",
                    self.store
                        .list_with_offset(Some(&prefix), &offset)
                        .try_collect(),
                )
                .await
                .map_err(|e| unavailable(&what, e))
            }
        })?;
        let mut names: Vec<String> = listed
            .into_iter()
            .filter_map(|m| m.location.filename().map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The names of the log entries after `after` (a name, or "" for all), in order.
    pub(crate) fn log_after(&self, after: &str) -> Result<Vec<String>> {
        self.names_after("log", after)
    }

    /// The names of the snapshots, oldest first.
    pub(crate) fn snapshots(&self) -> Result<Vec<String>> {
        self.names_after("snap", "")
    }

    /// Writes a snapshot (`body`: zstd JSON lines, [`SnapshotHead`] first) covering the log
    /// before `covers`. Returns its name.
    pub(crate) fn put_snapshot(&self, covers: &str, body: Vec<u8>) -> Result<String> {
        let name = format!("{covers}-{}", self.node);
        let key = self.key(&format!("snap/{name}"));
        self.run(self.put_new(&key, body, "storing a catalog snapshot"))?;
        Ok(name)
    }

    /// A snapshot's bytes (zstd JSON lines); `None` when it is gone.
    pub(crate) fn snapshot(&self, name: &str) -> Result<Option<bytes::Bytes>> {
        let key = self.key(&format!("snap/{name}"));
        self.run(self.get_bytes(&key, "reading a catalog snapshot"))
    }

    /// Removes the snapshots but the newest two, and the log entries before the older of
    /// those two: a replica behind the newest snapshot loads it, so neither is read again;
    /// one older snapshot and its log are kept in case the newest cannot be read. Returns
    /// how many objects went.
    pub(crate) fn prune_log(&self) -> Result<usize> {
        let snaps = self.snapshots()?;
        if snaps.len() < 2 {
            return Ok(0);
        }
        let keep_from = &snaps[snaps.len() - 2];
        let covers = keep_from.get(..13).unwrap_or_default();
        let old_snaps = &snaps[..snaps.len() - 2];
        let old_log: Vec<String> = self
            .log_after("")?
            .into_iter()
            .take_while(|name| name.as_str() < covers)
            .collect();
        self.run(async {
            for name in old_snaps {
                self.remove(
                    &self.key(&format!("snap/{name}")),
                    "removing an old snapshot",
                )
                .await?;
            }
            for chunk in old_log.chunks(32) {
                futures::future::try_join_all(chunk.iter().map(|name| async move {
                    self.remove(
                        &self.key(&format!("log/{name}")),
                        "removing old log entries",
                    )
                    .await
                }))
                .await?;
            }
            Ok::<_, ServiceError>(())
        })?;
        let m = &self.metrics.object_store_removed;
        m.with_label_values(&["snapshot"])
            .inc_by(old_snaps.len() as u64);
        m.with_label_values(&["log"]).inc_by(old_log.len() as u64);
        Ok(old_snaps.len() + old_log.len())
    }

    /// Removes a purged (or replaced) upload's artifact object, then its indexes: the
    /// upload is no longer fetched by a pointer, a restore or an old log entry. Its files are
    /// left to [`sweep_files`](Self::sweep_files): another upload may use them. Returns how
    /// many objects went.
    pub(crate) fn remove_upload(&self, tenant: &Tenant, record: &ArtifactRecord) -> Result<usize> {
        self.run(async {
            self.remove(
                &self.artifact_key(tenant, &record.id),
                "removing an artifact",
            )
            .await?;
            futures::future::try_join_all(record.indexes.iter().map(|name| async move {
                self.remove(
                    &self.index_key(tenant, &record.id, name),
                    "removing an index",
                )
                .await
            }))
            .await
        })?;
        let m = &self.metrics.object_store_removed;
        m.with_label_values(&["artifact"]).inc();
        m.with_label_values(&["index"])
            .inc_by(record.indexes.len() as u64);
        Ok(1 + record.indexes.len())
    }

    /// Removes the files and indexes no upload in the bucket refers to any more (of purged
    /// or replaced uploads, and of uploads that failed before their log entry), once they
    /// are older than the grace period. What refers to them is read from the bucket itself
    /// (each artifact object holds its upload's record), not from this replica's copy. An
    /// upload in progress elsewhere wrote or refreshed its files within the grace period, so
    /// they stay. Returns how many objects went.
    pub(crate) fn sweep_files(&self) -> Result<usize> {
        let tenants = self.run(async {
            self.timed("list", self.store.list_with_delimiter(Some(&self.key("t"))))
                .await
                .map_err(|e| unavailable("listing tenants", e))
        })?;
        let mut removed = 0;
        for dir in tenants.common_prefixes {
            let Some(tenant) = dir.filename().and_then(|t| Tenant::new(t).ok()) else {
                continue;
            };
            removed += self.sweep_tenant(&tenant)?;
        }
        Ok(removed)
    }

    fn sweep_tenant(&self, tenant: &Tenant) -> Result<usize> {
        let t = tenant.as_str();
        let (art_dir, blob_dir, idx_dir) = (
            self.key(&format!("t/{t}/art")),
            self.key(&format!("t/{t}/blob")),
            self.key(&format!("t/{t}/idx")),
        );
        // Files before artifacts: an upload that writes its artifact after the files were
        // listed is seen, and one that refreshed a listed file is seen by the HEAD below.
        let (blobs, idx) = self.run(async {
            futures::try_join!(
                self.list_all(&blob_dir, "listing files"),
                self.list_all(&idx_dir, "listing indexes"),
            )
        })?;
        let arts = self.run(self.list_all(&art_dir, "listing artifacts"))?;
        let mut files = std::collections::HashSet::new();
        let mut ids = std::collections::HashSet::new();
        for meta in &arts {
            let Some(entry) = self.get_json::<ArtifactEntry>(&meta.location, "an artifact")? else {
                continue;
            };
            if let Some(Change::Commit { record, .. }) = &entry.change {
                files.extend(record.files.iter().map(|f| f.sha256.clone()));
            } else {
                // Written before artifacts held their change: its files cannot be told
                // apart, so none of this tenant's is removed.
                return Ok(0);
            }
            ids.insert(entry.id.as_str().to_owned());
        }
        let stale = |meta: &&object_store::ObjectMeta| self.older_than(meta, self.grace);
        let lost_files: Vec<&object_store::ObjectMeta> = blobs
            .iter()
            .filter(stale)
            .filter(|m| {
                m.location
                    .filename()
                    .is_some_and(|sha| !files.contains(sha))
            })
            .collect();
        // `t/<tenant>/idx/<id>/<name>`: the id is the second-last part.
        let lost_indexes: Vec<&object_store::ObjectMeta> = idx
            .iter()
            .filter(stale)
            .filter(|m| {
                let parts: Vec<_> = m.location.parts().collect();
                parts
                    .len()
                    .checked_sub(2)
                    .and_then(|i| parts.get(i))
                    .is_some_and(|id| !ids.contains(id.as_ref()))
            })
            .collect();
        let removed_files = self.run(async {
            let mut removed = 0;
            for chunk in lost_files.chunks(32) {
                // Read again just before: written or refreshed since the listing, it stays.
                let gone = futures::future::try_join_all(chunk.iter().map(|m| async move {
                    match self.timed("head", self.store.head(&m.location)).await {
                        Ok(now) if self.older_than(&now, self.grace) => {
                            self.remove(&m.location, "removing an unused file").await?;
                            Ok(1)
                        }
                        Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(0),
                        Err(e) => Err(unavailable("reading a file's metadata", e)),
                    }
                }))
                .await?;
                removed += gone.iter().sum::<usize>();
            }
            for chunk in lost_indexes.chunks(32) {
                futures::future::try_join_all(
                    chunk
                        .iter()
                        .map(|m| self.remove(&m.location, "removing an unused index")),
                )
                .await?;
            }
            Ok::<_, ServiceError>(removed)
        })?;
        let m = &self.metrics.object_store_removed;
        m.with_label_values(&["file"]).inc_by(removed_files as u64);
        m.with_label_values(&["index"])
            .inc_by(lost_indexes.len() as u64);
        Ok(removed_files + lost_indexes.len())
    }

    /// The log name `window` before `name` (by its time prefix): where the next read starts.
    pub(crate) fn rewind(name: &str, window_ms: u64) -> String {
        let ms: u64 = name.get(..13).and_then(|t| t.parse().ok()).unwrap_or(0);
        if ms <= window_ms {
            return String::new();
        }
        format!("{:013}", ms - window_ms)
    }

    /// Whether this process wrote the log entry `name` (it applied the change as it wrote
    /// it; applying it again could undo a later change not yet listed).
    pub(crate) fn is_own(&self, name: &str) -> bool {
        self.written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(name)
    }
}

/// A node name safe in a key: letters, digits and `-`.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect()
}

fn rand_bytes() -> [u8; 4] {
    let mut b = [0u8; 4];
    // Without the OS's randomness, the process id still tells two replicas on one host apart.
    if getrandom::fill(&mut b).is_err() {
        b = std::process::id().to_le_bytes();
    }
    b
}

#[cfg(test)]
mod tests {
    use super::Shared;

    #[test]
    fn rewinding_a_log_name_keeps_the_window() {
        assert_eq!(Shared::rewind("0000000100000-a-00000001", 120_000), "");
        assert_eq!(
            Shared::rewind("1700000120000-a-00000001", 120_000),
            "1700000000000"
        );
        assert_eq!(Shared::rewind("", 120_000), "");
    }
}
