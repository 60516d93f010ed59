//! Why a frame did not resolve. Every such frame gets a [`Reason`] (at most one lookup of the
//! catalog per distinct identity per request); with the request's `explain`, also what was
//! tried, the nearest candidates (versions, uploaded paths, variants, debug ids, build ids)
//! and the `symx` command that would fix it, from scans of the catalog, once per distinct
//! identity per request. The lookups that found no artifact are collected for the
//! missing-artifact report. Resolved frames cost one comparison here.

use crate::indexes::Indexes;
use crate::indexes::cache::LoadedIndex;
use crate::lookups::{DEFAULT_JVM_VARIANT, JS_KINDS, JVM_KINDS, NATIVE_KINDS};
use crate::missing::MissingKey;
use crate::resolve::request::{
    Explanation, Frame, FrameResult, Reason, StackTrace, SymbolicateRequest,
};
use crate::urls::{UrlKey, file_name};
use std::cmp::Ordering;
use std::collections::HashMap;
use symx_storage::ArtifactRecord;
use symx_types::{ArtifactId, ArtifactKind, FrameStatus, JsFrame, JvmFrame, NativeFrame, Tenant};

/// Most candidates named in one explanation.
const MAX_CANDIDATES: usize = 5;

/// One request's explanations, memoized by what the frames asked for.
pub(crate) struct Explainer<'a> {
    indexes: &'a Indexes,
    tenant: &'a Tenant,
    explain: bool,
    memo: HashMap<MissingKey, (Reason, Option<Explanation>)>,
    /// Line lengths of minified files, by artifact (`None`: none uploaded).
    minified: HashMap<ArtifactId, Option<Vec<usize>>>,
    /// Lookups that found no artifact, with their frame counts.
    pub(crate) misses: HashMap<MissingKey, u64>,
}

impl<'a> Explainer<'a> {
    pub(crate) fn new(
        indexes: &'a Indexes,
        tenant: &'a Tenant,
        request: &SymbolicateRequest,
    ) -> Self {
        Self {
            indexes,
            tenant,
            explain: request.explain,
            memo: HashMap::new(),
            minified: HashMap::new(),
            misses: HashMap::new(),
        }
    }

    /// Sets the reason (and, when asked, the explanation) of a frame's result.
    pub(crate) fn apply(
        &mut self,
        request: &SymbolicateRequest,
        st: &StackTrace,
        frame: &Frame,
        r: &mut FrameResult,
    ) {
        let reason = match (frame, r.status) {
            (Frame::Native(f), FrameStatus::Resolved) => {
                if r.frames.iter().all(|f| f.source.is_empty()) {
                    self.no_line_native(f, r);
                }
                return;
            }
            (Frame::Jvm(f), FrameStatus::Resolved) => {
                // Asked of the mapping only when explaining: resolved frames cost nothing.
                if self.explain && f.line > 0 && self.jvm_lacks_lines(f, r) {
                    self.no_line_jvm(f, r);
                }
                return;
            }
            (Frame::Js(f), FrameStatus::Resolved) => {
                if self.explain && f.bytecode_offset.is_none() {
                    self.js_past_line_end(f, r);
                }
                return;
            }
            (_, FrameStatus::Resolved) => return,
            (_, FrameStatus::InvalidFrame) => Reason::FrameInvalid,
            (_, FrameStatus::Skipped) => Reason::FrameSkipped,
            (_, FrameStatus::UnsupportedPlatform) => Reason::PlatformUnsupported,
            (_, FrameStatus::MalformedArtifact) => Reason::ArtifactMalformed,
            (Frame::Js(f), FrameStatus::MissingArtifact) => {
                return self.js_missing(request, st, f, r);
            }
            (Frame::Native(f), FrameStatus::MissingArtifact) => return self.native_missing(f, r),
            (Frame::Jvm(_), FrameStatus::MissingArtifact) => return self.jvm_missing(st, r),
            (Frame::Js(f), FrameStatus::OutOfRange) => return self.js_out_of_range(f, r),
            (Frame::Native(f), FrameStatus::OutOfRange) => return self.native_outside(f, r),
            (Frame::Jvm(f), FrameStatus::OutOfRange) => return self.jvm_not_mapped(f, r),
            _ => Reason::OutOfRange,
        };
        r.reason = Some(reason);
        if self.explain {
            let text = r.message.clone().unwrap_or_default();
            let fix = match reason {
                Reason::ArtifactMalformed => {
                    Some("upload the artifact again (with --overwrite)".to_owned())
                }
                _ => None,
            };
            r.explanation = Some(Explanation {
                text,
                candidates: Vec::new(),
                fix,
            });
        }
    }

