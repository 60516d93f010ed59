//! The Elastic APM RUM source map API (document `elastic-apm-rum-sourcemap-api.md`):
//! `POST /api/apm/sourcemaps`, `GET /api/apm/sourcemaps`, `DELETE /api/apm/sourcemaps/:id`.
//!
//! An Elastic upload is the same artifact as a Datadog `js_sourcemap` (service =
//! `service_name`, version = `service_version`, minified URL = `bundle_filepath`): it resolves
//! frames and lists in both APIs, and a Datadog upload lists here too. The Fleet artifact
//! fields are computed once, at upload, and stored beside the artifact
//! (`symx_service::fleet`): the body is
//! `{"serviceName","serviceVersion","bundleFilepath","sourceMap"}`, `decodedSha256` /
//! `decodedSize` describe that JSON, `encodedSha256` / `encodedSize` its zlib compression, and
//! the id is `apm:<service>-<version>-<decodedSha256>`. The list streams its answer one
//! artifact at a time, each with the map's JSON text as it was uploaded: listing never
//! re-encodes a map, and holds one at a time. `DELETE` takes that
//! id, or a prefix of it with at least 8 digits of the hash (the document's example uses
//! `apm:foo-1.0.0-644fd5a9`).
//!
//! Keys, `kbn-xsrf` and limits are checked before a handler runs (`guard.rs`); errors
//! are Kibana's `{"statusCode", "error", "message"}`.

use crate::guard::Style;
use axum::extract::{Extension, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures::StreamExt;
use serde_json::{Value, json};
use symx_service::fleet::FleetSummary;
use symx_service::{ArtifactView, ListQuery, Principal, ServiceError, Symx};
use symx_types::{ArtifactKind, ErrorCode, UploadMetadata, UploadType};

/// A service error as Kibana answers it.
fn service_error(e: &ServiceError) -> Response {
    Style::Elastic.error(e)
}

fn bad_request(message: impl Into<String>) -> Response {
    service_error(&ServiceError::new(ErrorCode::InvalidArgument, message))
}

fn too_large(limit: u64) -> Response {
    service_error(&ServiceError::new(
        ErrorCode::ResourceExhausted,
        format!("Payload content length greater than maximum allowed: {limit}"),
    ))
}

/// The document's artifact object, without its `body`: the Fleet fields of a stored map.
fn artifact_head(identifier: &str, fleet: &FleetSummary, created_ms: u64) -> Value {
    json!({
        "type": "sourcemap",
        "identifier": identifier,
        "relative_url": format!("/api/fleet/artifacts/{identifier}/{}", fleet.decoded_sha256),
        "created": symx_types::time::format_rfc3339_ms(created_ms),
        "id": format!("apm:{identifier}-{}", fleet.decoded_sha256),
        "compressionAlgorithm": "zlib",
        "decodedSha256": fleet.decoded_sha256,
        "decodedSize": fleet.decoded_size,
        "encodedSha256": fleet.encoded_sha256,
        "encodedSize": fleet.encoded_size,
        "encryptionAlgorithm": "none",
        "packageName": "apm",
    })
}

/// `<service>-<version>` of a listed artifact, and its service, version and bundle path.
fn identity(a: &ArtifactView) -> (String, String, String, String) {
    let attr = |k: &str| a.attributes.get(k).cloned().unwrap_or_default();
    let (service, version) = (attr("service"), attr("version"));
    (
        format!("{service}-{version}"),
        service,
        version,
        attr("minified_url"),
    )
}

/// One artifact of the list answer as JSON text, in three pieces: the Fleet fields (stored at
/// upload) and the body's head, the map as it was uploaded (its JSON text, not re-encoded nor
/// copied), and the closing braces.
async fn listed_artifact(
    symx: &Symx,
    who: &Principal,
    a: &ArtifactView,
) -> Result<[bytes::Bytes; 3], ServiceError> {
    let fleet = symx.fleet_summary(who.tenant().clone(), a).await?;
    let map = bytes::Bytes::from(
        symx.read_file(who.tenant().clone(), &a.id, "source_map")
            .await?,
    );
    let (identifier, service, version, bundle) = identity(a);
    let mut head = artifact_head(&identifier, &fleet, a.created_at_ms).to_string();
    let body_head = json!({
        "serviceName": service,
        "serviceVersion": version,
        "bundleFilepath": bundle,
    })
    .to_string();
    // Both are objects: their closing braces make way for what follows.
    head.pop();
    head.push_str(",\"body\":");
    head.push_str(&body_head[..body_head.len() - 1]);
    head.push_str(",\"sourceMap\":");
    let json = symx_service::fleet::map_json(&map);
    let skipped = map.len() - json.len();
    Ok([
        bytes::Bytes::from(head),
        map.slice(skipped..),
        bytes::Bytes::from_static(b"}}"),
    ])
}

/// Reads one text field, within what is left of the payload limit.
async fn field_text(
    field: axum::extract::multipart::Field<'_>,
    name: &str,
    budget: &mut u64,
    limit: u64,
) -> Result<Vec<u8>, Response> {
    let mut field = field;
    let mut out = Vec::new();
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                if chunk.len() as u64 > *budget {
                    return Err(too_large(limit));
                }
                *budget -= chunk.len() as u64;
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(bad_request(format!("cannot read field `{name}`: {e}"))),
        }
    }
}

