//! Upload validation, identity and overwrite, list, get, delete (dry run), restore.

use symx_e2e::*;
use symx_proto::v1 as pb;
use tonic::Code;

/// Named file parts of one upload.
type Parts = Vec<(&'static str, Vec<u8>)>;

fn esbuild_pair() -> Parts {
    js_fixture_parts("esbuild", "app.min.js")
}

#[tokio::test]
async fn metadata_is_validated_field_by_field() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let cases: Vec<(pb::UploadMetadata, &str)> = vec![
        (js_meta("", "1", "/a.js"), "Missing required field: service"),
        (
            js_meta("web", &"v".repeat(201), "/a.js"),
            "version must be 1-200 characters",
        ),
        (
            js_meta("web", "1", ""),
            "Missing required field: minified_url",
        ),
        (
            pb::UploadMetadata {
                git_commit_sha: "XYZ".into(),
                ..js_meta("web", "1", "/a.js")
            },
            "git_commit_sha must be 40 lowercase hex characters",
        ),
        (
            pb::UploadMetadata {
                r#type: pb::UploadType::ReactNativeSourcemap as i32,
                service: "app".into(),
                version: "1".into(),
                bundle_name: "index.android.bundle".into(),
                platform: "web".into(),
                ..Default::default()
            },
            "platform `web` must be one of android, ios",
        ),
        (
            pb::UploadMetadata {
                r#type: pb::UploadType::ElfSymbolFile as i32,
                gnu_build_id: "abc".into(),
                ..Default::default()
            },
            "gnu_build_id must be 16 or more hex characters",
        ),
        (
            pb::UploadMetadata {
                r#type: pb::UploadType::PeSymbolFile as i32,
                arch: "x64".into(),
                pdb_sig: "3F2504E0-4F89-11D3-9A0C-0305E82C3301".into(),
                pdb_age: Some(-2),
                ..Default::default()
            },
            "pdb_age must be >= 0",
        ),
        (
            pb::UploadMetadata::default(),
            "Missing required field: type",
        ),
    ];
    for (meta, msg) in cases {
        let err = upload(&mut art, meta, &esbuild_pair())
            .await
            .expect_err("must be rejected");
        assert_eq!(err.code(), Code::InvalidArgument, "{msg}");
        assert!(
            err.message().contains(msg),
            "expected `{msg}` in `{}`",
            err.message()
        );
    }
    // A broken map, a map referring to missing sources, a missing part: nothing is stored.
    let bad_parts: Vec<(Parts, &str)> = vec![
        (
            vec![
                ("source_map", b"{\"version\":3,".to_vec()),
                ("minified_file", b"x".to_vec()),
            ],
            "invalid source map",
        ),
        (
            vec![
                (
                    "source_map",
                    br#"{"version":3,"sources":[],"names":[],"mappings":"AAAA"}"#.to_vec(),
                ),
                ("minified_file", b"x".to_vec()),
            ],
            "refers to source 0",
        ),
        (
            vec![("source_map", esbuild_pair()[0].1.clone())],
            "Missing required file: minified_file",
        ),
        (
            vec![
                ("source_map", esbuild_pair()[0].1.clone()),
                ("minified_file", vec![0xff, 0xfe, 0x00]),
            ],
            "not UTF-8 at byte offset 0",
        ),
        (
            vec![("bogus", b"x".to_vec())],
            "unexpected file part `bogus`",
        ),
    ];
    for (parts, msg) in bad_parts {
        let err = upload(&mut art, js_meta("web", "1", "/a.js"), &parts)
            .await
            .expect_err("must be rejected");
        assert_eq!(err.code(), Code::InvalidArgument, "{msg}");
        assert!(
            err.message().contains(msg),
            "expected `{msg}` in `{}`",
            err.message()
        );
    }
    let list = list_js(&mut art, "web", &["1"]).await;
    assert_eq!(
        list.total_filtered_count, 0,
        "rejected uploads left something behind"
    );
}

