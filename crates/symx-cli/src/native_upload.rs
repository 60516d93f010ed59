//! `symx upload dsym|ndk|flutter|pe`: walk build folders the way the matching datadog-ci
//! commands do, read each file's identifiers locally (with `symx_native`, the same code the
//! server checks them with), and plan one upload per artifact.
//!
//! - dsym: `.dSYM` bundles (zipped here, as Xcode archives them) and `.zip` archives of them;
//!   `uuids` lists every Mach-O UUID inside, one per architecture slice.
//! - ndk: `.so` ELF libraries with a GNU build id (`build_id`) and their architecture.
//! - flutter: `*.symbols` files of `flutter build --split-debug-info`
//!   (`app.android-arm64.symbols`): platform and architecture from the name, checked against
//!   the file.
//! - pe: `.pdb` files (GUID and age), and `.dll`/`.exe`/`.sys` files whose PDB is not among
//!   them (a PE alone still names its exports).
//!
//! Files with identifiers already planned are skipped (reported), so a folder holding a binary
//! and its copy uploads once.

use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use symx_native::ObjectInfo;
use symx_proto::v1 as pb;

/// One planned upload: metadata and (part name, file) pairs.
pub struct Planned {
    pub label: String,
    pub meta: pb::UploadMetadata,
    pub parts: Vec<(String, PathBuf)>,
}

/// The native file parts a source bundle may come with.
const WITH_SOURCES: &[&str] = &[
    "elf_symbol_file",
    "ndk_symbol_file",
    "flutter_symbol_file",
    "pe_symbol_file",
];

/// Adds, to each planned native file, the source bundle beside it as its `sources` part:
/// `<stem>.src.zip` (`app.src.zip` for `app.debug` or `app.pdb`, where `sentry-cli
/// debug-files bundle-sources` writes it) or `<name>.src.zip`. The symbol server then
/// answers debuginfod's `/source/<path>` from it.
pub fn attach_source_bundles(plans: &mut [Planned]) {
    for p in plans {
        let Some((_, file)) = p
            .parts
            .iter()
            .find(|(name, _)| WITH_SOURCES.contains(&name.as_str()))
        else {
            continue;
        };
        let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
        let bundle = [format!("{stem}.src.zip"), format!("{name}.src.zip")]
            .into_iter()
            .map(|n| file.with_file_name(n))
            .find(|b| b.is_file());
        if let Some(bundle) = bundle {
            p.parts.push(("sources".into(), bundle));
        }
    }
}

/// A file or folder skipped while planning, and why.
pub struct Skipped {
    pub path: PathBuf,
    pub why: String,
}

fn base_meta(kind: pb::UploadType, overwrite: bool, path: &Path) -> pb::UploadMetadata {
    pb::UploadMetadata {
        r#type: kind as i32,
        overwrite,
        cli_version: env!("CARGO_PKG_VERSION").to_owned(),
        filename: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        ..Default::default()
    }
}

