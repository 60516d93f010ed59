//! The contract of every persisted index format: an index of an older version is rebuilt from
//! the stored raw artifact when it is loaded, and answers exactly as the current one did.

use crate::jvm::upload_mapping;
use crate::native::Expected;
use symx_e2e::*;
use symx_proto::v1 as pb;

const BUILD_ID: &str = "1e178778753aa68d811fb8191bedd7f3a71b25a3";
const JS_URL: &str = "https://cdn.example.com/static/js/app.min.js";

/// A frame of each kind: JavaScript, native (whose module has an IL2CPP mapping) and JVM.
fn request() -> pb::SymbolicateRequest {
    let native = |addr: u64| pb::Frame {
        frame: Some(pb::frame::Frame::Native(pb::NativeFrame {
            code_id: BUILD_ID.into(),
            instruction_addr: addr,
            exact: Some(true),
            ..Default::default()
        })),
    };
    let expected: Vec<Expected> =
        serde_json::from_slice(&std::fs::read(fixture("native/elf/expected.json")).expect("json"))
            .expect("expected");
    let addresses: Vec<u64> = expected.iter().map(|e| e.address).collect();
    pb::SymbolicateRequest {
        stacktraces: vec![
            pb::StackTrace {
                service: "web".into(),
                version: "5.0".into(),
                frames: vec![js_frame(JS_URL, 3, 30)],
                ..Default::default()
            },
            pb::StackTrace {
                frames: addresses.into_iter().map(native).collect(),
                ..Default::default()
            },
            pb::StackTrace {
                service: "shop-android".into(),
                version: "5.1.0".into(),
                variant: "release".into(),
                frames: vec![pb::Frame {
                    frame: Some(pb::frame::Frame::Jvm(pb::JvmFrame {
                        class_name: "com.shop.a.a".into(),
                        method: "a".into(),
                        line: 1028,
                        file: "SourceFile".into(),
                    })),
                }],
                ..Default::default()
            },
        ],
        context_lines: 1,
        ..Default::default()
    }
}

/// The same header with an older version: what a store written by an earlier symx holds.
fn older(name: &str, mut index: Vec<u8>) -> Vec<u8> {
    match &index[..8] {
        b"SYMXJSIX" => index[8..12].copy_from_slice(&2u32.to_le_bytes()),
        b"SYMXNAT5" => index[..8].copy_from_slice(b"SYMXNAT4"),
        b"SYMXJVM4" => index[..8].copy_from_slice(b"SYMXJVM3"),
        b"SYMXI2C2" => index[..8].copy_from_slice(b"SYMXI2C1"),
        other => panic!("{name}: unknown index format {other:?}"),
    }
    index
}

#[tokio::test]
async fn every_index_kind_is_rebuilt_from_its_raw_artifact() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let mut ids = Vec::new();
    let js = upload_js_fixture(
        &mut art,
        "esbuild",
        "app.min.js",
        js_meta("web", "5.0", JS_URL),
    )
    .await
    .expect("js");
    ids.push(js.artifact.expect("artifact").id);
    let elf = std::fs::read(fixture("native/elf/crash.debug")).expect("elf");
    let native = upload(
        &mut art,
        pb::UploadMetadata {
            r#type: pb::UploadType::ElfSymbolFile as i32,
            ..Default::default()
        },
        &[("elf_symbol_file", elf)],
    )
    .await
    .expect("elf");
    ids.push(native.artifact.expect("artifact").id);
    let il2cpp = upload(
        &mut art,
        pb::UploadMetadata {
            r#type: pb::UploadType::Il2cppMappingFile as i32,
            build_id: BUILD_ID.into(),
            ..Default::default()
        },
        &[(
            "il2cpp_mapping_file",
            std::fs::read(fixture("il2cpp/LineNumberMappings.json")).expect("mapping"),
        )],
    )
    .await
    .expect("il2cpp");
    ids.push(il2cpp.artifact.expect("artifact").id);
    ids.push(upload_mapping(&srv).await.id);

    drop(art);
    let mut sym = srv.symbolication().await.expect("client");
    let before = sym
        .symbolicate(request())
        .await
        .expect("symbolicate")
        .into_inner();
    drop(sym);
    let resolved = |r: &pb::SymbolicateResponse| {
        r.stacktraces
            .iter()
            .map(|st| {
                st.frames
                    .iter()
                    .filter(|f| f.status == pb::FrameStatus::Resolved as i32)
                    .count()
            })
            .collect::<Vec<_>>()
    };
    assert!(
        resolved(&before).iter().all(|n| *n > 0),
        "every kind resolves before: {:?}",
        resolved(&before)
    );
    assert!(
        before.stacktraces[1]
            .frames
            .iter()
            .flat_map(|f| &f.frames)
            .any(|f| f.managed().is_some()),
        "native frames carry their C# location"
    );

    // The store as an earlier symx left it: every index of an older format version.
    let TestServer { server, dir } = srv;
    server.shutdown().await.expect("shutdown");
    {
        let storage = symx_storage::Storage::open(
            &dir.path().join("db"),
            &symx_storage::StorageOptions::default(),
        )
        .expect("open the store");
        let tenant = symx_types::Tenant::default();
        for id in &ids {
            let id = symx_types::ArtifactId::parse(id).expect("id");
            let rec = storage.get(&tenant, &id).expect("get").expect("record");
            for name in rec.indexes.iter().filter(|n| *n != "fleet" && *n != "repo") {
                let index = storage
                    .read_index(&tenant, &id, name)
                    .expect("read")
                    .expect("index");
                storage
                    .replace_index(&tenant, &id, name, &older(name, index))
                    .expect("replace");
            }
        }
    }
    let srv = TestServer {
        server: symx_server::Server::start(test_config(dir.path()))
            .await
            .expect("start"),
        dir,
    };
    let mut sym = srv.symbolication().await.expect("client");
    let after = sym
        .symbolicate(request())
        .await
        .expect("symbolicate")
        .into_inner();
    assert_eq!(
        after, before,
        "rebuilt indexes answer as the current ones did"
    );
    let metrics = srv.metrics().await;
    for kind in ["js", "elf", "il2cpp", "jvm"] {
        assert!(
            metrics.contains(&format!("symx_index_builds_total{{kind=\"{kind}\"}} 1")),
            "{kind} was not rebuilt once:\n{metrics}"
        );
    }
}
