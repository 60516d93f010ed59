use super::*;
use symx_types::UploadType;

fn js_meta(version: &str) -> UploadMetadata {
    let mut m = UploadMetadata::new(UploadType::JsSourcemap);
    m.service = Some("web".into());
    m.version = Some(version.into());
    m.minified_url = Some("/static/app.js".into());
    m
}

/// Whether anything of a blob is left: its first chunk or its completion marker.
fn blob_stored(s: &Storage, sha: &[u8; 32]) -> bool {
    let cf = s.cf(Column::Blobs).expect("cf");
    [keys::blob_chunk(sha, 0), keys::blob_complete(sha)]
        .iter()
        .any(|k| s.db.get_cf(cf, k).expect("get").is_some())
}

fn spool(dir: &Path, name: &str, content: &[u8]) -> NewBlob {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("spool");
    NewBlob {
        sha256: Sha256::digest(content).into(),
        path,
        size: content.len() as u64,
    }
}

fn artifact(dir: &Path, version: &str, content: &[u8], overwrite: bool) -> NewArtifact {
    let blob = spool(dir, &format!("{version}-{}", content.len()), content);
    let meta = js_meta(version);
    let id = ArtifactId::from_digest(
        ArtifactKind::Js,
        &Sha256::digest([version.as_bytes(), content].concat()),
    );
    NewArtifact {
        tenant: Tenant::default(),
        identity: meta.identity(),
        record: ArtifactRecord {
            id,
            kind: ArtifactKind::Js,
            metadata: meta,
            created_at_ms: now_ms(),
            deleted_at_ms: None,
            files: vec![FileRecord {
                part: "source_map".into(),
                sha256: hex::encode(blob.sha256),
                size: blob.size,
            }],
            debug_id: None,
            lookups: vec![(
                "path".into(),
                format!("web\u{1f}{version}\u{1f}/static/app.js"),
            )],
            indexes: vec!["js".into()],
        },
        blobs: vec![blob],
        indexes: vec![("js".into(), b"index-bytes".to_vec())],
        overwrite,
    }
}

#[test]
fn commit_then_read_everything_back_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let content = b"{\"version\":3}".repeat(1000);
    let id = {
        let s = Storage::open(&db, &StorageOptions::default()).expect("open");
        let a = artifact(dir.path(), "1.0", &content, false);
        let id = a.record.id.clone();
        assert_eq!(s.commit(a).expect("commit"), CommitOutcome::Created);
        id
    };
    let s = Storage::open(&db, &StorageOptions::default()).expect("reopen");
    let t = Tenant::default();
    let rec = s.get(&t, &id).expect("get").expect("present");
    assert_eq!(s.read_blob(&rec.files[0]).expect("blob"), content);
    assert_eq!(
        s.read_index(&t, &id, "js").expect("index").as_deref(),
        Some(&b"index-bytes"[..])
    );
    assert_eq!(
        s.lookup(
            &t,
            ArtifactKind::Js,
            "path",
            "web\u{1f}1.0\u{1f}/static/app.js"
        )
        .expect("lookup"),
        vec![id.clone()]
    );
    assert_eq!(s.list(&t, ArtifactKind::Js).expect("list").len(), 1);
    assert!(s.list(&t, ArtifactKind::Jvm).expect("list").is_empty());
    // Another tenant sees nothing.
    let other = Tenant::new("other").expect("tenant");
    assert!(s.get(&other, &id).expect("get").is_none());
    assert!(s.list(&other, ArtifactKind::Js).expect("list").is_empty());
}

