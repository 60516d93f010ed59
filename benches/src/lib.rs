//! Shared setup of the benchmarks and the load generator: the real benchmark map, a store
//! holding it, and an in-process service serving it.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use symx_service::{Config, Frame, StackTrace, SymbolicateRequest, SymbolicateResponse, Symx};
use symx_sourcemap::JsIndex;
use symx_storage::{ArtifactRecord, FileRecord, NewArtifact, NewBlob, Storage, StorageOptions};
use symx_types::{ArtifactId, ArtifactKind, JsFrame, Tenant, UploadMetadata, UploadType};

/// Where `benches/data/make.sh` writes its output.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bench-data")
}

pub const SERVICE: &str = "bench";
pub const VERSION: &str = "1.0.0";
pub const URL: &str = "https://cdn.example.com/static/ts.min.js";

/// The benchmark map and its minified file, in memory.
pub struct BenchMap {
    pub map: Vec<u8>,
    pub minified: Vec<u8>,
}

impl BenchMap {
    pub fn load() -> Result<Self> {
        let d = data_dir();
        let read = |name: &str| {
            std::fs::read(d.join(name)).with_context(|| {
                format!(
                    "{} is missing: run benches/data/make.sh first (needs node and npm)",
                    d.join(name).display()
                )
            })
        };
        Ok(Self {
            map: read("ts.min.js.map")?,
            minified: read("ts.min.js")?,
        })
    }
}

/// `n` 0-based (line, column) positions spread over the map's tokens, each a few columns
/// past its token so lookups take the "greatest lower bound" path, not only exact hits.
pub fn positions(sm: &sourcemap::SourceMap, n: usize) -> Vec<(u32, u32)> {
    let count = sm.get_token_count() as usize;
    let step = (count / n).max(1);
    (0..n)
        .filter_map(|i| sm.get_token((i * step + i % 7) % count.max(1)))
        .map(|t| (t.get_dst_line(), t.get_dst_col() + (t.get_dst_col() % 3)))
        .collect()
}

/// A RocksDB store (in a temp dir) holding the benchmark artifact and its index.
pub struct StoredMap {
    _dir: tempfile::TempDir,
    storage: Storage,
    tenant: Tenant,
    id: ArtifactId,
}

impl StoredMap {
    pub fn new(m: &BenchMap) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let storage = Storage::open(&dir.path().join("db"), &StorageOptions::default())?;
        let built = symx_sourcemap::build_index(&m.map, Some(&m.minified))?;
        let mut meta = UploadMetadata::new(UploadType::JsSourcemap);
        meta.service = Some(SERVICE.into());
        meta.version = Some(VERSION.into());
        meta.minified_url = Some(URL.into());
        let map_path = dir.path().join("map");
        std::fs::write(&map_path, &m.map)?;
        let sha: [u8; 32] = Sha256::digest(&m.map).into();
        let tenant = Tenant::default();
        let id = ArtifactId::from_digest(ArtifactKind::Js, &sha);
        storage.commit(NewArtifact {
            tenant: tenant.clone(),
            identity: meta.identity(),
            record: ArtifactRecord {
                id: id.clone(),
                kind: ArtifactKind::Js,
                metadata: meta,
                created_at_ms: 0,
                deleted_at_ms: None,
                files: vec![FileRecord {
                    part: "source_map".into(),
                    sha256: hex_of(&sha),
                    size: m.map.len() as u64,
                }],
                debug_id: None,
                lookups: vec![],
                indexes: vec!["js".into()],
            },
            blobs: vec![NewBlob {
                sha256: sha,
                path: map_path,
                size: m.map.len() as u64,
            }],
            indexes: vec![("js".into(), built.bytes)],
            overwrite: true,
        })?;
        Ok(Self {
            _dir: dir,
            storage,
            tenant,
            id,
        })
    }

    /// What a cache miss costs: read the persisted index, open it, resolve one frame.
    pub fn first_frame(&self, line: u32, col: u32) -> bool {
        let Ok(Some(bytes)) = self.storage.read_index(&self.tenant, &self.id, "js") else {
            return false;
        };
        match JsIndex::open(bytes) {
            Ok(idx) => idx.resolve(line + 1, col + 1, 0).is_ok(),
            Err(_) => false,
        }
    }
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An in-process service with the benchmark map uploaded through the real upload path.
pub struct ServiceFixture {
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
    symx: Symx,
    positions: Vec<(u32, u32)>,
}

impl ServiceFixture {
    pub fn new(m: &BenchMap) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let mut config = Config::default();
        config.storage.data_dir = dir.path().to_path_buf();
        let symx = Symx::open(config)?;
        rt.block_on(upload(&symx, m))?;
        let sm = match sourcemap::decode_slice(&m.map)? {
            sourcemap::DecodedMap::Regular(sm) => sm,
            _ => anyhow::bail!("the bench map is not a regular map"),
        };
        Ok(Self {
            _dir: dir,
            _rt: rt,
            symx,
            positions: positions(&sm, 4096),
        })
    }

    /// A request of `frames` JS frames (1-based positions), starting at position `offset`.
    pub fn request(&self, frames: usize, offset: usize) -> SymbolicateRequest {
        request(&self.positions, frames, offset)
    }

    pub fn symbolicate(&self, req: &SymbolicateRequest) -> SymbolicateResponse {
        self.symx.symbolicate_blocking(&Tenant::default(), req)
    }
}

