//! The symbol server end to end, with the clients people already use: gdb and elfutils'
//! `debuginfod-find` (Debian's, built with debuginfod), LLVM's `llvm-debuginfod-find`, plain
//! HTTP for Microsoft's SSQP and Symbolicator's layouts, and `symx fetch`. Every answer is
//! compared byte for byte with the file that was uploaded, or with what a reference tool cut
//! from it (`llvm-objcopy --dump-section`, `llvm-lipo -thin`); gdb's answers from symx are
//! compared with gdb's answers from the unstripped binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use symx_e2e::*;
use symx_proto::v1 as pb;
use tonic::Code;

const BUILD_ID: &str = "1e178778753aa68d811fb8191bedd7f3a71b25a3";

fn native(rel: &str) -> PathBuf {
    fixture(&format!("native/{rel}"))
}

fn bytes_of(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs a tool; its output, whatever its exit status.
fn run(cmd: &mut Command) -> std::process::Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (install it: scripts/setup.sh)"))
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Uploads the native fixtures with the `symx` CLI, one file per run (the CLI keeps only the
/// most useful file of a build id per run; a symbol server wants each).
fn upload_fixtures(endpoint: &str, key: Option<&str>) {
    for (kind, rel) in [
        ("elf", "elf/crash.debug"),
        ("elf", "elf/crash.stripped"),
        ("pe", "pe/app.pdb"),
        ("pe", "pe/app.dll"),
        ("dsym", "macho/libapp.dylib.dSYM.zip"),
    ] {
        let mut cmd = Command::new(binary("symx"));
        cmd.args(["--endpoint", endpoint, "upload", kind])
            .arg(native(rel));
        if let Some(k) = key {
            cmd.env("SYMX_API_KEY", k);
        }
        let out = run(&mut cmd);
        assert!(out.status.success(), "upload {rel}: {}", text(&out));
        assert!(
            text(&out).contains("1 uploaded"),
            "upload {rel}: {}",
            text(&out)
        );
    }
}

/// The PDB signature of the PE fixture as SSQP spells it: GUID in upper-case hex, then the age.
fn pdb_key() -> String {
    let (guid, age) = pe_fixture_signature();
    let hex: String = guid.chars().filter(char::is_ascii_hexdigit).collect();
    format!("{}{age:X}", hex.to_uppercase())
}

fn pe_code_id() -> String {
    std::fs::read_to_string(native("pe/code-id.txt"))
        .expect("code-id.txt")
        .trim()
        .to_owned()
}

/// The fat DWARF file of the dSYM fixture, and each architecture's slice as `llvm-lipo
/// -thin` cuts it, with the UUID `llvm-dwarfdump --uuid` reads from that slice.
fn mach_slices(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let zip = bytes_of(&native("macho/libapp.dylib.dSYM.zip"));
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("zip");
    let mut dwarf = archive
        .by_name("libapp.dylib.dSYM/Contents/Resources/DWARF/libapp.dylib")
        .expect("DWARF entry");
    let fat = dir.join("libapp.dylib");
    let mut f = std::fs::File::create(&fat).expect("create");
    std::io::copy(&mut dwarf, &mut f).expect("extract");
    let mut out = Vec::new();
    for arch in ["arm64", "x86_64"] {
        let thin = dir.join(format!("thin-{arch}"));
        let lipo = run(Command::new("llvm-lipo-14")
            .arg(&fat)
            .args(["-thin", arch, "-output"])
            .arg(&thin));
        assert!(lipo.status.success(), "{}", text(&lipo));
        let dump = run(Command::new("llvm-dwarfdump-14").arg("--uuid").arg(&thin));
        let uuid = text(&dump)
            .split_whitespace()
            .nth(1)
            .expect("UUID")
            .replace('-', "")
            .to_ascii_lowercase();
        out.push((uuid, bytes_of(&thin)));
    }
    out
}

/// `llvm-objcopy --dump-section`: an ELF section's bytes as the reference tool cuts them.
fn section_bytes(file: &Path, section: &str, dir: &Path) -> Vec<u8> {
    let out = dir.join(format!("section{section}"));
    let dump = run(Command::new("llvm-objcopy-14")
        .arg(format!("--dump-section={section}={}", out.display()))
        .arg(file)
        .arg(dir.join("objcopy-discard")));
    assert!(dump.status.success(), "{}", text(&dump));
    bytes_of(&out)
}

async fn get(url: &str, auth: Option<&str>) -> reqwest::Response {
    let client = reqwest::Client::new();
    let mut req = client.get(url);
    if let Some(key) = auth {
        req = req.bearer_auth(key);
    }
    req.send().await.expect("request")
}

/// GET, expecting `status`; the body.
async fn body(url: &str, auth: Option<&str>, status: u16) -> Vec<u8> {
    let resp = get(url, auth).await;
    assert_eq!(resp.status().as_u16(), status, "{url}");
    resp.bytes().await.expect("body").to_vec()
}

/// Two tenants' keys on a server with authentication on: acme's reads and uploads, globex's
/// reads.
async fn two_tenants(srv: &TestServer) -> (String, String) {
    let mut keys = srv.keys().await.expect("client");
    let scopes = vec![pb::Scope::Read as i32, pb::Scope::Upload as i32];
    let acme = keys
        .create_key(pb::CreateKeyRequest {
            tenant: "acme".into(),
            name: "acme-ci".into(),
            scopes: scopes.clone(),
        })
        .await
        .expect("acme key")
        .into_inner()
        .token;
    let globex = srv.tenant_key("globex", &["read"]).await;
    (acme, globex)
}

/// A server with keys of two tenants, the native fixtures uploaded by acme with the CLI.
async fn keyed_server_with_fixtures() -> (TestServer, String, String) {
    let srv = TestServer::start().await.expect("server");
    let (acme, globex) = two_tenants(&srv).await;
    let endpoint = srv.endpoint();
    let key = acme.clone();
    tokio::task::spawn_blocking(move || upload_fixtures(&endpoint, Some(&key)))
        .await
        .expect("upload");
    (srv, acme, globex)
}

/// gdb's answers about the crash fixture: the line of a function, a breakpoint and the
/// backtrace there, run under gdb. Addresses of stack data are masked (the two binaries'
/// paths differ in length, so their stacks sit at different addresses).
fn gdb_answers(binary: &Path, urls: Option<&str>, cache: &Path) -> String {
    let mut cmd = Command::new("gdb");
    cmd.args(["-batch", "-nx"])
        .args(["-iex", "set debuginfod enabled on"])
        .args(["-ex", "info line shop::crash"])
        .args(["-ex", "break shop::total"])
        .args(["-ex", "run"])
        .args(["-ex", "bt"])
        .arg(binary)
        .env("DEBUGINFOD_CACHE_PATH", cache)
        .env_remove("DEBUGINFOD_URLS");
    if let Some(u) = urls {
        cmd.env("DEBUGINFOD_URLS", u);
    }
    let out = text(&run(&mut cmd));
    let masked: Vec<String> = out
        .lines()
        .filter(|l| {
            l.starts_with("Line ")
                || l.starts_with("Breakpoint ")
                || l.starts_with('#')
                || l.starts_with("Function ")
                || l.starts_with("No ")
        })
        .map(|l| {
            l.split(' ')
                .map(|w| match w.find("0x") {
                    Some(i) if w.contains("=0x") || w.starts_with("orders") => {
                        format!("{}0x…", &w[..i])
                    }
                    _ => w.to_owned(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    masked.join("\n")
}

/// gdb on the stripped binary, with symx as its debuginfod server (the key in the URL's
/// path, as gdb sends no headers), answers exactly as gdb on the unstripped binary;
/// debuginfod-find (key in a headers file) and llvm-debuginfod-find fetch the debug file,
/// the binary and a section byte for byte; another tenant's key gets nothing.
#[tokio::test]
async fn gdb_and_debuginfod_clients_read_symbols_from_symx() {
    let (srv, acme, globex) = keyed_server_with_fixtures().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let base = srv.http();
    let acme_url = format!("{base}/key/{acme}");
    let globex_url = format!("{base}/key/{globex}");
    let (t, a, g) = (tmp.path().to_owned(), acme_url.clone(), globex_url.clone());
    let (reference, from_symx, other_tenant, no_server) = tokio::task::spawn_blocking(move || {
        (
            gdb_answers(&native("elf/crash"), None, &t.join("c0")),
            gdb_answers(&native("elf/crash.stripped"), Some(&a), &t.join("c1")),
            gdb_answers(&native("elf/crash.stripped"), Some(&g), &t.join("c2")),
            gdb_answers(&native("elf/crash.stripped"), None, &t.join("c3")),
        )
    })
    .await
    .expect("gdb");
    assert!(
        reference.contains("Line 37 of \"crash.cpp\"") && reference.contains("crash.cpp:45"),
        "gdb on the unstripped binary:\n{reference}"
    );
    assert_eq!(from_symx, reference, "gdb through symx");
    // The control: without the debug file gdb has no lines, and tenant globex gets none.
    assert!(!no_server.contains("crash.cpp"), "{no_server}");
    assert!(!other_tenant.contains("crash.cpp"), "{other_tenant}");

    // elfutils' client with the key in a headers file; LLVM's with the key in the path.
    let headers = tmp.path().join("headers");
    std::fs::write(&headers, format!("Authorization: Bearer {acme}\n")).expect("headers");
    let t = tmp.path().to_owned();
    let debug_line = section_bytes(&native("elf/crash.debug"), ".debug_line", tmp.path());
    let dynsym = section_bytes(&native("elf/crash.stripped"), ".dynsym", tmp.path());
    let (base2, acme2) = (base.clone(), acme_url.clone());
    tokio::task::spawn_blocking(move || {
        let elfutils = |args: &[&str], cache: &str| {
            run(Command::new("debuginfod-find")
                .args(args)
                .env("DEBUGINFOD_URLS", &base2)
                .env("DEBUGINFOD_HEADERS_FILE", &headers)
                .env("DEBUGINFOD_CACHE_PATH", t.join(cache)))
        };
        for (what, want) in [
            (
                vec!["debuginfo", BUILD_ID],
                bytes_of(&native("elf/crash.debug")),
            ),
            (
                vec!["executable", BUILD_ID],
                bytes_of(&native("elf/crash.stripped")),
            ),
            (vec!["section", BUILD_ID, ".debug_line"], debug_line.clone()),
            // Not in the debug file (NOBITS there... or absent): from the binary.
            (vec!["section", BUILD_ID, ".dynsym"], dynsym.clone()),
        ] {
            let out = elfutils(&what, "e1");
            assert!(
                out.status.success(),
                "debuginfod-find {what:?}: {}",
                text(&out)
            );
            let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            assert!(
                bytes_of(Path::new(&path)) == want,
                "debuginfod-find {what:?} differs"
            );
        }
        let missing = elfutils(
            &["debuginfo", "00112233445566778899aabbccddeeff00112233"],
            "e2",
        );
        assert!(!missing.status.success());
        assert!(
            text(&missing).contains("No such file"),
            "{}",
            text(&missing)
        );
        // No key: the server answers 401, and the client finds nothing.
        let anonymous = run(Command::new("debuginfod-find")
            .args(["debuginfo", BUILD_ID])
            .env("DEBUGINFOD_URLS", &base2)
            .env("DEBUGINFOD_CACHE_PATH", t.join("e3")));
        assert!(!anonymous.status.success(), "{}", text(&anonymous));

        for (flag, want) in [
            ("--debuginfo", native("elf/crash.debug")),
            ("--executable", native("elf/crash.stripped")),
        ] {
            let out = run(Command::new("llvm-debuginfod-find-14")
                .args([flag, BUILD_ID])
                .env("DEBUGINFOD_URLS", &acme2)
                .env("DEBUGINFOD_CACHE_PATH", t.join("l1")));
            assert!(
                out.status.success(),
                "llvm-debuginfod-find {flag}: {}",
                text(&out)
            );
            let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            assert!(
                bytes_of(Path::new(&path)) == bytes_of(&want),
                "llvm-debuginfod-find {flag} differs"
            );
        }
    })
    .await
    .expect("clients");
    let metrics = srv.metrics().await;
    assert!(
        metrics.contains("symx_symbol_requests_total{outcome=\"found\",protocol=\"debuginfod\"}"),
        "{metrics}"
    );
}

/// Microsoft's SSQP paths, Symbolicator's unified and native layouts and debuginfod's paths
/// serve every stored native kind byte for byte (PDB, PE, ELF debug file and binary, each
/// Mach-O slice of a dSYM archive), with any case in names and ids; HEAD answers the length;
/// compressed-file probes, pointer files, sources and unknown ids answer 404 in plain text;
/// `symx fetch` writes the same files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_layout_serves_every_native_kind() {
    let srv = TestServer::start().await.expect("server");
    let endpoint = srv.endpoint();
    tokio::task::spawn_blocking(move || upload_fixtures(&endpoint, None))
        .await
        .expect("upload");
    let tmp = tempfile::tempdir().expect("tmp");
    let base = srv.http();
    let pdb = bytes_of(&native("pe/app.pdb"));
    let dll = bytes_of(&native("pe/app.dll"));
    let debug = bytes_of(&native("elf/crash.debug"));
    let stripped = bytes_of(&native("elf/crash.stripped"));
    let key = pdb_key();
    let (guid, age) = key.split_at(32);
    let code = pe_code_id();
    let mut cases: Vec<(String, &Vec<u8>)> = vec![
        (format!("/app.pdb/{key}/app.pdb"), &pdb),
        (format!("/APP.PDB/{key}/App.Pdb"), &pdb),
        // SSQP's own casing: the GUID lower, the age upper.
        (
            format!("/app.pdb/{}{}/app.pdb", guid.to_lowercase(), age),
            &pdb,
        ),
        (format!("/ap/app.pdb/{key}/app.pdb"), &pdb),
        (format!("/app.dll/{code}/app.dll"), &dll),
        (format!("/App.DLL/{}/app.dll", code.to_lowercase()), &dll),
        (
            format!("/_.debug/elf-buildid-sym-{BUILD_ID}/_.debug"),
            &debug,
        ),
        (format!("/crash/elf-buildid-{BUILD_ID}/crash"), &stripped),
        (format!("/buildid/{BUILD_ID}/debuginfo"), &debug),
        (
            format!("/buildid/{}/executable", BUILD_ID.to_uppercase()),
            &stripped,
        ),
        (
            format!("/{}/{}/debuginfo", &BUILD_ID[..2], &BUILD_ID[2..]),
            &debug,
        ),
        (
            format!("/{}/{}/executable", &BUILD_ID[..2], &BUILD_ID[2..]),
            &stripped,
        ),
        (
            format!("/{}/{}.debug", &BUILD_ID[..2], &BUILD_ID[2..]),
            &debug,
        ),
        (format!("/{}/{}", &BUILD_ID[..2], &BUILD_ID[2..]), &stripped),
    ];
    // Unified: PE and PDB by the PDB signature in lower case.
    let unified = key.to_lowercase();
    let (u2, urest) = unified.split_at(2);
    cases.push((format!("/{u2}/{urest}/debuginfo"), &pdb));
    cases.push((format!("/{u2}/{urest}/executable"), &dll));
    let slices = mach_slices(tmp.path());
    for (uuid, thin) in &slices {
        cases.push((format!("/_.dwarf/mach-uuid-sym-{uuid}/_.dwarf"), thin));
        cases.push((format!("/{}/{}/debuginfo", &uuid[..2], &uuid[2..]), thin));
        let up = uuid.to_uppercase();
        cases.push((
            format!(
                "/{}/{}/{}/{}/{}/{}",
                &up[..4],
                &up[4..8],
                &up[8..12],
                &up[12..16],
                &up[16..20],
                &up[20..]
            ),
            thin,
        ));
    }
    for (path, want) in &cases {
        let url = format!("{base}{path}");
        let got = body(&url, None, 200).await;
        assert!(
            got == **want,
            "{path}: {} bytes differ from the upload",
            got.len()
        );
        let head = reqwest::Client::new()
            .head(&url)
            .send()
            .await
            .expect("HEAD");
        assert_eq!(head.status().as_u16(), 200, "HEAD {path}");
        assert_eq!(
            head.headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok()),
            Some(want.len().to_string().as_str()),
            "HEAD {path}"
        );
    }
    for path in [
        format!("/app.pdb/{key}/app.pd_"),
        format!("/app.pdb/{key}/file.ptr"),
        format!("/app.dll/{code}/app.dl_"),
        "/app.pdb/00000000000000000000000000000000A/app.pdb".to_owned(),
        // A PDB under another name is not this one.
        format!("/other.pdb/{key}/other.pdb"),
        "/buildid/00112233445566778899aabbccddeeff00112233/debuginfo".to_owned(),
        format!("/buildid/{BUILD_ID}/source/work/crash.cpp"),
        format!("/buildid/{BUILD_ID}/section/.no_such_section"),
        format!("/{}/{}/breakpad", &BUILD_ID[..2], &BUILD_ID[2..]),
        // A Mach-O binary was never uploaded (dSYMs only).
        format!("/_.dwarf/mach-uuid-{}/_.dwarf", slices[0].0),
    ] {
        let resp = get(&format!("{base}{path}"), None).await;
        assert_eq!(resp.status().as_u16(), 404, "{path}");
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/plain; charset=utf-8"),
            "{path}"
        );
        assert!(resp.headers().contains_key("content-length"), "{path}");
    }
    let metrics = srv.metrics().await;
    for series in [
        "symx_symbol_requests_total{outcome=\"found\",protocol=\"ssqp\"}",
        "symx_symbol_requests_total{outcome=\"not_found\",protocol=\"ssqp\"}",
        "symx_symbol_requests_total{outcome=\"found\",protocol=\"unified\"}",
        "symx_symbol_requests_total{outcome=\"found\",protocol=\"native\"}",
        "symx_symbol_bytes_total{protocol=\"ssqp\"}",
    ] {
        assert!(metrics.contains(series), "{series} in\n{metrics}");
    }

    // `symx fetch` by every kind of id writes the same files.
    let out_dir = tmp.path().join("fetched");
    std::fs::create_dir_all(&out_dir).expect("dir");
    let endpoint = srv.endpoint();
    let (guid_dashed, age_num) = pe_fixture_signature();
    let arm64 = slices[0].clone();
    let checks: Vec<(Vec<String>, Vec<u8>)> = vec![
        (vec![BUILD_ID.into()], debug.clone()),
        (
            vec![BUILD_ID.into(), "--executable".into()],
            stripped.clone(),
        ),
        (vec![format!("{guid_dashed}-{age_num}")], pdb.clone()),
        (vec![code.clone()], dll.clone()),
        (vec![arm64.0.clone()], arm64.1.clone()),
    ];
    tokio::task::spawn_blocking(move || {
        for (i, (args, want)) in checks.iter().enumerate() {
            let dest = out_dir.join(format!("f{i}"));
            let mut all = vec!["fetch".to_owned()];
            all.extend(args.iter().cloned());
            all.extend(["-o".to_owned(), dest.display().to_string()]);
            let argv: Vec<&str> = all.iter().map(String::as_str).collect();
            stdout_of(&symx_cli(&endpoint, &argv));
            assert!(bytes_of(&dest) == *want, "symx fetch {args:?} differs");
        }
        let out = symx_cli(&endpoint, &["fetch", "00112233445566778899aabbccddeeff"]);
        assert!(!out.status.success());
        assert!(text(&out).contains("no stored file"), "{}", text(&out));
    })
    .await
    .expect("fetch");
}

/// Every route honours tenants and keys: the owner's key (as a header, as basic auth's
/// password, or in the path) reads; another tenant's key finds nothing; no key, or a key that
/// does not exist, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_symbol_route_keeps_tenants_apart() {
    let (srv, acme, globex) = keyed_server_with_fixtures().await;
    let base = srv.http();
    let pdb = pdb_key();
    let code = pe_code_id();
    let unknown = format!("symx_{}_{}", "0".repeat(16), "1".repeat(64));
    let paths = [
        format!("/buildid/{BUILD_ID}/debuginfo"),
        format!("/buildid/{BUILD_ID}/executable"),
        format!("/buildid/{BUILD_ID}/section/.debug_info"),
        format!("/app.pdb/{pdb}/app.pdb"),
        format!("/app.dll/{code}/app.dll"),
        format!("/_.debug/elf-buildid-sym-{BUILD_ID}/_.debug"),
        format!("/{}/{}/debuginfo", &BUILD_ID[..2], &BUILD_ID[2..]),
        format!(
            "/{}/{}/debuginfo",
            &pdb[..2].to_lowercase(),
            &pdb[2..].to_lowercase()
        ),
        format!("/{}/{}.debug", &BUILD_ID[..2], &BUILD_ID[2..]),
    ];
    let client = reqwest::Client::new();
    for path in &paths {
        let url = format!("{base}{path}");
        body(&url, Some(&acme), 200).await;
        body(&format!("{base}/key/{acme}{path}"), None, 200).await;
        let basic = client
            .get(&url)
            .basic_auth("symx", Some(&acme))
            .send()
            .await
            .expect("basic");
        assert_eq!(basic.status().as_u16(), 200, "basic auth {path}");
        body(&url, Some(&globex), 404).await;
        body(&format!("{base}/key/{globex}{path}"), None, 404).await;
        body(&url, None, 401).await;
        body(&url, Some(&unknown), 401).await;
        body(&format!("{base}/key/{unknown}{path}"), None, 401).await;
    }
    // The CLI's route: another tenant's key finds nothing; no key is refused.
    let mut art = srv.artifacts().await.expect("client");
    let fetch = |key: Option<&str>| {
        let req = pb::FetchDebugFileRequest {
            id: BUILD_ID.into(),
            ..Default::default()
        };
        match key {
            Some(k) => with_key(req, k),
            None => tonic::Request::new(req),
        }
    };
    let err = art
        .fetch_debug_file(fetch(Some(&globex)))
        .await
        .expect_err("globex");
    assert_eq!(err.code(), Code::NotFound);
    let err = art
        .fetch_debug_file(fetch(None))
        .await
        .expect_err("anonymous");
    assert_eq!(err.code(), Code::Unauthenticated);
    let mut stream = art
        .fetch_debug_file(fetch(Some(&acme)))
        .await
        .expect("acme")
        .into_inner();
    let info = stream
        .message()
        .await
        .expect("first")
        .and_then(|c| c.info)
        .expect("info");
    assert_eq!(info.size, bytes_of(&native("elf/crash.debug")).len() as u64);
    assert_eq!(info.kind, "elf");
}

/// A debug file far larger than what serving it may cost: the real `symxd` streams 96 MB to
/// a client while its peak memory grows by a fraction of that; a client that stalls in the
/// middle holds nothing up for another, which gets the whole file meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_debug_file_streams_in_bounded_memory() {
    use futures::StreamExt;
    use sha2::Digest;
    let tmp = tempfile::tempdir().expect("tmp");
    // The fixture's debug file with a 96 MB section of bytes zstd cannot shrink.
    let junk = tmp.path().join("junk");
    std::fs::write(&junk, incompressible_text(96 << 20, 7)).expect("junk");
    let big = tmp.path().join("big.debug");
    let objcopy = run(Command::new("llvm-objcopy-14")
        .arg(format!("--add-section=.debug_junk={}", junk.display()))
        .arg(native("elf/crash.debug"))
        .arg(&big));
    assert!(objcopy.status.success(), "{}", text(&objcopy));
    let want: [u8; 32] = sha2::Sha256::digest(bytes_of(&big)).into();
    let size = std::fs::metadata(&big).expect("size").len();

    let data = tmp.path().join("data");
    let daemon = Daemon::spawn(&data, &[]);
    daemon.ready().await;
    let endpoint = format!("http://{}", daemon.grpc);
    let path = big.clone();
    tokio::task::spawn_blocking(move || {
        let out = symx_cli(&endpoint, &["upload", "elf", &path.display().to_string()]);
        stdout_of(&out);
    })
    .await
    .expect("upload");
    // The peak so far is the upload's (spooled and indexed in place); start counting anew.
    std::fs::write(format!("/proc/{}/clear_refs", daemon.child.id()), "5").expect("clear_refs");
    let before = daemon.status_kb("VmHWM");
    let url = format!("http://{}/buildid/{BUILD_ID}/debuginfo", daemon.http);

    // A client that reads a little, then stalls.
    let mut stalled = reqwest::get(&url).await.expect("stalled").bytes_stream();
    let first = stalled.next().await.expect("a first piece").expect("bytes");
    assert!(!first.is_empty());
    // Another client meanwhile reads the whole file.
    let resp = reqwest::get(&url).await.expect("get");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.content_length(), Some(size));
    let mut stream = resp.bytes_stream();
    let mut hasher = sha2::Sha256::new();
    let mut got = 0u64;
    while let Some(piece) = stream.next().await {
        let piece = piece.expect("piece");
        got += piece.len() as u64;
        hasher.update(&piece);
    }
    assert_eq!(got, size);
    assert_eq!(
        <[u8; 32]>::from(hasher.finalize()),
        want,
        "the streamed file differs"
    );
    // The stalled client resumes and gets the rest.
    let mut rest = first.len() as u64;
    while let Some(piece) = stalled.next().await {
        rest += piece.expect("piece").len() as u64;
    }
    assert_eq!(rest, size);
    let grew_mb = (daemon.status_kb("VmHWM").saturating_sub(before)) / 1024;
    eprintln!(
        "serving {} MB twice: peak grew by {grew_mb} MB (from {} MB)",
        size >> 20,
        before / 1024
    );
    assert!(
        grew_mb < 48,
        "serving a {} MB file grew the peak by {grew_mb} MB",
        size >> 20
    );
}

/// Sources: `symx upload elf app.debug` takes the bundle sentry-cli wrote beside it
/// (`app.src.zip`); gdb, not finding the file where the debug information says, lists it
/// through symx; debuginfod-find, the unified layout and `symx fetch` serve the file and the
/// bundle byte for byte; a bundle that is not one is refused at upload, naming the part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_uploaded_with_a_debug_file_are_served() {
    let srv = TestServer::start().await.expect("server");
    let dir = native("sources");
    let build_id = std::fs::read_to_string(dir.join("build-id.txt"))
        .expect("build-id.txt")
        .trim()
        .to_owned();
    let bundle = bytes_of(&dir.join("app.src.zip"));
    let source = bytes_of(&dir.join("app.c"));
    // The path the debug information names the source by (the manifest says the same).
    let zip = zip::ZipArchive::new(std::io::Cursor::new(bundle.clone())).expect("bundle");
    let path = zip
        .file_names()
        .find(|n| n.ends_with("/app.c"))
        .expect("app.c in the bundle")
        .trim_start_matches("files")
        .to_owned();
    let tmp = tempfile::tempdir().expect("tmp");
    let stripped = tmp.path().join("app");
    let strip = run(Command::new("llvm-objcopy-14")
        .arg("--strip-all")
        .arg(dir.join("app"))
        .arg(&stripped));
    assert!(strip.status.success(), "{}", text(&strip));
    let (endpoint, base) = (srv.endpoint(), srv.http());
    let (t, p, id, want_source, want_bundle) = (
        tmp.path().to_owned(),
        path.clone(),
        build_id.clone(),
        source.clone(),
        bundle.clone(),
    );
    tokio::task::spawn_blocking(move || {
        let up = stdout_of(&symx_cli(
            &endpoint,
            &[
                "upload",
                "elf",
                &dir.join("app.debug").display().to_string(),
            ],
        ));
        assert!(up.contains("1 uploaded"), "{up}");
        // gdb looks for the file where the debug information says (a prefix it cannot find,
        // as on another machine), then asks the debuginfod server.
        let root = p.split('/').nth(1).expect("a first directory").to_owned();
        let gdb = text(&run(Command::new("gdb")
            .args(["-batch", "-nx"])
            .args(["-iex", "set debuginfod enabled on"])
            .args([
                "-iex",
                &format!("set substitute-path /{root} /nonexistent-{root}"),
            ])
            .args(["-ex", "list sum_of_squares"])
            .arg(&stripped)
            .env("DEBUGINFOD_URLS", &base)
            .env("DEBUGINFOD_CACHE_PATH", t.join("gdb"))));
        let lines: Vec<&str> = std::str::from_utf8(&want_source)
            .expect("utf-8")
            .lines()
            .collect();
        let at = lines
            .iter()
            .position(|l| l.contains("int sum_of_squares("))
            .expect("the function's line");
        for (n, line) in lines.iter().enumerate().skip(at.saturating_sub(2)).take(5) {
            let listed = format!("{}\t{line}", n + 1);
            assert!(gdb.contains(&listed), "gdb did not list `{listed}`:\n{gdb}");
        }
        let found = run(Command::new("debuginfod-find")
            .args(["source", &id, &p])
            .env("DEBUGINFOD_URLS", &base)
            .env("DEBUGINFOD_CACHE_PATH", t.join("elfutils")));
        assert!(found.status.success(), "{}", text(&found));
        let cached = String::from_utf8_lossy(&found.stdout).trim().to_owned();
        assert!(
            bytes_of(Path::new(&cached)) == want_source,
            "the source differs"
        );
        for (args, want) in [
            (vec!["--source", p.as_str()], &want_source),
            (vec!["--source-bundle"], &want_bundle),
        ] {
            let dest = t.join("fetched");
            let mut argv = vec!["fetch", id.as_str()];
            argv.extend(args.iter().copied());
            let dest_s = dest.display().to_string();
            argv.extend(["-o", dest_s.as_str()]);
            stdout_of(&symx_cli(&endpoint, &argv));
            assert!(bytes_of(&dest) == *want, "symx fetch {args:?} differs");
        }
    })
    .await
    .expect("clients");
    let base = srv.http();
    let got = body(
        &format!("{base}/{}/{}/sourcebundle", &build_id[..2], &build_id[2..]),
        None,
        200,
    )
    .await;
    assert!(got == bundle, "the unified sourcebundle differs");
    body(
        &format!("{base}/buildid/{build_id}/source/no/such/file.c"),
        None,
        404,
    )
    .await;

    // Garbage where the bundle goes: refused, naming the part, nothing stored.
    let mut art = srv.artifacts().await.expect("client");
    let err = upload(
        &mut art,
        pb::UploadMetadata {
            r#type: pb::UploadType::ElfSymbolFile as i32,
            overwrite: true,
            ..Default::default()
        },
        &[
            ("elf_symbol_file", bytes_of(&native("sources/app.debug"))),
            ("sources", b"SYSB\x02\0\0\0not a zip".to_vec()),
        ],
    )
    .await
    .expect_err("a broken bundle");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("sources"), "{}", err.message());
}
