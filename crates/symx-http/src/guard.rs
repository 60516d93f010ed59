//! The gate in front of every vendor route: the caller's key (each vendor's way of sending
//! it), the route's scope, the rate and concurrency limits, and the request timeout. A refused
//! request gets the status and error body of its vendor's documents, and is counted in
//! `symx_rejections_total{edge="http"}`.
//!
//! * Datadog intake (`POST /api/v2/srcmap`): `DD-API-KEY` with the upload scope.
//! * Datadog API (list, get, delete, restore): `DD-API-KEY` names the tenant and
//!   `DD-APPLICATION-KEY` carries the permission: read for GET (Datadog's `rum_apps_read`),
//!   delete for DELETE and restore (`rum_delete_data`); both keys must be of one tenant.
//! * Elastic APM: `Authorization: ApiKey base64(id:api_key)` or basic auth (`-u id:secret`,
//!   or any user with the whole key as password), and `kbn-xsrf` on anything but GET/HEAD.
//!
//! On a server without keys (open, loopback only) no key is needed.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use std::time::Duration;
use symx_service::{Principal, Scope, ServiceError, Symx};
use symx_types::ErrorCode;

/// Whose documents a route follows (error bodies and how keys arrive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// `{"errors": ["..."]}` (upload document).
    DatadogIntake,
    /// JSON:API error objects (list, get, delete documents).
    DatadogApi,
    /// Kibana's `{"statusCode", "error", "message"}`.
    Elastic,
    /// Plain text (debuggers show it as is).
    Symbols,
    /// symx's own JSON routes (the console's): `{"error": {"code", "message", "field"}}`.
    Symx,
}

/// What a route needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Gate {
    pub style: Style,
    /// Scope of GET and HEAD requests.
    pub read: Scope,
    /// Scope of other methods.
    pub write: Scope,
    /// Writes are expensive (uploads): bounded by the concurrency limit and the upload
    /// timeout.
    pub upload: bool,
}

