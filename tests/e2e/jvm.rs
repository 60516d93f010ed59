//! JVM end to end: the ProGuard fixture's mapping uploaded as `jvm_mapping_file`; real stack
//! traces through `symx symbolicate` print exactly what ProGuard's retrace prints; structured
//! frames over gRPC; malformed mappings refused.

use symx_e2e::*;
use symx_proto::v1 as pb;
use tonic::Code;

fn file(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("jvm/proguard/{name}"))).expect("fixture")
}

fn jvm_meta() -> pb::UploadMetadata {
    pb::UploadMetadata {
        r#type: pb::UploadType::JvmMappingFile as i32,
        service: "shop-android".into(),
        version: "5.1.0".into(),
        variant: "release".into(),
        ..Default::default()
    }
}

/// The fixture mapping, uploaded for shop-android 5.1.0 `release`.
pub(crate) async fn upload_mapping(srv: &TestServer) -> pb::Artifact {
    let mut art = srv.artifacts().await.expect("client");
    upload(
        &mut art,
        jvm_meta(),
        &[("jvm_mapping_file", file("mapping.txt"))],
    )
    .await
    .expect("upload")
    .artifact
    .expect("artifact")
}

async fn retrace(srv: &TestServer, input: &str, args: &[&str]) -> String {
    symbolicate_text_with(srv, input, args).await
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(|l| l.trim_end().to_owned()).collect()
}

#[tokio::test]
async fn raw_java_traces_print_what_proguard_retrace_prints() {
    let srv = TestServer::start().await.expect("server");
    let a = upload_mapping(&srv).await;
    // No build id given: one derived from the mapping's content is reported.
    let build_id = a.attributes.get("build_id").cloned().unwrap_or_default();
    assert_eq!(build_id.len(), 36, "{:?}", a.attributes);
    let release = [
        "--service",
        "shop-android",
        "--version",
        "5.1.0",
        "--variant",
        "release",
    ];
    for (input, expected) in [
        ("stack.txt", "expected-retrace.txt"),
        ("stack-all.txt", "expected-all.txt"),
    ] {
        let text = String::from_utf8(file(input)).expect("utf8");
        let printed = retrace(&srv, &text, &release).await;
        let want = String::from_utf8(file(expected)).expect("utf8");
        assert_eq!(lines(&printed), lines(&want), "{input}");
    }
    // The same by build id alone.
    let text = String::from_utf8(file("stack.txt")).expect("utf8");
    let printed = retrace(&srv, &text, &["--build-id", &build_id]).await;
    let want = String::from_utf8(file("expected-retrace.txt")).expect("utf8");
    assert_eq!(lines(&printed), lines(&want));
}

#[tokio::test]
async fn structured_frames_and_exceptions_over_grpc() {
    let srv = TestServer::start().await.expect("server");
    let a = upload_mapping(&srv).await;
    let mut sym = srv.symbolication().await.expect("client");
    let jvm = |class: &str, method: &str, line: u32| pb::Frame {
        frame: Some(pb::frame::Frame::Jvm(pb::JvmFrame {
            class_name: class.into(),
            method: method.into(),
            line,
            file: "SourceFile".into(),
        })),
    };
    let resp = sym
        .symbolicate(pb::SymbolicateRequest {
            stacktraces: vec![pb::StackTrace {
                service: "shop-android".into(),
                version: "5.1.0".into(),
                variant: "release".into(),
                exception: Some(pb::JvmThrowable {
                    class_name: "com.shop.a.b".into(),
                    message: "com.shop.a.c is not a com.shop.a.a".into(),
                }),
                frames: vec![
                    jvm("com.shop.a.a", "a", 1028),
                    jvm("java.lang.Thread", "run", 833),
                    jvm("", "a", 1),
                ],
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .expect("symbolicate")
        .into_inner();
    let st = &resp.stacktraces[0];
    let e = st.exception.as_ref().expect("exception");
    assert_eq!(e.class_name, "com.shop.cart.InvalidQuantityException");
    assert_eq!(
        e.message,
        "com.shop.cart.LineItem is not a com.shop.cart.Cart"
    );
    let r = &st.frames[0];
    assert_eq!(r.status, pb::FrameStatus::Resolved as i32, "{r:?}");
    assert_eq!(r.artifact_id, a.id);
    let chain: Vec<(&str, &str, u32, bool)> = r
        .frames
        .iter()
        .map(|f| (f.class_name(), f.function.as_str(), f.line, f.inlined))
        .collect();
    assert_eq!(
        chain,
        [
            ("com.shop.cart.Cart", "checked", 28, true),
            ("com.shop.cart.Cart", "priceOf", 23, true),
            ("com.shop.cart.Cart", "total", 17, false)
        ]
    );
    assert_eq!(r.frames[0].source, "Cart.java");
    assert_eq!(st.frames[1].status, pb::FrameStatus::OutOfRange as i32);
    assert_eq!(st.frames[2].status, pb::FrameStatus::InvalidFrame as i32);
    // An unknown release: a per-frame status.
    let miss = symbolicate(
        &mut sym,
        "shop-android",
        "9.9.9",
        vec![jvm("com.shop.a.a", "a", 1)],
        0,
    )
    .await;
    assert_eq!(miss[0].status, pb::FrameStatus::MissingArtifact as i32);
}

#[tokio::test]
async fn malformed_mappings_are_refused_and_nothing_is_stored() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "malformed line",
            b"com.shop.Cart -> a:\n    1:2:void add() -> a\n    ??? what\n".to_vec(),
            "line 3",
        ),
        (
            "a source map",
            br#"{"version":3,"sources":[],"names":[],"mappings":""}"#.to_vec(),
            "invalid ProGuard mapping",
        ),
        ("empty", Vec::new(), "invalid ProGuard mapping"),
    ];
    for (what, bytes, needle) in cases {
        let err = upload(&mut art, jvm_meta(), &[("jvm_mapping_file", bytes)])
            .await
            .expect_err(what);
        assert_eq!(err.code(), Code::InvalidArgument, "{what}");
        assert!(
            err.message().contains(needle) && err.message().contains("jvm_mapping_file"),
            "{what}: {}",
            err.message()
        );
    }
    let list = art
        .list(pb::ListRequest {
            mapkind: pb::MapKind::Jvm as i32,
            filters: vec![
                filter("service", ["shop-android"]),
                filter("version", ["5.1.0"]),
            ],
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(list.total_filtered_count, 0);
}
