//! `symx`: the admin CLI of symx, a gRPC client of `symxd`.

mod json;
mod native_upload;
mod reprocess;
mod upload;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use std::io::Read;
use std::path::{Path, PathBuf};
use symx_proto::v1 as pb;
use symx_proto::v1::artifact_service_client::ArtifactServiceClient;
use symx_proto::v1::symbolication_service_client::SymbolicationServiceClient;
use symx_types::stacktrace;
use tonic::transport::Channel;

#[derive(Parser, Debug)]
#[command(
    name = "symx",
    version,
    about = "Upload debug artifacts to symxd and symbolicate stack traces"
)]
struct Cli {
    /// The gRPC endpoint of symxd.
    #[arg(
        long,
        global = true,
        env = "SYMX_ENDPOINT",
        default_value = "http://127.0.0.1:50051"
    )]
    endpoint: String,
    /// API key (`symx_<id>_<secret>`), sent as `authorization: Bearer` on every call. Not
    /// needed while the server has no keys.
    #[arg(long, global = true, env = "SYMX_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Upload artifacts.
    #[command(subcommand)]
    Upload(upload::UploadCommand),
    /// List artifacts of a kind.
    List(ListArgs),
    /// Show one artifact by id.
    Show { id: String },
    /// Fetch a JavaScript source map (the get API) by file or debug id.
    Get(GetArgs),
    /// Delete artifacts matching filters (soft: restorable until purged).
    Delete(DeleteArgs),
    /// Manage API keys of your tenant (needs an admin key; on a server without keys, the
    /// first key created turns authentication on).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Restore soft-deleted artifacts.
    Restore {
        ids: Vec<String>,
        /// Replace an artifact that took the identity meanwhile.
        #[arg(long)]
        overwrite: bool,
    },
    /// Symbolicate frames: JSON (a request or an array of frames) or raw stack-trace text.
    ///
    /// Native frames: the first frame of each stack trace is the crashing instruction, looked
    /// up at its address; the others are return addresses, looked up one byte earlier. In
    /// JSON, a frame's `"exact": true|false` overrides that. --service, --version, --variant,
    /// --build-id and --git-commit-sha apply to every stack trace that does not set its own.
    #[command(verbatim_doc_comment)]
    Symbolicate(SymbolicateArgs),
    /// Reprocess NDJSON events through the streaming API, resumably.
    Reprocess(reprocess::ReprocessArgs),
    /// The missing-artifact report: lookups that found no artifact, newest first, each with
    /// how often it was asked and the upload command that would answer it.
    Missing(MissingArgs),
    /// Fetch a stored native file by an identifier of its module: a GNU build id, a Mach-O
    /// UUID, a PDB GUID and age (`guid-age`, or `GUIDAGE` as symbol servers spell it) or a PE
    /// code id. Without --executable, the file with the debug information (a `.debug` file,
    /// the dSYM slice of that UUID, the PDB).
    Fetch(FetchArgs),
}

#[derive(clap::Args, Debug)]
struct FetchArgs {
    id: String,
    /// The file with the code (the binary, the PE) rather than the debug file.
    #[arg(long)]
    executable: bool,
    /// Only this ELF section (debuginfod's `section`), from the debug file when it holds it.
    #[arg(long)]
    section: Option<String>,
    /// One source file, by the path the debug information names it by, from the source
    /// bundle uploaded with the module.
    #[arg(long, conflicts_with_all = ["section", "source_bundle"])]
    source: Option<String>,
    /// The source bundle uploaded with the module, whole.
    #[arg(long, conflicts_with = "section")]
    source_bundle: bool,
    /// Where to write it (`-` for stdout); default: the uploaded file name, in the current
    /// directory.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct MissingArgs {
    /// Only `js`, `native` or `jvm` lookups.
    #[arg(long)]
    kind: Option<String>,
    /// Only lookups of this service.
    #[arg(long)]
    service: Option<String>,
    /// Only lookups asked within this long: `90s`, `30m`, `12h`, `7d`.
    #[arg(long)]
    since: Option<String>,
    /// At most this many entries.
    #[arg(long, default_value_t = 100)]
    limit: u32,
}

