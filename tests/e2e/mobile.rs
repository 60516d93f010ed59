//! Mobile and other native kinds end to end: an NDK-shaped library (gRPC frames and
//! llvm-symbolizer's answers), a Flutter-like ELF through a Dart non-symbolic trace, a Go
//! binary known by its Go build id (symbol table only), and Apple crash reports (`.crash`
//! text and `.ips` JSON) against the dSYM fixture, the last three through `symx symbolicate`.

use crate::native::{Expected, assert_like_symbolizer};
use symx_e2e::*;
use symx_proto::v1 as pb;

fn fixture_bytes(rel: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("native/{rel}"))).expect("fixture")
}

fn expected(rel: &str) -> Vec<Expected> {
    serde_json::from_slice(&fixture_bytes(rel)).expect("expected json")
}

/// `name value` lines of a fixture's ids file.
fn id(rel: &str, name: &str) -> String {
    String::from_utf8(fixture_bytes(rel))
        .expect("utf8")
        .lines()
        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("{name} in {rel}"))
}

fn native_frames(expected: &[Expected], code_id: &str, image: u64) -> Vec<pb::Frame> {
    expected
        .iter()
        .enumerate()
        .map(|(i, e)| pb::Frame {
            frame: Some(pb::frame::Frame::Native(pb::NativeFrame {
                code_id: code_id.to_owned(),
                image_addr: image,
                instruction_addr: image + e.address + (i % 2) as u64,
                exact: Some(i % 2 == 0),
                ..Default::default()
            })),
        })
        .collect()
}

/// The lines printed for a resolved native frame `#NN`: the chain, innermost first, each
/// `function at file:line`, with `(inlined)` on all but the last.
fn assert_chain(printed: &str, index: u32, e: &Expected, file: &str) {
    let lines: Vec<&str> = printed.lines().collect();
    let prefix = format!("    #{index:02} ");
    let at = lines
        .iter()
        // The input line is printed first and may start the same way: skip it.
        .position(|l| l.starts_with(&prefix) && !l.contains(" abs ") && !l.contains("0x"))
        .unwrap_or_else(|| panic!("no `{prefix}` in:\n{printed}"));
    let chain = e.chain();
    for (i, (function, line)) in chain.iter().enumerate() {
        let l = lines[at + i];
        assert!(
            l.contains(&format!("{file}:{line}")),
            "{l} vs {function}:{line}"
        );
        assert!(
            l.contains(crate::native::base(function)),
            "{l} vs {function}"
        );
        assert_eq!(l.ends_with("(inlined)"), i + 1 < chain.len(), "{l}");
    }
}

#[tokio::test]
async fn ndk_library_resolves_like_llvm_symbolizer() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let build_id = id("android/ids.txt", "ndk");
    let meta = pb::UploadMetadata {
        r#type: pb::UploadType::NdkSymbolFile as i32,
        arch: "arm64".into(),
        build_id: build_id.clone(),
        filename: "libnative.so".into(),
        ..Default::default()
    };
    let up = upload(
        &mut art,
        meta,
        &[("ndk_symbol_file", fixture_bytes("android/libnative.so"))],
    )
    .await
    .expect("upload");
    let a = up.artifact.expect("artifact");
    assert_eq!(a.attributes.get("arch").map(String::as_str), Some("arm64"));
    let want = expected("android/expected-ndk.json");
    let mut sym = srv.symbolication().await.expect("client");
    let results = symbolicate(
        &mut sym,
        "",
        "",
        native_frames(&want, &build_id, 0x7a_3c00_0000),
        0,
    )
    .await;
    assert_like_symbolizer(&want, &results, &a.id);
}

