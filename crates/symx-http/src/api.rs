//! symx's own JSON routes under `/api/symx/v1/`, what the console calls besides the vendor
//! routes (Datadog's delete and restore): who the key is, the list of any kind without the
//! filters the Datadog document requires, one artifact's details, symbolication of pasted
//! stack text, and the missing-artifact report. Keys come as `Authorization: Bearer <key>`
//! (the gate, `Style::Symx`); every answer is of the caller's tenant. Conversion only.

use axum::extract::{Path, Query, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use symx_service::{ArtifactView, Principal, Scope, ServiceError, Symx};
use symx_types::stacktrace::{self, StackLine};
use symx_types::{ArtifactKind, ErrorCode, JsFrame, JvmFrame, JvmThrowable, NativeFrame};

use crate::guard::Style;

fn error(e: &ServiceError) -> Response {
    Style::Symx.error(e)
}

fn time(ms: u64) -> Value {
    symx_types::time::format_rfc3339_ms(ms).into()
}

/// An artifact as the console shows it.
fn artifact_json(a: &ArtifactView) -> Value {
    json!({
        "id": a.id.to_string(),
        "kind": a.kind.mapkind(),
        "created_at": time(a.created_at_ms),
        "deleted_at": a.deleted_at_ms.map(time),
        "size": a.size,
        "debug_id": a.debug_id,
        "attributes": a.attributes,
        "files": a.files.iter().map(|f| json!({
            "part": f.part, "size": f.size, "sha256": f.sha256,
        })).collect::<Vec<_>>(),
    })
}

/// `GET /api/symx/v1/whoami`: the key's tenant and scopes (the console hides what a key may
/// not do; the routes refuse it anyway).
pub(crate) async fn whoami(
    State(symx): State<Symx>,
    Extension(who): Extension<Principal>,
) -> Response {
    let scopes: Vec<&str> = Scope::ALL
        .iter()
        .filter(|s| who.allows(**s))
        .map(|s| s.as_str())
        .collect();
    Json(json!({
        "tenant": who.tenant().to_string(),
        "key_id": who.key_id(),
        "scopes": scopes,
        "auth_required": symx.auth_required(),
    }))
    .into_response()
}

/// `GET /api/symx/v1/filters`: the kinds and the list filters of each (the table the list
/// routes check against), so the console offers a kind's own filters.
pub(crate) async fn filters() -> Response {
    let kinds: Vec<&str> = ArtifactKind::ALL.iter().map(|k| k.mapkind()).collect();
    let filters: Vec<Value> = symx_types::LIST_FILTERS
        .iter()
        .map(|f| {
            json!({
                "name": f.name,
                "help": f.help,
                "kinds": f.kinds.iter().map(|k| k.mapkind()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "kinds": kinds, "filters": filters })).into_response()
}

/// `GET /api/symx/v1/artifacts?kind=&filter[x]=&page_size=&page_token=&deleted=true`: newest
/// first, any kind's filters (the list table), none required.
pub(crate) async fn list(
    State(symx): State<Symx>,
    Extension(who): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut kind = None;
    let mut filters: Vec<(String, String)> = Vec::new();
    let mut query_size = None;
    let mut token = None;
    let mut deleted = false;
    for (k, v) in url::form_urlencoded::parse(raw.as_deref().unwrap_or_default().as_bytes()) {
        let (k, v) = (k.into_owned(), v.into_owned());
        match k.as_str() {
            "kind" => match ArtifactKind::from_mapkind(&v) {
                Some(found) => kind = Some(found),
                None => {
                    return error(&ServiceError::invalid(
                        "kind",
                        format!("unknown kind `{v}`"),
                    ));
                }
            },
            "page_size" => match v.parse::<u32>() {
                Ok(n) if n > 0 => query_size = Some(n.min(1000)),
                _ => {
                    return error(&ServiceError::invalid(
                        "page_size",
                        format!("page_size must be a positive integer, got `{v}`"),
                    ));
                }
            },
            "page_token" if !v.is_empty() => token = Some(v),
            "page_token" => {}
            "deleted" => deleted = v == "true",
            other => match other
                .strip_prefix("filter[")
                .and_then(|r| r.strip_suffix(']'))
            {
                Some(name) if !v.trim().is_empty() => filters.push((name.to_owned(), v)),
                Some(_) => {}
                None => {
                    return error(&ServiceError::invalid(
                        other,
                        format!("unknown query parameter `{other}`"),
                    ));
                }
            },
        }
    }
    let Some(kind) = kind else {
        return error(&ServiceError::invalid("kind", "kind is required"));
    };
    let mut query = symx_service::ListQuery::new(kind);
    for (name, value) in filters {
        if let Err(e) = query.filters.add(&name, value) {
            return error(&e);
        }
    }
    query.page_size = query_size;
    query.page_token = token;
    query.include_deleted = deleted;
    query.unscoped = true;
    match symx.list(who.tenant().clone(), query).await {
        Ok(page) => Json(json!({
            "artifacts": page.artifacts.iter().map(artifact_json).collect::<Vec<_>>(),
            "total": page.total_filtered_count,
            "next_page_token": page.next_page_token,
        }))
        .into_response(),
        Err(e) => error(&e),
    }
}

/// `GET /api/symx/v1/artifacts/{id}`: one artifact (deleted ones too), its files, and whether
/// its index is loaded in the cache.
pub(crate) async fn artifact(
    State(symx): State<Symx>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    match symx.artifact(who.tenant().clone(), &id).await {
        Ok(view) => {
            let mut v = artifact_json(&view);
            v["index_cached"] = symx
                .index_cache()
                .holds(&(who.tenant().clone(), view.id.clone()))
                .into();
            Json(v).into_response()
        }
        Err(e) => error(&e),
    }
}

/// The body of `POST /api/symx/v1/symbolicate`.
#[derive(Debug, Deserialize)]
pub(crate) struct TextRequest {
    /// Stack text as printed (every format `symx symbolicate` reads).
    text: String,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    build_id: Option<String>,
    #[serde(default)]
    explain: bool,
    #[serde(default)]
    context_lines: Option<u32>,
}

/// The stack traces of parsed lines as the service takes them (the request's release on
/// each), and each line's slot.
fn traces_of(
    lines: &[StackLine],
    req: &TextRequest,
) -> (Vec<symx_service::StackTrace>, Vec<stacktrace::Slot>) {
    let nonempty = |s: &Option<String>| s.clone().filter(|v| !v.trim().is_empty());
    let frame_of = |line: &&StackLine| match line {
        StackLine::Frame { frame, .. } => Some(symx_service::Frame::Js(JsFrame {
            url: frame.url.clone(),
            line: frame.line,
            column: frame.column,
            function: frame.function.clone(),
            debug_id: None,
            bytecode_offset: frame.bytecode.then_some(frame.column),
            hermes_function_id: None,
        })),
        StackLine::Native { frame, .. } => Some(symx_service::Frame::Native(NativeFrame {
            debug_id: None,
            code_id: frame.build_id.clone(),
            image_addr: 0,
            instruction_addr: frame.pc,
            exact: Some(frame.exact),
            module: Some(frame.module.clone()).filter(|m| !m.is_empty()),
        })),
        StackLine::Jvm { frame, .. } => Some(symx_service::Frame::Jvm(JvmFrame {
            class: frame.class.clone(),
            method: frame.method.clone(),
            line: frame.line,
            file: frame.file.clone(),
        })),
        StackLine::Throwable { .. } | StackLine::Text(_) => None,
    };
    let (grouped, slots) = stacktrace::group(lines);
    let traces = grouped
        .iter()
        .map(|t| symx_service::StackTrace {
            service: nonempty(&req.service),
            version: nonempty(&req.version),
            variant: nonempty(&req.variant),
            build_id: nonempty(&req.build_id),
            exception: t.exception.map(|e| JvmThrowable {
                class: e.class.clone(),
                message: e.message.clone(),
            }),
            frames: t.frames.iter().filter_map(frame_of).collect(),
            git_commit_sha: None,
            git_repository_url: None,
        })
        .collect();
    (traces, slots)
}

/// The largest stack text the console sends (a crash report with every thread).
const MAX_TEXT: usize = 4 << 20;

/// The largest request body of these routes: the text and the JSON around it.
pub(crate) const MAX_BODY: usize = MAX_TEXT + (64 << 10);

/// `POST /api/symx/v1/symbolicate`: pasted stack text, read by the CLI's parsers, resolved;
/// the answer has one entry per line of the text (a frame's answer, a throwable, or text as
/// it was).
pub(crate) async fn symbolicate(
    State(symx): State<Symx>,
    Extension(who): Extension<Principal>,
    Json(req): Json<TextRequest>,
) -> Response {
    if req.text.len() > MAX_TEXT {
        return error(&ServiceError::new(
            ErrorCode::ResourceExhausted,
            format!("text of {} bytes is larger than {MAX_TEXT}", req.text.len()),
        ));
    }
    // Parsing up to 4 MiB of text is CPU work: off the async threads.
    let read = tokio::task::spawn_blocking(move || {
        let lines = stacktrace::parse(&req.text);
        let traces = traces_of(&lines, &req);
        (lines, traces, req)
    })
    .await;
    let (lines, (traces, slots), req) = match read {
        Ok(read) => read,
        Err(e) => return error(&ServiceError::internal(format!("reading the text: {e}"))),
    };
    if traces.iter().all(|t| t.frames.is_empty()) {
        return error(&ServiceError::invalid(
            "text",
            "no stack frames found (expected V8, Firefox or Safari Error.stack text, a Hermes \
             trace, an Android tombstone, a Dart non-symbolic trace, an Apple .crash or .ips \
             report, or a Java stack trace)",
        ));
    }
    let request = symx_service::SymbolicateRequest {
        stacktraces: traces,
        context_lines: req.context_lines.unwrap_or(3).min(10),
        debug_ids: Default::default(),
        explain: req.explain,
    };
    let resp = match symx.symbolicate(who.tenant().clone(), request).await {
        Ok(r) => r,
        Err(e) => return error(&e),
    };
    let out: Vec<Value> = lines
        .iter()
        .zip(&slots)
        .map(|(line, slot)| {
            let raw = match line {
                StackLine::Frame { raw, .. }
                | StackLine::Native { raw, .. }
                | StackLine::Jvm { raw, .. }
                | StackLine::Throwable { raw, .. }
                | StackLine::Text(raw) => raw,
            };
            let mut v = json!({ "raw": raw });
            match (line, slot) {
                (StackLine::Throwable { .. }, Some((t, None))) => {
                    if let Some(Some(e)) = resp.exceptions.get(*t) {
                        v["exception"] = json!({"class": e.class, "message": e.message});
                    }
                }
                (_, Some((t, Some(f)))) => {
                    if let Some(r) = resp.stacktraces.get(*t).and_then(|s| s.get(*f)) {
                        v["result"] = result_json(r);
                    }
                }
                _ => {}
            }
            v
        })
        .collect();
    Json(json!({ "lines": out })).into_response()
}

fn result_json(r: &symx_service::FrameResult) -> Value {
    let frames: Vec<Value> = r
        .frames
        .iter()
        .map(|f| {
            json!({
                "function": f.function.clone().or_else(|| f.symbol.clone()),
                "source": f.source,
                "line": f.line,
                "column": f.column,
                "inlined": f.inlined,
                "class": f.class_name,
                "pre_context": f.pre_context,
                "context_line": f.context_line,
                "post_context": f.post_context,
                "source_link": f.source_link.as_ref().map(|l| l.url.clone()),
                "managed_source": f.managed_source,
                "managed_line": f.managed_line,
            })
        })
        .collect();
    json!({
        "status": r.status,
        "artifact_id": r.artifact_id.as_ref().map(ToString::to_string),
        "message": r.message,
        "ambiguous": r.ambiguous,
        "frames": frames,
        "reason": r.reason.map(|x| x.as_str()),
        "explanation": r.explanation.as_ref().map(|e| json!({
            "text": e.text, "candidates": e.candidates, "fix": e.fix,
        })),
    })
}

/// The query of `GET /api/symx/v1/missing`.
#[derive(Debug, Deserialize)]
pub(crate) struct MissingParams {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /api/symx/v1/missing?kind=&service=&limit=`: the missing-artifact report, newest
/// first, each entry with the upload command that would answer it.
pub(crate) async fn missing(
    State(symx): State<Symx>,
    Extension(who): Extension<Principal>,
    Query(p): Query<MissingParams>,
) -> Response {
    let kind = p.kind.filter(|k| !k.is_empty());
    if let Some(k) = &kind
        && !matches!(k.as_str(), "js" | "native" | "jvm")
    {
        return error(&ServiceError::invalid(
            "kind",
            format!("kind `{k}`: use js, native or jvm"),
        ));
    }
    let query = symx_service::MissingQuery {
        kind,
        service: p.service.filter(|s| !s.is_empty()),
        since_ms: 0,
        limit: p.limit.unwrap_or(100).clamp(1, 10_000),
    };
    match symx.list_missing(who.tenant().clone(), query).await {
        Ok((entries, total)) => {
            let missing: Vec<Value> = entries
                .iter()
                .map(|e| {
                    let k = &e.key;
                    json!({
                        "kind": k.kind, "service": k.service, "version": k.version,
                        "url": k.url, "debug_id": k.debug_id, "code_id": k.code_id,
                        "module": k.module, "variant": k.variant, "build_id": k.build_id,
                        "count": e.seen.count,
                        "first_seen": time(e.seen.first_seen_ms),
                        "last_seen": time(e.seen.last_seen_ms),
                        "fix": k.fix(),
                    })
                })
                .collect();
            Json(json!({ "missing": missing, "total": total })).into_response()
        }
        Err(e) => error(&e),
    }
}
