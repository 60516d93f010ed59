//! Every unresolved frame explained (issue 15): a real server, real gRPC clients, the
//! fixtures of the other tests. One assertion group per explanation: its reason code, the
//! candidates it names and the fix it gives. Then the missing-artifact report and the late
//! upload story: a frame fails, the report names the upload command, the upload happens
//! through the real `symx` CLI, the watcher is told, `symx reprocess --only-unresolved` fixes
//! the stored event; tenants see only their own report and uploads.

use std::time::Duration;
use symx_e2e::*;
use symx_proto::v1 as pb;

const URL: &str = "https://cdn.example.com/static/js/app.min.js";
/// The GNU build id of `native/elf/crash`.
const CRASH_ID: &str = "1e178778753aa68d811fb8191bedd7f3a71b25a3";
/// The GNU build id of `native/edges/edges-symtab` (symbol table only).
const SYMTAB_ID: &str = "be4388ab1ebdb6bb40fd7fe0a957673fb639b45c";

fn explained(st: pb::StackTrace) -> pb::SymbolicateRequest {
    pb::SymbolicateRequest {
        stacktraces: vec![st],
        context_lines: 0,
        debug_ids: Default::default(),
        explain: true,
    }
}

async fn one(sym: &mut Symbolication, st: pb::StackTrace) -> pb::FrameResult {
    sym.symbolicate(explained(st))
        .await
        .expect("symbolicate")
        .into_inner()
        .stacktraces
        .remove(0)
        .frames
        .remove(0)
}

fn js_trace(version: &str, frame: pb::Frame) -> pb::StackTrace {
    pb::StackTrace {
        service: "shop".into(),
        version: version.into(),
        frames: vec![frame],
        ..Default::default()
    }
}

fn native_frame(code_id: &str, addr: u64, module: &str) -> pb::Frame {
    pb::Frame {
        frame: Some(pb::frame::Frame::Native(pb::NativeFrame {
            code_id: code_id.into(),
            instruction_addr: addr,
            exact: Some(true),
            module: module.into(),
            ..Default::default()
        })),
    }
}

fn jvm_trace(variant: &str, class: &str, method: &str, line: u32) -> pb::StackTrace {
    pb::StackTrace {
        service: "shop-android".into(),
        version: "5.1.0".into(),
        variant: variant.into(),
        frames: vec![pb::Frame {
            frame: Some(pb::frame::Frame::Jvm(pb::JvmFrame {
                class_name: class.into(),
                method: method.into(),
                line,
                file: "SourceFile".into(),
            })),
        }],
        ..Default::default()
    }
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fixture(rel)).expect("fixture")
}

fn elf_meta(filename: &str) -> pb::UploadMetadata {
    pb::UploadMetadata {
        r#type: pb::UploadType::ElfSymbolFile as i32,
        filename: filename.into(),
        ..Default::default()
    }
}

