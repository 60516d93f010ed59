//! `symx upload`: one artifact, or a whole build folder walked the way
//! `datadog-ci sourcemaps upload DIR --service --release-version --minified-path-prefix` does.

use crate::Conn;
use crate::native_upload::{self, FlutterIds, Planned, Skipped};
use crate::{artifacts_client, json, rpc_error};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use symx_proto::v1 as pb;
use tokio::io::AsyncReadExt;

/// Upload chunk size: well under the 16 MiB message limit, big enough to keep the stream busy.
const CHUNK: usize = 1 << 20;

#[derive(Subcommand, Debug)]
pub enum UploadCommand {
    /// JavaScript: a minified file and its source map, or every `*.js.map` under a folder.
    Js(JsArgs),
    /// ELF symbol files: files or folders, walked for ELF objects the way
    /// `datadog-ci elf-symbols upload` does; symxd reads each file's build id and arch.
    Elf(ElfArgs),
    /// dSYM bundles (`*.dSYM` folders, zipped here) and `.zip` archives of them, as
    /// `datadog-ci dsyms upload` finds them; every Mach-O UUID is read locally.
    Dsym(NativeArgs),
    /// Android NDK libraries (`*.so` with a GNU build id) under the given paths.
    Ndk(NativeArgs),
    /// Flutter `*.symbols` files of `flutter build --split-debug-info=DIR`, as
    /// `datadog-ci flutter-symbols upload` finds them.
    Flutter(FlutterArgs),
    /// Windows PDB files (and PE files without their PDB), as `datadog-ci pe-symbols upload`
    /// finds them; GUID and age are read locally.
    Pe(NativeArgs),
    /// A React Native bundle's source map (Metro's, or the composed Hermes map) with its
    /// bundle, as `datadog-ci react-native upload` sends them.
    React(ReactArgs),
    /// A ProGuard/R8 mapping (`mapping.txt`); without --build-id, symxd derives one from the
    /// content and reports it.
    Jvm(JvmArgs),
    /// A Unity IL2CPP `LineNumberMappings.json` for the build id of its native libraries.
    Il2cpp(Il2cppArgs),
    /// Any upload type, with metadata fields and file parts given explicitly
    /// (e.g. `--type jvm_mapping_file --meta service=app --meta version=1 --part jvm_mapping_file=mapping.txt`).
    Raw(RawArgs),
}

#[derive(Args, Debug)]
pub struct JsArgs {
    /// A build folder, or one minified file.
    pub path: PathBuf,
    /// The source map of a single minified file (default: PATH.map).
    pub map: Option<PathBuf>,
    #[arg(long)]
    pub service: String,
    #[arg(long, alias = "release-version")]
    pub version: String,
    /// Prefix joined with each file's path relative to the folder to form its minified URL
    /// (a URL like `https://cdn.example.com/static` or a path like `/static`).
    #[arg(long)]
    pub minified_path_prefix: Option<String>,
    /// The exact minified URL (single file only).
    #[arg(long, conflicts_with = "minified_path_prefix")]
    pub minified_url: Option<String>,
    /// Replace artifacts with the same identity.
    #[arg(long)]
    pub overwrite: bool,
    #[arg(long)]
    pub project_path: Option<String>,
    #[arg(long)]
    pub repository_url: Option<String>,
    #[arg(long)]
    pub commit_sha: Option<String>,
    /// Show what would be uploaded without uploading.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct ElfArgs {
    /// Files or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Replace artifacts with the same build id.
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Args, Debug)]
pub struct NativeArgs {
    /// Files or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Replace artifacts with the same identifiers.
    #[arg(long)]
    pub overwrite: bool,
    /// Show what would be uploaded without uploading.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct FlutterArgs {
    /// The --split-debug-info folder (or files).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[arg(long)]
    pub service: String,
    #[arg(long, alias = "release-version")]
    pub version: String,
    /// Build flavor (datadog-ci's --flavor).
    #[arg(long, alias = "flavor", default_value = "release")]
    pub variant: String,
    #[arg(long)]
    pub overwrite: bool,
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct ReactArgs {
    /// `android` or `ios`.
    #[arg(long)]
    pub platform: String,
    #[arg(long)]
    pub service: String,
    #[arg(long, alias = "version")]
    pub release_version: String,
    /// The build number (`build_number`).
    #[arg(long)]
    pub build_version: String,
    /// The JavaScript bundle (its name, the URL Hermes and JSC print, is the file name unless
    /// --bundle-name says otherwise).
    #[arg(long)]
    pub bundle: PathBuf,
    /// The bundle's source map (for Hermes, the composed map).
    #[arg(long)]
    pub sourcemap: PathBuf,
    #[arg(long)]
    pub bundle_name: Option<String>,
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Args, Debug)]
pub struct JvmArgs {
    /// The mapping file.
    pub mapping: PathBuf,
    #[arg(long)]
    pub service: String,
    #[arg(long)]
    pub version: String,
    #[arg(long, default_value = "release")]
    pub variant: String,
    #[arg(long)]
    pub build_id: Option<String>,
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Args, Debug)]
pub struct Il2cppArgs {
    /// `LineNumberMappings.json`.
    pub mapping: PathBuf,
    /// The build id of the native libraries it belongs to (GNU build id, or Unity's).
    #[arg(long)]
    pub build_id: String,
    #[arg(long)]
    pub overwrite: bool,
}

