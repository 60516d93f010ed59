//! The HTTP front of symx: the Datadog v2 routes (`POST /api/v2/srcmap`, `GET
//! /api/v2/sourcemaps/list`, `GET` and `DELETE /api/v2/sourcemaps`, `POST
//! /api/v2/sourcemaps/restore`), see [`datadog`]; the Elastic APM routes (`POST` and `GET
//! /api/apm/sourcemaps`, `DELETE /api/apm/sourcemaps/{id}`), see [`elastic`]; each behind the
//! key, scope and limit gate of its vendor (`guard`); the symbol server (debuginfod, Microsoft's
//! SSQP, Symbolicator's layouts) on every other path, see `symbols`; `/metrics` (Prometheus
//! text), `/healthz` (the process is up) and `/readyz` (the store answers).
//!
//! Like the gRPC edge, this crate only converts: it holds no use-case logic.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use guard::{Gate, Style, guard};
use symx_service::{Scope, Symx};

/// The one mapping from error codes to HTTP statuses, for every route of both vendor APIs.
/// A vendor document that names fewer statuses narrows it where the route answers (the
/// Datadog upload document has no 409: an identity conflict there is a 400).
pub(crate) fn status_of(code: symx_types::ErrorCode) -> StatusCode {
    use symx_types::ErrorCode as C;
    match code {
        C::InvalidArgument | C::FailedPrecondition => StatusCode::BAD_REQUEST,
        C::NotFound => StatusCode::NOT_FOUND,
        C::AlreadyExists => StatusCode::CONFLICT,
        C::PermissionDenied => StatusCode::FORBIDDEN,
        C::Unauthenticated => StatusCode::UNAUTHORIZED,
        // Sizes: an upload past its limit, a build past the build-memory budget.
        C::ResourceExhausted => StatusCode::PAYLOAD_TOO_LARGE,
        C::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        // Refused at once (with Retry-After) rather than queued behind the work in progress.
        C::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        C::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        C::DeadlineExceeded => StatusCode::REQUEST_TIMEOUT,
        C::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

mod api;
mod console;
pub mod datadog;
pub mod elastic;
pub mod event;
mod guard;
mod symbols;

/// The router of the HTTP listener.
pub fn router(symx: Symx) -> Router {
    let gate = |style: Style, read: Scope, write: Scope, upload: bool| {
        from_fn_with_state(
            (
                symx.clone(),
                Gate {
                    style,
                    read,
                    write,
                    upload,
                },
            ),
            guard,
        )
    };
    // Uploads are bounded by `limits.max_upload_bytes` as they stream (413), not by axum's
    // 2 MB default; gzip request bodies (datadog-ci may compress) are inflated on the way in.
    let intake = Router::new()
        .route("/api/v2/srcmap", post(datadog::upload))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(tower_http::decompression::RequestDecompressionLayer::new())
        .route_layer(gate(
            Style::DatadogIntake,
            Scope::Upload,
            Scope::Upload,
            true,
        ));
    let datadog_api = Router::new()
        .route("/api/v2/sourcemaps/list", get(datadog::list))
        .route(
            "/api/v2/sourcemaps",
            get(datadog::get_sourcemap).delete(datadog::delete),
        )
        .route("/api/v2/sourcemaps/restore", post(datadog::restore))
        .route_layer(gate(Style::DatadogApi, Scope::Read, Scope::Delete, false));
    // Elastic's payload limit (1 MB by default) is its own, checked as the body streams.
    let elastic_upload = Router::new()
        .route(
            "/api/apm/sourcemaps",
            post(elastic::upload).get(elastic::list),
        )
        .layer(axum::extract::DefaultBodyLimit::disable())
        .route_layer(gate(Style::Elastic, Scope::Read, Scope::Upload, true));
    let elastic_delete = Router::new()
        .route("/api/apm/sourcemaps/{id}", delete(elastic::delete))
        .route_layer(gate(Style::Elastic, Scope::Read, Scope::Delete, false));
    // symx's own JSON routes (the console's); symbolication is the expensive one.
    let symx_api = Router::new()
        .route("/api/symx/v1/whoami", get(api::whoami))
        .route("/api/symx/v1/filters", get(api::filters))
        .route("/api/symx/v1/artifacts", get(api::list))
        .route("/api/symx/v1/artifacts/{id}", get(api::artifact))
        .route("/api/symx/v1/missing", get(api::missing))
        .route("/api/symx/v1/symbolicate", post(api::symbolicate))
        .layer(axum::extract::DefaultBodyLimit::max(api::MAX_BODY))
        .route_layer(gate(Style::Symx, Scope::Read, Scope::Read, true));
    // The symbol server's paths are the vendors' own layouts, rooted at `/` (or under a
    // `/key/<key>/` prefix): every path no other route takes.
    let symbol_server = Router::new()
        .fallback(symbols::serve)
        .layer(gate(Style::Symbols, Scope::Read, Scope::Read, false))
        .with_state(symx.clone());
    Router::new()
        .merge(intake)
        .merge(datadog_api)
        .merge(elastic_upload)
        .merge(elastic_delete)
        .merge(symx_api)
        .merge(console::routes())
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback_service(symbol_server)
        .with_state(symx)
}

async fn metrics(State(symx): State<Symx>) -> Response {
    // The store's size is a RocksDB property read: cheap, but off the async threads anyway.
    let gauges = symx.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || gauges.publish_gauges()).await {
        tracing::warn!(error = %e, "publishing gauges failed");
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        symx.metrics().render(),
    )
        .into_response()
}

async fn healthz() -> Response {
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"status": "ok"})),
    )
        .into_response()
}

