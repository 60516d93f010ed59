//! This replica's copy of the shared bucket (`[storage.s3]`, see [`crate::shared`]): changes
//! of other replicas read from the log and applied to the local store, uploads found through
//! a pointer when a lookup misses locally, snapshots of the catalog written and loaded, and
//! purged uploads removed from the bucket.

use super::Indexes;
use crate::error::{Result, ServiceError};
use crate::shared::{Change, Shared, SnapshotHead, SnapshotLine};
use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::sync::atomic::Ordering;
use symx_storage::{CommitOutcome, NewArtifact};
use symx_types::HasErrorCode;
use symx_types::{ArtifactId, ArtifactKind, ErrorCode, Tenant};

/// Where the log has been read to: the newest entry applied, and the entries of the last
/// window (read again each time, so an entry that appears late is still applied once).
#[derive(Debug, Default)]
pub(crate) struct LogCursor {
    newest: String,
    seen: BTreeSet<String>,
    /// Every entry named before this (13-digit Unix ms) was seen: the last full read began
    /// one window after it.
    covered: String,
    /// The newest snapshot this read listed ("" when none).
    newest_snapshot: String,
}

impl Indexes {
    pub(crate) fn shared(&self) -> Option<&Shared> {
        self.shared.as_deref()
    }

    /// Reads the log past `cursor` and applies other replicas' changes; first, when the
    /// cursor is behind the newest snapshot (a new replica, or one away while the log it
    /// needed was removed), loads that snapshot. Returns how many changes were applied.
    pub(crate) fn sync_from_bucket(&self, cursor: &mut LogCursor) -> Result<usize> {
        let Some(shared) = self.shared() else {
            return Ok(0);
        };
        let started_ms = symx_storage::now_ms();
        let window = shared.log_window_ms();
        let mut applied = 0;
        // The log is kept from the second-newest snapshot on ([`Shared::prune_log`]): a
        // replica that has read less than that (a new one has read nothing) starts from the
        // newest snapshot; any other reads on from where it is.
        let snaps = shared.snapshots()?;
        if let Some(newest) = snaps.last() {
            let kept_from = match snaps.len() {
                1 => "",
                n => snaps[n - 2].get(..13).unwrap_or_default(),
            };
            if cursor.covered.is_empty() || cursor.covered.as_str() < kept_from {
                applied += self.load_snapshot(shared, newest)?;
                let covers = newest.get(..13).unwrap_or_default();
                if cursor.newest.as_str() < covers {
                    cursor.newest = covers.to_owned();
                }
                cursor.seen.clear();
            }
            cursor.newest_snapshot.clone_from(newest);
        }
        let names = shared.log_after(&Shared::rewind(&cursor.newest, window))?;
        for name in names {
            if cursor.seen.contains(&name) {
                continue;
            }
            if !shared.is_own(&name) {
                // Gone between the listing and the read: removed after a newer snapshot,
                // which the next poll loads if this replica is behind it.
                let Some(change) = shared.entry(&name)? else {
                    continue;
                };
                match self.apply(shared, change) {
                    Ok(()) => {
                        self.count_applied("poll");
                        applied += 1;
                    }
                    // Read again at the next poll.
                    Err(e) if e.code == ErrorCode::Unavailable => return Err(e),
                    // A change this replica cannot apply (its identity taken here, say) is
                    // not retried forever: it is reported and passed.
                    Err(e) => {
                        tracing::warn!(entry = %name, error = %e, "catalog change not applied")
                    }
                }
            }
            if name > cursor.newest {
                cursor.newest.clone_from(&name);
            }
            cursor.seen.insert(name);
        }
        let keep_from = Shared::rewind(&cursor.newest, 2 * window);
        cursor.seen = cursor.seen.split_off(&keep_from);
        cursor.covered = format!("{:013}", started_ms.saturating_sub(window));
        Ok(applied)
    }

