//! The repository format: datadog-ci's repository metadata in, the stored `symx-repo-1`
//! document out ([`parse`], written at upload), and a [`RepoIndex`] over it ([`RepoIndex::open`],
//! read when a frame is linked). The other half of source links (which repository applies to a
//! frame) is `resolve::links`.
//!
//! Repository metadata arrives as datadog-ci sends it: a `repository` part holding
//! `{"data":[{"files":[...],"hash":"<sha>","repository_url":"<url>"}],"version":1}` (older
//! clients: the object without `data`), in a `repository` upload or beside a source map or a
//! mapping. The stored document is that, normalised: the URL as https, the commit, the
//! tracked files. A file matches the tracked file sharing the longest run of trailing path
//! components with it (at least the file name); ties go to the shortest tracked path.

use crate::error::{Result, ServiceError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use symx_types::SourceLink;

const FORMAT: &str = "symx-repo-1";

/// A normalised repository description (what is stored).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Repository {
    pub format: String,
    pub repository_url: String,
    pub commit: String,
    pub files: Vec<String>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    hash: String,
    #[serde(default)]
    repository_url: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Payload {
    Versioned { data: Vec<Entry> },
    Flat(Entry),
}

fn invalid(msg: impl Into<String>) -> ServiceError {
    ServiceError::invalid("repository", msg)
}

/// Reads a datadog-ci repository payload. `url` and `commit` (the upload's metadata) win over
/// the payload's own when given, and must agree with them.
pub(crate) fn parse(bytes: &[u8], url: Option<&str>, commit: Option<&str>) -> Result<Repository> {
    let payload: Payload = serde_json::from_slice(bytes).map_err(|e| {
        invalid(format!(
            "invalid repository file: not JSON as datadog-ci writes it: {e}"
        ))
    })?;
    let entry = match payload {
        Payload::Versioned { mut data } => {
            if data.is_empty() {
                return Err(invalid("invalid repository file: `data` is empty"));
            }
            data.swap_remove(0)
        }
        Payload::Flat(e) => e,
    };
    let commit_in = entry.hash.trim().to_ascii_lowercase();
    let commit = match commit.map(str::to_ascii_lowercase) {
        Some(c) if !commit_in.is_empty() && c != commit_in => {
            return Err(ServiceError::invalid(
                "git_commit_sha",
                format!("git_commit_sha {c} does not match the repository file's hash {commit_in}"),
            ));
        }
        Some(c) => c,
        None => commit_in,
    };
    if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(format!(
            "invalid repository file: `hash` must be a 40-hex commit sha, got `{commit}`"
        )));
    }
    let raw_url = url
        .filter(|u| !u.is_empty())
        .unwrap_or(entry.repository_url.as_str());
    let repository_url = normalize_url(raw_url).ok_or_else(|| {
        invalid(format!(
            "invalid repository file: `repository_url` `{raw_url}` is not a repository URL"
        ))
    })?;
    let mut files: Vec<String> = entry
        .files
        .into_iter()
        .map(|f| f.trim_start_matches("./").to_owned())
        .filter(|f| !f.is_empty())
        .collect();
    files.sort();
    files.dedup();
    Ok(Repository {
        format: FORMAT.into(),
        repository_url,
        commit,
        files,
    })
}

