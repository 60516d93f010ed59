//! The Datadog v2 intake over real HTTP: `POST /api/v2/srcmap` multipart uploads as the
//! document and datadog-ci send them (plain and gzip-compressed), answered with the
//! document's bodies and status codes; what it stores resolves over gRPC.

use std::io::Write;
use symx_e2e::*;
use symx_proto::v1 as pb;

fn js_parts(
    event: serde_json::Value,
) -> Vec<(&'static str, Option<&'static str>, &'static str, Vec<u8>)> {
    let mut parts = vec![(
        "event",
        Some("event"),
        "application/json",
        event.to_string().into_bytes(),
    )];
    for (name, bytes) in js_fixture_parts("esbuild", "app.min.js") {
        let (file, ctype) = if name == "source_map" {
            ("app.min.js.map", "application/json")
        } else {
            ("app.min.js", "application/javascript")
        };
        parts.push((name, Some(file), ctype, bytes));
    }
    parts
}

fn event(version: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "js_sourcemap",
        "service": "shop-web",
        "version": version,
        "minified_url": "https://cdn.shop.io/static/app.min.js",
        "cli_version": "5.25.0",
    })
}

async fn post(
    srv: &TestServer,
    body: Vec<u8>,
    gzip: bool,
) -> (reqwest::StatusCode, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/api/v2/srcmap", srv.http()))
        .header("DD-API-KEY", "0123456789abcdef")
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        );
    let body = if gzip {
        req = req.header("Content-Encoding", "gzip");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&body).expect("gzip");
        enc.finish().expect("gzip")
    } else {
        body
    };
    let resp = req.body(body).send().await.expect("send");
    let status = resp.status();
    let json = resp.json().await.unwrap_or(serde_json::Value::Null);
    (status, json)
}

#[tokio::test]
async fn multipart_uploads_are_stored_and_resolve() {
    let srv = TestServer::start().await.expect("server");
    for (version, gzip) in [("2.0.0", false), ("2.0.1", true)] {
        let (status, body) = post(&srv, multipart(&js_parts(event(version))), gzip).await;
        assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["data"]["type"], "sourcemap_upload", "{body}");
        let id = body["data"]["id"].as_str().expect("id");
        assert!(id.starts_with("js_"), "{id}");
        let mut art = srv.artifacts().await.expect("client");
        let got = art
            .get_artifact(pb::GetArtifactRequest { id: id.into() })
            .await
            .expect("get")
            .into_inner();
        assert_eq!(
            got.attributes.get("version").map(String::as_str),
            Some(version)
        );
    }
    // File parts before the event (datadog-ci's `dsyms upload` sends them so) wait for it.
    let mut parts = js_parts(event("2.0.2"));
    parts.rotate_left(1);
    assert_ne!(parts[0].0, "event");
    let (status, body) = post(&srv, multipart(&parts), false).await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{body}");
    // The stored map resolves a frame by service, version and URL.
    let mut sym = srv.symbolication().await.expect("client");
    let r = symbolicate(
        &mut sym,
        "shop-web",
        "2.0.1",
        vec![js_frame("https://cdn.shop.io/static/app.min.js", 1, 7)],
        0,
    )
    .await;
    assert_eq!(r[0].status, pb::FrameStatus::Resolved as i32, "{:?}", r[0]);
}

