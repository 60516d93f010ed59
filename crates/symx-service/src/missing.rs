//! The missing-artifact report: per tenant, every lookup that found no artifact (what the
//! frames asked for, how many frames, first and last seen), bounded in entries per tenant
//! (`missing.max_entries`): past it the rarest, then the oldest, entry goes, so a storm of
//! distinct unknown ids cannot grow it and the frequent ones stay. Kept in
//! `<data_dir>/missing.json` (written whole, atomically, when it changed). With several
//! replicas each keeps its own (the lookups it answered).
//!
//! When an upload arrives, the entries it answers leave the report and are announced with
//! it ([`MissingReport::answered_by`]): a pipeline watching uploads learns which stored
//! events to send again.

use crate::lookups::{JS_KINDS, JVM_KINDS, Lookup, NATIVE_KINDS};
use crate::urls::UrlKey;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use symx_storage::ArtifactRecord;
use symx_types::{ArtifactKind, Tenant};

/// Longest field kept (a URL, a service name): longer input is cut, so an entry's size is
/// bounded whatever the frames send.
const MAX_FIELD: usize = 512;

/// What a lookup asked for. Fields a kind does not use are empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MissingKey {
    /// `js`, `native` or `jvm`.
    pub kind: String,
    pub service: String,
    pub version: String,
    pub url: String,
    pub debug_id: String,
    pub code_id: String,
    pub module: String,
    pub variant: String,
    pub build_id: String,
}

fn cut(s: &str) -> String {
    let mut end = s.len().min(MAX_FIELD);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

impl MissingKey {
    /// A JavaScript lookup: by debug id, else by release and URL (query and fragment
    /// dropped).
    pub(crate) fn js(service: &str, version: &str, url: &str, debug_id: Option<&str>) -> Self {
        let url = url.split(['?', '#']).next().unwrap_or_default();
        Self {
            kind: "js".into(),
            service: cut(service),
            version: cut(version),
            url: if debug_id.is_some() {
                String::new()
            } else {
                cut(url)
            },
            debug_id: debug_id
                .map(|d| cut(&d.to_ascii_lowercase()))
                .unwrap_or_default(),
            ..Self::default()
        }
    }

    pub(crate) fn native(code_id: &str, debug_id: &str, module: Option<&str>) -> Self {
        Self {
            kind: "native".into(),
            code_id: cut(code_id),
            debug_id: cut(debug_id),
            module: module.map(cut).unwrap_or_default(),
            ..Self::default()
        }
    }

    pub(crate) fn jvm(service: &str, version: &str, variant: &str, build_id: &str) -> Self {
        Self {
            kind: "jvm".into(),
            service: cut(service),
            version: cut(version),
            variant: cut(variant),
            build_id: cut(build_id),
            ..Self::default()
        }
    }

    /// Whether an upload answers this lookup: it carries a row the lookup reads.
    pub(crate) fn answered_by(&self, rec: &ArtifactRecord) -> bool {
        let has = |l: &Lookup| rec.lookups.contains(&l.row());
        match self.kind.as_str() {
            "js" if JS_KINDS.contains(&rec.kind) => {
                if !self.debug_id.is_empty() {
                    return has(&Lookup::debug_id(&self.debug_id));
                }
                let key = UrlKey::parse(&self.url);
                let (service, version) = (self.service.clone(), self.version.clone());
                key.full().is_some_and(|url| {
                    has(&Lookup::JsUrl {
                        service: service.clone(),
                        version: version.clone(),
                        url,
                    })
                }) || key.path_suffixes().any(|path| {
                    has(&Lookup::JsPath {
                        service: service.clone(),
                        version: version.clone(),
                        path: path.to_owned(),
                    })
                })
            }
            "native" if NATIVE_KINDS.contains(&rec.kind) => [&self.code_id, &self.debug_id]
                .iter()
                .filter(|v| !v.is_empty())
                .any(|v| Lookup::module_ids(v).iter().any(has)),
            "jvm" if JVM_KINDS.contains(&rec.kind) => {
                (!self.build_id.is_empty() && has(&Lookup::build_id(&self.build_id)))
                    || (!self.service.is_empty()
                        && has(&Lookup::jvm_release(
                            &self.service,
                            &self.version,
                            Some(&self.variant),
                        )))
            }
            _ => false,
        }
    }

    /// The `symx upload` command that would answer this lookup, where it can be derived.
    pub fn fix(&self) -> Option<String> {
        match self.kind.as_str() {
            "js" if !self.service.is_empty() && !self.version.is_empty() => {
                let mut cmd = format!(
                    "symx upload js DIR --service {} --version {}",
                    shell(&self.service),
                    shell(&self.version)
                );
                if !self.url.is_empty() {
                    let key = UrlKey::parse(&self.url);
                    let dir = key.path.rsplit_once('/').map_or("", |(d, _)| d);
                    let prefix = match &key.host {
                        Some(host) => format!("{}{host}{dir}", scheme_of(&self.url)),
                        None => dir.to_owned(),
                    };
                    if !prefix.is_empty() {
                        cmd.push_str(&format!(" --minified-path-prefix {}", shell(&prefix)));
                    }
                }
                Some(cmd)
            }
            "native" => {
                let name = if self.module.is_empty() {
                    "FILE".to_owned()
                } else {
                    self.module
                        .rsplit(['/', '\\'])
                        .next()
                        .unwrap_or(&self.module)
                        .to_owned()
                };
                let lower = name.to_ascii_lowercase();
                let sub = if lower.ends_with(".dll") || lower.ends_with(".exe") {
                    "pe"
                } else if lower.ends_with(".dylib")
                    || (self.code_id.is_empty() && !lower.ends_with(".so"))
                {
                    "dsym"
                } else {
                    "elf"
                };
                let id = if self.code_id.is_empty() {
                    &self.debug_id
                } else {
                    &self.code_id
                };
                Some(format!(
                    "symx upload {sub} {} # the build with id {id}",
                    shell(&name)
                ))
            }
            "jvm" if !self.build_id.is_empty() => Some(format!(
                "symx upload jvm mapping.txt --service SERVICE --version VERSION --build-id {}",
                shell(&self.build_id)
            )),
            "jvm" if !self.service.is_empty() => Some(format!(
                "symx upload jvm mapping.txt --service {} --version {} --variant {}",
                shell(&self.service),
                shell(&self.version),
                shell(if self.variant.is_empty() {
                    crate::lookups::DEFAULT_JVM_VARIANT
                } else {
                    &self.variant
                })
            )),
            _ => None,
        }
    }
}

fn scheme_of(url: &str) -> &str {
    if url.starts_with("https://") {
        "https://"
    } else if url.starts_with("http://") {
        "http://"
    } else {
        ""
    }
}

/// A value as one shell word.
fn shell(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@+=,".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// An upload, and the missing lookups it answered (taken out of the report), as announced to
/// watchers.
#[derive(Clone, Debug)]
pub struct UploadNews {
    pub tenant: Tenant,
    pub record: Arc<ArtifactRecord>,
    pub resolved: Vec<MissingEntry>,
}

/// Which entries of the report to list.
#[derive(Clone, Debug, Default)]
pub struct MissingQuery {
    /// `js`, `native` or `jvm`; all when `None`.
    pub kind: Option<String>,
    pub service: Option<String>,
    /// Only entries last seen at or after this (Unix ms).
    pub since_ms: u64,
    pub limit: usize,
}

/// How often and when a lookup was asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingSeen {
    pub count: u64,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
}

/// One entry of the report, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingEntry {
    pub key: MissingKey,
    pub seen: MissingSeen,
}

