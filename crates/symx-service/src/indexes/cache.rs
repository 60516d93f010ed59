//! The hot caches.
//!
//! * [`IndexCache`]: parsed indexes by (tenant, artifact id), bounded in bytes. The weigher
//!   counts the index buffer, which is everything a loaded index holds (lookups work in
//!   place on it). Concurrent loads of one key are coalesced by moka's `try_get_with`: one
//!   storage read, every waiter gets the same `Arc` (or the same `Clone` error).
//! * [`ResolveCache`]: which artifact serves a (tenant, identity of a frame), including "none",
//!   for a short TTL, so a storm of frames for an unknown release costs one storage lookup per
//!   distinct file per TTL. Writes on this replica clear it.

use crate::error::{Result, ServiceError};
use crate::lookups::Lookup;
use crate::metrics::Metrics;
use crate::repo::RepoIndex;
use moka::sync::Cache;
use std::sync::Arc;
use std::time::Duration;
use symx_native::NativeIndex;
use symx_sourcemap::JsIndex;
use symx_types::{ArtifactId, ArtifactKind, Tenant};

/// A loaded index, ready for lookups.
// Always held behind an `Arc` in the cache: boxing the larger variant would only add a second
// allocation and a pointer chase to every lookup.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum LoadedIndex {
    Js(JsIndex<Vec<u8>>),
    Native(NativeArtifact),
    Jvm(symx_proguard::JvmIndex<Vec<u8>>),
    Repo(RepoIndex),
    Il2cpp(symx_il2cpp::Il2cppIndex),
}

/// The indexes of a native artifact, with what its frames need beside them.
#[derive(Debug)]
pub struct NativeArtifact {
    /// One index per object of the artifact: per architecture slice of each DWARF file of a
    /// dSYM archive, else one.
    pub slices: Vec<NativeIndex<Vec<u8>>>,
    /// The build id of the upload's metadata (for NDK uploads by `datadog-ci unity-symbols`,
    /// the Unity build id its IL2CPP line mapping is uploaded under), lowercase; kept here so
    /// a frame finds the mapping without reading the catalog record.
    pub build_id: Option<String>,
}

impl LoadedIndex {
    /// Bytes this entry holds in memory (its buffer plus a fixed allowance for the struct,
    /// the key and moka's bookkeeping).
    pub fn weight(&self) -> u32 {
        let bytes = match self {
            Self::Js(idx) => idx.memory(),
            Self::Native(n) => n.slices.iter().map(|i| i.bytes().len() + 64).sum(),
            Self::Jvm(idx) => idx.bytes().len(),
            Self::Repo(idx) => idx.weight(),
            Self::Il2cpp(idx) => idx.weight(),
        };
        u32::try_from(bytes.saturating_add(256)).unwrap_or(u32::MAX)
    }
}

pub type IndexKey = (Tenant, ArtifactId);

#[derive(Clone)]
pub struct IndexCache {
    cache: Cache<IndexKey, Arc<LoadedIndex>>,
    metrics: Metrics,
    /// The `cache` label of its hit/miss/load counters (`index`, `repo`); only `index`
    /// publishes the byte and entry gauges.
    name: &'static str,
}

impl std::fmt::Debug for IndexCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexCache")
            .field("entries", &self.cache.entry_count())
            .field("bytes", &self.cache.weighted_size())
            .finish()
    }
}

impl IndexCache {
    pub fn new(max_bytes: u64, metrics: Metrics) -> Self {
        Self::named(max_bytes, metrics, "index")
    }

