//! Native modules as crash reporters describe them: a code id and a debug id per module
//! (minidumps, Symbolicator module lists), in any common spelling; several files of one
//! module (a PE and its PDB; a stripped binary, its `.debug` file and the unstripped one)
//! stored side by side; the crashing frame exact and the callers return addresses.

use symx_e2e::*;
use symx_proto::v1 as pb;

fn pe(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("native/pe/{name}"))).expect("fixture")
}

fn elf(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("native/elf/{name}"))).expect("fixture")
}

/// (GUID without braces, age) from `pdb.txt`.
fn signature() -> (String, u32) {
    let (guid, age) = pe_fixture_signature();
    (guid.trim_matches(['{', '}']).to_owned(), age)
}

fn pe_meta(file: &str) -> pb::UploadMetadata {
    let (guid, age) = signature();
    pb::UploadMetadata {
        r#type: pb::UploadType::PeSymbolFile as i32,
        arch: "x86_64".into(),
        pdb_sig: guid,
        pdb_age: Some(i64::from(age)),
        filename: file.into(),
        ..Default::default()
    }
}

/// The RVA of `geo::farthest`'s first instruction (llvm-symbolizer's answers beside the
/// fixture start there), and its line.
const FARTHEST: u64 = 0x1000;

fn frame(code_id: &str, debug_id: &str, rva: u64, exact: Option<bool>) -> pb::Frame {
    let image = 0x7ffb_2c3a_0000u64;
    pb::Frame {
        frame: Some(pb::frame::Frame::Native(pb::NativeFrame {
            code_id: code_id.into(),
            debug_id: debug_id.into(),
            image_addr: image,
            instruction_addr: image + rva,
            exact,
            module: String::new(),
        })),
    }
}

#[tokio::test]
async fn a_pe_and_its_pdb_are_two_files_of_one_module_found_by_either_id() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    // The DLL first, then its PDB: the same module (same PDB signature), another file.
    let dll = upload(
        &mut art,
        pe_meta("app.dll"),
        &[("pe_symbol_file", pe("app.dll"))],
    )
    .await
    .expect("dll");
    let pdb = upload(
        &mut art,
        pe_meta("app.pdb"),
        &[("pe_symbol_file", pe("app.pdb"))],
    )
    .await
    .expect("the PDB of an uploaded DLL is not an identity clash");
    let (dll, pdb) = (dll.artifact.expect("a"), pdb.artifact.expect("a"));
    assert_ne!(dll.id, pdb.id);
    // Each file has its own identity: the PDB again clashes with the PDB, not the DLL.
    let again = upload(
        &mut art,
        pe_meta("app.pdb"),
        &[("pe_symbol_file", pe("app.pdb"))],
    )
    .await
    .expect_err("same identity");
    assert_eq!(again.code(), tonic::Code::AlreadyExists);
    assert!(again.message().contains(&pdb.id), "{}", again.message());

    let code_id = String::from_utf8(pe("code-id.txt"))
        .expect("utf8")
        .trim()
        .to_owned();
    let (guid, age) = signature();
    let mut sym = srv.symbolication().await.expect("client");
    // Only the code id (what finds the DLL), only the debug id, an unknown code id with the
    // right debug id, and the debug id in the spellings Windows tools and minidump tools use.
    let spellings = [
        (code_id.clone(), String::new()),
        (code_id.to_lowercase(), String::new()),
        (String::new(), format!("{guid}-{age:x}")),
        ("FFFFFFFF1000".to_owned(), format!("{guid}-{age:x}")),
        (String::new(), format!("{{{guid}}}-{age}")),
        (String::new(), format!("{{{guid}}}{age:X}")),
        (String::new(), format!("{}{age:X}", guid.replace('-', ""))),
        (String::new(), format!("{}-{age}", guid.to_lowercase())),
    ];
    for (code, debug) in spellings {
        let r = symbolicate(
            &mut sym,
            "",
            "",
            vec![frame(&code, &debug, FARTHEST, Some(true))],
            0,
        )
        .await;
        assert_eq!(
            r[0].status,
            pb::FrameStatus::Resolved as i32,
            "code id `{code}` debug id `{debug}`: {:?}",
            r[0]
        );
        // The PDB's answer (file and line) wins over the DLL's exports.
        assert_eq!(r[0].artifact_id, pdb.id, "code `{code}` debug `{debug}`");
        let f = r[0].frames.last().expect("frame");
        assert!(f.source.ends_with("app.cpp"), "{f:?}");
        assert!(f.line > 0, "{f:?}");
        assert!(f.function.starts_with("geo::farthest"), "{f:?}");
    }
    // An id nobody uploaded: missing, naming both ids.
    let r = symbolicate(
        &mut sym,
        "",
        "",
        vec![frame(
            "FFFFFFFF1000",
            "{11111111-2222-3333-4444-555555555555}-1",
            FARTHEST,
            None,
        )],
        0,
    )
    .await;
    assert_eq!(r[0].status, pb::FrameStatus::MissingArtifact as i32);
    assert!(
        r[0].message.contains("ffffffff1000") && r[0].message.contains("11111111"),
        "{}",
        r[0].message
    );
}

