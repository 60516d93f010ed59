//! JVM frames: the mapping of a stack trace (its build id, else service + version + variant),
//! then each frame through it in order, so R8 outline positions carry to the next frame and
//! `rewriteFrame` rules see the exception. The format work is `symx_proguard`'s.

use crate::indexes::Indexes;
use crate::indexes::cache::{LoadedIndex, ResolveKey};
use crate::lookups::{DEFAULT_JVM_VARIANT, JVM_KINDS, Lookup};
use crate::resolve::request::{Found, FrameResult, StackTrace};
use symx_proguard::{JvmIndex, Remapped, TraceState};
use symx_types::Tenant;
use symx_types::{ArtifactId, FrameStatus, JvmFrame, JvmThrowable, ResolvedFrame};

/// The JVM frames of one stack trace, resolved in order.
pub(crate) struct JvmTrace<'a> {
    indexes: &'a Indexes,
    tenant: &'a Tenant,
    st: &'a StackTrace,
    found: Option<Found>,
    state: Option<TraceState>,
}

fn present(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

impl<'a> JvmTrace<'a> {
    pub(crate) fn new(indexes: &'a Indexes, tenant: &'a Tenant, st: &'a StackTrace) -> Self {
        Self {
            indexes,
            tenant,
            st,
            found: None,
            state: None,
        }
    }

    fn find(&self) -> Found {
        let (indexes, tenant, st) = (self.indexes, self.tenant, self.st);
        // The second lookup is the legacy key of mappings uploaded without a variant before
        // the default variant existed.
        let (lookup, legacy, what) = if let Some(b) = present(&st.build_id) {
            let what = format!("build id {}", b.to_ascii_lowercase());
            (Lookup::build_id(b), None, what)
        } else if let (Some(service), Some(version)) = (present(&st.service), present(&st.version))
        {
            let variant = present(&st.variant);
            let legacy = variant
                .is_none()
                .then(|| Lookup::legacy_jvm_release(service, version));
            let what = format!(
                "service {service} version {version} variant `{}`",
                variant.unwrap_or(DEFAULT_JVM_VARIANT)
            );
            (Lookup::jvm_release(service, version, variant), legacy, what)
        } else {
            return Found::Missing(
                "a JVM stack trace needs a build id, or a service and version (and variant)".into(),
            );
        };
        let key = ResolveKey::First(tenant.clone(), JVM_KINDS, lookup.clone());
        let id = indexes.resolves.get_or_resolve(key, || {
            match indexes.first_of(tenant, JVM_KINDS, &lookup)? {
                Some(id) => Ok(Some(id)),
                None => match &legacy {
                    Some(l) => indexes.first_of(tenant, JVM_KINDS, l),
                    None => Ok(None),
                },
            }
        });
        Found::of(indexes, tenant, id, || {
            format!("no ProGuard/R8 mapping for {what}")
        })
    }

    /// The index, when the mapping was found.
    fn index(&mut self) -> Option<&JvmIndex<Vec<u8>>> {
        if self.found.is_none() {
            self.found = Some(self.find());
        }
        match self.found.as_ref()? {
            Found::Index(_, index) => match &**index {
                LoadedIndex::Jvm(idx) => Some(idx),
                _ => None,
            },
            _ => None,
        }
    }

    /// The stack trace's exception, deobfuscated (as given when there is no mapping).
    pub(crate) fn exception(&mut self) -> Option<JvmThrowable> {
        let exception = self.st.exception.clone()?;
        let Some(idx) = self.index() else {
            return Some(exception);
        };
        Some(JvmThrowable {
            class: idx.remap_class(&exception.class).unwrap_or(exception.class),
            message: exception.message.map(|m| idx.remap_classes_in(&m)),
        })
    }

    pub(crate) fn resolve(&mut self, f: &JvmFrame) -> FrameResult {
        if f.class.is_empty() || f.method.is_empty() {
            return FrameResult::miss(
                FrameStatus::InvalidFrame,
                None,
                "a JVM frame needs a class and a method",
            );
        }
        if self.state.is_none() {
            // The rewrite rules need the thrown class only, not the message.
            let thrown = self
                .st
                .exception
                .as_ref()
                .map(|e| e.class.clone())
                .map(|c| self.index().and_then(|i| i.remap_class(&c)).unwrap_or(c));
            self.state = Some(TraceState::thrown(thrown.as_deref()));
        }
        self.index();
        let (Some(found), Some(state)) = (self.found.as_ref(), self.state.as_mut()) else {
            return FrameResult::miss(FrameStatus::MissingArtifact, None, "no mapping");
        };
        found.answer(|id, index| match index {
            LoadedIndex::Jvm(idx) => remap(idx, state, id, f),
            _ => FrameResult::miss(
                FrameStatus::MalformedArtifact,
                Some(id.clone()),
                "the mapping's index is of another kind",
            ),
        })
    }
}

fn remap(
    idx: &JvmIndex<Vec<u8>>,
    state: &mut TraceState,
    id: &ArtifactId,
    f: &JvmFrame,
) -> FrameResult {
    let resolved =
        |frames: Vec<ResolvedFrame>, ambiguous: bool, message: Option<&str>| FrameResult {
            status: FrameStatus::Resolved,
            artifact_id: Some(id.clone()),
            message: message.map(str::to_owned),
            frames,
            ambiguous,
            reason: None,
            explanation: None,
        };
    match idx.remap_frame(state, &f.class, &f.method, f.line, f.file.as_deref()) {
        Remapped::Frames { frames, ambiguous } => {
            let n = frames.len();
            let out = frames
                .into_iter()
                .enumerate()
                .map(|(i, o)| ResolvedFrame {
                    source: o.file.map(|f| f.into_owned()).unwrap_or_default(),
                    line: o.line,
                    function: Some(o.method.into_owned()),
                    class_name: Some(o.class.into_owned()),
                    inlined: !ambiguous && i + 1 < n,
                    ..ResolvedFrame::default()
                })
                .collect();
            resolved(out, ambiguous, None)
        }
        Remapped::Outline => resolved(
            Vec::new(),
            false,
            Some("R8 outline frame: folded into its callsite, the next frame"),
        ),
        Remapped::Removed => resolved(
            Vec::new(),
            false,
            Some("removed by the mapping's R8 rewriteFrame rule for this exception"),
        ),
        Remapped::Unknown => FrameResult::miss(
            FrameStatus::OutOfRange,
            Some(id.clone()),
            format!(
                "the mapping does not rename {}.{} (not obfuscated?)",
                f.class, f.method
            ),
        ),
    }
}