    fn count_applied(&self, via: &str) {
        self.metrics.catalog_applied.with_label_values(&[via]).inc();
    }

    /// Brings the local store to a snapshot's catalog: uploads it lacks are fetched, and
    /// deletes and restores it missed are done. Returns how many artifacts changed here.
    fn load_snapshot(&self, shared: &Shared, name: &str) -> Result<usize> {
        let bytes = shared.snapshot(name)?.ok_or_else(|| {
            ServiceError::new(
                ErrorCode::Unavailable,
                format!("catalog snapshot {name} is gone"),
            )
        })?;
        let corrupt = |e: &dyn std::fmt::Display| {
            ServiceError::internal(format!("catalog snapshot {name}: {e}"))
        };
        let decoder = zstd::stream::read::Decoder::new(&bytes[..]).map_err(|e| corrupt(&e))?;
        let mut lines = std::io::BufReader::new(decoder).lines();
        let head: SnapshotHead = match lines.next() {
            Some(line) => {
                serde_json::from_str(&line.map_err(|e| corrupt(&e))?).map_err(|e| corrupt(&e))?
            }
            None => return Err(corrupt(&"empty")),
        };
        let mut changed = 0;
        for line in lines {
            let line: SnapshotLine =
                serde_json::from_str(&line.map_err(|e| corrupt(&e))?).map_err(|e| corrupt(&e))?;
            let id = line.record.id.clone();
            match self.reconcile(shared, line) {
                Ok(true) => changed += 1,
                Ok(false) => {}
                Err(e) if e.code == ErrorCode::Unavailable => return Err(e),
                Err(e) => tracing::warn!(%id, error = %e, "snapshot entry not applied"),
            }
        }
        self.metrics
            .catalog_snapshots
            .with_label_values(&["loaded"])
            .inc();
        tracing::info!(snapshot = name, covers = %head.covers, changed, "loaded a catalog snapshot");
        Ok(changed)
    }

    /// One artifact of a snapshot against the local store. Whether anything changed.
    fn reconcile(&self, shared: &Shared, line: SnapshotLine) -> Result<bool> {
        let SnapshotLine {
            tenant,
            record,
            identity,
        } = line;
        let local = self.storage.get(&tenant, &record.id)?;
        let change = match (record.deleted_at_ms.is_some(), local) {
            // A deleted upload is fetched only if it is restored (see `apply`).
            (true, None) => return Ok(false),
            (false, None) => Change::Commit {
                tenant,
                record: Box::new(record),
                identity,
                overwrite: true,
            },
            (true, Some(l)) if l.deleted_at_ms.is_none() => Change::Delete {
                tenant,
                ids: vec![record.id],
            },
            (false, Some(l)) if l.deleted_at_ms.is_some() => Change::Restore {
                tenant,
                ids: vec![record.id],
                overwrite: true,
            },
            _ => return Ok(false),
        };
        self.apply(shared, change)?;
        self.count_applied("snapshot");
        Ok(true)
    }