    /// The memoized answer for `key`, else `compute`'s.
    fn memoized(
        &mut self,
        key: MissingKey,
        r: &mut FrameResult,
        compute: impl FnOnce(&Self, &MissingKey) -> (Reason, Option<Explanation>),
    ) {
        let (reason, explanation) = match self.memo.get(&key) {
            Some(v) => v.clone(),
            None => {
                let v = compute(self, &key);
                self.memo.insert(key, v.clone());
                v
            }
        };
        r.reason = Some(reason);
        r.explanation = explanation;
    }

    fn missed(&mut self, key: &MissingKey) {
        *self.misses.entry(key.clone()).or_default() += 1;
    }

    // --- JavaScript ---

    fn js_missing(
        &mut self,
        request: &SymbolicateRequest,
        st: &StackTrace,
        f: &JsFrame,
        r: &mut FrameResult,
    ) {
        let service = st.service.as_deref().unwrap_or_default();
        let version = st.version.as_deref().unwrap_or_default();
        let debug_id = f
            .debug_id
            .as_deref()
            .filter(|d| !d.is_empty())
            .or_else(|| request.debug_ids.get(&f.url).map(String::as_str));
        let key = MissingKey::js(service, version, &f.url, debug_id);
        if debug_id.is_none() && (service.is_empty() || version.is_empty()) {
            r.reason = Some(Reason::JsNoRelease);
            if self.explain {
                r.explanation = Some(Explanation {
                    text: "the frame has no debug id and its stack trace names no service and \
                           version: send them (symx symbolicate --service --version) or the \
                           minified file's debug id"
                        .into(),
                    ..Explanation::default()
                });
            }
            return;
        }
        self.missed(&key);
        let url = f.url.clone();
        self.memoized(key, r, |this, key| {
            if debug_id.is_some() {
                return (
                    Reason::JsDebugIdUnknown,
                    this.explain.then(|| this.js_debug_id(key, &url)),
                );
            }
            let release = this.js_release(service, version);
            if release.is_empty() {
                (
                    Reason::JsNoRelease,
                    this.explain.then(|| this.js_no_release(key, &url)),
                )
            } else {
                (
                    Reason::JsNoFileInRelease,
                    this.explain.then(|| this.js_no_file(key, &url, &release)),
                )
            }
        });
    }

    /// The live JavaScript artifacts of a release.
    fn js_release(&self, service: &str, version: &str) -> Vec<ArtifactRecord> {
        let value = symx_storage::release_value(service, version);
        let storage = self.indexes.storage();
        JS_KINDS
            .iter()
            .flat_map(|kind| {
                storage
                    .lookup(self.tenant, *kind, symx_storage::RELEASE_FIELD, &value)
                    .unwrap_or_default()
            })
            .filter_map(|id| storage.get(self.tenant, &id).ok().flatten())
            .filter(|r| r.deleted_at_ms.is_none())
            .collect()
    }

    /// Every live artifact of these kinds uploaded for `service` (none for an empty one).
    fn of_service(&self, kinds: &[ArtifactKind], service: &str) -> Vec<ArtifactRecord> {
        if service.is_empty() {
            return Vec::new();
        }
        self.all_of(kinds)
            .into_iter()
            .filter(|r| r.metadata.service.as_deref() == Some(service))
            .collect()
    }

    /// Every live artifact of these kinds in the tenant.
    fn all_of(&self, kinds: &[ArtifactKind]) -> Vec<ArtifactRecord> {
        let storage = self.indexes.storage();
        kinds
            .iter()
            .flat_map(|kind| storage.list(self.tenant, *kind).unwrap_or_default())
            .filter(|r| r.deleted_at_ms.is_none())
            .collect()
    }

