//! The one configuration tree of `symxd`: a TOML file, then `SYMX_<SECTION>_<KEY>`
//! environment overrides, then validation. Unknown keys are rejected, in the file and in the
//! environment, so a typo never silently falls back to a default.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub cache: CacheConfig,
    pub limits: LimitsConfig,
    pub log: LogConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// gRPC listen address. Default `127.0.0.1:50051` (the conventional gRPC port; loopback so
    /// a default start never exposes an unauthenticated service).
    pub grpc_addr: SocketAddr,
    /// HTTP listen address for `/metrics`, `/healthz` and `/readyz`. Default `127.0.0.1:8080`.
    pub http_addr: SocketAddr,
    /// Seconds given to in-flight requests at shutdown before they are cut. Default 30, a
    /// common load-balancer drain time.
    pub shutdown_grace_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// The RocksDB data directory. Default `./symx-data`, embedded, created on first start.
    pub data_dir: PathBuf,
    /// Soft-deleted artifacts are purged after this many seconds. Default 30 days: long
    /// enough to notice a wrong delete and restore it.
    pub purge_after_secs: u64,
    /// How often the purge runs, in seconds. Default 3600.
    pub purge_interval_secs: u64,
    /// RocksDB's memtables, all column families together, in bytes. Default 64 MiB.
    pub write_buffer_bytes: u64,
    /// RocksDB's block cache (data, index and filter blocks), in bytes. Default 32 MiB:
    /// catalog and lookup reads; indexes are cached parsed, in `cache.max_bytes`.
    pub block_cache_bytes: u64,
    /// S3-compatible object storage shared by replicas (`[storage.s3]`). Absent (the
    /// default): the embedded store alone, as one `symxd`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Config>,
}