fn jvm_meta(version: &str, variant: &str) -> pb::UploadMetadata {
    pb::UploadMetadata {
        r#type: pb::UploadType::JvmMappingFile as i32,
        service: "shop-android".into(),
        version: version.into(),
        variant: variant.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn every_unresolved_frame_carries_its_reason_and_what_to_do() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    let mut sym = srv.symbolication().await.expect("client");
    let esbuild = js_fixture_parts("esbuild", "app.min.js");
    for v in ["1.4.1", "1.4.3"] {
        upload(&mut art, js_meta("shop", v, URL), &esbuild)
            .await
            .expect("upload");
    }
    // 2.0: the same files under another path.
    upload(
        &mut art,
        js_meta("shop", "2.0", "https://cdn.example.com/assets/app.min.js"),
        &esbuild,
    )
    .await
    .expect("upload 2.0");
    // 3.0: a map with a debug id (terser's fixture).
    upload(
        &mut art,
        js_meta("shop", "3.0", URL),
        &js_fixture_parts("terser", "app.min.js"),
    )
    .await
    .expect("upload 3.0");

    // JS: no artifact for the release; the nearest versions that have the file are named.
    let r = one(&mut sym, js_trace("1.4.2", js_frame(URL, 3, 30))).await;
    assert_eq!(r.status, pb::FrameStatus::MissingArtifact as i32);
    assert_eq!(r.reason, "js_no_release");
    assert_eq!(r.candidates, vec!["1.4.1", "1.4.3", "2.0", "3.0"]);
    assert!(
        r.explanation
            .contains("the nearest versions with `app.min.js` are 1.4.1, 1.4.3"),
        "{}",
        r.explanation
    );
    assert_eq!(
        r.fix,
        "symx upload js DIR --service shop --version 1.4.2 \
         --minified-path-prefix https://cdn.example.com/static/js"
    );

    // JS: the release exists, the path does not match what was uploaded.
    let r = one(&mut sym, js_trace("2.0", js_frame(URL, 3, 30))).await;
    assert_eq!(r.reason, "js_no_file_in_release");
    assert_eq!(r.candidates, vec!["/assets/app.min.js"]);
    assert!(
        r.explanation
            .contains("none matches /static/js/app.min.js (uploaded: /assets/app.min.js)"),
        "{}",
        r.explanation
    );
    assert!(r.explanation.contains("--minified-path-prefix"));

    // JS: the frame's debug id matches nothing; the release's file has another one.
    let mut f = js_frame(URL, 1, 1);
    if let Some(pb::frame::Frame::Js(js)) = &mut f.frame {
        js.debug_id = "00000000-0000-4000-8000-000000000000".into();
    }
    let r = one(&mut sym, js_trace("3.0", f)).await;
    assert_eq!(r.reason, "js_debug_id_unknown");
    assert_eq!(r.candidates, vec!["9c9a32b7-a225-47d3-a502-24b7c36b4a9f"]);
    assert!(
        r.explanation
            .contains("has debug id 9c9a32b7-a225-47d3-a502-24b7c36b4a9f"),
        "{}",
        r.explanation
    );

    // JS: a column past the end of the minified line: the files do not match.
    let line3 = String::from_utf8(esbuild[1].1.clone()).expect("utf-8");
    let len3 = line3.lines().nth(2).expect("line 3").encode_utf16().count();
    // The map still answers (its nearest mapping on the line), and says why not to trust it.
    let r = one(&mut sym, js_trace("1.4.1", js_frame(URL, 3, 900))).await;
    assert_eq!(r.status, pb::FrameStatus::Resolved as i32);
    assert_eq!(r.reason, "js_position_out_of_range");
    assert!(
        r.explanation.contains(&format!(
            "line 3 of the minified file has {len3} columns, the frame asks for column 900: \
             the minified file that ran does not match the map"
        )),
        "{}",
        r.explanation
    );
    // A line past the end of the file does not resolve.
    let lines = line3.lines().count();
    let r = one(&mut sym, js_trace("1.4.1", js_frame(URL, 50, 1))).await;
    assert_eq!(r.status, pb::FrameStatus::OutOfRange as i32);
    assert_eq!(r.reason, "js_position_out_of_range");
    assert!(
        r.explanation.contains(&format!(
            "the minified file has {} lines, the frame asks for line 50",
            lines + usize::from(line3.ends_with('\n'))
        )),
        "{}",
        r.explanation
    );

    // Without `explain`, the reason alone (resolved frames are untouched).
    let mut plain = explained(js_trace("1.4.2", js_frame(URL, 3, 30)));
    plain.explain = false;
    plain.stacktraces[0].frames.push(js_frame(URL, 3, 30));
    plain
        .stacktraces
        .push(js_trace("1.4.1", js_frame(URL, 3, 30)));
    let resp = sym
        .symbolicate(plain)
        .await
        .expect("symbolicate")
        .into_inner();
    let r = &resp.stacktraces[0].frames[0];
    assert_eq!(
        (r.reason.as_str(), r.explanation.as_str()),
        ("js_no_release", "")
    );
    assert!(r.candidates.is_empty() && r.fix.is_empty());
    let ok = &resp.stacktraces[1].frames[0];
    assert_eq!(ok.status, pb::FrameStatus::Resolved as i32);
    assert_eq!(ok.reason, "");

    // Native: no debug file for the build id; the module's name was uploaded with another.
    upload(
        &mut art,
        elf_meta("libcrash.so"),
        &[("elf_symbol_file", read("native/elf/crash.debug"))],
    )
    .await
    .expect("upload elf");
    let other = "00112233445566778899aabbccddeeff00112233";
    let r = one(
        &mut sym,
        pb::StackTrace {
            frames: vec![native_frame(
                other,
                0x1139,
                "/data/app/lib/arm64/libcrash.so",
            )],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(r.reason, "native_no_debug_file");
    assert_eq!(r.candidates, vec![CRASH_ID]);
    assert!(
        r.explanation
            .contains(&format!("no debug file for code id {other}")),
        "{}",
        r.explanation
    );
    assert!(
        r.explanation.contains(&format!(
            "libcrash.so was uploaded with other build ids: {CRASH_ID} (uploaded 20"
        )),
        "{}",
        r.explanation
    );
    assert_eq!(
        r.fix,
        format!("symx upload elf libcrash.so # the build with id {other}")
    );

    // Native: an address outside every function of the module.
    let r = one(
        &mut sym,
        pb::StackTrace {
            frames: vec![native_frame(CRASH_ID, 0x7fff_0000, "libcrash.so")],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(r.status, pb::FrameStatus::OutOfRange as i32, "{r:?}");
    assert_eq!(r.reason, "native_address_outside_module");
    assert!(r.explanation.contains("module offset 0x7fff0000 is outside every function of the module (its functions span 0x"), "{}", r.explanation);

    // Native: symbols but no line information.
    upload(
        &mut art,
        elf_meta("edges"),
        &[("elf_symbol_file", read("native/edges/edges-symtab"))],
    )
    .await
    .expect("upload symtab");
    let expected: serde_json::Value =
        serde_json::from_slice(&read("native/edges/edges-symtab.expected.json")).expect("json");
    let addr = expected
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|e| e["frames"].as_array().is_some_and(|f| !f.is_empty()))
        })
        .and_then(|e| e["address"].as_u64())
        .expect("an address in a function");
    let r = one(
        &mut sym,
        pb::StackTrace {
            frames: vec![native_frame(SYMTAB_ID, addr, "edges")],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(r.status, pb::FrameStatus::Resolved as i32, "{}", r.message);
    assert_eq!(r.reason, "native_no_line_info");
    assert!(
        r.explanation.contains("no line information"),
        "{}",
        r.explanation
    );

    // JVM: no mapping for the variant; the variants that exist are named.
    upload(
        &mut art,
        jvm_meta("5.1.0", "debug"),
        &[("jvm_mapping_file", read("jvm/proguard/mapping.txt"))],
    )
    .await
    .expect("upload mapping");
    let r = one(&mut sym, jvm_trace("release", "com.shop.a.a", "a", 1028)).await;
    assert_eq!(r.status, pb::FrameStatus::MissingArtifact as i32);
    assert_eq!(r.reason, "jvm_no_mapping");
    assert_eq!(r.candidates, vec!["debug"]);
    assert!(r.explanation.contains("no ProGuard/R8 mapping for shop-android/5.1.0/release; mappings exist for variants debug"), "{}", r.explanation);
    assert_eq!(
        r.fix,
        "symx upload jvm mapping.txt --service shop-android --version 5.1.0 --variant release"
    );

    // JVM: a class the mapping does not have.
    let r = one(&mut sym, jvm_trace("debug", "zz.Unknown", "run", 3)).await;
    assert_eq!(r.reason, "jvm_class_not_mapped");
    assert!(
        r.explanation
            .contains("the class zz.Unknown is not in the mapping"),
        "{}",
        r.explanation
    );

    // JVM: a mapping without line information (the fixture's mapping as ProGuard writes it
    // without `-keepattributes LineNumberTable`: no line ranges).
    let no_lines: String = String::from_utf8(read("jvm/proguard/mapping.txt"))
        .expect("utf-8")
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if !l.starts_with("    ") || !t.starts_with(|c: char| c.is_ascii_digit()) {
                return format!("{l}\n");
            }
            // `    7:15:void main(java.lang.String[]):11 -> main` -> `    void main(...) -> main`
            let body = t.splitn(3, ':').nth(2).unwrap_or(t);
            let (sig, renamed) = body.split_once(" -> ").unwrap_or((body, ""));
            let sig = match sig.rfind(')') {
                Some(end) => &sig[..=end],
                None => sig,
            };
            format!("    {sig} -> {renamed}\n")
        })
        .collect();
    upload(
        &mut art,
        jvm_meta("6.0", "release"),
        &[("jvm_mapping_file", no_lines.into_bytes())],
    )
    .await
    .expect("upload mapping without lines");
    let mut st = jvm_trace("release", "com.shop.a.a", "a", 1028);
    st.version = "6.0".into();
    let r = one(&mut sym, st).await;
    assert_eq!(r.status, pb::FrameStatus::Resolved as i32, "{}", r.message);
    assert_eq!(r.reason, "jvm_no_line_info", "{r:?}");
    assert!(
        r.explanation.contains("-keepattributes LineNumberTable"),
        "{}",
        r.explanation
    );

    // The CLI prints the explanation and the fix under the frame.
    let out = symbolicate_text_with(
        &srv,
        &std::fs::read_to_string(fixture("js/esbuild/stack.txt")).expect("stack"),
        &["--service", "shop", "--version", "1.4.2", "--explain"],
    )
    .await;
    assert!(out.contains("why (js_no_release): no source map for service=shop version=1.4.2; the nearest versions with `app.min.js` are 1.4.1, 1.4.3"), "{out}");
    assert!(out.contains("fix: symx upload js DIR --service shop --version 1.4.2 --minified-path-prefix https://cdn.example.com/static/js"), "{out}");
}

/// The real `symx` CLI, off the async threads (the server it calls runs in this process).
async fn cli(endpoint: String, args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        symx_cli(&endpoint, &args)
    })
    .await
    .expect("symx ran")
}

