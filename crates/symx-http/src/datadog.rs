//! The Datadog v2 intake: `POST /api/v2/srcmap` (document `datadog-upload-sourcemaps.md`), as
//! datadog-ci and curl send it: `multipart/form-data` with the JSON `event` part first, then
//! the file parts, optionally gzip-compressed as a whole (`Content-Encoding: gzip`).
//!
//! Parts are streamed into an upload session (spooled to disk, never whole in memory); the
//! size limit answers 413 as soon as `Content-Length` or the stream passes it. Most clients
//! send `event` first; file parts that come before it (datadog-ci's `dsyms upload` does that)
//! wait in temporary files and are replayed into the session once the event arrives. Errors are the
//! document's `{"errors": ["..."]}` with its status codes.
//!
//! Keys, scopes and limits are checked before a handler runs (`guard.rs`); handlers act
//! for the caller's tenant.

use crate::event::UploadEvent;
use crate::guard::Style;
use axum::extract::{Extension, Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use symx_service::{Principal, ServiceError, Symx};
use symx_types::{ErrorCode, UploadMetadata};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// The upload's status of an error code: the one mapping, narrowed to the statuses the upload
/// document names (it has no 409: an identity conflict is a 400, as datadog-ci expects).
pub(crate) fn upload_status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::AlreadyExists => StatusCode::BAD_REQUEST,
        other => crate::status_of(other),
    }
}

/// A service error as the upload document's status and body.
pub(crate) fn service_error(e: &ServiceError) -> Response {
    Style::DatadogIntake.error(e)
}

fn bad_request(msg: impl Into<String>) -> Response {
    service_error(&ServiceError::new(ErrorCode::InvalidArgument, msg))
}

/// An upload past `limits.max_upload_bytes`.
fn too_large(n: u64, limit: u64) -> Response {
    service_error(&ServiceError::new(
        ErrorCode::ResourceExhausted,
        format!("upload of {n} bytes exceeds the limit of {limit} bytes"),
    ))
}

/// Waits for `fut` at most `idle` (`limits.upload_idle_secs`): a client that sends nothing for
/// that long is cut with 408, and its session (spool included) is dropped.
async fn idle_bound<F: std::future::Future>(
    idle: std::time::Duration,
    fut: F,
) -> Result<F::Output, Response> {
    tokio::time::timeout(idle, fut).await.map_err(|_| {
        service_error(&ServiceError::new(
            ErrorCode::DeadlineExceeded,
            format!(
                "the upload sent nothing for {} s (limits.upload_idle_secs)",
                idle.as_secs()
            ),
        ))
    })
}

/// The most an upload's `event` part may hold: its fields are bounded by the upload
/// document (at most 2,048 characters each), so 64 KiB is far more than any real event.
const MAX_EVENT_BYTES: usize = 64 << 10;

/// Writes a part that arrived before the event into the session.
async fn replay(
    session: &mut symx_service::UploadSession,
    part: &str,
    mut file: tokio::fs::File,
) -> Result<(), ServiceError> {
    let internal = |e: std::io::Error| ServiceError::internal(format!("spool: {e}"));
    file.seek(std::io::SeekFrom::Start(0))
        .await
        .map_err(internal)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).await.map_err(internal)?;
        if n == 0 {
            return Ok(());
        }
        session.write(part, &buf[..n]).await?;
    }
}

