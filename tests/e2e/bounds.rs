//! Hostile inputs of issue 11 against the real `symxd` binary: each is refused with a message
//! naming its field, before memory is committed to it, and the process's peak resident set
//! (`VmHWM`) stays within a bound.
//!
//! Before the fix, these inputs (at the issue's sizes) took 2.4-17.5 GB: a `names` array of
//! tiny strings, a `sources` array, an index map whose section starts at line 10^8, a ProGuard
//! mapping of many small classes. Here they are scaled to the test's `max_build_memory` of
//! 256 MiB, so the same mechanism refuses them at a tenth of the size.

use std::fmt::Write;
use std::time::Duration;
use symx_e2e::*;

const MAX_BUILD: u64 = 256 << 20;

async fn post_datadog(
    d: &Daemon,
    event: serde_json::Value,
    part: &str,
    data: Vec<u8>,
) -> (u16, String) {
    let mut parts = vec![
        (
            "event",
            None,
            "application/json",
            event.to_string().into_bytes(),
        ),
        (part, Some(part), "application/octet-stream", data),
    ];
    if part == "source_map" {
        parts.push((
            "minified_file",
            Some("app.min.js"),
            "application/javascript",
            b"f()".to_vec(),
        ));
    }
    let body = multipart(&parts);
    let resp = reqwest::Client::new()
        .post(format!("http://{}/api/v2/srcmap", d.http))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .timeout(Duration::from_secs(120))
        .body(body)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

fn js_event(version: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "js_sourcemap", "service": "hostile", "version": version,
        "minified_url": "/static/app.min.js",
    })
}

/// A map whose `field` holds `n` one-letter strings.
fn tiny_strings(field: &str, n: usize) -> Vec<u8> {
    let other = if field == "names" { "sources" } else { "names" };
    let mut map = format!(r#"{{"version":3,"mappings":"AAAA","{other}":["x"],"{field}":["#);
    map.reserve(n * 4);
    for i in 0..n {
        map.push_str(if i > 0 { ",\"a\"" } else { "\"a\"" });
    }
    map.push_str("]}");
    map.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_artifacts_are_refused_before_memory_is_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limit = MAX_BUILD.to_string();
    let d = Daemon::spawn(dir.path(), &[("SYMX_LIMITS_MAX_BUILD_MEMORY", &limit)]);
    d.ready().await;
    let idle_kb = d.status_kb("VmHWM");

    // 4,000,000 names (16 MB): ~450 MB to decode.
    let (status, body) = post_datadog(
        &d,
        js_event("names"),
        "source_map",
        tiny_strings("names", 4_000_000),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("`names`: 4000001 entries"), "{body}");
    assert!(body.contains("limits.max_build_memory (256 MiB)"), "{body}");

    let (status, body) = post_datadog(
        &d,
        js_event("sources"),
        "source_map",
        tiny_strings("sources", 4_000_000),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("`sources`"), "{body}");

    // A few hundred bytes whose section starts at line 10^8 (the line table alone: 800 MB).
    let far = br#"{"version":3,"sections":[{"offset":{"line":100000000,"column":0},"map":{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA"}}]}"#;
    let (status, body) = post_datadog(&d, js_event("far"), "source_map", far.to_vec()).await;
    assert!(status == 400 || status == 413, "{status} {body}");
    assert!(body.contains("generated line 100000001"), "{body}");

    // A ProGuard mapping of 400,000 one-member classes (17 MB).
    let mut mapping = String::new();
    for c in 0..400_000 {
        let _ = writeln!(
            mapping,
            "com.example.C{c} -> a{c}:\n    1:1:void m():1:1 -> a"
        );
    }
    let event = serde_json::json!({
        "type": "jvm_mapping_file", "service": "hostile", "version": "1", "variant": "release",
    });
    let (status, body) = post_datadog(&d, event, "jvm_mapping_file", mapping.into_bytes()).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("jvm_mapping_file"), "{body}");
    assert!(body.contains("400000 class lines"), "{body}");

    // Nothing of them is stored, and an ordinary upload still goes through.
    let (status, body) = post_datadog(
        &d,
        js_event("ok"),
        "source_map",
        br#"{"version":3,"sources":["a.js"],"names":["f"],"mappings":"AAAAA"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 202, "{body}");

    let peak_kb = d.status_kb("VmHWM");
    eprintln!("symxd VmHWM: {idle_kb} kB idle, {peak_kb} kB after the hostile uploads");
    // Each refused upload held its bytes (at most 17 MB) and one counting pass over them.
    assert!(
        peak_kb < idle_kb + 96 * 1024,
        "peak RSS grew from {idle_kb} kB to {peak_kb} kB"
    );
}

/// Elastic's `GET /api/apm/sourcemaps` answers from what was stored at upload: the Fleet
/// hashes of each map (computed once) and the map's own JSON, streamed one artifact at a time.
/// Before, one page re-parsed and re-compressed every map on it at once (issue 11: a 367 MB
/// page took 10 GB of RSS).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_elastic_list_streams_stored_maps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::spawn(dir.path(), &[]);
    d.ready().await;
    const MAPS: usize = 4;
    const CONTENT: usize = 12 << 20;
    for i in 0..MAPS {
        let content = incompressible_text(CONTENT, 0x5151 + i as u64);
        let map = serde_json::json!({
            "version": 3, "sources": ["big.js"], "sourcesContent": [content],
            "names": [], "mappings": "AAAA",
        })
        .to_string()
        .into_bytes();
        let (status, body) =
            post_datadog(&d, js_event(&format!("big{i}")), "source_map", map).await;
        assert_eq!(status, 202, "{body}");
    }
    let before_kb = d.status_kb("VmHWM");
    let resp = reqwest::Client::new()
        .get(format!("http://{}/api/apm/sourcemaps?perPage=100", d.http))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .expect("list");
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.expect("the streamed answer is JSON");
    let after_kb = d.status_kb("VmHWM");
    let artifacts = body["artifacts"].as_array().expect("artifacts");
    assert_eq!(artifacts.len(), MAPS);
    for a in artifacts {
        let sha = a["decodedSha256"].as_str().expect("decodedSha256");
        assert_eq!(sha.len(), 64);
        assert_eq!(
            a["id"],
            format!("apm:{}-{sha}", a["identifier"].as_str().unwrap_or(""))
        );
        assert_eq!(a["body"]["serviceName"], "hostile");
        assert_eq!(
            a["body"]["sourceMap"]["sourcesContent"][0]
                .as_str()
                .map(str::len),
            Some(CONTENT)
        );
        assert!(a["encodedSize"].as_u64().unwrap_or(0) > 0);
    }
    eprintln!(
        "symxd VmHWM: {before_kb} kB before the list of {MAPS} x 12 MB maps, {after_kb} kB after"
    );
    // One map (12 MB) and its answer chunk at a time, not the page.
    assert!(
        after_kb < before_kb + 3 * (CONTENT as u64 >> 10),
        "listing grew the peak from {before_kb} kB to {after_kb} kB"
    );
    // And an id from the list deletes that map (the stored hash is the one listed).
    let id = artifacts[0]["id"].as_str().expect("id").to_owned();
    let resp = reqwest::Client::new()
        .delete(format!("http://{}/api/apm/sourcemaps/{id}", d.http))
        .header("kbn-xsrf", "true")
        .send()
        .await
        .expect("delete");
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
}
