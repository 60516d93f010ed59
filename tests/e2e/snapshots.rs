//! Snapshots of the vendor APIs' response bodies (status and JSON), compared with the files in
//! `tests/snapshots/`. Timestamps are redacted (`<timestamp>`); everything else (artifact ids,
//! hashes, sizes) is deterministic for the same fixture and must not drift unnoticed.
//! `SYMX_UPDATE_SNAPSHOTS=1 cargo test ... snapshots` rewrites the files after a deliberate
//! change; review the diff.

use serde_json::Value;
use symx_e2e::*;

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && s.ends_with('Z')
}

fn redact(v: &mut Value) {
    match v {
        Value::String(s) if is_timestamp(s) => *s = "<timestamp>".into(),
        Value::Array(a) => a.iter_mut().for_each(redact),
        Value::Object(o) => o.values_mut().for_each(redact),
        _ => {}
    }
}

async fn shot(resp: reqwest::Response) -> Value {
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let mut body: Value = resp.json().await.unwrap_or(Value::Null);
    redact(&mut body);
    let mut out = serde_json::json!({ "status": status, "body": body });
    if let Some(r) = retry_after {
        out["retry_after"] = Value::String(r);
    }
    out
}

fn compare(name: &str, got: &Value) {
    let path = repo_root().join(format!("tests/snapshots/{name}.json"));
    let text = serde_json::to_string_pretty(got).expect("json") + "\n";
    if std::env::var_os("SYMX_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, &text).expect("write snapshot");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with SYMX_UPDATE_SNAPSHOTS=1 to create it",
            path.display()
        )
    });
    assert_eq!(
        text, want,
        "snapshot {name} differs (SYMX_UPDATE_SNAPSHOTS=1 rewrites it)"
    );
}

const URL: &str = "https://cdn.shop.io/static/app.min.js";

fn dd_upload_body(version: &str) -> Vec<u8> {
    let parts = js_fixture_parts("esbuild", "app.min.js");
    let event = serde_json::json!({
        "type": "js_sourcemap", "service": "shop-web", "version": version,
        "minified_url": URL, "cli_version": "5.25.0",
    });
    multipart(&[
        (
            "event",
            None,
            "application/json",
            event.to_string().into_bytes(),
        ),
        (
            "source_map",
            Some("app.min.js.map"),
            "application/json",
            parts[0].1.clone(),
        ),
        (
            "minified_file",
            Some("app.min.js"),
            "application/javascript",
            parts[1].1.clone(),
        ),
    ])
}

#[tokio::test]
async fn vendor_response_bodies_match_their_snapshots() {
    let srv = TestServer::start().await.expect("server");
    let http = reqwest::Client::new();
    let base = srv.http();
    let mut shots = serde_json::Map::new();
    let mut take = |name: &str, v: Value| {
        shots.insert(name.to_owned(), v);
    };
    let post = |body: Vec<u8>| {
        http.post(format!("{base}/api/v2/srcmap"))
            .header("DD-API-KEY", "k")
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body)
    };
    take(
        "datadog_upload_202",
        shot(post(dd_upload_body("1.0.0")).send().await.expect("send")).await,
    );
    take(
        "datadog_upload_400_missing_event",
        shot(
            post(multipart(&[(
                "source_map",
                Some("a.map"),
                "application/json",
                b"{}".to_vec(),
            )]))
            .send()
            .await
            .expect("send"),
        )
        .await,
    );
    let get = |path: &str| http.get(format!("{base}{path}"));
    take(
        "datadog_list_200",
        shot(
            get("/api/v2/sourcemaps/list?filter[service]=shop-web&filter[version]=1.0.0")
                .send()
                .await
                .expect("send"),
        )
        .await,
    );
    take(
        "datadog_list_400_missing_filter",
        shot(
            get("/api/v2/sourcemaps/list?mapkind=js")
                .send()
                .await
                .expect("send"),
        )
        .await,
    );
    let mut got = shot(
        get("/api/v2/sourcemaps?filename=app.min.js&service=shop-web&version=1.0.0")
            .send()
            .await
            .expect("send"),
    )
    .await;
    // The map's own text is long and covered by the JS tests: keep the envelope.
    if let Some(attrs) = got
        .pointer_mut("/body/data/attributes")
        .and_then(Value::as_object_mut)
    {
        for long in ["mappings", "sourcesContent", "names", "minifiedLineLengths"] {
            if attrs.contains_key(long) {
                attrs.insert(long.into(), Value::String("<elided>".into()));
            }
        }
    }
    take("datadog_get_200", got);
    take(
        "datadog_delete_dry_run_200",
        shot(
            http.delete(format!(
                "{base}/api/v2/sourcemaps?mapkind=js&dry_run=true&filter[service]=shop-web&filter[version]=1.0.0"
            ))
            .send()
            .await
            .expect("send"),
        )
        .await,
    );
    let map = std::fs::read(fixture("js/esbuild/app.min.js.map")).expect("map");
    let elastic = multipart(&[
        ("service_name", None, "text/plain", b"foo".to_vec()),
        ("service_version", None, "text/plain", b"1.0.0".to_vec()),
        (
            "bundle_filepath",
            None,
            "text/plain",
            b"/static/bundle.js".to_vec(),
        ),
        ("sourcemap", Some("bundle.js.map"), "application/json", map),
    ]);
    let elastic_post = |body: Vec<u8>, xsrf: bool| {
        let mut r = http
            .post(format!("{base}/api/apm/sourcemaps"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body);
        if xsrf {
            r = r.header("kbn-xsrf", "true");
        }
        r
    };
    take(
        "elastic_post_200",
        shot(
            elastic_post(elastic.clone(), true)
                .send()
                .await
                .expect("send"),
        )
        .await,
    );
    take(
        "elastic_post_400_no_xsrf",
        shot(elastic_post(elastic, false).send().await.expect("send")).await,
    );
    let mut got = shot(
        get("/api/apm/sourcemaps?perPage=1")
            .send()
            .await
            .expect("send"),
    )
    .await;
    if let Some(arts) = got
        .pointer_mut("/body/artifacts")
        .and_then(Value::as_array_mut)
    {
        for a in arts {
            a["body"]["sourceMap"] = Value::String("<elided>".into());
        }
    }
    take("elastic_get_200", got);
    take(
        "elastic_delete_404",
        shot(
            http.delete(format!("{base}/api/apm/sourcemaps/apm:nope-1.0.0-00000000"))
                .header("kbn-xsrf", "true")
                .send()
                .await
                .expect("send"),
        )
        .await,
    );
    compare("vendor_responses", &Value::Object(shots));
}