#[test]
fn identity_conflicts_and_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Storage::open(&dir.path().join("db"), &StorageOptions::default()).expect("open");
    let first = artifact(dir.path(), "1.0", b"aaaa", false);
    let first_id = first.record.id.clone();
    s.commit(first).expect("commit");
    // Same identity, same content: ALREADY_EXISTS without overwrite, a no-op with it.
    let again = artifact(dir.path(), "1.0", b"aaaa", false);
    assert!(matches!(s.commit(again), Err(Error::AlreadyExists(_))));
    assert_eq!(
        s.commit(artifact(dir.path(), "1.0", b"aaaa", true))
            .expect("commit"),
        CommitOutcome::Unchanged
    );
    // Same identity, other content.
    let other = artifact(dir.path(), "1.0", b"bbbb", false);
    assert!(matches!(s.commit(other), Err(Error::AlreadyExists(id)) if id == first_id));
    let replace = artifact(dir.path(), "1.0", b"bbbb", true);
    let new_id = replace.record.id.clone();
    assert_eq!(
        s.commit(replace).expect("commit"),
        CommitOutcome::Replaced(first_id.clone())
    );
    let t = Tenant::default();
    assert!(s.get(&t, &first_id).expect("get").is_none());
    let recs = s.list(&t, ArtifactKind::Js).expect("list");
    assert_eq!(
        recs.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![new_id.clone()]
    );
    assert_eq!(s.read_blob(&recs[0].files[0]).expect("blob"), b"bbbb");
    // The replaced blob is gone: nothing references it.
    let old_sha: [u8; 32] = Sha256::digest(b"aaaa").into();
    assert!(!blob_stored(&s, &old_sha));
}

#[test]
fn soft_delete_restore_and_purge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Storage::open(&dir.path().join("db"), &StorageOptions::default()).expect("open");
    let t = Tenant::default();
    let a = artifact(dir.path(), "2.0", b"shared", false);
    let b = artifact(dir.path(), "3.0", b"shared", false);
    let (ida, idb) = (a.record.id.clone(), b.record.id.clone());
    s.commit(a).expect("commit a");
    s.commit(b).expect("commit b");
    let deleted = s
        .soft_delete(&t, std::slice::from_ref(&ida))
        .expect("delete");
    assert_eq!(deleted.len(), 1);
    assert!(
        s.lookup(
            &t,
            ArtifactKind::Js,
            "path",
            "web\u{1f}2.0\u{1f}/static/app.js"
        )
        .expect("lookup")
        .is_empty()
    );
    // The identity is free again: a new upload may take it; restoring then conflicts.
    let c = artifact(dir.path(), "2.0", b"newer", false);
    s.commit(c).expect("identity freed by delete");
    assert!(matches!(
        s.restore(&t, std::slice::from_ref(&ida), false),
        Err(Error::AlreadyExists(_))
    ));
    let restored = s
        .restore(&t, std::slice::from_ref(&ida), true)
        .expect("restore");
    assert_eq!(restored[0].deleted_at_ms, None);
    assert_eq!(
        s.lookup(
            &t,
            ArtifactKind::Js,
            "path",
            "web\u{1f}2.0\u{1f}/static/app.js"
        )
        .expect("lookup"),
        vec![ida.clone()]
    );

    // Purge: delete a, purge; the blob survives because b still references it.
    s.soft_delete(&t, std::slice::from_ref(&ida))
        .expect("delete");
    assert_eq!(s.purge(now_ms() + 1).expect("purge"), 1);
    assert!(s.get(&t, &ida).expect("get").is_none());
    let rb = s.get(&t, &idb).expect("get").expect("b stays");
    assert_eq!(s.read_blob(&rb.files[0]).expect("blob"), b"shared");
    s.soft_delete(&t, std::slice::from_ref(&idb))
        .expect("delete");
    assert_eq!(s.purge(now_ms() + 1).expect("purge"), 1);
    let sha: [u8; 32] = Sha256::digest(b"shared").into();
    assert!(!blob_stored(&s, &sha));
}

#[test]
fn large_blobs_span_chunks_and_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Storage::open(&dir.path().join("db"), &StorageOptions::default()).expect("open");
    let content: Vec<u8> = (0..(CHUNK_SIZE * 2 + 123))
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let a = artifact(dir.path(), "9.0", &content, false);
    let id = a.record.id.clone();
    s.commit(a).expect("commit");
    let rec = s
        .get(&Tenant::default(), &id)
        .expect("get")
        .expect("present");
    assert_eq!(s.read_blob(&rec.files[0]).expect("blob"), content);
}