async fn readyz(State(symx): State<Symx>) -> Response {
    match symx.ready().await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ready"})),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "unavailable", "error": e.to_string()})),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use symx_types::ErrorCode;

    /// Every code gets a status of its class, and only a server fault is a 5xx the client
    /// cannot act on: the restore conflict (409) and a build past its memory budget (413)
    /// included, never a 500.
    #[test]
    fn every_error_code_has_one_status() {
        for code in ErrorCode::ALL {
            let status = status_of(code);
            // Overload is the server's state, not its fault: a 503 the client retries.
            assert_eq!(
                status.is_server_error(),
                !code.is_client_error() || code == ErrorCode::Overloaded,
                "{code:?} answers {status}"
            );
            assert_eq!(
                datadog::upload_status(code) == status,
                code != ErrorCode::AlreadyExists,
                "{code:?}: the upload narrows only the conflict"
            );
        }
        assert_eq!(status_of(ErrorCode::AlreadyExists), StatusCode::CONFLICT);
        assert_eq!(
            datadog::upload_status(ErrorCode::AlreadyExists),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status_of(ErrorCode::ResourceExhausted),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            status_of(ErrorCode::DeadlineExceeded),
            StatusCode::REQUEST_TIMEOUT
        );
        assert_eq!(
            status_of(ErrorCode::RateLimited),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            status_of(ErrorCode::Overloaded),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    /// Every error response carries its code's status, its vendor's body, and Retry-After
    /// when the error says when to come back.
    #[tokio::test]
    async fn every_style_answers_with_the_one_mapping() {
        use guard::Style;
        for code in ErrorCode::ALL {
            let e = symx_service::ServiceError {
                field: Some("filter[id]".into()),
                retry_after: Some(std::time::Duration::from_secs(3)),
                ..symx_service::ServiceError::new(code, "it went wrong")
            };
            for style in [
                Style::DatadogIntake,
                Style::DatadogApi,
                Style::Elastic,
                Style::Symbols,
                Style::Symx,
            ] {
                let resp = style.error(&e);
                let want = match style {
                    Style::DatadogIntake => datadog::upload_status(code),
                    _ => status_of(code),
                };
                assert_eq!(resp.status(), want, "{style:?} {code:?}");
                assert_eq!(
                    resp.headers()
                        .get(header::RETRY_AFTER)
                        .map(|v| v.as_bytes()),
                    Some(&b"3"[..]),
                    "{style:?} {code:?}"
                );
                let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
                    .await
                    .expect("body");
                let text = String::from_utf8_lossy(&body);
                assert!(text.contains("it went wrong"), "{style:?}: {text}");
                if style == Style::Symbols {
                    assert_eq!(text, "filter[id]: it went wrong\n", "{code:?}");
                    continue;
                }
                let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON body");
                let text = body.to_string();
                match style {
                    Style::DatadogApi => assert_eq!(
                        body["errors"][0]["source"]["parameter"], "filter[id]",
                        "{text}"
                    ),
                    Style::Elastic => {
                        assert_eq!(body["statusCode"], want.as_u16(), "{text}")
                    }
                    Style::DatadogIntake => assert!(body["errors"].is_array(), "{text}"),
                    Style::Symx => assert_eq!(body["error"]["field"], "filter[id]", "{text}"),
                    Style::Symbols => {}
                }
            }
        }
    }
}
