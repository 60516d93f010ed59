//! The catalog's use cases: list, get, delete, restore, read a stored file, the Elastic Fleet
//! summary and the Datadog get document, with the filters and rules of the Datadog list, get and
//! delete documents ([`query`]) and the artifact view of the APIs ([`view`]).

pub(crate) mod query;
pub(crate) mod view;

use crate::error::{Result, ServiceError};
use crate::fleet::FleetSummary;
use crate::indexes::Indexes;
use crate::indexes::cache::LoadedIndex;
use crate::pool::Pool;
use crate::shared::Change;
use crate::urls::{UrlKey, file_name};
use query::{Cursor, Filters, ListPage, ListQuery, SourceMapFile, SourceMapSelector};
use std::sync::Arc;
use symx_storage::ArtifactRecord;
use symx_types::{ArtifactId, ArtifactKind, ErrorCode, Tenant};
use view::ArtifactView;

/// The catalog: what is stored, as the APIs list and name it.
#[derive(Clone, Debug)]
pub(crate) struct Catalog {
    indexes: Arc<Indexes>,
    pool: Pool,
}

impl Catalog {
    pub(crate) fn new(indexes: Arc<Indexes>, pool: Pool) -> Self {
        Self { indexes, pool }
    }

    /// Lists artifacts of a kind with the list document's filters and pagination, newest
    /// first.
    pub(crate) async fn list(&self, tenant: Tenant, query: ListQuery) -> Result<ListPage> {
        query.filters.check_fields(
            query.kind,
            !query.unscoped && query.kind.requires_service_and_version(),
        )?;
        let size = query.page_size.unwrap_or(ListQuery::DEFAULT_PAGE_SIZE);
        if size == 0 || size > ListQuery::MAX_PAGE_SIZE {
            return Err(ServiceError::invalid(
                "page[size]",
                format!(
                    "page[size] must be between 1 and {}",
                    ListQuery::MAX_PAGE_SIZE
                ),
            ));
        }
        let cursor = match query.page_token.as_deref().filter(|t| !t.is_empty()) {
            Some(_) if query.page_number.is_some() => {
                return Err(ServiceError::invalid(
                    "page_token",
                    "give page_token or page[number], not both",
                ));
            }
            Some(token) => Some(Cursor::parse(token)?),
            None => None,
        };
        let number = query.page_number.unwrap_or(1);
        if number == 0 {
            return Err(ServiceError::invalid(
                "page[number]",
                "page[number] must be at least 1",
            ));
        }
        let this = self.clone();
        let all = self
            .pool
            .run(move || this.matching(&tenant, &query))
            .await?;
        let total = all.len();
        // A token starts after its artifact in the listing's order (uploads meanwhile land
        // before it, newest first, and shift nothing); a number counts from the top.
        let start = match &cursor {
            Some(c) => all.partition_point(|v| !c.precedes(v)),
            None => (number as usize - 1)
                .saturating_mul(size as usize)
                .min(total),
        };
        let artifacts: Vec<ArtifactView> =
            all.into_iter().skip(start).take(size as usize).collect();
        let has_more = start + artifacts.len() < total;
        let next_page_token = has_more
            .then(|| artifacts.last().map(|v| Cursor::of(v).token()))
            .flatten();
        Ok(ListPage {
            artifacts,
            total_filtered_count: total as u64,
            has_more_results: has_more,
            next_page_token,
        })
    }

    /// One artifact by id (deleted ones included, so they can be inspected before restore).
    pub(crate) async fn artifact(&self, tenant: Tenant, id: &str) -> Result<ArtifactView> {
        let id = ArtifactId::parse(id)?;
        let this = self.clone();
        self.pool
            .run(move || {
                let rec = this.storage().get(&tenant, &id)?.ok_or_else(|| {
                    ServiceError::new(ErrorCode::NotFound, format!("artifact {id} not found"))
                })?;
                Ok(ArtifactView::new(&tenant, &rec))
            })
            .await
    }

