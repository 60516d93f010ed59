//! RocksDB storage of symx: the only crate that links `rocksdb`.
//!
//! # Design
//! One embedded RocksDB with one column family per concern (see [`Column`] for key layouts
//! and value encodings). Catalog, identity, lookup and index keys start with the tenant, so
//! tenants never mix; content-addressed blobs are shared and reference-counted per tenant and
//! artifact, trash keys start with the deletion time (for the purge scan), API keys with
//! their id.
//!
//! * **Atomicity.** An upload commits its catalog entry, identity key, lookup keys, blob
//!   references, derived indexes and (up to [`INLINE_BLOB_LIMIT`]) its blob chunks in one
//!   `WriteBatch`, written with `sync = true`: the upload is acknowledged only once the batch
//!   is durable, and a crash never leaves half an artifact visible. Larger blobs are written
//!   first in bounded batches under their content address; they are invisible until the
//!   catalog batch references them, and orphans left by a crash are collected by
//!   [`Storage::purge`].
//! * **Blob integrity.** A blob is reused (dedupe) only when its completion marker exists
//!   (`keys::blob_complete`, written in the batch that first references it, after every chunk
//!   is durable). Chunks left by a crash in the middle of a write-ahead have no marker: the
//!   next upload of the same bytes writes the blob again, whole, rather than referencing an
//!   incomplete one. Reads check the content against its sha256.
//! * **Dedupe.** Blobs are keyed by the sha256 of their uncompressed content and stored once,
//!   zstd-compressed in chunks of [`CHUNK_SIZE`].
//! * **Soft delete.** Deleting marks the catalog entry, drops its identity and lookup keys (so
//!   it stops resolving and listing) and files it under `trash`; restore reverses that; purge
//!   removes entries older than the configured age, and blobs nobody references any more.
//! * **Schema version.** `meta/schema_version` is written at creation and checked at open.
//!
//! Writers are serialised by one commit lock, which makes the identity check and the blob
//! reference count exact. The index build happens before it, and so do a new blob's
//! compression and write-ahead: the blobs of a commit are registered as in flight first, and
//! purge (which takes the same lock) and the removal of a replaced artifact leave in-flight
//! blobs alone, so written-ahead chunks are never collected before their reference lands.
//! Under the lock a commit only checks the identity, adds the completion markers and writes
//! its batch (a blob that another writer's removal took meanwhile is written again there).

mod keys;
pub mod metadata;

use rocksdb::{
    ColumnFamilyDescriptor, DBCompressionType, Direction, IteratorMode, Options, WriteBatch,
    WriteOptions,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use symx_types::{ArtifactId, ArtifactKind, ErrorCode, HasErrorCode, Tenant, UploadMetadata};

/// The storage layout version. Bump on any change to a key layout or value encoding.
/// 2: every artifact with a service and a version has the [`RELEASE_FIELD`] lookup key
/// (version 1 stores are upgraded at open, see [`Storage::open`]).
pub const SCHEMA_VERSION: u32 = 2;

/// The lookup field every artifact with a service and a version is found by (listing one
/// release, getting a map by file name), whatever its kind; its value is
/// [`release_value`]. Storage writes it itself at commit.
pub const RELEASE_FIELD: &str = "release";

/// The [`RELEASE_FIELD`] value of a service and version (the service's length first, so no
/// pair can be spelled two ways).
pub fn release_value(service: &str, version: &str) -> String {
    format!("{}:{service}{version}", service.len())
}

/// The release lookup entry of an artifact's metadata, when it has a service and a version.
fn release_lookup(meta: &UploadMetadata) -> Option<(String, String)> {
    let service = meta.service.as_deref().filter(|s| !s.is_empty())?;
    let version = meta.version.as_deref().filter(|s| !s.is_empty())?;
    Some((RELEASE_FIELD.to_owned(), release_value(service, version)))
}
/// Blob chunk size before compression: big enough for zstd to compress well, small enough
/// that reading one chunk is cheap.
pub const CHUNK_SIZE: usize = 4 << 20;
/// Blobs up to this size (compressed) ride in the upload's one atomic batch; larger ones are
/// written ahead (see the module docs) so a 500 MB upload never sits in one batch in memory.
pub const INLINE_BLOB_LIMIT: usize = 64 << 20;
/// zstd level 3: the library default, ~5x on source maps at several hundred MB/s.
const ZSTD_LEVEL: i32 = 3;
/// The index name that marks an evicted payload (no index is named with a NUL).
const EVICTED: &str = "\0evicted";

/// The column families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// `schema_version` -> u32 BE. Written once at creation.
    Meta,
    /// tenant | kind tag | id -> JSON [`ArtifactRecord`]. Written by commit, delete, restore,
    /// purge. Listing a kind is a prefix scan.
    Catalog,
    /// tenant | kind tag | identity -> id of the live artifact with that identity. Decides
    /// ALREADY_EXISTS and what `overwrite` replaces.
    Identity,
    /// tenant | kind tag | field | value | id -> empty. Secondary indexes used to resolve
    /// frames (`debug_id`, `path` = service, version and minified path).
    Lookup,
    /// sha256 | chunk u32 BE -> zstd-compressed chunk of content; sha256 | u32::MAX ->
    /// completion marker (chunk count u32 BE, size u64 BE), written with the first reference.
    Blobs,
    /// sha256 | tenant | id -> empty. Who references a blob; a blob without referents is
    /// garbage.
    BlobRefs,
    /// tenant | id | part -> a derived index (its own format carries its version).
    Index,
    /// deleted-at ms u64 BE | tenant | id -> empty. Soft-deleted artifacts, oldest first.
    Trash,
    /// key id -> JSON [`ApiKeyRecord`]. API keys: the tenant, scopes and sha256 of the secret
    /// (never the secret). Revoked keys stay, marked, for audit.
    ApiKeys,
}

impl Column {
    pub const ALL: [Column; 9] = [
        Self::Meta,
        Self::Catalog,
        Self::Identity,
        Self::Lookup,
        Self::Blobs,
        Self::BlobRefs,
        Self::Index,
        Self::Trash,
        Self::ApiKeys,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Meta => "meta",
            Self::Catalog => "catalog",
            Self::Identity => "identity",
            Self::Lookup => "lookup",
            Self::Blobs => "blobs",
            Self::BlobRefs => "blobrefs",
            Self::Index => "index",
            Self::Trash => "trash",
            Self::ApiKeys => "apikeys",
        }
    }
}