/// The bucket replicas share: the source of truth of their catalog, files and indexes; each
/// replica's RocksDB is its local copy (ARCHITECTURE.md, "Replicas").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// The endpoint URL (`http://127.0.0.1:3900`); empty for AWS's own.
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    /// A key prefix inside the bucket, so several deployments can share one (`prod/symx`).
    pub prefix: String,
    /// Credentials; when empty, `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Path-style addressing (`endpoint/bucket/key`), as Garage and MinIO expect. Default true.
    pub path_style: bool,
    /// Plain HTTP endpoints (a local cluster). Default false.
    pub allow_http: bool,
    /// How often the catalog's log is read for other replicas' changes, in seconds. Default 5.
    pub poll_interval_secs: u64,
    /// This replica's name in the log's keys. Default: the host name and a random suffix.
    pub node: String,
    /// A replica writes a snapshot of the catalog when the newest one is older than this, in
    /// seconds, and the log has changes since; the log before the second-newest snapshot is
    /// then removed. Default 3600.
    pub snapshot_interval_secs: u64,
    /// A file of a purged upload is removed from the bucket only once it was neither written
    /// nor reused by an upload for this long, in seconds (an upload elsewhere reusing it
    /// writes it again). Default 86400.
    pub grace_secs: u64,
    /// Each read of the log starts this many seconds before the newest entry it read, and a
    /// snapshot covers the log up to this long before the read it follows: writers' clocks
    /// and the bucket's listings may lag by this much. Default 120.
    pub log_window_secs: u64,
    /// The bytes of files and indexes this replica keeps locally (its RocksDB); past it the
    /// least recently used are evicted and fetched from the bucket when next read, and
    /// other replicas' uploads are taken as catalog entries alone. Catalog entries and
    /// lookup keys are always kept. 0: no bound. Default 20 GiB.
    pub local_max_bytes: u64,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            region: "us-east-1".into(),
            bucket: String::new(),
            prefix: String::new(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            path_style: true,
            allow_http: false,
            poll_interval_secs: 5,
            node: String::new(),
            snapshot_interval_secs: 3600,
            grace_secs: 86_400,
            log_window_secs: 120,
            local_max_bytes: 20 << 30,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Byte budget of the parsed-index cache. Default 1 GiB: holds ~25 indexes of 5 MB maps
    /// (an index is ~5-8x its map's mappings size) with room for sources content.
    pub max_bytes: u64,
    /// How long the answer "which artifact serves this frame" is cached, in milliseconds,
    /// including "none": a storm of frames for an unknown release costs one lookup per
    /// distinct file per period. Uploads and deletes on this replica clear it at once; other
    /// replicas see changes within this time. Default 10000.
    pub resolve_ttl_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest accepted upload, all parts together, in bytes. Default 500 MiB, the Datadog
    /// upload document's limit.
    pub max_upload_bytes: u64,
    /// Most frames in one symbolicate request. Default 10000 (50 batches of 200).
    pub max_frames_per_request: usize,
    /// Most context lines around a resolved line. Default 10.
    pub max_context_lines: u32,
    /// Entries of the missing-artifact report per tenant (lookups that found no artifact);
    /// past it the rarest, then oldest, go. Default 10000 (a few MB at most).
    pub max_missing_entries: usize,
    /// Threads for CPU-heavy work (index builds, frame resolution). 0 = number of cores.
    pub cpu_workers: usize,
    /// Uploads whose index is built at once; more wait for a slot once their bytes have all
    /// arrived (receiving takes no slot, so a slow or stalled client holds none). Default 4:
    /// index builds are memory-heavy.
    pub concurrent_uploads: usize,
    /// Uploads one tenant may have in progress (receiving or building); more are refused at
    /// once (HTTP 503, gRPC RESOURCE_EXHAUSTED), so one tenant cannot take every slot.
    /// Default 8.
    pub uploads_per_tenant: usize,
    /// Uploads in progress for all tenants together; more are refused at once. Default 64
    /// (each holds a spool file and a connection).
    pub max_uploads_in_progress: usize,
    /// An upload that sends nothing for this long is cut (HTTP 408, gRPC DEADLINE_EXCEEDED)
    /// and its spool removed. Default 30 s.
    pub upload_idle_secs: u64,
    /// Slowest average an upload may keep once it has run `upload_idle_secs`, in bytes per
    /// second; slower ones (a slowloris trickling a byte now and then) are cut like idle
    /// ones. Default 1024; 0 turns it off.
    pub upload_min_bytes_per_sec: u64,
    /// Memory of the index builds in progress, together, in bytes. Each build's peak is
    /// estimated from its files before anything is decoded (a source map's counts of values,
    /// strings, segments and lines; a ProGuard mapping's class and member lines; an IL2CPP
    /// mapping's size; a native file's debug sections) and taken from this budget before the
    /// build starts, so builds wait for memory rather than exceed it; one that alone exceeds it is
    /// refused (HTTP 413, gRPC RESOURCE_EXHAUSTED) naming what costs the most. Default 2 GiB:
    /// room for an 80 MB R8 mapping (about 20 bytes of build per byte of mapping) or a 300 MB
    /// source map of embedded sources; raise it for larger ones.
    pub max_build_memory: u64,
    /// Most bytes a dSYM archive may expand to (all entries together). Default 4 GiB: eight
    /// times the upload limit, beyond what DWARF compresses (4 to 6 times); more is a bomb.
    pub max_archive_bytes: u64,
    /// Most entries in a dSYM archive. Default 10000 (a bundle has a handful of files).
    pub max_archive_entries: usize,
    /// Largest Elastic APM source map upload (`POST /api/apm/sourcemaps`), in bytes. Default
    /// 1 MiB, Kibana's `server.maxPayload` default that the Elastic document names.
    pub elastic_max_payload_bytes: u64,
    /// Requests per second allowed per API key (per caller on an open service), refilled
    /// continuously; 0 turns the limit off. Default 20000: well above what one ingestion
    /// pipeline sends (symx-loadgen peaks near 2000 batches/s on 2 cores), low enough to stop
    /// a runaway client. Over it: HTTP 429, gRPC RESOURCE_EXHAUSTED.
    pub rate_limit_per_sec: f64,
    /// Requests a key may make at once above its rate (the bucket size). Default 40000.
    pub rate_limit_burst: u32,
    /// Expensive requests (uploads, symbolicate, reprocess) in progress at once; more are
    /// refused at once with HTTP 503 / gRPC RESOURCE_EXHAUSTED and Retry-After rather than
    /// queued. Default 256.
    pub max_concurrent_requests: usize,
    /// The Retry-After given with 429 and 503, in seconds. Default 1.
    pub retry_after_secs: u64,
    /// Longest a request other than an upload may take, in seconds (HTTP 408, gRPC
    /// DEADLINE_EXCEEDED). Default 60.
    pub request_timeout_secs: u64,
    /// Longest an upload may take, receiving included, in seconds. Default 3600 (500 MB on a
    /// slow CI link).
    pub upload_timeout_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (human) or `json` (one object per line, for log shippers). Default `text`.
    pub format: String,
    /// A tracing filter (`info`, `symx=debug,tower=warn`). Default `info`; `RUST_LOG` wins.
    pub level: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            shutdown_grace_secs: 30,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./symx-data"),
            purge_after_secs: 30 * 24 * 3600,
            purge_interval_secs: 3600,
            write_buffer_bytes: 64 << 20,
            block_cache_bytes: 32 << 20,
            s3: None,
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_bytes: 1 << 30,
            resolve_ttl_ms: 10_000,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 500 << 20,
            max_frames_per_request: 10_000,
            max_context_lines: 10,
            max_missing_entries: 10_000,
            cpu_workers: 0,
            concurrent_uploads: 4,
            uploads_per_tenant: 8,
            max_uploads_in_progress: 64,
            upload_idle_secs: 30,
            upload_min_bytes_per_sec: 1024,
            max_build_memory: 2 << 30,
            max_archive_bytes: 4 << 30,
            max_archive_entries: 10_000,
            elastic_max_payload_bytes: 1 << 20,
            rate_limit_per_sec: 20_000.0,
            rate_limit_burst: 40_000,
            max_concurrent_requests: 256,
            retry_after_secs: 1,
            request_timeout_secs: 60,
            upload_timeout_secs: 3600,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// A configuration problem, naming the file, variable or key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

const SECTIONS: [&str; 5] = ["server", "storage", "cache", "limits", "log"];

impl Config {
    /// Loads the file (if any), applies `SYMX_*` variables from `env`, and validates.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?
            }
            None => toml::Table::new(),
        };
        for (name, raw) in env {
            let Some(rest) = name.strip_prefix("SYMX_") else {
                continue;
            };
            let lower = rest.to_ascii_lowercase();
            let Some((section, key)) = lower.split_once('_') else {
                continue;
            };
            if !SECTIONS.contains(&section) {
                // SYMX_ENDPOINT and friends belong to the CLI.
                continue;
            }
            let value = parse_env_value(&raw);
            let entry = table
                .entry(section.to_owned())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(t) => {
                    t.insert(key.to_owned(), value);
                }
                _ => return Err(ConfigError(format!("`{section}` must be a table"))),
            }
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError(format!("configuration: {}", e.message())))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(s3) = &self.storage.s3 {
            if s3.bucket.is_empty() {
                return Err(ConfigError("storage.s3.bucket must be set".into()));
            }
            if s3.log_window_secs == 0 {
                return Err(ConfigError(
                    "storage.s3.log_window_secs must be positive".into(),
                ));
            }
            if s3.snapshot_interval_secs == 0 {
                return Err(ConfigError(
                    "storage.s3.snapshot_interval_secs must be positive".into(),
                ));
            }
            if s3.poll_interval_secs == 0 {
                return Err(ConfigError(
                    "storage.s3.poll_interval_secs must be positive".into(),
                ));
            }
        }
        if self.cache.max_bytes < 1 << 20 {
            return Err(ConfigError("cache.max_bytes must be at least 1 MiB".into()));
        }
        if self.limits.max_upload_bytes == 0 {
            return Err(ConfigError(
                "limits.max_upload_bytes must be positive".into(),
            ));
        }
        if self.limits.max_build_memory < 1 << 20 {
            return Err(ConfigError(
                "limits.max_build_memory must be at least 1 MiB".into(),
            ));
        }
        if self.limits.concurrent_uploads == 0 {
            return Err(ConfigError(
                "limits.concurrent_uploads must be positive".into(),
            ));
        }
        let l = &self.limits;
        if !(l.rate_limit_per_sec >= 0.0 && l.rate_limit_per_sec.is_finite()) {
            return Err(ConfigError(
                "limits.rate_limit_per_sec must be a number >= 0 (0 turns it off)".into(),
            ));
        }
        for (name, v) in [
            (
                "limits.max_concurrent_requests",
                l.max_concurrent_requests as u64,
            ),
            ("limits.request_timeout_secs", l.request_timeout_secs),
            ("limits.upload_timeout_secs", l.upload_timeout_secs),
            ("limits.upload_idle_secs", l.upload_idle_secs),
            ("limits.uploads_per_tenant", l.uploads_per_tenant as u64),
            (
                "limits.max_uploads_in_progress",
                l.max_uploads_in_progress as u64,
            ),
            (
                "limits.elastic_max_payload_bytes",
                l.elastic_max_payload_bytes,
            ),
            ("limits.rate_limit_burst", u64::from(l.rate_limit_burst)),
            ("limits.max_missing_entries", l.max_missing_entries as u64),
        ] {
            if v == 0 {
                return Err(ConfigError(format!("{name} must be positive")));
            }
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(ConfigError(format!(
                "log.format must be `text` or `json`, not `{}`",
                self.log.format
            )));
        }
        Ok(())
    }

    /// The configuration as TOML, for `symxd --print-config`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    pub fn cpu_workers(&self) -> usize {
        match self.limits.cpu_workers {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            n => n,
        }
    }
}