/// `POST /api/apm/sourcemaps`: multipart `service_name`, `service_version`,
/// `bundle_filepath`, and `sourcemap` as a string or a file.
pub(crate) async fn upload(
    State(symx): State<Symx>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let limit = symx.config().limits.elastic_max_payload_bytes;
    if crate::datadog::content_length(&headers).is_some_and(|n| n > limit) {
        return too_large(limit);
    }
    let mut multipart = match multipart {
        Ok(m) => m,
        Err(e) => return bad_request(format!("expected a multipart/form-data body: {e}")),
    };
    let mut budget = limit;
    let (mut service, mut version, mut bundle, mut map) = (None, None, None, None);
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return bad_request(format!("malformed multipart body: {e}")),
        };
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = match field_text(field, &name, &mut budget, limit).await {
            Ok(b) => b,
            Err(resp) => return resp,
        };
        let text = || String::from_utf8(bytes.clone()).ok();
        match name.as_str() {
            "service_name" => service = text(),
            "service_version" => version = text(),
            "bundle_filepath" => bundle = text(),
            "sourcemap" => map = Some(bytes),
            other => {
                return bad_request(format!(
                    "[request body.{other}]: definition for this key is missing"
                ));
            }
        }
    }
    let mut missing = Vec::new();
    for (name, v) in [
        ("service_name", service.is_none()),
        ("service_version", version.is_none()),
        ("bundle_filepath", bundle.is_none()),
        ("sourcemap", map.is_none()),
    ] {
        if v {
            missing.push(name);
        }
    }
    let (Some(service), Some(version), Some(bundle), Some(map)) = (service, version, bundle, map)
    else {
        return bad_request(format!(
            "[request body]: missing required fields: {}",
            missing.join(", ")
        ));
    };
    let mut meta = UploadMetadata::new(UploadType::JsSourcemap);
    meta.service = Some(service.clone());
    meta.version = Some(version.clone());
    meta.minified_url = Some(bundle.clone());
    // Kibana's upload creates or updates: a new map for the same bundle replaces the old.
    meta.overwrite = true;
    let outcome = async {
        let mut session = symx
            .begin_upload(who.tenant().clone(), meta, None)
            .await?
            .map_only();
        session.write("source_map", &map).await?;
        session.finish().await
    }
    .await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            // The datadog field name means nothing to an Elastic client.
            let e = ServiceError {
                field: e.field.map(|f| {
                    if f == "source_map" {
                        "sourcemap".into()
                    } else {
                        f
                    }
                }),
                message: e.message.replace("source_map", "sourcemap"),
                ..e
            };
            return service_error(&e);
        }
    };
    let created = outcome.artifact.created_at_ms;
    // The answer carries the zlib body itself (an Elastic upload is at most
    // `limits.elastic_max_payload_bytes`); its hashes are the ones stored at upload.
    let identifier = format!("{service}-{version}");
    let encoded = tokio::task::spawn_blocking(move || {
        let body = symx_service::fleet::body(&service, &version, &bundle, &map);
        symx_service::fleet::summarize(&body)
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|r| r);
    let (fleet, encoded) = match encoded {
        Ok(f) => f,
        Err(e) => return service_error(&ServiceError::internal(format!("fleet artifact: {e}"))),
    };
    let mut answer = artifact_head(&identifier, &fleet, created);
    answer["body"] = Value::String(base64::engine::general_purpose::STANDARD.encode(&encoded));
    (StatusCode::OK, axum::Json(answer)).into_response()
}

/// Query of `GET /api/apm/sourcemaps`: `page` (1-based) and `perPage`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Page {
    page: Option<String>,
    #[serde(rename = "perPage")]
    per_page: Option<String>,
}

/// A query number in `1..=max`, or the message saying why not.
fn number(name: &str, v: Option<&str>, default: u32, max: u32) -> Result<u32, String> {
    match v {
        None => Ok(default),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(format!(
                "[request query.{name}]: expected a number between 1 and {max}, got `{s}`"
            )),
        },
    }
}

