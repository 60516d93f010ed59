//! Test harness: a real `symxd` (in process on 127.0.0.1:0, or as a child process) over a
//! real RocksDB in a temporary directory, with real gRPC and HTTP clients.

use std::path::{Path, PathBuf};
use std::time::Duration;
use symx_proto::v1 as pb;
use symx_proto::v1::artifact_service_client::ArtifactServiceClient;
use symx_proto::v1::key_service_client::KeyServiceClient;
use symx_proto::v1::symbolication_service_client::SymbolicationServiceClient;
use symx_server::Server;
use symx_service::Config;
use tonic::transport::Channel;

/// The repository root (fixtures live under `tests/fixtures`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

pub fn fixture(rel: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(rel)
}

/// A configuration for tests: ephemeral ports on loopback, data in `dir`.
pub fn test_config(dir: &Path) -> Config {
    let mut c = Config::default();
    c.server.grpc_addr = "127.0.0.1:0".parse().expect("addr");
    c.server.http_addr = "127.0.0.1:0".parse().expect("addr");
    c.server.shutdown_grace_secs = 2;
    c.storage.data_dir = dir.to_path_buf();
    c.cache.max_bytes = 64 << 20;
    c
}

/// A server running in this process.
pub struct TestServer {
    pub server: Server,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let server = Server::start(test_config(dir.path())).await?;
        Ok(Self { server, dir })
    }

    pub async fn start_with(config: impl FnOnce(&mut Config)) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut c = test_config(dir.path());
        config(&mut c);
        let server = Server::start(c).await?;
        Ok(Self { server, dir })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.grpc_addr)
    }

    pub fn http(&self) -> String {
        format!("http://{}", self.server.http_addr)
    }

    pub async fn channel(&self) -> anyhow::Result<Channel> {
        Ok(Channel::from_shared(self.endpoint())?.connect().await?)
    }

    pub async fn artifacts(&self) -> anyhow::Result<ArtifactServiceClient<Channel>> {
        // GetSourceMap answers a whole map: as large as an upload may be.
        Ok(ArtifactServiceClient::new(self.channel().await?).max_decoding_message_size(1 << 30))
    }

    pub async fn symbolication(&self) -> anyhow::Result<SymbolicationServiceClient<Channel>> {
        Ok(SymbolicationServiceClient::new(self.channel().await?))
    }

    pub async fn keys(&self) -> anyhow::Result<KeyServiceClient<Channel>> {
        Ok(KeyServiceClient::new(self.channel().await?))
    }

    /// Stops the server and starts a new one on the same data directory (new ports).
    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.http()))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// A key of `tenant` with `scopes`, made in process the way `symxd keys create` makes
    /// one: no caller key needed, even once authentication is on.
    pub async fn tenant_key(&self, tenant: &str, scopes: &[&str]) -> String {
        self.server
            .symx
            .create_key(
                &symx_service::Principal::open(),
                Some(symx_types::Tenant::new(tenant).expect("tenant")),
                &format!("{tenant}-{}", scopes.join("-")),
                &scopes.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            )
            .await
            .expect("key")
            .token
    }

    pub async fn restart(self) -> anyhow::Result<Self> {
        let Self { server, dir } = self;
        server.shutdown().await?;
        let server = Server::start(test_config(dir.path())).await?;
        Ok(Self { server, dir })
    }
}

/// Metadata of a `js_sourcemap` upload.
pub fn js_meta(service: &str, version: &str, minified_url: &str) -> pb::UploadMetadata {
    pb::UploadMetadata {
        r#type: pb::UploadType::JsSourcemap as i32,
        service: service.into(),
        version: version.into(),
        minified_url: minified_url.into(),
        ..Default::default()
    }
}

/// Streams an upload: metadata, then each part in chunks of `chunk` bytes.
pub async fn upload(
    client: &mut ArtifactServiceClient<Channel>,
    meta: pb::UploadMetadata,
    parts: &[(&str, Vec<u8>)],
) -> Result<pb::UploadResponse, tonic::Status> {
    client
        .upload(tokio_stream::iter(upload_messages(meta, parts)))
        .await
        .map(|r| r.into_inner())
}