/// Errors of the storage layer.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    #[error("storage: {0}")]
    Rocks(String),
    #[error("storage: io: {0}")]
    Io(String),
    #[error("storage schema version {found} is not supported (this build uses {SCHEMA_VERSION})")]
    Schema { found: u32 },
    #[error("an artifact with this identity already exists ({0}); set overwrite to replace it")]
    AlreadyExists(ArtifactId),
    #[error("artifact {0} not found")]
    NotFound(ArtifactId),
    #[error("stored record of {0} is corrupt: {1}")]
    Corrupt(String, String),
}

impl HasErrorCode for Error {
    fn code(&self) -> ErrorCode {
        match self {
            Self::AlreadyExists(_) => ErrorCode::AlreadyExists,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Rocks(_) | Self::Io(_) | Self::Schema { .. } | Self::Corrupt(..) => {
                ErrorCode::Internal
            }
        }
    }
}

impl From<rocksdb::Error> for Error {
    fn from(e: rocksdb::Error) -> Self {
        Self::Rocks(e.into_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One stored file of an artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The multipart name (`source_map`, `minified_file`, ...).
    pub part: String,
    /// Lowercase hex sha256 of the uncompressed content.
    pub sha256: String,
    pub size: u64,
}

/// The catalog entry of one artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    pub id: ArtifactId,
    pub kind: ArtifactKind,
    /// Stored in its own schema ([`metadata`]), not in the form of any API.
    #[serde(with = "metadata")]
    pub metadata: UploadMetadata,
    /// Unix time in milliseconds of the commit.
    pub created_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at_ms: Option<u64>,
    pub files: Vec<FileRecord>,
    /// The debug id read from the files or the metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug_id: Option<String>,
    /// Secondary index entries (field, value) this artifact is found by.
    pub lookups: Vec<(String, String)>,
    /// Names of the derived indexes stored for this artifact.
    pub indexes: Vec<String>,
}

/// One API key: who it belongs to and what it may do. The secret itself is never stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// The public part of the key (also its storage key).
    pub id: String,
    pub tenant: Tenant,
    /// A label for people (`ci`, `ingest`).
    pub name: String,
    /// `read`, `upload`, `delete`, `admin`.
    pub scopes: Vec<String>,
    /// Lowercase hex sha256 of the secret part.
    pub secret_sha256: String,
    pub created_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_ms: Option<u64>,
}

impl ArtifactRecord {
    /// Total size of the stored files, in bytes.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    pub fn file(&self, part: &str) -> Option<&FileRecord> {
        self.files.iter().find(|f| f.part == part)
    }
}

/// A file to store: its content is in a spool file on disk (never all in memory at once).
#[derive(Debug)]
pub struct NewBlob {
    pub sha256: [u8; 32],
    pub path: PathBuf,
    pub size: u64,
}

/// Everything one upload commits. With no blobs while the record lists files, only the
/// catalog entry, identity and lookups are committed, the payload marked evicted (a replica
/// over its byte budget takes another's upload this way, see [`Storage::refill`]).
#[derive(Debug)]
pub struct NewArtifact {
    pub tenant: Tenant,
    pub record: ArtifactRecord,
    pub identity: String,
    pub blobs: Vec<NewBlob>,
    pub indexes: Vec<(String, Vec<u8>)>,
    pub overwrite: bool,
}

/// What a commit did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    Created,
    /// `overwrite` replaced this artifact.
    Replaced(ArtifactId),
    /// The same content with the same identity was already stored; nothing changed.
    Unchanged,
}

/// Options for opening the store.
#[derive(Clone, Debug)]
pub struct StorageOptions {
    /// Background compaction/flush threads for RocksDB.
    pub parallelism: i32,
    /// Memtables of all column families together, in bytes (RocksDB's `db_write_buffer_size`):
    /// past it the largest is flushed. Without it each column family may hold two 64 MiB
    /// memtables.
    pub write_buffer_bytes: usize,
    /// One LRU block cache shared by every column family, index and filter blocks included.
    pub block_cache_bytes: usize,
}

impl Default for StorageOptions {
    fn default() -> Self {
        Self {
            parallelism: 2,
            write_buffer_bytes: 64 << 20,
            block_cache_bytes: 32 << 20,
        }
    }
}

/// Open SST files kept at once (each holds a descriptor and its index in memory).
const MAX_OPEN_FILES: i32 = 256;

/// The store. Cheap to share behind an `Arc`; all methods are synchronous (callers run them
/// off the async threads).
pub struct Storage {
    db: rocksdb::DB,
    path: PathBuf,
    commit_lock: Mutex<()>,
    /// Blobs being written ahead by commits in progress (sha256 -> commits), which purge and
    /// removals leave alone.
    in_flight: Mutex<std::collections::HashMap<[u8; 32], usize>>,
}

/// Compressed chunks (key, value) that go into a commit's batch.
type InlineChunks = Vec<(Vec<u8>, Vec<u8>)>;

/// A blob prepared outside the commit lock.
enum Prepared {
    /// Stored whole when prepared (its marker existed).
    Complete,
    /// Its chunks: those written ahead are durable; `inline` ones go into the commit batch.
    Written { chunks: u32, inline: InlineChunks },
}

/// Who holds an identity, for a commit.
enum Holder {
    Free,
    /// The committed artifact itself (same identity, same content).
    Same,
    /// Another artifact (and its record, unless it vanished).
    Other(ArtifactId, Option<Box<ArtifactRecord>>),
}

/// The blobs of one commit, registered as in flight until it is dropped.
struct InFlight<'a> {
    storage: &'a Storage,
    shas: Vec<[u8; 32]>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut map = self
            .storage
            .in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for sha in &self.shas {
            if let Some(n) = map.get_mut(sha) {
                *n -= 1;
                if *n == 0 {
                    map.remove(sha);
                }
            }
        }
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").field("path", &self.path).finish()
    }
}