async fn list_missing(art: &mut Artifacts, key: Option<&str>) -> pb::ListMissingResponse {
    let req = pb::ListMissingRequest::default();
    match key {
        Some(k) => art.list_missing(with_key(req, k)).await,
        None => art.list_missing(req).await,
    }
    .expect("list missing")
    .into_inner()
}

// Multi-threaded: the CLI runs as a blocking child process while this process serves it.
#[tokio::test(flavor = "multi_thread")]
async fn a_late_upload_is_reported_announced_and_reprocessed() {
    let srv = TestServer::start().await.expect("server");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut keys = srv.keys().await.expect("client");
    let scopes = vec![
        pb::Scope::Read as i32,
        pb::Scope::Upload as i32,
        pb::Scope::Admin as i32,
    ];
    let a = keys
        .create_key(pb::CreateKeyRequest {
            tenant: "acme".into(),
            name: "acme".into(),
            scopes: scopes.clone(),
        })
        .await
        .expect("key")
        .into_inner()
        .token;
    // Authentication is on now; tenant B's key is made as `symxd keys create` would.
    let b = srv.tenant_key("globex", &["read", "upload"]).await;
    let mut art = srv.artifacts().await.expect("client");
    let mut sym = srv.symbolication().await.expect("client");

    // The stored event: its stack trace fails with missing_artifact, three frames.
    let event = serde_json::json!({
        "id": "evt-1",
        "service": "shop",
        "version": "9.9",
        "frames": [
            {"abs_path": URL, "lineno": 3, "colno": 30},
            {"abs_path": URL, "lineno": 2, "colno": 30},
            {"abs_path": "node:internal/modules/cjs/loader", "lineno": 1, "colno": 1},
        ],
    });
    let input = tmp.path().join("events.ndjson");
    std::fs::write(&input, format!("{event}\n")).expect("write events");
    let first = tmp.path().join("first.ndjson");
    let run = |input: &std::path::Path, output: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "--api-key".to_owned(),
            a.clone(),
            "reprocess".into(),
            "--input".into(),
            input.display().to_string(),
            "--output".into(),
            output.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        cli(srv.endpoint(), args)
    };
    let out = run(&input, &first, &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&first).expect("output").trim())
            .expect("json");
    assert_eq!(
        stored["symx"]["stacktraces"][0]["frames"][0]["status"],
        "missing_artifact"
    );
    assert_eq!(
        stored["symx"]["stacktraces"][0]["frames"][0]["reason"],
        "js_no_release"
    );

    // The report names it, with how often and the upload that fixes it.
    let report = list_missing(&mut art, Some(&a)).await;
    assert_eq!(report.total, 1);
    let m = &report.missing[0];
    assert_eq!(
        (
            m.kind.as_str(),
            m.service.as_str(),
            m.version.as_str(),
            m.url.as_str()
        ),
        ("js", "shop", "9.9", URL)
    );
    assert_eq!(m.count, 2, "two frames asked");
    assert_eq!(
        m.fix,
        "symx upload js DIR --service shop --version 9.9 \
         --minified-path-prefix https://cdn.example.com/static/js"
    );
    let listed = cli(
        srv.endpoint(),
        ["--api-key", &a, "missing", "--kind", "js", "--since", "1h"]
            .map(str::to_owned)
            .to_vec(),
    )
    .await;
    let text = stdout_of(&listed);
    assert!(text.contains("[js] service=shop version=9.9 url=https://cdn.example.com/static/js/app.min.js  (2 frames"), "{text}");
    assert!(text.contains(&format!("fix: {}", m.fix)), "{text}");

    // Tenant B: an empty report, and a watcher that sees none of A's uploads.
    assert_eq!(list_missing(&mut art, Some(&b)).await.total, 0);
    let mut watch_b = art
        .watch_uploads(with_key(pb::WatchUploadsRequest {}, &b))
        .await
        .expect("watch as B")
        .into_inner();
    let mut watch_a = art
        .watch_uploads(with_key(pb::WatchUploadsRequest {}, &a))
        .await
        .expect("watch as A")
        .into_inner();

    // The upload, as the fix says, through the real CLI: the map and its minified file in
    // a directory.
    let dist = tmp.path().join("dist");
    std::fs::create_dir_all(&dist).expect("dist");
    for f in ["app.min.js", "app.min.js.map"] {
        std::fs::copy(fixture(&format!("js/esbuild/{f}")), dist.join(f)).expect("copy");
    }
    let fix = m.fix.replace("DIR", &dist.display().to_string());
    let mut words: Vec<String> = fix.split(' ').skip(1).map(str::to_owned).collect();
    words.splice(0..0, ["--api-key".to_owned(), a.clone()]);
    let up = cli(srv.endpoint(), words).await;
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );

    // The watcher is told which artifact arrived and what it answers.
    let event = tokio::time::timeout(Duration::from_secs(10), watch_a.message())
        .await
        .expect("an upload event in time")
        .expect("stream")
        .expect("an event");
    let arrived = event.artifact.expect("artifact");
    assert_eq!(
        arrived.attributes.get("version").map(String::as_str),
        Some("9.9")
    );
    assert_eq!(event.resolved.len(), 1);
    assert_eq!(
        (event.resolved[0].url.as_str(), event.resolved[0].count),
        (URL, 2)
    );
    assert_eq!(
        list_missing(&mut art, Some(&a)).await.total,
        0,
        "answered: out of the report"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(500), watch_b.message())
            .await
            .is_err(),
        "tenant B is told nothing of A's upload"
    );

    // Reprocessing the stored answers: only the unresolved event is sent, and it resolves.
    let resolved_event = serde_json::json!({
        "id": "evt-ok",
        "frames": [{"abs_path": "node:internal/x", "lineno": 1, "colno": 1}],
        "symx": {"stacktraces": [{"frames": [{"status": "skipped"}]}]},
    });
    let again = tmp.path().join("again.ndjson");
    std::fs::write(
        &again,
        format!(
            "{}\n{resolved_event}\n",
            std::fs::read_to_string(&first).expect("first").trim()
        ),
    )
    .expect("write");
    let second = tmp.path().join("second.ndjson");
    let out = run(&again, &second, &["--only-unresolved"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 events sent, 1 already resolved and copied as they were; 1 of those with unresolved frames before now resolve fully"), "{err}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&second)
        .expect("second")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(
        lines[0]["symx"]["stacktraces"][0]["frames"][0]["status"],
        "resolved"
    );
    assert_eq!(
        lines[0]["symx"]["stacktraces"][0]["frames"][0]["frames"][0]["function"],
        "book_lookup"
    );
    assert_eq!(lines[1], resolved_event, "copied as it was");

    // The report lives across a restart (saved when it changed).
    let _ = sym
        .symbolicate(with_key(
            explained(js_trace("7.7", js_frame(URL, 1, 1))),
            &a,
        ))
        .await
        .expect("symbolicate");
    let srv = srv.restart().await.expect("restart");
    let mut art = srv.artifacts().await.expect("client");
    let report = list_missing(&mut art, Some(&a)).await;
    assert_eq!(
        report
            .missing
            .iter()
            .map(|m| m.version.as_str())
            .collect::<Vec<_>>(),
        vec!["7.7"]
    );
}