/// A reader with seeks gives the bytes of any range, across chunk boundaries, and ends at the
/// file's end; a seek before the start is refused.
#[test]
fn a_blob_reader_reads_any_range_across_chunks() {
    use std::io::{Read, Seek, SeekFrom};
    let dir = tempfile::tempdir().expect("tempdir");
    let s = std::sync::Arc::new(
        Storage::open(&dir.path().join("db"), &StorageOptions::default()).expect("open"),
    );
    let content: Vec<u8> = (0..(CHUNK_SIZE * 2 + 4567))
        .map(|i| (i * 13 % 253) as u8)
        .collect();
    let a = artifact(dir.path(), "9.1", &content, false);
    let id = a.record.id.clone();
    s.commit(a).expect("commit");
    let rec = s
        .get(&Tenant::default(), &id)
        .expect("get")
        .expect("present");
    let mut r = BlobReader::new(s.clone(), rec.files[0].clone()).expect("reader");
    assert_eq!(r.len(), content.len() as u64);
    let mut all = Vec::new();
    r.read_to_end(&mut all).expect("read");
    assert!(all == content, "a whole read differs");
    for (at, len) in [
        (0usize, 10usize),
        (CHUNK_SIZE - 5, 10),
        (CHUNK_SIZE * 2 - 1, 4568),
        (123, CHUNK_SIZE * 2),
    ] {
        r.seek(SeekFrom::Start(at as u64)).expect("seek");
        let mut got = vec![0u8; len];
        r.read_exact(&mut got).expect("read_exact");
        assert!(got == content[at..at + len], "range {at}+{len} differs");
    }
    assert_eq!(
        r.seek(SeekFrom::End(-3)).expect("seek"),
        content.len() as u64 - 3
    );
    let mut tail = Vec::new();
    r.read_to_end(&mut tail).expect("read");
    assert_eq!(tail, content[content.len() - 3..]);
    assert!(
        r.seek(SeekFrom::Current(-(content.len() as i64) - 1))
            .is_err()
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    {
        let s = Storage::open(&path, &StorageOptions::default()).expect("open");
        let meta = s.cf(Column::Meta).expect("cf");
        s.db.put_cf(meta, keys::SCHEMA_VERSION_KEY, 99u32.to_be_bytes())
            .expect("put");
    }
    let err = Storage::open(&path, &StorageOptions::default()).expect_err("must refuse");
    assert!(matches!(err, Error::Schema { found: 99 }));
}

/// A `kill -9` in the middle of a large blob's write-ahead leaves some of its chunks and no
/// completion marker. The same bytes uploaded again must be stored whole: before the marker,
/// commit saw chunk 0, reused the blob, acknowledged the upload, and every read of it failed
/// ("chunk 1 missing") for ever.
#[test]
fn chunks_of_an_interrupted_blob_write_are_never_reused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Storage::open(&dir.path().join("db"), &StorageOptions::default()).expect("open");
    let content: Vec<u8> = (0..CHUNK_SIZE * 2 + 100)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    let a = artifact(dir.path(), "1", &content, false);
    // What the crash left: the first write-ahead chunk of this content, nothing else.
    let sha = a.blobs[0].sha256;
    let first = zstd::bulk::compress(&content[..CHUNK_SIZE], ZSTD_LEVEL).expect("compress");
    s.db.put_cf(
        s.cf(Column::Blobs).expect("cf"),
        keys::blob_chunk(&sha, 0),
        first,
    )
    .expect("put");
    let file = a.record.files[0].clone();
    s.commit(a).expect("commit");
    assert_eq!(
        s.read_blob(&file)
            .expect("the acknowledged blob reads back"),
        content
    );
    // And a second artifact with the same bytes reuses the (now complete) blob.
    let b = artifact(dir.path(), "2", &content, false);
    let file_b = b.record.files[0].clone();
    s.commit(b).expect("commit");
    assert_eq!(s.read_blob(&file_b).expect("reads"), content);
}

