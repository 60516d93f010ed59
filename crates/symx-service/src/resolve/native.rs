//! Native frames (ELF, Android NDK, Flutter, Apple, Windows): every stored file of the frame's
//! module by its code id and debug id (and the ids those files carry in turn), the slice of the
//! frame's id, the inline chain at the module-relative address; then, for Unity, the C#
//! location from the IL2CPP line mapping of the module's build id.

use crate::indexes::Indexes;
use crate::indexes::cache::{LoadedIndex, ResolveKey};
use crate::lookups::{IL2CPP_KINDS, Lookup, NATIVE_KINDS, canonical_code_id, canonical_debug_id};
use crate::resolve::request::{Found, FrameResult};
use std::collections::HashMap;
use std::sync::Arc;
use symx_native::NativeIndex;
use symx_types::{ArtifactId, FrameStatus, NativeFrame, ResolvedFrame, Tenant};

/// A native module of one request: its files, and (looked up on its first resolved frame) its
/// IL2CPP line mapping.
pub(crate) struct Module {
    /// Every file of the module (empty: none uploaded).
    candidates: Vec<Found>,
    /// The frame's ids, normalised (the memo's key).
    code_id: String,
    debug_id: String,
    il2cpp: Option<Option<Arc<LoadedIndex>>>,
}

/// Within a request, the modules by (code id, debug id).
pub(crate) type NativeMemo = HashMap<(String, String), Module>;

/// Resolves native frame `f` (`crashing`: the first frame of its stack trace).
pub(crate) fn resolve(
    indexes: &Indexes,
    tenant: &Tenant,
    f: &NativeFrame,
    crashing: bool,
    memo: &mut NativeMemo,
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
            let candidates = find(indexes, tenant, &code_id, &debug_id);
            v.insert(Module {
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
    // Which candidate answers.
    let mut winner = None;
    // Every file of the module (a PE and its PDB; a stripped binary, its `.debug` file
    // and the unstripped one): the first answer with a source line wins, else the first
    // resolved one, else the first answer.
    for (i, candidate) in entry.candidates.iter().enumerate() {
        let r = candidate.answer(|id, index| match index {
            LoadedIndex::Native(native) => resolve_in(&native.slices, &ids, id, rel),
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
        if with_line || better {
            result = Some(r);
            winner = Some(i);
        }
        if with_line {
            break;
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
        let module = if code_id.is_empty() {
            debug_id
        } else {
            code_id
        };
        // The build id the answering file's upload stated (kept with its loaded index).
        let unity = winner
            .and_then(|i| match entry.candidates.get(i) {
                Some(Found::Index(_, index)) => Some(index),
                _ => None,
            })
            .and_then(|index| match &**index {
                LoadedIndex::Native(native) => native.build_id.as_deref(),
                _ => None,
            });
        let il2cpp = entry.il2cpp.get_or_insert_with(|| {
            il2cpp_of(indexes, tenant, module).or_else(|| il2cpp_of(indexes, tenant, unity?))
        });
        if let Some(index) = il2cpp
            && let LoadedIndex::Il2cpp(map) = &**index
        {
            add_managed_locations(map, &mut result);
        }
    }
    result
}

/// The IL2CPP line mapping with build id `build_id`, if one was uploaded.
fn il2cpp_of(indexes: &Indexes, tenant: &Tenant, build_id: &str) -> Option<Arc<LoadedIndex>> {
    let id = indexes
        .resolve_first(tenant, IL2CPP_KINDS, Lookup::build_id(build_id))
        .ok()??;
    indexes.load(tenant, &id).ok()
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

/// Every stored file of a native module: found by its code id or its debug id under any
/// native kind and id field, then by the other ids those files carry (so a frame with only a
/// PE's code id also finds the PDB, and one with only the debug id the PE).
fn find(indexes: &Indexes, tenant: &Tenant, code_id: &str, debug_id: &str) -> Vec<Found> {
    let ids = indexes.resolves.get_or_resolve_all(
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
                for lookup in Lookup::module_ids(&value) {
                    for kind in NATIVE_KINDS {
                        for id in indexes.all_of(tenant, *kind, &lookup)? {
                            if found.contains(&id) {
                                continue;
                            }
                            // The other ids of this file find its companions.
                            if let Some(rec) = indexes.storage().get(tenant, &id)? {
                                for (k, v) in &rec.lookups {
                                    if let Some(other) = Lookup::module_id_of_row(k, v)
                                        && !asked.contains(&other)
                                    {
                                        queue.push(other);
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
            .map(|id| Found::load(indexes, tenant, id.clone()))
            .collect(),
    }
}

fn resolve_in(
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
    let mut chain = idx.lookup_relative(rel).peekable();
    if chain.peek().is_none() {
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
        reason: None,
        explanation: None,
        frames: chain
            .map(|f| ResolvedFrame {
                source: f.file.unwrap_or_default().to_owned(),
                line: f.line,
                mangled: f.mangled.map(str::to_owned),
                signature: f.signature.map(str::to_owned),
                function: Some(f.function.to_owned()),
                inlined: f.inlined,
                function_offset: f.function_offset,
                ..ResolvedFrame::default()
            })
            .collect(),
    }
}
