//! API keys, tenants and scopes.
//!
//! A key is `symx_<id>_<secret>`: `id` (16 hex digits) is public and names the stored record,
//! `secret` (64 hex digits, 256 random bits) is shown once at creation and stored only as its
//! sha256, compared in constant time. A key belongs to one tenant and carries scopes:
//! `read` (list, get, symbolicate, reprocess), `upload`, `delete` (delete, restore) and
//! `admin` (manage the tenant's keys; implies the others).
//!
//! Key records are cached for [`KEY_CACHE_TTL`] after a read, so a busy pipeline does not pay
//! a storage read per call; creating or revoking a key clears this process's cache at once
//! (another replica sees a revocation within the TTL).
//!
//! While the store holds no key at all, the service runs open: every caller is the default
//! tenant with every scope (`symxd` allows that only on loopback). The first key created
//! turns authentication on for every request; revoking every key does not turn it off.

use crate::error::{Result, ServiceError};
use crate::metrics::Metrics;
use crate::pool::Pool;
use crate::shared::Shared;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use symx_storage::{ApiKeyRecord, Storage};
use symx_types::{ErrorCode, Tenant};

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Read,
    Upload,
    Delete,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Self::Read, Self::Upload, Self::Delete, Self::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Upload => "upload",
            Self::Delete => "delete",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                ServiceError::invalid(
                    "scopes",
                    format!("unknown scope `{s}`: expected read, upload, delete or admin"),
                )
            })
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    tenant: Tenant,
    key_id: Option<String>,
    scopes: u8,
}

impl Principal {
    /// The caller of an open service (no keys exist): the default tenant, every scope.
    pub fn open() -> Self {
        Self {
            tenant: Tenant::default(),
            key_id: None,
            scopes: Scope::ALL.iter().fold(0, |m, s| m | s.bit()),
        }
    }

    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    /// The key's id; `None` on an open service.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes & (scope.bit() | Scope::Admin.bit()) != 0
    }

    /// PERMISSION_DENIED unless the caller has `scope` (or `admin`).
    pub fn require(&self, scope: Scope) -> Result<()> {
        if self.allows(scope) {
            Ok(())
        } else {
            Err(ServiceError::new(
                ErrorCode::PermissionDenied,
                format!(
                    "API key {} lacks the `{}` scope",
                    self.key_id.as_deref().unwrap_or("-"),
                    scope.as_str()
                ),
            ))
        }
    }
}

/// An API key as listed (never with its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyView {
    pub id: String,
    pub tenant: Tenant,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at_ms: u64,
    pub revoked_at_ms: Option<u64>,
}

impl From<ApiKeyRecord> for ApiKeyView {
    fn from(r: ApiKeyRecord) -> Self {
        Self {
            id: r.id,
            tenant: r.tenant,
            name: r.name,
            scopes: r.scopes,
            created_at_ms: r.created_at_ms,
            revoked_at_ms: r.revoked_at_ms,
        }
    }
}

/// A key just created: its record, and the full key, shown this once.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    pub key: ApiKeyView,
    pub token: String,
}

const PREFIX: &str = "symx_";

/// How long a key record read from storage is trusted without reading it again.
pub const KEY_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// The stored keys, with a cache of the records recently read.
#[derive(Debug)]
pub(crate) struct Keys {
    storage: Arc<Storage>,
    pool: Pool,
    metrics: Metrics,
    /// Some API key exists: every request must present one.
    required: AtomicBool,
    /// Key records by id (`None`: no such key), for [`KEY_CACHE_TTL`].
    cache: moka::sync::Cache<String, Option<Arc<ApiKeyRecord>>>,
    /// With replicas (`[storage.s3]`), keys live in the bucket: created, revoked and read
    /// there (this replica's store keeps a copy for when the bucket is unreachable).
    shared: Option<Arc<Shared>>,
    /// When a replica running open last asked the bucket whether a key exists.
    open_checked: std::sync::Mutex<Option<std::time::Instant>>,
}

/// A key record: from the bucket when replicas share one (its copy here refreshed; the copy
/// answers while the bucket is unreachable), else from this store.
fn read_key(storage: &Storage, shared: Option<&Shared>, id: &str) -> Result<Option<ApiKeyRecord>> {
    if let Some(shared) = shared {
        match shared.api_key(id) {
            Ok(Some(rec)) => {
                if storage.api_key(id)?.as_ref() != Some(&rec) {
                    storage.put_api_key(&rec)?;
                }
                return Ok(Some(rec));
            }
            Ok(None) => return Ok(None),
            Err(e) if e.code == ErrorCode::Unavailable => {
                tracing::warn!(error = %e, "API key read from this replica's copy");
            }
            Err(e) => return Err(e),
        }
    }
    storage.api_key(id).map_err(ServiceError::from)
}

