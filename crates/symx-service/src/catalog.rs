//! List, get, delete and restore, with the filters and rules of the Datadog list, get and
//! delete documents.

use crate::error::{Result, ServiceError};
use crate::urls::{UrlKey, file_name};
use crate::{Inner, Symx};
use std::collections::BTreeMap;
use symx_storage::ArtifactRecord;
use symx_types::{ArtifactId, ArtifactKind, ErrorCode, Tenant};

/// One artifact as the APIs show it: common fields plus the per-kind attributes of the list
/// document (only those with a value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactView {
    pub tenant: Tenant,
    pub id: ArtifactId,
    pub kind: ArtifactKind,
    pub created_at_ms: u64,
    pub deleted_at_ms: Option<u64>,
    /// Total stored bytes of the artifact's files.
    pub size: u64,
    pub debug_id: Option<String>,
    /// Attribute name (as in the list document) to value.
    pub attributes: BTreeMap<String, String>,
}

impl ArtifactView {
    pub fn new(tenant: &Tenant, rec: &ArtifactRecord) -> Self {
        let m = &rec.metadata;
        let mut a = BTreeMap::new();
        let mut put = |k: &str, v: Option<&str>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                a.insert(k.to_owned(), v.to_owned());
            }
        };
        match rec.kind {
            ArtifactKind::Js => {
                let key = UrlKey::parse(m.minified_url.as_deref().unwrap_or_default());
                put("absolute_path", Some(&key.path));
                put("domain", key.host.as_deref());
                put("file_name", Some(file_name(&key.path)));
                put("service", m.service.as_deref());
                put("version", m.version.as_deref());
                put("build_id", m.build_id.as_deref());
                put("variant", m.variant.as_deref());
                let blob_path = format!(
                    "{}/{}/{}{}.map",
                    tenant,
                    m.service.as_deref().unwrap_or_default(),
                    m.version.as_deref().unwrap_or_default(),
                    key.path
                );
                put("blob_storage_sourcemap_path", Some(&blob_path));
                put("minified_url", m.minified_url.as_deref());
                put("git_repository_url", m.git_repository_url.as_deref());
                put("git_commit_sha", m.git_commit_sha.as_deref());
            }
            ArtifactKind::React => {
                put("build_number", m.build_number.as_deref());
                put("bundle_name", m.bundle_name.as_deref());
                put("bundle_version", m.bundle_version.as_deref());
                put(
                    "debug_id",
                    m.debug_id.as_deref().or(rec.debug_id.as_deref()),
                );
                put("platform", m.platform.as_deref());
                put("service", m.service.as_deref());
                put("version", m.version.as_deref());
            }
            ArtifactKind::Ios => put("uuids", m.uuids.as_deref()),
            ArtifactKind::Jvm => {
                put("build_id", m.build_id.as_deref());
                put("service", m.service.as_deref());
                put("variant", m.variant.as_deref());
                put("version", m.version.as_deref());
            }
            ArtifactKind::Flutter => {
                put("arch", m.arch.as_deref());
                put("platform", m.platform.as_deref());
                put("service", m.service.as_deref());
                put("variant", m.variant.as_deref());
                put("version", m.version.as_deref());
            }
            ArtifactKind::Elf => {
                put("arch", m.arch.as_deref());
                put("file_hash", m.file_hash.as_deref());
                put("file_name", m.filename.as_deref());
                put("gnu_build_id", m.gnu_build_id.as_deref());
                put("go_build_id", m.go_build_id.as_deref());
                put("origin", m.origin.as_deref());
                put("origin_version", m.origin_version.as_deref());
                put("symbol_source", m.symbol_source.as_deref());
            }
            ArtifactKind::Ndk => {
                put("arch", m.arch.as_deref());
                put("build_id", m.build_id.as_deref());
                put("file_name", m.filename.as_deref());
            }
            ArtifactKind::Il2cpp => put("build_id", m.build_id.as_deref()),
            ArtifactKind::Pe => {
                put("arch", m.arch.as_deref());
                put("file_name", m.filename.as_deref());
                put("origin", m.origin.as_deref());
                put("origin_version", m.origin_version.as_deref());
                put("pdb_sig", m.pdb_sig.as_deref());
                let age = m.pdb_age.map(|a| a.to_string());
                put("pdb_age", age.as_deref());
            }
            ArtifactKind::Repository => {
                put("git_repository_url", m.git_repository_url.as_deref());
                put("git_commit_sha", m.git_commit_sha.as_deref());
            }
        }
        Self {
            tenant: tenant.clone(),
            id: rec.id.clone(),
            kind: rec.kind,
            created_at_ms: rec.created_at_ms,
            deleted_at_ms: rec.deleted_at_ms,
            size: rec.size(),
            debug_id: rec.debug_id.clone(),
            attributes: a,
        }
    }
}

