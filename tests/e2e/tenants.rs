//! API keys, scopes and tenants end to end: a real server, keys made over the KeyService,
//! then every surface (gRPC, Datadog HTTP, Elastic HTTP) with and without keys, with keys of
//! too few scopes, and with another tenant's keys. Tenant B can never see, resolve, delete,
//! restore or overwrite tenant A's artifacts.

use serde_json::Value;
use symx_e2e::*;
use symx_proto::v1 as pb;
use tonic::Code;

const APP: &str = "https://cdn.acme.io/static/app.min.js";

struct Keys {
    a_admin: String,
    a_all: String,
    a_read: String,
    b_admin: String,
    b_all: String,
}

/// A scope of the gRPC API by name.
fn scope(name: &str) -> i32 {
    let scope = match name {
        "read" => pb::Scope::Read,
        "upload" => pb::Scope::Upload,
        "delete" => pb::Scope::Delete,
        "admin" => pb::Scope::Admin,
        other => panic!("no scope {other}"),
    };
    scope as i32
}

async fn create(srv: &TestServer, by: Option<&str>, tenant: &str, scopes: &[&str]) -> String {
    let mut keys = srv.keys().await.expect("client");
    let req = pb::CreateKeyRequest {
        tenant: tenant.into(),
        name: format!("{tenant}-{}", scopes.join("-")),
        scopes: scopes.iter().map(|s| scope(s)).collect(),
    };
    let resp = match by {
        Some(k) => keys.create_key(with_key(req, k)).await,
        None => keys.create_key(req).await,
    };
    resp.expect("create key").into_inner().token
}

/// Two tenants' keys. The first key is made on the open server; it turns authentication on,
/// so tenant B's admin key comes from the offline path's equivalent: an open-server call made
/// before (both admins are created first).
async fn setup(srv: &TestServer) -> Keys {
    let a_admin = create(srv, None, "acme", &["admin"]).await;
    // Authentication is on now: an anonymous call is refused.
    let mut keys = srv.keys().await.expect("client");
    let err = keys
        .create_key(pb::CreateKeyRequest {
            tenant: "globex".into(),
            name: "x".into(),
            scopes: vec![pb::Scope::Admin as i32],
        })
        .await
        .expect_err("anonymous");
    assert_eq!(err.code(), Code::Unauthenticated);
    // An admin key only makes keys of its own tenant.
    let err = keys
        .create_key(with_key(
            pb::CreateKeyRequest {
                tenant: "globex".into(),
                name: "x".into(),
                scopes: vec![pb::Scope::Admin as i32],
            },
            &a_admin,
        ))
        .await
        .expect_err("other tenant");
    assert_eq!(err.code(), Code::PermissionDenied);
    let b_admin = srv.tenant_key("globex", &["admin"]).await;
    Keys {
        a_all: create(srv, Some(&a_admin), "", &["read", "upload", "delete"]).await,
        a_read: create(srv, Some(&a_admin), "", &["read"]).await,
        b_all: create(srv, Some(&b_admin), "", &["read", "upload", "delete"]).await,
        a_admin,
        b_admin,
    }
}

fn list_req(service: &str) -> pb::ListRequest {
    pb::ListRequest {
        mapkind: pb::MapKind::Js as i32,
        filters: vec![filter("service", [service]), filter("version", ["1.0.0"])],
        ..Default::default()
    }
}

/// Deletes (or, with `dry_run`, lists) shop 1.0.0's JavaScript artifacts.
fn delete_req(dry_run: bool) -> pb::DeleteRequest {
    pb::DeleteRequest {
        mapkind: pb::MapKind::Js as i32,
        filters: list_req("shop").filters,
        dry_run,
    }
}

async fn resolve_as(srv: &TestServer, key: &str) -> pb::FrameResult {
    let mut sym = srv.symbolication().await.expect("client");
    sym.symbolicate(with_key(
        pb::SymbolicateRequest {
            stacktraces: vec![pb::StackTrace {
                service: "shop".into(),
                version: "1.0.0".into(),
                frames: vec![js_frame(APP, 1, 7)],
                ..Default::default()
            }],
            ..Default::default()
        },
        key,
    ))
    .await
    .expect("symbolicate")
    .into_inner()
    .stacktraces
    .remove(0)
    .frames
    .remove(0)
}