fn sync_writes() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Storage {
    /// Opens (or creates) the store in `path` and checks its schema version.
    pub fn open(path: &Path, options: &StorageOptions) -> Result<Self> {
        std::fs::create_dir_all(path)?;
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.increase_parallelism(options.parallelism.max(1));
        db_opts.set_compression_type(DBCompressionType::None);
        // Memory bounded by configuration: memtables of all column families together, one
        // block cache for all of them, a bounded set of open tables.
        let write_buffer = options.write_buffer_bytes.max(1 << 20);
        db_opts.set_db_write_buffer_size(write_buffer);
        db_opts.set_max_open_files(MAX_OPEN_FILES);
        let cache = rocksdb::Cache::new_lru_cache(options.block_cache_bytes.max(1 << 20));
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_cache_index_and_filter_blocks(true);
        let cfs = Column::ALL.iter().map(|c| {
            let mut o = Options::default();
            o.set_compression_type(DBCompressionType::None);
            o.set_block_based_table_factory(&table);
            // Each memtable at most a quarter of the shared budget, so one busy column
            // family is flushed before it takes it all.
            o.set_write_buffer_size(write_buffer / 4);
            o.set_max_write_buffer_number(2);
            if matches!(c, Column::Blobs | Column::Index) {
                // Large values live in blob files, out of the LSM tree, so compactions do not
                // rewrite megabytes of already compressed (or compact) data.
                o.set_enable_blob_files(true);
                o.set_min_blob_size(4096);
            }
            ColumnFamilyDescriptor::new(c.name(), o)
        });
        let db = rocksdb::DB::open_cf_descriptors(&db_opts, path, cfs)?;
        let storage = Self {
            db,
            path: path.to_owned(),
            commit_lock: Mutex::new(()),
            in_flight: Mutex::new(std::collections::HashMap::new()),
        };
        storage.check_schema()?;
        Ok(storage)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cf(&self, c: Column) -> Result<&rocksdb::ColumnFamily> {
        self.db
            .cf_handle(c.name())
            .ok_or_else(|| Error::Rocks(format!("column family {} is missing", c.name())))
    }

    fn check_schema(&self) -> Result<()> {
        let meta = self.cf(Column::Meta)?;
        match self.db.get_cf(meta, keys::SCHEMA_VERSION_KEY)? {
            None => {
                let mut b = WriteBatch::default();
                b.put_cf(meta, keys::SCHEMA_VERSION_KEY, SCHEMA_VERSION.to_be_bytes());
                self.db.write_opt(b, &sync_writes())?;
                Ok(())
            }
            Some(v) => {
                let found = v
                    .as_slice()
                    .try_into()
                    .map(u32::from_be_bytes)
                    .unwrap_or(u32::MAX);
                match found {
                    SCHEMA_VERSION => Ok(()),
                    1 => self.upgrade_from_1(),
                    _ => Err(Error::Schema { found }),
                }
            }
        }
    }

    /// Version 1 -> 2: adds the release lookup to every record that has a service and a
    /// version (and its key, for live ones), in batches, then the new version number. A crash
    /// part-way leaves version 1 and the next open finishes the work (adding is idempotent).
    fn upgrade_from_1(&self) -> Result<()> {
        let catalog = self.cf(Column::Catalog)?;
        let lookup_cf = self.cf(Column::Lookup)?;
        let mut batch = WriteBatch::default();
        let mut upgraded = 0usize;
        for item in self.db.iterator_cf(catalog, IteratorMode::Start) {
            let (key, value) = item?;
            let mut rec = decode_record("catalog entry", &value)?;
            let Some(release) = release_lookup(&rec.metadata) else {
                continue;
            };
            if rec.lookups.contains(&release) {
                continue;
            }
            let Some(tenant) = keys::tenant_of(&key) else {
                continue;
            };
            if rec.deleted_at_ms.is_none() {
                batch.put_cf(
                    lookup_cf,
                    keys::lookup(&tenant, rec.kind, &release.0, &release.1, &rec.id),
                    b"",
                );
            }
            rec.lookups.push(release);
            batch.put_cf(catalog, &key, encode_record(&rec)?);
            upgraded += 1;
            if batch.len() >= 10_000 {
                self.db
                    .write_opt(std::mem::take(&mut batch), &sync_writes())?;
            }
        }
        batch.put_cf(
            self.cf(Column::Meta)?,
            keys::SCHEMA_VERSION_KEY,
            SCHEMA_VERSION.to_be_bytes(),
        );
        self.db.write_opt(batch, &sync_writes())?;
        tracing::info!(upgraded, "storage schema upgraded from version 1 to 2");
        Ok(())
    }

    /// The live records of one release (service and version) of a kind, through the release
    /// lookup: no scan of the kind. (Soft-deleted artifacts have no lookup keys.)
    pub fn list_release(
        &self,
        tenant: &Tenant,
        kind: ArtifactKind,
        service: &str,
        version: &str,
    ) -> Result<Vec<ArtifactRecord>> {
        let ids = self.lookup(
            tenant,
            kind,
            RELEASE_FIELD,
            &release_value(service, version),
        )?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(rec) = self.get(tenant, &id)? {
                out.push(rec);
            }
        }
        Ok(out)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic while holding the lock cannot leave RocksDB half-written (batches are
        // atomic), so a poisoned lock is safe to take over.
        self.commit_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Commits one upload atomically (see the module docs). Returns ALREADY_EXISTS when the
    /// identity is taken by other content and `overwrite` is not set.
    pub fn commit(&self, mut new: NewArtifact) -> Result<CommitOutcome> {
        if let Some(release) = release_lookup(&new.record.metadata)
            && !new.record.lookups.contains(&release)
        {
            new.record.lookups.push(release);
        }
        let tenant = &new.tenant;
        let rec = &new.record;
        let identity_cf = self.cf(Column::Identity)?;
        let identity_key = keys::identity(tenant, rec.kind, &new.identity);
        // Answers known before any blob is written (checked again under the lock).
        if let Holder::Same = self.holder(&new, &identity_key)? {
            return Ok(CommitOutcome::Unchanged);
        }
        // Blob content, outside the lock: compressed, large blobs written ahead.
        let _in_flight = self.register(new.blobs.iter().map(|b| b.sha256));
        let mut inline_bytes = 0usize;
        let mut prepared = Vec::with_capacity(new.blobs.len());
        for blob in &new.blobs {
            prepared.push(self.prepare_blob(blob, &mut inline_bytes)?);
        }

        let _guard = self.lock();
        let mut batch = WriteBatch::default();
        let outcome = match self.holder(&new, &identity_key)? {
            Holder::Free => CommitOutcome::Created,
            Holder::Same => return Ok(CommitOutcome::Unchanged),
            Holder::Other(old, old_rec) => {
                if let Some(old_rec) = old_rec {
                    self.remove_into(&mut batch, tenant, &old_rec, &rec.files)?;
                }
                CommitOutcome::Replaced(old)
            }
        };
        if new.blobs.is_empty() && !rec.files.is_empty() {
            // The catalog entry alone (a replica's copy over its byte budget): the payload
            // is marked evicted and fetched when first read.
            batch.put_cf(
                self.cf(Column::Index)?,
                keys::index(tenant, &rec.id, EVICTED),
                b"",
            );
        } else {
            self.put_payload_into(
                &mut batch,
                tenant,
                rec,
                &new.blobs,
                prepared,
                &new.indexes,
                &mut inline_bytes,
            )?;
        }
        let lookup_cf = self.cf(Column::Lookup)?;
        for (field, value) in &rec.lookups {
            batch.put_cf(
                lookup_cf,
                keys::lookup(tenant, rec.kind, field, value, &rec.id),
                b"",
            );
        }
        batch.put_cf(identity_cf, &identity_key, rec.id.as_str().as_bytes());
        batch.put_cf(
            self.cf(Column::Catalog)?,
            keys::catalog(tenant, &rec.id),
            encode_record(rec)?,
        );
        self.db.write_opt(batch, &sync_writes())?;
        Ok(outcome)
    }

    /// Adds to `batch` an artifact's payload: its blobs (prepared outside the lock), blob
    /// refs and indexes.
    #[allow(clippy::too_many_arguments)]
    fn put_payload_into(
        &self,
        batch: &mut WriteBatch,
        tenant: &Tenant,
        rec: &ArtifactRecord,
        blobs: &[NewBlob],
        prepared: Vec<Prepared>,
        indexes: &[(String, Vec<u8>)],
        inline_bytes: &mut usize,
    ) -> Result<()> {
        let blobs_cf = self.cf(Column::Blobs)?;
        for (blob, prepared) in blobs.iter().zip(prepared) {
            if self.blob_complete(&blob.sha256)? {
                continue;
            }
            let (chunks, inline) = match prepared {
                Prepared::Written { chunks, inline } => (chunks, inline),
                // Complete when prepared, taken by a removal since: written again, here.
                Prepared::Complete => self.write_blob(blob, inline_bytes)?,
            };
            for (k, v) in inline {
                batch.put_cf(blobs_cf, k, v);
            }
            // Complete: every chunk is durable (written ahead) or in this batch.
            let mut marker = Vec::with_capacity(12);
            marker.extend_from_slice(&chunks.to_be_bytes());
            marker.extend_from_slice(&blob.size.to_be_bytes());
            batch.put_cf(blobs_cf, keys::blob_complete(&blob.sha256), marker);
        }
        let refs_cf = self.cf(Column::BlobRefs)?;
        for f in &rec.files {
            if let Some(sha) = parse_sha(&f.sha256) {
                batch.put_cf(refs_cf, keys::blob_ref(&sha, tenant, &rec.id), b"");
            }
        }
        let index_cf = self.cf(Column::Index)?;
        for (name, bytes) in indexes {
            batch.put_cf(index_cf, keys::index(tenant, &rec.id, name), bytes);
        }
        Ok(())
    }

    /// Whether an artifact's payload (files and indexes) was evicted: its catalog entry and
    /// lookups are here, its bytes are not.
    pub fn is_evicted(&self, tenant: &Tenant, id: &ArtifactId) -> Result<bool> {
        Ok(self
            .db
            .get_pinned_cf(self.cf(Column::Index)?, keys::index(tenant, id, EVICTED))?
            .is_some())
    }

    /// The bytes an artifact's payload takes here, as the budget of a bounded copy counts
    /// them: its files' sizes and its indexes' sizes (0 when evicted or absent).
    pub fn payload_bytes(&self, tenant: &Tenant, rec: &ArtifactRecord) -> Result<u64> {
        if self.is_evicted(tenant, &rec.id)? {
            return Ok(0);
        }
        let index_cf = self.cf(Column::Index)?;
        let mut n = rec.size();
        for name in &rec.indexes {
            if let Some(v) = self
                .db
                .get_pinned_cf(index_cf, keys::index(tenant, &rec.id, name))?
            {
                n += v.len() as u64;
            }
        }
        Ok(n)
    }

    /// Removes an artifact's payload (indexes, its references to blobs, blobs nobody else
    /// references) and keeps its catalog entry, identity and lookups: a replica's copy kept
    /// within a byte budget, the bucket holding the rest. Whether anything was removed.
    pub fn evict(&self, tenant: &Tenant, id: &ArtifactId) -> Result<bool> {
        let _guard = self.lock();
        let Some(rec) = self.get(tenant, id)? else {
            return Ok(false);
        };
        if self.is_evicted(tenant, id)? {
            return Ok(false);
        }
        let mut batch = WriteBatch::default();
        self.drop_payload_into(&mut batch, tenant, &rec, &[])?;
        batch.put_cf(
            self.cf(Column::Index)?,
            keys::index(tenant, id, EVICTED),
            b"",
        );
        self.db.write_opt(batch, &sync_writes())?;
        Ok(true)
    }

    /// Puts back the payload of an evicted artifact (its files in spool files, its
    /// indexes). Whether it was evicted (another reader may have put it back first).
    pub fn refill(
        &self,
        tenant: &Tenant,
        id: &ArtifactId,
        blobs: &[NewBlob],
        indexes: &[(String, Vec<u8>)],
    ) -> Result<bool> {
        let _in_flight = self.register(blobs.iter().map(|b| b.sha256));
        let mut inline_bytes = 0usize;
        let mut prepared = Vec::with_capacity(blobs.len());
        for blob in blobs {
            prepared.push(self.prepare_blob(blob, &mut inline_bytes)?);
        }
        let _guard = self.lock();
        let Some(rec) = self.get(tenant, id)? else {
            return Ok(false);
        };
        if !self.is_evicted(tenant, id)? {
            return Ok(false);
        }
        for f in &rec.files {
            if !blobs.iter().any(|b| hex::encode(b.sha256) == f.sha256) {
                return Err(Error::Corrupt(
                    id.to_string(),
                    format!("refill lacks file {} ({})", f.part, f.sha256),
                ));
            }
        }
        let mut batch = WriteBatch::default();
        self.put_payload_into(
            &mut batch,
            tenant,
            &rec,
            blobs,
            prepared,
            indexes,
            &mut inline_bytes,
        )?;
        batch.delete_cf(self.cf(Column::Index)?, keys::index(tenant, id, EVICTED));
        self.db.write_opt(batch, &sync_writes())?;
        Ok(true)
    }

    /// Who holds the identity a commit asks for: nobody, the same artifact (nothing to do),
    /// or another one (replaced; ALREADY_EXISTS unless `overwrite`).
    fn holder(&self, new: &NewArtifact, identity_key: &[u8]) -> Result<Holder> {
        let Some(old) = self
            .db
            .get_cf(self.cf(Column::Identity)?, identity_key)?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|s| ArtifactId::parse(&s).ok())
        else {
            return Ok(Holder::Free);
        };
        if !new.overwrite {
            return Err(Error::AlreadyExists(old));
        }
        let old_rec = self.get(&new.tenant, &old)?;
        if old == new.record.id && old_rec.is_some() {
            return Ok(Holder::Same);
        }
        Ok(Holder::Other(old, old_rec.map(Box::new)))
    }

    /// Registers blobs as in flight until the returned guard is dropped.
    fn register(&self, shas: impl Iterator<Item = [u8; 32]>) -> InFlight<'_> {
        let shas: Vec<[u8; 32]> = shas.collect();
        let mut map = self
            .in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for sha in &shas {
            *map.entry(*sha).or_default() += 1;
        }
        InFlight {
            storage: self,
            shas,
        }
    }

    /// Whether a commit in progress is writing this blob.
    fn is_in_flight(&self, sha: &[u8; 32]) -> bool {
        self.in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains_key(sha)
    }

    /// A blob of a commit, outside the lock: nothing when it is stored whole already, else
    /// its chunks compressed, those past the inline budget written ahead (durably).
    fn prepare_blob(&self, blob: &NewBlob, inline_bytes: &mut usize) -> Result<Prepared> {
        if self.blob_complete(&blob.sha256)? {
            return Ok(Prepared::Complete);
        }
        let (chunks, inline) = self.write_blob(blob, inline_bytes)?;
        Ok(Prepared::Written { chunks, inline })
    }

    /// Compresses a blob's chunks: kept for the commit batch while the blob and the commit's
    /// inline total stay within [`INLINE_BLOB_LIMIT`], else written ahead in bounded batches.
    /// Returns the chunk count and the chunks kept for the batch.
    fn write_blob(&self, blob: &NewBlob, inline_bytes: &mut usize) -> Result<(u32, InlineChunks)> {
        let blobs_cf = self.cf(Column::Blobs)?;
        let mut file = std::fs::File::open(&blob.path)?;
        let mut inline = Vec::new();
        let mut ahead = WriteBatch::default();
        let mut ahead_bytes = 0usize;
        let mut chunk_no = 0u32;
        let mut buf = vec![0u8; CHUNK_SIZE];
        loop {
            let n = read_full(&mut file, &mut buf)?;
            if n == 0 && chunk_no > 0 {
                break;
            }
            let compressed = zstd::bulk::compress(&buf[..n], ZSTD_LEVEL)?;
            let key = keys::blob_chunk(&blob.sha256, chunk_no);
            if blob.size as usize <= INLINE_BLOB_LIMIT
                && *inline_bytes + compressed.len() <= INLINE_BLOB_LIMIT
            {
                *inline_bytes += compressed.len();
                inline.push((key, compressed));
            } else {
                ahead_bytes += compressed.len();
                ahead.put_cf(blobs_cf, key, compressed);
                if ahead_bytes >= INLINE_BLOB_LIMIT {
                    self.db
                        .write_opt(std::mem::take(&mut ahead), &sync_writes())?;
                    ahead_bytes = 0;
                }
            }
            chunk_no += 1;
            if n < CHUNK_SIZE {
                break;
            }
        }
        if !ahead.is_empty() {
            self.db.write_opt(ahead, &sync_writes())?;
        }
        Ok((chunk_no, inline))
    }

    /// Whether a blob is stored whole (its completion marker exists).
    fn blob_complete(&self, sha: &[u8; 32]) -> Result<bool> {
        Ok(self
            .db
            .get_pinned_cf(self.cf(Column::Blobs)?, keys::blob_complete(sha))?
            .is_some())
    }

    /// Adds to `batch` the removal of an artifact: catalog, identity (if it still points at
    /// it), lookups, indexes, trash entry, blob refs, and blobs left without referents.
    /// `keep` lists files that the same batch references again (an overwrite).
    fn remove_into(
        &self,
        batch: &mut WriteBatch,
        tenant: &Tenant,
        rec: &ArtifactRecord,
        keep: &[FileRecord],
    ) -> Result<()> {
        batch.delete_cf(self.cf(Column::Catalog)?, keys::catalog(tenant, &rec.id));
        self.unlink_into(batch, tenant, rec)?;
        if let Some(ms) = rec.deleted_at_ms {
            batch.delete_cf(self.cf(Column::Trash)?, keys::trash(ms, tenant, &rec.id));
        }
        self.drop_payload_into(batch, tenant, rec, keep)
    }

    /// Adds to `batch` the removal of an artifact's payload: its indexes (and the mark of an
    /// evicted payload), its blob refs, and blobs left without referents.
    fn drop_payload_into(
        &self,
        batch: &mut WriteBatch,
        tenant: &Tenant,
        rec: &ArtifactRecord,
        keep: &[FileRecord],
    ) -> Result<()> {
        let index_cf = self.cf(Column::Index)?;
        for name in &rec.indexes {
            batch.delete_cf(index_cf, keys::index(tenant, &rec.id, name));
        }
        batch.delete_cf(index_cf, keys::index(tenant, &rec.id, EVICTED));
        let refs_cf = self.cf(Column::BlobRefs)?;
        for f in &rec.files {
            let Some(sha) = parse_sha(&f.sha256) else {
                continue;
            };
            batch.delete_cf(refs_cf, keys::blob_ref(&sha, tenant, &rec.id));
            let reused = keep.iter().any(|k| k.sha256 == f.sha256);
            // A commit in progress is about to reference it: its chunks stay.
            if !reused && !self.is_in_flight(&sha) && self.blob_referents(&sha)? <= 1 {
                self.delete_blob_into(batch, &sha, f.size)?;
            }
        }
        Ok(())
    }

    /// Adds to `batch` the removal of what makes an artifact resolvable and listable by
    /// identity: its identity key (when it points at it) and its lookup keys.
    fn unlink_into(
        &self,
        batch: &mut WriteBatch,
        tenant: &Tenant,
        rec: &ArtifactRecord,
    ) -> Result<()> {
        let identity_cf = self.cf(Column::Identity)?;
        let identity_key = keys::identity(tenant, rec.kind, &rec.metadata.identity());
        if self.db.get_cf(identity_cf, &identity_key)?.as_deref()
            == Some(rec.id.as_str().as_bytes())
        {
            batch.delete_cf(identity_cf, identity_key);
        }
        let lookup_cf = self.cf(Column::Lookup)?;
        for (field, value) in &rec.lookups {
            batch.delete_cf(
                lookup_cf,
                keys::lookup(tenant, rec.kind, field, value, &rec.id),
            );
        }
        Ok(())
    }

    fn delete_blob_into(&self, batch: &mut WriteBatch, sha: &[u8; 32], size: u64) -> Result<()> {
        let blobs_cf = self.cf(Column::Blobs)?;
        let chunks = size.div_ceil(CHUNK_SIZE as u64).max(1);
        for c in 0..chunks {
            batch.delete_cf(blobs_cf, keys::blob_chunk(sha, c as u32));
        }
        batch.delete_cf(blobs_cf, keys::blob_complete(sha));
        Ok(())
    }

    fn blob_referents(&self, sha: &[u8; 32]) -> Result<usize> {
        let refs_cf = self.cf(Column::BlobRefs)?;
        let mut n = 0;
        for item in self
            .db
            .iterator_cf(refs_cf, IteratorMode::From(sha, Direction::Forward))
        {
            let (k, _) = item?;
            if !k.starts_with(sha) {
                break;
            }
            n += 1;
        }
        Ok(n)
    }

    /// The catalog entry of an artifact, deleted or not.
    pub fn get(&self, tenant: &Tenant, id: &ArtifactId) -> Result<Option<ArtifactRecord>> {
        let cf = self.cf(Column::Catalog)?;
        match self.db.get_pinned_cf(cf, keys::catalog(tenant, id))? {
            None => Ok(None),
            Some(v) => decode_record(id.as_str(), &v).map(Some),
        }
    }

    /// Every artifact of a kind in a tenant, in id order, soft-deleted ones included.
    pub fn list(&self, tenant: &Tenant, kind: ArtifactKind) -> Result<Vec<ArtifactRecord>> {
        let cf = self.cf(Column::Catalog)?;
        let prefix = keys::catalog_kind_prefix(tenant, kind);
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(cf, IteratorMode::From(&prefix, Direction::Forward))
        {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            out.push(decode_record(&String::from_utf8_lossy(&k), &v)?);
        }
        Ok(out)
    }

    /// Ids of live artifacts with a secondary index entry `field = value`.
    pub fn lookup(
        &self,
        tenant: &Tenant,
        kind: ArtifactKind,
        field: &str,
        value: &str,
    ) -> Result<Vec<ArtifactId>> {
        let cf = self.cf(Column::Lookup)?;
        let prefix = keys::lookup_prefix(tenant, kind, field, value);
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(cf, IteratorMode::From(&prefix, Direction::Forward))
        {
            let (k, _) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            if let Some(id) = keys::last_part(&k, prefix.len())
                .and_then(|b| std::str::from_utf8(b).ok())
                .and_then(|s| ArtifactId::parse(s).ok())
            {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Replaces a derived index of a stored artifact, durably (a format migration writes the
    /// rebuilt index back; tests put an index of an older format in place). NOT_FOUND when the
    /// artifact does not list an index of that name.
    pub fn replace_index(
        &self,
        tenant: &Tenant,
        id: &ArtifactId,
        name: &str,
        bytes: &[u8],
    ) -> Result<()> {
        let _guard = self.lock();
        let known = self
            .get(tenant, id)?
            .is_some_and(|rec| rec.indexes.iter().any(|n| n == name));
        if !known {
            return Err(Error::NotFound(id.clone()));
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(Column::Index)?,
            keys::index(tenant, id, name),
            bytes,
        );
        self.db.write_opt(batch, &sync_writes())?;
        Ok(())
    }

    /// A derived index of an artifact.
    pub fn read_index(
        &self,
        tenant: &Tenant,
        id: &ArtifactId,
        name: &str,
    ) -> Result<Option<Vec<u8>>> {
        let cf = self.cf(Column::Index)?;
        Ok(self
            .db
            .get_pinned_cf(cf, keys::index(tenant, id, name))?
            .map(|v| v.to_vec()))
    }

    /// The whole content of a stored file, decompressed and checked against its sha256.
    pub fn read_blob(&self, file: &FileRecord) -> Result<Vec<u8>> {
        let sha = blob_sha(file)?;
        let mut out = Vec::with_capacity(file.size as usize);
        for c in 0..chunk_count(file.size) {
            out.extend_from_slice(&self.read_chunk(file, &sha, c)?);
        }
        let digest: [u8; 32] = Sha256::digest(&out).into();
        if digest != sha {
            return Err(Error::Corrupt(
                file.sha256.clone(),
                "sha256 mismatch".into(),
            ));
        }
        Ok(out)
    }

    /// One chunk of a stored file, decompressed ([`CHUNK_SIZE`] bytes, the last one shorter).
    fn read_chunk(&self, file: &FileRecord, sha: &[u8; 32], c: u32) -> Result<Vec<u8>> {
        let cf = self.cf(Column::Blobs)?;
        // A file read streams through once: it must not push the catalog's and lookups' hot
        // blocks out of the block cache.
        let mut once = rocksdb::ReadOptions::default();
        once.fill_cache(false);
        let v = self
            .db
            .get_pinned_cf_opt(cf, keys::blob_chunk(sha, c), &once)?
            .ok_or_else(|| Error::Corrupt(file.sha256.clone(), format!("chunk {c} missing")))?;
        let chunk = zstd::bulk::decompress(&v, CHUNK_SIZE)
            .map_err(|e| Error::Corrupt(file.sha256.clone(), e.to_string()))?;
        let want = (file.size - u64::from(c) * CHUNK_SIZE as u64).min(CHUNK_SIZE as u64);
        if chunk.len() as u64 != want {
            return Err(Error::Corrupt(
                file.sha256.clone(),
                format!("chunk {c} holds {} bytes, not {want}", chunk.len()),
            ));
        }
        Ok(chunk)
    }

    /// Soft-deletes live artifacts: they stop resolving and listing, and can be restored
    /// until purged. Returns the records as they now are.
    pub fn soft_delete(&self, tenant: &Tenant, ids: &[ArtifactId]) -> Result<Vec<ArtifactRecord>> {
        let _guard = self.lock();
        let now = now_ms();
        let mut batch = WriteBatch::default();
        let mut out = Vec::new();
        for id in ids {
            let Some(mut rec) = self.get(tenant, id)? else {
                continue;
            };
            if rec.deleted_at_ms.is_some() {
                continue;
            }
            self.unlink_into(&mut batch, tenant, &rec)?;
            rec.deleted_at_ms = Some(now);
            batch.put_cf(self.cf(Column::Trash)?, keys::trash(now, tenant, id), b"");
            batch.put_cf(
                self.cf(Column::Catalog)?,
                keys::catalog(tenant, id),
                encode_record(&rec)?,
            );
            out.push(rec);
        }
        self.db.write_opt(batch, &sync_writes())?;
        Ok(out)
    }

    /// Restores soft-deleted artifacts. An identity taken meanwhile by another artifact is
    /// ALREADY_EXISTS unless `overwrite`, which then replaces that artifact.
    pub fn restore(
        &self,
        tenant: &Tenant,
        ids: &[ArtifactId],
        overwrite: bool,
    ) -> Result<Vec<ArtifactRecord>> {
        let _guard = self.lock();
        let mut batch = WriteBatch::default();
        let mut out = Vec::new();
        let identity_cf = self.cf(Column::Identity)?;
        for id in ids {
            let Some(mut rec) = self.get(tenant, id)? else {
                return Err(Error::NotFound(id.clone()));
            };
            let Some(deleted_at) = rec.deleted_at_ms else {
                out.push(rec);
                continue;
            };
            let identity_key = keys::identity(tenant, rec.kind, &rec.metadata.identity());
            if let Some(other) = self
                .db
                .get_cf(identity_cf, &identity_key)?
                .and_then(|v| String::from_utf8(v).ok())
                .and_then(|s| ArtifactId::parse(&s).ok())
            {
                if !overwrite {
                    return Err(Error::AlreadyExists(other));
                }
                if let Some(other_rec) = self.get(tenant, &other)? {
                    self.remove_into(&mut batch, tenant, &other_rec, &rec.files)?;
                }
            }
            batch.delete_cf(self.cf(Column::Trash)?, keys::trash(deleted_at, tenant, id));
            rec.deleted_at_ms = None;
            batch.put_cf(identity_cf, &identity_key, id.as_str().as_bytes());
            let lookup_cf = self.cf(Column::Lookup)?;
            for (field, value) in &rec.lookups {
                batch.put_cf(
                    lookup_cf,
                    keys::lookup(tenant, rec.kind, field, value, id),
                    b"",
                );
            }
            batch.put_cf(
                self.cf(Column::Catalog)?,
                keys::catalog(tenant, id),
                encode_record(&rec)?,
            );
            out.push(rec);
        }
        self.db.write_opt(batch, &sync_writes())?;
        Ok(out)
    }

    /// Permanently removes artifacts soft-deleted before `before_ms`, and blobs nobody
    /// references (orphans of interrupted large uploads). Returns how many artifacts went.
    pub fn purge(&self, before_ms: u64) -> Result<usize> {
        let victims = self.expired(before_ms)?;
        self.purge_these(&victims)
    }

    /// The artifacts soft-deleted before `before_ms`: what [`purge`](Self::purge) removes.
    pub fn expired(&self, before_ms: u64) -> Result<Vec<(Tenant, ArtifactId)>> {
        let trash_cf = self.cf(Column::Trash)?;
        let mut victims = Vec::new();
        for item in self.db.iterator_cf(trash_cf, IteratorMode::Start) {
            let (k, _) = item?;
            match keys::parse_trash(&k) {
                Some((ms, tenant, id)) if ms < before_ms => victims.push((tenant, id)),
                Some(_) => break,
                None => tracing::warn!(key = ?k, "unreadable trash key skipped"),
            }
        }
        Ok(victims)
    }

    /// Permanently removes these soft-deleted artifacts (live ones are left alone), then
    /// blobs nobody references. Returns how many artifacts went.
    pub fn purge_these(&self, victims: &[(Tenant, ArtifactId)]) -> Result<usize> {
        let _guard = self.lock();
        let mut purged = 0;
        for (tenant, id) in victims {
            // One batch per artifact: reference counts below see the previous removals.
            let mut batch = WriteBatch::default();
            if let Some(rec) = self.get(tenant, id)?
                && rec.deleted_at_ms.is_some()
            {
                self.remove_into(&mut batch, tenant, &rec, &[])?;
                purged += 1;
            }
            self.db.write_opt(batch, &sync_writes())?;
        }
        self.collect_orphan_blobs()?;
        Ok(purged)
    }

    /// Every artifact of every tenant, deleted or not, in key order, one at a time (a
    /// snapshot of the catalog without holding it all in memory). Stops at `f`'s first error.
    pub fn for_each_record<E: From<Error>>(
        &self,
        mut f: impl FnMut(Tenant, ArtifactRecord) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let cf = self.cf(Column::Catalog)?;
        for item in self.db.iterator_cf(cf, IteratorMode::Start) {
            let (k, v) = item.map_err(Error::from)?;
            let what = String::from_utf8_lossy(&k);
            let tenant = keys::tenant_of(&k)
                .ok_or_else(|| Error::Corrupt(what.to_string(), "no tenant in key".into()))?;
            f(tenant, decode_record(&what, &v)?)?;
        }
        Ok(())
    }

    fn collect_orphan_blobs(&self) -> Result<()> {
        let blobs_cf = self.cf(Column::Blobs)?;
        let mut orphans: Vec<Vec<u8>> = Vec::new();
        let mut last_sha: Option<([u8; 32], bool)> = None;
        for item in self.db.iterator_cf(blobs_cf, IteratorMode::Start) {
            let (k, _) = item?;
            let Some(sha) = k.get(..32).and_then(|s| <[u8; 32]>::try_from(s).ok()) else {
                continue;
            };
            let referenced = match last_sha {
                Some((s, r)) if s == sha => r,
                _ => {
                    // Chunks of a commit in progress count as referenced.
                    let r = self.is_in_flight(&sha) || self.blob_referents(&sha)? > 0;
                    last_sha = Some((sha, r));
                    r
                }
            };
            if !referenced {
                orphans.push(k.to_vec());
            }
        }
        if !orphans.is_empty() {
            let mut batch = WriteBatch::default();
            for k in &orphans {
                batch.delete_cf(blobs_cf, k);
            }
            self.db.write_opt(batch, &sync_writes())?;
            tracing::info!(chunks = orphans.len(), "collected unreferenced blob chunks");
        }
        Ok(())
    }

    /// Stores (creates or replaces) an API key record, durably.
    pub fn put_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        let v =
            serde_json::to_vec(key).map_err(|e| Error::Corrupt(key.id.clone(), e.to_string()))?;
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(Column::ApiKeys)?, key.id.as_bytes(), v);
        self.db.write_opt(b, &sync_writes())?;
        Ok(())
    }

    /// The API key with this id, revoked or not.
    pub fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>> {
        match self
            .db
            .get_pinned_cf(self.cf(Column::ApiKeys)?, id.as_bytes())?
        {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| Error::Corrupt(format!("api key {id}"), e.to_string())),
        }
    }

    /// Every API key, in id order, revoked ones included.
    pub fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(Column::ApiKeys)?, IteratorMode::Start)
        {
            let (k, v) = item?;
            out.push(serde_json::from_slice(&v).map_err(|e| {
                Error::Corrupt(
                    format!("api key {}", String::from_utf8_lossy(&k)),
                    e.to_string(),
                )
            })?);
        }
        Ok(out)
    }

    /// Cheap liveness probe for readiness checks.
    /// The store's size in bytes: every column family's table files and memtables, as
    /// RocksDB estimates them.
    pub fn disk_bytes(&self) -> u64 {
        Column::ALL
            .iter()
            .filter_map(|c| self.cf(*c).ok())
            .map(|cf| {
                [
                    "rocksdb.total-sst-files-size",
                    "rocksdb.size-all-mem-tables",
                ]
                .iter()
                .filter_map(|p| self.db.property_int_value_cf(cf, *p).ok().flatten())
                .sum::<u64>()
            })
            .sum()
    }

    pub fn ping(&self) -> Result<()> {
        self.db
            .get_cf(self.cf(Column::Meta)?, keys::SCHEMA_VERSION_KEY)?;
        Ok(())
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn blob_sha(file: &FileRecord) -> Result<[u8; 32]> {
    parse_sha(&file.sha256).ok_or_else(|| Error::Corrupt(file.sha256.clone(), "bad sha256".into()))
}

fn chunk_count(size: u64) -> u32 {
    size.div_ceil(CHUNK_SIZE as u64).max(1) as u32
}

/// A stored file read as a stream with seeks, one decompressed chunk in memory at a time: a
/// 2 GB debug file is served, or its headers parsed, without holding it whole. Reads are not
/// checked against the sha256 (a reader of part of a file cannot); a caller reading it all
/// in order checks the digest itself.
pub struct BlobReader {
    storage: std::sync::Arc<Storage>,
    file: FileRecord,
    sha: [u8; 32],
    pos: u64,
    /// The chunk last read: its number and bytes.
    chunk: Option<(u32, Vec<u8>)>,
}

impl BlobReader {
    pub fn new(storage: std::sync::Arc<Storage>, file: FileRecord) -> Result<Self> {
        let sha = blob_sha(&file)?;
        Ok(Self {
            storage,
            file,
            sha,
            pos: 0,
            chunk: None,
        })
    }

    /// The file's size in bytes.
    pub fn len(&self) -> u64 {
        self.file.size
    }

    pub fn is_empty(&self) -> bool {
        self.file.size == 0
    }

    /// The file's sha256.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha
    }
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("sha256", &self.file.sha256)
            .field("pos", &self.pos)
            .finish()
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.file.size || buf.is_empty() {
            return Ok(0);
        }
        let c = (self.pos / CHUNK_SIZE as u64) as u32;
        if self.chunk.as_ref().is_none_or(|(n, _)| *n != c) {
            let bytes = self
                .storage
                .read_chunk(&self.file, &self.sha, c)
                .map_err(std::io::Error::other)?;
            self.chunk = Some((c, bytes));
        }
        let Some((_, bytes)) = &self.chunk else {
            return Ok(0);
        };
        let at = (self.pos - u64::from(c) * CHUNK_SIZE as u64) as usize;
        let n = buf.len().min(bytes.len().saturating_sub(at));
        buf[..n].copy_from_slice(&bytes[at..at + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for BlobReader {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            std::io::SeekFrom::Start(n) => Some(n),
            std::io::SeekFrom::End(d) => self.file.size.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )
        })?;
        self.pos = target;
        Ok(target)
    }
}

pub fn parse_sha(hex_str: &str) -> Option<[u8; 32]> {
    let v = hex::decode(hex_str).ok()?;
    v.try_into().ok()
}

fn encode_record(rec: &ArtifactRecord) -> Result<Vec<u8>> {
    serde_json::to_vec(rec).map_err(|e| Error::Corrupt(rec.id.to_string(), e.to_string()))
}

fn decode_record(what: &str, v: &[u8]) -> Result<ArtifactRecord> {
    serde_json::from_slice(v).map_err(|e| Error::Corrupt(what.to_owned(), e.to_string()))
}

#[cfg(test)]
mod tests;
