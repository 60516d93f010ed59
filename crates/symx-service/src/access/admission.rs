//! Admission: a per-key rate limit (token bucket) and a bound on expensive requests in
//! progress. Both refuse at once (never queue), so an abusive client cannot build a backlog
//! that delays everyone; the edges turn a [`Refusal`] into HTTP 429 / 503 with Retry-After, or
//! gRPC RESOURCE_EXHAUSTED with `retry-after` metadata, and count it.

use crate::access::keys::Principal;
use crate::error::ServiceError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use symx_types::ErrorCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a request was not admitted, and when to try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The key's rate limit is used up (HTTP 429).
    RateLimited { retry_after: Duration },
    /// Too many expensive requests are in progress (HTTP 503).
    Overloaded { retry_after: Duration },
}

impl Refusal {
    pub fn retry_after(&self) -> Duration {
        match self {
            Self::RateLimited { retry_after } | Self::Overloaded { retry_after } => *retry_after,
        }
    }

    /// The label of `symx_rejections_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::Overloaded { .. } => "overloaded",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::RateLimited { retry_after } => format!(
                "rate limit exceeded for this API key; retry after {} s",
                retry_after.as_secs().max(1)
            ),
            Self::Overloaded { retry_after } => format!(
                "too many requests in progress; retry after {} s",
                retry_after.as_secs().max(1)
            ),
        }
    }
}

/// Uploads in progress, per tenant and in all: taken when an upload begins (before any byte
/// is received), given back when its session ends however it ends. Refuses at once past
/// either bound, so a tenant with stalled uploads delays only itself.
#[derive(Debug)]
pub(crate) struct UploadSlots {
    per_tenant: usize,
    total: usize,
    held: Mutex<(usize, HashMap<symx_types::Tenant, usize>)>,
}

/// One upload's place among [`UploadSlots`].
#[derive(Debug)]
pub(crate) struct UploadSlot {
    slots: Arc<UploadSlots>,
    tenant: symx_types::Tenant,
}

impl UploadSlots {
    pub(crate) fn new(config: &crate::config::LimitsConfig) -> Arc<Self> {
        Arc::new(Self {
            per_tenant: config.uploads_per_tenant,
            total: config.max_uploads_in_progress,
            held: Mutex::new((0, HashMap::new())),
        })
    }

    /// A slot for an upload of `tenant`, or why not.
    pub(crate) fn take(
        self: &Arc<Self>,
        tenant: &symx_types::Tenant,
    ) -> std::result::Result<UploadSlot, String> {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mine = held.1.get(tenant).copied().unwrap_or(0);
        if mine >= self.per_tenant {
            return Err(format!(
                "this tenant has {mine} uploads in progress, the limit is {}; retry when one ends",
                self.per_tenant
            ));
        }
        if held.0 >= self.total {
            return Err(format!(
                "{} uploads in progress, the limit is {}; retry when one ends",
                held.0, self.total
            ));
        }
        held.0 += 1;
        *held.1.entry(tenant.clone()).or_default() += 1;
        Ok(UploadSlot {
            slots: self.clone(),
            tenant: tenant.clone(),
        })
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut held = self
            .slots
            .held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        held.0 = held.0.saturating_sub(1);
        if let Some(n) = held.1.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.1.remove(&self.tenant);
            }
        }
    }
}

/// A refusal as the service error the edges answer (429 / 503 with Retry-After, or gRPC
/// RESOURCE_EXHAUSTED with `retry-after`).
impl From<Refusal> for ServiceError {
    fn from(r: Refusal) -> Self {
        let code = match r {
            Refusal::RateLimited { .. } => ErrorCode::RateLimited,
            Refusal::Overloaded { .. } => ErrorCode::Overloaded,
        };
        Self {
            retry_after: Some(r.retry_after()),
            ..ServiceError::new(code, r.message())
        }
    }
}

/// Held for the length of an admitted expensive request.
#[derive(Debug)]
pub struct Admission {
    _permit: Option<OwnedSemaphorePermit>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Limits shared by both edges.
#[derive(Debug)]
pub(crate) struct Limiter {
    per_sec: f64,
    burst: f64,
    retry_after: Duration,
    buckets: Mutex<HashMap<String, Bucket>>,
    expensive: Arc<Semaphore>,
}

/// Buckets kept before idle ones are dropped (a full bucket is the same as none).
const MAX_BUCKETS: usize = 100_000;

impl Limiter {
    pub(crate) fn new(config: &crate::config::LimitsConfig) -> Self {
        Self {
            per_sec: config.rate_limit_per_sec,
            burst: f64::from(config.rate_limit_burst),
            retry_after: Duration::from_secs(config.retry_after_secs),
            buckets: Mutex::new(HashMap::new()),
            expensive: Arc::new(Semaphore::new(config.max_concurrent_requests)),
        }
    }

    /// Takes one token from `key`'s bucket.
    fn take(&self, key: &str, now: Instant) -> Result<(), Refusal> {
        if self.per_sec <= 0.0 {
            return Ok(());
        }
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            let (per_sec, burst) = (self.per_sec, self.burst);
            buckets
                .retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * per_sec < burst);
        }
        // Known keys (every call but a key's first) are found without allocating.
        if !buckets.contains_key(key) {
            buckets.insert(
                key.to_owned(),
                Bucket {
                    tokens: self.burst,
                    at: now,
                },
            );
        }
        let Some(b) = buckets.get_mut(key) else {
            return Ok(());
        };
        let refill = now.duration_since(b.at).as_secs_f64() * self.per_sec;
        b.tokens = (b.tokens + refill).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = Duration::from_secs_f64((1.0 - b.tokens) / self.per_sec);
            Err(Refusal::RateLimited {
                retry_after: wait.max(self.retry_after),
            })
        }
    }
}

impl Limiter {
    /// Admits a request of `who`: its key's rate limit first, then, for expensive work
    /// (uploads, symbolicate, reprocess), a slot among `limits.max_concurrent_requests`.
    pub(crate) fn admit(&self, who: &Principal, expensive: bool) -> Result<Admission, Refusal> {
        let limiter = self;
        limiter.take(who.key_id().unwrap_or("-"), Instant::now())?;
        if !expensive {
            return Ok(Admission { _permit: None });
        }
        match limiter.expensive.clone().try_acquire_owned() {
            Ok(permit) => Ok(Admission {
                _permit: Some(permit),
            }),
            Err(_) => Err(Refusal::Overloaded {
                retry_after: limiter.retry_after,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refuses_past_its_burst_and_refills_with_time() {
        let config = crate::config::LimitsConfig {
            rate_limit_per_sec: 10.0,
            rate_limit_burst: 3,
            ..Default::default()
        };
        let l = Limiter::new(&config);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.take("k", t0), Ok(()));
        }
        let refused = l.take("k", t0).expect_err("burst used up");
        assert_eq!(refused.reason(), "rate_limited");
        assert!(refused.retry_after() >= Duration::from_secs(1));
        // Another key has its own bucket.
        assert_eq!(l.take("other", t0), Ok(()));
        // 100 ms at 10/s is one token.
        assert_eq!(l.take("k", t0 + Duration::from_millis(100)), Ok(()));
        assert!(l.take("k", t0 + Duration::from_millis(100)).is_err());
        let off = Limiter::new(&crate::config::LimitsConfig {
            rate_limit_per_sec: 0.0,
            ..Default::default()
        });
        assert!((0..10_000).all(|_| off.take("k", t0).is_ok()));
    }
}
