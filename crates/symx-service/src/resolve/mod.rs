//! Symbolication: each frame finds its artifact, its index (from the cache), and its original
//! location, through the resolver of its platform ([`js`], [`native`], [`jvm`]); resolved
//! frames then get source links ([`links`]). Every frame gets its own status; only a malformed
//! request fails as a whole.

pub(crate) mod explain;
pub(crate) mod js;
pub(crate) mod jvm;
pub(crate) mod links;
pub(crate) mod native;
pub(crate) mod request;

use crate::config::LimitsConfig;
use crate::error::{Result, ServiceError};
use crate::indexes::Indexes;
use crate::metrics::Metrics;
use crate::pool::Pool;
use request::{Frame, FrameResult, SymbolicateRequest, SymbolicateResponse};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use symx_types::{FrameStatus, Tenant};

/// The read path: frames to original locations.
#[derive(Clone, Debug)]
pub(crate) struct Resolver {
    indexes: Arc<Indexes>,
    metrics: Metrics,
    limits: Arc<LimitsConfig>,
    pool: Pool,
}

impl Resolver {
    pub(crate) fn new(
        indexes: Arc<Indexes>,
        metrics: Metrics,
        limits: LimitsConfig,
        pool: Pool,
    ) -> Self {
        Self {
            indexes,
            metrics,
            limits: Arc::new(limits),
            pool,
        }
    }

    /// Resolves a batch on the blocking pool.
    pub(crate) async fn symbolicate(
        &self,
        tenant: Tenant,
        request: SymbolicateRequest,
    ) -> Result<SymbolicateResponse> {
        let frames: usize = request.stacktraces.iter().map(|s| s.frames.len()).sum();
        let max = self.limits.max_frames_per_request;
        if frames > max {
            return Err(ServiceError::invalid(
                "stacktraces",
                format!("request has {frames} frames, the limit is {max}"),
            ));
        }
        let this = self.clone();
        let started_ms = symx_storage::now_ms();
        let response = self
            .pool
            .run(move || Ok(this.symbolicate_blocking(&tenant, &request)))
            .await?;
        if self.indexes.bucket_failed_since(started_ms) {
            let mut e = ServiceError::new(
                symx_types::ErrorCode::Unavailable,
                "object storage is unreachable: a frame whose artifact is not on this replica \
                 cannot be answered",
            );
            e.retry_after = Some(std::time::Duration::from_secs(5));
            return Err(e);
        }
        Ok(response)
    }

    /// Resolves a batch on the calling thread (for callers already off the async threads,
    /// and for benchmarks).
    pub(crate) fn symbolicate_blocking(
        &self,
        tenant: &Tenant,
        request: &SymbolicateRequest,
    ) -> SymbolicateResponse {
        let started = Instant::now();
        let indexes = &*self.indexes;
        let context = request.context_lines.min(self.limits.max_context_lines);
        let mut js_memo = js::JsMemo::new();
        let mut native_memo = native::NativeMemo::new();
        let mut link_memo = links::LinkMemo::default();
        let mut explainer = explain::Explainer::new(indexes, tenant, request);
        let mut counts: HashMap<(&'static str, FrameStatus), u64> = HashMap::new();
        let mut out = Vec::with_capacity(request.stacktraces.len());
        let mut exceptions = Vec::with_capacity(request.stacktraces.len());
        for (si, st) in request.stacktraces.iter().enumerate() {
            let mut results = Vec::with_capacity(st.frames.len());
            let mut jvm = jvm::JvmTrace::new(indexes, tenant, st);
            for (fi, frame) in st.frames.iter().enumerate() {
                let (platform, mut result) = match frame {
                    Frame::Js(f) => (
                        "javascript",
                        js::resolve(indexes, tenant, request, st, si, f, context, &mut js_memo),
                    ),
                    Frame::Native(f) => (
                        "native",
                        native::resolve(indexes, tenant, f, fi == 0, &mut native_memo),
                    ),
                    Frame::Jvm(f) => ("jvm", jvm.resolve(f)),
                    Frame::Unsupported { platform } => (
                        "other",
                        FrameResult::miss(
                            FrameStatus::UnsupportedPlatform,
                            None,
                            format!("platform `{platform}` is not resolved by this server"),
                        ),
                    ),
                };
                *counts.entry((platform, result.status)).or_default() += 1;
                explainer.apply(request, st, frame, &mut result);
                links::add_source_links(indexes, tenant, st, &mut result, &mut link_memo);
                results.push(result);
            }
            exceptions.push(jvm.exception());
            out.push(results);
        }
        if !explainer.misses.is_empty() {
            for (key, n) in &explainer.misses {
                self.metrics
                    .missing_lookups
                    .with_label_values(&[key.kind.as_str()])
                    .inc_by(*n);
            }
            let held = indexes.missing.record(tenant, explainer.misses);
            self.metrics.missing_entries.set(held as i64);
        }
        for ((platform, status), n) in counts {
            self.metrics
                .frames
                .with_label_values(&[platform, status.as_str()])
                .inc_by(n);
        }
        self.metrics
            .symbolicate_seconds
            .observe(started.elapsed().as_secs_f64());
        SymbolicateResponse {
            stacktraces: out,
            exceptions,
        }
    }
}
