//! The bucket replicas share (`[storage.s3]`): the source of truth when symxd runs as several
//! replicas; each replica's RocksDB is its local copy, rebuilt from the bucket when empty.
//!
//! Layout under the configured prefix (ARCHITECTURE.md, "Replicas"):
//! - `t/<tenant>/blob/<sha256>`: a stored file, content-addressed, immutable;
//! - `t/<tenant>/idx/<artifact id>/<name>`: an index built at upload, immutable;
//! - `log/<unix ms, 13 digits>-<node>-<sequence>`: one catalog change (an upload's record, a
//!   delete, a restore) under a key no other writer uses, so no conditional write is needed
//!   (Garage has neither `If-None-Match` nor versioning); replicas read it in key order;
//! - `t/<tenant>/ptr/<sha256 of kind, field, value>`: the log key of the last upload found
//!   by a lookup row, so a replica that has not read the log that far finds it on a miss.
//!
//! An upload writes its blobs, indexes, log entry and pointers before it is acknowledged.
//! Everything here is synchronous (callers are on the blocking pool or the poll thread): the
//! bucket's client runs on a small runtime of its own.

use crate::config::S3Config;
use crate::error::{Result, ServiceError};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use symx_storage::{ArtifactRecord, NewBlob};
use symx_types::{ArtifactId, ArtifactKind, ErrorCode, Tenant};