/// The same, presenting an API key.
pub async fn upload_as(
    client: &mut ArtifactServiceClient<Channel>,
    key: &str,
    meta: pb::UploadMetadata,
    parts: &[(&str, Vec<u8>)],
) -> Result<pb::UploadResponse, tonic::Status> {
    client
        .upload(with_key(
            tokio_stream::iter(upload_messages(meta, parts)),
            key,
        ))
        .await
        .map(|r| r.into_inner())
}

/// A request carrying `authorization: Bearer <key>` metadata.
pub fn with_key<T>(message: T, key: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    if let Ok(v) = format!("Bearer {key}").parse() {
        req.metadata_mut().insert("authorization", v);
    }
    req
}

fn upload_messages(meta: pb::UploadMetadata, parts: &[(&str, Vec<u8>)]) -> Vec<pb::UploadRequest> {
    let mut msgs = vec![upload_metadata_message(meta)];
    for (name, data) in parts {
        // Small chunks so every test exercises reassembly.
        for chunk in data
            .chunks(64 * 1024)
            .chain(data.is_empty().then_some(&[][..]))
        {
            msgs.push(upload_chunk_message(name, chunk));
        }
    }
    msgs
}

/// The first message of an upload stream.
pub fn upload_metadata_message(meta: pb::UploadMetadata) -> pb::UploadRequest {
    pb::UploadRequest {
        payload: Some(pb::upload_request::Payload::Metadata(meta)),
    }
}

/// A chunk of file part `part` in an upload stream.
pub fn upload_chunk_message(part: &str, data: &[u8]) -> pb::UploadRequest {
    pb::UploadRequest {
        payload: Some(pb::upload_request::Payload::Chunk(pb::FileChunk {
            part: part.into(),
            data: data.to_vec(),
        })),
    }
}

/// The upload parts of a fixture pair in `tests/fixtures/js/<dir>/`: the map and the
/// minified file.
pub fn js_fixture_parts(dir: &str, minified: &str) -> Vec<(&'static str, Vec<u8>)> {
    let d = fixture(&format!("js/{dir}"));
    let js = std::fs::read(d.join(minified)).expect("fixture minified file");
    let map = std::fs::read(d.join(format!("{minified}.map"))).expect("fixture map");
    vec![("source_map", map), ("minified_file", js)]
}

/// Uploads a fixture pair from `tests/fixtures/js/<dir>/`.
pub async fn upload_js_fixture(
    client: &mut ArtifactServiceClient<Channel>,
    dir: &str,
    minified: &str,
    meta: pb::UploadMetadata,
) -> Result<pb::UploadResponse, tonic::Status> {
    upload(client, meta, &js_fixture_parts(dir, minified)).await
}

pub fn js_frame(url: &str, line: u32, col: u32) -> pb::Frame {
    pb::Frame {
        frame: Some(pb::frame::Frame::Js(pb::JsFrame {
            abs_path: url.into(),
            line,
            column: col,
            ..Default::default()
        })),
    }
}

/// The path of a workspace binary built beside the test binary (`symxd`, `symx`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/e2e-<hash> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    dir.join(name)
}

