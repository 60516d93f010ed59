//! The `symx` CLI against a real server: folder upload, list, raw stack text, reprocess.

use symx_e2e::*;

fn symx(endpoint: &str, args: &[&str]) -> std::process::Output {
    symx_cli(endpoint, args)
}

fn ok(out: &std::process::Output) -> String {
    stdout_of(out)
}

/// A build folder as bundlers leave it: two minified files with maps in subfolders.
fn build_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (sub, fixture_dir) in [("js", "esbuild"), ("js/legacy", "terser")] {
        let to = dir.path().join(sub);
        std::fs::create_dir_all(&to).expect("mkdir");
        for f in ["app.min.js", "app.min.js.map"] {
            std::fs::copy(fixture(&format!("js/{fixture_dir}/{f}")), to.join(f)).expect("copy");
        }
    }
    // A map without its minified file is skipped with a warning.
    std::fs::write(dir.path().join("orphan.js.map"), "{}").expect("write");
    dir
}

#[tokio::test]
async fn folder_upload_then_symbolicate_raw_v8_text() {
    let srv = TestServer::start().await.expect("server");
    let ep = srv.endpoint();
    let folder = build_folder();
    let path = folder.path().to_string_lossy().into_owned();
    let out = tokio::task::spawn_blocking(move || {
        symx(
            &ep,
            &[
                "upload",
                "js",
                &path,
                "--service",
                "web",
                "--release-version",
                "7.0",
                "--minified-path-prefix",
                "https://cdn.example.com/static",
            ],
        )
    })
    .await
    .expect("join");
    let text = ok(&out);
    assert!(text.contains("2 uploaded, 0 failed"), "{text}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("skipping"),
        "orphan map not reported"
    );

    let ep = srv.endpoint();
    let listed = tokio::task::spawn_blocking(move || {
        symx(
            &ep,
            &[
                "--json",
                "list",
                "--kind",
                "js",
                "--service",
                "web",
                "--version",
                "7.0",
            ],
        )
    })
    .await
    .expect("join");
    let v: serde_json::Value = serde_json::from_str(&ok(&listed)).expect("json");
    assert_eq!(v["total_filtered_count"], 2);
    let mut paths: Vec<String> = v["artifacts"]
        .as_array()
        .expect("array")
        .iter()
        .map(|a| {
            a["attributes"]["absolute_path"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        ["/static/js/app.min.js", "/static/js/legacy/app.min.js"]
    );

    // The real node stack of the esbuild bundle, served from the uploaded prefix.
    let stack = std::fs::read_to_string(fixture("js/esbuild/stack.txt")).expect("stack");
    let stack_file = folder.path().join("stack.txt");
    std::fs::write(&stack_file, &stack).expect("write");
    let ep = srv.endpoint();
    let sf = stack_file.to_string_lossy().into_owned();
    let out = tokio::task::spawn_blocking(move || {
        symx(
            &ep,
            &["symbolicate", "--service", "web", "--version", "7.0", &sf],
        )
    })
    .await
    .expect("join");
    let text = ok(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "TypeError: Cannot read properties of undefined (reading 'price')"
    );
    assert_eq!(lines[1], "    at book_lookup (../src/app.js:24:33)");
    assert_eq!(lines[2], "    at runApp (../src/app.js:18:10)");
    // Node's internal frames have no artifact: kept as printed, with the reason.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("node:internal") && l.contains("[skipped")),
        "{text}"
    );
}

#[tokio::test]
async fn reprocess_ndjson_is_resumable() {
    let srv = TestServer::start().await.expect("server");
    let mut art = srv.artifacts().await.expect("client");
    upload_js_fixture(
        &mut art,
        "esbuild",
        "app.min.js",
        js_meta("web", "8.0", "/static/js/app.min.js"),
    )
    .await
    .expect("upload");
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("events.ndjson");
    let mut lines = Vec::new();
    for i in 0..10 {
        lines.push(
            serde_json::json!({
                "event_id": format!("e{i}"),
                "service": "web",
                "version": "8.0",
                "frames": [{"abs_path": "https://x.example/static/js/app.min.js", "lineno": 3, "colno": 30}]
            })
            .to_string(),
        );
    }
    lines.insert(4, "this is not json".into());
    std::fs::write(&input, lines.join("\n") + "\n").expect("write");
    let output = dir.path().join("out.ndjson");
    let run = |batch: &str| {
        let ep = srv.endpoint();
        let (i, o, b) = (
            input.to_string_lossy().into_owned(),
            output.to_string_lossy().into_owned(),
            batch.to_owned(),
        );
        move || {
            symx(
                &ep,
                &["reprocess", "--input", &i, "--output", &o, "--batch", &b],
            )
        }
    };
    // Simulate an interrupted run: a checkpoint after 4 lines and a partly written batch.
    ok(&tokio::task::spawn_blocking(run("4")).await.expect("join"));
    let full = std::fs::read_to_string(&output).expect("output");
    let first_four: String = full.lines().take(4).map(|l| format!("{l}\n")).collect();
    std::fs::write(&output, format!("{first_four}{{\"partial")).expect("truncate output");
    let cp = serde_json::json!({"input": input.to_string_lossy(), "lines_done": 4, "output_bytes": first_four.len()});
    std::fs::write(dir.path().join("out.ndjson.checkpoint"), cp.to_string()).expect("checkpoint");
    ok(&tokio::task::spawn_blocking(run("3")).await.expect("join"));
    let resumed = std::fs::read_to_string(&output).expect("output");
    assert_eq!(
        resumed, full,
        "resumed output differs from an uninterrupted run"
    );
    let out: Vec<serde_json::Value> = resumed
        .lines()
        .map(|l| serde_json::from_str(l).expect("ndjson"))
        .collect();
    assert_eq!(out.len(), 11);
    assert_eq!(out[4]["line"], 5);
    assert!(
        out[4]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid JSON")
    );
    let f = &out[0]["symx"]["stacktraces"][0]["frames"][0];
    assert_eq!(f["status"], "resolved");
    assert_eq!(f["frames"][0]["function"], "book_lookup");
    assert_eq!(out[10]["event_id"], "e9");
}