    pub fn named(max_bytes: u64, metrics: Metrics, name: &'static str) -> Self {
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_k: &IndexKey, v: &Arc<LoadedIndex>| v.weight())
            .build();
        Self {
            cache,
            metrics,
            name,
        }
    }

    /// The index of `key`, loading it with `load` on a miss (coalesced across threads).
    pub fn get_or_load(
        &self,
        key: &IndexKey,
        load: impl FnOnce() -> Result<LoadedIndex>,
    ) -> Result<Arc<LoadedIndex>> {
        if let Some(v) = self.cache.get(key) {
            self.metrics
                .cache_hits
                .with_label_values(&[self.name])
                .inc();
            return Ok(v);
        }
        self.metrics
            .cache_misses
            .with_label_values(&[self.name])
            .inc();
        let loads = self.metrics.cache_loads.with_label_values(&[self.name]);
        let v = self
            .cache
            .try_get_with(key.clone(), || {
                loads.inc();
                load().map(Arc::new)
            })
            .map_err(ServiceError::from)?;
        self.publish();
        Ok(v)
    }

    /// Whether the index of `key` is loaded (no load, no recency update).
    pub fn holds(&self, key: &IndexKey) -> bool {
        self.cache.contains_key(key)
    }

    pub fn invalidate(&self, key: &IndexKey) {
        self.cache.invalidate(key);
    }

    /// Drops every entry (repository links after a write).
    pub fn clear(&self) {
        self.cache.invalidate_all();
    }

    /// Runs pending evictions and publishes size gauges (for tests and `/metrics`).
    pub fn publish(&self) {
        if self.name != "index" {
            return;
        }
        self.metrics
            .cache_bytes
            .set(self.cache.weighted_size() as i64);
        self.metrics
            .cache_entries
            .set(self.cache.entry_count() as i64);
    }

    pub fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks();
        self.publish();
    }

    pub fn weighted_size(&self) -> u64 {
        self.cache.weighted_size()
    }
}

/// What a frame is looked up by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ResolveKey {
    /// The first live artifact of these kinds (in order) with this lookup row: a source map by
    /// debug id, a JVM mapping by build id or release, an IL2CPP mapping by build id,
    /// repository metadata by commit.
    First(Tenant, &'static [ArtifactKind], Lookup),
    /// Native module by its code id and debug id (normalised; either may be empty): every
    /// artifact found by either, and by the ids of those (a PE and its PDB).
    Module(Tenant, String, String),
    /// service, version, URL with query and fragment stripped (found by full URL, then by
    /// path suffixes).
    JsUrl(Tenant, String, String, String),
}

#[derive(Clone)]
pub(crate) struct ResolveCache {
    /// Every artifact that serves the key, in order of preference (empty: none, cached too).
    cache: Cache<ResolveKey, Arc<[ArtifactId]>>,
    metrics: Metrics,
}

impl std::fmt::Debug for ResolveCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolveCache")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

/// Bytes the resolve cache may hold, as [`resolve_weight`] counts them: a storm of frames
/// with distinct unknown ids (each a "none" entry) cannot take more.
const RESOLVE_BUDGET: u64 = 64 << 20;

