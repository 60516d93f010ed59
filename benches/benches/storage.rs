//! RocksDB round trips through `symx-storage`: committing a small artifact (one synced write
//! batch: catalog, identity, lookups, blob, index) and reading its catalog entry and index back.

use criterion::{Criterion, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use std::hint::black_box;
use symx_storage::{ArtifactRecord, FileRecord, NewArtifact, NewBlob, Storage, StorageOptions};
use symx_types::{ArtifactId, ArtifactKind, Tenant, UploadMetadata, UploadType};

fn artifact(dir: &std::path::Path, n: u64) -> NewArtifact {
    let content = format!("{{\"version\":3,\"n\":{n}}}").repeat(64);
    let sha: [u8; 32] = Sha256::digest(content.as_bytes()).into();
    let path = dir.join(format!("blob-{n}"));
    std::fs::write(&path, &content).unwrap_or_else(|e| panic!("{e}"));
    let mut meta = UploadMetadata::new(UploadType::JsSourcemap);
    meta.service = Some("bench".into());
    meta.version = Some(n.to_string());
    meta.minified_url = Some("/app.js".into());
    NewArtifact {
        tenant: Tenant::default(),
        identity: meta.identity(),
        record: ArtifactRecord {
            id: ArtifactId::from_digest(ArtifactKind::Js, &sha),
            kind: ArtifactKind::Js,
            metadata: meta,
            created_at_ms: n,
            deleted_at_ms: None,
            files: vec![FileRecord {
                part: "source_map".into(),
                sha256: sha.iter().map(|b| format!("{b:02x}")).collect(),
                size: content.len() as u64,
            }],
            debug_id: None,
            lookups: vec![("path".into(), format!("bench\u{1f}{n}\u{1f}/app.js"))],
            indexes: vec!["js".into()],
        },
        blobs: vec![NewBlob {
            sha256: sha,
            path,
            size: content.len() as u64,
        }],
        indexes: vec![("js".into(), vec![7u8; 4096])],
        overwrite: true,
    }
}

fn roundtrip(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let storage = Storage::open(&dir.path().join("db"), &StorageOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut g = c.benchmark_group("storage");
    let mut n = 0u64;
    g.bench_function("commit_small_artifact_synced", |b| {
        b.iter(|| {
            n += 1;
            storage.commit(artifact(dir.path(), n)).is_ok()
        })
    });
    let a = artifact(dir.path(), u64::MAX);
    let (tenant, id) = (a.tenant.clone(), a.record.id.clone());
    storage.commit(a).unwrap_or_else(|e| panic!("{e}"));
    g.bench_function("get_record_and_index", |b| {
        b.iter(|| {
            let rec = storage.get(&tenant, &id).ok().flatten();
            let idx = storage.read_index(&tenant, &id, "js").ok().flatten();
            black_box((rec, idx))
        })
    });
    g.finish();
}

criterion_group!(benches, roundtrip);
criterion_main!(benches);