/// The body length a request declares (`Content-Length`), if any.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// `POST /api/v2/srcmap`.
pub(crate) async fn upload(
    State(symx): State<Symx>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let limit = symx.config().limits.max_upload_bytes;
    let declared = content_length(&headers);
    // A gzip body's length says nothing of what it expands to; the stream check covers it.
    let compressed = headers.contains_key(header::CONTENT_ENCODING);
    if let Some(n) = declared.filter(|n| !compressed && *n > limit) {
        return too_large(n, limit);
    }
    let mut multipart = match multipart {
        Ok(m) => m,
        Err(e) => return bad_request(format!("expected a multipart/form-data body: {e}")),
    };
    let mut session: Option<symx_service::UploadSession> = None;
    let idle = std::time::Duration::from_secs(symx.config().limits.upload_idle_secs);
    // File parts seen before the event: (name, temporary file, size).
    let mut early: Vec<(String, tokio::fs::File, u64)> = Vec::new();
    let mut early_bytes = 0u64;
    loop {
        let field = match idle_bound(idle, multipart.next_field()).await {
            Err(timed_out) => return timed_out,
            Ok(Ok(Some(f))) => f,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => return bad_request(format!("malformed multipart body: {e}")),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "event" {
            if session.is_some() {
                return bad_request("Invalid field: event: given twice");
            }
            // The event is a small JSON object (27 fields of at most 2,048 characters): read
            // within a bound, never whole whatever its size.
            let mut field = field;
            let mut bytes = Vec::new();
            loop {
                let next = match idle_bound(idle, field.chunk()).await {
                    Ok(next) => next,
                    Err(timed_out) => return timed_out,
                };
                match next {
                    Ok(Some(c)) if bytes.len() + c.len() > MAX_EVENT_BYTES => {
                        return bad_request(format!(
                            "Invalid field: event: larger than {MAX_EVENT_BYTES} bytes"
                        ));
                    }
                    Ok(Some(c)) => bytes.extend_from_slice(&c),
                    Ok(None) => break,
                    Err(e) => return bad_request(format!("cannot read the event part: {e}")),
                }
            }
            let meta: UploadMetadata = match serde_json::from_slice::<UploadEvent>(&bytes) {
                Ok(event) => event.into(),
                Err(e) => return bad_request(format!("Invalid field: event: {e}")),
            };
            let mut s = match symx.begin_upload(who.tenant().clone(), meta, None).await {
                Ok(s) => s,
                Err(e) => return service_error(&e),
            };
            for (part, file, _) in early.drain(..) {
                if let Err(e) = replay(&mut s, &part, file).await {
                    return service_error(&e);
                }
            }
            session = Some(s);
            continue;
        }
        let mut field = field;
        let Some(s) = session.as_mut() else {
            // Before the event: to a temporary file, within the same limit.
            let file = match tempfile::tempfile() {
                Ok(f) => tokio::fs::File::from_std(f),
                Err(e) => {
                    return service_error(&ServiceError::internal(format!("spool: {e}")));
                }
            };
            let mut file = file;
            let mut size = 0u64;
            loop {
                let next = match idle_bound(idle, field.chunk()).await {
                    Ok(next) => next,
                    Err(timed_out) => return timed_out,
                };
                match next {
                    Ok(Some(chunk)) => {
                        early_bytes += chunk.len() as u64;
                        if early_bytes > limit {
                            return too_large(early_bytes, limit);
                        }
                        size += chunk.len() as u64;
                        if let Err(e) = file.write_all(&chunk).await {
                            return service_error(&ServiceError::internal(format!("spool: {e}")));
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return bad_request(format!("cannot read part `{name}`: {e}")),
                }
            }
            early.push((name, file, size));
            continue;
        };
        loop {
            let next = match idle_bound(idle, field.chunk()).await {
                Ok(next) => next,
                Err(timed_out) => return timed_out,
            };
            match next {
                Ok(Some(chunk)) => {
                    if let Err(e) = s.write(&name, &chunk).await {
                        return service_error(&e);
                    }
                }
                Ok(None) => break,
                Err(e) => return bad_request(format!("cannot read part `{name}`: {e}")),
            }
        }
    }
    let Some(session) = session else {
        return bad_request("Missing required field: event");
    };
    match session.finish().await {
        Ok(outcome) => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({
                "data": {"id": outcome.artifact.id.to_string(), "type": "sourcemap_upload"}
            })),
        )
            .into_response(),
        Err(e) => service_error(&e),
    }
}

/// A JSON:API error object list, as the list/delete documents show them.
/// A service error as the API documents' status and JSON:API body (a restore over an
/// identity another artifact took meanwhile is a 409).
fn api_service_error(e: &ServiceError) -> Response {
    Style::DatadogApi.error(e)
}

/// A query parameter at fault, as the API documents answer it.
fn api_bad_parameter(parameter: &str, detail: impl Into<String>) -> Response {
    api_service_error(&ServiceError::invalid(parameter, detail))
}

/// The list query of `GET /api/v2/sourcemaps/list`: repeated `filter[x]` keys, `page[size]`,
/// `page[number]`, `mapkind` (default `js`). Unknown parameters are refused by name.
/// A query parameter at fault: (parameter, detail).
type BadParameter = (String, String);

/// Which route a query is for: what it accepts beyond the filters.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    /// `mapkind` (default js), `page[size]`, `page[number]`.
    List,
    /// `mapkind` and `dry_run`, both required.
    Delete,
}