#[tokio::test]
async fn identity_conflict_and_atomic_overwrite() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let meta = js_meta("web", "1.0", "https://cdn.example.com/static/js/app.min.js");
    let first = upload(&mut art, meta.clone(), &esbuild_pair())
        .await
        .expect("first");
    let first_id = first.artifact.expect("artifact").id;
    // Same identity, other content (the terser build): ALREADY_EXISTS.
    let terser = js_fixture_parts("terser", "app.min.js");
    let err = upload(&mut art, meta.clone(), &terser)
        .await
        .expect_err("conflict");
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(err.message().contains(&first_id), "{}", err.message());
    // With overwrite: replaced, and frames now resolve against the new artifact.
    let second = upload(
        &mut art,
        pb::UploadMetadata {
            overwrite: true,
            ..meta.clone()
        },
        &terser,
    )
    .await
    .expect("overwrite");
    assert_eq!(second.replaced_id, first_id);
    let second_id = second.artifact.expect("artifact").id;
    assert_ne!(second_id, first_id);
    let list = list_js(&mut art, "web", &["1.0"]).await;
    assert_eq!(
        list.artifacts
            .iter()
            .map(|a| a.id.clone())
            .collect::<Vec<_>>(),
        vec![second_id.clone()]
    );
    let mut sym = srv.symbolication().await.expect("client");
    let r = symbolicate(
        &mut sym,
        "web",
        "1.0",
        vec![js_frame(
            "https://cdn.example.com/static/js/app.min.js",
            1,
            979,
        )],
        0,
    )
    .await;
    assert_eq!(r[0].artifact_id, second_id);
    // Re-uploading identical content with overwrite changes nothing.
    let again = upload(
        &mut art,
        pb::UploadMetadata {
            overwrite: true,
            ..meta
        },
        &terser,
    )
    .await
    .expect("same");
    assert!(again.unchanged);
}

async fn seed(
    art: &mut symx_proto::v1::artifact_service_client::ArtifactServiceClient<
        tonic::transport::Channel,
    >,
) -> Vec<String> {
    let mut ids = Vec::new();
    for (version, url) in [
        ("1.0", "https://cdn.example.com/static/js/app.min.js"),
        ("1.0", "https://cdn.example.com/static/js/vendor.min.js"),
        ("2.0", "https://cdn.example.com/static/js/app.min.js"),
    ] {
        let r = upload(art, js_meta("shop", version, url), &esbuild_pair())
            .await
            .expect("upload");
        ids.push(r.artifact.expect("artifact").id);
    }
    // Other kinds are stored and listed with their own attributes.
    let jvm = pb::UploadMetadata {
        r#type: pb::UploadType::JvmMappingFile as i32,
        service: "android".into(),
        version: "5.1".into(),
        variant: "release".into(),
        build_id: "b-1".into(),
        ..Default::default()
    };
    let r = upload(
        art,
        jvm,
        &[("jvm_mapping_file", b"com.a.B -> a:\n".to_vec())],
    )
    .await
    .expect("jvm");
    ids.push(r.artifact.expect("artifact").id);
    let (uuid, archive) = thin_dsym_fixture();
    let ios = pb::UploadMetadata {
        r#type: pb::UploadType::IosSymbols as i32,
        uuids: uuid,
        ..Default::default()
    };
    let r = upload(art, ios, &[("symbols_archive", archive)])
        .await
        .expect("ios");
    ids.push(r.artifact.expect("artifact").id);
    ids
}

fn filters(service: &str, versions: &[&str]) -> Vec<pb::Filter> {
    vec![
        filter("service", [service]),
        filter("version", versions.iter().copied()),
    ]
}