    fn js_debug_id(&self, key: &MissingKey, url: &str) -> Explanation {
        let mut text = format!("no source map has debug id {}", key.debug_id);
        let mut candidates = Vec::new();
        if !key.service.is_empty() && !key.version.is_empty() {
            let name = file_name(&UrlKey::parse(url).path).to_owned();
            for rec in self.js_release(&key.service, &key.version) {
                if let Some(d) = &rec.debug_id
                    && minified_name(&rec).as_deref() == Some(name.as_str())
                {
                    candidates.push(d.clone());
                }
            }
            candidates.sort();
            candidates.dedup();
            if !candidates.is_empty() {
                text.push_str(&format!(
                    ", but `{name}` of {} {} has debug id {}: the minified file that ran is \
                     not the one uploaded with the map (rebuilt after the upload?)",
                    key.service,
                    key.version,
                    candidates.join(", ")
                ));
            }
        }
        Explanation {
            text,
            candidates,
            fix: Some(
                "upload the source map of the build that ran, with its minified file (symx \
                 upload js)"
                    .into(),
            ),
        }
    }

    fn js_no_release(&self, key: &MissingKey, url: &str) -> Explanation {
        let name = file_name(&UrlKey::parse(url).path).to_owned();
        let of_service = self.of_service(JS_KINDS, &key.service);
        let with_file: Vec<String> = of_service
            .iter()
            .filter(|r| minified_name(r).as_deref() == Some(name.as_str()))
            .filter_map(|r| r.metadata.version.clone())
            .collect();
        let mut text = format!(
            "no source map for service={} version={}",
            key.service, key.version
        );
        let candidates = if !with_file.is_empty() {
            let near = nearest(&key.version, with_file);
            text.push_str(&format!(
                "; the nearest versions with `{name}` are {}",
                near.join(", ")
            ));
            near
        } else if !of_service.is_empty() {
            let near = versions_near(&key.version, &of_service);
            text.push_str(&format!(
                "; no version of {} has `{name}` (versions with source maps: {})",
                key.service,
                near.join(", ")
            ));
            near
        } else {
            text.push_str(&format!(
                "; no source map was ever uploaded for service {}",
                key.service
            ));
            Vec::new()
        };
        Explanation {
            text,
            candidates,
            fix: key.fix(),
        }
    }

    fn js_no_file(&self, key: &MissingKey, url: &str, release: &[ArtifactRecord]) -> Explanation {
        let path = UrlKey::parse(url).path;
        let mut uploaded: Vec<String> = release
            .iter()
            .filter_map(|r| r.metadata.minified_url.as_deref())
            .map(|u| UrlKey::parse(u).path)
            .collect();
        uploaded.sort();
        uploaded.dedup();
        // Paths with the frame's file name first.
        let name = file_name(&path).to_owned();
        uploaded.sort_by_key(|p| file_name(p) != name);
        uploaded.truncate(MAX_CANDIDATES);
        Explanation {
            text: format!(
                "artifacts for service={} version={} exist, but none matches {path} \
                 (uploaded: {}): check --minified-path-prefix",
                key.service,
                key.version,
                uploaded.join(", ")
            ),
            candidates: uploaded,
            fix: key.fix(),
        }
    }

    /// A frame resolved to the nearest mapping at or before a column the minified line does
    /// not have: the map answered, but for another file than the one that ran.
    fn js_past_line_end(&mut self, f: &JsFrame, r: &mut FrameResult) {
        let Some(id) = r.artifact_id.clone() else {
            return;
        };
        let Some(lines) = self.minified_lines(&id) else {
            return;
        };
        let past = lines
            .get((f.line as usize).wrapping_sub(1))
            .is_none_or(|len| f.column as usize > *len);
        if past {
            r.reason = Some(Reason::JsPositionOutOfRange);
            r.explanation = Some(Explanation {
                text: format!(
                    "resolved to the map's nearest mapping, but {}",
                    position_against(&lines, f.line, f.column)
                ),
                candidates: Vec::new(),
                fix: Some(
                    "upload the source map built together with the minified file that ran".into(),
                ),
            });
        }
    }

    fn js_out_of_range(&mut self, f: &JsFrame, r: &mut FrameResult) {
        r.reason = Some(Reason::JsPositionOutOfRange);
        if !self.explain {
            return;
        }
        let detail = match (&r.artifact_id, f.bytecode_offset) {
            (Some(id), None) => {
                let id = id.clone();
                self.minified_lines(&id)
                    .map(|lines| position_against(&lines, f.line, f.column))
            }
            _ => None,
        };
        let text = match detail {
            Some(t) => t,
            None => format!(
                "{} (no minified file was uploaded with the map to compare)",
                r.message.clone().unwrap_or_default()
            ),
        };
        r.explanation = Some(Explanation {
            text,
            candidates: Vec::new(),
            fix: Some(
                "upload the source map built together with the minified file that ran".into(),
            ),
        });
    }

