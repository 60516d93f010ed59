//! Source links end to end: repository metadata as `datadog-ci git-metadata upload` sends it
//! (a `repository` upload), and beside a source map; resolved frames of every platform get a
//! link to their line when their file is tracked.

use symx_e2e::*;
use symx_proto::v1 as pb;
use tonic::Code;

const COMMIT: &str = "4f2c1d0e9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d";

/// The payload of the `repository` part, as datadog-ci writes it.
fn repository_part(files: &[&str], hash: &str, url: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "data": [{"files": files, "hash": hash, "repository_url": url}],
        "version": 1
    }))
    .expect("json")
}

fn repo_meta(url: &str, sha: &str) -> pb::UploadMetadata {
    pb::UploadMetadata {
        r#type: pb::UploadType::Repository as i32,
        git_repository_url: url.into(),
        git_commit_sha: sha.into(),
        ..Default::default()
    }
}

/// The fixture's inlined JVM frame, in a stack trace naming `commit` ("" for none).
async fn jvm_request(
    sym: &mut symx_proto::v1::symbolication_service_client::SymbolicationServiceClient<
        tonic::transport::Channel,
    >,
    commit: &str,
) -> pb::SymbolicateResponse {
    sym.symbolicate(pb::SymbolicateRequest {
        stacktraces: vec![pb::StackTrace {
            service: "shop-android".into(),
            version: "5.1.0".into(),
            variant: "release".into(),
            git_commit_sha: commit.into(),
            frames: vec![pb::Frame {
                frame: Some(pb::frame::Frame::Jvm(pb::JvmFrame {
                    class_name: "com.shop.a.a".into(),
                    method: "a".into(),
                    line: 1028,
                    file: "SourceFile".into(),
                })),
            }],
            ..Default::default()
        }],
        ..Default::default()
    })
    .await
    .expect("symbolicate")
    .into_inner()
}

#[tokio::test]
async fn frames_of_every_platform_link_to_tracked_files() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let files = [
        "web/src/orders.js",
        "web/src/util.js",
        "web/src/app.js",
        "android/app/src/main/java/com/shop/cart/Cart.java",
        "native/crash.cpp",
        "docs/util.js",
    ];
    upload(
        &mut art,
        repo_meta("git@github.com:shop/monorepo.git", COMMIT),
        &[(
            "repository",
            repository_part(&files, COMMIT, "git@github.com:shop/monorepo.git"),
        )],
    )
    .await
    .expect("repository upload");

    // A source map uploaded with the commit it was built from links through it.
    let mut js = js_meta("shop", "1.0.0", "https://cdn.shop.io/app.min.js");
    js.git_commit_sha = COMMIT.into();
    js.git_repository_url = "https://github.com/shop/monorepo".into();
    upload(&mut art, js, &js_fixture_parts("esbuild", "app.min.js"))
        .await
        .expect("js upload");
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture("js/esbuild/expected.json")).expect("expected"),
    )
    .expect("json");
    // The first sampled position the reference library maps (positions are 1-based).
    let first = expected
        .as_array()
        .expect("array")
        .iter()
        .find(|e| !e["expect"].is_null())
        .expect("a mapped position");
    let (line, col) = (
        first["line"].as_u64().expect("line") as u32,
        first["column"].as_u64().expect("column") as u32,
    );
    let mut sym = srv.symbolication().await.expect("client");
    let r = symbolicate(
        &mut sym,
        "shop",
        "1.0.0",
        vec![js_frame("https://cdn.shop.io/app.min.js", line, col)],
        0,
    )
    .await;
    let f = &r[0].frames[0];
    let link = f
        .source_link
        .as_ref()
        .unwrap_or_else(|| panic!("no link: {f:?}"));
    let want_path = format!(
        "web/src/{}",
        f.source.rsplit('/').next().expect("file name")
    );
    assert_eq!(link.path, want_path);
    assert_eq!(link.repository_url, "https://github.com/shop/monorepo");
    assert_eq!(link.commit, COMMIT);
    assert_eq!(link.line, f.line);
    assert_eq!(
        link.url,
        format!(
            "https://github.com/shop/monorepo/blob/{COMMIT}/{want_path}#L{}",
            f.line
        )
    );

    // A JVM mapping without metadata of its own: the stack trace names the commit.
    let mapping = std::fs::read(fixture("jvm/proguard/mapping.txt")).expect("mapping");
    upload(
        &mut art,
        pb::UploadMetadata {
            r#type: pb::UploadType::JvmMappingFile as i32,
            service: "shop-android".into(),
            version: "5.1.0".into(),
            variant: "release".into(),
            ..Default::default()
        },
        &[("jvm_mapping_file", mapping)],
    )
    .await
    .expect("jvm upload");
    let resp = jvm_request(&mut sym, COMMIT).await;
    let frames = &resp.stacktraces[0].frames[0].frames;
    assert!(!frames.is_empty());
    for f in frames {
        let l = f
            .source_link
            .as_ref()
            .unwrap_or_else(|| panic!("no link: {f:?}"));
        assert_eq!(l.path, "android/app/src/main/java/com/shop/cart/Cart.java");
        assert_eq!(l.line, f.line);
    }
    // Without the commit the mapping has no repository: resolved, no link.
    let resp = jvm_request(&mut sym, "").await;
    let r = &resp.stacktraces[0].frames[0];
    assert_eq!(r.status, pb::FrameStatus::Resolved as i32);
    assert!(!r.frames.is_empty());
    assert!(r.frames.iter().all(|f| f.source_link.is_none()), "{r:?}");
}

#[tokio::test]
async fn broken_repository_metadata_is_refused() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let url = "https://gitlab.com/shop/app";
    let other = "e".repeat(40);
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "not JSON",
            b"files: a.js".to_vec(),
            "repository",
            "not JSON",
        ),
        (
            "another commit",
            repository_part(&["a.js"], &"e".repeat(40), url),
            "git_commit_sha",
            &other,
        ),
        (
            "empty data",
            br#"{"data":[],"version":1}"#.to_vec(),
            "repository",
            "`data` is empty",
        ),
    ];
    for (what, part, field, needle) in cases {
        let err = upload(&mut art, repo_meta(url, COMMIT), &[("repository", part)])
            .await
            .expect_err(what);
        assert_eq!(err.code(), Code::InvalidArgument, "{what}");
        assert!(
            err.message().contains(field) && err.message().contains(needle),
            "{what}: {}",
            err.message()
        );
    }
    // Listing repositories needs no filter; none were stored.
    let list = art
        .list(pb::ListRequest {
            mapkind: pb::MapKind::Repository as i32,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(list.total_filtered_count, 0);
}