#[tokio::test]
async fn list_filters_pagination_and_attributes() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let ids = seed(&mut art).await;
    let page = |size, number, f: Vec<pb::Filter>| pb::ListRequest {
        mapkind: pb::MapKind::Js as i32,
        filters: f,
        page_size: Some(size),
        page_number: Some(number),
        include_deleted: false,
        page_token: String::new(),
    };
    let p1 = art
        .list(page(2, 1, filters("shop", &["1.0", "2.0"])))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        (
            p1.artifacts.len(),
            p1.total_filtered_count,
            p1.has_more_results
        ),
        (2, 3, true)
    );
    let p2 = art
        .list(page(2, 2, filters("shop", &["1.0", "2.0"])))
        .await
        .expect("list")
        .into_inner();
    assert_eq!((p2.artifacts.len(), p2.has_more_results), (1, false));
    let v1 = art
        .list(page(10, 1, filters("shop", &["1.0"])))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(v1.total_filtered_count, 2);
    let by_file = art
        .list(page(
            10,
            1,
            [
                filters("shop", &["1.0"]),
                vec![filter("filename", ["vendor.min.js"])],
            ]
            .concat(),
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(by_file.artifacts.len(), 1);
    let a = &by_file.artifacts[0].attributes;
    assert_eq!(
        a.get("file_name").map(String::as_str),
        Some("vendor.min.js")
    );
    assert_eq!(
        a.get("absolute_path").map(String::as_str),
        Some("/static/js/vendor.min.js")
    );
    assert_eq!(a.get("domain").map(String::as_str), Some("cdn.example.com"));
    assert!(by_file.artifacts[0].size_bytes > 0);
    // Required filters per kind, unsupported filters, page bounds: INVALID_ARGUMENT naming them.
    let err = art
        .list(page(10, 1, Vec::new()))
        .await
        .expect_err("service required");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("filter[service]"),
        "{}",
        err.message()
    );
    let err = art
        .list(pb::ListRequest {
            mapkind: pb::MapKind::Ios as i32,
            filters: vec![filter("service", ["x"])],
            ..Default::default()
        })
        .await
        .expect_err("unsupported");
    assert!(
        err.message()
            .contains("filter[service] is not supported for mapkind `ios`"),
        "{}",
        err.message()
    );
    let err = art
        .list(page(0, 1, filters("shop", &["1.0"])))
        .await
        .expect_err("size 0");
    assert!(err.message().contains("page[size]"), "{}", err.message());
    // Other kinds.
    let jvm = art
        .list(pb::ListRequest {
            mapkind: pb::MapKind::Jvm as i32,
            filters: [
                filters("android", &["5.1"]),
                vec![filter("variant", ["release"])],
            ]
            .concat(),
            ..Default::default()
        })
        .await
        .expect("jvm list")
        .into_inner();
    assert_eq!(jvm.artifacts[0].id, ids[3]);
    assert_eq!(
        jvm.artifacts[0]
            .attributes
            .get("build_id")
            .map(String::as_str),
        Some("b-1")
    );
    let ios = art
        .list(pb::ListRequest {
            mapkind: pb::MapKind::Ios as i32,
            filters: vec![filter("uuid", [thin_dsym_fixture().0.to_lowercase()])],
            ..Default::default()
        })
        .await
        .expect("ios list")
        .into_inner();
    assert_eq!(ios.artifacts.len(), 1);
    assert_eq!(ios.artifacts[0].mapkind, pb::MapKind::Ios as i32);
    // The same UUID in the other common spellings: upper case without dashes, in braces.
    let uuid = thin_dsym_fixture().0;
    for spelling in [
        uuid.replace('-', "").to_uppercase(),
        format!("{{{}}}", uuid.to_uppercase()),
    ] {
        let found = art
            .list(pb::ListRequest {
                mapkind: pb::MapKind::Ios as i32,
                filters: vec![filter("uuid", [spelling.clone()])],
                ..Default::default()
            })
            .await
            .expect("ios list")
            .into_inner();
        assert_eq!(found.artifacts.len(), 1, "{spelling}");
    }
}

