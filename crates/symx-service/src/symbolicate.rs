//! Symbolication: each frame finds its artifact (debug id, else service + version + URL),
//! its index (from the cache), and its original location. Every frame gets its own status;
//! only a malformed request fails as a whole.

use crate::cache::{LoadedIndex, ResolveKey};
use crate::error::{Result, ServiceError};
use crate::upload::SEP;
use crate::urls::UrlKey;
use crate::{Inner, Symx};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use symx_native::NativeIndex;
use symx_sourcemap::{JsIndex, Miss};
use symx_types::{
    ArtifactId, ArtifactKind, FrameStatus, JsFrame, JvmFrame, JvmThrowable, NativeFrame,
    ResolvedFrame, Tenant,
};

/// A batch of stack traces to resolve.
#[derive(Clone, Debug, Default)]
pub struct SymbolicateRequest {
    pub stacktraces: Vec<StackTrace>,
    /// Source lines to return around each resolved line (clamped to the configured maximum).
    pub context_lines: u32,
    /// Debug ids of minified files by URL, as the client's debug metadata lists them.
    pub debug_ids: HashMap<String, String>,
}

/// One stack trace: frames from the innermost call outwards, as the runtime printed them.
#[derive(Clone, Debug, Default)]
pub struct StackTrace {
    /// The service (release) the frames come from, for matching by service + version + URL.
    pub service: Option<String>,
    pub version: Option<String>,
    pub frames: Vec<Frame>,
    /// JVM: the mapping's build id, else service + version + variant find it.
    pub variant: Option<String>,
    pub build_id: Option<String>,
    /// JVM: the exception the frames belong to (obfuscated, as printed).
    pub exception: Option<JvmThrowable>,
    /// The commit the release was built from: source links for artifacts without their own
    /// repository metadata.
    pub git_commit_sha: Option<String>,
    pub git_repository_url: Option<String>,
}

#[derive(Clone, Debug)]
pub enum Frame {
    Js(JsFrame),
    Native(NativeFrame),
    Jvm(JvmFrame),
    /// A frame of a platform this version does not resolve; answered per frame.
    Unsupported {
        platform: String,
    },
}

/// The answer for one input frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameResult {
    pub status: FrameStatus,
    /// The artifact that resolved (or was tried for) the frame.
    pub artifact_id: Option<ArtifactId>,
    /// Why the frame is not resolved, for humans.
    pub message: Option<String>,
    /// The original frames (one for JavaScript).
    pub frames: Vec<ResolvedFrame>,
    /// JVM: `frames` are alternatives (a frame without a line), not an inline chain.
    pub ambiguous: bool,
}