#[derive(Debug, Default)]
struct TenantReport {
    entries: HashMap<Arc<MissingKey>, MissingSeen>,
    /// Eviction order: rarest, then oldest, first.
    order: BTreeSet<(u64, u64, Arc<MissingKey>)>,
}

impl TenantReport {
    fn remove(&mut self, key: &MissingKey) -> Option<MissingSeen> {
        let (k, seen) = self.entries.remove_entry(key)?;
        self.order.remove(&(seen.count, seen.last_seen_ms, k));
        Some(seen)
    }

    fn add(&mut self, key: MissingKey, frames: u64, now: u64, max: usize) {
        let seen = match self.remove(&key) {
            Some(s) => MissingSeen {
                count: s.count.saturating_add(frames),
                first_seen_ms: s.first_seen_ms,
                last_seen_ms: now.max(s.last_seen_ms),
            },
            None => {
                while self.entries.len() >= max.max(1) {
                    let Some((_, _, victim)) = self.order.pop_first() else {
                        break;
                    };
                    self.entries.remove(&victim);
                }
                MissingSeen {
                    count: frames,
                    first_seen_ms: now,
                    last_seen_ms: now,
                }
            }
        };
        self.insert(Arc::new(key), seen);
    }

    fn insert(&mut self, key: Arc<MissingKey>, seen: MissingSeen) {
        self.order
            .insert((seen.count, seen.last_seen_ms, key.clone()));
        self.entries.insert(key, seen);
    }
}

