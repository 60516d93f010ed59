//! ELF end to end: the g++ fixture uploaded as elf_symbol_file (and ndk_symbol_file), its
//! addresses resolved over gRPC with inline chains, compared with llvm-symbolizer's answers.

use serde::Deserialize;
use symx_e2e::*;
use symx_proto::v1 as pb;
use tonic::Code;

#[derive(Clone, Deserialize)]
pub(crate) struct Expected {
    pub address: u64,
    frames: Vec<ExpectedFrame>,
}

impl Expected {
    /// (function, line) of the inline chain, innermost first.
    pub fn chain(&self) -> Vec<(String, u32)> {
        self.frames
            .iter()
            .map(|f| (f.function.clone(), f.line))
            .collect()
    }

    /// The same answer at `address - base` (for images loaded at their link address).
    pub fn minus(&self, base: u64) -> Expected {
        Expected {
            address: self.address - base,
            ..self.clone()
        }
    }
}

#[derive(Clone, Deserialize)]
struct ExpectedFrame {
    function: String,
    file: String,
    line: u32,
    /// Other lines the line table lists at the same address (see native/pe/expected.py).
    #[serde(default)]
    also: Vec<u32>,
}

fn file(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("native/elf/{name}"))).expect("fixture")
}

/// The GNU build id of the fixture (`readelf -n tests/fixtures/native/elf/crash`).
const BUILD_ID: &str = "1e178778753aa68d811fb8191bedd7f3a71b25a3";

pub(crate) fn base(function: &str) -> &str {
    let no_params = function.split('(').next().unwrap_or(function);
    no_params.rsplit("::").next().unwrap_or(no_params)
}

/// Compares answers with llvm-symbolizer's (function base name, file, line, chain length,
/// inline flags) and returns the outermost frames of the resolved answers.
pub(crate) fn assert_like_symbolizer<'r>(
    expected: &[Expected],
    results: &'r [pb::FrameResult],
    artifact_id: &str,
) -> Vec<&'r pb::ResolvedFrame> {
    assert_eq!(expected.len(), results.len());
    let mut outermost = Vec::new();
    for (e, r) in expected.iter().zip(results) {
        if e.frames.is_empty() {
            assert_eq!(
                r.status,
                pb::FrameStatus::OutOfRange as i32,
                "{:#x}: {r:?}",
                e.address
            );
            continue;
        }
        assert_eq!(
            r.status,
            pb::FrameStatus::Resolved as i32,
            "{:#x}: {r:?}",
            e.address
        );
        assert_eq!(r.artifact_id, artifact_id);
        assert_eq!(r.frames.len(), e.frames.len(), "{:#x}: {r:?}", e.address);
        for (g, w) in r.frames.iter().zip(&e.frames) {
            assert_eq!(base(&g.function), base(&w.function), "{:#x}", e.address);
            // Where the line table has several rows at the address (`also`), the answer is
            // still llvm-symbolizer's (the PDB's first row; DWARF's last).
            assert_eq!(
                g.line, w.line,
                "{:#x}: line {} where llvm-symbolizer has {} (other rows: {:?})",
                e.address, g.line, w.line, w.also
            );
            assert!(
                g.source.ends_with(&w.file),
                "{:#x}: {}",
                e.address,
                g.source
            );
        }
        let last = r.frames.len() - 1;
        assert!(r.frames[..last].iter().all(|f| f.inlined) && !r.frames[last].inlined);
        outermost.push(&r.frames[last]);
    }
    outermost
}

