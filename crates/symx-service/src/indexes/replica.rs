//! This replica's copy of the shared bucket (`[storage.s3]`, see [`crate::shared`]): changes
//! of other replicas read from the log and applied to the local store, and uploads found
//! through a pointer when a lookup misses locally.

use super::Indexes;
use crate::error::Result;
use crate::shared::{Change, LOG_WINDOW_MS, Shared};
use std::collections::BTreeSet;
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
}

impl Indexes {
    pub(crate) fn shared(&self) -> Option<&Shared> {
        self.shared.as_deref()
    }

    /// Reads the log past `cursor` and applies other replicas' changes. Returns how many.
    pub(crate) fn sync_from_bucket(&self, cursor: &mut LogCursor) -> Result<usize> {
        let Some(shared) = self.shared() else {
            return Ok(0);
        };
        let names = shared.log_after(&Shared::rewind(&cursor.newest, LOG_WINDOW_MS))?;
        let mut applied = 0;
        for name in names {
            if cursor.seen.contains(&name) {
                continue;
            }
            if !shared.is_own(&name) {
                let change = shared.entry(&name)?;
                match self.apply(shared, change) {
                    Ok(()) => {
                        self.metrics
                            .catalog_applied
                            .with_label_values(&["poll"])
                            .inc();
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
        let keep_from = Shared::rewind(&cursor.newest, 2 * LOG_WINDOW_MS);
        cursor.seen = cursor.seen.split_off(&keep_from);
        Ok(applied)
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
            let Some(log) = shared.pointer(tenant, kind, field, value)? else {
                return Ok(false);
            };
            let change = shared.entry(&log)?;
            self.apply(shared, change)?;
            self.metrics
                .catalog_applied
                .with_label_values(&["pointer"])
                .inc();
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
            } => {
                if self.storage.get(&tenant, &record.id)?.is_some() {
                    return Ok(());
                }
                let dir = tempfile::Builder::new()
                    .prefix("replica-")
                    .tempdir_in(&self.spool)?;
                let (blobs, indexes) = shared.fetch_upload(&tenant, &record, dir.path())?;
                let id = record.id.clone();
                let outcome = match self.storage.commit(NewArtifact {
                    tenant: tenant.clone(),
                    record: *record,
                    identity,
                    blobs,
                    indexes,
                    overwrite,
                }) {
                    // Applied already.
                    Err(symx_storage::Error::AlreadyExists(held)) if held == id => {
                        return Ok(());
                    }
                    outcome => outcome.map_err(|e| {
                        crate::error::ServiceError::new(
                            e.code(),
                            format!("applying the upload of {id} from the shared catalog: {e}"),
                        )
                    })?,
                };
                let replaced: Vec<ArtifactId> = match outcome {
                    CommitOutcome::Replaced(old) => vec![old],
                    _ => Vec::new(),
                };
                self.after_write(replaced.iter().map(|id| (&tenant, id)));
            }
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
                        Ok(_) | Err(symx_storage::Error::NotFound(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                self.after_write([]);
            }
        }
        Ok(())
    }
}