fn list_query(raw: &str) -> Result<symx_service::ListQuery, BadParameter> {
    query(raw, Route::List).map(|(q, _)| q)
}

fn query(raw: &str, route: Route) -> Result<(symx_service::ListQuery, bool), BadParameter> {
    use symx_types::ArtifactKind;
    let bad = |p: &str, d: String| (p.to_owned(), d);
    let mut kind = ArtifactKind::Js;
    let mut kind_given = false;
    let mut dry_run: Option<bool> = None;
    let mut f = symx_service::Filters::default();
    let (mut size, mut number) = (None, None);
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        let (k, v) = (k.as_ref(), v.into_owned());
        let num = |v: &str| {
            v.parse::<u32>()
                .map_err(|_| bad(k, format!("{k} must be a positive integer, got `{v}`")))
        };
        match k {
            "dry_run" if route == Route::Delete => {
                dry_run = Some(match v.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad(k, format!("dry_run must be true or false, got `{v}`"))),
                })
            }
            "page[size]" | "page[number]" if route == Route::Delete => {
                return Err(bad(k, format!("{k} is not a parameter of this endpoint")));
            }
            "mapkind" => {
                kind_given = true;
                kind = ArtifactKind::from_mapkind(&v).ok_or_else(|| {
                bad(
                    k,
                    format!(
                        "mapkind `{v}` is not one of js, jvm, ios, react, flutter, elf, ndk, il2cpp"
                    ),
                )
            })?
            }
            "page[size]" => size = Some(num(&v)?),
            "page[number]" => number = Some(num(&v)?),
            filter if filter.starts_with("filter[") && filter.ends_with(']') => {
                let name = &filter["filter[".len()..filter.len() - 1];
                f.add(name, v).map_err(|e| {
                    let parameter = e.field.clone().unwrap_or_else(|| filter.to_owned());
                    (parameter, e.message)
                })?;
            }
            other => return Err(bad(other, format!("unknown query parameter `{other}`"))),
        }
    }
    if route == Route::Delete {
        if !kind_given {
            return Err(bad("mapkind", "Missing required parameter: mapkind".into()));
        }
        if dry_run.is_none() {
            return Err(bad("dry_run", "Missing required parameter: dry_run".into()));
        }
    }
    Ok((
        symx_service::ListQuery {
            kind,
            page_size: size,
            page_number: number,
            filters: f,
            include_deleted: false,
            unscoped: false,
            page_token: None,
        },
        dry_run.unwrap_or(true),
    ))
}

