//! `symx-loadgen`: drives a symxd over real gRPC with batches of frames and reports frames per
//! second and batch latency percentiles. `--platform js` (default): the benchmark map;
//! `native`: an ELF file with DWARF (`--native-file`, default `bench-data/native.bin` from
//! `benches/data/make-native.sh`), addresses inside its functions; `jvm`: a generated R8 mapping
//! of `--jvm-mapping-bytes`, frames on its line ranges.
//!
//!   symx-loadgen --spawn                       # an in-process symxd on 127.0.0.1:0
//!   symx-loadgen --endpoint http://127.0.0.1:50051 --upload
//!   symx-loadgen --spawn --platform native
//!
//! With `--spawn` the server runs on its own runtime threads in this process; either way the
//! server and the load share the machine's cores, which the report states.
//!
//! Replicas (`[storage.s3]`, `benches/data/replicas.sh`): `--cold-miss N --probe URL` uploads
//! N+1 variants of the workload (their own content and identity) through `--endpoint`, then
//! asks `--probe` (a replica at its local byte budget) for one frame of each, so each request
//! fetches its payload from the bucket: latency percentiles of N;
//! `--visibility N --probe URL` uploads N variants through `--endpoint` and measures when
//! the probe replica first resolves each, with and without a "none" cached there before.

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
    /// Which frames: js, native or jvm.
    #[arg(long, default_value = "js")]
    platform: String,
    /// --platform native: the ELF file uploaded and symbolicated.
    #[arg(long)]
    native_file: Option<std::path::PathBuf>,
    /// --platform jvm: the size of the generated mapping, in bytes.
    #[arg(long, default_value_t = 20 << 20)]
    jvm_mapping_bytes: usize,
    /// Replicas: measure N cold misses on --probe (see the module docs).
    #[arg(long)]
    cold_miss: Option<usize>,
    /// Replicas: measure when --probe first resolves each of N uploads.
    #[arg(long)]
    visibility: Option<usize>,
    /// Replicas: the replica asked (uploads go through --endpoint).
    #[arg(long)]
    probe: Option<String>,
}

/// What is uploaded and the frames sent.
#[derive(Clone)]
struct Workload {
    what: String,
    meta: pb::UploadMetadata,
    parts: Vec<(&'static str, Vec<u8>)>,
    /// A stack trace without frames (its release), and the frames to spread over batches.
    trace: pb::StackTrace,
    frames: Vec<pb::Frame>,
}

impl Workload {
    fn upload(&self) -> Vec<pb::UploadRequest> {
        let parts: Vec<(&str, &[u8])> = self.parts.iter().map(|(p, d)| (*p, &d[..])).collect();
        chunks(self.meta.clone(), &parts)
    }

