//! JavaScript end to end: real fixtures uploaded over gRPC, frames resolved over gRPC, answers
//! compared with the reference library's (source-map-js) stored beside each fixture.

use serde::Deserialize;
use symx_e2e::*;
use symx_proto::v1 as pb;

#[derive(Deserialize)]
struct Expected {
    line: u32,
    column: u32,
    expect: Option<Answer>,
}

#[derive(Deserialize)]
struct Answer {
    source: String,
    line: u32,
    column: u32,
    name: Option<String>,
}

fn expected(dir: &str) -> Vec<Expected> {
    let text = std::fs::read_to_string(fixture(&format!("js/{dir}/expected.json")))
        .expect("expected.json");
    serde_json::from_str(&text).expect("expected.json parses")
}

/// Resolves every sampled position of a fixture and compares with the reference answers.
async fn check_against_reference(
    dir: &str,
    minified: &str,
    url: &str,
    with_debug_id: Option<&str>,
) {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let up = upload_js_fixture(&mut art, dir, minified, js_meta("web", "1.0.0", url))
        .await
        .expect("upload");
    let id = up.artifact.expect("artifact").id;
    let cases = expected(dir);
    assert!(cases.len() > 100, "{dir}: too few samples");
    let mut sym = srv.symbolication().await.expect("client");
    let frames: Vec<pb::Frame> = cases
        .iter()
        .map(|c| {
            let mut f = js_frame(url, c.line, c.column);
            if let (Some(d), Some(pb::frame::Frame::Js(js))) = (with_debug_id, f.frame.as_mut()) {
                js.debug_id = d.into();
                js.abs_path = "https://elsewhere.invalid/renamed.js".into();
            }
            f
        })
        .collect();
    let resp = sym
        .symbolicate(pb::SymbolicateRequest {
            stacktraces: vec![pb::StackTrace {
                service: if with_debug_id.is_some() {
                    String::new()
                } else {
                    "web".into()
                },
                version: if with_debug_id.is_some() {
                    String::new()
                } else {
                    "1.0.0".into()
                },
                frames,
                ..Default::default()
            }],
            context_lines: 0,
            debug_ids: Default::default(),
            explain: false,
        })
        .await
        .expect("symbolicate")
        .into_inner();
    let results = &resp.stacktraces[0].frames;
    assert_eq!(results.len(), cases.len());
    let mut resolved = 0;
    for (c, r) in cases.iter().zip(results) {
        match &c.expect {
            None => assert_eq!(
                r.status,
                pb::FrameStatus::OutOfRange as i32,
                "{dir} {}:{} should be unmapped, got {r:?}",
                c.line,
                c.column
            ),
            Some(e) => {
                assert_eq!(
                    r.status,
                    pb::FrameStatus::Resolved as i32,
                    "{dir} {}:{}: {r:?}",
                    c.line,
                    c.column
                );
                assert_eq!(r.artifact_id, id);
                let f = &r.frames[0];
                assert_eq!(
                    (f.source.as_str(), f.line, f.column),
                    (e.source.as_str(), e.line, e.column),
                    "{dir} {}:{}",
                    c.line,
                    c.column
                );
                assert_eq!(
                    (!f.symbol().is_empty()).then_some(f.symbol()),
                    e.name.as_deref(),
                    "{dir} {}:{} name",
                    c.line,
                    c.column
                );
                resolved += 1;
            }
        }
    }
    assert!(resolved > 100, "{dir}: only {resolved} resolved samples");
}

#[tokio::test]
async fn esbuild_bundle_matches_reference_library() {
    check_against_reference(
        "esbuild",
        "app.min.js",
        "https://cdn.example.com/static/js/app.min.js",
        None,
    )
    .await;
}

#[tokio::test]
async fn terser_bundle_matches_reference_library_by_debug_id() {
    let id = std::fs::read_to_string(fixture("js/terser/debug_id.txt")).expect("debug id");
    check_against_reference(
        "terser",
        "app.min.js",
        "https://cdn.example.com/static/js/app.min.js",
        Some(id.trim()),
    )
    .await;
}

#[tokio::test]
async fn index_map_with_source_root_matches_reference_library() {
    check_against_reference(
        "indexed",
        "combined.min.js",
        "/assets/combined.min.js",
        None,
    )
    .await;
}