/// The `filter[...]` parameters of the list and delete documents. Empty means "not given".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    pub service: Vec<String>,
    pub version: Vec<String>,
    pub variant: Vec<String>,
    pub id: Vec<String>,
    pub build_id: Vec<String>,
    pub uuid: Vec<String>,
    pub platform: Vec<String>,
    pub build_number: Vec<String>,
    pub bundle_name: Vec<String>,
    pub arch: Vec<String>,
    pub symbol_source: Vec<String>,
    pub origin: Vec<String>,
    pub origin_version: Vec<String>,
    pub filename: Option<String>,
    pub debug_id: Option<String>,
    pub gnu_build_id: Option<String>,
    pub go_build_id: Option<String>,
    pub file_hash: Option<String>,
}

/// A list request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub kind: ArtifactKind,
    /// Results per page, at least 1. Default [`ListQuery::DEFAULT_PAGE_SIZE`].
    pub page_size: Option<u32>,
    /// 1-based page number. Default 1.
    pub page_number: Option<u32>,
    pub filters: Filters,
    /// Show soft-deleted artifacts too (for restore).
    pub include_deleted: bool,
    /// List every artifact of the kind, without the filters a mapkind otherwise requires
    /// (Elastic's `GET /api/apm/sourcemaps` lists them all).
    pub unscoped: bool,
}

impl ListQuery {
    pub const DEFAULT_PAGE_SIZE: u32 = 50;
    /// Pages are assembled in memory; 1000 keeps one response under a few hundred KB.
    pub const MAX_PAGE_SIZE: u32 = 1000;

