//! One artifact as the APIs show it: the persisted record turned into the list document's
//! attributes per kind.

use crate::urls::{UrlKey, file_name};
use std::collections::BTreeMap;
use symx_storage::ArtifactRecord;
use symx_types::{ArtifactId, ArtifactKind, Tenant};

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
    /// The stored files: part name, size, sha256 (the console's details).
    pub files: Vec<ArtifactFile>,
}

/// One stored file of an artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactFile {
    /// The upload part it came in (`source_map`, `elf_symbol_file`, `sources`, ...).
    pub part: String,
    pub size: u64,
    /// Lowercase hex sha256 of the content.
    pub sha256: String,
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
            files: rec
                .files
                .iter()
                .map(|f| ArtifactFile {
                    part: f.part.clone(),
                    size: f.size,
                    sha256: f.sha256.clone(),
                })
                .collect(),
        }
    }
}
