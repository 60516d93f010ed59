//! Acknowledged uploads survive `kill -9` of a real `symxd` process; graceful shutdown on
//! SIGTERM; configuration checks of the binary.

use std::process::Command;
use std::time::Duration;
use symx_e2e::*;
use symx_proto::v1 as pb;

fn spawn(dir: &std::path::Path) -> Daemon {
    Daemon::spawn(dir, &[])
}

async fn client(
    d: &Daemon,
) -> symx_proto::v1::artifact_service_client::ArtifactServiceClient<tonic::transport::Channel> {
    d.ready().await;
    let ch = tonic::transport::Channel::from_shared(format!("http://{}", d.grpc))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    symx_proto::v1::artifact_service_client::ArtifactServiceClient::new(ch)
}

#[tokio::test]
async fn acknowledged_uploads_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut d = spawn(dir.path());
    let mut art = client(&d).await;
    let mut acked = Vec::new();
    for i in 0..5 {
        let r = upload_js_fixture(
            &mut art,
            "esbuild",
            "app.min.js",
            js_meta("web", &format!("k{i}"), "/static/js/app.min.js"),
        )
        .await
        .expect("upload");
        acked.push(r.artifact.expect("artifact").id);
    }
    // Kill while another upload is in flight: it may or may not land, but never half.
    let mut inflight = art.clone();
    let pending = tokio::spawn(async move {
        upload_js_fixture(
            &mut inflight,
            "terser",
            "app.min.js",
            js_meta("web", "k-inflight", "/static/js/app.min.js"),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(2)).await;
    d.child.kill().expect("kill -9");
    d.child.wait().expect("reap");
    let inflight_acked = matches!(pending.await, Ok(Ok(_)));

    let mut d2 = spawn(dir.path());
    let mut art = client(&d2).await;
    let list = art
        .list(pb::ListRequest {
            mapkind: pb::MapKind::Js as i32,
            filters: Some(pb::Filters {
                service: vec!["web".into()],
                version: (0..5)
                    .map(|i| format!("k{i}"))
                    .chain(["k-inflight".to_owned()])
                    .collect(),
                ..Default::default()
            }),
            page_size: Some(100),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    let ids: Vec<String> = list.artifacts.iter().map(|a| a.id.clone()).collect();
    for id in &acked {
        assert!(ids.contains(id), "acknowledged {id} lost after kill -9");
    }
    assert!(
        ids.len() == 5 || ids.len() == 6,
        "unexpected artifacts: {ids:?}"
    );
    if inflight_acked {
        assert_eq!(ids.len(), 6, "an acknowledged in-flight upload was lost");
    }
    // Whatever is listed resolves: nothing half-written is visible.
    let mut sym = symx_proto::v1::symbolication_service_client::SymbolicationServiceClient::new(
        tonic::transport::Channel::from_shared(format!("http://{}", d2.grpc))
            .expect("ep")
            .connect()
            .await
            .expect("connect"),
    );
    for a in &list.artifacts {
        let version = a.attributes.get("version").cloned().unwrap_or_default();
        let r = sym
            .symbolicate(pb::SymbolicateRequest {
                stacktraces: vec![pb::StackTrace {
                    service: "web".into(),
                    version,
                    frames: vec![js_frame("/static/js/app.min.js", 1, 10)],
                    ..Default::default()
                }],
                ..Default::default()
            })
            .await
            .expect("symbolicate")
            .into_inner();
        let status = r.stacktraces[0].frames[0].status;
        assert!(
            status == pb::FrameStatus::Resolved as i32
                || status == pb::FrameStatus::OutOfRange as i32,
            "artifact {} does not serve frames: {:?}",
            a.id,
            r.stacktraces[0].frames[0]
        );
    }
    // SIGTERM: a graceful exit with status 0.
    let pid = d2.child.id().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    let status = d2.child.wait().expect("wait");
    assert!(status.success(), "symxd exited with {status} on SIGTERM");
}

#[test]
fn symxd_checks_and_prints_its_configuration() {
    let bin = binary("symxd");
    assert!(bin.exists(), "{} is missing", bin.display());
    let out = Command::new(&bin)
        .arg("--print-config")
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("grpc_addr = \"127.0.0.1:50051\""), "{text}");
    assert!(text.contains("max_upload_bytes = 524288000"), "{text}");
    let out = Command::new(&bin)
        .arg("--check-config")
        .env("SYMX_CACHE_MAX_BYTS", "1")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("max_byts"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Bytes of the store under `dir`: every file below it but the upload spool.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() && e.file_name() != "spool" => stack.push(e.path()),
                Ok(m) if m.is_dir() => {}
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// A large, poorly compressible upload of the real binary is killed (`kill -9`) while its
/// blob and index are being written, before the upload is acknowledged; after a restart the
/// same bytes are uploaded again and must read back whole, at two kill points. The exact
/// window of the old defect (killed between two write-ahead batches; the retry reused the
/// half-written blob and read "chunk 22 missing" for ever) is only milliseconds wide here:
/// `symx-storage`'s `chunks_of_an_interrupted_blob_write_are_never_reused` pins it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_crash_mid_write_ahead_reads_back_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 96 MiB of embedded source, incompressible: past the 64 MiB write-ahead threshold.
    let content = incompressible_text(96 << 20, 0x9e37_79b9_7f4a_7c15);
    let map = serde_json::json!({
        "version": 3, "sources": ["big.js"], "sourcesContent": [content],
        "names": [], "mappings": "AAAA",
    })
    .to_string()
    .into_bytes();
    let parts = [("source_map", map), ("minified_file", b"x()".to_vec())];
    // Kill points: just past the first 64 MiB write-ahead batch (with its log framing), and
    // well into the final batch (the rest of the blob and the index, ~130 MiB).
    for (round, threshold) in [(0, 70u64 << 20), (1, 110 << 20)].into_iter() {
        let mut d = spawn(dir.path());
        let art = client(&d).await;
        let version = format!("crash-{round}");
        let before = dir_bytes(dir.path());
        let mut inflight = art.clone();
        let (meta, body) = (js_meta("big", &version, "/big.min.js"), parts.clone());
        let pending = tokio::spawn(async move { upload(&mut inflight, meta, &body).await });
        // Kill once the store has grown past `threshold`, before the answer.
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            if pending.is_finished() || std::time::Instant::now() > deadline {
                break;
            }
            if dir_bytes(dir.path()) > before + threshold {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        d.child.kill().expect("kill -9");
        d.child.wait().expect("reap");
        let _ = pending.await;

        // Restart; the same bytes again: acknowledged, and readable whole.
        let mut d2 = spawn(dir.path());
        let mut art2 = client(&d2).await;
        upload(&mut art2, js_meta("big", &version, "/big.min.js"), &parts)
            .await
            .or_else(|e| {
                // The interrupted upload may have been acknowledged just before the kill.
                if e.code() == tonic::Code::AlreadyExists {
                    Ok(Default::default())
                } else {
                    Err(e)
                }
            })
            .expect("the retry is acknowledged");
        let got = art2
            .max_decoding_message_size(1 << 30)
            .get_source_map(pb::GetSourceMapRequest {
                selector: Some(pb::get_source_map_request::Selector::File(
                    pb::SourceMapByFile {
                        filename: "big.min.js".into(),
                        service: "big".into(),
                        version: version.clone(),
                    },
                )),
            })
            .await
            .expect("the acknowledged map reads back")
            .into_inner();
        assert_eq!(
            got.sources_content[0].content.as_deref().map(str::len),
            Some(content.len()),
            "round {round}"
        );
        d2.child.kill().expect("kill");
        d2.child.wait().expect("reap");
        drop(art);
    }
}