    pub fn new(kind: ArtifactKind) -> Self {
        Self {
            kind,
            page_size: None,
            page_number: None,
            filters: Filters::default(),
            include_deleted: false,
            unscoped: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPage {
    pub artifacts: Vec<ArtifactView>,
    pub total_filtered_count: u64,
    pub has_more_results: bool,
}

/// How the get call names a JS source map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceMapSelector {
    File {
        filename: String,
        service: String,
        version: String,
    },
    DebugId(String),
}

/// The get document's response: the map's fields plus `minifiedLineLengths`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceMapFile {
    pub id: String,
    pub artifact_id: ArtifactId,
    pub file: String,
    pub mappings: String,
    pub minified_line_lengths: Vec<u32>,
    pub names: Vec<String>,
    pub source_root: String,
    pub sources: Vec<String>,
    pub sources_content: Vec<Option<String>>,
    pub version: i64,
}

fn param(name: &str) -> String {
    format!("filter[{name}]")
}

impl Filters {
    /// The filters given, by parameter name.
    fn given(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let lists: [(&'static str, &Vec<String>); 13] = [
            ("service", &self.service),
            ("version", &self.version),
            ("variant", &self.variant),
            ("id", &self.id),
            ("build_id", &self.build_id),
            ("uuid", &self.uuid),
            ("platform", &self.platform),
            ("build_number", &self.build_number),
            ("bundle_name", &self.bundle_name),
            ("arch", &self.arch),
            ("symbol_source", &self.symbol_source),
            ("origin", &self.origin),
            ("origin_version", &self.origin_version),
        ];
        for (n, l) in lists {
            if !l.is_empty() {
                v.push(n);
            }
        }
        let singles: [(&'static str, &Option<String>); 5] = [
            ("filename", &self.filename),
            ("debug_id", &self.debug_id),
            ("gnu_build_id", &self.gnu_build_id),
            ("go_build_id", &self.go_build_id),
            ("file_hash", &self.file_hash),
        ];
        for (n, s) in singles {
            if s.is_some() {
                v.push(n);
            }
        }
        v
    }

    /// The filters each kind supports (list and delete documents; `pe` and `repository`
    /// are ours).
    fn supported(kind: ArtifactKind) -> &'static [&'static str] {
        match kind {
            ArtifactKind::Js => &["service", "version", "id", "filename"],
            ArtifactKind::Jvm => &["service", "version", "variant", "id", "build_id"],
            ArtifactKind::Ios => &["id", "uuid"],
            ArtifactKind::React => &[
                "service",
                "version",
                "id",
                "platform",
                "build_number",
                "bundle_name",
                "debug_id",
            ],
            ArtifactKind::Flutter => &["service", "version", "id", "arch"],
            ArtifactKind::Elf => &[
                "id",
                "arch",
                "symbol_source",
                "origin",
                "origin_version",
                "filename",
                "gnu_build_id",
                "go_build_id",
                "file_hash",
            ],
            ArtifactKind::Ndk => &["id", "build_id", "arch", "filename"],
            ArtifactKind::Il2cpp => &["id", "build_id"],
            ArtifactKind::Pe => &["id", "arch", "filename", "origin", "origin_version"],
            ArtifactKind::Repository => &["id"],
        }
    }

    /// Checks the rules of the documents: required filters per kind, supported filters.
    pub fn check(&self, kind: ArtifactKind) -> Result<()> {
        self.check_fields(kind, kind.requires_service_and_version())
    }

    fn check_fields(&self, kind: ArtifactKind, require_service_and_version: bool) -> Result<()> {
        let supported = Self::supported(kind);
        for name in self.given() {
            if !supported.contains(&name) {
                return Err(ServiceError::invalid(
                    param(name),
                    format!(
                        "{} is not supported for mapkind `{}`",
                        param(name),
                        kind.mapkind()
                    ),
                ));
            }
        }
        if require_service_and_version {
            for (name, v) in [("service", &self.service), ("version", &self.version)] {
                if v.is_empty() {
                    return Err(ServiceError::invalid(
                        param(name),
                        format!(
                            "{} is required for mapkind `{}`",
                            param(name),
                            kind.mapkind()
                        ),
                    ));
                }
            }
        }
        for id in &self.id {
            ArtifactId::parse(id).map_err(|e| ServiceError::invalid(param("id"), e.message))?;
        }
        Ok(())
    }

    fn matches(&self, rec: &ArtifactRecord) -> bool {
        let m = &rec.metadata;
        let any = |list: &Vec<String>, v: &Option<String>| {
            list.is_empty() || v.as_ref().is_some_and(|v| list.iter().any(|x| x == v))
        };
        let eq_ci = |want: &Option<String>, v: Option<&str>| match want {
            None => true,
            Some(w) => v.is_some_and(|v| v.eq_ignore_ascii_case(w)),
        };
        // Identifiers in any common spelling: braces, dashes or none, any case.
        let hex = |s: &str| -> String {
            s.chars()
                .filter(char::is_ascii_hexdigit)
                .map(|c| c.to_ascii_lowercase())
                .collect()
        };
        let uuid_ok = self.uuid.is_empty()
            || m.uuids.as_deref().is_some_and(|u| {
                u.split(',')
                    .any(|x| self.uuid.iter().any(|f| hex(f) == hex(x)))
            });
        let debug_id_ok = match &self.debug_id {
            None => true,
            Some(want) => m
                .debug_id
                .as_deref()
                .or(rec.debug_id.as_deref())
                .is_some_and(|have| {
                    crate::symbolicate::canonical_debug_id(have)
                        == crate::symbolicate::canonical_debug_id(want)
                }),
        };
        any(&self.service, &m.service)
            && any(&self.version, &m.version)
            && any(&self.variant, &m.variant)
            && (self.id.is_empty() || self.id.iter().any(|i| i == rec.id.as_str()))
            && any(&self.build_id, &m.build_id)
            && uuid_ok
            && any(&self.platform, &m.platform)
            && any(&self.build_number, &m.build_number)
            && any(&self.bundle_name, &m.bundle_name)
            && any(&self.arch, &m.arch)
            && any(&self.symbol_source, &m.symbol_source)
            && any(&self.origin, &m.origin)
            && any(&self.origin_version, &m.origin_version)
            && self
                .filename
                .as_deref()
                .is_none_or(|f| filename_matches(rec, f))
            && debug_id_ok
            && eq_ci(&self.gnu_build_id, m.gnu_build_id.as_deref())
            && eq_ci(&self.go_build_id, m.go_build_id.as_deref())
            && eq_ci(&self.file_hash, m.file_hash.as_deref())
    }
}

/// `filename` names a JS artifact by its minified URL, its path, a path suffix or its file
/// name, with or without `.map`; native kinds by their `filename`.
fn filename_matches(rec: &ArtifactRecord, filename: &str) -> bool {
    match rec.kind {
        ArtifactKind::Js | ArtifactKind::React => {
            let url = match rec.kind {
                ArtifactKind::Js => rec.metadata.minified_url.as_deref(),
                _ => rec.metadata.bundle_name.as_deref(),
            };
            let have = UrlKey::parse(url.unwrap_or_default());
            let f = filename.strip_suffix(".map").unwrap_or(filename);
            let want = UrlKey::parse(f);
            if want.host.is_some() && want.host != have.host {
                return false;
            }
            have.path == want.path
                || have.path.ends_with(&want.path)
                    && have.path.as_bytes().get(have.path.len() - want.path.len()) == Some(&b'/')
        }
        _ => rec.metadata.filename.as_deref() == Some(filename),
    }
}

impl Symx {
    /// Lists artifacts of a kind with the list document's filters and pagination, newest
    /// first.
    pub async fn list(&self, tenant: Tenant, query: ListQuery) -> Result<ListPage> {
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
        let number = query.page_number.unwrap_or(1);
        if number == 0 {
            return Err(ServiceError::invalid(
                "page[number]",
                "page[number] must be at least 1",
            ));
        }
        let inner = self.inner.clone();
        let all = self
            .blocking(move || inner.matching(&tenant, &query))
            .await?;
        let total = all.len() as u64;
        let start = (number as u64 - 1).saturating_mul(size as u64);
        let artifacts: Vec<ArtifactView> = all
            .into_iter()
            .skip(start.min(total) as usize)
            .take(size as usize)
            .collect();
        let has_more = start + (artifacts.len() as u64) < total;
        Ok(ListPage {
            artifacts,
            total_filtered_count: total,
            has_more_results: has_more,
        })
    }