/// Every JavaScript artifact of the tenant, newest first, one page of them.
async fn js_page(
    symx: &Symx,
    who: &Principal,
    page: u32,
    size: u32,
) -> Result<Vec<ArtifactView>, ServiceError> {
    let mut q = ListQuery::new(ArtifactKind::Js);
    q.unscoped = true;
    q.page_number = Some(page);
    q.page_size = Some(size);
    Ok(symx.list(who.tenant().clone(), q).await?.artifacts)
}

/// `GET /api/apm/sourcemaps`.
pub(crate) async fn list(
    State(symx): State<Symx>,
    Extension(who): Extension<Principal>,
    query: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return bad_request("[request query]: expected `page` and `perPage`");
    };
    let (page, size) = match (
        number("page", q.page.as_deref(), 1, u32::MAX),
        number(
            "perPage",
            q.per_page.as_deref(),
            20,
            ListQuery::MAX_PAGE_SIZE,
        ),
    ) {
        (Ok(p), Ok(s)) => (p, s),
        (Err(m), _) | (_, Err(m)) => return bad_request(m),
    };
    let views = match js_page(&symx, &who, page, size).await {
        Ok(v) => v,
        Err(e) => return service_error(&e),
    };
    let is_empty = views.is_empty();
    // Streamed one artifact at a time: a page of large maps is never held whole.
    let stream = futures::stream::iter(views.into_iter().enumerate())
        .then(move |(i, a)| {
            let (symx, who) = (symx.clone(), who.clone());
            async move {
                let open = bytes::Bytes::from_static(if i == 0 { b"{\"artifacts\":[" } else { b"," });
                match listed_artifact(&symx, &who, &a).await {
                    Ok([head, map, close]) => Ok([open, head, map, close]),
                    Err(e) => {
                        // The status is sent: cutting the body is how the client learns.
                        tracing::error!(artifact = %a.id, error = %e.message, "elastic list: artifact unreadable");
                        Err(std::io::Error::other(e.message))
                    }
                }
            }
        })
        .flat_map(|parts| match parts {
            Ok(parts) => futures::stream::iter(parts.map(Ok)).left_stream(),
            Err(e) => futures::stream::once(async move { Err(e) }).right_stream(),
        });
    let tail = futures::stream::once(async move {
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(if is_empty {
            b"{\"artifacts\":[]}"
        } else {
            b"]}"
        }))
    });
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(stream.chain(tail)),
    )
        .into_response()
}

/// `DELETE /api/apm/sourcemaps/:id`.
pub(crate) async fn delete(
    State(symx): State<Symx>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    let not_found = || {
        service_error(&ServiceError::new(
            ErrorCode::NotFound,
            format!("Source map with id {id} not found"),
        ))
    };
    // apm:<service>-<version>-<sha or sha prefix>
    let Some((identifier, sha)) = id
        .strip_prefix("apm:")
        .and_then(|rest| rest.rsplit_once('-'))
        .filter(|(_, sha)| sha.len() >= 8 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
    else {
        return bad_request(format!(
            "invalid source map id `{id}`: expected apm:<service>-<version>-<sha256>"
        ));
    };
    let sha = sha.to_ascii_lowercase();
    let mut q = ListQuery::new(ArtifactKind::Js);
    q.unscoped = true;
    q.page_size = Some(ListQuery::MAX_PAGE_SIZE);
    let mut page = 1;
    let mut matches = Vec::new();
    loop {
        q.page_number = Some(page);
        let listed = match symx.list(who.tenant().clone(), q.clone()).await {
            Ok(p) => p,
            Err(e) => return service_error(&e),
        };
        for a in &listed.artifacts {
            if identity(a).0 != identifier {
                continue;
            }
            match symx.fleet_summary(who.tenant().clone(), a).await {
                Ok(f) if f.decoded_sha256.starts_with(&sha) => matches.push(a.clone()),
                Ok(_) => {}
                Err(e) => return service_error(&e),
            }
        }
        if !listed.has_more_results {
            break;
        }
        page += 1;
    }
    let target = match matches.as_slice() {
        [] => return not_found(),
        [one] => one,
        _ => {
            return bad_request(format!(
                "source map id `{id}` is ambiguous: give more digits of the hash"
            ));
        }
    };
    let attr = |k: &str| target.attributes.get(k).cloned().unwrap_or_default();
    let mut filters = symx_service::Filters::default();
    for (name, value) in [
        ("service", attr("service")),
        ("version", attr("version")),
        ("id", target.id.to_string()),
    ] {
        if let Err(e) = filters.add(name, value) {
            return service_error(&e);
        }
    }
    match symx
        .delete(who.tenant().clone(), ArtifactKind::Js, filters, false)
        .await
    {
        Ok(deleted) if !deleted.is_empty() => {
            (StatusCode::OK, axum::Json(json!({}))).into_response()
        }
        Ok(_) => not_found(),
        Err(e) => service_error(&e),
    }
}