    /// The lengths (in UTF-16 units, as V8 counts columns) of the lines of an artifact's
    /// minified file, when one was uploaded.
    fn minified_lines(&mut self, id: &ArtifactId) -> Option<Vec<usize>> {
        if let Some(known) = self.minified.get(id) {
            return known.clone();
        }
        let read = || -> Option<Vec<usize>> {
            let storage = self.indexes.storage();
            let rec = storage.get(self.tenant, id).ok()??;
            let file = rec.file("minified_file")?;
            self.indexes.ensure_local(self.tenant, id).ok()?;
            let bytes = storage.read_blob(file).ok()?;
            let text = String::from_utf8_lossy(&bytes);
            Some(
                text.split('\n')
                    .map(|l| l.trim_end_matches('\r').encode_utf16().count())
                    .collect(),
            )
        };
        let lines = read();
        self.minified.insert(id.clone(), lines.clone());
        lines
    }

    // --- native ---

    fn native_key(f: &NativeFrame) -> MissingKey {
        MissingKey::native(
            &f.code_id
                .as_deref()
                .map(crate::lookups::canonical_code_id)
                .unwrap_or_default(),
            &f.debug_id
                .as_deref()
                .map(crate::lookups::canonical_debug_id)
                .unwrap_or_default(),
            f.module.as_deref().filter(|m| !m.is_empty()),
        )
    }

    fn native_missing(&mut self, f: &NativeFrame, r: &mut FrameResult) {
        let key = Self::native_key(f);
        self.missed(&key);
        self.memoized(key, r, |this, key| {
            (
                Reason::NativeNoDebugFile,
                this.explain.then(|| this.native_no_file(key)),
            )
        });
    }