#[tokio::test]
async fn tenants_are_isolated_on_every_grpc_call() {
    let srv = TestServer::start().await.expect("server");
    let k = setup(&srv).await;
    let mut art = srv.artifacts().await.expect("client");
    let parts = js_fixture_parts("esbuild", "app.min.js");
    let a = upload_as(&mut art, &k.a_all, js_meta("shop", "1.0.0", APP), &parts)
        .await
        .expect("A uploads")
        .artifact
        .expect("artifact");

    // No key, a malformed key, a revoked key: UNAUTHENTICATED, on every service.
    assert_eq!(
        art.list(list_req("shop")).await.expect_err("no key").code(),
        Code::Unauthenticated
    );
    assert_eq!(
        art.list(with_key(list_req("shop"), "symx_nope"))
            .await
            .expect_err("bad key")
            .code(),
        Code::Unauthenticated
    );
    let mut sym = srv.symbolication().await.expect("client");
    assert_eq!(
        sym.symbolicate(pb::SymbolicateRequest::default())
            .await
            .expect_err("no key")
            .code(),
        Code::Unauthenticated
    );

    // A resolves its frame; B's keys see nothing of A's.
    assert_eq!(
        resolve_as(&srv, &k.a_read).await.status,
        pb::FrameStatus::Resolved as i32
    );
    assert_eq!(
        resolve_as(&srv, &k.b_all).await.status,
        pb::FrameStatus::MissingArtifact as i32
    );
    // Batch reprocessing runs as the stream's key too.
    let event = |id: &str| pb::ReprocessEvent {
        id: id.into(),
        request: Some(pb::SymbolicateRequest {
            stacktraces: vec![pb::StackTrace {
                service: "shop".into(),
                version: "1.0.0".into(),
                frames: vec![js_frame(APP, 1, 7)],
                ..Default::default()
            }],
            ..Default::default()
        }),
    };
    for (key, want) in [
        (&k.a_read, pb::FrameStatus::Resolved),
        (&k.b_all, pb::FrameStatus::MissingArtifact),
    ] {
        let mut stream = sym
            .reprocess(with_key(tokio_stream::iter(vec![event("e1")]), key))
            .await
            .expect("reprocess")
            .into_inner();
        let result = stream.message().await.expect("result").expect("one result");
        assert_eq!((result.error_code, result.error.as_str()), (0, ""));
        let frame = &result.response.expect("response").stacktraces[0].frames[0];
        assert_eq!(frame.status, want as i32, "{frame:?}");
    }
    // A rejected event carries the code and field a call would have failed with.
    let mut big = event("e2");
    if let Some(r) = big.request.as_mut() {
        r.stacktraces[0].frames = vec![js_frame(APP, 1, 7); 10_001];
    }
    let mut stream = sym
        .reprocess(with_key(tokio_stream::iter(vec![big]), &k.a_read))
        .await
        .expect("reprocess")
        .into_inner();
    let result = stream.message().await.expect("result").expect("one result");
    assert_eq!(
        result.error_code,
        Code::InvalidArgument as i32,
        "{result:?}"
    );
    assert_eq!(result.error_field, "stacktraces");
    assert!(result.error.contains("10001 frames"), "{}", result.error);
    let listed = art
        .list(with_key(list_req("shop"), &k.b_all))
        .await
        .expect("B lists")
        .into_inner();
    assert_eq!(listed.total_filtered_count, 0);
    let err = art
        .get_artifact(with_key(
            pb::GetArtifactRequest { id: a.id.clone() },
            &k.b_all,
        ))
        .await
        .expect_err("B gets A's id");
    assert_eq!(err.code(), Code::NotFound);
    let err = art
        .get_source_map(with_key(
            pb::GetSourceMapRequest {
                selector: Some(pb::get_source_map_request::Selector::File(
                    pb::SourceMapByFile {
                        filename: "app.min.js".into(),
                        service: "shop".into(),
                        version: "1.0.0".into(),
                    },
                )),
            },
            &k.b_all,
        ))
        .await
        .expect_err("B gets A's map");
    assert_eq!(err.code(), Code::NotFound);
    let deleted = art
        .delete(with_key(delete_req(false), &k.b_all))
        .await
        .expect("B deletes")
        .into_inner();
    assert!(deleted.artifacts.is_empty());
    // B uploading the same identity makes B's own artifact; A's stays A's.
    let b = upload_as(&mut art, &k.b_all, js_meta("shop", "1.0.0", APP), &parts)
        .await
        .expect("B uploads")
        .artifact
        .expect("artifact");
    assert_ne!(b.id, a.id);
    let a_again = art
        .get_artifact(with_key(
            pb::GetArtifactRequest { id: a.id.clone() },
            &k.a_read,
        ))
        .await
        .expect("A's artifact")
        .into_inner();
    assert_eq!(a_again.id, a.id);
    assert!(a_again.delete_time.is_none());
    // A deletes its own; B cannot restore it (NOT_FOUND), A can.
    art.delete(with_key(delete_req(false), &k.a_all))
        .await
        .expect("A deletes");
    let err = art
        .restore(with_key(
            pb::RestoreRequest {
                ids: vec![a.id.clone()],
                overwrite: false,
            },
            &k.b_all,
        ))
        .await
        .expect_err("B restores A's");
    assert_eq!(err.code(), Code::NotFound);
    // B's artifact was untouched by A's delete.
    assert_eq!(
        resolve_as(&srv, &k.b_all).await.status,
        pb::FrameStatus::Resolved as i32
    );
    art.restore(with_key(
        pb::RestoreRequest {
            ids: vec![a.id.clone()],
            overwrite: false,
        },
        &k.a_all,
    ))
    .await
    .expect("A restores");
    assert_eq!(
        resolve_as(&srv, &k.a_read).await.status,
        pb::FrameStatus::Resolved as i32
    );
}