/// A repository URL as https without credentials or `.git`: `git@github.com:o/r.git`,
/// `ssh://git@host:22/o/r`, `https://user:token@host/o/r.git` all become `https://host/o/r`;
/// Azure DevOps SSH (`git@ssh.dev.azure.com:v3/org/project/repo`) becomes its https form.
pub(crate) fn normalize_url(url: &str) -> Option<String> {
    let url = url.trim();
    let (host, path) = if let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .or_else(|| url.strip_prefix("ssh://"))
        .or_else(|| url.strip_prefix("git://"))
    {
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit('@').next()?;
        let host = host.split(':').next()?;
        (host.to_owned(), path.to_owned())
    } else {
        // scp-like: [user@]host:path
        let (left, path) = url.split_once(':')?;
        let host = left.rsplit('@').next()?;
        (host.to_owned(), path.to_owned())
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    if host.is_empty() || path.is_empty() || host.contains(char::is_whitespace) {
        return None;
    }
    if host == "ssh.dev.azure.com" || host == "vs-ssh.visualstudio.com" {
        // v3/org/project/repo
        let parts: Vec<&str> = path.split('/').collect();
        if let ["v3", org, project, repo] = parts.as_slice() {
            return Some(format!("https://dev.azure.com/{org}/{project}/_git/{repo}"));
        }
    }
    Some(format!("https://{host}/{path}"))
}

/// A browsable URL of `path` at `line` of `commit`, for GitHub, GitLab, Bitbucket and Azure
/// DevOps; other hosts get GitHub's layout (most self-hosted forges accept it).
pub(crate) fn browse_url(repo: &str, commit: &str, path: &str, line: u32) -> String {
    let host = repo
        .strip_prefix("https://")
        .and_then(|r| r.split('/').next())
        .unwrap_or_default();
    if host.contains("gitlab") {
        format!("{repo}/-/blob/{commit}/{path}#L{line}")
    } else if host.contains("bitbucket") {
        format!("{repo}/src/{commit}/{path}#lines-{line}")
    } else if host.contains("dev.azure") || host.contains("visualstudio.com") {
        format!(
            "{repo}?version=GC{commit}&path=/{path}&line={line}&lineEnd={}&lineStartColumn=1&lineEndColumn=1",
            line + 1
        )
    } else {
        format!("{repo}/blob/{commit}/{path}#L{line}")
    }
}

/// A loaded repository: tracked files by file name, for suffix matching.
#[derive(Debug, Default)]
pub struct RepoIndex {
    repo: Repository,
    by_name: HashMap<String, Vec<usize>>,
    bytes: usize,
}

fn components(path: &str) -> Vec<&str> {
    path.split(['/', '\\'])
        .filter(|c| !c.is_empty() && *c != "." && *c != "..")
        .collect()
}

impl RepoIndex {
    pub(crate) fn open(bytes: &[u8]) -> Result<Self> {
        let repo: Repository = serde_json::from_slice(bytes)
            .map_err(|e| ServiceError::internal(format!("stored repository is unreadable: {e}")))?;
        if repo.format != FORMAT {
            return Err(ServiceError::internal(format!(
                "stored repository has format `{}`",
                repo.format
            )));
        }
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, f) in repo.files.iter().enumerate() {
            if let Some(name) = components(f).last() {
                by_name.entry((*name).to_owned()).or_default().push(i);
            }
        }
        Ok(Self {
            repo,
            by_name,
            bytes: bytes.len() * 2,
        })
    }

    /// An index that links nothing (cached for artifacts without repository metadata).
    pub(crate) fn none() -> Self {
        Self::default()
    }

    /// Whether it tracks any file (an index of [`none`](Self::none) links nothing).
    pub(crate) fn links_anything(&self) -> bool {
        !self.repo.files.is_empty()
    }

    pub(crate) fn weight(&self) -> usize {
        self.bytes + 128
    }

    /// The link of `source` (a frame's file, as the map, DWARF or mapping names it) at `line`.
    pub(crate) fn link(&self, source: &str, line: u32) -> Option<SourceLink> {
        // Bundler prefixes (`webpack://app/./src/x.ts`) and URLs keep their path part.
        let path = source
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(source);
        let parts = components(path);
        let name = parts.last()?;
        let candidates = self.by_name.get(*name)?;
        let mut best: Option<(usize, usize)> = None; // (shared components, index)
        for &i in candidates {
            let tracked = components(&self.repo.files[i]);
            let shared = tracked
                .iter()
                .rev()
                .zip(parts.iter().rev())
                .take_while(|(a, b)| a == b)
                .count();
            let better = match best {
                None => true,
                Some((s, j)) => {
                    shared > s
                        || (shared == s && self.repo.files[i].len() < self.repo.files[j].len())
                }
            };
            if better {
                best = Some((shared, i));
            }
        }
        let (_, i) = best?;
        let file = &self.repo.files[i];
        Some(SourceLink {
            repository_url: self.repo.repository_url.clone(),
            commit: self.repo.commit.clone(),
            path: file.clone(),
            line,
            url: browse_url(&self.repo.repository_url, &self.repo.commit, file, line),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised_to_https() {
        for (given, want) in [
            (
                "git@github.com:DataDog/example.git",
                "https://github.com/DataDog/example",
            ),
            (
                "https://user:tok@gitlab.com/g/sub/p.git",
                "https://gitlab.com/g/sub/p",
            ),
            (
                "ssh://git@bitbucket.org:22/team/repo.git",
                "https://bitbucket.org/team/repo",
            ),
            (
                "git@ssh.dev.azure.com:v3/org/proj/repo",
                "https://dev.azure.com/org/proj/_git/repo",
            ),
            ("http://git.internal/x/y/", "https://git.internal/x/y"),
        ] {
            assert_eq!(normalize_url(given).as_deref(), Some(want), "{given}");
        }
        assert_eq!(normalize_url("not a url"), None);
    }

    #[test]
    fn browsable_urls_per_host() {
        let c = "a".repeat(40);
        assert_eq!(
            browse_url("https://github.com/o/r", &c, "src/a.ts", 7),
            format!("https://github.com/o/r/blob/{c}/src/a.ts#L7")
        );
        assert_eq!(
            browse_url("https://gitlab.com/o/r", &c, "a.ts", 7),
            format!("https://gitlab.com/o/r/-/blob/{c}/a.ts#L7")
        );
        assert_eq!(
            browse_url("https://bitbucket.org/o/r", &c, "a.ts", 7),
            format!("https://bitbucket.org/o/r/src/{c}/a.ts#lines-7")
        );
        assert!(
            browse_url("https://dev.azure.com/o/p/_git/r", &c, "a.ts", 7).ends_with(&format!(
                "?version=GC{c}&path=/a.ts&line=7&lineEnd=8&lineStartColumn=1&lineEndColumn=1"
            ))
        );
    }

    #[test]
    fn longest_suffix_wins() {
        let payload = format!(
            r#"{{"data":[{{"files":["src/app/index.ts","src/lib/index.ts","README.md","packages/ui/src/lib/index.ts"],"hash":"{}","repository_url":"git@github.com:o/r.git"}}],"version":1}}"#,
            "b".repeat(40)
        );
        let repo = parse(payload.as_bytes(), None, None).expect("parse");
        let idx = RepoIndex::open(&serde_json::to_vec(&repo).expect("json")).expect("open");
        let l = idx.link("webpack://r/./src/lib/index.ts", 3).expect("link");
        assert_eq!(l.path, "src/lib/index.ts");
        assert_eq!(l.repository_url, "https://github.com/o/r");
        assert_eq!(
            idx.link("../../packages/ui/src/lib/index.ts", 3)
                .expect("link")
                .path,
            "packages/ui/src/lib/index.ts"
        );
        assert!(idx.link("nothing.ts", 1).is_none());
        // Metadata that disagrees with the file is refused, naming both.
        let e = parse(payload.as_bytes(), None, Some(&"c".repeat(40))).expect_err("mismatch");
        assert!(e.message.contains(&"c".repeat(40)) && e.message.contains(&"b".repeat(40)));
        assert!(parse(b"[1,2", None, None).is_err());
    }
}
