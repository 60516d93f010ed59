//! Upload metadata: the JSON `event` of the Datadog upload document, one struct for all ten
//! types, with that document's field constraints.

use crate::{ArtifactKind, UploadType};
use std::fmt;

/// A metadata field that is missing or malformed. The message names the field, in the words
/// of the upload document ("Missing required field: service").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    fn missing(field: &str) -> Self {
        Self::new(field, format!("Missing required field: {field}"))
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FieldError {}

/// Metadata of one upload (the domain type: no wire or stored form; the Datadog event is
/// `symx_http`'s `UploadEvent`, the stored form `symx_storage::metadata`). Field names and
/// meanings are those of the Datadog upload document; which fields apply depends on
/// `upload_type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadMetadata {
    pub upload_type: UploadType,
    pub overwrite: bool,
    pub service: Option<String>,
    pub version: Option<String>,
    pub cli_version: Option<String>,
    pub git_commit_sha: Option<String>,
    pub git_repository_url: Option<String>,
    pub minified_url: Option<String>,
    pub project_path: Option<String>,
    pub build_number: Option<String>,
    pub bundle_name: Option<String>,
    pub bundle_version: Option<String>,
    pub debug_id: Option<String>,
    pub platform: Option<String>,
    pub build_id: Option<String>,
    pub variant: Option<String>,
    pub uuids: Option<String>,
    pub arch: Option<String>,
    pub filename: Option<String>,
    pub file_hash: Option<String>,
    pub gnu_build_id: Option<String>,
    pub go_build_id: Option<String>,
    pub origin: Option<String>,
    pub origin_version: Option<String>,
    pub symbol_source: Option<String>,
    pub pdb_sig: Option<String>,
    pub pdb_age: Option<i64>,
    /// Not a Datadog field: what kind of file of its module a native upload is, read from the
    /// file by the server (any value a client sends is replaced): `pdb` or `pe` for
    /// `pe_symbol_file`; for ELF `debug_info`, `symbol_table` or `dynamic_symbol_table`, with
    /// `+code` when the file holds the code (a binary, not a split `.debug` file). Part of the
    /// identity, so a PE and its PDB, or a stripped binary, its `.debug` file and the
    /// unstripped binary, are different artifacts of one module.
    pub object_class: Option<String>,
}

/// How a string field is constrained: `(min, max)` characters.
#[derive(Clone, Copy)]
struct Len(usize, usize);

const NAME: Len = Len(1, 200);
const OPT_200: Len = Len(0, 200);
const OPT_500: Len = Len(0, 500);
const URL: Len = Len(1, 2048);
const OPT_URL: Len = Len(0, 2048);
const CLI: Len = Len(0, 50);

impl UploadMetadata {
    /// Empty metadata of a type; fill the fields, then [`validate`](Self::validate).
    pub fn new(upload_type: UploadType) -> Self {
        Self {
            upload_type,
            overwrite: false,
            service: None,
            version: None,
            cli_version: None,
            git_commit_sha: None,
            git_repository_url: None,
            minified_url: None,
            project_path: None,
            build_number: None,
            bundle_name: None,
            bundle_version: None,
            debug_id: None,
            platform: None,
            build_id: None,
            variant: None,
            uuids: None,
            arch: None,
            filename: None,
            file_hash: None,
            gnu_build_id: None,
            go_build_id: None,
            origin: None,
            origin_version: None,
            symbol_source: None,
            pdb_sig: None,
            pdb_age: None,
            object_class: None,
        }
    }

    pub fn kind(&self) -> ArtifactKind {
        self.upload_type.kind()
    }

