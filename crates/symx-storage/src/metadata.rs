//! The stored form of upload metadata inside a catalog record: its own type and schema
//! version, so the Datadog wire form (`symx_http`) and the domain type ([`UploadMetadata`]) can
//! change without changing what is on disk. Field names are frozen here; a change of layout
//! bumps [`SCHEMA`] and reads the older layouts.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use symx_types::{UploadMetadata, UploadType};

/// The layout of stored metadata. 1: the field names of the first release (absent in records
/// written before the schema was versioned, which have that layout).
pub const SCHEMA: u32 = 1;

fn schema_one() -> u32 {
    1
}

#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(default = "schema_one")]
    schema: u32,
    #[serde(rename = "type")]
    upload_type: String,
    #[serde(default)]
    overwrite: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cli_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    git_commit_sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    git_repository_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    minified_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    project_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    build_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bundle_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bundle_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    debug_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    build_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    uuids: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    arch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gnu_build_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    go_build_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    origin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    origin_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    symbol_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pdb_sig: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pdb_age: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    object_class: Option<String>,
}

/// `#[serde(with = "metadata")]` for an [`UploadMetadata`] field of a stored record.
pub fn serialize<S: Serializer>(m: &UploadMetadata, ser: S) -> Result<S::Ok, S::Error> {
    Stored {
        schema: SCHEMA,
        upload_type: m.upload_type.as_str().to_owned(),
        overwrite: m.overwrite,
        service: m.service.clone(),
        version: m.version.clone(),
        cli_version: m.cli_version.clone(),
        git_commit_sha: m.git_commit_sha.clone(),
        git_repository_url: m.git_repository_url.clone(),
        minified_url: m.minified_url.clone(),
        project_path: m.project_path.clone(),
        build_number: m.build_number.clone(),
        bundle_name: m.bundle_name.clone(),
        bundle_version: m.bundle_version.clone(),
        debug_id: m.debug_id.clone(),
        platform: m.platform.clone(),
        build_id: m.build_id.clone(),
        variant: m.variant.clone(),
        uuids: m.uuids.clone(),
        arch: m.arch.clone(),
        filename: m.filename.clone(),
        file_hash: m.file_hash.clone(),
        gnu_build_id: m.gnu_build_id.clone(),
        go_build_id: m.go_build_id.clone(),
        origin: m.origin.clone(),
        origin_version: m.origin_version.clone(),
        symbol_source: m.symbol_source.clone(),
        pdb_sig: m.pdb_sig.clone(),
        pdb_age: m.pdb_age,
        object_class: m.object_class.clone(),
    }
    .serialize(ser)
}

/// The reading half of [`serialize`]: every schema up to [`SCHEMA`].
pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<UploadMetadata, D::Error> {
    use serde::de::Error;
    let s = Stored::deserialize(de)?;
    if s.schema > SCHEMA {
        return Err(D::Error::custom(format!(
            "stored metadata has schema {}; this build reads up to {SCHEMA}",
            s.schema
        )));
    }
    let upload_type = UploadType::parse(&s.upload_type).ok_or_else(|| {
        D::Error::custom(format!("unknown stored upload type `{}`", s.upload_type))
    })?;
    Ok(UploadMetadata {
        upload_type,
        overwrite: s.overwrite,
        service: s.service,
        version: s.version,
        cli_version: s.cli_version,
        git_commit_sha: s.git_commit_sha,
        git_repository_url: s.git_repository_url,
        minified_url: s.minified_url,
        project_path: s.project_path,
        build_number: s.build_number,
        bundle_name: s.bundle_name,
        bundle_version: s.bundle_version,
        debug_id: s.debug_id,
        platform: s.platform,
        build_id: s.build_id,
        variant: s.variant,
        uuids: s.uuids,
        arch: s.arch,
        filename: s.filename,
        file_hash: s.file_hash,
        gnu_build_id: s.gnu_build_id,
        go_build_id: s.go_build_id,
        origin: s.origin,
        origin_version: s.origin_version,
        symbol_source: s.symbol_source,
        pdb_sig: s.pdb_sig,
        pdb_age: s.pdb_age,
        object_class: s.object_class,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Record {
        #[serde(with = "super")]
        metadata: UploadMetadata,
    }

    /// The stored layout is frozen: what records on disk hold, field for field.
    #[test]
    fn the_stored_layout_is_frozen_and_old_records_read() {
        let mut m = UploadMetadata::new(UploadType::PeSymbolFile);
        m.service = Some("shop".into());
        m.pdb_sig = Some("abc".into());
        m.pdb_age = Some(2);
        m.object_class = Some("pdb".into());
        let json = serde_json::to_string(&Record {
            metadata: m.clone(),
        })
        .expect("serialize");
        assert_eq!(
            json,
            r#"{"metadata":{"schema":1,"type":"pe_symbol_file","overwrite":false,"service":"shop","pdb_sig":"abc","pdb_age":2,"object_class":"pdb"}}"#
        );
        let back: Record = serde_json::from_str(&json).expect("read back");
        assert_eq!(back.metadata, m);
        // A record written before the schema was versioned.
        let old: Record = serde_json::from_str(
            r#"{"metadata":{"type":"js_sourcemap","overwrite":true,"service":"web","version":"1.0","minified_url":"/a.js"}}"#,
        )
        .expect("old record");
        assert_eq!(old.metadata.upload_type, UploadType::JsSourcemap);
        assert!(old.metadata.overwrite);
        assert_eq!(old.metadata.minified_url.as_deref(), Some("/a.js"));
        // A newer schema is refused, not misread.
        let newer =
            serde_json::from_str::<Record>(r#"{"metadata":{"schema":2,"type":"js_sourcemap"}}"#);
        assert!(newer.is_err());
    }
}