    fn native_no_file(&self, key: &MissingKey) -> Explanation {
        let ids = [("code id", &key.code_id), ("debug id", &key.debug_id)]
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(" / ");
        let mut text = format!("no debug file for {ids}");
        let mut candidates = Vec::new();
        if !key.module.is_empty() {
            let name = module_name(&key.module);
            text.push_str(&format!(" (module {name})"));
            let mut others: Vec<(u64, String)> = self
                .all_of(NATIVE_KINDS)
                .into_iter()
                .filter(|r| {
                    r.metadata
                        .filename
                        .as_deref()
                        .is_some_and(|f| module_name(f).eq_ignore_ascii_case(name))
                })
                .map(|r| {
                    let id = r
                        .lookups
                        .iter()
                        .find(|(f, _)| f == "code_id")
                        .or_else(|| r.lookups.iter().find(|(f, _)| f == "debug_id"))
                        .map(|(_, v)| v.clone())
                        .unwrap_or_else(|| r.id.to_string());
                    (r.created_at_ms, id)
                })
                .collect();
            others.sort_by_key(|o| std::cmp::Reverse(o.0));
            others.truncate(MAX_CANDIDATES);
            if !others.is_empty() {
                text.push_str(&format!(
                    "; {name} was uploaded with other build ids: {} - the module that ran \
                     is another build",
                    others
                        .iter()
                        .map(|(at, id)| format!("{id} (uploaded {})", utc(*at)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                candidates = others.into_iter().map(|(_, id)| id).collect();
            }
        }
        Explanation {
            text,
            candidates,
            fix: key.fix(),
        }
    }

    fn no_line_native(&mut self, f: &NativeFrame, r: &mut FrameResult) {
        r.reason = Some(Reason::NativeNoLineInfo);
        if self.explain {
            let key = Self::native_key(f);
            r.explanation = Some(Explanation {
                text: "the module's symbols name the function, but the file has no line \
                       information (no DWARF line table: built without -g, or stripped): \
                       upload the unstripped build or its separate debug file"
                    .into(),
                candidates: Vec::new(),
                fix: key.fix(),
            });
        }
    }

    fn native_outside(&mut self, f: &NativeFrame, r: &mut FrameResult) {
        r.reason = Some(Reason::NativeAddressOutsideModule);
        if !self.explain {
            return;
        }
        let rel = f.instruction_addr.saturating_sub(f.image_addr);
        let span = r.artifact_id.as_ref().and_then(|id| {
            match &*self.indexes.load(self.tenant, id).ok()? {
                LoadedIndex::Native(n) => n
                    .slices
                    .iter()
                    .filter_map(|s| s.span())
                    .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1))),
                _ => None,
            }
        });
        let text = match span {
            Some((lo, hi)) => format!(
                "module offset {rel:#x} is outside every function of the module (its functions \
                 span {lo:#x}-{hi:#x}, {} bytes): check the frame's image address \
                 ({:#x}) and that the module is this build",
                hi - lo,
                f.image_addr
            ),
            None => format!(
                "module offset {rel:#x} is outside every function of the module: check the \
                 frame's image address ({:#x})",
                f.image_addr
            ),
        };
        r.explanation = Some(Explanation {
            text,
            ..Explanation::default()
        });
    }

    // --- JVM ---

    fn jvm_missing(&mut self, st: &StackTrace, r: &mut FrameResult) {
        let service = st.service.as_deref().unwrap_or_default();
        let version = st.version.as_deref().unwrap_or_default();
        let build_id = st.build_id.as_deref().unwrap_or_default();
        let variant = st
            .variant
            .as_deref()
            .filter(|v| !v.is_empty())
            .unwrap_or(DEFAULT_JVM_VARIANT);
        if build_id.is_empty() && (service.is_empty() || version.is_empty()) {
            r.reason = Some(Reason::JvmNoMapping);
            if self.explain {
                r.explanation = Some(Explanation {
                    text: "the stack trace names no mapping build id, and no service and \
                           version"
                        .into(),
                    ..Explanation::default()
                });
            }
            return;
        }
        let key = MissingKey::jvm(service, version, variant, build_id);
        self.missed(&key);
        self.memoized(key, r, |this, key| {
            (
                Reason::JvmNoMapping,
                this.explain.then(|| this.jvm_no_mapping(key)),
            )
        });
    }

    fn jvm_no_mapping(&self, key: &MissingKey) -> Explanation {
        let what = if key.build_id.is_empty() {
            format!("{}/{}/{}", key.service, key.version, key.variant)
        } else {
            format!("build id {}", key.build_id)
        };
        let mut text = format!("no ProGuard/R8 mapping for {what}");
        let of_service = self.of_service(JVM_KINDS, &key.service);
        let mut variants: Vec<String> = of_service
            .iter()
            .filter(|r| r.metadata.version.as_deref() == Some(key.version.as_str()))
            .map(|r| {
                r.metadata
                    .variant
                    .clone()
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| DEFAULT_JVM_VARIANT.to_owned())
            })
            .collect();
        variants.sort();
        variants.dedup();
        let candidates = if !variants.is_empty() {
            text.push_str(&format!(
                "; mappings exist for variants {}",
                variants.join(", ")
            ));
            variants
        } else if !of_service.is_empty() {
            let near = versions_near(&key.version, &of_service);
            text.push_str(&format!(
                "; the nearest versions with a mapping are {}",
                near.join(", ")
            ));
            near
        } else {
            if !key.service.is_empty() {
                text.push_str(&format!(
                    "; no mapping was ever uploaded for service {}",
                    key.service
                ));
            }
            Vec::new()
        };
        Explanation {
            text,
            candidates,
            fix: key.fix(),
        }
    }

    fn jvm_not_mapped(&mut self, f: &JvmFrame, r: &mut FrameResult) {
        let class_known = r.artifact_id.as_ref().and_then(|id| {
            match &*self.indexes.load(self.tenant, id).ok()? {
                LoadedIndex::Jvm(idx) => Some(idx.remap_class(&f.class).is_some()),
                _ => None,
            }
        });
        let id = r
            .artifact_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let (reason, text) = match class_known {
            Some(true) => (
                Reason::OutOfRange,
                format!(
                    "the mapping {id} renames the class {} but has no method {} (not \
                     obfuscated, or another build's mapping)",
                    f.class, f.method
                ),
            ),
            _ => (
                Reason::JvmClassNotMapped,
                format!(
                    "the class {} is not in the mapping {id} (kept by a -keep rule, or the \
                     mapping of another build)",
                    f.class
                ),
            ),
        };
        r.reason = Some(reason);
        if self.explain {
            r.explanation = Some(Explanation {
                text,
                ..Explanation::default()
            });
        }
    }

    /// Whether the mapping that resolved a frame has no line ranges for its method.
    fn jvm_lacks_lines(&self, f: &JvmFrame, r: &FrameResult) -> bool {
        let Some(id) = &r.artifact_id else {
            return false;
        };
        match self.indexes.load(self.tenant, id).ok().as_deref() {
            Some(LoadedIndex::Jvm(idx)) => {
                idx.method_has_line_info(&f.class, &f.method) == Some(false)
            }
            _ => false,
        }
    }

