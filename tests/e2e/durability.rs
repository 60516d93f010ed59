//! Acknowledged uploads survive `kill -9` of a real `symxd` process; graceful shutdown on
//! SIGTERM; configuration checks of the binary.

use std::process::{Child, Command, Stdio};
use std::time::Duration;
use symx_e2e::*;
use symx_proto::v1 as pb;

struct Daemon {
    child: Child,
    grpc: String,
}

fn spawn(dir: &std::path::Path) -> Daemon {
    let bin = binary("symxd");
    assert!(
        bin.exists(),
        "{} is missing: build the workspace binaries first",
        bin.display()
    );
    let grpc = format!("127.0.0.1:{}", free_port());
    let http = format!("127.0.0.1:{}", free_port());
    let child = Command::new(bin)
        .arg("--data-dir")
        .arg(dir)
        .env("SYMX_SERVER_GRPC_ADDR", &grpc)
        .env("SYMX_SERVER_HTTP_ADDR", &http)
        .env("SYMX_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn symxd");
    Daemon { child, grpc }
}

async fn client(
    d: &Daemon,
) -> symx_proto::v1::artifact_service_client::ArtifactServiceClient<tonic::transport::Channel> {
    wait_for_port(&d.grpc, Duration::from_secs(30))
        .await
        .expect("symxd listens");
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
