//! The HTTP listener: health, readiness and Prometheus metrics.

use symx_e2e::*;
use symx_proto::v1 as pb;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let srv = TestServer::start().await.expect("server");
    let health = reqwest::get(format!("{}/healthz", srv.http()))
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(format!("{}/readyz", srv.http()))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);

    let mut art = srv.artifacts().await.expect("client");
    upload_js_fixture(
        &mut art,
        "esbuild",
        "app.min.js",
        js_meta("web", "1", "/static/js/app.min.js"),
    )
    .await
    .expect("upload");
    let mut sym = srv.symbolication().await.expect("client");
    for _ in 0..3 {
        sym.symbolicate(pb::SymbolicateRequest {
            stacktraces: vec![pb::StackTrace {
                service: "web".into(),
                version: "1".into(),
                frames: vec![
                    js_frame("/static/js/app.min.js", 3, 30),
                    js_frame("/nope.js", 1, 1),
                ],
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .expect("symbolicate");
    }
    let m = reqwest::get(format!("{}/metrics", srv.http()))
        .await
        .expect("metrics");
    assert_eq!(m.status(), 200);
    let text = m.text().await.expect("body");
    for needle in [
        "symx_uploads_total{kind=\"js\",outcome=\"created\"} 1",
        "symx_index_builds_total{kind=\"js\"} 1",
        "symx_frames_total{platform=\"javascript\",status=\"resolved\"} 3",
        "symx_frames_total{platform=\"javascript\",status=\"missing_artifact\"} 3",
        // One index load, then hits; one resolve load per distinct file, then cached
        // (the unknown file's "none" included).
        "symx_cache_loads_total{cache=\"index\"} 1",
        "symx_cache_loads_total{cache=\"resolve\"} 2",
        "symx_cache_hits_total{cache=\"resolve\"} 4",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
}

#[tokio::test]
async fn grpc_health_and_reflection_answer() {
    let srv = TestServer::start().await.expect("server");
    let mut health =
        tonic_health::pb::health_client::HealthClient::new(srv.channel().await.expect("channel"));
    let r = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "symx.v1.SymbolicationService".into(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        r.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut refl = ServerReflectionClient::new(srv.channel().await.expect("channel"));
    let req = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = refl
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .expect("reflection")
        .into_inner();
    let resp = stream
        .message()
        .await
        .expect("message")
        .expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("unexpected reflection answer {resp:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in [
        "symx.v1.ArtifactService",
        "symx.v1.SymbolicationService",
        "grpc.health.v1.Health",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
}
