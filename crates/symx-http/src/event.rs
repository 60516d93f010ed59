//! The `event` part of a Datadog upload (`POST /api/v2/srcmap`) in the words of the upload
//! document: the wire form only, turned into the domain's [`UploadMetadata`] at once (the
//! service validates it). A field renamed here for Datadog changes neither the domain type nor
//! stored records (`symx_storage` keeps its own schema). Fields the document does not name
//! are ignored, `object_class` included (the server reads it from the file).

use serde::Deserialize;
use symx_types::{UploadMetadata, UploadType};

/// The upload document's `event` JSON.
#[derive(Clone, Debug, Deserialize)]
pub struct UploadEvent {
    #[serde(rename = "type")]
    pub upload_type: UploadType,
    #[serde(default)]
    pub overwrite: bool,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub cli_version: Option<String>,
    #[serde(default)]
    pub git_commit_sha: Option<String>,
    #[serde(default)]
    pub git_repository_url: Option<String>,
    #[serde(default)]
    pub minified_url: Option<String>,
    #[serde(default)]
    pub project_path: Option<String>,
    #[serde(default)]
    pub build_number: Option<String>,
    #[serde(default)]
    pub bundle_name: Option<String>,
    #[serde(default)]
    pub bundle_version: Option<String>,
    #[serde(default)]
    pub debug_id: Option<String>,
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub build_id: Option<String>,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub uuids: Option<String>,
    #[serde(default)]
    pub arch: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub file_hash: Option<String>,
    #[serde(default)]
    pub gnu_build_id: Option<String>,
    #[serde(default)]
    pub go_build_id: Option<String>,
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub origin_version: Option<String>,
    #[serde(default)]
    pub symbol_source: Option<String>,
    #[serde(default)]
    pub pdb_sig: Option<String>,
    #[serde(default)]
    pub pdb_age: Option<i64>,
}

impl From<UploadEvent> for UploadMetadata {
    fn from(e: UploadEvent) -> Self {
        Self {
            upload_type: e.upload_type,
            overwrite: e.overwrite,
            service: e.service,
            version: e.version,
            cli_version: e.cli_version,
            git_commit_sha: e.git_commit_sha,
            git_repository_url: e.git_repository_url,
            minified_url: e.minified_url,
            project_path: e.project_path,
            build_number: e.build_number,
            bundle_name: e.bundle_name,
            bundle_version: e.bundle_version,
            debug_id: e.debug_id,
            platform: e.platform,
            build_id: e.build_id,
            variant: e.variant,
            uuids: e.uuids,
            arch: e.arch,
            filename: e.filename,
            file_hash: e.file_hash,
            gnu_build_id: e.gnu_build_id,
            go_build_id: e.go_build_id,
            origin: e.origin,
            origin_version: e.origin_version,
            symbol_source: e.symbol_source,
            pdb_sig: e.pdb_sig,
            pdb_age: e.pdb_age,
            object_class: None,
        }
    }
}