/// Uploads the benchmark map through the service's upload path.
pub async fn upload(symx: &Symx, m: &BenchMap) -> Result<()> {
    let mut meta = UploadMetadata::new(UploadType::JsSourcemap);
    meta.service = Some(SERVICE.into());
    meta.version = Some(VERSION.into());
    meta.minified_url = Some(URL.into());
    meta.overwrite = true;
    let mut s = symx.begin_upload(Tenant::default(), meta, None).await?;
    for chunk in m.map.chunks(1 << 20) {
        s.write("source_map", chunk).await?;
    }
    for chunk in m.minified.chunks(1 << 20) {
        s.write("minified_file", chunk).await?;
    }
    s.finish().await?;
    Ok(())
}

/// A symbolicate request over the given 0-based positions.
pub fn request(positions: &[(u32, u32)], frames: usize, offset: usize) -> SymbolicateRequest {
    let frames = (0..frames)
        .map(|i| {
            let (l, c) = positions[(offset + i) % positions.len()];
            Frame::Js(JsFrame {
                url: URL.into(),
                line: l + 1,
                column: c + 1,
                ..JsFrame::default()
            })
        })
        .collect();
    SymbolicateRequest {
        stacktraces: vec![StackTrace {
            service: Some(SERVICE.into()),
            version: Some(VERSION.into()),
            frames,
            ..StackTrace::default()
        }],
        context_lines: 0,
        debug_ids: Default::default(),
        explain: false,
    }
}

/// A mapping of about `target` bytes; returns it and (obfuscated class, method, line) frames
/// that hit line ranges, a third of them inside inline chains.
pub fn jvm_mapping(target: usize) -> (String, Vec<(String, String, u32)>) {
    use std::fmt::Write;
    let mut out = String::with_capacity(target + 4096);
    out.push_str("# compiler: R8\n# compiler_version: 8.2.42\n# min_api: 24\n");
    out.push_str("# {\"id\":\"com.android.tools.r8.mapping\",\"version\":\"2.2\"}\n");
    let mut frames = Vec::new();
    let mut c = 0usize;
    while out.len() < target {
        let pkg = c / 50;
        let obf = format!("a{pkg}.b{}", c % 50);
        let _ = writeln!(
            out,
            "com.example.feature{pkg}.ui.Screen{c}Presenter -> {obf}:"
        );
        let _ = writeln!(
            out,
            "# {{\"id\":\"sourceFile\",\"fileName\":\"Screen{c}Presenter.kt\"}}"
        );
        let _ = writeln!(out, "    java.lang.String title -> a");
        let _ = writeln!(out, "    int count -> b");
        let mut line = 1u32;
        for m in 0..12u32 {
            let name = ["a", "b", "c", "d", "e", "f"][(m % 6) as usize];
            let orig = 20 + m * 15;
            let _ = writeln!(
                out,
                "    {line}:{}:void onEvent{m}(android.os.Bundle,int):{orig}:{} -> {name}",
                line + 4,
                orig + 4
            );
            frames.push((obf.clone(), name.to_owned(), line + 2));
            line += 5;
            if m % 3 == 0 {
                // An inline chain: helper inlined into onEventM at one obfuscated line.
                let _ = writeln!(
                    out,
                    "    {line}:{line}:boolean com.example.core.Checks{}.isValid(java.lang.Object):{}:{} -> {name}",
                    c % 97,
                    40 + m,
                    40 + m
                );
                let _ = writeln!(
                    out,
                    "    {line}:{line}:void onEvent{m}(android.os.Bundle,int):{} -> {name}",
                    orig + 7
                );
                frames.push((obf.clone(), name.to_owned(), line));
                line += 1;
            }
        }
        c += 1;
    }
    (out, frames)
}

/// Up to `n` addresses inside the functions of an ELF file (from `nm -S`: functions with a
/// size), spread evenly, each at a different offset into its function.
pub fn function_addresses(bin: &std::path::Path, n: usize) -> Result<Vec<u64>> {
    let out = std::process::Command::new("nm")
        .args(["-S", "--defined-only"])
        .arg(bin)
        .output()
        .context("nm (binutils) runs")?;
    let mut funcs: Vec<(u64, u64)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let addr = u64::from_str_radix(w.next()?, 16).ok()?;
            let size = u64::from_str_radix(w.next()?, 16).ok()?;
            let kind = w.next()?;
            (matches!(kind, "t" | "T") && size > 0).then_some((addr, size))
        })
        .collect();
    funcs.sort();
    anyhow::ensure!(!funcs.is_empty(), "no sized functions in {}", bin.display());
    Ok((0..n as u64)
        .map(|i| {
            let (addr, size) = funcs[(i as usize * funcs.len()) / n];
            addr + (i * 7919) % size
        })
        .collect())
}
