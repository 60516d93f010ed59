//! JavaScript frames (browsers, Node, React Native, Hermes bytecode): the source map by the
//! frame's debug id, else by its stack trace's service and version and the frame's URL (full
//! URL, then path suffixes); then the lookup in the `SYMXJSIX` index.

use crate::error::Result;
use crate::indexes::Indexes;
use crate::indexes::cache::{LoadedIndex, ResolveKey};
use crate::lookups::{JS_KINDS, Lookup};
use crate::resolve::request::{Found, FrameResult, StackTrace, SymbolicateRequest};
use crate::urls::UrlKey;
use std::collections::HashMap;
use symx_sourcemap::{JsIndex, Miss};
use symx_types::{ArtifactId, FrameStatus, JsFrame, Tenant};

/// Within a request, each distinct (debug id, URL, stack trace when matched by URL) is found
/// once.
pub(crate) type JsMemo<'r> = HashMap<(Option<&'r str>, &'r str, usize), Found>;

/// Resolves JavaScript frame `f` of stack trace `si`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn resolve<'r>(
    indexes: &Indexes,
    tenant: &Tenant,
    request: &'r SymbolicateRequest,
    st: &'r StackTrace,
    si: usize,
    f: &'r JsFrame,
    context: u32,
    memo: &mut JsMemo<'r>,
) -> FrameResult {
    if f.bytecode_offset.is_none() && (f.line == 0 || f.column == 0) {
        return FrameResult::miss(
            FrameStatus::InvalidFrame,
            None,
            "line and column are 1-based; 0 is not a position",
        );
    }
    let debug_id = f
        .debug_id
        .as_deref()
        .filter(|d| !d.is_empty())
        .or_else(|| request.debug_ids.get(&f.url).map(String::as_str));
    if debug_id.is_none()
        && let Some(why) = crate::urls::never_mapped(&f.url)
    {
        return FrameResult::miss(FrameStatus::Skipped, None, why);
    }
    if debug_id.is_none() && f.url.is_empty() {
        return FrameResult::miss(
            FrameStatus::InvalidFrame,
            None,
            "the frame has no URL and no debug id",
        );
    }
    // Frames matched by URL depend on their stack trace's service and version.
    let scope = if debug_id.is_some() { usize::MAX } else { si };
    let found = memo
        .entry((debug_id, f.url.as_str(), scope))
        .or_insert_with(|| find(indexes, tenant, debug_id, st, &f.url));
    found.answer(|id, index| match index {
        LoadedIndex::Js(js) => resolve_in(js, id, f, context),
        _ => FrameResult::miss(
            FrameStatus::MalformedArtifact,
            Some(id.clone()),
            "the debug id names another kind of artifact, not a source map",
        ),
    })
}

fn find(
    indexes: &Indexes,
    tenant: &Tenant,
    debug_id: Option<&str>,
    st: &StackTrace,
    url: &str,
) -> Found {
    if let Some(d) = debug_id {
        let d = d.to_ascii_lowercase();
        return Found::of(indexes, tenant, indexes.js_by_debug_id(tenant, &d), || {
            format!("no source map has debug id {d}")
        });
    }
    let (Some(service), Some(version)) = (
        st.service.as_deref().filter(|s| !s.is_empty()),
        st.version.as_deref().filter(|s| !s.is_empty()),
    ) else {
        return Found::Missing(
            "the frame has no debug id and its stack trace no service and version".into(),
        );
    };
    let key = UrlKey::parse(url);
    let stripped = format!("{}{}", key.host.as_deref().unwrap_or_default(), key.path);
    let id = indexes.resolves.get_or_resolve(
        ResolveKey::JsUrl(
            tenant.clone(),
            service.to_owned(),
            version.to_owned(),
            stripped,
        ),
        || by_url(indexes, tenant, service, version, &key),
    );
    Found::of(indexes, tenant, id, || {
        format!("no source map for {url} in service {service} version {version}")
    })
}

/// The source map of a minified file by its full URL, else by the longest suffix of its path
/// that a map of the release was uploaded under.
fn by_url(
    indexes: &Indexes,
    tenant: &Tenant,
    service: &str,
    version: &str,
    key: &UrlKey,
) -> Result<Option<ArtifactId>> {
    if let Some(full) = key.full() {
        let lookup = Lookup::JsUrl {
            service: service.to_owned(),
            version: version.to_owned(),
            url: full,
        };
        if let Some(id) = indexes.first_of(tenant, JS_KINDS, &lookup)? {
            return Ok(Some(id));
        }
    }
    for suffix in key.path_suffixes() {
        let lookup = Lookup::JsPath {
            service: service.to_owned(),
            version: version.to_owned(),
            path: suffix.to_owned(),
        };
        if let Some(id) = indexes.first_of(tenant, JS_KINDS, &lookup)? {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

fn resolve_in(js: &JsIndex<Vec<u8>>, id: &ArtifactId, f: &JsFrame, context: u32) -> FrameResult {
    let answer = match f.bytecode_offset {
        Some(offset) => js.resolve_bytecode(f.line, f.hermes_function_id, offset, context),
        None => js.resolve(f.line, f.column, context),
    };
    match answer {
        Ok(frame) => FrameResult {
            status: FrameStatus::Resolved,
            artifact_id: Some(id.clone()),
            message: None,
            frames: vec![frame],
            ambiguous: false,
            reason: None,
            explanation: None,
        },
        Err(Miss::LineOutOfRange) => FrameResult::miss(
            FrameStatus::OutOfRange,
            Some(id.clone()),
            format!(
                "line {} is past the end of the minified file ({} lines)",
                f.line,
                js.line_count()
            ),
        ),
        Err(Miss::Unmapped) => FrameResult::miss(
            FrameStatus::OutOfRange,
            Some(id.clone()),
            match f.bytecode_offset {
                Some(offset) => match f.hermes_function_id {
                    Some(func) => {
                        format!("nothing is mapped at bytecode offset {offset} of function {func}")
                    }
                    None => format!("nothing is mapped at bytecode offset {offset}"),
                },
                None => format!("nothing is mapped at line {} column {}", f.line, f.column),
            },
        ),
        Err(Miss::UnknownFunction) => FrameResult::miss(
            FrameStatus::InvalidFrame,
            Some(id.clone()),
            format!(
                "Hermes function {} is not in segment {} of the map's x_hermes_function_offsets ({} functions)",
                f.hermes_function_id.unwrap_or_default(),
                f.line.max(1) - 1,
                js.hermes_function_count(f.line.max(1) - 1)
            ),
        ),
    }
}
