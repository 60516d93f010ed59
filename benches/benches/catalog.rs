//! Listing and get-by-file in a service with 100,000 artifacts (issue 11: 135 ms and 127 ms
//! when each scanned the service).
//!
//! The store: one service, 1,000 versions of 100 JavaScript files each, every artifact a real
//! (tiny) map with its built index, committed through `symx-storage` once and kept in
//! `bench-data/catalog-100k/` (85 s to make: one synced batch per artifact). Then `symx` opens
//! it as `symxd` would:
//! * `catalog/list_one_version`: the list API for one (service, version): 100 artifacts,
//!   through the release lookup.
//! * `catalog/get_by_file`: the get API by file name in one release (list + read the map +
//!   open its index).
//! * `catalog/list_by_scan` (baseline, same run): the same version's artifacts found by
//!   scanning the service (a query the release lookup cannot answer: service only, no
//!   version, filtered by id), as every listing did before.

use criterion::{Criterion, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use std::hint::black_box;
use symx_service::{Config, ListQuery, SourceMapSelector, Symx};
use symx_storage::{ArtifactRecord, FileRecord, NewArtifact, NewBlob, Storage, StorageOptions};
use symx_types::{ArtifactId, ArtifactKind, Tenant, UploadMetadata, UploadType};

const SERVICE: &str = "big";
const VERSIONS: usize = 1_000;
const FILES: usize = 100;

fn make_store(path: &std::path::Path) -> anyhow::Result<()> {
    let done = path.join("complete");
    if done.exists() {
        return Ok(());
    }
    if path.exists() {
        std::fs::remove_dir_all(path)?;
    }
    std::fs::create_dir_all(path)?;
    let storage = Storage::open(&path.join("db"), &StorageOptions::default())?;
    let spool = tempfile::tempdir()?;
    let tenant = Tenant::default();
    eprintln!(
        "making {} artifacts in {}",
        VERSIONS * FILES,
        path.display()
    );
    for v in 0..VERSIONS {
        for f in 0..FILES {
            let map = format!(
                r#"{{"version":3,"file":"chunk{f}.js","sources":["src/v{v}/m{f}.ts"],"names":["f{f}"],"mappings":"AAAAA"}}"#
            );
            let built = symx_sourcemap::build_index(map.as_bytes(), None)?;
            let sha: [u8; 32] = Sha256::digest(map.as_bytes()).into();
            let blob = spool.path().join(format!("{v}-{f}"));
            std::fs::write(&blob, &map)?;
            let mut meta = UploadMetadata::new(UploadType::JsSourcemap);
            meta.service = Some(SERVICE.into());
            meta.version = Some(format!("1.{v}.0"));
            meta.minified_url = Some(format!("https://cdn.example.com/static/js/chunk{f}.js"));
            storage.commit(NewArtifact {
                tenant: tenant.clone(),
                identity: meta.identity(),
                record: ArtifactRecord {
                    id: ArtifactId::from_digest(ArtifactKind::Js, &sha),
                    kind: ArtifactKind::Js,
                    metadata: meta,
                    created_at_ms: (v * FILES + f) as u64,
                    deleted_at_ms: None,
                    files: vec![FileRecord {
                        part: "source_map".into(),
                        sha256: sha.iter().map(|b| format!("{b:02x}")).collect(),
                        size: map.len() as u64,
                    }],
                    debug_id: None,
                    lookups: vec![],
                    indexes: vec!["js".into()],
                },
                blobs: vec![NewBlob {
                    sha256: sha,
                    path: blob.clone(),
                    size: map.len() as u64,
                }],
                indexes: vec![("js".into(), built.bytes)],
                overwrite: false,
            })?;
            std::fs::remove_file(blob)?;
        }
    }
    std::fs::write(done, b"")?;
    Ok(())
}

fn benches(c: &mut Criterion) {
    let dir = symx_benches::data_dir().join("catalog-100k");
    make_store(&dir).unwrap_or_else(|e| panic!("making the store: {e:#}"));
    let mut config = Config::default();
    config.storage.data_dir = dir.clone();
    let symx = Symx::open(config).unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let tenant = Tenant::default();
    let version = "1.500.0".to_owned();
    let one_version = {
        let mut q = ListQuery::new(ArtifactKind::Js);
        for (name, value) in [("service", SERVICE), ("version", version.as_str())] {
            q.filters.add(name, value).unwrap_or_else(|e| panic!("{e}"));
        }
        q.page_size = Some(1_000);
        q
    };
    let listed = rt
        .block_on(symx.list(tenant.clone(), one_version.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed.artifacts.len(), FILES, "one version lists its files");
    let by_scan = {
        let mut q = ListQuery::new(ArtifactKind::Js);
        q.filters
            .add("service", SERVICE)
            .unwrap_or_else(|e| panic!("{e}"));
        for a in &listed.artifacts {
            q.filters
                .add("id", a.id.to_string())
                .unwrap_or_else(|e| panic!("{e}"));
        }
        // Without a version (as Elastic's list asks): the kind is scanned.
        q.unscoped = true;
        q.page_size = Some(1_000);
        q
    };
    let scanned = rt
        .block_on(symx.list(tenant.clone(), by_scan.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scanned.artifacts.len(), FILES, "the scan finds the same");

    let mut g = c.benchmark_group("catalog");
    g.bench_function("list_one_version", |b| {
        b.iter(|| {
            rt.block_on(symx.list(tenant.clone(), one_version.clone()))
                .map(|p| black_box(p.artifacts.len()))
        })
    });
    g.bench_function("get_by_file", |b| {
        let mut f = 0;
        b.iter(|| {
            f = (f + 1) % FILES;
            let selector = SourceMapSelector::File {
                filename: format!("chunk{f}.js"),
                service: SERVICE.into(),
                version: version.clone(),
            };
            let got = rt
                .block_on(symx.get_sourcemap(tenant.clone(), selector))
                .unwrap_or_else(|e| panic!("{e}"));
            black_box(got.sources.len())
        })
    });
    g.sample_size(10);
    g.bench_function("list_by_scan", |b| {
        b.iter(|| {
            rt.block_on(symx.list(tenant.clone(), by_scan.clone()))
                .map(|p| black_box(p.artifacts.len()))
        })
    });
    g.finish();
}

criterion_group!(catalog, benches);
criterion_main!(catalog);