/// `90s`, `30m`, `12h`, `7d` (a bare number is seconds) in milliseconds.
fn parse_age_ms(s: &str) -> Result<u64> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .with_context(|| format!("--since {s}: expected a number and s, m, h or d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        other => bail!("--since {s}: unknown unit `{other}` (s, m, h or d)"),
    };
    Ok(secs.saturating_mul(1000))
}

/// `filter[...]` parameters, as in the list and delete documents: one flag per filter of
/// `symx_types::LIST_FILTERS` (`--build-id` for `build_id`; `--release-version` is also
/// `--version`), repeatable where the filter takes several values.
#[derive(Debug, Default, Clone)]
struct FilterArgs(Vec<pb::Filter>);

impl FilterArgs {
    fn to_pb(&self) -> Vec<pb::Filter> {
        self.0.clone()
    }
}

impl clap::FromArgMatches for FilterArgs {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let filters = symx_types::LIST_FILTERS
            .iter()
            .filter_map(|f| {
                let values: Vec<String> = m.get_many::<String>(f.name)?.cloned().collect();
                Some(pb::Filter {
                    name: f.name.to_owned(),
                    values,
                })
            })
            .collect();
        Ok(Self(filters))
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for FilterArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        symx_types::LIST_FILTERS.iter().fold(cmd, |cmd, f| {
            let mut arg = clap::Arg::new(f.name)
                .long(f.name.replace('_', "-"))
                .value_name("VALUE")
                .help(if f.repeated {
                    format!("{} (repeatable: any matches)", f.help)
                } else {
                    f.help.to_owned()
                })
                .action(if f.repeated {
                    clap::ArgAction::Append
                } else {
                    clap::ArgAction::Set
                });
            if f.name == "version" {
                arg = arg.alias("release-version");
            }
            cmd.arg(arg)
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

#[derive(Args, Debug)]
struct ListArgs {
    /// js, react, jvm, ios, flutter, ndk, elf, pe, il2cpp, repository.
    #[arg(long, default_value = "js")]
    kind: String,
    #[command(flatten)]
    filters: FilterArgs,
    #[arg(long)]
    page_size: Option<u32>,
    #[arg(long, conflicts_with = "page_token")]
    page: Option<u32>,
    /// Continue a listing after the page this token ends (the `next_page_token` printed with
    /// the previous page): stable while uploads land, unlike `--page`.
    #[arg(long)]
    page_token: Option<String>,
    /// Include soft-deleted artifacts.
    #[arg(long)]
    include_deleted: bool,
}

#[derive(Args, Debug)]
struct GetArgs {
    #[arg(long, conflicts_with_all = ["service", "version", "filename"])]
    debug_id: Option<String>,
    #[arg(long)]
    service: Option<String>,
    #[arg(long, alias = "release-version")]
    version: Option<String>,
    /// The minified file (URL, path or file name).
    #[arg(long)]
    filename: Option<String>,
}

#[derive(Args, Debug)]
struct DeleteArgs {
    #[arg(long)]
    kind: String,
    #[command(flatten)]
    filters: FilterArgs,
    /// Only show what would be deleted.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args, Debug)]
struct SymbolicateArgs {
    /// Service of the frames (for raw text and frames without debug ids).
    #[arg(long)]
    service: Option<String>,
    #[arg(long, alias = "release-version")]
    version: Option<String>,
    /// JVM: the mapping's variant (with --service and --version).
    #[arg(long, alias = "flavor")]
    variant: Option<String>,
    /// JVM: the mapping's build id (instead of service, version and variant).
    #[arg(long)]
    build_id: Option<String>,
    /// The commit the release was built from: source links from its `repository` upload.
    #[arg(long, alias = "commit-sha")]
    git_commit_sha: Option<String>,
    /// Context lines around each resolved line.
    #[arg(long, default_value_t = 0)]
    context_lines: u32,
    /// Explain every frame that does not resolve: what was tried, the nearest candidates
    /// (versions, uploaded paths, variants, build ids) and the upload that would fix it.
    #[arg(long)]
    explain: bool,
    /// Input file; `-` or nothing reads stdin.
    input: Option<PathBuf>,
}

impl SymbolicateArgs {
    /// The request-level flags, as defaults for stack traces that do not set their own.
    fn defaults(&self) -> json::Defaults<'_> {
        json::Defaults {
            service: self.service.as_deref(),
            version: self.version.as_deref(),
            variant: self.variant.as_deref(),
            build_id: self.build_id.as_deref(),
            git_commit_sha: self.git_commit_sha.as_deref(),
        }
    }
}

pub fn parse_kind(s: &str) -> Result<pb::MapKind> {
    use pb::MapKind as K;
    Ok(match s {
        "js" => K::Js,
        "react" => K::React,
        "jvm" => K::Jvm,
        "ios" => K::Ios,
        "flutter" => K::Flutter,
        "ndk" => K::Ndk,
        "elf" => K::Elf,
        "pe" => K::Pe,
        "il2cpp" => K::Il2cpp,
        "repository" => K::Repository,
        other => bail!(
            "unknown kind `{other}`: expected js, react, jvm, ios, flutter, ndk, elf, pe, il2cpp or repository"
        ),
    })
}

/// A connection to symxd that sends the API key with every call.
pub type Conn = tonic::service::interceptor::InterceptedService<Channel, KeyHeader>;

/// Adds `authorization: Bearer <key>` to every call.
#[derive(Clone, Debug)]
pub struct KeyHeader(Option<tonic::metadata::AsciiMetadataValue>);

impl tonic::service::Interceptor for KeyHeader {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

async fn channel(endpoint: &str, api_key: Option<&str>) -> Result<Conn> {
    let key =
        match api_key.map(str::trim).filter(|k| !k.is_empty()) {
            Some(k) => Some(format!("Bearer {k}").parse().map_err(|_| {
                anyhow::anyhow!("the API key has characters a header cannot carry")
            })?),
            None => None,
        };
    let ch = Channel::from_shared(endpoint.to_owned())
        .with_context(|| format!("invalid endpoint {endpoint}"))?
        .connect()
        .await
        .with_context(|| format!("cannot connect to symxd at {endpoint}"))?;
    Ok(tonic::service::interceptor::InterceptedService::new(
        ch,
        KeyHeader(key),
    ))
}

/// `symx keys ...`.
#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Create a key; prints the full key once (store it now).
    Create {
        /// read, upload, delete or admin (repeat, or comma-separate).
        #[arg(long = "scope", required = true, value_delimiter = ',')]
        scopes: Vec<String>,
        /// A label (`ci`, `ingest`).
        #[arg(long, default_value = "")]
        name: String,
        /// The tenant (default: your key's; only an open server may create other tenants'
        /// keys).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List your tenant's keys (never their secrets).
    List,
    /// Revoke a key at once.
    Revoke { id: String },
}

fn print_key(k: &pb::ApiKey, json: bool) {
    let time = |t: &Option<prost_types::Timestamp>| {
        t.as_ref()
            .map(|t| symx_types::time::format_rfc3339(t.seconds, t.nanos))
            .unwrap_or_default()
    };
    let scopes: Vec<&str> = k.scopes.iter().map(|s| scope_name(*s)).collect();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "id": k.id, "tenant": k.tenant, "name": k.name, "scopes": scopes,
                "created": time(&k.create_time), "revoked": time(&k.revoke_time),
            })
        );
    } else {
        let revoked = match &k.revoke_time {
            Some(_) => format!("  revoked {}", time(&k.revoke_time)),
            None => String::new(),
        };
        println!(
            "{}  tenant={}  scopes={}  name={}  created {}{revoked}",
            k.id,
            k.tenant,
            scopes.join(","),
            k.name,
            time(&k.create_time)
        );
    }
}