impl Style {
    /// Every error response of the HTTP listener: the status of the error's code
    /// ([`crate::status_of`], narrowed where the route's document says so), the body in the
    /// vendor's style, and `Retry-After` when the error says when to come back. Server-side
    /// failures are logged here, once.
    pub(crate) fn error(self, e: &ServiceError) -> Response {
        let status = match self {
            Self::DatadogIntake => crate::datadog::upload_status(e.code),
            Self::DatadogApi | Self::Elastic | Self::Symbols | Self::Symx => {
                crate::status_of(e.code)
            }
        };
        if status.is_server_error() {
            tracing::error!(code = ?e.code, error = %e, "request failed");
        } else {
            tracing::debug!(code = ?e.code, error = %e, status = status.as_u16(), "request refused");
        }
        let json = |body: serde_json::Value| (status, axum::Json(body)).into_response();
        let mut resp = match self {
            // `{"errors": ["..."]}` (upload document).
            Self::DatadogIntake => json(serde_json::json!({ "errors": [e.message] })),
            // JSON:API error objects, the parameter at fault as their source.
            Self::DatadogApi => {
                let mut error = serde_json::json!({
                    "status": status.as_u16().to_string(),
                    "title": status.canonical_reason().unwrap_or("Error"),
                    "detail": e.message,
                });
                if let Some(p) = &e.field {
                    error["source"] = serde_json::json!({ "parameter": p });
                }
                json(serde_json::json!({ "errors": [error] }))
            }
            // Kibana's `{"statusCode", "error", "message"}`.
            Self::Elastic => json(serde_json::json!({
                "statusCode": status.as_u16(),
                "error": status.canonical_reason().unwrap_or("Error"),
                "message": e.message_with_field(),
            })),
            Self::Symx => json(serde_json::json!({
                "error": {
                    "code": e.code,
                    "message": e.message_with_field(),
                    "field": e.field,
                }
            })),
            Self::Symbols => (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{}\n", e.message_with_field()),
            )
                .into_response(),
        };
        if let Some(after) = e.retry_after
            && let Ok(v) = HeaderValue::from_str(&after.as_secs().max(1).to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The key of an Elastic request: `ApiKey base64(id:api_key)`, `Basic base64(user:password)`
/// or `Bearer <key>`.
fn elastic_key(headers: &HeaderMap) -> Option<String> {
    let auth = header_str(headers, header::AUTHORIZATION.as_str())?;
    let (scheme, value) = auth.split_once(' ')?;
    let decode = |v: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(v.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    };
    match scheme.to_ascii_lowercase().as_str() {
        "apikey" | "basic" => {
            let pair = decode(value)?;
            let (id, secret) = pair.split_once(':')?;
            Some(symx_service::join_token(id, secret))
        }
        "bearer" => Some(value.trim().to_owned()),
        _ => None,
    }
}

/// Authenticates a request the way its vendor sends keys and checks the scope.
async fn principal(
    symx: &Symx,
    gate: &Gate,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<Principal, (ServiceError, &'static str)> {
    let scope = if matches!(*method, Method::GET | Method::HEAD) {
        gate.read
    } else {
        gate.write
    };
    let refuse = |e: ServiceError| {
        let reason = if e.code == ErrorCode::Unauthenticated {
            "unauthenticated"
        } else {
            "forbidden"
        };
        (e, reason)
    };
    let forbidden = |message: &str| refuse(ServiceError::new(ErrorCode::PermissionDenied, message));
    let authenticate = |key: Option<String>| async move {
        symx.authenticate(key.as_deref()).await.map_err(refuse)
    };
    let who = match gate.style {
        Style::Elastic | Style::Symx => authenticate(elastic_key(headers)).await?,
        Style::Symbols => {
            let key = match crate::symbols::split_key(path) {
                (Some(key), _) => Some(key.to_owned()),
                (None, _) => elastic_key(headers),
            };
            authenticate(key).await?
        }
        Style::DatadogIntake => {
            authenticate(header_str(headers, "dd-api-key").map(str::to_owned)).await?
        }
        Style::DatadogApi => {
            let api = authenticate(header_str(headers, "dd-api-key").map(str::to_owned)).await?;
            if symx.auth_required() {
                let app = header_str(headers, "dd-application-key")
                    .ok_or_else(|| forbidden("DD-APPLICATION-KEY is required"))?;
                let app = symx
                    .authenticate(Some(app))
                    .await
                    .map_err(|_| forbidden("invalid DD-APPLICATION-KEY"))?;
                if app.tenant() != api.tenant() {
                    return Err(forbidden(
                        "DD-APPLICATION-KEY belongs to another organization than DD-API-KEY",
                    ));
                }
                app
            } else {
                api
            }
        }
    };
    who.require(scope).map_err(refuse)?;
    Ok(who)
}

/// The middleware: authenticate, authorize, admit, then run the handler within its timeout.
/// Handlers find the caller as an `Extension<Principal>`.
pub(crate) async fn guard(
    State((symx, gate)): State<(Symx, Gate)>,
    mut req: Request,
    next: Next,
) -> Response {
    let style = gate.style;
    let reject = |reason: &str| {
        symx.metrics()
            .rejections
            .with_label_values(&["http", reason])
            .inc();
    };
    let method = req.method().clone();
    if style == Style::Elastic
        && !matches!(method, Method::GET | Method::HEAD)
        && !req.headers().contains_key("kbn-xsrf")
    {
        reject("forbidden");
        return style.error(&ServiceError::invalid(
            "kbn-xsrf",
            "Request must contain a kbn-xsrf header.",
        ));
    }
    let who = match principal(&symx, &gate, &method, req.uri().path(), req.headers()).await {
        Ok(p) => p,
        Err((e, reason)) => {
            reject(reason);
            return style.error(&e);
        }
    };
    let writes = !matches!(method, Method::GET | Method::HEAD);
    let upload = gate.upload && writes;
    let admission = match symx.admit(&who, upload) {
        Ok(a) => a,
        Err(r) => {
            reject(r.reason());
            return style.error(&ServiceError::from(r));
        }
    };
    req.extensions_mut().insert(who);
    let limits = &symx.config().limits;
    let secs = if upload {
        limits.upload_timeout_secs
    } else {
        limits.request_timeout_secs
    };
    let resp = match tokio::time::timeout(Duration::from_secs(secs), next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            reject("timeout");
            style.error(&ServiceError::new(
                ErrorCode::DeadlineExceeded,
                format!("the request took longer than {secs} s"),
            ))
        }
    };
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE {
        reject("too_large");
    }
    drop(admission);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elastic_credentials_become_a_key() {
        let id = "0123456789abcdef";
        let secret = "cd".repeat(32);
        let full = format!("symx_{id}_{secret}");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let mut h = HeaderMap::new();
        for value in [
            format!("ApiKey {}", b64(&format!("{id}:{secret}"))),
            format!("ApiKey {}", b64(&format!("{id}:{full}"))),
            format!("Basic {}", b64(&format!("anyone:{full}"))),
            format!("Basic {}", b64(&format!("{id}:{secret}"))),
            format!("Bearer {full}"),
        ] {
            h.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(&value).expect("header"),
            );
            assert_eq!(elastic_key(&h).as_deref(), Some(full.as_str()), "{value}");
        }
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("ApiKey %%%"),
        );
        assert_eq!(elastic_key(&h), None);
    }
}
