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
        filters: Some(pb::Filters {
            service: vec!["shop".into()],
            version: vec!["1.0.0".into()],
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn metric(srv: &TestServer, line_start: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", srv.http()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
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
    let mut conn = tokio::net::TcpStream::connect(srv.server.http_addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v2/srcmap HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: 100000\r\n\r\n--{BOUNDARY}\r\n"
    );
    conn.write_all(head.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf))
        .await
        .expect("an answer before the test's own deadline")
        .expect("read");
    let answer = String::from_utf8_lossy(&buf[..n]);
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