#[tokio::test]
async fn an_oversized_event_part_is_refused_before_it_is_read_whole() {
    // Default limits (a 500 MiB body is allowed): the event part alone is bounded.
    let srv = TestServer::start().await.expect("server");
    let mut event_bytes = vec![b' '; 1 << 20];
    event_bytes.extend_from_slice(event("1.0.0").to_string().as_bytes());
    for gzip in [false, true] {
        let (status, body) = post(
            &srv,
            multipart(&[("event", None, "application/json", event_bytes.clone())]),
            gzip,
        )
        .await;
        assert_eq!(
            status,
            reqwest::StatusCode::BAD_REQUEST,
            "gzip {gzip}: {body}"
        );
        assert!(
            body["errors"][0]
                .as_str()
                .is_some_and(|e| e.contains("event") && e.contains("larger than")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn errors_have_the_documents_shape_and_codes() {
    let srv = TestServer::start_with(|c| c.limits.max_upload_bytes = 64 << 10)
        .await
        .expect("server");
    // No event part.
    let (status, body) = post(
        &srv,
        multipart(&[(
            "source_map",
            Some("a.map"),
            "application/json",
            b"{}".to_vec(),
        )]),
        false,
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST);
    assert!(
        body["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("event")),
        "{body}"
    );
    // A required field missing: named.
    let mut e = event("1.0.0");
    e.as_object_mut().expect("object").remove("service");
    let (status, body) = post(&srv, multipart(&js_parts(e)), false).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST);
    assert!(
        body["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("service")),
        "{body}"
    );
    // An unknown type.
    let (status, body) = post(
        &srv,
        multipart(&[(
            "event",
            None,
            "application/json",
            br#"{"type":"apk"}"#.to_vec(),
        )]),
        false,
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    // Larger than the limit: by Content-Length, and (gzip, length unknown) by the stream.
    let big = vec![b'x'; 200 << 10];
    let parts = vec![
        (
            "event",
            None,
            "application/json",
            event("1.0.0").to_string().into_bytes(),
        ),
        ("source_map", Some("a.map"), "application/json", big),
    ];
    for gzip in [false, true] {
        let (status, body) = post(&srv, multipart(&parts), gzip).await;
        assert_eq!(
            status,
            reqwest::StatusCode::PAYLOAD_TOO_LARGE,
            "gzip {gzip}: {body}"
        );
        assert!(
            body["errors"][0]
                .as_str()
                .is_some_and(|e| e.contains("limit")),
            "{body}"
        );
    }
    // Not multipart at all.
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v2/srcmap", srv.http()))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert!(body["errors"].is_array(), "{body}");
}

#[tokio::test]
async fn list_answers_like_the_list_document() {
    let srv = TestServer::start().await.expect("server");
    for v in ["3.0.0", "3.0.1"] {
        let (status, body) = post(&srv, multipart(&js_parts(event(v))), false).await;
        assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{body}");
    }
    let get = |q: &str| {
        let url = format!("{}/api/v2/sourcemaps/list?{q}", srv.http());
        async move {
            let resp = reqwest::Client::new()
                .get(url)
                .header("DD-API-KEY", "k")
                .header("DD-APPLICATION-KEY", "a")
                .send()
                .await
                .expect("send");
            let status = resp.status();
            (
                status,
                resp.json::<serde_json::Value>().await.expect("json"),
            )
        }
    };
    let (status, body) = get(
        "mapkind=js&filter[service]=shop-web&filter[version]=3.0.0&filter[version]=3.0.1&page[size]=1",
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["meta"]["page"]["total_filtered_count"], 2, "{body}");
    assert_eq!(body["meta"]["page"]["has_more_results"], true, "{body}");
    let item = &body["data"][0];
    assert_eq!(item["type"], "sourcemaps");
    assert!(
        item["id"].as_str().is_some_and(|i| i.starts_with("js_")),
        "{item}"
    );
    let a = &item["attributes"];
    assert_eq!(
        (a["service"].as_str(), a["mapkind"].as_str()),
        (Some("shop-web"), Some("js"))
    );
    assert!(
        a["version"].as_str().is_some_and(|v| v.starts_with("3.0.")),
        "{a}"
    );
    assert!(
        a["created_at"]
            .as_str()
            .is_some_and(|t| t.len() == 24 && t.ends_with('Z')),
        "{a}"
    );
    assert!(a["size"].as_u64().is_some_and(|s| s > 0), "{a}");
    // JSON:API errors naming the parameter.
    let (status, body) = get("mapkind=js&filter[version]=3.0.0").await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    let e = &body["errors"][0];
    assert_eq!(
        (e["status"].as_str(), e["title"].as_str()),
        (Some("400"), Some("Bad Request"))
    );
    assert_eq!(e["source"]["parameter"], "filter[service]", "{body}");
    let (status, body) = get("mapkind=js&filter[service]=s&filter[version]=1&filter[uuid]=x").await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["errors"][0]["source"]["parameter"], "filter[uuid]",
        "{body}"
    );
    let (status, body) = get("mapkind=apk").await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["errors"][0]["source"]["parameter"], "mapkind",
        "{body}"
    );
    let (status, body) = get("limit=3").await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["source"]["parameter"], "limit", "{body}");
}

async fn call(method: reqwest::Method, url: String) -> (reqwest::StatusCode, serde_json::Value) {
    let resp = reqwest::Client::new()
        .request(method, url)
        .header("DD-API-KEY", "k")
        .header("DD-APPLICATION-KEY", "a")
        .send()
        .await
        .expect("send");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn get_delete_and_restore_like_the_documents() {
    use reqwest::Method;
    let srv = TestServer::start().await.expect("server");
    let (status, body) = post(&srv, multipart(&js_parts(event("4.0.0"))), false).await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{body}");
    let id = body["data"]["id"].as_str().expect("id").to_owned();
    let base = srv.http();

    // GET: the map's fields, as the get document shows them.
    let (status, body) = call(
        Method::GET,
        format!("{base}/api/v2/sourcemaps?filename=app.min.js&service=shop-web&version=4.0.0"),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["data"]["type"], "sourcemap_files");
    let a = &body["data"]["attributes"];
    assert_eq!(a["version"], 3);
    assert!(a["mappings"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(
        a["minifiedLineLengths"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    );
    assert!(a["sources"].as_array().is_some_and(|s| !s.is_empty()));
    let (status, body) = call(
        Method::GET,
        format!("{base}/api/v2/sourcemaps?service=shop-web&version=4.0.0"),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["source"]["parameter"], "filename");
    let (status, body) = call(
        Method::GET,
        format!("{base}/api/v2/sourcemaps?filename=nope.js&service=shop-web&version=4.0.0"),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["errors"][0]["status"], "404");

    // DELETE: dry run lists without deleting; then the deletion; then restore.
    let q = "mapkind=js&filter[service]=shop-web&filter[version]=4.0.0";
    let (status, body) = call(
        Method::DELETE,
        format!("{base}/api/v2/sourcemaps?{q}&dry_run=true"),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["data"][0]["id"], id.as_str());
    let listed = |body: serde_json::Value| body["meta"]["page"]["total_filtered_count"].as_u64();
    let (_, body) = call(Method::GET, format!("{base}/api/v2/sourcemaps/list?{q}")).await;
    assert_eq!(listed(body), Some(1));
    let (status, body) = call(
        Method::DELETE,
        format!("{base}/api/v2/sourcemaps?{q}&dry_run=false"),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let (_, body) = call(Method::GET, format!("{base}/api/v2/sourcemaps/list?{q}")).await;
    assert_eq!(listed(body), Some(0));
    let (status, body) = call(
        Method::POST,
        format!("{base}/api/v2/sourcemaps/restore?filter[id]={id}"),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let (_, body) = call(Method::GET, format!("{base}/api/v2/sourcemaps/list?{q}")).await;
    assert_eq!(listed(body), Some(1));

    // The document's rules: dry_run and mapkind required, at most 10 versions.
    let (status, body) = call(Method::DELETE, format!("{base}/api/v2/sourcemaps?{q}")).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["source"]["parameter"], "dry_run");
    let (status, body) = call(
        Method::DELETE,
        format!(
            "{base}/api/v2/sourcemaps?filter[service]=shop-web&filter[version]=4.0.0&dry_run=true"
        ),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["source"]["parameter"], "mapkind");
    let eleven: String = (0..11).map(|i| format!("&filter[version]={i}")).collect();
    let (status, body) = call(
        Method::DELETE,
        format!(
            "{base}/api/v2/sourcemaps?mapkind=js&filter[service]=shop-web{eleven}&dry_run=true"
        ),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["source"]["parameter"], "filter[version]");
}

/// Restoring an artifact whose identity another upload took meanwhile is a conflict the
/// caller can act on (409 naming the artifact that holds it, gRPC ALREADY_EXISTS; with
/// `overwrite` over gRPC the restore replaces it), never a server error.
#[tokio::test]
async fn restoring_over_a_taken_identity_is_a_conflict() {
    use reqwest::Method;
    let srv = TestServer::start().await.expect("server");
    let (status, body) = post(&srv, multipart(&js_parts(event("5.0.0"))), false).await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{body}");
    let old = body["data"]["id"].as_str().expect("id").to_owned();
    let base = srv.http();
    let q = "mapkind=js&filter[service]=shop-web&filter[version]=5.0.0";
    let (status, body) = call(
        Method::DELETE,
        format!("{base}/api/v2/sourcemaps?{q}&dry_run=false"),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    // Another map for the same service, version and URL takes the identity.
    let mut parts = js_parts(event("5.0.0"));
    let map = parts
        .iter_mut()
        .find(|p| p.0 == "source_map")
        .expect("map part");
    let mut v: serde_json::Value = serde_json::from_slice(&map.3).expect("json");
    v["sourceRoot"] = "changed/".into();
    map.3 = v.to_string().into_bytes();
    let (status, body) = post(&srv, multipart(&parts), false).await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{body}");
    let new = body["data"]["id"].as_str().expect("id").to_owned();
    assert_ne!(old, new);

    let (status, body) = call(
        Method::POST,
        format!("{base}/api/v2/sourcemaps/restore?filter[id]={old}"),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::CONFLICT, "{body}");
    assert_eq!(body["errors"][0]["status"], "409", "{body}");
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&new)),
        "{body}"
    );

    let mut art = srv.artifacts().await.expect("client");
    let err = art
        .restore(symx_proto::v1::RestoreRequest {
            ids: vec![old.clone()],
            overwrite: false,
        })
        .await
        .expect_err("conflict");
    assert_eq!(err.code(), tonic::Code::AlreadyExists, "{err:?}");
    let restored = art
        .restore(symx_proto::v1::RestoreRequest {
            ids: vec![old.clone()],
            overwrite: true,
        })
        .await
        .expect("restore with overwrite")
        .into_inner();
    assert_eq!(restored.artifacts[0].id, old);
}
