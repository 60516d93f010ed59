//! The list filters: one table ([`LIST_FILTERS`]) that the catalog matches with, the gRPC edge
//! and the Datadog query parser read names from, and the CLI builds its flags from.
//!
//! A filter is the `filter[<name>]` parameter of the Datadog list and delete documents (and
//! the `Filter.name` of the gRPC API); values of one filter are alternatives (any matches),
//! filters together must all match.

use crate::ArtifactKind;
use crate::ArtifactKind::*;

/// How a filter's values are compared with an artifact's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// Equal, byte for byte.
    Exact,
    /// Equal ignoring ASCII case (build ids, hashes).
    IgnoreCase,
    /// The same hex digits, whatever the braces, dashes or case (UUIDs of a dSYM: any of the
    /// artifact's comma-separated UUIDs).
    Hex,
    /// The same debug id in any common spelling (braces, dashes, case, glued age).
    DebugId,
    /// A JavaScript file by its URL, path, a path suffix at a `/`, or its file name, with or
    /// without `.map`; native files by their exact file name.
    File,
}

/// One list filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListFilter {
    /// The parameter name: `filter[<name>]`, the gRPC `Filter.name`, the CLI's `--<name>`
    /// (with `-` for `_`).
    pub name: &'static str,
    /// Whether several values may be given (any of them matches); else at most one.
    pub repeated: bool,
    /// The kinds it applies to (the documents' tables; `pe` and `repository` are ours).
    pub kinds: &'static [ArtifactKind],
    pub matcher: Match,
    /// What it selects, for help texts.
    pub help: &'static str,
}

const ALL_KINDS: &[ArtifactKind] = &ArtifactKind::ALL;

/// Every list filter, in the documents' order.
pub const LIST_FILTERS: &[ListFilter] = &[
    ListFilter {
        name: "service",
        repeated: true,
        kinds: &[Js, Jvm, React, Flutter],
        matcher: Match::Exact,
        help: "the service the artifact was uploaded for",
    },
    ListFilter {
        name: "version",
        repeated: true,
        kinds: &[Js, Jvm, React, Flutter],
        matcher: Match::Exact,
        help: "the release version",
    },
    ListFilter {
        name: "variant",
        repeated: true,
        kinds: &[Jvm],
        matcher: Match::Exact,
        help: "the build variant of a JVM mapping",
    },
    ListFilter {
        name: "id",
        repeated: true,
        kinds: ALL_KINDS,
        matcher: Match::Exact,
        help: "the artifact id",
    },
    ListFilter {
        name: "build_id",
        repeated: true,
        kinds: &[Jvm, Ndk, Il2cpp],
        matcher: Match::Exact,
        help: "the build id stated at upload",
    },
    ListFilter {
        name: "uuid",
        repeated: true,
        kinds: &[Ios],
        matcher: Match::Hex,
        help: "a Mach-O UUID of a dSYM archive",
    },
    ListFilter {
        name: "platform",
        repeated: true,
        kinds: &[React],
        matcher: Match::Exact,
        help: "the React Native platform (ios, android)",
    },
    ListFilter {
        name: "build_number",
        repeated: true,
        kinds: &[React],
        matcher: Match::Exact,
        help: "the React Native build number",
    },
    ListFilter {
        name: "bundle_name",
        repeated: true,
        kinds: &[React],
        matcher: Match::Exact,
        help: "the React Native bundle name",
    },
    ListFilter {
        name: "arch",
        repeated: true,
        kinds: &[Flutter, Elf, Ndk, Pe],
        matcher: Match::Exact,
        help: "the architecture",
    },
    ListFilter {
        name: "symbol_source",
        repeated: true,
        kinds: &[Elf],
        matcher: Match::Exact,
        help: "where the symbols come from (debug_info, symbol_table, ...)",
    },
    ListFilter {
        name: "origin",
        repeated: true,
        kinds: &[Elf, Pe],
        matcher: Match::Exact,
        help: "the package the file came from",
    },
    ListFilter {
        name: "origin_version",
        repeated: true,
        kinds: &[Elf, Pe],
        matcher: Match::Exact,
        help: "the version of that package",
    },
    ListFilter {
        name: "filename",
        repeated: false,
        kinds: &[Js, Elf, Ndk, Pe],
        matcher: Match::File,
        help: "a JavaScript file's URL, path or file name; a native file's name",
    },
    ListFilter {
        name: "debug_id",
        repeated: false,
        kinds: &[React],
        matcher: Match::DebugId,
        help: "the debug id of a React Native map",
    },
    ListFilter {
        name: "gnu_build_id",
        repeated: false,
        kinds: &[Elf],
        matcher: Match::IgnoreCase,
        help: "the GNU build id",
    },
    ListFilter {
        name: "go_build_id",
        repeated: false,
        kinds: &[Elf],
        matcher: Match::IgnoreCase,
        help: "the Go build id",
    },
    ListFilter {
        name: "file_hash",
        repeated: false,
        kinds: &[Elf],
        matcher: Match::IgnoreCase,
        help: "the file hash of an ELF file without build id",
    },
];

/// The filter named `name`, if there is one.
pub fn list_filter(name: &str) -> Option<&'static ListFilter> {
    LIST_FILTERS.iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_kind_has_id() {
        for (i, f) in LIST_FILTERS.iter().enumerate() {
            assert!(
                LIST_FILTERS[i + 1..].iter().all(|g| g.name != f.name),
                "{} twice",
                f.name
            );
            assert_eq!(list_filter(f.name), Some(f));
        }
        for kind in ArtifactKind::ALL {
            assert!(list_filter("id").is_some_and(|f| f.kinds.contains(&kind)));
            if kind.requires_service_and_version() {
                for name in ["service", "version"] {
                    assert!(
                        list_filter(name).is_some_and(|f| f.kinds.contains(&kind)),
                        "{kind:?} requires {name} but cannot be filtered by it"
                    );
                }
            }
        }
        assert_eq!(list_filter("nope"), None);
    }
}
