//! The console: a web page served by `symxd` at `/console` for the people who operate it
//! (artifacts, symbolication of pasted stack traces, the missing-artifact report, health).
//!
//! Three static files written by hand (HTML, CSS, plain JavaScript; no bundler, no framework,
//! nothing fetched from elsewhere), embedded in the binary. The page holds no data of its
//! own: it signs in with an API key kept in the tab's session storage and calls the
//! authenticated routes with it (`/api/symx/v1/...`, Datadog's delete and restore,
//! `/metrics`), so tenants and scopes hold as on every route. A content security policy
//! allows scripts, styles and connections to this origin only.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use symx_service::Symx;

const INDEX: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/console.js");
const STYLE: &str = include_str!("../console/console.css");

/// Scripts, styles, images and calls from this origin only; no frames, no plugins.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                      connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

/// `/console`, its two assets, and an empty `/favicon.ico`.
pub(crate) fn routes() -> Router<Symx> {
    let page = || async { asset("text/html; charset=utf-8", INDEX) };
    Router::new()
        .route("/console", get(page))
        .route("/console/", get(page))
        .route(
            "/console/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/console/console.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        // Browsers ask for it on every page; no icon, rather than the symbol server's 401.
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
}
