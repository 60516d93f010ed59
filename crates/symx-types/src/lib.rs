//! The vocabulary of symx: tenants, artifact kinds and ids, upload metadata and its validation,
//! stack frames and their per-frame status, the list filters, and the closed set of error
//! codes.
//!
//! This crate does no IO and knows no transport. Every other crate speaks in these types; the
//! gRPC and HTTP edges convert to and from them.

mod error;
mod filter;
mod frame;
mod kind;
mod metadata;

pub mod stacktrace;
pub mod time;

pub use error::{ErrorCode, HasErrorCode};
pub use filter::{LIST_FILTERS, ListFilter, Match, list_filter};
pub use frame::{
    FrameStatus, JsFrame, JvmFrame, JvmThrowable, NativeFrame, ResolvedFrame, SourceLink,
};
pub use kind::{ArtifactKind, UploadType};
pub use metadata::{FieldError, UploadMetadata};

use serde::{Deserialize, Serialize};
use std::fmt;

/// A tenant: every storage key, cache key, listing and lookup is scoped by one.
///
/// Until API keys arrive every caller is in [`Tenant::DEFAULT`]; the storage layout already
/// starts every key with the tenant so isolation never needs a migration.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tenant(String);

impl Tenant {
    /// The tenant of unauthenticated, single-team deployments.
    pub const DEFAULT: &'static str = "default";

    /// A tenant name: 1 to 64 characters of `[A-Za-z0-9_.-]` (it is part of storage keys,
    /// so no separator byte may appear in it).
    pub fn new(name: &str) -> Result<Self, FieldError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(FieldError::new(
                "tenant",
                "must be 1-64 characters of letters, digits, '_', '.' or '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Tenant {
    fn default() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of one stored artifact: `<mapkind>_<32 lowercase hex>`.
///
/// Derived deterministically from (tenant, kind, identity, content digest), so every replica
/// computes the same id for the same upload, and the kind can be read back from the id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ArtifactId(String);

impl ArtifactId {
    /// Builds the id from its kind and a digest (at least 16 bytes; the first 16 are used).
    pub fn from_digest(kind: ArtifactKind, digest: &[u8]) -> Self {
        let take = digest.len().min(16);
        Self(format!(
            "{}_{}",
            kind.mapkind(),
            hex::encode(&digest[..take])
        ))
    }

    /// Parses an id given by a client; the error names the problem.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        let Some((kind, hex_part)) = s.split_once('_') else {
            return Err(FieldError::new(
                "id",
                format!("`{s}` is not an artifact id"),
            ));
        };
        if ArtifactKind::from_mapkind(kind).is_none()
            || hex_part.len() != 32
            || !hex_part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(FieldError::new(
                "id",
                format!("`{s}` is not an artifact id"),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn kind(&self) -> ArtifactKind {
        self.0
            .split_once('_')
            .and_then(|(k, _)| ArtifactKind::from_mapkind(k))
            .unwrap_or(ArtifactKind::Js)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ArtifactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_id_round_trips_and_carries_its_kind() {
        let id = ArtifactId::from_digest(ArtifactKind::Jvm, &[0xab; 32]);
        assert_eq!(id.as_str(), format!("jvm_{}", "ab".repeat(16)));
        let parsed = ArtifactId::parse(id.as_str()).expect("valid id");
        assert_eq!(parsed.kind(), ArtifactKind::Jvm);
        assert!(ArtifactId::parse("jvm_xyz").is_err());
        assert!(ArtifactId::parse("nope_00000000000000000000000000000000").is_err());
        assert!(ArtifactId::parse("js").is_err());
    }

    #[test]
    fn tenant_names_cannot_hold_key_separators() {
        assert!(Tenant::new("acme-prod").is_ok());
        assert!(Tenant::new("a\0b").is_err());
        assert!(Tenant::new("").is_err());
        assert!(Tenant::new(&"x".repeat(65)).is_err());
    }
}