#[tokio::test]
async fn pdb_names_are_llvm_symbolizers_with_the_signature_beside() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    upload(
        &mut art,
        pe_meta("app.pdb"),
        &[("pe_symbol_file", pe("app.pdb"))],
    )
    .await
    .expect("pdb");
    let (guid, age) = signature();
    let debug = format!("{guid}-{age:x}");
    let expected: Vec<serde_json::Value> =
        serde_json::from_slice(&pe("expected.json")).expect("json");
    let mut sym = srv.symbolication().await.expect("client");
    let frames: Vec<pb::Frame> = expected
        .iter()
        .map(|e| {
            frame(
                "",
                &debug,
                e["address"].as_u64().expect("address"),
                Some(true),
            )
        })
        .collect();
    let results = symbolicate(&mut sym, "", "", frames, 0).await;
    let mut c_functions = 0;
    for (e, r) in expected.iter().zip(&results) {
        let want: Vec<&str> = e["frames"]
            .as_array()
            .expect("frames")
            .iter()
            .map(|f| f["function"].as_str().expect("function"))
            .collect();
        if want.is_empty() {
            continue;
        }
        let got: Vec<&str> = r.frames.iter().map(|f| f.function.as_str()).collect();
        // llvm-symbolizer spells C++ argument lists its own way (`struct geo::Point const *`):
        // names up to the list must be equal, and lists present in the same frames.
        let name = |s: &str| s.split('(').next().unwrap_or(s).to_owned();
        assert_eq!(
            got.iter().map(|s| name(s)).collect::<Vec<_>>(),
            want.iter().map(|s| name(s)).collect::<Vec<_>>(),
            "{e}"
        );
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.contains('('), w.contains('('), "{g} vs {w}");
        }
        // `app_run` is extern "C": no argument list in its name, the signature beside it.
        if let Some(f) = r.frames.iter().find(|f| f.function == "app_run") {
            assert!(f.signature().starts_with("app_run("), "{f:?}");
            c_functions += 1;
        }
    }
    assert!(c_functions > 0, "no sampled address fell in app_run");
}

