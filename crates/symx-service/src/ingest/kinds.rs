//! One build function per kind: an upload's spooled files in, its indexes and typed lookups
//! out (and the metadata completed from the files: debug ids, build ids, UUIDs, PDB
//! signatures, commits). Nothing here writes storage; [`super::commit`] does.

use crate::build::Builder;
use crate::error::{Result, ServiceError};
use crate::fleet;
use crate::lookups::Lookup;
use crate::mapped::Mapped;
use crate::urls::UrlKey;
use std::path::{Path, PathBuf};
use symx_types::{ArtifactKind, UploadMetadata};

/// What the build of an upload yields.
#[derive(Debug, Default)]
pub(super) struct Built {
    /// Named indexes (`js`, `fleet`, `jvm`, `il2cpp`, `native/<n>`, `repo`).
    pub indexes: Vec<(String, Vec<u8>)>,
    pub lookups: Vec<Lookup>,
    /// The debug id shown in listings (a source map's, or the first object's).
    pub debug_id: Option<String>,
}

/// A spooled file of the upload: part name and path.
pub(super) struct Files<'a>(pub &'a [(String, PathBuf, [u8; 32], u64)]);

impl Files<'_> {
    fn path(&self, part: &str) -> Option<&Path> {
        self.0.iter().find(|f| f.0 == part).map(|f| f.1.as_path())
    }

    fn required(&self, part: &str) -> Result<&Path> {
        self.path(part)
            .ok_or_else(|| ServiceError::invalid(part, format!("Missing required file: {part}")))
    }
}

/// Builds every index of an upload of `meta.kind()` and the lookups it is found by.
pub(super) fn build(builder: &Builder, meta: &mut UploadMetadata, files: &Files) -> Result<Built> {
    let kind = meta.kind();
    let mut built = match kind {
        ArtifactKind::Js | ArtifactKind::React => source_map(builder, kind, meta, files)?,
        ArtifactKind::Il2cpp => il2cpp(builder, meta, files)?,
        ArtifactKind::Jvm => jvm(builder, meta, files)?,
        ArtifactKind::Elf
        | ArtifactKind::Ndk
        | ArtifactKind::Flutter
        | ArtifactKind::Ios
        | ArtifactKind::Pe => native(builder, kind, meta, files)?,
        ArtifactKind::Repository => Built::default(),
    };
    // Repository metadata (a `repository` upload, or the part beside a source map or a
    // mapping): normalised and indexed for source links, found by its commit.
    if let Some(path) = files.path("repository") {
        repository(meta, path, &mut built)?;
    }
    if let Some(d) = &built.debug_id {
        built.lookups.push(Lookup::debug_id(d));
    }
    built.lookups.sort();
    built.lookups.dedup();
    Ok(built)
}

/// A source map (JavaScript or React Native): the `SYMXJSIX` index, the Fleet summary of a
/// JavaScript map, found by debug id and by the minified file's URL and path in its release.
fn source_map(
    builder: &Builder,
    kind: ArtifactKind,
    meta: &mut UploadMetadata,
    files: &Files,
) -> Result<Built> {
    let map = std::fs::read(files.required("source_map")?)?;
    if map.is_empty() {
        return Err(ServiceError::invalid(
            "source_map",
            "invalid source map: the file is empty",
        ));
    }
    let minified = files.path("minified_file").map(std::fs::read).transpose()?;
    let index = builder.source_map(kind, &map, minified.as_deref())?;
    let file_id = index.debug_id.map(|d| d.to_string());
    let given = meta.debug_id.as_deref().filter(|s| !s.is_empty());
    if let (Some(given), Some(found)) = (given, &file_id)
        && !given.eq_ignore_ascii_case(found)
    {
        return Err(ServiceError::invalid(
            "debug_id",
            format!("debug_id {given} does not match the source map's debug id {found}"),
        ));
    }
    let debug_id = file_id.or_else(|| given.map(str::to_owned));
    if given.is_none() && kind == ArtifactKind::React {
        meta.debug_id = debug_id.clone();
    }
    let mut out = Built {
        indexes: vec![("js".to_owned(), index.bytes)],
        lookups: Vec::new(),
        debug_id,
    };
    let service = meta.service.clone().unwrap_or_default();
    let version = meta.version.clone().unwrap_or_default();
    if kind == ArtifactKind::Js {
        // Elastic's list and delete name a map by these hashes: computed once, here, after
        // the build has freed its memory.
        let bundle = meta.minified_url.as_deref().unwrap_or_default();
        let summary = fleet::summary(&service, &version, bundle, &map);
        let summary = serde_json::to_vec(&summary)
            .map_err(|e| ServiceError::internal(format!("fleet summary: {e}")))?;
        out.indexes.push(("fleet".to_owned(), summary));
    }
    let url = match kind {
        ArtifactKind::Js => meta.minified_url.as_deref(),
        _ => meta.bundle_name.as_deref(),
    };
    let url = UrlKey::parse(url.unwrap_or_default());
    out.lookups
        .extend(Lookup::js_file(&service, &version, &url));
    Ok(out)
}