/// Waits until a TCP port accepts connections.
pub async fn wait_for_port(addr: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("{addr} did not open within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A free loopback port for a child process to bind (probed, then released). Taken from
/// 10000-19999, below Linux's ephemeral range: a port from that range, released, can be taken
/// by any outgoing connection on the machine before the child binds it (seen with many
/// replicas and Garage nodes connecting at once), while these are only ever bound on purpose.
pub fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7919);
    for _ in 0..10_000 {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = 10_000 + (start.wrapping_add(n) % 10_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

pub type Artifacts = ArtifactServiceClient<Channel>;
pub type Symbolication = SymbolicationServiceClient<Channel>;

/// Resolves one stack trace of `frames` for (service, version) and returns its frame results.
pub async fn symbolicate(
    sym: &mut Symbolication,
    service: &str,
    version: &str,
    frames: Vec<pb::Frame>,
    context_lines: u32,
) -> Vec<pb::FrameResult> {
    sym.symbolicate(pb::SymbolicateRequest {
        stacktraces: vec![pb::StackTrace {
            service: service.into(),
            version: version.into(),
            frames,
            ..Default::default()
        }],
        context_lines,
        debug_ids: Default::default(),
        explain: false,
    })
    .await
    .expect("symbolicate")
    .into_inner()
    .stacktraces
    .into_iter()
    .next()
    .map(|s| s.frames)
    .unwrap_or_default()
}

/// Lists live JS artifacts of a service in the given versions (first page of 100).
pub async fn list_js(art: &mut Artifacts, service: &str, versions: &[&str]) -> pb::ListResponse {
    art.list(pb::ListRequest {
        mapkind: pb::MapKind::Js as i32,
        filters: vec![
            filter("service", [service]),
            filter("version", versions.iter().copied()),
        ],
        page_size: Some(100),
        ..Default::default()
    })
    .await
    .expect("list")
    .into_inner()
}

/// Runs `symx symbolicate` on `text` (written to a file) against `srv`; returns stdout.
pub async fn symbolicate_text(srv: &TestServer, text: &str) -> String {
    symbolicate_text_with(srv, text, &[]).await
}

/// The same with extra `symbolicate` arguments (`--service`, `--build-id`, ...).
pub async fn symbolicate_text_with(srv: &TestServer, text: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("stack.txt");
    std::fs::write(&path, text).expect("write");
    let mut all: Vec<String> = vec!["--endpoint".into(), srv.endpoint(), "symbolicate".into()];
    all.extend(args.iter().map(|a| a.to_string()));
    all.push(path.to_string_lossy().into_owned());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(binary("symx"))
            .args(&all)
            .output()
            .expect("run symx")
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The arm64-only dSYM archive fixture and its UUID (as `llvm-dwarfdump --uuid` prints it).
pub fn thin_dsym_fixture() -> (String, Vec<u8>) {
    let uuids = std::fs::read_to_string(fixture("native/macho/uuids.txt")).expect("uuids.txt");
    let uuid = uuids
        .lines()
        .find(|l| l.ends_with("(arm64)"))
        .and_then(|l| l.split_whitespace().next())
        .expect("arm64 uuid")
        .to_owned();
    let zip = std::fs::read(fixture("native/macho/thin-arm64.dSYM.zip")).expect("fixture");
    (uuid, zip)
}

pub const BOUNDARY: &str = "symx-test-boundary-7d1f";

/// A multipart/form-data body: (name, filename, content type, bytes) per part.
pub fn multipart(parts: &[(&str, Option<&str>, &str, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, ctype, data) in parts {
        let mut head = format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"");
        if let Some(f) = filename {
            head.push_str(&format!("; filename=\"{f}\""));
        }
        head.push_str(&format!("\r\nContent-Type: {ctype}\r\n\r\n"));
        body.extend_from_slice(head.as_bytes());
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Runs the `symx` binary against `endpoint`.
pub fn symx_cli(endpoint: &str, args: &[&str]) -> std::process::Output {
    let bin = binary("symx");
    assert!(
        bin.exists(),
        "{} is missing: build the workspace binaries first (`cargo build --release --workspace --all-targets`)",
        bin.display()
    );
    std::process::Command::new(bin)
        .arg("--endpoint")
        .arg(endpoint)
        .args(args)
        .output()
        .expect("run symx")
}

/// The stdout of a `symx` run that must have succeeded.
pub fn stdout_of(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "symx failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The PE fixture's PDB signature (`tests/fixtures/native/pe/pdb.txt`): the GUID as
/// llvm-pdbutil prints it (with braces) and the age.
pub fn pe_fixture_signature() -> (String, u32) {
    let text = std::fs::read_to_string(fixture("native/pe/pdb.txt")).expect("pdb.txt");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .expect("pdb.txt field")
    };
    (field("GUID:"), field("Age:").parse().expect("age"))
}

/// `len` bytes of hex text that zstd cannot compress (xorshift64), seeded by `seed`: what a
/// bundle's embedded sources weigh in storage, without their redundancy.
pub fn incompressible_text(len: usize, seed: u64) -> String {
    let mut out = String::with_capacity(len + 16);
    let mut x = seed.max(1);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(&format!("{x:016x}"));
    }
    out
}

/// A real `symxd` process on loopback ports, killed (`kill -9`) when dropped.
pub struct Daemon {
    pub child: std::process::Child,
    pub grpc: String,
    pub http: String,
}

impl Daemon {
    /// Starts the built `symxd` on `dir` with default settings but for free loopback ports
    /// and the `SYMX_*` variables in `env`.
    pub fn spawn(dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::spawn_with(dir, env, &[])
    }

    /// [`spawn`](Self::spawn) with more command-line arguments (`--config FILE`).
    pub fn spawn_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Self {
        let bin = binary("symxd");
        assert!(
            bin.exists(),
            "{} is missing: build the workspace binaries first",
            bin.display()
        );
        let grpc = format!("127.0.0.1:{}", free_port());
        let http = format!("127.0.0.1:{}", free_port());
        let child = std::process::Command::new(bin)
            .arg("--data-dir")
            .arg(dir)
            .env("SYMX_SERVER_GRPC_ADDR", &grpc)
            .env("SYMX_SERVER_HTTP_ADDR", &http)
            .env("SYMX_LOG_LEVEL", "warn")
            .envs(env.iter().copied())
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn symxd");
        Self { child, grpc, http }
    }

    /// Waits until both listeners accept connections.
    pub async fn ready(&self) {
        for addr in [&self.grpc, &self.http] {
            wait_for_port(addr, Duration::from_secs(30))
                .await
                .expect("symxd listens");
        }
    }

    /// A field of `/proc/<pid>/status` in kB (`VmHWM`: peak resident set; `VmRSS`; `Threads`
    /// as a count).
    pub fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("symxd is running");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    /// `kill -9` and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A list or delete filter of the gRPC API: `filter[<name>]` with its values.
pub fn filter<S: Into<String>>(name: &str, values: impl IntoIterator<Item = S>) -> pb::Filter {
    pb::Filter {
        name: name.to_owned(),
        values: values.into_iter().map(Into::into).collect(),
    }
}

/// The platform detail of a resolved frame of the gRPC API, read flat in tests.
pub trait FrameDetail {
    /// JavaScript: the original identifier at the position ("" when none).
    fn symbol(&self) -> &str;
    /// Native: the mangled name ("" when none).
    fn mangled(&self) -> &str;
    /// Native: the offset into the function.
    fn function_offset(&self) -> Option<u64>;
    /// Native: the full signature ("" when none).
    fn signature(&self) -> &str;
    /// JVM: the original class ("" when none).
    fn class_name(&self) -> &str;
    /// Native (Unity IL2CPP): the C# file and line.
    fn managed(&self) -> Option<(&str, u32)>;
}

impl FrameDetail for pb::ResolvedFrame {
    fn symbol(&self) -> &str {
        match &self.detail {
            Some(pb::resolved_frame::Detail::Js(d)) => &d.symbol,
            _ => "",
        }
    }
    fn mangled(&self) -> &str {
        match &self.detail {
            Some(pb::resolved_frame::Detail::Native(d)) => &d.mangled,
            _ => "",
        }
    }
    fn function_offset(&self) -> Option<u64> {
        match &self.detail {
            Some(pb::resolved_frame::Detail::Native(d)) => d.function_offset,
            _ => None,
        }
    }
    fn signature(&self) -> &str {
        match &self.detail {
            Some(pb::resolved_frame::Detail::Native(d)) => &d.signature,
            _ => "",
        }
    }
    fn class_name(&self) -> &str {
        match &self.detail {
            Some(pb::resolved_frame::Detail::Jvm(d)) => &d.class_name,
            _ => "",
        }
    }
    fn managed(&self) -> Option<(&str, u32)> {
        match &self.detail {
            Some(pb::resolved_frame::Detail::Native(d)) => {
                d.managed.as_ref().map(|m| (m.source.as_str(), m.line))
            }
            _ => None,
        }
    }
}