/// Files up to this size go up in one PUT; larger ones in parts of this size.
const PART: usize = 8 << 20;
/// Log entries written this long before the newest one read are read again: writers' clocks
/// and the bucket's listing may lag by this much.
pub(crate) const LOG_WINDOW_MS: u64 = 120_000;

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
    pub(crate) fn open(config: &S3Config) -> Result<Self> {
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
        })
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

    fn log_prefix(&self) -> Key {
        self.key("log")
    }

    fn run<F: std::future::Future>(&self, f: F) -> F::Output {
        self.handle.block_on(f)
    }

    /// Stores a file (from its spool file) unless the bucket has it already.
    async fn put_blob(&self, tenant: &Tenant, sha256: &str, path: &std::path::Path) -> Result<()> {
        let key = self.blob_key(tenant, sha256);
        {
            match self.store.head(&key).await {
                Ok(_) => return Ok(()),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(unavailable("reading a file's metadata", e)),
            }
            let size = std::fs::metadata(path)?.len();
            if size <= PART as u64 {
                let bytes = std::fs::read(path)?;
                return self.put_bytes(&key, bytes, "storing a file").await;
            }
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
            }
            writer
                .finish()
                .await
                .map_err(|e| unavailable("completing a multipart upload", e))?;
            Ok(())
        }
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
                self.put_artifact(tenant, &record.id, &log),
                self.put_pointers_at(tenant, record, &log)
            )
        })?;
        Ok(log)
    }

    /// Writes a file of the bucket to `path` (a spool file), streaming.
    async fn fetch_blob(&self, tenant: &Tenant, blob: &NewBlob) -> Result<()> {
        use futures::StreamExt;
        let path = &blob.path;
        use std::io::Write;
        let key = self.blob_key(tenant, &hex::encode(blob.sha256));
        let got = self
            .store
            .get(&key)
            .await
            .map_err(|e| unavailable("reading a file", e))?;
        let mut out = std::fs::File::create(path)?;
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| unavailable("reading a file", e))?;
            out.write_all(&chunk)?;
        }
        out.sync_all()?;
        Ok(())
    }

    /// Fetches an upload's files (each distinct one into `dir`, named by its hash) and its
    /// indexes, all at once.
    pub(crate) fn fetch_upload(
        &self,
        tenant: &Tenant,
        record: &ArtifactRecord,
        dir: &std::path::Path,
    ) -> Result<FetchedUpload> {
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
        let ((), indexes) = self.run(async {
            futures::try_join!(
                async {
                    try_join_all(files.iter().map(|b| self.fetch_blob(tenant, b)))
                        .await
                        .map(|_| ())
                },
                try_join_all(record.indexes.iter().map(|name| async move {
                    Ok::<_, ServiceError>((
                        name.clone(),
                        self.fetch_index(tenant, &record.id, name).await?,
                    ))
                })),
            )
        })?;
        Ok((files, indexes))
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

    async fn fetch_index(&self, tenant: &Tenant, id: &ArtifactId, name: &str) -> Result<Vec<u8>> {
        let key = self.index_key(tenant, id, name);
        let bytes = self.get_bytes(&key, "reading an index").await?;
        let bytes =
            bytes.ok_or_else(|| unavailable("reading an index", format!("{key} is gone")))?;
        Ok(bytes.to_vec())
    }

    /// Appends a change to the log under a key of its own; returns the key.
    pub(crate) fn append(&self, change: &Change) -> Result<String> {
        let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
        let name = format!("{:013}-{}-{seq:08}", symx_storage::now_ms(), self.node);
        let key = self.key(&format!("log/{name}"));
        let body = serde_json::to_vec(change).map_err(|e| ServiceError::internal(e.to_string()))?;
        self.run(self.put_bytes(&key, body, "appending to the catalog log"))?;
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        written.insert(name.clone());
        let keep_from = Self::rewind(&name, 2 * LOG_WINDOW_MS);
        *written = written.split_off(&keep_from);
        Ok(name)
    }

    fn artifact_key(&self, tenant: &Tenant, id: &ArtifactId) -> Key {
        self.key(&format!("t/{}/art/{}", tenant.as_str(), id.as_str()))
    }

    /// Records which log entry holds an upload (for restores: they point its rows back at it).
    async fn put_artifact(&self, tenant: &Tenant, id: &ArtifactId, log: &str) -> Result<()> {
        let body = serde_json::to_vec(&Pointer {
            id: id.clone(),
            log: log.to_owned(),
        })
        .map_err(|e| ServiceError::internal(e.to_string()))?;
        let key = self.artifact_key(tenant, id);
        self.put_bytes(&key, body, "storing an artifact's log entry")
            .await
    }

    /// The log entry holding upload `id`, if the bucket has it.
    pub(crate) fn artifact_log(&self, tenant: &Tenant, id: &ArtifactId) -> Result<Option<String>> {
        let key = self.artifact_key(tenant, id);
        Ok(self
            .get_json::<Pointer>(&key, "an artifact's log entry")?
            .map(|p| p.log))
    }

    /// An object's bytes (`None`: not in the bucket); `what` names it in errors.
    async fn get_bytes(&self, key: &Key, what: &str) -> Result<Option<bytes::Bytes>> {
        match self.store.get(key).await {
            Ok(got) => Ok(Some(got.bytes().await.map_err(|e| unavailable(what, e))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(unavailable(what, e)),
        }
    }

    /// Writes an object whole; `what` names it in errors.
    async fn put_bytes(&self, key: &Key, body: impl Into<PutPayload>, what: &str) -> Result<()> {
        self.store
            .put(key, body.into())
            .await
            .map_err(|e| unavailable(what, e))?;
        Ok(())
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
                self.run(async {
                    match self.store.delete(&key).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                        Err(e) => Err(unavailable("removing a lookup pointer", e)),
                    }
                })?;
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

    /// The log entry the pointer of a lookup row names, if any.
    pub(crate) fn pointer(
        &self,
        tenant: &Tenant,
        kind: ArtifactKind,
        field: &str,
        value: &str,
    ) -> Result<Option<String>> {
        let key = self.pointer_key(tenant, kind, field, value);
        Ok(self
            .get_json::<Pointer>(&key, "a lookup pointer")?
            .map(|p| p.log))
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
        use futures::TryStreamExt;
        let prefix = self.key("keys");
        let listed: Vec<object_store::ObjectMeta> = self
            .run(async { self.store.list(Some(&prefix)).try_collect().await })
            .map_err(|e| unavailable("listing API keys", e))?;
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
            match self.store.list(Some(&prefix)).next().await {
                None => Ok(false),
                Some(Ok(_)) => Ok(true),
                Some(Err(e)) => Err(unavailable("listing API keys", e)),
            }
        })
    }

    /// One log entry by name.
    pub(crate) fn entry(&self, name: &str) -> Result<Change> {
        let key = self.key(&format!("log/{name}"));
        self.get_json(&key, &format!("catalog log entry {name}"))?
            .ok_or_else(|| unavailable("reading the catalog log", format!("{name} is gone")))
    }

    /// The names of the log entries after `after` (a name, or "" for all), in order.
    pub(crate) fn log_after(&self, after: &str) -> Result<Vec<String>> {
        use futures::TryStreamExt;
        let prefix = self.log_prefix();
        let offset = self.key(&format!("log/{after}"));
        self.run(async {
            let listed: Vec<object_store::ObjectMeta> = if after.is_empty() {
                self.store.list(Some(&prefix)).try_collect().await
            } else {
                self.store
                    .list_with_offset(Some(&prefix), &offset)
                    .try_collect()
                    .await
            }
            .map_err(|e| unavailable("listing the catalog log", e))?;
            let mut names: Vec<String> = listed
                .into_iter()
                .filter_map(|m| m.location.filename().map(str::to_owned))
                .collect();
            names.sort();
            Ok(names)
        })
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