/// Splits `symx_<id>_<secret>`; `None` for anything else.
pub fn split_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.trim().strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 16) && hex(secret, 64)).then_some((id, secret))
}

/// Joins an id and secret given apart (Elastic's `ApiKey base64(id:api_key)`, basic auth)
/// into a key; the secret may also be the whole key.
pub fn join_token(id: &str, secret: &str) -> String {
    if split_token(secret).is_some() {
        secret.to_owned()
    } else {
        format!("{PREFIX}{id}_{secret}")
    }
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Equality of two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| ServiceError::internal(format!("no randomness for a key: {e}")))?;
    Ok(hex::encode(buf))
}

fn unauthenticated(message: &str) -> ServiceError {
    ServiceError::new(ErrorCode::Unauthenticated, message)
}

impl Keys {
    pub(crate) fn open(
        storage: Arc<Storage>,
        pool: Pool,
        metrics: Metrics,
        shared: Option<Arc<Shared>>,
    ) -> Result<Self> {
        // With replicas, whether the bucket holds a key is asked before the first request
        // is let in open (`key_created_elsewhere`).
        let required = AtomicBool::new(!storage.api_keys()?.is_empty());
        Ok(Self {
            storage,
            pool,
            metrics,
            required,
            shared,
            open_checked: std::sync::Mutex::new(None),
            cache: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(KEY_CACHE_TTL)
                .build(),
        })
    }

    /// Whether requests must present a key (some key was ever created).
    pub(crate) fn required(&self) -> bool {
        self.required.load(Ordering::Acquire)
    }

    /// A replica running open (no key anywhere when it last looked) asks the bucket again at
    /// most every [`KEY_CACHE_TTL`]: another replica may have created the first key.
    async fn key_created_elsewhere(&self) -> bool {
        let Some(shared) = self.shared.clone() else {
            return false;
        };
        {
            let mut checked = self.open_checked.lock().unwrap_or_else(|e| e.into_inner());
            if checked.is_some_and(|t| t.elapsed() < KEY_CACHE_TTL) {
                return false;
            }
            *checked = Some(std::time::Instant::now());
        }
        let any = self
            .pool
            .run(move || Ok(shared.any_api_key().unwrap_or(true)))
            .await
            .unwrap_or(true);
        if any {
            self.required.store(true, Ordering::Release);
        }
        any
    }