fn ext_is(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Files (not folders) under `roots`, in a stable order.
fn files_under(roots: &[PathBuf], keep: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for root in roots {
        if !root.exists() {
            bail!("{} does not exist", root.display());
        }
        for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
            let entry = entry?;
            if entry.file_type().is_file() && keep(entry.path()) {
                out.push(entry.into_path());
            }
        }
    }
    Ok(out)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

pub fn inspect(path: &Path) -> Result<ObjectInfo> {
    symx_native::inspect(&read(path)?).with_context(|| format!("{}", path.display()))
}

/// Zips one `.dSYM` bundle folder into `scratch`, entries under `<name>.dSYM/`.
fn zip_bundle(bundle: &Path, scratch: &Path) -> Result<PathBuf> {
    let name = bundle
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle.dSYM".into());
    let out = scratch.join(format!("{name}.zip"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&out)?);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    for entry in walkdir::WalkDir::new(bundle).sort_by_file_name() {
        let entry = entry?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(bundle)?;
        let rel: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        zip.start_file(format!("{name}/{}", rel.join("/")), options)?;
        std::io::copy(&mut std::fs::File::open(entry.path())?, &mut zip)?;
    }
    zip.finish()?.flush()?;
    Ok(out)
}

/// Mach-O UUIDs (lowercase, dashed) and arches of every slice of every DWARF file in a bundle.
fn bundle_uuids(bundle: &Path) -> Result<Vec<(String, String)>> {
    let dwarf = bundle.join("Contents/Resources/DWARF");
    let mut out = Vec::new();
    for file in files_under(&[dwarf], |_| true)? {
        for info in symx_native::inspect_all(&read(&file)?)
            .with_context(|| format!("{}", file.display()))?
        {
            out.push((info.debug_id.to_ascii_lowercase(), info.arch));
        }
    }
    Ok(out)
}

/// The same for a `.zip` archive of bundles (each DWARF file read into memory in turn).
fn archive_uuids(path: &Path) -> Result<Vec<(String, String)>> {
    let file = std::fs::File::open(path)?;
    let mut archive = symx_native::dsym::DsymArchive::open(
        std::io::BufReader::new(file),
        &symx_native::dsym::Limits::default(),
    )
    .with_context(|| format!("{}", path.display()))?;
    let mut out = Vec::new();
    for entry in archive.dwarf_files().to_vec() {
        let mut bytes = Vec::new();
        archive.extract(&entry, &mut bytes)?;
        for info in symx_native::inspect_all(&bytes)
            .with_context(|| format!("{}: {}", path.display(), entry.path))?
        {
            out.push((info.debug_id.to_ascii_lowercase(), info.arch));
        }
    }
    Ok(out)
}

pub fn plan_dsym(
    roots: &[PathBuf],
    overwrite: bool,
    scratch: &Path,
) -> Result<(Vec<Planned>, Vec<Skipped>)> {
    let mut bundles = Vec::new();
    let mut zips = Vec::new();
    for root in roots {
        if !root.exists() {
            bail!("{} does not exist", root.display());
        }
        let mut walk = walkdir::WalkDir::new(root).sort_by_file_name().into_iter();
        while let Some(entry) = walk.next() {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type().is_dir() && ext_is(path, &["dSYM"]) {
                bundles.push(path.to_owned());
                walk.skip_current_dir();
            } else if entry.file_type().is_file() && ext_is(path, &["zip"]) {
                zips.push(path.to_owned());
            }
        }
    }
    let mut plans = Vec::new();
    let mut skipped = Vec::new();
    let mut seen = BTreeSet::new();
    let mut add = |path: &Path, uuids: Vec<(String, String)>, archive: PathBuf| {
        let ids: BTreeSet<String> = uuids.iter().map(|(u, _)| u.clone()).collect();
        if ids.is_empty() || !ids.is_disjoint(&seen) {
            skipped.push(Skipped {
                path: path.to_owned(),
                why: if ids.is_empty() {
                    "no Mach-O DWARF file inside".into()
                } else {
                    "its UUIDs are already planned".into()
                },
            });
            return;
        }
        seen.extend(ids.iter().cloned());
        let mut meta = base_meta(pb::UploadType::IosSymbols, overwrite, path);
        meta.uuids = ids.into_iter().collect::<Vec<_>>().join(",");
        let mut arches: Vec<String> = uuids.into_iter().map(|(_, a)| a).collect();
        arches.dedup();
        meta.arch = arches.join(",");
        plans.push(Planned {
            label: path.display().to_string(),
            meta,
            parts: vec![("symbols_archive".into(), archive)],
        });
    };
    for bundle in bundles {
        let uuids = bundle_uuids(&bundle)?;
        let zipped = if uuids.is_empty() {
            PathBuf::new()
        } else {
            zip_bundle(&bundle, scratch)?
        };
        add(&bundle, uuids, zipped);
    }
    let mut not_dsym = Vec::new();
    for z in zips {
        match archive_uuids(&z) {
            Ok(uuids) => add(&z, uuids, z.clone()),
            // A zip that is no dSYM archive is not ours to upload.
            Err(e) => not_dsym.push(Skipped {
                path: z,
                why: format!("{e:#}"),
            }),
        }
    }
    skipped.extend(not_dsym);
    if plans.is_empty() {
        bail!("no dSYM bundles or archives with DWARF found");
    }
    Ok((plans, skipped))
}

/// True when the file starts with the ELF magic.
pub fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

pub fn plan_ndk(roots: &[PathBuf], overwrite: bool) -> Result<(Vec<Planned>, Vec<Skipped>)> {
    let mut plans = Vec::new();
    let mut skipped = Vec::new();
    let mut seen = BTreeSet::new();
    for path in files_under(roots, |p| ext_is(p, &["so"]) && is_elf(p))? {
        let info = inspect(&path)?;
        let Some(build_id) = info.code_id.clone().filter(|c| !c.is_empty()) else {
            skipped.push(Skipped {
                path,
                why: "no GNU build id (link with -Wl,--build-id)".into(),
            });
            continue;
        };
        if !seen.insert((build_id.clone(), info.arch.clone())) {
            skipped.push(Skipped {
                path,
                why: format!("build id {build_id} ({}) already planned", info.arch),
            });
            continue;
        }
        let mut meta = base_meta(pb::UploadType::NdkSymbolFile, overwrite, &path);
        meta.build_id = build_id;
        meta.arch = info.arch;
        plans.push(Planned {
            label: path.display().to_string(),
            meta,
            parts: vec![("ndk_symbol_file".into(), path)],
        });
    }
    if plans.is_empty() {
        bail!("no .so libraries with a build id found");
    }
    Ok((plans, skipped))
}

/// The service identity of a Flutter upload.
pub struct FlutterIds<'a> {
    pub service: &'a str,
    pub version: &'a str,
    pub variant: &'a str,
}