    /// Deletes (softly) what the filters select; with `dry_run`, only says what would go.
    pub(crate) async fn delete(
        &self,
        tenant: Tenant,
        kind: ArtifactKind,
        filters: Filters,
        dry_run: bool,
    ) -> Result<Vec<ArtifactView>> {
        filters.check(kind)?;
        // Delete document: filter[version] takes at most 10 values.
        if filters.values("version").len() > 10 {
            return Err(ServiceError::invalid(
                "filter[version]",
                format!(
                    "filter[version] accepts at most 10 values, got {}",
                    filters.values("version").len()
                ),
            ));
        }
        if filters.given().next().is_none() {
            return Err(ServiceError::invalid(
                "filter",
                "at least one filter is required to delete",
            ));
        }
        let this = self.clone();
        let mut query = ListQuery::new(kind);
        query.filters = filters;
        let out = self
            .pool
            .run(move || {
                let victims = this.matching(&tenant, &query)?;
                if dry_run {
                    return Ok(victims);
                }
                let ids: Vec<ArtifactId> = victims.iter().map(|v| v.id.clone()).collect();
                if let Some(shared) = this.indexes.shared()
                    && !ids.is_empty()
                {
                    // Pointers first: once the delete is logged, no replica may find the
                    // artifact through them again.
                    for id in &ids {
                        if let Some(rec) = this.storage().get(&tenant, id)? {
                            shared.drop_pointers(&tenant, &rec)?;
                        }
                    }
                    shared.append(&Change::Delete {
                        tenant: tenant.clone(),
                        ids: ids.clone(),
                    })?;
                }
                let deleted = this.storage().soft_delete(&tenant, &ids)?;
                Ok(deleted
                    .iter()
                    .map(|r| ArtifactView::new(&tenant, r))
                    .collect())
            })
            .await?;
        if !dry_run {
            self.indexes
                .after_write(out.iter().map(|v| (&v.tenant, &v.id)));
        }
        Ok(out)
    }

    /// Restores soft-deleted artifacts by id.
    pub(crate) async fn restore(
        &self,
        tenant: Tenant,
        ids: Vec<String>,
        overwrite: bool,
    ) -> Result<Vec<ArtifactView>> {
        if ids.is_empty() {
            return Err(ServiceError::invalid("ids", "no artifact id given"));
        }
        let ids = ids
            .iter()
            .map(|s| ArtifactId::parse(s))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let this = self.clone();
        let out = self
            .pool
            .run(move || {
                if let Some(shared) = this.indexes.shared() {
                    shared.append(&Change::Restore {
                        tenant: tenant.clone(),
                        ids: ids.clone(),
                        overwrite,
                    })?;
                }
                let recs = this.storage().restore(&tenant, &ids, overwrite)?;
                if let Some(shared) = this.indexes.shared() {
                    for rec in &recs {
                        // Its rows find it again on replicas that have not read the log yet.
                        let pointed = shared.artifact(&tenant, &rec.id).and_then(|entry| {
                            entry.map_or(Ok(()), |e| shared.put_pointers(&tenant, rec, &e.log))
                        });
                        if let Err(e) = pointed {
                            tracing::warn!(error = %e, id = %rec.id, "restored artifact's pointers not written; other replicas see it at their next poll");
                        }
                    }
                }
                for rec in &recs {
                    this.indexes.announce(&tenant, &rec.id);
                }
                Ok(recs.iter().map(|r| ArtifactView::new(&tenant, r)).collect())
            })
            .await?;
        self.indexes.after_write([]);
        Ok(out)
    }

    /// The stored bytes of one file (`part`) of a live artifact.
    pub(crate) async fn read_file(
        &self,
        tenant: Tenant,
        id: &ArtifactId,
        part: &str,
    ) -> Result<Vec<u8>> {
        let this = self.clone();
        let (id, part) = (id.clone(), part.to_owned());
        self.pool
            .run(move || {
                let not_found =
                    || ServiceError::new(ErrorCode::NotFound, format!("artifact {id} not found"));
                let rec = this.storage().get(&tenant, &id)?.ok_or_else(not_found)?;
                if rec.deleted_at_ms.is_some() {
                    return Err(not_found());
                }
                let file = rec.file(&part).ok_or_else(|| {
                    ServiceError::new(
                        ErrorCode::NotFound,
                        format!("artifact {id} has no `{part}` file"),
                    )
                })?;
                this.indexes.ensure_local(&tenant, &id)?;
                Ok(this.storage().read_blob(file)?)
            })
            .await
    }

    /// The Fleet hashes of a live JavaScript artifact (Elastic's list and delete): stored at
    /// upload; computed from the map for artifacts stored before they were.
    pub(crate) async fn fleet_summary(
        &self,
        tenant: Tenant,
        view: &ArtifactView,
    ) -> Result<FleetSummary> {
        let this = self.clone();
        let view = view.clone();
        self.pool
            .run(move || {
                this.indexes.ensure_local(&tenant, &view.id)?;
                if let Some(bytes) = this.storage().read_index(&tenant, &view.id, "fleet")? {
                    return serde_json::from_slice(&bytes).map_err(|e| {
                        ServiceError::internal(format!("{}: stored fleet index: {e}", view.id))
                    });
                }
                let rec = this.storage().get(&tenant, &view.id)?.ok_or_else(|| {
                    ServiceError::new(
                        ErrorCode::NotFound,
                        format!("artifact {} not found", view.id),
                    )
                })?;
                let file = rec.file("source_map").ok_or_else(|| {
                    ServiceError::internal(format!("{} has no source_map file", view.id))
                })?;
                let map = this.storage().read_blob(file)?;
                let attr = |k: &str| {
                    view.attributes
                        .get(k)
                        .map(String::as_str)
                        .unwrap_or_default()
                };
                Ok(crate::fleet::summary(
                    attr("service"),
                    attr("version"),
                    attr("minified_url"),
                    &map,
                ))
            })
            .await
    }