fn elf_meta() -> pb::UploadMetadata {
    pb::UploadMetadata {
        r#type: pb::UploadType::ElfSymbolFile as i32,
        filename: "crash".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn elf_debug_file_resolves_like_llvm_symbolizer() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    // The build id and arch are read from the file when the metadata omits them.
    let up = upload(
        &mut art,
        elf_meta(),
        &[("elf_symbol_file", file("crash.debug"))],
    )
    .await
    .expect("upload");
    let a = up.artifact.expect("artifact");
    assert_eq!(
        a.attributes.get("gnu_build_id").map(String::as_str),
        Some(BUILD_ID)
    );
    assert_eq!(a.attributes.get("arch").map(String::as_str), Some("x86_64"));

    let expected: Vec<Expected> = serde_json::from_slice(&file("expected.json")).expect("expected");
    // A PIE loaded at a typical base; return addresses (not exact) point one byte past.
    let base_addr = 0x5555_5555_4000u64;
    let frames: Vec<pb::Frame> = expected
        .iter()
        .map(|e| pb::Frame {
            frame: Some(pb::frame::Frame::Native(pb::NativeFrame {
                code_id: BUILD_ID.to_uppercase(),
                image_addr: base_addr,
                instruction_addr: base_addr + e.address + 1,
                exact: Some(false),
                ..Default::default()
            })),
        })
        .collect();
    let mut sym = srv.symbolication().await.expect("client");
    let results = symbolicate(&mut sym, "", "", frames, 0).await;
    let checked = assert_like_symbolizer(&expected, &results, &a.id);
    let in_total = checked
        .iter()
        .filter(|f| f.function == "shop::total(shop::Order const*, int)")
        .inspect(|f| {
            assert_eq!(f.mangled(), "_ZN4shop5totalEPKNS_5OrderEi");
            assert!(f.function_offset().is_some());
        })
        .count();
    assert!(in_total > 0, "no sampled address fell in shop::total");
    // Unknown module: a per-frame status, not an error.
    let miss = symbolicate(
        &mut sym,
        "",
        "",
        vec![pb::Frame {
            frame: Some(pb::frame::Frame::Native(pb::NativeFrame {
                code_id: "00".repeat(20),
                instruction_addr: 0x1234,
                ..Default::default()
            })),
        }],
        0,
    )
    .await;
    assert_eq!(miss[0].status, pb::FrameStatus::MissingArtifact as i32);
}

#[tokio::test]
async fn identifiers_are_checked_against_the_file() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let wrong = pb::UploadMetadata {
        gnu_build_id: "ab".repeat(20),
        ..elf_meta()
    };
    let err = upload(&mut art, wrong, &[("elf_symbol_file", file("crash"))])
        .await
        .expect_err("mismatch");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains(&"ab".repeat(20)) && err.message().contains(BUILD_ID),
        "{}",
        err.message()
    );
    let ndk = pb::UploadMetadata {
        r#type: pb::UploadType::NdkSymbolFile as i32,
        arch: "x86_64".into(),
        build_id: "cd".repeat(20),
        ..Default::default()
    };
    let err = upload(&mut art, ndk.clone(), &[("ndk_symbol_file", file("crash"))])
        .await
        .expect_err("mismatch");
    assert!(err.message().contains("build_id"), "{}", err.message());
    let err = upload(
        &mut art,
        elf_meta(),
        &[("elf_symbol_file", b"\x7fELF truncated".to_vec())],
    )
    .await
    .expect_err("garbage");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("elf_symbol_file"),
        "{}",
        err.message()
    );
    // With the right build id the NDK library uploads and resolves by build id.
    let ok = pb::UploadMetadata {
        build_id: BUILD_ID.into(),
        ..ndk
    };
    upload(&mut art, ok, &[("ndk_symbol_file", file("crash"))])
        .await
        .expect("ndk upload");
    let list = art
        .list(pb::ListRequest {
            mapkind: pb::MapKind::Elf as i32,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        list.total_filtered_count, 0,
        "rejected ELF uploads left something behind"
    );
}