/// `app.android-arm64.symbols` -> (`android`, `arm64`).
fn flutter_name(path: &Path) -> Option<(String, String)> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".symbols")?;
    let target = stem.rsplit('.').next()?;
    let (platform, arch) = target.split_once('-')?;
    Some((platform.to_owned(), arch.to_owned()))
}

pub fn plan_flutter(
    roots: &[PathBuf],
    ids: &FlutterIds<'_>,
    overwrite: bool,
) -> Result<(Vec<Planned>, Vec<Skipped>)> {
    let mut plans = Vec::new();
    let mut skipped = Vec::new();
    for path in files_under(roots, |p| ext_is(p, &["symbols"]))? {
        let Some((platform, name_arch)) = flutter_name(&path) else {
            skipped.push(Skipped {
                path,
                why: "not named like app.<platform>-<arch>.symbols".into(),
            });
            continue;
        };
        let info = inspect(&path)?;
        let mut meta = base_meta(pb::UploadType::FlutterSymbolFile, overwrite, &path);
        meta.service = ids.service.to_owned();
        meta.version = ids.version.to_owned();
        meta.variant = ids.variant.to_owned();
        meta.platform = platform;
        // Flutter names arm64, arm, x64; the file says what it holds.
        meta.arch = if info.arch.is_empty() || info.arch == "unknown" {
            name_arch
        } else {
            info.arch
        };
        plans.push(Planned {
            label: path.display().to_string(),
            meta,
            parts: vec![("flutter_symbol_file".into(), path)],
        });
    }
    if plans.is_empty() {
        bail!("no *.symbols files found (flutter build --split-debug-info=DIR)");
    }
    Ok((plans, skipped))
}

pub fn plan_pe(roots: &[PathBuf], overwrite: bool) -> Result<(Vec<Planned>, Vec<Skipped>)> {
    let mut plans = Vec::new();
    let mut skipped = Vec::new();
    let mut seen = BTreeSet::new();
    let files = files_under(roots, |p| ext_is(p, &["pdb", "dll", "exe", "sys"]))?;
    // PDBs first: a PE whose PDB is planned adds nothing.
    let (pdbs, pes): (Vec<PathBuf>, Vec<PathBuf>) =
        files.into_iter().partition(|p| ext_is(p, &["pdb"]));
    for path in pdbs.into_iter().chain(pes) {
        let info = match inspect(&path) {
            Ok(i) => i,
            Err(e) => {
                skipped.push(Skipped {
                    path,
                    why: format!("{e:#}"),
                });
                continue;
            }
        };
        let Some((guid, age)) = info.pdb_signature() else {
            skipped.push(Skipped {
                path,
                why: "no PDB signature (a PE needs a CodeView debug record)".into(),
            });
            continue;
        };
        if !seen.insert((guid.clone(), age)) {
            skipped.push(Skipped {
                path,
                why: format!("PDB {guid} age {age} already planned"),
            });
            continue;
        }
        let mut meta = base_meta(pb::UploadType::PeSymbolFile, overwrite, &path);
        meta.pdb_sig = guid;
        meta.pdb_age = Some(i64::from(age));
        meta.arch = info.arch;
        plans.push(Planned {
            label: path.display().to_string(),
            meta,
            parts: vec![("pe_symbol_file".into(), path)],
        });
    }
    if plans.is_empty() {
        bail!("no PDB or PE files with a PDB signature found");
    }
    Ok((plans, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flutter_names() {
        assert_eq!(
            flutter_name(Path::new("out/app.android-arm64.symbols")),
            Some(("android".into(), "arm64".into()))
        );
        assert_eq!(
            flutter_name(Path::new("app.ios-arm64.symbols")),
            Some(("ios".into(), "arm64".into()))
        );
        assert_eq!(flutter_name(Path::new("symbols.txt")), None);
    }
}