/// A scope as the CLI and the HTTP fronts name it.
fn scope_name(s: i32) -> &'static str {
    match pb::Scope::try_from(s) {
        Ok(pb::Scope::Read) => "read",
        Ok(pb::Scope::Upload) => "upload",
        Ok(pb::Scope::Delete) => "delete",
        Ok(pb::Scope::Admin) => "admin",
        _ => "unknown",
    }
}

/// A scope named on the command line.
fn scope_from_name(name: &str) -> Result<i32> {
    let scope = match name.trim() {
        "read" => pb::Scope::Read,
        "upload" => pb::Scope::Upload,
        "delete" => pb::Scope::Delete,
        "admin" => pb::Scope::Admin,
        other => bail!("unknown scope `{other}`: use read, upload, delete or admin"),
    };
    Ok(scope as i32)
}

async fn keys(cmd: KeysCommand, ch: Conn, json: bool) -> Result<()> {
    let mut client = symx_proto::v1::key_service_client::KeyServiceClient::new(ch);
    match cmd {
        KeysCommand::Create {
            scopes,
            name,
            tenant,
        } => {
            let resp = client
                .create_key(pb::CreateKeyRequest {
                    tenant: tenant.unwrap_or_default(),
                    name,
                    scopes: scopes
                        .iter()
                        .map(|s| scope_from_name(s))
                        .collect::<Result<_>>()?,
                })
                .await
                .map_err(rpc_error)?
                .into_inner();
            if json {
                println!("{}", serde_json::json!({ "token": resp.token }));
            } else {
                if let Some(k) = &resp.key {
                    print_key(k, false);
                }
                println!("{}", resp.token);
                eprintln!("store this key now: it cannot be shown again");
            }
        }
        KeysCommand::List => {
            let resp = client
                .list_keys(pb::ListKeysRequest {})
                .await
                .map_err(rpc_error)?
                .into_inner();
            for k in &resp.keys {
                print_key(k, json);
            }
        }
        KeysCommand::Revoke { id } => {
            let k = client
                .revoke_key(pb::RevokeKeyRequest { id })
                .await
                .map_err(rpc_error)?
                .into_inner();
            print_key(&k, json);
        }
    }
    Ok(())
}