fn new_meta(t: pb::UploadType, overwrite: bool) -> pb::UploadMetadata {
    pb::UploadMetadata {
        r#type: t as i32,
        overwrite,
        cli_version: env!("CARGO_PKG_VERSION").to_owned(),
        ..Default::default()
    }
}

fn plan_react(a: &ReactArgs) -> Result<Vec<Planned>> {
    if !matches!(a.platform.as_str(), "android" | "ios") {
        bail!("--platform must be android or ios, not `{}`", a.platform);
    }
    let bundle_name = match &a.bundle_name {
        Some(n) => n.clone(),
        None => a
            .bundle
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| anyhow::anyhow!("--bundle {} has no file name", a.bundle.display()))?,
    };
    let mut meta = new_meta(pb::UploadType::ReactNativeSourcemap, a.overwrite);
    meta.platform = a.platform.clone();
    meta.service = a.service.clone();
    meta.version = a.release_version.clone();
    meta.build_number = a.build_version.clone();
    meta.bundle_name = bundle_name.clone();
    Ok(vec![Planned {
        label: bundle_name,
        meta,
        parts: vec![
            ("source_map".into(), a.sourcemap.clone()),
            ("minified_file".into(), a.bundle.clone()),
        ],
    }])
}

fn plan_jvm(a: &JvmArgs) -> Result<Vec<Planned>> {
    let mut meta = new_meta(pb::UploadType::JvmMappingFile, a.overwrite);
    meta.service = a.service.clone();
    meta.version = a.version.clone();
    meta.variant = a.variant.clone();
    meta.build_id = a.build_id.clone().unwrap_or_default();
    Ok(vec![Planned {
        label: a.mapping.display().to_string(),
        meta,
        parts: vec![("jvm_mapping_file".into(), a.mapping.clone())],
    }])
}

fn plan_il2cpp(a: &Il2cppArgs) -> Result<Vec<Planned>> {
    let mut meta = new_meta(pb::UploadType::Il2cppMappingFile, a.overwrite);
    meta.build_id = a.build_id.clone();
    Ok(vec![Planned {
        label: a.mapping.display().to_string(),
        meta,
        parts: vec![("il2cpp_mapping_file".into(), a.mapping.clone())],
    }])
}

