//! Limits end to end: the per-key rate limit (HTTP 429, gRPC RESOURCE_EXHAUSTED, both with
//! Retry-After), the bound on expensive requests in progress (HTTP 503), the upload timeout
//! (HTTP 408), and their counts in `/metrics`.

use std::time::Duration;
use symx_e2e::*;
use symx_proto::v1 as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

fn list_req() -> pb::ListRequest {
    pb::ListRequest {
        mapkind: pb::MapKind::Js as i32,
        filters: vec![filter("service", ["shop"]), filter("version", ["1.0.0"])],
        ..Default::default()
    }
}

async fn metric(srv: &TestServer, line_start: &str) -> f64 {
    let text = srv.metrics().await;
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn the_rate_limit_answers_429_and_resource_exhausted_with_retry_after() {
    let srv = TestServer::start_with(|c| {
        c.limits.rate_limit_per_sec = 0.2;
        c.limits.rate_limit_burst = 2;
        c.limits.retry_after_secs = 3;
    })
    .await
    .expect("server");
    let mut art = srv.artifacts().await.expect("client");
    for _ in 0..2 {
        art.list(list_req()).await.expect("within the burst");
    }
    let err = art.list(list_req()).await.expect_err("over the rate");
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.message().contains("rate limit"), "{}", err.message());
    let retry: u64 = err
        .metadata()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("retry-after metadata");
    assert!(retry >= 3, "{retry}");
    let r = reqwest::get(format!(
        "{}/api/v2/sourcemaps/list?filter[service]=shop&filter[version]=1.0.0",
        srv.http()
    ))
    .await
    .expect("send");
    assert_eq!(r.status(), 429);
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(retry >= 3);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["errors"][0]["status"], "429", "{body}");
    // /metrics is not rate limited, and counts both refusals.
    assert!(
        metric(
            &srv,
            "symx_rejections_total{edge=\"grpc\",reason=\"rate_limited\"}"
        )
        .await
            >= 1.0
    );
    assert!(
        metric(
            &srv,
            "symx_rejections_total{edge=\"http\",reason=\"rate_limited\"}"
        )
        .await
            >= 1.0
    );
}

