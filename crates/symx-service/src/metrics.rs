//! Prometheus metrics of the service. The HTTP edge renders [`Metrics::render`] at
//! `/metrics`; nothing here knows HTTP.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// Every metric symx exports, registered in one registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub uploads: IntCounterVec,
    pub upload_bytes: IntCounter,
    pub index_builds: IntCounterVec,
    pub index_build_seconds: Histogram,
    pub frames: IntCounterVec,
    pub symbolicate_seconds: Histogram,
    pub cache_hits: IntCounterVec,
    pub cache_misses: IntCounterVec,
    pub cache_loads: IntCounterVec,
    pub cache_bytes: IntGauge,
    pub cache_entries: IntGauge,
    pub purged: IntCounter,
    /// Requests presenting a key that is unknown, revoked or wrong.
    pub auth_failures: IntCounter,
    /// Requests refused by a limit, by edge (`http`, `grpc`) and reason (`rate_limited`,
    /// `overloaded`, `timeout`, `too_large`, `unauthenticated`, `forbidden`).
    pub rejections: IntCounterVec,
    /// Seconds since this replica last read the shared catalog's log (`[storage.s3]`; 0 on
    /// the embedded store).
    pub catalog_staleness_seconds: IntGauge,
    /// Reads of the shared catalog's log that failed.
    pub catalog_poll_errors: IntCounter,
    /// Changes of other replicas applied from the shared catalog's log, and artifacts fetched
    /// on a lookup miss through a pointer.
    pub catalog_applied: IntCounterVec,
    /// Requests to the shared bucket, by operation (`get`, `put`, `head`, `list`, `delete`)
    /// and outcome (`ok`, `not_found`, `error`).
    pub object_store_requests: IntCounterVec,
    /// Latency of requests to the shared bucket, by operation.
    pub object_store_seconds: HistogramVec,
    /// Bytes sent to (`out`) and read from (`in`) the shared bucket.
    pub object_store_bytes: IntCounterVec,
    /// 1 when the bucket honours conditional PUT (`If-None-Match: *`), 0 when not, -1 until
    /// probed.
    pub object_store_conditional_put: IntGauge,
    /// Frames whose lookup found no artifact, by kind (`js`, `native`, `jvm`).
    pub missing_lookups: IntCounterVec,
    /// Entries in the missing-artifact report, all tenants.
    pub missing_entries: IntGauge,
    /// Bytes of files and indexes this replica holds locally (`[storage.s3]` with
    /// `local_max_bytes`; 0 otherwise).
    pub local_copy_bytes: IntGauge,
    /// Snapshots of the shared catalog written and loaded by this replica.
    pub catalog_snapshots: IntCounterVec,
    /// Objects removed from the shared bucket by this replica's purge, by what they held
    /// (`artifact`, `index`, `file`, `log`, `snapshot`).
    pub object_store_removed: IntCounterVec,
    /// Debug files asked of the symbol server, by protocol (`debuginfod`, `ssqp`, `unified`,
    /// `native`, `grpc`) and outcome (`found`, `not_found`, `error`).
    pub symbol_requests: IntCounterVec,
    /// Bytes of debug files served, by protocol.
    pub symbol_bytes: IntCounterVec,
    /// The index cache's budget (`cache.max_bytes`), beside `cache_bytes`.
    pub cache_budget_bytes: IntGauge,
    /// The store's size on disk (RocksDB's table files and memtables), set when the metrics
    /// are read.
    pub storage_bytes: IntGauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
    r.register(Box::new(c.clone()))
        .unwrap_or_else(|e| panic!("metric {name} registered twice: {e}"));
    c
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
    r.register(Box::new(g.clone()))
        .unwrap_or_else(|e| panic!("metric {name} registered twice: {e}"));
    g
}

fn histogram(r: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
    r.register(Box::new(h.clone()))
        .unwrap_or_else(|e| panic!("metric {name} registered twice: {e}"));
    h
}

