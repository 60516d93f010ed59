//! The keys artifacts are found by: one [`Lookup`] type, written by ingest as the lookup rows of
//! an artifact and read by resolve and catalog to find it, plus the id spellings frames arrive
//! in and the kinds each kind of frame resolves against.
//!
//! A lookup row is stored as (field, value) under the artifact's kind (`symx_storage`'s
//! `lookup` column). The field names and value layouts below are the persisted schema: a
//! change needs a storage migration. (`release`, service and version, is written by storage
//! itself for the catalog's list.)

use crate::urls::UrlKey;
use symx_types::ArtifactKind;

/// The unit separator joins the parts of a lookup value (validated fields hold no control
/// characters, so it cannot occur inside one).
const SEP: char = '\u{1f}';

/// The kinds a JavaScript frame resolves against (React Native Metro maps are source maps too).
pub(crate) const JS_KINDS: &[ArtifactKind] = &[ArtifactKind::Js, ArtifactKind::React];
/// The kinds a native frame resolves against.
pub(crate) const NATIVE_KINDS: &[ArtifactKind] = &[
    ArtifactKind::Elf,
    ArtifactKind::Ndk,
    ArtifactKind::Flutter,
    ArtifactKind::Ios,
    ArtifactKind::Pe,
];
/// The kinds that carry repository metadata (a `repository` upload, or the part beside a
/// source map or a mapping).
pub(crate) const REPO_KINDS: &[ArtifactKind] = &[
    ArtifactKind::Repository,
    ArtifactKind::Js,
    ArtifactKind::React,
    ArtifactKind::Jvm,
];
pub(crate) const JVM_KINDS: &[ArtifactKind] = &[ArtifactKind::Jvm];
pub(crate) const IL2CPP_KINDS: &[ArtifactKind] = &[ArtifactKind::Il2cpp];

/// The JVM variant of an upload or a stack trace that names none: the one default of the
/// whole product (datadog-ci and `symx upload jvm` send `release` when not told otherwise).
pub(crate) const DEFAULT_JVM_VARIANT: &str = "release";

/// One key an artifact is found by. Values are normalised when built (ids lowercase), so the
/// writer and the reader build the same row from the same input.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Lookup {
    /// A source map's debug id (JS, React Native), or a native file's debug id (Mach-O UUID,
    /// PDB `guid-age`, ELF build id as a GUID).
    DebugId(String),
    /// A native file's code id (GNU build id, Mach-O UUID hex, PE timestamp + size).
    CodeId(String),
    /// A Go binary's build id.
    GoBuildId(String),
    /// The hash of a native file's contents (Datadog's `file_hash`).
    FileHash(String),
    /// The build id of a JVM mapping or an IL2CPP line mapping (for IL2CPP: the native
    /// module's, or the Unity build's).
    BuildId(String),
    /// A JavaScript file by its full URL (host and path) in a release.
    JsUrl {
        service: String,
        version: String,
        url: String,
    },
    /// A JavaScript file by its path in a release (matched by suffix at read).
    JsPath {
        service: String,
        version: String,
        path: String,
    },
    /// A JVM mapping by release. An empty variant is the key mappings uploaded without one
    /// were stored under before [`DEFAULT_JVM_VARIANT`] existed.
    JvmRelease {
        service: String,
        version: String,
        variant: String,
    },
    /// Repository metadata by commit.
    Commit(String),
}

impl Lookup {
    pub(crate) fn debug_id(s: &str) -> Self {
        Self::DebugId(s.to_ascii_lowercase())
    }

    pub(crate) fn code_id(s: &str) -> Self {
        Self::CodeId(s.to_ascii_lowercase())
    }

    pub(crate) fn build_id(s: &str) -> Self {
        Self::BuildId(s.to_ascii_lowercase())
    }

    pub(crate) fn commit(s: &str) -> Self {
        Self::Commit(s.to_ascii_lowercase())
    }

    /// Every id a native module may be stored under, for one id value of a frame.
    pub(crate) fn module_ids(value: &str) -> [Self; 4] {
        let v = value.to_ascii_lowercase();
        [
            Self::CodeId(v.clone()),
            Self::DebugId(v.clone()),
            Self::GoBuildId(v.clone()),
            Self::FileHash(v),
        ]
    }

    /// A JVM mapping's release (an absent or empty variant is [`DEFAULT_JVM_VARIANT`]).
    pub(crate) fn jvm_release(service: &str, version: &str, variant: Option<&str>) -> Self {
        Self::JvmRelease {
            service: service.to_owned(),
            version: version.to_owned(),
            variant: variant
                .filter(|v| !v.is_empty())
                .unwrap_or(DEFAULT_JVM_VARIANT)
                .to_owned(),
        }
    }

    /// The release key of mappings uploaded without a variant before the default existed.
    pub(crate) fn legacy_jvm_release(service: &str, version: &str) -> Self {
        Self::JvmRelease {
            service: service.to_owned(),
            version: version.to_owned(),
            variant: String::new(),
        }
    }

    /// The rows of a JavaScript file at `url` in a release: its full URL (when it has a host)
    /// and its path.
    pub(crate) fn js_file(service: &str, version: &str, url: &UrlKey) -> Vec<Self> {
        let mut out = Vec::with_capacity(2);
        if let Some(full) = url.full() {
            out.push(Self::JsUrl {
                service: service.to_owned(),
                version: version.to_owned(),
                url: full,
            });
        }
        out.push(Self::JsPath {
            service: service.to_owned(),
            version: version.to_owned(),
            path: url.path.clone(),
        });
        out
    }