#[test]
fn a_release_lists_through_its_lookup_and_follows_delete_and_restore() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Storage::open(&dir.path().join("db"), &StorageOptions::default()).expect("open");
    let t = Tenant::default();
    let a = artifact(dir.path(), "1.0", b"one", false);
    let id = a.record.id.clone();
    s.commit(a).expect("commit");
    s.commit(artifact(dir.path(), "1.1", b"two", false))
        .expect("commit");
    let listed = s
        .list_release(&t, ArtifactKind::Js, "web", "1.0")
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert!(
        listed[0]
            .lookups
            .contains(&(RELEASE_FIELD.into(), release_value("web", "1.0")))
    );
    assert!(
        s.list_release(&t, ArtifactKind::Js, "web", "1.")
            .expect("list")
            .is_empty()
    );
    assert!(
        s.list_release(&t, ArtifactKind::Js, "we", "b1.0")
            .expect("list")
            .is_empty()
    );
    s.soft_delete(&t, std::slice::from_ref(&id))
        .expect("delete");
    assert!(
        s.list_release(&t, ArtifactKind::Js, "web", "1.0")
            .expect("list")
            .is_empty()
    );
    s.restore(&t, std::slice::from_ref(&id), false)
        .expect("restore");
    assert_eq!(
        s.list_release(&t, ArtifactKind::Js, "web", "1.0")
            .expect("list")
            .len(),
        1
    );
}

/// A store written by schema 1 (no release lookups) opens upgraded: its live artifacts list
/// by release, its deleted ones get the entry in their record only (restore adds the key).
#[test]
fn a_version_1_store_is_upgraded_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let t = Tenant::default();
    let (live, gone);
    {
        let s = Storage::open(&path, &StorageOptions::default()).expect("open");
        let a = artifact(dir.path(), "1.0", b"one", false);
        let b = artifact(dir.path(), "2.0", b"two", false);
        (live, gone) = (a.record.id.clone(), b.record.id.clone());
        s.commit(a).expect("commit");
        s.commit(b).expect("commit");
        s.soft_delete(&t, std::slice::from_ref(&gone))
            .expect("delete");
        // Undo what schema 2 added: the release keys and record entries, and the version.
        let lookup_cf = s.cf(Column::Lookup).expect("cf");
        for id in [&live, &gone] {
            let mut rec = s.get(&t, id).expect("get").expect("present");
            rec.lookups.retain(|(f, _)| f != RELEASE_FIELD);
            let version = rec.metadata.version.clone().unwrap_or_default();
            s.db.delete_cf(
                lookup_cf,
                keys::lookup(
                    &t,
                    ArtifactKind::Js,
                    RELEASE_FIELD,
                    &release_value("web", &version),
                    id,
                ),
            )
            .expect("delete key");
            s.db.put_cf(
                s.cf(Column::Catalog).expect("cf"),
                keys::catalog(&t, id),
                encode_record(&rec).expect("encode"),
            )
            .expect("put");
        }
        s.db.put_cf(
            s.cf(Column::Meta).expect("cf"),
            keys::SCHEMA_VERSION_KEY,
            1u32.to_be_bytes(),
        )
        .expect("put");
        assert!(
            s.list_release(&t, ArtifactKind::Js, "web", "1.0")
                .expect("list")
                .is_empty()
        );
    }
    let s = Storage::open(&path, &StorageOptions::default()).expect("upgrades");
    let listed = s
        .list_release(&t, ArtifactKind::Js, "web", "1.0")
        .expect("list");
    assert_eq!(
        listed.iter().map(|r| &r.id).collect::<Vec<_>>(),
        vec![&live]
    );
    assert!(
        s.list_release(&t, ArtifactKind::Js, "web", "2.0")
            .expect("list")
            .is_empty()
    );
    s.restore(&t, std::slice::from_ref(&gone), false)
        .expect("restore");
    assert_eq!(
        s.list_release(&t, ArtifactKind::Js, "web", "2.0")
            .expect("list")
            .len(),
        1
    );
    drop(s);
    // Opening again finds version 2 and changes nothing.
    let s = Storage::open(&path, &StorageOptions::default()).expect("opens");
    assert_eq!(
        s.list_release(&t, ArtifactKind::Js, "web", "1.0")
            .expect("list")
            .len(),
        1
    );
}