    /// The caller a presented key stands for. UNAUTHENTICATED when a key is required and
    /// `token` is missing, malformed, unknown, revoked or wrong; the message never says which.
    pub(crate) async fn authenticate(&self, token: Option<&str>) -> Result<Principal> {
        if !self.required() && !self.key_created_elsewhere().await {
            return Ok(Principal::open());
        }
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthenticated("an API key is required"))?;
        let Some((id, secret)) = split_token(token) else {
            return Err(unauthenticated("invalid API key"));
        };
        let (id, secret_sha) = (
            id.to_ascii_lowercase(),
            sha256_hex(&secret.to_ascii_lowercase()),
        );
        let rec = match self.cache.get(&id) {
            Some(cached) => cached,
            None => {
                let (storage, shared) = (self.storage.clone(), self.shared.clone());
                let read_id = id.clone();
                let rec = self
                    .pool
                    .run(move || read_key(&storage, shared.as_deref(), &read_id))
                    .await?
                    .map(std::sync::Arc::new);
                self.cache.insert(id, rec.clone());
                rec
            }
        };
        match rec.as_deref() {
            Some(r)
                if r.revoked_at_ms.is_none()
                    && constant_time_eq(r.secret_sha256.as_bytes(), secret_sha.as_bytes()) =>
            {
                let scopes = r
                    .scopes
                    .iter()
                    .filter_map(|s| Scope::parse(s).ok())
                    .fold(0, |m, s| m | s.bit());
                Ok(Principal {
                    tenant: r.tenant.clone(),
                    key_id: Some(r.id.clone()),
                    scopes,
                })
            }
            _ => {
                self.metrics.auth_failures.inc();
                Err(unauthenticated("invalid API key"))
            }
        }
    }

    /// Creates a key for `tenant` (default: the caller's). Needs `admin`; a key's admin may
    /// only create keys of its own tenant, an open service's caller any.
    pub(crate) async fn create_key(
        &self,
        by: &Principal,
        tenant: Option<Tenant>,
        name: &str,
        scopes: &[String],
    ) -> Result<NewApiKey> {
        by.require(Scope::Admin)?;
        let tenant = tenant.unwrap_or_else(|| by.tenant.clone());
        if by.key_id.is_some() && tenant != by.tenant {
            return Err(ServiceError::new(
                ErrorCode::PermissionDenied,
                format!(
                    "an admin key of tenant `{}` cannot create keys of tenant `{tenant}`",
                    by.tenant
                ),
            ));
        }
        if scopes.is_empty() {
            return Err(ServiceError::invalid(
                "scopes",
                "give at least one scope: read, upload, delete or admin",
            ));
        }
        let mut parsed = Vec::new();
        for s in scopes {
            let scope = Scope::parse(s.trim())?;
            if !parsed.contains(&scope) {
                parsed.push(scope);
            }
        }
        if name.len() > 200 {
            return Err(ServiceError::invalid("name", "at most 200 characters"));
        }
        let id = random_hex(8)?;
        let secret = random_hex(32)?;
        let rec = ApiKeyRecord {
            id: id.clone(),
            tenant,
            name: name.to_owned(),
            scopes: parsed.iter().map(|s| s.as_str().to_owned()).collect(),
            secret_sha256: sha256_hex(&secret),
            created_at_ms: symx_storage::now_ms(),
            revoked_at_ms: None,
        };
        let (storage, shared) = (self.storage.clone(), self.shared.clone());
        let stored = rec.clone();
        self.pool
            .run(move || {
                if let Some(shared) = &shared {
                    shared.put_key(&stored)?;
                }
                storage.put_api_key(&stored).map_err(ServiceError::from)
            })
            .await?;
        self.required.store(true, Ordering::Release);
        self.cache.invalidate_all();
        tracing::info!(key = %id, tenant = %rec.tenant, scopes = ?rec.scopes, "API key created");
        Ok(NewApiKey {
            key: rec.into(),
            token: format!("{PREFIX}{id}_{secret}"),
        })
    }

    /// The keys the caller administers: its tenant's (every tenant's on an open service).
    pub(crate) async fn list_keys(&self, by: &Principal) -> Result<Vec<ApiKeyView>> {
        by.require(Scope::Admin)?;
        let (storage, shared) = (self.storage.clone(), self.shared.clone());
        let all = self
            .pool
            .run(move || match &shared {
                Some(shared) => shared.api_keys(),
                None => storage.api_keys().map_err(ServiceError::from),
            })
            .await?;
        Ok(all
            .into_iter()
            .filter(|k| by.key_id.is_none() || k.tenant == by.tenant)
            .map(ApiKeyView::from)
            .collect())
    }

    /// Revokes a key of the caller's tenant at once (NOT_FOUND for another tenant's key).
    pub(crate) async fn revoke_key(&self, by: &Principal, id: &str) -> Result<ApiKeyView> {
        by.require(Scope::Admin)?;
        let (storage, shared) = (self.storage.clone(), self.shared.clone());
        let (by, id) = (by.clone(), id.trim().to_ascii_lowercase());
        self.pool
            .run(move || {
                let not_found =
                    || ServiceError::new(ErrorCode::NotFound, format!("no API key {id}"));
                let mut rec = read_key(&storage, shared.as_deref(), &id)?.ok_or_else(not_found)?;
                if by.key_id.is_some() && rec.tenant != by.tenant {
                    return Err(not_found());
                }
                if rec.revoked_at_ms.is_none() {
                    rec.revoked_at_ms = Some(symx_storage::now_ms());
                    if let Some(shared) = &shared {
                        shared.put_key(&rec)?;
                    }
                    storage.put_api_key(&rec)?;
                    tracing::info!(key = %rec.id, tenant = %rec.tenant, "API key revoked");
                }
                Ok(rec)
            })
            .await
            .map(|rec| {
                self.cache.invalidate(&rec.id);
                rec.into()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_only_in_their_exact_shape() {
        let id = "0123456789abcdef";
        let secret = "ab".repeat(32);
        let token = format!("symx_{id}_{secret}");
        assert_eq!(split_token(&token), Some((id, secret.as_str())));
        assert_eq!(join_token(id, &secret), token);
        assert_eq!(join_token("ignored", &token), token);
        for bad in [
            "",
            "symx_",
            &format!("symx_{id}"),
            &format!("symx_{id}_{}", &secret[1..]),
            &format!("sym_{id}_{secret}"),
            &format!("symx_{}_{secret}", "g".repeat(16)),
        ] {
            assert_eq!(split_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn admin_implies_every_scope_and_others_only_their_own() {
        let p = Principal {
            tenant: Tenant::default(),
            key_id: Some("k".into()),
            scopes: Scope::Read.bit() | Scope::Upload.bit(),
        };
        assert!(p.allows(Scope::Read) && p.allows(Scope::Upload));
        assert!(!p.allows(Scope::Delete) && !p.allows(Scope::Admin));
        let err = p.require(Scope::Delete).expect_err("no delete");
        assert_eq!(err.code, ErrorCode::PermissionDenied);
        assert!(err.message.contains("`delete`"), "{}", err.message);
        let admin = Principal {
            scopes: Scope::Admin.bit(),
            ..p
        };
        assert!(Scope::ALL.iter().all(|s| admin.allows(*s)));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"abc", b"ab"));
    }
}
