//! React Native end to end: Metro's bundle map and composed Hermes maps uploaded as
//! `react_native_sourcemap` (with the bundle as the minified file, as datadog-ci sends it),
//! listed with the react filters, resolved over gRPC and through `symx symbolicate` with
//! metro-symbolicate's answers (`tests/fixtures/react/`), and deleted.

use serde_json::Value;
use symx_e2e::*;
use symx_proto::v1 as pb;
use tonic::Code;

fn file(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("react/{name}"))).expect("fixture")
}

fn expected() -> Value {
    serde_json::from_slice(&file("expected.json")).expect("expected.json")
}

fn react_meta(version: &str, platform: &str) -> pb::UploadMetadata {
    pb::UploadMetadata {
        r#type: pb::UploadType::ReactNativeSourcemap as i32,
        service: "shop-rn".into(),
        version: version.into(),
        bundle_name: "index.android.bundle".into(),
        platform: platform.into(),
        build_number: "42".into(),
        ..Default::default()
    }
}

async fn upload_map(art: &mut Artifacts, version: &str, map: &str) -> pb::Artifact {
    upload(
        art,
        react_meta(version, "android"),
        &[
            ("source_map", file(map)),
            ("minified_file", file("index.android.bundle")),
        ],
    )
    .await
    .expect("upload")
    .artifact
    .expect("artifact")
}

/// Our answer against metro-symbolicate's (1-based lines, 0-based columns).
fn check(what: &str, got: &pb::FrameResult, want: &Value) {
    if want["source"].is_null() {
        assert_ne!(
            got.status,
            pb::FrameStatus::Resolved as i32,
            "{what}: {got:?}"
        );
        return;
    }
    assert_eq!(
        got.status,
        pb::FrameStatus::Resolved as i32,
        "{what}: {got:?}"
    );
    let f = &got.frames[0];
    assert_eq!(
        f.source,
        want["source"].as_str().unwrap_or_default(),
        "{what}"
    );
    assert_eq!(Some(u64::from(f.line)), want["line"].as_u64(), "{what}");
    assert_eq!(
        Some(u64::from(f.column) - 1),
        want["column"].as_u64(),
        "{what}"
    );
    assert_eq!(
        f.symbol(),
        want["name"].as_str().unwrap_or_default(),
        "{what}"
    );
    assert_eq!(
        f.function,
        want["function"].as_str().unwrap_or_default(),
        "{what}"
    );
}

fn hermes_frame(offset: u32, function_id: Option<u32>) -> pb::Frame {
    pb::Frame {
        frame: Some(pb::frame::Frame::Js(pb::JsFrame {
            abs_path: "index.android.bundle".into(),
            line: 1,
            bytecode_offset: Some(offset),
            hermes_function_id: function_id,
            ..Default::default()
        })),
    }
}

#[tokio::test]
async fn metro_and_hermes_maps_resolve_as_metro_symbolicate() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let mut sym = srv.symbolication().await.expect("client");
    let all = expected();

    // Metro's index map: bundle positions (1-based line, 1-based column over the API).
    upload_map(&mut art, "1.0.0", "metro.map").await;
    let positions = all["metro.map"]["positions"].as_array().expect("positions");
    let frames = positions
        .iter()
        .map(|p| {
            let line = p["generated"][0].as_u64().unwrap_or(0) as u32;
            let col = p["generated"][1].as_u64().unwrap_or(0) as u32;
            js_frame("index.android.bundle", line, col + 1)
        })
        .collect();
    let got = symbolicate(&mut sym, "shop-rn", "1.0.0", frames, 0).await;
    assert_eq!(got.len(), positions.len());
    for (g, p) in got.iter().zip(positions) {
        check(&format!("metro.map {}", p["generated"]), g, p);
    }

    // hermes-compiler's composed map: every mapped bytecode offset.
    upload_map(&mut art, "2.0.0", "hermes.map").await;
    let positions = all["hermes.map"]["positions"]
        .as_array()
        .expect("positions");
    let frames = positions
        .iter()
        .map(|p| hermes_frame(p["generated"][1].as_u64().unwrap_or(0) as u32, None))
        .collect();
    let got = symbolicate(&mut sym, "shop-rn", "2.0.0", frames, 0).await;
    for (g, p) in got.iter().zip(positions) {
        check(&format!("hermes.map {}", p["generated"]), g, p);
    }

    // The real runtime trace's map, by function id + offset as Hermes crash reports give it.
    upload_map(&mut art, "3.0.0", "hermes-0.12.map").await;
    let map: Value = serde_json::from_slice(&file("hermes-0.12.map")).expect("json");
    let starts: Vec<u64> = map["x_hermes_function_offsets"]["0"]
        .as_array()
        .expect("offsets")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    let frames_want = all["trace-0.12.txt"]["frames"].as_array().expect("frames");
    let frames = frames_want
        .iter()
        .map(|f| {
            let offset = f["offset"].as_u64().unwrap_or(0);
            let func = starts.iter().rposition(|s| *s <= offset).unwrap_or(0);
            hermes_frame((offset - starts[func]) as u32, Some(func as u32))
        })
        .chain([hermes_frame(0, Some(starts.len() as u32))])
        .collect();
    let got = symbolicate(&mut sym, "shop-rn", "3.0.0", frames, 0).await;
    for (g, f) in got.iter().zip(frames_want) {
        check(&format!("trace frame {}", f["offset"]), g, f);
    }
    let unknown = got.last().expect("last");
    assert_eq!(unknown.status, pb::FrameStatus::InvalidFrame as i32);
    assert!(
        unknown.message.contains("x_hermes_function_offsets"),
        "{}",
        unknown.message
    );
}

