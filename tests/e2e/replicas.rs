//! Replicas sharing a real 3-node Garage cluster (`scripts/garage-cluster.sh`, replication
//! factor 3) through `[storage.s3]`: real `symxd` processes, real gRPC and HTTP clients.
//!
//! One story, in order, on one cluster: read-after-upload on another replica, list there,
//! delete and restore seen within the poll period, a replica started empty serving
//! everything, one Garage node killed (quorum 2 of 3), then every node stopped (cached frames
//! resolve, misses and uploads are refused as unavailable, readiness says so) and revived.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use symx_e2e::*;
use symx_proto::v1 as pb;
use tonic::Code;

const URL: &str = "https://cdn.example.com/static/js/app.min.js";

/// The cluster, stopped when dropped (also when a test fails).
struct Cluster {
    dir: PathBuf,
    env: Vec<(String, String)>,
    port_base: u32,
}

/// Ports of its own per cluster, apart from other tests' and other test binaries' clusters.
fn port_base() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Below Linux's ephemeral range (32768-60999) and apart from the replicas' own ports
    // (and below the fixed ports of tests/*/run.sh, 29081-29092).
    20_000 + ((std::process::id() % 55) * 4 + n % 4) * 40
}

fn script() -> PathBuf {
    repo_root().join("scripts/garage-cluster.sh")
}

