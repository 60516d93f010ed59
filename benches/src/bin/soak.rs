//! `symx-soak`: runs the real `symxd` binary under symbolication, uploads, deletes and purges
//! at once, samples its memory, file descriptors, threads and cache, and fails when memory
//! leaves its budget or keeps growing.
//!
//!   symx-soak --seconds 600            # the issue's 10 minutes
//!   symx-soak --seconds 150            # the shortened run of .ci/run
//!
//! `symxd` (beside this binary, or `--symxd`) starts on a temporary data directory with its
//! default settings except: the cache budget (`--cache-mib`, default 64 MiB, smaller than the
//! indexes the run touches, so the cache evicts all along), and purge after 2 s every 5 s (so
//! deleted artifacts are purged during the run). The load:
//! * `--concurrency` symbolicate callers (batches of 200 JavaScript frames) over the live
//!   releases, picked at random;
//! * an uploader: a new release every `--upload-every-ms` (a generated bundle map of about
//!   3 MB with its minified file, each different);
//! * a deleter: once `--live` releases exist, each upload deletes the oldest live one.
//!
//! Every 2 s: `VmRSS`, `VmHWM`, `Threads` (`/proc/<pid>/status`), open descriptors
//! (`/proc/<pid>/fd`) and `symx_cache_bytes` (`/metrics`). The first third of the run is
//! warm-up. It fails when:
//! * RSS ever exceeds the cache budget plus `--overhead-mib` (default 448: the fixed part of
//!   the memory budget in README: runtime and buffers, RocksDB's bounded write buffers and
//!   block cache, and index builds of the uploads in flight);
//! * the mean RSS of the last third exceeds the middle third's by more than 10% + 16 MiB
//!   (growth after warm-up), or descriptors or threads grow by more than 16;
//! * any request fails (symbolicate, upload or delete errors; missing frames of a release
//!   deleted meanwhile are answers, not errors).

use anyhow::{Context, Result, bail};
use clap::Parser;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use symx_proto::v1 as pb;
use symx_proto::v1::artifact_service_client::ArtifactServiceClient;
use symx_proto::v1::symbolication_service_client::SymbolicationServiceClient;
use tonic::transport::Channel;

#[derive(Parser, Debug)]
struct Args {
    /// Length of the run in seconds (a third of it is warm-up).
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// The symxd binary (default: beside this one).
    #[arg(long)]
    symxd: Option<PathBuf>,
    /// symxd's `cache.max_bytes`, in MiB.
    #[arg(long, default_value_t = 64)]
    cache_mib: u64,
    /// Memory allowed above the cache budget, in MiB.
    #[arg(long, default_value_t = 448)]
    overhead_mib: u64,
    /// Concurrent symbolicate callers.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Milliseconds between uploads.
    #[arg(long, default_value_t = 1500)]
    upload_every_ms: u64,
    /// Releases kept live; older ones are deleted.
    #[arg(long, default_value_t = 24)]
    live: u64,
}

const SERVICE: &str = "soak";
const URL: &str = "https://cdn.example.com/static/js/app.min.js";
const LINES: u32 = 400;
const PER_LINE: u32 = 250;