/// Chunks written ahead by a commit in progress are not orphans: a purge meanwhile leaves them
/// (they are collected only once no commit holds them and nothing references them).
#[test]
fn purge_leaves_the_blobs_of_commits_in_flight() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Storage::open(&dir.path().join("db"), &StorageOptions::default()).expect("open");
    let sha: [u8; 32] = Sha256::digest(b"in flight").into();
    let cf = s.cf(Column::Blobs).expect("cf");
    let guard = s.register([sha].into_iter());
    s.db.put_cf(cf, keys::blob_chunk(&sha, 0), b"chunk")
        .expect("put");
    s.purge(now_ms()).expect("purge");
    assert!(
        blob_stored(&s, &sha),
        "purged while its commit was in flight"
    );
    drop(guard);
    s.purge(now_ms()).expect("purge");
    assert!(
        !blob_stored(&s, &sha),
        "an orphan is collected once no commit holds it"
    );
}

/// A large blob is compressed and written ahead outside the commit lock: while another writer
/// holds the lock, its chunks reach the store; the commit completes once the lock is free.
#[test]
fn large_blobs_are_written_ahead_outside_the_commit_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = std::sync::Arc::new(
        Storage::open(&dir.path().join("db"), &StorageOptions::default()).expect("open"),
    );
    let content: Vec<u8> = (0..INLINE_BLOB_LIMIT + CHUNK_SIZE)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8)
        .collect();
    let a = artifact(dir.path(), "big", &content, false);
    let (sha, file) = (a.blobs[0].sha256, a.record.files[0].clone());
    let held = s.lock();
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || s.commit(a))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !blob_stored(&s, &sha) {
        assert!(
            std::time::Instant::now() < deadline,
            "no chunk written while the lock was held"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        !writer.is_finished(),
        "the commit itself waits for the lock"
    );
    drop(held);
    writer.join().expect("join").expect("commit");
    assert_eq!(s.read_blob(&file).expect("reads back"), content);
}

/// A purge of chosen artifacts (what a replica does once their bucket objects are gone)
/// removes only those still deleted; every record, deleted or not, is visited for snapshots.
#[test]
fn purging_chosen_artifacts_and_visiting_every_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Storage::open(&dir.path().join("db"), &StorageOptions::default()).expect("open");
    let t = Tenant::default();
    let a = artifact(dir.path(), "2.0", b"a", false);
    let b = artifact(dir.path(), "3.0", b"b", false);
    let (ida, idb) = (a.record.id.clone(), b.record.id.clone());
    s.commit(a).expect("commit a");
    s.commit(b).expect("commit b");
    s.soft_delete(&t, &[ida.clone(), idb.clone()])
        .expect("delete");
    let expired = s.expired(now_ms() + 1).expect("expired");
    assert_eq!(expired.len(), 2);
    assert!(s.expired(0).expect("expired").is_empty());
    // b restored after the list was taken: the purge leaves it.
    s.restore(&t, std::slice::from_ref(&idb), false)
        .expect("restore");
    assert_eq!(s.purge_these(&expired).expect("purge"), 1);
    assert!(s.get(&t, &ida).expect("get").is_none());
    let mut seen = Vec::new();
    s.for_each_record(|tenant, rec| -> Result<()> {
        seen.push((tenant, rec.id, rec.deleted_at_ms));
        Ok(())
    })
    .expect("visit");
    assert_eq!(seen, vec![(t, idb, None)]);
}