#[tokio::test]
async fn a_hermes_trace_through_the_cli_names_every_function() {
    let srv = TestServer::start().await.expect("server");
    // Uploaded the way a release engineer would, with `symx upload react`.
    let dir = fixture("react");
    let (bundle, map) = (
        dir.join("index.android.bundle"),
        dir.join("hermes-0.12.map"),
    );
    let endpoint = srv.endpoint();
    let out = tokio::task::spawn_blocking(move || {
        symx_cli(
            &endpoint,
            &[
                "upload",
                "react",
                "--platform",
                "android",
                "--service",
                "shop-rn",
                "--release-version",
                "3.0.0",
                "--build-version",
                "42",
                "--bundle",
                &bundle.to_string_lossy(),
                "--sourcemap",
                &map.to_string_lossy(),
            ],
        )
    })
    .await
    .expect("join");
    stdout_of(&out);
    let trace = String::from_utf8(file("trace-0.12.txt")).expect("utf8");
    let printed = symbolicate_text_with(
        &srv,
        &trace,
        &["--service", "shop-rn", "--version", "3.0.0"],
    )
    .await;
    let all = expected();
    let frames = all["trace-0.12.txt"]["frames"].as_array().expect("frames");
    let mut want = vec!["Error: bad quantity 0".to_owned()];
    let mut answers = frames.iter();
    for line in trace.lines().skip(1) {
        if line.contains("(native)") {
            want.push(line.to_owned());
            continue;
        }
        let f = answers.next().expect("an answer per frame");
        if f["source"].is_null() {
            // The bundle prelude maps nowhere: the line stays, with the reason.
            want.push(format!(
                "{line}    [out_of_range: nothing is mapped at bytecode offset {}]",
                f["offset"]
            ));
            continue;
        }
        want.push(format!(
            "    at {} ({}:{}:{})",
            f["function"].as_str().expect("a function name"),
            f["source"].as_str().unwrap_or_default(),
            f["line"],
            f["column"].as_u64().unwrap_or(0) + 1
        ));
    }
    let got: Vec<&str> = printed.lines().map(str::trim_end).collect();
    assert_eq!(got, want);
    assert!(
        printed.contains("at Cart.prototype.priceOf (src/cart.js:12:"),
        "{printed}"
    );
}

#[tokio::test]
async fn react_artifacts_list_by_platform_and_bundle_and_delete() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let a = upload_map(&mut art, "2.0.0", "hermes.map").await;
    upload(
        &mut art,
        react_meta("2.0.0", "ios"),
        &[("source_map", file("metro.map"))],
    )
    .await
    .expect("ios upload");
    let list = |platform: &str| pb::ListRequest {
        mapkind: pb::MapKind::React as i32,
        filters: vec![
            filter("service", ["shop-rn"]),
            filter("version", ["2.0.0"]),
            filter("platform", [platform]),
            filter("bundle_name", ["index.android.bundle"]),
        ],
        ..Default::default()
    };
    let android = art.list(list("android")).await.expect("list").into_inner();
    assert_eq!(android.total_filtered_count, 1);
    assert_eq!(android.artifacts[0].id, a.id);
    let ios = art.list(list("ios")).await.expect("list").into_inner();
    assert_eq!(ios.total_filtered_count, 1);
    assert_ne!(ios.artifacts[0].id, a.id);

    let deleted = art
        .delete(pb::DeleteRequest {
            mapkind: pb::MapKind::React as i32,
            filters: vec![
                filter("service", ["shop-rn"]),
                filter("version", ["2.0.0"]),
                filter("platform", ["android"]),
            ],
            dry_run: false,
        })
        .await
        .expect("delete")
        .into_inner();
    assert_eq!(deleted.artifacts.len(), 1);
    let mut sym = srv.symbolication().await.expect("client");
    let got = symbolicate(
        &mut sym,
        "shop-rn",
        "2.0.0",
        vec![hermes_frame(2286, None)],
        0,
    )
    .await;
    // The iOS map (a bundle map, not bytecode) is what remains under that bundle name.
    assert_ne!(
        got[0].status,
        pb::FrameStatus::MissingArtifact as i32,
        "{:?}",
        got[0]
    );
    let android = art.list(list("android")).await.expect("list").into_inner();
    assert_eq!(android.total_filtered_count, 0);
}

#[tokio::test]
async fn malformed_hermes_maps_are_refused_and_nothing_is_stored() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let map = String::from_utf8(file("hermes.map")).expect("utf8");
    let start = map.find("\"x_hermes_function_offsets\"").expect("field");
    let end = start + map[start..].find('}').expect("end") + 1;
    let no_offsets = format!(
        "{}\"x_hermes_function_offsets\":{{}}{}",
        &map[..start],
        &map[end..]
    );
    for bad in [
        no_offsets,
        map.replacen("\"mappings\":\"", "\"mappings\":\"A;", 1),
    ] {
        let err = upload(
            &mut art,
            react_meta("9.0.0", "android"),
            &[("source_map", bad.into_bytes())],
        )
        .await
        .expect_err("refused");
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(err.message().contains("source_map"), "{}", err.message());
        assert!(
            err.message().contains("x_hermes_function_offsets"),
            "{}",
            err.message()
        );
    }
    let list = art
        .list(pb::ListRequest {
            mapkind: pb::MapKind::React as i32,
            filters: vec![filter("service", ["shop-rn"]), filter("version", ["9.0.0"])],
            include_deleted: true,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(list.total_filtered_count, 0);
}