#[tokio::test]
async fn flutter_symbols_resolve_a_dart_non_symbolic_trace() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let build_id = id("android/ids.txt", "flutter");
    let meta = pb::UploadMetadata {
        r#type: pb::UploadType::FlutterSymbolFile as i32,
        service: "shop-app".into(),
        version: "1.4.0".into(),
        variant: "release".into(),
        arch: "arm64".into(),
        platform: "android".into(),
        ..Default::default()
    };
    upload(
        &mut art,
        meta,
        &[(
            "flutter_symbol_file",
            fixture_bytes("android/app.android-arm64.symbols"),
        )],
    )
    .await
    .expect("upload");
    let want = expected("android/expected-flutter.json");
    let inner = want
        .iter()
        .find(|e| e.chain().len() == 2)
        .expect("an inlined address");
    let caller = want
        .iter()
        .find(|e| e.chain().len() == 1 && e.chain()[0].0 == "main_entry")
        .expect("an address in main_entry");
    let snapshot =
        u64::from_str_radix(&id("android/ids.txt", "isolate_instructions"), 16).expect("hex");
    let dso = 0x7a_3c2b_1000u64;
    // Frame #00 as newer Dart prints it (with `virt`), frame #01 as older Dart does (abs only:
    // the DSO base from the header applies); #01 is a return address, one past the call.
    let text = format!(
        "*** *** *** *** *** *** *** *** *** *** *** *** *** *** *** ***\n\
         pid: 4242, tid: 4260, name io.flutter.ui\n\
         os: android arch: arm64 comp: yes sim: no\n\
         build_id: '{build_id}'\n\
         isolate_dso_base: {dso:x}, vm_dso_base: {dso:x}\n\
         isolate_instructions: {:x}, vm_instructions: {:x}\n\
         \x20   #00 abs {:016x} virt {:016x} _kDartIsolateSnapshotInstructions+0x{:x}\n\
         \x20   #01 abs {:016x} _kDartIsolateSnapshotInstructions+0x{:x}\n",
        dso + snapshot,
        dso + snapshot,
        dso + inner.address,
        inner.address,
        inner.address - snapshot,
        dso + caller.address + 1,
        caller.address + 1 - snapshot,
    );
    let printed = symbolicate_text(&srv, &text).await;
    assert_chain(&printed, 0, inner, "flutter.c");
    assert_chain(&printed, 1, caller, "flutter.c");
    assert!(
        printed.contains(&format!("build_id: '{build_id}'")),
        "{printed}"
    );
}

#[tokio::test]
async fn go_binary_is_known_by_its_go_build_id() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let go_id = String::from_utf8(fixture_bytes("go/buildid.txt"))
        .expect("utf8")
        .trim()
        .to_owned();
    let meta = pb::UploadMetadata {
        r#type: pb::UploadType::ElfSymbolFile as i32,
        filename: "app".into(),
        ..Default::default()
    };
    let up = upload(
        &mut art,
        meta.clone(),
        &[("elf_symbol_file", fixture_bytes("go/app"))],
    )
    .await
    .expect("upload");
    let a = up.artifact.expect("artifact");
    // Read from the file's .note.go.buildid when the metadata omits it.
    assert_eq!(
        a.attributes.get("go_build_id").map(String::as_str),
        Some(go_id.as_str())
    );
    let want = expected("go/expected.json");
    let mut sym = srv.symbolication().await.expect("client");
    // A non-PIE executable is loaded at its link address (0x400000).
    let rel: Vec<Expected> = want.iter().map(|e| e.minus(0x40_0000)).collect();
    let results = symbolicate(&mut sym, "", "", native_frames(&rel, &go_id, 0x40_0000), 0).await;
    assert_like_symbolizer(&rel, &results, &a.id);
    // A different Go build id in the metadata is refused, naming both.
    let wrong = pb::UploadMetadata {
        go_build_id: "abc/def".into(),
        overwrite: true,
        ..meta
    };
    let err = upload(
        &mut art,
        wrong,
        &[("elf_symbol_file", fixture_bytes("go/app"))],
    )
    .await
    .expect_err("mismatch");
    assert!(
        err.message().contains("go_build_id abc/def") && err.message().contains(&go_id),
        "{}",
        err.message()
    );
}

/// Uploads the dSYM fixture; returns (uuid, arch) of each slice.
async fn upload_dsym(srv: &TestServer) -> Vec<(String, String)> {
    let mut art = srv.artifacts().await.expect("client");
    let slices: Vec<(String, String)> = String::from_utf8(fixture_bytes("macho/uuids.txt"))
        .expect("utf8")
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(u, a)| (u.to_owned(), a.trim_matches(['(', ')']).to_owned()))
        .collect();
    let uuids: Vec<&str> = slices.iter().map(|(u, _)| u.as_str()).collect();
    let meta = pb::UploadMetadata {
        r#type: pb::UploadType::IosSymbols as i32,
        uuids: uuids.join(","),
        ..Default::default()
    };
    upload(
        &mut art,
        meta,
        &[(
            "symbols_archive",
            fixture_bytes("macho/libapp.dylib.dSYM.zip"),
        )],
    )
    .await
    .expect("upload");
    slices
}

