//! Source links: a resolved frame's file, matched to a tracked file of the repository the
//! release was built from, becomes a link to that line at that commit (the matching itself is
//! [`crate::repo::RepoIndex::link`]).
//!
//! Which repository applies to a frame: the resolving artifact's own `repository` part, else
//! the repository upload of the artifact's `git_commit_sha`, else that of the stack trace's.

use crate::indexes::Indexes;
use crate::indexes::cache::LoadedIndex;
use crate::resolve::request::{FrameResult, StackTrace};
use std::collections::HashMap;
use std::sync::Arc;
use symx_types::{ArtifactId, FrameStatus, Tenant};

/// Per request: which artifacts have a repository to link to (None: none), so moka lookups
/// and their metrics stay off the per-frame path.
#[derive(Default)]
pub(crate) struct LinkMemo {
    by_artifact: HashMap<ArtifactId, Option<Arc<LoadedIndex>>>,
}

impl LinkMemo {
    /// The repository that links `id`'s frames (its own, or its commit's).
    fn repo(
        &mut self,
        indexes: &Indexes,
        tenant: &Tenant,
        id: &ArtifactId,
    ) -> Option<Arc<LoadedIndex>> {
        if let Some(known) = self.by_artifact.get(id) {
            return known.clone();
        }
        let repo = indexes.repo_of(tenant, id);
        self.by_artifact.insert(id.clone(), repo.clone());
        repo
    }
}

/// Adds source links to a resolved frame's original frames.
pub(crate) fn add_source_links(
    indexes: &Indexes,
    tenant: &Tenant,
    st: &StackTrace,
    result: &mut FrameResult,
    memo: &mut LinkMemo,
) {
    if result.status != FrameStatus::Resolved || result.frames.is_empty() {
        return;
    }
    let mut repo = result
        .artifact_id
        .as_ref()
        .and_then(|id| memo.repo(indexes, tenant, id));
    if repo.is_none()
        && let Some(commit) = st.git_commit_sha.as_deref().filter(|c| !c.is_empty())
        && let Some(id) = indexes.repo_artifact_of_commit(tenant, commit)
    {
        repo = memo.repo(indexes, tenant, &id);
    }
    let Some(repo) = repo else {
        return;
    };
    let LoadedIndex::Repo(r) = &*repo else {
        return;
    };
    for f in &mut result.frames {
        if !f.source.is_empty() && f.line > 0 {
            f.source_link = r.link(&f.source, f.line);
        }
    }
}