    /// Writes a snapshot of the local catalog when the newest in the bucket is older than
    /// `snapshot_interval_secs` and the log has entries since, then removes what the
    /// snapshots make unnecessary ([`Shared::prune_log`]). The snapshot covers the entries
    /// named up to one window (`log_window_secs`) before the last read of the log began, all
    /// of which that read saw, so nothing it covers can still appear. Returns its name when
    /// one was written.
    pub(crate) fn snapshot_if_due(&self, cursor: &LogCursor) -> Result<Option<String>> {
        let Some(shared) = self.shared() else {
            return Ok(None);
        };
        let covers = cursor.covered.clone();
        let covers_ms: u64 = covers.parse().unwrap_or(0);
        // As the read just before listed them (a snapshot written meanwhile elsewhere only
        // makes this one redundant, not wrong).
        let last_covers = cursor.newest_snapshot.get(..13).unwrap_or_default();
        let last_ms: u64 = last_covers.parse().unwrap_or(0);
        if covers_ms == 0
            || covers_ms < last_ms.saturating_add(shared.snapshot_every.as_millis() as u64)
        {
            return Ok(None);
        }
        let news = shared
            .log_after(last_covers)?
            .iter()
            .any(|n| n.as_str() < covers.as_str());
        if !news {
            return Ok(None);
        }
        let mut out = zstd::stream::write::Encoder::new(Vec::new(), 3)?;
        json_line(
            &mut out,
            &SnapshotHead {
                covers: covers.clone(),
                node: shared.node().to_owned(),
                written_at_ms: symx_storage::now_ms(),
            },
        )?;
        let mut artifacts = 0u64;
        self.storage
            .for_each_record(|tenant, record| -> Result<()> {
                let identity = record.metadata.identity();
                json_line(
                    &mut out,
                    &SnapshotLine {
                        tenant,
                        record,
                        identity,
                    },
                )?;
                artifacts += 1;
                Ok(())
            })?;
        let body = out.finish()?;
        let size = body.len();
        let name = shared.put_snapshot(&covers, body)?;
        self.metrics
            .catalog_snapshots
            .with_label_values(&["written"])
            .inc();
        tracing::info!(snapshot = %name, artifacts, bytes = size, "wrote a catalog snapshot");
        let removed = shared.prune_log()?;
        if removed > 0 {
            tracing::info!(
                removed,
                "removed the log and snapshots before the last two snapshots"
            );
        }
        Ok(Some(name))
    }

    /// Of artifacts the purge is about to remove, those whose objects left the bucket now
    /// (all of them on the embedded store); one whose removal fails stays here and is tried
    /// again at the next purge.
    pub(crate) fn leave_bucket(
        &self,
        victims: Vec<(Tenant, ArtifactId)>,
    ) -> Vec<(Tenant, ArtifactId)> {
        let Some(shared) = self.shared() else {
            return victims;
        };
        victims
            .into_iter()
            .filter(|(tenant, id)| {
                let removed = match self.storage.get(tenant, id) {
                    Ok(Some(rec)) => shared.remove_upload(tenant, &rec),
                    Ok(None) => Ok(0),
                    Err(e) => Err(e.into()),
                };
                removed
                    .inspect_err(|e| tracing::warn!(%id, error = %e, "purged upload not removed from the bucket; kept until the next purge"))
                    .is_ok()
            })
            .collect()
    }