    /// Variant `i`: content and identity of its own (another version; for native files,
    /// another build id), so it is another artifact with payloads of its own.
    fn variant(&self, i: usize) -> Result<Workload> {
        let mut w = self.clone();
        let version = format!("{VERSION}-v{i}");
        if !w.meta.version.is_empty() {
            w.meta.version.clone_from(&version);
            w.trace.version.clone_from(&version);
        }
        let (part, data) = w.parts.first_mut().context("no parts")?;
        match *part {
            // A field no reader knows, first in the map's object.
            "source_map" => {
                let at = data
                    .iter()
                    .position(|b| *b == b'{')
                    .context("map is no object")?;
                let field = format!("\"x_symx_variant\":{i},");
                data.splice(at + 1..at + 1, field.into_bytes());
            }
            "jvm_mapping_file" => {
                data.splice(0..0, format!("# variant {i}\n").into_bytes());
            }
            "elf_symbol_file" => {
                let Some(pb::frame::Frame::Native(f)) =
                    w.frames.first().and_then(|f| f.frame.clone())
                else {
                    anyhow::bail!("no native frame");
                };
                let id = hex::decode(&f.code_id)?;
                let at = data
                    .windows(id.len())
                    .position(|win| win == id.as_slice())
                    .context("build id not found in the file")?;
                let last = at + id.len() - 1;
                data[last] ^= (i as u8).wrapping_add(1);
                let new_id = hex::encode(&data[at..at + id.len()]);
                for frame in &mut w.frames {
                    if let Some(pb::frame::Frame::Native(n)) = &mut frame.frame {
                        n.code_id.clone_from(&new_id);
                    }
                }
            }
            other => anyhow::bail!("no variant of part {other}"),
        }
        Ok(w)
    }
}

fn chunks(meta: pb::UploadMetadata, parts: &[(&str, &[u8])]) -> Vec<pb::UploadRequest> {
    let mut msgs = vec![pb::UploadRequest {
        payload: Some(pb::upload_request::Payload::Metadata(meta)),
    }];
    for (part, data) in parts {
        for chunk in data.chunks(1 << 20) {
            msgs.push(pb::UploadRequest {
                payload: Some(pb::upload_request::Payload::Chunk(pb::FileChunk {
                    part: (*part).into(),
                    data: chunk.to_vec(),
                })),
            });
        }
    }
    msgs
}

fn js_workload() -> Result<Workload> {
    let m = BenchMap::load()?;
    let sm = match sourcemap::decode_slice(&m.map)? {
        sourcemap::DecodedMap::Regular(sm) => sm,
        _ => anyhow::bail!("the bench map is not a regular map"),
    };
    let frames = positions(&sm, 8192)
        .into_iter()
        .map(|(l, c)| pb::Frame {
            frame: Some(pb::frame::Frame::Js(pb::JsFrame {
                abs_path: URL.into(),
                line: l + 1,
                column: c + 1,
                ..Default::default()
            })),
        })
        .collect();
    let meta = pb::UploadMetadata {
        r#type: pb::UploadType::JsSourcemap as i32,
        service: SERVICE.into(),
        version: VERSION.into(),
        minified_url: URL.into(),
        overwrite: true,
        ..Default::default()
    };
    Ok(Workload {
        what: format!("the {} byte map", m.map.len()),
        meta,
        parts: vec![("source_map", m.map), ("minified_file", m.minified)],
        trace: pb::StackTrace {
            service: SERVICE.into(),
            version: VERSION.into(),
            ..Default::default()
        },
        frames,
    })
}

fn native_workload(file: Option<std::path::PathBuf>) -> Result<Workload> {
    let path = file.unwrap_or_else(|| symx_benches::data_dir().join("native.bin"));
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "{}: run benches/data/make-native.sh or give --native-file",
            path.display()
        )
    })?;
    let info =
        symx_native::inspect_all(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let code_id = info
        .first()
        .and_then(|i| i.code_id.clone())
        .context("the file has no GNU build id")?;
    let frames = symx_benches::function_addresses(&path, 8192)?
        .into_iter()
        .map(|addr| pb::Frame {
            frame: Some(pb::frame::Frame::Native(pb::NativeFrame {
                code_id: code_id.clone(),
                instruction_addr: addr,
                exact: Some(true),
                ..Default::default()
            })),
        })
        .collect();
    let meta = pb::UploadMetadata {
        r#type: pb::UploadType::ElfSymbolFile as i32,
        overwrite: true,
        ..Default::default()
    };
    Ok(Workload {
        what: format!("{} ({} bytes)", path.display(), bytes.len()),
        meta,
        parts: vec![("elf_symbol_file", bytes)],
        trace: pb::StackTrace::default(),
        frames,
    })
}