/// An Android tombstone through the CLI: frames by build id, inline chains printed.
#[tokio::test]
async fn tombstone_text_through_the_cli() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let ndk = pb::UploadMetadata {
        r#type: pb::UploadType::NdkSymbolFile as i32,
        arch: "x86_64".into(),
        build_id: BUILD_ID.into(),
        filename: "libcrash.so".into(),
        ..Default::default()
    };
    upload(&mut art, ndk, &[("ndk_symbol_file", file("crash"))])
        .await
        .expect("upload");
    let expected: Vec<Expected> = serde_json::from_slice(&file("expected.json")).expect("expected");
    // A crashing pc inside an inline chain, and a return address one byte past a pc in
    // shop::total.
    let inner = expected
        .iter()
        .find(|e| e.frames.len() == 3)
        .expect("a 3-deep chain");
    let caller = expected
        .iter()
        .find(|e| e.frames.len() == 1 && e.frames[0].function.starts_with("shop::total"))
        .expect("an address in shop::total");
    let text = format!(
        "*** *** *** *** *** *** *** *** *** *** *** *** *** *** *** ***\n\
         signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x0\n\
         backtrace:\n\
         \x20     #00 pc {:016x}  /data/app/~~a==/com.shop-1/lib/x86_64/libcrash.so (BuildId: {BUILD_ID})\n\
         \x20     #01 pc {:016x}  /data/app/~~a==/com.shop-1/lib/x86_64/libcrash.so (BuildId: {BUILD_ID})\n\
         \x20     #02 pc 00000000000512c4  /apex/com.android.runtime/lib64/bionic/libc.so (BuildId: 0123)\n",
        inner.address,
        caller.address + 1
    );
    let printed = symbolicate_text(&srv, &text).await;
    let lines: Vec<&str> = printed.lines().collect();
    let at = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in:\n{printed}"))
    };
    let f0 = at("    #00 ");
    for (i, w) in inner.frames.iter().enumerate() {
        let l = lines[f0 + i];
        assert!(
            l.contains(&format!("crash.cpp:{}", w.line)),
            "{l} vs {}",
            w.function
        );
        assert!(l.contains(base(&w.function)), "{l} vs {}", w.function);
        assert_eq!(l.ends_with("(inlined)"), i + 1 < inner.frames.len(), "{l}");
    }
    let f1 = at("    #01 ");
    assert!(
        lines[f1].contains("shop::total(shop::Order const*, int)"),
        "{}",
        lines[f1]
    );
    assert!(
        lines[f1].contains(&format!("crash.cpp:{}", caller.frames[0].line)),
        "{}",
        lines[f1]
    );
    assert!(
        printed.contains("libc.so (BuildId: 0123)    [missing_artifact"),
        "{printed}"
    );
}

/// `symx upload elf DIR` walks a folder for ELF files: of the three files of one build id the
/// one with debug information (the largest of those) uploads; the others are reported as
/// skipped.
#[tokio::test]
async fn elf_folder_upload_through_the_cli() {
    let srv = TestServer::start().await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["crash", "crash.debug", "crash.stripped", "crash.cpp"] {
        std::fs::copy(fixture(&format!("native/elf/{f}")), dir.path().join(f)).expect("copy");
    }
    let (ep, p) = (srv.endpoint(), dir.path().to_string_lossy().into_owned());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(binary("symx"))
            .args(["--endpoint", &ep, "upload", "elf", &p])
            .output()
            .expect("run symx")
    })
    .await
    .expect("join");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("1 uploaded, 0 failed, 2 skipped (identifiers already stored or planned)"),
        "{text}"
    );
    let mut art = srv.artifacts().await.expect("client");
    let list = art
        .list(pb::ListRequest {
            mapkind: pb::MapKind::Elf as i32,
            filters: vec![filter("gnu_build_id", [BUILD_ID])],
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(list.artifacts.len(), 1);
    // The kept file is the largest: the full binary, with its debug information.
    let a = &list.artifacts[0];
    assert_eq!(
        a.attributes.get("file_name").map(String::as_str),
        Some("crash")
    );
}