#[tokio::test]
async fn get_source_map_by_file_and_by_debug_id() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    seed(&mut art).await;
    let f = art
        .get_source_map(pb::GetSourceMapRequest {
            selector: Some(pb::get_source_map_request::Selector::File(
                pb::SourceMapByFile {
                    filename: "static/js/app.min.js".into(),
                    service: "shop".into(),
                    version: "2.0".into(),
                },
            )),
        })
        .await
        .expect("get")
        .into_inner();
    let map: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("js/esbuild/app.min.js.map")).expect("map"))
            .expect("json");
    assert_eq!(f.mappings, map["mappings"].as_str().expect("mappings"));
    assert_eq!(
        f.sources.len(),
        map["sources"].as_array().expect("sources").len()
    );
    assert_eq!(f.version, 3);
    let js = std::fs::read_to_string(fixture("js/esbuild/app.min.js")).expect("js");
    let lengths: Vec<u32> = js
        .split('\n')
        .map(|l| l.encode_utf16().count() as u32)
        .collect();
    assert_eq!(f.minified_line_lengths, lengths);
    assert_eq!(f.sources_content.len(), f.sources.len());
    assert!(f.sources_content[0].content.is_some());

    let terser_id = std::fs::read_to_string(fixture("js/terser/debug_id.txt")).expect("id");
    upload_js_fixture(
        &mut art,
        "terser",
        "app.min.js",
        js_meta("shop", "3.0", "/app.min.js"),
    )
    .await
    .expect("upload");
    let by_id = art
        .get_source_map(pb::GetSourceMapRequest {
            selector: Some(pb::get_source_map_request::Selector::DebugId(
                terser_id.trim().to_uppercase(),
            )),
        })
        .await
        .expect("by debug id")
        .into_inner();
    assert_eq!(by_id.id, "app.min.js.map");
    let missing = art
        .get_source_map(pb::GetSourceMapRequest {
            selector: Some(pb::get_source_map_request::Selector::DebugId(
                "00000000-0000-0000-0000-000000000000".into(),
            )),
        })
        .await
        .expect_err("missing");
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test]
async fn delete_dry_run_delete_restore() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    seed(&mut art).await;
    let del = |dry_run, f| pb::DeleteRequest {
        mapkind: pb::MapKind::Js as i32,
        filters: f,
        dry_run,
    };
    let dry = art
        .delete(del(true, filters("shop", &["1.0"])))
        .await
        .expect("dry")
        .into_inner();
    assert_eq!(dry.artifacts.len(), 2);
    assert!(dry.dry_run);
    assert_eq!(
        list_js(&mut art, "shop", &["1.0", "2.0"])
            .await
            .total_filtered_count,
        3,
        "dry run deleted something"
    );
    let eleven: Vec<String> = (0..11).map(|i| format!("v{i}")).collect();
    let err = art
        .delete(del(
            false,
            vec![filter("service", ["shop"]), filter("version", eleven)],
        ))
        .await
        .expect_err("11 versions");
    assert!(err.message().contains("at most 10"), "{}", err.message());
    let gone = art
        .delete(del(false, filters("shop", &["1.0"])))
        .await
        .expect("delete")
        .into_inner();
    assert_eq!(gone.artifacts.len(), 2);
    assert!(gone.artifacts.iter().all(|a| a.delete_time.is_some()));
    assert_eq!(
        list_js(&mut art, "shop", &["1.0", "2.0"])
            .await
            .total_filtered_count,
        1
    );
    // Deleted artifacts stop resolving.
    let sym = srv.symbolication().await.expect("client");
    let frame_status = |mut sym: Symbolication| async move {
        let url = "https://cdn.example.com/static/js/app.min.js";
        symbolicate(&mut sym, "shop", "1.0", vec![js_frame(url, 3, 30)], 0).await[0].status
    };
    assert_eq!(
        frame_status(sym.clone()).await,
        pb::FrameStatus::MissingArtifact as i32
    );
    let restored = art
        .restore(pb::RestoreRequest {
            ids: gone.artifacts.iter().map(|a| a.id.clone()).collect(),
            overwrite: false,
        })
        .await
        .expect("restore")
        .into_inner();
    assert_eq!(restored.artifacts.len(), 2);
    assert!(restored.artifacts.iter().all(|a| a.delete_time.is_none()));
    assert_eq!(
        list_js(&mut art, "shop", &["1.0", "2.0"])
            .await
            .total_filtered_count,
        3
    );
    assert_eq!(
        frame_status(sym.clone()).await,
        pb::FrameStatus::Resolved as i32
    );
}

#[tokio::test]
async fn soft_deleted_artifacts_are_purged_after_the_configured_age() {
    let srv = TestServer::start_with(|c| c.storage.purge_after_secs = 0)
        .await
        .expect("server");
    let mut art = srv.artifacts().await.expect("client");
    seed(&mut art).await;
    let gone = art
        .delete(pb::DeleteRequest {
            mapkind: pb::MapKind::Js as i32,
            filters: filters("shop", &["2.0"]),
            dry_run: false,
        })
        .await
        .expect("delete")
        .into_inner();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(srv.server.symx.purge().await.expect("purge"), 1);
    let err = art
        .restore(pb::RestoreRequest {
            ids: vec![gone.artifacts[0].id.clone()],
            overwrite: false,
        })
        .await
        .expect_err("purged");
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn unknown_kinds_are_rejected() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let err = art
        .list(pb::ListRequest {
            mapkind: 42,
            ..Default::default()
        })
        .await
        .expect_err("unknown kind");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("mapkind 42"), "{}", err.message());
    let err = art
        .delete(pb::DeleteRequest {
            mapkind: 0,
            filters: filters("shop", &["1"]),
            dry_run: true,
        })
        .await
        .expect_err("mapkind required for delete");
    assert!(err.message().contains("mapkind"), "{}", err.message());
}

