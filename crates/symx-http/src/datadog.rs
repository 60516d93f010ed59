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
//! API keys and tenants arrive with the rest of the vendor API: until then every request is
//! the default tenant, and `DD-API-KEY` is read but not checked (symxd serves loopback only).

use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use symx_service::{ServiceError, Symx};
use symx_types::{ErrorCode, Tenant, UploadMetadata};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

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
    } else {
        tracing::debug!(error = %e.message, status = status.as_u16(), "upload refused");
    }
    errors(status, vec![e.message.clone()])
}

fn bad_request(msg: impl Into<String>) -> Response {
    let msg = msg.into();
    tracing::debug!(error = %msg, "upload refused");
    errors(StatusCode::BAD_REQUEST, vec![msg])
}

/// Writes a part that arrived before the event into the session.
async fn replay(
    session: &mut symx_service::UploadSession,
    part: &str,
    mut file: tokio::fs::File,
) -> Result<(), Response> {
    let internal =
        |e: std::io::Error| service_error(&ServiceError::internal(format!("spool: {e}")));
    file.seek(std::io::SeekFrom::Start(0))
        .await
        .map_err(internal)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).await.map_err(internal)?;
        if n == 0 {
            return Ok(());
        }
        session
            .write(part, &buf[..n])
            .await
            .map_err(|e| service_error(&e))?;
    }
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
    let mut session: Option<symx_service::UploadSession> = None;
    // File parts seen before the event: (name, temporary file, size).
    let mut early: Vec<(String, tokio::fs::File, u64)> = Vec::new();
    let mut early_bytes = 0u64;
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
            let mut s = match symx.begin_upload(Tenant::default(), meta, None).await {
                Ok(s) => s,
                Err(e) => return service_error(&e),
            };
            for (part, file, _) in early.drain(..) {
                if let Err(resp) = replay(&mut s, &part, file).await {
                    return resp;
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
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        early_bytes += chunk.len() as u64;
                        if early_bytes > limit {
                            return errors(
                                StatusCode::PAYLOAD_TOO_LARGE,
                                vec![format!(
                                    "upload of {early_bytes} bytes exceeds the limit of {limit} bytes"
                                )],
                            );
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