    /// One artifact by id (deleted ones included, so they can be inspected before restore).
    pub async fn artifact(&self, tenant: Tenant, id: &str) -> Result<ArtifactView> {
        let id = ArtifactId::parse(id)?;
        let inner = self.inner.clone();
        self.blocking(move || {
            let rec = inner.storage.get(&tenant, &id)?.ok_or_else(|| {
                ServiceError::new(ErrorCode::NotFound, format!("artifact {id} not found"))
            })?;
            Ok(ArtifactView::new(&tenant, &rec))
        })
        .await
    }

    /// Deletes (softly) what the filters select; with `dry_run`, only says what would go.
    pub async fn delete(
        &self,
        tenant: Tenant,
        kind: ArtifactKind,
        filters: Filters,
        dry_run: bool,
    ) -> Result<Vec<ArtifactView>> {
        filters.check(kind)?;
        // Delete document: filter[version] takes at most 10 values.
        if filters.version.len() > 10 {
            return Err(ServiceError::invalid(
                "filter[version]",
                format!(
                    "filter[version] accepts at most 10 values, got {}",
                    filters.version.len()
                ),
            ));
        }
        if filters.given().is_empty() {
            return Err(ServiceError::invalid(
                "filter",
                "at least one filter is required to delete",
            ));
        }
        let inner = self.inner.clone();
        let mut query = ListQuery::new(kind);
        query.filters = filters;
        let out = self
            .blocking(move || {
                let victims = inner.matching(&tenant, &query)?;
                if dry_run {
                    return Ok(victims);
                }
                let ids: Vec<ArtifactId> = victims.iter().map(|v| v.id.clone()).collect();
                let deleted = inner.storage.soft_delete(&tenant, &ids)?;
                Ok(deleted
                    .iter()
                    .map(|r| ArtifactView::new(&tenant, r))
                    .collect())
            })
            .await?;
        if !dry_run {
            self.after_write();
            for v in &out {
                self.inner
                    .indexes
                    .invalidate(&(v.tenant.clone(), v.id.clone()));
            }
        }
        Ok(out)
    }

    /// Restores soft-deleted artifacts by id.
    pub async fn restore(
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
        let inner = self.inner.clone();
        let out = self
            .blocking(move || {
                let recs = inner.storage.restore(&tenant, &ids, overwrite)?;
                Ok(recs.iter().map(|r| ArtifactView::new(&tenant, r)).collect())
            })
            .await?;
        self.after_write();
        Ok(out)
    }