/// A generated bundle map for release `seed` and its minified file: `LINES` lines of
/// `PER_LINE` mappings each (column 7k), over 300 sources with content and 5,000 names.
fn bundle(seed: u64) -> (Vec<u8>, Vec<u8>) {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let vlq = |out: &mut String, v: i64| {
        let mut n = if v < 0 { ((-v) << 1) | 1 } else { v << 1 } as u64;
        loop {
            let mut digit = (n & 31) as usize;
            n >>= 5;
            if n > 0 {
                digit |= 32;
            }
            out.push(B64[digit] as char);
            if n == 0 {
                break;
            }
        }
    };
    let (sources, names) = (300i64, 5_000i64);
    let mut map = String::from(r#"{"version":3,"file":"app.min.js","sources":["#);
    for s in 0..sources {
        let _ = write!(
            map,
            "{}\"webpack://soak/src/r{seed}/m{s}.ts\"",
            if s > 0 { "," } else { "" }
        );
    }
    map.push_str(r#"],"sourcesContent":["#);
    for s in 0..sources {
        let _ = write!(map, "{}\"", if s > 0 { "," } else { "" });
        for l in 0..40 {
            let _ = write!(map, "export const v{seed}_{s}_{l} = compute({l});\\n");
        }
        map.push('"');
    }
    map.push_str(r#"],"names":["#);
    for n in 0..names {
        let _ = write!(map, "{}\"n{seed}_{n}\"", if n > 0 { "," } else { "" });
    }
    map.push_str(r#"],"mappings":""#);
    let mut minified = String::new();
    let (mut src, mut name, mut src_line) = (0i64, 0i64, 0i64);
    for line in 0..LINES as i64 {
        if line > 0 {
            map.push(';');
            minified.push('\n');
        }
        for seg in 0..PER_LINE as i64 {
            if seg > 0 {
                map.push(',');
            }
            vlq(&mut map, if seg == 0 { 0 } else { 7 });
            let next_src = (line * 13 + seg + seed as i64) % sources;
            vlq(&mut map, next_src - src);
            src = next_src;
            let next_line = (line + seg) % 40;
            vlq(&mut map, next_line - src_line);
            src_line = next_line;
            vlq(&mut map, 0);
            let next_name = (line * 31 + seg) % names;
            vlq(&mut map, next_name - name);
            name = next_name;
            minified.push_str("a.b(c,d);");
        }
    }
    map.push_str("\"}");
    (map.into_bytes(), minified.into_bytes())
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn version(n: u64) -> String {
    format!("r{n}")
}

async fn upload(client: &mut ArtifactServiceClient<Channel>, n: u64) -> Result<()> {
    let (map, minified) = tokio::task::spawn_blocking(move || bundle(n)).await?;
    let mut msgs = vec![pb::UploadRequest {
        payload: Some(pb::upload_request::Payload::Metadata(pb::UploadMetadata {
            r#type: pb::UploadType::JsSourcemap as i32,
            service: SERVICE.into(),
            version: version(n),
            minified_url: URL.into(),
            ..Default::default()
        })),
    }];
    for (part, data) in [("source_map", &map), ("minified_file", &minified)] {
        for chunk in data.chunks(1 << 20) {
            msgs.push(pb::UploadRequest {
                payload: Some(pb::upload_request::Payload::Chunk(pb::FileChunk {
                    part: part.into(),
                    data: chunk.to_vec(),
                })),
            });
        }
    }
    client
        .upload(tokio_stream::iter(msgs))
        .await
        .with_context(|| format!("upload of {}", version(n)))?;
    Ok(())
}

async fn delete(client: &mut ArtifactServiceClient<Channel>, n: u64) -> Result<()> {
    let deleted = client
        .delete(pb::DeleteRequest {
            mapkind: pb::MapKind::Js as i32,
            filters: vec![
                pb::Filter {
                    name: "service".into(),
                    values: vec![SERVICE.into()],
                },
                pb::Filter {
                    name: "version".into(),
                    values: vec![version(n)],
                },
            ],
            dry_run: false,
        })
        .await
        .with_context(|| format!("delete of {}", version(n)))?
        .into_inner();
    if deleted.artifacts.len() != 1 {
        bail!(
            "delete of {} removed {} artifacts",
            version(n),
            deleted.artifacts.len()
        );
    }
    Ok(())
}

fn request(n: u64, rng: &mut Rng) -> pb::SymbolicateRequest {
    let frames = (0..200)
        .map(|_| {
            let line = 1 + (rng.next() % LINES as u64) as u32;
            let col = 1 + 7 * (rng.next() % PER_LINE as u64) as u32;
            pb::Frame {
                frame: Some(pb::frame::Frame::Js(pb::JsFrame {
                    abs_path: URL.into(),
                    line,
                    column: col,
                    ..Default::default()
                })),
            }
        })
        .collect();
    pb::SymbolicateRequest {
        stacktraces: vec![pb::StackTrace {
            service: SERVICE.into(),
            version: version(n),
            frames,
            ..Default::default()
        }],
        context_lines: 0,
        debug_ids: Default::default(),
        explain: false,
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    at_s: f64,
    rss_kb: u64,
    hwm_kb: u64,
    threads: u64,
    fds: u64,
    cache_bytes: u64,
    frames: u64,
}

fn proc_status(pid: u32) -> Result<(u64, u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Ok((field("VmRSS"), field("VmHWM"), field("Threads")))
}

/// `symx_cache_bytes` from `/metrics` (a plain HTTP/1.0 GET).
async fn cache_bytes(http: &str) -> Result<u64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(http).await?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: soak\r\n\r\n")
        .await?;
    let mut body = String::new();
    s.read_to_string(&mut body).await?;
    Ok(body
        .lines()
        .filter(|l| l.starts_with("symx_cache_bytes"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}

struct Symxd {
    child: Child,
    grpc: String,
    http: String,
    _dir: tempfile::TempDir,
}

impl Drop for Symxd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn spawn(args: &Args) -> Result<Symxd> {
    let bin = match &args.symxd {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("no directory of the soak binary")?
            .join("symxd"),
    };
    let dir = tempfile::tempdir()?;
    let grpc = format!("127.0.0.1:{}", free_port()?);
    let http = format!("127.0.0.1:{}", free_port()?);
    let child = Command::new(&bin)
        .arg("--data-dir")
        .arg(dir.path())
        .env("SYMX_SERVER_GRPC_ADDR", &grpc)
        .env("SYMX_SERVER_HTTP_ADDR", &http)
        .env("SYMX_CACHE_MAX_BYTES", (args.cache_mib << 20).to_string())
        .env("SYMX_STORAGE_PURGE_AFTER_SECS", "2")
        .env("SYMX_STORAGE_PURGE_INTERVAL_SECS", "5")
        .env("SYMX_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    Ok(Symxd {
        child,
        grpc,
        http,
        _dir: dir,
    })
}

async fn connect(addr: &str) -> Result<Channel> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Channel::from_shared(format!("http://{addr}"))?
            .connect()
            .await
        {
            Ok(ch) => return Ok(ch),
            Err(e) if Instant::now() > deadline => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn mean(xs: &[Sample], f: impl Fn(&Sample) -> u64) -> f64 {
    xs.iter().map(|s| f(s) as f64).sum::<f64>() / xs.len().max(1) as f64
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let daemon = spawn(&args)?;
    let pid = daemon.child.id();
    let channel = connect(&daemon.grpc).await?;
    let mut artifacts =
        ArtifactServiceClient::new(channel.clone()).max_decoding_message_size(64 << 20);
    // A first set of live releases before the clock starts.
    let first = args.live.min(8);
    for n in 0..first {
        upload(&mut artifacts, n).await?;
    }
    let live = Arc::new((AtomicU64::new(0), AtomicU64::new(first)));
    let stop = Arc::new(AtomicBool::new(false));
    let frames = Arc::new(AtomicU64::new(0));
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut tasks = Vec::new();

    for w in 0..args.concurrency {
        let (live, stop, frames, errors) =
            (live.clone(), stop.clone(), frames.clone(), errors.clone());
        let mut client = SymbolicationServiceClient::new(channel.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (w as u64 + 1));
            while !stop.load(Ordering::Relaxed) {
                let (lo, hi) = (
                    live.0.load(Ordering::Relaxed),
                    live.1.load(Ordering::Relaxed),
                );
                let n = lo + rng.next() % (hi - lo).max(1);
                match client.symbolicate(request(n, &mut rng)).await {
                    Ok(r) => {
                        let r = r.into_inner();
                        frames.fetch_add(
                            r.stacktraces.iter().map(|s| s.frames.len() as u64).sum(),
                            Ordering::Relaxed,
                        );
                    }
                    Err(e) => errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("symbolicate {}: {e}", version(n))),
                }
            }
        }));
    }
    {
        let (live, stop, errors) = (live.clone(), stop.clone(), errors.clone());
        let mut client = artifacts.clone();
        let (every, keep) = (Duration::from_millis(args.upload_every_ms), args.live);
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let next = live.1.load(Ordering::Relaxed);
                let mut result = upload(&mut client, next).await;
                if result.is_ok() {
                    live.1.store(next + 1, Ordering::Relaxed);
                    let lo = live.0.load(Ordering::Relaxed);
                    if next + 1 - lo > keep {
                        live.0.store(lo + 1, Ordering::Relaxed);
                        result = delete(&mut client, lo).await;
                    }
                }
                if let Err(e) = result {
                    errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("{e:#}"));
                }
                tokio::time::sleep(every).await;
            }
        }));
    }

    let started = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    println!("   t(s)   RSS(MiB)  HWM(MiB)  threads  fds  cache(MiB)  frames/s  releases");
    let mut last_frames = 0u64;
    while started.elapsed() < Duration::from_secs(args.seconds) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (rss_kb, hwm_kb, threads) = proc_status(pid).context("symxd exited")?;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64;
        let cache = cache_bytes(&daemon.http).await.unwrap_or(0);
        let total = frames.load(Ordering::Relaxed);
        let s = Sample {
            at_s: started.elapsed().as_secs_f64(),
            rss_kb,
            hwm_kb,
            threads,
            fds,
            cache_bytes: cache,
            frames: total,
        };
        println!(
            "{:7.0} {:10.1} {:9.1} {:8} {:4} {:11.1} {:9.0} {:9}",
            s.at_s,
            rss_kb as f64 / 1024.0,
            s.hwm_kb as f64 / 1024.0,
            threads,
            fds,
            cache as f64 / 1_048_576.0,
            (total - last_frames) as f64 / 2.0,
            live.1.load(Ordering::Relaxed),
        );
        last_frames = total;
        samples.push(s);
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }

    let third = samples.len() / 3;
    if third == 0 {
        bail!("the run is too short to judge: give --seconds of at least 18");
    }
    let (middle, last) = (&samples[third..2 * third], &samples[2 * third..]);
    let after_warmup = &samples[third..];
    let budget_kb = (args.cache_mib + args.overhead_mib) * 1024;
    let peak_rss = after_warmup.iter().map(|s| s.rss_kb).max().unwrap_or(0);
    let (m_rss, l_rss) = (mean(middle, |s| s.rss_kb), mean(last, |s| s.rss_kb));
    let grow = |f: fn(&Sample) -> u64| {
        let before = middle.iter().map(f).max().unwrap_or(0);
        let after = last.iter().map(f).max().unwrap_or(0);
        after.saturating_sub(before)
    };
    let secs = samples.last().map_or(1.0, |s| s.at_s);
    let total_frames = samples.last().map_or(0, |s| s.frames);
    println!(
        "summary: {:.0} frames/s, RSS means by third {:.1} / {:.1} / {:.1} MiB, peak after warm-up {:.1} MiB (bound {} MiB), cache peak {:.1} MiB",
        total_frames as f64 / secs,
        mean(&samples[..third], |s| s.rss_kb) / 1024.0,
        m_rss / 1024.0,
        l_rss / 1024.0,
        peak_rss as f64 / 1024.0,
        budget_kb / 1024,
        samples.iter().map(|s| s.cache_bytes).max().unwrap_or(0) as f64 / 1_048_576.0,
    );
    let mut failures = Vec::new();
    let errors = errors.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if !errors.is_empty() {
        failures.push(format!(
            "{} failed requests, first: {}",
            errors.len(),
            errors[0]
        ));
    }
    if peak_rss > budget_kb {
        failures.push(format!(
            "RSS reached {:.1} MiB, above the cache budget + overhead of {} MiB",
            peak_rss as f64 / 1024.0,
            budget_kb / 1024
        ));
    }
    if l_rss > m_rss * 1.10 + 16.0 * 1024.0 {
        failures.push(format!(
            "RSS keeps growing after warm-up: mean {:.1} MiB in the middle third, {:.1} MiB in the last",
            m_rss / 1024.0,
            l_rss / 1024.0
        ));
    }
    for (what, f) in [
        (
            "open descriptors",
            (|s: &Sample| s.fds) as fn(&Sample) -> u64,
        ),
        ("threads", |s: &Sample| s.threads),
    ] {
        let g = grow(f);
        if g > 16 {
            failures.push(format!("{what} grew by {g} after warm-up"));
        }
    }
    if total_frames == 0 {
        failures.push("no frame was symbolicated".into());
    }
    if failures.is_empty() {
        println!("soak: flat");
        Ok(())
    } else {
        for f in &failures {
            eprintln!("soak: {f}");
        }
        bail!("soak failed: {}", failures.join("; "))
    }
}
