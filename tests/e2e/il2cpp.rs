//! Unity IL2CPP end to end: an ELF (the g++ fixture) and a line mapping with its build id;
//! native frames resolve to their C++ location and gain the C# file and line.

use crate::native::Expected;
use std::collections::BTreeMap;
use symx_e2e::*;
use symx_proto::v1 as pb;
use tonic::Code;

const BUILD_ID: &str = "1e178778753aa68d811fb8191bedd7f3a71b25a3";

type Mapping = BTreeMap<String, BTreeMap<String, BTreeMap<String, u32>>>;

/// The C# answer for crash.cpp line `line`, computed from the fixture file.
fn managed(mapping: &Mapping, line: u32) -> Option<(String, u32)> {
    let by_cs = mapping.values().next()?;
    by_cs
        .iter()
        .flat_map(|(cs, lines)| {
            lines
                .iter()
                .map(move |(cpp, l)| (cpp.parse::<u32>().unwrap_or(0), cs.clone(), *l))
        })
        .filter(|(cpp, _, _)| *cpp <= line)
        .max_by_key(|(cpp, _, _)| *cpp)
        .map(|(_, cs, l)| (cs, l))
}

#[tokio::test]
async fn native_frames_gain_their_csharp_location() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let elf = std::fs::read(fixture("native/elf/crash.debug")).expect("elf");
    upload(
        &mut art,
        pb::UploadMetadata {
            r#type: pb::UploadType::ElfSymbolFile as i32,
            ..Default::default()
        },
        &[("elf_symbol_file", elf)],
    )
    .await
    .expect("elf upload");
    let json = std::fs::read(fixture("il2cpp/LineNumberMappings.json")).expect("mapping");
    let mapping: Mapping = serde_json::from_slice(&json).expect("json");
    // Through the CLI, as a release engineer uploads it.
    let (endpoint, path) = (srv.endpoint(), fixture("il2cpp/LineNumberMappings.json"));
    let out = tokio::task::spawn_blocking(move || {
        symx_cli(
            &endpoint,
            &[
                "upload",
                "il2cpp",
                &path.to_string_lossy(),
                "--build-id",
                BUILD_ID,
            ],
        )
    })
    .await
    .expect("join");
    stdout_of(&out);
    let expected: Vec<Expected> =
        serde_json::from_slice(&std::fs::read(fixture("native/elf/expected.json")).expect("json"))
            .expect("expected");
    let frames = expected
        .iter()
        .map(|e| pb::Frame {
            frame: Some(pb::frame::Frame::Native(pb::NativeFrame {
                code_id: BUILD_ID.into(),
                instruction_addr: e.address,
                exact: Some(true),
                ..Default::default()
            })),
        })
        .collect();
    let mut sym = srv.symbolication().await.expect("client");
    let results = symbolicate(&mut sym, "", "", frames, 0).await;
    let mut mapped = 0;
    for r in results
        .iter()
        .filter(|r| r.status == pb::FrameStatus::Resolved as i32)
    {
        for f in &r.frames {
            // Symbol-table answers (no file) have nothing to map.
            if f.source.is_empty() {
                assert!(f.managed().is_none(), "{f:?}");
                continue;
            }
            // C++ location kept; C# added where the mapping covers the line.
            assert!(f.source.ends_with("crash.cpp"), "{f:?}");
            match managed(&mapping, f.line) {
                Some((cs, line)) => {
                    assert_eq!(f.managed().unwrap_or_default(), (cs.as_str(), line));
                    mapped += 1;
                }
                None => assert!(f.managed().is_none(), "{f:?}"),
            }
        }
    }
    assert!(mapped > 10, "only {mapped} frames mapped to C#");
}

#[tokio::test]
async fn malformed_line_mappings_are_refused() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let meta = pb::UploadMetadata {
        r#type: pb::UploadType::Il2cppMappingFile as i32,
        build_id: BUILD_ID.into(),
        ..Default::default()
    };
    for (what, body, needle) in [
        (
            "not JSON",
            b"crash.cpp:12 -> Cart.cs:3".to_vec(),
            "invalid IL2CPP line mapping",
        ),
        (
            "bad line",
            br#"{"a.cpp":{"b.cs":{"twelve":3}}}"#.to_vec(),
            "`twelve`",
        ),
    ] {
        let err = upload(&mut art, meta.clone(), &[("il2cpp_mapping_file", body)])
            .await
            .expect_err(what);
        assert_eq!(err.code(), Code::InvalidArgument, "{what}");
        assert!(
            err.message().contains(needle) && err.message().contains("il2cpp_mapping_file"),
            "{what}: {}",
            err.message()
        );
    }
}
