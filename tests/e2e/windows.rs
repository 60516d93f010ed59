//! PE/PDB end to end: the clang-cl + lld-link fixture uploaded as `pe_symbol_file`. With the
//! PDB, addresses resolve with inlinee chains like llvm-symbolizer; the DLL alone still names
//! its exports; PDB signatures are checked against the metadata.

use crate::native::{Expected, assert_like_symbolizer};
use symx_e2e::*;
use symx_proto::v1 as pb;
use tonic::Code;

fn file(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("native/pe/{name}"))).expect("fixture")
}

/// (GUID as llvm-pdbutil prints it, with braces; age) from `pdb.txt`.
fn signature() -> (String, i64) {
    let (guid, age) = pe_fixture_signature();
    (guid, i64::from(age))
}

fn pe_meta(sig: &str, age: i64) -> pb::UploadMetadata {
    pb::UploadMetadata {
        r#type: pb::UploadType::PeSymbolFile as i32,
        arch: "x86_64".into(),
        pdb_sig: sig.into(),
        pdb_age: Some(age),
        filename: "app.pdb".into(),
        ..Default::default()
    }
}

fn frames_for(expected: &[Expected], debug_id: &str) -> Vec<pb::Frame> {
    // A DLL loaded at a typical 64-bit Windows address; even frames exact, odd ones return
    // addresses (one past the call).
    let image = 0x7ffb_2c3a_0000u64;
    expected
        .iter()
        .enumerate()
        .map(|(i, e)| pb::Frame {
            frame: Some(pb::frame::Frame::Native(pb::NativeFrame {
                debug_id: debug_id.to_owned(),
                image_addr: image,
                instruction_addr: image + e.address + (i % 2) as u64,
                exact: Some(i % 2 == 0),
                ..Default::default()
            })),
        })
        .collect()
}

#[tokio::test]
async fn pdb_resolves_inlinees_like_llvm_symbolizer() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let (guid, age) = signature();
    let up = upload(
        &mut art,
        pe_meta(&guid, age),
        &[("pe_symbol_file", file("app.pdb"))],
    )
    .await
    .expect("upload");
    let a = up.artifact.expect("artifact");
    let expected: Vec<Expected> = serde_json::from_slice(&file("expected.json")).expect("json");
    let mut sym = srv.symbolication().await.expect("client");
    // The debug id as minidumps carry it (`guid-age`), and in Breakpad's form (`GUIDAGE`).
    let plain: String = guid.chars().filter(char::is_ascii_hexdigit).collect();
    let dashed = format!(
        "{}-{}-{}-{}-{}-{age:x}",
        &plain[..8],
        &plain[8..12],
        &plain[12..16],
        &plain[16..20],
        &plain[20..]
    );
    for id in [dashed, format!("{}{age:X}", plain.to_uppercase())] {
        let results = symbolicate(&mut sym, "", "", frames_for(&expected, &id), 0).await;
        assert_like_symbolizer(&expected, &results, &a.id);
        assert!(
            results.iter().any(|r| r.frames.len() == 3),
            "{id}: no inlinee chain three deep"
        );
    }
}

#[tokio::test]
async fn a_dll_without_its_pdb_names_its_exports() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let (guid, age) = signature();
    // The metadata omits nothing here: the DLL's CodeView record carries the same signature.
    let up = upload(
        &mut art,
        pe_meta(&guid, age),
        &[("pe_symbol_file", file("app.dll"))],
    )
    .await
    .expect("upload");
    let a = up.artifact.expect("artifact");
    let expected: Vec<Expected> =
        serde_json::from_slice(&file("expected-exports.json")).expect("json");
    let plain: String = guid.chars().filter(char::is_ascii_hexdigit).collect();
    let mut sym = srv.symbolication().await.expect("client");
    let results = symbolicate(
        &mut sym,
        "",
        "",
        frames_for(&expected, &format!("{plain}{age:x}")),
        0,
    )
    .await;
    assert_like_symbolizer(&expected, &results, &a.id);
}

#[tokio::test]
async fn pdb_signatures_are_checked_against_the_file() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let (guid, age) = signature();
    let other = "{11111111-2222-3333-4444-555555555555}";
    let err = upload(
        &mut art,
        pe_meta(other, age),
        &[("pe_symbol_file", file("app.pdb"))],
    )
    .await
    .expect_err("sig mismatch");
    assert_eq!(err.code(), Code::InvalidArgument);
    let plain: String = guid
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_lowercase();
    assert!(
        err.message().contains("pdb_sig")
            && err.message().contains(other)
            && err.message().contains(&plain),
        "{}",
        err.message()
    );
    let err = upload(
        &mut art,
        pe_meta(&guid, age + 4),
        &[("pe_symbol_file", file("app.pdb"))],
    )
    .await
    .expect_err("age mismatch");
    assert!(err.message().contains("pdb_age"), "{}", err.message());
    let pdb = file("app.pdb");
    let err = upload(
        &mut art,
        pe_meta(&guid, age),
        &[("pe_symbol_file", pdb[..pdb.len() / 2].to_vec())],
    )
    .await
    .expect_err("truncated");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().contains("pe_symbol_file"),
        "{}",
        err.message()
    );
}
