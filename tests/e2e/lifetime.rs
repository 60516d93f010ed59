//! The real `symxd` binary, started with its default settings, keeps serving for longer than
//! any shutdown grace period, then drains an in-flight upload and exits 0 on SIGTERM.
//!
//! This is the test that would have caught `symxd` exiting by itself `shutdown_grace_secs + 1`
//! seconds after start: every other test starts the server in process or finishes sooner.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use symx_e2e::*;
use symx_proto::v1 as pb;
use tonic::transport::Channel;

/// The effective `shutdown_grace_secs` of `symxd` run with `env`, read from `--print-config`.
fn grace_secs(env: &[(&str, &str)]) -> u64 {
    let out = Command::new(binary("symxd"))
        .arg("--print-config")
        .envs(env.iter().copied())
        .output()
        .expect("run symxd --print-config");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("shutdown_grace_secs = "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no shutdown_grace_secs in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symxd_serves_past_its_grace_period_and_drains_on_sigterm() {
    let bin = binary("symxd");
    assert!(bin.exists(), "{} is missing", bin.display());
    let dir = tempfile::tempdir().expect("tempdir");
    let grpc = format!("127.0.0.1:{}", free_port());
    let http = format!("127.0.0.1:{}", free_port());
    // Default settings: only the addresses move, so parallel tests do not collide.
    let env = [
        ("SYMX_SERVER_GRPC_ADDR", grpc.as_str()),
        ("SYMX_SERVER_HTTP_ADDR", http.as_str()),
    ];
    let grace = grace_secs(&env);
    assert_eq!(
        grace, 30,
        "the default grace period changed: revisit this test's duration"
    );
    let mut child = Command::new(&bin)
        .arg("--data-dir")
        .arg(dir.path())
        .envs(env)
        .env("SYMX_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn symxd");
    let started = Instant::now();
    wait_for_port(&grpc, Duration::from_secs(30))
        .await
        .expect("symxd listens");
    let channel = Channel::from_shared(format!("http://{grpc}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut art = pb::artifact_service_client::ArtifactServiceClient::new(channel.clone());
    let mut sym = pb::symbolication_service_client::SymbolicationServiceClient::new(channel);
    upload_js_fixture(
        &mut art,
        "esbuild",
        "app.min.js",
        js_meta("web", "1", "/static/js/app.min.js"),
    )
    .await
    .expect("upload");
    let http_client = reqwest::Client::new();

    // Serve for the grace period plus a margin (wall time ~45 s), a request every second on
    // a fresh HTTP connection and on the long-lived gRPC connection.
    let until = Duration::from_secs(grace + 15);
    let mut rounds = 0u32;
    while started.elapsed() < until {
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!(
                "symxd exited by itself with {status} after {:?} with no signal",
                started.elapsed()
            );
        }
        let frames = symbolicate(
            &mut sym,
            "web",
            "1",
            vec![js_frame("/static/js/app.min.js", 1, 10)],
            0,
        )
        .await;
        assert_eq!(
            frames[0].status,
            pb::FrameStatus::Resolved as i32,
            "after {:?}: {:?}",
            started.elapsed(),
            frames[0]
        );
        let health = http_client
            .get(format!("http://{http}/healthz"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("after {:?}: /healthz: {e}", started.elapsed()));
        assert!(health.status().is_success());
        rounds += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(rounds >= 30, "only {rounds} rounds in {until:?}");

    // An upload in flight when SIGTERM arrives is drained: it completes and is acknowledged.
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::UploadRequest>(8);
    let mut inflight = art.clone();
    let pending = tokio::spawn(async move {
        inflight
            .upload(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    let parts = js_fixture_parts("esbuild", "app.min.js");
    tx.send(upload_metadata_message(js_meta(
        "web",
        "draining",
        "/static/js/app.min.js",
    )))
    .await
    .expect("send metadata");
    tx.send(upload_chunk_message(parts[0].0, &parts[0].1))
        .await
        .expect("send map");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let term = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "symxd exited with an upload in flight"
    );
    tx.send(upload_chunk_message(parts[1].0, &parts[1].1))
        .await
        .expect("send minified file");
    drop(tx);
    let ack = pending.await.expect("join");
    assert!(ack.is_ok(), "in-flight upload not drained: {ack:?}");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "symxd exited with {status} on SIGTERM");
    assert!(
        term.elapsed() < Duration::from_secs(grace),
        "drain took {:?}",
        term.elapsed()
    );
}