/// A storm of distinct unknown debug ids (a million frames, each its own id, 10,000 per
/// request) against a real `symxd` with a report of 1,000 entries: the report stays at its
/// bound, keeps the one id asked in every request, and the process's peak memory stays
/// bounded too (the figure is in BENCHMARKS.md).
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_unknown_debug_ids_keeps_the_report_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::spawn(dir.path(), &[("SYMX_LIMITS_MAX_MISSING_ENTRIES", "1000")]);
    d.ready().await;
    let url = format!("http://{}", d.grpc);
    let mut sym = Symbolication::connect(url.clone()).await.expect("connect");
    let mut art = Artifacts::connect(url).await.expect("connect");
    let frame = |id: String| {
        let mut f = js_frame(URL, 1, 1);
        if let Some(pb::frame::Frame::Js(js)) = &mut f.frame {
            js.debug_id = id;
        }
        f
    };
    let frequent = "ffffffff-ffff-4fff-8fff-ffffffffffff".to_owned();
    let started = std::time::Instant::now();
    for r in 0..100u64 {
        let mut frames: Vec<pb::Frame> = (0..9_999u64)
            .map(|i| frame(format!("00000000-0000-4000-8000-{:012x}", r * 10_000 + i)))
            .collect();
        frames.push(frame(frequent.clone()));
        let resp = sym
            .symbolicate(pb::SymbolicateRequest {
                stacktraces: vec![pb::StackTrace {
                    frames,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .await
            .expect("symbolicate")
            .into_inner();
        let last = resp.stacktraces[0].frames.last().expect("frame");
        assert_eq!(last.reason, "js_debug_id_unknown");
    }
    let took = started.elapsed();
    let report = art
        .list_missing(pb::ListMissingRequest {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(report.total, 1_000, "the report holds its bound");
    let top = report
        .missing
        .iter()
        .find(|m| m.debug_id == frequent)
        .expect("the frequent id stays");
    // Asked by every request: the most frequent entry (its first count may have gone with
    // the first request's flood, where every entry ties at one frame).
    assert!(top.count >= 99, "{}", top.count);
    assert!(report.missing.iter().all(|m| m.count <= top.count));
    let peak_kb = d.status_kb("VmHWM");
    let saved = std::fs::metadata(dir.path().join("missing.json")).map_or(0, |m| m.len());
    eprintln!(
        "1,000,000 unknown debug ids in {took:?}: report {} entries ({saved} bytes on disk), \
         symxd peak RSS {} MB",
        report.total,
        peak_kb / 1024
    );
    assert!(
        saved < 1 << 20,
        "the saved report is bounded too: {saved} bytes"
    );
    // The resolve cache's "none" entries are bounded in bytes (64 MiB), the report in
    // entries: about 220 MB measured in all (it was 406 MB with the cache bounded at a
    // million entries).
    assert!(peak_kb < 320 * 1024, "peak RSS {peak_kb} kB");
    let metrics = reqwest::get(format!("http://{}/metrics", d.http))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    assert!(
        metrics.contains("symx_missing_lookups_total{kind=\"js\"} 1000000"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("missing"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
