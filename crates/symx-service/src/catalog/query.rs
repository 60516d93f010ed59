//! What the list, get and delete calls ask for: the `filter[...]` parameters with the rules of
//! the Datadog list and delete documents, pages, and the get call's selector and answer.

use crate::catalog::view::ArtifactView;
use crate::error::{Result, ServiceError};
use crate::lookups::canonical_debug_id;
use crate::urls::UrlKey;
use std::collections::BTreeMap;
use symx_storage::ArtifactRecord;
use symx_types::{ArtifactId, ArtifactKind, Match, list_filter};

/// The `filter[...]` parameters of a list or delete, by name: the names, the kinds each
/// applies to and how it matches are [`symx_types::LIST_FILTERS`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    values: BTreeMap<&'static str, Vec<String>>,
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
    /// The [`ListPage::next_page_token`] of the previous page: the page starts after the last
    /// artifact of that one in the listing's order, whatever was uploaded meanwhile. Not
    /// together with `page_number`.
    pub page_token: Option<String>,
}

/// Where a page ends in the listing's order (newest first, then by id): the token of the
/// next page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub created_at_ms: u64,
    pub id: String,
}

impl Cursor {
    pub(crate) fn of(view: &ArtifactView) -> Self {
        Self {
            created_at_ms: view.created_at_ms,
            id: view.id.to_string(),
        }
    }

    pub(crate) fn token(&self) -> String {
        format!("{:x}.{}", self.created_at_ms, self.id)
    }

    pub(crate) fn parse(token: &str) -> Result<Self> {
        let bad = || {
            ServiceError::invalid(
                "page_token",
                format!("page_token `{token}` is not a token this server gave"),
            )
        };
        let (ms, id) = token.split_once('.').ok_or_else(bad)?;
        let created_at_ms = u64::from_str_radix(ms, 16).map_err(|_| bad())?;
        ArtifactId::parse(id).map_err(|_| bad())?;
        Ok(Self {
            created_at_ms,
            id: id.to_owned(),
        })
    }

    /// Whether `view` comes after this cursor in the listing's order.
    pub(crate) fn precedes(&self, view: &ArtifactView) -> bool {
        view.created_at_ms < self.created_at_ms
            || (view.created_at_ms == self.created_at_ms && view.id.as_str() > self.id.as_str())
    }
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
            page_token: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPage {
    pub artifacts: Vec<ArtifactView>,
    pub total_filtered_count: u64,
    pub has_more_results: bool,
    /// When artifacts follow: the token of the next page ([`ListQuery::page_token`]).
    pub next_page_token: Option<String>,
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
    /// Adds a value of filter `name` (a filter that takes one value keeps the last given).
    /// An unknown name is refused, naming the parameter.
    pub fn add(&mut self, name: &str, value: impl Into<String>) -> Result<()> {
        let filter = list_filter(name).ok_or_else(|| {
            ServiceError::invalid(param(name), format!("unknown filter `{}`", param(name)))
        })?;
        let values = self.values.entry(filter.name).or_default();
        if !filter.repeated {
            values.clear();
        }
        values.push(value.into());
        Ok(())
    }

    /// Adds a value of a filter this crate names (a name of [`symx_types::LIST_FILTERS`]).
    pub(crate) fn with(mut self, name: &'static str, value: &str) -> Self {
        if let Some(f) = list_filter(name) {
            self.values
                .entry(f.name)
                .or_default()
                .push(value.to_owned());
        }
        self
    }

    /// The values given of filter `name` (empty: not given).
    pub fn values(&self, name: &str) -> &[String] {
        self.values.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    /// The filters given, by name.
    pub(crate) fn given(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.values
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, _)| *k)
    }

    /// Checks the rules of the documents: required filters per kind, supported filters.
    pub fn check(&self, kind: ArtifactKind) -> Result<()> {
        self.check_fields(kind, kind.requires_service_and_version())
    }

    pub(crate) fn check_fields(
        &self,
        kind: ArtifactKind,
        require_service_and_version: bool,
    ) -> Result<()> {
        for name in self.given() {
            if !list_filter(name).is_some_and(|f| f.kinds.contains(&kind)) {
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
            for name in ["service", "version"] {
                if self.values(name).is_empty() {
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
        for id in self.values("id") {
            ArtifactId::parse(id).map_err(|e| ServiceError::invalid(param("id"), e.message))?;
        }
        Ok(())
    }

    /// Whether a record passes every filter given (any value of a filter may match).
    pub(crate) fn matches(&self, rec: &ArtifactRecord) -> bool {
        self.values.iter().all(|(name, wants)| {
            let Some(filter) = list_filter(name) else {
                return false;
            };
            let have = record_value(name, rec);
            wants
                .iter()
                .any(|want| matches(filter.matcher, rec, have, want))
        })
    }
}

/// The value of an artifact that filter `name` compares with.
fn record_value<'a>(name: &str, rec: &'a ArtifactRecord) -> Option<&'a str> {
    let m = &rec.metadata;
    match name {
        "service" => m.service.as_deref(),
        "version" => m.version.as_deref(),
        "variant" => m.variant.as_deref(),
        "id" => Some(rec.id.as_str()),
        "build_id" => m.build_id.as_deref(),
        "uuid" => m.uuids.as_deref(),
        "platform" => m.platform.as_deref(),
        "build_number" => m.build_number.as_deref(),
        "bundle_name" => m.bundle_name.as_deref(),
        "arch" => m.arch.as_deref(),
        "symbol_source" => m.symbol_source.as_deref(),
        "origin" => m.origin.as_deref(),
        "origin_version" => m.origin_version.as_deref(),
        "filename" => m.filename.as_deref(),
        "debug_id" => m.debug_id.as_deref().or(rec.debug_id.as_deref()),
        "gnu_build_id" => m.gnu_build_id.as_deref(),
        "go_build_id" => m.go_build_id.as_deref(),
        "file_hash" => m.file_hash.as_deref(),
        _ => None,
    }
}

/// Whether `have` (the artifact's value) matches `want` (a filter value) by `matcher`.
fn matches(matcher: Match, rec: &ArtifactRecord, have: Option<&str>, want: &str) -> bool {
    // Identifiers in any common spelling: braces, dashes or none, any case.
    let hex = |s: &str| -> String {
        s.chars()
            .filter(char::is_ascii_hexdigit)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    match matcher {
        Match::Exact => have == Some(want),
        Match::IgnoreCase => have.is_some_and(|h| h.eq_ignore_ascii_case(want)),
        Match::Hex => have.is_some_and(|h| h.split(',').any(|x| hex(x) == hex(want))),
        Match::DebugId => have.is_some_and(|h| canonical_debug_id(h) == canonical_debug_id(want)),
        Match::File => filename_matches(rec, want),
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