    pub(crate) async fn get_sourcemap(
        &self,
        tenant: Tenant,
        selector: SourceMapSelector,
    ) -> Result<SourceMapFile> {
        let this = self.clone();
        self.pool
            .run(move || this.sourcemap_blocking(&tenant, &selector))
            .await
    }
}

impl Catalog {
    /// Live (or, when asked, all) artifacts matching a query, newest first.
    fn matching(&self, tenant: &Tenant, query: &ListQuery) -> Result<Vec<ArtifactView>> {
        let f = &query.filters;
        let (services, versions) = (f.values("service"), f.values("version"));
        let releases = services.len() * versions.len();
        // Live artifacts of named releases come through the release lookup (a few reads);
        // anything else scans the kind.
        let candidates = if !query.include_deleted && (1..=64).contains(&releases) {
            let mut recs = Vec::new();
            for service in services {
                for version in versions {
                    recs.extend(
                        self.storage()
                            .list_release(tenant, query.kind, service, version)?,
                    );
                }
            }
            recs.sort_by(|a, b| a.id.cmp(&b.id));
            recs.dedup_by(|a, b| a.id == b.id);
            recs
        } else {
            self.storage().list(tenant, query.kind)?
        };
        let mut recs: Vec<ArtifactRecord> = candidates
            .into_iter()
            .filter(|r| query.include_deleted || r.deleted_at_ms.is_none())
            .filter(|r| query.filters.matches(r))
            .collect();
        recs.sort_by(|a, b| {
            b.created_at_ms
                .cmp(&a.created_at_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(recs.iter().map(|r| ArtifactView::new(tenant, r)).collect())
    }

    fn sourcemap_blocking(
        &self,
        tenant: &Tenant,
        selector: &SourceMapSelector,
    ) -> Result<SourceMapFile> {
        let rec = match selector {
            SourceMapSelector::File {
                filename,
                service,
                version,
            } => {
                let mut q = ListQuery::new(ArtifactKind::Js);
                q.filters = Filters::default()
                    .with("service", service)
                    .with("version", version)
                    .with("filename", filename);
                self.matching(tenant, &q)?
                    .into_iter()
                    .next()
                    .and_then(|v| self.storage().get(tenant, &v.id).transpose())
                    .transpose()?
            }
            SourceMapSelector::DebugId(d) => match self.indexes.js_by_debug_id(tenant, d)? {
                Some(id) => self.storage().get(tenant, &id)?,
                None => None,
            },
        };
        let rec = rec
            .filter(|r| r.deleted_at_ms.is_none())
            .ok_or_else(|| ServiceError::new(ErrorCode::NotFound, "no source map matches"))?;
        let map_file = rec
            .file("source_map")
            .ok_or_else(|| ServiceError::internal(format!("{} has no source_map file", rec.id)))?;
        self.indexes.ensure_local(tenant, &rec.id)?;
        let raw = self.storage().read_blob(map_file)?;
        let fields = symx_sourcemap::raw_fields(&raw)?;
        let index = self.indexes.load(tenant, &rec.id)?;
        let LoadedIndex::Js(js) = &*index else {
            return Err(ServiceError::internal(format!(
                "{} has no JavaScript index",
                rec.id
            )));
        };
        let url = rec
            .metadata
            .minified_url
            .as_deref()
            .or(rec.metadata.bundle_name.as_deref())
            .unwrap_or_default();
        let key = UrlKey::parse(url);
        let file = fields
            .file
            .clone()
            .unwrap_or_else(|| file_name(&key.path).to_owned());
        Ok(SourceMapFile {
            id: format!("{}.map", key.path.trim_start_matches('/')),
            artifact_id: rec.id.clone(),
            file,
            mappings: fields.mappings,
            minified_line_lengths: js.minified_line_lengths(),
            names: fields.names,
            source_root: fields.source_root.unwrap_or_default(),
            sources: fields.sources,
            sources_content: fields.sources_content,
            version: fields.version,
        })
    }
}

impl Catalog {
    fn storage(&self) -> &symx_storage::Storage {
        self.indexes.storage()
    }
}
