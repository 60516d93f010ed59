//! `symx-loadgen`: drives a symxd over real gRPC with batches of JavaScript frames from the
//! benchmark map and reports frames per second and batch latency percentiles.
//!
//!   symx-loadgen --spawn                       # an in-process symxd on 127.0.0.1:0
//!   symx-loadgen --endpoint http://127.0.0.1:50051 --upload
//!
//! With `--spawn` the server runs on its own runtime threads in this process; either way the
//! server and the load share the machine's cores, which the report states.

use anyhow::{Context, Result};
use clap::Parser;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use symx_benches::{BenchMap, SERVICE, URL, VERSION, positions};
use symx_proto::v1 as pb;
use symx_proto::v1::artifact_service_client::ArtifactServiceClient;
use symx_proto::v1::symbolication_service_client::SymbolicationServiceClient;
use tonic::transport::Channel;

#[derive(Parser, Debug)]
struct Args {
    /// A running symxd.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    endpoint: String,
    /// Start symxd in this process (temp data dir) instead of using --endpoint.
    #[arg(long)]
    spawn: bool,
    /// Upload the benchmark map first (implied by --spawn).
    #[arg(long)]
    upload: bool,
    /// Concurrent in-flight requests.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Frames per request.
    #[arg(long, default_value_t = 200)]
    batch: usize,
    /// Measured seconds (after a 2 s warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// gRPC connections the requests are spread over.
    #[arg(long, default_value_t = 2)]
    connections: usize,
    /// Send this API key (`authorization: Bearer`) with every call.
    #[arg(long, env = "SYMX_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// With --spawn: create a key in the spawned server and send it (authentication on).
    #[arg(long)]
    auth: bool,
}

/// Adds the API key to every call.
#[derive(Clone)]
struct KeyHeader(Option<tonic::metadata::AsciiMetadataValue>);