impl Cluster {
    fn start(dir: &Path) -> Self {
        let base = port_base();
        let out = std::process::Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(dir)
            .env("GARAGE_PORT_BASE", base.to_string())
            .output()
            .expect("run garage-cluster.sh");
        assert!(
            out.status.success(),
            "garage cluster start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(dir.join("env")).expect("cluster env");
        let env = text
            .lines()
            .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
            .collect();
        Self {
            dir: dir.to_owned(),
            env,
            port_base: base,
        }
    }

    fn var(&self, name: &str) -> &str {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{name} missing from the cluster env"))
    }

    fn node(&self, action: &str, n: u32) {
        let base = self.port_base;
        let status = std::process::Command::new("bash")
            .arg(script())
            .arg(action)
            .arg(n.to_string())
            .arg(&self.dir)
            .env("GARAGE_PORT_BASE", base.to_string())
            .status()
            .expect("run garage-cluster.sh");
        assert!(status.success(), "garage-cluster.sh {action} {n}");
    }

    /// A replica's configuration: this cluster's node `n` as its endpoint.
    fn config(&self, data: &Path, n: usize, node: &str) -> PathBuf {
        self.config_with(data, n, node, "", "")
    }

    /// [`config`](Self::config) with lines added to `[storage]` and to `[storage.s3]`.
    fn config_with(&self, data: &Path, n: usize, node: &str, storage: &str, s3: &str) -> PathBuf {
        let endpoints: Vec<&str> = self.var("GARAGE_ENDPOINTS").split(' ').collect();
        let path = data.with_extension("toml");
        std::fs::write(
            &path,
            format!(
                "[storage]\n{storage}\n[storage.s3]\nendpoint = \"{}\"\nregion = \"{}\"\n\
                 bucket = \"{}\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n\
                 allow_http = true\npoll_interval_secs = 1\nnode = \"{node}\"\n{s3}\n",
                endpoints[n - 1],
                self.var("GARAGE_REGION"),
                self.var("GARAGE_BUCKET"),
                self.var("AWS_ACCESS_KEY_ID"),
                self.var("AWS_SECRET_ACCESS_KEY"),
            ),
        )
        .expect("write config");
        path
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

/// `symxd keys create` against a replica's data directory and bucket: the key's token.
fn create_key(cluster: &Cluster, root: &Path, name: &str, tenant: &str, scopes: &str) -> String {
    let data = root.join(name);
    let config = cluster.config(&data, 1, name);
    let out = std::process::Command::new(binary("symxd"))
        .arg("--data-dir")
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .args(["keys", "create", "--scope", scopes, "--tenant", tenant])
        .output()
        .expect("symxd keys create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn replica(cluster: &Cluster, root: &Path, name: &str, garage_node: usize) -> Daemon {
    replica_with(cluster, root, name, garage_node, "", "").await
}

/// [`replica`] with lines added to its `[storage]` and `[storage.s3]` tables.
async fn replica_with(
    cluster: &Cluster,
    root: &Path,
    name: &str,
    garage_node: usize,
    storage: &str,
    s3: &str,
) -> Daemon {
    let data = root.join(name);
    let config = cluster.config_with(&data, garage_node, name, storage, s3);
    let d = Daemon::spawn_with(&data, &[], &["--config", &config.to_string_lossy()]);
    d.ready().await;
    // Ready (what a load balancer asks) once it has read the catalog's log through.
    let (http, url) = (reqwest::Client::new(), format!("http://{}/readyz", d.http));
    eventually(Duration::from_secs(30), "the replica is ready", || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            http.get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    d
}

async fn clients(d: &Daemon) -> (Artifacts, Symbolication) {
    let url = format!("http://{}", d.grpc);
    let art = Artifacts::connect(url.clone()).await.expect("connect");
    let sym = Symbolication::connect(url).await.expect("connect");
    (art, sym)
}

async fn frame(sym: &mut Symbolication, version: &str) -> pb::FrameResult {
    symbolicate(sym, "shop", version, vec![js_frame(URL, 3, 30)], 0)
        .await
        .remove(0)
}

/// Polls `check` every 100 ms for up to `within`.
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_share_uploads_deletes_and_outages_through_garage() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::start(&tmp.path().join("garage"));
    let a = replica(&cluster, tmp.path(), "a", 1).await;
    let b = replica(&cluster, tmp.path(), "b", 2).await;
    let (mut art_a, mut sym_a) = clients(&a).await;
    let (mut art_b, mut sym_b) = clients(&b).await;

    // Read-after-upload: B answers the moment A acknowledges, before any poll.
    let parts = js_fixture_parts("esbuild", "app.min.js");
    let t = Instant::now();
    let up = upload(&mut art_a, js_meta("shop", "1.0", URL), &parts)
        .await
        .expect("upload through A");
    let uploaded = t.elapsed();
    let id = up.artifact.expect("artifact").id;
    eprintln!("1.0 is {id}");
    let on_a = frame(&mut sym_a, "1.0").await;
    let t = Instant::now();
    let on_b = frame(&mut sym_b, "1.0").await;
    eprintln!(
        "upload through A acknowledged in {uploaded:?}; first frame on B (through the pointer) in {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    frame(&mut sym_b, "1.0").await;
    eprintln!("the next frame on B in {:?}", t.elapsed());
    // Baseline of the same run: one replica on its embedded store alone.
    let embedded = Daemon::spawn(&tmp.path().join("embedded"), &[]);
    embedded.ready().await;
    let (mut art_e, _) = clients(&embedded).await;
    let t = Instant::now();
    upload(&mut art_e, js_meta("shop", "1.0", URL), &parts)
        .await
        .expect("upload to the embedded store");
    eprintln!(
        "baseline: the same upload on the embedded store in {:?}",
        t.elapsed()
    );
    drop(embedded);
    assert_eq!(on_a.status, pb::FrameStatus::Resolved as i32);
    assert_eq!(on_b.status, on_a.status, "B resolves A's upload at once");
    assert_eq!(on_b.frames, on_a.frames, "the same answer on both replicas");
    // Listed and readable on B.
    let listed = list_js(&mut art_b, "shop", &["1.0"]).await;
    assert_eq!(listed.artifacts.len(), 1);
    assert_eq!(listed.artifacts[0].id, id);
    let got = art_b
        .get_artifact(pb::GetArtifactRequest { id: id.clone() })
        .await
        .expect("get on B")
        .into_inner();
    assert_eq!(got.id, id);
    assert_eq!(
        got.attributes.get("version").map(String::as_str),
        Some("1.0")
    );

    // The HTTP intakes through A, Datadog's (as datadog-ci posts it) and Elastic's: B
    // resolves both at once.
    let http = reqwest::Client::new();
    let (map, js) = (parts[0].1.clone(), parts[1].1.clone());
    let event = serde_json::json!({
        "type": "js_sourcemap", "service": "shop-dd", "version": "1.0",
        "minified_url": URL, "cli_version": "5.25.0",
    });
    let dd = http
        .post(format!("http://{}/api/v2/srcmap", a.http))
        .header("DD-API-KEY", "0123456789abcdef")
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(&[
            (
                "event",
                Some("event"),
                "application/json",
                event.to_string().into_bytes(),
            ),
            (
                "source_map",
                Some("app.min.js.map"),
                "application/json",
                map.clone(),
            ),
            (
                "minified_file",
                Some("app.min.js"),
                "application/javascript",
                js,
            ),
        ]))
        .send()
        .await
        .expect("Datadog intake on A");
    assert_eq!(dd.status(), reqwest::StatusCode::ACCEPTED);
    let elastic = http
        .post(format!("http://{}/api/apm/sourcemaps", a.http))
        .header("kbn-xsrf", "true")
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(&[
            ("service_name", None, "text/plain", b"shop-el".to_vec()),
            ("service_version", None, "text/plain", b"1.0".to_vec()),
            (
                "bundle_filepath",
                None,
                "text/plain",
                URL.as_bytes().to_vec(),
            ),
            ("sourcemap", Some("app.min.js.map"), "application/json", map),
        ]))
        .send()
        .await
        .expect("Elastic route on A");
    assert!(elastic.status().is_success(), "{:?}", elastic.text().await);
    for service in ["shop-dd", "shop-el"] {
        let f = symbolicate(&mut sym_b, service, "1.0", vec![js_frame(URL, 3, 30)], 0)
            .await
            .remove(0);
        let place = |f: &pb::FrameResult| {
            f.frames
                .iter()
                .map(|r| (r.source.clone(), r.line, r.column))
                .collect::<Vec<_>>()
        };
        // Elastic's upload has no minified file, so no function name from its scopes.
        assert_eq!(
            place(&f),
            place(&on_a),
            "{service}'s upload through A on B: {f:?}"
        );
    }

    // A delete on A is seen on B within the poll period; a restore too.
    let del = art_a
        .delete(pb::DeleteRequest {
            mapkind: pb::MapKind::Js as i32,
            filters: vec![filter("service", ["shop"]), filter("version", ["1.0"])],
            dry_run: false,
        })
        .await
        .expect("delete on A")
        .into_inner();
    assert_eq!(del.artifacts.len(), 1);
    let started = Instant::now();
    eventually(Duration::from_secs(10), "B sees the delete", || {
        let mut sym = sym_b.clone();
        async move {
            frame(&mut sym, "1.0").await.status == pb::FrameStatus::MissingArtifact as i32
        }
    })
    .await;
    eprintln!("delete seen on B after {:?}", started.elapsed());
    art_a
        .restore(pb::RestoreRequest {
            ids: vec![id.clone()],
            overwrite: false,
        })
        .await
        .expect("restore on A");
    eventually(Duration::from_secs(10), "B sees the restore", || {
        let mut sym = sym_b.clone();
        async move { frame(&mut sym, "1.0").await.status == pb::FrameStatus::Resolved as i32 }
    })
    .await;

    // A replica started on an empty data directory serves everything A uploaded.
    let c = replica(&cluster, tmp.path(), "c", 3).await;
    let (art_c, mut sym_c) = clients(&c).await;
    assert_eq!(frame(&mut sym_c, "1.0").await.frames, on_a.frames);
    eventually(Duration::from_secs(10), "C lists A's upload", || {
        let mut art = art_c.clone();
        async move { list_js(&mut art, "shop", &["1.0"]).await.artifacts.len() == 1 }
    })
    .await;

    // One Garage node down: quorum 2 of 3 keeps uploads and lookups going.
    cluster.node("kill", 3);
    let two = upload(&mut art_a, js_meta("shop", "2.0", URL), &parts)
        .await
        .expect("upload with a node down");
    eprintln!("2.0 is {:?}", two.artifact.map(|a| a.id));
    assert_eq!(
        frame(&mut sym_b, "2.0").await.status,
        pb::FrameStatus::Resolved as i32,
        "B resolves the upload made with a node down"
    );

    // Every node down: what B holds keeps resolving; a miss and an upload are refused as
    // unavailable (never cached as missing); readiness says so.
    cluster.node("kill", 1);
    cluster.node("kill", 2);
    assert_eq!(
        frame(&mut sym_b, "1.0").await.status,
        pb::FrameStatus::Resolved as i32,
        "cached artifacts resolve with the store down"
    );
    let miss = sym_b
        .symbolicate(pb::SymbolicateRequest {
            stacktraces: vec![pb::StackTrace {
                service: "shop".into(),
                version: "9.9".into(),
                frames: vec![js_frame(URL, 3, 30)],
                ..Default::default()
            }],
            ..Default::default()
        })
        .await;
    match miss {
        Err(status) => assert_eq!(status.code(), Code::Unavailable, "{status:?}"),
        Ok(r) => {
            let f = &r.into_inner().stacktraces[0].frames[0];
            assert_ne!(
                f.status,
                pb::FrameStatus::MissingArtifact as i32,
                "a miss with the store down is not 'missing'"
            );
        }
    }
    let refused = upload(&mut art_a, js_meta("shop", "3.0", URL), &parts)
        .await
        .expect_err("upload with the store down");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    eventually(Duration::from_secs(15), "A's /readyz answers 503", || {
        let (http, url) = (http.clone(), format!("http://{}/readyz", a.http));
        async move {
            http.get(url)
                .send()
                .await
                .is_ok_and(|r| r.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE)
        }
    })
    .await;
    let metrics = http
        .get(format!("http://{}/metrics", a.http))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    assert!(
        metrics.contains("symx_catalog_poll_errors_total"),
        "poll errors are counted"
    );

    // Back up: uploads work again, and nothing acknowledged was lost.
    for n in 1..=3 {
        cluster.node("revive", n);
    }
    eventually(Duration::from_secs(30), "uploads work again", || {
        let (mut art, parts) = (art_a.clone(), parts.clone());
        async move {
            upload(&mut art, js_meta("shop", "3.0", URL), &parts)
                .await
                .is_ok()
        }
    })
    .await;
    for version in ["1.0", "2.0", "3.0"] {
        let f = frame(&mut sym_c, version).await;
        assert_eq!(
            f.status,
            pb::FrameStatus::Resolved as i32,
            "C resolves {version}: {f:?}"
        );
    }
    drop((a, b, c));
}

/// API keys live in the bucket: a key created on one replica works on another that started
/// empty, a revocation reaches it within the key cache's lifetime, and tenants stay apart.
#[tokio::test(flavor = "multi_thread")]
async fn replicas_share_api_keys_and_keep_tenants_apart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::start(&tmp.path().join("garage"));
    let shop = create_key(&cluster, tmp.path(), "a", "shop", "admin");
    let other = create_key(&cluster, tmp.path(), "a", "other", "read,upload");
    assert!(
        shop.starts_with("symx_") && other.starts_with("symx_"),
        "{shop} {other}"
    );
    let a = replica(&cluster, tmp.path(), "a", 1).await;
    let b = replica(&cluster, tmp.path(), "b", 2).await;
    let (mut art_a, _) = clients(&a).await;
    let (mut art_b, mut sym_b) = clients(&b).await;

    // B started empty, yet requires a key: the bucket has some.
    let anonymous = art_b
        .list(pb::ListRequest {
            mapkind: pb::MapKind::Js as i32,
            ..Default::default()
        })
        .await
        .expect_err("B runs closed");
    assert_eq!(anonymous.code(), Code::Unauthenticated);

    let parts = js_fixture_parts("esbuild", "app.min.js");
    upload_as(&mut art_a, &shop, js_meta("shop", "1.0", URL), &parts)
        .await
        .expect("shop uploads through A");
    let ask = |key: String, mut sym: Symbolication| async move {
        sym.symbolicate(with_key(
            pb::SymbolicateRequest {
                stacktraces: vec![pb::StackTrace {
                    service: "shop".into(),
                    version: "1.0".into(),
                    frames: vec![js_frame(URL, 3, 30)],
                    ..Default::default()
                }],
                ..Default::default()
            },
            &key,
        ))
        .await
        .map(|r| r.into_inner().stacktraces[0].frames[0].status)
    };
    assert_eq!(
        ask(shop.clone(), sym_b.clone())
            .await
            .expect("shop's key on B"),
        pb::FrameStatus::Resolved as i32
    );
    assert_eq!(
        ask(other.clone(), sym_b.clone())
            .await
            .expect("other's key on B"),
        pb::FrameStatus::MissingArtifact as i32,
        "another tenant does not see shop's upload"
    );
    let listed = art_b
        .list(with_key(
            pb::ListRequest {
                mapkind: pb::MapKind::Js as i32,
                filters: vec![filter("service", ["shop"]), filter("version", ["1.0"])],
                ..Default::default()
            },
            &other,
        ))
        .await
        .expect("other lists on B")
        .into_inner();
    assert!(listed.artifacts.is_empty(), "{listed:?}");

    // Revoked on A: refused on B once its key cache (5 s) expires.
    let mut keys_a =
        symx_proto::v1::key_service_client::KeyServiceClient::connect(format!("http://{}", a.grpc))
            .await
            .expect("connect");
    let other_id = other.split('_').nth(1).expect("key id").to_owned();
    let mut keys_shop = keys_a.clone();
    let refused = keys_shop
        .revoke_key(with_key(
            pb::RevokeKeyRequest {
                id: other_id.clone(),
            },
            &shop,
        ))
        .await
        .expect_err("shop's admin cannot revoke another tenant's key");
    assert_eq!(refused.code(), Code::NotFound);
    let other_admin = create_key(&cluster, tmp.path(), "c", "other", "admin");
    keys_a
        .revoke_key(with_key(
            pb::RevokeKeyRequest { id: other_id },
            &other_admin,
        ))
        .await
        .expect("revoke on A");
    eventually(Duration::from_secs(15), "B refuses the revoked key", || {
        let (key, sym) = (other.clone(), sym_b.clone());
        async move {
            ask(key, sym)
                .await
                .is_err_and(|s| s.code() == Code::Unauthenticated)
        }
    })
    .await;
    sym_b = sym_b.clone();
    assert!(
        ask(shop, sym_b).await.is_ok(),
        "shop's key still works on B"
    );
}

/// `kill -9` of a replica with an upload in flight: the other replica sees every upload the
/// killed one acknowledged, and nothing of the one it did not.
#[tokio::test(flavor = "multi_thread")]
async fn a_replica_killed_mid_upload_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::start(&tmp.path().join("garage"));
    let mut a = replica(&cluster, tmp.path(), "a", 1).await;
    let b = replica(&cluster, tmp.path(), "b", 2).await;
    let (mut art_a, _) = clients(&a).await;
    let (mut art_b, mut sym_b) = clients(&b).await;
    let parts = js_fixture_parts("esbuild", "app.min.js");

    // An upload that sends its metadata and half its map, then waits.
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tx.send(upload_metadata_message(js_meta("shop", "9.9", URL)))
        .await
        .expect("send");
    let map = &parts[0].1;
    tx.send(upload_chunk_message("source_map", &map[..map.len() / 2]))
        .await
        .expect("send");
    let mut stalled = art_a.clone();
    let in_flight = tokio::spawn(async move {
        stalled
            .upload(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    for version in ["1.0", "1.1", "1.2"] {
        upload(&mut art_a, js_meta("shop", version, URL), &parts)
            .await
            .expect("acknowledged upload");
    }
    a.kill();
    drop(tx);
    assert!(
        in_flight.await.expect("join").is_err(),
        "the killed upload failed"
    );

    for version in ["1.0", "1.1", "1.2"] {
        assert_eq!(
            frame(&mut sym_b, version).await.status,
            pb::FrameStatus::Resolved as i32,
            "{version} acknowledged by A resolves on B"
        );
    }
    assert_eq!(
        frame(&mut sym_b, "9.9").await.status,
        pb::FrameStatus::MissingArtifact as i32,
        "nothing of the upload in flight"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let listed = list_js(&mut art_b, "shop", &["1.0", "1.1", "1.2", "9.9"]).await;
    let mut versions: Vec<String> = listed
        .artifacts
        .iter()
        .filter_map(|a| a.attributes.get("version").cloned())
        .collect();
    versions.sort();
    assert_eq!(versions, ["1.0", "1.1", "1.2"], "{listed:?}");
}

impl Cluster {
    /// A client of the bucket itself, to look at what the replicas left in it.
    fn bucket(&self) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_endpoint(self.var("GARAGE_ENDPOINT"))
            .with_region(self.var("GARAGE_REGION"))
            .with_bucket_name(self.var("GARAGE_BUCKET"))
            .with_access_key_id(self.var("AWS_ACCESS_KEY_ID"))
            .with_secret_access_key(self.var("AWS_SECRET_ACCESS_KEY"))
            .with_allow_http(true)
            .build()
            .expect("bucket client")
    }
}

/// The keys under `prefix` in the bucket, sorted.
async fn keys_under(bucket: &object_store::aws::AmazonS3, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    use object_store::ObjectStore;
    let prefix = object_store::path::Path::from(prefix);
    let listed: Vec<object_store::ObjectMeta> = bucket
        .list(Some(&prefix))
        .try_collect()
        .await
        .expect("list the bucket");
    let mut keys: Vec<String> = listed.into_iter().map(|m| m.location.to_string()).collect();
    keys.sort();
    keys
}

/// The last part of each key.
fn names(keys: &[String]) -> Vec<String> {
    keys.iter()
        .map(|k| k.rsplit('/').next().unwrap_or_default().to_owned())
        .collect()
}

async fn metrics_of(d: &Daemon) -> String {
    reqwest::get(format!("http://{}/metrics", d.http))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body")
}

/// The value of a metric line starting with `series` (0 when absent).
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_replace_the_log_and_purges_empty_the_bucket() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::start(&tmp.path().join("garage"));
    let bucket = cluster.bucket();
    // Snapshots as often as there is news, covering all but the last second of the log.
    let fast = "snapshot_interval_secs = 1\nlog_window_secs = 1";
    let a = replica_with(&cluster, tmp.path(), "a", 1, "", fast).await;
    let (mut art_a, mut sym_a) = clients(&a).await;

    let parts = js_fixture_parts("esbuild", "app.min.js");
    let id1 = upload(&mut art_a, js_meta("shop", "1.0", URL), &parts)
        .await
        .expect("upload 1.0")
        .artifact
        .expect("artifact")
        .id;
    let id2 = upload(&mut art_a, js_meta("shop", "2.0", URL), &parts)
        .await
        .expect("upload 2.0")
        .artifact
        .expect("artifact")
        .id;
    let del = art_a
        .delete(pb::DeleteRequest {
            mapkind: pb::MapKind::Js as i32,
            filters: vec![filter("service", ["shop"]), filter("version", ["2.0"])],
            dry_run: false,
        })
        .await
        .expect("delete 2.0")
        .into_inner();
    assert_eq!(del.artifacts.len(), 1);
    let deleted_at = format!("{:013}", symx_storage::now_ms());

    // A snapshot covering all of that.
    eventually(
        Duration::from_secs(20),
        "a snapshot covers the delete",
        || {
            let (bucket, deleted_at) = (&bucket, &deleted_at);
            async move {
                names(&keys_under(bucket, "snap").await)
                    .iter()
                    .any(|n| n.as_str() > deleted_at.as_str())
            }
        },
    )
    .await;

    // 3.0: its own minified file (a comment appended), the same map.
    let mut parts3 = parts.clone();
    parts3[1].1.extend_from_slice(b"\n// 3.0\n");
    let minified3 = hex_sha256(&parts3[1].1);
    let map_sha = hex_sha256(&parts[0].1);
    let id3 = upload(&mut art_a, js_meta("shop", "3.0", URL), &parts3)
        .await
        .expect("upload 3.0")
        .artifact
        .expect("artifact")
        .id;
    let uploaded3 = format!("{:013}", symx_storage::now_ms());

    // The next snapshots cover 3.0; two are kept, and the log before the older of them is
    // gone (the uploads of 1.0 and 2.0 and the delete with it).
    eventually(
        Duration::from_secs(30),
        "the log before the snapshots is removed",
        || {
            let (bucket, uploaded3) = (&bucket, &uploaded3);
            async move {
                let snaps = names(&keys_under(bucket, "snap").await);
                let log = names(&keys_under(bucket, "log").await);
                snaps.len() == 2
                    && snaps[1].as_str() > uploaded3.as_str()
                    && log.iter().all(|n| {
                        n.get(..13).unwrap_or_default() >= snaps[0].get(..13).unwrap_or_default()
                    })
            }
        },
    )
    .await;
    let log = names(&keys_under(&bucket, "log").await);
    assert!(
        log.iter().all(|n| n.as_str() > deleted_at.as_str()),
        "entries before the snapshots are removed: {log:?}"
    );
    let m = metrics_of(&a).await;
    assert!(metric(&m, "symx_catalog_snapshots_total{what=\"written\"}") >= 2.0);
    assert!(metric(&m, "symx_object_store_removed_total{what=\"log\"}") >= 3.0);
    assert!(
        metric(
            &m,
            "symx_object_store_requests_total{op=\"put\",outcome=\"ok\"}"
        ) >= 8.0
    );
    assert!(
        metric(&m, "symx_object_store_bytes_total{direction=\"out\"}") > parts[0].1.len() as f64
    );
    assert!(
        m.contains("symx_object_store_seconds_bucket{op=\"get\""),
        "latency by operation"
    );
    // Probed (-1 until then), and Garage 2.5 does not honour `If-None-Match`.
    assert_eq!(metric(&m, "symx_object_store_conditional_put "), 0.0);

    // A replica started empty reads the snapshot (the log of 1.0 is gone) and then the log.
    let c = replica(&cluster, tmp.path(), "c", 2).await;
    let (_, mut sym_c) = clients(&c).await;
    let resolved = pb::FrameStatus::Resolved as i32;
    let on_a = frame(&mut sym_a, "1.0").await;
    assert_eq!(on_a.status, resolved);
    assert_eq!(frame(&mut sym_c, "1.0").await.frames, on_a.frames);
    assert_eq!(frame(&mut sym_c, "3.0").await.status, resolved);
    assert_eq!(
        frame(&mut sym_c, "2.0").await.status,
        pb::FrameStatus::MissingArtifact as i32,
        "deleted in the snapshot"
    );
    let m = metrics_of(&c).await;
    assert_eq!(
        metric(&m, "symx_catalog_snapshots_total{what=\"loaded\"}"),
        1.0
    );
    // The `symx` CLI works against any replica: C lists and resolves what A received.
    let endpoint = format!("http://{}", c.grpc);
    let listed = stdout_of(&symx_cli(
        &endpoint,
        &[
            "list",
            "--service",
            "shop",
            "--version",
            "1.0",
            "--version",
            "3.0",
        ],
    ));
    assert!(listed.contains(&id1) && listed.contains(&id3), "{listed}");
    let stack = fixture("js/esbuild/stack.txt");
    let text = stdout_of(&symx_cli(
        &endpoint,
        &[
            "symbolicate",
            "--service",
            "shop",
            "--version",
            "1.0",
            &stack.to_string_lossy(),
        ],
    ));
    assert!(
        text.contains("at book_lookup (../src/app.js:24:33)"),
        "{text}"
    );

    // 2.0 restored on A: C never held it, and fetches it through its artifact object.
    art_a
        .restore(pb::RestoreRequest {
            ids: vec![id2.clone()],
            overwrite: false,
        })
        .await
        .expect("restore 2.0");
    eventually(Duration::from_secs(10), "C serves the restored 2.0", || {
        let mut sym = sym_c.clone();
        async move { frame(&mut sym, "2.0").await.status == pb::FrameStatus::Resolved as i32 }
    })
    .await;

    // A replica that purges after one second, with a one-second grace for files: 3.0
    // deleted on A goes from the bucket (its artifact, indexes, its own minified file);
    // the map 1.0 and 2.0 share with it stays.
    let p = replica_with(
        &cluster,
        tmp.path(),
        "p",
        3,
        "purge_after_secs = 1\npurge_interval_secs = 1",
        "grace_secs = 1",
    )
    .await;
    let (_, mut sym_p) = clients(&p).await;
    assert_eq!(frame(&mut sym_p, "3.0").await.status, resolved);
    let arts = keys_under(&bucket, "t").await;
    assert!(
        arts.iter()
            .any(|k| k.ends_with(&format!("blob/{minified3}")))
    );
    assert!(arts.iter().any(|k| k.contains(&format!("idx/{id3}/"))));
    art_a
        .delete(pb::DeleteRequest {
            mapkind: pb::MapKind::Js as i32,
            filters: vec![filter("service", ["shop"]), filter("version", ["3.0"])],
            dry_run: false,
        })
        .await
        .expect("delete 3.0");
    eventually(Duration::from_secs(20), "3.0 leaves the bucket", || {
        let (bucket, id3, minified3) = (&bucket, &id3, &minified3);
        async move {
            let keys = keys_under(bucket, "t").await;
            !keys.iter().any(|k| {
                k.ends_with(&format!("art/{id3}"))
                    || k.contains(&format!("idx/{id3}/"))
                    || k.ends_with(&format!("blob/{minified3}"))
            })
        }
    })
    .await;
    let keys = keys_under(&bucket, "t").await;
    for kept in [
        format!("blob/{map_sha}"),
        format!("art/{id1}"),
        format!("art/{id2}"),
    ] {
        assert!(
            keys.iter().any(|k| k.ends_with(&kept)),
            "{kept} stays: {keys:?}"
        );
    }
    let m = metrics_of(&p).await;
    assert!(metric(&m, "symx_object_store_removed_total{what=\"file\"}") >= 1.0);
    assert!(metric(&m, "symx_purged_artifacts_total") >= 1.0);

    // A replica started now serves what is left, and not 3.0.
    let d = replica(&cluster, tmp.path(), "d", 1).await;
    let (_, mut sym_d) = clients(&d).await;
    assert_eq!(frame(&mut sym_d, "1.0").await.frames, on_a.frames);
    assert_eq!(frame(&mut sym_d, "2.0").await.status, resolved);
    assert_eq!(
        frame(&mut sym_d, "3.0").await.status,
        pb::FrameStatus::MissingArtifact as i32
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_bounded_in_bytes_fetches_what_it_evicted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::start(&tmp.path().join("garage"));
    let a = replica(&cluster, tmp.path(), "a", 1).await;
    let (mut art_a, mut sym_a) = clients(&a).await;
    // Room for one upload's payload: the map alone is larger than this.
    let parts = js_fixture_parts("esbuild", "app.min.js");
    let budget = parts[0].1.len() as u64;
    let b = replica_with(
        &cluster,
        tmp.path(),
        "b",
        2,
        "",
        &format!("local_max_bytes = {budget}"),
    )
    .await;
    let (_, mut sym_b) = clients(&b).await;

    let versions = ["1.0", "2.0", "3.0"];
    for (i, v) in versions.iter().enumerate() {
        // Each its own minified file, so no two share every blob.
        let mut p = parts.clone();
        p[1].1.extend_from_slice(format!("\n// {i}\n").as_bytes());
        upload(&mut art_a, js_meta("shop", v, URL), &p)
            .await
            .expect("upload through A");
    }
    eventually(
        Duration::from_secs(10),
        "B applied the three uploads",
        || {
            let b = &b;
            async move {
                let m = metrics_of(b).await;
                metric(&m, "symx_catalog_applied_total{via=\"poll\"}")
                    + metric(&m, "symx_catalog_applied_total{via=\"pointer\"}")
                    >= 3.0
            }
        },
    )
    .await;
    let held = |m: &str| metric(m, "symx_local_copy_bytes ");
    // One payload (the first upload B took: its files and index), the others taken as
    // catalog entries alone. The payloads differ by a few bytes only.
    let one = held(&metrics_of(&b).await);
    eprintln!("B holds {one} bytes (budget {budget})");
    assert!(one > budget as f64, "a payload is held: {one}");
    let within = |bytes: f64| bytes <= one * 1.01;

    // Every version resolves on B as on A: the ones B took as catalog entries alone, or
    // evicted since, are fetched again; B stays within about one payload throughout.
    for v in versions.iter().chain(versions.iter()) {
        let on_a = frame(&mut sym_a, v).await;
        assert_eq!(on_a.status, pb::FrameStatus::Resolved as i32);
        // The resolve cache of B would answer without reading the payload: a fresh
        // request per version goes to the index cache, and a miss there reads storage.
        assert_eq!(frame(&mut sym_b, v).await.frames, on_a.frames, "{v} on B");
        let m = metrics_of(&b).await;
        assert!(within(held(&m)), "one payload at a time: {}", held(&m));
    }
    let m = metrics_of(&b).await;
    assert!(
        metric(&m, "symx_catalog_applied_total{via=\"refill\"}") >= 2.0,
        "payloads fetched on demand"
    );

    // Restarted, B counts what it holds and still serves everything.
    drop(sym_b);
    drop(b);
    let b = replica_with(
        &cluster,
        tmp.path(),
        "b",
        2,
        "",
        &format!("local_max_bytes = {budget}"),
    )
    .await;
    let (_, mut sym_b) = clients(&b).await;
    let m = metrics_of(&b).await;
    assert!(
        held(&m) > 0.0 && within(held(&m)),
        "counted at start: {}",
        held(&m)
    );
    for v in versions {
        assert_eq!(
            frame(&mut sym_b, v).await.status,
            pb::FrameStatus::Resolved as i32,
            "{v} after a restart"
        );
    }
}