#[tokio::test]
async fn stripped_debug_and_unstripped_files_of_one_elf_module_live_side_by_side() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let meta = || pb::UploadMetadata {
        r#type: pb::UploadType::ElfSymbolFile as i32,
        arch: "x86_64".into(),
        ..Default::default()
    };
    let mut ids = Vec::new();
    // The stripped binary first: the worst file of the module.
    for name in ["crash.stripped", "crash.debug", "crash"] {
        let up = upload(&mut art, meta(), &[("elf_symbol_file", elf(name))])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        ids.push(up.artifact.expect("a").id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "three files, three artifacts");
    let build_id = "1e178778753aa68d811fb8191bedd7f3a71b25a3";
    let expected: Vec<serde_json::Value> =
        serde_json::from_slice(&elf("expected.json")).expect("json");
    let sample = expected
        .iter()
        .find(|e| e["frames"].as_array().is_some_and(|f| f.len() == 1))
        .expect("an address outside inlining");
    let mut sym = srv.symbolication().await.expect("client");
    let r = symbolicate(
        &mut sym,
        "",
        "",
        vec![pb::Frame {
            frame: Some(pb::frame::Frame::Native(pb::NativeFrame {
                code_id: build_id.into(),
                instruction_addr: sample["address"].as_u64().expect("address"),
                exact: Some(true),
                ..Default::default()
            })),
        }],
        0,
    )
    .await;
    assert_eq!(r[0].status, pb::FrameStatus::Resolved as i32, "{:?}", r[0]);
    let f = &r[0].frames[0];
    assert_eq!(
        f.line,
        sample["frames"][0]["line"].as_u64().expect("line") as u32,
        "the file with debug information answers: {f:?}"
    );
}

/// The first frame of a stack trace is the crashing instruction, the others return
/// addresses (looked up one byte earlier), unless a frame says otherwise.
#[tokio::test]
async fn the_crashing_frame_is_exact_and_callers_are_return_addresses() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let bin = std::fs::read(fixture("native/edges/edges")).expect("fixture");
    upload(
        &mut art,
        pb::UploadMetadata {
            r#type: pb::UploadType::ElfSymbolFile as i32,
            arch: "x86_64".into(),
            ..Default::default()
        },
        &[("elf_symbol_file", bin)],
    )
    .await
    .expect("upload");
    // `checked_div`'s first byte (from `nm`): the byte before it is alignment padding after
    // `scale.constprop.0`, in no function (llvm-symbolizer: `??`).
    let path = fixture("native/edges/edges");
    let nm = std::process::Command::new("nm")
        .arg(&path)
        .output()
        .expect("nm");
    let entry = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            let (addr, _, name) = (w.next()?, w.next()?, w.next()?);
            (name == "checked_div").then(|| u64::from_str_radix(addr, 16).ok())?
        })
        .expect("checked_div in nm");
    let code_id = gnu_build_id(&path);
    let f = |exact| pb::Frame {
        frame: Some(pb::frame::Frame::Native(pb::NativeFrame {
            code_id: code_id.clone(),
            instruction_addr: entry,
            exact,
            ..Default::default()
        })),
    };
    let mut sym = srv.symbolication().await.expect("client");
    let status = |r: &pb::FrameResult| pb::FrameStatus::try_from(r.status).expect("status");
    let r = symbolicate(&mut sym, "", "", vec![f(None), f(None)], 0).await;
    assert_eq!(status(&r[0]), pb::FrameStatus::Resolved, "{:?}", r[0]);
    assert_eq!(r[0].frames[0].function, "checked_div");
    assert_eq!(status(&r[1]), pb::FrameStatus::OutOfRange, "{:?}", r[1]);
    // Explicit per-frame overrides.
    let r = symbolicate(&mut sym, "", "", vec![f(Some(false)), f(Some(true))], 0).await;
    assert_eq!(status(&r[0]), pb::FrameStatus::OutOfRange, "{:?}", r[0]);
    assert_eq!(status(&r[1]), pb::FrameStatus::Resolved, "{:?}", r[1]);
}

/// The GNU build id of an ELF file, as `readelf -n` prints it.
fn gnu_build_id(path: &std::path::Path) -> String {
    let out = std::process::Command::new("readelf")
        .arg("-n")
        .arg(path)
        .output()
        .expect("readelf");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .expect("build id")
        .to_owned()
}