impl Metrics {
    // The metric definitions are constants: a failure here is a programming error found by
    // the first test that builds a service, not a runtime condition.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let r = Registry::new_custom(Some("symx".into()), None)
            .unwrap_or_else(|e| panic!("registry: {e}"));
        let upload_bytes = IntCounter::new("upload_bytes_total", "Bytes received in uploads")
            .unwrap_or_else(|e| panic!("{e}"));
        r.register(Box::new(upload_bytes.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        let cache_bytes = IntGauge::new("cache_bytes", "Weighted size of the index cache")
            .unwrap_or_else(|e| panic!("{e}"));
        r.register(Box::new(cache_bytes.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        let cache_entries = IntGauge::new("cache_entries", "Entries in the index cache")
            .unwrap_or_else(|e| panic!("{e}"));
        r.register(Box::new(cache_entries.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        let purged = IntCounter::new("purged_artifacts_total", "Soft-deleted artifacts purged")
            .unwrap_or_else(|e| panic!("{e}"));
        r.register(Box::new(purged.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        let auth_failures = IntCounter::new(
            "auth_failures_total",
            "Requests with an unknown, revoked or wrong API key",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        r.register(Box::new(auth_failures.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        let catalog_staleness_seconds = IntGauge::new(
            "catalog_staleness_seconds",
            "Seconds since the shared catalog's log was last read (0: embedded store)",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        r.register(Box::new(catalog_staleness_seconds.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        let catalog_poll_errors = IntCounter::new(
            "catalog_poll_errors_total",
            "Reads of the shared catalog's log that failed",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        r.register(Box::new(catalog_poll_errors.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        let object_store_seconds = HistogramVec::new(
            HistogramOpts::new(
                "object_store_seconds",
                "Latency of requests to the shared bucket, by operation",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
            ]),
            &["op"],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        r.register(Box::new(object_store_seconds.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        Self {
            object_store_requests: counter_vec(
                &r,
                "object_store_requests_total",
                "Requests to the shared bucket, by operation and outcome",
                &["op", "outcome"],
            ),
            object_store_seconds,
            object_store_bytes: counter_vec(
                &r,
                "object_store_bytes_total",
                "Bytes sent to (out) and read from (in) the shared bucket",
                &["direction"],
            ),
            object_store_conditional_put: gauge(
                &r,
                "object_store_conditional_put",
                "1 when the shared bucket honours conditional PUT, 0 when not, -1 until probed",
            ),
            cache_budget_bytes: gauge(
                &r,
                "cache_budget_bytes",
                "The index cache's budget in bytes (cache.max_bytes)",
            ),
            storage_bytes: gauge(
                &r,
                "storage_bytes",
                "Bytes of the store on disk (table files and memtables)",
            ),
            symbol_requests: counter_vec(
                &r,
                "symbol_requests_total",
                "Debug files asked of the symbol server, by protocol and outcome",
                &["protocol", "outcome"],
            ),
            symbol_bytes: counter_vec(
                &r,
                "symbol_bytes_total",
                "Bytes of debug files served by the symbol server, by protocol",
                &["protocol"],
            ),
            missing_lookups: counter_vec(
                &r,
                "missing_lookups_total",
                "Frames whose lookup found no artifact, by kind",
                &["kind"],
            ),
            missing_entries: gauge(
                &r,
                "missing_entries",
                "Entries in the missing-artifact report, all tenants",
            ),
            local_copy_bytes: gauge(
                &r,
                "local_copy_bytes",
                "Bytes of files and indexes this replica holds of the shared bucket's",
            ),
            catalog_snapshots: counter_vec(
                &r,
                "catalog_snapshots_total",
                "Snapshots of the shared catalog written and loaded by this replica",
                &["what"],
            ),
            object_store_removed: counter_vec(
                &r,
                "object_store_removed_total",
                "Objects removed from the shared bucket by this replica's purge, by content",
                &["what"],
            ),
            catalog_staleness_seconds,
            catalog_poll_errors,
            catalog_applied: counter_vec(
                &r,
                "catalog_applied_total",
                "Changes of other replicas applied, by how they were found (poll, pointer)",
                &["via"],
            ),
            auth_failures,
            rejections: counter_vec(
                &r,
                "rejections_total",
                "Requests refused by authentication or a limit, by edge and reason",
                &["edge", "reason"],
            ),
            uploads: counter_vec(
                &r,
                "uploads_total",
                "Uploads by kind and outcome",
                &["kind", "outcome"],
            ),
            upload_bytes,
            index_builds: counter_vec(
                &r,
                "index_builds_total",
                "Indexes built, by kind",
                &["kind"],
            ),
            index_build_seconds: histogram(
                &r,
                "index_build_seconds",
                "Time to build an index at upload",
                vec![0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
            ),
            frames: counter_vec(
                &r,
                "frames_total",
                "Frames symbolicated, by platform and status",
                &["platform", "status"],
            ),
            symbolicate_seconds: histogram(
                &r,
                "symbolicate_seconds",
                "Time to symbolicate one request",
                vec![0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0],
            ),
            cache_hits: counter_vec(&r, "cache_hits_total", "Cache hits", &["cache"]),
            cache_misses: counter_vec(&r, "cache_misses_total", "Cache misses", &["cache"]),
            cache_loads: counter_vec(
                &r,
                "cache_loads_total",
                "Loads from storage after a miss (coalesced)",
                &["cache"],
            ),
            cache_bytes,
            cache_entries,
            purged,
            registry: r,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