/// An entry's size: its key's strings, its ids, and moka's own overhead per entry (about
/// 160 bytes, measured as the resident set of a million entries).
fn resolve_weight(key: &ResolveKey, ids: &Arc<[ArtifactId]>) -> u32 {
    let key_bytes = match key {
        ResolveKey::First(t, _, l) => t.as_str().len() + l.value().len(),
        ResolveKey::Module(t, a, b) => t.as_str().len() + a.len() + b.len(),
        ResolveKey::JsUrl(t, a, b, c) => t.as_str().len() + a.len() + b.len() + c.len(),
    };
    let bytes = 160 + 2 * key_bytes + ids.len() * 56;
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

impl ResolveCache {
    /// Bounded in bytes ([`RESOLVE_BUDGET`]), not entries: keys carry URLs and ids of any
    /// length.
    pub fn new(ttl: Duration, metrics: Metrics) -> Self {
        let cache = Cache::builder()
            .max_capacity(RESOLVE_BUDGET)
            .weigher(resolve_weight)
            .time_to_live(ttl)
            .build();
        Self { cache, metrics }
    }

    /// The artifact that serves `key` (resolved by `resolve` on a miss).
    pub fn get_or_resolve(
        &self,
        key: ResolveKey,
        resolve: impl FnOnce() -> Result<Option<ArtifactId>>,
    ) -> Result<Option<ArtifactId>> {
        let all = self.get_or_resolve_all(key, || Ok(resolve()?.into_iter().collect()))?;
        Ok(all.first().cloned())
    }

    /// Every artifact that serves `key`, in order of preference.
    pub fn get_or_resolve_all(
        &self,
        key: ResolveKey,
        resolve: impl FnOnce() -> Result<Vec<ArtifactId>>,
    ) -> Result<Arc<[ArtifactId]>> {
        if let Some(v) = self.cache.get(&key) {
            self.metrics
                .cache_hits
                .with_label_values(&["resolve"])
                .inc();
            return Ok(v);
        }
        self.metrics
            .cache_misses
            .with_label_values(&["resolve"])
            .inc();
        let loads = self.metrics.cache_loads.with_label_values(&["resolve"]);
        self.cache
            .try_get_with(key, || {
                loads.inc();
                resolve().map(Arc::from)
            })
            .map_err(ServiceError::from)
    }

    pub fn clear(&self) {
        self.cache.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resolve_cache_holds_its_byte_budget_under_distinct_misses() {
        let cache = ResolveCache::new(Duration::from_secs(60), Metrics::new());
        let t = Tenant::default();
        for i in 0..600_000u32 {
            let key = ResolveKey::Module(t.clone(), format!("{i:040x}"), String::new());
            cache.get_or_resolve(key, || Ok(None)).expect("resolve");
        }
        cache.cache.run_pending_tasks();
        assert!(
            cache.cache.weighted_size() <= RESOLVE_BUDGET,
            "{}",
            cache.cache.weighted_size()
        );
        assert!(cache.cache.entry_count() < 600_000, "entries were evicted");
    }

    /// A real index of `lines` one-token lines (~60 bytes per line).
    fn index(lines: usize) -> LoadedIndex {
        let mappings = "AAAA;".repeat(lines);
        let map =
            format!(r#"{{"version":3,"sources":["a.js"],"names":[],"mappings":"{mappings}"}}"#);
        let built = symx_sourcemap::build_index(map.as_bytes(), None).expect("build");
        LoadedIndex::Js(JsIndex::open(built.bytes).expect("open"))
    }

    #[test]
    fn the_byte_budget_holds_and_loads_are_counted() {
        let budget = 1 << 20;
        let metrics = Metrics::new();
        let cache = IndexCache::new(budget, metrics.clone());
        let one = index(5000);
        let weight = u64::from(one.weight());
        assert!(weight > 100_000, "test index too small: {weight}");
        for i in 0..40 {
            let key = (
                Tenant::default(),
                ArtifactId::from_digest(symx_types::ArtifactKind::Js, &[i; 16]),
            );
            cache.get_or_load(&key, || Ok(index(5000))).expect("load");
            cache.run_pending_tasks();
            assert!(
                cache.weighted_size() <= budget,
                "over budget: {}",
                cache.weighted_size()
            );
        }
        assert!(
            cache.weighted_size() >= budget / 2,
            "cache keeps too little: {}",
            cache.weighted_size()
        );
        let text = metrics.render();
        assert!(
            text.contains("symx_cache_loads_total{cache=\"index\"} 40"),
            "{text}"
        );
    }

    #[test]
    fn concurrent_loads_of_one_key_are_coalesced() {
        let metrics = Metrics::new();
        let cache = IndexCache::new(64 << 20, metrics.clone());
        let key = (
            Tenant::default(),
            ArtifactId::from_digest(symx_types::ArtifactKind::Js, &[7; 16]),
        );
        let loads = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    cache
                        .get_or_load(&key, || {
                            loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            Ok(index(10))
                        })
                        .expect("load")
                });
            }
        });
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Later calls are hits: they do not load.
        let hits = metrics.cache_hits.with_label_values(&["index"]).get();
        cache
            .get_or_load(&key, || Err(ServiceError::internal("must not load")))
            .expect("hit");
        assert_eq!(
            metrics.cache_hits.with_label_values(&["index"]).get(),
            hits + 1
        );
    }
}