    /// Checks the constraints of the upload document for this type. Empty strings count as
    /// absent, as datadog-ci sends them for unset optional fields.
    pub fn validate(&self) -> Result<(), FieldError> {
        use UploadType::*;
        check(&self.cli_version, "cli_version", CLI, false)?;
        match self.upload_type {
            JsSourcemap => {
                check(&self.service, "service", NAME, true)?;
                check(&self.version, "version", NAME, true)?;
                check(&self.minified_url, "minified_url", URL, true)?;
                check(&self.project_path, "project_path", OPT_500, false)?;
                check(
                    &self.git_repository_url,
                    "git_repository_url",
                    OPT_URL,
                    false,
                )?;
                check_sha(&self.git_commit_sha, false)?;
            }
            ReactNativeSourcemap => {
                check(&self.service, "service", NAME, true)?;
                check(&self.version, "version", NAME, true)?;
                check(&self.bundle_name, "bundle_name", NAME, true)?;
                check(&self.build_number, "build_number", OPT_200, false)?;
                check(&self.bundle_version, "bundle_version", OPT_200, false)?;
                check(&self.project_path, "project_path", OPT_500, false)?;
                match present(&self.platform) {
                    None => return Err(FieldError::missing("platform")),
                    Some("android" | "ios") => {}
                    Some(other) => {
                        return Err(FieldError::new(
                            "platform",
                            format!(
                                "Invalid field: platform `{other}` must be one of android, ios"
                            ),
                        ));
                    }
                }
                check_uuid_like(&self.debug_id, "debug_id", false)?;
            }
            JvmMappingFile => {
                check(&self.service, "service", NAME, true)?;
                check(&self.version, "version", NAME, true)?;
                check(&self.variant, "variant", OPT_200, false)?;
                check(&self.build_id, "build_id", OPT_200, false)?;
            }
            IosSymbols => {
                let Some(uuids) = present(&self.uuids) else {
                    return Err(FieldError::missing("uuids"));
                };
                for uuid in uuids.split(',') {
                    check_uuid_like(&Some(uuid.trim().to_owned()), "uuids", true)?;
                }
            }
            FlutterSymbolFile => {
                check(&self.service, "service", NAME, true)?;
                check(&self.version, "version", NAME, true)?;
                check(&self.variant, "variant", NAME, true)?;
                check(&self.arch, "arch", NAME, true)?;
                check(&self.platform, "platform", NAME, true)?;
            }
            NdkSymbolFile => {
                check(&self.arch, "arch", NAME, true)?;
                check(&self.build_id, "build_id", NAME, true)?;
                check(&self.filename, "filename", OPT_500, false)?;
            }
            Il2cppMappingFile => {
                check(&self.build_id, "build_id", NAME, true)?;
            }
            ElfSymbolFile => {
                check(&self.arch, "arch", OPT_200, false)?;
                check(&self.filename, "filename", OPT_500, false)?;
                check(&self.origin, "origin", OPT_200, false)?;
                check(&self.origin_version, "origin_version", OPT_200, false)?;
                check(&self.symbol_source, "symbol_source", OPT_200, false)?;
                check(&self.go_build_id, "go_build_id", OPT_200, false)?;
                if let Some(h) = present(&self.file_hash)
                    && (h.len() != 32 || !is_hex(h))
                {
                    return Err(FieldError::new(
                        "file_hash",
                        "Invalid field: file_hash must be 32 hex characters, or empty",
                    ));
                }
                if let Some(id) = present(&self.gnu_build_id)
                    && (id.len() < 16 || !is_hex(id))
                {
                    return Err(FieldError::new(
                        "gnu_build_id",
                        "Invalid field: gnu_build_id must be 16 or more hex characters, or empty",
                    ));
                }
            }
            PeSymbolFile => {
                check(&self.arch, "arch", NAME, true)?;
                check(&self.filename, "filename", OPT_500, false)?;
                check(&self.origin, "origin", OPT_200, false)?;
                check(&self.origin_version, "origin_version", OPT_200, false)?;
                check_uuid_like(&self.pdb_sig, "pdb_sig", true)?;
                match self.pdb_age {
                    None => return Err(FieldError::missing("pdb_age")),
                    Some(age) if age < 0 => {
                        return Err(FieldError::new(
                            "pdb_age",
                            format!("Invalid field: pdb_age must be >= 0, got {age}"),
                        ));
                    }
                    Some(_) => {}
                }
            }
            Repository => {
                check(&self.git_repository_url, "git_repository_url", URL, true)?;
                check_sha(&self.git_commit_sha, true)?;
            }
        }
        Ok(())
    }