/// A Unity IL2CPP line mapping, found by its build id (the native module's or Unity's).
fn il2cpp(builder: &Builder, meta: &UploadMetadata, files: &Files) -> Result<Built> {
    let bytes = std::fs::read(files.required("il2cpp_mapping_file")?)?;
    let index = builder.il2cpp_mapping(&bytes)?;
    Ok(Built {
        indexes: vec![("il2cpp".to_owned(), index.bytes)],
        lookups: build_id(meta).into_iter().collect(),
        debug_id: None,
    })
}

/// A ProGuard/R8 mapping, found by build id (its content id when none is given) and by
/// release (service, version, variant).
fn jvm(builder: &Builder, meta: &mut UploadMetadata, files: &Files) -> Result<Built> {
    let mapped = Mapped::open(files.required("jvm_mapping_file")?)?;
    let index = builder.jvm_mapping(&mapped)?;
    // Without a stated build id, the mapping is known by its content (reported back in the
    // artifact's attributes).
    if meta.build_id.as_deref().is_none_or(str::is_empty) {
        meta.build_id = Some(index.content_id.clone());
    }
    let mut lookups: Vec<Lookup> = build_id(meta).into_iter().collect();
    lookups.push(Lookup::jvm_release(
        meta.service.as_deref().unwrap_or_default(),
        meta.version.as_deref().unwrap_or_default(),
        meta.variant.as_deref(),
    ));
    Ok(Built {
        indexes: vec![("jvm".to_owned(), index.bytes)],
        lookups,
        debug_id: None,
    })
}

/// A native file (ELF, NDK, Flutter, dSYM archive, PE or PDB): one index per object, found by
/// the ids the files carry and those the upload states (Go build id, file hash).
fn native(
    builder: &Builder,
    kind: ArtifactKind,
    meta: &mut UploadMetadata,
    files: &Files,
) -> Result<Built> {
    let part = meta.upload_type.parts()[0].0;
    let path = files.required(part)?;
    let native = builder.native_file(kind, meta, part, path)?;
    let mut lookups = native.lookups;
    if let Some(go) = meta.go_build_id.as_deref().filter(|v| !v.is_empty()) {
        lookups.push(Lookup::GoBuildId(go.to_ascii_lowercase()));
    }
    if let Some(hash) = meta.file_hash.as_deref().filter(|v| !v.is_empty()) {
        lookups.push(Lookup::FileHash(hash.to_ascii_lowercase()));
    }
    let mut indexes = native.indexes;
    if let Some(bundle) = files.path(crate::build::native::SOURCES_PART) {
        indexes.push((
            crate::build::native::SOURCES_PART.to_owned(),
            crate::build::native::sources_index(bundle, &builder.archive_limits())?,
        ));
    }
    Ok(Built {
        indexes,
        lookups,
        debug_id: native.debug_id,
    })
}

/// The repository part: the normalised `symx-repo-1` document, found by its commit (which
/// fills in the upload's `git_commit_sha` when it names none).
fn repository(meta: &mut UploadMetadata, path: &Path, built: &mut Built) -> Result<()> {
    let bytes = std::fs::read(path)?;
    let repo = crate::repo::parse(
        &bytes,
        meta.git_repository_url.as_deref().filter(|u| !u.is_empty()),
        meta.git_commit_sha.as_deref().filter(|c| !c.is_empty()),
    )?;
    if meta.git_commit_sha.as_deref().is_none_or(str::is_empty) {
        meta.git_commit_sha = Some(repo.commit.clone());
    }
    built.lookups.push(Lookup::commit(&repo.commit));
    let json = serde_json::to_vec(&repo)
        .map_err(|e| ServiceError::internal(format!("cannot store the repository: {e}")))?;
    built.indexes.push(("repo".to_owned(), json));
    Ok(())
}

/// The build id row of a JVM or IL2CPP mapping.
fn build_id(meta: &UploadMetadata) -> Option<Lookup> {
    meta.build_id
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(Lookup::build_id)
}
