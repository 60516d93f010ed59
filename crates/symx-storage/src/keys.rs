//! Key builders for every column family. Call sites never format keys themselves.
//!
//! Variable-length parts are length-prefixed (`u32` big-endian length, then the bytes), so no
//! value can forge a separator and a prefix made of whole parts selects exactly the keys that
//! start with those parts. Numbers are big-endian so keys sort numerically.

use symx_types::{ArtifactId, ArtifactKind, Tenant};

/// Appends one length-prefixed part.
pub(crate) fn part(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn tenant_prefix(tenant: &Tenant) -> Vec<u8> {
    let mut k = Vec::with_capacity(64);
    part(&mut k, tenant.as_str().as_bytes());
    k
}

/// `catalog`: tenant | kind tag | id.
pub fn catalog(tenant: &Tenant, id: &ArtifactId) -> Vec<u8> {
    let mut k = catalog_kind_prefix(tenant, id.kind());
    part(&mut k, id.as_str().as_bytes());
    k
}

/// The tenant a `catalog` (or `identity`, `lookup`, `index`) key starts with.
pub fn tenant_of(key: &[u8]) -> Option<Tenant> {
    let (tenant, _) = read_part(key)?;
    Tenant::new(std::str::from_utf8(tenant).ok()?).ok()
}

/// `catalog` prefix of one kind in one tenant.
pub fn catalog_kind_prefix(tenant: &Tenant, kind: ArtifactKind) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.push(kind.tag());
    k
}

/// `identity`: tenant | kind tag | identity string.
pub fn identity(tenant: &Tenant, kind: ArtifactKind, identity: &str) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.push(kind.tag());
    part(&mut k, identity.as_bytes());
    k
}

/// `lookup` prefix: tenant | kind tag | field | value. The full key appends the id.
pub fn lookup_prefix(tenant: &Tenant, kind: ArtifactKind, field: &str, value: &str) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.push(kind.tag());
    part(&mut k, field.as_bytes());
    part(&mut k, value.as_bytes());
    k
}

pub fn lookup(
    tenant: &Tenant,
    kind: ArtifactKind,
    field: &str,
    value: &str,
    id: &ArtifactId,
) -> Vec<u8> {
    let mut k = lookup_prefix(tenant, kind, field, value);
    part(&mut k, id.as_str().as_bytes());
    k
}

/// `blobs`: sha256 (32 bytes) | chunk number (u32 BE).
pub fn blob_chunk(sha256: &[u8; 32], chunk: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(36);
    k.extend_from_slice(sha256);
    k.extend_from_slice(&chunk.to_be_bytes());
    k
}

/// `blobs`: the completion marker of a blob, sha256 | u32::MAX BE (a chunk number no blob
/// reaches: [`crate::CHUNK_SIZE`] x 2^32 bytes). Written in the batch that first references
/// the blob, after all its chunks are durable: a blob without it is incomplete (an interrupted
/// write-ahead) and is never reused.
pub fn blob_complete(sha256: &[u8; 32]) -> Vec<u8> {
    blob_chunk(sha256, u32::MAX)
}

/// `blobrefs`: sha256 | tenant | id. Its prefix (the sha256 alone) lists a blob's referents.
pub fn blob_ref(sha256: &[u8; 32], tenant: &Tenant, id: &ArtifactId) -> Vec<u8> {
    let mut k = Vec::with_capacity(96);
    k.extend_from_slice(sha256);
    part(&mut k, tenant.as_str().as_bytes());
    part(&mut k, id.as_str().as_bytes());
    k
}

/// `index`: tenant | id | part name.
pub fn index(tenant: &Tenant, id: &ArtifactId, name: &str) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    part(&mut k, id.as_str().as_bytes());
    part(&mut k, name.as_bytes());
    k
}

/// `trash`: deleted-at millis (u64 BE) | tenant | id. Sorted by time for the purge scan.
pub fn trash(deleted_at_ms: u64, tenant: &Tenant, id: &ArtifactId) -> Vec<u8> {
    let mut k = Vec::with_capacity(80);
    k.extend_from_slice(&deleted_at_ms.to_be_bytes());
    part(&mut k, tenant.as_str().as_bytes());
    part(&mut k, id.as_str().as_bytes());
    k
}

/// Splits a `trash` key back into its parts.
pub fn parse_trash(key: &[u8]) -> Option<(u64, Tenant, ArtifactId)> {
    let ms = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
    let (tenant, rest) = read_part(&key[8..])?;
    let (id, rest) = read_part(rest)?;
    if !rest.is_empty() {
        return None;
    }
    let tenant = Tenant::new(std::str::from_utf8(tenant).ok()?).ok()?;
    let id = ArtifactId::parse(std::str::from_utf8(id).ok()?).ok()?;
    Some((ms, tenant, id))
}

/// The last part of a key (the id of a `lookup` key, given its prefix length).
pub fn last_part(key: &[u8], prefix_len: usize) -> Option<&[u8]> {
    let (p, rest) = read_part(key.get(prefix_len..)?)?;
    rest.is_empty().then_some(p)
}

fn read_part(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
    let body = b.get(4..4 + len)?;
    Some((body, &b[4 + len..]))
}

pub const SCHEMA_VERSION_KEY: &[u8] = b"schema_version";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn trash_keys_round_trip(ms in any::<u64>(), t in "[a-z0-9_.-]{1,64}", h in "[0-9a-f]{32}") {
            let tenant = Tenant::new(&t).expect("valid tenant");
            let id = ArtifactId::parse(&format!("js_{h}")).expect("valid id");
            let k = trash(ms, &tenant, &id);
            prop_assert_eq!(parse_trash(&k), Some((ms, tenant, id)));
        }

        #[test]
        fn lookup_prefixes_never_capture_other_values(a in ".{0,20}", b in ".{0,20}") {
            let t = Tenant::default();
            let id = ArtifactId::parse(&format!("js_{}", "0".repeat(32))).expect("valid id");
            let key = lookup(&t, ArtifactKind::Js, "path", &b, &id);
            let prefix = lookup_prefix(&t, ArtifactKind::Js, "path", &a);
            prop_assert_eq!(key.starts_with(&prefix), a == b);
            if a == b {
                prop_assert_eq!(last_part(&key, prefix.len()), Some(id.as_str().as_bytes()));
            }
        }
    }

    #[test]
    fn time_orders_trash_keys() {
        let t = Tenant::default();
        let id = ArtifactId::parse(&format!("js_{}", "a".repeat(32))).expect("valid id");
        assert!(trash(1, &t, &id) < trash(256, &t, &id));
    }
}