#[tokio::test]
async fn scopes_and_revocation_are_enforced() {
    let srv = TestServer::start().await.expect("server");
    let k = setup(&srv).await;
    let mut art = srv.artifacts().await.expect("client");
    let parts = js_fixture_parts("esbuild", "app.min.js");
    // A read key cannot upload or delete; it can list.
    let err = upload_as(&mut art, &k.a_read, js_meta("shop", "1.0.0", APP), &parts)
        .await
        .expect_err("read key uploads");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("`upload`"), "{}", err.message());
    let err = art
        .delete(with_key(delete_req(true), &k.a_read))
        .await
        .expect_err("read key deletes");
    assert_eq!(err.code(), Code::PermissionDenied);
    art.list(with_key(list_req("shop"), &k.a_read))
        .await
        .expect("read key lists");
    // Non-admin keys cannot manage keys; admins list only their tenant's, without secrets.
    let mut keys = srv.keys().await.expect("client");
    let err = keys
        .list_keys(with_key(pb::ListKeysRequest {}, &k.a_all))
        .await
        .expect_err("not admin");
    assert_eq!(err.code(), Code::PermissionDenied);
    let listed = keys
        .list_keys(with_key(pb::ListKeysRequest {}, &k.a_admin))
        .await
        .expect("admin lists")
        .into_inner()
        .keys;
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed.iter().all(|key| key.tenant == "acme"));
    let secret = k.a_read.rsplit('_').next().unwrap_or_default();
    assert!(!format!("{listed:?}").contains(secret));
    // B's admin cannot revoke A's key; A's admin can, and it stops working at once.
    let read_id = k.a_read.split('_').nth(1).unwrap_or_default().to_owned();
    let err = keys
        .revoke_key(with_key(
            pb::RevokeKeyRequest {
                id: read_id.clone(),
            },
            &k.b_admin,
        ))
        .await
        .expect_err("other tenant's key");
    assert_eq!(err.code(), Code::NotFound);
    let revoked = keys
        .revoke_key(with_key(pb::RevokeKeyRequest { id: read_id }, &k.a_admin))
        .await
        .expect("revoke")
        .into_inner();
    assert!(revoked.revoke_time.is_some());
    let err = art
        .list(with_key(list_req("shop"), &k.a_read))
        .await
        .expect_err("revoked");
    assert_eq!(err.code(), Code::Unauthenticated);
    // A right id with a wrong secret is refused the same way.
    let forged = format!(
        "{}{}",
        &k.a_all[..k.a_all.len() - 1],
        if k.a_all.ends_with('0') { '1' } else { '0' }
    );
    let err = art
        .list(with_key(list_req("shop"), &forged))
        .await
        .expect_err("forged");
    assert_eq!(err.code(), Code::Unauthenticated);
}

fn dd_event() -> String {
    serde_json::json!({
        "type": "js_sourcemap", "service": "shop", "version": "1.0.0",
        "minified_url": APP, "cli_version": "e2e"
    })
    .to_string()
}

async fn dd_upload(srv: &TestServer, api_key: Option<&str>) -> reqwest::Response {
    let parts = js_fixture_parts("esbuild", "app.min.js");
    let body = multipart(&[
        ("event", None, "application/json", dd_event().into_bytes()),
        (
            "source_map",
            Some("app.min.js.map"),
            "application/json",
            parts[0].1.clone(),
        ),
        (
            "minified_file",
            Some("app.min.js"),
            "application/javascript",
            parts[1].1.clone(),
        ),
    ]);
    let mut req = reqwest::Client::new()
        .post(format!("{}/api/v2/srcmap", srv.http()))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body);
    if let Some(k) = api_key {
        req = req.header("DD-API-KEY", k);
    }
    req.send().await.expect("send")
}