/// A crash address of the arm64 slice inside an inline chain, and a caller's.
fn apple_addresses() -> (Expected, Expected) {
    let want = expected("macho/expected-arm64.json");
    let inner = want
        .iter()
        .find(|e| e.chain().len() == 3)
        .expect("3-deep chain")
        .clone();
    let caller = want
        .iter()
        .find(|e| e.chain().len() == 1 && e.chain()[0].0.contains("app_run"))
        .expect("address in app_run")
        .clone();
    (inner, caller)
}

#[tokio::test]
async fn apple_crash_report_text() {
    let srv = TestServer::start().await.expect("server");
    let slices = upload_dsym(&srv).await;
    let uuid = &slices.iter().find(|(_, a)| a == "arm64").expect("arm64").0;
    let (inner, caller) = apple_addresses();
    let base = 0x1_0480_0000u64;
    let text = format!(
        "Incident Identifier: 6F1C2D3E-0000-4000-8000-000000000001\n\
         Hardware Model:      iPhone15,2\n\
         Process:             Shop [4242]\n\
         Exception Type:  EXC_BAD_ACCESS (SIGSEGV)\n\
         \n\
         Thread 0 Crashed:: Dispatch queue: com.apple.main-thread\n\
         0   libapp.dylib                  \t0x{:016x} geo::farthest(geo::Point const*, int) + 24\n\
         1   libapp.dylib                  \t0x{:016x} app_run + 40\n\
         2   libsystem_c.dylib             \t0x00000001a0001234 start + 4\n\
         \n\
         Binary Images:\n\
         \x20      0x{base:x} -        0x{:x} libapp.dylib arm64  <{}> /private/var/containers/Bundle/Application/X/Shop.app/Frameworks/libapp.dylib\n\
         \x20      0x1a0000000 -        0x1a0ffffff libsystem_c.dylib arm64e  <0123456789abcdef0123456789abcdef> /usr/lib/system/libsystem_c.dylib\n",
        base + inner.address,
        base + caller.address + 1,
        base + 0x3fff,
        uuid.replace('-', "").to_lowercase(),
    );
    let printed = symbolicate_text(&srv, &text).await;
    assert_chain(&printed, 0, &inner, "app.cpp");
    assert_chain(&printed, 1, &caller, "app.cpp");
    // The image symx has no dSYM for: a per-frame status, the rest of the report kept.
    assert!(
        printed.contains("start + 4    [missing_artifact"),
        "{printed}"
    );
    assert!(
        printed.contains("Exception Type:  EXC_BAD_ACCESS"),
        "{printed}"
    );
}

#[tokio::test]
async fn apple_ips_report() {
    let srv = TestServer::start().await.expect("server");
    let slices = upload_dsym(&srv).await;
    let uuid = &slices.iter().find(|(_, a)| a == "arm64").expect("arm64").0;
    let (inner, caller) = apple_addresses();
    let header = serde_json::json!({
        "app_name": "Shop", "app_version": "1.4.0", "bug_type": "309",
        "os_version": "iPhone OS 17.1 (21B74)", "incident_id": "6F1C2D3E-0000-4000-8000-000000000001"
    });
    let body = serde_json::json!({
        "usedImages": [
            {"base": 0x1_0480_0000u64, "size": 16384, "uuid": uuid.to_lowercase(),
             "name": "libapp.dylib", "arch": "arm64", "path": "/private/var/X/libapp.dylib"}
        ],
        "threads": [
            {"id": 1, "triggered": true, "queue": "com.apple.main-thread", "frames": [
                {"imageIndex": 0, "imageOffset": inner.address},
                {"imageIndex": 0, "imageOffset": caller.address + 1, "symbol": "app_run", "symbolLocation": 40}
            ]}
        ]
    });
    let text = format!("{header}\n{body:#}\n");
    let printed = symbolicate_text(&srv, &text).await;
    assert!(printed.contains("Thread 0 Crashed:"), "{printed}");
    assert_chain(&printed, 0, &inner, "app.cpp");
    assert_chain(&printed, 1, &caller, "app.cpp");
}

