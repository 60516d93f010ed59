//! dSYM archives end to end: the clang + ld64.lld + dsymutil fixture (a fat arm64 + x86_64
//! DWARF file, zipped as Xcode ships it) uploaded as `ios_symbols`; each slice resolves under
//! its own UUID like llvm-symbolizer; hostile and broken archives are refused, nothing stored.

use crate::native::{Expected, assert_like_symbolizer};
use std::io::Write;
use symx_e2e::*;
use symx_proto::v1 as pb;
use tonic::Code;

fn file(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("native/macho/{name}"))).expect("fixture")
}

/// `uuids.txt`: `UUID (arch)` per line, as llvm-dwarfdump prints them.
fn uuids() -> Vec<(String, String)> {
    String::from_utf8(file("uuids.txt"))
        .expect("utf8")
        .lines()
        .map(|l| {
            let (u, a) = l.split_once(' ').expect("uuid line");
            (u.to_owned(), a.trim_matches(['(', ')']).to_owned())
        })
        .collect()
}

fn ios_meta(uuids: &str) -> pb::UploadMetadata {
    pb::UploadMetadata {
        r#type: pb::UploadType::IosSymbols as i32,
        uuids: uuids.into(),
        ..Default::default()
    }
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("start");
        w.write_all(data).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

async fn list_ios(art: &mut Artifacts) -> pb::ListResponse {
    art.list(pb::ListRequest {
        mapkind: pb::MapKind::Ios as i32,
        ..Default::default()
    })
    .await
    .expect("list")
    .into_inner()
}

#[tokio::test]
async fn fat_dsym_archive_resolves_each_slice_like_llvm_symbolizer() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let ids = uuids();
    assert_eq!(ids.len(), 2, "the fixture is fat: two slices");
    let listed: Vec<&str> = ids.iter().map(|(u, _)| u.as_str()).collect();
    let up = upload(
        &mut art,
        ios_meta(&listed.join(",")),
        &[("symbols_archive", file("libapp.dylib.dSYM.zip"))],
    )
    .await
    .expect("upload");
    let a = up.artifact.expect("artifact");
    let list = list_ios(&mut art).await;
    assert_eq!(list.total_filtered_count, 1);
    assert_eq!(list.artifacts[0].id, a.id);

    let mut sym = srv.symbolication().await.expect("client");
    for (uuid, arch) in &ids {
        let expected: Vec<Expected> =
            serde_json::from_slice(&file(&format!("expected-{arch}.json"))).expect("expected");
        // A dylib slid to a typical address; the crashing frame's address is exact, callers'
        // are return addresses (one past the call). Ids as crash reports print them: the
        // UUID in upper case, or (code id) its 32 hex digits.
        let image = 0x1_0480_0000u64;
        let frames: Vec<pb::Frame> = expected
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let exact = i % 2 == 0;
                let (debug_id, code_id) = if i % 3 == 0 {
                    (String::new(), uuid.replace('-', "").to_lowercase())
                } else {
                    (uuid.to_uppercase(), String::new())
                };
                pb::Frame {
                    frame: Some(pb::frame::Frame::Native(pb::NativeFrame {
                        debug_id,
                        code_id,
                        image_addr: image,
                        instruction_addr: image + e.address + u64::from(!exact),
                        exact: Some(exact),
                        module: String::new(),
                    })),
                }
            })
            .collect();
        let results = symbolicate(&mut sym, "", "", frames, 0).await;
        let outer = assert_like_symbolizer(&expected, &results, &a.id);
        assert!(
            outer
                .iter()
                .any(|f| f.function == "geo::farthest(geo::Point const*, int)"
                    && f.mangled() == "_ZN3geo8farthestEPKNS_5PointEi"),
            "{arch}: no frame in geo::farthest"
        );
        // The inline chain of square<double> inside norm2 inside farthest, innermost first.
        assert!(
            results.iter().any(|r| r.frames.len() == 3
                && r.frames[0].function.contains("square")
                && r.frames[1].function.contains("norm2")),
            "{arch}: no three-deep inline chain"
        );
    }
}

#[tokio::test]
async fn uuid_mismatch_bombs_and_broken_archives_are_refused() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let ids = uuids();
    let archive = file("libapp.dylib.dSYM.zip");

    // The metadata names one slice only: both sides named in the error.
    let err = upload(
        &mut art,
        ios_meta(&ids[0].0),
        &[("symbols_archive", archive.clone())],
    )
    .await
    .expect_err("mismatch");
    assert_eq!(err.code(), Code::InvalidArgument);
    let m = err.message();
    assert!(
        m.contains("uuids")
            && m.contains(&ids[0].0.to_lowercase())
            && m.contains(&ids[1].0.to_lowercase()),
        "{m}"
    );

    let dwarf_path = "libapp.dylib.dSYM/Contents/Resources/DWARF/libapp.dylib";
    let zeros = vec![0u8; 16 << 20];
    let dylib = file("libapp.dylib");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("zip bomb", zip_of(&[(dwarf_path, &zeros)]), "zip bomb"),
        (
            "path trick",
            zip_of(&[("x.dSYM/../../../etc/Contents/Resources/DWARF/a", b"x")]),
            "unsafe path",
        ),
        (
            "bundle without DWARF",
            zip_of(&[("libapp.dylib.dSYM/Contents/Info.plist", b"<plist/>")]),
            "no DWARF file",
        ),
        // The shipped binary in place of the DWARF file: symbols, but no debug information.
        (
            "DWARF file without DWARF",
            zip_of(&[(dwarf_path, &dylib)]),
            "no DWARF debug information",
        ),
        (
            "truncated object",
            zip_of(&[(dwarf_path, &dylib[..dylib.len() / 3])]),
            dwarf_path,
        ),
        (
            "not a zip",
            b"MZ not a zip at all".to_vec(),
            "not a readable zip",
        ),
    ];
    for (what, bytes, needle) in cases {
        let err = upload(&mut art, ios_meta(&ids[0].0), &[("symbols_archive", bytes)])
            .await
            .expect_err(what);
        assert_eq!(err.code(), Code::InvalidArgument, "{what}: {err:?}");
        assert!(
            err.message().contains(needle) && err.message().contains("symbols_archive"),
            "{what}: {}",
            err.message()
        );
    }
    assert_eq!(
        list_ios(&mut art).await.total_filtered_count,
        0,
        "a refused archive left an artifact behind"
    );
}
