//! The Datadog v2 intake: `POST /api/v2/srcmap` (document `datadog-upload-sourcemaps.md`), as
//! datadog-ci and curl send it: `multipart/form-data` with the JSON `event` part first, then
//! the file parts, optionally gzip-compressed as a whole (`Content-Encoding: gzip`).
//!
//! Parts are streamed into an upload session (spooled to disk, never whole in memory); the
//! size limit answers 413 as soon as `Content-Length` or the stream passes it. Errors are the
//! document's `{"errors": ["..."]}` with its status codes.
//!
//! API keys and tenants arrive with the rest of the vendor API: until then every request is
//! the default tenant, and `DD-API-KEY` is read but not checked (symxd serves loopback only).

use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use symx_service::{ServiceError, Symx};
use symx_types::{ErrorCode, Tenant, UploadMetadata};

/// The document's error body.
pub(crate) fn errors(status: StatusCode, messages: Vec<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "errors": messages })),
    )
        .into_response()
}

/// A service error as the document's status and body.
pub(crate) fn service_error(e: &ServiceError) -> Response {
    let status = match e.code {
        ErrorCode::InvalidArgument | ErrorCode::AlreadyExists | ErrorCode::FailedPrecondition => {
            StatusCode::BAD_REQUEST
        }
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorCode::ResourceExhausted => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status.is_server_error() {
        tracing::error!(error = %e.message, "upload failed");
    }
    errors(status, vec![e.message.clone()])
}

fn bad_request(msg: impl Into<String>) -> Response {
    errors(StatusCode::BAD_REQUEST, vec![msg.into()])
}

/// `POST /api/v2/srcmap`.
pub(crate) async fn upload(
    State(symx): State<Symx>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let limit = symx.config().limits.max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A gzip body's length says nothing of what it expands to; the stream check covers it.
    let compressed = headers.contains_key(header::CONTENT_ENCODING);
    if let Some(n) = declared.filter(|n| !compressed && *n > limit) {
        return errors(
            StatusCode::PAYLOAD_TOO_LARGE,
            vec![format!(
                "upload of {n} bytes exceeds the limit of {limit} bytes"
            )],
        );
    }
    let mut multipart = match multipart {
        Ok(m) => m,
        Err(e) => return bad_request(format!("expected a multipart/form-data body: {e}")),
    };
    let mut session = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return bad_request(format!("malformed multipart body: {e}")),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "event" {
            if session.is_some() {
                return bad_request("Invalid field: event: given twice");
            }
            let bytes = match field.bytes().await {
                Ok(b) => b,
                Err(e) => return bad_request(format!("cannot read the event part: {e}")),
            };
            let meta: UploadMetadata = match serde_json::from_slice(&bytes) {
                Ok(m) => m,
                Err(e) => return bad_request(format!("Invalid field: event: {e}")),
            };
            match symx.begin_upload(Tenant::default(), meta, None).await {
                Ok(s) => session = Some(s),
                Err(e) => return service_error(&e),
            }
            continue;
        }
        let Some(s) = session.as_mut() else {
            return bad_request(format!(
                "the `event` part must come before file parts (got `{name}` first)"
            ));
        };
        let mut field = field;
        loop {
            match field.chunk().await {
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