/// Runs `symx upload <args>`; returns stdout and stderr.
async fn cli_upload(srv: &TestServer, args: Vec<String>) -> (String, String) {
    let ep = srv.endpoint();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(binary("symx"))
            .args(["--endpoint", &ep, "upload"])
            .args(&args)
            .output()
            .expect("run symx")
    })
    .await
    .expect("join");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

async fn count(art: &mut Artifacts, kind: pb::MapKind) -> i64 {
    art.list(pb::ListRequest {
        mapkind: kind as i32,
        ..Default::default()
    })
    .await
    .expect("list")
    .into_inner()
    .total_filtered_count
}

/// Build folders as CI leaves them, walked like datadog-ci walks them: identifiers read
/// locally, duplicates skipped, every artifact listed and resolvable afterwards.
#[tokio::test]
async fn folder_uploads_through_the_cli() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let copy = |rel: &str, to: &str| {
        let dest = root.join(to);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(fixture(&format!("native/{rel}")), dest).expect("copy");
    };
    // Xcode's dSYMs folder: the fat bundle unzipped, plus a zip of its arm64 slice alone.
    let zip = std::fs::File::open(fixture("native/macho/libapp.dylib.dSYM.zip")).expect("zip");
    zip::ZipArchive::new(zip)
        .expect("zip")
        .extract(root.join("ios/dSYMs"))
        .expect("extract");
    copy("macho/thin-arm64.dSYM.zip", "ios/dSYMs/thin-arm64.dSYM.zip");
    copy("android/libnative.so", "android/obj/arm64-v8a/libnative.so");
    copy(
        "android/libnative.so",
        "android/merged/arm64-v8a/libnative.so",
    );
    copy(
        "android/app.android-arm64.symbols",
        "flutter/symbols/app.android-arm64.symbols",
    );
    copy("pe/app.pdb", "windows/bin/app.pdb");
    copy("pe/app.dll", "windows/bin/app.dll");
    let p = |rel: &str| root.join(rel).to_string_lossy().into_owned();

    let (out, err) = cli_upload(&srv, vec!["dsym".into(), p("ios")]).await;
    assert!(out.contains("1 uploaded, 0 failed, 1 skipped"), "{out}");
    assert!(
        err.contains("thin-arm64.dSYM.zip: its UUIDs are already planned"),
        "{err}"
    );
    let (out, _) = cli_upload(&srv, vec!["ndk".into(), p("android")]).await;
    assert!(out.contains("1 uploaded, 0 failed, 1 skipped"), "{out}");
    let (out, _) = cli_upload(
        &srv,
        [
            "flutter",
            &p("flutter"),
            "--service",
            "shop-app",
            "--version",
            "1.4.0",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert!(out.contains("1 uploaded, 0 failed"), "{out}");
    let (out, err) = cli_upload(&srv, vec!["pe".into(), p("windows")]).await;
    assert!(out.contains("1 uploaded, 0 failed, 1 skipped"), "{out}");
    assert!(err.contains("app.dll: PDB"), "{err}");

    // (Flutter listings need a service filter; its frames resolve below.)
    for kind in [pb::MapKind::Ios, pb::MapKind::Ndk] {
        assert_eq!(count(&mut art, kind).await, 1, "{kind:?}");
    }
    // Each resolves: one address of each fixture, by the identifiers the CLI read.
    let mut sym = srv.symbolication().await.expect("client");
    let cases = [
        ("macho/expected-x86_64.json", uuid_of("x86_64")),
        ("android/expected-ndk.json", id("android/ids.txt", "ndk")),
        (
            "android/expected-flutter.json",
            id("android/ids.txt", "flutter"),
        ),
    ];
    for (rel, module) in cases {
        let want: Vec<Expected> = expected(rel)
            .into_iter()
            .filter(|e| !e.chain().is_empty())
            .take(3)
            .collect();
        let results = symbolicate(
            &mut sym,
            "",
            "",
            native_frames(&want, &module, 0x1000_0000),
            0,
        )
        .await;
        assert!(
            results
                .iter()
                .all(|r| r.status == pb::FrameStatus::Resolved as i32),
            "{rel}: {results:?}"
        );
    }
}

fn uuid_of(arch: &str) -> String {
    String::from_utf8(fixture_bytes("macho/uuids.txt"))
        .expect("utf8")
        .lines()
        .find(|l| l.ends_with(&format!("({arch})")))
        .and_then(|l| l.split_whitespace().next())
        .expect("uuid")
        .to_owned()
}