    /// The identity of the artifact within its tenant and kind: two uploads with the same
    /// identity are the same artifact (ALREADY_EXISTS, or replaced with `overwrite`).
    ///
    /// Parts are joined by `\u{1f}` (unit separator), which validated fields cannot hold in a
    /// way that makes two different identities collide (each part is length-prefixed).
    pub fn identity(&self) -> String {
        use UploadType::*;
        let parts: Vec<&str> = match self.upload_type {
            JsSourcemap => vec![
                opt(&self.service),
                opt(&self.version),
                opt(&self.minified_url),
            ],
            ReactNativeSourcemap => vec![
                opt(&self.service),
                opt(&self.version),
                opt(&self.bundle_name),
                opt(&self.platform),
                opt(&self.build_number),
            ],
            JvmMappingFile => vec![
                opt(&self.service),
                opt(&self.version),
                opt(&self.variant),
                opt(&self.build_id),
            ],
            IosSymbols => vec![opt(&self.uuids)],
            FlutterSymbolFile => vec![
                opt(&self.service),
                opt(&self.version),
                opt(&self.variant),
                opt(&self.arch),
                opt(&self.platform),
            ],
            NdkSymbolFile => {
                let mut parts = vec![opt(&self.build_id), opt(&self.arch)];
                if let Some(class) = self.object_class.as_deref() {
                    parts.push(class);
                }
                parts
            }
            Il2cppMappingFile => vec![opt(&self.build_id)],
            ElfSymbolFile => {
                let mut parts = vec![
                    opt(&self.gnu_build_id),
                    opt(&self.go_build_id),
                    opt(&self.file_hash),
                    opt(&self.arch),
                ];
                if let Some(class) = self.object_class.as_deref() {
                    parts.push(class);
                }
                parts
            }
            PeSymbolFile => {
                // A PDB keeps the identity it always had; a PE of the same module is another
                // file of it.
                let class = match self.object_class.as_deref() {
                    Some(c) if c != "pdb" => format!("\u{1f}{c}"),
                    _ => String::new(),
                };
                return format!(
                    "{}\u{1f}{}{class}",
                    opt(&self.pdb_sig).to_ascii_lowercase(),
                    self.pdb_age.unwrap_or(0)
                );
            }
            Repository => vec![opt(&self.git_repository_url), opt(&self.git_commit_sha)],
        };
        let mut out = String::new();
        for p in parts {
            out.push_str(&p.len().to_string());
            out.push(':');
            out.push_str(p);
            out.push('\u{1f}');
        }
        out
    }
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// The value of an optional field, with empty strings treated as absent.
pub(crate) fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

fn check(v: &Option<String>, field: &str, len: Len, required: bool) -> Result<(), FieldError> {
    match present(v) {
        None if required => Err(FieldError::missing(field)),
        None => Ok(()),
        Some(s) => {
            let n = s.chars().count();
            if n < len.0 || n > len.1 {
                let range = if len.0 == 0 {
                    format!("at most {} characters", len.1)
                } else {
                    format!("{}-{} characters", len.0, len.1)
                };
                Err(FieldError::new(
                    field,
                    format!("Invalid field: {field} must be {range}, got {n}"),
                ))
            } else if s.chars().any(|c| c.is_control()) {
                Err(FieldError::new(
                    field,
                    format!("Invalid field: {field} must not contain control characters"),
                ))
            } else {
                Ok(())
            }
        }
    }
}

fn check_sha(v: &Option<String>, required: bool) -> Result<(), FieldError> {
    match present(v) {
        None if required => Err(FieldError::missing("git_commit_sha")),
        None => Ok(()),
        Some(s)
            if s.len() == 40
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(())
        }
        Some(_) => Err(FieldError::new(
            "git_commit_sha",
            "Invalid field: git_commit_sha must be 40 lowercase hex characters",
        )),
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A UUID / GUID / debug id: 32 hex digits, with or without the four dashes (and braces for
/// PDB GUIDs as Windows tools print them).
fn check_uuid_like(v: &Option<String>, field: &str, required: bool) -> Result<(), FieldError> {
    match present(v) {
        None if required => Err(FieldError::missing(field)),
        None => Ok(()),
        Some(s) => {
            let t = s.trim_start_matches('{').trim_end_matches('}');
            let hex: String = t.chars().filter(|c| *c != '-').collect();
            if hex.len() == 32 && is_hex(&hex) {
                Ok(())
            } else {
                Err(FieldError::new(
                    field,
                    format!("Invalid field: {field} `{s}` is not a UUID"),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js() -> UploadMetadata {
        let mut m = UploadMetadata::new(UploadType::JsSourcemap);
        m.service = Some("web".into());
        m.version = Some("1.0.0".into());
        m.minified_url = Some("https://example.com/static/main.min.js".into());
        m
    }

    #[test]
    fn js_requires_service_version_and_url() {
        assert_eq!(js().validate(), Ok(()));
        let mut m = js();
        m.service = None;
        assert_eq!(
            m.validate().map_err(|e| e.message),
            Err("Missing required field: service".to_owned())
        );
        let mut m = js();
        m.version = Some("v".repeat(201));
        assert_eq!(m.validate().map_err(|e| e.field), Err("version".to_owned()));
        let mut m = js();
        m.git_commit_sha = Some("ABCDEF0123456789ABCDEF0123456789ABCDEF01".into());
        assert_eq!(
            m.validate().map_err(|e| e.field),
            Err("git_commit_sha".to_owned())
        );
        m.git_commit_sha = Some("abcdef0123456789abcdef0123456789abcdef01".into());
        assert_eq!(m.validate(), Ok(()));
    }

    #[test]
    fn every_type_has_its_required_fields_checked() {
        let cases: &[(UploadType, &str)] = &[
            (UploadType::ReactNativeSourcemap, "service"),
            (UploadType::JvmMappingFile, "service"),
            (UploadType::IosSymbols, "uuids"),
            (UploadType::FlutterSymbolFile, "service"),
            (UploadType::NdkSymbolFile, "arch"),
            (UploadType::Il2cppMappingFile, "build_id"),
            (UploadType::PeSymbolFile, "arch"),
            (UploadType::Repository, "git_repository_url"),
        ];
        for (t, field) in cases {
            let err = UploadMetadata::new(*t).validate().expect_err("must fail");
            assert_eq!(&err.field, field, "{t}");
        }
        // ELF has no required metadata field: identifiers are read from the file.
        assert_eq!(
            UploadMetadata::new(UploadType::ElfSymbolFile).validate(),
            Ok(())
        );
    }

    #[test]
    fn formats_are_checked() {
        let mut m = UploadMetadata::new(UploadType::ElfSymbolFile);
        m.gnu_build_id = Some("abc".into());
        assert_eq!(
            m.validate().map_err(|e| e.field),
            Err("gnu_build_id".into())
        );
        m.gnu_build_id = Some("0123456789abcdef01".into());
        m.file_hash = Some("zz".into());
        assert_eq!(m.validate().map_err(|e| e.field), Err("file_hash".into()));

        let mut m = UploadMetadata::new(UploadType::PeSymbolFile);
        m.arch = Some("x64".into());
        m.pdb_sig = Some("{3F2504E0-4F89-11D3-9A0C-0305E82C3301}".into());
        m.pdb_age = Some(-1);
        assert_eq!(m.validate().map_err(|e| e.field), Err("pdb_age".into()));
        m.pdb_age = Some(1);
        assert_eq!(m.validate(), Ok(()));

        let mut m = UploadMetadata::new(UploadType::ReactNativeSourcemap);
        m.service = Some("app".into());
        m.version = Some("1".into());
        m.bundle_name = Some("index.android.bundle".into());
        m.platform = Some("windows".into());
        assert_eq!(m.validate().map_err(|e| e.field), Err("platform".into()));

        let mut m = UploadMetadata::new(UploadType::IosSymbols);
        m.uuids = Some("C8469A7A-7A4D-3E33-9A5B-2F4A1B2C3D4E,not-a-uuid".into());
        assert_eq!(m.validate().map_err(|e| e.field), Err("uuids".into()));
    }

    #[test]
    fn identities_separate_fields() {
        let mut a = js();
        a.service = Some("a".into());
        a.version = Some("bc".into());
        let mut b = js();
        b.service = Some("ab".into());
        b.version = Some("c".into());
        assert_ne!(a.identity(), b.identity());
        assert_eq!(js().identity(), js().identity());
    }
}
