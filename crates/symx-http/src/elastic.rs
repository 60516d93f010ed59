//! The Elastic APM RUM source map API (document `elastic-apm-rum-sourcemap-api.md`):
//! `POST /api/apm/sourcemaps`, `GET /api/apm/sourcemaps`, `DELETE /api/apm/sourcemaps/:id`.
//!
//! An Elastic upload is the same artifact as a Datadog `js_sourcemap` (service =
//! `service_name`, version = `service_version`, minified URL = `bundle_filepath`): it resolves
//! frames and lists in both APIs, and a Datadog upload lists here too. The Fleet artifact
//! fields are computed from what is stored: the body is
//! `{"serviceName","serviceVersion","bundleFilepath","sourceMap"}` (the map as uploaded),
//! `decodedSha256`/`decodedSize` describe that JSON, `encodedSha256`/`encodedSize` its zlib
//! compression, and the id is `apm:<service>-<version>-<decodedSha256>`. `DELETE` takes that
//! id, or a prefix of it with at least 8 digits of the hash (the document's example uses
//! `apm:foo-1.0.0-644fd5a9`).
//!
//! Keys, `kbn-xsrf` and limits are checked before a handler runs (`guard.rs`); errors
//! are Kibana's `{"statusCode", "error", "message"}`.

use crate::guard::elastic_error;
use axum::extract::{Extension, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Write;
use symx_service::{ArtifactView, ListQuery, Principal, ServiceError, Symx};
use symx_types::{ArtifactKind, ErrorCode, UploadMetadata, UploadType};

fn service_error(e: &ServiceError) -> Response {
    let status = match e.code {
        ErrorCode::InvalidArgument | ErrorCode::FailedPrecondition => StatusCode::BAD_REQUEST,
        ErrorCode::AlreadyExists => StatusCode::CONFLICT,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorCode::ResourceExhausted => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::DeadlineExceeded => StatusCode::REQUEST_TIMEOUT,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status.is_server_error() {
        tracing::error!(error = %e.message, "elastic request failed");
    }
    elastic_error(status, &e.message_with_field())
}

fn bad_request(message: impl AsRef<str>) -> Response {
    elastic_error(StatusCode::BAD_REQUEST, message.as_ref())
}

fn too_large(limit: u64) -> Response {
    elastic_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("Payload content length greater than maximum allowed: {limit}"),
    )
}

/// The Fleet artifact of a stored source map.
struct FleetArtifact {
    identifier: String,
    decoded_sha: String,
    decoded_size: usize,
    encoded_sha: String,
    encoded_size: usize,
    encoded: Vec<u8>,
    body: Value,
}

fn fleet_artifact(service: &str, version: &str, bundle: &str, map: &[u8]) -> FleetArtifact {
    let source_map: Value = serde_json::from_slice(map).unwrap_or(Value::Null);
    let body = json!({
        "serviceName": service,
        "serviceVersion": version,
        "bundleFilepath": bundle,
        "sourceMap": source_map,
    });
    let decoded = serde_json::to_vec(&body).unwrap_or_default();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let encoded = z
        .write_all(&decoded)
        .and_then(|()| z.finish())
        .unwrap_or_default();
    FleetArtifact {
        identifier: format!("{service}-{version}"),
        decoded_sha: hex::encode(Sha256::digest(&decoded)),
        decoded_size: decoded.len(),
        encoded_sha: hex::encode(Sha256::digest(&encoded)),
        encoded_size: encoded.len(),
        encoded,
        body,
    }
}

impl FleetArtifact {
    fn id(&self) -> String {
        format!("apm:{}-{}", self.identifier, self.decoded_sha)
    }

    /// The document's artifact object; `decoded_body` for GET (the body as JSON), else the
    /// zlib body in base64 (POST).
    fn to_json(&self, created_ms: u64, decoded_body: bool) -> Value {
        let body = if decoded_body {
            self.body.clone()
        } else {
            Value::String(base64::engine::general_purpose::STANDARD.encode(&self.encoded))
        };
        json!({
            "type": "sourcemap",
            "identifier": self.identifier,
            "relative_url": format!("/api/fleet/artifacts/{}/{}", self.identifier, self.decoded_sha),
            "body": body,
            "created": symx_types::time::format_rfc3339_ms(created_ms),
            "id": self.id(),
            "compressionAlgorithm": "zlib",
            "decodedSha256": self.decoded_sha,
            "decodedSize": self.decoded_size,
            "encodedSha256": self.encoded_sha,
            "encodedSize": self.encoded_size,
            "encryptionAlgorithm": "none",
            "packageName": "apm",
        })
    }
}

/// The Fleet artifact of a listed JavaScript artifact (reads its stored map).
async fn fleet_of(
    symx: &Symx,
    who: &Principal,
    a: &ArtifactView,
) -> Result<FleetArtifact, ServiceError> {
    let map = symx
        .read_file(who.tenant().clone(), &a.id, "source_map")
        .await?;
    let attr = |k: &str| a.attributes.get(k).cloned().unwrap_or_default();
    let (service, version, bundle) = (attr("service"), attr("version"), attr("minified_url"));
    tokio::task::spawn_blocking(move || fleet_artifact(&service, &version, &bundle, &map))
        .await
        .map_err(|e| ServiceError::internal(format!("fleet artifact: {e}")))
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
    let fleet = match tokio::task::spawn_blocking(move || {
        fleet_artifact(&service, &version, &bundle, &map)
    })
    .await
    {
        Ok(f) => f,
        Err(e) => return service_error(&ServiceError::internal(format!("fleet artifact: {e}"))),
    };
    (StatusCode::OK, axum::Json(fleet.to_json(created, false))).into_response()
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
    let mut artifacts = Vec::with_capacity(views.len());
    for a in &views {
        match fleet_of(&symx, &who, a).await {
            Ok(f) => artifacts.push(f.to_json(a.created_at_ms, true)),
            Err(e) => return service_error(&e),
        }
    }
    (
        StatusCode::OK,
        axum::Json(json!({ "artifacts": artifacts })),
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
        elastic_error(
            StatusCode::NOT_FOUND,
            &format!("Source map with id {id} not found"),
        )
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
            let attr = |k: &str| a.attributes.get(k).map(String::as_str).unwrap_or_default();
            if format!("{}-{}", attr("service"), attr("version")) != identifier {
                continue;
            }
            match fleet_of(&symx, &who, a).await {
                Ok(f) if f.decoded_sha.starts_with(&sha) => matches.push(a.clone()),
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
    let filters = symx_service::Filters {
        service: vec![attr("service")],
        version: vec![attr("version")],
        id: vec![target.id.to_string()],
        ..Default::default()
    };
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