/// Environment values are TOML values when they parse as one (`8080`, `true`), else strings
/// (`127.0.0.1:9000`, `./data`).
fn parse_env_value(raw: &str) -> toml::Value {
    match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_owned())),
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_file_then_env() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("symx.toml");
        std::fs::write(
            &path,
            "[cache]\nmax_bytes = 2097152\n[storage]\ndata_dir = \"/var/lib/symx\"\n",
        )
        .expect("write");
        let c = Config::load(
            Some(&path),
            env(&[
                ("SYMX_SERVER_GRPC_ADDR", "0.0.0.0:6000"),
                ("SYMX_CACHE_MAX_BYTES", "4194304"),
                ("SYMX_ENDPOINT", "ignored by the server"),
            ]),
        )
        .expect("loads");
        assert_eq!(c.server.grpc_addr.port(), 6000);
        assert_eq!(c.cache.max_bytes, 4 << 20);
        assert_eq!(c.storage.data_dir, PathBuf::from("/var/lib/symx"));
        assert_eq!(c.limits.max_upload_bytes, 500 << 20);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = Config::load(None, env(&[("SYMX_CACHE_MAX_BYTE", "1")])).expect_err("typo");
        assert!(err.0.contains("max_byte"), "{err}");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("symx.toml");
        std::fs::write(&path, "[server]\ngrpc = 1\n").expect("write");
        assert!(Config::load(Some(&path), env(&[])).is_err());
    }

    #[test]
    fn printed_config_loads_back() {
        let c = Config::default();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("symx.toml");
        std::fs::write(&path, c.to_toml()).expect("write");
        assert_eq!(Config::load(Some(&path), env(&[])).expect("loads"), c);
    }
}