/// Turns a gRPC status into a one-line error for humans.
pub fn rpc_error(s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", s.code(), s.message())
}

pub type ArtifactClient = ArtifactServiceClient<Conn>;

pub fn artifacts_client(ch: Conn) -> ArtifactClient {
    // `symx get` receives a whole map: up to the largest upload a server accepts (500 MiB
    // by default; 2 GiB here leaves room for servers configured larger).
    ArtifactServiceClient::new(ch)
        .max_decoding_message_size(2 << 30)
        .max_encoding_message_size(16 << 20)
}

pub fn symbolication_client(ch: Conn) -> SymbolicationServiceClient<Conn> {
    SymbolicationServiceClient::new(ch)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(16 << 20)
}

fn print_artifacts(artifacts: &[pb::Artifact], json: bool) {
    if json {
        let v: Vec<serde_json::Value> = artifacts.iter().map(json::artifact).collect();
        println!("{}", serde_json::Value::Array(v));
        return;
    }
    for a in artifacts {
        println!("{}", json::artifact_line(a));
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    let json = cli.json;
    let ch = channel(&cli.endpoint, cli.api_key.as_deref()).await?;
    match cli.command {
        Command::Keys(cmd) => keys(cmd, ch, json).await,
        Command::Upload(cmd) => upload::run(cmd, ch, json).await,
        Command::List(args) => {
            let resp = artifacts_client(ch)
                .list(pb::ListRequest {
                    mapkind: parse_kind(&args.kind)? as i32,
                    filters: args.filters.to_pb(),
                    page_size: args.page_size,
                    page_number: args.page,
                    include_deleted: args.include_deleted,
                    page_token: args.page_token.clone().unwrap_or_default(),
                })
                .await
                .map_err(rpc_error)?
                .into_inner();
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "artifacts": resp.artifacts.iter().map(json::artifact).collect::<Vec<_>>(),
                        "total_filtered_count": resp.total_filtered_count,
                        "has_more_results": resp.has_more_results,
                        "next_page_token": (!resp.next_page_token.is_empty()).then_some(&resp.next_page_token),
                    })
                );
            } else {
                print_artifacts(&resp.artifacts, false);
                let more = if resp.next_page_token.is_empty() {
                    String::new()
                } else {
                    format!("; more with --page-token {}", resp.next_page_token)
                };
                println!(
                    "{} of {} shown{more}",
                    resp.artifacts.len(),
                    resp.total_filtered_count
                );
            }
            Ok(())
        }
        Command::Show { id } => {
            let a = artifacts_client(ch)
                .get_artifact(pb::GetArtifactRequest { id })
                .await
                .map_err(rpc_error)?
                .into_inner();
            if json {
                println!("{}", json::artifact(&a));
            } else {
                println!("{}", json::artifact_line(&a));
                for (k, v) in &a.attributes {
                    println!("  {k}: {v}");
                }
            }
            Ok(())
        }
        Command::Get(args) => {
            let selector = match (args.debug_id, args.service, args.version, args.filename) {
                (Some(d), ..) => pb::get_source_map_request::Selector::DebugId(d),
                (None, Some(service), Some(version), Some(filename)) => {
                    pb::get_source_map_request::Selector::File(pb::SourceMapByFile {
                        filename,
                        service,
                        version,
                    })
                }
                _ => bail!("give --debug-id, or --service, --version and --filename"),
            };
            let f = artifacts_client(ch)
                .get_source_map(pb::GetSourceMapRequest {
                    selector: Some(selector),
                })
                .await
                .map_err(rpc_error)?
                .into_inner();
            // The get document's shape, which is also a usable source map.
            println!("{}", json::source_map_file(&f));
            Ok(())
        }
        Command::Delete(args) => {
            let resp = artifacts_client(ch)
                .delete(pb::DeleteRequest {
                    mapkind: parse_kind(&args.kind)? as i32,
                    filters: args.filters.to_pb(),
                    dry_run: args.dry_run,
                })
                .await
                .map_err(rpc_error)?
                .into_inner();
            print_artifacts(&resp.artifacts, json);
            if !json {
                let verb = if resp.dry_run {
                    "would be deleted (dry run)"
                } else {
                    "deleted"
                };
                println!("{} artifact(s) {verb}", resp.artifacts.len());
            }
            Ok(())
        }
        Command::Restore { ids, overwrite } => {
            let resp = artifacts_client(ch)
                .restore(pb::RestoreRequest { ids, overwrite })
                .await
                .map_err(rpc_error)?
                .into_inner();
            print_artifacts(&resp.artifacts, json);
            if !json {
                println!("{} artifact(s) restored", resp.artifacts.len());
            }
            Ok(())
        }
        Command::Symbolicate(args) => symbolicate(args, ch, json).await,
        Command::Reprocess(args) => reprocess::run(args, ch).await,
        Command::Fetch(args) => fetch(args, ch, json).await,
        Command::Missing(args) => {
            let since_ms = match &args.since {
                Some(age) => {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis() as u64)
                        .unwrap_or(0);
                    now.saturating_sub(parse_age_ms(age)?)
                }
                None => 0,
            };
            let resp = artifacts_client(ch)
                .list_missing(pb::ListMissingRequest {
                    kind: args.kind.unwrap_or_default(),
                    service: args.service.unwrap_or_default(),
                    since_ms,
                    limit: args.limit,
                })
                .await
                .map_err(rpc_error)?
                .into_inner();
            if json {
                json::print(&json::missing(&resp))?;
            } else if resp.missing.is_empty() {
                println!("no missing artifacts ({} in the report)", resp.total);
            } else {
                for m in &resp.missing {
                    println!("{}", json::missing_line(m));
                    if !m.fix.is_empty() {
                        println!("    fix: {}", m.fix);
                    }
                }
                println!("{} shown, {} in the report", resp.missing.len(), resp.total);
            }
            Ok(())
        }
    }
}