fn jvm_workload(size: usize) -> Result<Workload> {
    let (text, sampled) = symx_benches::jvm_mapping(size);
    let frames = sampled
        .into_iter()
        .map(|(class, method, line)| pb::Frame {
            frame: Some(pb::frame::Frame::Jvm(pb::JvmFrame {
                class_name: class,
                method,
                line,
                file: "SourceFile".into(),
            })),
        })
        .collect();
    let meta = pb::UploadMetadata {
        r#type: pb::UploadType::JvmMappingFile as i32,
        service: SERVICE.into(),
        version: VERSION.into(),
        variant: "release".into(),
        overwrite: true,
        ..Default::default()
    };
    Ok(Workload {
        what: format!("a generated {} byte R8 mapping", text.len()),
        meta,
        parts: vec![("jvm_mapping_file", text.into_bytes())],
        trace: pb::StackTrace {
            service: SERVICE.into(),
            version: VERSION.into(),
            variant: "release".into(),
            ..Default::default()
        },
        frames,
    })
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

async fn upload(ch: Conn, msgs: Vec<pb::UploadRequest>) -> Result<()> {
    let mut client = ArtifactServiceClient::new(ch);
    client.upload(tokio_stream::iter(msgs)).await?;
    Ok(())
}

fn requests(w: &Workload, batch: usize, n: usize) -> Vec<pb::SymbolicateRequest> {
    (0..n)
        .map(|r| pb::SymbolicateRequest {
            stacktraces: vec![pb::StackTrace {
                frames: (0..batch)
                    .map(|i| w.frames[(r * batch + i) % w.frames.len()].clone())
                    .collect(),
                ..w.trace.clone()
            }],
            context_lines: 0,
            debug_ids: Default::default(),
            explain: false,
        })
        .collect()
}

fn main() -> Result<()> {
    let args = Args::parse();
    let work = match args.platform.as_str() {
        "js" => js_workload()?,
        "native" => native_workload(args.native_file.clone())?,
        "jvm" => jvm_workload(args.jvm_mapping_bytes)?,
        other => anyhow::bail!("--platform {other}: use js, native or jvm"),
    };

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
        if args.cold_miss.is_some() || args.visibility.is_some() {
            let probe = args.probe.clone().context("--probe: the replica asked")?;
            let probe = tonic::service::interceptor::InterceptedService::new(
                Channel::from_shared(probe.clone())?
                    .connect()
                    .await
                    .with_context(|| format!("cannot connect to {probe}"))?,
                KeyHeader(key.clone()),
            );
            if let Some(n) = args.cold_miss {
                return cold_misses(&work, channels[0].clone(), probe, n).await;
            }
            if let Some(n) = args.visibility {
                return visibility(&work, channels[0].clone(), probe, n).await;
            }
        }
        if args.spawn || args.upload {
            let t = Instant::now();
            upload(channels[0].clone(), work.upload()).await?;
            eprintln!("uploaded {} in {:?}", work.what, t.elapsed());
        }
        let reqs = Arc::new(requests(&work, args.batch, 64));
        // Check that the frames resolve before measuring.
        let mut probe = SymbolicationServiceClient::new(channels[0].clone());
        let r = probe.symbolicate(reqs[0].clone()).await?.into_inner();
        let resolved = r.stacktraces[0]
            .frames
            .iter()
            .filter(|f| f.status == pb::FrameStatus::Resolved as i32)
            .count();
        // JavaScript positions all resolve; a few native addresses (padding inside a symbol's
        // size) or JVM lines may not, which the report states.
        anyhow::ensure!(
            resolved * 10 >= args.batch * 9,
            "only {resolved} of {} probe frames resolved",
            args.batch
        );

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
            "frames/s: {:.0}  platform: {} ({resolved}/{} probe frames resolved)  batches: {}  errors: {}  api key: {}  batch={} concurrency={} connections={}  latency p50={:?} p99={:?}  cores={}",
            n as f64 / elapsed.as_secs_f64(),
            args.platform,
            args.batch,
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// One frame of `w` asked of `ch`: whether it resolved.
async fn one_frame(ch: &Conn, w: &Workload) -> Result<bool> {
    let mut client = SymbolicationServiceClient::new(ch.clone());
    let r = client
        .symbolicate(pb::SymbolicateRequest {
            stacktraces: vec![pb::StackTrace {
                frames: vec![w.frames[0].clone()],
                ..w.trace.clone()
            }],
            context_lines: 0,
            debug_ids: Default::default(),
            explain: false,
        })
        .await?
        .into_inner();
    Ok(r.stacktraces[0].frames[0].status == pb::FrameStatus::Resolved as i32)
}

/// N+1 variants uploaded, then (once the probe has read them from the log) one frame of each
/// but the first asked of the probe: a probe at its local budget took them as catalog
/// entries alone, so each is a cold miss (files and index fetched from the bucket, the index
/// loaded) that no cache of the probe can answer. The first upload is not measured: the
/// probe, empty then, fetched it whole.
async fn cold_misses(w: &Workload, upload_to: Conn, probe: Conn, n: usize) -> Result<()> {
    let mut variants = Vec::with_capacity(n + 1);
    for i in 0..=n {
        let v = w.variant(i)?;
        let t = Instant::now();
        upload(upload_to.clone(), v.upload()).await?;
        eprintln!("uploaded {} (variant {i}) in {:?}", v.what, t.elapsed());
        variants.push(v);
    }
    // Two poll periods of the default 5 s.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let mut lat = Vec::with_capacity(n);
    for (i, v) in variants.iter().enumerate().skip(1) {
        let t = Instant::now();
        anyhow::ensure!(one_frame(&probe, v).await?, "variant {i} not resolved");
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "cold misses: {n} of {}  p50={:?} p99={:?} min={:?} max={:?}",
        w.what,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.first().copied().unwrap_or_default(),
        lat.last().copied().unwrap_or_default(),
    );
    Ok(())
}

/// N variants uploaded in turn; after each acknowledgement the probe is asked every 10 ms
/// until it resolves a frame of it. Odd variants were asked of the probe before their upload
/// (a "none" cached there), even ones were not.
async fn visibility(w: &Workload, upload_to: Conn, probe: Conn, n: usize) -> Result<()> {
    let (mut fresh, mut negative) = (Vec::new(), Vec::new());
    for i in 0..n {
        let v = w.variant(100 + i)?;
        let primed = i % 2 == 1;
        if primed {
            anyhow::ensure!(!one_frame(&probe, &v).await?, "resolved before its upload");
        }
        upload(upload_to.clone(), v.upload()).await?;
        let t = Instant::now();
        while !one_frame(&probe, &v).await? {
            anyhow::ensure!(
                t.elapsed() < Duration::from_secs(120),
                "variant {i} never seen"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if primed {
            negative.push(t.elapsed());
        } else {
            fresh.push(t.elapsed());
        }
    }
    fresh.sort();
    negative.sort();
    println!(
        "seen on the probe after the upload's acknowledgement, {}: none cached before: p50={:?} max={:?} ({} uploads); a none cached before: p50={:?} max={:?} ({} uploads)",
        w.what,
        percentile(&fresh, 0.5),
        fresh.last().copied().unwrap_or_default(),
        fresh.len(),
        percentile(&negative, 0.5),
        negative.last().copied().unwrap_or_default(),
        negative.len(),
    );
    Ok(())
}