async fn dd_list(srv: &TestServer, api: Option<&str>, app: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!(
        "{}/api/v2/sourcemaps/list?filter[service]=shop&filter[version]=1.0.0",
        srv.http()
    ));
    if let Some(k) = api {
        req = req.header("DD-API-KEY", k);
    }
    if let Some(k) = app {
        req = req.header("DD-APPLICATION-KEY", k);
    }
    req.send().await.expect("send")
}

fn elastic_auth(key: &str) -> String {
    let (id, secret) = key
        .strip_prefix("symx_")
        .and_then(|r| r.split_once('_'))
        .expect("key shape");
    use base64::Engine;
    format!(
        "ApiKey {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

#[tokio::test]
async fn vendor_http_apis_check_keys_and_keep_tenants_apart() {
    let srv = TestServer::start().await.expect("server");
    let k = setup(&srv).await;
    // Datadog intake: DD-API-KEY with the upload scope.
    let r = dd_upload(&srv, None).await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap_or_default()
            .contains("API key"),
        "{body}"
    );
    assert_eq!(dd_upload(&srv, Some(&k.a_read)).await.status(), 403);
    assert_eq!(dd_upload(&srv, Some(&k.a_all)).await.status(), 202);

    // Datadog API: DD-API-KEY names the tenant, DD-APPLICATION-KEY carries the permission.
    assert_eq!(dd_list(&srv, None, None).await.status(), 401);
    let r = dd_list(&srv, Some(&k.a_all), None).await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["errors"][0]["status"], "403", "{body}");
    assert_eq!(
        dd_list(&srv, Some(&k.a_all), Some(&k.b_all)).await.status(),
        403,
        "application key of another tenant"
    );
    let body: Value = dd_list(&srv, Some(&k.a_all), Some(&k.a_read))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["meta"]["page"]["total_filtered_count"], 1, "{body}");
    let body: Value = dd_list(&srv, Some(&k.b_all), Some(&k.b_all))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["meta"]["page"]["total_filtered_count"], 0, "{body}");
    // Delete needs the delete scope; B's delete finds nothing of A's.
    let del = |api: String, app: String| {
        let url = format!(
            "{}/api/v2/sourcemaps?mapkind=js&dry_run=false&filter[service]=shop&filter[version]=1.0.0",
            srv.http()
        );
        async move {
            reqwest::Client::new()
                .delete(url)
                .header("DD-API-KEY", api)
                .header("DD-APPLICATION-KEY", app)
                .send()
                .await
                .expect("send")
        }
    };
    assert_eq!(del(k.a_all.clone(), k.a_read.clone()).await.status(), 403);
    let r = del(k.b_all.clone(), k.b_all.clone()).await;
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert!(
        status == 404 || body["data"].as_array().is_some_and(Vec::is_empty),
        "{status} {body}"
    );

    // Elastic: ApiKey credentials and kbn-xsrf; B's listing has none of A's maps.
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/api/apm/sourcemaps", srv.http()))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["statusCode"], 401, "{body}");
    let listed = |key: String| {
        let req = http
            .get(format!("{}/api/apm/sourcemaps", srv.http()))
            .header("Authorization", elastic_auth(&key));
        async move {
            let body: Value = req.send().await.expect("send").json().await.expect("json");
            body["artifacts"].as_array().cloned().unwrap_or_default()
        }
    };
    let a_maps = listed(k.a_read.clone()).await;
    assert_eq!(a_maps.len(), 1);
    assert!(listed(k.b_all.clone()).await.is_empty());
    let a_id = a_maps[0]["id"].as_str().unwrap_or_default().to_owned();
    let r = http
        .delete(format!("{}/api/apm/sourcemaps/{a_id}", srv.http()))
        .header("Authorization", elastic_auth(&k.b_all))
        .header("kbn-xsrf", "true")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404, "B deletes A's Elastic id");
    let r = http
        .delete(format!("{}/api/apm/sourcemaps/{a_id}", srv.http()))
        .header("Authorization", elastic_auth(&k.a_all))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400, "no kbn-xsrf");
    assert_eq!(listed(k.a_read.clone()).await.len(), 1);
}
