//! This replica's local copy of payloads within its byte budget: which artifacts' files and
//! indexes it holds, least recently used first out (the eviction and refill themselves are
//! `indexes::replica`'s).

use symx_types::{ArtifactId, Tenant};

/// This replica's local copy of payloads (files and indexes), bounded in bytes
/// (`[storage.s3] local_max_bytes`; 0: unbounded): past the budget the least recently used
/// payloads are evicted, their catalog entries and lookups kept, and fetched again from the
/// bucket when next read. Sizes are logical: files' sizes plus indexes' sizes.
#[derive(Debug, Default)]
pub(crate) struct LocalCopy {
    max_bytes: u64,
    state: std::sync::Mutex<CopyState>,
}

#[derive(Debug, Default)]
struct CopyState {
    total: u64,
    tick: u64,
    by_tick: std::collections::BTreeMap<u64, (Tenant, ArtifactId)>,
    by_id: std::collections::HashMap<(Tenant, ArtifactId), (u64, u64)>,
}

impl LocalCopy {
    pub(crate) fn new(max_bytes: u64) -> Self {
        Self {
            max_bytes,
            state: Default::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, CopyState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether payloads are evicted at all.
    pub(crate) fn bounded(&self) -> bool {
        self.max_bytes > 0
    }

    /// Whether the copy is at its budget: uploads of other replicas are then taken as
    /// catalog entries alone, their payload fetched when first read.
    pub(crate) fn full(&self) -> bool {
        self.bounded() && self.state().total >= self.max_bytes
    }

    /// The bytes held.
    pub(crate) fn bytes(&self) -> u64 {
        self.state().total
    }

    /// Marks a payload as just used, with its size when it is new here (or changed).
    pub(crate) fn touch(&self, tenant: &Tenant, id: &ArtifactId, bytes: Option<u64>) {
        let mut s = self.state();
        s.tick += 1;
        let tick = s.tick;
        let key = (tenant.clone(), id.clone());
        match s.by_id.get(&key).copied() {
            Some((old_tick, old_bytes)) => {
                s.by_tick.remove(&old_tick);
                let bytes = bytes.unwrap_or(old_bytes);
                s.total = s.total - old_bytes + bytes;
                s.by_id.insert(key.clone(), (tick, bytes));
            }
            None => {
                let Some(bytes) = bytes else { return };
                s.total += bytes;
                s.by_id.insert(key.clone(), (tick, bytes));
            }
        }
        s.by_tick.insert(tick, key);
    }

    pub(crate) fn forget(&self, tenant: &Tenant, id: &ArtifactId) {
        let mut s = self.state();
        if let Some((tick, bytes)) = s.by_id.remove(&(tenant.clone(), id.clone())) {
            s.by_tick.remove(&tick);
            s.total -= bytes;
        }
    }

    /// The least recently used payloads to evict to get within budget (never the most
    /// recent one: the payload just read or written stays, whatever its size).
    pub(crate) fn over_budget(&self) -> Vec<(Tenant, ArtifactId)> {
        let s = self.state();
        if !self.bounded() || s.total <= self.max_bytes {
            return Vec::new();
        }
        let mut excess = s.total - self.max_bytes;
        let mut out = Vec::new();
        for (tenant, id) in s.by_tick.values().take(s.by_tick.len().saturating_sub(1)) {
            if excess == 0 {
                break;
            }
            let bytes = s
                .by_id
                .get(&(tenant.clone(), id.clone()))
                .map_or(0, |e| e.1);
            excess = excess.saturating_sub(bytes);
            out.push((tenant.clone(), id.clone()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::LocalCopy;
    use symx_types::{ArtifactId, ArtifactKind, Tenant};

    fn id(n: u8) -> ArtifactId {
        ArtifactId::from_digest(ArtifactKind::Js, &[n; 32])
    }

    #[test]
    fn the_least_recently_used_go_first_and_the_newest_stays() {
        let t = Tenant::default();
        let copy = LocalCopy::new(100);
        copy.touch(&t, &id(1), Some(40));
        copy.touch(&t, &id(2), Some(40));
        assert!(copy.over_budget().is_empty());
        copy.touch(&t, &id(1), None);
        copy.touch(&t, &id(3), Some(40));
        assert!(copy.full());
        assert_eq!(copy.over_budget(), vec![(t.clone(), id(2))]);
        copy.forget(&t, &id(2));
        assert_eq!(copy.bytes(), 80);
        // One payload larger than the budget is kept while it is the newest.
        copy.touch(&t, &id(4), Some(500));
        assert_eq!(
            copy.over_budget(),
            vec![(t.clone(), id(1)), (t.clone(), id(3))]
        );
        let unbounded = LocalCopy::new(0);
        unbounded.touch(&t, &id(1), Some(1 << 40));
        assert!(!unbounded.full() && unbounded.over_budget().is_empty());
    }
}