#[derive(Args, Debug)]
pub struct RawArgs {
    /// The upload `type` (js_sourcemap, jvm_mapping_file, ios_symbols, ...).
    #[arg(long = "type")]
    pub upload_type: String,
    /// A metadata field, `key=value` (repeatable), named as in the upload document.
    #[arg(long = "meta", value_parser = key_value)]
    pub meta: Vec<(String, String)>,
    /// A file part, `name=path` (repeatable).
    #[arg(long = "part", value_parser = key_value)]
    pub parts: Vec<(String, String)>,
    #[arg(long)]
    pub overwrite: bool,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{s}` is not key=value"))
}

fn upload_type(s: &str) -> Result<pb::UploadType> {
    use pb::UploadType as T;
    Ok(match s {
        "js_sourcemap" => T::JsSourcemap,
        "react_native_sourcemap" => T::ReactNativeSourcemap,
        "jvm_mapping_file" => T::JvmMappingFile,
        "ios_symbols" => T::IosSymbols,
        "flutter_symbol_file" => T::FlutterSymbolFile,
        "ndk_symbol_file" => T::NdkSymbolFile,
        "il2cpp_mapping_file" => T::Il2cppMappingFile,
        "elf_symbol_file" => T::ElfSymbolFile,
        "pe_symbol_file" => T::PeSymbolFile,
        "repository" => T::Repository,
        other => bail!("unknown upload type `{other}`"),
    })
}

fn set_meta(m: &mut pb::UploadMetadata, key: &str, value: String) -> Result<()> {
    match key {
        "service" => m.service = value,
        "version" => m.version = value,
        "cli_version" => m.cli_version = value,
        "git_commit_sha" => m.git_commit_sha = value,
        "git_repository_url" => m.git_repository_url = value,
        "minified_url" => m.minified_url = value,
        "project_path" => m.project_path = value,
        "build_number" => m.build_number = value,
        "bundle_name" => m.bundle_name = value,
        "bundle_version" => m.bundle_version = value,
        "debug_id" => m.debug_id = value,
        "platform" => m.platform = value,
        "build_id" => m.build_id = value,
        "variant" => m.variant = value,
        "uuids" => m.uuids = value,
        "arch" => m.arch = value,
        "filename" => m.filename = value,
        "file_hash" => m.file_hash = value,
        "gnu_build_id" => m.gnu_build_id = value,
        "go_build_id" => m.go_build_id = value,
        "origin" => m.origin = value,
        "origin_version" => m.origin_version = value,
        "symbol_source" => m.symbol_source = value,
        "pdb_sig" => m.pdb_sig = value,
        "pdb_age" => {
            m.pdb_age = Some(
                value
                    .parse()
                    .with_context(|| format!("pdb_age `{value}` is not an integer"))?,
            )
        }
        other => bail!("unknown metadata field `{other}`"),
    }
    Ok(())
}

fn join_url(prefix: &str, rel: &str) -> String {
    format!(
        "{}/{}",
        prefix.trim_end_matches('/'),
        rel.trim_start_matches('/')
    )
}

fn plan_js(args: &JsArgs) -> Result<Vec<Planned>> {
    let base = |minified_url: String| pb::UploadMetadata {
        r#type: pb::UploadType::JsSourcemap as i32,
        overwrite: args.overwrite,
        service: args.service.clone(),
        version: args.version.clone(),
        cli_version: env!("CARGO_PKG_VERSION").to_owned(),
        minified_url,
        project_path: args.project_path.clone().unwrap_or_default(),
        git_repository_url: args.repository_url.clone().unwrap_or_default(),
        git_commit_sha: args.commit_sha.clone().unwrap_or_default(),
        ..Default::default()
    };
    if args.path.is_file() {
        let map = args.map.clone().unwrap_or_else(|| {
            let mut p = args.path.clone().into_os_string();
            p.push(".map");
            PathBuf::from(p)
        });
        if !map.is_file() {
            bail!(
                "source map {} not found (give it as the second argument)",
                map.display()
            );
        }
        let name = args
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let url = match (&args.minified_url, &args.minified_path_prefix) {
            (Some(u), _) => u.clone(),
            (None, Some(prefix)) => join_url(prefix, &name),
            (None, None) => bail!("give --minified-url or --minified-path-prefix"),
        };
        return Ok(vec![Planned {
            label: args.path.display().to_string(),
            meta: base(url),
            parts: vec![
                ("source_map".into(), map),
                ("minified_file".into(), args.path.clone()),
            ],
        }]);
    }
    if !args.path.is_dir() {
        bail!("{} is neither a file nor a folder", args.path.display());
    }
    let Some(prefix) = &args.minified_path_prefix else {
        bail!("uploading a folder needs --minified-path-prefix");
    };
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(&args.path).sort_by_file_name() {
        let entry = entry?;
        let p = entry.path();
        let name = p.to_string_lossy();
        if !entry.file_type().is_file()
            || !(name.ends_with(".js.map")
                || name.ends_with(".mjs.map")
                || name.ends_with(".cjs.map"))
        {
            continue;
        }
        let minified = PathBuf::from(&name[..name.len() - 4]);
        if !minified.is_file() {
            eprintln!(
                "warning: skipping {}: no minified file {} beside it",
                p.display(),
                minified.display()
            );
            continue;
        }
        let rel = minified
            .strip_prefix(&args.path)
            .unwrap_or(&minified)
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        out.push(Planned {
            label: rel.clone(),
            meta: base(join_url(prefix, &rel)),
            parts: vec![
                ("source_map".into(), p.to_owned()),
                ("minified_file".into(), minified),
            ],
        });
    }
    if out.is_empty() {
        bail!(
            "no *.js.map files with their minified files found under {}",
            args.path.display()
        );
    }
    Ok(out)
}

/// ELF files under the given paths, one per module: of several files with one build id (a
/// binary, its stripped copy, its split debug file) the one with the most to say is uploaded
/// (debug information over a symbol table over dynamic symbols, then the largest), as
/// datadog-ci's `elf-symbols upload` does; the others are reported as skipped. Files without
/// a build id upload each (the server knows them by their content).
fn plan_elf(args: &ElfArgs) -> Result<(Vec<Planned>, Vec<Skipped>)> {
    let mut found: Vec<(u64, PathBuf)> = Vec::new();
    for root in &args.paths {
        for entry in walkdir::WalkDir::new(root).follow_links(false) {
            let entry = entry?;
            if !entry.file_type().is_file() {
                continue;
            }
            if native_upload::is_elf(entry.path()) {
                found.push((entry.metadata()?.len(), entry.path().to_owned()));
            }
        }
    }
    if found.is_empty() {
        bail!("no ELF files found");
    }
    // (rank, size, path) per module key; rank: what the file holds, best first.
    let mut best: std::collections::BTreeMap<String, Vec<(u8, u64, PathBuf)>> = Default::default();
    for (n, (size, path)) in found.into_iter().enumerate() {
        let info = native_upload::inspect(&path)?;
        let rank = if info.has_debug_info {
            0
        } else if info.class.starts_with("symbol_table") {
            1
        } else {
            2
        };
        let key = match (&info.code_id, &info.go_build_id) {
            (Some(c), _) if !c.is_empty() => format!("{c}/{}", info.arch),
            (_, Some(g)) => format!("{g}/{}", info.arch),
            _ => format!("file {n}"),
        };
        best.entry(key).or_default().push((rank, size, path));
    }
    let mut plans = Vec::new();
    let mut skipped = Vec::new();
    for (key, mut files) in best {
        files.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(b.1.cmp(&a.1))
                .then_with(|| a.2.cmp(&b.2))
        });
        let mut files = files.into_iter();
        let Some((_, _, path)) = files.next() else {
            continue;
        };
        for (_, _, other) in files {
            skipped.push(Skipped {
                path: other,
                why: format!(
                    "{} has more to say about build id {}",
                    path.display(),
                    key.split('/').next().unwrap_or_default()
                ),
            });
        }
        plans.push(Planned {
            label: path.display().to_string(),
            meta: pb::UploadMetadata {
                r#type: pb::UploadType::ElfSymbolFile as i32,
                overwrite: args.overwrite,
                cli_version: env!("CARGO_PKG_VERSION").to_owned(),
                filename: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                ..Default::default()
            },
            parts: vec![("elf_symbol_file".into(), path)],
        });
    }
    Ok((plans, skipped))
}

fn plan_raw(args: &RawArgs) -> Result<Vec<Planned>> {
    let mut meta = pb::UploadMetadata {
        r#type: upload_type(&args.upload_type)? as i32,
        overwrite: args.overwrite,
        cli_version: env!("CARGO_PKG_VERSION").to_owned(),
        ..Default::default()
    };
    for (k, v) in &args.meta {
        set_meta(&mut meta, k, v.clone())?;
    }
    if args.parts.is_empty() {
        bail!("give at least one --part name=path");
    }
    Ok(vec![Planned {
        label: args.upload_type.clone(),
        meta,
        parts: args
            .parts
            .iter()
            .map(|(n, p)| (n.clone(), PathBuf::from(p)))
            .collect(),
    }])
}

/// The identifiers a planned upload carries, for --dry-run.
fn describe(m: &pb::UploadMetadata) -> String {
    let fields = [
        ("minified_url", &m.minified_url),
        ("uuids", &m.uuids),
        ("build_id", &m.build_id),
        ("pdb_sig", &m.pdb_sig),
        ("platform", &m.platform),
        ("arch", &m.arch),
    ];
    let mut out: Vec<String> = fields
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if let Some(age) = m.pdb_age {
        out.push(format!("pdb_age={age}"));
    }
    out.join(" ")
}

fn size_of(p: &Path) -> Result<u64> {
    Ok(std::fs::metadata(p)
        .with_context(|| format!("cannot read {}", p.display()))?
        .len())
}

/// Streams one planned upload: metadata, then every part in chunks.
/// The outer error is local (a file cannot be read); the inner one is the server's answer.
async fn send(
    client: &mut crate::ArtifactClient,
    plan: &Planned,
    bar: &ProgressBar,
) -> Result<Result<pb::UploadResponse, tonic::Status>> {
    let mut meta = plan.meta.clone();
    let mut total = 0u64;
    for (_, p) in &plan.parts {
        total += size_of(p)?;
    }
    meta.total_size_bytes = Some(total);
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::UploadRequest>(4);
    let parts = plan.parts.clone();
    let bar = bar.clone();
    let producer = tokio::spawn(async move {
        if tx
            .send(pb::UploadRequest {
                payload: Some(pb::upload_request::Payload::Metadata(meta)),
            })
            .await
            .is_err()
        {
            return Ok(());
        }
        for (name, path) in parts {
            let mut f = tokio::fs::File::open(&path)
                .await
                .with_context(|| format!("cannot open {}", path.display()))?;
            loop {
                let mut buf = vec![0u8; CHUNK];
                let n = f.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                buf.truncate(n);
                bar.inc(n as u64);
                let msg = pb::UploadRequest {
                    payload: Some(pb::upload_request::Payload::Chunk(pb::FileChunk {
                        part: name.clone(),
                        data: buf,
                    })),
                };
                if tx.send(msg).await.is_err() {
                    // The server ended the call (e.g. it rejected the upload); its status
                    // says why.
                    return Ok(());
                }
            }
        }
        anyhow::Ok(())
    });
    let result = client
        .upload(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await;
    producer.await??;
    Ok(result.map(|r| r.into_inner()))
}

pub async fn run(cmd: UploadCommand, ch: Conn, as_json: bool) -> Result<()> {
    // Archives zipped from bundle folders live here until their upload is done.
    let scratch = tempfile::tempdir()?;
    let none = Vec::new;
    let (plans, skipped_early, dry_run): (Vec<Planned>, Vec<Skipped>, bool) = match &cmd {
        UploadCommand::Js(a) => (plan_js(a)?, none(), a.dry_run),
        UploadCommand::Elf(a) => {
            let (p, s) = plan_elf(a)?;
            (p, s, false)
        }
        UploadCommand::Dsym(a) => {
            let (p, s) = native_upload::plan_dsym(&a.paths, a.overwrite, scratch.path())?;
            (p, s, a.dry_run)
        }
        UploadCommand::Ndk(a) => {
            let (p, s) = native_upload::plan_ndk(&a.paths, a.overwrite)?;
            (p, s, a.dry_run)
        }
        UploadCommand::Flutter(a) => {
            let ids = FlutterIds {
                service: &a.service,
                version: &a.version,
                variant: &a.variant,
            };
            let (p, s) = native_upload::plan_flutter(&a.paths, &ids, a.overwrite)?;
            (p, s, a.dry_run)
        }
        UploadCommand::Pe(a) => {
            let (p, s) = native_upload::plan_pe(&a.paths, a.overwrite)?;
            (p, s, a.dry_run)
        }
        UploadCommand::React(a) => (plan_react(a)?, none(), false),
        UploadCommand::Jvm(a) => (plan_jvm(a)?, none(), false),
        UploadCommand::Il2cpp(a) => (plan_il2cpp(a)?, none(), false),
        UploadCommand::Raw(a) => (plan_raw(a)?, none(), false),
    };
    let mut plans = plans;
    native_upload::attach_source_bundles(&mut plans);
    for s in &skipped_early {
        if !as_json {
            eprintln!("skipped {}: {}", s.path.display(), s.why);
        }
    }
    if dry_run {
        for p in &plans {
            println!("would upload {} {}", p.label, describe(&p.meta));
        }
        return Ok(());
    }
    let mut total = 0u64;
    for p in &plans {
        for (_, f) in &p.parts {
            total += size_of(f)?;
        }
    }
    let bar = if as_json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut client = artifacts_client(ch);
    // Several files of one build folder may carry the same identifiers; the first stored wins.
    let skip_existing = !matches!(
        cmd,
        UploadCommand::Js(_)
            | UploadCommand::Raw(_)
            | UploadCommand::React(_)
            | UploadCommand::Jvm(_)
            | UploadCommand::Il2cpp(_)
    );
    let mut failures = 0;
    let mut skipped = 0;
    let mut out: Vec<serde_json::Value> = skipped_early
        .iter()
        .map(|s| serde_json::json!({"file": s.path.display().to_string(), "skipped": s.why}))
        .collect();
    for p in &plans {
        bar.set_message(p.label.clone());
        let result = match send(&mut client, p, &bar).await {
            Ok(Err(status)) if skip_existing && status.code() == tonic::Code::AlreadyExists => {
                // Another file with this build id is already stored (see plan_elf).
                skipped += 1;
                let e = rpc_error(status);
                if as_json {
                    out.push(serde_json::json!({"file": p.label, "skipped": format!("{e:#}")}));
                } else {
                    bar.println(format!("skipped {}: {e:#}", p.label));
                }
                continue;
            }
            Ok(answer) => answer.map_err(rpc_error),
            Err(e) => Err(e),
        };
        match result {
            Ok(resp) => {
                let a = resp.artifact.unwrap_or_default();
                if as_json {
                    out.push(serde_json::json!({
                        "file": p.label, "artifact": json::artifact(&a),
                        "replaced_id": (!resp.replaced_id.is_empty()).then_some(&resp.replaced_id),
                        "unchanged": resp.unchanged,
                    }));
                } else {
                    let note = if resp.unchanged {
                        " (unchanged)".to_owned()
                    } else if !resp.replaced_id.is_empty() {
                        format!(" (replaced {})", resp.replaced_id)
                    } else {
                        String::new()
                    };
                    bar.println(format!("uploaded {} -> {}{note}", p.label, a.id));
                }
            }
            Err(e) => {
                failures += 1;
                if as_json {
                    out.push(serde_json::json!({"file": p.label, "error": format!("{e:#}")}));
                } else {
                    bar.println(format!("failed {}: {e:#}", p.label));
                }
            }
        }
    }
    bar.finish_and_clear();
    if as_json {
        println!("{}", serde_json::Value::Array(out));
    } else {
        let skipped = skipped + skipped_early.len();
        let skipped_note = if skipped > 0 {
            format!(", {skipped} skipped (identifiers already stored or planned)")
        } else {
            String::new()
        };
        println!(
            "{} uploaded, {failures} failed{skipped_note}",
            plans.len() + skipped_early.len() - failures - skipped
        );
    }
    if failures > 0 {
        bail!("{failures} upload(s) failed");
    }
    Ok(())
}