    /// The get document: a JS source map's fields and its minified line lengths.
    /// The stored bytes of one file (`part`) of a live artifact.
    pub async fn read_file(&self, tenant: Tenant, id: &ArtifactId, part: &str) -> Result<Vec<u8>> {
        let inner = self.inner.clone();
        let (id, part) = (id.clone(), part.to_owned());
        self.blocking(move || {
            let not_found =
                || ServiceError::new(ErrorCode::NotFound, format!("artifact {id} not found"));
            let rec = inner.storage.get(&tenant, &id)?.ok_or_else(not_found)?;
            if rec.deleted_at_ms.is_some() {
                return Err(not_found());
            }
            let file = rec.file(&part).ok_or_else(|| {
                ServiceError::new(
                    ErrorCode::NotFound,
                    format!("artifact {id} has no `{part}` file"),
                )
            })?;
            Ok(inner.storage.read_blob(file)?)
        })
        .await
    }

    /// The Fleet hashes of a live JavaScript artifact (Elastic's list and delete): stored at
    /// upload; computed from the map for artifacts stored before they were.
    pub async fn fleet_summary(
        &self,
        tenant: Tenant,
        view: &ArtifactView,
    ) -> Result<crate::fleet::FleetSummary> {
        let inner = self.inner.clone();
        let view = view.clone();
        self.blocking(move || {
            if let Some(bytes) = inner.storage.read_index(&tenant, &view.id, "fleet")? {
                return serde_json::from_slice(&bytes).map_err(|e| {
                    ServiceError::internal(format!("{}: stored fleet index: {e}", view.id))
                });
            }
            let rec = inner.storage.get(&tenant, &view.id)?.ok_or_else(|| {
                ServiceError::new(
                    ErrorCode::NotFound,
                    format!("artifact {} not found", view.id),
                )
            })?;
            let file = rec.file("source_map").ok_or_else(|| {
                ServiceError::internal(format!("{} has no source_map file", view.id))
            })?;
            let map = inner.storage.read_blob(file)?;
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

    pub async fn get_sourcemap(
        &self,
        tenant: Tenant,
        selector: SourceMapSelector,
    ) -> Result<SourceMapFile> {
        let inner = self.inner.clone();
        let this = self.clone();
        self.blocking(move || inner.get_sourcemap(&this, &tenant, &selector))
            .await
    }
}

impl Inner {
    /// Live (or, when asked, all) artifacts matching a query, newest first.
    fn matching(&self, tenant: &Tenant, query: &ListQuery) -> Result<Vec<ArtifactView>> {
        let f = &query.filters;
        let releases = f.service.len() * f.version.len();
        // Live artifacts of named releases come through the release lookup (a few reads);
        // anything else scans the kind.
        let candidates = if !query.include_deleted && (1..=64).contains(&releases) {
            let mut recs = Vec::new();
            for service in &f.service {
                for version in &f.version {
                    recs.extend(
                        self.storage
                            .list_release(tenant, query.kind, service, version)?,
                    );
                }
            }
            recs.sort_by(|a, b| a.id.cmp(&b.id));
            recs.dedup_by(|a, b| a.id == b.id);
            recs
        } else {
            self.storage.list(tenant, query.kind)?
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

    fn get_sourcemap(
        &self,
        symx: &Symx,
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
                q.filters.service = vec![service.clone()];
                q.filters.version = vec![version.clone()];
                q.filters.filename = Some(filename.clone());
                self.matching(tenant, &q)?
                    .into_iter()
                    .next()
                    .and_then(|v| self.storage.get(tenant, &v.id).transpose())
                    .transpose()?
            }
            SourceMapSelector::DebugId(d) => {
                let d = d.to_ascii_lowercase();
                match self.first_of(tenant, &crate::symbolicate::JS_KINDS, "debug_id", &d)? {
                    Some(id) => self.storage.get(tenant, &id)?,
                    None => None,
                }
            }
        };
        let rec = rec
            .filter(|r| r.deleted_at_ms.is_none())
            .ok_or_else(|| ServiceError::new(ErrorCode::NotFound, "no source map matches"))?;
        let map_file = rec
            .file("source_map")
            .ok_or_else(|| ServiceError::internal(format!("{} has no source_map file", rec.id)))?;
        let raw = self.storage.read_blob(map_file)?;
        let fields = symx_sourcemap::raw_fields(&raw)?;
        let index = symx.load_index(tenant, &rec.id)?;
        let crate::cache::LoadedIndex::Js(js) = &*index else {
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