/// `symx fetch`: the file is written to a temporary file beside its destination and renamed
/// once complete and of the announced size, so a cut-short download never leaves a file that
/// looks whole.
async fn fetch(args: FetchArgs, ch: Conn, as_json: bool) -> Result<()> {
    use std::io::Write;
    let mut stream = artifacts_client(ch)
        .fetch_debug_file(pb::FetchDebugFileRequest {
            id: args.id.clone(),
            executable: args.executable,
            section: args.section.clone().unwrap_or_default(),
            source: args.source.clone().unwrap_or_default(),
            source_bundle: args.source_bundle,
        })
        .await
        .map_err(rpc_error)?
        .into_inner();
    let info = stream
        .message()
        .await
        .map_err(rpc_error)?
        .and_then(|c| c.info)
        .context("the server sent no description of the file")?;
    let to_stdout = args.output.as_deref().is_some_and(|p| p.as_os_str() == "-");
    let dest = match &args.output {
        Some(p) => p.clone(),
        // The server's name, never a path of its choosing.
        None => PathBuf::from(
            Path::new(&info.name)
                .file_name()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| std::ffi::OsStr::new("debugfile")),
        ),
    };
    let mut file = if to_stdout {
        None
    } else {
        let dir = dest
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let temp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        Some(std::io::BufWriter::new(temp))
    };
    let mut stdout = std::io::stdout().lock();
    let mut got = 0u64;
    while let Some(chunk) = stream.message().await.map_err(rpc_error)? {
        got += chunk.data.len() as u64;
        match &mut file {
            Some(f) => f.write_all(&chunk.data)?,
            None => stdout.write_all(&chunk.data)?,
        }
    }
    if got != info.size {
        bail!(
            "the download stopped after {got} of {} bytes; nothing was kept",
            info.size
        );
    }
    let Some(file) = file else {
        stdout.flush()?;
        return Ok(());
    };
    let temp = file.into_inner().map_err(|e| e.into_error())?;
    temp.persist(&dest)
        .with_context(|| format!("cannot write {}", dest.display()))?;
    // A temporary file is private (0600); the fetched file is an ordinary one.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o644))?;
    }
    if as_json {
        json::print(&serde_json::json!({
            "path": dest.display().to_string(),
            "artifact_id": info.artifact_id,
            "kind": info.kind,
            "name": info.name,
            "size": info.size,
        }))?;
    } else {
        println!(
            "{} ({} bytes, {} artifact {}) written to {}",
            info.name,
            info.size,
            info.kind,
            info.artifact_id,
            dest.display()
        );
    }
    Ok(())
}