/// The real V8 stack of the esbuild bundle: frames resolve to the original functions.
#[tokio::test]
async fn real_v8_stack_resolves_to_original_functions_with_context() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    // Uploaded with a path-only minified URL: frames from any host match by path.
    upload_js_fixture(
        &mut art,
        "esbuild",
        "app.min.js",
        js_meta("web", "2.0", "/static/js/app.min.js"),
    )
    .await
    .expect("upload");
    let mut sym = srv.symbolication().await.expect("client");
    let url = "https://cdn.example.com/static/js/app.min.js?cache=123";
    // Positions from tests/fixtures/js/esbuild/stack.txt (node's real Error.stack).
    let frames = vec![
        js_frame(url, 3, 30),
        js_frame(url, 2, 30),
        js_frame(url, 3, 111),
    ];
    let r = &symbolicate(&mut sym, "web", "2.0", frames, 2).await;
    let f0 = &r[0].frames[0];
    // `return book.find("missing-sku").price;` in book_lookup, src/app.js line 24 (esbuild
    // names sources relative to the output folder). Positions: source-map 0.7's answers.
    assert_eq!(
        (f0.source.as_str(), f0.line, f0.column),
        ("../src/app.js", 24, 33)
    );
    assert_eq!(f0.function, "book_lookup");
    assert_eq!(
        f0.context_line.as_deref(),
        Some("  return book.find(\"missing-sku\").price;")
    );
    assert_eq!(
        f0.pre_context,
        vec![
            "  const book = new OrderBook();",
            "  book.add(parseOrder(input.split(\"\\n\")[0]));"
        ]
    );
    assert_eq!(f0.post_context, vec!["}", ""]);
    // `return book_lookup(input);` in runApp (an arrow function bound to a const).
    let f1 = &r[1].frames[0];
    assert_eq!(
        (f1.source.as_str(), f1.line, f1.column),
        ("../src/app.js", 18, 10)
    );
    // The call site names the callee: the map's name at this position.
    assert_eq!(f1.symbol(), "book_lookup");
    assert_eq!(f1.function, "runApp");
    // The top-level call inside esbuild's IIFE: no named function encloses it.
    let f2 = &r[2].frames[0];
    assert_eq!(
        (f2.source.as_str(), f2.line, f2.column),
        ("../src/app.js", 29, 5)
    );
    assert_eq!(f2.function, "");
}

#[tokio::test]
async fn per_frame_statuses_never_fail_the_batch() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let up = upload_js_fixture(
        &mut art,
        "esbuild",
        "app.min.js",
        js_meta("web", "3.0", "https://cdn.example.com/static/js/app.min.js"),
    )
    .await
    .expect("upload");
    let id = up.artifact.expect("artifact").id;
    let mut sym = srv.symbolication().await.expect("client");
    let url = "https://cdn.example.com/static/js/app.min.js";
    let resp = sym
        .symbolicate(pb::SymbolicateRequest {
            stacktraces: vec![
                pb::StackTrace {
                    service: "web".into(),
                    version: "3.0".into(),
                    frames: vec![
                        js_frame(url, 3, 30),
                        js_frame(url, 999, 1),
                        js_frame(url, 0, 5),
                        js_frame("https://cdn.example.com/other.js", 1, 1),
                        pb::Frame { frame: None },
                        // Runtime code no upload describes: skipped, not missing.
                        js_frame("node:internal/process/task_queues", 95, 5),
                        js_frame("<anonymous>", 1, 1),
                        js_frame("[native code]", 1, 1),
                        js_frame("chrome-extension://abcdefgh/content.js", 2, 7),
                    ],
                    ..Default::default()
                },
                pb::StackTrace {
                    service: "web".into(),
                    version: "9.9".into(),
                    frames: vec![js_frame(url, 3, 30)],
                    ..Default::default()
                },
            ],
            context_lines: 0,
            debug_ids: Default::default(),
            explain: false,
        })
        .await
        .expect("symbolicate")
        .into_inner();
    let s: Vec<i32> = resp.stacktraces[0]
        .frames
        .iter()
        .map(|f| f.status)
        .collect();
    use pb::FrameStatus as S;
    assert_eq!(
        s,
        vec![
            S::Resolved as i32,
            S::OutOfRange as i32,
            S::InvalidFrame as i32,
            S::MissingArtifact as i32,
            S::UnsupportedPlatform as i32,
            S::Skipped as i32,
            S::Skipped as i32,
            S::Skipped as i32,
            S::Skipped as i32,
        ]
    );
    // Counted as skipped in the frame metrics, not as missing.
    let metrics = srv.metrics().await;
    let count = |status: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains("platform=\"javascript\""))
            .filter(|l| l.contains(&format!("status=\"{status}\"")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(count("skipped"), 4.0, "{metrics}");
    assert_eq!(count("missing_artifact"), 2.0, "{metrics}");
    assert_eq!(resp.stacktraces[0].frames[1].artifact_id, id);
    assert!(
        resp.stacktraces[0].frames[1]
            .message
            .contains("past the end")
    );
    assert_eq!(
        resp.stacktraces[1].frames[0].status,
        S::MissingArtifact as i32
    );
}

#[tokio::test]
async fn index_survives_restart_without_reparsing() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    upload_js_fixture(
        &mut art,
        "esbuild",
        "app.min.js",
        js_meta("web", "4.0", "https://cdn.example.com/static/js/app.min.js"),
    )
    .await
    .expect("upload");
    drop(art);
    let srv = srv.restart().await.expect("restart");
    let mut sym = srv.symbolication().await.expect("client");
    let r = symbolicate(
        &mut sym,
        "web",
        "4.0",
        vec![js_frame(
            "https://cdn.example.com/static/js/app.min.js",
            3,
            30,
        )],
        0,
    )
    .await;
    assert_eq!(r[0].status, pb::FrameStatus::Resolved as i32);
    // The persisted index was loaded, not rebuilt from the raw map.
    let metrics = srv.metrics().await;
    assert!(
        !metrics.contains("symx_index_builds_total{kind=\"js\"}"),
        "index rebuilt after restart:\n{metrics}"
    );
    assert!(
        metrics.contains("symx_cache_loads_total{cache=\"index\"} 1"),
        "{metrics}"
    );
}