    fn no_line_jvm(&mut self, f: &JvmFrame, r: &mut FrameResult) {
        r.reason = Some(Reason::JvmNoLineInfo);
        if self.explain {
            r.explanation = Some(Explanation {
                text: format!(
                    "the mapping has no line information for {}.{}: R8/ProGuard ran without \
                     `-keepattributes LineNumberTable` (or the method has no line ranges in \
                     the mapping)",
                    f.class, f.method
                ),
                candidates: Vec::new(),
                fix: Some(
                    "add `-keepattributes LineNumberTable,SourceFile` to the ProGuard/R8 \
                     rules, rebuild and upload the new mapping"
                        .into(),
                ),
            });
        }
    }
}

/// The file name of an artifact's minified file, from its stated URL.
fn minified_name(rec: &ArtifactRecord) -> Option<String> {
    let url = rec.metadata.minified_url.as_deref()?;
    Some(file_name(&UrlKey::parse(url).path).to_owned())
}

/// A module's file name without its directories.
fn module_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// A position against the minified file's line lengths.
fn position_against(lines: &[usize], line: u32, column: u32) -> String {
    let (line, column) = (line as usize, column as usize);
    match lines.get(line.wrapping_sub(1)) {
        None => format!(
            "the minified file has {} lines, the frame asks for line {line}: the minified file \
             that ran does not match the map",
            lines.len()
        ),
        Some(&len) if column > len => format!(
            "line {line} of the minified file has {len} columns, the frame asks for column \
             {column}: the minified file that ran does not match the map"
        ),
        Some(_) => format!(
            "no mapping of the map covers line {line} column {column}, though the minified \
             file has it: code the bundler did not map (a banner, a wrapper, a polyfill)"
        ),
    }
}

/// UTC time of Unix milliseconds, to the second.
fn utc(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Orders versions the way people read them: numeric parts as numbers, others as text.
fn version_cmp(a: &str, b: &str) -> Ordering {
    let parts = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let (pa, pb) = (parts(a), parts(b));
    for (x, y) in pa.iter().zip(&pb) {
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(i), Ok(j)) => i.cmp(&j),
            _ => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    pa.len().cmp(&pb.len()).then_with(|| a.cmp(b))
}

/// The versions of `records` nearest `target` ([`nearest`]).
fn versions_near(target: &str, records: &[ArtifactRecord]) -> Vec<String> {
    nearest(
        target,
        records
            .iter()
            .filter_map(|r| r.metadata.version.clone())
            .collect(),
    )
}

/// The versions nearest `target`, alternating below and above it, nearest first.
fn nearest(target: &str, mut versions: Vec<String>) -> Vec<String> {
    versions.sort_by(|a, b| version_cmp(a, b));
    versions.dedup();
    versions.retain(|v| v != target);
    let split = versions.partition_point(|v| version_cmp(v, target) == Ordering::Less);
    let (below, above) = versions.split_at(split);
    let mut out = Vec::new();
    let (mut b, mut a) = (below.iter().rev(), above.iter());
    while out.len() < MAX_CANDIDATES {
        let (x, y) = (b.next(), a.next());
        if x.is_none() && y.is_none() {
            break;
        }
        out.extend(x.cloned());
        out.extend(y.cloned());
    }
    out.truncate(MAX_CANDIDATES);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_versions_alternate_below_and_above() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            nearest(
                "1.4.2",
                v(&["1.3.0", "1.4.1", "1.4.10", "1.4.3", "2.0.0", "1.4.2"])
            ),
            v(&["1.4.1", "1.4.3", "1.3.0", "1.4.10", "2.0.0"])
        );
        assert_eq!(nearest("9", v(&["1", "2"])), v(&["2", "1"]));
        assert!(nearest("1", Vec::new()).is_empty());
    }

    #[test]
    fn positions_are_compared_with_the_minified_lines() {
        let lines = [10, 120, 5];
        assert!(position_against(&lines, 2, 900).contains(
            "line 2 of the minified file has 120 columns, the frame asks for column 900"
        ));
        assert!(position_against(&lines, 7, 1).contains("has 3 lines, the frame asks for line 7"));
        assert!(position_against(&lines, 2, 100).contains("did not map"));
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_764_720_000_000), "2025-12-03T00:00:00Z");
    }
}