/// A client that dies in the middle of an upload leaves nothing behind: no artifact, no
/// spool file.
#[tokio::test]
async fn truncated_upload_stream_stores_nothing() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::UploadRequest>(4);
    let mut client = art.clone();
    let call = tokio::spawn(async move {
        client
            .upload(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    tx.send(pb::UploadRequest {
        payload: Some(pb::upload_request::Payload::Metadata(js_meta(
            "web", "cut", "/a.js",
        ))),
    })
    .await
    .expect("send metadata");
    tx.send(pb::UploadRequest {
        payload: Some(pb::upload_request::Payload::Chunk(pb::FileChunk {
            part: "source_map".into(),
            data: esbuild_pair()[0].1[..1000].to_vec(),
        })),
    })
    .await
    .expect("send chunk");
    // The upload is under way: its spool exists (else the check below proves nothing).
    let spool = srv.dir.path().join("spool");
    let spooled =
        |spool: &std::path::Path| std::fs::read_dir(spool).map(|d| d.count()).unwrap_or(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while spooled(&spool) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the upload never spooled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The client goes away mid-stream.
    call.abort();
    drop(tx);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while spooled(&spool) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "spool files left behind"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let list = list_js(&mut art, "web", &["cut"]).await;
    assert_eq!(list.total_filtered_count, 0);
    // A stream that ends before the required parts is INVALID_ARGUMENT naming the part.
    let err = upload(
        &mut art,
        js_meta("web", "cut", "/a.js"),
        &[("source_map", esbuild_pair()[0].1.clone())],
    )
    .await
    .expect_err("minified_file missing");
    assert!(err.message().contains("minified_file"), "{}", err.message());
}

/// A map larger than one default gRPC message (16 MiB) is accepted at upload, so it reads
/// back too: over gRPC and through `symx get`.
#[tokio::test]
async fn large_maps_read_back_over_grpc_and_the_cli() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    // 24 MiB of embedded source, poorly compressible (what a bundle's sourcesContent holds).
    let content = incompressible_text(24 << 20, 0x2545_f491_4f6c_dd1d);
    let map = serde_json::json!({
        "version": 3,
        "sources": ["big.js"],
        "sourcesContent": [content],
        "names": [],
        "mappings": "AAAA",
    })
    .to_string();
    upload(
        &mut art,
        js_meta("big", "1.0", "/big.min.js"),
        &[
            ("source_map", map.into_bytes()),
            ("minified_file", b"x()".to_vec()),
        ],
    )
    .await
    .expect("upload");
    let f = art
        .get_source_map(pb::GetSourceMapRequest {
            selector: Some(pb::get_source_map_request::Selector::File(
                pb::SourceMapByFile {
                    filename: "big.min.js".into(),
                    service: "big".into(),
                    version: "1.0".into(),
                },
            )),
        })
        .await
        .expect("a 24 MiB map over gRPC")
        .into_inner();
    assert_eq!(
        f.sources_content[0].content.as_deref().map(str::len),
        Some(content.len())
    );
    let ep = srv.endpoint();
    let out = tokio::task::spawn_blocking(move || {
        symx_cli(
            &ep,
            &[
                "get",
                "--service",
                "big",
                "--version",
                "1.0",
                "--filename",
                "big.min.js",
            ],
        )
    })
    .await
    .expect("join");
    let printed: serde_json::Value = serde_json::from_str(&stdout_of(&out)).expect("json");
    assert_eq!(
        printed["data"]["attributes"]["sourcesContent"][0]
            .as_str()
            .map(str::len),
        Some(content.len())
    );
}

/// Walking a listing by page token: artifacts uploaded between two pages neither repeat an
/// artifact nor skip one (pages by number would shift); a bad token names the field.
#[tokio::test]
async fn page_tokens_walk_a_listing_while_uploads_land() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let url = |i: usize| format!("https://cdn.example.com/static/js/f{i}.min.js");
    for i in 0..5 {
        upload(&mut art, js_meta("walk", "1.0", &url(i)), &esbuild_pair())
            .await
            .expect("upload");
    }
    let page = |token: String| pb::ListRequest {
        mapkind: pb::MapKind::Js as i32,
        filters: filters("walk", &["1.0"]),
        page_size: Some(2),
        page_token: token,
        ..Default::default()
    };
    let mut seen: Vec<String> = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let resp = art
            .list(page(token.clone()))
            .await
            .expect("list")
            .into_inner();
        pages += 1;
        seen.extend(resp.artifacts.iter().map(|a| a.id.clone()));
        if pages == 1 {
            // Newer artifacts land while the listing is walked.
            for i in 5..8 {
                upload(&mut art, js_meta("walk", "1.0", &url(i)), &esbuild_pair())
                    .await
                    .expect("upload");
            }
        }
        assert_eq!(resp.has_more_results, !resp.next_page_token.is_empty());
        if resp.next_page_token.is_empty() {
            break;
        }
        token = resp.next_page_token;
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "an artifact repeated: {seen:?}");
    assert_eq!(
        seen.len(),
        5,
        "the five artifacts of the first page's listing: {seen:?}"
    );
    assert_eq!(pages, 3);
    // A token the server never gave, and a token beside a page number, are refused by name.
    let err = art
        .list(page("not-a-token".into()))
        .await
        .expect_err("bad token");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("page_token"), "{}", err.message());
    let mut both = page(token);
    both.page_number = Some(2);
    let err = art.list(both).await.expect_err("token and number");
    assert_eq!(err.code(), Code::InvalidArgument);
}