    /// The stored field name.
    pub(crate) fn field(&self) -> &'static str {
        match self {
            Self::DebugId(_) => "debug_id",
            Self::CodeId(_) => "code_id",
            Self::GoBuildId(_) => "go_build_id",
            Self::FileHash(_) => "file_hash",
            Self::BuildId(_) => "build_id",
            Self::JsUrl { .. } => "url",
            Self::JsPath { .. } => "path",
            // The name of the first schema (service, version, variant), kept: renaming a
            // field is a migration of every stored row.
            Self::JvmRelease { .. } => "svv",
            Self::Commit(_) => "commit",
        }
    }

    /// The stored value.
    pub(crate) fn value(&self) -> String {
        match self {
            Self::DebugId(v)
            | Self::CodeId(v)
            | Self::GoBuildId(v)
            | Self::FileHash(v)
            | Self::BuildId(v)
            | Self::Commit(v) => v.clone(),
            Self::JsUrl {
                service,
                version,
                url: rest,
            }
            | Self::JsPath {
                service,
                version,
                path: rest,
            } => format!("{service}{SEP}{version}{SEP}{rest}"),
            Self::JvmRelease {
                service,
                version,
                variant,
            } => format!("{service}{SEP}{version}{SEP}{variant}"),
        }
    }

    /// The stored row: (field, value).
    pub(crate) fn row(&self) -> (String, String) {
        (self.field().to_owned(), self.value())
    }

    /// A native module id of a stored row (the ids by which a file finds its companions: a
    /// PE's code id finds its PDB by the debug id they share).
    pub(crate) fn module_id_of_row(field: &str, value: &str) -> Option<String> {
        matches!(field, "code_id" | "debug_id").then(|| value.to_owned())
    }
}

/// A code id as the index stores it: lowercase hex, without the dashes, braces or spaces
/// some tools print.
pub(crate) fn canonical_code_id(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '-' | '{' | '}') && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A debug id as the index stores it (`guid` or `guid-age`, lowercase, age in hex), from
/// every common spelling: with or without braces (`{EB69E6EC-...}`, as llvm-pdbutil and
/// Windows tools print PDB GUIDs), upper or lower case, with or without dashes, the age after
/// a dash or glued on (Breakpad's form: the 32 hex digits of the GUID then the age in hex, as
/// minidump tools print it). Anything else is kept as given, lowercase.
pub(crate) fn canonical_debug_id(s: &str) -> String {
    let lower = s.trim().to_ascii_lowercase();
    let hex: String = lower
        .chars()
        .filter(|c| !matches!(c, '{' | '}' | '-'))
        .collect();
    if hex.len() < 32 || hex.len() > 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return lower;
    }
    let (g, age) = hex.split_at(32);
    let age = u32::from_str_radix(age, 16).unwrap_or(0);
    let guid = format!(
        "{}-{}-{}-{}-{}",
        &g[..8],
        &g[8..12],
        &g[12..16],
        &g[16..20],
        &g[20..]
    );
    if age == 0 {
        guid
    } else {
        format!("{guid}-{age:x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_the_stored_schema() {
        // The rows stores hold: a change here would orphan every stored artifact.
        let rows = [
            (Lookup::debug_id("ABC"), ("debug_id", "abc")),
            (Lookup::code_id("0A"), ("code_id", "0a")),
            (Lookup::build_id("B1"), ("build_id", "b1")),
            (Lookup::commit("F00"), ("commit", "f00")),
            (
                Lookup::jvm_release("shop", "1.0", None),
                ("svv", "shop\u{1f}1.0\u{1f}release"),
            ),
            (
                Lookup::jvm_release("shop", "1.0", Some("debug")),
                ("svv", "shop\u{1f}1.0\u{1f}debug"),
            ),
            (
                Lookup::legacy_jvm_release("shop", "1.0"),
                ("svv", "shop\u{1f}1.0\u{1f}"),
            ),
        ];
        for (lookup, (field, value)) in rows {
            assert_eq!(lookup.row(), (field.to_owned(), value.to_owned()));
        }
        let url = UrlKey::parse("https://cdn.example.com/static/app.min.js?v=2");
        let rows: Vec<_> = Lookup::js_file("shop", "1.0", &url)
            .iter()
            .map(Lookup::row)
            .collect();
        assert_eq!(
            rows,
            vec![
                (
                    "url".to_owned(),
                    "shop\u{1f}1.0\u{1f}cdn.example.com/static/app.min.js".to_owned()
                ),
                (
                    "path".to_owned(),
                    "shop\u{1f}1.0\u{1f}/static/app.min.js".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn debug_ids_in_every_spelling_are_one() {
        let want = "eb69e6ec-0c9c-4c1d-9d5a-7d2b8f3e1a22-2";
        for s in [
            "{EB69E6EC-0C9C-4C1D-9D5A-7D2B8F3E1A22}-2",
            "EB69E6EC0C9C4C1D9D5A7D2B8F3E1A222",
            "eb69e6ec-0c9c-4c1d-9d5a-7d2b8f3e1a22-2",
        ] {
            assert_eq!(canonical_debug_id(s), want, "{s}");
        }
        assert_eq!(canonical_code_id("{5F-3A}"), "5f3a");
    }
}