    /// Sweeps the bucket of files and indexes no upload uses ([`Shared::sweep_files`]), at
    /// most every quarter of the grace period.
    pub(crate) fn sweep_bucket_if_due(&self) {
        let Some(shared) = self.shared() else {
            return;
        };
        let mut last = self.last_sweep.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() <= shared.grace / 4) {
            return;
        }
        match shared.sweep_files() {
            Ok(removed) => {
                *last = Some(std::time::Instant::now());
                tracing::info!(
                    removed,
                    "swept the bucket of files and indexes no upload uses"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "sweeping the bucket failed; tried again at the next purge")
            }
        }
    }

    /// On a local miss of a lookup row: the upload its pointer names, applied. Whether one was.
    pub(crate) fn fetch_by_pointer(
        &self,
        tenant: &Tenant,
        kind: ArtifactKind,
        field: &str,
        value: &str,
    ) -> Result<bool> {
        let Some(shared) = self.shared() else {
            return Ok(false);
        };
        let fetched = (|| -> Result<bool> {
            let Some((id, _)) = shared.pointer(tenant, kind, field, value)? else {
                return Ok(false);
            };
            // None: purged, the pointer outlived it.
            let Some(change) = shared.upload_change(tenant, &id)? else {
                return Ok(false);
            };
            self.apply(shared, change)?;
            self.count_applied("pointer");
            Ok(true)
        })();
        if let Err(e) = &fetched
            && e.code == ErrorCode::Unavailable
        {
            self.bucket_failed_at_ms
                .fetch_max(symx_storage::now_ms(), Ordering::Relaxed);
        }
        fetched
    }

    /// Whether a lookup since `since_ms` missed locally and could not ask the bucket: its
    /// answer "missing" may be wrong, so the request is refused as unavailable instead.
    pub(crate) fn bucket_failed_since(&self, since_ms: u64) -> bool {
        self.bucket_failed_at_ms.load(Ordering::Relaxed) >= since_ms
    }

    /// Applies one change to the local store: an upload's files and indexes are fetched
    /// into spool files and committed as an upload here would be; deletes and restores as
    /// their requests would.
    fn apply(&self, shared: &Shared, change: Change) -> Result<()> {
        // One at a time: the poll and a lookup's pointer may bring the same upload at once.
        let _one = self.applying.lock().unwrap_or_else(|e| e.into_inner());
        match change {
            Change::Commit {
                tenant,
                record,
                identity,
                overwrite,
            } => self.apply_commit(shared, &tenant, *record, identity, overwrite)?,
            Change::Delete { tenant, ids } => {
                let gone = self.storage.soft_delete(&tenant, &ids)?;
                self.after_write(gone.iter().map(|r| (&tenant, &r.id)));
            }
            Change::Restore {
                tenant,
                ids,
                overwrite,
            } => {
                for id in &ids {
                    match self
                        .storage
                        .restore(&tenant, std::slice::from_ref(id), overwrite)
                    {
                        Ok(_) => {}
                        // Never fetched here (a snapshot brings deleted uploads only when
                        // they are restored): its upload, from its artifact object.
                        Err(symx_storage::Error::NotFound(_)) => {
                            if let Some(Change::Commit {
                                record, identity, ..
                            }) = shared.upload_change(&tenant, id)?
                            {
                                self.apply_commit(shared, &tenant, *record, identity, overwrite)?;
                            }
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                self.after_write([]);
            }
        }
        Ok(())
    }

    /// An upload of another replica: its files and indexes fetched into spool files and
    /// committed as an upload here would be. An upload the bucket no longer has (purged, or
    /// replaced and removed) is passed.
    fn apply_commit(
        &self,
        shared: &Shared,
        tenant: &Tenant,
        mut record: symx_storage::ArtifactRecord,
        identity: String,
        overwrite: bool,
    ) -> Result<()> {
        if self.storage.get(tenant, &record.id)?.is_some() {
            return Ok(());
        }
        let dir = tempfile::Builder::new()
            .prefix("replica-")
            .tempdir_in(&self.spool)?;
        // At its budget, the copy takes the catalog entry alone (the payload is fetched when
        // first read); the bucket is asked whether it still has the upload either way.
        let lazy = self.local.full();
        let (blobs, indexes) = if lazy {
            if shared.artifact(tenant, &record.id)?.is_none() {
                tracing::info!(id = %record.id, "upload no longer in the bucket; passed");
                return Ok(());
            }
            (Vec::new(), Vec::new())
        } else {
            let Some(payload) = shared.fetch_upload(tenant, &record, dir.path())? else {
                tracing::info!(id = %record.id, "upload no longer in the bucket; passed");
                return Ok(());
            };
            payload
        };
        let id = record.id.clone();
        record.deleted_at_ms = None;
        let outcome = match self.storage.commit(NewArtifact {
            tenant: tenant.clone(),
            record,
            identity,
            blobs,
            indexes,
            overwrite,
        }) {
            // Applied already.
            Err(symx_storage::Error::AlreadyExists(held)) if held == id => return Ok(()),
            outcome => outcome.map_err(|e| {
                ServiceError::new(
                    e.code(),
                    format!("applying the upload of {id} from the shared catalog: {e}"),
                )
            })?,
        };
        let replaced: Vec<ArtifactId> = match outcome {
            CommitOutcome::Replaced(old) => vec![old],
            _ => Vec::new(),
        };
        self.after_write(replaced.iter().map(|id| (tenant, id)));
        if !lazy {
            self.keep_local(tenant, &id);
        }
        self.announce(tenant, &id);
        Ok(())
    }
}

/// Writes one value as a JSON line.
fn json_line(out: &mut impl Write, value: &impl serde::Serialize) -> Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(|e| ServiceError::internal(e.to_string()))?;
    out.write_all(b"\n")?;
    Ok(())
}

impl Indexes {
    /// Counts what the local store holds at start (oldest uploads as least recently used),
    /// then evicts down to the budget.
    pub(crate) fn open_local_copy(&self) -> Result<()> {
        if !self.local.bounded() {
            return Ok(());
        }
        let mut held = Vec::new();
        self.storage.for_each_record(|tenant, rec| -> Result<()> {
            let bytes = self.storage.payload_bytes(&tenant, &rec)?;
            if bytes > 0 {
                held.push((rec.created_at_ms, tenant, rec.id, bytes));
            }
            Ok(())
        })?;
        held.sort_by_key(|h| h.0);
        for (_, tenant, id, bytes) in held {
            self.local.touch(&tenant, &id, Some(bytes));
        }
        self.evict_over_budget();
        Ok(())
    }

    /// After an upload committed here: its payload counts against the budget.
    pub(crate) fn keep_local(&self, tenant: &Tenant, id: &ArtifactId) {
        if !self.local.bounded() {
            return;
        }
        let bytes = self
            .storage
            .get(tenant, id)
            .ok()
            .flatten()
            .and_then(|rec| self.storage.payload_bytes(tenant, &rec).ok());
        if let Some(bytes) = bytes.filter(|b| *b > 0) {
            self.local.touch(tenant, id, Some(bytes));
        }
        self.evict_over_budget();
    }

    /// Before an artifact's payload is read: fetched from the bucket when it was evicted
    /// (or taken as a catalog entry alone), and marked as used.
    pub(crate) fn ensure_local(&self, tenant: &Tenant, id: &ArtifactId) -> Result<()> {
        let Some(shared) = self.shared() else {
            return Ok(());
        };
        if !self.storage.is_evicted(tenant, id)? {
            self.local.touch(tenant, id, None);
            return Ok(());
        }
        let Some(rec) = self.storage.get(tenant, id)? else {
            return Ok(());
        };
        let dir = tempfile::Builder::new()
            .prefix("refill-")
            .tempdir_in(&self.spool)?;
        let fetched = shared.fetch_upload(tenant, &rec, dir.path());
        let (blobs, indexes) = match fetched {
            Ok(Some(payload)) => payload,
            Ok(None) => {
                return Err(ServiceError::new(
                    ErrorCode::NotFound,
                    format!("artifact {id}: its files are no longer in the shared bucket"),
                ));
            }
            Err(e) => {
                if e.code == ErrorCode::Unavailable {
                    self.bucket_failed_at_ms
                        .fetch_max(symx_storage::now_ms(), Ordering::Relaxed);
                }
                return Err(e);
            }
        };
        self.storage.refill(tenant, id, &blobs, &indexes)?;
        self.metrics
            .catalog_applied
            .with_label_values(&["refill"])
            .inc();
        let bytes = self.storage.payload_bytes(tenant, &rec)?;
        self.local.touch(tenant, id, Some(bytes));
        self.evict_over_budget();
        Ok(())
    }

    /// Evicts least recently used payloads until the copy is within its budget.
    fn evict_over_budget(&self) {
        for (tenant, id) in self.local.over_budget() {
            match self.storage.evict(&tenant, &id) {
                Ok(_) => self.local.forget(&tenant, &id),
                Err(e) => {
                    tracing::warn!(%id, error = %e, "evicting a payload failed");
                    break;
                }
            }
        }
        self.metrics.local_copy_bytes.set(self.local.bytes() as i64);
    }
}