/// The report, shared by the resolver (which records) and the upload paths (which answer).
#[derive(Debug)]
pub(crate) struct MissingReport {
    max_entries: usize,
    tenants: Mutex<HashMap<Tenant, TenantReport>>,
    path: PathBuf,
    dirty: AtomicBool,
}

/// The file's form.
#[derive(Serialize, Deserialize)]
struct Saved {
    tenant: Tenant,
    key: MissingKey,
    seen: MissingSeen,
}

impl MissingReport {
    /// The report kept in `path`, read back if it exists (an unreadable file is set aside
    /// and the report starts empty: it is a diagnostic, not data).
    pub(crate) fn open(path: PathBuf, max_entries: usize) -> Self {
        let report = Self {
            max_entries,
            tenants: Mutex::default(),
            path,
            dirty: AtomicBool::new(false),
        };
        match std::fs::read(&report.path) {
            Ok(bytes) => match serde_json::from_slice::<Vec<Saved>>(&bytes) {
                Ok(saved) => {
                    let mut tenants = report.lock();
                    for s in saved {
                        let t = tenants.entry(s.tenant).or_default();
                        if t.entries.len() < max_entries {
                            t.insert(Arc::new(s.key), s.seen);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(path = %report.path.display(), error = %e, "missing-artifact report unreadable; starting empty");
                    let _ = std::fs::rename(&report.path, report.path.with_extension("json.bad"));
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %report.path.display(), error = %e, "missing-artifact report not read")
            }
        }
        report
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Tenant, TenantReport>> {
        self.tenants.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the lookups of one request that found nothing (each with its frame count).
    pub(crate) fn record(
        &self,
        tenant: &Tenant,
        misses: impl IntoIterator<Item = (MissingKey, u64)>,
    ) -> usize {
        let mut misses = misses.into_iter().peekable();
        if misses.peek().is_none() {
            return self.len();
        }
        let now = symx_storage::now_ms();
        let mut tenants = self.lock();
        let t = tenants.entry(tenant.clone()).or_default();
        // Entries already held first: a lookup asked again is counted before this request's
        // new ones take the places of the rarest (it would otherwise tie with them).
        let (held, new): (Vec<_>, Vec<_>) = misses.partition(|(k, _)| t.entries.contains_key(k));
        for (key, frames) in held.into_iter().chain(new) {
            t.add(key, frames, now, self.max_entries);
        }
        self.dirty.store(true, Ordering::Relaxed);
        tenants.values().map(|t| t.entries.len()).sum()
    }

    /// The entries of a tenant, newest (last seen) first, filtered; and the tenant's total.
    pub(crate) fn list(&self, tenant: &Tenant, q: &MissingQuery) -> (Vec<MissingEntry>, usize) {
        let (kind, service) = (q.kind.as_deref(), q.service.as_deref());
        let tenants = self.lock();
        let Some(t) = tenants.get(tenant) else {
            return (Vec::new(), 0);
        };
        let mut out: Vec<MissingEntry> = t
            .entries
            .iter()
            .filter(|(k, s)| {
                kind.is_none_or(|want| k.kind == want)
                    && service.is_none_or(|want| k.service == want)
                    && s.last_seen_ms >= q.since_ms
            })
            .map(|(k, s)| MissingEntry {
                key: (**k).clone(),
                seen: *s,
            })
            .collect();
        out.sort_by(|a, b| {
            b.seen
                .last_seen_ms
                .cmp(&a.seen.last_seen_ms)
                .then(b.seen.count.cmp(&a.seen.count))
                .then(a.key.cmp(&b.key))
        });
        out.truncate(q.limit);
        (out, t.entries.len())
    }

    /// Takes out of the report the entries an upload answers, and returns them.
    pub(crate) fn answered_by(&self, tenant: &Tenant, rec: &ArtifactRecord) -> Vec<MissingEntry> {
        if rec.deleted_at_ms.is_some() || !is_resolvable(rec.kind) {
            return Vec::new();
        }
        let mut tenants = self.lock();
        let Some(t) = tenants.get_mut(tenant) else {
            return Vec::new();
        };
        let hits: Vec<Arc<MissingKey>> = t
            .entries
            .keys()
            .filter(|k| k.answered_by(rec))
            .cloned()
            .collect();
        let mut out = Vec::with_capacity(hits.len());
        for k in hits {
            if let Some(seen) = t.remove(&k) {
                out.push(MissingEntry {
                    key: (*k).clone(),
                    seen,
                });
            }
        }
        if !out.is_empty() {
            self.dirty.store(true, Ordering::Relaxed);
        }
        out
    }

    /// Entries held, all tenants together.
    pub(crate) fn len(&self) -> usize {
        self.lock().values().map(|t| t.entries.len()).sum()
    }

    /// Writes the report to its file when it changed since the last write (temp file, sync,
    /// rename: a crash leaves the old or the new one).
    pub(crate) fn save(&self) -> std::io::Result<bool> {
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return Ok(false);
        }
        let saved: Vec<Saved> = {
            let tenants = self.lock();
            tenants
                .iter()
                .flat_map(|(tenant, t)| {
                    t.entries.iter().map(|(k, s)| Saved {
                        tenant: tenant.clone(),
                        key: (**k).clone(),
                        seen: *s,
                    })
                })
                .collect()
        };
        let write = || -> std::io::Result<()> {
            let tmp = self.path.with_extension("json.tmp");
            {
                let mut f = std::fs::File::create(&tmp)?;
                serde_json::to_writer(std::io::BufWriter::new(&mut f), &saved)
                    .map_err(std::io::Error::other)?;
                f.sync_all()?;
            }
            std::fs::rename(&tmp, &self.path)
        };
        write().inspect_err(|_| self.dirty.store(true, Ordering::Relaxed))?;
        Ok(true)
    }
}

fn is_resolvable(kind: ArtifactKind) -> bool {
    JS_KINDS.contains(&kind) || NATIVE_KINDS.contains(&kind) || JVM_KINDS.contains(&kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> MissingKey {
        MissingKey::native(&format!("{i:040x}"), "", None)
    }

    #[test]
    fn a_flood_of_distinct_ids_keeps_the_bound_and_the_frequent_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = MissingReport::open(dir.path().join("missing.json"), 100);
        let t = Tenant::default();
        r.record(&t, [(key(u32::MAX), 50)]);
        for i in 0..100_000 {
            r.record(&t, [(key(i), 1)]);
        }
        assert_eq!(r.len(), 100);
        let (all, total) = r.list(
            &t,
            &MissingQuery {
                limit: 1000,
                ..MissingQuery::default()
            },
        );
        assert_eq!(total, 100);
        assert!(
            all.iter()
                .any(|e| e.key == key(u32::MAX) && e.seen.count == 50),
            "the frequent entry stays"
        );
        // Saved and read back.
        assert!(r.save().expect("save"));
        assert!(!r.save().expect("save"), "nothing changed");
        let again = MissingReport::open(dir.path().join("missing.json"), 100);
        assert_eq!(again.len(), 100);
        // Another tenant sees none of it.
        let other = Tenant::new("other").expect("tenant");
        assert_eq!(again.list(&other, &MissingQuery::default()).1, 0);
    }

    #[test]
    fn fields_are_cut_and_fixes_derived() {
        let long = "a".repeat(10_000);
        let k = MissingKey::js("shop", "1.4.2", &long, None);
        assert_eq!(k.url.len(), MAX_FIELD);
        let k = MissingKey::js(
            "shop",
            "1.4.2",
            "https://cdn.example.com/static/js/app.min.js?v=3",
            None,
        );
        assert_eq!(k.url, "https://cdn.example.com/static/js/app.min.js");
        assert_eq!(
            k.fix().as_deref(),
            Some(
                "symx upload js DIR --service shop --version 1.4.2 \
                 --minified-path-prefix https://cdn.example.com/static/js"
            )
        );
        let k = MissingKey::jvm("shop app", "2", "", "");
        assert_eq!(
            k.fix().as_deref(),
            Some("symx upload jvm mapping.txt --service 'shop app' --version 2 --variant release")
        );
        let k = MissingKey::native("ab12", "", Some("/system/lib64/libfoo.so"));
        assert_eq!(
            k.fix().as_deref(),
            Some("symx upload elf libfoo.so # the build with id ab12")
        );
    }
    #[test]
    fn an_entry_in_every_request_keeps_its_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = MissingReport::open(dir.path().join("missing.json"), 1000);
        let t = Tenant::default();
        let frequent = MissingKey::js("", "", "u", Some("ffff"));
        for req in 0..100u32 {
            let mut misses: HashMap<MissingKey, u64> = (0..9_999u32)
                .map(|i| {
                    (
                        MissingKey::js("", "", "u", Some(&format!("{:08x}", req * 10_000 + i))),
                        1,
                    )
                })
                .collect();
            misses.insert(frequent.clone(), 1);
            r.record(&t, misses);
        }
        let (all, _) = r.list(
            &t,
            &MissingQuery {
                limit: 2000,
                ..MissingQuery::default()
            },
        );
        let top = all.iter().find(|e| e.key == frequent).expect("kept");
        // Only the first request, where every entry ties at one frame, may take it out.
        assert!(top.seen.count >= 99, "{}", top.seen.count);
    }
}