/// An evicted payload leaves the catalog entry and lookups; a blob another artifact uses
/// stays; a refill brings back files and indexes; a catalog-only commit starts evicted.
#[test]
fn evicting_and_refilling_a_payload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Storage::open(&dir.path().join("db"), &StorageOptions::default()).expect("open");
    let t = Tenant::default();
    let a = artifact(dir.path(), "2.0", b"shared", false);
    let b = artifact(dir.path(), "3.0", b"shared", false);
    let c = artifact(dir.path(), "4.0", b"own", false);
    let (ida, idb, idc) = (
        a.record.id.clone(),
        b.record.id.clone(),
        c.record.id.clone(),
    );
    let indexes_c = c.indexes.clone();
    s.commit(a).expect("commit a");
    s.commit(b).expect("commit b");
    s.commit(c).expect("commit c");
    let rc = s.get(&t, &idc).expect("get").expect("c");
    let full = s.payload_bytes(&t, &rc).expect("bytes");
    assert!(full >= rc.size());

    assert!(s.evict(&t, &idc).expect("evict c"));
    assert!(!s.evict(&t, &idc).expect("evict twice"), "already evicted");
    assert!(s.is_evicted(&t, &idc).expect("evicted"));
    assert_eq!(s.payload_bytes(&t, &rc).expect("bytes"), 0);
    let own: [u8; 32] = Sha256::digest(b"own").into();
    assert!(!blob_stored(&s, &own), "c's own blob went");
    assert!(s.read_blob(&rc.files[0]).is_err());
    assert_eq!(
        s.lookup(
            &t,
            ArtifactKind::Js,
            "path",
            "web\u{1f}4.0\u{1f}/static/app.js"
        )
        .expect("lookup"),
        vec![idc.clone()],
        "still found"
    );
    // a's blob is b's too: evicting a keeps it.
    assert!(s.evict(&t, &ida).expect("evict a"));
    let rb = s.get(&t, &idb).expect("get").expect("b");
    assert_eq!(s.read_blob(&rb.files[0]).expect("b's blob"), b"shared");

    let blob = spool(dir.path(), "own-again", b"own");
    assert!(
        s.refill(&t, &idc, std::slice::from_ref(&blob), &indexes_c)
            .expect("refill")
    );
    assert!(!s.is_evicted(&t, &idc).expect("evicted"));
    assert_eq!(s.read_blob(&rc.files[0]).expect("c's blob"), b"own");
    assert_eq!(s.payload_bytes(&t, &rc).expect("bytes"), full);
    let wrong = spool(dir.path(), "wrong", b"other");
    assert!(s.evict(&t, &idc).expect("evict c again"));
    assert!(
        s.refill(&t, &idc, &[wrong], &indexes_c).is_err(),
        "a refill must bring the record's files"
    );

    // A catalog-only commit: found, evicted, filled on demand; purged like any other.
    let mut d = artifact(dir.path(), "5.0", b"later", false);
    let idd = d.record.id.clone();
    let blobs_d = std::mem::take(&mut d.blobs);
    let indexes_d = std::mem::take(&mut d.indexes);
    s.commit(d).expect("catalog-only commit");
    assert!(s.is_evicted(&t, &idd).expect("evicted"));
    assert!(s.refill(&t, &idd, &blobs_d, &indexes_d).expect("refill d"));
    let rd = s.get(&t, &idd).expect("get").expect("d");
    assert_eq!(s.read_blob(&rd.files[0]).expect("d's blob"), b"later");
    s.soft_delete(&t, &[idd.clone(), idc.clone()])
        .expect("delete");
    assert_eq!(s.purge(now_ms() + 1).expect("purge"), 2);
    let later: [u8; 32] = Sha256::digest(b"later").into();
    assert!(!blob_stored(&s, &later));
}