impl tonic::service::Interceptor for KeyHeader {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

type Conn = tonic::service::interceptor::InterceptedService<Channel, KeyHeader>;

async fn upload(ch: Conn, m: &BenchMap) -> Result<()> {
    let mut client = ArtifactServiceClient::new(ch);
    let mut msgs = vec![pb::UploadRequest {
        payload: Some(pb::upload_request::Payload::Metadata(pb::UploadMetadata {
            r#type: pb::UploadType::JsSourcemap as i32,
            service: SERVICE.into(),
            version: VERSION.into(),
            minified_url: URL.into(),
            overwrite: true,
            ..Default::default()
        })),
    }];
    for (part, data) in [("source_map", &m.map), ("minified_file", &m.minified)] {
        for chunk in data.chunks(1 << 20) {
            msgs.push(pb::UploadRequest {
                payload: Some(pb::upload_request::Payload::Chunk(pb::FileChunk {
                    part: part.into(),
                    data: chunk.to_vec(),
                })),
            });
        }
    }
    client.upload(tokio_stream::iter(msgs)).await?;
    Ok(())
}

fn requests(pos: &[(u32, u32)], batch: usize, n: usize) -> Vec<pb::SymbolicateRequest> {
    (0..n)
        .map(|r| pb::SymbolicateRequest {
            stacktraces: vec![pb::StackTrace {
                service: SERVICE.into(),
                version: VERSION.into(),
                frames: (0..batch)
                    .map(|i| {
                        let (l, c) = pos[(r * batch + i) % pos.len()];
                        pb::Frame {
                            frame: Some(pb::frame::Frame::Js(pb::JsFrame {
                                abs_path: URL.into(),
                                line: l + 1,
                                column: c + 1,
                                ..Default::default()
                            })),
                        }
                    })
                    .collect(),
                ..Default::default()
            }],
            context_lines: 0,
            debug_ids: Default::default(),
        })
        .collect()
}

fn main() -> Result<()> {
    let args = Args::parse();
    let m = BenchMap::load()?;
    let sm = match sourcemap::decode_slice(&m.map)? {
        sourcemap::DecodedMap::Regular(sm) => sm,
        _ => anyhow::bail!("the bench map is not a regular map"),
    };
    let pos = positions(&sm, 8192);
    drop(sm);

    // The spawned server gets its own runtime (its own worker threads), as symxd would.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let _data = tempfile::tempdir()?;
    let mut api_key = args.api_key.clone();
    let endpoint = if args.spawn {
        let mut config = symx_service::Config::default();
        config.server.grpc_addr = "127.0.0.1:0".parse()?;
        config.server.http_addr = "127.0.0.1:0".parse()?;
        config.storage.data_dir = _data.path().to_path_buf();
        let server = server_rt.block_on(symx_server::Server::start(config))?;
        if args.auth {
            let created = server_rt.block_on(server.symx.create_key(
                &symx_service::Principal::open(),
                None,
                "loadgen",
                &["read".into(), "upload".into()],
            ))?;
            api_key = Some(created.token);
        }
        let ep = format!("http://{}", server.grpc_addr);
        std::mem::forget(server);
        ep
    } else {
        args.endpoint.clone()
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let key = match api_key {
        Some(k) => Some(
            format!("Bearer {k}")
                .parse()
                .context("the API key is not a header value")?,
        ),
        None => None,
    };
    rt.block_on(async move {
        let mut channels = Vec::new();
        for _ in 0..args.connections.max(1) {
            let ch = Channel::from_shared(endpoint.clone())?
                .connect()
                .await
                .with_context(|| format!("cannot connect to {endpoint}"))?;
            channels.push(tonic::service::interceptor::InterceptedService::new(
                ch,
                KeyHeader(key.clone()),
            ));
        }
        if args.spawn || args.upload {
            let t = Instant::now();
            upload(channels[0].clone(), &m).await?;
            eprintln!("uploaded the {} byte map in {:?}", m.map.len(), t.elapsed());
        }
        let reqs = Arc::new(requests(&pos, args.batch, 64));
        // Check that the frames resolve before measuring.
        let mut probe = SymbolicationServiceClient::new(channels[0].clone());
        let r = probe.symbolicate(reqs[0].clone()).await?.into_inner();
        let resolved = r.stacktraces[0]
            .frames
            .iter()
            .filter(|f| f.status == pb::FrameStatus::Resolved as i32)
            .count();
        anyhow::ensure!(resolved == args.batch, "only {resolved} of {} probe frames resolved", args.batch);

        let stop = Arc::new(AtomicBool::new(false));
        let measuring = Arc::new(AtomicBool::new(false));
        let frames = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let keyed = key.is_some();
        let mut tasks = Vec::new();
        for w in 0..args.concurrency {
            let mut client = SymbolicationServiceClient::new(channels[w % channels.len()].clone())
                .max_decoding_message_size(64 << 20);
            let (reqs, stop, measuring, frames) = (reqs.clone(), stop.clone(), measuring.clone(), frames.clone());
            let errors = errors.clone();
            let batch = args.batch as u64;
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let r = client.symbolicate(reqs[i % reqs.len()].clone()).await;
                    i += 1;
                    if r.is_err() && measuring.load(Ordering::Relaxed) {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    if r.is_ok() && measuring.load(Ordering::Relaxed) {
                        lat.push(t.elapsed());
                        frames.fetch_add(batch, Ordering::Relaxed);
                    }
                }
                lat
            }));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        measuring.store(true, Ordering::Relaxed);
        let t = Instant::now();
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        measuring.store(false, Ordering::Relaxed);
        let elapsed = t.elapsed();
        stop.store(true, Ordering::Relaxed);
        let mut lat = Vec::new();
        for task in tasks {
            lat.extend(task.await?);
        }
        lat.sort();
        let pct = |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or_default();
        let n = frames.load(Ordering::Relaxed);
        println!(
            "frames/s: {:.0}  batches: {}  errors: {}  api key: {}  batch={} concurrency={} connections={}  latency p50={:?} p99={:?}  cores={}",
            n as f64 / elapsed.as_secs_f64(),
            lat.len(),
            errors.load(Ordering::Relaxed),
            if keyed { "yes" } else { "no" },
            args.batch,
            args.concurrency,
            args.connections,
            pct(0.5),
            pct(0.99),
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        );
        anyhow::Ok(())
    })?;
    Ok(())
}
