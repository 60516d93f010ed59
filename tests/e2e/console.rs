//! The console's server side: the page and its assets (with their security headers), and
//! symx's own JSON routes it calls (`/api/symx/v1/...`) with keys of two tenants. The page
//! itself runs in a browser in `tests/console/run.sh`.

use serde_json::{Value, json};
use symx_e2e::*;
use symx_proto::v1 as pb;

async fn call(
    method: reqwest::Method,
    url: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn the_console_and_its_routes_answer_per_key() {
    let srv = TestServer::start().await.expect("server");
    let base = srv.http();
    // The page and its script, with a same-origin policy, before any key exists.
    let page = reqwest::get(format!("{base}/console")).await.expect("page");
    assert_eq!(page.status().as_u16(), 200);
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    assert!(
        page.text()
            .await
            .expect("html")
            .contains("/console/console.js")
    );
    let script = reqwest::get(format!("{base}/console/console.js"))
        .await
        .expect("js");
    assert!(
        script.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/javascript")
    );

    let keys = srv.keys().await.expect("client");
    let create = |tenant: &str, scopes: Vec<pb::Scope>, by: Option<String>| {
        let req = pb::CreateKeyRequest {
            tenant: tenant.into(),
            name: "console".into(),
            scopes: scopes.into_iter().map(|s| s as i32).collect(),
        };
        let req = match by {
            Some(k) => with_key(req, &k),
            None => tonic::Request::new(req),
        };
        let mut keys = keys.clone();
        async move { keys.create_key(req).await.expect("key").into_inner().token }
    };
    let admin = create("acme", vec![pb::Scope::Admin], None).await;
    let reader = create("acme", vec![pb::Scope::Read], Some(admin.clone())).await;
    let other = srv.tenant_key("globex", &["read"]).await;

    let (status, body) = call(
        reqwest::Method::GET,
        &format!("{base}/api/symx/v1/whoami"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "Unauthenticated", "{body}");
    let (status, body) = call(
        reqwest::Method::GET,
        &format!("{base}/api/symx/v1/whoami"),
        Some(&reader),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["tenant"], "acme");
    assert_eq!(body["scopes"], json!(["read"]));

    let mut art = srv.artifacts().await.expect("client");
    let up = upload_as(
        &mut art,
        &admin,
        js_meta(
            "shop",
            "4.2.0",
            "https://cdn.example.com/static/js/app.min.js",
        ),
        &js_fixture_parts("esbuild", "app.min.js"),
    )
    .await
    .expect("upload");
    let id = up.artifact.expect("artifact").id;

    // Any kind lists without the Datadog document's required filters; filters still apply.
    let list = |q: &str| format!("{base}/api/symx/v1/artifacts?{q}");
    let (status, body) = call(reqwest::Method::GET, &list("kind=js"), Some(&reader), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1);
    assert_eq!(body["artifacts"][0]["id"], id.as_str());
    let (_, body) = call(
        reqwest::Method::GET,
        &list("kind=js&filter%5Bversion%5D=9"),
        Some(&reader),
        None,
    )
    .await;
    assert_eq!(body["total"], 0);
    let (status, body) = call(
        reqwest::Method::GET,
        &list("kind=nope"),
        Some(&reader),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("kind"))
    );
    let (_, body) = call(reqwest::Method::GET, &list("kind=js"), Some(&other), None).await;
    assert_eq!(body["total"], 0, "another tenant lists nothing of acme's");

    // Pasted text, read by the CLI's parsers, resolved like the CLI prints it.
    let stack = std::fs::read_to_string(fixture("js/esbuild/stack.txt")).expect("stack");
    let symbolicate = format!("{base}/api/symx/v1/symbolicate");
    let request = json!({"text": stack, "service": "shop", "version": "4.2.0", "explain": true});
    let (status, body) = call(
        reqwest::Method::POST,
        &symbolicate,
        Some(&reader),
        Some(request.clone()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let lines = body["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), stack.lines().count());
    assert_eq!(lines[0]["raw"], stack.lines().next().expect("first line"));
    let first = &lines[1]["result"];
    assert_eq!(first["status"], "resolved", "{first}");
    assert_eq!(first["frames"][0]["function"], "book_lookup");
    assert_eq!(
        (
            first["frames"][0]["source"].clone(),
            first["frames"][0]["line"].clone()
        ),
        (json!("../src/app.js"), json!(24))
    );
    assert!(first["frames"][0]["context_line"].is_string(), "{first}");
    // Another tenant: the same text finds no artifact, and says why.
    let (_, body) = call(
        reqwest::Method::POST,
        &symbolicate,
        Some(&other),
        Some(request),
    )
    .await;
    let r = &body["lines"][1]["result"];
    assert_eq!(r["status"], "missing_artifact", "{r}");
    assert!(
        r["explanation"]["fix"]
            .as_str()
            .is_some_and(|f| f.contains("symx upload js")),
        "{r}"
    );
    let (status, body) = call(
        reqwest::Method::POST,
        &symbolicate,
        Some(&reader),
        Some(json!({"text": "no frames at all"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("text"))
    );

    // Details: files, and the index is cached after the lookup above; none for globex.
    let details = format!("{base}/api/symx/v1/artifacts/{id}");
    let (_, body) = call(reqwest::Method::GET, &details, Some(&reader), None).await;
    assert_eq!(body["index_cached"], true, "{body}");
    let parts: Vec<&str> = body["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["part"].as_str())
        .collect();
    assert!(
        parts.contains(&"source_map") && parts.contains(&"minified_file"),
        "{body}"
    );
    let (status, _) = call(reqwest::Method::GET, &details, Some(&other), None).await;
    assert_eq!(status, 404);

    // The missing report is the tenant's own.
    let missing = format!("{base}/api/symx/v1/missing");
    let (_, body) = call(reqwest::Method::GET, &missing, Some(&other), None).await;
    assert!(body["total"].as_u64().is_some_and(|n| n >= 1), "{body}");
    assert!(body["missing"][0]["fix"].is_string(), "{body}");
    let (_, body) = call(reqwest::Method::GET, &missing, Some(&reader), None).await;
    assert_eq!(body["total"], 0, "{body}");
}