/// One artifact as the list and delete documents show it.
fn view(a: &symx_service::ArtifactView) -> serde_json::Value {
    let mut attributes = serde_json::Map::new();
    for (k, v) in &a.attributes {
        attributes.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    attributes.insert("mapkind".into(), a.kind.mapkind().into());
    attributes.insert("size".into(), a.size.into());
    attributes.insert(
        "created_at".into(),
        symx_types::time::format_rfc3339_ms(a.created_at_ms).into(),
    );
    if let Some(d) = &a.debug_id {
        attributes
            .entry("debug_id")
            .or_insert_with(|| serde_json::Value::String(d.clone()));
    }
    serde_json::json!({"id": a.id.to_string(), "type": "sourcemaps", "attributes": attributes})
}

/// `DELETE /api/v2/sourcemaps` (document `datadog-delete-sourcemaps.md`): soft delete (or a dry
/// run) of what the filters match, at most 10 versions; the affected artifacts are returned.
pub(crate) async fn delete(
    State(symx): State<Symx>,
    Extension(who): Extension<Principal>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    let (q, dry_run) = match query(raw.as_deref().unwrap_or_default(), Route::Delete) {
        Ok(q) => q,
        Err((parameter, detail)) => {
            return api_bad_parameter(&parameter, detail);
        }
    };
    match symx
        .delete(who.tenant().clone(), q.kind, q.filters, dry_run)
        .await
    {
        Ok(views) => {
            let data: Vec<serde_json::Value> = views.iter().map(view).collect();
            axum::Json(serde_json::json!({ "data": data })).into_response()
        }
        Err(e) => api_service_error(&e),
    }
}

/// `POST /api/v2/sourcemaps/restore?filter[id]=...`: soft-deleted artifacts come back (until
/// they are purged); the restored artifacts are returned as the delete route lists them.
pub(crate) async fn restore(
    State(symx): State<Symx>,
    Extension(who): Extension<Principal>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    let mut ids = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw.as_deref().unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "filter[id]" => ids.push(v.into_owned()),
            other => {
                return api_bad_parameter(other, format!("unknown query parameter `{other}`"));
            }
        }
    }
    if ids.is_empty() {
        return api_bad_parameter("filter[id]", "Missing required parameter: filter[id]");
    }
    match symx.restore(who.tenant().clone(), ids, false).await {
        Ok(views) => {
            let data: Vec<serde_json::Value> = views.iter().map(view).collect();
            axum::Json(serde_json::json!({ "data": data })).into_response()
        }
        Err(e) => api_service_error(&e),
    }
}

/// `GET /api/v2/sourcemaps?filename=&service=&version=` (document
/// `datadog-get-js-sourcemap.md`): a JS source map's fields and its minified line lengths.
pub(crate) async fn get_sourcemap(
    State(symx): State<Symx>,
    Extension(who): Extension<Principal>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    let (mut filename, mut service, mut version) = (None, None, None);
    for (k, v) in url::form_urlencoded::parse(raw.as_deref().unwrap_or_default().as_bytes()) {
        let v = Some(v.into_owned());
        match k.as_ref() {
            "filename" => filename = v,
            "service" => service = v,
            "version" => version = v,
            other => {
                return api_bad_parameter(other, format!("unknown query parameter `{other}`"));
            }
        }
    }
    let mut missing = None;
    for (name, value) in [
        ("filename", &filename),
        ("service", &service),
        ("version", &version),
    ] {
        if value.as_deref().is_none_or(str::is_empty) && missing.is_none() {
            missing = Some(name);
        }
    }
    if let Some(name) = missing {
        return api_bad_parameter(name, format!("Missing required parameter: {name}"));
    }
    let selector = symx_service::SourceMapSelector::File {
        filename: filename.unwrap_or_default(),
        service: service.unwrap_or_default(),
        version: version.unwrap_or_default(),
    };
    match symx.get_sourcemap(who.tenant().clone(), selector).await {
        Ok(f) => axum::Json(serde_json::json!({
            "data": {
                "attributes": {
                    "file": f.file,
                    "mappings": f.mappings,
                    "minifiedLineLengths": f.minified_line_lengths,
                    "names": f.names,
                    "sourceRoot": f.source_root,
                    "sources": f.sources,
                    "sourcesContent": f.sources_content,
                    "version": f.version,
                },
                "id": f.id,
                "type": "sourcemap_files",
            }
        }))
        .into_response(),
        Err(e) => api_service_error(&e),
    }
}

/// `GET /api/v2/sourcemaps/list` (document `datadog-list-sourcemaps.md`).
pub(crate) async fn list(
    State(symx): State<Symx>,
    Extension(who): Extension<Principal>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    let query = match list_query(raw.as_deref().unwrap_or_default()) {
        Ok(q) => q,
        Err((parameter, detail)) => {
            return api_bad_parameter(&parameter, detail);
        }
    };
    let page = match symx.list(who.tenant().clone(), query).await {
        Ok(p) => p,
        Err(e) => return api_service_error(&e),
    };
    let data: Vec<serde_json::Value> = page.artifacts.iter().map(view).collect();
    axum::Json(serde_json::json!({
        "data": data,
        "meta": {"page": {
            "has_more_results": page.has_more_results,
            "total_filtered_count": page.total_filtered_count,
        }},
    }))
    .into_response()
}