async fn symbolicate(args: SymbolicateArgs, ch: Conn, as_json: bool) -> Result<()> {
    let mut text = String::new();
    match &args.input {
        Some(p) if p.as_os_str() != "-" => {
            text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
        }
        _ => {
            std::io::stdin().read_to_string(&mut text)?;
        }
    }
    let trimmed = text.trim_start();
    let mut client = symbolication_client(ch);
    if (trimmed.starts_with('{') || trimmed.starts_with('[')) && !stacktrace::is_apple_ips(&text) {
        let value: serde_json::Value =
            serde_json::from_str(&text).context("input is not valid JSON")?;
        let mut req = json::request_from_json(&value, args.defaults())?;
        if req.context_lines == 0 {
            req.context_lines = args.context_lines;
        }
        req.explain |= args.explain;
        let resp = client
            .symbolicate(req)
            .await
            .map_err(rpc_error)?
            .into_inner();
        if as_json {
            json::print(&json::response(&resp))?;
        } else {
            for (i, st) in resp.stacktraces.iter().enumerate() {
                println!("stack trace {i}:");
                for r in &st.frames {
                    println!("    {}", json::result_line(r));
                    print_explanation(r);
                }
            }
        }
        return Ok(());
    }
    // Raw stack text, grouped into stack traces (one per JVM throwable).
    let lines = stacktrace::parse(&text);
    let (grouped, slots) = stacktrace::group(&lines);
    let frame_of = |line: &stacktrace::StackLine| match line {
        stacktrace::StackLine::Frame { frame, .. } => Some(pb::frame::Frame::Js(pb::JsFrame {
            abs_path: frame.url.clone(),
            line: frame.line,
            column: frame.column,
            function: frame.function.clone().unwrap_or_default(),
            debug_id: String::new(),
            bytecode_offset: frame.bytecode.then_some(frame.column),
            hermes_function_id: None,
        })),
        // Native pcs are module-relative (tombstone pcs, Dart `virt` addresses, Apple image
        // offsets); frame 0 of a thread is exact, the others return addresses.
        stacktrace::StackLine::Native { frame, .. } => {
            Some(pb::frame::Frame::Native(pb::NativeFrame {
                debug_id: String::new(),
                code_id: frame.build_id.clone().unwrap_or_default(),
                image_addr: 0,
                instruction_addr: frame.pc,
                exact: Some(frame.exact),
                module: frame.module.clone(),
            }))
        }
        stacktrace::StackLine::Jvm { frame, .. } => Some(pb::frame::Frame::Jvm(pb::JvmFrame {
            class_name: frame.class.clone(),
            method: frame.method.clone(),
            line: frame.line,
            file: frame.file.clone().unwrap_or_default(),
        })),
        stacktrace::StackLine::Throwable { .. } | stacktrace::StackLine::Text(_) => None,
    };
    let traces: Vec<pb::StackTrace> = grouped
        .iter()
        .map(|t| pb::StackTrace {
            service: args.service.clone().unwrap_or_default(),
            version: args.version.clone().unwrap_or_default(),
            variant: args.variant.clone().unwrap_or_default(),
            build_id: args.build_id.clone().unwrap_or_default(),
            exception: t.exception.map(|e| pb::JvmThrowable {
                class_name: e.class.clone(),
                message: e.message.clone().unwrap_or_default(),
            }),
            frames: t
                .frames
                .iter()
                .map(|l| pb::Frame { frame: frame_of(l) })
                .collect(),
            git_commit_sha: args.git_commit_sha.clone().unwrap_or_default(),
            git_repository_url: String::new(),
        })
        .collect();
    let frames_total: usize = traces.iter().map(|t| t.frames.len()).sum();
    if frames_total == 0 {
        bail!(
            "no stack frames found in the input (expected V8, Firefox or Safari Error.stack text, an Android tombstone, a Dart non-symbolic trace, an Apple .crash or .ips report, a Java stack trace, or JSON)"
        );
    }
    let req = pb::SymbolicateRequest {
        stacktraces: traces,
        context_lines: args.context_lines,
        debug_ids: Default::default(),
        explain: args.explain,
    };
    let resp = client
        .symbolicate(req)
        .await
        .map_err(rpc_error)?
        .into_inner();
    if as_json {
        let v: Vec<json::FrameResultJson> = resp
            .stacktraces
            .iter()
            .flat_map(|s| s.frames.iter().map(json::frame_result))
            .collect();
        json::print(&v)?;
        return Ok(());
    }
    let answer = |slot: stacktrace::Slot| {
        let (t, f) = slot?;
        resp.stacktraces.get(t)?.frames.get(f?)
    };
    for (line, slot) in lines.iter().zip(&slots) {
        let r = answer(*slot);
        match line {
            stacktrace::StackLine::Text(t) => println!("{t}"),
            stacktrace::StackLine::Throwable { raw, throwable } => {
                // Deobfuscated class and message, like ProGuard's retrace.
                match slot
                    .and_then(|(t, _)| resp.stacktraces.get(t))
                    .and_then(|s| s.exception.as_ref())
                {
                    Some(e) if !e.class_name.is_empty() => {
                        let message = if throwable.message.is_some() {
                            format!(": {}", e.message)
                        } else {
                            String::new()
                        };
                        println!("{}{}{message}", throwable.prefix, e.class_name);
                    }
                    _ => println!("{raw}"),
                }
            }
            stacktrace::StackLine::Jvm { raw, frame } => match r {
                // Outline frames and frames an R8 rule removes print nothing, like retrace.
                Some(r) if r.status == pb::FrameStatus::Resolved as i32 && r.frames.is_empty() => {}
                Some(r) if r.status == pb::FrameStatus::Resolved as i32 => {
                    for (i, f) in r.frames.iter().enumerate() {
                        let location = match (f.source.is_empty(), f.line) {
                            (true, _) => "Unknown Source".to_owned(),
                            (false, 0) => f.source.clone(),
                            (false, n) => format!("{}:{n}", f.source),
                        };
                        // Alternatives of an ambiguous frame are indented under the first.
                        let indent = if r.ambiguous && i > 0 {
                            format!("{}    ", frame.indent)
                        } else {
                            frame.indent.clone()
                        };
                        let class = json::detail(f).class_name;
                        println!("{indent}at {class}.{}({location})", f.function);
                    }
                }
                // Frames the mapping does not rename (JDK, libraries) stay as printed.
                Some(r) if r.status == pb::FrameStatus::OutOfRange as i32 => println!("{raw}"),
                Some(r) => println!("{raw}    [{}: {}]", json::status_name(r.status), r.message),
                None => println!("{raw}"),
            },
            stacktrace::StackLine::Frame { raw, .. } => match r {
                Some(r) if r.status == pb::FrameStatus::Resolved as i32 && !r.frames.is_empty() => {
                    for f in &r.frames {
                        let name = if f.function.is_empty() {
                            json::detail(f).symbol
                        } else {
                            &f.function
                        };
                        if name.is_empty() {
                            println!("    at {}:{}:{}", f.source, f.line, f.column);
                        } else {
                            println!("    at {name} ({}:{}:{})", f.source, f.line, f.column);
                        }
                    }
                }
                Some(r) => println!("{raw}    [{}: {}]", json::status_name(r.status), r.message),
                None => println!("{raw}"),
            },
            stacktrace::StackLine::Native { raw, frame } => match r {
                Some(r) if r.status == pb::FrameStatus::Resolved as i32 && !r.frames.is_empty() => {
                    // The tombstone line, then the inline chain (innermost first), like
                    // ndk-stack prints it.
                    println!("{raw}");
                    for f in &r.frames {
                        let d = json::detail(f);
                        let inlined = if f.inlined { " (inlined)" } else { "" };
                        // Unity IL2CPP: the C# location the C++ was generated from.
                        let managed = match d.managed {
                            Some(m) => format!(" [C# {}:{}]", m.source, m.line),
                            None => String::new(),
                        };
                        println!(
                            "    #{:02} {} at {}:{}{inlined}{managed}",
                            frame.index, f.function, f.source, f.line
                        );
                    }
                }
                Some(r) => println!("{raw}    [{}: {}]", json::status_name(r.status), r.message),
                None => println!("{raw}"),
            },
        }
        if let Some(r) = r {
            print_explanation(r);
        }
    }
    Ok(())
}

/// With `--explain`: why a frame did not resolve, and the fix, under its line.
fn print_explanation(r: &pb::FrameResult) {
    if r.explanation.is_empty() {
        return;
    }
    println!("        why ({}): {}", r.reason, r.explanation);
    if !r.fix.is_empty() {
        println!("        fix: {}", r.fix);
    }
}