impl FrameResult {
    pub(crate) fn miss(
        status: FrameStatus,
        artifact_id: Option<ArtifactId>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            artifact_id,
            message: Some(message.into()),
            frames: Vec::new(),
            ambiguous: false,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SymbolicateResponse {
    /// One entry per input stack trace, one result per input frame, in order.
    pub stacktraces: Vec<Vec<FrameResult>>,
    /// JVM: per input stack trace, its exception deobfuscated (None when it had none).
    pub exceptions: Vec<Option<JvmThrowable>>,
}

impl Symx {
    /// Resolves a batch on the blocking pool.
    pub async fn symbolicate(
        &self,
        tenant: Tenant,
        request: SymbolicateRequest,
    ) -> Result<SymbolicateResponse> {
        let frames: usize = request.stacktraces.iter().map(|s| s.frames.len()).sum();
        let max = self.inner.config.limits.max_frames_per_request;
        if frames > max {
            return Err(ServiceError::invalid(
                "stacktraces",
                format!("request has {frames} frames, the limit is {max}"),
            ));
        }
        let this = self.clone();
        self.blocking(move || Ok(this.symbolicate_blocking(&tenant, &request)))
            .await
    }

    /// Resolves a batch on the calling thread (for callers already off the async threads,
    /// and for benchmarks).
    pub fn symbolicate_blocking(
        &self,
        tenant: &Tenant,
        request: &SymbolicateRequest,
    ) -> SymbolicateResponse {
        let started = Instant::now();
        let context = request
            .context_lines
            .min(self.inner.config.limits.max_context_lines);
        // Within a request, each distinct (debug id, URL) is resolved once.
        let mut memo: HashMap<(Option<&str>, &str, usize), Found> = HashMap::new();
        let mut native_memo: HashMap<(String, String), NativeModule> = HashMap::new();
        let mut link_memo = crate::links::LinkMemo::default();
        let mut counts: HashMap<(&'static str, FrameStatus), u64> = HashMap::new();
        let mut out = Vec::with_capacity(request.stacktraces.len());
        let mut exceptions = Vec::with_capacity(request.stacktraces.len());
        for (si, st) in request.stacktraces.iter().enumerate() {
            let mut results = Vec::with_capacity(st.frames.len());
            let mut jvm = crate::jvm::JvmTrace::new(self, tenant, st);
            for (fi, frame) in st.frames.iter().enumerate() {
                let (platform, result) = match frame {
                    Frame::Js(f) => (
                        "javascript",
                        self.resolve_js(tenant, request, st, si, f, context, &mut memo),
                    ),
                    Frame::Native(f) => {
                        let crashing = fi == 0;
                        (
                            "native",
                            self.resolve_native(tenant, f, crashing, &mut native_memo),
                        )
                    }
                    Frame::Jvm(f) => ("jvm", jvm.resolve(f)),
                    Frame::Unsupported { platform } => (
                        "other",
                        FrameResult::miss(
                            FrameStatus::UnsupportedPlatform,
                            None,
                            format!("platform `{platform}` is not resolved by this server"),
                        ),
                    ),
                };
                *counts.entry((platform, result.status)).or_default() += 1;
                let mut result = result;
                self.add_source_links(tenant, st, &mut result, &mut link_memo);
                results.push(result);
            }
            exceptions.push(jvm.exception());
            out.push(results);
        }
        for ((platform, status), n) in counts {
            self.inner
                .metrics
                .frames
                .with_label_values(&[platform, status.as_str()])
                .inc_by(n);
        }
        self.inner
            .metrics
            .symbolicate_seconds
            .observe(started.elapsed().as_secs_f64());
        SymbolicateResponse {
            stacktraces: out,
            exceptions,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn resolve_js<'r>(
        &self,
        tenant: &Tenant,
        request: &'r SymbolicateRequest,
        st: &'r StackTrace,
        si: usize,
        f: &'r JsFrame,
        context: u32,
        memo: &mut HashMap<(Option<&'r str>, &'r str, usize), Found>,
    ) -> FrameResult {
        if f.bytecode_offset.is_none() && (f.line == 0 || f.column == 0) {
            return FrameResult::miss(
                FrameStatus::InvalidFrame,
                None,
                "line and column are 1-based; 0 is not a position",
            );
        }
        let debug_id = f
            .debug_id
            .as_deref()
            .filter(|d| !d.is_empty())
            .or_else(|| request.debug_ids.get(&f.url).map(String::as_str));
        if debug_id.is_none()
            && let Some(why) = crate::urls::never_mapped(&f.url)
        {
            return FrameResult::miss(FrameStatus::Skipped, None, why);
        }
        if debug_id.is_none() && f.url.is_empty() {
            return FrameResult::miss(
                FrameStatus::InvalidFrame,
                None,
                "the frame has no URL and no debug id",
            );
        }
        // Frames matched by URL depend on their stack trace's service and version.
        let scope = if debug_id.is_some() { usize::MAX } else { si };
        let found = memo
            .entry((debug_id, f.url.as_str(), scope))
            .or_insert_with(|| self.find_js(tenant, debug_id, st, &f.url));
        found.answer(|id, index| match index {
            LoadedIndex::Js(js) => resolve_in(js, id, f, context),
            _ => FrameResult::miss(
                FrameStatus::MalformedArtifact,
                Some(id.clone()),
                "the debug id names another kind of artifact, not a source map",
            ),
        })
    }

    fn resolve_native(
        &self,
        tenant: &Tenant,
        f: &NativeFrame,
        crashing: bool,
        memo: &mut HashMap<(String, String), NativeModule>,
    ) -> FrameResult {
        let code_id = f
            .code_id
            .as_deref()
            .map(canonical_code_id)
            .unwrap_or_default();
        let debug_id = f
            .debug_id
            .as_deref()
            .map(canonical_debug_id)
            .unwrap_or_default();
        if code_id.is_empty() && debug_id.is_empty() {
            return FrameResult::miss(
                FrameStatus::InvalidFrame,
                None,
                "the frame has no code id and no debug id",
            );
        }
        let Some(rel) = f.instruction_addr.checked_sub(f.image_addr) else {
            return FrameResult::miss(
                FrameStatus::InvalidFrame,
                None,
                format!(
                    "instruction address {:#x} is below the image address {:#x}",
                    f.instruction_addr, f.image_addr
                ),
            );
        };
        // The crashing frame (the first of a stack trace) is the faulting instruction; the
        // others are return addresses, which point after the call: the call itself is one
        // byte earlier. A frame's own `exact` overrides that (Symbolicator's convention).
        let exact = f.exact.unwrap_or(crashing);
        let rel = if exact { rel } else { rel.saturating_sub(1) };
        // Frames of one module share its lookup; its ids are copied once per module, not per
        // frame.
        let entry = match memo.entry((code_id, debug_id)) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let (code_id, debug_id) = v.key().clone();
                let candidates = self.find_native(tenant, &code_id, &debug_id);
                v.insert(NativeModule {
                    candidates,
                    il2cpp: None,
                    code_id,
                    debug_id,
                })
            }
        };
        let (code_id, debug_id) = (&entry.code_id, &entry.debug_id);
        let ids = [code_id.as_str(), debug_id.as_str()];
        let mut result: Option<FrameResult> = None;
        // Every file of the module (a PE and its PDB; a stripped binary, its `.debug` file
        // and the unstripped one): the first answer with a source line wins, else the first
        // resolved one, else the first answer.
        for candidate in &entry.candidates {
            let r = candidate.answer(|id, index| match index {
                LoadedIndex::Native(slices) => resolve_native_in(slices, &ids, id, rel),
                _ => FrameResult::miss(
                    FrameStatus::MalformedArtifact,
                    Some(id.clone()),
                    "the id names another kind of artifact, not a native one",
                ),
            });
            let with_line = r.status == FrameStatus::Resolved
                && r.frames.first().is_some_and(|f| !f.source.is_empty());
            let better = match &result {
                None => true,
                Some(b) => b.status != FrameStatus::Resolved && r.status == FrameStatus::Resolved,
            };
            if with_line {
                result = Some(r);
                break;
            }
            if better {
                result = Some(r);
            }
        }
        let mut result = result.unwrap_or_else(|| {
            let which = [("code id", &code_id), ("debug id", &debug_id)]
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(" or ");
            FrameResult::miss(
                FrameStatus::MissingArtifact,
                None,
                format!("no symbol file has {which}"),
            )
        });
        if result.status == FrameStatus::Resolved {
            // The mapping is uploaded under the module's build id, or (as `datadog-ci
            // unity-symbols upload` does) under the Unity build id its symbol files carry.
            let artifact = result.artifact_id.clone();
            let module = if code_id.is_empty() {
                &debug_id
            } else {
                &code_id
            };
            let il2cpp = entry.il2cpp.get_or_insert_with(|| {
                self.il2cpp_of(tenant, module).or_else(|| {
                    let id = artifact?;
                    let rec = self.inner.storage.get(tenant, &id).ok()??;
                    let unity = rec.metadata.build_id.filter(|b| !b.is_empty())?;
                    self.il2cpp_of(tenant, &unity)
                })
            });
            if let Some(index) = il2cpp
                && let LoadedIndex::Il2cpp(map) = &**index
            {
                add_managed_locations(map, &mut result);
            }
        }
        result
    }

    /// The IL2CPP line mapping with the module's build id, if one was uploaded.
    fn il2cpp_of(&self, tenant: &Tenant, module: &str) -> Option<Arc<LoadedIndex>> {
        let inner = &self.inner;
        let id = inner
            .resolves
            .get_or_resolve(
                ResolveKey::Il2cpp(tenant.clone(), module.to_owned()),
                || inner.first_of(tenant, &[ArtifactKind::Il2cpp], "build_id", module),
            )
            .ok()??;
        self.load_index(tenant, &id).ok()
    }
}

/// A native module of one request: its artifact, and (looked up on its first resolved frame)
/// its IL2CPP line mapping.
pub(crate) struct NativeModule {
    /// Every file of the module (empty: none uploaded).
    candidates: Vec<Found>,
    /// The frame's ids, normalised (the memo's key).
    code_id: String,
    debug_id: String,
    il2cpp: Option<Option<Arc<LoadedIndex>>>,
}

/// Unity IL2CPP: the C# location of each C++ frame. (The native and il2cpp crates know
/// nothing of each other; this is where they meet.)
fn add_managed_locations(map: &symx_il2cpp::Il2cppIndex, result: &mut FrameResult) {
    for f in &mut result.frames {
        if let Some(m) = map.lookup(&f.source, f.line) {
            f.managed_source = Some(m.file.to_owned());
            f.managed_line = m.line;
        }
    }
}

impl Symx {
    /// Every stored file of a native module: found by its code id or its debug id under
    /// any native kind and id field, then by the other ids those files carry (so a frame with
    /// only a PE's code id also finds the PDB, and one with only the debug id the PE).
    fn find_native(&self, tenant: &Tenant, code_id: &str, debug_id: &str) -> Vec<Found> {
        let inner = &self.inner;
        let ids = inner.resolves.get_or_resolve_all(
            ResolveKey::Module(tenant.clone(), code_id.to_owned(), debug_id.to_owned()),
            || {
                let mut found: Vec<ArtifactId> = Vec::new();
                let mut queue: Vec<String> = [code_id, debug_id]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                let mut asked: Vec<String> = Vec::new();
                while let Some(value) = queue.pop() {
                    if asked.contains(&value) || asked.len() >= 8 {
                        continue;
                    }
                    asked.push(value.clone());
                    for field in ["code_id", "debug_id", "go_build_id", "file_hash"] {
                        for kind in NATIVE_KINDS {
                            for id in inner.storage.lookup(tenant, kind, field, &value)? {
                                if found.contains(&id) {
                                    continue;
                                }
                                // The other ids of this file find its companions.
                                if let Some(rec) = inner.storage.get(tenant, &id)? {
                                    for (k, v) in &rec.lookups {
                                        if (k == "code_id" || k == "debug_id") && !asked.contains(v)
                                        {
                                            queue.push(v.clone());
                                        }
                                    }
                                }
                                found.push(id);
                            }
                        }
                    }
                }
                Ok(found)
            },
        );
        match ids {
            Err(e) => vec![Found::Missing(e.message)],
            Ok(ids) => ids
                .iter()
                .map(|id| match self.load_index(tenant, id) {
                    Ok(index) => Found::Index(id.clone(), index),
                    Err(e) => Found::Malformed(id.clone(), e.message),
                })
                .collect(),
        }
    }

    fn find_js(
        &self,
        tenant: &Tenant,
        debug_id: Option<&str>,
        st: &StackTrace,
        url: &str,
    ) -> Found {
        let id = match debug_id {
            Some(d) => {
                let d = d.to_ascii_lowercase();
                let inner = &self.inner;
                inner
                    .resolves
                    .get_or_resolve(ResolveKey::DebugId(tenant.clone(), d.clone()), || {
                        inner.first_of(tenant, &JS_KINDS, "debug_id", &d)
                    })
                    .map(|o| o.ok_or_else(|| format!("no source map has debug id {d}")))
            }
            None => {
                let (Some(service), Some(version)) = (
                    st.service.as_deref().filter(|s| !s.is_empty()),
                    st.version.as_deref().filter(|s| !s.is_empty()),
                ) else {
                    return Found::Missing(
                        "the frame has no debug id and its stack trace no service and version"
                            .into(),
                    );
                };
                let key = UrlKey::parse(url);
                let stripped = format!("{}{}", key.host.as_deref().unwrap_or_default(), key.path);
                let inner = &self.inner;
                inner
                    .resolves
                    .get_or_resolve(
                        ResolveKey::JsUrl(
                            tenant.clone(),
                            service.to_owned(),
                            version.to_owned(),
                            stripped,
                        ),
                        || inner.find_by_url(tenant, service, version, &key),
                    )
                    .map(|o| {
                        o.ok_or_else(|| {
                            format!(
                                "no source map for {url} in service {service} version {version}"
                            )
                        })
                    })
            }
        };
        match id {
            Err(e) => Found::Missing(e.message),
            Ok(Err(msg)) => Found::Missing(msg),
            Ok(Ok(id)) => match self.load_index(tenant, &id) {
                Ok(index) => Found::Index(id, index),
                Err(e) => Found::Malformed(id, e.message),
            },
        }
    }

    /// The index of an artifact, through the cache. An index missing or of another format
    /// version is rebuilt from the stored raw files (once, then cached) rather than failing.
    pub(crate) fn load_index(&self, tenant: &Tenant, id: &ArtifactId) -> Result<Arc<LoadedIndex>> {
        let inner = &self.inner;
        inner
            .indexes
            .get_or_load(&(tenant.clone(), id.clone()), || match id.kind() {
                k if NATIVE_KINDS.contains(&k) => inner.load_native_index(tenant, id),
                ArtifactKind::Jvm => inner.load_jvm_index(tenant, id),
                ArtifactKind::Il2cpp => {
                    let bytes =
                        inner
                            .storage
                            .read_index(tenant, id, "il2cpp")?
                            .ok_or_else(|| {
                                ServiceError::internal(format!("artifact {id} has no il2cpp index"))
                            })?;
                    Ok(LoadedIndex::Il2cpp(symx_il2cpp::Il2cppIndex::open(&bytes)?))
                }
                _ => inner.load_js_index(tenant, id),
            })
    }
}

/// The kinds a JavaScript frame resolves against (React Native Metro maps are source maps too).
pub(crate) const JS_KINDS: [ArtifactKind; 2] = [ArtifactKind::Js, ArtifactKind::React];
/// The kinds a native frame resolves against.
const NATIVE_KINDS: [ArtifactKind; 5] = [
    ArtifactKind::Elf,
    ArtifactKind::Ndk,
    ArtifactKind::Flutter,
    ArtifactKind::Ios,
    ArtifactKind::Pe,
];

/// A code id as the index stores it: lowercase hex, without the dashes, braces or spaces
/// some tools print.
pub(crate) fn canonical_code_id(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '-' | '{' | '}') && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A debug id as the index stores it (`guid` or `guid-age`, lowercase, age in hex), from
/// every common spelling: with or without braces (`{EB69E6EC-...}`, as llvm-pdbutil and
/// Windows tools print PDB GUIDs), upper or lower case, with or without dashes, the age after
/// a dash or glued on (Breakpad's form: the 32 hex digits of the GUID then the age in hex, as
/// minidump tools print it). Anything else is kept as given, lowercase.
pub(crate) fn canonical_debug_id(s: &str) -> String {
    let lower = s.trim().to_ascii_lowercase();
    let hex: String = lower
        .chars()
        .filter(|c| !matches!(c, '{' | '}' | '-'))
        .collect();
    if hex.len() < 32 || hex.len() > 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return lower;
    }
    let (g, age) = hex.split_at(32);
    let age = u32::from_str_radix(age, 16).unwrap_or(0);
    let guid = format!(
        "{}-{}-{}-{}-{}",
        &g[..8],
        &g[8..12],
        &g[12..16],
        &g[16..20],
        &g[20..]
    );
    if age == 0 {
        guid
    } else {
        format!("{guid}-{age:x}")
    }
}

impl Inner {
    fn load_jvm_index(&self, tenant: &Tenant, id: &ArtifactId) -> Result<LoadedIndex> {
        let bytes = self
            .storage
            .read_index(tenant, id, "jvm")?
            .ok_or_else(|| ServiceError::internal(format!("artifact {id} has no jvm index")))?;
        match symx_proguard::JvmIndex::open(bytes) {
            Ok(idx) => Ok(LoadedIndex::Jvm(idx)),
            // An index of an older format is built again from the stored mapping (cached, not
            // persisted: a re-upload persists the new format).
            Err(symx_proguard::Error::IndexVersion(v)) => {
                tracing::warn!(artifact = %id, version = %v, "rebuilding index of an older format");
                let rec = self
                    .storage
                    .get(tenant, id)?
                    .ok_or_else(|| ServiceError::internal(format!("artifact {id} vanished")))?;
                let file = rec.file("jvm_mapping_file").ok_or_else(|| {
                    ServiceError::internal(format!("artifact {id} has no jvm_mapping_file"))
                })?;
                let mapping = self.storage.read_blob(file)?;
                let estimate = symx_proguard::estimate_build_memory(&mapping);
                self.check_build_memory("jvm_mapping_file", estimate.bytes, || estimate.largest())?;
                let built = symx_proguard::build_index(&mapping)?;
                Ok(LoadedIndex::Jvm(symx_proguard::JvmIndex::open(
                    built.bytes,
                )?))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The first live artifact of `kinds` (in order) with the lookup entry `field = value`.
    pub(crate) fn first_of(
        &self,
        tenant: &Tenant,
        kinds: &[ArtifactKind],
        field: &str,
        value: &str,
    ) -> Result<Option<ArtifactId>> {
        for kind in kinds {
            if let Some(id) = self
                .storage
                .lookup(tenant, *kind, field, value)?
                .into_iter()
                .next()
            {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    fn find_by_url(
        &self,
        tenant: &Tenant,
        service: &str,
        version: &str,
        key: &UrlKey,
    ) -> Result<Option<ArtifactId>> {
        if let Some(full) = key.full()
            && let Some(id) = self.first_of(
                tenant,
                &JS_KINDS,
                "url",
                &format!("{service}{SEP}{version}{SEP}{full}"),
            )?
        {
            return Ok(Some(id));
        }
        for suffix in key.path_suffixes() {
            let value = format!("{service}{SEP}{version}{SEP}{suffix}");
            if let Some(id) = self.first_of(tenant, &JS_KINDS, "path", &value)? {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    fn load_native_index(&self, tenant: &Tenant, id: &ArtifactId) -> Result<LoadedIndex> {
        let rec = self
            .storage
            .get(tenant, id)?
            .ok_or_else(|| ServiceError::internal(format!("artifact {id} vanished")))?;
        let mut slices = Vec::new();
        for name in rec.indexes.iter().filter(|n| n.starts_with("native")) {
            let bytes = self.storage.read_index(tenant, id, name)?.ok_or_else(|| {
                ServiceError::internal(format!("artifact {id} lost index {name}"))
            })?;
            match NativeIndex::open(bytes) {
                Ok(idx) => slices.push(idx),
                Err(symx_native::Error::IndexVersion(v)) => {
                    tracing::warn!(artifact = %id, version = %v, "rebuilding index of an older format");
                    return self.rebuild_native(&rec);
                }
                Err(e) => return Err(e.into()),
            }
        }
        if slices.is_empty() {
            return self.rebuild_native(&rec);
        }
        Ok(LoadedIndex::Native(slices))
    }

    /// Builds the indexes of a native artifact again from its stored file (for indexes of an
    /// older format). Cached, not persisted: a re-upload persists the new format.
    fn rebuild_native(&self, rec: &symx_storage::ArtifactRecord) -> Result<LoadedIndex> {
        let part = rec.metadata.upload_type.parts()[0].0;
        let file = rec.file(part).ok_or_else(|| {
            ServiceError::internal(format!("artifact {} has no {part} file", rec.id))
        })?;
        let scratch = tempfile::Builder::new()
            .prefix("rebuild-")
            .tempdir_in(&self.spool_dir)?;
        let path = scratch.path().join("file");
        std::fs::write(&path, self.storage.read_blob(file)?)?;
        let mut meta = rec.metadata.clone();
        let built = crate::native::build(
            rec.kind,
            &mut meta,
            part,
            &path,
            scratch.path(),
            &self.archive_limits(),
        )?;
        self.metrics
            .index_builds
            .with_label_values(&[rec.kind.mapkind()])
            .inc();
        let slices = built
            .indexes
            .into_iter()
            .map(|(_, bytes)| NativeIndex::open(bytes))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LoadedIndex::Native(slices))
    }

    fn load_js_index(&self, tenant: &Tenant, id: &ArtifactId) -> Result<LoadedIndex> {
        if let Some(bytes) = self.storage.read_index(tenant, id, "js")? {
            match JsIndex::open(bytes) {
                Ok(idx) => return Ok(LoadedIndex::Js(idx)),
                Err(symx_sourcemap::Error::IndexVersion(v)) => {
                    tracing::warn!(artifact = %id, version = v, "rebuilding index of an older format");
                }
                Err(e) => return Err(e.into()),
            }
        }
        let rec = self
            .storage
            .get(tenant, id)?
            .ok_or_else(|| ServiceError::internal(format!("artifact {id} vanished")))?;
        let map = rec
            .file("source_map")
            .ok_or_else(|| ServiceError::internal(format!("artifact {id} has no source_map")))?;
        let map = self.storage.read_blob(map)?;
        let minified = match rec.file("minified_file") {
            Some(f) => Some(self.storage.read_blob(f)?),
            None => None,
        };
        self.source_map_build_memory(&map, minified.as_deref())?;
        let built = symx_sourcemap::build_index(&map, minified.as_deref())?;
        self.metrics
            .index_builds
            .with_label_values(&[rec.kind.mapkind()])
            .inc();
        Ok(LoadedIndex::Js(JsIndex::open(built.bytes)?))
    }
}

pub(crate) enum Found {
    Missing(String),
    Malformed(ArtifactId, String),
    Index(ArtifactId, Arc<LoadedIndex>),
}

impl Found {
    /// The frame's answer: a miss when there is no usable artifact, else `resolve`'s.
    pub(crate) fn answer(
        &self,
        resolve: impl FnOnce(&ArtifactId, &LoadedIndex) -> FrameResult,
    ) -> FrameResult {
        match self {
            Found::Missing(msg) => {
                FrameResult::miss(FrameStatus::MissingArtifact, None, msg.clone())
            }
            Found::Malformed(id, msg) => FrameResult::miss(
                FrameStatus::MalformedArtifact,
                Some(id.clone()),
                msg.clone(),
            ),
            Found::Index(id, index) => resolve(id, index),
        }
    }
}

fn resolve_in(js: &JsIndex<Vec<u8>>, id: &ArtifactId, f: &JsFrame, context: u32) -> FrameResult {
    let answer = match f.bytecode_offset {
        Some(offset) => js.resolve_bytecode(f.line, f.hermes_function_id, offset, context),
        None => js.resolve(f.line, f.column, context),
    };
    match answer {
        Ok(frame) => FrameResult {
            status: FrameStatus::Resolved,
            artifact_id: Some(id.clone()),
            message: None,
            frames: vec![frame],
            ambiguous: false,
        },
        Err(Miss::LineOutOfRange) => FrameResult::miss(
            FrameStatus::OutOfRange,
            Some(id.clone()),
            format!(
                "line {} is past the end of the minified file ({} lines)",
                f.line,
                js.line_count()
            ),
        ),
        Err(Miss::Unmapped) => FrameResult::miss(
            FrameStatus::OutOfRange,
            Some(id.clone()),
            match f.bytecode_offset {
                Some(offset) => match f.hermes_function_id {
                    Some(func) => {
                        format!("nothing is mapped at bytecode offset {offset} of function {func}")
                    }
                    None => format!("nothing is mapped at bytecode offset {offset}"),
                },
                None => format!("nothing is mapped at line {} column {}", f.line, f.column),
            },
        ),
        Err(Miss::UnknownFunction) => FrameResult::miss(
            FrameStatus::InvalidFrame,
            Some(id.clone()),
            format!(
                "Hermes function {} is not in segment {} of the map's x_hermes_function_offsets ({} functions)",
                f.hermes_function_id.unwrap_or_default(),
                f.line.max(1) - 1,
                js.hermes_function_count(f.line.max(1) - 1)
            ),
        ),
    }
}

fn resolve_native_in(
    slices: &[NativeIndex<Vec<u8>>],
    ids: &[&str],
    id: &ArtifactId,
    rel: u64,
) -> FrameResult {
    // The slice the frame's module names (a fat dSYM has one per architecture); an artifact
    // found by another identifier (file hash, Go build id) has one.
    let idx = slices
        .iter()
        .find(|s| {
            ids.iter().any(|m| {
                !m.is_empty()
                    && (s.debug_id().eq_ignore_ascii_case(m) || s.code_id().eq_ignore_ascii_case(m))
            })
        })
        .or(if slices.len() == 1 {
            slices.first()
        } else {
            None
        });
    let Some(idx) = idx else {
        return FrameResult::miss(
            FrameStatus::MissingArtifact,
            Some(id.clone()),
            format!(
                "the artifact has no slice with id {}",
                ids.iter()
                    .filter(|m| !m.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        );
    };
    let chain = idx.lookup_relative(rel);
    if chain.is_empty() {
        return FrameResult::miss(
            FrameStatus::OutOfRange,
            Some(id.clone()),
            format!("no function covers module offset {rel:#x}"),
        );
    }
    FrameResult {
        status: FrameStatus::Resolved,
        artifact_id: Some(id.clone()),
        message: None,
        ambiguous: false,
        frames: chain
            .into_iter()
            .map(|f| ResolvedFrame {
                source: f.file.unwrap_or_default().to_owned(),
                line: f.line,
                mangled: idx
                    .mangled_name(f.signature.unwrap_or(f.function))
                    .map(str::to_owned),
                signature: f.signature.map(str::to_owned),
                function: Some(f.function.to_owned()),
                inlined: f.inlined,
                function_offset: f.function_offset,
                ..ResolvedFrame::default()
            })
            .collect(),
    }
}