#[tokio::test]
async fn expensive_requests_past_the_bound_get_503_and_the_slot_comes_back() {
    let srv = TestServer::start_with(|c| {
        c.limits.max_concurrent_requests = 1;
    })
    .await
    .expect("server");
    // An upload that has sent its metadata and waits: it holds the only slot.
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::UploadRequest>(4);
    tx.send(pb::UploadRequest {
        payload: Some(pb::upload_request::Payload::Metadata(js_meta(
            "shop",
            "1.0.0",
            "https://cdn.shop.io/app.min.js",
        ))),
    })
    .await
    .expect("send metadata");
    let mut art = srv.artifacts().await.expect("client");
    let held = tokio::spawn(async move {
        art.upload(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    let mut sym = srv.symbolication().await.expect("client");
    let mut refused = None;
    for _ in 0..50 {
        match sym.symbolicate(pb::SymbolicateRequest::default()).await {
            Err(e) => {
                refused = Some(e);
                break;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    let err = refused.expect("a refusal while the upload holds the slot");
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.metadata().get("retry-after").is_some());
    // HTTP: 503 with Retry-After, in the upload document's error shape.
    let r = reqwest::Client::new()
        .post(format!("{}/api/v2/srcmap", srv.http()))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(&[]))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let body: serde_json::Value = r.json().await.expect("json");
    assert!(body["errors"][0].as_str().is_some(), "{body}");
    // Cheap calls still pass.
    srv.artifacts()
        .await
        .expect("client")
        .list(list_req())
        .await
        .expect("list is not bounded");
    // The upload ends (its stream closes without files): the slot is free again.
    drop(tx);
    let _ = held.await;
    sym.symbolicate(pb::SymbolicateRequest::default())
        .await
        .expect("admitted again");
    assert!(
        metric(
            &srv,
            "symx_rejections_total{edge=\"http\",reason=\"overloaded\"}"
        )
        .await
            >= 1.0
    );
}

#[tokio::test]
async fn an_upload_past_its_timeout_gets_408() {
    let srv = TestServer::start_with(|c| {
        c.limits.upload_timeout_secs = 1;
    })
    .await
    .expect("server");
    // A client that announces a body and then stalls.
    let answer = stalled_srcmap(&srv, &format!("--{BOUNDARY}\r\n")).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("longer than 1 s"), "{answer}");
    assert!(
        metric(
            &srv,
            "symx_rejections_total{edge=\"http\",reason=\"timeout\"}"
        )
        .await
            >= 1.0
    );
}

/// A Datadog upload that announces a 100,000-byte body, sends `body_start` and then stalls;
/// what the server answers (within 10 s).
async fn stalled_srcmap(srv: &TestServer, body_start: &str) -> String {
    let mut conn = tokio::net::TcpStream::connect(srv.server.http_addr)
        .await
        .expect("connect");
    let request = format!(
        "POST /api/v2/srcmap HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: 100000\r\n\r\n{body_start}"
    );
    conn.write_all(request.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf))
        .await
        .expect("an answer before the test's own deadline")
        .expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// An upload stream that has sent its metadata and then nothing: the client is still there,
/// the stream stays open.
async fn stalled_upload(
    art: &Artifacts,
    version: &str,
) -> (
    tokio::sync::mpsc::Sender<pb::UploadRequest>,
    tokio::task::JoinHandle<Result<tonic::Response<pb::UploadResponse>, tonic::Status>>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(upload_metadata_message(js_meta(
        "stall",
        version,
        "/app.min.js",
    )))
    .await
    .expect("send");
    let mut client = art.clone();
    let call = tokio::spawn(async move {
        client
            .upload(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    (tx, call)
}

/// Receiving takes no build slot: four stalled uploads (as many as the build slots) do not
/// delay a fifth, which uploads and resolves at once.
#[tokio::test]
async fn stalled_uploads_do_not_block_other_uploads() {
    let srv = TestServer::start_with(|c| c.limits.concurrent_uploads = 4)
        .await
        .expect("server");
    let art = srv.artifacts().await.expect("client");
    let mut stalled = Vec::new();
    for i in 0..4 {
        stalled.push(stalled_upload(&art, &format!("s{i}")).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut other = art.clone();
    let done = tokio::time::timeout(
        Duration::from_secs(20),
        upload_js_fixture(
            &mut other,
            "esbuild",
            "app.min.js",
            js_meta("web", "1.0", "/static/js/app.min.js"),
        ),
    )
    .await
    .expect("an upload behind four stalled ones finishes");
    done.expect("upload");
    drop(stalled);
}

/// One tenant's uploads in progress are bounded (`limits.uploads_per_tenant`): past it, a new
/// one is refused at once (UNAVAILABLE), not queued behind the others.
#[tokio::test]
async fn uploads_in_progress_are_bounded_per_tenant() {
    let srv = TestServer::start_with(|c| c.limits.uploads_per_tenant = 2)
        .await
        .expect("server");
    let art = srv.artifacts().await.expect("client");
    let a = stalled_upload(&art, "a").await;
    let b = stalled_upload(&art, "b").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut third = art.clone();
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        upload_js_fixture(
            &mut third,
            "esbuild",
            "app.min.js",
            js_meta("web", "2.0", "/static/js/app.min.js"),
        ),
    )
    .await
    .expect("refused at once, not queued")
    .expect_err("past the tenant's bound");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(err.message().contains("uploads in progress"), "{err:?}");
    // When one ends, the tenant may upload again.
    drop(a);
    drop(b);
    tokio::time::sleep(Duration::from_millis(300)).await;
    upload_js_fixture(
        &mut third,
        "esbuild",
        "app.min.js",
        js_meta("web", "2.0", "/static/js/app.min.js"),
    )
    .await
    .expect("after the others ended");
}

/// An upload that sends nothing for `limits.upload_idle_secs` is cut (DEADLINE_EXCEEDED over
/// gRPC, 408 over HTTP) and its spool removed.
#[tokio::test]
async fn idle_uploads_are_cut_and_their_spool_removed() {
    let srv = TestServer::start_with(|c| c.limits.upload_idle_secs = 1)
        .await
        .expect("server");
    let art = srv.artifacts().await.expect("client");
    let (tx, call) = stalled_upload(&art, "idle").await;
    let err = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("cut within the idle bound")
        .expect("join")
        .expect_err("idle");
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    drop(tx);
    let spool = srv.dir.path().join("spool");
    let left: Vec<_> = std::fs::read_dir(&spool)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "spool left behind: {left:?}");
    // HTTP: a multipart body that stops after its event.
    let event = r#"{"type":"js_sourcemap","service":"web","version":"9","minified_url":"/a.js"}"#;
    let text = stalled_srcmap(
        &srv,
        &format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"event\"\r\nContent-Type: application/json\r\n\r\n{event}\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"source_map\"; filename=\"a.map\"\r\n\r\n{{"
        ),
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}

/// A client that trickles (a little now and then, never idle long enough to be cut as idle)
/// is cut once its average falls below `limits.upload_min_bytes_per_sec`.
#[tokio::test]
async fn trickling_uploads_are_cut_below_the_minimum_rate() {
    let srv = TestServer::start_with(|c| {
        c.limits.upload_idle_secs = 1;
        c.limits.upload_min_bytes_per_sec = 1 << 20;
    })
    .await
    .expect("server");
    let art = srv.artifacts().await.expect("client");
    let (tx, call) = stalled_upload(&art, "trickle").await;
    let feeder = tokio::spawn(async move {
        for _ in 0..40 {
            if tx
                .send(upload_chunk_message("source_map", &[b' '; 1024]))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    let err = tokio::time::timeout(Duration::from_secs(15), call)
        .await
        .expect("cut, not kept open")
        .expect("join")
        .expect_err("too slow");
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(err.message().contains("below the minimum"), "{err:?}");
    feeder.abort();
}
